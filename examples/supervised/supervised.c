//  supervised - a crash-prone worker under a one_for_one root supervisor:
//  each crash is followed by a restart, until the worker crashes more often
//  than the supervisor's intensity allows and the root gives up. In between,
//  a process pool whose children really segfault: the node carries on.
//
//  Build: part of the main build (build/supervised), or against an installed
//  troupe: cc supervised.c $(pkg-config --cflags --libs troupe)
//  Exit status: 0 when everything behaved as expected (it runs as a test);
//  it prints the status a real host would exit with (70).

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <troupe.h>

#define REQUESTS    20  //  "work" requests in the first part
#define CRASH_EVERY 5   //  the worker crashes on every 5th request it handles
#define PERIOD_MS   10000
//  Restarts allowed within PERIOD_MS. The first part crashes REQUESTS /
//  CRASH_EVERY = 4 times, so this must be at least 4; with 5, the last
//  part takes two crashes: one more restart, then the root gives up.
#define INTENSITY     5
#define SEGV_REQUESTS 9  //  requests to the process pool
#define SEGV_EVERY    3  //  its child segfaults on every 3rd request it handles

//  The worker's state. It is zeroed for every incarnation: a restart
//  starts the count again from 0.
typedef struct {
    int32_t handled;
} worker_t;

//  "work": count the request and answer with the count, except on every
//  CRASH_EVERY-th one, where the handler fails. The runtime then answers the
//  request with the exit reason and the supervisor restarts the worker.
static int
s_work (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    worker_t *worker = state;
    if (++worker->handled % CRASH_EVERY == 0)
        return TR_EFAILED;
    return tr_reply (self, msg, &worker->handled, sizeof worker->handled);
}

//  "crash": fail at once.
static int
s_crash (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    return TR_EFAILED;
}

static const tr_handler_t s_worker_handlers[] = {
    {"work", s_work}, {"crash", s_crash}, {NULL, NULL}};
static const tr_behaviour_t s_worker = {
    .name = "worker", .state_size = sizeof (worker_t), .handlers = s_worker_handlers};

//  "segv", run in child processes: like "work", but every SEGV_EVERY-th
//  request writes through a NULL pointer. The compiler cannot see that it is
//  NULL (volatile), so this is a real segmentation fault, in the child.
static int *volatile s_nowhere = NULL;

static int
s_segv (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    worker_t *worker = state;
    if (++worker->handled % SEGV_EVERY == 0)
        *s_nowhere = 1;
    return tr_reply (self, msg, &worker->handled, sizeof worker->handled);
}

static const tr_handler_t s_segv_handlers[] = {{"work", s_segv}, {NULL, NULL}};
static const tr_behaviour_t s_segv_behaviour = {
    .name = "segv", .state_size = sizeof (worker_t), .handlers = s_segv_handlers};

//  The current incarnation of the worker: wait until the name "worker" is
//  held by an actor other than `old` (the supervisor moves the name to each
//  new incarnation). Returns TR_REF_NONE if the root gives up (or after 2 s).
static tr_ref_t
s_next_worker (tr_runtime_t *rt, tr_ref_t old)
{
    for (int tries = 0; tries < 2000; tries++) {
        tr_ref_t ref = tr_whereis (rt, "worker");
        if (ref != TR_REF_NONE && ref != old)
            return ref;
        //  Sleep 1 ms. Any answer but TR_ETIMEDOUT means the root gave up.
        if (tr_runtime_wait (rt, 1) != TR_ETIMEDOUT)
            return TR_REF_NONE;
    }
    return TR_REF_NONE;
}

