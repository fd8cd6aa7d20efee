//  test_runtime - the threaded runtime: placement, calls, ordering, names,
//  timeouts, payload limits, metrics, kill and monitors across threads, the
//  dead-letter sink, overflow policies, bad options, bounded destroy that
//  terminates every actor and leaves no thread, and signal dispositions
#include "msg.h"
#include "runtime.h"
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static tr_type_t s_inc, s_get, s_stop, s_fail, s_touch, s_blob, s_start, s_ping, s_pong, s_num,
    s_hang, s_hold, s_release, s_watch, s_letter, s_item, s_blast, s_more, s_try;

//  --------------------------------------------------------------------------
//  Helpers

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_sleep_ms (int ms)
{
    struct timespec pause = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep (&pause, NULL);
}

//  Scheduler threads (named troupe-N) alive in this process.
static int
s_troupe_threads (void)
{
    DIR *dir = opendir ("/proc/self/task");
    TR_ASSERT (dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "";
        snprintf (path, sizeof path, "/proc/self/task/%s/comm", entry->d_name);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;  //  the thread ended meanwhile
        if (fgets (comm, sizeof comm, file) && strncmp (comm, "troupe-", 7) == 0)
            count++;
        fclose (file);
    }
    closedir (dir);
    return count;
}

//  tr_call that must succeed with an int64 reply.
static int64_t
s_call_int64 (tr_runtime_t *rt, tr_ref_t to, tr_type_t type)
{
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, to, type, NULL, 0, 5000, &reply, &size));
    TR_ASSERT_EQ_INT (size, sizeof (int64_t));
    int64_t value;
    memcpy (&value, reply, sizeof value);
    tr_free (reply);
    return value;
}

//  tr_call that must succeed with a reply of exactly size bytes.
static void
s_call_into (tr_runtime_t *rt, tr_ref_t to, tr_type_t type, const void *data, size_t data_size,
             void *out, size_t size)
{
    void *reply = NULL;
    size_t reply_size = 0;
    TR_CHECK (tr_call (rt, to, type, data, data_size, 5000, &reply, &reply_size));
    TR_ASSERT_EQ_INT (reply_size, size);
    memcpy (out, reply, size);
    tr_free (reply);
}

static tr_ref_t
s_spawn_on (tr_runtime_t *rt, const char *behaviour, const void *arg, size_t arg_size, int thread)
{
    tr_spawn_opts_t opts = {.thread = thread};
    tr_ref_t ref = TR_REF_NONE;
    TR_CHECK (tr_spawn (rt, behaviour, arg, arg_size, &opts, &ref));
    TR_ASSERT (ref != TR_REF_NONE);
    if (thread > 0)
        TR_ASSERT_EQ_INT (tr__ref_thread (ref), thread - 1);
    return ref;
}

//  Wait (at most 2 s) until ref is known dead to the runtime.
static void
s_wait_dead (tr_runtime_t *rt, tr_ref_t ref)
{
    tr_actor_stats_t stats;
    int64_t deadline = s_now_ms () + 2000;
    while (tr_actor_stats (rt, ref, &stats) != TR_EDEAD) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (1);
    }
}

//  --------------------------------------------------------------------------
//  Behaviours

//  counter: inc (int64), blob (adds the payload size), get, touch (empty
//  reply), stop (replies first), fail (int32 reason)
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
s_counter_blob (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    ((s_counter_t *) state)->count += (int64_t) msg->size;
    return 0;
}

static int
s_counter_get (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    return tr_reply (self, msg, &((s_counter_t *) state)->count, sizeof (int64_t));
}

static int
s_counter_touch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    return tr_reply (self, msg, NULL, 0);
}

static int
s_on_stop (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    if (msg->flags & TR_MSG_REQUEST)
        tr_reply (self, msg, NULL, 0);
    tr_stop (self);
    return 0;
}

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

static const tr_handler_t s_counter_handlers[] = {{"inc", s_counter_inc},
                                                  {"blob", s_counter_blob},
                                                  {"get", s_counter_get},
                                                  {"touch", s_counter_touch},
                                                  {"stop", s_on_stop},
                                                  {"fail", s_on_fail},
                                                  {NULL, NULL}};
static const tr_behaviour_t s_counter = {
    .name = "counter",
    .state_size = sizeof (s_counter_t),
    .handlers = s_counter_handlers,
};

//  pinger / ponger: "start" {peer, rounds} plays ping-pong with peer and
//  answers the start request with the number of pongs
typedef struct {
    tr_ref_t peer;
    int64_t rounds;
} s_start_t;

typedef struct {
    tr_msg_t request;
    tr_ref_t peer;
    int64_t rounds, pongs, strangers;
} s_pinger_t;

static int
s_pinger_start (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_pinger_t *pinger = state;
    s_start_t start;
    if (msg->size != sizeof start)
        return tr_reply_error (self, msg, TR_EINVAL);
    memcpy (&start, msg->data, sizeof start);
    pinger->request = *msg;
    pinger->peer = start.peer;
    pinger->rounds = start.rounds;
    int rc = tr_send (self, pinger->peer, s_ping, NULL, 0);
    return rc ? tr_reply_error (self, msg, rc) : 0;
}

