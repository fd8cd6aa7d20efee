//  kernels_scalar - the portable implementation, and the reference the SIMD paths
//  are tested against. Eight partial sums, like the SIMD paths' lanes, keep the
//  float error of long sums small (docs/kernels.md).
#include "kernels.h"

static float
s_dot (const float *a, const float *b, size_t n)
{
    float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t lane = 0; lane < 8; lane++)
            part[lane] += a[i + lane] * b[i + lane];
    for (size_t lane = 0; i < n; i++, lane++)
        part[lane] += a[i] * b[i];
    return ((part[0] + part[1]) + (part[2] + part[3]))
           + ((part[4] + part[5]) + (part[6] + part[7]));
}

static float
s_sum (const float *a, size_t n)
{
    float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t lane = 0; lane < 8; lane++)
            part[lane] += a[i + lane];
    for (size_t lane = 0; i < n; i++, lane++)
        part[lane] += a[i];
    return ((part[0] + part[1]) + (part[2] + part[3]))
           + ((part[4] + part[5]) + (part[6] + part[7]));
}

static void
s_dot3 (const float *a, const float *b, size_t n, float *ab, float *aa, float *bb)
{
    *ab = s_dot (a, b, n);
    *aa = s_dot (a, a, n);
    *bb = s_dot (b, b, n);
}

static void
s_scale (float *a, size_t n, float factor)
{
    for (size_t i = 0; i < n; i++)
        a[i] *= factor;
}

static void
s_topk_f32 (const float *query, const float *corpus, size_t begin, size_t end, size_t dim,
            trk__topk_t *topk)
{
    for (size_t row = begin; row < end; row++)
        trk__topk_push (topk, (uint32_t) row, s_dot (query, corpus + row * dim, dim));
}

//  Exact: int32 partial sums over at most 65536 elements, then int64.
static int64_t
s_dot_i8 (const int8_t *a, const int8_t *b, size_t n)
{
    int64_t total = 0;
    for (size_t start = 0; start < n; start += TRK__I8_SIMD_MAX_DIM) {
        size_t stop = n - start > TRK__I8_SIMD_MAX_DIM ? start + TRK__I8_SIMD_MAX_DIM : n;
        int32_t part = 0;
        for (size_t i = start; i < stop; i++)
            part += (int32_t) a[i] * b[i];
        total += part;
    }
    return total;
}

static void
s_topk_i8 (const int8_t *query, float query_scale, const int8_t *corpus, const float *scales,
           size_t begin, size_t end, size_t dim, trk__topk_t *topk)
{
    for (size_t row = begin; row < end; row++) {
        int64_t dot = s_dot_i8 (query, corpus + row * dim, dim);
        trk__topk_push (topk, (uint32_t) row, trk__i8_score (dot, query_scale, scales[row]));
    }
}

//  Round to nearest, ties to even, for |y| < 2^22, as the SIMD converts do in the
//  default rounding mode: adding 1.5 * 2^23 leaves no fraction bits.
static inline float
s_round_even (float y)
{
    return (y + 12582912.0f) - 12582912.0f;
}

static int
s_quantize_i8 (const float *corpus, size_t begin, size_t end, size_t dim, int8_t *out,
               float *scales)
{
    for (size_t row = begin; row < end; row++) {
        const float *x = corpus + row * dim;
        float max = 0;
        int finite = 1;
        for (size_t i = 0; i < dim; i++) {
            float magnitude = fabsf (x[i]);
            finite &= magnitude < INFINITY;  //  false for NaN too
            max = magnitude > max ? magnitude : max;
        }
        if (!finite)
            return -1;
        int8_t *q = out + row * dim;
        scales[row] = max / 127.0f;
        float pre = max < 0x1p-64f ? 0x1p64f : 1.0f;  //  keeps 127 / max finite
        float inverse = scales[row] > 0 ? 127.0f / (max * pre) : 0;
        for (size_t i = 0; i < dim; i++) {
            float y = s_round_even ((x[i] * pre) * inverse);
            y = y > 127.0f ? 127.0f : (y < -127.0f ? -127.0f : y);
            q[i] = (int8_t) y;
        }
    }
    return 0;
}

const trk__ops_t trk__ops_scalar = {
    .name = "scalar",
    .dot = s_dot,
    .sum = s_sum,
    .dot3 = s_dot3,
    .scale = s_scale,
    .topk_f32 = s_topk_f32,
    .topk_i8 = s_topk_i8,
    .quantize_i8 = s_quantize_i8,
};
