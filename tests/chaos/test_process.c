//  test_process - process actors under fault: kill -9 with 10,000 requests
//  in flight, a child that crashes on every message, a hang, a memory hog,
//  poison among good messages, and nothing left behind
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

//  ThreadSanitizer makes children (instrumented, forked) an order of
//  magnitude slower: the default heartbeat timeout would call them hung.
#if defined(__SANITIZE_THREAD__)
#    define S_HEARTBEAT_TIMEOUT_MS 10000
#    define S_MEMORY_LIMIT         (200u << 20)
#else
#    define S_HEARTBEAT_TIMEOUT_MS 0  //  the default
#    define S_MEMORY_LIMIT         (64u << 20)
#endif

//  --------------------------------------------------------------------------
//  The process actor under test (runs in children)

static int
s_echo (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    return tr_reply (self, msg, msg->data, msg->size);
}

//  Echo after 100 µs: keeps thousands of requests in flight.
static int
s_echo_slow (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    usleep (100);
    return tr_reply (self, msg, msg->data, msg->size);
}

static int
s_crash (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    abort ();
}

static int
s_hang (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    while (true)
        pause ();
    return 0;  //  not reached
}

//  Touch 256 MiB and hold it.
static int
s_hog (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    size_t size = 256u << 20;
    char *block = malloc (size);
    for (size_t at = 0; block && at < size; at += 4096)
        block[at] = 1;
    while (true)
        pause ();
    return 0;  //  not reached
}

//  "poison" crashes the child; anything else is echoed.
static int
s_maybe (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    if (msg->size == 6 && memcmp (msg->data, "poison", 6) == 0)
        abort ();
    return tr_reply (self, msg, msg->data, msg->size);
}

//  One-way work of 2 ms.
static int
s_slow_oneway (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    usleep (2000);
    return 0;
}

//  Only the main thread of the child whose pid the payload names ends
//  (pthread_exit: libzmq's threads, and so the process, live on); any other
//  child acknowledges.
static int
s_exit_main (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    int32_t pid = 0;
    if (msg->size == sizeof pid)
        memcpy (&pid, msg->data, sizeof pid);
    if (pid == (int32_t) getpid ())
        pthread_exit (NULL);
    return 0;
}

//  A handler that fails (returns an error, no crash).
static int
s_fail (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    return TR_EFAILED;
}

static const tr_handler_t s_worker_handlers[] = {{"t.slow_oneway", s_slow_oneway},
                                                 {"t.fail", s_fail},
                                                 {"t.echo", s_echo},
                                                 {"t.echo_slow", s_echo_slow},
                                                 {"t.crash", s_crash},
                                                 {"t.hang", s_hang},
                                                 {"t.hog", s_hog},
                                                 {"t.maybe", s_maybe},
                                                 {"t.exit_main", s_exit_main},
                                                 {NULL, NULL}};
static const tr_behaviour_t s_worker = {"t.worker", 0, NULL, NULL, s_worker_handlers, NULL};

//  --------------------------------------------------------------------------
//  A thread actor that fires N requests at the pool and tallies replies

#define S_REQUESTS 10000

typedef struct {
    tr_ref_t pool;
    int32_t count;
    int32_t replies[S_REQUESTS];  //  replies per request index
    int32_t errors;
    int32_t done;
    tr_msg_t waiter;
    bool waiting;
} s_blaster_t;

static void
s_blaster_check (tr_actor_t *self, s_blaster_t *blaster)
{
    if (blaster->waiting && blaster->done == blaster->count) {
        blaster->waiting = false;
        tr_reply (self, &blaster->waiter, NULL, 0);
    }
}

static void
s_on_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    s_blaster_t *blaster = state;
    (void) arg;
    blaster->done++;
    int32_t index = -1;
    if (rc == 0 && reply->size == sizeof index)
        memcpy (&index, reply->data, sizeof index);
    if (rc != 0 || index < 0 || index >= blaster->count)
        blaster->errors++;
    else
        blaster->replies[index]++;
    s_blaster_check (self, blaster);
}

