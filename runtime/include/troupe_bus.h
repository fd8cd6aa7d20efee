//  troupe_bus.h - the node's event bus: publish/subscribe by topic prefix,
//  optional persistence in an append-only log, and an ipc endpoint for
//  other processes. Included by troupe.h; see docs/bus.md.
//
//  A bus is an actor. Publishers send it events (a topic and bytes); it
//  gives each event the next offset (0, 1, 2, ...), appends it to its log
//  when it has one, and sends a copy, as one message of type "tr.bus.event",
//  to every subscriber with a prefix of the topic (once per subscriber),
//  and to the SUB sockets connected to its ipc endpoint.
//
//  Every subscriber has a bound: events sent to it that it has not handled
//  yet (in flight). Past the bound, events for that subscriber are dropped:
//  counted for it, in the bus's totals and in the runtime's dead-letter
//  counter for TR_EOVERFLOW (no dead-letter message is built for them).
//  Other subscribers are not affected. Nothing is dropped silently.

#ifndef TROUPE_BUS_H_INCLUDED
#define TROUPE_BUS_H_INCLUDED

#include "troupe.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_BUS_TOPIC_MAX     255   //  bytes in a topic (1..) or a prefix (0..)
#define TR_BUS_LIMIT_DEFAULT 1024  //  a subscriber's in-flight bound by default
#define TR_BUS_LIMIT_MAX     (1u << 30)
#define TR_BUS_EVENT_TYPE    "tr.bus.event"  //  the type subscribers handle

typedef struct {
    const char *name;      //  registered name (default "tr.bus"); 1..63 bytes
    int thread;            //  placement, as tr_spawn_opts_t.thread (0 = default)
    size_t mailbox_limit;  //  the bus's own mailbox bound (0 = runtime default);
                           //  publishers get TR_EAGAIN past it
    size_t default_limit;  //  subscribers' bound when they give 0 (0 = 1024)

    //  Persistence (all optional). With log_path set, every event is
    //  appended to that file before it is delivered (in batches: one write
    //  per batch) and the file is made durable with fdatasync on another
    //  thread when either trigger below fires. The file is created (0600)
    //  if missing; an existing log is checked at start and a torn or
    //  corrupt tail is cut off (see tr_bus_stats_t.truncated_bytes).
    const char *log_path;
    int sync_every_events;  //  sync once this many events are unsynced
                            //  (0 = default 1000, -1 = never by count)
    int sync_every_ms;      //  sync this long after the first unsynced write
                            //  (0 = default 10, -1 = never by time)

    //  The ipc endpoint: an XPUB socket bound in the node's private run
    //  directory (ipc://<dir>/bus.<name>) that any local process of this
    //  user can subscribe to. Frames: docs/bus.md.
    bool no_ipc;  //  do not bind it (default false: bind it)
    //  Also bind a PULL socket (ipc://<dir>/bus-in.<name>) through which
    //  other processes publish [topic][data] (default false).
    bool ipc_publish;
} tr_bus_options_t;

//  Fill options with the defaults.
TR_EXPORT void tr_bus_options_default (tr_bus_options_t *options);

//  Start a bus from a host thread (options NULL = defaults), registered
//  under its name. With a log, the log is opened and recovered here.
//  Returns 0 and *bus, TR_EINVAL (bad options; a log_path that cannot be
//  opened, is not a bus log, or holds a record over max_payload; logged),
//  TR_EEXIST (name taken, or its ipc path exists), TR_ESTOPPED, or a
//  tr_spawn error (TR_EINIT when an ipc socket cannot be bound, logged).
TR_EXPORT int tr_bus_start (tr_runtime_t *rt, const tr_bus_options_t *options, tr_ref_t *bus);

//  ---------------------------------------------------------------------
//  Publishing. The payload is copied. A publish that returns 0 is queued
//  for the bus: the bus gives it an offset and delivers it (or counts its
//  drops) unless the node dies first (see docs/bus.md for what kill -9
//  loses). Events from one publisher keep their order; every subscriber
//  sees events in offset order.
//
//  Returns 0, TR_EINVAL (NULL or empty topic, topic over TR_BUS_TOPIC_MAX,
//  data NULL with size), TR_EMSGSIZE (the event is over max_payload),
//  TR_EAGAIN (the bus's mailbox is full), TR_EDEAD (no bus there),
//  TR_ESTOPPED (host only).

//  From a handler.
TR_EXPORT int tr_publish (tr_actor_t *self, tr_ref_t bus, const char *topic, const void *data,
                          size_t size);
//  From a host thread.
TR_EXPORT int tr_runtime_publish (tr_runtime_t *rt, tr_ref_t bus, const char *topic,
                                  const void *data, size_t size);

//  ---------------------------------------------------------------------
//  Subscribing. A subscriber is an actor with a handler for
//  TR_BUS_EVENT_TYPE; tr_bus_event_read decodes the message. A subscriber
//  may hold several prefixes (an event is delivered once if any matches)
//  and has one bound, `limit` (0 = the bus's default; the last nonzero
//  value given applies). The bus monitors it and forgets it when it dies.

//  Subscribe this actor to topics starting with prefix ("" = every topic).
//  Asynchronous: events the bus handles after this request reach it.
//  Returns 0, TR_EINVAL (NULL prefix, prefix too long, limit over
//  TR_BUS_LIMIT_MAX) or a tr_send error.
TR_EXPORT int tr_subscribe (tr_actor_t *self, tr_ref_t bus, const char *prefix, size_t limit);
//  As tr_subscribe, but first replay the persisted events from offset
//  from_offset on (those matching any of this actor's prefixes, flag
//  TR_BUS_REPLAYED), then continue live without a gap or a duplicate.
//  Replayed events are never dropped: the replay waits for room. On a bus
//  without a log this is tr_subscribe (logged).
TR_EXPORT int tr_subscribe_from (tr_actor_t *self, tr_ref_t bus, const char *prefix, size_t limit,
                                 uint64_t from_offset);
