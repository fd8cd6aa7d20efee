//  kernels_avx2 - the AVX2 + FMA implementation. Compiled with plain flags: each
//  function carries its target, and kernels.c calls these only after
//  __builtin_cpu_supports said yes.
//
//  Float tails are vmaskmovps loads, which never touch memory past the end of the
//  input; int8 tails are a short scalar loop.
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

#define S_AVX2   __attribute__ ((target ("avx2,fma")))
#define S_INLINE static inline __attribute__ ((always_inline))

//  Lanes 0..remainder-1 of an 8-lane load mask (remainder < 8).
static const int32_t s_mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

S_INLINE S_AVX2 __m256i
s_mask8 (size_t remainder)
{
    return _mm256_loadu_si256 ((const __m256i *) (s_mask_table + 8 - remainder));
}

S_INLINE S_AVX2 float
s_hsum (__m256 v)
{
    __m128 sum = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
    sum = _mm_add_ps (sum, _mm_movehl_ps (sum, sum));
    sum = _mm_add_ss (sum, _mm_movehdup_ps (sum));
    return _mm_cvtss_f32 (sum);
}

S_INLINE S_AVX2 int64_t
s_hsum_epi32 (__m256i v)
{
    __m128i sum = _mm_add_epi32 (_mm256_castsi256_si128 (v), _mm256_extracti128_si256 (v, 1));
    sum = _mm_add_epi32 (sum, _mm_shuffle_epi32 (sum, _MM_SHUFFLE (1, 0, 3, 2)));
    sum = _mm_add_epi32 (sum, _mm_shuffle_epi32 (sum, _MM_SHUFFLE (2, 3, 0, 1)));
    return _mm_cvtsi128_si32 (sum);
}

//  Four accumulators of 8 lanes: 32 partial sums, four independent FMA chains.
//  Inlined into the top-k loop, so a hit's score is bit-identical to trk_dot_f32.
S_INLINE S_AVX2 float
s_dot_inline (const float *a, const float *b, size_t n)
{
    __m256 acc0 = _mm256_setzero_ps (), acc1 = _mm256_setzero_ps ();
    __m256 acc2 = _mm256_setzero_ps (), acc3 = _mm256_setzero_ps ();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i), _mm256_loadu_ps (b + i), acc0);
        acc1 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i + 8), _mm256_loadu_ps (b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i + 16), _mm256_loadu_ps (b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i + 24), _mm256_loadu_ps (b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i), _mm256_loadu_ps (b + i), acc0);
    if (i < n) {
        __m256i mask = s_mask8 (n - i);
        acc1 = _mm256_fmadd_ps (_mm256_maskload_ps (a + i, mask), _mm256_maskload_ps (b + i, mask),
                                acc1);
    }
    return s_hsum (_mm256_add_ps (_mm256_add_ps (acc0, acc1), _mm256_add_ps (acc2, acc3)));
}

static S_AVX2 float
s_dot (const float *a, const float *b, size_t n)
{
    return s_dot_inline (a, b, n);
}

static S_AVX2 float
s_sum (const float *a, size_t n)
{
    __m256 acc0 = _mm256_setzero_ps (), acc1 = _mm256_setzero_ps ();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_add_ps (acc0, _mm256_loadu_ps (a + i));
        acc1 = _mm256_add_ps (acc1, _mm256_loadu_ps (a + i + 8));
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_add_ps (acc0, _mm256_loadu_ps (a + i));
    if (i < n)
        acc1 = _mm256_add_ps (acc1, _mm256_maskload_ps (a + i, s_mask8 (n - i)));
    return s_hsum (_mm256_add_ps (acc0, acc1));
}

