//  testkit_helpers - what the test_testkit* programs share: the message
//  types, the counter behaviour (with the shared stop, fail and abort
//  handlers), an empty handler table, and helpers that pop and decode what
//  probes hold or send small payloads. Each program registers what it uses
//  in its main.
#ifndef TR_TESTKIT_HELPERS_H_INCLUDED
#define TR_TESTKIT_HELPERS_H_INCLUDED

#include "runtime.h"
#include "handlers.h"
#include "testutil.h"

#include <stdint.h>
#include <string.h>

static tr_type_t s_inc, s_get, s_stop, s_fail, s_abort, s_tick, s_beat, s_cancel, s_watch,
    s_unwatch, s_link, s_trap, s_ask, s_answer, s_release, s_item, s_bogus, s_check, s_err;

//  Intern the types above; first thing in every main.
static inline void
s_types_init (void)
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
}

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

//  An empty handler table (bad_init, bad registrations).
static const tr_handler_t s_no_handlers[] = {{NULL, NULL}};

//  --------------------------------------------------------------------------
//  Helpers

//  Pop every message the probe holds; all must be of type. Returns how many.
static inline int
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
static inline tr_msg_t
s_expect (tr_testkit_t *kit, tr_ref_t probe)
{
    tr_msg_t msg;
    TR_CHECK (tr_testkit_expect (kit, probe, &msg));
    return msg;
}

static inline int32_t
s_int32 (const tr_msg_t *msg)
{
    int32_t value;
    TR_ASSERT_EQ_INT (msg->size, sizeof value);
    memcpy (&value, msg->data, sizeof value);
    return value;
}

static inline int64_t
s_int64 (const tr_msg_t *msg)
{
    int64_t value;
    TR_ASSERT_EQ_INT (msg->size, sizeof value);
    memcpy (&value, msg->data, sizeof value);
    return value;
}

static inline void
s_send_i32 (tr_testkit_t *kit, tr_ref_t to, tr_type_t type, int32_t value)
{
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, to, type, &value, sizeof value));
}

static inline void
s_inc_by (tr_testkit_t *kit, tr_ref_t to, int64_t amount)
{
    TR_CHECK (tr_testkit_send (kit, TR_REF_NONE, to, s_inc, &amount, sizeof amount));
}

#endif