static int
s_pinger_pong (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_pinger_t *pinger = state;
    if (msg->from != pinger->peer)
        pinger->strangers++;
    if (++pinger->pongs >= pinger->rounds) {
        int64_t result = pinger->strangers ? -pinger->strangers : pinger->pongs;
        return tr_reply (self, &pinger->request, &result, sizeof result);
    }
    int rc = tr_send (self, pinger->peer, s_ping, NULL, 0);
    return rc ? tr_reply_error (self, &pinger->request, rc) : 0;
}

static const tr_handler_t s_pinger_handlers[] = {
    {"start", s_pinger_start}, {"pong", s_pinger_pong}, {NULL, NULL}};
static const tr_behaviour_t s_pinger = {
    .name = "pinger",
    .state_size = sizeof (s_pinger_t),
    .handlers = s_pinger_handlers,
};

static int
s_ponger_ping (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    ((s_counter_t *) state)->count++;
    return tr_send (self, msg->from, s_pong, NULL, 0);
}

static const tr_handler_t s_ponger_handlers[] = {
    {"ping", s_ponger_ping}, {"get", s_counter_get}, {NULL, NULL}};
static const tr_behaviour_t s_ponger = {
    .name = "ponger",
    .state_size = sizeof (s_counter_t),
    .handlers = s_ponger_handlers,
};

//  sequencer: checks that "num" payloads arrive as 0, 1, 2, ...
typedef struct {
    int64_t count, errors, next;
} s_sequencer_t;

static int
s_sequencer_num (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_sequencer_t *sequencer = state;
    int64_t number;
    if (msg->size != sizeof number)
        return TR_EINVAL;
    memcpy (&number, msg->data, sizeof number);
    if (number != sequencer->next)
        sequencer->errors++;
    sequencer->next = number + 1;
    sequencer->count++;
    return 0;
}

static int
s_sequencer_get (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    return tr_reply (self, msg, state, sizeof (s_sequencer_t));
}

static const tr_handler_t s_sequencer_handlers[] = {
    {"num", s_sequencer_num}, {"get", s_sequencer_get}, {NULL, NULL}};
static const tr_behaviour_t s_sequencer = {
    .name = "sequencer",
    .state_size = sizeof (s_sequencer_t),
    .handlers = s_sequencer_handlers,
};

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

//  hostcaller: "try" calls host-only functions from inside a handler and
//  replies with their codes (they must refuse at once, not block)
static int
s_hostcaller_try (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_runtime_t *rt = tr_actor_runtime (self);
    int32_t rc[3];
    rc[0] = tr_call (rt, tr_self (self), s_get, NULL, 0, 100, NULL, NULL);
    tr_spawn_opts_t opts = {.thread = (int) tr__ref_thread (tr_self (self)) + 1};
    tr_ref_t child = 1;
    rc[1] = tr_spawn (rt, "counter", NULL, 0, &opts, &child);
    rc[2] = child == TR_REF_NONE ? 0 : -1;
    return tr_reply (self, msg, rc, sizeof rc);
}

static const tr_handler_t s_hostcaller_handlers[] = {{"try", s_hostcaller_try}, {NULL, NULL}};
static const tr_behaviour_t s_hostcaller = {
    .name = "hostcaller",
    .handlers = s_hostcaller_handlers,
};

//  watcher: "watch" {target} monitors it, then answers once a request to
//  the target came back (so the monitor is in place); DOWNs are kept
typedef struct {
    int32_t downs;
    int32_t reason;
    tr_ref_t ref;
} s_downs_t;

typedef struct {
    tr_msg_t request;
    s_downs_t downs;
} s_watcher_t;

static void
s_watcher_synced (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    (void) reply;
    (void) arg;
    s_watcher_t *watcher = state;
    int32_t code = rc;
    tr_reply (self, &watcher->request, &code, sizeof code);
}

static int
s_watcher_watch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_watcher_t *watcher = state;
    tr_ref_t target;
    if (msg->size != sizeof target)
        return tr_reply_error (self, msg, TR_EINVAL);
    memcpy (&target, msg->data, sizeof target);
    int rc = tr_monitor (self, target);
    if (rc == 0) {
        watcher->request = *msg;
        rc = tr_request (self, target, s_get, NULL, 0, 2000, s_watcher_synced, NULL);
    }
    return rc ? tr_reply_error (self, msg, rc) : 0;
}

static int
s_watcher_down (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_watcher_t *watcher = state;
    tr_down_t down;
    if (msg->type != TR_TYPE_DOWN || msg->size != sizeof down)
        return 0;
    memcpy (&down, msg->data, sizeof down);
    watcher->downs.downs++;
    watcher->downs.reason = down.reason;
    watcher->downs.ref = down.ref;
    return 0;
}

static int
s_watcher_get (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    return tr_reply (self, msg, &((s_watcher_t *) state)->downs, sizeof (s_downs_t));
}

static const tr_handler_t s_watcher_handlers[] = {
    {"watch", s_watcher_watch}, {"tr.down", s_watcher_down}, {"get", s_watcher_get}, {NULL, NULL}};
