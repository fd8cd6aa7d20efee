//  bench_bus - the event bus against baselines measured in the same run:
//  publish -> deliver across threads (against raw actor sends and raw
//  ZeroMQ XPUB/SUB inproc), persisted events with batched fsync (against
//  raw batched write + fdatasync), and what kill -9 loses with the default
//  sync policy. Prints `name: value unit`.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <troupe.h>

#define BENCH_NAME "bench_bus"
#include "bench_util.h"

#define TOPIC     "bench.topic"  //  11 bytes
#define DATA_SIZE 16

static double s_scale = 1.0;

static void
s_sleep_ms (int ms)
{
    struct timespec pause = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep (&pause, NULL);
}

//  -------------------------------------------------------------------------
//  Baseline: raw ZeroMQ XPUB -> SUB inproc, [topic][data], lossless
//  (XPUB_NODROP and blocking sends: the sender waits at the high-water mark)

typedef struct {
    void *ctx;
    long count;
    int cpu;
} s_zmq_args_t;

static void *
s_zmq_subscriber (void *arg)
{
    s_zmq_args_t *args = arg;
    void *sub = zmq_socket (args->ctx, ZMQ_SUB);
    zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "bench.", 6);
    zmq_connect (sub, "inproc://bench-bus");
    char topic[64], data[64];
    for (long i = 0; i < args->count; i++) {
        zmq_recv (sub, topic, sizeof topic, 0);
        zmq_recv (sub, data, sizeof data, 0);
    }
    args->cpu = sched_getcpu ();
    zmq_close (sub);
    return NULL;
}

static double
s_zmq_pubsub_thr (long count)
{
    void *ctx = zmq_ctx_new ();
    void *pub = zmq_socket (ctx, ZMQ_XPUB);
    int on = 1;
    zmq_setsockopt (pub, ZMQ_XPUB_NODROP, &on, sizeof on);
    zmq_bind (pub, "inproc://bench-bus");
    s_zmq_args_t args = {ctx, count, -1};
    pthread_t thread;
    pthread_create (&thread, NULL, s_zmq_subscriber, &args);
    char subscription[16];
    zmq_recv (pub, subscription, sizeof subscription, 0);  //  the SUB is there
    char data[DATA_SIZE] = {0};
    double start = s_now ();
    for (long i = 0; i < count; i++) {
        zmq_send (pub, TOPIC, sizeof TOPIC - 1, ZMQ_SNDMORE);
        zmq_send (pub, data, sizeof data, 0);
    }
    pthread_join (thread, NULL);
    double elapsed = s_now () - start;
    zmq_close (pub);
    zmq_ctx_term (ctx);
    return (double) count / elapsed;
}

//  -------------------------------------------------------------------------
//  Actors: a publisher (or, for the baseline, a plain sender) on one
//  thread, counters on others

static tr_type_t s_type_go, s_type_wait, s_type_data, s_type_ack;

//  Flow control, as in bench_core: each counter acks every S_ACK_EVERY
//  messages; the sender keeps at most S_WINDOW ahead of the slowest
//  counter. So the figures are sustained rates, not a burst into queues
//  (and no subscriber goes over its bound).
#define S_ACK_EVERY 1024
#define S_WINDOW    16384
#define S_MAX_SUBS  8

typedef struct {
    long expect;
    tr_ref_t sender;
    int index;
} s_counter_arg_t;

//  Counts bus events (or plain data messages); a "wait" request is answered
//  once `expect` came.
typedef struct {
    s_counter_arg_t arg;
    long count, bad;
    tr_msg_t waiter;
    bool waiting;
} s_counter_t;

static int
s_counter_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    if (size != sizeof (s_counter_arg_t))
        return -1;
    memcpy (&((s_counter_t *) state)->arg, arg, sizeof (s_counter_arg_t));
    return 0;
}

static void
s_counter_check (tr_actor_t *self, s_counter_t *counter)
{
    if (counter->waiting && counter->count >= counter->arg.expect) {
        counter->waiting = false;
        tr_reply (self, &counter->waiter, &counter->bad, sizeof counter->bad);
    }
}

