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

#define S_LANES          4  //  thread, dedicated, process, async
#define S_MAX_REPLICAS   256
#define S_RESTART_WINDOW 10000  //  ms
#define S_TICK_MS        100

//  --------------------------------------------------------------------------
//  Spec copies and checks

static char *
s_dup (const char *str)
{
    return str ? tr__strdup (str) : NULL;
}

tr_service_spec_t *
tr__service_spec_copy (const tr_service_spec_t *from)
{
    tr_service_spec_t *spec = tr__calloc (sizeof *spec);
    *spec = *from;
    spec->name = s_dup (from->name);
    spec->behaviour = s_dup (from->behaviour);
    spec->arg = NULL;
    if (from->arg_size) {
        void *arg = tr__alloc (from->arg_size);
        memcpy (arg, from->arg, from->arg_size);
        spec->arg = arg;
    }
    spec->routes = NULL;
    if (from->route_count) {
        tr_route_t *routes = tr__alloc (from->route_count * sizeof *routes);
        for (size_t i = 0; i < from->route_count; i++) {
            routes[i] = from->routes[i];
            routes[i].type = s_dup (from->routes[i].type);
        }
        spec->routes = routes;
    }
    spec->process = NULL;
    if (from->process) {
        tr_process_spec_t *process = tr__calloc (sizeof *process);
        *process = *from->process;
        process->behaviour = process->command = process->name = NULL;
        process->arg = NULL;
        process->arg_size = 0;
        process->replicas = 0;
        spec->process = process;
    }
    return spec;
}

void
tr__service_spec_free (tr_service_spec_t **spec_p)
{
    tr_service_spec_t *spec = *spec_p;
    if (!spec)
        return;
    tr__free ((void *) spec->name);
    tr__free ((void *) spec->behaviour);
    tr__free ((void *) spec->arg);
    for (size_t i = 0; i < spec->route_count; i++)
        tr__free ((void *) spec->routes[i].type);
    tr__free ((void *) spec->routes);
    tr__free ((void *) spec->process);
    tr__free (spec);
    *spec_p = NULL;
}

static bool
s_type_name_ok (const char *name)
{
    if (!name || !name[0] || strlen (name) > 63)
        return false;
    if (strcmp (name, "*") == 0)
        return true;
    for (const char *at = name; *at; at++)
        if ((unsigned char) *at <= ' ' || (unsigned char) *at >= 127)
            return false;
    return strncmp (name, "tr.", 3) != 0;  //  the runtime's own types are not routed
}

