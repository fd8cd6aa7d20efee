//  test_kernels - libtroupe-kernels: every kernel on every implementation this CPU
//  can run, against references computed here in double precision, plus bad
//  arguments, dispatch by TR_KERNELS, and the recall of int8 top-k against float32
//
//  Tolerance for float sums: |got - exact| <= 1e-5 * sum |a[i] * b[i]|. Why: each
//  float addition rounds by at most u = 2^-24 (6e-8) of its result; every path splits
//  a sum over >= 8 partial sums, so for n <= 4096 each partial sum has <= 512 terms,
//  whose error is bounded by 512 u (3e-5) of sum |terms| in the worst case and grows
//  like sqrt (512) u (1.4e-6) in practice, the roundings having random signs. 1e-5
//  leaves 7x over the practical figure and still catches any wrong or missing term
//  (one term of a 4096-term sum weighs ~2.4e-4 of it).
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "troupe_kernels.h"

#define S_TOLERANCE 1e-5

static const char *s_isa_names[] = {"scalar", "avx2", "avx512", "avx512-novnni"};
static const char *s_isa_forced;  //  the name the running checks forced

//  ---------------------------------------------------------------------
//  Deterministic data

static uint64_t s_seed = 0x9e3779b97f4a7c15ull;

static uint64_t
s_next (void)
{
    s_seed ^= s_seed >> 12;
    s_seed ^= s_seed << 25;
    s_seed ^= s_seed >> 27;
    return s_seed * 0x2545f4914f6cdd1dull;
}

//  Uniform in [-1, 1).
static float
s_uniform (void)
{
    return (float) ((double) (s_next () >> 11) / 4503599627370496.0 - 1.0);
}

//  Standard normal (Box-Muller).
static float
s_gaussian (void)
{
    double u1 = ((double) (s_next () >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double) (s_next () >> 11) / 9007199254740992.0;
    return (float) (sqrt (-2.0 * log (u1)) * cos (6.283185307179586 * u2));
}

static void
s_fill (float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = s_uniform ();
}

//  n floats that end exactly where their allocation ends, one float past an
//  aligned start: unaligned, and ASan sees any read past the end.
static float *
s_floats (size_t n, float **block_p)
{
    *block_p = malloc ((n + 1) * sizeof (float));
    TR_ASSERT (*block_p);
    return *block_p + 1;
}

//  ---------------------------------------------------------------------
//  References

static double
s_ref_dot (const float *a, const float *b, size_t n, double *magnitude)
{
    double sum = 0, abs_sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += (double) a[i] * b[i];
        abs_sum += fabs ((double) a[i] * b[i]);
    }
    *magnitude = abs_sum;
    return sum;
}

static void
s_check_close (double got, double want, double bound, const char *what, size_t n)
{
    if (!(fabs (got - want) <= bound)) {
        fprintf (stderr, "%s (%s, n %zu): got %.9g, want %.9g (bound %.3g)\n", what, trk_isa (), n,
                 got, want, bound);
        TR_ASSERT (fabs (got - want) <= bound);
    }
}

//  ---------------------------------------------------------------------
//  Vector kernels on the current implementation, n = 1..67 and some long ones

