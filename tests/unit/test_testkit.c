//  test_testkit - the deterministic test kit (one thread, virtual time):
//  replies, timers, dead letters, failures, monitors, links, request
//  continuations, overflow policies, and the bad inputs of the registry,
//  spawn and the handler context
#include "runtime.h"
#include "testutil.h"

#include <stdint.h>
#include <string.h>

static tr_type_t s_inc, s_get, s_stop, s_fail, s_abort, s_tick, s_beat, s_cancel, s_watch,
    s_unwatch, s_link, s_trap, s_ask, s_answer, s_release, s_item, s_bogus, s_check, s_err;

//  --------------------------------------------------------------------------
//  Behaviours

//  counter: adds int64 payloads, answers "get" with the count
typedef struct {
    int64_t count;
} s_counter_t;

static int
s_counter_inc (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    int64_t amount;
    if (msg->size != sizeof amount)
        return TR_EINVAL;
    memcpy (&amount, msg->data, sizeof amount);
    ((s_counter_t *) state)->count += amount;
    return 0;
}

static int
s_counter_get (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (!(msg->flags & TR_MSG_REQUEST))
        return 0;
    return tr_reply (self, msg, &((s_counter_t *) state)->count, sizeof (int64_t));
}

//  Shared by several behaviours: stop normally (answering a request first).
static int
s_on_stop (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    if (msg->flags & TR_MSG_REQUEST)
        tr_reply (self, msg, NULL, 0);
    tr_stop (self);
    return 0;
}

//  Return the int32 payload (default 1) from the handler: the actor fails.
static int
s_on_fail (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    int32_t reason = 1;
    if (msg->size == sizeof reason)
        memcpy (&reason, msg->data, sizeof reason);
    return reason;
}

//  Fail through tr_fail with the int32 payload, returning 0.
static int
s_on_abort (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    int32_t reason = 1;
    if (msg->size == sizeof reason)
        memcpy (&reason, msg->data, sizeof reason);
    tr_fail (self, reason);
    return 0;
}

static const tr_handler_t s_counter_handlers[] = {{"inc", s_counter_inc}, {"get", s_counter_get},
                                                  {"stop", s_on_stop},    {"fail", s_on_fail},
                                                  {"abort", s_on_abort},  {NULL, NULL}};
static const tr_behaviour_t s_counter = {
    .name = "counter",
    .state_size = sizeof (s_counter_t),
    .handlers = s_counter_handlers,
};

//  The same name with another table: registering it must fail.
static const tr_behaviour_t s_counter_impostor = {
    .name = "counter",
    .state_size = sizeof (s_counter_t),
    .handlers = s_counter_handlers,
};

//  ticker: init arms a one-shot and/or a periodic timer towards a probe
typedef struct {
    tr_ref_t probe;
    int32_t after_ms;  //  < 0: none
    int32_t every_ms;  //  <= 0: none
} s_ticker_arg_t;

typedef struct {
    uint64_t after_id, every_id;
} s_ticker_t;

static int
s_ticker_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    s_ticker_t *ticker = state;
    s_ticker_arg_t config;
    if (arg_size != sizeof config)
        return -1;
    memcpy (&config, arg, sizeof config);
    int rc = 0;
    if (config.after_ms >= 0)
        rc = tr_send_after (self, config.after_ms, config.probe, s_tick, "after", 5,
                            &ticker->after_id);
    if (rc == 0 && config.every_ms > 0)
        rc = tr_send_every (self, config.every_ms, config.probe, s_beat, "beat", 4,
                            &ticker->every_id);
    return rc;
}

//  Request: cancel a timer chosen by the int32 payload (0 periodic,
//  1 one-shot, 2 a made-up id, 3 id 0); replies with tr_timer_cancel's rc.
static int
s_ticker_cancel (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_ticker_t *ticker = state;
    int32_t which = 0;
    if (msg->size == sizeof which)
        memcpy (&which, msg->data, sizeof which);
    uint64_t id = which == 0   ? ticker->every_id
                  : which == 1 ? ticker->after_id
                  : which == 2 ? 0x00ad00000000beefULL
                               : 0;
    int32_t rc = tr_timer_cancel (self, id);
    return tr_reply (self, msg, &rc, sizeof rc);
}

