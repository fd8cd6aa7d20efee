//  service_instance - what runs a service's behaviour in its thread,
//  dedicated and async instances: a wrapper actor that times each handler
//  call (wall, and CPU for automatic routes) into counters shared with the
//  router (docs/routing.md), and the shared block itself
#include "service.h"

#include "actor.h"
#include "alloc.h"
#include "clock.h"
#include "runtime.h"

#include <string.h>
#include <time.h>

void
tr__service_shared_release (tr__service_shared_t **shared_p)
{
    tr__service_shared_t *shared = *shared_p;
    *shared_p = NULL;
    if (!shared || atomic_fetch_sub (&shared->refs, 1) != 1)
        return;
    tr__free (shared->arg);
    tr__free (shared->types);
    tr__free (shared->counters);
    tr__free (shared);
}

int
tr__service_route_index (const tr__service_shared_t *shared, tr_type_t type)
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
    tr__service_shared_t *shared;
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
    tr__service_shared_release (&instance->shared);
    tr__free_sized (instance, S_HEADER + instance->user_size);
    self->state = NULL;
}

static int
s_instance_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) state;
    tr__service_shared_t *shared;
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
void
tr__service_undeliverable (tr_actor_t *self, const tr_msg_t *msg, int reason)
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
        tr__service_undeliverable (self, msg, TR_EUNKNOWN_TYPE);
        return 0;
    }
    int index = tr__service_route_index (instance->shared, msg->type);
    tr__service_counters_t *counters = index >= 0 ? &instance->shared->counters[index] : NULL;
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
const tr_behaviour_t tr__service_instance_behaviour = {"tr.service.instance", 0,
                                                       s_instance_init,       s_instance_terminate,
                                                       s_instance_handlers,   s_instance_dispatch};
