//  test_runtime_limits - the threaded runtime at its limits: call
//  timeouts and late replies, dead refs, payload limits from the host and
//  from handlers, the dead-letter sink, and the overflow policies fail and
//  block across threads
#include "runtime_helpers.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Behaviours

//  sleeper: "hang" never replies; "hold" keeps the request until "release"
typedef struct {
    tr_msg_t held;
    bool holding;
} s_sleeper_t;

static int
s_sleeper_hang (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    return 0;
}

static int
s_sleeper_hold (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_sleeper_t *sleeper = state;
    sleeper->held = *msg;
    sleeper->held.data = NULL;
    sleeper->held.size = 0;
    sleeper->holding = true;
    return 0;
}

static int
s_sleeper_release (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_sleeper_t *sleeper = state;
    if (!sleeper->holding)
        return 0;
    sleeper->holding = false;
    int64_t value = 7;
    return tr_reply (self, &sleeper->held, &value, sizeof value);
}

static const tr_handler_t s_sleeper_handlers[] = {{"hang", s_sleeper_hang},
                                                  {"hold", s_sleeper_hold},
                                                  {"release", s_sleeper_release},
                                                  {"touch", s_counter_touch},
                                                  {NULL, NULL}};
static const tr_behaviour_t s_sleeper = {
    .name = "sleeper",
    .state_size = sizeof (s_sleeper_t),
    .handlers = s_sleeper_handlers,
};

//  bigsender: "try" {target} feeds oversized payloads (max_payload 1024) to
//  every sending call and replies with their codes
#define S_BIG_CHECKS 7
static unsigned char s_big[2048];

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
s_bigsender_try (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_ref_t target;
    if (msg->size != sizeof target)
        return tr_reply_error (self, msg, TR_EINVAL);
    memcpy (&target, msg->data, sizeof target);
    int32_t rc[S_BIG_CHECKS];
    rc[0] = tr_send (self, target, s_blob, s_big, 1025);
    rc[1] = tr_send (self, target, s_blob, s_big, 1024);
    rc[2] = tr_request (self, target, s_blob, s_big, 1025, 100, s_ignore_reply, NULL);
    rc[3] = tr_reply (self, msg, s_big, 1025);
    void *payload = tr_payload_alloc (1025);
    rc[4] = tr_send_payload (self, target, s_blob, &payload);
    rc[5] = payload == NULL ? 0 : -1;
    rc[6] = tr_send_after (self, 10, target, s_blob, s_big, 1025, NULL);
    return tr_reply (self, msg, rc, sizeof rc);
}

static const tr_handler_t s_bigsender_handlers[] = {{"try", s_bigsender_try}, {NULL, NULL}};
static const tr_behaviour_t s_bigsender = {
    .name = "bigsender",
    .handlers = s_bigsender_handlers,
};

//  sink: keeps the dead letters of one type (spawn arg)
typedef struct {
    int32_t count;
    tr_type_t filter;
    tr_dead_letter_t head;
    uint64_t payload_size;
    unsigned char payload[64];
} s_sink_t;

static int
s_sink_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    if (arg_size != sizeof (tr_type_t))
        return -1;
    memcpy (&((s_sink_t *) state)->filter, arg, sizeof (tr_type_t));
    return 0;
}

static int
s_sink_letter (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_sink_t *sink = state;
    tr_dead_letter_t head;
    if (msg->type != TR_TYPE_DEAD_LETTER || msg->size < sizeof head)
        return TR_EINVAL;
    memcpy (&head, msg->data, sizeof head);
    if (head.type != sink->filter)
        return 0;
    sink->count++;
    sink->head = head;
    sink->payload_size = msg->size - sizeof head;
    size_t keep =
        sink->payload_size < sizeof sink->payload ? sink->payload_size : sizeof sink->payload;
    memcpy (sink->payload, (const unsigned char *) msg->data + sizeof head, keep);
    return 0;
}

static int
s_sink_get (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    return tr_reply (self, msg, state, sizeof (s_sink_t));
}

