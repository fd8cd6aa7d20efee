//  bench_core - the core runtime against raw libzmq, measured in one run:
//  inproc throughput and round trip, actor messaging across and within
//  threads, spawn rate and idle actor size. Prints `name: value unit`.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <troupe.h>

#define BENCH_NAME "bench_core"
#include "bench_util.h"

#define FRAME_SIZE 64  //  an actor message: 48-byte header + 16-byte payload
#define PAYLOAD    16

//  -------------------------------------------------------------------------
//  Raw libzmq baselines

typedef struct {
    void *ctx;
    long count;
    int cpu;
} s_zmq_args_t;

static void *
s_zmq_pusher (void *arg)
{
    s_zmq_args_t *args = arg;
    void *push = zmq_socket (args->ctx, ZMQ_PUSH);
    zmq_connect (push, "inproc://bench-thr");
    char frame[FRAME_SIZE] = {0};
    for (long i = 0; i < args->count; i++)
        zmq_send (push, frame, sizeof frame, 0);
    args->cpu = sched_getcpu ();
    zmq_close (push);
    return NULL;
}

static double
s_zmq_inproc_thr (long count, int *cpus)
{
    void *ctx = zmq_ctx_new ();
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    zmq_bind (pull, "inproc://bench-thr");
    s_zmq_args_t args = {ctx, count, -1};
    pthread_t thread;
    double start = s_now ();
    pthread_create (&thread, NULL, s_zmq_pusher, &args);
    char frame[FRAME_SIZE];
    for (long i = 0; i < count; i++)
        zmq_recv (pull, frame, sizeof frame, 0);
    double elapsed = s_now () - start;
    cpus[1] = sched_getcpu ();
    pthread_join (thread, NULL);
    cpus[0] = args.cpu;
    zmq_close (pull);
    zmq_ctx_term (ctx);
    return (double) count / elapsed;
}

static void *
s_zmq_echo (void *arg)
{
    s_zmq_args_t *args = arg;
    void *pair = zmq_socket (args->ctx, ZMQ_PAIR);
    zmq_connect (pair, "inproc://bench-rtt");
    char frame[FRAME_SIZE];
    for (long i = 0; i < args->count; i++) {
        zmq_recv (pair, frame, sizeof frame, 0);
        zmq_send (pair, frame, sizeof frame, 0);
    }
    args->cpu = sched_getcpu ();
    zmq_close (pair);
    return NULL;
}

static double
s_zmq_inproc_rtt_p50 (long rounds)
{
    void *ctx = zmq_ctx_new ();
    void *pair = zmq_socket (ctx, ZMQ_PAIR);
    zmq_bind (pair, "inproc://bench-rtt");
    s_zmq_args_t args = {ctx, rounds, -1};
    pthread_t thread;
    pthread_create (&thread, NULL, s_zmq_echo, &args);
    double *rtt = malloc ((size_t) rounds * sizeof (double));
    char frame[FRAME_SIZE] = {0};
    for (long i = 0; i < rounds; i++) {
        double start = s_now ();
        zmq_send (pair, frame, sizeof frame, 0);
        zmq_recv (pair, frame, sizeof frame, 0);
        rtt[i] = (s_now () - start) * 1e6;
    }
    pthread_join (thread, NULL);
    double p50 = s_percentile (rtt, (size_t) rounds, 0.5);
    free (rtt);
    zmq_close (pair);
    zmq_ctx_term (ctx);
    return p50;
}

//  -------------------------------------------------------------------------
//  Actors

static tr_type_t s_go, s_data, s_wait, s_ping, s_pong;

//  Flow control: the consumer acks every S_ACK_EVERY messages; the producer
//  keeps at most S_WINDOW unacknowledged messages in flight.
#define S_ACK_EVERY 1024
#define S_WINDOW    8192

static tr_type_t s_ack;

//  The consumer counts data messages; a "wait" request is answered once
//  `expect` arrived.
typedef struct {
    long count, expect;
    tr_msg_t waiter;
    bool waiting;
    int cpu;
} s_consumer_t;

