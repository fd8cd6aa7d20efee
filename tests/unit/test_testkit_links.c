//  test_testkit_links - the deterministic test kit (one thread, virtual
//  time) when actors fail: exit reasons and monitors, links and trapped
//  exits, request continuations (reply, error, timeout, dead target),
//  overflow policies, and the bad inputs of spawn and the handler context
#include "testkit_helpers.h"

#include <stdint.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Behaviours

//  Shared init: the state starts with the probe ref passed as spawn arg.
static int
s_probe_arg_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    if (arg_size != sizeof (tr_ref_t))
        return -1;
    memcpy (state, arg, sizeof (tr_ref_t));
    return 0;
}

//  Shared: forward the message (type and payload) to the probe in state.
static int
s_forward (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    tr_ref_t probe;
    memcpy (&probe, state, sizeof probe);
    return tr_send (self, probe, msg->type, msg->data, msg->size);
}

//  watcher: monitors the ref in "watch", forwards DOWN to its probe
typedef struct {
    tr_ref_t probe;
} s_watcher_t;

static int
s_watcher_watch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_ref_t target;
    if (msg->size != sizeof target)
        return TR_EINVAL;
    memcpy (&target, msg->data, sizeof target);
    return msg->type == s_watch ? tr_monitor (self, target) : tr_demonitor (self, target);
}

static const tr_handler_t s_watcher_handlers[] = {
    {"watch", s_watcher_watch}, {"unwatch", s_watcher_watch}, {"tr.down", s_forward}, {NULL, NULL}};
static const tr_behaviour_t s_watcher = {
    .name = "watcher",
    .state_size = sizeof (s_watcher_t),
    .init = s_probe_arg_init,
    .handlers = s_watcher_handlers,
};

//  linker: links to the ref in "link", may trap exits, forwards EXIT
static int
s_linker_link (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_ref_t target;
    if (msg->size != sizeof target)
        return TR_EINVAL;
    memcpy (&target, msg->data, sizeof target);
    return tr_link (self, target);
}

static int
s_linker_trap (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    (void) msg;
    tr_trap_exits (self, true);
    return 0;
}

static const tr_handler_t s_linker_handlers[] = {{"link", s_linker_link}, {"trap", s_linker_trap},
                                                 {"tr.exit", s_forward},  {"fail", s_on_fail},
                                                 {"stop", s_on_stop},     {NULL, NULL}};
static const tr_behaviour_t s_linker = {
    .name = "linker",
    .state_size = sizeof (tr_ref_t),
    .init = s_probe_arg_init,
    .handlers = s_linker_handlers,
};

//  requester: "ask" makes a tr_request; the outcome goes to the probe
typedef struct {
    tr_ref_t target;
    tr_type_t type;
    int32_t timeout_ms;
} s_ask_t;

typedef struct {
    int32_t rc;
    int32_t from_continuation;  //  0: tr_request itself failed
    int64_t value;
    uint32_t flags;
    int32_t arg_ok;
    int32_t had_reply;
} s_answer_t;

static int s_cookie;  //  the continuation's arg

//  Late replies counted after a request that failed at once (should be 0).
static uint64_t s_spurious_late_replies;

static void
s_requester_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    s_answer_t answer = {rc, 1, -1, 0, arg == &s_cookie, reply != NULL};
    if (reply) {
        answer.flags = reply->flags;
        if (reply->size == sizeof answer.value)
            memcpy (&answer.value, reply->data, sizeof answer.value);
    }
    s_forward (self, state, &(tr_msg_t){.type = s_answer, .data = &answer, .size = sizeof answer});
}

static int
s_requester_ask (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_ask_t ask;
    if (msg->size != sizeof ask)
        return TR_EINVAL;
    memcpy (&ask, msg->data, sizeof ask);
    int rc = tr_request (self, ask.target, ask.type, NULL, 0, ask.timeout_ms, s_requester_reply,
                         &s_cookie);
    if (rc != 0) {
        s_answer_t answer = {rc, 0, -1, 0, 0, 0};
        s_forward (self, state,
                   &(tr_msg_t){.type = s_answer, .data = &answer, .size = sizeof answer});
    }
    return 0;
}

