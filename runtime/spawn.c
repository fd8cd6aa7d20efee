//  spawn - spawning actors (on this thread, on another, from a host thread)
//  and the registry of names
#include "log.h"
#include "loop.h"
#include "runtime.h"

#include <string.h>

//  --------------------------------------------------------------------------
//  Spawning

static bool
s_valid_actor_name (const char *name)
{
    return name && name[0] && strlen (name) < 256;
}

//  Spawn a slot on scheduler `thread` through a SPAWN message. from/corr
//  receive the result when host_wait.
static int
s_spawn_remote (tr_runtime_t *self, tr__sched_t *sched, uint32_t thread,
                const tr__behaviour_t *behaviour, const void *arg, size_t arg_size,
                const tr_spawn_opts_t *opts, bool host_wait, tr_ref_t monitor_by, tr_ref_t *ref)
{
    //  Bounds hold from the start (mail may arrive before the spawn order
    //  runs); the allocator writes them under the slot lock.
    uint64_t limit =
        opts && opts->mailbox_limit ? opts->mailbox_limit : self->options.mailbox_limit;
    int overflow = opts && opts->overflow_set ? (int) opts->overflow : (int) self->options.overflow;
    tr_actor_t *actor =
        tr__sched_slot_alloc (self->scheds[thread], (uint32_t) limit, (uint8_t) overflow);
    if (!actor)
        return TR_ETOOMANY;
    tr_ref_t new_ref = tr__ref_make (thread, actor->index,
                                     atomic_load_explicit (&actor->gen, memory_order_relaxed));
    if (opts && opts->name) {
        pthread_mutex_lock (&self->name_lock);
        uint64_t holder;
        bool taken = tr__strmap_get (self->names, opts->name, &holder)
                     && tr__ref_alive (self, (tr_ref_t) holder);
        if (!taken) {
            tr__strmap_remove (self->names, opts->name);
            tr__strmap_insert (self->names, opts->name, new_ref);
        }
        pthread_mutex_unlock (&self->name_lock);
        if (taken) {
            tr__sched_slot_release (self->scheds[thread], actor);
            return TR_EEXIST;
        }
    }
    tr__spawn_req_t req = {behaviour, limit, overflow, host_wait, monitor_by};
    tr__msg_t *msg = tr__msg_new (sched ? &sched->pool : NULL, sizeof req + arg_size);
    memcpy (msg->data, &req, sizeof req);
    if (arg_size)
        memcpy (msg->data + sizeof req, arg, arg_size);
    msg->to = new_ref;
    msg->flags |= TR__MSG_SYSTEM;
    msg->sys = TR__SYS_SPAWN;
    *ref = new_ref;
    if (!host_wait)
        return tr__route (self, sched, msg, false);
    tr__msg_t *answer = NULL;
    int rc = tr__host_request (self, msg, -1, &answer);
    if (answer)
        tr__msg_free (NULL, answer);
    if (rc != 0 && opts && opts->name)
        tr_name_unregister (self, opts->name);
    return rc;
}

static int
s_check_spawn (tr_runtime_t *self, const char *behaviour_name, const void *arg, size_t arg_size,
               const tr_spawn_opts_t *opts, const tr__behaviour_t **behaviour)
{
    if (!behaviour_name || (arg_size && !arg))
        return TR_EINVAL;
    if (opts && opts->name && !s_valid_actor_name (opts->name))
        return TR_EINVAL;
    uint32_t thread;
    if (opts
        && (tr__placement_thread (self, opts->thread, &thread) < 0
            || (opts->overflow_set && (unsigned) opts->overflow > TR_OVERFLOW_BLOCK)
            || opts->mailbox_limit > UINT32_MAX))
        return TR_EINVAL;
    *behaviour = tr__behaviour_find (behaviour_name);
    if (!*behaviour) {
        tr__warn ("runtime", "spawn of unknown behaviour '%s'", behaviour_name);
        return TR_EUNKNOWN_BEHAVIOUR;
    }
    return 0;
}

int
tr_spawn (tr_runtime_t *self, const char *behaviour_name, const void *arg, size_t arg_size,
          const tr_spawn_opts_t *opts, tr_ref_t *ref)
{
    if (!self || !ref)
        return TR_EINVAL;
    *ref = TR_REF_NONE;
    if (!tr__running (self))
        return TR_ESTOPPED;
    if ((!self->testkit && tr__sched_current ()) || self->bridge) {
        tr__warn ("runtime", "tr_spawn from inside a handler is refused (use tr_actor_spawn)");
        return TR_EINVAL;
    }
    const tr__behaviour_t *behaviour;
    int rc = s_check_spawn (self, behaviour_name, arg, arg_size, opts, &behaviour);
    if (rc)
        return rc;
    if (self->testkit)
        return tr__spawn_local (self->scheds[0], behaviour_name, arg, arg_size, opts, TR_REF_NONE,
                                ref);
    //  Round-robin over the user threads only (never loop, dedicated or
    //  the process manager's).
    uint32_t thread;
    if (!opts || tr__placement_thread (self, opts->thread, &thread) != 0)
        thread = atomic_fetch_add (&self->next_thread, 1) % self->threads;
    tr_ref_t new_ref;
    rc = s_spawn_remote (self, NULL, thread, behaviour, arg, arg_size, opts, true, TR_REF_NONE,
                         &new_ref);
    if (rc == 0)
        *ref = new_ref;
    return rc;
}

