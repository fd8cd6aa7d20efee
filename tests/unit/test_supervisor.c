//  test_supervisor - strategies, restart order, restart types, intensity and
//  escalation, backoff, nested supervisors, bad specs (test kit), and a
//  supervisor on real threads
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

//  Every worker appends "start:ID" / "stop:ID" here: the order is the test.
static char s_log[4096];

static pthread_mutex_t s_log_lock = PTHREAD_MUTEX_INITIALIZER;

//  Workers of the threaded test run on two threads: the log takes a lock.
static void
s_log_event (const char *event, const char *id)
{
    pthread_mutex_lock (&s_log_lock);
    size_t used = strlen (s_log);
    snprintf (s_log + used, sizeof s_log - used, "%s%s:%s", used ? " " : "", event, id);
    pthread_mutex_unlock (&s_log_lock);
}

typedef struct {
    char id[16];
} s_worker_t;

static int
s_worker_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    s_worker_t *worker = state;
    snprintf (worker->id, sizeof worker->id, "%.*s", (int) size, (const char *) arg);
    s_log_event ("start", worker->id);
    return 0;
}

static void
s_worker_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    (void) reason;
    s_log_event ("stop", ((s_worker_t *) state)->id);
}

static int
s_worker_crash (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    return TR_EFAILED;
}

static int
s_worker_quit (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    (void) msg;
    tr_stop (self);
    return 0;
}

static const tr_handler_t s_worker_handlers[] = {
    {"test.crash", s_worker_crash}, {"test.quit", s_worker_quit}, {NULL, NULL}};
static const tr_behaviour_t s_worker = {"test.worker",      sizeof (s_worker_t), s_worker_init,
                                        s_worker_terminate, s_worker_handlers,   NULL};

//  A watcher monitors the ref it is given and forwards DOWN to a probe.
typedef struct {
    tr_ref_t probe;
} s_watcher_t;

static int
s_watcher_watch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_watcher_t *watcher = state;
    tr_ref_t target;
    memcpy (&watcher->probe, msg->data, sizeof (tr_ref_t));
    memcpy (&target, (const char *) msg->data + sizeof (tr_ref_t), sizeof target);
    return tr_monitor (self, target);
}

static int
s_watcher_down (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_watcher_t *watcher = state;
    return tr_send (self, watcher->probe, TR_TYPE_DOWN, msg->data, msg->size);
}

static const tr_handler_t s_watcher_handlers[] = {
    {"test.watch", s_watcher_watch}, {"tr.down", s_watcher_down}, {NULL, NULL}};
static const tr_behaviour_t s_watcher = {"test.watcher", sizeof (s_watcher_t), NULL,
                                         NULL,           s_watcher_handlers,   NULL};

#define CHILD(ID, RESTART)                                                                 \
    {                                                                                      \
        .id = ID, .behaviour = "test.worker", .arg = ID, .arg_size = 1, .restart = RESTART \
    }

static tr_child_spec_t s_abc[] = {CHILD ("a", TR_PERMANENT), CHILD ("b", TR_PERMANENT),
                                  CHILD ("c", TR_PERMANENT)};

//  Children info of sup (in the kit: tr_call runs the kit until answered).
static size_t
s_children (tr_runtime_t *rt, tr_ref_t sup, tr_child_info_t *info)
{
    size_t count = 0;
    TR_CHECK (tr_supervisor_children (rt, sup, info, 8, &count));
    return count;
}

static void
s_crash (tr_testkit_t *kit, tr_ref_t ref)
{
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, ref, tr_type ("test.crash"), NULL, 0));
    tr_testkit_run (kit);
}