static const tr_behaviour_t s_watcher = {
    .name = "watcher",
    .state_size = sizeof (s_watcher_t),
    .handlers = s_watcher_handlers,
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

//  terminator: records the order of terminate calls (spawn arg: an index)
#define S_TERMINATORS 1000
static atomic_int s_terminated;
static atomic_int s_terminated_badly;
static int32_t s_term_index[S_TERMINATORS];
static uint32_t s_term_thread[S_TERMINATORS];

typedef struct {
    int32_t index;
    uint32_t thread;
} s_terminator_t;

static int
s_terminator_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    s_terminator_t *terminator = state;
    if (arg_size != sizeof (int32_t))
        return -1;
    memcpy (&terminator->index, arg, sizeof (int32_t));
    terminator->thread = tr__ref_thread (tr_self (self));
    return 0;
}

static void
s_terminator_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    s_terminator_t *terminator = state;
    int slot = atomic_fetch_add (&s_terminated, 1);
    if (reason != TR_ESHUTDOWN || slot >= S_TERMINATORS) {
        atomic_fetch_add (&s_terminated_badly, 1);
        return;
    }
    s_term_index[slot] = terminator->index;
    s_term_thread[slot] = terminator->thread;
}

static const tr_handler_t s_no_handlers[] = {{NULL, NULL}};
static const tr_behaviour_t s_terminator = {
    .name = "terminator",
    .state_size = sizeof (s_terminator_t),
    .init = s_terminator_init,
    .terminate = s_terminator_terminate,
    .handlers = s_no_handlers,
};

//  stuck: "hang" spins until s_unstick is set
static atomic_bool s_unstick;
static atomic_bool s_stuck_entered;

static int
s_stuck_hang (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    atomic_store (&s_stuck_entered, true);
    while (!atomic_load (&s_unstick))
        usleep (1000);
    return 0;
}

static const tr_handler_t s_stuck_handlers[] = {{"hang", s_stuck_hang}, {NULL, NULL}};
static const tr_behaviour_t s_stuck = {
    .name = "stuck",
    .handlers = s_stuck_handlers,
};

//  bad_init: init fails
static int
s_bad_init_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    (void) state;
    (void) arg;
    (void) arg_size;
    return -1;
}

static const tr_behaviour_t s_bad_init = {
    .name = "bad_init",
    .init = s_bad_init_init,
    .handlers = s_no_handlers,
};

//  --------------------------------------------------------------------------
//  Tests

static tr_runtime_t *
s_runtime_new (int threads, size_t max_payload, int stop_timeout_ms)
{
    tr_options_t options;
    tr_options_default (&options);
    options.threads = threads;
    if (max_payload)
        options.max_payload = max_payload;
    if (stop_timeout_ms)
        options.stop_timeout_ms = stop_timeout_ms;
    tr_runtime_t *rt = tr_runtime_new (&options);
    TR_ASSERT (rt);
    return rt;
}

//  A handler that never returns: destroy gives up on its thread within
//  about stop_timeout_ms. Runs in a child process: destroy leaves that
//  runtime unfreed on purpose and its thread outlives destroy, which must
//  not disturb the thread counts and leak checks of the rest.
static int
s_stuck_destroy_child (void)
{
    tr_runtime_t *rt = s_runtime_new (2, 0, 300);
    TR_CHECK (tr_runtime_start (rt));
    tr_ref_t stuck = s_spawn_on (rt, "stuck", NULL, 0, 1);
    tr_ref_t other = s_spawn_on (rt, "counter", NULL, 0, 2);
    TR_CHECK (tr_runtime_send (rt, stuck, s_hang, NULL, 0));
    int64_t deadline = s_now_ms () + 2000;
    while (!atomic_load (&s_stuck_entered)) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (1);
    }
    TR_ASSERT_EQ_INT (s_call_int64 (rt, other, s_get), 0);  //  the other thread still works
    TR_ASSERT_EQ_INT (s_troupe_threads (), 3);  //  two schedulers and the process manager
    int64_t start = s_now_ms ();
    tr_runtime_destroy (&rt);
    int64_t elapsed = s_now_ms () - start;
    TR_ASSERT (rt == NULL);
    TR_ASSERT (elapsed < 3000);
    TR_ASSERT (elapsed >= 250);  //  it did wait for the handler first
    //  Let the abandoned thread finish; it must then end.
    atomic_store (&s_unstick, true);
    s_sleep_ms (50);
    deadline = s_now_ms () + 2000;
    while (s_troupe_threads () > 0) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (5);
    }
    return 0;
}

static void
s_test_stuck_destroy (void)
{
    fflush (stdout);
    fflush (stderr);
    pid_t child = fork ();
    TR_ASSERT (child >= 0);
    if (child == 0) {
        s_stuck_destroy_child ();
        fflush (stderr);
        _exit (0);  //  no exit handlers: the abandoned runtime is never freed
    }
    int status = 0;
    TR_ASSERT_EQ_INT (waitpid (child, &status, 0), child);
    TR_ASSERT (WIFEXITED (status));
    TR_ASSERT_EQ_INT (WEXITSTATUS (status), 0);
}