static const tr_handler_t s_sink_handlers[] = {
    {"tr.dead_letter", s_sink_letter}, {"get", s_sink_get}, {NULL, NULL}};
static const tr_behaviour_t s_sink = {
    .name = "sink",
    .state_size = sizeof (s_sink_t),
    .init = s_sink_init,
    .handlers = s_sink_handlers,
};

//  slow: each "item" takes delay_us (spawn arg); get answers the count
typedef struct {
    int64_t count;
    int32_t delay_us;
} s_slow_t;

static int
s_slow_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    if (arg_size != sizeof (int32_t))
        return -1;
    memcpy (&((s_slow_t *) state)->delay_us, arg, sizeof (int32_t));
    return 0;
}

static int
s_slow_item (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) msg;
    s_slow_t *slow = state;
    usleep ((useconds_t) slow->delay_us);
    slow->count++;
    return 0;
}

static const tr_handler_t s_slow_handlers[] = {
    {"item", s_slow_item}, {"get", s_counter_get}, {NULL, NULL}};
static const tr_behaviour_t s_slow = {
    .name = "slow",
    .state_size = sizeof (s_slow_t),
    .init = s_slow_init,
    .handlers = s_slow_handlers,
};

//  blaster: "blast" {target, attempts} sends items to target in rounds of
//  64 (one round per handler call, so batches leave between rounds) and
//  answers with how the sends went
typedef struct {
    tr_ref_t target;
    int64_t attempts;
} s_blast_t;

typedef struct {
    int64_t attempts, ok, eagain, other;
} s_blast_result_t;

typedef struct {
    tr_msg_t request;
    s_blast_t blast;
    s_blast_result_t result;
} s_blaster_t;

static int
s_blaster_more (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_blaster_t *blaster = state;
    s_blast_result_t *result = &blaster->result;
    for (int i = 0; i < 64 && result->attempts < blaster->blast.attempts; i++) {
        int rc = tr_send (self, blaster->blast.target, s_item, &result->attempts,
                          sizeof result->attempts);
        result->attempts++;
        if (rc == 0)
            result->ok++;
        else if (rc == TR_EAGAIN)
            result->eagain++;
        else
            result->other++;
    }
    if (result->attempts >= blaster->blast.attempts)
        return tr_reply (self, &blaster->request, result, sizeof *result);
    usleep (100);  //  let the receiver fall behind at its own pace
    return tr_send (self, tr_self (self), s_more, NULL, 0);
}

static int
s_blaster_blast (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_blaster_t *blaster = state;
    if (msg->size != sizeof blaster->blast)
        return tr_reply_error (self, msg, TR_EINVAL);
    memcpy (&blaster->blast, msg->data, sizeof blaster->blast);
    blaster->request = *msg;
    memset (&blaster->result, 0, sizeof blaster->result);
    return s_blaster_more (self, state, msg);
}

static const tr_handler_t s_blaster_handlers[] = {
    {"blast", s_blaster_blast}, {"more", s_blaster_more}, {NULL, NULL}};
static const tr_behaviour_t s_blaster = {
    .name = "blaster",
    .state_size = sizeof (s_blaster_t),
    .handlers = s_blaster_handlers,
};

//  --------------------------------------------------------------------------
//  Tests