static int
s_consumer_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    s_consumer_t *consumer = state;
    if (size != sizeof (long))
        return -1;
    memcpy (&consumer->expect, arg, sizeof (long));
    return 0;
}

static void
s_consumer_check (tr_actor_t *self, s_consumer_t *consumer)
{
    if (consumer->waiting && consumer->count >= consumer->expect) {
        consumer->waiting = false;
        tr_reply (self, &consumer->waiter, &consumer->cpu, sizeof consumer->cpu);
    }
}

static int
s_consumer_data (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_consumer_t *consumer = state;
    if (++consumer->count % S_ACK_EVERY == 0 && consumer->count < consumer->expect)
        tr_send (self, msg->from, s_ack, &consumer->count, sizeof consumer->count);
    if (consumer->count >= consumer->expect) {
        consumer->cpu = sched_getcpu ();
        s_consumer_check (self, consumer);
    }
    return 0;
}

static int
s_consumer_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_consumer_t *consumer = state;
    consumer->waiter = *msg;
    consumer->waiting = true;
    s_consumer_check (self, consumer);
    return 0;
}

static const tr_handler_t s_consumer_handlers[] = {
    {"bench.data", s_consumer_data}, {"bench.wait", s_consumer_wait}, {NULL, NULL}};
static const tr_behaviour_t s_consumer = {
    "bench.consumer", sizeof (s_consumer_t), s_consumer_init, NULL, s_consumer_handlers, NULL};

//  The producer sends `count` messages to `target`, at most S_WINDOW ahead
//  of the consumer's acks.
typedef struct {
    tr_ref_t target;
    long count, sent, acked;
    int cpu;
} s_producer_t;

static int
s_producer_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    if (size != sizeof (s_producer_t))
        return -1;
    memcpy (state, arg, size);
    return 0;
}

static int
s_producer_fill (tr_actor_t *self, s_producer_t *producer)
{
    char payload[PAYLOAD] = {0};
    while (producer->sent < producer->count && producer->sent - producer->acked < S_WINDOW) {
        int rc = tr_send (self, producer->target, s_data, payload, sizeof payload);
        if (rc == TR_EAGAIN)  //  should not happen inside the window: retry later
            return tr_send (self, tr_self (self), s_go, NULL, 0);
        if (rc != 0)
            return rc;
        producer->sent++;
    }
    return 0;
}

static int
s_producer_go (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_producer_t *producer = state;
    producer->cpu = sched_getcpu ();
    return s_producer_fill (self, producer);
}

static int
s_producer_ack (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_producer_t *producer = state;
    memcpy (&producer->acked, msg->data, sizeof producer->acked);
    return s_producer_fill (self, producer);
}

static const tr_handler_t s_producer_handlers[] = {
    {"bench.go", s_producer_go}, {"bench.ack", s_producer_ack}, {NULL, NULL}};
static const tr_behaviour_t s_producer = {
    "bench.producer", sizeof (s_producer_t), s_producer_init, NULL, s_producer_handlers, NULL};

//  Returns msgs/s from producer on thread a to consumer on thread b.
static double
s_actor_thr (tr_runtime_t *rt, int thread_a, int thread_b, long count, int *cpus)
{
    tr_spawn_opts_t opts_b = {.thread = thread_b};
    tr_ref_t consumer, producer;
    tr_spawn (rt, "bench.consumer", &count, sizeof count, &opts_b, &consumer);
    s_producer_t args = {consumer, count, 0, 0, -1};
    tr_spawn_opts_t opts_a = {.thread = thread_a};
    tr_spawn (rt, "bench.producer", &args, sizeof args, &opts_a, &producer);
    double start = s_now ();
    tr_runtime_send (rt, producer, s_go, NULL, 0);
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_call (rt, consumer, s_wait, NULL, 0, 60000, &reply, &size);
    double elapsed = s_now () - start;
    if (rc != 0) {
        fprintf (stderr, "bench: consumer wait: %s\n", tr_strerror (rc));
        s_failed = 1;
    }
    if (reply && size == sizeof (int))
        memcpy (&cpus[1], reply, sizeof (int));
    tr_free (reply);
    tr_runtime_kill (rt, consumer, 0);
    tr_runtime_kill (rt, producer, 0);
    return rc == 0 ? (double) count / elapsed : 0;
}

