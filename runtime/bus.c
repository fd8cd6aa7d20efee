//  bus - the node's event bus: an actor that gives every event an offset,
//  appends it to its log, and fans it out by topic prefix to subscribers
//  (each under its own in-flight bound) and to its ipc endpoint
#include "bus.h"
#include "actor.h"
#include "bus_ipc.h"
#include "bus_log.h"
#include "log.h"
#include "procs.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"

#include <string.h>

//  The bus learns how far a subscriber got with a marker: a runtime stats
//  request queued behind the events it was sent. Mail from one sender to
//  one receiver keeps its order, so the marker's answer means every event
//  sent before it has been handled (or dropped by the subscriber's own
//  mailbox policy). A marker goes out every limit / 4 events, and at the
//  end of a batch when none is out; its correlation id carries the
//  subscriber's id and how many events had been sent.

typedef struct {
    char *bytes;
    uint32_t size;
} s_prefix_t;

typedef struct {
    tr_ref_t ref;
    uint32_t id;
    uint64_t limit, interval;      //  bound; a marker every interval events
    uint64_t sent, acked, marked;  //  events sent; known handled; sent at last marker
    uint32_t markers_out;          //  markers not answered yet
    uint64_t delivered, dropped, replayed;
    s_prefix_t *prefixes;
    uint32_t prefix_count, prefix_capacity;
    //  Replaying: reading the log from cursor_pos (the record of offset
    //  cursor_offset) until it meets the live sequence.
    bool replaying;
    uint64_t replay_from, cursor_offset, cursor_pos;
} s_sub_t;

typedef struct {
    tr_ref_t self_ref;
    tr_runtime_t *rt;
    char *name;
    uint64_t default_limit;
    s_sub_t **subs;  //  oldest first
    uint32_t sub_count, sub_capacity;
    uint32_t next_id;
    uint64_t next_offset;
    uint64_t published, delivered, dropped, replayed, rejected;
    tr__bus_log_t *log;
    int sync_events, sync_ms;
    bool sync_timer;
    tr__bus_reader_t reader;  //  replays (buffer kept between steps)
    bool replay_scheduled;
    tr__bus_ipc_t *ipc;
    uint32_t ipc_countdown;
    char dir[128];  //  a run directory this bus made itself (no process manager)
} s_bus_t;

static tr__bus_types_t s_types;  //  set once by s_register

//  --------------------------------------------------------------------------
//  Subscribers

static s_sub_t *
s_find (s_bus_t *bus, tr_ref_t ref, uint32_t *at)
{
    for (uint32_t i = 0; i < bus->sub_count; i++)
        if (bus->subs[i]->ref == ref) {
            if (at)
                *at = i;
            return bus->subs[i];
        }
    return NULL;
}

static s_sub_t *
s_find_id (s_bus_t *bus, uint32_t id, uint32_t *at)
{
    for (uint32_t i = 0; i < bus->sub_count; i++)
        if (bus->subs[i]->id == id) {
            *at = i;
            return bus->subs[i];
        }
    return NULL;
}

static void
s_sub_free (s_sub_t *sub)
{
    for (uint32_t i = 0; i < sub->prefix_count; i++)
        tr__free (sub->prefixes[i].bytes);
    tr__free (sub->prefixes);
    tr__free (sub);
}

//  Forget the subscriber at index at (the order of the others is kept).
static void
s_remove (s_bus_t *bus, uint32_t at)
{
    s_sub_free (bus->subs[at]);
    memmove (&bus->subs[at], &bus->subs[at + 1], (bus->sub_count - at - 1) * sizeof (s_sub_t *));
    bus->sub_count--;
}

static bool
s_matches (const s_sub_t *sub, const char *topic, size_t topic_size)
{
    for (uint32_t i = 0; i < sub->prefix_count; i++) {
        const s_prefix_t *prefix = &sub->prefixes[i];
        if (prefix->size <= topic_size && memcmp (prefix->bytes, topic, prefix->size) == 0)
            return true;
    }
    return false;
}

static void
s_set_limit (s_sub_t *sub, uint64_t limit)
{
    sub->limit = limit;
    sub->interval = limit / 4 ? limit / 4 : 1;
}