static const tr_handler_t s_ticker_handlers[] = {
    {"cancel", s_ticker_cancel}, {"stop", s_on_stop}, {NULL, NULL}};
static const tr_behaviour_t s_ticker = {
    .name = "ticker",
    .state_size = sizeof (s_ticker_t),
    .init = s_ticker_init,
    .handlers = s_ticker_handlers,
};

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

//  catchall: counts messages of unknown types in its unhandled callback
static int
s_catchall_unhandled (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) msg;
    ((s_counter_t *) state)->count++;
    return 0;
}

static const tr_handler_t s_catchall_handlers[] = {{"get", s_counter_get}, {NULL, NULL}};
static const tr_behaviour_t s_catchall = {
    .name = "catchall",
    .state_size = sizeof (s_counter_t),
    .handlers = s_catchall_handlers,
    .unhandled = s_catchall_unhandled,
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

static const tr_handler_t s_no_handlers[] = {{NULL, NULL}};
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

//  Pop every message the probe holds; all must be of type. Returns how many.
static int
s_drain (tr_testkit_t *kit, tr_ref_t probe, tr_type_t type)
{
    int count = 0;
    tr_msg_t msg;
    while (tr_testkit_expect (kit, probe, &msg) == 0) {
        TR_ASSERT_EQ_INT (msg.type, type);
        count++;
    }
    return count;
}

//  Pop one message; it must be there.
static tr_msg_t
s_expect (tr_testkit_t *kit, tr_ref_t probe)
{
    tr_msg_t msg;
    TR_CHECK (tr_testkit_expect (kit, probe, &msg));
    return msg;
}

static int32_t
s_int32 (const tr_msg_t *msg)
{
    int32_t value;
    TR_ASSERT_EQ_INT (msg->size, sizeof value);
    memcpy (&value, msg->data, sizeof value);
    return value;
}

static int64_t
s_int64 (const tr_msg_t *msg)
{
    int64_t value;
    TR_ASSERT_EQ_INT (msg->size, sizeof value);
    memcpy (&value, msg->data, sizeof value);
    return value;
}

static tr_down_t
s_down (const tr_msg_t *msg)
{
    tr_down_t down;
    TR_ASSERT_EQ_INT (msg->size, sizeof down);
    memcpy (&down, msg->data, sizeof down);
    return down;
}

static s_answer_t
s_answer_of (const tr_msg_t *msg)
{
    s_answer_t answer;
    TR_ASSERT_EQ_INT (msg->type, s_answer);
    TR_ASSERT_EQ_INT (msg->size, sizeof answer);
    memcpy (&answer, msg->data, sizeof answer);
    return answer;
}

static void
s_send_i32 (tr_testkit_t *kit, tr_ref_t to, tr_type_t type, int32_t value)
{
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, to, type, &value, sizeof value));
}

static void
s_send_ref (tr_testkit_t *kit, tr_ref_t to, tr_type_t type, tr_ref_t ref)
{
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, to, type, &ref, sizeof ref));
}

static void
s_inc_by (tr_testkit_t *kit, tr_ref_t to, int64_t amount)
{
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, to, s_inc, &amount, sizeof amount));
}

//  --------------------------------------------------------------------------
//  Tests