static void
s_test_vectors_n (size_t n)
{
    float *block_a, *block_b, *block_w;
    float *a = s_floats (n, &block_a), *b = s_floats (n, &block_b), *w = s_floats (n, &block_w);
    s_fill (a, n);
    s_fill (b, n);
    for (size_t i = 0; i < n; i++)
        w[i] = 0.1f + fabsf (s_uniform ());  //  positive: a well-conditioned denominator

    double magnitude;
    double dot = s_ref_dot (a, b, n, &magnitude);
    float got;
    TR_CHECK (trk_dot_f32 (a, b, n, &got));
    s_check_close (got, dot, S_TOLERANCE * magnitude, "dot", n);

    double aa = s_ref_dot (a, a, n, &magnitude), bb_magnitude;
    double bb = s_ref_dot (b, b, n, &bb_magnitude);
    TR_CHECK (trk_norm_f32 (a, n, &got));
    s_check_close (got, sqrt (aa), S_TOLERANCE * sqrt (aa), "norm", n);

    //  Sum |ab| <= |a| |b|, so the dot's bound is 1e-5 of the cosine's scale; the
    //  norms add two relative 5e-6.
    TR_CHECK (trk_cosine_f32 (a, b, n, &got));
    s_check_close (got, dot / sqrt (aa * bb), 3 * S_TOLERANCE, "cosine", n);
    TR_ASSERT (got >= -1.0f && got <= 1.0f);
    TR_CHECK (trk_cosine_f32 (a, a, n, &got));
    s_check_close (got, 1.0, 3 * S_TOLERANCE, "cosine (a, a)", n);

    double vw_magnitude, w_sum = 0;
    double vw = s_ref_dot (a, w, n, &vw_magnitude);
    for (size_t i = 0; i < n; i++)
        w_sum += w[i];
    TR_CHECK (trk_weighted_avg_f32 (a, w, n, &got));
    s_check_close (got, vw / w_sum, 2 * S_TOLERANCE * vw_magnitude / w_sum, "weighted_avg", n);

    //  matvec: 3 rows (b, a, b); each entry is exactly trk_dot_f32 of its row.
    float *block_m, *m = s_floats (3 * n, &block_m), out[3], row_dot;
    memcpy (m, b, n * sizeof (float));
    memcpy (m + n, a, n * sizeof (float));
    memcpy (m + 2 * n, b, n * sizeof (float));
    TR_CHECK (trk_matvec_f32 (m, 3, n, a, out));
    TR_CHECK (trk_dot_f32 (b, a, n, &row_dot));
    TR_ASSERT (out[0] == row_dot && out[2] == row_dot);
    TR_CHECK (trk_dot_f32 (a, a, n, &row_dot));
    TR_ASSERT (out[1] == row_dot);
    s_ref_dot (b, a, n, &magnitude);
    s_check_close (out[0], dot, S_TOLERANCE * magnitude, "matvec", n);

    //  normalize: unit norm, each element a[i] / |a|.
    memcpy (b, a, n * sizeof (float));
    TR_CHECK (trk_normalize_f32 (a, n));
    double unit = 0;
    for (size_t i = 0; i < n; i++) {
        unit += (double) a[i] * a[i];
        s_check_close (a[i], b[i] / sqrt (aa), 2 * S_TOLERANCE * fabs (b[i] / sqrt (aa)) + 1e-30,
                       "normalize", n);
    }
    s_check_close (sqrt (unit), 1.0, 2 * S_TOLERANCE, "normalized norm", n);
    (void) bb_magnitude;
    free (block_a);
    free (block_b);
    free (block_w);
    free (block_m);
}

static void
s_test_vectors (void)
{
    for (size_t n = 1; n <= 67; n++)
        s_test_vectors_n (n);
    size_t long_ones[] = {100, 127, 128, 129, 384, 1000, 1023, 4096};
    for (size_t i = 0; i < sizeof long_ones / sizeof long_ones[0]; i++)
        s_test_vectors_n (long_ones[i]);
}

//  ---------------------------------------------------------------------
//  Top-k float32

typedef struct {
    uint32_t row;
    double score;
} s_ref_hit_t;

static int
s_ref_order (const void *x, const void *y)
{
    const s_ref_hit_t *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->row < b->row ? -1 : (a->row > b->row);
}

//  Hits best first; ties by lower row.
static void
s_check_order (const trk_hit_t *hits, size_t count)
{
    for (size_t i = 1; i < count; i++)
        TR_ASSERT (hits[i - 1].score > hits[i].score
                   || (hits[i - 1].score == hits[i].score && hits[i - 1].row < hits[i].row));
}