static S_AVX2 void
s_dot3 (const float *a, const float *b, size_t n, float *ab, float *aa, float *bb)
{
    __m256 ab0 = _mm256_setzero_ps (), aa0 = _mm256_setzero_ps (), bb0 = _mm256_setzero_ps ();
    __m256 ab1 = _mm256_setzero_ps (), aa1 = _mm256_setzero_ps (), bb1 = _mm256_setzero_ps ();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 x0 = _mm256_loadu_ps (a + i), y0 = _mm256_loadu_ps (b + i);
        __m256 x1 = _mm256_loadu_ps (a + i + 8), y1 = _mm256_loadu_ps (b + i + 8);
        ab0 = _mm256_fmadd_ps (x0, y0, ab0);
        aa0 = _mm256_fmadd_ps (x0, x0, aa0);
        bb0 = _mm256_fmadd_ps (y0, y0, bb0);
        ab1 = _mm256_fmadd_ps (x1, y1, ab1);
        aa1 = _mm256_fmadd_ps (x1, x1, aa1);
        bb1 = _mm256_fmadd_ps (y1, y1, bb1);
    }
    for (; i < n; i += 8) {
        //  The last round may be partial: masked lanes load as zero.
        __m256i mask = n - i >= 8 ? _mm256_set1_epi32 (-1) : s_mask8 (n - i);
        __m256 x = _mm256_maskload_ps (a + i, mask), y = _mm256_maskload_ps (b + i, mask);
        ab0 = _mm256_fmadd_ps (x, y, ab0);
        aa0 = _mm256_fmadd_ps (x, x, aa0);
        bb0 = _mm256_fmadd_ps (y, y, bb0);
    }
    *ab = s_hsum (_mm256_add_ps (ab0, ab1));
    *aa = s_hsum (_mm256_add_ps (aa0, aa1));
    *bb = s_hsum (_mm256_add_ps (bb0, bb1));
}

static S_AVX2 void
s_scale (float *a, size_t n, float factor)
{
    __m256 by = _mm256_set1_ps (factor);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps (a + i, _mm256_mul_ps (_mm256_loadu_ps (a + i), by));
    for (; i < n; i++)
        a[i] *= factor;
}

//  The streaming loop: see kernels_avx512.c.
static S_AVX2 void
s_topk_f32 (const float *query, const float *corpus, size_t begin, size_t end, size_t dim,
            trk__topk_t *topk)
{
    const float *row = corpus + begin * dim;
    for (size_t index = begin; index < end; index++, row += dim) {
        trk__prefetch_ahead (row, dim * sizeof (float));
        trk__topk_push (topk, (uint32_t) index, s_dot_inline (query, row, dim));
    }
}

//  Sign-extend 16 bytes to 16-bit lanes, multiply and add pairs into 32-bit lanes
//  (vpmaddwd: exact, no saturation), two chains.
S_INLINE S_AVX2 int64_t
s_dot_i8 (const int8_t *q, const int8_t *c, size_t n)
{
    __m256i acc0 = _mm256_setzero_si256 (), acc1 = _mm256_setzero_si256 ();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i q0 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) (q + i)));
        __m256i c0 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) (c + i)));
        __m256i q1 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) (q + i + 16)));
        __m256i c1 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) (c + i + 16)));
        acc0 = _mm256_add_epi32 (acc0, _mm256_madd_epi16 (q0, c0));
        acc1 = _mm256_add_epi32 (acc1, _mm256_madd_epi16 (q1, c1));
    }
    for (; i + 16 <= n; i += 16) {
        __m256i q0 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) (q + i)));
        __m256i c0 = _mm256_cvtepi8_epi16 (_mm_loadu_si128 ((const __m128i *) (c + i)));
        acc0 = _mm256_add_epi32 (acc0, _mm256_madd_epi16 (q0, c0));
    }
    int64_t dot = s_hsum_epi32 (_mm256_add_epi32 (acc0, acc1));
    for (; i < n; i++)
        dot += (int32_t) q[i] * c[i];
    return dot;
}