static void
s_test_types_and_registry (void)
{
    TR_ASSERT_EQ_INT (tr_type (NULL), TR_TYPE_NONE);
    TR_ASSERT_EQ_INT (tr_type (""), TR_TYPE_NONE);
    TR_ASSERT_EQ_INT (tr_type ("has space"), TR_TYPE_NONE);
    TR_ASSERT_EQ_INT (tr_type ("tab\there"), TR_TYPE_NONE);
    TR_ASSERT_EQ_INT (tr_type ("caf\xc3\xa9"), TR_TYPE_NONE);  //  not printable ASCII
    char name[65];
    memset (name, 'x', 64);
    name[64] = '\0';
    TR_ASSERT_EQ_INT (tr_type (name), TR_TYPE_NONE);  //  64 bytes: too long
    name[63] = '\0';
    tr_type_t longest = tr_type (name);  //  63 bytes: the longest allowed
    TR_ASSERT (longest != TR_TYPE_NONE);
    TR_ASSERT (strcmp (tr_type_name (longest), name) == 0);

    //  Interning is stable and names round-trip.
    tr_type_t one = tr_type ("round.trip");
    TR_ASSERT (one != TR_TYPE_NONE);
    TR_ASSERT_EQ_INT (tr_type ("round.trip"), one);
    TR_ASSERT (tr_type ("round.trip2") != one);
    TR_ASSERT (strcmp (tr_type_name (one), "round.trip") == 0);
    TR_ASSERT (tr_type_name (TR_TYPE_NONE) == NULL);
    TR_ASSERT (tr_type_name (4000) == NULL);  //  never interned
    TR_ASSERT (tr_type_name (0xffffffffu) == NULL);
    TR_ASSERT_EQ_INT (tr_type ("tr.down"), TR_TYPE_DOWN);
    TR_ASSERT_EQ_INT (tr_type ("tr.exit"), TR_TYPE_EXIT);
    TR_ASSERT_EQ_INT (tr_type ("tr.dead_letter"), TR_TYPE_DEAD_LETTER);
    TR_ASSERT (strcmp (tr_type_name (TR_TYPE_DOWN), "tr.down") == 0);

    //  Bad behaviour tables.
    TR_ASSERT_EQ_INT (tr_behaviour_register (NULL), TR_EINVAL);
    static const tr_behaviour_t no_name = {.name = NULL, .handlers = s_no_handlers};
    TR_ASSERT_EQ_INT (tr_behaviour_register (&no_name), TR_EINVAL);
    static const tr_behaviour_t empty_name = {.name = "", .handlers = s_no_handlers};
    TR_ASSERT_EQ_INT (tr_behaviour_register (&empty_name), TR_EINVAL);
    static const tr_handler_t null_fn[] = {{"inc", NULL}, {NULL, NULL}};
    static const tr_behaviour_t with_null_fn = {.name = "null_fn", .handlers = null_fn};
    TR_ASSERT_EQ_INT (tr_behaviour_register (&with_null_fn), TR_EINVAL);
    static const tr_handler_t bad_type[] = {{"bad type", s_counter_inc}, {NULL, NULL}};
    static const tr_behaviour_t with_bad_type = {.name = "bad_type", .handlers = bad_type};
    TR_ASSERT_EQ_INT (tr_behaviour_register (&with_bad_type), TR_EINVAL);
    //  A failed registration leaves the name free.
    tr_testkit_t *kit = tr_testkit_new ();
    tr_ref_t ref;
    TR_ASSERT_EQ_INT (tr_testkit_spawn (kit, "null_fn", NULL, 0, &ref), TR_EUNKNOWN_BEHAVIOUR);
    tr_testkit_destroy (&kit);
    TR_ASSERT (kit == NULL);

    //  The same table twice is fine; another table under a taken name is not.
    TR_CHECK (tr_behaviour_register (&s_counter));
    TR_ASSERT_EQ_INT (tr_behaviour_register (&s_counter_impostor), TR_EEXIST);
}

