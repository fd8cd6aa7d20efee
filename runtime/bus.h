//  bus - the node's event bus: an actor that gives every event an offset,
//  appends it to its log, and fans it out by topic prefix to subscribers
//  (each under its own in-flight bound) and to its ipc endpoint. What the
//  actor (bus.c) and the calls (bus_api.c) share.
#ifndef TR_BUS_H_INCLUDED
#define TR_BUS_H_INCLUDED

#include "alloc.h"
#include "bus_log.h"
#include "troupe.h"

#include <stddef.h>
#include <stdint.h>

//  A publish and an event message carry the same payload (docs/bus.md):
//  this head, the topic and a NUL, zeros up to a multiple of 8, the data.
//  A publish has offset 0 and flags 0; the bus sets both in each copy.
typedef struct {
    uint64_t offset;
    uint32_t topic_size;
    uint32_t flags;  //  TR_BUS_REPLAYED
} tr__bus_head_t;

#define TR__BUS_DATA_AT(topic_size) ((sizeof (tr__bus_head_t) + (topic_size) + 1 + 7) & ~(size_t) 7)

//  Payload bytes of an event with this topic and data.
TR__HIDDEN size_t tr__bus_event_size (size_t topic_size, size_t size);
//  Lay an event out in payload (tr__bus_event_size bytes).
TR__HIDDEN void tr__bus_event_fill (void *payload, uint64_t offset, uint32_t flags,
                                    const char *topic, size_t topic_size, const void *data,
                                    size_t size);
//  Check and decode a payload (pointers into it). 0 or TR_EMALFORMED.
TR__HIDDEN int tr__bus_event_parse (const void *payload, size_t payload_size,
                                    tr_bus_event_t *event);

//  The bus's message types.
typedef struct {
    tr_type_t publish, event, subscribe, unsubscribe, stats, subscribers, endpoint, flush, sync,
        replay;
} tr__bus_types_t;

//  The types, interned (and the bus's behaviour registered) on first use.
//  Thread-safe.
TR__HIDDEN const tr__bus_types_t *tr__bus_types (void);

#define TR__BUS_SUB_REPLAY 0x1u  //  subscribe: replay from from_offset first
#define TR__BUS_SUB_ALL    0x2u  //  unsubscribe: every prefix

//  The payload of tr.bus.subscribe and tr.bus.unsubscribe; the prefix
//  (prefix_size bytes, no NUL) follows.
typedef struct {
    uint64_t subscriber;
    uint64_t limit;
    uint64_t from_offset;
    uint32_t flags;
    uint32_t prefix_size;
} tr__bus_sub_req_t;

//  The answer to tr.bus.flush (tr_bus_replay): where to read; the log's
//  path follows, NUL-terminated.
typedef struct {
    uint64_t start_pos, start_offset, end_pos, next_offset, max_record;
} tr__bus_flush_t;

//  What tr_bus_start hands to the bus's init (copied bytes; init owns what
//  they point to, and frees it when init fails).
typedef struct {
    char *name;
    uint64_t default_limit;
    int sync_events, sync_ms;
    tr__bus_log_t *log;
    bool ipc, ipc_in;
    char dir[128];
    bool own_dir;  //  dir was made for this bus (a node without a process manager)
    char out_path[128], in_path[128];
} tr__bus_arg_t;

//  Free what arg holds (a bus that never started).
TR__HIDDEN void tr__bus_arg_free (tr__bus_arg_t *arg);

#endif