static const tr_handler_t s_requester_handlers[] = {{"ask", s_requester_ask}, {NULL, NULL}};
static const tr_behaviour_t s_requester = {
    .name = "requester",
    .state_size = sizeof (tr_ref_t),
    .init = s_probe_arg_init,
    .handlers = s_requester_handlers,
};

//  silent: keeps "get" requests unanswered until "release"
typedef struct {
    tr_msg_t held;
    bool holding;
} s_silent_t;

static int
s_silent_get (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_silent_t *silent = state;
    silent->held = *msg;
    silent->held.data = NULL;  //  only from and corr are kept
    silent->held.size = 0;
    silent->holding = true;
    return 0;
}

static int
s_silent_release (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_silent_t *silent = state;
    if (!silent->holding)
        return 0;
    silent->holding = false;
    int64_t value = 99;
    return tr_reply (self, &silent->held, &value, sizeof value);
}

static const tr_handler_t s_silent_handlers[] = {
    {"get", s_silent_get}, {"release", s_silent_release}, {NULL, NULL}};
static const tr_behaviour_t s_silent = {
    .name = "silent",
    .state_size = sizeof (s_silent_t),
    .handlers = s_silent_handlers,
};

//  recorder: forwards "item" messages to its probe (overflow tests)
static const tr_handler_t s_recorder_handlers[] = {{"item", s_forward}, {NULL, NULL}};
static const tr_behaviour_t s_recorder = {
    .name = "recorder",
    .state_size = sizeof (tr_ref_t),
    .init = s_probe_arg_init,
    .handlers = s_recorder_handlers,
};

//  bad_init: init fails (negative, then positive result)
static int
s_bad_init_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    (void) state;
    (void) arg_size;
    return arg ? 7 : -1;
}

static const tr_behaviour_t s_bad_init = {
    .name = "bad_init",
    .init = s_bad_init_init,
    .handlers = s_no_handlers,
};

//  checker: "check" feeds bad input to the handler-side API and replies
//  with every return code; "err" replies with a positive error code
#define S_CHECKS 20

static void
s_ignore_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    (void) self;
    (void) state;
    (void) rc;
    (void) reply;
    (void) arg;
}

static int
s_checker_check (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    int32_t rc[S_CHECKS];
    tr_ref_t me = tr_self (self);
    int n = 0;
    rc[n++] = tr_send (self, me, TR_TYPE_NONE, NULL, 0);
    rc[n++] = tr_send (self, me, s_item, NULL, 5);
    tr_msg_t not_request = *msg;
    not_request.flags = 0;
    rc[n++] = tr_reply (self, &not_request, NULL, 0);
    tr_msg_t no_corr = *msg;
    no_corr.corr = 0;
    rc[n++] = tr_reply (self, &no_corr, NULL, 0);
    rc[n++] = tr_reply (self, NULL, NULL, 0);
    rc[n++] = tr_request (self, me, s_get, NULL, 0, 0, s_ignore_reply, NULL);
    rc[n++] = tr_request (self, me, s_get, NULL, 0, 100, NULL, NULL);
    rc[n++] = tr_request (self, me, TR_TYPE_NONE, NULL, 0, 100, s_ignore_reply, NULL);
    rc[n++] = tr_send_after (self, -1, me, s_item, NULL, 0, NULL);
    rc[n++] = tr_send_every (self, 0, me, s_item, NULL, 0, NULL);
    rc[n++] = tr_send_after (self, 10, me, TR_TYPE_NONE, NULL, 0, NULL);
    rc[n++] = tr_link (self, me);
    rc[n++] = tr_send_payload (self, me, s_item, NULL);
    void *payload = NULL;
    rc[n++] = tr_send_payload (self, me, s_item, &payload);
    payload = tr_payload_alloc (16);
    rc[n++] = tr_send_payload (self, me, TR_TYPE_NONE, &payload);
    rc[n++] = payload == NULL ? 0 : -1;  //  the buffer was taken even so
    rc[n++] = tr_timer_cancel (self, 0);
    tr_ref_t child = TR_REF_NONE;
    rc[n++] = tr_actor_spawn (self, "no-such-behaviour", NULL, 0, NULL, &child);
    rc[n++] = tr_actor_spawn (self, "bad_init", NULL, 0, NULL, &child);
    rc[n++] = tr_actor_spawn (self, "counter", NULL, 0, NULL, NULL);
    return tr_reply (self, msg, rc, sizeof rc);
}