static void
s_test_options (void)
{
    tr_options_t options;
    tr_options_default (&options);
    TR_ASSERT_EQ_INT (options.threads, 0);
    TR_ASSERT_EQ_INT (options.mailbox_limit, 65536);
    TR_ASSERT_EQ_INT (options.overflow, TR_OVERFLOW_FAIL);
    TR_ASSERT_EQ_INT (options.max_payload, 64u << 20);
    TR_ASSERT_EQ_INT (options.stop_timeout_ms, 5000);
    TR_ASSERT (options.name && strcmp (options.name, "troupe") == 0);

    options.threads = -1;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    options.threads = 1000;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    options.threads = 127;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    tr_options_default (&options);
    options.overflow = (tr_overflow_t) 9;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    tr_options_default (&options);
    options.stop_timeout_ms = -1;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    tr_options_default (&options);
    options.mailbox_limit = (size_t) UINT32_MAX + 1;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    TR_ASSERT_EQ_INT (s_troupe_threads (), 0);

    //  Defaults: one thread per core; nothing runs before start.
    tr_runtime_t *rt = tr_runtime_new (NULL);
    TR_ASSERT (rt);
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    TR_ASSERT_EQ_INT (tr_runtime_threads (rt), cores > 0 ? cores : 1);
    TR_ASSERT_EQ_INT (tr_runtime_threads (NULL), 0);
    TR_ASSERT_EQ_INT (s_troupe_threads (), 0);
    tr_ref_t ref = 1;
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, NULL, &ref), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (ref, TR_REF_NONE);
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, ref, s_inc, NULL, 0), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (tr_call (rt, ref, s_get, NULL, 0, 100, NULL, NULL), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (tr_runtime_kill (rt, ref, 0), TR_ESTOPPED);
    tr_actor_stats_t actor_stats;
    TR_ASSERT_EQ_INT (tr_actor_stats (rt, ref, &actor_stats), TR_ESTOPPED);
    tr_runtime_stats_t stats;
    TR_ASSERT_EQ_INT (tr_runtime_stats (rt, &stats), TR_ESTOPPED);
    tr_runtime_destroy (&rt);  //  never started
    TR_ASSERT (rt == NULL);
    tr_runtime_destroy (&rt);
    tr_runtime_destroy (NULL);

    //  NULL runtime.
    TR_ASSERT_EQ_INT (tr_runtime_start (NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_spawn (NULL, "counter", NULL, 0, NULL, &ref), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_runtime_send (NULL, 1, s_inc, NULL, 0), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (tr_call (NULL, 1, s_get, NULL, 0, 100, NULL, NULL), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (tr_name_register (NULL, "x", 1), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_whereis (NULL, "x"), TR_REF_NONE);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (NULL, 0), 0);
    TR_ASSERT_EQ_INT (tr_dead_letter_sink (NULL, 1), TR_EINVAL);
}

static void
s_test_signals_untouched (void)
{
    struct sigaction action;
    TR_ASSERT_EQ_INT (sigaction (SIGINT, NULL, &action), 0);
    TR_ASSERT (action.sa_handler == SIG_DFL);
    TR_ASSERT (!(action.sa_flags & SA_SIGINFO));
    TR_ASSERT_EQ_INT (sigaction (SIGTERM, NULL, &action), 0);
    TR_ASSERT (action.sa_handler == SIG_DFL);
    TR_ASSERT (!(action.sa_flags & SA_SIGINFO));
}

static void
s_test_placement_and_calls (tr_runtime_t *rt)
{
    TR_ASSERT_EQ_INT (tr_runtime_start (rt), TR_ESTOPPED);  //  already started
    TR_ASSERT_EQ_INT (s_troupe_threads (), 3);  //  two schedulers and the process manager
    tr_ref_t first = s_spawn_on (rt, "counter", NULL, 0, 1);
    tr_ref_t second = s_spawn_on (rt, "counter", NULL, 0, 2);
    for (int64_t i = 1; i <= 10; i++) {
        TR_CHECK (tr_runtime_send (rt, first, s_inc, &i, sizeof i));
        TR_CHECK (tr_runtime_send (rt, second, s_inc, &i, sizeof i));
    }
    TR_ASSERT_EQ_INT (s_call_int64 (rt, first, s_get), 55);
    TR_ASSERT_EQ_INT (s_call_int64 (rt, second, s_get), 55);
    //  Default placement alternates.
    tr_ref_t a, b;
    TR_CHECK (tr_spawn (rt, "counter", NULL, 0, NULL, &a));
    TR_CHECK (tr_spawn (rt, "counter", NULL, 0, NULL, &b));
    TR_ASSERT (tr__ref_thread (a) != tr__ref_thread (b));
    tr_spawn_opts_t opts = {.thread = -1};
    TR_CHECK (tr_spawn (rt, "counter", NULL, 0, &opts, &a));

    //  No reply buffer wanted; an empty reply.
    TR_CHECK (tr_call (rt, first, s_get, NULL, 0, 1000, NULL, NULL));
    void *reply = (void *) 1;
    size_t size = 99;
    TR_CHECK (tr_call (rt, second, s_touch, NULL, 0, 1000, &reply, &size));
    TR_ASSERT (reply == NULL);
    TR_ASSERT_EQ_INT (size, 0);

    //  Error replies: unknown type, a failing handler (then it is dead).
    reply = (void *) 1;
    TR_ASSERT_EQ_INT (tr_call (rt, first, s_ping, NULL, 0, 1000, &reply, &size), TR_EUNKNOWN_TYPE);
    TR_ASSERT (reply == NULL);
    int32_t reason = -4321;
    TR_ASSERT_EQ_INT (tr_call (rt, first, s_fail, &reason, sizeof reason, 1000, NULL, NULL), -4321);
    TR_ASSERT_EQ_INT (tr_call (rt, first, s_get, NULL, 0, 1000, NULL, NULL), TR_EDEAD);

    //  Bad input.
    TR_ASSERT_EQ_INT (tr_call (rt, second, TR_TYPE_NONE, NULL, 0, 1000, NULL, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_call (rt, second, s_inc, NULL, 8, 1000, NULL, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_call (rt, TR_REF_NONE, s_get, NULL, 0, 1000, NULL, NULL), TR_EDEAD);
    tr_ref_t far = tr__ref_make (50, 1, 1);  //  a thread that does not exist
    TR_ASSERT_EQ_INT (tr_call (rt, far, s_get, NULL, 0, 1000, NULL, NULL), TR_EDEAD);
    tr_ref_t unused = tr__ref_make (1, 4000, 1);  //  a slot never handed out
    TR_ASSERT_EQ_INT (tr_call (rt, unused, s_get, NULL, 0, 1000, NULL, NULL), TR_EDEAD);
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, second, TR_TYPE_NONE, NULL, 0), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, second, s_inc, NULL, 8), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, TR_REF_NONE, s_inc, NULL, 0), TR_EDEAD);
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, far, s_inc, NULL, 0), TR_EDEAD);
    tr_ref_t ref;
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, NULL, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_spawn (rt, NULL, NULL, 0, NULL, &ref), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 4, NULL, &ref), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_spawn (rt, "no-such-behaviour", NULL, 0, NULL, &ref),
                      TR_EUNKNOWN_BEHAVIOUR);
    TR_ASSERT_EQ_INT (tr_spawn (rt, "bad_init", NULL, 0, NULL, &ref), TR_EINIT);
    TR_ASSERT_EQ_INT (ref, TR_REF_NONE);
    opts = (tr_spawn_opts_t){.thread = 3};
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    opts = (tr_spawn_opts_t){.thread = -2};
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    opts = (tr_spawn_opts_t){.overflow = (tr_overflow_t) 4, .overflow_set = true};
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    opts = (tr_spawn_opts_t){.mailbox_limit = (size_t) UINT32_MAX + 1};
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    TR_ASSERT_EQ_INT (s_call_int64 (rt, second, s_get), 55);  //  still fine
}