//  Send sub a marker covering every event sent to it so far.
static void
s_mark (tr_actor_t *self, s_bus_t *bus, s_sub_t *sub)
{
    tr__msg_t *marker = tr__msg_new (&self->sched->pool, 0);
    marker->to = sub->ref;
    marker->from = bus->self_ref;
    marker->corr = ((uint64_t) sub->id << 32) | (uint32_t) sub->sent;
    marker->flags |= TR__MSG_SYSTEM;
    marker->sys = TR__SYS_STATS;
    sub->marked = sub->sent;
    sub->markers_out++;
    tr__route (bus->rt, self->sched, marker, false);
}

//  An event for sub over its bound, or refused by its mailbox.
static void
s_drop (s_bus_t *bus, s_sub_t *sub)
{
    sub->dropped++;
    bus->dropped++;
    tr__dead_letter_counted (bus->rt, TR_EOVERFLOW);
    //  The first, then one in ten thousand: a slow subscriber must not
    //  flood the log.
    if (sub->dropped == 1 || sub->dropped % 10000 == 0)
        tr__warn ("bus", "%s: subscriber %016llx is over its bound of %llu: %llu events dropped",
                  bus->name, (unsigned long long) sub->ref, (unsigned long long) sub->limit,
                  (unsigned long long) sub->dropped);
}

//  Send one event message (payload of size bytes, offset and flags set)
//  to sub. Returns the tr__route result; the payload is copied.
static int
s_deliver (tr_actor_t *self, s_bus_t *bus, s_sub_t *sub, tr__msg_t *msg)
{
    msg->to = sub->ref;
    msg->from = bus->self_ref;
    msg->type = s_types.event;
    int rc = tr__route (bus->rt, self->sched, msg, true);
    if (rc == 0) {
        sub->sent++;
        sub->delivered++;
        bus->delivered++;
        if (sub->sent - sub->marked >= sub->interval)
            s_mark (self, bus, sub);
    }
    return rc;
}

static void
s_reject (tr_actor_t *self, s_bus_t *bus, const tr_msg_t *msg, const char *what)
{
    bus->rejected++;
    tr__dead_letter_counted (bus->rt, TR_EMALFORMED);
    if (bus->rejected <= 10 || bus->rejected % 1000 == 0)
        tr__warn ("bus", "%s: rejected a malformed %s from %016llx (%zu bytes)", bus->name, what,
                  (unsigned long long) msg->from, msg->size);
    if (msg->flags & TR_MSG_REQUEST)
        tr_reply_error (self, msg, TR_EMALFORMED);
}

static void s_replay_schedule (tr_actor_t *self, s_bus_t *bus);

//  --------------------------------------------------------------------------
//  Batches: work done once the bus has nothing more queued

static void
s_sync_policy (tr_actor_t *self, s_bus_t *bus)
{
    uint64_t unsynced = tr__bus_log_unsynced (bus->log);
    if (!unsynced)
        return;
    if (bus->sync_events > 0 && unsynced >= (uint64_t) bus->sync_events)
        tr__bus_log_sync (bus->log);
    else if (bus->sync_ms > 0 && !bus->sync_timer) {
        bus->sync_timer = true;
        tr_send_after (self, bus->sync_ms, bus->self_ref, s_types.sync, NULL, 0, NULL);
    }
}

static void
s_batch_end (tr_actor_t *self, s_bus_t *bus)
{
    if (bus->log && tr__bus_log_buffered (bus->log)) {
        tr__bus_log_write (bus->log);
        s_sync_policy (self, bus);
    }
    //  A marker for what no marker covers yet, so that in_flight drains to
    //  0 when subscribers keep up (one marker out at a time).
    for (uint32_t i = 0; i < bus->sub_count; i++) {
        s_sub_t *sub = bus->subs[i];
        if (sub->sent > sub->marked && sub->markers_out == 0)
            s_mark (self, bus, sub);
    }
    if (bus->ipc)
        tr__bus_ipc_poll (bus->ipc);
}

//  At the end of every handler: the batch ends when nothing more is queued.
static void
s_batch_check (tr_actor_t *self, s_bus_t *bus)
{
    if (!self->head)
        s_batch_end (self, bus);
}

//  --------------------------------------------------------------------------
//  Handlers