static void
test_strategy (tr_strategy_t strategy, const char *expected_log, bool a_same, bool c_same)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_supervisor_spec_t spec = {.strategy = strategy, .children = s_abc, .child_count = 3};
    tr_ref_t sup;
    s_log[0] = 0;
    TR_CHECK (tr_supervisor_start (rt, &spec, NULL, &sup));
    tr_testkit_run (kit);
    TR_ASSERT (strcmp (s_log, "start:a start:b start:c") == 0);
    tr_child_info_t before[8], after[8];
    TR_ASSERT_EQ_INT ((int) s_children (rt, sup, before), 3);
    s_log[0] = 0;
    s_crash (kit, before[1].ref);
    if (strcmp (s_log, expected_log) != 0) {
        fprintf (stderr, "strategy %d: log '%s', expected '%s'\n", strategy, s_log, expected_log);
        TR_ASSERT (false);
    }
    TR_ASSERT_EQ_INT ((int) s_children (rt, sup, after), 3);
    TR_ASSERT (after[1].ref != before[1].ref && after[1].ref != TR_REF_NONE);
    TR_ASSERT (tr_testkit_alive (kit, after[1].ref));
    TR_ASSERT_EQ_INT ((int) after[1].restarts, 1);
    TR_ASSERT_EQ_INT (after[1].last_reason, TR_EFAILED);
    TR_ASSERT ((after[0].ref == before[0].ref) == a_same);
    TR_ASSERT ((after[2].ref == before[2].ref) == c_same);
    tr_restart_record_t records[8];
    size_t count = 0;
    TR_CHECK (tr_supervisor_restarts (rt, sup, records, 8, &count));
    TR_ASSERT_EQ_INT ((int) count, 1);
    TR_ASSERT (strcmp (records[0].id, "b") == 0 && records[0].reason == TR_EFAILED);
    tr_testkit_destroy (&kit);
}

static void
test_intensity_and_backoff (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_supervisor_spec_t spec = {.strategy = TR_ONE_FOR_ONE,
                                 .intensity = 3,
                                 .period_ms = 10000,
                                 .backoff_ms = 100,
                                 .backoff_max_ms = 1000,
                                 .children = s_abc,
                                 .child_count = 1};
    tr_ref_t sup;
    TR_CHECK (tr_runtime_root (rt, &spec, &sup));
    tr_ref_t probe = tr_testkit_probe (kit);
    tr_ref_t watcher;
    TR_CHECK (tr_testkit_spawn (kit, "test.watcher", NULL, 0, &watcher));
    tr_ref_t watch[2] = {probe, sup};
    TR_CHECK (
        tr_testkit_send (kit, TR_REF_NONE, watcher, tr_type ("test.watch"), watch, sizeof watch));
    tr_testkit_run (kit);

    //  Three restarts fit the intensity, each after a longer backoff.
    uint32_t expected_delay[3] = {0, 100, 200};
    for (int round = 0; round < 3; round++) {
        tr_child_info_t info[8];
        s_children (rt, sup, info);
        TR_ASSERT (info[0].ref != TR_REF_NONE);
        s_crash (kit, info[0].ref);
        tr_restart_record_t records[8];
        size_t count = 0;
        TR_CHECK (tr_supervisor_restarts (rt, sup, records, 8, &count));
        TR_ASSERT_EQ_INT ((int) count, round + 1);
        uint32_t delay = records[round].delay_ms;
        //  +-20 % jitter around the doubling backoff.
        TR_ASSERT (delay * 5 >= expected_delay[round] * 4
                   && delay * 5 <= expected_delay[round] * 6);
        s_children (rt, sup, info);
        if (delay) {
            TR_ASSERT (info[0].ref == TR_REF_NONE && info[0].state == TR_CHILD_RESTARTING);
            tr_testkit_advance (kit, (int) delay - 1);
            s_children (rt, sup, info);
            TR_ASSERT (info[0].ref == TR_REF_NONE);  //  not before its delay
            tr_testkit_advance (kit, 1);
        }
        s_children (rt, sup, info);
        TR_ASSERT (info[0].ref != TR_REF_NONE && info[0].state == TR_CHILD_RUNNING);
    }
    TR_ASSERT_EQ_INT (tr_runtime_wait (rt, 0), TR_ETIMEDOUT);
    //  The fourth failure within the period: the root gives up.
    tr_child_info_t info[8];
    s_children (rt, sup, info);
    s_crash (kit, info[0].ref);
    TR_ASSERT (!tr_testkit_alive (kit, sup));
    TR_ASSERT_EQ_INT (tr_runtime_wait (rt, 0), TR_EXIT_ESCALATED);
    tr_msg_t msg;
    TR_CHECK (tr_testkit_expect (kit, probe, &msg));
    TR_ASSERT (msg.type == TR_TYPE_DOWN);
    tr_down_t down;
    memcpy (&down, msg.data, sizeof down);
    TR_ASSERT (down.ref == sup && down.reason == TR_EESCALATED);
    tr_testkit_destroy (&kit);
}

