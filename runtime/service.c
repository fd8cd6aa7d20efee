//  service - a behaviour behind a router that picks, per message type, where
//  the work runs: scheduler threads, dedicated threads, process pools or
//  the async loop (docs/routing.md)
//
//  The router ("tr.service") is an actor. It keeps one lane of instances
//  per execution mode, started when a route first needs it. Thread,
//  dedicated and async instances are "tr.service.instance" actors: a
//  wrapper that runs the service's behaviour and times each handler call
//  (wall, and CPU for automatic routes) into counters it shares with the
//  router. Process instances are one process pool. Requests are forwarded
//  with tr_request and answered from the continuation, so the router knows
//  every request in flight, its service time and its outcome.
#include "service.h"

#include "actor.h"
#include "clock.h"
#include "hist.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"
#include "shm.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define S_LANES          4      //  thread, dedicated, process, async
#define S_RESTART_WINDOW 10000  //  ms
#define S_TICK_MS        100

//  --------------------------------------------------------------------------
//  The router

typedef struct {
    tr_ref_t ref;
    uint64_t in_flight;
    bool alive;
} s_instance_ref_t;

typedef struct {
    s_instance_ref_t *instances;
    int count;   //  started (alive or being restarted)
    int target;  //  replicas wanted
    uint32_t next;
} s_lane_t;

//  A request waiting in a TR_ROUTE_QUEUE route.
typedef struct s_waiting {
    struct s_waiting *next;
    tr_msg_t request;  //  from, corr, type, flags (data below)
    size_t size;
    unsigned char data[];
} s_waiting_t;

typedef struct {
    tr_route_t spec;
    tr_type_t type;
    tr_mode_t mode;  //  now (never TR_MODE_AUTO)
    bool automatic;
    tr_route_stats_t stats;
    tr__hist_t *hist;  //  service time, µs
    uint64_t seen_crashes, seen_blocks;
    s_waiting_t *queue_head, *queue_tail;
} s_route_t;

typedef struct {
    tr_service_spec_t *spec;
    tr__service_shared_t *shared;
    s_route_t *routes;
    size_t route_count;
    int fallback;
    s_lane_t lanes[S_LANES];
    uint64_t *restarts;  //  ms of the last `intensity` instance restarts (ring)
    size_t restart_count;
    int intensity;
    struct s_flight *flights;  //  requests in flight
    bool stopping;
} s_router_t;

//  One request in flight (the continuation's argument), on the router's
//  list until answered, so that a router that stops answers them all.
typedef struct s_flight {
    struct s_flight *prev, *next;
    tr_msg_t request;
    int route;
    int lane;
    int instance;
    uint64_t start_ns;
} s_flight_t;

static tr_type_t s_type_tick;

static const char *
s_name (const s_router_t *router)
{
    return router->spec->name ? router->spec->name : router->spec->behaviour;
}

static int
s_lane_of (tr_mode_t mode)
{
    return mode == TR_MODE_AUTO ? TR_MODE_THREAD : (int) mode;
}