static int
s_checker_err (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    return tr_reply_error (self, msg, 7);
}

static const tr_handler_t s_checker_handlers[] = {
    {"check", s_checker_check}, {"err", s_checker_err}, {NULL, NULL}};
static const tr_behaviour_t s_checker = {
    .name = "checker",
    .handlers = s_checker_handlers,
};

//  --------------------------------------------------------------------------
//  Helpers

static inline tr_down_t
s_down (const tr_msg_t *msg)
{
    tr_down_t down;
    TR_ASSERT_EQ_INT (msg->size, sizeof down);
    memcpy (&down, msg->data, sizeof down);
    return down;
}

static inline s_answer_t
s_answer_of (const tr_msg_t *msg)
{
    s_answer_t answer;
    TR_ASSERT_EQ_INT (msg->type, s_answer);
    TR_ASSERT_EQ_INT (msg->size, sizeof answer);
    memcpy (&answer, msg->data, sizeof answer);
    return answer;
}

static inline void
s_send_ref (tr_testkit_t *kit, tr_ref_t to, tr_type_t type, tr_ref_t ref)
{
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, to, type, &ref, sizeof ref));
}

//  --------------------------------------------------------------------------
//  Tests

static void
s_test_failure_and_monitors (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_ref_t probe = tr_testkit_probe (kit), replies = tr_testkit_probe (kit), watcher;
    TR_CHECK (tr_testkit_spawn (kit, "watcher", &probe, sizeof probe, &watcher));

    //  A negative handler result is the exit reason.
    tr_ref_t target;
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &target));
    s_send_ref (kit, watcher, s_watch, target);
    tr_testkit_run (kit);
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, probe, &(tr_msg_t){0}), TR_EAGAIN);
    s_send_i32 (kit, target, s_fail, -777);
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, target));
    TR_ASSERT (tr_testkit_alive (kit, watcher));
    tr_msg_t msg = s_expect (kit, probe);
    TR_ASSERT_EQ_INT (msg.type, TR_TYPE_DOWN);
    tr_down_t down = s_down (&msg);
    TR_ASSERT_EQ_INT (down.ref, target);
    TR_ASSERT_EQ_INT (down.reason, -777);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, TR_TYPE_DOWN), 0);  //  exactly one

    //  A positive result becomes TR_EFAILED.
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &target));
    s_send_ref (kit, watcher, s_watch, target);
    tr_testkit_run (kit);
    s_send_i32 (kit, target, s_fail, 5);
    tr_testkit_run (kit);
    msg = s_expect (kit, probe);
    TR_ASSERT_EQ_INT (s_down (&msg).reason, TR_EFAILED);

    //  tr_fail with a reason, and with a positive one.
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &target));
    s_send_ref (kit, watcher, s_watch, target);
    tr_testkit_run (kit);
    s_send_i32 (kit, target, s_abort, -999);
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, target));
    msg = s_expect (kit, probe);
    TR_ASSERT_EQ_INT (s_down (&msg).reason, -999);
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &target));
    s_send_ref (kit, watcher, s_watch, target);
    tr_testkit_run (kit);
    s_send_i32 (kit, target, s_abort, 3);
    tr_testkit_run (kit);
    msg = s_expect (kit, probe);
    TR_ASSERT_EQ_INT (s_down (&msg).reason, TR_EFAILED);

    //  A normal stop is reason 0.
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &target));
    s_send_ref (kit, watcher, s_watch, target);
    tr_testkit_run (kit);
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, target, s_stop, NULL, 0));
    tr_testkit_run (kit);
    msg = s_expect (kit, probe);
    down = s_down (&msg);
    TR_ASSERT_EQ_INT (down.ref, target);
    TR_ASSERT_EQ_INT (down.reason, 0);

    //  Monitoring a dead actor: one DOWN with TR_EDEAD at once.
    s_send_ref (kit, watcher, s_watch, target);
    tr_testkit_run (kit);
    msg = s_expect (kit, probe);
    down = s_down (&msg);
    TR_ASSERT_EQ_INT (down.ref, target);
    TR_ASSERT_EQ_INT (down.reason, TR_EDEAD);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, TR_TYPE_DOWN), 0);

    //  After demonitor: no DOWN.
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &target));
    s_send_ref (kit, watcher, s_watch, target);
    tr_testkit_run (kit);
    s_send_ref (kit, watcher, s_unwatch, target);
    tr_testkit_run (kit);
    s_send_i32 (kit, target, s_fail, -1);
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, target));
    TR_ASSERT_EQ_INT (s_drain (kit, probe, TR_TYPE_DOWN), 0);

    //  A request whose handler fails is answered with the reason.
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &target));
    int32_t reason = -888;
    TR_CHECK (tr_testkit_request (kit, replies, target, s_fail, &reason, sizeof reason));
    tr_testkit_run (kit);
    msg = s_expect (kit, replies);
    TR_ASSERT (msg.flags & TR_MSG_REPLY);
    TR_ASSERT (msg.flags & TR_MSG_ERROR);
    TR_ASSERT_EQ_INT (s_int32 (&msg), -888);
    TR_ASSERT_EQ_INT (s_drain (kit, replies, 0), 0);

    //  An error reply with a positive code arrives as TR_EFAILED.
    tr_ref_t checker;
    TR_CHECK (tr_testkit_spawn (kit, "checker", NULL, 0, &checker));
    TR_CHECK (tr_testkit_request (kit, replies, checker, s_err, NULL, 0));
    tr_testkit_run (kit);
    msg = s_expect (kit, replies);
    TR_ASSERT (msg.flags & TR_MSG_ERROR);
    TR_ASSERT_EQ_INT (s_int32 (&msg), TR_EFAILED);
    TR_ASSERT (tr_testkit_alive (kit, checker));
    tr_testkit_destroy (&kit);
}