int
tr__service_check (tr_runtime_t *rt, const tr_service_spec_t *spec, char *why, size_t why_size)
{
    if (!spec) {
        snprintf (why, why_size, "no spec");
        return TR_EINVAL;
    }
    if (!spec->behaviour || !tr__behaviour_find (spec->behaviour)) {
        snprintf (why, why_size, "unknown behaviour '%s'",
                  spec->behaviour ? spec->behaviour : "(none)");
        return TR_EUNKNOWN_BEHAVIOUR;
    }
    if ((spec->arg_size && !spec->arg) || (spec->route_count && !spec->routes) || spec->block_ms < 0
        || spec->restart_intensity < 0 || spec->restart_intensity > 10000
        || spec->route_count > 1024) {
        snprintf (why, why_size, "arg, routes, block_ms or restart_intensity malformed");
        return TR_EINVAL;
    }
    if (spec->name && (!spec->name[0] || strlen (spec->name) > 255)) {
        snprintf (why, why_size, "bad name");
        return TR_EINVAL;
    }
    for (size_t i = 0; i < spec->route_count; i++) {
        const tr_route_t *route = &spec->routes[i];
        const char *type = route->type ? route->type : "(none)";
        if (!s_type_name_ok (route->type)) {
            snprintf (why, why_size,
                      "route %zu: type '%s' is not a type name (1..63 printable bytes, not "
                      "tr.*) or \"*\"",
                      i, type);
            return TR_EINVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp (spec->routes[j].type, route->type) == 0) {
                snprintf (why, why_size, "route '%s' given twice", type);
                return TR_EINVAL;
            }
        if ((unsigned) route->mode > TR_MODE_AUTO || route->replicas < 0
            || route->replicas > S_MAX_REPLICAS || (unsigned) route->balance > TR_BALANCE_HASH
            || route->deadline_ms < 0 || route->max_in_flight < 0
            || (unsigned) route->overflow > TR_ROUTE_DROP || route->queue_limit < 0) {
            snprintf (why, why_size,
                      "route '%s': bad mode, replicas (0..%d), balance, deadline, "
                      "max_in_flight, overflow or queue_limit",
                      type, S_MAX_REPLICAS);
            return TR_EINVAL;
        }
        if (route->balance != TR_BALANCE_HASH && (route->key_offset || route->key_size)) {
            snprintf (why, why_size, "route '%s': a key without balance hash", type);
            return TR_EINVAL;
        }
        if (route->mode == TR_MODE_PROCESS && route->balance == TR_BALANCE_HASH) {
            snprintf (why, why_size,
                      "route '%s': process routes are balanced by their pool (least loaded)", type);
            return TR_EINVAL;
        }
        if (rt && route->mode == TR_MODE_PROCESS && !rt->procs) {
            snprintf (why, why_size, "route '%s': process mode on a node without processes", type);
            return TR_ENOTSUP;
        }
        if (rt && route->mode == TR_MODE_DEDICATED && rt->dedicated == 0) {
            snprintf (why, why_size,
                      "route '%s': dedicated mode on a node without dedicated threads", type);
            return TR_ENOTSUP;
        }
        if (rt && route->mode == TR_MODE_ASYNC && tr_loop_placement (rt, 0) <= 0) {
            snprintf (why, why_size, "route '%s': async mode on a node without a loop", type);
            return TR_ENOTSUP;
        }
    }
    if (spec->process) {
        tr_process_spec_t probe = *spec->process;
        probe.behaviour = spec->behaviour;
        probe.command = NULL;
        probe.arg = NULL;
        probe.arg_size = 0;
        probe.replicas = 0;
        int rc = tr__pool_check (NULL, &probe);
        if (rc) {
            snprintf (why, why_size, "bad process settings (%s)", tr_strerror (rc));
            return rc;
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  What the router shares with its instances (they may outlive it a little)

typedef struct {
    _Atomic uint64_t calls, crashes, blocks, wall_ns, cpu_ns;
    _Atomic bool measure_cpu;
} s_counters_t;

typedef struct {
    _Atomic int refs;
    const tr__behaviour_t *user;
    void *arg;
    size_t arg_size;
    uint64_t block_ns;
    size_t route_count;
    tr_type_t *types;  //  per route; TR_TYPE_NONE for "*"
    int fallback;      //  the "*" route, or -1
    s_counters_t *counters;
} s_shared_t;

static void
s_shared_release (s_shared_t **shared_p)
{
    s_shared_t *shared = *shared_p;
    *shared_p = NULL;
    if (!shared || atomic_fetch_sub (&shared->refs, 1) != 1)
        return;
    tr__free (shared->arg);
    tr__free (shared->types);
    tr__free (shared->counters);
    tr__free (shared);
}

static int
s_route_index (const s_shared_t *shared, tr_type_t type)
{
    for (size_t i = 0; i < shared->route_count; i++)
        if (shared->types[i] == type && type != TR_TYPE_NONE)
            return (int) i;
    return shared->fallback;
}

//  --------------------------------------------------------------------------
//  The instance wrapper

//  The actor's state is the behaviour's own state, so that everything the
//  runtime hands it (handlers, continuations, fd watchers, tr_actor_state)
//  sees the same pointer; the wrapper's header sits just before it in one
//  block. (The wrapper behaviour has no state of its own: the runtime then
//  neither allocates nor frees it.)
typedef struct {
    s_shared_t *shared;
    size_t user_size;
    bool user_init_ran;
} s_instance_t;

#define S_HEADER ((sizeof (s_instance_t) + 63u) & ~(size_t) 63u)

static s_instance_t *
s_instance (void *state)
{
    return (s_instance_t *) ((char *) state - S_HEADER);
}

static void
s_instance_free (tr_actor_t *self)
{
    s_instance_t *instance = s_instance (self->state);
    s_shared_release (&instance->shared);
    tr__free_sized (instance, S_HEADER + instance->user_size);
    self->state = NULL;
}

static int
s_instance_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) state;
    s_shared_t *shared;
    if (arg_size != sizeof shared)
        return TR_EINVAL;
    memcpy (&shared, arg, sizeof shared);
    const tr_behaviour_t *user = shared->user->pub;
    //  Never NULL, even for a behaviour without state: the header is found
    //  from it.
    s_instance_t *instance = tr__calloc (S_HEADER + user->state_size);
    instance->shared = shared;
    instance->user_size = user->state_size;
    self->state = (char *) instance + S_HEADER;
    int rc = user->init ? user->init (self, self->state, shared->arg, shared->arg_size) : 0;
    if (rc != 0) {
        s_instance_free (self);
        return rc;
    }
    instance->user_init_ran = true;
    return 0;
}

static void
s_instance_terminate (tr_actor_t *self, void *state, int reason)
{
    if (!state)
        return;
    s_instance_t *instance = s_instance (state);
    const tr_behaviour_t *user = instance->shared->user->pub;
    if (instance->user_init_ran && user->terminate)
        user->terminate (self, state, reason);
    s_instance_free (self);
}

//  Hand a copy of msg (a handler's view) to the runtime as undeliverable:
//  a request gets an error reply, the rest becomes a dead letter.
static void
s_undeliverable (tr_actor_t *self, const tr_msg_t *msg, int reason)
{
    tr__sched_t *sched = self->sched;
    tr__msg_t *copy = tr__msg_new (&sched->pool, msg->size);
    copy->type = msg->type;
    copy->from = msg->from;
    copy->to = msg->to;
    copy->corr = msg->corr;
    copy->flags = (uint16_t) (copy->flags | (msg->flags & TR_MSG_REQUEST));
    if (msg->size)
        memcpy (copy->data, msg->data, msg->size);
    tr__undeliverable (sched->rt, sched, copy, reason);
}

static uint64_t
s_cpu_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

//  Every message: the behaviour's handler, timed.
static int
s_instance_dispatch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_instance_t *instance = s_instance (state);
    const tr__behaviour_t *user = instance->shared->user;
    tr_handler_fn *fn = tr__behaviour_handler (user, msg->type);
    if (!fn)
        fn = user->pub->unhandled;
    if (!fn) {
        //  As the runtime does for an actor without the handler.
        s_undeliverable (self, msg, TR_EUNKNOWN_TYPE);
        return 0;
    }
    int index = s_route_index (instance->shared, msg->type);
    s_counters_t *counters = index >= 0 ? &instance->shared->counters[index] : NULL;
    bool cpu = counters && atomic_load_explicit (&counters->measure_cpu, memory_order_relaxed);
    uint64_t cpu_start = cpu ? s_cpu_ns () : 0;
    uint64_t start = tr__now_ns ();
    int rc = fn (self, state, msg);
    if (!counters)
        return rc;
    uint64_t wall = tr__now_ns () - start;
    atomic_fetch_add_explicit (&counters->calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&counters->wall_ns, wall, memory_order_relaxed);
    if (cpu)
        atomic_fetch_add_explicit (&counters->cpu_ns, s_cpu_ns () - cpu_start,
                                   memory_order_relaxed);
    if (wall > instance->shared->block_ns)
        atomic_fetch_add_explicit (&counters->blocks, 1, memory_order_relaxed);
    //  Failed: by its result, or by tr_fail.
    if (rc != 0 || ((self->flags & TR__ACTOR_STOPPING) && self->exit_reason != 0))
        atomic_fetch_add_explicit (&counters->crashes, 1, memory_order_relaxed);
    return rc;
}