static void
s_counter_one (tr_actor_t *self, s_counter_t *counter)
{
    if (++counter->count % S_ACK_EVERY == 0 && counter->count < counter->arg.expect
        && counter->arg.sender) {
        long ack[2] = {counter->arg.index, counter->count};
        tr_send (self, counter->arg.sender, s_type_ack, ack, sizeof ack);
    }
    if (counter->count >= counter->arg.expect)
        s_counter_check (self, counter);
}

static int
s_counter_event (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_counter_t *counter = state;
    tr_bus_event_t event;
    if (tr_bus_event_read (msg, &event) != 0 || event.size != DATA_SIZE)
        counter->bad++;
    s_counter_one (self, counter);
    return 0;
}

static int
s_counter_data (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_counter_one (self, state);
    return 0;
}

static int
s_counter_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_counter_t *counter = state;
    counter->waiter = *msg;
    counter->waiting = true;
    s_counter_check (self, counter);
    return 0;
}

static const tr_handler_t s_counter_handlers[] = {{TR_BUS_EVENT_TYPE, s_counter_event},
                                                  {"bench.data", s_counter_data},
                                                  {"bench.wait", s_counter_wait},
                                                  {NULL, NULL}};
static const tr_behaviour_t s_counter = {
    "bench.counter", sizeof (s_counter_t), s_counter_init, NULL, s_counter_handlers, NULL};

//  Sends `count` events (bus set) or plain messages (to set) of `size`
//  bytes; with `acks` counters, at most S_WINDOW ahead of the slowest. A
//  full mailbox makes it try again on its next turn.
typedef struct {
    tr_ref_t bus, to;
    long count, sent;
    size_t size;
    int acks;
    long acked[S_MAX_SUBS];
} s_sender_t;

static long
s_sender_slowest (const s_sender_t *sender)
{
    long slowest = sender->sent;
    for (int i = 0; i < sender->acks; i++)
        if (sender->acked[i] < slowest)
            slowest = sender->acked[i];
    return slowest;
}

static int
s_sender_go (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_sender_t *sender = state;
    char data[256] = {0};
    long slowest = s_sender_slowest (sender);
    bool full = false;
    while (sender->sent < sender->count && sender->sent - slowest < S_WINDOW) {
        int rc = sender->bus ? tr_publish (self, sender->bus, TOPIC, data, sender->size)
                             : tr_send (self, sender->to, s_type_data, data, sender->size);
        if (rc == TR_EAGAIN) {
            full = true;
            break;
        }
        if (rc != 0)
            return rc;
        sender->sent++;
    }
    //  Without acks, or against a full mailbox: try again next turn; else
    //  the next ack calls this again.
    if (sender->sent < sender->count && (full || !sender->acks))
        return tr_send (self, tr_self (self), s_type_go, NULL, 0);
    return 0;
}

static int
s_sender_ack (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_sender_t *sender = state;
    long ack[2];
    if (msg->size != sizeof ack)
        return TR_EINVAL;
    memcpy (ack, msg->data, sizeof ack);
    if (ack[0] >= 0 && ack[0] < S_MAX_SUBS && ack[1] > sender->acked[ack[0]])
        sender->acked[ack[0]] = ack[1];
    return s_sender_go (self, state, msg);
}

//  The first order: what to send where (the counters needed the sender's
//  ref first, for their acks).
static int
s_sender_start (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (msg->size != sizeof (s_sender_t))
        return TR_EINVAL;
    memcpy (state, msg->data, sizeof (s_sender_t));
    return s_sender_go (self, state, msg);
}

static const tr_handler_t s_sender_handlers[] = {{"bench.start", s_sender_start},
                                                 {"bench.go", s_sender_go},
                                                 {"bench.ack", s_sender_ack},
                                                 {NULL, NULL}};
static const tr_behaviour_t s_sender = {"bench.sender", sizeof (s_sender_t), NULL,
                                        NULL,           s_sender_handlers,   NULL};