static S_AVX2 void
s_topk_i8 (const int8_t *query, float query_scale, const int8_t *corpus, const float *scales,
           size_t begin, size_t end, size_t dim, trk__topk_t *topk)
{
    const int8_t *row = corpus + begin * dim;
    for (size_t index = begin; index < end; index++, row += dim) {
        trk__prefetch_ahead (row, dim);
        int64_t dot = s_dot_i8 (query, row, dim);
        trk__topk_push (topk, (uint32_t) index, trk__i8_score (dot, query_scale, scales[index]));
    }
}

//  Same arithmetic as the scalar path (see kernels_avx512.c); the last dim % 8
//  elements are done one at a time, with the scalar path's rounding.
static S_AVX2 int
s_quantize_i8 (const float *corpus, size_t begin, size_t end, size_t dim, int8_t *out,
               float *scales)
{
    const __m256 sign = _mm256_set1_ps (-0.0f), infinity = _mm256_set1_ps (INFINITY);
    const __m256i low = _mm256_set1_epi32 (-127), high = _mm256_set1_epi32 (127);
    //  Packs the low byte of each 32-bit lane into the first 4 bytes of each half.
    const __m256i pick =
        _mm256_setr_epi8 (0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                          -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    for (size_t row = begin; row < end; row++) {
        const float *x = corpus + row * dim;
        __m256 vmax = _mm256_setzero_ps ();
        int bad = 0;
        size_t i = 0;
        for (; i + 8 <= dim; i += 8) {
            __m256 magnitude = _mm256_andnot_ps (sign, _mm256_loadu_ps (x + i));
            bad |= _mm256_movemask_ps (_mm256_cmp_ps (magnitude, infinity, _CMP_NLT_UQ));
            vmax = _mm256_max_ps (vmax, magnitude);
        }
        __m128 half = _mm_max_ps (_mm256_castps256_ps128 (vmax), _mm256_extractf128_ps (vmax, 1));
        half = _mm_max_ps (half, _mm_movehl_ps (half, half));
        half = _mm_max_ss (half, _mm_movehdup_ps (half));
        float max = _mm_cvtss_f32 (half);
        for (size_t j = i; j < dim; j++) {
            float magnitude = fabsf (x[j]);
            bad |= !(magnitude < INFINITY);
            max = magnitude > max ? magnitude : max;
        }
        if (bad)
            return -1;
        int8_t *q = out + row * dim;
        scales[row] = max / 127.0f;
        float pre_scalar = max < 0x1p-64f ? 0x1p64f : 1.0f;
        float inverse_scalar = scales[row] > 0 ? 127.0f / (max * pre_scalar) : 0;
        __m256 pre = _mm256_set1_ps (pre_scalar), inverse = _mm256_set1_ps (inverse_scalar);
        for (i = 0; i + 8 <= dim; i += 8) {
            __m256 y = _mm256_mul_ps (_mm256_mul_ps (_mm256_loadu_ps (x + i), pre), inverse);
            __m256i rounded = _mm256_cvtps_epi32 (y);
            rounded = _mm256_min_epi32 (_mm256_max_epi32 (rounded, low), high);
            __m256i bytes = _mm256_shuffle_epi8 (rounded, pick);
            int32_t lo = _mm256_extract_epi32 (bytes, 0), hi = _mm256_extract_epi32 (bytes, 4);
            memcpy (q + i, &lo, 4);
            memcpy (q + i + 4, &hi, 4);
        }
        for (; i < dim; i++) {
            float y = ((x[i] * pre_scalar) * inverse_scalar + 12582912.0f) - 12582912.0f;
            y = y > 127.0f ? 127.0f : (y < -127.0f ? -127.0f : y);
            q[i] = (int8_t) y;
        }
    }
    return 0;
}

const trk__ops_t trk__ops_avx2 = {
    .name = "avx2",
    .dot = s_dot,
    .sum = s_sum,
    .dot3 = s_dot3,
    .scale = s_scale,
    .topk_f32 = s_topk_f32,
    .topk_i8 = s_topk_i8,
    .quantize_i8 = s_quantize_i8,
};