static int
s_on_publish (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_bus_t *bus = state;
    tr_bus_event_t event;
    if (tr__bus_event_parse (msg->data, msg->size, &event) != 0) {
        s_reject (self, bus, msg, "publish");
        s_batch_check (self, bus);
        return 0;
    }
    uint64_t offset = bus->next_offset++;
    bus->published++;
    if (bus->log && !tr__bus_log_failed (bus->log)
        && tr__bus_log_append (bus->log, event.topic, event.topic_size, event.data, event.size)) {
        tr__bus_log_write (bus->log);
        s_sync_policy (self, bus);
    }
    for (uint32_t i = 0; i < bus->sub_count; i++) {
        s_sub_t *sub = bus->subs[i];
        if (sub->replaying || !s_matches (sub, event.topic, event.topic_size))
            continue;
        if (sub->sent - sub->acked >= sub->limit) {
            s_drop (bus, sub);
            continue;
        }
        tr__msg_t *out = tr__msg_new (&self->sched->pool, msg->size);
        memcpy (out->data, msg->data, msg->size);
        tr__bus_head_t *head = (tr__bus_head_t *) out->data;
        head->offset = offset;
        head->flags = 0;
        int rc = s_deliver (self, bus, sub, out);
        if (rc == TR_EAGAIN)
            s_drop (bus, sub);
        else if (rc == TR_EDEAD)
            s_remove (bus, i--);  //  dead: the runtime dead-lettered the event
    }
    if (bus->ipc) {
        if (++bus->ipc_countdown >= 64) {
            bus->ipc_countdown = 0;
            tr__bus_ipc_poll (bus->ipc);
        }
        if (tr__bus_ipc_wanted (bus->ipc))
            tr__bus_ipc_send (bus->ipc, event.topic, event.topic_size, offset, event.data,
                              event.size);
    }
    s_batch_check (self, bus);
    return 0;
}

static int
s_parse_sub_req (const tr_msg_t *msg, tr__bus_sub_req_t *req, const char **prefix)
{
    if (msg->size < sizeof *req)
        return TR_EMALFORMED;
    memcpy (req, msg->data, sizeof *req);
    if (req->prefix_size > TR_BUS_TOPIC_MAX || msg->size != sizeof *req + req->prefix_size
        || req->limit > TR_BUS_LIMIT_MAX || req->subscriber == TR_REF_NONE
        || tr__ref_thread (req->subscriber) == TR__HOST_THREAD)
        return TR_EMALFORMED;
    *prefix = (const char *) msg->data + sizeof *req;
    if (memchr (*prefix, 0, req->prefix_size))
        return TR_EMALFORMED;
    return 0;
}

static void
s_replay_start (tr_actor_t *self, s_bus_t *bus, s_sub_t *sub, uint64_t from_offset)
{
    if (!bus->log || tr__bus_log_failed (bus->log)) {
        tr__warn ("bus", "%s: %016llx asked for a replay from %llu, but there is no log: live only",
                  bus->name, (unsigned long long) sub->ref, (unsigned long long) from_offset);
        return;
    }
    tr__bus_log_write (bus->log);  //  the batch too: the replay reads the file
    sub->replaying = true;
    sub->replay_from = from_offset;
    tr__bus_log_seek (bus->log, from_offset, &sub->cursor_pos, &sub->cursor_offset);
    s_replay_schedule (self, bus);
}

static int
s_on_subscribe (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_bus_t *bus = state;
    tr__bus_sub_req_t req;
    const char *prefix;
    if (s_parse_sub_req (msg, &req, &prefix) != 0) {
        s_reject (self, bus, msg, "subscribe");
        s_batch_check (self, bus);
        return 0;
    }
    bool request = msg->flags & TR_MSG_REQUEST;
    if (!tr__ref_alive (bus->rt, req.subscriber)) {
        if (request)
            tr_reply_error (self, msg, TR_EDEAD);
        s_batch_check (self, bus);
        return 0;
    }
    s_sub_t *sub = s_find (bus, req.subscriber, NULL);
    if (!sub) {
        sub = tr__calloc (sizeof *sub);
        sub->ref = req.subscriber;
        sub->id = bus->next_id++;
        if (bus->next_id == 0)
            bus->next_id = 1;  //  ids are never 0: a marker's corr is never 0
        s_set_limit (sub, bus->default_limit);
        if (bus->sub_count == bus->sub_capacity) {
            bus->sub_capacity = bus->sub_capacity ? bus->sub_capacity * 2 : 8;
            bus->subs = tr__realloc (bus->subs, bus->sub_capacity * sizeof (s_sub_t *));
        }
        bus->subs[bus->sub_count++] = sub;
        //  Forget it when it dies (a DOWN at once if it died meanwhile).
        tr_monitor (self, sub->ref);
    }
    if (req.limit)
        s_set_limit (sub, req.limit);
    bool known = false;
    for (uint32_t i = 0; i < sub->prefix_count && !known; i++)
        known = sub->prefixes[i].size == req.prefix_size
                && memcmp (sub->prefixes[i].bytes, prefix, req.prefix_size) == 0;
    if (!known) {
        if (sub->prefix_count == sub->prefix_capacity) {
            sub->prefix_capacity = sub->prefix_capacity ? sub->prefix_capacity * 2 : 2;
            sub->prefixes = tr__realloc (sub->prefixes, sub->prefix_capacity * sizeof (s_prefix_t));
        }
        s_prefix_t *entry = &sub->prefixes[sub->prefix_count++];
        entry->size = req.prefix_size;
        entry->bytes = tr__alloc (req.prefix_size + 1);
        memcpy (entry->bytes, prefix, req.prefix_size);
        entry->bytes[req.prefix_size] = 0;
    }
    if (req.flags & TR__BUS_SUB_REPLAY)
        s_replay_start (self, bus, sub, req.from_offset);
    if (request)
        tr_reply (self, msg, NULL, 0);
    s_batch_check (self, bus);
    return 0;
}