static tr_ref_t
s_spawn_on (tr_runtime_t *rt, const char *behaviour, const void *arg, size_t size, int thread)
{
    tr_spawn_opts_t opts = {.thread = thread};
    tr_ref_t ref = TR_REF_NONE;
    int rc = tr_spawn (rt, behaviour, arg, size, &opts, &ref);
    if (rc != 0)
        s_fail_rc ("spawn", rc);
    return ref;
}

//  Wait for every counter; returns seconds since start, or 0.
static double
s_wait_counters (tr_runtime_t *rt, tr_ref_t *counters, int count, double start)
{
    for (int i = 0; i < count; i++) {
        void *reply = NULL;
        size_t size = 0;
        int rc = tr_call (rt, counters[i], s_type_wait, NULL, 0, 60000, &reply, &size);
        long bad = 0;
        if (rc == 0 && size == sizeof bad)
            memcpy (&bad, reply, sizeof bad);
        tr_free (reply);
        if (rc != 0 || bad) {
            s_fail ("wait", rc ? tr_strerror (rc) : "malformed events");
            return 0;
        }
    }
    return s_now () - start;
}

//  Plain actor messages, sender on thread 1, counter on thread 2: msgs/s.
static double
s_actor_thr (tr_runtime_t *rt, long count)
{
    tr_ref_t sender = s_spawn_on (rt, "bench.sender", NULL, 0, 1);
    s_counter_arg_t counter_arg = {count, sender, 0};
    tr_ref_t counter = s_spawn_on (rt, "bench.counter", &counter_arg, sizeof counter_arg, 2);
    s_sender_t start = {TR_REF_NONE, counter, count, 0, DATA_SIZE, 1, {0}};
    double begin = s_now ();
    tr_runtime_send (rt, sender, tr_type ("bench.start"), &start, sizeof start);
    double elapsed = s_wait_counters (rt, &counter, 1, begin);
    tr_runtime_kill (rt, counter, 0);
    tr_runtime_kill (rt, sender, 0);
    return elapsed > 0 ? (double) count / elapsed : 0;
}

//  Stop the bus registered as name and wait until it is gone.
static void
s_bus_stop (tr_runtime_t *rt, tr_ref_t bus, const char *name)
{
    tr_runtime_kill (rt, bus, 0);
    while (tr_whereis (rt, name) != TR_REF_NONE)
        s_sleep_ms (1);
}

//  The bus on thread 2; publisher on thread 1; subscribers alternate
//  between the threads, the first on thread 1 (so each event crosses
//  threads twice). Returns deliveries/s; *dropped gets the drops.
static double
s_bus_thr (tr_runtime_t *rt, long count, int subscribers, uint64_t *dropped)
{
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.name = "bench.bus";
    options.thread = 2;
    options.no_ipc = true;
    tr_ref_t bus;
    int rc = tr_bus_start (rt, &options, &bus);
    if (rc != 0) {
        s_fail_rc ("bus", rc);
        return 0;
    }
    tr_ref_t publisher = s_spawn_on (rt, "bench.sender", NULL, 0, 1);
    tr_ref_t counters[S_MAX_SUBS];
    for (int i = 0; i < subscribers; i++) {
        s_counter_arg_t arg = {count, publisher, i};
        counters[i] = s_spawn_on (rt, "bench.counter", &arg, sizeof arg, 1 + i % 2);
        //  Above the window: this measures delivery, not drops.
        rc = tr_bus_subscribe (rt, bus, counters[i], "bench.", 2 * S_WINDOW);
        if (rc != 0)
            s_fail_rc ("subscribe", rc);
    }
    s_sender_t start = {bus, TR_REF_NONE, count, 0, DATA_SIZE, subscribers, {0}};
    double begin = s_now ();
    tr_runtime_send (rt, publisher, tr_type ("bench.start"), &start, sizeof start);
    double elapsed = s_wait_counters (rt, counters, subscribers, begin);
    tr_bus_stats_t stats = {0};
    tr_bus_stats (rt, bus, &stats);
    *dropped = stats.dropped;
    //  Subscribers first, so that the bus sees them go.
    for (int i = 0; i < subscribers; i++)
        tr_runtime_kill (rt, counters[i], 0);
    tr_runtime_kill (rt, publisher, 0);
    while (tr_bus_stats (rt, bus, &stats) == 0 && stats.subscribers > 0)
        s_sleep_ms (1);
    s_bus_stop (rt, bus, "bench.bus");
    return elapsed > 0 ? (double) count * subscribers / elapsed : 0;
}