static int
s_blast (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_blaster_t *blaster = state;
    memcpy (&blaster->pool, msg->data, sizeof blaster->pool);
    blaster->count = S_REQUESTS;
    if (msg->size == sizeof blaster->pool + sizeof (int32_t))
        memcpy (&blaster->count, (const char *) msg->data + sizeof blaster->pool,
                sizeof blaster->count);
    tr_type_t type = tr_type ("t.echo_slow");
    for (int32_t i = 0; i < blaster->count; i++) {
        int rc = tr_request (self, blaster->pool, type, &i, sizeof i, 60000, s_on_reply, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
s_blast_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_blaster_t *blaster = state;
    blaster->waiter = *msg;
    blaster->waiting = true;
    s_blaster_check (self, blaster);
    return 0;
}

static int
s_blast_result (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_blaster_t *blaster = state;
    int32_t result[3] = {0, 0, blaster->errors};  //  answered once, more than once, errors
    for (int32_t i = 0; i < blaster->count; i++) {
        if (blaster->replies[i] == 1)
            result[0]++;
        else if (blaster->replies[i] > 1)
            result[1]++;
    }
    return tr_reply (self, msg, result, sizeof result);
}

static const tr_handler_t s_blaster_handlers[] = {
    {"t.blast", s_blast}, {"t.wait", s_blast_wait}, {"t.result", s_blast_result}, {NULL, NULL}};
static const tr_behaviour_t s_blaster = {"t.blaster", sizeof (s_blaster_t), NULL,
                                         NULL,        s_blaster_handlers,   NULL};

//  Monitors a ref, keeps the last DOWN reason, answers "t.reason".
typedef struct {
    int reason;
    bool seen;
} s_watcher_t;

static int
s_watch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_ref_t target;
    memcpy (&target, msg->data, sizeof target);
    return tr_monitor (self, target);
}

static int
s_watch_down (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_watcher_t *watcher = state;
    tr_down_t down;
    memcpy (&down, msg->data, sizeof down);
    watcher->reason = down.reason;
    watcher->seen = true;
    return 0;
}

static int
s_watch_reason (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_watcher_t *watcher = state;
    int32_t answer[2] = {watcher->seen, watcher->reason};
    return tr_reply (self, msg, answer, sizeof answer);
}

static const tr_handler_t s_watcher_handlers[] = {
    {"t.watch", s_watch}, {"tr.down", s_watch_down}, {"t.reason", s_watch_reason}, {NULL, NULL}};
static const tr_behaviour_t s_watcher = {"t.watcher", sizeof (s_watcher_t), NULL,
                                         NULL,        s_watcher_handlers,   NULL};

//  --------------------------------------------------------------------------

//  The reason of the DOWN the watcher saw (waits up to 3 s for one).
static int
s_down_reason (tr_runtime_t *rt, tr_ref_t watcher)
{
    for (int tries = 0; tries < 300; tries++) {
        int32_t *answer = NULL;
        size_t size = 0;
        TR_CHECK (
            tr_call (rt, watcher, tr_type ("t.reason"), NULL, 0, 1000, (void **) &answer, &size));
        TR_ASSERT (answer && size == 2 * sizeof (int32_t));
        int32_t seen = answer[0], reason = answer[1];
        tr_free (answer);
        if (seen)
            return reason;
        usleep (10000);
    }
    TR_ASSERT (!"no DOWN within 3 s");
    return 0;
}

static bool
s_alive (int pid)
{
    return pid > 0 && kill (pid, 0) == 0;
}

//  Kill -9 one of two replicas while 10,000 requests are in flight: every
//  request gets exactly one reply, none lost, none doubled.
static void
test_kill_with_requests_in_flight (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {
        .behaviour = "t.worker", .replicas = 2, .heartbeat_timeout_ms = S_HEARTBEAT_TIMEOUT_MS};
    tr_ref_t pool, blaster;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_CHECK (tr_spawn (rt, "t.blaster", NULL, 0, NULL, &blaster));
    int pids[2];
    size_t count = 0;
    TR_CHECK (tr_process_pids (rt, pool, pids, 2, &count));
    TR_ASSERT_EQ_INT ((int) count, 2);
    TR_CHECK (tr_runtime_send (rt, blaster, tr_type ("t.blast"), &pool, sizeof pool));
    //  Once more than 1000 are in flight (or queued), kill one child. (A
    //  fixed wait is not enough on a loaded machine, or under TSan.)
    tr_process_stats_t stats;
    uint64_t in_flight = 0;
    for (int tries = 0; tries < 2500 && in_flight <= 1000; tries++) {
        TR_CHECK (tr_process_stats (rt, pool, &stats));
        in_flight = stats.in_flight + stats.queued;
        if (in_flight <= 1000)
            usleep (2000);
    }
    TR_ASSERT (kill (pids[0], SIGKILL) == 0);
    TR_CHECK (tr_call (rt, blaster, tr_type ("t.wait"), NULL, 0, 60000, NULL, NULL));
    int32_t *result = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, blaster, tr_type ("t.result"), NULL, 0, 1000, (void **) &result, &size));
    TR_ASSERT (result && size == 3 * sizeof (int32_t));
    printf ("kill -9 with %llu in flight: %d answered once, %d more than once, %d errors\n",
            (unsigned long long) in_flight, result[0], result[1], result[2]);
    TR_ASSERT (in_flight > 1000);  //  the kill really hit a busy pool
    TR_ASSERT_EQ_INT (result[0], S_REQUESTS);
    TR_ASSERT_EQ_INT (result[1], 0);
    TR_ASSERT_EQ_INT (result[2], 0);
    tr_free (result);
    TR_CHECK (tr_process_stats (rt, pool, &stats));
    TR_ASSERT (stats.redelivered > 0);
    TR_ASSERT (stats.restarts >= 1);
    TR_ASSERT_EQ_INT ((int) stats.in_flight, 0);
    TR_ASSERT (!s_alive (pids[0]));
    tr_runtime_destroy (&rt);
}

