//  sched - scheduler threads: each runs many actors from one run queue and
//  owns one inproc PULL mailbox socket; other threads reach it through PUSH
//  sockets carrying batches of message pointers
#include "sched.h"
#include "clock.h"
#include "log.h"
#include "loop.h"
#include "procs.h"
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

//  Messages one pass of the loop runs before it looks at its socket again.
#define S_PASS_BUDGET 1024
//  Frames one pass takes off the socket.
#define S_DRAIN_FRAMES 64
//  Frames a pipe holds before a sender must wait (each up to 256 messages).
//  Small on purpose: it bounds what is in transit towards a full mailbox.
#define S_PIPE_HWM 64
//  Messages a sender may hold for one congested thread before its sends
//  there fail with TR_EAGAIN.
#define S_CONGESTED (4 * TR__BATCH_MAX)

tr__sched_t *
tr__sched_new (tr_runtime_t *rt, uint32_t index)
{
    tr__sched_t *self = tr__calloc (sizeof *self);
    self->rt = rt;
    self->index = index;
    pthread_mutex_init (&self->slot_lock, NULL);
    self->chunks = tr__calloc (TR__MAX_CHUNKS * sizeof (self->chunks[0]));
    //  Slot 0 is never handed out: index 0 in a ref addresses the scheduler.
    self->slot_high = 1;
    self->corr_next = 1;
    tr__timers_init (&self->timers);
    self->push = tr__calloc (rt->sched_count * sizeof (void *));
    self->out = tr__calloc (rt->sched_count * sizeof (tr__batch_t));
    self->now_ns = tr__now_ns ();
    return self;
}

