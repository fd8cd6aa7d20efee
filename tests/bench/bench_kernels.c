//  bench_kernels - batched top-k over a corpus larger than the caches, against a
//  corpus-sized memcpy and against numpy (Debian's python3-numpy), measured in the
//  same run
//
//  Lines (stable names):
//    memcpy_bw       MB copied per second, the corpus split over the same threads as
//                    top-k (each thread copies its share)
//    topk_f32_bw     corpus MB read per second by trk_topk_f32_mt, and its ratio to
//                    memcpy_bw (target >= 0.7)
//    topk_i8_rows    rows per second of trk_topk_i8_mt, and its ratio to topk_f32's
//                    (target >= 2)
//    topk_f32_ms     one float32 query over the whole corpus
//    numpy_topk_ms   the same query as `corpus @ q` + argpartition under /usr/bin/python3
//  plus the one-thread figures (memcpy_1t_bw, topk_f32_1t_bw) and quantize_i8_ms.
//  Each figure is the median of several rounds after one warm-up round. Buffers are
//  touched before any timing (a first touch costs ~10 us per 4 KiB page here).
//
//  Usage: bench_kernels [--quick]   (--quick: 20000 rows, a second or two)
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "troupe_kernels.h"

#define S_MAX_ROUNDS  16
#define S_MAX_THREADS 64

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_median (double *values, int count)
{
    qsort (values, (size_t) count, sizeof (double), s_cmp_double);
    return values[count / 2];
}

//  Anonymous memory on huge pages where the kernel gives them (THP is `madvise`
//  here), written once so that no timed pass takes a page fault.
static void *
s_map (size_t size)
{
    void *memory = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        return NULL;
    madvise (memory, size, MADV_HUGEPAGE);
    memset (memory, 0, size);
    return memory;
}

static uint64_t s_seed = 0x2545f4914f6cdd1dull;

static float
s_uniform (void)
{
    s_seed ^= s_seed >> 12;
    s_seed ^= s_seed << 25;
    s_seed ^= s_seed >> 27;
    return (float) ((double) ((s_seed * 0x2545f4914f6cdd1dull) >> 40) / 8388608.0 - 1.0);
}

//  ---------------------------------------------------------------------
//  memcpy baseline: each thread copies its share of the corpus

typedef struct {
    char *to;
    const char *from;
    size_t size;
    pthread_t thread;
} s_copy_t;

static void *
s_copy_main (void *arg)
{
    s_copy_t *copy = arg;
    memcpy (copy->to, copy->from, copy->size);
    return NULL;
}

static double
s_memcpy_seconds (char *to, const char *from, size_t size, int threads)
{
    s_copy_t copy[S_MAX_THREADS];
    size_t share = size / (size_t) threads;
    double start = s_now ();
    for (int t = 0; t < threads; t++) {
        copy[t] = (s_copy_t){to + (size_t) t * share, from + (size_t) t * share,
                             t == threads - 1 ? size - (size_t) t * share : share, 0};
        if (t > 0 && pthread_create (&copy[t].thread, NULL, s_copy_main, &copy[t]) != 0)
            return -1;
    }
    s_copy_main (&copy[0]);  //  the calling thread copies share 0, as top-k does
    for (int t = 1; t < threads; t++)
        pthread_join (copy[t].thread, NULL);
    return s_now () - start;
}

//  ---------------------------------------------------------------------
//  numpy: the same corpus and query through Debian's python3-numpy

static const char *s_numpy_script =
    "import sys, time\n"
    "import numpy as np\n"
    "corpus_path, query_path, rows, dim, k, rounds = sys.argv[1:7]\n"
    "rows, dim, k, rounds = int(rows), int(dim), int(k), int(rounds)\n"
    "corpus = np.fromfile(corpus_path, dtype=np.float32).reshape(rows, dim)\n"
    "query = np.fromfile(query_path, dtype=np.float32)\n"
    "times = []\n"
    "for _ in range(rounds + 1):\n"
    "    start = time.perf_counter()\n"
    "    scores = corpus @ query\n"
    "    top = np.argpartition(-scores, k - 1)[:k]\n"
    "    top = top[np.argsort(-scores[top], kind='stable')]\n"
    "    times.append(time.perf_counter() - start)\n"
    "times = sorted(times[1:])\n"
    "print('%.3f' % (times[len(times) // 2] * 1e3), ' '.join(str(int(i)) for i in top))\n";