//  Ping-pong: the pinger times each round trip with the monotonic clock.
typedef struct {
    tr_ref_t peer;
    long rounds, done;
    double *rtt;
    double sent_at;
    tr_msg_t waiter;
    bool waiting, finished;
} s_pinger_t;

static int
s_pinger_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    s_pinger_t *pinger = state;
    if (size != 2 * sizeof (long))
        return -1;
    const long *args = arg;
    pinger->peer = (tr_ref_t) args[0];
    pinger->rounds = args[1];
    pinger->rtt = malloc ((size_t) pinger->rounds * sizeof (double));
    return 0;
}

static void
s_pinger_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    (void) reason;
    free (((s_pinger_t *) state)->rtt);
}

static int
s_pinger_go (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_pinger_t *pinger = state;
    pinger->sent_at = s_now ();
    return tr_send (self, pinger->peer, s_ping, NULL, 0);
}

static int
s_pinger_pong (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_pinger_t *pinger = state;
    double now = s_now ();
    pinger->rtt[pinger->done++] = (now - pinger->sent_at) * 1e6;
    if (pinger->done < pinger->rounds) {
        pinger->sent_at = s_now ();
        return tr_send (self, pinger->peer, s_ping, NULL, 0);
    }
    pinger->finished = true;
    if (pinger->waiting)
        tr_reply (self, &pinger->waiter, NULL, 0);
    return 0;
}

static int
s_pinger_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_pinger_t *pinger = state;
    pinger->waiter = *msg;
    pinger->waiting = true;
    if (pinger->finished)
        tr_reply (self, msg, NULL, 0);
    return 0;
}

//  Answers "rtt" requests with its percentiles.
static int
s_pinger_rtt (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_pinger_t *pinger = state;
    double result[2] = {s_percentile (pinger->rtt, (size_t) pinger->done, 0.5),
                        s_percentile (pinger->rtt, (size_t) pinger->done, 0.99)};
    return tr_reply (self, msg, result, sizeof result);
}

static int
s_ponger_ping (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    return tr_send (self, msg->from, s_pong, NULL, 0);
}

static const tr_handler_t s_pinger_handlers[] = {{"bench.go", s_pinger_go},
                                                 {"bench.pong", s_pinger_pong},
                                                 {"bench.wait", s_pinger_wait},
                                                 {"bench.rtt", s_pinger_rtt},
                                                 {NULL, NULL}};
static const tr_behaviour_t s_pinger = {"bench.pinger",     sizeof (s_pinger_t), s_pinger_init,
                                        s_pinger_terminate, s_pinger_handlers,   NULL};
static const tr_handler_t s_ponger_handlers[] = {{"bench.ping", s_ponger_ping}, {NULL, NULL}};
static const tr_behaviour_t s_ponger = {"bench.ponger", 0, NULL, NULL, s_ponger_handlers, NULL};

//  Ping-pong between threads a and b: fills rtt[0] p50, rtt[1] p99 in µs,
//  returns round trips per second.
static double
s_actor_pingpong (tr_runtime_t *rt, int thread_a, int thread_b, long rounds, double *rtt)
{
    tr_spawn_opts_t opts_b = {.thread = thread_b}, opts_a = {.thread = thread_a};
    tr_ref_t ponger, pinger;
    tr_spawn (rt, "bench.ponger", NULL, 0, &opts_b, &ponger);
    long args[2] = {(long) ponger, rounds};
    tr_spawn (rt, "bench.pinger", args, sizeof args, &opts_a, &pinger);
    double start = s_now ();
    tr_runtime_send (rt, pinger, s_go, NULL, 0);
    int rc = tr_call (rt, pinger, s_wait, NULL, 0, 60000, NULL, NULL);
    double elapsed = s_now () - start;
    void *reply = NULL;
    size_t size = 0;
    if (rc == 0)
        rc = tr_call (rt, pinger, tr_type ("bench.rtt"), NULL, 0, 10000, &reply, &size);
    if (rc == 0 && size == 2 * sizeof (double))
        memcpy (rtt, reply, size);
    else {
        fprintf (stderr, "bench: pingpong: %s\n", tr_strerror (rc));
        s_failed = 1;
    }
    tr_free (reply);
    tr_runtime_kill (rt, pinger, 0);
    tr_runtime_kill (rt, ponger, 0);
    return rc == 0 ? (double) rounds / elapsed : 0;
}