//  Slots of scheduler thread reserved for a spawn whose order has not run.
//  Read under slot_lock, with the runtime quiet on that thread.
static int
s_pending_slots (tr_runtime_t *rt, uint32_t thread)
{
    tr__sched_t *sched = rt->scheds[thread];
    pthread_mutex_lock (&sched->slot_lock);
    int pending = 0;
    for (uint32_t index = 1; index < sched->slot_high; index++) {
        tr_actor_t *actor = tr__sched_slot (sched, index);
        if (actor && actor->status == TR__ACTOR_PENDING)
            pending++;
    }
    pthread_mutex_unlock (&sched->slot_lock);
    return pending;
}

//  Blocking host calls from a handler would stall its thread (or deadlock
//  waiting on it): they fail at once instead, and leave nothing behind.
//  Returns how many slots the refused spawns left reserved (should be 0).
static int
s_test_host_calls_in_handler (tr_runtime_t *rt)
{
    int leaked = 0;
    for (int thread = 1; thread <= 2; thread++) {
        tr_ref_t caller = s_spawn_on (rt, "hostcaller", NULL, 0, thread);
        int pending = s_pending_slots (rt, (uint32_t) thread - 1);
        int32_t rc[3];
        int64_t start = s_now_ms ();
        s_call_into (rt, caller, s_try, NULL, 0, rc, sizeof rc);
        TR_ASSERT (s_now_ms () - start < 1000);
        TR_ASSERT_EQ_INT (rc[0], TR_EINVAL);
        TR_ASSERT (rc[1] != 0);
        TR_ASSERT_EQ_INT (rc[2], 0);
        leaked += s_pending_slots (rt, (uint32_t) thread - 1) - pending;
    }
    if (leaked)
        fprintf (stderr, "tr_spawn refused inside a handler left %d slot(s) reserved\n", leaked);
    return leaked;
}