int
tr__spawn_on (tr_runtime_t *self, uint32_t thread, const char *behaviour_name, const void *arg,
              size_t arg_size, const char *name, tr_ref_t *ref)
{
    const tr__behaviour_t *behaviour = tr__behaviour_find (behaviour_name);
    if (!behaviour || thread >= self->sched_count)
        return TR_EINVAL;
    if (!tr__running (self))
        return TR_ESTOPPED;
    tr_spawn_opts_t opts = {.name = name};
    return s_spawn_remote (self, NULL, thread, behaviour, arg, arg_size, &opts, true, TR_REF_NONE,
                           ref);
}

int
tr__spawn_on_from (tr__sched_t *sched, uint32_t thread, const char *behaviour_name, const void *arg,
                   size_t arg_size, const char *name, tr_ref_t monitor_by, tr_ref_t *ref)
{
    tr_runtime_t *self = sched->rt;
    const tr__behaviour_t *behaviour = tr__behaviour_find (behaviour_name);
    if (!behaviour || thread >= self->sched_count)
        return TR_EINVAL;
    tr_spawn_opts_t opts = {.name = name};
    return s_spawn_remote (self, sched, thread, behaviour, arg, arg_size, &opts, false, monitor_by,
                           ref);
}

int
tr__spawn_local (tr__sched_t *sched, const char *behaviour_name, const void *arg, size_t arg_size,
                 const tr_spawn_opts_t *opts, tr_ref_t monitor_by, tr_ref_t *ref)
{
    tr_runtime_t *self = sched->rt;
    const tr__behaviour_t *behaviour;
    int rc = s_check_spawn (self, behaviour_name, arg, arg_size, opts, &behaviour);
    if (rc)
        return rc;
    tr_actor_t *actor = tr__sched_slot_alloc (
        sched,
        (uint32_t) (opts && opts->mailbox_limit ? opts->mailbox_limit
                                                : self->options.mailbox_limit),
        (uint8_t) (opts && opts->overflow_set ? opts->overflow : self->options.overflow));
    if (!actor)
        return TR_ETOOMANY;
    tr_ref_t new_ref = tr__actor_ref (actor, sched->index);
    if (opts && opts->name) {
        rc = tr_name_register (self, opts->name, new_ref);
        if (rc) {
            tr__sched_slot_release (sched, actor);
            return rc;
        }
    }

    if (monitor_by)
        tr__actor_watch (actor, monitor_by);
    bool alive;
    rc = tr__actor_start (sched, actor, behaviour, arg, arg_size, &alive);
    if (rc)
        return rc;
    *ref = new_ref;
    return 0;
}

TR__HIDDEN int tr__spawn_from_actor (tr__sched_t *sched, const char *behaviour_name,
                                     const void *arg, size_t arg_size, const tr_spawn_opts_t *opts,
                                     tr_ref_t caller, tr_ref_t *ref);

int
tr__spawn_from_actor (tr__sched_t *sched, const char *behaviour_name, const void *arg,
                      size_t arg_size, const tr_spawn_opts_t *opts, tr_ref_t caller, tr_ref_t *ref)
{
    tr_runtime_t *rt = sched->rt;
    tr_ref_t monitor_by = opts && opts->monitor ? caller : TR_REF_NONE;
    uint32_t thread = sched->index;
    int placed = opts ? tr__placement_thread (rt, opts->thread, &thread) : 1;
    //  The default is the caller's thread, but a loop or dedicated thread
    //  keeps only the actors placed there on purpose: round-robin instead.
    if (placed == 1 && (sched->role == TR__SCHED_LOOP || sched->role == TR__SCHED_DEDICATED)) {
        thread = atomic_fetch_add (&rt->next_thread, 1) % rt->threads;
        placed = 0;
    }
    //  A bad placement is refused by tr__spawn_local's checks.
    if (placed != 0 || thread == sched->index)
        return tr__spawn_local (sched, behaviour_name, arg, arg_size, opts, monitor_by, ref);
    const tr__behaviour_t *behaviour;
    int rc = s_check_spawn (rt, behaviour_name, arg, arg_size, opts, &behaviour);
    if (rc)
        return rc;
    return s_spawn_remote (rt, sched, thread, behaviour, arg, arg_size, opts, false, monitor_by,
                           ref);
}

//  --------------------------------------------------------------------------
//  Names: a map guarded by name_lock; a dead holder's entry is dropped
//  lazily, so a name is free again once its actor died.

int
tr_name_register (tr_runtime_t *self, const char *name, tr_ref_t ref)
{
    if (!self || !s_valid_actor_name (name) || ref == TR_REF_NONE)
        return TR_EINVAL;
    pthread_mutex_lock (&self->name_lock);
    uint64_t holder;
    int rc = 0;
    if (tr__strmap_get (self->names, name, &holder)) {
        if (tr__ref_alive (self, (tr_ref_t) holder) && holder != ref)
            rc = TR_EEXIST;
        else
            tr__strmap_remove (self->names, name);
    }
    if (rc == 0)
        tr__strmap_insert (self->names, name, ref);
    pthread_mutex_unlock (&self->name_lock);
    return rc;
}

int
tr_name_unregister (tr_runtime_t *self, const char *name)
{
    if (!self || !name)
        return TR_EINVAL;
    pthread_mutex_lock (&self->name_lock);
    bool removed = tr__strmap_remove (self->names, name);
    pthread_mutex_unlock (&self->name_lock);
    return removed ? 0 : TR_ENOENT;
}

tr_ref_t
tr_whereis (tr_runtime_t *self, const char *name)
{
    if (!self || !name)
        return TR_REF_NONE;
    pthread_mutex_lock (&self->name_lock);
    uint64_t holder = TR_REF_NONE;
    if (tr__strmap_get (self->names, name, &holder) && !tr__ref_alive (self, holder)) {
        tr__strmap_remove (self->names, name);
        holder = TR_REF_NONE;
    }
    pthread_mutex_unlock (&self->name_lock);
    return holder;
}