static void
s_check_topk_f32 (const float *query, const float *corpus, size_t rows, size_t dim, size_t k)
{
    trk_hit_t *hits = calloc (k, sizeof *hits);
    s_ref_hit_t *ref = calloc (rows ? rows : 1, sizeof *ref);
    double *bound = calloc (rows ? rows : 1, sizeof *bound);
    TR_ASSERT (hits && ref && bound);
    double worst_bound = 0;
    for (size_t row = 0; row < rows; row++) {
        ref[row].row = (uint32_t) row;
        ref[row].score = s_ref_dot (query, corpus + row * dim, dim, &bound[row]);
        bound[row] *= S_TOLERANCE;
        worst_bound = bound[row] > worst_bound ? bound[row] : worst_bound;
    }
    qsort (ref, rows, sizeof *ref, s_ref_order);
    size_t count = 12345;
    TR_CHECK (trk_topk_f32 (query, corpus, rows, dim, k, hits, &count));
    TR_ASSERT_EQ_INT (count, k < rows ? k : rows);
    s_check_order (hits, count);
    for (size_t i = 0; i < count; i++) {
        //  A hit's score is exactly trk_dot_f32 of its row, and close to the exact one.
        float dot;
        TR_ASSERT (hits[i].row < rows);
        TR_CHECK (trk_dot_f32 (query, corpus + (size_t) hits[i].row * dim, dim, &dot));
        TR_ASSERT (hits[i].score == dot);
        //  The i-th best float score is within the bound of the i-th best exact score,
        //  whatever near-ties did to the order.
        s_check_close (hits[i].score, ref[i].score, 2 * worst_bound, "topk_f32 rank score", dim);
    }
    //  Threads change nothing: same rows, same scores, same order.
    int threads_list[] = {0, 2, 3, 7};
    trk_hit_t *again = calloc (k, sizeof *again);
    TR_ASSERT (again);
    for (size_t t = 0; t < sizeof threads_list / sizeof threads_list[0]; t++) {
        size_t count_mt = 0;
        TR_CHECK (trk_topk_f32_mt (query, corpus, rows, dim, k, threads_list[t], again, &count_mt));
        TR_ASSERT_EQ_INT (count_mt, count);
        for (size_t i = 0; i < count; i++)
            TR_ASSERT (again[i].row == hits[i].row && again[i].score == hits[i].score);
    }
    free (again);
    free (hits);
    free (ref);
    free (bound);
}

static void
s_test_topk_f32 (void)
{
    size_t dims[] = {1, 3, 16, 17, 64, 67, 384};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        size_t dim = dims[d], rows = 4000;
        float *block_q, *block_c;
        float *query = s_floats (dim, &block_q), *corpus = s_floats (rows * dim, &block_c);
        s_fill (query, dim);
        s_fill (corpus, rows * dim);
        s_check_topk_f32 (query, corpus, rows, dim, 1);
        s_check_topk_f32 (query, corpus, rows, dim, 10);
        s_check_topk_f32 (query, corpus, 7, dim, 10);           //  k > rows
        s_check_topk_f32 (query, corpus, 0, dim, 5);            //  no rows
        s_check_topk_f32 (query, corpus, rows, dim, rows + 3);  //  everything, sorted
        free (block_q);
        free (block_c);
    }
}