static int
s_on_unsubscribe (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_bus_t *bus = state;
    tr__bus_sub_req_t req;
    const char *prefix;
    if (s_parse_sub_req (msg, &req, &prefix) != 0) {
        s_reject (self, bus, msg, "unsubscribe");
        s_batch_check (self, bus);
        return 0;
    }
    uint32_t at = 0;
    s_sub_t *sub = s_find (bus, req.subscriber, &at);
    bool found = false;
    if (sub && !(req.flags & TR__BUS_SUB_ALL)) {
        for (uint32_t i = 0; i < sub->prefix_count && !found; i++)
            if (sub->prefixes[i].size == req.prefix_size
                && memcmp (sub->prefixes[i].bytes, prefix, req.prefix_size) == 0) {
                tr__free (sub->prefixes[i].bytes);
                sub->prefixes[i] = sub->prefixes[--sub->prefix_count];
                found = true;
            }
    }
    if (sub && ((req.flags & TR__BUS_SUB_ALL) || sub->prefix_count == 0)) {
        found = true;
        tr_demonitor (self, sub->ref);
        s_remove (bus, at);
    }
    if (msg->flags & TR_MSG_REQUEST) {
        if (found)
            tr_reply (self, msg, NULL, 0);
        else
            tr_reply_error (self, msg, TR_ENOENT);
    }
    s_batch_check (self, bus);
    return 0;
}

static int
s_on_down (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_bus_t *bus = state;
    tr_down_t down;
    uint32_t at = 0;
    if (msg->size == sizeof down) {
        memcpy (&down, msg->data, sizeof down);
        if (s_find (bus, down.ref, &at))
            s_remove (bus, at);
    }
    s_batch_check (self, bus);
    return 0;
}

//  A marker's answer (or, for a dead subscriber, its error reply).
static void
s_on_marker (tr_actor_t *self, s_bus_t *bus, const tr_msg_t *msg)
{
    uint32_t index = 0;
    s_sub_t *sub = s_find_id (bus, (uint32_t) (msg->corr >> 32), &index);
    if (!sub)
        return;  //  forgotten meanwhile
    if (msg->flags & TR_MSG_ERROR) {
        s_remove (bus, index);  //  it died: its DOWN may not have come yet
        return;
    }
    if (sub->markers_out)
        sub->markers_out--;
    //  corr holds the low 32 bits of sent at the marker; far fewer than 2^32
    //  events are ever in flight, so this is exact.
    uint32_t low = (uint32_t) msg->corr;
    uint64_t at = sub->sent - (uint32_t) ((uint32_t) sub->sent - low);
    if (at > sub->acked)
        sub->acked = at;
    if (sub->replaying)
        s_replay_schedule (self, bus);
}

static int
s_on_other (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_bus_t *bus = state;
    if (msg->flags & TR_MSG_REPLY)
        s_on_marker (self, bus, msg);
    else {
        //  What the runtime does for a type without a handler, counted only.
        tr__dead_letter_counted (bus->rt, TR_EUNKNOWN_TYPE);
        if (msg->flags & TR_MSG_REQUEST)
            tr_reply_error (self, msg, TR_EUNKNOWN_TYPE);
    }
    s_batch_check (self, bus);
    return 0;
}