//  -------------------------------------------------------------------------
//  Persistence

#define PERSIST_DATA 64

//  Baseline: the same records (24-byte head + topic + 64 bytes), 256 per
//  write call, an fdatasync after every 1000 records, from one thread.
static double
s_raw_append_thr (const char *path, long count)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        s_fail ("raw append", strerror (errno));
        return 0;
    }
    size_t record = 24 + sizeof TOPIC - 1 + PERSIST_DATA;
    unsigned char *batch = calloc (256, record);
    double start = s_now ();
    long since_sync = 0;
    for (long done = 0; done < count;) {
        long now = count - done < 256 ? count - done : 256;
        if (write (fd, batch, (size_t) now * record) != (ssize_t) ((size_t) now * record)) {
            s_fail ("raw append", strerror (errno));
            break;
        }
        done += now;
        since_sync += now;
        if (since_sync >= 1000 || done == count) {
            fdatasync (fd);
            since_sync = 0;
        }
    }
    double elapsed = s_now () - start;
    free (batch);
    close (fd);
    unlink (path);
    return (double) count / elapsed;
}

//  Publisher on thread 1, the bus on thread 2 with the default sync
//  policy, no subscriber: events/s until all are synced.
static double
s_bus_persist_thr (tr_runtime_t *rt, const char *path, long count, uint64_t *syncs,
                   uint64_t *writes)
{
    unlink (path);
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.name = "bench.persist";
    options.thread = 2;
    options.no_ipc = true;
    options.log_path = path;
    tr_ref_t bus;
    int rc = tr_bus_start (rt, &options, &bus);
    if (rc != 0) {
        s_fail_rc ("persistent bus", rc);
        return 0;
    }
    tr_ref_t publisher = s_spawn_on (rt, "bench.sender", NULL, 0, 1);
    s_sender_t args = {bus, TR_REF_NONE, count, 0, PERSIST_DATA, 0, {0}};
    double start = s_now (), elapsed = 0;
    tr_runtime_send (rt, publisher, tr_type ("bench.start"), &args, sizeof args);
    tr_bus_stats_t stats = {0};
    while (tr_bus_stats (rt, bus, &stats) == 0 && stats.synced_offset < (uint64_t) count) {
        if (s_now () - start > 60) {
            s_fail ("persist", "not synced within 60 s");
            break;
        }
        s_sleep_ms (1);
    }
    elapsed = s_now () - start;
    *syncs = stats.syncs;
    *writes = stats.writes;
    tr_runtime_kill (rt, publisher, 0);
    s_bus_stop (rt, bus, "bench.persist");
    unlink (path);
    return stats.synced_offset >= (uint64_t) count ? (double) count / elapsed : 0;
}

//  -------------------------------------------------------------------------
//  kill -9: a child node publishes as fast as it can to a persistent bus
//  (default sync policy) and is killed; what it had accepted and what its
//  log holds afterwards give the window.

#define KILL9_TRIALS 5

typedef struct {
    _Atomic uint64_t accepted;
    _Atomic int ready;
} s_kill9_t;