//  A child that crashes on every message: poison for those messages, and
//  past the restart intensity the pool gives up (DOWN with TR_EESCALATED).
static void
test_crash_every_message (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {.behaviour = "t.worker",
                              .max_retries = 2,
                              .restart_intensity = 3,
                              .restart_period_ms = 60000};
    tr_ref_t pool, watcher;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_CHECK (tr_spawn (rt, "t.watcher", NULL, 0, NULL, &watcher));
    TR_CHECK (tr_runtime_send (rt, watcher, tr_type ("t.watch"), &pool, sizeof pool));
    TR_ASSERT_EQ_INT (tr_call (rt, pool, tr_type ("t.crash"), NULL, 0, 10000, NULL, NULL),
                      TR_EPOISON);
    TR_ASSERT (tr_dead_letter_count (rt, TR_EPOISON) >= 1);
    int rc = tr_call (rt, pool, tr_type ("t.crash"), NULL, 0, 10000, NULL, NULL);
    TR_ASSERT (rc == TR_EESCALATED || rc == TR_EDEAD || rc == TR_EPOISON);
    TR_ASSERT_EQ_INT (s_down_reason (rt, watcher), TR_EESCALATED);
    TR_ASSERT_EQ_INT (tr_call (rt, pool, tr_type ("t.echo"), "x", 1, 1000, NULL, NULL), TR_EDEAD);
    tr_runtime_destroy (&rt);
}

//  A child that hangs is killed once its heartbeats stop, and replaced.
static void
test_hang (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {
        .behaviour = "t.worker", .max_retries = 1, .heartbeat_ms = 20, .heartbeat_timeout_ms = 200};
    tr_ref_t pool;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    int64_t start = s_now_ms ();
    TR_ASSERT_EQ_INT (tr_call (rt, pool, tr_type ("t.hang"), NULL, 0, 5000, NULL, NULL),
                      TR_EPOISON);
    int64_t took = s_now_ms () - start;
    printf ("hang detected and answered in %lld ms (timeout 200 ms)\n", (long long) took);
    TR_ASSERT (took >= 150 && took < 2000);
    tr_process_stats_t stats;
    TR_CHECK (tr_process_stats (rt, pool, &stats));
    TR_ASSERT_EQ_INT (stats.last_exit_reason, TR_EHUNG);
    //  The replacement serves.
    char *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, pool, tr_type ("t.echo"), "ok", 2, 5000, (void **) &reply, &size));
    TR_ASSERT (size == 2 && memcmp (reply, "ok", 2) == 0);
    tr_free (reply);
    tr_runtime_destroy (&rt);
}