static void
s_test_ping_pong (tr_runtime_t *rt)
{
    tr_ref_t pinger = s_spawn_on (rt, "pinger", NULL, 0, 1);
    tr_ref_t ponger = s_spawn_on (rt, "ponger", NULL, 0, 2);
    s_start_t start = {ponger, 10000};
    int64_t pongs = 0;
    s_call_into (rt, pinger, s_start, &start, sizeof start, &pongs, sizeof pongs);
    TR_ASSERT_EQ_INT (pongs, 10000);
    TR_ASSERT_EQ_INT (s_call_int64 (rt, ponger, s_get), 10000);
}

static void
s_test_ordering (tr_runtime_t *rt)
{
    tr_ref_t sequencer = s_spawn_on (rt, "sequencer", NULL, 0, 2);
    for (int64_t number = 0; number < 10000; number++)
        TR_CHECK (tr_runtime_send (rt, sequencer, s_num, &number, sizeof number));
    s_sequencer_t result;
    s_call_into (rt, sequencer, s_get, NULL, 0, &result, sizeof result);
    TR_ASSERT_EQ_INT (result.count, 10000);
    TR_ASSERT_EQ_INT (result.errors, 0);
    TR_ASSERT_EQ_INT (result.next, 10000);
}

static void
s_test_names (tr_runtime_t *rt)
{
    tr_ref_t one = s_spawn_on (rt, "counter", NULL, 0, 1);
    tr_ref_t two = s_spawn_on (rt, "counter", NULL, 0, 2);
    TR_ASSERT_EQ_INT (tr_whereis (rt, "alpha"), TR_REF_NONE);
    TR_CHECK (tr_name_register (rt, "alpha", one));
    TR_ASSERT_EQ_INT (tr_whereis (rt, "alpha"), one);
    TR_ASSERT_EQ_INT (tr_name_register (rt, "alpha", two), TR_EEXIST);
    TR_CHECK (tr_name_register (rt, "alpha", one));  //  the holder again: fine
    TR_ASSERT_EQ_INT (tr_whereis (rt, "alpha"), one);
    TR_CHECK (tr_name_register (rt, "other", one));  //  two names, one actor
    TR_CHECK (tr_name_unregister (rt, "alpha"));
    TR_ASSERT_EQ_INT (tr_whereis (rt, "alpha"), TR_REF_NONE);
    TR_ASSERT_EQ_INT (tr_name_unregister (rt, "alpha"), TR_ENOENT);
    TR_ASSERT_EQ_INT (tr_name_unregister (rt, "never"), TR_ENOENT);
    TR_CHECK (tr_name_register (rt, "alpha", two));
    TR_ASSERT_EQ_INT (tr_whereis (rt, "alpha"), two);
    TR_ASSERT_EQ_INT (tr_whereis (rt, "other"), one);
    //  Bad input.
    TR_ASSERT_EQ_INT (tr_name_register (rt, NULL, one), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_name_register (rt, "", one), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_name_register (rt, "zero", TR_REF_NONE), TR_EINVAL);
    char long_name[300];
    memset (long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    TR_ASSERT_EQ_INT (tr_name_register (rt, long_name, one), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_name_unregister (rt, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_whereis (rt, NULL), TR_REF_NONE);

    //  opts.name: registered at spawn, taken while alive, released at death.
    tr_spawn_opts_t opts = {.name = "beta", .thread = 2};
    tr_ref_t beta;
    TR_CHECK (tr_spawn (rt, "counter", NULL, 0, &opts, &beta));
    TR_ASSERT_EQ_INT (tr_whereis (rt, "beta"), beta);
    tr_ref_t again = 1;
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &again), TR_EEXIST);
    TR_ASSERT_EQ_INT (again, TR_REF_NONE);
    TR_ASSERT_EQ_INT (tr_name_register (rt, "beta", one), TR_EEXIST);
    TR_CHECK (tr_call (rt, beta, s_stop, NULL, 0, 1000, NULL, NULL));
    int64_t deadline = s_now_ms () + 2000;
    while (tr_whereis (rt, "beta") != TR_REF_NONE) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (1);
    }
    TR_CHECK (tr_spawn (rt, "counter", NULL, 0, &opts, &again));
    TR_ASSERT (again != beta);
    TR_ASSERT_EQ_INT (tr_whereis (rt, "beta"), again);
    //  A dead holder does not block a new registration.
    TR_CHECK (tr_name_register (rt, "gamma", beta));
    TR_CHECK (tr_name_register (rt, "gamma", one));
    TR_ASSERT_EQ_INT (tr_whereis (rt, "gamma"), one);

    //  A spawn that fails in init leaves its name free.
    opts = (tr_spawn_opts_t){.name = "delta"};
    tr_ref_t ref;
    TR_ASSERT_EQ_INT (tr_spawn (rt, "bad_init", NULL, 0, &opts, &ref), TR_EINIT);
    TR_ASSERT_EQ_INT (tr_whereis (rt, "delta"), TR_REF_NONE);
    TR_CHECK (tr_name_register (rt, "delta", two));
}

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
s_test_stats (tr_runtime_t *rt)
{
    enum { N = 200 };
    tr_ref_t counter = s_spawn_on (rt, "counter", NULL, 0, 1);
    int64_t one = 1;
    for (int i = 0; i < N; i++)
        TR_CHECK (tr_runtime_send (rt, counter, s_inc, &one, sizeof one));
    tr_actor_stats_t stats;
    TR_CHECK (tr_actor_stats (rt, counter, &stats));  //  queued behind the N sends
    TR_ASSERT_EQ_INT (stats.received, N);
    TR_ASSERT_EQ_INT (stats.handled, N);
    TR_ASSERT_EQ_INT (stats.failed, 0);
    TR_ASSERT_EQ_INT (stats.dropped, 0);
    TR_ASSERT_EQ_INT (stats.mailbox_depth, 0);
    TR_ASSERT_EQ_INT (stats.latency_count, N);
    TR_ASSERT (stats.latency_p50_ns > 0);
    TR_ASSERT (stats.latency_p50_ns <= stats.latency_p95_ns);
    TR_ASSERT (stats.latency_p95_ns <= stats.latency_p99_ns);
    TR_ASSERT (stats.latency_p99_ns <= stats.latency_max_ns);

    tr_runtime_stats_t node;
    TR_CHECK (tr_runtime_stats (rt, &node));
    TR_ASSERT_EQ_INT (node.threads, 2);
    TR_ASSERT (node.messages_handled >= N);
    TR_ASSERT (node.actors_live >= 2);  //  the counter and the dead-letter actor
    TR_ASSERT (node.actors_spawned >= node.actors_live);
    TR_ASSERT (node.dead_letters >= 1);
    TR_ASSERT (node.latency_p50_ns > 0);
    TR_ASSERT (node.latency_p50_ns <= node.latency_p99_ns);
    TR_ASSERT (node.latency_p99_ns <= node.latency_max_ns);

    tr_mem_stats_t mem;
#ifdef TR_NO_JEMALLOC
    TR_ASSERT_EQ_INT (tr_mem_stats (&mem), TR_ENOTSUP);
    TR_ASSERT_EQ_INT (node.mem_allocated, 0);
#else
    TR_CHECK (tr_mem_stats (&mem));
    TR_ASSERT (mem.allocated > 0);
    TR_ASSERT (mem.active >= mem.allocated);
    TR_ASSERT (mem.resident > 0);
    TR_ASSERT (mem.mapped > 0);
    TR_ASSERT (node.mem_allocated > 0);
#endif
    TR_ASSERT_EQ_INT (tr_mem_stats (NULL), TR_EINVAL);

    //  Bad input.
    TR_ASSERT_EQ_INT (tr_actor_stats (rt, counter, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_runtime_stats (rt, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_actor_stats (rt, TR_REF_NONE, &stats), TR_EDEAD);
    TR_CHECK (tr_call (rt, counter, s_stop, NULL, 0, 1000, NULL, NULL));
    s_wait_dead (rt, counter);
}

static void
s_test_kill_and_monitor (tr_runtime_t *rt)
{
    tr_ref_t watcher = s_spawn_on (rt, "watcher", NULL, 0, 2);
    tr_ref_t target = s_spawn_on (rt, "counter", NULL, 0, 1);
    int32_t synced = -1;
    s_call_into (rt, watcher, s_watch, &target, sizeof target, &synced, sizeof synced);
    TR_ASSERT_EQ_INT (synced, 0);
    TR_CHECK (tr_runtime_kill (rt, target, TR_EKILLED));
    s_downs_t downs;
    int64_t deadline = s_now_ms () + 2000;
    do {
        TR_ASSERT (s_now_ms () < deadline);
        s_call_into (rt, watcher, s_get, NULL, 0, &downs, sizeof downs);
    } while (downs.downs == 0);
    TR_ASSERT_EQ_INT (downs.downs, 1);
    TR_ASSERT_EQ_INT (downs.reason, TR_EKILLED);
    TR_ASSERT_EQ_INT (downs.ref, target);
    TR_ASSERT_EQ_INT (tr_call (rt, target, s_get, NULL, 0, 1000, NULL, NULL), TR_EDEAD);

    //  A kill with reason 0 is a normal stop.
    target = s_spawn_on (rt, "counter", NULL, 0, 1);
    s_call_into (rt, watcher, s_watch, &target, sizeof target, &synced, sizeof synced);
    TR_ASSERT_EQ_INT (synced, 0);
    TR_CHECK (tr_runtime_kill (rt, target, 0));
    deadline = s_now_ms () + 2000;
    do {
        TR_ASSERT (s_now_ms () < deadline);
        s_call_into (rt, watcher, s_get, NULL, 0, &downs, sizeof downs);
    } while (downs.downs == 1);
    TR_ASSERT_EQ_INT (downs.downs, 2);
    TR_ASSERT_EQ_INT (downs.reason, 0);
    TR_ASSERT_EQ_INT (downs.ref, target);

    //  Watching a dead actor: DOWN with TR_EDEAD (the sync request fails).
    TR_ASSERT_EQ_INT (tr_call (rt, watcher, s_watch, &target, sizeof target, 1000, NULL, NULL),
                      TR_EDEAD);
    deadline = s_now_ms () + 2000;
    do {
        TR_ASSERT (s_now_ms () < deadline);
        s_call_into (rt, watcher, s_get, NULL, 0, &downs, sizeof downs);
    } while (downs.downs == 2);
    TR_ASSERT_EQ_INT (downs.downs, 3);
    TR_ASSERT_EQ_INT (downs.reason, TR_EDEAD);
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

//  Destroy a started runtime with many actors: every terminate runs
//  (newest first on each thread) before destroy returns.
static void
s_test_destroy_terminates_all (void)
{
    tr_runtime_t *rt = s_runtime_new (2, 0, 0);
    TR_CHECK (tr_runtime_start (rt));
    int on_thread[2] = {0, 0};
    for (int32_t i = 0; i < S_TERMINATORS; i++) {
        tr_ref_t ref;
        TR_CHECK (tr_spawn (rt, "terminator", &i, sizeof i, NULL, &ref));
        on_thread[tr__ref_thread (ref)]++;
    }
    TR_ASSERT (on_thread[0] > 0 && on_thread[1] > 0);
    TR_ASSERT_EQ_INT (atomic_load (&s_terminated), 0);
    tr_runtime_destroy (&rt);
    TR_ASSERT (rt == NULL);
    TR_ASSERT_EQ_INT (atomic_load (&s_terminated), S_TERMINATORS);
    TR_ASSERT_EQ_INT (atomic_load (&s_terminated_badly), 0);
    int32_t last[2] = {S_TERMINATORS, S_TERMINATORS};
    int per_thread[2] = {0, 0};
    for (int slot = 0; slot < S_TERMINATORS; slot++) {
        uint32_t thread = s_term_thread[slot];
        TR_ASSERT (thread < 2);
        TR_ASSERT (s_term_index[slot] < last[thread]);  //  newest first
        last[thread] = s_term_index[slot];
        per_thread[thread]++;
    }
    TR_ASSERT_EQ_INT (per_thread[0], on_thread[0]);
    TR_ASSERT_EQ_INT (per_thread[1], on_thread[1]);
    TR_ASSERT_EQ_INT (s_troupe_threads (), 0);
}

int
main (void)
{
    s_inc = tr_type ("inc");
    s_get = tr_type ("get");
    s_stop = tr_type ("stop");
    s_fail = tr_type ("fail");
    s_touch = tr_type ("touch");
    s_blob = tr_type ("blob");
    s_start = tr_type ("start");
    s_ping = tr_type ("ping");
    s_pong = tr_type ("pong");
    s_num = tr_type ("num");
    s_hang = tr_type ("hang");
    s_hold = tr_type ("hold");
    s_release = tr_type ("release");
    s_watch = tr_type ("watch");
    s_letter = tr_type ("letter");
    s_item = tr_type ("item");
    s_blast = tr_type ("blast");
    s_more = tr_type ("more");
    s_try = tr_type ("try");
    TR_ASSERT (s_try != TR_TYPE_NONE);
    TR_CHECK (tr_behaviour_register (&s_counter));
    TR_CHECK (tr_behaviour_register (&s_pinger));
    TR_CHECK (tr_behaviour_register (&s_ponger));
    TR_CHECK (tr_behaviour_register (&s_sequencer));
    TR_CHECK (tr_behaviour_register (&s_sleeper));
    TR_CHECK (tr_behaviour_register (&s_bigsender));
    TR_CHECK (tr_behaviour_register (&s_watcher));
    TR_CHECK (tr_behaviour_register (&s_sink));
    TR_CHECK (tr_behaviour_register (&s_slow));
    TR_CHECK (tr_behaviour_register (&s_blaster));
    TR_CHECK (tr_behaviour_register (&s_terminator));
    TR_CHECK (tr_behaviour_register (&s_stuck));
    TR_CHECK (tr_behaviour_register (&s_bad_init));
    TR_CHECK (tr_behaviour_register (&s_hostcaller));

    //  First, while this process has no other thread: fork is safe.
    s_test_stuck_destroy ();
    s_test_options ();

    //  The runtime installs no signal handler.
    signal (SIGINT, SIG_DFL);
    signal (SIGTERM, SIG_DFL);
    tr_runtime_t *rt = s_runtime_new (2, 1024, 0);
    TR_CHECK (tr_runtime_start (rt));
    s_test_signals_untouched ();

    s_test_placement_and_calls (rt);
    int leaked_slots = s_test_host_calls_in_handler (rt);
    s_test_ping_pong (rt);
    s_test_ordering (rt);
    s_test_names (rt);
    s_test_timeouts (rt);
    s_test_oversized (rt);
    s_test_stats (rt);
    s_test_kill_and_monitor (rt);
    s_test_dead_letter_sink (rt);
    s_test_overflow_fail (rt);
    int64_t lost = s_test_overflow_block (rt);

    tr_runtime_destroy (&rt);
    TR_ASSERT (rt == NULL);
    TR_ASSERT_EQ_INT (s_troupe_threads (), 0);
    s_test_signals_untouched ();
    s_test_destroy_terminates_all ();

    //  Last, so that the tests above still run when it fails.
    TR_ASSERT_EQ_INT (lost, 0);
    TR_ASSERT_EQ_INT (leaked_slots, 0);
    TR_PASS ();
    return 0;
}
