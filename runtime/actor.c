//  actor - actor slots: spawn, mailbox, dispatch, exit, links and monitors
#include "actor.h"
#include "clock.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "sched.h"

#include <string.h>

tr__actor_ext_t *
tr__actor_ext (tr_actor_t *self)
{
    if (!self->ext)
        self->ext = tr__calloc (sizeof (tr__actor_ext_t));
    return self->ext;
}

//  Remove ref from a ref list; true if it was there.
static bool
s_list_remove (tr_ref_t *list, uint32_t *count, tr_ref_t ref)
{
    for (uint32_t i = 0; i < *count; i++)
        if (list[i] == ref) {
            list[i] = list[--*count];
            return true;
        }
    return false;
}

static void
s_list_add (tr_ref_t **list, uint32_t *count, uint32_t *capacity, tr_ref_t ref)
{
    for (uint32_t i = 0; i < *count; i++)
        if ((*list)[i] == ref)
            return;
    if (*count == *capacity) {
        *capacity = *capacity ? *capacity * 2 : 4;
        *list = tr__realloc (*list, *capacity * sizeof (tr_ref_t));
    }
    (*list)[(*count)++] = ref;
}

static uint32_t
s_pending_slot (tr__actor_ext_t *ext, uint64_t corr)
{
    uint32_t mask = ext->pending_capacity - 1;
    uint32_t at = (uint32_t) ((corr * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
    while (ext->pending[at].corr && ext->pending[at].corr != corr)
        at = (at + 1) & mask;
    return at;
}

void
tr__pending_put (tr__actor_ext_t *ext, const tr__pending_t *entry)
{
    if ((ext->pending_count + 1) * 2 > ext->pending_capacity) {
        tr__pending_t *old = ext->pending;
        uint32_t old_capacity = ext->pending_capacity;
        ext->pending_capacity = old_capacity ? old_capacity * 2 : 8;
        ext->pending = tr__calloc (ext->pending_capacity * sizeof (tr__pending_t));
        for (uint32_t i = 0; i < old_capacity; i++)
            if (old[i].corr)
                ext->pending[s_pending_slot (ext, old[i].corr)] = old[i];
        tr__free (old);
    }
    ext->pending[s_pending_slot (ext, entry->corr)] = *entry;
    ext->pending_count++;
}

tr__pending_t *
tr__pending_find (tr__actor_ext_t *ext, uint64_t corr)
{
    if (!ext->pending_capacity)
        return NULL;
    tr__pending_t *entry = &ext->pending[s_pending_slot (ext, corr)];
    return entry->corr ? entry : NULL;
}

bool
tr__pending_take (tr__actor_ext_t *ext, uint64_t corr, tr__pending_t *entry)
{
    tr__pending_t *found = tr__pending_find (ext, corr);
    if (!found)
        return false;
    *entry = *found;
    found->corr = 0;
    ext->pending_count--;
    //  Re-seat the run after the hole (linear-probing deletion).
    uint32_t mask = ext->pending_capacity - 1;
    for (uint32_t at = (uint32_t) (found - ext->pending + 1) & mask; ext->pending[at].corr;
         at = (at + 1) & mask) {
        tr__pending_t moved = ext->pending[at];
        ext->pending[at].corr = 0;
        ext->pending[s_pending_slot (ext, moved.corr)] = moved;
    }
    return true;
}

void
tr__actor_watch (tr_actor_t *self, tr_ref_t monitor)
{
    tr__actor_ext_t *ext = tr__actor_ext (self);
    s_list_add (&ext->monitors, &ext->monitor_count, &ext->monitor_capacity, monitor);
}

int
tr__actor_start (tr__sched_t *sched, tr_actor_t *actor, const tr__behaviour_t *behaviour,
                 const void *arg, size_t arg_size, bool *alive)
{
    *alive = false;
    const tr_behaviour_t *pub = behaviour->pub;
    actor->behaviour = behaviour;
    actor->state = pub->state_size ? tr__calloc (pub->state_size) : NULL;
    actor->seq = ++sched->seq;
    actor->status = TR__ACTOR_LIVE;

    //  init may run inside another actor's handler (local spawn): restore.
    tr_actor_t *outer = sched->current;
    uint64_t outer_corr = sched->current_corr;
    sched->current = actor;
    sched->current_corr = 0;
    int rc = pub->init ? pub->init (actor, actor->state, arg, arg_size) : 0;
    sched->current = outer;
    sched->current_corr = outer_corr;
    if (rc != 0) {
        tr__actor_exit (sched, actor, TR_EINIT);
        return TR_EINIT;
    }
    actor->flags |= TR__ACTOR_INIT_DONE;
    sched->spawned++;
    sched->live++;
    atomic_fetch_add_explicit (&sched->rt->actors_spawned, 1, memory_order_relaxed);
    if (actor->flags & TR__ACTOR_STOPPING)
        tr__actor_exit (sched, actor, actor->exit_reason);  //  the slot is free again
    else {
        *alive = true;
        if (actor->head)
            tr__sched_schedule (sched, actor);
    }
    return 0;
}

static tr__msg_t *
s_pop (tr__sched_t *sched, tr_actor_t *actor)
{
    tr__msg_t *msg = actor->head;
    actor->head = msg->next;
    if (!actor->head)
        actor->tail = NULL;
    actor->depth--;
    //  Room again: clear the hint other threads read, wake blocked hosts.
    uint8_t full = atomic_load_explicit (&actor->full, memory_order_relaxed);
    if (full != TR__FULL_NO && actor->depth < actor->limit) {
        atomic_store_explicit (&actor->full, TR__FULL_NO, memory_order_relaxed);
        if (full == TR__FULL_BLOCK)
            tr__space_available (sched->rt);
    }
    return msg;
}

void
tr__msg_view (const tr__msg_t *msg, tr_msg_t *view)
{
    view->type = msg->type;
    view->flags = msg->flags & 0xffu;
    view->from = msg->from;
    view->to = msg->to;
    view->corr = msg->corr;
    view->data = msg->data;
    view->size = msg->size;
}

//  Mark actor to exit after the current handler (first reason wins).
static void
s_request_exit (tr_actor_t *actor, int reason)
{
    if (!(actor->flags & TR__ACTOR_STOPPING)) {
        actor->flags |= TR__ACTOR_STOPPING;
        actor->exit_reason = reason;
    }
}

void
tr__actor_complete (tr__sched_t *sched, tr_actor_t *actor, uint64_t corr, int rc,
                    const tr__msg_t *reply)
{
    tr__actor_ext_t *ext = actor->ext;
    tr__pending_t pending;
    if (!ext || !tr__pending_take (ext, corr, &pending)) {
        //  Its deadline passed (or the continuation is gone): drop, count.
        if (reply)
            atomic_fetch_add (&sched->rt->late_replies, 1);
        return;
    }
    if (reply && pending.timer_id)
        tr__timers_cancel (&sched->timers, pending.timer_id, tr__actor_ref (actor, sched->index));
    if (!pending.fn)
        return;  //  a request that failed at once: nothing to run
    tr_msg_t view;
    if (reply && (reply->flags & TR_MSG_ERROR)) {
        int32_t code = TR_EFAILED;
        if (reply->size >= sizeof code)
            memcpy (&code, reply->data, sizeof code);
        rc = code;
        reply = NULL;
    }
    if (reply)
        tr__msg_view (reply, &view);
    tr_actor_t *outer = sched->current;
    sched->current = actor;
    pending.fn (actor, actor->state, rc, reply ? &view : NULL, pending.arg);
    sched->current = outer;
}

//  Run the handler for a user message (or a reply). Takes msg.
static void
s_dispatch (tr__sched_t *sched, tr_actor_t *actor, tr__msg_t *msg)
{
    if (msg->flags & TR_MSG_REPLY && !(actor->behaviour->flags & TR__BEH_RAW_REPLIES)) {
        tr__actor_complete (sched, actor, msg->corr, 0, msg);
        tr__msg_free (&sched->pool, msg);
        return;
    }
    const tr_behaviour_t *pub = actor->behaviour->pub;
    tr_handler_fn *fn = tr__behaviour_handler (actor->behaviour, msg->type);
    if (!fn)
        fn = pub->unhandled;
    if (!fn) {
        tr__undeliverable (sched->rt, sched, msg, TR_EUNKNOWN_TYPE);
        return;
    }
    tr_msg_t view;
    tr__msg_view (msg, &view);
    sched->current = actor;
    sched->current_corr = (msg->flags & TR_MSG_REQUEST) ? msg->corr : 0;
    int rc = fn (actor, actor->state, &view);
    sched->current = NULL;
    if (rc == 0) {
        actor->handled++;
        sched->handled++;
    }
    else {
        actor->failed++;
        sched->failed++;
        s_request_exit (actor, rc < 0 ? rc : TR_EFAILED);
    }
    //  A request left unanswered by a failing handler gets the reason.
    if (sched->current_corr && (actor->flags & TR__ACTOR_STOPPING) && actor->exit_reason != 0)
        tr__reply_error_to (sched->rt, sched, msg->from, msg->corr, actor->exit_reason);
    sched->current_corr = 0;
    tr__msg_free (&sched->pool, msg);
}

static void
s_reply_stats (tr__sched_t *sched, tr_actor_t *actor, tr__msg_t *request)
{
    tr__msg_t *reply = tr__msg_new (&sched->pool, sizeof (tr_actor_stats_t));
    tr_actor_stats_t *stats = (tr_actor_stats_t *) reply->data;
    memset (stats, 0, sizeof *stats);
    stats->received = actor->received;
    stats->handled = actor->handled;
    stats->failed = actor->failed;
    stats->dropped = actor->dropped;
    stats->mailbox_depth = actor->depth;
    if (actor->hist) {
        double ns = tr__ns_per_tick ();
        stats->latency_count = actor->hist->count;
        stats->latency_p50_ns = (uint64_t) (tr__hist_quantile (actor->hist, 0.50) * ns);
        stats->latency_p95_ns = (uint64_t) (tr__hist_quantile (actor->hist, 0.95) * ns);
        stats->latency_p99_ns = (uint64_t) (tr__hist_quantile (actor->hist, 0.99) * ns);
        stats->latency_max_ns = (uint64_t) ((double) actor->hist->max * ns);
    }
    reply->to = request->from;
    reply->corr = request->corr;
    reply->flags |= TR_MSG_REPLY;
    tr__route (sched->rt, sched, reply, false);
}

//  Handle a runtime operation addressed to actor. Takes msg. Returns false
//  when the actor ended during it (a spawn whose init failed or stopped):
//  its slot may already be another spawner's, so it must not be touched.
static bool
s_system (tr__sched_t *sched, tr_actor_t *actor, tr__msg_t *msg)
{
    tr__actor_ext_t *ext;
    bool alive = true;
    switch (msg->sys) {
        case TR__SYS_SPAWN: {
            tr__spawn_req_t req;
            memcpy (&req, msg->data, sizeof req);
            actor->limit = (uint32_t) req.mailbox_limit;
            actor->policy = (uint8_t) req.overflow;
            if (req.monitor)
                tr__actor_watch (actor, req.monitor);
            int rc = tr__actor_start (sched, actor, req.behaviour, msg->data + sizeof req,
                                      msg->size - sizeof req, &alive);
            if (req.host_wait) {
                if (rc)
                    tr__reply_error_to (sched->rt, sched, msg->from, msg->corr, rc);
                else {
                    tr__msg_t *reply = tr__msg_new (&sched->pool, 0);
                    reply->to = msg->from;
                    reply->corr = msg->corr;
                    reply->flags |= TR_MSG_REPLY;
                    tr__route (sched->rt, sched, reply, false);
                }
            }
            break;
        }
        case TR__SYS_KILL: s_request_exit (actor, (int) (int64_t) msg->corr); break;
        case TR__SYS_MONITOR:
            ext = tr__actor_ext (actor);
            s_list_add (&ext->monitors, &ext->monitor_count, &ext->monitor_capacity, msg->from);
            break;
        case TR__SYS_DEMONITOR:
            if (actor->ext)
                s_list_remove (actor->ext->monitors, &actor->ext->monitor_count, msg->from);
            break;
        case TR__SYS_LINK:
            ext = tr__actor_ext (actor);
            s_list_add (&ext->links, &ext->link_count, &ext->link_capacity, msg->from);
            break;
        case TR__SYS_UNLINK:
            if (actor->ext)
                s_list_remove (actor->ext->links, &actor->ext->link_count, msg->from);
            break;
        case TR__SYS_LINK_EXIT: {
            int reason = (int) (int64_t) msg->corr;
            bool was_linked =
                actor->ext && s_list_remove (actor->ext->links, &actor->ext->link_count, msg->from);
            if (!was_linked && reason != TR_EDEAD)
                break;  //  unlinked meanwhile
            if (actor->flags & TR__ACTOR_TRAP_EXIT) {
                //  Becomes an ordinary TR_TYPE_EXIT message for the handler.
                tr_down_t down = {msg->from, reason};
                tr__msg_t *exit_msg = tr__msg_new (&sched->pool, sizeof down);
                memcpy (exit_msg->data, &down, sizeof down);
                exit_msg->type = TR_TYPE_EXIT;
                exit_msg->from = msg->from;
                exit_msg->to = msg->to;
                exit_msg->flags |= TR__MSG_NODROP;
                s_dispatch (sched, actor, exit_msg);
            }
            else if (reason != 0)
                s_request_exit (actor, TR_ELINKED);
            break;
        }
        case TR__SYS_STATS: s_reply_stats (sched, actor, msg); break;
        default: tr__warn ("actor", "unknown system operation %u dropped", msg->sys); break;
    }
    tr__msg_free (&sched->pool, msg);
    return alive;
}

uint32_t
tr__actor_run (tr__sched_t *sched, tr_actor_t *actor, uint32_t budget)
{
    uint32_t ran = 0;
    uint64_t start = tr__ticks ();
    while (ran < budget && actor->head) {
        //  A pending actor only takes its spawn order.
        if (actor->status == TR__ACTOR_PENDING && actor->head->sys != TR__SYS_SPAWN)
            break;
        tr__msg_t *msg = s_pop (sched, actor);
        ran++;
        if (msg->flags & TR__MSG_SYSTEM) {
            if (!s_system (sched, actor, msg))
                return ran;  //  ended while starting: the slot is not ours now
        }
        else {
            //  A process actor confirms one-way messages from its node once
            //  they ran (the node holds them until then).
            uint64_t confirm =
                sched->rt->handled && (msg->from & TR__REF_REMOTE) && !(msg->flags & TR_MSG_REQUEST)
                    ? msg->corr
                    : 0;
            s_dispatch (sched, actor, msg);
            if (confirm)
                sched->rt->handled (sched->rt, confirm);
            //  One tick read per message: the end of one is the start of the next.
            uint64_t end = tr__ticks ();
            if (!actor->hist)
                actor->hist = tr__calloc (sizeof (tr__hist_t));
            tr__hist_record (actor->hist, end - start);
            start = end;
        }
        if (actor->flags & TR__ACTOR_STOPPING) {
            tr__actor_exit (sched, actor, actor->exit_reason);
            return ran;  //  the slot is free now: do not touch it
        }
        if (actor->status != TR__ACTOR_LIVE)
            return ran;
    }
    if (actor->head && actor->status == TR__ACTOR_LIVE)
        tr__sched_schedule (sched, actor);
    return ran;
}

void
tr__actor_exit (tr__sched_t *sched, tr_actor_t *actor, int reason)
{
    if (actor->status == TR__ACTOR_FREE || actor->status == TR__ACTOR_EXITING)
        return;
    tr_runtime_t *rt = sched->rt;
    tr_ref_t ref = tr__actor_ref (actor, sched->index);
    bool started = actor->flags & TR__ACTOR_INIT_DONE;
    bool shutdown = atomic_load (&rt->state) == TR__RT_STOPPING;
    actor->status = TR__ACTOR_EXITING;

    const tr_behaviour_t *pub = actor->behaviour ? actor->behaviour->pub : NULL;
    if (started && pub && pub->terminate) {
        tr_actor_t *outer = sched->current;
        sched->current = actor;
        pub->terminate (actor, actor->state, reason);
        sched->current = outer;
    }
    //  Its fd watchers go with it (terminate may have removed them).
    if (actor->flags & TR__ACTOR_WATCHING)
        tr__watch_drop_actor (sched, actor);
    //  What is still queued is accounted for: requests get an error reply,
    //  the rest becomes dead letters.
    while (actor->head) {
        tr__msg_t *msg = actor->head;
        actor->head = msg->next;
        //  In a process actor the node holds these and redelivers them to
        //  the next child: answering them here would lose them.
        if (rt->bridge)
            tr__msg_free (&sched->pool, msg);
        else
            tr__undeliverable (rt, sched, msg, shutdown ? TR_ESHUTDOWN : TR_EDEAD);
    }
    actor->tail = NULL;

    tr__actor_ext_t *ext = actor->ext;
    if (ext) {
        if (!shutdown) {
            tr_down_t down = {ref, reason};
            for (uint32_t i = 0; i < ext->monitor_count; i++)
                tr__notice (sched->rt, sched, ext->monitors[i], ref, TR_TYPE_DOWN, 0, 0, &down,
                            sizeof down);
            for (uint32_t i = 0; i < ext->link_count; i++)
                tr__notice (sched->rt, sched, ext->links[i], ref, 0, TR__SYS_LINK_EXIT,
                            (uint64_t) (int64_t) reason, NULL, 0);
        }
        tr__free (ext->monitors);
        tr__free (ext->links);
        tr__free (ext->pending);
        tr__free (ext);
        actor->ext = NULL;
    }
    if (actor->state)
        tr__free_sized (actor->state, pub->state_size);
    //  The thread's histogram keeps what dead actors measured.
    if (actor->hist) {
        tr__hist_merge (&sched->hist, actor->hist);
        tr__free (actor->hist);
        actor->hist = NULL;
    }
    actor->received = actor->handled = actor->failed = actor->dropped = 0;
    if (started)
        sched->live--;
    //  Still linked in the run queue (it sent to itself, then died): the
    //  scheduler frees the slot when it pops it, so no list walk here.
    if (actor->flags & TR__ACTOR_IN_RUNQ) {
        tr__sched_slot_retire (sched, actor);
        return;
    }
    if (reason != 0 && reason != TR_ESHUTDOWN && tr__log_enabled (TR__LOG_INFO))
        tr__info ("actor", "%s %016llx exited: %s", pub ? pub->name : "?", (unsigned long long) ref,
                  tr_strerror (reason));
    tr__sched_slot_release (sched, actor);
}