//  The spawner spawns `count` idle actors in batches; with `kill` set it
//  stops each batch before the next (slots and memory reused).
typedef struct {
    long count, done;
    bool kill;
    tr_ref_t batch[1000];
    tr_msg_t waiter;
    bool waiting, finished;
} s_spawner_t;

typedef struct {
    long count;
    bool kill;
} s_spawner_args_t;

static int
s_spawner_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    s_spawner_t *spawner = state;
    if (size != sizeof (s_spawner_args_t))
        return -1;
    const s_spawner_args_t *args = arg;
    spawner->count = args->count;
    spawner->kill = args->kill;
    return 0;
}

static int
s_spawner_go (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_spawner_t *spawner = state;
    int batch = 0;
    while (batch < 1000 && spawner->done < spawner->count) {
        int rc = tr_actor_spawn (self, "bench.idle", NULL, 0, NULL, &spawner->batch[batch]);
        if (rc != 0)
            return rc;
        batch++;
        spawner->done++;
    }
    if (spawner->kill)
        for (int i = 0; i < batch; i++)
            tr_kill (self, spawner->batch[i], 0);
    if (spawner->done < spawner->count)
        return tr_send (self, tr_self (self), s_go, NULL, 0);
    spawner->finished = true;
    if (spawner->waiting)
        tr_reply (self, &spawner->waiter, NULL, 0);
    return 0;
}

static int
s_spawner_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_spawner_t *spawner = state;
    spawner->waiter = *msg;
    spawner->waiting = true;
    if (spawner->finished)
        tr_reply (self, msg, NULL, 0);
    return 0;
}

static const tr_handler_t s_spawner_handlers[] = {
    {"bench.go", s_spawner_go}, {"bench.wait", s_spawner_wait}, {NULL, NULL}};
static const tr_behaviour_t s_spawner = {
    "bench.spawner", sizeof (s_spawner_t), s_spawner_init, NULL, s_spawner_handlers, NULL};
//  An idle actor: 16 bytes of state, one handler it never gets.
static const tr_handler_t s_idle_handlers[] = {{"bench.data", s_ponger_ping}, {NULL, NULL}};
static const tr_behaviour_t s_idle = {"bench.idle", 16, NULL, NULL, s_idle_handlers, NULL};

static double
s_spawn (tr_runtime_t *rt, long count, bool kill)
{
    s_spawner_args_t args = {count, kill};
    tr_spawn_opts_t opts = {.thread = 1};
    tr_ref_t spawner;
    tr_spawn (rt, "bench.spawner", &args, sizeof args, &opts, &spawner);
    double start = s_now ();
    tr_runtime_send (rt, spawner, s_go, NULL, 0);
    int rc = tr_call (rt, spawner, s_wait, NULL, 0, 120000, NULL, NULL);
    double elapsed = s_now () - start;
    if (rc != 0) {
        fprintf (stderr, "bench: spawner: %s\n", tr_strerror (rc));
        s_failed = 1;
    }
    tr_runtime_kill (rt, spawner, 0);
    return rc == 0 ? (double) count / elapsed : 0;
}

