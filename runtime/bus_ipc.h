//  bus_ipc - the event bus's endpoints for other processes: an XPUB socket
//  that sends every event as [topic][offset][data], and an optional PULL
//  socket, served by its own thread, through which they publish
#ifndef TR_BUS_IPC_H_INCLUDED
#define TR_BUS_IPC_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tr__bus_ipc tr__bus_ipc_t;

//  The paths of a bus's sockets in dir: dir/bus.<name> and dir/bus-in.<name>
//  (characters other than [A-Za-z0-9._-] in name become '_'). 0, or
//  TR_EINVAL when they do not fit.
TR__HIDDEN int tr__bus_ipc_paths (const char *dir, const char *name, char *out_path, char *in_path,
                                  size_t size);

//  Bind the XPUB socket at out_path (and with in_path, the PULL socket and
//  its thread, which publishes what it receives to bus with
//  tr_runtime_publish). On the bus's thread. Refuses a path that exists (a
//  bind would silently take it over). Returns 0 and *self_p, TR_EEXIST or
//  TR_ESTOPPED (logged).
TR__HIDDEN int tr__bus_ipc_open (tr_runtime_t *rt, tr_ref_t bus, const char *out_path,
                                 const char *in_path, tr__bus_ipc_t **self_p);
//  Stop the thread, close the sockets, remove their paths. NULL-safe.
TR__HIDDEN void tr__bus_ipc_close (tr__bus_ipc_t **self_p);

//  Take the subscription messages the XPUB socket has for us.
TR__HIDDEN void tr__bus_ipc_poll (tr__bus_ipc_t *self);
//  Whether any external peer holds a subscription (else sends are skipped).
TR__HIDDEN bool tr__bus_ipc_wanted (tr__bus_ipc_t *self);
//  Send one event. Never blocks: a full peer makes it a counted drop.
TR__HIDDEN void tr__bus_ipc_send (tr__bus_ipc_t *self, const char *topic, size_t topic_size,
                                  uint64_t offset, const void *data, size_t size);

typedef struct {
    uint64_t sent, dropped, subscriptions, received, rejected;
} tr__bus_ipc_stats_t;
TR__HIDDEN void tr__bus_ipc_stats (tr__bus_ipc_t *self, tr__bus_ipc_stats_t *stats);
//  The endpoints ("ipc://..."; the second is "" without a PULL socket).
TR__HIDDEN const char *tr__bus_ipc_endpoint (tr__bus_ipc_t *self);
TR__HIDDEN const char *tr__bus_ipc_in_endpoint (tr__bus_ipc_t *self);

#endif
