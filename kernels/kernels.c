//  kernels - the public entry points of libtroupe-kernels: argument checks, the
//  choice of implementation (once, from CPUID or TR_KERNELS), the bounded top-k
//  heap, and the threads of the _mt calls
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels.h"

//  ---------------------------------------------------------------------
//  Dispatch. s_ops is chosen once under pthread_once; trk_isa_force may swap it
//  later, so it is an atomic pointer and each call loads it once.

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static _Atomic (const trk__ops_t *) s_ops;

static bool
s_cpu_avx2 (void)
{
    __builtin_cpu_init ();
    return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
}

static bool
s_cpu_avx512 (void)
{
    __builtin_cpu_init ();
    return __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
           && __builtin_cpu_supports ("avx512vl");
}

static bool
s_cpu_vnni (void)
{
    return s_cpu_avx512 () && __builtin_cpu_supports ("avx512vnni");
}

static const trk__ops_t *
s_best (void)
{
    if (s_cpu_vnni ())
        return &trk__ops_avx512;
    if (s_cpu_avx512 ())
        return &trk__ops_avx512_novnni;
    if (s_cpu_avx2 ())
        return &trk__ops_avx2;
    return &trk__ops_scalar;
}

//  The implementation called name: TRK_OK, TRK_ENOTSUP or TRK_EINVAL.
static int
s_named (const char *name, const trk__ops_t **ops)
{
    bool supported;
    if (!name)
        return TRK_EINVAL;
    if (strcmp (name, "scalar") == 0) {
        *ops = &trk__ops_scalar;
        supported = true;
    }
    else if (strcmp (name, "avx2") == 0) {
        *ops = &trk__ops_avx2;
        supported = s_cpu_avx2 ();
    }
    else if (strcmp (name, "avx512") == 0) {
        *ops = s_cpu_vnni () ? &trk__ops_avx512 : &trk__ops_avx512_novnni;
        supported = s_cpu_avx512 ();
    }
    else if (strcmp (name, "avx512-novnni") == 0) {
        *ops = &trk__ops_avx512_novnni;
        supported = s_cpu_avx512 ();
    }
    else
        return TRK_EINVAL;
    return supported ? TRK_OK : TRK_ENOTSUP;
}

static void
s_choose (void)
{
    const trk__ops_t *ops = s_best ();
    const char *wanted = getenv ("TR_KERNELS");
    if (wanted && *wanted) {
        const trk__ops_t *named = NULL;
        int rc = s_named (wanted, &named);
        if (rc == TRK_OK)
            ops = named;
        else
            fprintf (stderr, "troupe_kernels: TR_KERNELS=%s: %s; using %s\n", wanted,
                     rc == TRK_ENOTSUP ? "not supported by this CPU"
                                       : "unknown (scalar, avx2, avx512)",
                     ops->name);
    }
    atomic_store_explicit (&s_ops, ops, memory_order_release);
}

static const trk__ops_t *
s_current (void)
{
    pthread_once (&s_once, s_choose);
    return atomic_load_explicit (&s_ops, memory_order_acquire);
}

const char *
trk_isa (void)
{
    return s_current ()->name;
}

int
trk_isa_force (const char *name)
{
    s_current ();  //  so that a first call later cannot undo this
    const trk__ops_t *ops = NULL;
    int rc = s_named (name, &ops);
    if (rc == TRK_OK)
        atomic_store_explicit (&s_ops, ops, memory_order_release);
    return rc;
}

const char *
trk_strerror (int rc)
{
    switch (rc) {
        case TRK_OK: return "success";
        case TRK_EINVAL: return "invalid argument";
        case TRK_ENOMEM: return "out of memory";
        case TRK_ENOTSUP: return "not supported by this CPU";
        default: return "unknown error";
    }
}

//  ---------------------------------------------------------------------
//  Vector kernels

int
trk_dot_f32 (const float *a, const float *b, size_t n, float *out)
{
    if (!a || !b || !out || n == 0)
        return TRK_EINVAL;
    *out = s_current ()->dot (a, b, n);
    return TRK_OK;
}

//  The slow, exact path for what overflows or underflows the fast float
//  sums: the largest |x| (0 for a zero vector; -1 when an element is not
//  finite).
static double
s_max_abs (const float *a, size_t n)
{
    double largest = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite (a[i]))
            return -1;
        double value = fabs ((double) a[i]);
        if (value > largest)
            largest = value;
    }
    return largest;
}

//  Sum of (a[i] / sa) * (b[i] / sb) in double.
static double
s_scaled_dot (const float *a, double sa, const float *b, double sb, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += ((double) a[i] / sa) * ((double) b[i] / sb);
    return sum;
}

