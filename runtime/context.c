//  context - what a handler may call: send, request/reply, spawn, stop,
//  links, monitors and timers (always on the actor's own thread)
#include "actor.h"
#include "runtime.h"
#include "sched.h"
#include "shm.h"

#include <assert.h>
#include <string.h>

TR__HIDDEN int tr__refuse_oversized (tr_runtime_t *self, tr__sched_t *sched, tr_ref_t from,
                                     tr_ref_t to, tr_type_t type, size_t size);
TR__HIDDEN int tr__spawn_from_actor (tr__sched_t *sched, const char *behaviour_name,
                                     const void *arg, size_t arg_size, const tr_spawn_opts_t *opts,
                                     tr_ref_t caller, tr_ref_t *ref);

tr_ref_t
tr_self (tr_actor_t *self)
{
    assert (self);
    return tr__actor_ref (self, self->sched->index);
}

tr_runtime_t *
tr_actor_runtime (tr_actor_t *self)
{
    assert (self);
    return self->sched->rt;
}

//  A message from self with a copy of data.
static tr__msg_t *
s_message (tr_actor_t *self, tr_ref_t to, tr_type_t type, const void *data, size_t size)
{
    tr__msg_t *msg = tr__msg_new (&self->sched->pool, size);
    msg->to = to;
    msg->from = tr__actor_ref (self, self->sched->index);
    msg->type = type;
    if (size)
        memcpy (msg->data, data, size);
    return msg;
}

//  Hot path: a send from a handler.
int
tr_send (tr_actor_t *self, tr_ref_t to, tr_type_t type, const void *data, size_t size)
{
    tr__sched_t *sched = self->sched;
    if (type == TR_TYPE_NONE || (size && !data))
        return TR_EINVAL;
    if (size > sched->rt->options.max_payload)
        return tr__refuse_oversized (sched->rt, sched, tr_self (self), to, type, size);
    //  A full local mailbox that fails senders: refuse before allocating.
    if (tr__ref_thread (to) == sched->index && tr__ref_index (to)) {
        tr_actor_t *target = tr__sched_slot (sched, tr__ref_index (to));
        //  Generation first: a stale ref's slot may be being reserved by a
        //  spawner on another thread; only a matching one is ours to read.
        if (target && atomic_load_explicit (&target->gen, memory_order_acquire) == tr__ref_gen (to)
            && target->status == TR__ACTOR_LIVE && target->depth >= target->limit
            && (target->policy == TR_OVERFLOW_FAIL || target->policy == TR_OVERFLOW_BLOCK))
            return TR_EAGAIN;
    }
    return tr__route (sched->rt, sched, s_message (self, to, type, data, size), true);
}

void *
tr_payload_alloc (size_t size)
{
    tr__msg_t *msg = tr__msg_new (NULL, size);
    return msg->data;
}

void
tr_payload_free (void **payload_p)
{
    if (payload_p && *payload_p) {
        tr__msg_free (NULL, tr__msg_of_payload (*payload_p));
        *payload_p = NULL;
    }
}

int
tr_send_payload (tr_actor_t *self, tr_ref_t to, tr_type_t type, void **payload_p)
{
    if (!payload_p || !*payload_p)
        return TR_EINVAL;
    tr__msg_t *msg = tr__msg_of_payload (*payload_p);
    *payload_p = NULL;
    tr__sched_t *sched = self->sched;
    if (type == TR_TYPE_NONE) {
        tr__msg_free (&sched->pool, msg);
        return TR_EINVAL;
    }
    if (msg->size > sched->rt->options.max_payload) {
        size_t size = msg->size;
        tr__msg_free (&sched->pool, msg);
        return tr__refuse_oversized (sched->rt, sched, tr_self (self), to, type, size);
    }
    msg->to = to;
    msg->from = tr_self (self);
    msg->type = type;
    return tr__route (sched->rt, sched, msg, true);
}

