//  testkit - run actors deterministically on the calling thread: inject
//  messages, step, advance virtual time, and read what probes received
#include "log.h"
#include "registry.h"
#include "runtime.h"
#include "shm.h"

#include <string.h>

struct tr_testkit {
    tr_runtime_t *rt;
    tr__msg_t *held;  //  the message last returned by expect
};

//  A probe keeps copies of everything it receives, oldest first.
typedef struct {
    tr__msg_t *head, *tail;
} s_probe_t;

static int
s_probe_record (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_probe_t *probe = state;
    tr__msg_t *copy = tr__msg_new (NULL, msg->size);
    copy->type = msg->type;
    copy->flags = (uint16_t) (copy->flags | msg->flags);
    copy->from = msg->from;
    copy->to = msg->to;
    copy->corr = msg->corr;
    if (msg->size)
        memcpy (copy->data, msg->data, msg->size);
    if (msg->flags & TR_MSG_SHM)
        tr__shm_payload_retain (copy->data, copy->size);  //  the copy holds one too
    if (probe->tail)
        probe->tail->next = copy;
    else
        probe->head = copy;
    probe->tail = copy;
    return 0;
}

static void
s_probe_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    (void) reason;
    s_probe_t *probe = state;
    while (probe->head) {
        tr__msg_t *msg = probe->head;
        probe->head = msg->next;
        tr__msg_free (NULL, msg);
    }
}

static const tr_handler_t s_probe_handlers[] = {{NULL, NULL}};
static const tr_behaviour_t s_probe_behaviour = {
    .name = "tr.probe",
    .state_size = sizeof (s_probe_t),
    .terminate = s_probe_terminate,
    .handlers = s_probe_handlers,
    .unhandled = s_probe_record,
};

tr_testkit_t *
tr_testkit_new (void)
{
    tr__behaviour_register_flags (&s_probe_behaviour, TR__BEH_RAW_REPLIES);
    tr_testkit_t *self = tr__calloc (sizeof *self);
    self->rt = tr__runtime_new_testkit ();
    return self;
}

void
tr_testkit_destroy (tr_testkit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr_testkit_t *self = *self_p;
    if (self->held)
        tr__msg_free (NULL, self->held);
    tr_runtime_destroy (&self->rt);
    tr__free (self);
    *self_p = NULL;
}

tr_runtime_t *
tr_testkit_runtime (tr_testkit_t *self)
{
    return self->rt;
}

int
tr_testkit_spawn (tr_testkit_t *self, const char *behaviour, const void *arg, size_t arg_size,
                  tr_ref_t *ref)
{
    return tr_spawn (self->rt, behaviour, arg, arg_size, NULL, ref);
}

tr_ref_t
tr_testkit_probe (tr_testkit_t *self)
{
    tr_ref_t ref = TR_REF_NONE;
    tr_spawn (self->rt, "tr.probe", NULL, 0, NULL, &ref);
    return ref;
}

static int
s_inject (tr_testkit_t *self, tr_ref_t from, tr_ref_t to, tr_type_t type, const void *data,
          size_t size, bool request)
{
    if (type == TR_TYPE_NONE || (size && !data))
        return TR_EINVAL;
    tr__sched_t *sched = self->rt->scheds[0];
    tr__msg_t *msg = tr__msg_new (&sched->pool, size);
    msg->from = from;
    msg->to = to;
    msg->type = type;
    if (request) {
        msg->flags |= TR_MSG_REQUEST;
        msg->corr = atomic_fetch_add (&self->rt->next_corr, 1);
    }
    if (size)
        memcpy (msg->data, data, size);
    return tr__route (self->rt, sched, msg, true);
}

int
tr_testkit_send (tr_testkit_t *self, tr_ref_t from, tr_ref_t to, tr_type_t type, const void *data,
                 size_t size)
{
    return s_inject (self, from, to, type, data, size, false);
}

int
tr_testkit_request (tr_testkit_t *self, tr_ref_t from, tr_ref_t to, tr_type_t type,
                    const void *data, size_t size)
{
    return s_inject (self, from, to, type, data, size, true);
}

bool
tr_testkit_step (tr_testkit_t *self)
{
    return tr__sched_run (self->rt->scheds[0], 1) > 0;
}

int
tr_testkit_run (tr_testkit_t *self)
{
    //  Bounded: actors that message each other forever must not hang a test.
    int handled = 0;
    while (handled < 10000000 && tr_testkit_step (self))
        handled++;
    if (handled == 10000000)
        tr__warn ("testkit", "still busy after 10,000,000 messages; stopped running");
    return handled;
}

void
tr_testkit_advance (tr_testkit_t *self, int ms)
{
    tr__sched_t *sched = self->rt->scheds[0];
    uint64_t target = sched->now_ns + (uint64_t) (ms > 0 ? ms : 0) * 1000000ULL;
    //  Fire timers in order, each at its own time, running what they cause.
    uint64_t due;
    while (tr__timers_next (&sched->timers, &due) && due <= target) {
        if (due > sched->now_ns)
            sched->now_ns = due;
        tr__sched_fire_timers (sched);
        tr_testkit_run (self);
    }
    sched->now_ns = target;
    tr_testkit_run (self);
}

static tr_actor_t *
s_live_actor (tr_testkit_t *self, tr_ref_t ref)
{
    if (tr__ref_thread (ref) != 0 || tr__ref_index (ref) == 0)
        return NULL;
    tr_actor_t *actor = tr__sched_slot (self->rt->scheds[0], tr__ref_index (ref));
    if (!actor || actor->status != TR__ACTOR_LIVE || atomic_load (&actor->gen) != tr__ref_gen (ref))
        return NULL;
    return actor;
}

int
tr_testkit_expect (tr_testkit_t *self, tr_ref_t probe_ref, tr_msg_t *msg)
{
    if (self->held) {
        tr__msg_free (NULL, self->held);
        self->held = NULL;
    }
    tr_actor_t *actor = s_live_actor (self, probe_ref);
    if (!actor || actor->behaviour->pub != &s_probe_behaviour || !msg)
        return TR_EINVAL;
    s_probe_t *probe = actor->state;
    if (!probe->head)
        return TR_EAGAIN;
    tr__msg_t *head = probe->head;
    probe->head = head->next;
    if (!probe->head)
        probe->tail = NULL;
    self->held = head;
    tr__msg_view (head, msg);
    return 0;
}

bool
tr_testkit_alive (tr_testkit_t *self, tr_ref_t ref)
{
    return s_live_actor (self, ref) != NULL;
}