//  Start instance i of a lane (thread, dedicated, async) or the pool.
static int
s_spawn (tr_actor_t *self, s_router_t *router, int lane_index, int i)
{
    tr_runtime_t *rt = tr_actor_runtime (self);
    s_lane_t *lane = &router->lanes[lane_index];
    s_instance_ref_t *instance = &lane->instances[i];
    int rc;
    if (lane_index == TR_MODE_PROCESS) {
        tr_process_spec_t spec = {0};
        if (router->spec->process)
            spec = *router->spec->process;
        spec.behaviour = router->spec->behaviour;
        spec.command = NULL;
        spec.name = NULL;
        spec.arg = router->spec->arg;
        spec.arg_size = router->spec->arg_size;
        spec.replicas = lane->target;
        rc = rt->procs ? tr__pool_check (rt, &spec) : TR_ENOTSUP;
        if (rc == 0) {
            void *arg = tr__alloc (tr__pool_arg_size ());
            tr__pool_arg_make (rt, &spec, arg);
            rc = tr__spawn_on_from (self->sched, rt->threads, "tr.process_pool", arg,
                                    tr__pool_arg_size (), NULL, TR_REF_NONE, &instance->ref);
            if (rc != 0)
                tr__pool_arg_free (arg);
            tr__free (arg);
        }
    }
    else {
        tr_spawn_opts_t opts = {0};
        if (lane_index == TR_MODE_THREAD)
            //  Next to the router's thread first: the router keeps routing
            //  while an instance's handler runs.
            opts.thread = (int) ((self->sched->index + 1u + (uint32_t) i)
                                 % (uint32_t) tr_runtime_threads (rt))
                          + 1;
        else if (lane_index == TR_MODE_DEDICATED)
            opts.thread = tr_dedicated_placement (rt);
        else
            opts.thread = tr_loop_placement (rt, 0);
        if (opts.thread <= 0)
            rc = opts.thread < 0 ? opts.thread : TR_ETOOMANY;
        else {
            tr__service_shared_t *shared = router->shared;
            atomic_fetch_add (&shared->refs, 1);
            rc = tr_actor_spawn (self, "tr.service.instance", &shared, sizeof shared, &opts,
                                 &instance->ref);
            if (rc != 0 && rc != TR_EINIT)
                tr__service_shared_release (&shared);  //  its init never ran
        }
    }
    if (rc == 0 && (rc = tr_link (self, instance->ref)) != 0)
        tr_kill (self, instance->ref, TR_ESHUTDOWN);  //  unwatched: not ours to keep
    instance->alive = rc == 0;
    instance->in_flight = 0;
    if (rc != 0) {
        instance->ref = TR_REF_NONE;
        tr__warn ("service", "%s: cannot start a %s instance: %s", s_name (router),
                  tr_mode_name ((tr_mode_t) lane_index), tr_strerror (rc));
    }
    return rc;
}

//  Make sure a lane has its instances; false if none could start.
static bool
s_lane_ready (tr_actor_t *self, s_router_t *router, int lane_index)
{
    s_lane_t *lane = &router->lanes[lane_index];
    if (lane->count == 0 && lane->target > 0) {
        int count = lane_index == TR_MODE_PROCESS ? 1 : lane->target;
        lane->instances = tr__calloc ((size_t) count * sizeof *lane->instances);
        lane->count = count;
        for (int i = 0; i < count; i++)
            s_spawn (self, router, lane_index, i);
    }
    bool any = false;
    for (int i = 0; i < lane->count; i++)
        any |= lane->instances[i].alive;
    //  None runs: start again those that could not start (a table was
    //  full, no dedicated thread was free); one try per message.
    for (int i = 0; !any && i < lane->count; i++)
        if (lane->instances[i].ref == TR_REF_NONE)
            any = s_spawn (self, router, lane_index, i) == 0;
    return any;
}

static uint64_t
s_hash (const void *data, size_t size)
{
    //  FNV-1a, 64 bits.
    const unsigned char *bytes = data;
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
    return hash;
}

//  Jump consistent hash: key -> bucket in [0, buckets), few moves when the
//  number of buckets changes.
static int
s_jump (uint64_t key, int buckets)
{
    int64_t bucket = -1, next = 0;
    while (next < buckets) {
        bucket = next;
        key = key * 2862933555777941757ULL + 1;
        next =
            (int64_t) ((double) (bucket + 1) * ((double) (1LL << 31) / (double) ((key >> 33) + 1)));
    }
    return (int) bucket;
}

static int
s_pick (const s_route_t *route, s_lane_t *lane, const tr_msg_t *msg)
{
    if (lane->count == 1)
        return lane->instances[0].alive ? 0 : -1;
    int chosen = -1;
    if (route->spec.balance == TR_BALANCE_HASH) {
        size_t offset = route->spec.key_offset < msg->size ? route->spec.key_offset : msg->size;
        size_t size = msg->size - offset;
        if (route->spec.key_size && route->spec.key_size < size)
            size = route->spec.key_size;
        chosen = s_jump (s_hash ((const char *) msg->data + offset, size), lane->count);
        if (lane->instances[chosen].alive)
            return chosen;
        //  Its instance is restarting: the next live one, for now.
    }
    if (route->spec.balance == TR_BALANCE_LEAST_LOADED) {
        for (int i = 0; i < lane->count; i++)
            if (lane->instances[i].alive
                && (chosen < 0 || lane->instances[i].in_flight < lane->instances[chosen].in_flight))
                chosen = i;
        return chosen;
    }
    for (int tries = 0; tries < lane->count; tries++) {
        int i = (int) (lane->next++ % (uint32_t) lane->count);
        if (lane->instances[i].alive)
            return i;
    }
    return -1;
}