static void
s_test_counter (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    TR_ASSERT (kit);
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    TR_ASSERT (rt);
    tr_ref_t counter, probe = tr_testkit_probe (kit);
    TR_ASSERT (probe != TR_REF_NONE);
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &counter));
    TR_ASSERT (counter != TR_REF_NONE && counter != probe);
    TR_ASSERT (tr_testkit_alive (kit, counter));

    //  Nothing runs until stepped.
    s_inc_by (kit, counter, 5);
    s_inc_by (kit, counter, 7);
    s_inc_by (kit, counter, 30);
    TR_ASSERT (tr_testkit_step (kit));
    TR_ASSERT_EQ_INT (tr_testkit_run (kit), 2);
    TR_ASSERT (!tr_testkit_step (kit));
    TR_ASSERT_EQ_INT (tr_testkit_run (kit), 0);

    uint64_t corr = atomic_load (&rt->next_corr);
    TR_CHECK (tr_testkit_request (kit, probe, counter, s_get, NULL, 0));
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, probe, &(tr_msg_t){0}), TR_EAGAIN);
    TR_ASSERT_EQ_INT (tr_testkit_run (kit), 2);  //  the request, then the probe's reply
    tr_msg_t reply = s_expect (kit, probe);
    TR_ASSERT (reply.flags & TR_MSG_REPLY);
    TR_ASSERT (!(reply.flags & TR_MSG_ERROR));
    TR_ASSERT (reply.corr != 0);
    TR_ASSERT_EQ_INT (reply.corr, corr);
    TR_ASSERT_EQ_INT (reply.type, s_get);
    TR_ASSERT_EQ_INT (reply.from, counter);
    TR_ASSERT_EQ_INT (reply.to, probe);
    TR_ASSERT_EQ_INT (s_int64 (&reply), 42);
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, probe, &reply), TR_EAGAIN);

    //  A plain message from a probe arrives with its sender.
    TR_CHECK (tr_testkit_send (kit, counter, probe, s_item, "hi", 2));
    tr_testkit_run (kit);
    tr_msg_t plain = s_expect (kit, probe);
    TR_ASSERT_EQ_INT (plain.type, s_item);
    TR_ASSERT_EQ_INT (plain.from, counter);
    TR_ASSERT_EQ_INT (plain.flags & (TR_MSG_REQUEST | TR_MSG_REPLY | TR_MSG_ERROR), 0);
    TR_ASSERT_EQ_INT (plain.size, 2);
    TR_ASSERT (memcmp (plain.data, "hi", 2) == 0);

    //  Bad input to the kit itself.
    TR_ASSERT_EQ_INT (tr_testkit_send (kit, TR_REF_NONE, counter, TR_TYPE_NONE, NULL, 0),
                      TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_testkit_send (kit, TR_REF_NONE, counter, s_inc, NULL, 8), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_testkit_request (kit, probe, counter, TR_TYPE_NONE, NULL, 0), TR_EINVAL);
    tr_msg_t msg;
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, counter, &msg), TR_EINVAL);  //  not a probe
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, probe, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, TR_REF_NONE, &msg), TR_EINVAL);
    TR_ASSERT (!tr_testkit_alive (kit, TR_REF_NONE));
    TR_ASSERT (!tr_testkit_alive (kit, counter + 1));  //  wrong generation

    //  A bad payload makes the handler fail: the actor is gone.
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, counter, s_inc, "abc", 3));
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, counter));
    tr_testkit_destroy (&kit);
    TR_ASSERT (kit == NULL);
    tr_testkit_destroy (&kit);  //  NULL-safe
    tr_testkit_destroy (NULL);
}