static void
s_test_timeouts (tr_runtime_t *rt)
{
    tr_ref_t sleeper = s_spawn_on (rt, "sleeper", NULL, 0, 2);
    void *reply = (void *) 1;
    size_t size = 5;
    int64_t start = s_now_ms ();
    TR_ASSERT_EQ_INT (tr_call (rt, sleeper, s_hang, NULL, 0, 100, &reply, &size), TR_ETIMEDOUT);
    int64_t elapsed = s_now_ms () - start;
    TR_ASSERT (elapsed >= 95);
    TR_ASSERT (elapsed < 500);
    TR_ASSERT (reply == NULL);
    TR_ASSERT_EQ_INT (size, 0);

    //  A reply after the deadline is dropped and counted.
    tr_runtime_stats_t stats;
    TR_CHECK (tr_runtime_stats (rt, &stats));
    uint64_t late = stats.late_replies;
    TR_ASSERT_EQ_INT (tr_call (rt, sleeper, s_hold, NULL, 0, 50, NULL, NULL), TR_ETIMEDOUT);
    TR_CHECK (tr_runtime_send (rt, sleeper, s_release, NULL, 0));
    int64_t deadline = s_now_ms () + 2000;
    do {
        TR_ASSERT (s_now_ms () < deadline);
        TR_CHECK (tr_runtime_stats (rt, &stats));
    } while (stats.late_replies == late);
    TR_ASSERT_EQ_INT (stats.late_replies, late + 1);
    //  The waiter is reusable: the next call gets its own answer.
    TR_CHECK (tr_call (rt, sleeper, s_touch, NULL, 0, 1000, NULL, NULL));

    //  Dead refs: tr_call and tr_runtime_send fail with TR_EDEAD.
    tr_ref_t doomed = s_spawn_on (rt, "counter", NULL, 0, 1);
    TR_CHECK (tr_call (rt, doomed, s_stop, NULL, 0, 1000, NULL, NULL));
    TR_ASSERT_EQ_INT (tr_call (rt, doomed, s_get, NULL, 0, 1000, NULL, NULL), TR_EDEAD);
    s_wait_dead (rt, doomed);
    uint64_t dead = tr_dead_letter_count (rt, TR_EDEAD);
    int64_t one = 1;
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, doomed, s_inc, &one, sizeof one), TR_EDEAD);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EDEAD), dead + 1);
    TR_ASSERT_EQ_INT (tr_runtime_kill (rt, doomed, TR_EKILLED), 0);
    TR_ASSERT_EQ_INT (tr_runtime_kill (rt, TR_REF_NONE, TR_EKILLED), 0);
}

static void
s_test_oversized (tr_runtime_t *rt)
{
    tr_ref_t counter = s_spawn_on (rt, "counter", NULL, 0, 2);
    uint64_t refused = tr_dead_letter_count (rt, TR_EMSGSIZE);
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, counter, s_blob, s_big, 1025), TR_EMSGSIZE);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EMSGSIZE), refused + 1);
    TR_ASSERT_EQ_INT (tr_call (rt, counter, s_blob, s_big, 1025, 1000, NULL, NULL), TR_EMSGSIZE);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EMSGSIZE), refused + 2);
    TR_CHECK (tr_runtime_send (rt, counter, s_blob, s_big, 1024));  //  at the limit: fine
    TR_ASSERT_EQ_INT (s_call_int64 (rt, counter, s_get), 1024);

    //  From inside a handler, every sending call.
    tr_ref_t sender = s_spawn_on (rt, "bigsender", NULL, 0, 1);
    int32_t rc[S_BIG_CHECKS];
    s_call_into (rt, sender, s_try, &counter, sizeof counter, rc, sizeof rc);
    static const int32_t expected[S_BIG_CHECKS] = {TR_EMSGSIZE, 0, TR_EMSGSIZE, TR_EMSGSIZE,
                                                   TR_EMSGSIZE, 0, TR_EMSGSIZE};
    for (int i = 0; i < S_BIG_CHECKS; i++) {
        if (rc[i] != expected[i])
            fprintf (stderr, "oversized check %d: got %d (%s)\n", i, rc[i], tr_strerror (rc[i]));
        TR_ASSERT_EQ_INT (rc[i], expected[i]);
    }
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EMSGSIZE), refused + 2 + 5);
    //  The 1024-byte send comes through another pipe than the host's: wait.
    int64_t deadline = s_now_ms () + 2000;
    while (s_call_int64 (rt, counter, s_get) != 2048) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (1);
    }
}