static void
s_test_links (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_ref_t probe = tr_testkit_probe (kit), exits = tr_testkit_probe (kit), watcher;
    TR_CHECK (tr_testkit_spawn (kit, "watcher", &probe, sizeof probe, &watcher));

    //  b fails: a, linked to it, dies with TR_ELINKED.
    tr_ref_t a, b;
    TR_CHECK (tr_testkit_spawn (kit, "linker", &exits, sizeof exits, &a));
    TR_CHECK (tr_testkit_spawn (kit, "linker", &exits, sizeof exits, &b));
    s_send_ref (kit, watcher, s_watch, a);
    s_send_ref (kit, a, s_link, b);
    tr_testkit_run (kit);
    s_send_i32 (kit, b, s_fail, -55);
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, b));
    TR_ASSERT (!tr_testkit_alive (kit, a));
    tr_msg_t msg = s_expect (kit, probe);
    tr_down_t down = s_down (&msg);
    TR_ASSERT_EQ_INT (down.ref, a);
    TR_ASSERT_EQ_INT (down.reason, TR_ELINKED);
    TR_ASSERT_EQ_INT (s_drain (kit, exits, 0), 0);

    //  Both ways: the initiator fails, its partner dies.
    TR_CHECK (tr_testkit_spawn (kit, "linker", &exits, sizeof exits, &a));
    TR_CHECK (tr_testkit_spawn (kit, "linker", &exits, sizeof exits, &b));
    s_send_ref (kit, watcher, s_watch, b);
    s_send_ref (kit, a, s_link, b);
    tr_testkit_run (kit);
    s_send_i32 (kit, a, s_fail, -56);
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, a));
    TR_ASSERT (!tr_testkit_alive (kit, b));
    msg = s_expect (kit, probe);
    TR_ASSERT_EQ_INT (s_down (&msg).ref, b);
    TR_ASSERT_EQ_INT (s_down (&msg).reason, TR_ELINKED);

    //  A normal stop does not take the partner along.
    TR_CHECK (tr_testkit_spawn (kit, "linker", &exits, sizeof exits, &a));
    TR_CHECK (tr_testkit_spawn (kit, "linker", &exits, sizeof exits, &b));
    s_send_ref (kit, a, s_link, b);
    tr_testkit_run (kit);
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, b, s_stop, NULL, 0));
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, b));
    TR_ASSERT (tr_testkit_alive (kit, a));

    //  Trapping exits: a TR_TYPE_EXIT message instead, and it lives.
    tr_ref_t trapper, partner;
    TR_CHECK (tr_testkit_spawn (kit, "linker", &exits, sizeof exits, &trapper));
    TR_CHECK (tr_testkit_spawn (kit, "linker", &exits, sizeof exits, &partner));
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, trapper, s_trap, NULL, 0));
    s_send_ref (kit, trapper, s_link, partner);
    tr_testkit_run (kit);
    s_send_i32 (kit, partner, s_fail, -66);
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, partner));
    TR_ASSERT (tr_testkit_alive (kit, trapper));
    msg = s_expect (kit, exits);
    TR_ASSERT_EQ_INT (msg.type, TR_TYPE_EXIT);
    down = s_down (&msg);
    TR_ASSERT_EQ_INT (down.ref, partner);
    TR_ASSERT_EQ_INT (down.reason, -66);
    TR_ASSERT_EQ_INT (s_drain (kit, exits, TR_TYPE_EXIT), 0);

    //  Linking to a dead actor: it dies at once (TR_EDEAD counts as abnormal),
    //  a trapping one gets the exit with TR_EDEAD.
    s_send_ref (kit, trapper, s_link, partner);
    tr_testkit_run (kit);
    TR_ASSERT (tr_testkit_alive (kit, trapper));
    msg = s_expect (kit, exits);
    TR_ASSERT_EQ_INT (msg.type, TR_TYPE_EXIT);
    TR_ASSERT_EQ_INT (s_down (&msg).reason, TR_EDEAD);
    s_send_ref (kit, a, s_link, partner);
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, a));
    tr_testkit_destroy (&kit);
}