//  The children's keepers (runtime/child.c): one per C child, a child of
//  the zygote named tr-keeper; none in sanitizer builds or off x86-64.
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#    define S_KEEPERS 1
#else
#    define S_KEEPERS 0
#endif

static int
s_keepers (int *pids, int max)
{
    int zygote = tr_test_child_named ("troupe-zygote");
    return zygote ? tr_test_children_named (zygote, "tr-keeper", pids, max) : 0;
}

//  A child whose main thread ends alone (its process lives on, with
//  libzmq's threads, sending no heartbeat): its lifeline tells the node at
//  once, long before the heartbeat timeout; the node kills the rest of it
//  and a new child serves. Its keeper lets go of its memory and is reaped.
static void
test_main_thread_ends (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {.behaviour = "t.worker", .heartbeat_timeout_ms = 30000};
    tr_ref_t pool;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_CHECK (tr_call (rt, pool, tr_type ("t.echo"), "ok", 2, 5000, NULL, NULL));
    int32_t pid = 0;
    size_t count = 0;
    int pids[1];
    TR_CHECK (tr_process_pids (rt, pool, pids, 1, &count));
    pid = pids[0];
    int keepers[8], before = s_keepers (keepers, 8);
    TR_ASSERT_EQ_INT (before, S_KEEPERS ? 2 : 0);  //  the replica's and the spare's
    int64_t start = s_now_ms ();
    TR_CHECK (tr_runtime_send (rt, pool, tr_type ("t.exit_main"), &pid, sizeof pid));
    //  Answered by a new child, far sooner than the 30 s heartbeat timeout.
    TR_CHECK (tr_call (rt, pool, tr_type ("t.echo"), "ok", 2, 10000, NULL, NULL));
    int64_t took = s_now_ms () - start;
    printf ("a child whose main thread ended was replaced in %lld ms\n", (long long) took);
    TR_ASSERT (took < 5000);
    tr_process_stats_t stats;
    TR_CHECK (tr_process_stats (rt, pool, &stats));
    TR_ASSERT (stats.restarts >= 1);
    TR_ASSERT_EQ_INT (stats.last_exit_reason, TR_ECRASHED);
    TR_CHECK (tr_process_pids (rt, pool, pids, 1, &count));
    TR_ASSERT (pids[0] != pid);
    //  The rest of it was killed, and its keeper went with it.
    int64_t deadline = s_now_ms () + 3000;
    while (s_alive (pid) && s_now_ms () < deadline)
        usleep (1000);
    TR_ASSERT (!s_alive (pid));
    for (int i = 0; i < before; i++) {
        while (s_alive (keepers[i]) && s_now_ms () < deadline)
            usleep (1000);
    }
    int gone = 0;
    for (int i = 0; i < before; i++)
        gone += !s_alive (keepers[i]);
    TR_ASSERT_EQ_INT (gone, S_KEEPERS ? 1 : 0);  //  the dead child's only
    tr_runtime_destroy (&rt);
    for (int i = 0; i < before; i++)
        TR_ASSERT (!s_alive (keepers[i]));
}

//  A child over its memory limit is killed with that reason and restarted.
static void
test_memory_limit (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {.behaviour = "t.worker",
                              .max_retries = 1,
                              .heartbeat_ms = 20,
                              .memory_limit = S_MEMORY_LIMIT,
                              .heartbeat_timeout_ms = S_HEARTBEAT_TIMEOUT_MS};
    tr_ref_t pool;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_ASSERT_EQ_INT (tr_call (rt, pool, tr_type ("t.hog"), NULL, 0, 10000, NULL, NULL),
                      TR_EPOISON);
    tr_process_stats_t stats;
    TR_CHECK (tr_process_stats (rt, pool, &stats));
    TR_ASSERT_EQ_INT (stats.last_exit_reason, TR_EMEMLIMIT);
    TR_CHECK (tr_call (rt, pool, tr_type ("t.echo"), "ok", 2, 5000, NULL, NULL));
    tr_runtime_destroy (&rt);
}

