//  kernels_avx512 - the AVX-512 implementation (F, BW, VL; VNNI for int8 when the
//  CPU has it). Compiled with plain flags: each function carries its target, and
//  kernels.c calls these only after __builtin_cpu_supports said yes.
//
//  Tails are masked loads, which never touch memory past the end of the input.
#include <immintrin.h>

#include "kernels.h"

#define S_AVX512 __attribute__ ((target ("avx512f,avx512bw,avx512vl")))
#define S_VNNI   __attribute__ ((target ("avx512f,avx512bw,avx512vl,avx512vnni")))
#define S_INLINE static inline __attribute__ ((always_inline))

//  The lanes 0..remainder-1 of a 16-lane mask (remainder < 16).
S_INLINE __mmask16
s_mask16 (size_t remainder)
{
    return (__mmask16) ((1u << remainder) - 1);
}

//  Four accumulators of 16 lanes: 64 partial sums, and four independent FMA chains.
//  Inlined into the top-k loop, so a hit's score is bit-identical to trk_dot_f32.
S_INLINE S_AVX512 float
s_dot_inline (const float *a, const float *b, size_t n)
{
    __m512 acc0 = _mm512_setzero_ps (), acc1 = _mm512_setzero_ps ();
    __m512 acc2 = _mm512_setzero_ps (), acc3 = _mm512_setzero_ps ();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps (_mm512_loadu_ps (a + i), _mm512_loadu_ps (b + i), acc0);
        acc1 = _mm512_fmadd_ps (_mm512_loadu_ps (a + i + 16), _mm512_loadu_ps (b + i + 16), acc1);
        acc2 = _mm512_fmadd_ps (_mm512_loadu_ps (a + i + 32), _mm512_loadu_ps (b + i + 32), acc2);
        acc3 = _mm512_fmadd_ps (_mm512_loadu_ps (a + i + 48), _mm512_loadu_ps (b + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps (_mm512_loadu_ps (a + i), _mm512_loadu_ps (b + i), acc0);
    if (i < n) {
        __mmask16 mask = s_mask16 (n - i);
        acc1 = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (mask, a + i),
                                _mm512_maskz_loadu_ps (mask, b + i), acc1);
    }
    return _mm512_reduce_add_ps (
        _mm512_add_ps (_mm512_add_ps (acc0, acc1), _mm512_add_ps (acc2, acc3)));
}

static S_AVX512 float
s_dot (const float *a, const float *b, size_t n)
{
    return s_dot_inline (a, b, n);
}

static S_AVX512 float
s_sum (const float *a, size_t n)
{
    __m512 acc0 = _mm512_setzero_ps (), acc1 = _mm512_setzero_ps ();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_add_ps (acc0, _mm512_loadu_ps (a + i));
        acc1 = _mm512_add_ps (acc1, _mm512_loadu_ps (a + i + 16));
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_add_ps (acc0, _mm512_loadu_ps (a + i));
    if (i < n)
        acc1 = _mm512_add_ps (acc1, _mm512_maskz_loadu_ps (s_mask16 (n - i), a + i));
    return _mm512_reduce_add_ps (_mm512_add_ps (acc0, acc1));
}

static S_AVX512 void
s_dot3 (const float *a, const float *b, size_t n, float *ab, float *aa, float *bb)
{
    __m512 ab0 = _mm512_setzero_ps (), aa0 = _mm512_setzero_ps (), bb0 = _mm512_setzero_ps ();
    __m512 ab1 = _mm512_setzero_ps (), aa1 = _mm512_setzero_ps (), bb1 = _mm512_setzero_ps ();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 x0 = _mm512_loadu_ps (a + i), y0 = _mm512_loadu_ps (b + i);
        __m512 x1 = _mm512_loadu_ps (a + i + 16), y1 = _mm512_loadu_ps (b + i + 16);
        ab0 = _mm512_fmadd_ps (x0, y0, ab0);
        aa0 = _mm512_fmadd_ps (x0, x0, aa0);
        bb0 = _mm512_fmadd_ps (y0, y0, bb0);
        ab1 = _mm512_fmadd_ps (x1, y1, ab1);
        aa1 = _mm512_fmadd_ps (x1, x1, aa1);
        bb1 = _mm512_fmadd_ps (y1, y1, bb1);
    }
    for (; i < n; i += 16) {
        //  The last round may be partial: masked lanes load as zero.
        __mmask16 mask = n - i >= 16 ? (__mmask16) 0xffff : s_mask16 (n - i);
        __m512 x = _mm512_maskz_loadu_ps (mask, a + i), y = _mm512_maskz_loadu_ps (mask, b + i);
        ab0 = _mm512_fmadd_ps (x, y, ab0);
        aa0 = _mm512_fmadd_ps (x, x, aa0);
        bb0 = _mm512_fmadd_ps (y, y, bb0);
    }
    *ab = _mm512_reduce_add_ps (_mm512_add_ps (ab0, ab1));
    *aa = _mm512_reduce_add_ps (_mm512_add_ps (aa0, aa1));
    *bb = _mm512_reduce_add_ps (_mm512_add_ps (bb0, bb1));
}