static bool
s_write_file (const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    if (!file)
        return false;
    bool written = fwrite (data, 1, size, file) == size;
    return fclose (file) == 0 && written;
}

//  Runs the script; fills *ms and rows_out (k rows, best first). false if numpy is
//  missing or the run failed (why is in `why`).
static bool
s_numpy (const float *corpus, const float *query, size_t rows, size_t dim, size_t k, int rounds,
         double *ms, uint32_t *rows_out, const char **why)
{
    *why = "python3-numpy not installed";
    if (access ("/usr/bin/python3", X_OK) != 0
        || system ("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0)
        return false;
    *why = "the numpy run failed";
    char directory[] = "/tmp/bench_kernels.XXXXXX";
    if (!mkdtemp (directory))
        return false;
    char script[96], corpus_path[96], query_path[96], command[512];
    snprintf (script, sizeof script, "%s/topk.py", directory);
    snprintf (corpus_path, sizeof corpus_path, "%s/corpus.f32", directory);
    snprintf (query_path, sizeof query_path, "%s/query.f32", directory);
    bool ok = s_write_file (script, s_numpy_script, strlen (s_numpy_script))
              && s_write_file (corpus_path, corpus, rows * dim * sizeof (float))
              && s_write_file (query_path, query, dim * sizeof (float));
    FILE *child = NULL;
    if (ok) {
        snprintf (command, sizeof command, "/usr/bin/python3 %s %s %s %zu %zu %zu %d", script,
                  corpus_path, query_path, rows, dim, k, rounds);
        child = popen (command, "r");
    }
    ok = child && fscanf (child, "%lf", ms) == 1;
    for (size_t i = 0; ok && i < k; i++)
        ok = fscanf (child, "%u", &rows_out[i]) == 1;
    if (child && pclose (child) != 0)
        ok = false;
    unlink (script);
    unlink (corpus_path);
    unlink (query_path);
    rmdir (directory);
    return ok;
}

//  ---------------------------------------------------------------------

int
main (int argc, char *argv[])
{
    bool quick = argc > 1 && strcmp (argv[1], "--quick") == 0;
    size_t rows = quick ? 20000 : 1000000, dim = 384, k = 10;
    int rounds = quick ? 3 : 7;
    long online = sysconf (_SC_NPROCESSORS_ONLN);
    int threads = online > 0 ? (online < S_MAX_THREADS ? (int) online : S_MAX_THREADS) : 1;
    size_t bytes = rows * dim * sizeof (float);
    double mb = (double) bytes / 1e6;

    //  A normalised random corpus and query.
    float *corpus = s_map (bytes), *query = malloc (dim * sizeof (float));
    char *copy = s_map (bytes);
    if (!corpus || !query || !copy) {
        fprintf (stderr, "bench_kernels: out of memory for %zu MB\n", bytes >> 20);
        return 1;
    }
    for (size_t row = 0; row < rows; row++) {
        float *vector = corpus + row * dim;
        for (size_t i = 0; i < dim; i++)
            vector[i] = s_uniform ();
        if (trk_normalize_f32 (vector, dim) != TRK_OK)
            return 1;
    }
    for (size_t i = 0; i < dim; i++)
        query[i] = s_uniform ();
    trk_normalize_f32 (query, dim);

    //  Baseline: corpus-sized memcpy, on `threads` threads and on one.
    double seconds[S_MAX_ROUNDS], single[S_MAX_ROUNDS];
    s_memcpy_seconds (copy, (const char *) corpus, bytes, threads);
    for (int r = 0; r < rounds; r++) {
        seconds[r] = s_memcpy_seconds (copy, (const char *) corpus, bytes, threads);
        single[r] = s_memcpy_seconds (copy, (const char *) corpus, bytes, 1);
    }
    double memcpy_bw = mb / s_median (seconds, rounds);
    double memcpy_1t_bw = mb / s_median (single, rounds);
    munmap (copy, bytes);
    printf ("memcpy_bw: %.0f MB/s (a %.0f MB copy split over %d threads, as topk)\n", memcpy_bw, mb,
            threads);
    printf ("memcpy_1t_bw: %.0f MB/s (the same copy on 1 thread)\n", memcpy_1t_bw);

    //  float32 top-k, on `threads` threads and on one.
    trk_hit_t hits[10], hits_1t[10];
    size_t count = 0;
    int failed = trk_topk_f32_mt (query, corpus, rows, dim, k, threads, hits, &count) != TRK_OK;
    for (int r = 0; !failed && r < rounds; r++) {
        double start = s_now ();
        failed |= trk_topk_f32_mt (query, corpus, rows, dim, k, threads, hits, &count) != TRK_OK;
        seconds[r] = s_now () - start;
        start = s_now ();
        failed |= trk_topk_f32 (query, corpus, rows, dim, k, hits_1t, &count) != TRK_OK;
        single[r] = s_now () - start;
    }
    if (failed || count != k || memcmp (hits, hits_1t, sizeof hits) != 0) {
        fprintf (stderr, "bench_kernels: topk_f32 failed\n");
        return 1;
    }
    double topk_s = s_median (seconds, rounds), topk_1t_s = s_median (single, rounds);
    printf ("topk_f32_bw: %.0f MB/s (%.2fx memcpy_bw; %zu dims, %zu rows, k %zu, %s, %d "
            "threads)\n",
            mb / topk_s, mb / topk_s / memcpy_bw, dim, rows, k, trk_isa (), threads);
    printf ("topk_f32_1t_bw: %.0f MB/s (%.2fx memcpy_1t_bw; 1 thread)\n", mb / topk_1t_s,
            mb / topk_1t_s / memcpy_1t_bw);

    //  int8 top-k on the quantised corpus.
    int8_t *corpus_q = s_map (rows * dim), query_q[384];
    float *scales = malloc (rows * sizeof (float)), query_scale;
    if (!corpus_q || !scales)
        return 1;
    double start = s_now ();
    failed = trk_quantize_i8 (corpus, rows, dim, corpus_q, scales) != TRK_OK;
    double quantize_s = s_now () - start;
    failed |= trk_quantize_i8 (query, 1, dim, query_q, &query_scale) != TRK_OK;
    trk_hit_t hits_i8[10];
    failed |= trk_topk_i8_mt (query_q, query_scale, corpus_q, scales, rows, dim, k, threads,
                              hits_i8, &count)
              != TRK_OK;
    for (int r = 0; !failed && r < rounds; r++) {
        start = s_now ();
        failed |= trk_topk_i8_mt (query_q, query_scale, corpus_q, scales, rows, dim, k, threads,
                                  hits_i8, &count)
                  != TRK_OK;
        seconds[r] = s_now () - start;
    }
    if (failed) {
        fprintf (stderr, "bench_kernels: topk_i8 failed\n");
        return 1;
    }
    size_t same = 0;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            same += hits[i].row == hits_i8[j].row;
    double i8_rows = (double) rows / s_median (seconds, rounds);
    printf ("topk_i8_rows: %.0f rows/s (%.2fx topk_f32 rows/s; %d threads, recall@%zu of this "
            "query %.1f)\n",
            i8_rows, i8_rows / ((double) rows / topk_s), threads, k, (double) same / (double) k);
    printf ("quantize_i8_ms: %.1f ms (the corpus, once, 1 thread)\n", quantize_s * 1e3);
    printf ("topk_f32_ms: %.2f ms (%d threads)\n", topk_s * 1e3, threads);

    double numpy_ms = 0;
    uint32_t numpy_rows[10];
    const char *why = NULL;
    if (s_numpy (corpus, query, rows, dim, k, rounds, &numpy_ms, numpy_rows, &why)) {
        bool agree = true;
        for (size_t i = 0; i < k; i++)
            agree &= numpy_rows[i] == hits[i].row;
        printf ("numpy_topk_ms: %.2f ms (%.1fx topk_f32_ms; corpus @ q + argpartition, "
                "/usr/bin/python3, same top-%zu rows: %s)\n",
                numpy_ms, numpy_ms / (topk_s * 1e3), k, agree ? "yes" : "no");
    }
    else
        printf ("numpy_topk_ms: n/a (%s)\n", why);
    munmap (corpus, bytes);
    munmap (corpus_q, rows * dim);
    free (query);
    free (scales);
    return 0;
}