//  Equal rows score equally on one path: ties go to the lower row, with any threads.
static void
s_test_ties (void)
{
    size_t rows = 3000, dim = 67, k = 20;
    float *block_q, *block_c;
    float *query = s_floats (dim, &block_q), *corpus = s_floats (rows * dim, &block_c);
    s_fill (query, dim);
    for (size_t row = 0; row < rows; row++)
        s_fill (corpus + row * dim, dim);
    //  Ten copies of one strong row, spread out (around the thread splits too),
    //  and every other row weak.
    float *strong = corpus + 5 * dim;
    for (size_t i = 0; i < dim; i++)
        strong[i] = query[i];
    size_t copies[] = {5, 17, 999, 1000, 1001, 1499, 1500, 2250, 2998, 2999};
    for (size_t c = 1; c < 10; c++)
        memcpy (corpus + copies[c] * dim, strong, dim * sizeof (float));
    int threads_list[] = {1, 2, 3, 0};
    for (size_t t = 0; t < 4; t++) {
        trk_hit_t hits[20];
        size_t count = 0;
        TR_CHECK (trk_topk_f32_mt (query, corpus, rows, dim, k, threads_list[t], hits, &count));
        TR_ASSERT_EQ_INT (count, k);
        for (size_t c = 0; c < 10; c++) {
            TR_ASSERT_EQ_INT (hits[c].row, copies[c]);
            TR_ASSERT (hits[c].score == hits[0].score);
        }
        TR_ASSERT (hits[10].score < hits[0].score);
    }
    //  All rows equal: the first k rows, in order.
    for (size_t row = 0; row < rows; row++)
        memcpy (corpus + row * dim, strong, dim * sizeof (float));
    for (size_t t = 0; t < 4; t++) {
        trk_hit_t hits[20];
        size_t count = 0;
        TR_CHECK (trk_topk_f32_mt (query, corpus, rows, dim, k, threads_list[t], hits, &count));
        for (size_t i = 0; i < k; i++)
            TR_ASSERT_EQ_INT (hits[i].row, i);
    }
    //  NaN scores rank last (as -infinity): a NaN row never beats a real one.
    corpus[3 * dim] = NAN;
    corpus[4 * dim + 1] = NAN;
    trk_hit_t all[8];
    size_t count = 0;
    TR_CHECK (trk_topk_f32 (query, corpus, 8, dim, 8, all, &count));
    TR_ASSERT_EQ_INT (count, 8);
    TR_ASSERT_EQ_INT (all[6].row, 3);
    TR_ASSERT_EQ_INT (all[7].row, 4);
    TR_ASSERT (all[7].score == -INFINITY);
    free (block_q);
    free (block_c);
}

//  ---------------------------------------------------------------------
//  int8

//  Quantise on the current path and check it against the definition, and that it is
//  byte-identical to the scalar path's.
static void
s_check_quantize (const float *x, size_t rows, size_t dim, int8_t *q, float *scales)
{
    int8_t *q_scalar = malloc (rows * dim);
    float *scales_scalar = malloc (rows * sizeof (float));
    TR_ASSERT (q_scalar && scales_scalar);
    TR_CHECK (trk_quantize_i8 (x, rows, dim, q, scales));
    TR_CHECK (trk_isa_force ("scalar"));
    TR_CHECK (trk_quantize_i8 (x, rows, dim, q_scalar, scales_scalar));
    TR_CHECK (trk_isa_force (s_isa_forced));
    TR_ASSERT (memcmp (q, q_scalar, rows * dim) == 0);
    TR_ASSERT (memcmp (scales, scales_scalar, rows * sizeof (float)) == 0);
    for (size_t row = 0; row < rows; row++) {
        float max = 0;
        for (size_t i = 0; i < dim; i++)
            max = fabsf (x[row * dim + i]) > max ? fabsf (x[row * dim + i]) : max;
        TR_ASSERT (scales[row] == max / 127.0f);
        for (size_t i = 0; i < dim; i++) {
            int8_t value = q[row * dim + i];
            TR_ASSERT (value != -128);  //  the quantiser stays in [-127, 127]
            double exact = max > 0 ? x[row * dim + i] / (double) scales[row] : 0;
            TR_ASSERT (fabs (value - exact) <= 0.5 + 1e-4);
        }
    }
    free (q_scalar);
    free (scales_scalar);
}

static void
s_check_topk_i8 (const int8_t *query, float query_scale, const int8_t *corpus, const float *scales,
                 size_t rows, size_t dim, size_t k)
{
    //  Integer dots are exact, and the score is one expression: the reference is
    //  exact, and so is the comparison.
    s_ref_hit_t *ref = calloc (rows ? rows : 1, sizeof *ref);
    trk_hit_t *hits = calloc (k, sizeof *hits), *again = calloc (k, sizeof *again);
    TR_ASSERT (ref && hits && again);
    for (size_t row = 0; row < rows; row++) {
        int64_t dot = 0;
        for (size_t i = 0; i < dim; i++)
            dot += (int32_t) query[i] * corpus[row * dim + i];
        ref[row].row = (uint32_t) row;
        ref[row].score = (float) dot * query_scale * scales[row];
    }
    qsort (ref, rows, sizeof *ref, s_ref_order);
    size_t count = 0, expected = k < rows ? k : rows;
    TR_CHECK (trk_topk_i8 (query, query_scale, corpus, scales, rows, dim, k, hits, &count));
    TR_ASSERT_EQ_INT (count, expected);
    s_check_order (hits, count);
    for (size_t i = 0; i < count; i++) {
        TR_ASSERT_EQ_INT (hits[i].row, ref[i].row);
        TR_ASSERT (hits[i].score == (float) ref[i].score);
    }
    int threads_list[] = {0, 2, 5};
    for (size_t t = 0; t < 3; t++) {
        size_t count_mt = 0;
        TR_CHECK (trk_topk_i8_mt (query, query_scale, corpus, scales, rows, dim, k, threads_list[t],
                                  again, &count_mt));
        TR_ASSERT_EQ_INT (count_mt, count);
        TR_ASSERT (memcmp (again, hits, count * sizeof *hits) == 0);
    }
    free (ref);
    free (hits);
    free (again);
}

