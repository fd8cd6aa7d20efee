//  bench_agent - the inference agent against its kernel, in one run: top-k
//  queries per second through the service (thread and process modes, 2
//  replicas each, pipelined from a requester actor) against trk_topk_f32
//  alone on as many threads; the actor path's cost per query on a tiny
//  corpus; and a process replica's start-up with a large corpus (fork, map
//  and pre-fault the segment, first answer).
//  Prints `name: value unit`; --quick for a smoke run (also under sanitizers).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe.h>
#include <troupe_kernels.h>

#include "troupe_agent.h"

#define K        10
#define REPLICAS 2
#define QUERIES  64  //  distinct queries, cycled
#define WINDOW   16  //  requests in flight from the requester

static int s_failed;

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static void
s_fail (const char *what, int rc)
{
    fflush (stdout);
    fprintf (stderr, "bench_agent: %s: %s\n", what, tr_strerror (rc));
    s_failed = 1;
}

//  -------------------------------------------------------------------------
//  The requester (a thread actor): keeps WINDOW infer requests in flight

typedef struct {
    tr_ref_t agent;
    long count;
    const unsigned char *payloads;  //  QUERIES payloads of payload_size, read-only
    size_t payload_size;
} s_requester_args_t;

typedef struct {
    double elapsed;
    long replies, errors;
    int first_error;
} s_requester_result_t;

typedef struct {
    s_requester_args_t args;
    long sent, done;
    double start;
    s_requester_result_t result;
    tr_msg_t waiter;
    bool waiting, finished;
} s_requester_t;

static int
s_requester_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    s_requester_t *requester = state;
    if (size != sizeof requester->args)
        return -1;
    memcpy (&requester->args, arg, size);
    return 0;
}

static void
s_requester_check (tr_actor_t *self, s_requester_t *requester)
{
    if (requester->finished && requester->waiting) {
        requester->waiting = false;
        tr_reply (self, &requester->waiter, &requester->result, sizeof requester->result);
    }
}

static void s_requester_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply,
                               void *arg);

static void
s_requester_fill (tr_actor_t *self, s_requester_t *requester)
{
    tr_type_t infer = tr_type (TR_AGENT_INFER);
    while (requester->sent < requester->args.count && requester->sent - requester->done < WINDOW) {
        const unsigned char *payload =
            requester->args.payloads
            + (size_t) (requester->sent % QUERIES) * requester->args.payload_size;
        int rc = tr_request (self, requester->args.agent, infer, payload,
                             requester->args.payload_size, 60000, s_requester_reply, NULL);
        if (rc != 0) {
            if (requester->result.errors++ == 0)
                requester->result.first_error = rc;
            requester->done++;
        }
        requester->sent++;
    }
    if (requester->done >= requester->args.count && !requester->finished) {
        requester->result.elapsed = s_now () - requester->start;
        requester->finished = true;
        s_requester_check (self, requester);
    }
}

static void
s_requester_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    (void) arg;
    s_requester_t *requester = state;
    if (rc == 0 && reply->size == K * sizeof (tr_agent_hit_t))
        requester->result.replies++;
    else if (requester->result.errors++ == 0)
        requester->result.first_error = rc ? rc : TR_EMALFORMED;
    requester->done++;
    s_requester_fill (self, requester);
}

static int
s_requester_go (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_requester_t *requester = state;
    requester->start = s_now ();
    s_requester_fill (self, requester);
    return 0;
}

static int
s_requester_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_requester_t *requester = state;
    requester->waiter = *msg;
    requester->waiting = true;
    s_requester_check (self, requester);
    return 0;
}

static const tr_handler_t s_requester_handlers[] = {
    {"bench.go", s_requester_go}, {"bench.wait", s_requester_wait}, {NULL, NULL}};
static const tr_behaviour_t s_requester = {
    "bench.requester", sizeof (s_requester_t), s_requester_init, NULL, s_requester_handlers, NULL};

//  -------------------------------------------------------------------------
//  Queries

typedef struct {
    size_t dim;
    float *raw;               //  QUERIES x dim, not normalised
    unsigned char *payloads;  //  QUERIES agent.infer payloads
    size_t payload_size;
} s_queries_t;

static void
s_queries_make (s_queries_t *queries, size_t dim)
{
    queries->dim = dim;
    queries->raw = malloc (QUERIES * dim * sizeof (float));
    queries->payload_size = sizeof (tr_agent_infer_t) + dim * sizeof (float);
    queries->payloads = malloc (QUERIES * queries->payload_size);
    if (!queries->raw || !queries->payloads)
        abort ();
    tr_agent_corpus_fill (queries->raw, QUERIES, dim, 99);
    for (size_t q = 0; q < QUERIES; q++) {
        tr_agent_infer_t header = {.k = K, .dim = (uint32_t) dim};
        unsigned char *payload = queries->payloads + q * queries->payload_size;
        memcpy (payload, &header, sizeof header);
        memcpy (payload + sizeof header, queries->raw + q * dim, dim * sizeof (float));
    }
}