//  Whether a fast sum of squares can be trusted: finite and far from the
//  float underflow (where terms were lost).
static bool
s_sum_ok (float sum)
{
    return isfinite (sum) && (sum == 0 || sum >= 1e-30f);
}

//  The L2 norm in double, exact for any finite input; -1 for a non-finite
//  element.
static double
s_norm (const trk__ops_t *ops, const float *a, size_t n)
{
    float sum = ops->dot (a, a, n);
    if (s_sum_ok (sum) && sum != 0)
        return sqrt ((double) sum);
    double largest = s_max_abs (a, n);
    if (largest <= 0)
        return largest;  //  zero, or -1 (not finite)
    return largest * sqrt (s_scaled_dot (a, largest, a, largest, n));
}

int
trk_norm_f32 (const float *a, size_t n, float *out)
{
    if (!a || !out || n == 0)
        return TRK_EINVAL;
    double norm = s_norm (s_current (), a, n);
    if (norm < 0) {
        *out = NAN;
        return TRK_EINVAL;
    }
    *out = (float) norm;  //  may be inf: a norm past FLT_MAX
    return TRK_OK;
}

int
trk_normalize_f32 (float *a, size_t n)
{
    if (!a || n == 0)
        return TRK_EINVAL;
    const trk__ops_t *ops = s_current ();
    double norm = s_norm (ops, a, n);
    if (!(norm > 0))  //  zero, or an element not finite
        return TRK_EINVAL;
    if (norm < 1e30 && norm > 1e-30)
        ops->scale (a, n, (float) (1.0 / norm));
    else
        for (size_t i = 0; i < n; i++)
            a[i] = (float) ((double) a[i] / norm);
    return TRK_OK;
}

int
trk_cosine_f32 (const float *a, const float *b, size_t n, float *out)
{
    if (!a || !b || !out || n == 0)
        return TRK_EINVAL;
    float ab, aa, bb;
    s_current ()->dot3 (a, b, n, &ab, &aa, &bb);
    double cosine;
    if (s_sum_ok (aa) && s_sum_ok (bb) && isfinite (ab) && aa != 0 && bb != 0)
        //  In double: aa * bb can overflow float where the cosine is fine.
        cosine = (double) ab / sqrt ((double) aa * (double) bb);
    else {
        //  Each vector scaled by its largest element first: exact for any
        //  finite input.
        double sa = s_max_abs (a, n), sb = s_max_abs (b, n);
        if (sa <= 0 || sb <= 0) {
            *out = 0;
            return TRK_EINVAL;  //  a zero vector, or an element not finite
        }
        cosine = s_scaled_dot (a, sa, b, sb, n)
                 / sqrt (s_scaled_dot (a, sa, a, sa, n) * s_scaled_dot (b, sb, b, sb, n));
    }
    *out = (float) (cosine > 1 ? 1 : (cosine < -1 ? -1 : cosine));
    return TRK_OK;
}

int
trk_weighted_avg_f32 (const float *values, const float *weights, size_t n, float *out)
{
    if (!values || !weights || !out || n == 0)
        return TRK_EINVAL;
    const trk__ops_t *ops = s_current ();
    float weight_sum = ops->sum (weights, n);
    if (weight_sum == 0) {
        *out = 0;
        return TRK_EINVAL;
    }
    *out = ops->dot (values, weights, n) / weight_sum;
    return TRK_OK;
}

//  True when rows x cols elements of size bytes fit in size_t.
static bool
s_fits (size_t rows, size_t cols, size_t size)
{
    return cols <= SIZE_MAX / size && (rows == 0 || rows <= SIZE_MAX / size / cols);
}

int
trk_matvec_f32 (const float *m, size_t rows, size_t cols, const float *v, float *out)
{
    if (!m || !v || !out || rows == 0 || cols == 0 || !s_fits (rows, cols, sizeof (float)))
        return TRK_EINVAL;
    const trk__ops_t *ops = s_current ();
    for (size_t row = 0; row < rows; row++)
        out[row] = ops->dot (m + row * cols, v, cols);
    return TRK_OK;
}

int
trk_dot_i8 (const int8_t *a, const int8_t *b, size_t n, int64_t *out)
{
    if (!a || !b || !out || n == 0)
        return TRK_EINVAL;
    //  int32 partial sums stay exact over 65536 products of at most 2^14;
    //  the compiler vectorises this loop. (A single dot is not the hot path:
    //  the batched top-k is.)
    int64_t total = 0;
    for (size_t begin = 0; begin < n; begin += 65536) {
        size_t end = n - begin < 65536 ? n : begin + 65536;
        int32_t partial = 0;
        for (size_t i = begin; i < end; i++)
            partial += (int32_t) a[i] * (int32_t) b[i];
        total += partial;
    }
    *out = total;
    return TRK_OK;
}