static void __attribute__ ((noreturn)) s_kill9_node (const char *path, s_kill9_t *shared)
{
    tr_options_t options;
    tr_options_default (&options);
    options.threads = 2;
    options.no_processes = true;
    tr_runtime_t *rt = tr_runtime_new (&options);
    if (!rt || tr_runtime_start (rt) != 0)
        _exit (2);
    tr_bus_options_t bus_options;
    tr_bus_options_default (&bus_options);
    bus_options.log_path = path;
    bus_options.no_ipc = true;
    tr_ref_t bus;
    if (tr_bus_start (rt, &bus_options, &bus) != 0)
        _exit (3);
    atomic_store (&shared->ready, 1);
    char data[PERSIST_DATA] = {0};
    for (uint64_t i = 0;; i++) {
        int rc;
        while ((rc = tr_runtime_publish (rt, bus, TOPIC, data, sizeof data)) == TR_EAGAIN)
            sched_yield ();
        if (rc != 0)
            _exit (4);
        atomic_store (&shared->accepted, i + 1);
    }
}

//  Fork the trials (before any runtime or ZeroMQ context in this process);
//  accepted[i] is what trial i's node had accepted when killed.
static void
s_kill9_run (const char *dir, int trials, uint64_t *accepted)
{
    s_kill9_t *shared = mmap (NULL, (size_t) trials * sizeof (s_kill9_t), PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        s_fail ("kill9", "mmap");
        return;
    }
    memset (shared, 0, (size_t) trials * sizeof (s_kill9_t));
    pid_t parent = getpid ();
    for (int trial = 0; trial < trials; trial++) {
        char path[160];
        snprintf (path, sizeof path, "%s/kill9-%d.log", dir, trial);
        fflush (stdout);
        fflush (stderr);
        pid_t pid = fork ();
        if (pid < 0) {
            s_fail ("kill9", "fork");
            break;
        }
        if (pid == 0) {
            s_child_setup (parent);
            s_kill9_node (path, &shared[trial]);
        }
        //  Kill it after 100 to 300 ms of publishing at full speed.
        double deadline = s_now () + 30;
        while (!atomic_load (&shared[trial].ready) && s_now () < deadline)
            s_sleep_ms (1);
        s_sleep_ms (100 + rand () % 200);
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        accepted[trial] = atomic_load (&shared[trial].accepted);
    }
    munmap (shared, (size_t) trials * sizeof (s_kill9_t));
}

//  What trial i's log kept (a bus opened on it recovers it).
static uint64_t
s_kill9_kept (tr_runtime_t *rt, const char *dir, int trial, uint64_t *truncated)
{
    char path[160], name[32];
    snprintf (path, sizeof path, "%s/kill9-%d.log", dir, trial);
    snprintf (name, sizeof name, "bench.kill9.%d", trial);
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.name = name;
    options.no_ipc = true;
    options.log_path = path;
    tr_ref_t bus;
    tr_bus_stats_t stats = {0};
    int rc = tr_bus_start (rt, &options, &bus);
    if (rc == 0)
        rc = tr_bus_stats (rt, bus, &stats);
    if (rc != 0)
        s_fail_rc ("kill9 recovery", rc);
    s_bus_stop (rt, bus, name);
    unlink (path);
    *truncated = stats.truncated_bytes;
    return stats.recovered;
}

//  -------------------------------------------------------------------------