static void
s_test_int8 (void)
{
    size_t dims[] = {1, 2, 15, 31, 32, 33, 63, 64, 65, 67, 127, 384};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        size_t dim = dims[d], rows = 3000;
        float *block_x, *block_q;
        float *x = s_floats (rows * dim, &block_x), *query = s_floats (dim, &block_q);
        s_fill (x, rows * dim);
        s_fill (query, dim);
        for (size_t i = 0; i < dim; i++)
            x[7 * dim + i] = 0;  //  a zero row: scale 0, all zeros
        int8_t *q = malloc (rows * dim), query_q[384];
        float *scales = malloc (rows * sizeof (float)), query_scale;
        TR_ASSERT (q && scales);
        s_check_quantize (x, rows, dim, q, scales);
        TR_ASSERT (scales[7] == 0);
        for (size_t i = 0; i < dim; i++)
            TR_ASSERT (q[7 * dim + i] == 0);
        s_check_quantize (query, 1, dim, query_q, &query_scale);
        s_check_topk_i8 (query_q, query_scale, q, scales, rows, dim, 10);
        s_check_topk_i8 (query_q, query_scale, q, scales, 9, dim, 10);  //  k > rows
        s_check_topk_i8 (query_q, query_scale, q, scales, 0, dim, 3);   //  no rows
        //  Extremes, -128 included (not produced by the quantiser, but legal input).
        memset (q, -128, dim);
        memset (q + dim, 127, dim);
        memset (query_q, -128, dim);
        s_check_topk_i8 (query_q, query_scale, q, scales, 50, dim, 5);
        free (block_x);
        free (block_q);
        free (q);
        free (scales);
    }
    //  Rows longer than the SIMD int32 lanes allow take the exact scalar path.
    size_t dim = 70000, rows = 4;
    int8_t *corpus = malloc (rows * dim), *query = malloc (dim);
    float scales[4] = {1, 1, 1, 1};
    TR_ASSERT (corpus && query);
    memset (corpus, 127, rows * dim);
    memset (query, 127, dim);
    memset (corpus + dim, -127, dim);
    s_check_topk_i8 (query, 1.0f, corpus, scales, rows, dim, 4);

    //  Non-finite input is refused.
    float bad[4] = {1, NAN, 2, 3}, inf[3] = {1, 2, INFINITY};
    int8_t out[4];
    float scale;
    TR_ASSERT_EQ_INT (trk_quantize_i8 (bad, 1, 4, out, &scale), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_quantize_i8 (inf, 1, 3, out, &scale), TRK_EINVAL);
    free (corpus);
    free (query);
}

//  ---------------------------------------------------------------------
//  Bad arguments: an error code, never a crash (one implementation is enough: the
//  checks come before the dispatch)