static void
s_test_dead_letter_sink (tr_runtime_t *rt)
{
    tr_ref_t sink = s_spawn_on (rt, "sink", &s_letter, sizeof s_letter, 2);
    tr_ref_t doomed = s_spawn_on (rt, "counter", NULL, 0, 1);
    TR_CHECK (tr_call (rt, doomed, s_stop, NULL, 0, 1000, NULL, NULL));
    s_wait_dead (rt, doomed);

    TR_CHECK (tr_dead_letter_sink (rt, sink));
    static const char text[] = "hello, dead letter";
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, doomed, s_letter, text, sizeof text), TR_EDEAD);
    s_sink_t seen;
    int64_t deadline = s_now_ms () + 2000;
    do {
        TR_ASSERT (s_now_ms () < deadline);
        s_call_into (rt, sink, s_get, NULL, 0, &seen, sizeof seen);
    } while (seen.count == 0);
    TR_ASSERT_EQ_INT (seen.count, 1);
    TR_ASSERT_EQ_INT (seen.head.reason, TR_EDEAD);
    TR_ASSERT_EQ_INT (seen.head.type, s_letter);
    TR_ASSERT_EQ_INT (seen.head.to, doomed);
    TR_ASSERT_EQ_INT (seen.head.from, TR_REF_NONE);
    TR_ASSERT_EQ_INT (seen.head.size, sizeof text);
    TR_ASSERT_EQ_INT (seen.payload_size, sizeof text);
    TR_ASSERT (memcmp (seen.payload, text, sizeof text) == 0);

    //  A dead sink: the forwarded letter is dropped, not looped.
    TR_CHECK (tr_dead_letter_sink (rt, doomed));
    uint64_t dead = tr_dead_letter_count (rt, TR_EDEAD);
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, doomed, s_letter, text, sizeof text), TR_EDEAD);
    s_sleep_ms (50);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EDEAD), dead + 1);
    TR_CHECK (tr_dead_letter_sink (rt, TR_REF_NONE));

    //  The dead sink's slot is handed out again (same index, new generation):
    //  the stale ref must not reach the new actor. The dead-letter actor (on
    //  that thread) has just sent to the stale ref while the host prepares
    //  the recycled slot here: ThreadSanitizer checks that pair.
    tr_ref_t reborn = TR_REF_NONE;
    for (int spawned = 0; spawned < 1000; spawned++) {
        reborn = s_spawn_on (rt, "counter", NULL, 0, (int) tr__ref_thread (doomed) + 1);
        if (tr__ref_index (reborn) == tr__ref_index (doomed))
            break;
    }
    TR_ASSERT_EQ_INT (tr__ref_index (reborn), tr__ref_index (doomed));
    TR_ASSERT (reborn != doomed);
    int64_t one = 1;
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, doomed, s_inc, &one, sizeof one), TR_EDEAD);
    TR_ASSERT_EQ_INT (tr_call (rt, doomed, s_get, NULL, 0, 1000, NULL, NULL), TR_EDEAD);
    TR_ASSERT_EQ_INT (s_call_int64 (rt, reborn, s_get), 0);
}

//  Policy fail across threads: the sending actor sees TR_EAGAIN; what it
//  was told was sent is handled or (stale hint) dead-lettered, never lost.
static void
s_test_overflow_fail (tr_runtime_t *rt)
{
    int32_t delay_us = 50;
    tr_spawn_opts_t opts = {
        .mailbox_limit = 16, .overflow = TR_OVERFLOW_FAIL, .overflow_set = true, .thread = 2};
    tr_ref_t receiver;
    TR_CHECK (tr_spawn (rt, "slow", &delay_us, sizeof delay_us, &opts, &receiver));
    tr_ref_t blaster = s_spawn_on (rt, "blaster", NULL, 0, 1);
    uint64_t overflow = tr_dead_letter_count (rt, TR_EOVERFLOW);
    s_blast_t blast = {receiver, 20000};
    s_blast_result_t result;
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, blaster, s_blast, &blast, sizeof blast, 10000, &reply, &size));
    TR_ASSERT_EQ_INT (size, sizeof result);
    memcpy (&result, reply, sizeof result);
    tr_free (reply);
    TR_ASSERT_EQ_INT (result.attempts, 20000);
    TR_ASSERT_EQ_INT (result.other, 0);
    TR_ASSERT_EQ_INT (result.ok + result.eagain, result.attempts);
    TR_ASSERT (result.eagain > 0);
    TR_ASSERT (result.ok >= 16);

    tr_actor_stats_t stats;
    int64_t deadline = s_now_ms () + 5000;
    do
        TR_CHECK (tr_actor_stats (rt, receiver, &stats));
    while ((stats.handled + stats.dropped < (uint64_t) result.ok || stats.mailbox_depth > 0)
           && s_now_ms () < deadline);
    TR_ASSERT_EQ_INT (stats.handled + stats.dropped, result.ok);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EOVERFLOW) - overflow, stats.dropped);
    TR_ASSERT_EQ_INT (stats.failed, 0);
    TR_ASSERT_EQ_INT (stats.received, stats.handled);
}