static long
s_rss_bytes (void)
{
    long pages = 0, resident = 0;
    FILE *file = fopen ("/proc/self/statm", "r");
    if (file) {
        if (fscanf (file, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose (file);
    }
    return resident * sysconf (_SC_PAGESIZE);
}

int
main (int argc, char *argv[])
{
    //  --quick: smaller counts (for a smoke run in CI). Names select benchmarks.
    double scale = s_bench_args (argc, argv) ? 0.05 : 1.0;
    double zmq_thr = 1, zmq_rtt = 1;
    tr_behaviour_register (&s_consumer);
    tr_behaviour_register (&s_producer);
    tr_behaviour_register (&s_pinger);
    tr_behaviour_register (&s_ponger);
    tr_behaviour_register (&s_spawner);
    tr_behaviour_register (&s_idle);
    s_go = tr_type ("bench.go");
    s_data = tr_type ("bench.data");
    s_wait = tr_type ("bench.wait");
    s_ping = tr_type ("bench.ping");
    s_pong = tr_type ("bench.pong");
    s_ack = tr_type ("bench.ack");

    int cpus[2];
    if (s_want ("zmq_inproc_thr") || s_want ("actor_xthread_thr")) {
        zmq_thr = s_zmq_inproc_thr ((long) (2000000 * scale), cpus);
        printf ("zmq_inproc_thr: %.0f msgs/s (%d-byte frames, cpus %d,%d)\n", zmq_thr, FRAME_SIZE,
                cpus[0], cpus[1]);
    }
    if (s_want ("zmq_inproc_rtt_p50") || s_want ("actor_pingpong_rtt_p50")) {
        zmq_rtt = s_zmq_inproc_rtt_p50 ((long) (100000 * scale));
        printf ("zmq_inproc_rtt_p50: %.2f us\n", zmq_rtt);
    }

    tr_options_t options;
    tr_options_default (&options);
    options.threads = 2;
    tr_runtime_t *rt = tr_runtime_new (&options);
    if (!rt || tr_runtime_start (rt) != 0) {
        fprintf (stderr, "bench: cannot start the runtime\n");
        return 1;
    }
    cpus[0] = cpus[1] = -1;
    if (s_want ("actor_xthread_thr")) {
        double xthread = s_actor_thr (rt, 1, 2, (long) (4000000 * scale), cpus);
        printf ("actor_xthread_thr: %.0f msgs/s (%.2fx zmq_inproc_thr, consumer cpu %d)\n", xthread,
                xthread / zmq_thr, cpus[1]);
    }
    if (s_want ("actor_pingpong_rtt_p50")) {

        double rtt[2] = {0, 0};
        s_actor_pingpong (rt, 1, 2, (long) (100000 * scale), rtt);
        printf ("actor_pingpong_rtt_p50: %.2f us (%.2fx zmq_inproc_rtt_p50)\n", rtt[0],
                rtt[0] / zmq_rtt);
        printf ("actor_pingpong_rtt_p99: %.2f us\n", rtt[1]);
    }
    if (s_want ("actor_local_thr")) {

        double local = s_actor_thr (rt, 1, 1, (long) (10000000 * scale), cpus);
        printf ("actor_local_thr: %.0f msgs/s\n", local);
    }
    if (s_want ("actor_local_pingpong")) {
        double rtt[2];
        double local_pingpong = s_actor_pingpong (rt, 1, 1, (long) (2000000 * scale), rtt);
        printf ("actor_local_pingpong: %.0f round trips/s\n", local_pingpong);
    }
    if (s_want ("actor_spawn_rate")) {

        double spawn_rate = s_spawn (rt, (long) (100000 * scale), true);
        printf ("actor_spawn_rate: %.0f actors/s\n", spawn_rate);
    }
    if (s_want ("actor_idle_bytes")) {

        long idle_count = (long) (1000000 * scale);
        long rss_before = s_rss_bytes ();
        s_spawn (rt, idle_count, false);
        long rss_after = s_rss_bytes ();
        printf ("actor_idle_bytes: %.0f bytes (%ld live actors)\n",
                (double) (rss_after - rss_before) / (double) idle_count, idle_count);
    }
    tr_runtime_destroy (&rt);
    return s_failed;
}