static void
s_queries_free (s_queries_t *queries)
{
    free (queries->raw);
    free (queries->payloads);
}

//  -------------------------------------------------------------------------
//  The kernel alone: REPLICAS threads, each normalises its queries and runs
//  trk_topk_f32, as a replica does

typedef struct {
    const float *corpus;
    size_t rows;
    const s_queries_t *queries;
    long first, count;
} s_kernel_job_t;

static void *
s_kernel_thread (void *arg)
{
    s_kernel_job_t *job = arg;
    size_t dim = job->queries->dim;
    float *query = aligned_alloc (64, ((dim * sizeof (float)) + 63) & ~(size_t) 63);
    trk_hit_t hits[K];
    for (long i = job->first; i < job->first + job->count; i++) {
        size_t count = 0;
        memcpy (query, job->queries->raw + (size_t) (i % QUERIES) * dim, dim * sizeof (float));
        if (trk_normalize_f32 (query, dim) != 0
            || trk_topk_f32 (query, job->corpus, job->rows, dim, K, hits, &count) != 0)
            abort ();
    }
    free (query);
    return NULL;
}

static double
s_kernel_qps (const float *corpus, size_t rows, const s_queries_t *queries, long count)
{
    pthread_t threads[REPLICAS];
    s_kernel_job_t jobs[REPLICAS];
    double start = s_now ();
    for (int t = 0; t < REPLICAS; t++) {
        jobs[t] = (s_kernel_job_t){corpus, rows, queries, t * (count / REPLICAS), count / REPLICAS};
        pthread_create (&threads[t], NULL, s_kernel_thread, &jobs[t]);
    }
    for (int t = 0; t < REPLICAS; t++)
        pthread_join (threads[t], NULL);
    return (double) (count / REPLICAS * REPLICAS) / (s_now () - start);
}

//  -------------------------------------------------------------------------
//  Through the service

//  Queries per second of count pipelined queries to an agent whose infer
//  runs in mode (after a warm-up that starts its lane); 0 on failure.
static double
s_agent_qps (tr_runtime_t *rt, const char *mode, size_t rows, size_t dim,
             const s_queries_t *queries, long count)
{
    tr_agent_options_t options = {
        .rows = rows, .dim = dim, .seed = 1, .infer_mode = mode, .infer_replicas = REPLICAS};
    tr_ref_t agent, requester;
    int rc = tr_agent_start (rt, &options, &agent);
    if (rc != 0) {
        s_fail ("tr_agent_start", rc);
        return 0;
    }
    //  Warm-up: the lane starts (a process lane forks its replicas).
    for (int i = 0; i < 2 * REPLICAS && rc == 0; i++) {
        void *reply = NULL;
        size_t size = 0;
        rc = tr_call (rt, agent, tr_type (TR_AGENT_INFER), queries->payloads, queries->payload_size,
                      60000, &reply, &size);
        tr_free (reply);
    }
    s_requester_args_t args = {agent, count, queries->payloads, queries->payload_size};
    if (rc == 0)
        rc = tr_spawn (rt, "bench.requester", &args, sizeof args, NULL, &requester);
    s_requester_result_t *result = NULL;
    size_t size = 0;
    if (rc == 0)
        rc = tr_runtime_send (rt, requester, tr_type ("bench.go"), NULL, 0);
    if (rc == 0)
        rc = tr_call (rt, requester, tr_type ("bench.wait"), NULL, 0, 600000, (void **) &result,
                      &size);
    double qps = 0;
    if (rc != 0)
        s_fail ("agent run", rc);
    else if (size != sizeof *result || result->errors)
        s_fail ("agent replies", size == sizeof *result ? result->first_error : TR_EMALFORMED);
    else
        qps = (double) result->replies / result->elapsed;
    tr_free (result);
    tr_runtime_kill (rt, requester, 0);
    tr_runtime_kill (rt, agent, 0);
    return qps;
}

//  A process replica's start with a rows x dim corpus: tr_agent_start
//  (build the corpus), then the first infer (the pool forks its replicas,
//  each maps and pre-faults the segment), then a second for comparison.
static void
s_replica_start (tr_runtime_t *rt, size_t rows, size_t dim)
{
    s_queries_t queries;
    s_queries_make (&queries, dim);
    tr_agent_options_t options = {.rows = rows, .dim = dim, .seed = 3, .infer_replicas = REPLICAS};
    tr_ref_t agent;
    double start = s_now ();
    int rc = tr_agent_start (rt, &options, &agent);
    double built = s_now ();
    if (rc != 0) {
        s_fail ("tr_agent_start (large)", rc);
        s_queries_free (&queries);
        return;
    }
    double first = 0, second = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        void *reply = NULL;
        size_t size = 0;
        double at = s_now ();
        rc = tr_call (rt, agent, tr_type (TR_AGENT_INFER), queries.payloads, queries.payload_size,
                      60000, &reply, &size);
        *(i == 0 ? &first : &second) = s_now () - at;
        tr_free (reply);
    }
    if (rc != 0)
        s_fail ("first infer (large)", rc);
    else {
        printf ("agent_corpus_build_ms: %.0f ms (%zu rows x %zu, %.2f GB: generate, normalise, "
                "start the service)\n",
                (built - start) * 1e3, rows, dim, (double) rows * (double) dim * 4 / 1e9);
        printf ("agent_replica_start_ms: %.0f ms (%zu rows x %zu; time to first answer: fork, "
                "map + pre-fault, one query of %.0f ms)\n",
                first * 1e3, rows, dim, second * 1e3);
    }
    tr_runtime_kill (rt, agent, 0);
    s_queries_free (&queries);
}