//  Policy block from a host sender: every send waits for room; nothing is
//  dropped. Returns how many of the 200 were lost (should be 0).
static int64_t
s_test_overflow_block (tr_runtime_t *rt)
{
    enum { N = 200 };
    int32_t delay_us = 1000;
    tr_spawn_opts_t opts = {
        .mailbox_limit = 8, .overflow = TR_OVERFLOW_BLOCK, .overflow_set = true, .thread = 2};
    tr_ref_t slow;
    TR_CHECK (tr_spawn (rt, "slow", &delay_us, sizeof delay_us, &opts, &slow));
    uint64_t overflow = tr_dead_letter_count (rt, TR_EOVERFLOW);
    int64_t start = s_now_ms ();
    for (int64_t i = 0; i < N; i++)
        TR_CHECK (tr_runtime_send (rt, slow, s_item, &i, sizeof i));
    //  Stats requests are system messages (never dropped): poll with them.
    tr_actor_stats_t stats;
    int64_t deadline = s_now_ms () + 5000;
    do
        TR_CHECK (tr_actor_stats (rt, slow, &stats));
    while ((stats.handled + stats.dropped < N || stats.mailbox_depth > 0)
           && s_now_ms () < deadline);
    TR_ASSERT (s_now_ms () - start < 5000);
    int64_t handled = (int64_t) stats.handled;
    TR_ASSERT_EQ_INT (s_call_int64 (rt, slow, s_get), handled);
    uint64_t dropped_letters = tr_dead_letter_count (rt, TR_EOVERFLOW) - overflow;
    if (handled != N || stats.dropped || dropped_letters)
        fprintf (stderr,
                 "overflow block: %lld of %d handled, %llu dropped, %llu overflow dead "
                 "letters\n",
                 (long long) handled, N, (unsigned long long) stats.dropped,
                 (unsigned long long) dropped_letters);
    TR_ASSERT_EQ_INT (handled + (int64_t) stats.dropped, N);
    TR_ASSERT_EQ_INT (stats.dropped, dropped_letters);
    return N - handled;
}

int
main (void)
{
    s_types_init ();
    TR_CHECK (tr_behaviour_register (&s_counter));
    TR_CHECK (tr_behaviour_register (&s_sleeper));
    TR_CHECK (tr_behaviour_register (&s_bigsender));
    TR_CHECK (tr_behaviour_register (&s_sink));
    TR_CHECK (tr_behaviour_register (&s_slow));
    TR_CHECK (tr_behaviour_register (&s_blaster));

    tr_runtime_t *rt = s_runtime_new (2, 1024, 0);
    TR_CHECK (tr_runtime_start (rt));

    s_test_timeouts (rt);
    s_test_oversized (rt);
    s_test_dead_letter_sink (rt);
    s_test_overflow_fail (rt);
    int64_t lost = s_test_overflow_block (rt);

    tr_runtime_destroy (&rt);
    TR_ASSERT (rt == NULL);
    TR_ASSERT_EQ_INT (s_troupe_threads (), 0);

    //  Last, so that the tests above still run when it fails.
    TR_ASSERT_EQ_INT (lost, 0);
    TR_PASS ();
    return 0;
}