//  A poison message is dead-lettered after max_retries while the good ones
//  around it are all answered.
static void
test_poison_among_good (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {.behaviour = "t.worker",
                              .replicas = 2,
                              .max_retries = 2,
                              .heartbeat_timeout_ms = S_HEARTBEAT_TIMEOUT_MS};
    tr_ref_t pool;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_CHECK (tr_runtime_send (rt, pool, tr_type ("t.maybe"), "poison", 6));
    int good = 0;
    for (int i = 0; i < 100; i++) {
        char text[16];
        int length = snprintf (text, sizeof text, "good %d", i);
        char *reply = NULL;
        size_t size = 0;
        if (tr_call (rt, pool, tr_type ("t.maybe"), text, (size_t) length, 5000, (void **) &reply,
                     &size)
                == 0
            && size == (size_t) length && memcmp (reply, text, size) == 0)
            good++;
        tr_free (reply);
    }
    TR_ASSERT_EQ_INT (good, 100);
    tr_process_stats_t stats;
    for (int tries = 0; tries < 200; tries++) {
        TR_CHECK (tr_process_stats (rt, pool, &stats));
        if (stats.poisoned)
            break;
        usleep (10000);
    }
    TR_ASSERT_EQ_INT ((int) stats.poisoned, 1);
    TR_ASSERT (tr_dead_letter_count (rt, TR_EPOISON) == 1);
    tr_runtime_destroy (&rt);
}

//  A pool under a supervisor: when its children restart too often the pool
//  fails, and the supervisor starts a new pool that serves again.
static void
test_supervised_pool (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t process = {.behaviour = "t.worker",
                                 .restart_intensity = 2,
                                 .restart_period_ms = 60000,
                                 .spares = TR_NO_SPARES};
    tr_child_spec_t children[] = {{.id = "workers", .process = &process, .name = "workers"}};
    tr_supervisor_spec_t spec = {.children = children, .child_count = 1};
    tr_ref_t sup;
    TR_CHECK (tr_supervisor_start (rt, &spec, NULL, &sup));
    tr_ref_t first = TR_REF_NONE;
    for (int tries = 0; tries < 200 && !first; tries++) {
        first = tr_whereis (rt, "workers");
        if (!first)
            usleep (5000);
    }
    TR_ASSERT (first);
    char *reply = NULL;
    size_t size = 0;
    int rc = TR_ETIMEDOUT;
    for (int tries = 0; tries < 100 && rc != 0; tries++)
        rc = tr_call (rt, first, tr_type ("t.echo"), "a", 1, 1000, NULL, NULL);
    TR_CHECK (rc);
    //  Three child deaths: past the pool's intensity of two.
    for (int kills = 0; kills < 3; kills++) {
        int pids[1] = {0};
        size_t count = 0;
        for (int tries = 0; tries < 200 && pids[0] <= 0; tries++) {
            if (tr_process_pids (rt, first, pids, 1, &count) != 0)
                break;
            if (pids[0] <= 0)
                usleep (5000);
        }
        if (pids[0] > 0)
            kill (pids[0], SIGKILL);
        usleep (50000);
    }
    tr_ref_t second = TR_REF_NONE;
    for (int tries = 0; tries < 400; tries++) {
        second = tr_whereis (rt, "workers");
        if (second && second != first)
            break;
        usleep (5000);
    }
    TR_ASSERT (second && second != first);
    rc = TR_ETIMEDOUT;
    for (int tries = 0; tries < 100 && rc != 0; tries++)
        rc = tr_call (rt, second, tr_type ("t.echo"), "b", 1, 1000, (void **) &reply, &size);
    TR_CHECK (rc);
    TR_ASSERT (size == 1 && reply[0] == 'b');
    tr_free (reply);
    tr_child_info_t info[1];
    size_t count = 0;
    TR_CHECK (tr_supervisor_children (rt, sup, info, 1, &count));
    TR_ASSERT_EQ_INT ((int) info[0].restarts, 1);
    TR_ASSERT_EQ_INT (info[0].last_reason, TR_EESCALATED);
    tr_runtime_destroy (&rt);
}