static void
s_test_requests (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_ref_t probe = tr_testkit_probe (kit), requester, counter, silent;
    TR_CHECK (tr_testkit_spawn (kit, "requester", &probe, sizeof probe, &requester));
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &counter));
    TR_CHECK (tr_testkit_spawn (kit, "silent", NULL, 0, &silent));
    s_inc_by (kit, counter, 42);
    tr_testkit_run (kit);
    uint64_t late = atomic_load (&rt->late_replies);

    //  Reply path: the continuation runs once with rc 0 and the reply.
    s_ask_t ask = {counter, s_get, 1000};
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, requester, s_ask, &ask, sizeof ask));
    tr_testkit_run (kit);
    tr_msg_t msg = s_expect (kit, probe);
    s_answer_t answer = s_answer_of (&msg);
    TR_ASSERT_EQ_INT (answer.rc, 0);
    TR_ASSERT_EQ_INT (answer.from_continuation, 1);
    TR_ASSERT_EQ_INT (answer.had_reply, 1);
    TR_ASSERT_EQ_INT (answer.value, 42);
    TR_ASSERT (answer.flags & TR_MSG_REPLY);
    TR_ASSERT_EQ_INT (answer.arg_ok, 1);
    tr_testkit_advance (kit, 2000);  //  past the deadline: no second call
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_answer), 0);
    TR_ASSERT_EQ_INT (atomic_load (&rt->late_replies), late);

    //  Error reply path: the code comes as rc, without a reply.
    ask = (s_ask_t){counter, s_bogus, 1000};
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, requester, s_ask, &ask, sizeof ask));
    tr_testkit_run (kit);
    msg = s_expect (kit, probe);
    answer = s_answer_of (&msg);
    TR_ASSERT_EQ_INT (answer.rc, TR_EUNKNOWN_TYPE);
    TR_ASSERT_EQ_INT (answer.from_continuation, 1);
    TR_ASSERT_EQ_INT (answer.had_reply, 0);
    tr_testkit_advance (kit, 2000);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_answer), 0);

    //  Timeout path: TR_ETIMEDOUT exactly once, at the deadline.
    ask = (s_ask_t){silent, s_get, 100};
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, requester, s_ask, &ask, sizeof ask));
    tr_testkit_run (kit);
    tr_testkit_advance (kit, 99);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_answer), 0);
    tr_testkit_advance (kit, 1);
    msg = s_expect (kit, probe);
    answer = s_answer_of (&msg);
    TR_ASSERT_EQ_INT (answer.rc, TR_ETIMEDOUT);
    TR_ASSERT_EQ_INT (answer.from_continuation, 1);
    TR_ASSERT_EQ_INT (answer.had_reply, 0);
    TR_ASSERT_EQ_INT (answer.arg_ok, 1);
    tr_testkit_advance (kit, 1000);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_answer), 0);
    //  The late reply is dropped and counted.
    TR_ASSERT_EQ_INT (atomic_load (&rt->late_replies), late);
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, silent, s_release, NULL, 0));
    tr_testkit_run (kit);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_answer), 0);
    TR_ASSERT_EQ_INT (atomic_load (&rt->late_replies), late + 1);
    TR_ASSERT (tr_testkit_alive (kit, requester));

    //  A request to a dead actor fails at once and its continuation never runs.
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, counter, s_stop, NULL, 0));
    tr_testkit_run (kit);
    uint64_t dead = tr_dead_letter_count (rt, TR_EDEAD);
    ask = (s_ask_t){counter, s_get, 100};
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, requester, s_ask, &ask, sizeof ask));
    tr_testkit_run (kit);
    msg = s_expect (kit, probe);
    answer = s_answer_of (&msg);
    TR_ASSERT_EQ_INT (answer.rc, TR_EDEAD);
    TR_ASSERT_EQ_INT (answer.from_continuation, 0);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EDEAD), dead + 1);
    tr_testkit_advance (kit, 1000);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_answer), 0);
    //  No reply came after a deadline here: late_replies must not move.
    //  Checked last in main, so that the other tests still run.
    s_spurious_late_replies = atomic_load (&rt->late_replies) - (late + 1);
    tr_testkit_destroy (&kit);
}