int
main (void)
{
    static const char *state_names[] = {"running", "stopping", "restarting", "done"};
    static const tr_child_spec_t children[] = {
        {.id = "worker", .behaviour = "worker", .restart = TR_PERMANENT, .name = "worker"}};
    tr_supervisor_spec_t spec = {.strategy = TR_ONE_FOR_ONE,
                                 .intensity = INTENSITY,
                                 .period_ms = PERIOD_MS,
                                 .children = children,
                                 .child_count = 1};
    //  Register before tr_runtime_new: it forks the zygote that process
    //  actors are forked from, a copy of this process as it is then.
    bool ok =
        tr_behaviour_register (&s_worker) == 0 && tr_behaviour_register (&s_segv_behaviour) == 0;
    tr_runtime_t *rt = tr_runtime_new (NULL);
    tr_ref_t root = TR_REF_NONE;
    if (!ok || !rt || tr_runtime_start (rt) != 0 || tr_runtime_root (rt, &spec, &root) != 0) {
        fprintf (stderr, "supervised: cannot start\n");
        tr_runtime_destroy (&rt);
        return 1;
    }

    //  1. Requests: every CRASH_EVERY-th one fails with the worker's exit
    //  reason; the next request goes to the restarted worker.
    tr_ref_t worker = s_next_worker (rt, TR_REF_NONE);
    int answered = 0, crashed = 0;
    for (int i = 1; i <= REQUESTS; i++) {
        int32_t count = 0;
        void *reply = NULL;
        size_t size = 0;
        int rc = tr_call (rt, worker, tr_type ("work"), NULL, 0, 1000, &reply, &size);
        if (rc == 0 && size == sizeof count) {
            memcpy (&count, reply, sizeof count);
            printf ("request %2d: answered, count %d\n", i, (int) count);
            answered++;
        }
        else {
            printf ("request %2d: failed: %s\n", i, tr_strerror (rc));
            crashed += rc == TR_EFAILED;
            worker = s_next_worker (rt, worker);
        }
        tr_free (reply);
    }
    ok = ok && answered == REQUESTS - REQUESTS / CRASH_EVERY && crashed == REQUESTS / CRASH_EVERY;

    //  2. What the supervisor knows: its child, and one record per restart.
    tr_child_info_t info[1];
    tr_restart_record_t records[8];
    size_t info_count = 0, record_count = 0;
    ok = ok && tr_supervisor_children (rt, root, info, 1, &info_count) == 0
         && tr_supervisor_restarts (rt, root, records, 8, &record_count) == 0;
    for (size_t i = 0; i < info_count; i++)
        printf ("child %s: %s, %u restarts, last exit: %s\n", info[i].id,
                state_names[info[i].state], (unsigned) info[i].restarts,
                tr_strerror (info[i].last_reason));
    //  The backoff: 0 ms after the first crash, then about 10, 20, 40 ms.
    for (size_t i = 0; i < record_count; i++)
        printf ("restart %zu: %s (%s) at +%llu ms, after %u ms\n", i + 1, records[i].id,
                tr_strerror (records[i].reason),
                (unsigned long long) (records[i].at_ms - records[0].at_ms),
                (unsigned) records[i].delay_ms);
    ok = ok && info_count == 1 && info[0].restarts == (uint32_t) crashed
         && record_count == (size_t) crashed;

    //  3. A process pool of "segv" (one child, plus a warm spare). A child
    //  that segfaults dies alone; the spare takes its place at once. With
    //  max_retries 1 the request it held is poison at once: TR_EPOISON.
    tr_process_spec_t process = {.behaviour = "segv",
                                 .max_retries = 1,
                                 .heartbeat_timeout_ms = 5000};  //  room for sanitizer builds
    tr_ref_t pool = TR_REF_NONE;
    int poisoned = 0;
    ok = ok && tr_process_start (rt, &process, &pool) == 0;
    for (int i = 1; ok && i <= SEGV_REQUESTS; i++) {
        int32_t count = 0;
        void *reply = NULL;
        size_t size = 0;
        int rc = tr_call (rt, pool, tr_type ("work"), NULL, 0, 5000, &reply, &size);
        if (rc == 0 && size == sizeof count) {
            memcpy (&count, reply, sizeof count);
            printf ("segv request %d: answered, count %d\n", i, (int) count);
        }
        else
            printf ("segv request %d: %s\n", i, tr_strerror (rc));
        poisoned += rc == TR_EPOISON;
        tr_free (reply);
    }
    tr_process_stats_t stats;
    ok = ok && tr_process_stats (rt, pool, &stats) == 0;
    printf ("pool: %llu answered, %llu poisoned, %llu restarts, last exit: %s; "
            "the node (pid %d) is still here\n",
            (unsigned long long) stats.answered, (unsigned long long) stats.poisoned,
            (unsigned long long) stats.restarts, tr_strerror (stats.last_exit_reason),
            (int) getpid ());
    ok = ok && poisoned == SEGV_REQUESTS / SEGV_EVERY && stats.poisoned == (uint64_t) poisoned
         && stats.restarts == (uint64_t) poisoned
         && stats.answered == (uint64_t) (SEGV_REQUESTS - poisoned);

    //  4. Crash until more than INTENSITY restarts fall within PERIOD_MS: the
    //  root stops its children, fails with TR_EESCALATED, and
    //  tr_runtime_wait returns TR_EXIT_ESCALATED.
    int crashes = 0;
    while (worker != TR_REF_NONE && crashes < 2 * INTENSITY) {
        int rc = tr_call (rt, worker, tr_type ("crash"), NULL, 0, 1000, NULL, NULL);
        printf ("crash %d: %s\n", ++crashes, tr_strerror (rc));
        worker = s_next_worker (rt, worker);
    }
    int status = tr_runtime_wait (rt, 5000);
    printf ("tr_runtime_wait: %d (TR_EXIT_ESCALATED is %d)\n", status, TR_EXIT_ESCALATED);
    ok = ok && crashes == INTENSITY - crashed + 1 && status == TR_EXIT_ESCALATED;

    //  A real host stops here: destroy the runtime, exit with the status.
    tr_runtime_destroy (&rt);
    printf ("a host would exit with status %d; all as expected: %s\n", status, ok ? "yes" : "no");
    return ok ? 0 : 1;
}