int
trk_quantize_i8 (const float *corpus, size_t rows, size_t dim, int8_t *out, float *scales)
{
    if (!corpus || !out || !scales || rows == 0 || dim == 0 || !s_fits (rows, dim, sizeof (float)))
        return TRK_EINVAL;
    return s_current ()->quantize_i8 (corpus, 0, rows, dim, out, scales) == 0 ? TRK_OK : TRK_EINVAL;
}

//  ---------------------------------------------------------------------
//  The top-k heap: a min-heap on "worse", so the root is the hit to evict.

static inline bool
s_worse (const trk_hit_t *a, const trk_hit_t *b)
{
    return a->score < b->score || (a->score == b->score && a->row > b->row);
}

static void
s_sift_down (trk_hit_t *hits, size_t count, size_t at)
{
    trk_hit_t moving = hits[at];
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= count)
            break;
        if (child + 1 < count && s_worse (&hits[child + 1], &hits[child]))
            child++;
        if (!s_worse (&hits[child], &moving))
            break;
        hits[at] = hits[child];
        at = child;
    }
    hits[at] = moving;
}

static void
s_sift_up (trk_hit_t *hits, size_t at)
{
    trk_hit_t moving = hits[at];
    while (at > 0) {
        size_t parent = (at - 1) / 2;
        if (!s_worse (&moving, &hits[parent]))
            break;
        hits[at] = hits[parent];
        at = parent;
    }
    hits[at] = moving;
}

void
trk__topk_init (trk__topk_t *self, trk_hit_t *storage, size_t capacity)
{
    self->hits = storage;
    self->capacity = capacity;
    self->count = 0;
    self->threshold = -INFINITY;
}

void
trk__topk_offer (trk__topk_t *self, uint32_t row, float score)
{
    trk_hit_t hit = {row, score == score ? score : -INFINITY};
    if (self->count < self->capacity) {
        self->hits[self->count] = hit;
        s_sift_up (self->hits, self->count);
        if (++self->count == self->capacity)
            self->threshold = self->hits[0].score;
    }
    else if (self->capacity > 0 && s_worse (&self->hits[0], &hit)) {
        self->hits[0] = hit;
        s_sift_down (self->hits, self->count, 0);
        self->threshold = self->hits[0].score;
    }
}

size_t
trk__topk_finish (trk__topk_t *self)
{
    //  Heap sort: the worst goes last, so the array ends best first.
    for (size_t left = self->count; left > 1; left--) {
        trk_hit_t worst = self->hits[0];
        self->hits[0] = self->hits[left - 1];
        self->hits[left - 1] = worst;
        s_sift_down (self->hits, left - 1, 0);
    }
    return self->count;
}

//  ---------------------------------------------------------------------
//  Top-k: one share of the rows per thread, each with its own heap, merged at the end.
//  Each share keeps exactly its best min (k, rows) under the total order (score, row),
//  so the merge gives the same hits as one thread.

typedef struct {
    const trk__ops_t *ops;
    bool int8;
    const void *query;
    float query_scale;
    const void *corpus;
    const float *scales;
    size_t dim;
} s_job_t;

typedef struct {
    const s_job_t *job;
    size_t begin, end;
    trk__topk_t topk;
    pthread_t thread;
    bool started;
} s_share_t;

//  Below this many elements per thread, a thread's start (~70 us here) costs more
//  than it saves.
#define S_MIN_ELEMENTS_PER_THREAD 65536
#define S_MAX_THREADS             64

static void
s_share_run (s_share_t *share)
{
    const s_job_t *job = share->job;
    if (job->int8)
        job->ops->topk_i8 (job->query, job->query_scale, job->corpus, job->scales, share->begin,
                           share->end, job->dim, &share->topk);
    else
        job->ops->topk_f32 (job->query, job->corpus, share->begin, share->end, job->dim,
                            &share->topk);
}

static void *
s_share_main (void *arg)
{
    s_share_run (arg);
    return NULL;
}

static size_t
s_share_count (int threads, size_t rows, size_t dim)
{
    long wanted = threads > 0 ? threads : sysconf (_SC_NPROCESSORS_ONLN);
    size_t shares = wanted > 0 ? (size_t) wanted : 1;
    size_t by_work = rows * dim / S_MIN_ELEMENTS_PER_THREAD;  //  fits: checked by s_fits
    if (shares > S_MAX_THREADS)
        shares = S_MAX_THREADS;
    if (shares > by_work)
        shares = by_work;
    return shares > 0 ? shares : 1;
}

