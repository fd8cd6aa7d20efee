//  test_testkit - the deterministic test kit (one thread, virtual time):
//  types and the behaviour registry, replies and plain messages, timers,
//  unknown types and dead letters (failures, monitors, links, request
//  continuations, overflow policies and bad input: test_testkit_links)
#include "testkit_helpers.h"

#include <stdint.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Behaviours

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

int
main (void)
{
    s_types_init ();
    TR_CHECK (tr_behaviour_register (&s_counter));
    TR_CHECK (tr_behaviour_register (&s_ticker));
    TR_CHECK (tr_behaviour_register (&s_catchall));

    s_test_types_and_registry ();
    s_test_counter ();
    s_test_timers ();
    s_test_unknown_and_dead ();
    TR_PASS ();
    return 0;
}