static void s_on_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg);

static void
s_move (s_router_t *router, s_route_t *route, tr_mode_t mode, tr_move_t why)
{
    if (route->mode == mode)
        return;
    tr__info ("service", "%s: route '%s' moves from %s to %s (%s)", s_name (router),
              route->spec.type, tr_mode_name (route->mode), tr_mode_name (mode),
              why == TR_MOVE_CRASHED   ? "a handler crashed"
              : why == TR_MOVE_BLOCKED ? "a handler blocked its thread"
                                       : "set by hand");
    route->mode = mode;
    route->stats.moves++;
    route->stats.last_move = why;
    int lane = s_lane_of (mode);
    int wanted = route->spec.replicas ? route->spec.replicas : 1;
    if (router->lanes[lane].target < wanted && router->lanes[lane].count == 0)
        router->lanes[lane].target = wanted;
}

static bool s_lane_ready (tr_actor_t *self, s_router_t *router, int lane_index);

//  An automatic move, when the lane it moves to can run (else logged, and
//  the route stays).
static void
s_move_auto (tr_actor_t *self, s_router_t *router, s_route_t *route, tr_mode_t mode, tr_move_t why)
{
    tr_runtime_t *rt = tr_actor_runtime (self);
    int lane = s_lane_of (mode);
    int wanted = route->spec.replicas ? route->spec.replicas : 1;
    if (router->lanes[lane].target < wanted && router->lanes[lane].count == 0)
        router->lanes[lane].target = wanted;
    if ((mode == TR_MODE_PROCESS && !rt->procs) || !s_lane_ready (self, router, lane)) {
        tr__warn ("service", "%s: route '%s' should move to %s (%s) but cannot: it stays on %s",
                  s_name (router), route->spec.type, tr_mode_name (mode),
                  why == TR_MOVE_CRASHED ? "a handler crashed" : "a handler blocked its thread",
                  tr_mode_name (route->mode));
        return;
    }
    s_move (router, route, mode, why);
}

//  The automatic rules, from what the instances counted.
static void
s_observe (tr_actor_t *self, s_router_t *router, s_route_t *route, int index)
{
    tr__service_counters_t *counters = &router->shared->counters[index];
    uint64_t crashes = atomic_load_explicit (&counters->crashes, memory_order_relaxed);
    uint64_t blocks = atomic_load_explicit (&counters->blocks, memory_order_relaxed);
    if (crashes == route->seen_crashes && blocks == route->seen_blocks)
        return;
    route->stats.crashes += crashes - route->seen_crashes;
    route->stats.blocks += blocks - route->seen_blocks;
    bool crashed = crashes != route->seen_crashes, blocked = blocks != route->seen_blocks;
    route->seen_crashes = crashes;
    route->seen_blocks = blocks;
    if (!route->automatic)
        return;
    if (crashed && route->mode != TR_MODE_PROCESS)
        s_move_auto (self, router, route, TR_MODE_PROCESS, TR_MOVE_CRASHED);
    else if (blocked && route->mode == TR_MODE_THREAD)
        s_move_auto (self, router, route, TR_MODE_DEDICATED, TR_MOVE_BLOCKED);
}

