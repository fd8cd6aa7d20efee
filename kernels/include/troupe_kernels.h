//  troupe_kernels - numeric kernels for troupe's agents: dot, norm, cosine,
//  weighted average, matrix-vector, batched top-k similarity in float32 and
//  int8, with runtime CPU dispatch (scalar, AVX2+FMA, AVX-512)
//
//  libtroupe-kernels depends on libc only (and libm, pthreads). Every function
//  is reentrant and thread-safe; none allocates except the `_mt` top-k calls
//  (one small array per thread). Pointers need no alignment. Every function
//  returns TRK_OK or a negative TRK_E* code and never crashes on bad
//  arguments it can detect (NULL, zero sizes, sizes whose product overflows).
//  The manual, with accuracy and measured speed, is docs/kernels.md.

#ifndef TROUPE_KERNELS_H_INCLUDED
#define TROUPE_KERNELS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRK_OK      0
#define TRK_EINVAL  (-22)  //  NULL pointer, zero dimension, k == 0, mismatched sizes
#define TRK_ENOMEM  (-12)  //  a `_mt` call could not allocate its per-thread results
#define TRK_ENOTSUP (-95)  //  trk_isa_force: the CPU cannot run that implementation

//  One result of a top-k search: the row's index in the corpus and its score.
typedef struct {
    uint32_t row;
    float score;
} trk_hit_t;

//  ---------------------------------------------------------------------
//  Dispatch

//  Which implementation runs: "scalar", "avx2" or "avx512". Chosen once (first call) from
//  CPUID, or forced by the environment variable TR_KERNELS=scalar|avx2|avx512 (an
//  unsupported or unknown value falls back to the best available, with a warning on stderr).
//  The AVX-512 path uses VNNI for int8 when the CPU has it (TR_KERNELS=avx512-novnni
//  forces the AVX-512 path without it; trk_isa() still says "avx512").
const char *trk_isa (void);

//  For tests and benchmarks: switch every later call of this process to the named
//  implementation ("scalar", "avx2", "avx512", "avx512-novnni"). Returns TRK_OK,
//  TRK_ENOTSUP when this CPU cannot run it (nothing changes), TRK_EINVAL for an unknown
//  or NULL name. Calls already running finish on the implementation they started with.
int trk_isa_force (const char *name);

//  The text of a TRK_* code ("invalid argument", ...). Never NULL.
const char *trk_strerror (int rc);

//  ---------------------------------------------------------------------
//  Vector kernels (n > 0 elements; float results are accumulated in float with
//  at least 8 partial sums, see docs/kernels.md for the error bound)

//  *out = sum of a[i] * b[i].
int trk_dot_f32 (const float *a, const float *b, size_t n, float *out);

//  *out = the L2 norm of a, sqrt (sum of a[i]^2).
int trk_norm_f32 (const float *a, size_t n, float *out);

//  Divide a by its L2 norm, in place. A zero vector (or one whose norm is not finite)
//  returns TRK_EINVAL and leaves a unchanged.
int trk_normalize_f32 (float *a, size_t n);

//  *out = dot (a, b) / (norm (a) * norm (b)), clamped to [-1, 1]. Either vector zero:
//  TRK_EINVAL with *out = 0.
int trk_cosine_f32 (const float *a, const float *b, size_t n, float *out);

//  *out = sum (values[i] * weights[i]) / sum (weights[i]). Weights summing to zero:
//  TRK_EINVAL with *out = 0.
int trk_weighted_avg_f32 (const float *values, const float *weights, size_t n, float *out);

//  out[r] = dot (row r of m, v) for the row-major rows x cols matrix m; out has room for
//  rows floats. Each out[r] is bit-identical to trk_dot_f32 of that row on the same ISA.
int trk_matvec_f32 (const float *m, size_t rows, size_t cols, const float *v, float *out);

//  ---------------------------------------------------------------------
//  Batched top-k similarity. Rows are numbered from 0 in uint32_t: rows above UINT32_MAX
//  is TRK_EINVAL. A NaN score ranks as -infinity. Scores are bit-identical to trk_dot_f32
//  of the row on the same ISA, and the same whatever the thread count.

//  Top-k rows of a row-major rows x dim corpus by dot product with query (cosine when both
//  are normalised), best first; ties -> lower row first. *count = min(k, rows). rows == 0
//  is fine (count 0). hits has room for k.
int trk_topk_f32 (const float *query, const float *corpus, size_t rows, size_t dim, size_t k,
                  trk_hit_t *hits, size_t *count);

//  Same, rows split across `threads` threads (0 = one per online CPU), results merged.
//  Small inputs (under ~64 Ki elements per thread) use fewer threads; the calling thread
//  does one share. TRK_ENOMEM if the per-thread results cannot be allocated.
int trk_topk_f32_mt (const float *query, const float *corpus, size_t rows, size_t dim, size_t k,
                     int threads, trk_hit_t *hits, size_t *count);

//  int8: symmetric per-row quantisation (scale = max|x| / 127; a zero row gets scale 0).
//  out[r * dim + i] = round-to-nearest-even (corpus[r * dim + i] / scale), in [-127, 127];
//  scales has room for rows floats. A NaN or infinite element: TRK_EINVAL (out and scales
//  then hold partial results). A query is quantised the same way (rows = 1).
int trk_quantize_i8 (const float *corpus, size_t rows, size_t dim, int8_t *out, float *scales);

//  The exact dot product of two int8 vectors (int64: no overflow for any n).
int trk_dot_i8 (const int8_t *a, const int8_t *b, size_t n, int64_t *out);

//  Top-k by int8 dot product (query quantised the same way), scores de-quantised to float:
//  score = (float) dot * query_scale * scales[row], exact integer dot, so the same on every
//  ISA. query_scale must be finite and >= 0. Otherwise as trk_topk_f32.
int trk_topk_i8 (const int8_t *query, float query_scale, const int8_t *corpus, const float *scales,
                 size_t rows, size_t dim, size_t k, trk_hit_t *hits, size_t *count);

//  Same, rows split across `threads` threads as trk_topk_f32_mt.
int trk_topk_i8_mt (const int8_t *query, float query_scale, const int8_t *corpus,
                    const float *scales, size_t rows, size_t dim, size_t k, int threads,
                    trk_hit_t *hits, size_t *count);

#ifdef __cplusplus
}
#endif

#endif