//  Finite input far from 1 (sums of squares that overflow or underflow a
//  float) still gives exact norms and cosines; non-finite input is refused,
//  never NaN with TRK_OK. A row whose scale underflows quantises to zeros.
static void
s_test_extreme_scales (void)
{
    float big[4] = {1e20f, 1e20f, 0, 0}, tiny[4] = {1e-23f, 1e-23f, 1e-23f, 1e-23f};
    float value = 0;
    TR_CHECK (trk_norm_f32 (big, 4, &value));
    TR_ASSERT (fabs (value / 1.41421356e20 - 1) < 1e-6);
    TR_CHECK (trk_cosine_f32 (big, big, 4, &value));
    TR_ASSERT (fabs (value - 1) < 1e-6);
    TR_CHECK (trk_cosine_f32 (big, tiny, 4, &value));
    TR_ASSERT (fabs (value - 0.70710678) < 1e-6);
    TR_CHECK (trk_normalize_f32 (big, 4));
    TR_ASSERT (fabs (big[0] - 0.70710678) < 1e-6 && big[2] == 0);
    TR_CHECK (trk_normalize_f32 (tiny, 4));
    TR_ASSERT (fabs (tiny[3] - 0.5) < 1e-6);
    float bad[3] = {1, INFINITY, 0}, nan[3] = {1, NAN, 0};
    TR_ASSERT_EQ_INT (trk_cosine_f32 (bad, big, 3, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_cosine_f32 (big, nan, 3, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_norm_f32 (nan, 3, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_normalize_f32 (bad, 3), TRK_EINVAL);
    float under[3] = {1e-44f, 0, -1e-44f};
    int8_t q[3] = {1, 1, 1};
    float scale = 1;
    TR_CHECK (trk_quantize_i8 (under, 1, 3, q, &scale));
    TR_ASSERT (scale == 0 && q[0] == 0 && q[1] == 0 && q[2] == 0);
}

static void
s_test_bad_arguments (void)
{
    float a[4] = {1, 2, 3, 4}, zero[4] = {0, 0, 0, 0}, out[4] = {0}, value = 7;
    trk_hit_t hits[4];
    size_t count = 99;
    int8_t q[4] = {1, 2, 3, 4};
    float scales[1] = {1};
    int64_t dot_i8 = 0;
    TR_ASSERT_EQ_INT (trk_dot_i8 (NULL, q, 4, &dot_i8), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_dot_i8 (q, NULL, 4, &dot_i8), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_dot_i8 (q, q, 0, &dot_i8), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_dot_i8 (q, q, 4, NULL), TRK_EINVAL);
    TR_CHECK (trk_dot_i8 (q, q, 4, &dot_i8));
    TR_ASSERT (dot_i8 == 30);
    //  Extremes over more than one int32 chunk: exact in int64.
    size_t big = 200003;
    int8_t *low = malloc (big);
    TR_ASSERT (low);
    memset (low, -128, big);
    TR_CHECK (trk_dot_i8 (low, low, big, &dot_i8));
    TR_ASSERT (dot_i8 == (int64_t) big * 16384);
    for (size_t i = 0; i < big; i++)
        low[i] = (int8_t) ((i * 37) % 255 - 127);
    int64_t expect = 0;
    for (size_t i = 0; i < big; i++)
        expect += (int64_t) low[i] * (int64_t) low[(i * 7) % big];
    int8_t *other = malloc (big);
    TR_ASSERT (other);
    for (size_t i = 0; i < big; i++)
        other[i] = low[(i * 7) % big];
    TR_CHECK (trk_dot_i8 (low, other, big, &dot_i8));
    TR_ASSERT (dot_i8 == expect);
    free (low);
    free (other);
    TR_ASSERT_EQ_INT (trk_dot_f32 (NULL, a, 4, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_dot_f32 (a, NULL, 4, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_dot_f32 (a, a, 4, NULL), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_dot_f32 (a, a, 0, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_norm_f32 (NULL, 4, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_norm_f32 (a, 0, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_norm_f32 (a, 4, NULL), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_normalize_f32 (NULL, 4), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_normalize_f32 (a, 0), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_normalize_f32 (zero, 4), TRK_EINVAL);
    TR_ASSERT (zero[0] == 0 && zero[3] == 0);
    TR_ASSERT_EQ_INT (trk_cosine_f32 (a, zero, 4, &value), TRK_EINVAL);
    TR_ASSERT (value == 0);
    TR_ASSERT_EQ_INT (trk_cosine_f32 (NULL, a, 4, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_cosine_f32 (a, a, 0, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_weighted_avg_f32 (a, zero, 4, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_weighted_avg_f32 (a, NULL, 4, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_weighted_avg_f32 (a, a, 0, &value), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_matvec_f32 (NULL, 1, 4, a, out), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_matvec_f32 (a, 0, 4, a, out), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_matvec_f32 (a, 1, 0, a, out), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_matvec_f32 (a, 1, 4, NULL, out), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_matvec_f32 (a, 1, 4, a, NULL), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_matvec_f32 (a, SIZE_MAX / 2, 4, a, out), TRK_EINVAL);  //  overflow

    TR_ASSERT_EQ_INT (trk_topk_f32 (NULL, a, 1, 4, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (count, 0);
    TR_ASSERT_EQ_INT (trk_topk_f32 (a, NULL, 1, 4, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_f32 (a, a, 1, 0, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_f32 (a, a, 1, 4, 0, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_f32 (a, a, 1, 4, 1, NULL, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_f32 (a, a, 1, 4, 1, hits, NULL), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_f32 (a, a, (size_t) UINT32_MAX + 1, 1, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_f32 (a, a, 1u << 20, SIZE_MAX / 8, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_f32_mt (a, a, 1, 4, 1, -1, hits, &count), TRK_EINVAL);
    count = 99;
    TR_CHECK (trk_topk_f32_mt (a, NULL, 0, 4, 3, 2, hits, &count));  //  no rows: fine
    TR_ASSERT_EQ_INT (count, 0);

    TR_ASSERT_EQ_INT (trk_quantize_i8 (NULL, 1, 4, q, scales), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_quantize_i8 (a, 1, 4, NULL, scales), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_quantize_i8 (a, 1, 4, q, NULL), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_quantize_i8 (a, 0, 4, q, scales), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_quantize_i8 (a, 1, 0, q, scales), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (NULL, 1, q, scales, 1, 4, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (q, 1, NULL, scales, 1, 4, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (q, 1, q, NULL, 1, 4, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (q, 1, q, scales, 1, 0, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (q, 1, q, scales, 1, 4, 0, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (q, 1, q, scales, 1, 4, 1, NULL, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (q, 1, q, scales, 1, 4, 1, hits, NULL), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (q, -1, q, scales, 1, 4, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (q, NAN, q, scales, 1, 4, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8 (q, INFINITY, q, scales, 1, 4, 1, hits, &count), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_topk_i8_mt (q, 1, q, scales, 1, 4, 1, -2, hits, &count), TRK_EINVAL);
    TR_CHECK (trk_topk_i8 (q, 0, q, scales, 1, 4, 1, hits, &count));  //  zero query: fine
    TR_ASSERT (count == 1 && hits[0].row == 0 && hits[0].score == 0);

    TR_ASSERT_EQ_INT (trk_isa_force (NULL), TRK_EINVAL);
    TR_ASSERT_EQ_INT (trk_isa_force ("sse9"), TRK_EINVAL);
    TR_ASSERT (strcmp (trk_strerror (TRK_EINVAL), "invalid argument") == 0);
    TR_ASSERT (strcmp (trk_strerror (12345), "unknown error") == 0);
}

//  ---------------------------------------------------------------------
//  Recall of int8 top-k against float32 on a random normalised corpus

static void
s_test_recall (void)
{
    size_t rows = 20000, dim = 384, k = 10, queries = 50;
    float *corpus = malloc (rows * dim * sizeof (float)), *query = malloc (dim * sizeof (float));
    int8_t *corpus_q = malloc (rows * dim), query_q[384];
    float *scales = malloc (rows * sizeof (float)), query_scale;
    TR_ASSERT (corpus && query && corpus_q && scales);
    for (size_t row = 0; row < rows; row++) {
        for (size_t i = 0; i < dim; i++)
            corpus[row * dim + i] = s_gaussian ();
        TR_CHECK (trk_normalize_f32 (corpus + row * dim, dim));
    }
    TR_CHECK (trk_quantize_i8 (corpus, rows, dim, corpus_q, scales));
    size_t found = 0;
    for (size_t n = 0; n < queries; n++) {
        for (size_t i = 0; i < dim; i++)
            query[i] = s_gaussian ();
        TR_CHECK (trk_normalize_f32 (query, dim));
        TR_CHECK (trk_quantize_i8 (query, 1, dim, query_q, &query_scale));
        trk_hit_t exact[10], approx[10];
        size_t exact_count = 0, approx_count = 0;
        TR_CHECK (trk_topk_f32_mt (query, corpus, rows, dim, k, 0, exact, &exact_count));
        TR_CHECK (trk_topk_i8_mt (query_q, query_scale, corpus_q, scales, rows, dim, k, 0, approx,
                                  &approx_count));
        TR_ASSERT (exact_count == k && approx_count == k);
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                found += exact[i].row == approx[j].row;
    }
    double recall = (double) found / (double) (queries * k);
    printf ("test_kernels: int8 recall@10 vs float32: %.3f (%zu x %zu normalised gaussian, %zu "
            "queries, %s)\n",
            recall, rows, dim, queries, trk_isa ());
    //  The floor: int8 rounding moves a score by ~5e-4 here, against gaps of ~5e-3
    //  between neighbouring top scores; 0.9 allows one swap in ten.
    TR_ASSERT (recall >= 0.9);
    free (corpus);
    free (query);
    free (corpus_q);
    free (scales);
}

//  ---------------------------------------------------------------------
//  TR_KERNELS, read once per process: checked in child processes of this program.

static void
s_test_environment (const char *self_path)
{
    struct {
        const char *value;
        const char *isa;  //  what the child must say, NULL: the best
        bool warns;       //  a warning on stderr
    } cases[] = {{"scalar", "scalar", false}, {"bogus", NULL, true}, {"", NULL, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char command[4200], output[512] = "";
        snprintf (command, sizeof command, "TR_KERNELS='%s' '%s' --print-isa 2>&1", cases[c].value,
                  self_path);
        FILE *child = popen (command, "r");
        TR_ASSERT (child);
        size_t length = fread (output, 1, sizeof output - 1, child);
        output[length] = '\0';
        TR_ASSERT_EQ_INT (pclose (child), 0);
        char want[64];
        snprintf (want, sizeof want, "isa=%s\n", cases[c].isa ? cases[c].isa : trk_isa ());
        if (!strstr (output, want)) {
            fprintf (stderr, "TR_KERNELS=%s: child said: %s", cases[c].value, output);
            TR_ASSERT (strstr (output, want));
        }
        TR_ASSERT ((strstr (output, "troupe_kernels: TR_KERNELS=") != NULL) == cases[c].warns);
    }
}

int
main (int argc, char *argv[])
{
    if (argc > 1 && strcmp (argv[1], "--print-isa") == 0) {
        printf ("isa=%s\n", trk_isa ());
        return 0;
    }
    const char *best = trk_isa ();
    printf ("test_kernels: best implementation here: %s\n", best);
    TR_ASSERT (strcmp (best, "scalar") == 0 || strcmp (best, "avx2") == 0
               || strcmp (best, "avx512") == 0);
    char self_path[4096];
    ssize_t length = readlink ("/proc/self/exe", self_path, sizeof self_path - 1);
    TR_ASSERT (length > 0);
    self_path[length] = '\0';
    s_test_environment (self_path);
    s_test_bad_arguments ();

    int tested = 0;
    for (size_t i = 0; i < sizeof s_isa_names / sizeof s_isa_names[0]; i++) {
        int rc = trk_isa_force (s_isa_names[i]);
        if (rc == TRK_ENOTSUP) {
            printf ("test_kernels: %s: not supported by this CPU, skipped\n", s_isa_names[i]);
            continue;
        }
        TR_CHECK (rc);
        s_isa_forced = s_isa_names[i];
        printf ("test_kernels: %s\n", s_isa_names[i]);
        s_test_vectors ();
        s_test_extreme_scales ();
        s_test_topk_f32 ();
        s_test_ties ();
        s_test_int8 ();
        tested++;
    }
    TR_ASSERT (tested >= 1);
    TR_CHECK (trk_isa_force (best));
    s_isa_forced = best;
    s_test_recall ();
    TR_PASS ();
    return 0;
}