//  Send msg (takes it) as a request whose answer goes to fn.
static int
s_request (tr_actor_t *self, tr__msg_t *msg, int timeout_ms, tr_reply_fn *fn, void *arg)
{
    tr__sched_t *sched = self->sched;
    uint64_t corr = sched->corr_next++;
    msg->corr = corr;
    msg->flags |= TR_MSG_REQUEST;

    //  Register the continuation first: a local error reply may come at once.
    tr__actor_ext_t *ext = tr__actor_ext (self);
    uint64_t due = sched->now_ns + (uint64_t) timeout_ms * 1000000ULL;
    uint64_t timer =
        tr__timers_add (&sched->timers, TR__TIMER_REQUEST, due, 0, tr_self (self), corr, NULL);
    tr__pending_t entry = {corr, fn, arg, timer};
    tr__pending_put (ext, &entry);

    int rc = tr__route (sched->rt, sched, msg, true);
    if (rc != 0) {
        //  The call failed: its continuation must never run. The entry stays,
        //  cancelled, to absorb the error reply undeliverable() may have
        //  queued (or its deadline) without counting a late reply.
        tr__pending_t *pending = tr__pending_find (ext, corr);
        if (pending)
            pending->fn = NULL;
    }
    return rc;
}

int
tr_request (tr_actor_t *self, tr_ref_t to, tr_type_t type, const void *data, size_t size,
            int timeout_ms, tr_reply_fn *fn, void *arg)
{
    tr__sched_t *sched = self->sched;
    if (type == TR_TYPE_NONE || !fn || timeout_ms <= 0 || (size && !data))
        return TR_EINVAL;
    if (size > sched->rt->options.max_payload)
        return tr__refuse_oversized (sched->rt, sched, tr_self (self), to, type, size);
    return s_request (self, s_message (self, to, type, data, size), timeout_ms, fn, arg);
}

int
tr__forward (tr_actor_t *self, tr_ref_t to, const tr_msg_t *msg, int timeout_ms, tr_reply_fn *fn,
             void *arg)
{
    tr__sched_t *sched = self->sched;
    tr__msg_t *copy = s_message (self, to, msg->type, msg->data, msg->size);
    if (msg->flags & TR_MSG_SHM) {
        //  The copy holds a reference of its own to the segment.
        copy->flags |= TR_MSG_SHM;
        tr__shm_payload_retain (msg->data, msg->size);
    }
    if (!fn)
        return tr__route (sched->rt, sched, copy, true);
    return s_request (self, copy, timeout_ms, fn, arg);
}

static int
s_reply (tr_actor_t *self, const tr_msg_t *request, uint32_t flags, const void *data, size_t size)
{
    if (!request || !(request->flags & TR_MSG_REQUEST) || request->corr == 0 || (size && !data))
        return TR_EINVAL;
    tr__sched_t *sched = self->sched;
    if (size > sched->rt->options.max_payload)
        return tr__refuse_oversized (sched->rt, sched, tr_self (self), request->from, request->type,
                                     size);
    if (sched->current_corr == request->corr)
        sched->current_corr = 0;
    if (request->from == TR_REF_NONE)
        return 0;  //  nobody to answer (a plain host send marked request)
    tr__msg_t *msg = s_message (self, request->from, request->type, data, size);
    msg->corr = request->corr;
    msg->flags |= (uint16_t) flags;
    tr__route (sched->rt, sched, msg, false);
    return 0;
}

int
tr_reply (tr_actor_t *self, const tr_msg_t *request, const void *data, size_t size)
{
    return s_reply (self, request, TR_MSG_REPLY, data, size);
}

int
tr_reply_error (tr_actor_t *self, const tr_msg_t *request, int code)
{
    int32_t value = code < 0 ? code : TR_EFAILED;
    return s_reply (self, request, TR_MSG_REPLY | TR_MSG_ERROR, &value, sizeof value);
}

void
tr_stop (tr_actor_t *self)
{
    if (!(self->flags & TR__ACTOR_STOPPING)) {
        self->flags |= TR__ACTOR_STOPPING;
        self->exit_reason = 0;
    }
}

void
tr_fail (tr_actor_t *self, int reason)
{
    if (!(self->flags & TR__ACTOR_STOPPING)) {
        self->flags |= TR__ACTOR_STOPPING;
        self->exit_reason = reason < 0 ? reason : TR_EFAILED;
    }
}

//  Send a system operation from self to target.
static int
s_system (tr_actor_t *self, tr_ref_t target, uint16_t sys, uint64_t corr)
{
    tr__msg_t *msg = s_message (self, target, 0, NULL, 0);
    msg->flags |= TR__MSG_SYSTEM;
    msg->sys = sys;
    msg->corr = corr;
    int rc = tr__route (self->sched->rt, self->sched, msg, false);
    return rc == TR_EDEAD ? 0 : rc;  //  dead targets answer through DOWN/exit
}