//  Remove prefix from this actor's prefixes (NULL = all of them); with
//  none left the bus forgets the actor. Asynchronous.
TR_EXPORT int tr_unsubscribe (tr_actor_t *self, tr_ref_t bus, const char *prefix);

//  From a host thread: subscribe (or unsubscribe) actor subscriber, and
//  wait until the bus has done it. Returns 0, TR_EINVAL, TR_EDEAD (the
//  subscriber is dead), TR_ENOENT (unsubscribe: no such prefix), or a
//  tr_call error.
TR_EXPORT int tr_bus_subscribe (tr_runtime_t *rt, tr_ref_t bus, tr_ref_t subscriber,
                                const char *prefix, size_t limit);
TR_EXPORT int tr_bus_unsubscribe (tr_runtime_t *rt, tr_ref_t bus, tr_ref_t subscriber,
                                  const char *prefix);

#define TR_BUS_REPLAYED 0x1u  //  tr_bus_event_t.flags: read back from the log

//  One event, as a subscriber sees it. Pointers point into the message.
typedef struct {
    uint64_t offset;    //  its place in the bus's sequence (the log's offset)
    const char *topic;  //  NUL-terminated
    size_t topic_size;  //  bytes before the NUL
    const void *data;   //  8-byte aligned
    size_t size;        //  data bytes
    uint32_t flags;     //  TR_BUS_REPLAYED
} tr_bus_event_t;

//  Decode a TR_BUS_EVENT_TYPE message (valid while msg is). Returns 0,
//  TR_EINVAL (NULL, or msg is another type) or TR_EMALFORMED.
TR_EXPORT int tr_bus_event_read (const tr_msg_t *msg, tr_bus_event_t *event);

//  ---------------------------------------------------------------------
//  Replay from a host thread: call fn for every persisted event from offset
//  from_offset on, up to the last one the bus had handled when this was
//  called, in offset order; fn returns nonzero to stop (that value is then
//  returned). Events are read from the log file on the calling thread.
//  Returns 0, TR_ENOTSUP (the bus has no log), TR_EMALFORMED (the file
//  changed under us), TR_EINVAL, or a tr_call error.
typedef int (tr_bus_replay_fn) (const tr_bus_event_t *event, void *arg);
TR_EXPORT int tr_bus_replay (tr_runtime_t *rt, tr_ref_t bus, uint64_t from_offset,
                             tr_bus_replay_fn *fn, void *arg);

//  ---------------------------------------------------------------------
//  Figures

typedef struct {
    uint64_t published;    //  events accepted (each got an offset)
    uint64_t delivered;    //  event messages sent to subscribers (replays included)
    uint64_t dropped;      //  events not sent to a subscriber: over its bound or
                           //  refused by its mailbox (also dead-letter counted)
    uint64_t replayed;     //  event messages sent from the log
    uint64_t rejected;     //  malformed publish or subscribe messages (dead-letter
                           //  counted as TR_EMALFORMED)
    uint64_t subscribers;  //  actors subscribed now
    uint64_t next_offset;  //  the offset the next event gets
    //  Persistence (0 without a log). Offsets below written_offset are in
    //  the file (they survive kill -9); below synced_offset they were made
    //  durable by fdatasync (they survive a crash of the machine).
    uint64_t written_offset;
    uint64_t synced_offset;
    uint64_t writes;           //  write calls (batches)
    uint64_t syncs;            //  fdatasync calls
    uint64_t log_bytes;        //  size of the log file
    uint64_t recovered;        //  events found in the log at start
    uint64_t truncated_bytes;  //  torn or corrupt tail cut off at start
    uint64_t log_errors;       //  failed writes or syncs (the log then stops)
    //  The ipc endpoint
    uint64_t ipc_sent;           //  events sent on the XPUB socket
    uint64_t ipc_dropped;        //  not sent: an external subscriber was full
    uint64_t ipc_subscriptions;  //  distinct prefixes external peers hold
    uint64_t ipc_received;       //  events published in through the PULL socket
    uint64_t ipc_rejected;       //  malformed messages on the PULL socket
} tr_bus_stats_t;

//  Snapshot a bus's figures. 0 or a tr_call error.
TR_EXPORT int tr_bus_stats (tr_runtime_t *rt, tr_ref_t bus, tr_bus_stats_t *stats);

typedef struct {
    tr_ref_t ref;
    uint64_t limit;
    uint64_t in_flight;  //  sent, not known to be handled yet
    uint64_t delivered;
    uint64_t dropped;
    uint64_t replayed;
    uint32_t prefixes;
    bool replaying;  //  still reading back from the log
} tr_bus_subscriber_t;

//  Read the bus's subscribers (oldest first) into info[0..max); *count is
//  how many there are. 0 or a tr_call error.
TR_EXPORT int tr_bus_subscribers (tr_runtime_t *rt, tr_ref_t bus, tr_bus_subscriber_t *info,
                                  size_t max, size_t *count);

//  Copy the bus's XPUB endpoint ("ipc://...") into buffer (with the PULL
//  endpoint into in_buffer, when not NULL and the bus has one, else "").
//  Returns 0, TR_ENOENT (no ipc endpoint), TR_EINVAL (buffer too small),
//  or a tr_call error.
TR_EXPORT int tr_bus_endpoint (tr_runtime_t *rt, tr_ref_t bus, char *buffer, size_t size,
                               char *in_buffer, size_t in_size);

#ifdef __cplusplus
}
#endif

#endif
