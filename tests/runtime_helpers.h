//  runtime_helpers - what the test_runtime* programs share: the message
//  types, small helpers (clock, sleep, scheduler threads, calls that must
//  succeed, spawns on a given thread, a runtime with options) and the
//  counter behaviour. Each program registers what it uses in its main.
#ifndef TR_RUNTIME_HELPERS_H_INCLUDED
#define TR_RUNTIME_HELPERS_H_INCLUDED

#include "msg.h"
#include "runtime.h"
#include "handlers.h"
#include "testutil.h"

#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static tr_type_t s_inc, s_get, s_stop, s_fail, s_touch, s_blob, s_start, s_ping, s_pong, s_num,
    s_hang, s_hold, s_release, s_watch, s_letter, s_item, s_blast, s_more, s_try;

//  Intern the types above; first thing in every main.
static inline void
s_types_init (void)
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
}

//  --------------------------------------------------------------------------
//  Helpers

//  Scheduler threads (named troupe-N) alive in this process.
static inline int
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
static inline int64_t
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
static inline void
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

static inline tr_ref_t
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
static inline void
s_wait_dead (tr_runtime_t *rt, tr_ref_t ref)
{
    tr_actor_stats_t stats;
    int64_t deadline = s_now_ms () + 2000;
    while (tr_actor_stats (rt, ref, &stats) != TR_EDEAD) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (1);
    }
}

//  A runtime, not started yet: threads, and max_payload and stop_timeout_ms
//  unless 0 (then the defaults).
static inline tr_runtime_t *
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

//  An empty handler table (bad_init, terminator).
static const tr_handler_t s_no_handlers[] = {{NULL, NULL}};

#endif
