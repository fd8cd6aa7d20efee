//  kernels - private: the table of one implementation (scalar, AVX2, AVX-512)
//  and the bounded top-k heap that every implementation feeds
#ifndef TRK_KERNELS_H_INCLUDED
#define TRK_KERNELS_H_INCLUDED

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe_kernels.h"

#define TRK__HIDDEN __attribute__ ((visibility ("hidden")))

//  The SIMD int8 paths sum in int32 lanes: (c + 128) * q over 65536 elements is at most
//  65536 * 255 * 128 < 2^31. Longer rows go to the scalar path, which sums in int64.
#define TRK__I8_SIMD_MAX_DIM 65536

//  The k best hits seen so far, as a binary min-heap on `worse` (the root is the
//  worst kept hit). Storage is the caller's (the hits array, or a thread's share).
typedef struct {
    trk_hit_t *hits;
    size_t capacity;  //  min (k, rows)
    size_t count;
    //  A score below this cannot enter: -INFINITY until the heap is full, then the
    //  root's score. The hot loop tests only this; trk__topk_offer decides exactly.
    float threshold;
} trk__topk_t;

TRK__HIDDEN void trk__topk_init (trk__topk_t *self, trk_hit_t *storage, size_t capacity);
//  Offer one hit: kept when the heap has room or it beats the root (higher score, or the
//  same score and a lower row). A NaN score counts as -INFINITY.
TRK__HIDDEN void trk__topk_offer (trk__topk_t *self, uint32_t row, float score);
//  Sort the kept hits best first (the heap is spent); returns the count.
TRK__HIDDEN size_t trk__topk_finish (trk__topk_t *self);

//  The hot loop's test: `!(score < threshold)` is also true for NaN, which then gets
//  its exact treatment in trk__topk_offer.
static inline void
trk__topk_push (trk__topk_t *self, uint32_t row, float score)
{
    if (!(score < self->threshold))
        trk__topk_offer (self, row, score);
}

//  Software prefetch, one per cache line, of the row that starts 2 KiB further on.
//  Measured one thread, 1M x 384 (docs/kernels.md): float32 top-k went from ~14.1 to
//  ~15-16 GB/s, int8 top-k from 30 to 41 M rows/s (1 to 6 KiB ahead tried). Integer
//  arithmetic: the address may lie past the corpus, which a prefetch may name but a
//  pointer may not.
#define TRK__PREFETCH_AHEAD 2048

static inline void
trk__prefetch_ahead (const void *row, size_t bytes)
{
    uintptr_t ahead = (uintptr_t) row + TRK__PREFETCH_AHEAD;
    for (size_t offset = 0; offset < bytes; offset += 64)
        __builtin_prefetch ((const void *) (ahead + offset), 0, 3);
}

//  The de-quantised int8 score, written once so that every path rounds alike.
static inline float
trk__i8_score (int64_t dot, float query_scale, float row_scale)
{
    return (float) dot * query_scale * row_scale;
}

//  One implementation. Sizes are checked by kernels.c before any of these runs
//  (n > 0, dim > 0, dim <= TRK__I8_SIMD_MAX_DIM for the SIMD int8 ranges).
typedef struct {
    const char *name;  //  what trk_isa () says
    float (*dot) (const float *a, const float *b, size_t n);
    float (*sum) (const float *a, size_t n);
    //  ab = sum a*b, aa = sum a*a, bb = sum b*b in one pass (cosine)
    void (*dot3) (const float *a, const float *b, size_t n, float *ab, float *aa, float *bb);
    void (*scale) (float *a, size_t n, float factor);
    //  Offer rows [begin, end) of corpus to topk.
    void (*topk_f32) (const float *query, const float *corpus, size_t begin, size_t end, size_t dim,
                      trk__topk_t *topk);
    void (*topk_i8) (const int8_t *query, float query_scale, const int8_t *corpus,
                     const float *scales, size_t begin, size_t end, size_t dim, trk__topk_t *topk);
    //  Quantise rows [begin, end); returns 0, or -1 on a non-finite element.
    int (*quantize_i8) (const float *corpus, size_t begin, size_t end, size_t dim, int8_t *out,
                        float *scales);
} trk__ops_t;

TRK__HIDDEN extern const trk__ops_t trk__ops_scalar;
TRK__HIDDEN extern const trk__ops_t trk__ops_avx2;
TRK__HIDDEN extern const trk__ops_t trk__ops_avx512;
TRK__HIDDEN extern const trk__ops_t trk__ops_avx512_novnni;

#endif