//  Fill a recorder (mailbox_limit 4, policy) with items 1..5; return the
//  send codes and what reached the probe.
static void
s_fill (tr_overflow_t policy, int rcs[5], int64_t seen[5], int *seen_count,
        uint64_t *overflow_letters)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_ref_t probe = tr_testkit_probe (kit), recorder;
    tr_spawn_opts_t opts = {.mailbox_limit = 4, .overflow = policy, .overflow_set = true};
    TR_CHECK (tr_spawn (rt, "recorder", &probe, sizeof probe, &opts, &recorder));
    uint64_t before = tr_dead_letter_count (rt, TR_EOVERFLOW);
    for (int64_t item = 1; item <= 5; item++)
        rcs[item - 1] = tr_testkit_send (kit, TR_REF_NONE, recorder, s_item, &item, sizeof item);
    tr_testkit_run (kit);
    *overflow_letters = tr_dead_letter_count (rt, TR_EOVERFLOW) - before;
    *seen_count = 0;
    tr_msg_t msg;
    while (tr_testkit_expect (kit, probe, &msg) == 0) {
        TR_ASSERT (*seen_count < 5);
        TR_ASSERT_EQ_INT (msg.type, s_item);
        seen[(*seen_count)++] = s_int64 (&msg);
    }
    //  Below the limit again: a new message is accepted.
    int64_t item = 6;
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, recorder, s_item, &item, sizeof item));
    tr_testkit_destroy (&kit);
}

static void
s_test_overflow (void)
{
    int rcs[5], count;
    int64_t seen[5];
    uint64_t letters;

    s_fill (TR_OVERFLOW_FAIL, rcs, seen, &count, &letters);
    for (int i = 0; i < 4; i++)
        TR_ASSERT_EQ_INT (rcs[i], 0);
    TR_ASSERT_EQ_INT (rcs[4], TR_EAGAIN);
    TR_ASSERT_EQ_INT (count, 4);
    for (int i = 0; i < 4; i++)
        TR_ASSERT_EQ_INT (seen[i], i + 1);
    TR_ASSERT_EQ_INT (letters, 0);  //  the sender was told; nothing was dropped

    s_fill (TR_OVERFLOW_DROP_NEWEST, rcs, seen, &count, &letters);
    for (int i = 0; i < 5; i++)
        TR_ASSERT_EQ_INT (rcs[i], 0);
    TR_ASSERT_EQ_INT (letters, 1);
    TR_ASSERT_EQ_INT (count, 4);
    for (int i = 0; i < 4; i++)
        TR_ASSERT_EQ_INT (seen[i], i + 1);

    s_fill (TR_OVERFLOW_DROP_OLDEST, rcs, seen, &count, &letters);
    for (int i = 0; i < 5; i++)
        TR_ASSERT_EQ_INT (rcs[i], 0);
    TR_ASSERT_EQ_INT (letters, 1);
    TR_ASSERT_EQ_INT (count, 4);
    for (int i = 0; i < 4; i++)
        TR_ASSERT_EQ_INT (seen[i], i + 2);

    //  Bad spawn options.
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_ref_t ref;
    tr_spawn_opts_t opts = {.overflow = (tr_overflow_t) 9, .overflow_set = true};
    TR_ASSERT_EQ_INT (tr_spawn (rt, "recorder", &ref, sizeof ref, &opts, &ref), TR_EINVAL);
    opts = (tr_spawn_opts_t){.thread = 5};
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    opts = (tr_spawn_opts_t){.name = ""};
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    tr_testkit_destroy (&kit);
}