int
tr_kill (tr_actor_t *self, tr_ref_t target, int reason)
{
    return s_system (self, target, TR__SYS_KILL, (uint64_t) (int64_t) reason);
}

int
tr_actor_spawn (tr_actor_t *self, const char *behaviour, const void *arg, size_t arg_size,
                const tr_spawn_opts_t *opts, tr_ref_t *ref)
{
    if (!ref)
        return TR_EINVAL;
    *ref = TR_REF_NONE;
    return tr__spawn_from_actor (self->sched, behaviour, arg, arg_size, opts, tr_self (self), ref);
}

int
tr_monitor (tr_actor_t *self, tr_ref_t target)
{
    return s_system (self, target, TR__SYS_MONITOR, 0);
}

int
tr_demonitor (tr_actor_t *self, tr_ref_t target)
{
    return s_system (self, target, TR__SYS_DEMONITOR, 0);
}

int
tr_link (tr_actor_t *self, tr_ref_t target)
{
    if (target == tr_self (self))
        return TR_EINVAL;
    //  Record our side now; the target records its side when the op lands
    //  (or answers with an exit signal if it is already dead).
    tr__actor_ext_t *ext = tr__actor_ext (self);
    for (uint32_t i = 0; i < ext->link_count; i++)
        if (ext->links[i] == target)
            return 0;
    if (ext->link_count == ext->link_capacity) {
        ext->link_capacity = ext->link_capacity ? ext->link_capacity * 2 : 4;
        ext->links = tr__realloc (ext->links, ext->link_capacity * sizeof (tr_ref_t));
    }
    ext->links[ext->link_count++] = target;
    return s_system (self, target, TR__SYS_LINK, 0);
}

int
tr_unlink (tr_actor_t *self, tr_ref_t target)
{
    tr__actor_ext_t *ext = self->ext;
    for (uint32_t i = 0; ext && i < ext->link_count; i++)
        if (ext->links[i] == target) {
            ext->links[i] = ext->links[--ext->link_count];
            break;
        }
    return s_system (self, target, TR__SYS_UNLINK, 0);
}

void
tr_trap_exits (tr_actor_t *self, bool trap)
{
    if (trap)
        self->flags |= TR__ACTOR_TRAP_EXIT;
    else
        self->flags &= (uint8_t) ~TR__ACTOR_TRAP_EXIT;
}

static int
s_timer (tr_actor_t *self, int delay_ms, int period_ms, tr_ref_t to, tr_type_t type,
         const void *data, size_t size, uint64_t *timer_id)
{
    tr__sched_t *sched = self->sched;
    if (delay_ms < 0 || type == TR_TYPE_NONE || (size && !data))
        return TR_EINVAL;
    if (size > sched->rt->options.max_payload)
        return tr__refuse_oversized (sched->rt, sched, tr_self (self), to, type, size);
    //  The prototype is copied at each firing; it never goes through a pool.
    tr__msg_t *proto = tr__msg_new (NULL, size);
    proto->to = to;
    proto->from = tr_self (self);
    proto->type = type;
    if (size)
        memcpy (proto->data, data, size);
    uint64_t due = sched->now_ns + (uint64_t) delay_ms * 1000000ULL;
    uint64_t id = tr__timers_add (&sched->timers, TR__TIMER_SEND, due,
                                  (uint64_t) period_ms * 1000000ULL, tr_self (self), 0, proto);
    if (timer_id)
        *timer_id = id;
    return 0;
}

int
tr_send_after (tr_actor_t *self, int delay_ms, tr_ref_t to, tr_type_t type, const void *data,
               size_t size, uint64_t *timer_id)
{
    return s_timer (self, delay_ms, 0, to, type, data, size, timer_id);
}

int
tr_send_every (tr_actor_t *self, int period_ms, tr_ref_t to, tr_type_t type, const void *data,
               size_t size, uint64_t *timer_id)
{
    if (period_ms <= 0)
        return TR_EINVAL;
    return s_timer (self, period_ms, period_ms, to, type, data, size, timer_id);
}

int
tr_timer_cancel (tr_actor_t *self, uint64_t timer_id)
{
    return tr__timers_cancel (&self->sched->timers, timer_id, tr_self (self));
}

uint64_t
tr_now_ms (tr_actor_t *self)
{
    return self->sched->now_ns / 1000000ULL;
}