static void
s_test_timers (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_ref_t probe = tr_testkit_probe (kit), control = tr_testkit_probe (kit);
    int32_t which;

    //  One-shot after 100 ms.
    tr_ref_t once;
    s_ticker_arg_t arg = {probe, 100, 0};
    TR_CHECK (tr_testkit_spawn (kit, "ticker", &arg, sizeof arg, &once));
    tr_testkit_run (kit);
    tr_testkit_advance (kit, 99);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_tick), 0);
    tr_testkit_advance (kit, 1);
    tr_msg_t tick = s_expect (kit, probe);
    TR_ASSERT_EQ_INT (tick.type, s_tick);
    TR_ASSERT_EQ_INT (tick.from, once);
    TR_ASSERT_EQ_INT (tick.size, 5);
    TR_ASSERT (memcmp (tick.data, "after", 5) == 0);
    tr_testkit_advance (kit, 1000);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_tick), 0);
    //  A fired one-shot cannot be cancelled; neither can made-up ids.
    for (which = 1; which <= 3; which++) {
        TR_CHECK (tr_testkit_request (kit, control, once, s_cancel, &which, sizeof which));
        tr_testkit_run (kit);
        tr_msg_t reply = s_expect (kit, control);
        TR_ASSERT_EQ_INT (s_int32 (&reply), TR_ENOENT);
    }

    //  Zero delay fires at the next advance, not before.
    tr_ref_t now;
    arg = (s_ticker_arg_t){probe, 0, 0};
    TR_CHECK (tr_testkit_spawn (kit, "ticker", &arg, sizeof arg, &now));
    tr_testkit_run (kit);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_tick), 0);
    tr_testkit_advance (kit, 0);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_tick), 1);

    //  Periodic every 10 ms: once per period, then cancelled.
    tr_ref_t periodic;
    arg = (s_ticker_arg_t){probe, -1, 10};
    TR_CHECK (tr_testkit_spawn (kit, "ticker", &arg, sizeof arg, &periodic));
    tr_testkit_advance (kit, 9);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_beat), 0);
    tr_testkit_advance (kit, 1);
    tr_msg_t beat = s_expect (kit, probe);
    TR_ASSERT_EQ_INT (beat.type, s_beat);
    TR_ASSERT_EQ_INT (beat.size, 4);
    TR_ASSERT (memcmp (beat.data, "beat", 4) == 0);
    tr_testkit_advance (kit, 50);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_beat), 5);
    for (int period = 0; period < 7; period++)
        tr_testkit_advance (kit, 10);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_beat), 7);
    which = 0;
    TR_CHECK (tr_testkit_request (kit, control, periodic, s_cancel, &which, sizeof which));
    tr_testkit_run (kit);
    tr_msg_t reply = s_expect (kit, control);
    TR_ASSERT_EQ_INT (s_int32 (&reply), 0);
    tr_testkit_advance (kit, 100);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_beat), 0);
    //  Cancelling twice: the second finds nothing.
    TR_CHECK (tr_testkit_request (kit, control, periodic, s_cancel, &which, sizeof which));
    tr_testkit_run (kit);
    reply = s_expect (kit, control);
    TR_ASSERT_EQ_INT (s_int32 (&reply), TR_ENOENT);

    //  A timer dies with its owner.
    tr_ref_t doomed;
    arg = (s_ticker_arg_t){probe, 25, 10};
    TR_CHECK (tr_testkit_spawn (kit, "ticker", &arg, sizeof arg, &doomed));
    tr_testkit_advance (kit, 10);
    TR_ASSERT_EQ_INT (s_drain (kit, probe, s_beat), 1);
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, doomed, s_stop, NULL, 0));
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, doomed));
    tr_testkit_advance (kit, 100);
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, probe, &reply), TR_EAGAIN);

    //  init rejecting its argument makes the spawn fail.
    arg = (s_ticker_arg_t){probe, -1, 0};
    tr_ref_t none;
    TR_CHECK (tr_testkit_spawn (kit, "ticker", &arg, sizeof arg, &none));
    TR_ASSERT_EQ_INT (tr_testkit_spawn (kit, "ticker", &arg, 3, &none), TR_EINIT);
    TR_ASSERT_EQ_INT (none, TR_REF_NONE);
    tr_testkit_destroy (&kit);
}

