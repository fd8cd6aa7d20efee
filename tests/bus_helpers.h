//  bus_helpers - what the event bus tests share: a recording subscriber
//  ("test.sub"), a waiting loop, publishing that retries a full bus, and a
//  temporary directory
#ifndef TR_BUS_HELPERS_H_INCLUDED
#define TR_BUS_HELPERS_H_INCLUDED

#include "testutil.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

//  Timeouts stretch under the sanitizers (TSan is ~10x slower).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#    define S_WAIT_MS 60000
#else
#    define S_WAIT_MS 20000
#endif

//  Wait until cond holds (checked every ms), or fail the test.
#define S_WAIT_UNTIL(cond)                                                                      \
    do {                                                                                        \
        int64_t s_deadline_ = s_now_ms () + S_WAIT_MS;                                          \
        while (!(cond)) {                                                                       \
            if (s_now_ms () > s_deadline_) {                                                    \
                fprintf (stderr, "%s:%d: FAIL: timed out waiting for %s\n", __FILE__, __LINE__, \
                         #cond);                                                                \
                exit (1);                                                                       \
            }                                                                                   \
            s_sleep_ms (1);                                                                     \
        }                                                                                       \
    } while (0)

//  Publish from the host, retrying while the bus's mailbox is full.
static inline void
s_publish (tr_runtime_t *rt, tr_ref_t bus, const char *topic, const void *data, size_t size)
{
    int rc;
    while ((rc = tr_runtime_publish (rt, bus, topic, data, size)) == TR_EAGAIN)
        s_sleep_ms (1);
    TR_CHECK (rc);
}

//  Publish topic with the topic itself as data, plus `extra` bytes.
static inline void
s_publish_topic (tr_runtime_t *rt, tr_ref_t bus, const char *topic, size_t extra)
{
    char data[1024];
    size_t size = strlen (topic);
    memcpy (data, topic, size);
    for (size_t i = 0; i < extra && size < sizeof data; i++)
        data[size++] = (char) ('a' + i % 26);
    s_publish (rt, bus, topic, data, size);
}

static inline tr_bus_stats_t
s_stats (tr_runtime_t *rt, tr_ref_t bus)
{
    tr_bus_stats_t stats;
    TR_CHECK (tr_bus_stats (rt, bus, &stats));
    return stats;
}

//  --------------------------------------------------------------------------
//  test.sub: records what it receives. Checks each event: offsets go up,
//  the data starts with the topic (what s_publish_topic sends).

typedef struct {
    int delay_us;  //  busy work per event (a slow subscriber)
} s_sub_arg_t;

typedef struct {
    uint64_t count, replayed, errors, last_offset;
} s_sub_report_t;

typedef struct {
    int delay_us;
    s_sub_report_t report;
    bool any;
    uint64_t *offsets;
    size_t offset_count, offset_capacity;
} s_sub_t;

//  What "sub.subscribe" carries: the actor calls the subscribe API itself.
typedef struct {
    tr_ref_t bus;
    uint64_t limit;
    uint64_t from_offset;
    int replay;       //  tr_subscribe_from
    int unsubscribe;  //  tr_unsubscribe (prefix "" = all)
    char prefix[64];
} s_sub_order_t;

static int
s_sub_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    s_sub_t *sub = state;
    if (size == sizeof (s_sub_arg_t))
        sub->delay_us = ((const s_sub_arg_t *) arg)->delay_us;
    return 0;
}

static void
s_sub_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    (void) reason;
    free (((s_sub_t *) state)->offsets);
}

static int
s_sub_event (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_sub_t *sub = state;
    tr_bus_event_t event;
    if (tr_bus_event_read (msg, &event) != 0) {
        sub->report.errors++;
        return 0;
    }
    if (sub->any && event.offset <= sub->report.last_offset)
        sub->report.errors++;  //  out of order or a duplicate
    if (event.size < event.topic_size || memcmp (event.data, event.topic, event.topic_size) != 0
        || ((uintptr_t) event.data & 7) != 0 || strlen (event.topic) != event.topic_size)
        sub->report.errors++;
    sub->any = true;
    sub->report.last_offset = event.offset;
    sub->report.count++;
    if (event.flags & TR_BUS_REPLAYED)
        sub->report.replayed++;
    if (sub->offset_count == sub->offset_capacity) {
        sub->offset_capacity = sub->offset_capacity ? sub->offset_capacity * 2 : 1024;
        sub->offsets = realloc (sub->offsets, sub->offset_capacity * sizeof (uint64_t));
    }
    sub->offsets[sub->offset_count++] = event.offset;
    if (sub->delay_us) {
        struct timespec start, now;
        clock_gettime (CLOCK_MONOTONIC, &start);
        do
            clock_gettime (CLOCK_MONOTONIC, &now);
        while ((now.tv_sec - start.tv_sec) * 1000000 + (now.tv_nsec - start.tv_nsec) / 1000
               < sub->delay_us);
    }
    return 0;
}