//  The zygote killed: its children die with it, and the pool that cannot
//  restart them fails (DOWN with TR_EESCALATED) instead of going silent.
static void
test_zygote_killed (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {.behaviour = "t.worker", .restart_intensity = 3};
    tr_ref_t pool, watcher;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_CHECK (tr_spawn (rt, "t.watcher", NULL, 0, NULL, &watcher));
    TR_CHECK (tr_runtime_send (rt, watcher, tr_type ("t.watch"), &pool, sizeof pool));
    int zygote = tr_test_child_named ("troupe-zygote");
    TR_ASSERT (zygote > 0);
    TR_ASSERT (kill (zygote, SIGKILL) == 0);
    TR_ASSERT_EQ_INT (s_down_reason (rt, watcher), TR_EESCALATED);
    tr_runtime_destroy (&rt);
}

//  One-way messages are confirmed only once handled: a child killed with a
//  backlog of them gets it redelivered, and every one is confirmed once.
//  Enough 2 ms messages (2 s of work) that some are still unconfirmed when
//  the test looks, even on a loaded machine.
#define S_ONEWAY 1000

static void
test_oneway_redelivered (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {.behaviour = "t.worker",
                              .heartbeat_timeout_ms = S_HEARTBEAT_TIMEOUT_MS};
    tr_ref_t pool;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    for (int i = 0; i < S_ONEWAY; i++)
        TR_CHECK (tr_runtime_send (rt, pool, tr_type ("t.slow_oneway"), NULL, 0));
    //  Batches of 64 at 2 ms: kill once the first batch was confirmed, with
    //  the rest still waiting in the child.
    tr_process_stats_t before;
    for (int tries = 0; tries < 1000; tries++) {
        TR_CHECK (tr_process_stats (rt, pool, &before));
        if (before.answered > 0)
            break;
        usleep (10000);
    }
    TR_ASSERT (before.answered > 0 && before.answered < S_ONEWAY);
    int pids[1];
    size_t count = 0;
    TR_CHECK (tr_process_pids (rt, pool, pids, 1, &count));
    TR_ASSERT (kill (pids[0], SIGKILL) == 0);
    tr_process_stats_t stats;
    for (int tries = 0; tries < 2000; tries++) {
        TR_CHECK (tr_process_stats (rt, pool, &stats));
        if (stats.answered == S_ONEWAY && stats.in_flight == 0 && stats.queued == 0)
            break;
        usleep (10000);
    }
    printf ("one-way: %llu confirmed, %llu redelivered after the kill\n",
            (unsigned long long) stats.answered, (unsigned long long) stats.redelivered);
    TR_ASSERT_EQ_INT ((int) stats.answered, S_ONEWAY);
    //  Nothing confirmed before it ran (some redelivered), and nothing
    //  confirmed sent again (at most what was unconfirmed at the kill).
    TR_ASSERT (stats.redelivered >= 1 && stats.redelivered <= S_ONEWAY - before.answered);
    TR_ASSERT_EQ_INT ((int) stats.in_flight, 0);
    tr_runtime_destroy (&rt);
}

//  A handler that fails ends its child; what was queued behind it is not
//  answered by the dying child but redelivered to the next one.
static void
test_failing_handler_queue (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {.behaviour = "t.worker",
                              .heartbeat_timeout_ms = S_HEARTBEAT_TIMEOUT_MS};
    tr_ref_t pool, blaster;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_CHECK (tr_spawn (rt, "t.blaster", NULL, 0, NULL, &blaster));
    TR_CHECK (tr_runtime_send (rt, pool, tr_type ("t.fail"), NULL, 0));
    struct {
        tr_ref_t pool;
        int32_t count;
    } __attribute__ ((packed)) blast = {pool, 20};
    TR_CHECK (tr_runtime_send (rt, blaster, tr_type ("t.blast"), &blast, sizeof blast));
    TR_CHECK (tr_call (rt, blaster, tr_type ("t.wait"), NULL, 0, 30000, NULL, NULL));
    int32_t *result = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, blaster, tr_type ("t.result"), NULL, 0, 1000, (void **) &result, &size));
    TR_ASSERT_EQ_INT (result[0], 20);  //  answered once each
    TR_ASSERT_EQ_INT (result[2], 0);   //  no error reply
    tr_free (result);
    tr_runtime_destroy (&rt);
}