static int
s_topk (const s_job_t *job, size_t rows, size_t k, int threads, trk_hit_t *hits, size_t *count)
{
    size_t capacity = k < rows ? k : rows;
    size_t shares = s_share_count (threads, rows, job->dim);
    if (shares == 1) {
        //  The caller's hits array is the heap: nothing to allocate.
        s_share_t share = {.job = job, .begin = 0, .end = rows};
        trk__topk_init (&share.topk, hits, capacity);
        s_share_run (&share);
        *count = trk__topk_finish (&share.topk);
        return TRK_OK;
    }
    s_share_t *share = calloc (shares, sizeof *share);
    trk_hit_t *storage = calloc (shares * capacity, sizeof *storage);
    if (!share || !storage) {
        free (share);
        free (storage);
        return TRK_ENOMEM;
    }
    //  Contiguous shares, sizes differing by at most one row: each thread streams
    //  its own part of the corpus.
    size_t base = rows / shares, extra = rows % shares;
    for (size_t index = 0; index < shares; index++) {
        share[index].job = job;
        share[index].begin = index * base + (index < extra ? index : extra);
        share[index].end = share[index].begin + base + (index < extra ? 1 : 0);
        trk__topk_init (&share[index].topk, storage + index * capacity, capacity);
    }
    //  The calling thread takes share 0; a share whose thread cannot start runs here too.
    for (size_t index = 1; index < shares; index++)
        share[index].started =
            pthread_create (&share[index].thread, NULL, s_share_main, &share[index]) == 0;
    for (size_t index = 0; index < shares; index++)
        if (index == 0 || !share[index].started)
            s_share_run (&share[index]);
    trk__topk_t merged;
    trk__topk_init (&merged, hits, capacity);
    for (size_t index = 0; index < shares; index++) {
        if (share[index].started)
            pthread_join (share[index].thread, NULL);
        for (size_t hit = 0; hit < share[index].topk.count; hit++)
            trk__topk_offer (&merged, share[index].topk.hits[hit].row,
                             share[index].topk.hits[hit].score);
    }
    *count = trk__topk_finish (&merged);
    free (share);
    free (storage);
    return TRK_OK;
}

//  The checks both top-k flavours share. corpus (and scales) may be NULL when rows is 0.
static bool
s_topk_args_ok (const void *query, const void *corpus, size_t rows, size_t dim, size_t size,
                size_t k, const trk_hit_t *hits)
{
    return query && (corpus || rows == 0) && hits && dim > 0 && k > 0 && rows <= UINT32_MAX
           && s_fits (rows, dim, size);
}

int
trk_topk_f32_mt (const float *query, const float *corpus, size_t rows, size_t dim, size_t k,
                 int threads, trk_hit_t *hits, size_t *count)
{
    if (!count)
        return TRK_EINVAL;
    *count = 0;
    if (!s_topk_args_ok (query, corpus, rows, dim, sizeof (float), k, hits) || threads < 0)
        return TRK_EINVAL;
    s_job_t job = {.ops = s_current (), .query = query, .corpus = corpus, .dim = dim};
    return s_topk (&job, rows, k, threads, hits, count);
}

int
trk_topk_f32 (const float *query, const float *corpus, size_t rows, size_t dim, size_t k,
              trk_hit_t *hits, size_t *count)
{
    return trk_topk_f32_mt (query, corpus, rows, dim, k, 1, hits, count);
}

int
trk_topk_i8_mt (const int8_t *query, float query_scale, const int8_t *corpus, const float *scales,
                size_t rows, size_t dim, size_t k, int threads, trk_hit_t *hits, size_t *count)
{
    if (!count)
        return TRK_EINVAL;
    *count = 0;
    if (!s_topk_args_ok (query, corpus, rows, dim, 1, k, hits) || (!scales && rows > 0)
        || !(query_scale >= 0 && query_scale < INFINITY) || threads < 0)
        return TRK_EINVAL;
    //  The SIMD int8 paths sum in int32 lanes; longer rows take the exact scalar path.
    const trk__ops_t *ops = dim > TRK__I8_SIMD_MAX_DIM ? &trk__ops_scalar : s_current ();
    s_job_t job = {.ops = ops,
                   .int8 = true,
                   .query = query,
                   .query_scale = query_scale,
                   .corpus = corpus,
                   .scales = scales,
                   .dim = dim};
    return s_topk (&job, rows, k, threads, hits, count);
}

int
trk_topk_i8 (const int8_t *query, float query_scale, const int8_t *corpus, const float *scales,
             size_t rows, size_t dim, size_t k, trk_hit_t *hits, size_t *count)
{
    return trk_topk_i8_mt (query, query_scale, corpus, scales, rows, dim, k, 1, hits, count);
}