static void
s_close (void **socket_p)
{
    if (*socket_p) {
        int linger = 0;
        zmq_setsockopt (*socket_p, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (*socket_p);
        *socket_p = NULL;
    }
}

void
tr__sched_destroy (tr__sched_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr__sched_t *self = *self_p;
    for (uint32_t i = 0; i < self->rt->sched_count; i++) {
        s_close (&self->push[i]);
        //  Batches that never left: their messages die with the runtime.
        for (uint32_t m = 0; m < self->out[i].count; m++) {
            tr__msg_t **items = (tr__msg_t **) (self->out[i].frame + 1);
            tr__dead_letter_counted (self->rt, TR_ESHUTDOWN);
            tr__msg_free (NULL, items[m]);
        }
        tr__free (self->out[i].frame);
    }
    s_close (&self->pull);
    tr__free (self->push);
    tr__free (self->out);
    for (uint32_t chunk = 0; chunk < TR__MAX_CHUNKS; chunk++)
        tr__free (atomic_load (&self->chunks[chunk]));
    tr__free ((void *) self->chunks);
    tr__timers_clear (&self->timers);
    tr__msg_pool_clear (&self->pool);
    tr__watch_clear (self);
    pthread_mutex_destroy (&self->slot_lock);
    tr__free (self);
    *self_p = NULL;
}

int
tr__sched_bind (tr__sched_t *self)
{
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://troupe-sched-%u", self->index);
    self->pull = zmq_socket (self->rt->zmq_context, ZMQ_PULL);
    if (!self->pull)
        return TR_ESTOPPED;
    int hwm = S_PIPE_HWM;
    zmq_setsockopt (self->pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind (self->pull, endpoint) != 0) {
        tr__error ("sched", "bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        return TR_ESTOPPED;
    }
    return 0;
}

//  A PUSH socket connected to scheduler `to`.
TR__HIDDEN void *tr__sched_connect_to (tr_runtime_t *rt, uint32_t to);

void *
tr__sched_connect_to (tr_runtime_t *rt, uint32_t to)
{
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://troupe-sched-%u", to);
    void *push = zmq_socket (rt->zmq_context, ZMQ_PUSH);
    if (!push)
        return NULL;
    int hwm = S_PIPE_HWM, linger = 0;
    zmq_setsockopt (push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (push, endpoint) != 0) {
        zmq_close (push);
        return NULL;
    }
    return push;
}

int
tr__sched_connect (tr__sched_t *self)
{
    for (uint32_t i = 0; i < self->rt->sched_count; i++) {
        if (i == self->index)
            continue;
        self->push[i] = tr__sched_connect_to (self->rt, i);
        if (!self->push[i])
            return TR_ESTOPPED;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Slots

tr_actor_t *
tr__sched_slot_alloc (tr__sched_t *self, uint32_t limit, uint8_t policy)
{
    pthread_mutex_lock (&self->slot_lock);
    //  A dedicated thread runs one actor: a second spawn there (an old
    //  placement value used again after the thread went to another) fails.
    if (self->role == TR__SCHED_DEDICATED && self->slots_used > 0) {
        pthread_mutex_unlock (&self->slot_lock);
        return NULL;
    }
    tr_actor_t *actor = self->free_slots;
    if (actor)
        self->free_slots = actor->next;
    else if (self->slot_high < TR__MAX_SLOTS) {
        uint32_t index = self->slot_high++;
        uint32_t chunk_index = index / TR__CHUNK_SLOTS;
        tr_actor_t *chunk = atomic_load_explicit (&self->chunks[chunk_index], memory_order_relaxed);
        if (!chunk) {
            chunk = tr__calloc (TR__CHUNK_SLOTS * sizeof (tr_actor_t));
            for (uint32_t i = 0; i < TR__CHUNK_SLOTS; i++) {
                chunk[i].index = chunk_index * TR__CHUNK_SLOTS + i;
                atomic_init (&chunk[i].gen, 1);
            }
            atomic_store_explicit (&self->chunks[chunk_index], chunk, memory_order_release);
        }
        actor = &chunk[index % TR__CHUNK_SLOTS];
    }
    //  Written under the lock: the spawner may be another thread, and the
    //  owner's slot walks (stats, shutdown) read these under it too.
    if (actor) {
        //  A dedicated thread handed out is taken from now on.
        self->slots_used++;
        self->reserved_until_ns = 0;
        actor->status = TR__ACTOR_PENDING;
        actor->next = NULL;
        actor->sched = self;
        actor->limit = limit;
        actor->policy = policy;
    }
    pthread_mutex_unlock (&self->slot_lock);
    return actor;
}

//  Bump the generation: every ref to this incarnation is dead from now on.
static void
s_slot_kill_refs (tr_actor_t *actor)
{
    uint32_t gen = atomic_load_explicit (&actor->gen, memory_order_relaxed) + 1;
    //  Generation 0 is never used: a zero ref stays "no actor".
    atomic_store_explicit (&actor->gen, gen ? gen : 1, memory_order_release);
}

//  Put a slot whose refs are already dead back on the free list.
static void
s_slot_recycle (tr__sched_t *self, tr_actor_t *actor)
{
    atomic_store_explicit (&actor->full, TR__FULL_NO, memory_order_relaxed);
    pthread_mutex_lock (&self->slot_lock);
    actor->status = TR__ACTOR_FREE;
    actor->flags = 0;
    actor->state = NULL;
    actor->behaviour = NULL;
    actor->head = actor->tail = NULL;
    actor->depth = 0;
    actor->next = self->free_slots;
    self->free_slots = actor;
    self->slots_used--;
    pthread_mutex_unlock (&self->slot_lock);
}

void
tr__sched_slot_release (tr__sched_t *self, tr_actor_t *actor)
{
    s_slot_kill_refs (actor);
    s_slot_recycle (self, actor);
}

void
tr__sched_slot_retire (tr__sched_t *self, tr_actor_t *actor)
{
    (void) self;
    s_slot_kill_refs (actor);
    actor->state = NULL;
    actor->behaviour = NULL;
    actor->head = actor->tail = NULL;
    actor->depth = 0;
    actor->flags = TR__ACTOR_IN_RUNQ | TR__ACTOR_RETIRED;
}

//  --------------------------------------------------------------------------
//  Delivery

void
tr__sched_schedule (tr__sched_t *self, tr_actor_t *actor)
{
    if (actor->flags & TR__ACTOR_IN_RUNQ)
        return;
    actor->flags |= TR__ACTOR_IN_RUNQ;
    actor->next = NULL;
    if (self->runq_tail)
        self->runq_tail->next = actor;
    else
        self->runq_head = actor;
    self->runq_tail = actor;
}

static void
s_mark_full (tr_actor_t *actor)
{
    uint8_t full = actor->policy == TR_OVERFLOW_FAIL    ? TR__FULL_REJECT
                   : actor->policy == TR_OVERFLOW_BLOCK ? TR__FULL_BLOCK
                                                        : TR__FULL_DROPPING;
    atomic_store_explicit (&actor->full, full, memory_order_relaxed);
}

//  Apply the overflow policy to a full mailbox. Returns 1 when msg may be
//  queued, 0 when it was consumed (dropped), TR_EAGAIN when the sender
//  should be failed (msg untouched).
static int
s_overflow (tr__sched_t *self, tr_actor_t *actor, tr__msg_t *msg, bool can_fail)
{
    switch (actor->policy) {
        case TR_OVERFLOW_DROP_OLDEST: {
            //  The oldest message that may be dropped (not a system one).
            tr__msg_t *prev = NULL, *victim = actor->head;
            while (victim && (victim->flags & (TR__MSG_SYSTEM | TR__MSG_NODROP | TR_MSG_REPLY))) {
                prev = victim;
                victim = victim->next;
            }
            if (victim) {
                if (prev)
                    prev->next = victim->next;
                else
                    actor->head = victim->next;
                if (actor->tail == victim)
                    actor->tail = prev;
                actor->depth--;
                actor->dropped++;
                tr__undeliverable (self->rt, self, victim, TR_EOVERFLOW);
                return 1;
            }
            break;
        }
        case TR_OVERFLOW_DROP_NEWEST: break;
        default:
            //  fail, block: a sender on this thread learns it at once. One on
            //  another thread saw the full hint before sending (or sent while
            //  its batch was in transit): queue past the limit rather than
            //  lose it. The overshoot is bounded by the pipe and batch bounds.
            if (can_fail)
                return TR_EAGAIN;
            return 1;
    }
    actor->dropped++;
    //  A dropped request is answered with the reason, not left to time out.
    tr__undeliverable (self->rt, self, msg, TR_EOVERFLOW);
    return 0;
}

//  Scheduler-level operations (slot index 0).
static void
s_sched_op (tr__sched_t *self, tr__msg_t *msg)
{
    if (msg->sys == TR__SYS_STOP_THREAD)
        self->stopping = true;
    else if (msg->sys == TR__SYS_NODE_STATS) {
        tr__msg_t *reply = tr__msg_new (&self->pool, sizeof (tr__hist_t) + 4 * sizeof (uint64_t));
        uint64_t *counters = (uint64_t *) reply->data;
        counters[0] = self->handled;
        counters[1] = self->failed;
        counters[2] = self->spawned;
        counters[3] = self->live;
        //  Dead actors' latencies are in self->hist; add the live ones'.
        tr__hist_t *merged = (tr__hist_t *) (counters + 4);
        memcpy (merged, &self->hist, sizeof (tr__hist_t));
        pthread_mutex_lock (&self->slot_lock);
        for (uint32_t index = 1; index < self->slot_high; index++) {
            tr_actor_t *actor = tr__sched_slot (self, index);
            if (actor->status == TR__ACTOR_LIVE && actor->hist)
                tr__hist_merge (merged, actor->hist);
        }
        pthread_mutex_unlock (&self->slot_lock);
        reply->to = msg->from;
        reply->corr = msg->corr;
        reply->flags |= TR_MSG_REPLY;
        tr__route (self->rt, self, reply, false);
    }
    tr__msg_free (&self->pool, msg);
}

int
tr__sched_deliver (tr__sched_t *self, tr__msg_t *msg, bool can_fail)
{
    uint32_t index = tr__ref_index (msg->to);
    if (index == 0 && (msg->flags & TR__MSG_SYSTEM)) {
        s_sched_op (self, msg);
        return 0;
    }
    tr_actor_t *actor = index ? tr__sched_slot (self, index) : NULL;
    if (!actor || atomic_load_explicit (&actor->gen, memory_order_relaxed) != tr__ref_gen (msg->to)
        || actor->status == TR__ACTOR_FREE || actor->status == TR__ACTOR_EXITING) {
        tr__undeliverable (self->rt, self, msg, TR_EDEAD);
        return TR_EDEAD;
    }
    bool system = msg->flags & TR__MSG_SYSTEM;
    //  Replies pass the bound too: their number is bounded by the requests
    //  out, and dropping one would only turn it into a timeout.
    if (!system && !(msg->flags & (TR__MSG_NODROP | TR_MSG_REPLY))
        && actor->depth >= actor->limit) {
        int rc = s_overflow (self, actor, msg, can_fail);
        if (rc == TR_EAGAIN) {
            tr__msg_free (&self->pool, msg);
            return TR_EAGAIN;
        }
        if (rc == 0)
            return 0;
    }
    //  Spawn and kill go first (a kill behind a pending spawn order, so the
    //  actor starts and then stops); everything else keeps its order.
    if (system && (msg->sys == TR__SYS_SPAWN || msg->sys == TR__SYS_KILL)) {
        tr__msg_t **at = &actor->head;
        if (msg->sys == TR__SYS_KILL && *at && (*at)->sys == TR__SYS_SPAWN
            && ((*at)->flags & TR__MSG_SYSTEM))
            at = &(*at)->next;
        msg->next = *at;
        *at = msg;
        if (!msg->next)
            actor->tail = msg;
    }
    else {
        msg->next = NULL;
        if (actor->tail)
            actor->tail->next = msg;
        else
            actor->head = msg;
        actor->tail = msg;
    }
    actor->depth++;
    if (!system)
        actor->received++;
    if (!system && actor->depth >= actor->limit)
        s_mark_full (actor);
    //  A pending slot runs only once its spawn order is in the mailbox.
    if (actor->status == TR__ACTOR_LIVE || actor->head->sys == TR__SYS_SPAWN)
        tr__sched_schedule (self, actor);
    return 0;
}

//  Append msg to the batch for thread `to`; flush when full.
static void
s_batch_append (tr__sched_t *self, uint32_t to, tr__msg_t *msg)
{
    tr__batch_t *batch = &self->out[to];
    if (batch->count == batch->capacity) {
        batch->capacity = batch->capacity ? batch->capacity * 2 : TR__BATCH_MAX;
        batch->frame = tr__realloc (batch->frame, sizeof (tr__frame_head_t)
                                                      + batch->capacity * sizeof (tr__msg_t *));
    }
    ((tr__msg_t **) (batch->frame + 1))[batch->count++] = msg;
    if (batch->count % TR__BATCH_MAX == 0)
        tr__sched_flush (self);
}

static int s_host_send (tr_runtime_t *rt, void *push, const void *frame, size_t size);

//  ZeroMQ frees a sent batch buffer through this.
static void
s_zmq_free (void *data, void *hint)
{
    (void) hint;
    tr__free (data);
}

int
tr__route (tr_runtime_t *rt, tr__sched_t *self, tr__msg_t *msg, bool can_fail)
{
    if ((msg->to & TR__REF_REMOTE) && rt->bridge) {
        rt->bridge (rt, msg);
        return 0;
    }
    uint32_t thread = tr__ref_thread (msg->to);
    if (thread == TR__HOST_THREAD) {
        tr__waiter_deliver (rt, self, msg);
        return 0;
    }
    if (thread >= rt->sched_count || msg->to == TR_REF_NONE) {
        tr__undeliverable (rt, self, msg, TR_EDEAD);
        return TR_EDEAD;
    }
    if (self && thread == self->index)
        return tr__sched_deliver (self, msg, can_fail);

    //  Another thread owns the target: read its hints, then hand the pointer
    //  over. The hints may be stale; the owner re-checks on arrival.
    tr__sched_t *target = rt->scheds[thread];
    uint32_t index = tr__ref_index (msg->to);
    if (index) {
        tr_actor_t *actor = tr__sched_slot (target, index);
        if (!actor
            || atomic_load_explicit (&actor->gen, memory_order_acquire) != tr__ref_gen (msg->to)) {
            tr__undeliverable (rt, self, msg, TR_EDEAD);
            return TR_EDEAD;
        }
        if (can_fail && !(msg->flags & (TR__MSG_SYSTEM | TR__MSG_NODROP))) {
            uint8_t full = atomic_load_explicit (&actor->full, memory_order_relaxed);
            if (full == TR__FULL_REJECT || (full == TR__FULL_BLOCK && self)) {
                tr__msg_free (self ? &self->pool : NULL, msg);
                return TR_EAGAIN;
            }
        }
    }
    if (self) {
        //  The pipe to that thread is full and our batch keeps growing: push
        //  back on senders that can take it; runtime messages always pass.
        if (can_fail && self->out[thread].count >= S_CONGESTED
            && !(msg->flags & (TR__MSG_SYSTEM | TR__MSG_NODROP))) {
            tr__msg_free (&self->pool, msg);
            return TR_EAGAIN;
        }
        s_batch_append (self, thread, msg);
        return 0;
    }
    //  From a host thread: one pointer per frame, through the host socket.
    struct {
        tr__frame_head_t head;
        tr__msg_t *msg;
    } frame = {{TR__FRAME_MAGIC, 1}, msg};
    TR__HANDOFF_RELEASE (rt->scheds[thread]);
    pthread_mutex_lock (&rt->host_lock[thread]);
    int rc = s_host_send (rt, rt->host_push[thread], &frame, sizeof frame);
    pthread_mutex_unlock (&rt->host_lock[thread]);
    if (rc < 0)
        tr__msg_free (NULL, msg);
    return rc;
}

//  The deadline (monotonic ns, 0 = none) of the host call in progress on
//  this thread: a full pipe to a busy thread is waited on until then.
static __thread uint64_t s_host_deadline;

void
tr__host_deadline (uint64_t deadline_ns)
{
    s_host_deadline = deadline_ns;
}

//  Send one frame from a host thread, waiting for room in short steps: the
//  wait ends at the call's deadline or when the runtime stops, never later.
static int
s_host_send (tr_runtime_t *rt, void *push, const void *frame, size_t size)
{
    if (!push)
        return TR_ESTOPPED;
    while (zmq_send (push, frame, size, ZMQ_DONTWAIT) < 0) {
        if (zmq_errno () != EAGAIN)
            return TR_ESTOPPED;
        if (atomic_load (&rt->state) == TR__RT_STOPPING)
            return TR_ESTOPPED;
        if (s_host_deadline && tr__now_ns () >= s_host_deadline)
            return TR_ETIMEDOUT;
        zmq_pollitem_t item = {push, 0, ZMQ_POLLOUT, 0};
        zmq_poll (&item, 1, 10);
    }
    return 0;
}

void
tr__sched_flush (tr__sched_t *self)
{
    self->out_pending = false;
    for (uint32_t to = 0; to < self->rt->sched_count; to++) {
        tr__batch_t *batch = &self->out[to];
        if (!batch->count)
            continue;
        //  A full pipe: keep the batch (no copy, no syscall) and retry later.
        int events = 0;
        size_t events_size = sizeof events;
        zmq_getsockopt (self->push[to], ZMQ_EVENTS, &events, &events_size);
        if (!(events & ZMQ_POLLOUT)) {
            self->out_pending = true;
            continue;
        }
        batch->frame->magic = TR__FRAME_MAGIC;
        batch->frame->count = batch->count;
        size_t size = sizeof (tr__frame_head_t) + batch->count * sizeof (tr__msg_t *);
        int rc;
        TR__HANDOFF_RELEASE (self->rt->scheds[to]);
        if (size <= 32)  //  fits a ZeroMQ very small message: copied, no allocation
            rc = zmq_send (self->push[to], batch->frame, size, ZMQ_DONTWAIT);
        else {
            //  Hand the pointer array itself to ZeroMQ (zero copy); it frees it.
            zmq_msg_t frame;
            zmq_msg_init_data (&frame, batch->frame, size, s_zmq_free, NULL);
            rc = zmq_msg_send (&frame, self->push[to], ZMQ_DONTWAIT);
            if (rc < 0) {
                //  Not sent: take the buffer back (close would free it).
                tr__frame_head_t *keep = tr__alloc (size);
                memcpy (keep, batch->frame, size);
                zmq_msg_close (&frame);
                batch->frame = keep;
                batch->capacity = batch->count;
            }
            else {
                batch->frame = NULL;
                batch->capacity = 0;
            }
        }
        if (rc >= 0)
            batch->count = 0;
        else
            self->out_pending = true;  //  pipe full (EAGAIN): retry next pass
    }
}

//  Take frames off the socket and queue their messages.
static uint32_t
s_drain (tr__sched_t *self, uint32_t max_frames)
{
    uint32_t frames = 0;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (frames < max_frames && zmq_msg_recv (&frame, self->pull, ZMQ_DONTWAIT) >= 0) {
        frames++;
        TR__HANDOFF_ACQUIRE (self);
        size_t size = zmq_msg_size (&frame);
        const tr__frame_head_t *head = zmq_msg_data (&frame);
        if (size < sizeof *head || head->magic != TR__FRAME_MAGIC || head->count == 0
            || size != sizeof *head + head->count * sizeof (tr__msg_t *)) {
            atomic_fetch_add (&self->rt->malformed_frames, 1);
            tr__dead_letter_counted (self->rt, TR_EMALFORMED);
            tr__warn ("sched", "thread %u: dropped a malformed frame of %zu bytes", self->index,
                      size);
            continue;
        }
        tr__msg_t *const *items = (tr__msg_t *const *) (head + 1);
        for (uint32_t i = 0; i < head->count; i++)
            tr__sched_deliver (self, items[i], false);
    }
    zmq_msg_close (&frame);
    return frames;
}

//  --------------------------------------------------------------------------
//  Running

uint32_t
tr__sched_run (tr__sched_t *self, uint32_t budget)
{
    uint32_t ran = 0;
    while (self->runq_head && ran < budget) {
        tr_actor_t *actor = self->runq_head;
        self->runq_head = actor->next;
        if (!self->runq_head)
            self->runq_tail = NULL;
        actor->flags &= (uint8_t) ~TR__ACTOR_IN_RUNQ;
        if (actor->flags & TR__ACTOR_RETIRED) {
            //  Died while queued: its slot can be reused from now on. The
            //  generation was bumped at death; do not bump it again.
            s_slot_recycle (self, actor);
            continue;
        }
        uint32_t slice = budget - ran < 64 ? budget - ran : 64;
        //  An actor with mail left requeues itself (at the back, for fairness).
        //  Do not touch it after this: if it exited, its slot is free again.
        ran += tr__actor_run (self, actor, slice);
        //  What it sent to other threads leaves now, not after the rest of
        //  the pass: the next actor's handler may run for milliseconds, and
        //  the other thread would wait for it. (A slice batches up to 64.)
        if (self->out_pending)
            tr__sched_flush (self);
    }
    return ran;
}

void
tr__sched_fire_timers (tr__sched_t *self)
{
    tr__timer_t *timer;
    while ((timer = tr__timers_pop_due (&self->timers, self->now_ns))) {
        //  User code below may add timers and move the records: keep an index.
        uint32_t record = (uint32_t) (timer - self->timers.records);
        tr_ref_t owner = timer->owner;
        tr_actor_t *actor = tr__sched_slot (self, tr__ref_index (owner));
        //  Generation first: a stale owner's slot may be reserved by a
        //  spawner on another thread right now.
        bool owner_alive =
            actor && atomic_load_explicit (&actor->gen, memory_order_acquire) == tr__ref_gen (owner)
            && actor->status == TR__ACTOR_LIVE;
        if (!owner_alive) {
            tr__timers_release (&self->timers, timer);
            continue;
        }
        if (timer->kind == TR__TIMER_REQUEST) {
            uint64_t corr = timer->corr;
            //  The pending entry holds this timer's id: forget it first.
            tr__timers_release (&self->timers, timer);
            tr__actor_complete (self, actor, corr, TR_ETIMEDOUT, NULL);
            if (actor->flags & TR__ACTOR_STOPPING)
                tr__actor_exit (self, actor, actor->exit_reason);
            continue;
        }
        const tr__msg_t *proto = timer->proto;
        tr__msg_t *msg = tr__msg_new (&self->pool, proto->size);
        uint16_t pooled = msg->flags;
        memcpy (msg, proto, sizeof *msg + proto->size);
        msg->flags = (uint16_t) ((proto->flags & ~TR__MSG_POOLED) | pooled);
        msg->next = NULL;
        timer = &self->timers.records[record];
        if (timer->period_ns)
            tr__timers_rearm (&self->timers, timer, self->now_ns);
        else
            tr__timers_release (&self->timers, timer);
        tr__route (self->rt, self, msg, false);
    }
}

//  Set on scheduler threads: host-only calls (tr_call, ...) refuse to run
//  there, since blocking a scheduler thread stalls every actor on it.
static __thread tr__sched_t *s_current;

tr__sched_t *
tr__sched_current (void)
{
    return s_current;
}

static void *
s_thread (void *arg)
{
    tr__sched_t *self = arg;
    s_current = self;
    //  Item 0: our mailbox; the process manager's socket and zygote channel
    //  on its thread; the actors' fd watchers; then one per congested
    //  destination (POLLOUT).
    tr__procs_t *procs = self->role == TR__SCHED_PROCS ? self->rt->procs : NULL;
    size_t fixed_items = self->rt->sched_count + 2 + TR__PROCS_MAX_POLL;
    size_t capacity = fixed_items;
    zmq_pollitem_t *items = tr__calloc (capacity * sizeof (zmq_pollitem_t));

    while (!self->stopping && !atomic_load_explicit (&self->stop_requested, memory_order_relaxed)) {
        tr__sched_run (self, S_PASS_BUDGET);
        tr__sched_flush (self);
        if (procs)
            tr__procs_flush (procs);  //  what the pools queued for their children
        self->now_ns = tr__now_ns ();
        tr__sched_fire_timers (self);
        if (self->stopping || atomic_load_explicit (&self->stop_requested, memory_order_relaxed))
            break;
        //  Sleep only with nothing to run; wake for the next timer.
        long timeout = -1;
        uint64_t due;
        if (self->runq_head)
            timeout = 0;
        else if (tr__timers_next (&self->timers, &due))
            timeout = due <= self->now_ns ? 0 : (long) ((due - self->now_ns + 999999) / 1000000);
        //  The manager polls its children, and a thread with fd watchers
        //  its fds, even when busy (timeout 0).
        if (timeout != 0 || procs || self->watch_live) {
            if (fixed_items + self->watch_count > capacity) {
                capacity = fixed_items + 2 * (size_t) self->watch_count;
                items = tr__realloc (items, capacity * sizeof (zmq_pollitem_t));
            }
            int count = 1;
            items[0] = (zmq_pollitem_t){self->pull, 0, ZMQ_POLLIN, 0};
            int procs_at = count, procs_count = 0;
            if (procs)
                procs_count = tr__procs_items (procs, items + count);
            count += procs_count;
            int watch_at = count, watch_count = 0;
            if (self->watch_live)
                watch_count = tr__watch_items (self, items + count);
            count += watch_count;
            for (uint32_t to = 0; self->out_pending && to < self->rt->sched_count; to++)
                if (self->out[to].count)
                    items[count++] = (zmq_pollitem_t){self->push[to], 0, ZMQ_POLLOUT, 0};
            if (zmq_poll (items, count, timeout) < 0 && zmq_errno () == ETERM)
                break;
            if (procs)
                tr__procs_ready (procs, self, items + procs_at, procs_count);
            if (watch_count) {
                //  Callbacks start timers and deadlines: from the time now.
                self->now_ns = tr__now_ns ();
                tr__watch_ready (self, items + watch_at, watch_count);
            }
        }
        s_drain (self, S_DRAIN_FRAMES);
    }
    tr__free (items);
    tr__sched_stop_actors (self);
    tr__sched_flush (self);
    atomic_store (&self->thread_exited, true);
    return NULL;
}

int
tr__sched_start (tr__sched_t *self)
{
    if (pthread_create (&self->thread, NULL, s_thread, self) != 0)
        return TR_ESTOPPED;
    self->thread_started = true;
    //  Named by its creator, so the name is there when start returns.
    char name[16];
    if (self->role == TR__SCHED_PROCS)
        snprintf (name, sizeof name, "troupe-procs");
    else if (self->role == TR__SCHED_LOOP)
        snprintf (name, sizeof name, "troupe-loop-%u", self->index - self->rt->loop_base);
    else if (self->role == TR__SCHED_DEDICATED)
        snprintf (name, sizeof name, "troupe-ded-%u", self->index - self->rt->dedicated_base);
    else
        snprintf (name, sizeof name, "troupe-%u", self->index);
    pthread_setname_np (self->thread, name);
    return 0;
}