//  Destroy leaves no child, no zombie, no run directory.
static void
test_nothing_left (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_process_spec_t spec = {.behaviour = "t.worker", .replicas = 3};
    tr_ref_t pool;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    int pids[3];
    size_t count = 0;
    TR_CHECK (tr_process_pids (rt, pool, pids, 3, &count));
    TR_ASSERT_EQ_INT ((int) count, 3);
    for (int i = 0; i < 3; i++)
        TR_ASSERT (s_alive (pids[i]));
    //  Each child's keeper (and the spare's, once it has started).
    int keepers[8], keeper_count = 0;
    for (int i = 0; i < 500 && (keeper_count = s_keepers (keepers, 8)) < (S_KEEPERS ? 4 : 0); i++)
        usleep (2000);
    TR_ASSERT_EQ_INT (keeper_count, S_KEEPERS ? 4 : 0);
    tr_runtime_destroy (&rt);
    for (int i = 0; i < 3; i++)
        TR_ASSERT (!s_alive (pids[i]));  //  gone, and reaped (no zombie answers kill 0)
    for (int i = 0; i < keeper_count; i++)
        TR_ASSERT (!s_alive (keepers[i]));
    //  No child of ours left at all (the zygote was reaped too).
    TR_ASSERT (waitpid (-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    char base[64], prefix[64];
    snprintf (base, sizeof base, "/tmp/troupe-%u", (unsigned) getuid ());
    snprintf (prefix, sizeof prefix, "node-%d-", (int) getpid ());
    DIR *dir = opendir (base);
    struct dirent *entry;
    int left = 0;
    while (dir && (entry = readdir (dir)))
        if (strncmp (entry->d_name, prefix, strlen (prefix)) == 0)
            left++;
    if (dir)
        closedir (dir);
    TR_ASSERT_EQ_INT (left, 0);
}

//  If the node dies without destroying anything, its children die too.
static void
test_no_orphans (void)
{
    int pipe_fds[2];
    TR_ASSERT (pipe (pipe_fds) == 0);
    pid_t node = fork ();
    TR_ASSERT (node >= 0);
    if (node == 0) {
        tr_runtime_t *rt = tr_test_runtime (2);
        tr_process_spec_t spec = {.behaviour = "t.worker", .replicas = 2};
        tr_ref_t pool;
        int pids[2] = {0, 0};
        size_t count = 0;
        if (tr_process_start (rt, &spec, &pool) == 0)
            tr_process_pids (rt, pool, pids, 2, &count);
        if (write (pipe_fds[1], pids, sizeof pids) != sizeof pids)
            _exit (2);
        _exit (0);  //  no destroy: the node just dies
    }
    int pids[2] = {0, 0};
    TR_ASSERT (read (pipe_fds[0], pids, sizeof pids) == sizeof pids);
    TR_ASSERT (waitpid (node, NULL, 0) == node);
    TR_ASSERT (pids[0] > 0 && pids[1] > 0);
    int64_t deadline = s_now_ms () + 3000;
    while ((s_alive (pids[0]) || s_alive (pids[1])) && s_now_ms () < deadline)
        usleep (10000);
    TR_ASSERT (!s_alive (pids[0]) && !s_alive (pids[1]));
    close (pipe_fds[0]);
    close (pipe_fds[1]);
}

int
main (void)
{
    //  Before the first runtime: children are copies of the process then.
    TR_CHECK (tr_behaviour_register (&s_worker));
    TR_CHECK (tr_behaviour_register (&s_blaster));
    TR_CHECK (tr_behaviour_register (&s_watcher));
    test_no_orphans ();
    test_kill_with_requests_in_flight ();
    test_poison_among_good ();
    test_hang ();
    test_memory_limit ();
    test_crash_every_message ();
    test_supervised_pool ();
    test_zygote_killed ();
    test_oneway_redelivered ();
    test_failing_handler_queue ();
    test_main_thread_ends ();
    test_nothing_left ();
    TR_PASS ();
    return 0;
}
