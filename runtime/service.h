//  service - services and their routers: the router (service.c), the
//  instance wrapper and what it shares with the router (service_instance.c),
//  specs and the host API (service_spec.c)
#ifndef TR_SERVICE_H_INCLUDED
#define TR_SERVICE_H_INCLUDED

#include "alloc.h"
#include "registry.h"
#include "troupe.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR__SERVICE_MAX_REPLICAS 256

//  Deep copy of spec (process settings without their own strings).
TR__HIDDEN tr_service_spec_t *tr__service_spec_copy (const tr_service_spec_t *spec);
TR__HIDDEN void tr__service_spec_free (tr_service_spec_t **spec_p);
//  0, or an error with why filled in. rt NULL: without the node's checks
//  (process and async support).
TR__HIDDEN int tr__service_check (tr_runtime_t *rt, const tr_service_spec_t *spec, char *why,
                                  size_t why_size);
//  Start a service from an actor, monitored by it (the supervisor's way).
TR__HIDDEN int tr__service_spawn (tr_actor_t *self, const tr_service_spec_t *spec, const char *name,
                                  tr_ref_t *ref);
//  Registers the router and instance behaviours and the router's types,
//  once per process.
TR__HIDDEN void tr__service_init (void);

//  What a router shares with its instances (they may outlive it a little):
//  per route, counters the instances add to and the router reads.
typedef struct {
    _Atomic uint64_t calls, crashes, blocks, wall_ns, cpu_ns;
    _Atomic bool measure_cpu;
} tr__service_counters_t;

typedef struct {
    _Atomic int refs;
    const tr__behaviour_t *user;
    void *arg;
    size_t arg_size;
    uint64_t block_ns;
    size_t route_count;
    tr_type_t *types;  //  per route; TR_TYPE_NONE for "*"
    int fallback;      //  the "*" route, or -1
    tr__service_counters_t *counters;
} tr__service_shared_t;

//  Drop one reference (the router's or an instance's); the last frees it.
TR__HIDDEN void tr__service_shared_release (tr__service_shared_t **shared_p);
//  The route serving type (its own, else "*"), or -1.
TR__HIDDEN int tr__service_route_index (const tr__service_shared_t *shared, tr_type_t type);
//  Hand a copy of msg (a handler's view) to the runtime as undeliverable:
//  a request gets an error reply, the rest becomes a dead letter.
TR__HIDDEN void tr__service_undeliverable (tr_actor_t *self, const tr_msg_t *msg, int reason);
//  The wrapper that runs a service's behaviour in thread, dedicated and
//  async instances (service_instance.c); its init argument is the shared
//  block (one reference, which it takes).
TR__HIDDEN extern const tr_behaviour_t tr__service_instance_behaviour;

#endif