//  Forward a request or a one-way message on its route now.
static void
s_forward (tr_actor_t *self, s_router_t *router, int index, const tr_msg_t *msg)
{
    s_route_t *route = &router->routes[index];
    int lane_index = s_lane_of (route->mode);
    int rc = s_lane_ready (self, router, lane_index) ? 0 : TR_EDEAD;
    s_lane_t *lane = &router->lanes[lane_index];
    int instance = rc == 0 ? s_pick (route, lane, msg) : -1;
    if (instance < 0)
        rc = TR_EDEAD;
    bool request = msg->flags & TR_MSG_REQUEST;
    if (rc == 0 && !request) {
        rc = tr__forward (self, lane->instances[instance].ref, msg, 0, NULL, NULL);
        if (rc == 0)
            route->stats.one_way++;
        else {
            route->stats.errors++;
            //  A dead instance's message was dead-lettered on the way; one
            //  refused by a full mailbox (TR_EAGAIN) was not.
            if (rc != TR_EDEAD)
                tr__service_undeliverable (self, msg, rc);
        }
        return;
    }
    if (rc == 0) {
        s_flight_t *flight = tr__alloc (sizeof *flight);
        flight->request = *msg;
        flight->request.data = NULL;
        flight->request.size = 0;
        flight->route = index;
        flight->lane = lane_index;
        flight->instance = instance;
        flight->start_ns = tr__now_ns ();
        int deadline = route->spec.deadline_ms ? route->spec.deadline_ms : 30000;
        rc = tr__forward (self, lane->instances[instance].ref, msg, deadline, s_on_reply, flight);
        if (rc == 0) {
            flight->prev = NULL;
            flight->next = router->flights;
            if (router->flights)
                router->flights->prev = flight;
            router->flights = flight;
            lane->instances[instance].in_flight++;
            route->stats.in_flight++;
            return;
        }
        tr__free (flight);
    }
    route->stats.errors++;
    if (request)
        tr_reply_error (self, msg, rc);
    else
        tr__service_undeliverable (self, msg, rc);
}

static void
s_waiting_free (s_waiting_t *waiting)
{
    if (waiting->request.flags & TR_MSG_SHM)
        tr__shm_payload_release (waiting->data, waiting->size);
    tr__free (waiting);
}

static void
s_queue_push (s_route_t *route, const tr_msg_t *msg)
{
    s_waiting_t *waiting = tr__alloc (sizeof *waiting + msg->size);
    waiting->next = NULL;
    waiting->request = *msg;
    waiting->size = msg->size;
    if (msg->size)
        memcpy (waiting->data, msg->data, msg->size);
    //  The message the handler got goes when it returns: a waiting copy of
    //  a shared-memory handle holds a reference of its own.
    if (msg->flags & TR_MSG_SHM)
        tr__shm_payload_retain (msg->data, msg->size);
    if (route->queue_tail)
        route->queue_tail->next = waiting;
    else
        route->queue_head = waiting;
    route->queue_tail = waiting;
    route->stats.queued++;
}

static void
s_queue_drain (tr_actor_t *self, s_router_t *router, int index)
{
    s_route_t *route = &router->routes[index];
    uint64_t limit = (uint64_t) route->spec.max_in_flight;
    while (route->queue_head && (!limit || route->stats.in_flight < limit)) {
        s_waiting_t *waiting = route->queue_head;
        route->queue_head = waiting->next;
        if (!route->queue_head)
            route->queue_tail = NULL;
        route->stats.queued--;
        waiting->request.data = waiting->data;
        waiting->request.size = waiting->size;
        s_forward (self, router, index, &waiting->request);
        s_waiting_free (waiting);
    }
}

static void
s_on_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    s_router_t *router = state;
    s_flight_t *flight = arg;
    if (flight->prev)
        flight->prev->next = flight->next;
    else
        router->flights = flight->next;
    if (flight->next)
        flight->next->prev = flight->prev;
    s_route_t *route = &router->routes[flight->route];
    s_lane_t *lane = &router->lanes[flight->lane];
    if (flight->instance < lane->count && lane->instances[flight->instance].in_flight)
        lane->instances[flight->instance].in_flight--;
    route->stats.in_flight--;
    uint64_t us = (tr__now_ns () - flight->start_ns) / 1000;
    if (!route->hist)
        route->hist = tr__calloc (sizeof *route->hist);
    tr__hist_record (route->hist, us);
    if (rc == 0) {
        route->stats.replies++;
        tr_reply (self, &flight->request, reply->data, reply->size);
    }
    else {
        if (rc == TR_ETIMEDOUT)
            route->stats.timeouts++;
        else
            route->stats.replies++;
        route->stats.errors++;
        tr_reply_error (self, &flight->request, rc);
    }
    int index = flight->route;
    tr__free (flight);
    s_observe (self, router, route, index);
    s_queue_drain (self, router, index);
}