static void
test_restart_types (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_child_spec_t children[] = {CHILD ("t", TR_TRANSIENT), CHILD ("o", TR_TEMPORARY),
                                  CHILD ("u", TR_TRANSIENT)};
    tr_supervisor_spec_t spec = {.children = children, .child_count = 3};
    tr_ref_t sup;
    TR_CHECK (tr_supervisor_start (rt, &spec, "sup", &sup));
    TR_ASSERT (tr_whereis (rt, "sup") == sup);
    tr_testkit_run (kit);
    tr_child_info_t info[8];
    s_children (rt, sup, info);
    //  transient, normal exit: done. temporary, crash: done. transient, crash: restarted.
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, info[0].ref, tr_type ("test.quit"), NULL, 0));
    s_crash (kit, info[1].ref);
    s_crash (kit, info[2].ref);
    tr_child_info_t now[8];
    s_children (rt, sup, now);
    TR_ASSERT (now[0].state == TR_CHILD_DONE && now[0].ref == TR_REF_NONE);
    TR_ASSERT (now[1].state == TR_CHILD_DONE && now[1].ref == TR_REF_NONE);
    TR_ASSERT (now[2].state == TR_CHILD_RUNNING && now[2].ref != info[2].ref);
    tr_testkit_destroy (&kit);
}

static void
test_nested (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_supervisor_spec_t inner = {.intensity = 1, .children = s_abc, .child_count = 1};
    tr_child_spec_t outer_children[] = {
        {.id = "inner", .supervisor = &inner, .restart = TR_PERMANENT}, CHILD ("b", TR_PERMANENT)};
    tr_supervisor_spec_t outer = {
        .strategy = TR_ONE_FOR_ONE, .children = outer_children, .child_count = 2};
    tr_ref_t sup;
    s_log[0] = 0;
    TR_CHECK (tr_supervisor_start (rt, &outer, NULL, &sup));
    tr_testkit_run (kit);
    TR_ASSERT (strcmp (s_log, "start:a start:b") == 0);
    tr_child_info_t info[8], inner_info[8];
    TR_ASSERT_EQ_INT ((int) s_children (rt, sup, info), 2);
    tr_ref_t inner_ref = info[0].ref;
    s_children (rt, inner_ref, inner_info);
    //  The inner one restarts once (its intensity), then gives up; the outer
    //  restarts it, and with it a new "a".
    s_crash (kit, inner_info[0].ref);
    s_children (rt, inner_ref, inner_info);
    s_crash (kit, inner_info[0].ref);
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, inner_ref));
    s_children (rt, sup, info);
    TR_ASSERT (info[0].ref != inner_ref && info[0].ref != TR_REF_NONE);
    TR_ASSERT_EQ_INT (info[0].last_reason, TR_EESCALATED);
    TR_ASSERT_EQ_INT ((int) info[0].restarts, 1);
    TR_ASSERT_EQ_INT ((int) s_children (rt, info[0].ref, inner_info), 1);
    TR_ASSERT (tr_testkit_alive (kit, inner_info[0].ref));
    tr_testkit_destroy (&kit);
}