static int
s_on_sync (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_bus_t *bus = state;
    bus->sync_timer = false;
    if (bus->log) {
        tr__bus_log_write (bus->log);
        tr__bus_log_sync (bus->log);
    }
    s_batch_check (self, bus);
    return 0;
}

static int
s_on_stats (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_bus_t *bus = state;
    tr_bus_stats_t stats = {
        .published = bus->published,
        .delivered = bus->delivered,
        .dropped = bus->dropped,
        .replayed = bus->replayed,
        .rejected = bus->rejected,
        .subscribers = bus->sub_count,
        .next_offset = bus->next_offset,
    };
    if (bus->log) {
        tr__bus_log_stats_t log;
        tr__bus_log_stats (bus->log, &log);
        stats.written_offset = log.written_offset;
        stats.synced_offset = log.synced_offset;
        stats.writes = log.writes;
        stats.syncs = log.syncs;
        stats.log_bytes = log.log_bytes;
        stats.recovered = log.recovered;
        stats.truncated_bytes = log.truncated_bytes;
        stats.log_errors = log.errors;
    }
    if (bus->ipc) {
        tr__bus_ipc_poll (bus->ipc);
        tr__bus_ipc_stats_t ipc;
        tr__bus_ipc_stats (bus->ipc, &ipc);
        stats.ipc_sent = ipc.sent;
        stats.ipc_dropped = ipc.dropped;
        stats.ipc_subscriptions = ipc.subscriptions;
        stats.ipc_received = ipc.received;
        stats.ipc_rejected = ipc.rejected;
    }
    tr_reply (self, msg, &stats, sizeof stats);
    s_batch_check (self, bus);
    return 0;
}

static int
s_on_subscribers (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_bus_t *bus = state;
    size_t size = bus->sub_count * sizeof (tr_bus_subscriber_t);
    tr_bus_subscriber_t *info = tr__calloc (size ? size : 1);
    for (uint32_t i = 0; i < bus->sub_count; i++) {
        s_sub_t *sub = bus->subs[i];
        info[i] = (tr_bus_subscriber_t){sub->ref,          sub->limit,    sub->sent - sub->acked,
                                        sub->delivered,    sub->dropped,  sub->replayed,
                                        sub->prefix_count, sub->replaying};
    }
    tr_reply (self, msg, info, size);
    tr__free (info);
    s_batch_check (self, bus);
    return 0;
}

static int
s_on_endpoint (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_bus_t *bus = state;
    if (!bus->ipc)
        tr_reply_error (self, msg, TR_ENOENT);
    else {
        const char *out = tr__bus_ipc_endpoint (bus->ipc);
        const char *in = tr__bus_ipc_in_endpoint (bus->ipc);
        size_t out_size = strlen (out) + 1, in_size = strlen (in) + 1;
        char *reply = tr__alloc (out_size + in_size);
        memcpy (reply, out, out_size);
        memcpy (reply + out_size, in, in_size);
        tr_reply (self, msg, reply, out_size + in_size);
        tr__free (reply);
    }
    s_batch_check (self, bus);
    return 0;
}

//  Write the batch and say where a reader finds from_offset (tr_bus_replay).
static int
s_on_flush (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_bus_t *bus = state;
    uint64_t from_offset;
    if (msg->size != sizeof from_offset || !bus->log) {
        if (!bus->log)
            tr_reply_error (self, msg, TR_ENOTSUP);
        else
            s_reject (self, bus, msg, "flush");
        s_batch_check (self, bus);
        return 0;
    }
    memcpy (&from_offset, msg->data, sizeof from_offset);
    tr__bus_log_write (bus->log);
    tr__bus_flush_t flush = {.end_pos = tr__bus_log_end (bus->log),
                             .next_offset = tr__bus_log_written (bus->log),
                             .max_record = tr__bus_log_max_record (bus->log)};
    tr__bus_log_seek (bus->log, from_offset, &flush.start_pos, &flush.start_offset);
    const char *path = tr__bus_log_path (bus->log);
    size_t path_size = strlen (path) + 1;
    unsigned char *reply = tr__alloc (sizeof flush + path_size);
    memcpy (reply, &flush, sizeof flush);
    memcpy (reply + sizeof flush, path, path_size);
    tr_reply (self, msg, reply, sizeof flush + path_size);
    tr__free (reply);
    s_batch_check (self, bus);
    return 0;
}