static void
s_test_spawn_errors (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_ref_t ref = 12345;
    TR_ASSERT_EQ_INT (tr_testkit_spawn (kit, "no-such-behaviour", NULL, 0, &ref),
                      TR_EUNKNOWN_BEHAVIOUR);
    TR_ASSERT_EQ_INT (ref, TR_REF_NONE);
    TR_ASSERT_EQ_INT (tr_testkit_spawn (kit, NULL, NULL, 0, &ref), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_testkit_spawn (kit, "counter", NULL, 0, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_testkit_spawn (kit, "counter", NULL, 8, &ref), TR_EINVAL);
    ref = 12345;
    TR_ASSERT_EQ_INT (tr_testkit_spawn (kit, "bad_init", NULL, 0, &ref), TR_EINIT);
    TR_ASSERT_EQ_INT (ref, TR_REF_NONE);
    TR_ASSERT_EQ_INT (tr_testkit_spawn (kit, "bad_init", "x", 1, &ref), TR_EINIT);  //  positive
    //  The kit still works after failed spawns.
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &ref));
    TR_ASSERT (tr_testkit_alive (kit, ref));

    //  Handler-side bad input, all fed from inside one handler.
    tr_ref_t probe = tr_testkit_probe (kit), checker;
    TR_CHECK (tr_testkit_spawn (kit, "checker", NULL, 0, &checker));
    TR_CHECK (tr_testkit_request (kit, probe, checker, s_check, NULL, 0));
    tr_testkit_run (kit);
    tr_msg_t msg = s_expect (kit, probe);
    TR_ASSERT (!(msg.flags & TR_MSG_ERROR));
    int32_t rc[S_CHECKS];
    TR_ASSERT_EQ_INT (msg.size, sizeof rc);
    memcpy (rc, msg.data, sizeof rc);
    static const int32_t expected[S_CHECKS] = {
        TR_EINVAL, TR_EINVAL, TR_EINVAL, TR_EINVAL, TR_EINVAL, TR_EINVAL,
        TR_EINVAL, TR_EINVAL, TR_EINVAL, TR_EINVAL, TR_EINVAL, TR_EINVAL,
        TR_EINVAL, TR_EINVAL, TR_EINVAL, 0,         TR_ENOENT, TR_EUNKNOWN_BEHAVIOUR,
        TR_EINIT,  TR_EINVAL};
    for (int i = 0; i < S_CHECKS; i++) {
        if (rc[i] != expected[i])
            fprintf (stderr, "check %d: got %d (%s), expected %d\n", i, rc[i], tr_strerror (rc[i]),
                     expected[i]);
        TR_ASSERT_EQ_INT (rc[i], expected[i]);
    }
    TR_ASSERT (tr_testkit_alive (kit, checker));
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, probe, &msg), TR_EAGAIN);
    tr_testkit_destroy (&kit);
}

int
main (void)
{
    s_types_init ();
    TR_CHECK (tr_behaviour_register (&s_counter));
    TR_CHECK (tr_behaviour_register (&s_watcher));
    TR_CHECK (tr_behaviour_register (&s_linker));
    TR_CHECK (tr_behaviour_register (&s_requester));
    TR_CHECK (tr_behaviour_register (&s_silent));
    TR_CHECK (tr_behaviour_register (&s_recorder));
    TR_CHECK (tr_behaviour_register (&s_bad_init));
    TR_CHECK (tr_behaviour_register (&s_checker));

    s_test_failure_and_monitors ();
    s_test_links ();
    s_test_requests ();
    s_test_overflow ();
    s_test_spawn_errors ();
    if (s_spurious_late_replies)
        fprintf (stderr, "tr_request to a dead actor: its synthesized error reply was counted as "
                         "a late reply\n");
    TR_ASSERT_EQ_INT (s_spurious_late_replies, 0);
    TR_PASS ();
    return 0;
}