//  Every message that is not the router's own: route it.
static int
s_router_dispatch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_router_t *router = state;
    int index = tr__service_route_index (router->shared, msg->type);
    bool request = msg->flags & TR_MSG_REQUEST;
    if (index < 0) {
        tr__service_undeliverable (self, msg, TR_EUNKNOWN_TYPE);
        return 0;
    }
    s_route_t *route = &router->routes[index];
    if (request)
        route->stats.requests++;
    uint64_t limit = (uint64_t) route->spec.max_in_flight;
    if (request && limit && route->stats.in_flight >= limit) {
        int queue_limit = route->spec.queue_limit ? route->spec.queue_limit : 1024;
        if (route->spec.overflow == TR_ROUTE_QUEUE
            && route->stats.queued < (uint64_t) queue_limit) {
            s_queue_push (route, msg);
            return 0;
        }
        if (route->spec.overflow == TR_ROUTE_DROP) {
            route->stats.dropped++;
            tr__service_undeliverable (self, msg, TR_EOVERFLOW);
            return 0;
        }
        route->stats.rejected++;
        tr_reply_error (self, msg, TR_EAGAIN);
        return 0;
    }
    s_forward (self, router, index, msg);
    return 0;
}

//  An instance (or the pool) ended: restart it, within the intensity.
static int
s_on_exit (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_router_t *router = state;
    tr_down_t down;
    if (msg->size != sizeof down)
        return 0;
    memcpy (&down, msg->data, sizeof down);
    for (int l = 0; l < S_LANES; l++) {
        s_lane_t *lane = &router->lanes[l];
        for (int i = 0; i < lane->count; i++) {
            s_instance_ref_t *instance = &lane->instances[i];
            if (instance->ref != down.ref || !instance->alive)
                continue;
            instance->alive = false;
            if (router->stopping)
                return 0;
            for (size_t r = 0; r < router->route_count; r++)
                s_observe (self, router, &router->routes[r], (int) r);
            uint64_t now = tr_now_ms (self);
            int intensity = router->intensity;
            size_t recent = 0, kept = router->restart_count < (size_t) intensity
                                          ? router->restart_count
                                          : (size_t) intensity;
            for (size_t k = 0; k < kept; k++)
                recent += now - router->restarts[k] <= S_RESTART_WINDOW;
            router->restarts[router->restart_count++ % (size_t) intensity] = now;
            if ((int) recent >= intensity) {
                tr__error ("service",
                           "%s: instances restarted more than %d times in %d ms: "
                           "the service gives up",
                           s_name (router), intensity, S_RESTART_WINDOW);
                tr_fail (self, TR_EESCALATED);
                return 0;
            }
            tr__warn ("service", "%s: a %s instance ended (%s): restarting it", s_name (router),
                      tr_mode_name ((tr_mode_t) l), tr_strerror (down.reason));
            s_spawn (self, router, l, i);
            return 0;
        }
    }
    return 0;
}

static int
s_on_tick (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) msg;
    s_router_t *router = state;
    for (size_t r = 0; r < router->route_count; r++)
        s_observe (self, router, &router->routes[r], (int) r);
    return 0;
}

static int
s_find_route (s_router_t *router, const tr_msg_t *msg)
{
    char name[64];
    if (!msg->size || msg->size > sizeof name)
        return -1;
    memcpy (name, msg->data, msg->size);
    name[msg->size - 1] = 0;
    tr_type_t type = tr_type (name);
    for (size_t i = 0; i < router->route_count; i++)
        if (strcmp (router->routes[i].spec.type, name) == 0)
            return (int) i;
    return type == TR_TYPE_NONE ? -1 : tr__service_route_index (router->shared, type);
}