//  --------------------------------------------------------------------------
//  Replays: each step reads at most S_REPLAY_STEP records per subscriber,
//  then the bus goes on with its mail; a subscriber without room waits for
//  its markers' answers.

#define S_REPLAY_STEP 256

static void
s_replay_schedule (tr_actor_t *self, s_bus_t *bus)
{
    if (bus->replay_scheduled)
        return;
    bus->replay_scheduled = true;
    tr__msg_t *msg = tr__msg_new (&self->sched->pool, 0);
    msg->to = msg->from = bus->self_ref;
    msg->type = s_types.replay;
    msg->flags |= TR__MSG_NODROP;
    tr__route (bus->rt, self->sched, msg, false);
}

//  Returns true when sub should get another step now.
static bool
s_replay_step (tr_actor_t *self, s_bus_t *bus, uint32_t *at)
{
    s_sub_t *sub = bus->subs[*at];
    tr__bus_reader_t *reader = &bus->reader;
    for (int count = 0; count < S_REPLAY_STEP; count++) {
        if (tr__bus_log_failed (bus->log) && sub->cursor_offset >= tr__bus_log_written (bus->log)) {
            //  A failed log holds no more than what it wrote: the rest up
            //  to the live stream (skipped while this replay ran) cannot be
            //  read back. Counted as dropped for this subscriber, every one
            //  of them whatever its topic (unwritten events cannot be
            //  matched any more).
            uint64_t gap = bus->next_offset - sub->cursor_offset;
            if (gap)
                tr__error ("bus",
                           "%s: the log failed during a replay to %016llx: %llu events from "
                           "offset %llu are lost to it (counted as dropped)",
                           bus->name, (unsigned long long) sub->ref, (unsigned long long) gap,
                           (unsigned long long) sub->cursor_offset);
            for (uint64_t i = 0; i < gap; i++)
                s_drop (bus, sub);
            sub->replaying = false;
            return false;
        }
        if (sub->cursor_offset >= bus->next_offset) {
            sub->replaying = false;  //  caught up: live from the next event on
            return false;
        }
        if (sub->sent - sub->acked >= sub->limit) {
            if (sub->sent > sub->marked)
                s_mark (self, bus, sub);
            return false;  //  a marker's answer schedules the next step
        }
        if (sub->cursor_pos >= tr__bus_log_end (bus->log))
            tr__bus_log_write (bus->log);  //  what is left is in the batch
        reader->pos = sub->cursor_pos;
        reader->end = tr__bus_log_end (bus->log);
        tr__bus_record_t record;
        int rc = tr__bus_reader_next (reader, &record);
        if (rc != 1) {
            tr__error ("bus", "%s: replay to %016llx stopped at offset %llu: %s", bus->name,
                       (unsigned long long) sub->ref, (unsigned long long) sub->cursor_offset,
                       rc == 0 ? "end of log" : tr_strerror (rc));
            sub->replaying = false;
            return false;
        }
        if (record.offset >= sub->replay_from && s_matches (sub, record.topic, record.topic_size)) {
            size_t size = tr__bus_event_size (record.topic_size, record.size);
            tr__msg_t *msg = tr__msg_new (&self->sched->pool, size);
            tr__bus_event_fill (msg->data, record.offset, TR_BUS_REPLAYED, record.topic,
                                record.topic_size, record.data, record.size);
            rc = s_deliver (self, bus, sub, msg);
            if (rc == TR_EDEAD) {
                s_remove (bus, (*at)--);
                return false;
            }
            if (rc != 0) {
                //  Its mailbox refused: try again shortly (replays never drop).
                tr_send_after (self, 1, bus->self_ref, s_types.replay, NULL, 0, NULL);
                return false;
            }
            sub->replayed++;
            bus->replayed++;
        }
        sub->cursor_pos = reader->pos;
        sub->cursor_offset = record.offset + 1;
    }
    return true;
}

static int
s_on_replay (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_bus_t *bus = state;
    bus->replay_scheduled = false;
    bool again = false;
    for (uint32_t i = 0; i < bus->sub_count; i++)
        if (bus->subs[i]->replaying && bus->log && s_replay_step (self, bus, &i))
            again = true;
    if (again)
        s_replay_schedule (self, bus);
    s_batch_check (self, bus);
    return 0;
}