static S_AVX512 void
s_scale (float *a, size_t n, float factor)
{
    __m512 by = _mm512_set1_ps (factor);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps (a + i, _mm512_mul_ps (_mm512_loadu_ps (a + i), by));
    if (i < n) {
        __mmask16 mask = s_mask16 (n - i);
        _mm512_mask_storeu_ps (a + i, mask,
                               _mm512_mul_ps (_mm512_maskz_loadu_ps (mask, a + i), by));
    }
}

//  The hot loop of the issue: stream the corpus once, one row after another, and
//  write nothing but the (rarely touched) heap. Memory-bound for dim >= ~64: the
//  FMAs of a 384-float row take ~30 cycles, its 24 cache lines far longer.
static S_AVX512 void
s_topk_f32 (const float *query, const float *corpus, size_t begin, size_t end, size_t dim,
            trk__topk_t *topk)
{
    const float *row = corpus + begin * dim;
    for (size_t index = begin; index < end; index++, row += dim) {
        trk__prefetch_ahead (row, dim * sizeof (float));
        trk__topk_push (topk, (uint32_t) index, s_dot_inline (query, row, dim));
    }
}

//  int8 without VNNI: sign-extend 32 bytes to 16-bit lanes, multiply and add pairs
//  into 32-bit lanes (vpmaddwd: exact, no saturation).
S_INLINE S_AVX512 int64_t
s_dot_i8_widen (const int8_t *q, const int8_t *c, size_t n)
{
    __m512i acc0 = _mm512_setzero_si512 (), acc1 = _mm512_setzero_si512 ();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i q0 = _mm512_cvtepi8_epi16 (_mm256_loadu_si256 ((const __m256i *) (q + i)));
        __m512i c0 = _mm512_cvtepi8_epi16 (_mm256_loadu_si256 ((const __m256i *) (c + i)));
        __m512i q1 = _mm512_cvtepi8_epi16 (_mm256_loadu_si256 ((const __m256i *) (q + i + 32)));
        __m512i c1 = _mm512_cvtepi8_epi16 (_mm256_loadu_si256 ((const __m256i *) (c + i + 32)));
        acc0 = _mm512_add_epi32 (acc0, _mm512_madd_epi16 (q0, c0));
        acc1 = _mm512_add_epi32 (acc1, _mm512_madd_epi16 (q1, c1));
    }
    for (; i < n; i += 32) {
        __mmask32 mask = n - i >= 32 ? (__mmask32) 0xffffffffu : (__mmask32) ((1u << (n - i)) - 1);
        __m512i q0 = _mm512_cvtepi8_epi16 (_mm256_maskz_loadu_epi8 (mask, q + i));
        __m512i c0 = _mm512_cvtepi8_epi16 (_mm256_maskz_loadu_epi8 (mask, c + i));
        acc0 = _mm512_add_epi32 (acc0, _mm512_madd_epi16 (q0, c0));
    }
    return _mm512_reduce_add_epi32 (_mm512_add_epi32 (acc0, acc1));
}

static S_AVX512 void
s_topk_i8_widen (const int8_t *query, float query_scale, const int8_t *corpus, const float *scales,
                 size_t begin, size_t end, size_t dim, trk__topk_t *topk)
{
    const int8_t *row = corpus + begin * dim;
    for (size_t index = begin; index < end; index++, row += dim) {
        trk__prefetch_ahead (row, dim);
        int64_t dot = s_dot_i8_widen (query, row, dim);
        trk__topk_push (topk, (uint32_t) index, trk__i8_score (dot, query_scale, scales[index]));
    }
}