static int
s_on_stats (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_router_t *router = state;
    int index = s_find_route (router, msg);
    if (index < 0)
        return msg->corr ? tr_reply_error (self, msg, TR_ENOENT) : 0;
    s_route_t *route = &router->routes[index];
    s_observe (self, router, route, index);
    tr_route_stats_t stats = route->stats;
    stats.mode = route->mode;
    stats.automatic = route->automatic;
    if (route->hist) {
        stats.p50_us = tr__hist_quantile (route->hist, 0.50);
        stats.p95_us = tr__hist_quantile (route->hist, 0.95);
        stats.p99_us = tr__hist_quantile (route->hist, 0.99);
        stats.max_us = route->hist->max;
    }
    tr__service_counters_t *counters = &router->shared->counters[index];
    stats.handler_wall_us = atomic_load (&counters->wall_ns) / 1000;
    stats.handler_cpu_us = atomic_load (&counters->cpu_ns) / 1000;
    return msg->corr ? tr_reply (self, msg, &stats, sizeof stats) : 0;
}

static int
s_on_set_mode (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_router_t *router = state;
    int32_t mode;
    if (msg->size <= sizeof mode)
        return msg->corr ? tr_reply_error (self, msg, TR_EINVAL) : 0;
    memcpy (&mode, msg->data, sizeof mode);
    tr_msg_t name = *msg;
    name.data = (const char *) msg->data + sizeof mode;
    name.size = msg->size - sizeof mode;
    int index = s_find_route (router, &name);
    int rc = 0;
    if (index < 0)
        rc = TR_ENOENT;
    else if (mode < 0 || mode > TR_MODE_AUTO)
        rc = TR_EINVAL;
    else if (mode == TR_MODE_PROCESS && !tr_actor_runtime (self)->procs)
        rc = TR_ENOTSUP;
    else if (mode == TR_MODE_ASYNC && tr_loop_placement (tr_actor_runtime (self), 0) <= 0)
        rc = TR_ENOTSUP;
    else if (mode == TR_MODE_DEDICATED && tr_actor_runtime (self)->dedicated == 0)
        rc = TR_ENOTSUP;
    else {
        s_route_t *route = &router->routes[index];
        route->automatic = mode == TR_MODE_AUTO;
        tr_mode_t now = mode == TR_MODE_AUTO ? TR_MODE_THREAD : (tr_mode_t) mode;
        if (now != route->mode)
            s_move (router, route, now, TR_MOVE_SET);
        tr__service_counters_t *counters = &router->shared->counters[index];
        atomic_store (&counters->measure_cpu, route->automatic);
    }
    if (!msg->corr)
        return 0;
    return rc ? tr_reply_error (self, msg, rc) : tr_reply (self, msg, NULL, 0);
}

static int
s_router_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    s_router_t *router = state;
    if (arg_size != sizeof (tr_service_spec_t *))
        return TR_EINVAL;
    memcpy (&router->spec, arg, sizeof router->spec);
    tr_service_spec_t *spec = router->spec;
    //  No routes: "*" on one thread instance.
    static const tr_route_t s_default_route = {.type = "*"};
    const tr_route_t *routes = spec->route_count ? spec->routes : &s_default_route;
    size_t count = spec->route_count ? spec->route_count : 1;

    tr__service_shared_t *shared = tr__calloc (sizeof *shared);
    atomic_init (&shared->refs, 1);
    shared->user = tr__behaviour_find (spec->behaviour);
    if (!shared->user) {
        tr__free (shared);
        tr__service_spec_free (&router->spec);
        return TR_EUNKNOWN_BEHAVIOUR;
    }
    if (spec->arg_size) {
        shared->arg = tr__alloc (spec->arg_size);
        memcpy (shared->arg, spec->arg, spec->arg_size);
        shared->arg_size = spec->arg_size;
    }
    shared->block_ns = (uint64_t) (spec->block_ms ? spec->block_ms : 100) * 1000000ULL;
    shared->route_count = count;
    shared->types = tr__calloc (count * sizeof *shared->types);
    shared->counters = tr__calloc (count * sizeof *shared->counters);
    shared->fallback = -1;
    router->shared = shared;
    router->routes = tr__calloc (count * sizeof *router->routes);
    router->route_count = count;
    bool automatic = false;
    for (size_t i = 0; i < count; i++) {
        s_route_t *route = &router->routes[i];
        route->spec = routes[i];
        route->spec.type = tr__strdup (routes[i].type);
        route->automatic = routes[i].mode == TR_MODE_AUTO;
        route->mode = route->automatic ? TR_MODE_THREAD : routes[i].mode;
        automatic |= route->automatic;
        atomic_init (&shared->counters[i].measure_cpu, route->automatic);
        if (strcmp (routes[i].type, "*") == 0)
            shared->fallback = (int) i;
        else
            shared->types[i] = tr_type (routes[i].type);
        int lane = s_lane_of (route->mode);
        int wanted = routes[i].replicas ? routes[i].replicas : 1;
        if (router->lanes[lane].target < wanted)
            router->lanes[lane].target = wanted;
    }
    router->intensity = spec->restart_intensity ? spec->restart_intensity : 10;
    router->restarts = tr__calloc ((size_t) router->intensity * sizeof *router->restarts);
    tr_trap_exits (self, true);
    //  The thread lane now (the common case); the others when first used.
    if (router->lanes[TR_MODE_THREAD].target)
        s_lane_ready (self, router, TR_MODE_THREAD);
    if (automatic)
        tr_send_every (self, S_TICK_MS, tr_self (self), s_type_tick, NULL, 0, NULL);
    return 0;
}