//  --------------------------------------------------------------------------
//  Life

void
tr__bus_arg_free (tr__bus_arg_t *arg)
{
    tr__bus_log_close (&arg->log);
    if (arg->own_dir && arg->dir[0])
        tr__run_dir_remove (arg->dir);
    tr__free (arg->name);
}

static int
s_init (tr_actor_t *self, void *state, const void *arg_bytes, size_t arg_size)
{
    s_bus_t *bus = state;
    tr__bus_arg_t arg;
    if (arg_size != sizeof arg)
        return TR_EINVAL;
    memcpy (&arg, arg_bytes, sizeof arg);
    if (arg.log && tr__bus_log_start (arg.log) != 0) {
        tr__error ("bus", "%s: cannot start the syncer thread", arg.name);
        tr__bus_arg_free (&arg);
        return TR_EINIT;
    }
    tr__bus_ipc_t *ipc = NULL;
    if (arg.ipc) {
        int rc = tr__bus_ipc_open (tr_actor_runtime (self), tr_self (self), arg.out_path,
                                   arg.ipc_in ? arg.in_path : NULL, &ipc);
        if (rc != 0) {
            tr__bus_arg_free (&arg);
            return rc;
        }
    }
    bus->self_ref = tr_self (self);
    bus->rt = tr_actor_runtime (self);
    bus->name = arg.name;
    bus->default_limit = arg.default_limit;
    bus->sync_events = arg.sync_events;
    bus->sync_ms = arg.sync_ms;
    bus->log = arg.log;
    bus->ipc = ipc;
    bus->next_id = 1;
    bus->next_offset = arg.log ? tr__bus_log_next (arg.log) : 0;
    if (arg.log)
        tr__bus_reader_init (&bus->reader, tr__bus_log_fd (arg.log), 0, 0,
                             tr__bus_log_max_record (arg.log));
    if (arg.own_dir)
        memcpy (bus->dir, arg.dir, sizeof bus->dir);
    return 0;
}

static void
s_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    (void) reason;
    s_bus_t *bus = state;
    tr__bus_ipc_close (&bus->ipc);
    if (bus->log) {
        tr__bus_reader_fini (&bus->reader);
        tr__bus_log_close (&bus->log);  //  writes and syncs what it holds
    }
    if (bus->dir[0])
        tr__run_dir_remove (bus->dir);
    for (uint32_t i = 0; i < bus->sub_count; i++)
        s_sub_free (bus->subs[i]);
    tr__free (bus->subs);
    tr__free (bus->name);
}

static const tr_handler_t s_handlers[] = {
    {"tr.bus.publish", s_on_publish},
    {"tr.bus.subscribe", s_on_subscribe},
    {"tr.bus.unsubscribe", s_on_unsubscribe},
    {"tr.bus.stats", s_on_stats},
    {"tr.bus.subscribers", s_on_subscribers},
    {"tr.bus.endpoint", s_on_endpoint},
    {"tr.bus.flush", s_on_flush},
    {"tr.bus.sync", s_on_sync},
    {"tr.bus.replay", s_on_replay},
    {"tr.down", s_on_down},
    {NULL, NULL},
};
static const tr_behaviour_t s_behaviour = {
    .name = "tr.bus",
    .state_size = sizeof (s_bus_t),
    .init = s_init,
    .terminate = s_terminate,
    .handlers = s_handlers,
    .unhandled = s_on_other,
};

static void
s_register (void)
{
    //  Raw replies: the markers' answers reach s_on_other.
    tr__behaviour_register_flags (&s_behaviour, TR__BEH_RAW_REPLIES);
    s_types.publish = tr_type ("tr.bus.publish");
    s_types.event = tr_type (TR_BUS_EVENT_TYPE);
    s_types.subscribe = tr_type ("tr.bus.subscribe");
    s_types.unsubscribe = tr_type ("tr.bus.unsubscribe");
    s_types.stats = tr_type ("tr.bus.stats");
    s_types.subscribers = tr_type ("tr.bus.subscribers");
    s_types.endpoint = tr_type ("tr.bus.endpoint");
    s_types.flush = tr_type ("tr.bus.flush");
    s_types.sync = tr_type ("tr.bus.sync");
    s_types.replay = tr_type ("tr.bus.replay");
}

const tr__bus_types_t *
tr__bus_types (void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once (&once, s_register);
    return &s_types;
}