//  int8 with VNNI: vpdpbusd multiplies unsigned by signed bytes, so the row is made
//  unsigned by flipping its sign bit (c + 128) and the query's share of that, 128 * sum
//  (q), is taken off once per row: 64 bytes per instruction, exact in int32 for
//  dim <= TRK__I8_SIMD_MAX_DIM.
S_INLINE S_VNNI int64_t
s_dot_i8_vnni (const int8_t *q, const int8_t *c, size_t n, int64_t bias)
{
    const __m512i flip = _mm512_set1_epi8 ((char) 0x80);
    __m512i acc0 = _mm512_setzero_si512 (), acc1 = _mm512_setzero_si512 ();
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        __m512i c0 = _mm512_xor_si512 (_mm512_loadu_si512 (c + i), flip);
        __m512i c1 = _mm512_xor_si512 (_mm512_loadu_si512 (c + i + 64), flip);
        acc0 = _mm512_dpbusd_epi32 (acc0, c0, _mm512_loadu_si512 (q + i));
        acc1 = _mm512_dpbusd_epi32 (acc1, c1, _mm512_loadu_si512 (q + i + 64));
    }
    for (; i < n; i += 64) {
        //  Masked lanes: c loads as 0 (128 once flipped), q as 0, so they add nothing.
        __mmask64 mask = n - i >= 64 ? ~(__mmask64) 0 : (((__mmask64) 1 << (n - i)) - 1);
        __m512i c0 = _mm512_xor_si512 (_mm512_maskz_loadu_epi8 (mask, c + i), flip);
        acc0 = _mm512_dpbusd_epi32 (acc0, c0, _mm512_maskz_loadu_epi8 (mask, q + i));
    }
    return (int64_t) _mm512_reduce_add_epi32 (_mm512_add_epi32 (acc0, acc1)) - bias;
}

static S_VNNI void
s_topk_i8_vnni (const int8_t *query, float query_scale, const int8_t *corpus, const float *scales,
                size_t begin, size_t end, size_t dim, trk__topk_t *topk)
{
    int64_t query_sum = 0;
    for (size_t i = 0; i < dim; i++)
        query_sum += query[i];
    int64_t bias = 128 * query_sum;
    const int8_t *row = corpus + begin * dim;
    for (size_t index = begin; index < end; index++, row += dim) {
        trk__prefetch_ahead (row, dim);
        int64_t dot = s_dot_i8_vnni (query, row, dim, bias);
        trk__topk_push (topk, (uint32_t) index, trk__i8_score (dot, query_scale, scales[index]));
    }
}

//  Same arithmetic as the scalar path: max |x| is exact in any order, the products
//  are the same two roundings, and vcvtps2dq rounds to nearest even.
static S_AVX512 int
s_quantize_i8 (const float *corpus, size_t begin, size_t end, size_t dim, int8_t *out,
               float *scales)
{
    const __m512 infinity = _mm512_set1_ps (INFINITY);
    const __m512i low = _mm512_set1_epi32 (-127), high = _mm512_set1_epi32 (127);
    for (size_t row = begin; row < end; row++) {
        const float *x = corpus + row * dim;
        __m512 vmax = _mm512_setzero_ps ();
        __mmask16 bad = 0;
        for (size_t i = 0; i < dim; i += 16) {
            __mmask16 mask = dim - i >= 16 ? (__mmask16) 0xffff : s_mask16 (dim - i);
            __m512 magnitude = _mm512_abs_ps (_mm512_maskz_loadu_ps (mask, x + i));
            bad |= _mm512_cmp_ps_mask (magnitude, infinity, _CMP_NLT_UQ);  //  inf or NaN
            vmax = _mm512_max_ps (vmax, magnitude);
        }
        if (bad)
            return -1;
        float max = _mm512_reduce_max_ps (vmax);
        int8_t *q = out + row * dim;
        scales[row] = max / 127.0f;
        float pre_scalar = max < 0x1p-64f ? 0x1p64f : 1.0f;
        __m512 pre = _mm512_set1_ps (pre_scalar);
        __m512 inverse = _mm512_set1_ps (scales[row] > 0 ? 127.0f / (max * pre_scalar) : 0);
        for (size_t i = 0; i < dim; i += 16) {
            __mmask16 mask = dim - i >= 16 ? (__mmask16) 0xffff : s_mask16 (dim - i);
            __m512 y =
                _mm512_mul_ps (_mm512_mul_ps (_mm512_maskz_loadu_ps (mask, x + i), pre), inverse);
            __m512i rounded = _mm512_cvtps_epi32 (y);
            rounded = _mm512_min_epi32 (_mm512_max_epi32 (rounded, low), high);
            _mm512_mask_cvtepi32_storeu_epi8 (q + i, mask, rounded);
        }
    }
    return 0;
}

const trk__ops_t trk__ops_avx512 = {
    .name = "avx512",
    .dot = s_dot,
    .sum = s_sum,
    .dot3 = s_dot3,
    .scale = s_scale,
    .topk_f32 = s_topk_f32,
    .topk_i8 = s_topk_i8_vnni,
    .quantize_i8 = s_quantize_i8,
};

const trk__ops_t trk__ops_avx512_novnni = {
    .name = "avx512",
    .dot = s_dot,
    .sum = s_sum,
    .dot3 = s_dot3,
    .scale = s_scale,
    .topk_f32 = s_topk_f32,
    .topk_i8 = s_topk_i8_widen,
    .quantize_i8 = s_quantize_i8,
};