int
main (int argc, char *argv[])
{
    if (s_bench_args (argc, argv))
        s_scale = 0.01;
    srand ((unsigned) getpid ());
    tr_behaviour_register (&s_counter);
    tr_behaviour_register (&s_sender);
    s_type_go = tr_type ("bench.go");
    s_type_wait = tr_type ("bench.wait");
    s_type_data = tr_type ("bench.data");
    s_type_ack = tr_type ("bench.ack");
    char dir[] = "/tmp/troupe-bench-bus.XXXXXX";
    if (!mkdtemp (dir)) {
        perror ("mkdtemp");
        return 1;
    }

    //  First, while this process has one thread: the kill -9 trials.
    int trials = s_scale < 1 ? 1 : KILL9_TRIALS;
    uint64_t accepted[KILL9_TRIALS] = {0};
    if (s_want ("bus_kill9_window"))
        s_kill9_run (dir, trials, accepted);

    double zmq_thr = 0, actor_thr = 0;
    if (s_want ("zmq_pubsub_thr") || s_want ("bus_thr")) {
        zmq_thr = s_zmq_pubsub_thr ((long) (2000000 * s_scale));
        printf ("zmq_pubsub_thr: %.0f msgs/s (XPUB_NODROP -> SUB inproc, [%zu-byte topic][%d "
                "bytes])\n",
                zmq_thr, sizeof TOPIC - 1, DATA_SIZE);
    }

    tr_options_t options;
    tr_options_default (&options);
    options.threads = 2;
    options.no_processes = true;
    tr_runtime_t *rt = tr_runtime_new (&options);
    if (!rt || tr_runtime_start (rt) != 0) {
        fprintf (stderr, BENCH_NAME ": cannot start the runtime\n");
        return 1;
    }
    if (s_want ("actor_xthread_thr") || s_want ("bus_thr")) {
        actor_thr = s_actor_thr (rt, (long) (4000000 * s_scale));
        printf ("actor_xthread_thr: %.0f msgs/s (%d-byte payload, thread 1 -> 2)\n", actor_thr,
                DATA_SIZE);
    }
    if (s_want ("bus_thr")) {
        uint64_t dropped = 0;
        double thr = s_bus_thr (rt, (long) (2000000 * s_scale), 1, &dropped);
        printf ("bus_thr: %.0f events/s (1 subscriber; %.2fx actor_xthread_thr, %.2fx "
                "zmq_pubsub_thr; publisher and subscriber on thread 1, bus on 2; %llu "
                "dropped)\n",
                thr, actor_thr > 0 ? thr / actor_thr : 0, zmq_thr > 0 ? thr / zmq_thr : 0,
                (unsigned long long) dropped);
    }
    if (s_want ("bus_fanout4_thr")) {
        uint64_t dropped = 0;
        double thr = s_bus_thr (rt, (long) (500000 * s_scale), 4, &dropped);
        printf ("bus_fanout4_thr: %.0f deliveries/s (4 subscribers, 2 per thread; %llu "
                "dropped)\n",
                thr, (unsigned long long) dropped);
    }
    if (s_want ("bus_persist_thr")) {
        char path[160];
        snprintf (path, sizeof path, "%s/persist.log", dir);
        double raw = s_raw_append_thr (path, (long) (1000000 * s_scale));
        printf ("raw_append_thr: %.0f records/s (%zu-byte records, 256 per write, fdatasync "
                "every 1000)\n",
                raw, 24 + sizeof TOPIC - 1 + PERSIST_DATA);
        uint64_t syncs = 0, writes = 0;
        double thr = s_bus_persist_thr (rt, path, (long) (1000000 * s_scale), &syncs, &writes);
        printf ("bus_persist_thr: %.0f events/s (published to synced, %d-byte data, default "
                "sync policy, fdatasync on its own thread; %.2fx raw_append_thr; %llu writes, "
                "%llu fdatasyncs)\n",
                thr, PERSIST_DATA, raw > 0 ? thr / raw : 0, (unsigned long long) writes,
                (unsigned long long) syncs);
    }
    if (s_want ("bus_kill9_window")) {
        uint64_t worst = 0, total = 0, truncated = 0, lost_sum = 0;
        for (int trial = 0; trial < trials; trial++) {
            uint64_t torn = 0;
            uint64_t kept = s_kill9_kept (rt, dir, trial, &torn);
            uint64_t lost = accepted[trial] > kept ? accepted[trial] - kept : 0;
            if (kept > accepted[trial] + 1)
                s_fail ("kill9", "the log holds events that were never accepted");
            worst = lost > worst ? lost : worst;
            lost_sum += lost;
            total += accepted[trial];
            truncated += torn;
        }
        printf ("bus_kill9_window: %llu events (the most lost of %d kill -9s of a node "
                "publishing at full speed, default sync policy; %.0f lost on average, %llu "
                "accepted in all; %llu torn bytes cut)\n",
                (unsigned long long) worst, trials, (double) lost_sum / trials,
                (unsigned long long) total, (unsigned long long) truncated);
    }
    tr_runtime_destroy (&rt);
    rmdir (dir);
    return s_failed;
}