static bool
s_memory_for (size_t bytes)
{
    long pages = sysconf (_SC_AVPHYS_PAGES), page = sysconf (_SC_PAGESIZE);
    return pages > 0 && (double) pages * (double) page > 3.0 * (double) bytes;
}

int
main (int argc, char *argv[])
{
    bool quick = argc > 1 && strcmp (argv[1], "--quick") == 0;
    size_t rows = quick ? 5000 : 100000, dim = quick ? 64 : 384;
    long count = quick ? 200 : 1000;
    size_t tiny_rows = 64, tiny_dim = 384;
    long tiny_count = quick ? 2000 : 20000;
    if (tr_agent_register () != 0 || tr_behaviour_register (&s_requester) != 0)
        return 1;
    tr_options_t node_options;
    tr_options_default (&node_options);
    node_options.threads = 2;
    tr_runtime_t *rt = tr_runtime_new (&node_options);
    if (!rt || tr_runtime_start (rt) != 0)
        return 1;
    printf ("# kernels: %s; %d replicas, k %d, window %d, %ld queries of %zu rows x %zu\n",
            trk_isa (), REPLICAS, K, WINDOW, count, rows, dim);

    //  The kernel alone, on the same corpus and queries.
    s_queries_t queries;
    s_queries_make (&queries, dim);
    float *corpus = aligned_alloc (64, rows * dim * sizeof (float));
    if (!corpus)
        abort ();
    tr_agent_corpus_fill (corpus, rows, dim, 1);
    //  The kernel runs before and after the agents, the best run counts: the
    //  figure the agents are held to is not one a busy moment pulled down.
    double kernel = s_kernel_qps (corpus, rows, &queries, count);
    double thread = s_agent_qps (rt, "thread", rows, dim, &queries, count);
    double process = s_agent_qps (rt, "process", rows, dim, &queries, count);
    double kernel_again = s_kernel_qps (corpus, rows, &queries, count);
    if (kernel_again > kernel)
        kernel = kernel_again;
    if (thread > 0)
        printf ("agent_qps_thread: %.1f queries/s (%.3fx kernel_qps)\n", thread, thread / kernel);
    if (process > 0)
        printf ("agent_qps_process: %.1f queries/s (%.3fx kernel_qps)\n", process,
                process / kernel);
    printf ("kernel_qps: %.1f queries/s (trk_topk_f32 on %d threads, same corpus and queries; "
            "best of a run before and one after the agents)\n",
            kernel, REPLICAS);
    free (corpus);
    s_queries_free (&queries);

    //  The actor path's cost: a corpus so small that the kernel is nearly
    //  free, so 1/qps_agent - 1/qps_kernel is the message path per query.
    s_queries_make (&queries, tiny_dim);
    corpus = aligned_alloc (64, tiny_rows * tiny_dim * sizeof (float));
    if (!corpus)
        abort ();
    tr_agent_corpus_fill (corpus, tiny_rows, tiny_dim, 1);
    double tiny_kernel = s_kernel_qps (corpus, tiny_rows, &queries, tiny_count * 10);
    double tiny_process = s_agent_qps (rt, "process", tiny_rows, tiny_dim, &queries, tiny_count);
    double tiny_thread = s_agent_qps (rt, "thread", tiny_rows, tiny_dim, &queries, tiny_count);
    if (tiny_process > 0 && tiny_thread > 0) {
        printf ("agent_overhead_us: %.1f us (process mode; %zu rows x %zu: 1/%.0f qps - 1/%.0f "
                "kernel qps, %d replicas)\n",
                (1 / tiny_process - 1 / tiny_kernel) * 1e6, tiny_rows, tiny_dim, tiny_process,
                tiny_kernel, REPLICAS);
        printf ("agent_overhead_thread_us: %.1f us (thread mode; same corpus: 1/%.0f qps - 1/%.0f "
                "kernel qps)\n",
                (1 / tiny_thread - 1 / tiny_kernel) * 1e6, tiny_thread, tiny_kernel);
    }
    free (corpus);
    s_queries_free (&queries);

    //  A replica's start with a large corpus (1M x 384, 1.5 GB, when memory
    //  allows; the quick run: 20k x 384).
    size_t big_rows = quick ? 20000 : 1000000, big_dim = 384;
    if (!quick && !s_memory_for (big_rows * big_dim * 4))
        big_rows = 100000;
    s_replica_start (rt, big_rows, big_dim);
    tr_runtime_destroy (&rt);
    return s_failed;
}