static void
s_router_terminate (tr_actor_t *self, void *state, int reason)
{
    s_router_t *router = state;
    router->stopping = true;
    //  Requests in flight: their answers would come to no one now.
    while (router->flights) {
        s_flight_t *flight = router->flights;
        router->flights = flight->next;
        tr_reply_error (self, &flight->request, reason ? reason : TR_ESHUTDOWN);
        tr__free (flight);
    }
    for (int l = 0; l < S_LANES; l++) {
        s_lane_t *lane = &router->lanes[l];
        for (int i = 0; i < lane->count; i++)
            if (lane->instances[i].alive)
                tr_kill (self, lane->instances[i].ref, TR_ESHUTDOWN);
        tr__free (lane->instances);
    }
    for (size_t r = 0; r < router->route_count; r++) {
        s_route_t *route = &router->routes[r];
        while (route->queue_head) {
            s_waiting_t *waiting = route->queue_head;
            route->queue_head = waiting->next;
            tr_reply_error (self, &waiting->request, TR_ESHUTDOWN);
            s_waiting_free (waiting);
        }
        tr__free ((void *) route->spec.type);
        tr__free (route->hist);
    }
    tr__free (router->routes);
    tr__free (router->restarts);
    tr__service_shared_release (&router->shared);
    tr__service_spec_free (&router->spec);
}

static const tr_handler_t s_router_handlers[] = {{"tr.exit", s_on_exit},
                                                 {"tr.service.stats", s_on_stats},
                                                 {"tr.service.set_mode", s_on_set_mode},
                                                 {"tr.service.tick", s_on_tick},
                                                 {NULL, NULL}};
static const tr_behaviour_t s_router_behaviour = {"tr.service",      sizeof (s_router_t),
                                                  s_router_init,     s_router_terminate,
                                                  s_router_handlers, s_router_dispatch};

static void
s_register (void)
{
    tr_behaviour_register (&s_router_behaviour);
    tr_behaviour_register (&tr__service_instance_behaviour);
    s_type_tick = tr_type ("tr.service.tick");
}

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

void
tr__service_init (void)
{
    pthread_once (&s_once, s_register);
}

int
tr__service_spawn (tr_actor_t *self, const tr_service_spec_t *spec, const char *name, tr_ref_t *ref)
{
    tr__service_init ();
    tr_service_spec_t *copy = tr__service_spec_copy (spec);
    tr_spawn_opts_t opts = {.name = name, .monitor = true};
    int rc = tr_actor_spawn (self, "tr.service", &copy, sizeof copy, &opts, ref);
    if (rc != 0 && rc != TR_EINIT)
        tr__service_spec_free (&copy);  //  never reached its init
    return rc;
}