static const tr_handler_t s_instance_handlers[] = {{NULL, NULL}};
static const tr_behaviour_t s_instance_behaviour = {"tr.service.instance", 0,
                                                    s_instance_init,       s_instance_terminate,
                                                    s_instance_handlers,   s_instance_dispatch};

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
    s_shared_t *shared;
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

static tr_type_t s_type_stats, s_type_set_mode, s_type_tick;

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
            s_shared_t *shared = router->shared;
            atomic_fetch_add (&shared->refs, 1);
            rc = tr_actor_spawn (self, "tr.service.instance", &shared, sizeof shared, &opts,
                                 &instance->ref);
            if (rc != 0 && rc != TR_EINIT)
                s_shared_release (&shared);  //  its init never ran
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
    s_counters_t *counters = &router->shared->counters[index];
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
                s_undeliverable (self, msg, rc);
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
        s_undeliverable (self, msg, rc);
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
    int index = s_route_index (router->shared, msg->type);
    bool request = msg->flags & TR_MSG_REQUEST;
    if (index < 0) {
        s_undeliverable (self, msg, TR_EUNKNOWN_TYPE);
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
            s_undeliverable (self, msg, TR_EOVERFLOW);
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
    return type == TR_TYPE_NONE ? -1 : s_route_index (router->shared, type);
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
    s_counters_t *counters = &router->shared->counters[index];
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
        s_counters_t *counters = &router->shared->counters[index];
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

    s_shared_t *shared = tr__calloc (sizeof *shared);
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
    s_shared_release (&router->shared);
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

void
tr__service_register (void)
{
    tr_behaviour_register (&s_router_behaviour);
    tr_behaviour_register (&s_instance_behaviour);
    s_type_stats = tr_type ("tr.service.stats");
    s_type_set_mode = tr_type ("tr.service.set_mode");
    s_type_tick = tr_type ("tr.service.tick");
}

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

int
tr__service_spawn (tr_actor_t *self, const tr_service_spec_t *spec, const char *name, tr_ref_t *ref)
{
    pthread_once (&s_once, tr__service_register);
    tr_service_spec_t *copy = tr__service_spec_copy (spec);
    tr_spawn_opts_t opts = {.name = name, .monitor = true};
    int rc = tr_actor_spawn (self, "tr.service", &copy, sizeof copy, &opts, ref);
    if (rc != 0 && rc != TR_EINIT)
        tr__service_spec_free (&copy);  //  never reached its init
    return rc;
}

//  --------------------------------------------------------------------------
//  Host API

int
tr_service_start (tr_runtime_t *rt, const tr_service_spec_t *spec, tr_ref_t *ref)
{
    if (!rt || !ref)
        return TR_EINVAL;
    *ref = TR_REF_NONE;
    char why[256];
    int rc = tr__service_check (rt, spec, why, sizeof why);
    if (rc) {
        tr__error ("service", "cannot start service: %s", why);
        return rc;
    }
    pthread_once (&s_once, tr__service_register);
    tr_service_spec_t *copy = tr__service_spec_copy (spec);
    tr_spawn_opts_t opts = {.name = spec->name};
    rc = tr_spawn (rt, "tr.service", &copy, sizeof copy, &opts, ref);
    if (rc != 0 && rc != TR_EINIT)
        tr__service_spec_free (&copy);
    return rc;
}

int
tr_service_route_stats (tr_runtime_t *rt, tr_ref_t service, const char *type,
                        tr_route_stats_t *stats)
{
    if (!rt || !type || !stats || strlen (type) > 63)
        return TR_EINVAL;
    pthread_once (&s_once, tr__service_register);
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_call (rt, service, s_type_stats, type, strlen (type) + 1, 5000, &reply, &size);
    if (rc == 0 && size != sizeof *stats)
        rc = TR_EMALFORMED;
    if (rc == 0)
        memcpy (stats, reply, sizeof *stats);
    tr_free (reply);
    return rc;
}

int
tr_service_set_mode (tr_runtime_t *rt, tr_ref_t service, const char *type, tr_mode_t mode)
{
    if (!rt || !type || strlen (type) > 63 || (unsigned) mode > TR_MODE_AUTO)
        return TR_EINVAL;
    pthread_once (&s_once, tr__service_register);
    unsigned char request[sizeof (int32_t) + 64];
    int32_t value = (int32_t) mode;
    memcpy (request, &value, sizeof value);
    size_t length = strlen (type) + 1;
    memcpy (request + sizeof value, type, length);
    return tr_call (rt, service, s_type_set_mode, request, sizeof value + length, 5000, NULL, NULL);
}

static const char *s_mode_names[] = {"thread", "thread:dedicated", "process", "async", "auto"};

const char *
tr_mode_name (tr_mode_t mode)
{
    return (unsigned) mode <= TR_MODE_AUTO ? s_mode_names[mode] : "?";
}

int
tr_mode_parse (const char *name)
{
    for (int i = 0; name && i <= TR_MODE_AUTO; i++)
        if (strcmp (name, s_mode_names[i]) == 0)
            return i;
    if (name && strcmp (name, "dedicated") == 0)
        return TR_MODE_DEDICATED;
    return -1;
}