static int
s_sub_get (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    return tr_reply (self, msg, &((s_sub_t *) state)->report, sizeof (s_sub_report_t));
}

static int
s_sub_offsets (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_sub_t *sub = state;
    return tr_reply (self, msg, sub->offsets, sub->offset_count * sizeof (uint64_t));
}

static int
s_sub_subscribe (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    s_sub_order_t order;
    int32_t rc = TR_EINVAL;
    if (msg->size == sizeof order) {
        memcpy (&order, msg->data, sizeof order);
        if (order.unsubscribe)
            rc = tr_unsubscribe (self, order.bus, order.prefix[0] ? order.prefix : NULL);
        else if (order.replay)
            rc = tr_subscribe_from (self, order.bus, order.prefix, order.limit, order.from_offset);
        else
            rc = tr_subscribe (self, order.bus, order.prefix, order.limit);
    }
    return tr_reply (self, msg, &rc, sizeof rc);
}

static const tr_handler_t s_sub_handlers[] = {{TR_BUS_EVENT_TYPE, s_sub_event},
                                              {"sub.get", s_sub_get},
                                              {"sub.offsets", s_sub_offsets},
                                              {"sub.subscribe", s_sub_subscribe},
                                              {NULL, NULL}};
static const tr_behaviour_t s_sub_behaviour = {"test.sub",      sizeof (s_sub_t), s_sub_init,
                                               s_sub_terminate, s_sub_handlers,   NULL};

//  A subscriber on thread (1-based, 0 = any), busy delay_us per event.
static inline tr_ref_t
s_sub_spawn (tr_runtime_t *rt, int thread, int delay_us)
{
    s_sub_arg_t arg = {delay_us};
    tr_spawn_opts_t opts = {.thread = thread};
    tr_ref_t ref;
    TR_CHECK (tr_spawn (rt, "test.sub", &arg, sizeof arg, &opts, &ref));
    return ref;
}

static inline s_sub_report_t
s_sub_report (tr_runtime_t *rt, tr_ref_t sub)
{
    s_sub_report_t report;
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, sub, tr_type ("sub.get"), NULL, 0, 5000, &reply, &size));
    TR_ASSERT_EQ_INT (size, sizeof report);
    memcpy (&report, reply, sizeof report);
    tr_free (reply);
    return report;
}

//  The offsets sub received, in order (free with tr_free); *count of them.
static inline uint64_t *
s_sub_offsets_of (tr_runtime_t *rt, tr_ref_t sub, size_t *count)
{
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, sub, tr_type ("sub.offsets"), NULL, 0, 5000, &reply, &size));
    *count = size / sizeof (uint64_t);
    return reply;
}

//  Have sub call tr_subscribe (or _from, or tr_unsubscribe) itself; the
//  call's own result.
static inline int
s_sub_order (tr_runtime_t *rt, tr_ref_t sub, const s_sub_order_t *order)
{
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (
        tr_call (rt, sub, tr_type ("sub.subscribe"), order, sizeof *order, 5000, &reply, &size));
    int32_t rc;
    TR_ASSERT_EQ_INT (size, sizeof rc);
    memcpy (&rc, reply, sizeof rc);
    tr_free (reply);
    return rc;
}

//  A fresh temporary directory (removed by s_tmpdir_remove).
static inline void
s_tmpdir (char *dir, size_t size)
{
    snprintf (dir, size, "/tmp/troupe-bus-test.XXXXXX");
    TR_ASSERT (mkdtemp (dir));
}

static inline void
s_tmpdir_remove (const char *dir)
{
    DIR *handle = opendir (dir);
    struct dirent *entry;
    while (handle && (entry = readdir (handle))) {
        if (entry->d_name[0] == '.')
            continue;
        char path[512];
        snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        unlink (path);
    }
    if (handle)
        closedir (handle);
    rmdir (dir);
}

#endif