static void
s_test_unknown_and_dead (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_ref_t probe = tr_testkit_probe (kit), counter, catchall;
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &counter));
    TR_CHECK (tr_testkit_spawn (kit, "catchall", NULL, 0, &catchall));

    //  Unknown type: a dead letter; a request also gets an error reply.
    uint64_t unknown = tr_dead_letter_count (rt, TR_EUNKNOWN_TYPE);
    uint64_t all = tr_dead_letter_count (rt, 0);
    TR_CHECK (tr_testkit_send (kit, probe, counter, s_bogus, "x", 1));
    tr_testkit_run (kit);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EUNKNOWN_TYPE), unknown + 1);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, 0), all + 1);
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, probe, &(tr_msg_t){0}), TR_EAGAIN);
    TR_CHECK (tr_testkit_request (kit, probe, counter, s_bogus, NULL, 0));
    tr_testkit_run (kit);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EUNKNOWN_TYPE), unknown + 2);
    tr_msg_t error = s_expect (kit, probe);
    TR_ASSERT (error.flags & TR_MSG_REPLY);
    TR_ASSERT (error.flags & TR_MSG_ERROR);
    TR_ASSERT (error.corr != 0);
    TR_ASSERT_EQ_INT (s_int32 (&error), TR_EUNKNOWN_TYPE);
    TR_ASSERT (tr_testkit_alive (kit, counter));  //  an unknown type is not a failure

    //  With an unhandled callback there is no dead letter.
    TR_CHECK (tr_testkit_send (kit, probe, catchall, s_bogus, NULL, 0));
    TR_CHECK (tr_testkit_send (kit, probe, catchall, s_inc, NULL, 0));
    TR_CHECK (tr_testkit_request (kit, probe, catchall, s_get, NULL, 0));
    tr_testkit_run (kit);
    tr_msg_t count = s_expect (kit, probe);
    TR_ASSERT_EQ_INT (s_int64 (&count), 2);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EUNKNOWN_TYPE), unknown + 2);

    //  Stopped in a handler: sends to it fail with TR_EDEAD and dead-letter.
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, counter, s_stop, NULL, 0));
    TR_ASSERT (tr_testkit_alive (kit, counter));
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, counter));
    uint64_t dead = tr_dead_letter_count (rt, TR_EDEAD);
    int64_t one = 1;
    TR_ASSERT_EQ_INT (tr_testkit_send (kit, probe, counter, s_inc, &one, sizeof one), TR_EDEAD);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EDEAD), dead + 1);
    TR_ASSERT_EQ_INT (tr_testkit_send (kit, probe, TR_REF_NONE, s_inc, &one, sizeof one), TR_EDEAD);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EDEAD), dead + 2);
    tr_testkit_run (kit);

    //  Messages queued behind a failure: requests get TR_EDEAD, the rest
    //  become dead letters.
    tr_ref_t doomed;
    TR_CHECK (tr_testkit_spawn (kit, "counter", NULL, 0, &doomed));
    s_send_i32 (kit, doomed, s_fail, -5);
    s_inc_by (kit, doomed, 1);
    s_inc_by (kit, doomed, 1);
    TR_CHECK (tr_testkit_request (kit, probe, doomed, s_get, NULL, 0));
    dead = tr_dead_letter_count (rt, TR_EDEAD);
    tr_testkit_run (kit);
    TR_ASSERT (!tr_testkit_alive (kit, doomed));
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EDEAD), dead + 3);
    error = s_expect (kit, probe);
    TR_ASSERT (error.flags & TR_MSG_ERROR);
    TR_ASSERT_EQ_INT (s_int32 (&error), TR_EDEAD);
    TR_ASSERT_EQ_INT (tr_testkit_expect (kit, probe, &error), TR_EAGAIN);
    tr_testkit_destroy (&kit);
}

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
    s_inc = tr_type ("inc");
    s_get = tr_type ("get");
    s_stop = tr_type ("stop");
    s_fail = tr_type ("fail");
    s_abort = tr_type ("abort");
    s_tick = tr_type ("tick");
    s_beat = tr_type ("beat");
    s_cancel = tr_type ("cancel");
    s_watch = tr_type ("watch");
    s_unwatch = tr_type ("unwatch");
    s_link = tr_type ("link");
    s_trap = tr_type ("trap");
    s_ask = tr_type ("ask");
    s_answer = tr_type ("answer");
    s_release = tr_type ("release");
    s_item = tr_type ("item");
    s_bogus = tr_type ("bogus");
    s_check = tr_type ("check");
    s_err = tr_type ("err");
    TR_ASSERT (s_err != TR_TYPE_NONE);

    TR_CHECK (tr_behaviour_register (&s_counter));
    TR_CHECK (tr_behaviour_register (&s_ticker));
    TR_CHECK (tr_behaviour_register (&s_watcher));
    TR_CHECK (tr_behaviour_register (&s_linker));
    TR_CHECK (tr_behaviour_register (&s_requester));
    TR_CHECK (tr_behaviour_register (&s_silent));
    TR_CHECK (tr_behaviour_register (&s_recorder));
    TR_CHECK (tr_behaviour_register (&s_catchall));
    TR_CHECK (tr_behaviour_register (&s_bad_init));
    TR_CHECK (tr_behaviour_register (&s_checker));

    s_test_types_and_registry ();
    s_test_counter ();
    s_test_timers ();
    s_test_unknown_and_dead ();
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