static void
test_bad_specs (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_ref_t sup;
    tr_child_spec_t twice[] = {CHILD ("a", TR_PERMANENT), CHILD ("a", TR_PERMANENT)};
    tr_supervisor_spec_t spec = {.children = twice, .child_count = 2};
    TR_ASSERT_EQ_INT (tr_supervisor_start (rt, &spec, NULL, &sup), TR_EINVAL);
    tr_child_spec_t unknown[] = {{.id = "x", .behaviour = "no.such.behaviour"}};
    spec = (tr_supervisor_spec_t){.children = unknown, .child_count = 1};
    TR_ASSERT_EQ_INT (tr_supervisor_start (rt, &spec, NULL, &sup), TR_EUNKNOWN_BEHAVIOUR);
    tr_child_spec_t no_id[] = {{.behaviour = "test.worker"}};
    spec = (tr_supervisor_spec_t){.children = no_id, .child_count = 1};
    TR_ASSERT_EQ_INT (tr_supervisor_start (rt, &spec, NULL, &sup), TR_EINVAL);
    spec = (tr_supervisor_spec_t){.strategy = (tr_strategy_t) 9};
    TR_ASSERT_EQ_INT (tr_supervisor_start (rt, &spec, NULL, &sup), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_supervisor_start (rt, NULL, NULL, &sup), TR_EINVAL);
    //  A request the supervisor does not know: an error reply, no crash.
    spec = (tr_supervisor_spec_t){.children = s_abc, .child_count = 1};
    TR_CHECK (tr_supervisor_start (rt, &spec, NULL, &sup));
    TR_ASSERT_EQ_INT (tr_call (rt, sup, tr_type ("test.nonsense"), NULL, 0, 100, NULL, NULL),
                      TR_EUNKNOWN_TYPE);
    TR_ASSERT (tr_testkit_alive (kit, sup));
    tr_testkit_destroy (&kit);
}

static void
test_threads (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_child_spec_t children[] = {
        {.id = "x", .behaviour = "test.worker", .arg = "x", .arg_size = 1, .thread = 1},
        {.id = "y", .behaviour = "test.worker", .arg = "y", .arg_size = 1, .thread = 2}};
    tr_supervisor_spec_t spec = {
        .strategy = TR_ONE_FOR_ALL, .children = children, .child_count = 2};
    tr_ref_t sup;
    TR_CHECK (tr_supervisor_start (rt, &spec, NULL, &sup));
    tr_child_info_t info[4], now[4];
    size_t count = 0;
    TR_CHECK (tr_supervisor_children (rt, sup, info, 4, &count));
    TR_ASSERT_EQ_INT ((int) count, 2);
    TR_CHECK (tr_runtime_send (rt, info[1].ref, tr_type ("test.crash"), NULL, 0));
    //  Both come back, with new refs (bounded wait).
    for (int tries = 0; tries < 200; tries++) {
        TR_CHECK (tr_supervisor_children (rt, sup, now, 4, &count));
        if (now[0].ref && now[1].ref && now[0].ref != info[0].ref && now[1].ref != info[1].ref)
            break;
        usleep (10000);
    }
    TR_ASSERT (now[0].ref != info[0].ref && now[1].ref != info[1].ref);
    TR_ASSERT (now[0].ref && now[1].ref);
    TR_ASSERT_EQ_INT ((int) now[1].restarts, 1);
    tr_runtime_destroy (&rt);
}

int
main (void)
{
    TR_CHECK (tr_behaviour_register (&s_worker));
    TR_CHECK (tr_behaviour_register (&s_watcher));
    test_strategy (TR_ONE_FOR_ONE, "stop:b start:b", true, true);
    test_strategy (TR_ONE_FOR_ALL, "stop:b stop:c stop:a start:a start:b start:c", false, false);
    test_strategy (TR_REST_FOR_ONE, "stop:b stop:c start:b start:c", true, false);
    test_intensity_and_backoff ();
    test_restart_types ();
    test_nested ();
    test_bad_specs ();
    test_threads ();
    TR_PASS ();
    return 0;
}
