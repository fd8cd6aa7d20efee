//  supervisor - an actor that starts children in order, restarts them by
//  restart type and strategy, backs off, and gives up past its intensity
#include "log.h"
#include "runtime.h"
#include "supervisor.h"
#include "service.h"

#include <stdio.h>
#include <string.h>

#define S_RECORDS 64

typedef struct {
    tr_child_spec_t spec;  //  deep copy (strings, arg, nested spec owned)
    tr_ref_t ref;
    tr_child_state_t state;
    uint32_t restarts;
    uint32_t consecutive;  //  restarts without a healthy run between them
    int last_reason;
    uint64_t started_ms;
    uint64_t stop_timer;
    uint64_t restart_token;  //  matches the one_for_one restart timer in flight
} s_child_t;

//  What the supervisor is doing between messages.
typedef enum {
    S_IDLE = 0,
    S_STOPPING,  //  stopping `stop_list` one by one, newest first
    S_WAITING,   //  backoff before starting `start_from..`
    S_GIVING_UP  //  stopping everything, then fail
} s_phase_t;

typedef struct {
    tr_supervisor_spec_t *spec;
    bool root;
    s_child_t *children;
    size_t count;
    s_phase_t phase;
    size_t *stop_list;  //  indices still to stop, last first
    size_t stop_count;
    bool *restart_set;  //  children to (re)start when the group is stopped
    uint32_t delay_ms;  //  backoff for the pending group start
    uint64_t *window;   //  times of recent restarts (intensity + 1)
    size_t window_count;
    tr_restart_record_t records[S_RECORDS];
    size_t record_count;   //  total ever (ring index = count % S_RECORDS)
    uint64_t group_token;  //  the group restart timer that counts
    uint64_t random;
} s_supervisor_t;

static tr_type_t s_type_restart, s_type_stop_timeout, s_type_start_failed, s_type_children,
    s_type_restarts;

//  --------------------------------------------------------------------------
//  Spec copies

static char *
s_strdup_or_null (const char *text)
{
    return text ? tr__strdup (text) : NULL;
}

static void s_spec_free (tr_supervisor_spec_t *spec);

static void
s_child_spec_copy (tr_child_spec_t *into, const tr_child_spec_t *from)
{
    *into = *from;
    into->id = s_strdup_or_null (from->id);
    into->behaviour = s_strdup_or_null (from->behaviour);
    into->name = s_strdup_or_null (from->name);
    into->arg = NULL;
    if (from->arg_size) {
        void *arg = tr__alloc (from->arg_size);
        memcpy (arg, from->arg, from->arg_size);
        into->arg = arg;
    }
    into->supervisor = from->supervisor ? tr__supervisor_spec_copy (from->supervisor) : NULL;
    into->process = NULL;
    if (from->process) {
        tr_process_spec_t *process = tr__alloc (sizeof *process);
        *process = *from->process;
        process->behaviour = s_strdup_or_null (from->process->behaviour);
        process->command = s_strdup_or_null (from->process->command);
        process->name = NULL;  //  the child spec's name is the one registered
        process->arg = NULL;
        if (from->process->arg_size) {
            void *arg = tr__alloc (from->process->arg_size);
            memcpy (arg, from->process->arg, from->process->arg_size);
            process->arg = arg;
        }
        into->process = process;
    }
    into->service = from->service ? tr__service_spec_copy (from->service) : NULL;
}

static void
s_child_spec_free (tr_child_spec_t *spec)
{
    tr__free ((void *) spec->id);
    tr__free ((void *) spec->behaviour);
    tr__free ((void *) spec->name);
    tr__free ((void *) spec->arg);
    if (spec->supervisor)
        s_spec_free ((tr_supervisor_spec_t *) spec->supervisor);
    if (spec->process) {
        tr__free ((void *) spec->process->behaviour);
        tr__free ((void *) spec->process->command);
        tr__free ((void *) spec->process->arg);
        tr__free ((void *) spec->process);
    }
    if (spec->service) {
        tr_service_spec_t *service = (tr_service_spec_t *) spec->service;
        tr__service_spec_free (&service);
    }
}

tr_supervisor_spec_t *
tr__supervisor_spec_copy (const tr_supervisor_spec_t *from)
{
    tr_supervisor_spec_t *spec = tr__alloc (sizeof *spec);
    *spec = *from;
    //  Defaults here, once, so the running code sees plain numbers.
    if (!spec->intensity)
        spec->intensity = 3;
    if (!spec->period_ms)
        spec->period_ms = 5000;
    if (!spec->backoff_ms)
        spec->backoff_ms = 10;
    if (!spec->backoff_max_ms)
        spec->backoff_max_ms = 5000;
    if (!spec->healthy_ms)
        spec->healthy_ms = spec->period_ms;
    tr_child_spec_t *children = tr__calloc ((from->child_count + 1) * sizeof *children);
    for (size_t i = 0; i < from->child_count; i++) {
        s_child_spec_copy (&children[i], &from->children[i]);
        if (!children[i].shutdown_ms)
            children[i].shutdown_ms = 5000;
    }
    spec->children = children;
    return spec;
}

static void
s_spec_free (tr_supervisor_spec_t *spec)
{
    for (size_t i = 0; i < spec->child_count; i++)
        s_child_spec_free ((tr_child_spec_t *) &spec->children[i]);
    tr__free ((void *) spec->children);
    tr__free (spec);
}

void
tr__supervisor_spec_free (tr_supervisor_spec_t **spec_p)
{
    if (spec_p && *spec_p) {
        s_spec_free (*spec_p);
        *spec_p = NULL;
    }
}

int
tr__supervisor_spec_check (const tr_supervisor_spec_t *spec, char *why, size_t why_size)
{
    if (!spec) {
        snprintf (why, why_size, "no spec");
        return TR_EINVAL;
    }
    if ((unsigned) spec->strategy > TR_REST_FOR_ONE || spec->intensity < 0 || spec->period_ms < 0
        || spec->backoff_ms < 0 || spec->backoff_max_ms < 0 || spec->healthy_ms < 0
        || (spec->child_count && !spec->children)) {
        snprintf (why, why_size, "bad strategy, negative limit, or children missing");
        return TR_EINVAL;
    }
    for (size_t i = 0; i < spec->child_count; i++) {
        const tr_child_spec_t *child = &spec->children[i];
        if (!child->id || !child->id[0] || strlen (child->id) > 63) {
            snprintf (why, why_size, "child %zu: id missing or longer than 63 bytes", i);
            return TR_EINVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp (spec->children[j].id, child->id) == 0) {
                snprintf (why, why_size, "child '%s': id used twice", child->id);
                return TR_EINVAL;
            }
        if ((unsigned) child->restart > TR_TEMPORARY || child->shutdown_ms < 0
            || (child->arg_size && !child->arg)) {
            snprintf (why, why_size, "child '%s': bad restart type, shutdown or arg", child->id);
            return TR_EINVAL;
        }
        if (child->supervisor) {
            int rc = tr__supervisor_spec_check (child->supervisor, why, why_size);
            if (rc)
                return rc;
        }
        else if (child->service) {
            char service_why[192];
            int rc = tr__service_check (NULL, child->service, service_why, sizeof service_why);
            if (rc) {
                snprintf (why, why_size, "child '%s': %s", child->id, service_why);
                return rc;
            }
        }
        else if (child->process) {
            int rc = tr__pool_check (NULL, child->process);
            if (rc) {
                snprintf (why, why_size, "child '%s': bad process spec (%s)", child->id,
                          tr_strerror (rc));
                return rc;
            }
        }
        else if (!child->behaviour || !tr__behaviour_find (child->behaviour)) {
            snprintf (why, why_size, "child '%s': unknown behaviour '%s'", child->id,
                      child->behaviour ? child->behaviour : "(none)");
            return TR_EUNKNOWN_BEHAVIOUR;
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Starting and stopping children

static void s_child_failed (tr_actor_t *self, s_supervisor_t *sup, size_t index, int reason);

static void
s_record (tr_actor_t *self, s_supervisor_t *sup, size_t index, int reason, uint32_t delay_ms,
          bool escalated)
{
    tr_restart_record_t *record = &sup->records[sup->record_count++ % S_RECORDS];
    memset (record, 0, sizeof *record);
    snprintf (record->id, sizeof record->id, "%s", sup->children[index].spec.id);
    record->reason = reason;
    record->at_ms = tr_now_ms (self);
    record->delay_ms = delay_ms;
    record->escalated = escalated;
}

//  Start child index. A failure to spawn counts as a failure of the child.
static void
s_start (tr_actor_t *self, s_supervisor_t *sup, size_t index)
{
    s_child_t *child = &sup->children[index];
    tr_spawn_opts_t opts = {
        .name = child->spec.name, .thread = child->spec.thread, .monitor = true};
    int rc;
    if (child->spec.supervisor) {
        tr__supervisor_arg_t arg = {tr__supervisor_spec_copy (child->spec.supervisor), false};
        rc = tr_actor_spawn (self, "tr.supervisor", &arg, sizeof arg, &opts, &child->ref);
        if (rc != 0 && rc != TR_EINIT)
            tr__supervisor_spec_free (&arg.spec);  //  never reached its init
    }
    else if (child->spec.service)
        rc = tr__service_spawn (self, child->spec.service, child->spec.name, &child->ref);
    else if (child->spec.process) {
        //  A process pool lives on the process manager's thread.
        tr_runtime_t *rt = tr_actor_runtime (self);
        rc = rt->procs ? tr__pool_check (rt, child->spec.process) : TR_ENOTSUP;
        if (rc == 0) {
            void *arg = tr__alloc (tr__pool_arg_size ());
            tr__pool_arg_make (rt, child->spec.process, arg);
            rc = tr__spawn_on_from (self->sched, rt->threads, "tr.process_pool", arg,
                                    tr__pool_arg_size (), child->spec.name, tr_self (self),
                                    &child->ref);
            if (rc != 0)
                tr__pool_arg_free (arg);
            tr__free (arg);
        }
    }
    else
        rc = tr_actor_spawn (self, child->spec.behaviour, child->spec.arg, child->spec.arg_size,
                             &opts, &child->ref);
    child->started_ms = tr_now_ms (self);
    if (rc == 0) {
        child->state = TR_CHILD_RUNNING;
        return;
    }
    child->ref = TR_REF_NONE;
    //  Not started (init failed here, a name taken, a table full): handle it
    //  as an exit, later, so that a group start is not re-entered. (A child
    //  placed on another thread reports a failed init by DOWN instead.)
    tr__warn ("supervisor", "cannot start child '%s': %s", child->spec.id, tr_strerror (rc));
    child->state = TR_CHILD_RESTARTING;
    uint64_t failure[2] = {index, (uint64_t) (int64_t) rc};
    tr_send (self, tr_self (self), s_type_start_failed, failure, sizeof failure);
}

//  Start every child marked in restart_set, in order.
static void
s_start_group (tr_actor_t *self, s_supervisor_t *sup)
{
    sup->phase = S_IDLE;
    for (size_t i = 0; i < sup->count; i++) {
        if (!sup->restart_set[i])
            continue;
        sup->restart_set[i] = false;
        sup->children[i].restarts++;
        s_start (self, sup, i);
    }
}

//  Stop the next child on the stop list, or finish the phase.
static void
s_stop_next (tr_actor_t *self, s_supervisor_t *sup)
{
    while (sup->stop_count) {
        size_t index = sup->stop_list[--sup->stop_count];
        s_child_t *child = &sup->children[index];
        if (!child->ref)
            continue;
        child->state = TR_CHILD_STOPPING;
        tr_kill (self, child->ref, TR_ESHUTDOWN);
        uint64_t which[2] = {index, child->ref};
        tr_send_after (self, child->spec.shutdown_ms, tr_self (self), s_type_stop_timeout, which,
                       sizeof which, &child->stop_timer);
        return;  //  its DOWN continues the list
    }
    if (sup->phase == S_GIVING_UP) {
        if (sup->root)
            tr__runtime_exit (tr_actor_runtime (self), TR_EXIT_ESCALATED);
        tr_fail (self, TR_EESCALATED);
        return;
    }
    if (sup->phase == S_STOPPING) {
        if (sup->delay_ms) {
            //  The token: only the latest group timer may start the group.
            sup->phase = S_WAITING;
            uint64_t token = ++sup->group_token;
            tr_send_after (self, (int) sup->delay_ms, tr_self (self), s_type_restart, &token,
                           sizeof token, NULL);
        }
        else
            s_start_group (self, sup);
    }
}

//  Stop children from `from` to the end that run, newest first, then go on
//  with the phase already set.
static void
s_stop_from (tr_actor_t *self, s_supervisor_t *sup, size_t from)
{
    sup->stop_count = 0;
    for (size_t i = from; i < sup->count; i++)
        if (sup->children[i].ref)
            sup->stop_list[sup->stop_count++] = i;
    //  The list is popped from the end: the newest child stops first.
    s_stop_next (self, sup);
}

//  Add index to the bottom of the stop list (stopped last), once.
static void
s_stop_later (s_supervisor_t *sup, size_t index)
{
    for (size_t i = 0; i < sup->stop_count; i++)
        if (sup->stop_list[i] == index)
            return;
    memmove (sup->stop_list + 1, sup->stop_list, sup->stop_count * sizeof (size_t));
    sup->stop_list[0] = index;
    sup->stop_count++;
}

static uint32_t
s_backoff (s_supervisor_t *sup, s_child_t *child)
{
    if (child->consecutive <= 1)
        return 0;  //  the first restart after a healthy run is immediate
    uint64_t delay = (uint64_t) sup->spec->backoff_ms
                     << (child->consecutive - 2 < 20 ? child->consecutive - 2 : 20);
    //  +-20 % jitter (xorshift), so restarts of many children spread out;
    //  then the cap, which holds.
    sup->random ^= sup->random << 13;
    sup->random ^= sup->random >> 7;
    sup->random ^= sup->random << 17;
    int64_t spread = (int64_t) delay / 5;
    if (spread > 0)
        delay = (uint64_t) ((int64_t) delay - spread
                            + (int64_t) (sup->random % (uint64_t) (2 * spread + 1)));
    if (delay > (uint64_t) sup->spec->backoff_max_ms)
        delay = (uint64_t) sup->spec->backoff_max_ms;
    return (uint32_t) delay;
}

//  True when one more restart now exceeds the intensity.
static bool
s_over_intensity (tr_actor_t *self, s_supervisor_t *sup)
{
    uint64_t now = tr_now_ms (self);
    size_t kept = 0;
    for (size_t i = 0; i < sup->window_count; i++)
        if (now - sup->window[i] < (uint64_t) sup->spec->period_ms)
            sup->window[kept++] = sup->window[i];
    sup->window_count = kept;
    if (sup->window_count >= (size_t) sup->spec->intensity)
        return true;
    sup->window[sup->window_count++] = now;
    return false;
}

static void
s_give_up (tr_actor_t *self, s_supervisor_t *sup, size_t index, int reason)
{
    tr__error ("supervisor", "child '%s' failed (%s) more than %d times in %d ms: giving up",
               sup->children[index].spec.id, tr_strerror (reason), sup->spec->intensity,
               sup->spec->period_ms);
    s_record (self, sup, index, reason, 0, true);
    sup->phase = S_GIVING_UP;
    s_stop_from (self, sup, 0);
}

//  Child index ended with reason (its ref is already cleared).
static void
s_child_failed (tr_actor_t *self, s_supervisor_t *sup, size_t index, int reason)
{
    s_child_t *child = &sup->children[index];
    child->last_reason = reason;
    bool normal = reason == 0 || reason == TR_ESHUTDOWN;
    if (child->spec.restart == TR_TEMPORARY || (child->spec.restart == TR_TRANSIENT && normal)) {
        child->state = TR_CHILD_DONE;
        tr__info ("supervisor", "child '%s' ended (%s), not restarted", child->spec.id,
                  tr_strerror (reason));
        return;
    }
    if (sup->phase == S_GIVING_UP)
        return;
    if (s_over_intensity (self, sup)) {
        s_give_up (self, sup, index, reason);
        return;
    }
    //  A healthy run resets the backoff.
    if (tr_now_ms (self) - child->started_ms >= (uint64_t) sup->spec->healthy_ms)
        child->consecutive = 0;
    child->consecutive++;
    uint32_t delay = s_backoff (sup, child);
    s_record (self, sup, index, reason, delay, false);
    tr__warn ("supervisor", "child '%s' exited (%s): restart #%u in %u ms", child->spec.id,
              tr_strerror (reason), child->restarts + 1, delay);
    child->state = TR_CHILD_RESTARTING;

    if (sup->spec->strategy == TR_ONE_FOR_ONE) {
        //  Each child on its own: now, or by its own timer.
        if (delay == 0) {
            child->restarts++;
            s_start (self, sup, index);
        }
        else {
            uint64_t which[2] = {index, ++child->restart_token};
            tr_send_after (self, (int) delay, tr_self (self), s_type_restart, which, sizeof which,
                           NULL);
        }
        return;
    }
    //  The group to restart; the ones still running in it are stopped first.
    size_t from = sup->spec->strategy == TR_ONE_FOR_ALL ? 0 : index;
    for (size_t i = from; i < sup->count; i++)
        if (i == index
            || (sup->children[i].state != TR_CHILD_DONE
                && sup->children[i].spec.restart != TR_TEMPORARY))
            sup->restart_set[i] = true;
    if (delay > sup->delay_ms || sup->phase == S_IDLE)
        sup->delay_ms = delay;
    if (sup->phase == S_STOPPING) {
        //  A stop is on its way: the new group's running members join it
        //  (stopped last), so none of them is left running unsupervised.
        for (size_t i = from; i < sup->count; i++)
            if (sup->restart_set[i] && sup->children[i].ref
                && sup->children[i].state == TR_CHILD_RUNNING)
                s_stop_later (sup, i);
        return;
    }
    sup->phase = S_STOPPING;  //  from idle, or from waiting for a backoff
    s_stop_from (self, sup, from);
}

//  --------------------------------------------------------------------------
//  The behaviour

static int
s_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    s_supervisor_t *sup = state;
    if (arg_size != sizeof (tr__supervisor_arg_t))
        return TR_EINVAL;
    tr__supervisor_arg_t args;
    memcpy (&args, arg, sizeof args);
    sup->spec = args.spec;  //  ours now
    sup->root = args.root;
    sup->count = sup->spec->child_count;
    sup->children = tr__calloc ((sup->count + 1) * sizeof (s_child_t));
    sup->stop_list = tr__calloc ((sup->count + 1) * sizeof (size_t));
    sup->restart_set = tr__calloc ((sup->count + 1) * sizeof (bool));
    sup->window = tr__calloc (((size_t) sup->spec->intensity + 1) * sizeof (uint64_t));
    sup->random = tr_self (self) | 1;
    for (size_t i = 0; i < sup->count; i++) {
        sup->children[i].spec = sup->spec->children[i];
        sup->children[i].state = TR_CHILD_RESTARTING;
    }
    //  Children start in order, before any message reaches the supervisor.
    for (size_t i = 0; i < sup->count; i++)
        s_start (self, sup, i);
    return 0;
}

static void
s_terminate (tr_actor_t *self, void *state, int reason)
{
    s_supervisor_t *sup = state;
    (void) reason;
    //  Children do not outlive their supervisor: newest first.
    for (size_t i = sup->count; i-- > 0;)
        if (sup->children[i].ref)
            tr_kill (self, sup->children[i].ref, TR_ESHUTDOWN);
    tr__free (sup->children);
    tr__free (sup->stop_list);
    tr__free (sup->restart_set);
    tr__free (sup->window);
    tr__supervisor_spec_free (&sup->spec);
}

static s_child_t *
s_find (s_supervisor_t *sup, tr_ref_t ref, size_t *index)
{
    for (size_t i = 0; ref && i < sup->count; i++)
        if (sup->children[i].ref == ref) {
            *index = i;
            return &sup->children[i];
        }
    return NULL;
}

static int
s_on_down (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_supervisor_t *sup = state;
    tr_down_t down;
    if (msg->size != sizeof down)
        return 0;
    memcpy (&down, msg->data, sizeof down);
    //  A DOWN comes from the actor that died, and only once it is dead.
    if (msg->from != down.ref || tr__ref_alive (tr_actor_runtime (self), down.ref))
        return 0;
    size_t index;
    s_child_t *child = s_find (sup, down.ref, &index);
    if (!child)
        return 0;  //  an old incarnation (given up on after a stop timeout)
    child->ref = TR_REF_NONE;
    if (child->stop_timer) {
        tr_timer_cancel (self, child->stop_timer);
        child->stop_timer = 0;
    }
    if (child->state == TR_CHILD_STOPPING) {
        //  We asked it to stop (a group restart, or giving up).
        child->state = sup->restart_set[index] ? TR_CHILD_RESTARTING : TR_CHILD_DONE;
        child->last_reason = down.reason;
        s_stop_next (self, sup);
        return 0;
    }
    s_child_failed (self, sup, index, down.reason);
    return 0;
}

static int
s_on_stop_timeout (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_supervisor_t *sup = state;
    uint64_t which[2];
    if (msg->size != sizeof which || msg->from != tr_self (self))
        return 0;
    memcpy (which, msg->data, sizeof which);
    size_t index = (size_t) which[0];
    if (index >= sup->count || sup->children[index].ref != which[1])
        return 0;
    s_child_t *child = &sup->children[index];
    //  A thread actor cannot be forced off its thread; give up on it.
    tr__error ("supervisor", "child '%s' did not stop within %d ms; abandoning it", child->spec.id,
               child->spec.shutdown_ms);
    child->stop_timer = 0;
    child->ref = TR_REF_NONE;
    child->state = sup->restart_set[index] ? TR_CHILD_RESTARTING : TR_CHILD_DONE;
    s_stop_next (self, sup);
    return 0;
}

static int
s_on_restart (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_supervisor_t *sup = state;
    if (msg->from != tr_self (self))
        return 0;  //  only our own timers restart children
    uint64_t which[2];
    if (msg->size == sizeof which) {
        //  one_for_one: one child, if this timer is still its latest.
        memcpy (which, msg->data, sizeof which);
        s_child_t *child = which[0] < sup->count ? &sup->children[which[0]] : NULL;
        if (child && child->state == TR_CHILD_RESTARTING && child->restart_token == which[1]
            && sup->phase != S_GIVING_UP) {
            child->restarts++;
            s_start (self, sup, (size_t) which[0]);
        }
    }
    else if (msg->size == sizeof (uint64_t) && sup->phase == S_WAITING) {
        uint64_t token;
        memcpy (&token, msg->data, sizeof token);
        if (token == sup->group_token)
            s_start_group (self, sup);
    }
    return 0;
}

static int
s_on_start_failed (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_supervisor_t *sup = state;
    uint64_t failure[2];
    if (msg->size != sizeof failure || msg->from != tr_self (self))
        return 0;
    memcpy (failure, msg->data, sizeof failure);
    if (failure[0] < sup->count && !sup->children[failure[0]].ref)
        s_child_failed (self, sup, (size_t) failure[0], (int) (int64_t) failure[1]);
    return 0;
}

static int
s_on_children (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_supervisor_t *sup = state;
    tr_child_info_t *info = tr__calloc ((sup->count + 1) * sizeof *info);
    for (size_t i = 0; i < sup->count; i++) {
        snprintf (info[i].id, sizeof info[i].id, "%s", sup->children[i].spec.id);
        info[i].ref = sup->children[i].ref;
        info[i].state = sup->children[i].state;
        info[i].restarts = sup->children[i].restarts;
        info[i].last_reason = sup->children[i].last_reason;
    }
    tr_reply (self, msg, info, sup->count * sizeof *info);  //  a plain send: nothing to do
    tr__free (info);
    return 0;
}

static int
s_on_restarts (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_supervisor_t *sup = state;
    size_t count = sup->record_count < S_RECORDS ? sup->record_count : S_RECORDS;
    tr_restart_record_t ordered[S_RECORDS];
    for (size_t i = 0; i < count; i++)
        ordered[i] = sup->records[(sup->record_count - count + i) % S_RECORDS];
    tr_reply (self, msg, ordered, count * sizeof ordered[0]);
    return 0;
}

static const tr_handler_t s_handlers[] = {{"tr.down", s_on_down},
                                          {"tr.sup.stop_timeout", s_on_stop_timeout},
                                          {"tr.sup.restart", s_on_restart},
                                          {"tr.sup.start_failed", s_on_start_failed},
                                          {"tr.sup.children", s_on_children},
                                          {"tr.sup.restarts", s_on_restarts},
                                          {NULL, NULL}};
static const tr_behaviour_t s_behaviour = {
    .name = "tr.supervisor",
    .state_size = sizeof (s_supervisor_t),
    .init = s_init,
    .terminate = s_terminate,
    .handlers = s_handlers,
};

void
tr__supervisor_register (void)
{
    tr_behaviour_register (&s_behaviour);
    s_type_restart = tr_type ("tr.sup.restart");
    s_type_stop_timeout = tr_type ("tr.sup.stop_timeout");
    s_type_start_failed = tr_type ("tr.sup.start_failed");
    s_type_children = tr_type ("tr.sup.children");
    s_type_restarts = tr_type ("tr.sup.restarts");
}

//  --------------------------------------------------------------------------
//  Host API

static int
s_start_supervisor (tr_runtime_t *rt, const tr_supervisor_spec_t *spec, const char *name, bool root,
                    tr_ref_t *ref)
{
    if (!rt || !ref)
        return TR_EINVAL;
    *ref = TR_REF_NONE;
    char why[160];
    int rc = tr__supervisor_spec_check (spec, why, sizeof why);
    if (rc) {
        tr__error ("supervisor", "bad supervisor spec: %s", why);
        return rc;
    }
    tr__supervisor_arg_t arg = {tr__supervisor_spec_copy (spec), root};
    tr_spawn_opts_t opts = {.name = name};
    rc = tr_spawn (rt, "tr.supervisor", &arg, sizeof arg, &opts, ref);
    if (rc != 0 && rc != TR_EINIT)
        tr__supervisor_spec_free (&arg.spec);
    return rc;
}

int
tr_supervisor_start (tr_runtime_t *rt, const tr_supervisor_spec_t *spec, const char *name,
                     tr_ref_t *ref)
{
    return s_start_supervisor (rt, spec, name, false, ref);
}

int
tr_runtime_root (tr_runtime_t *rt, const tr_supervisor_spec_t *spec, tr_ref_t *ref)
{
    return s_start_supervisor (rt, spec, "tr.root", true, ref);
}

//  Ask the supervisor for `type` and copy up to max records of `size`.
static int
s_read (tr_runtime_t *rt, tr_ref_t supervisor, tr_type_t type, void *out, size_t size, size_t max,
        size_t *count)
{
    if (!count || (max && !out))
        return TR_EINVAL;
    *count = 0;
    void *reply = NULL;
    size_t reply_size = 0;
    int rc = tr_call (rt, supervisor, type, NULL, 0, 1000, &reply, &reply_size);
    if (rc == 0) {
        size_t have = reply_size / size;
        *count = have < max ? have : max;
        if (*count)
            memcpy (out, reply, *count * size);
    }
    tr_free (reply);
    return rc;
}

int
tr_supervisor_children (tr_runtime_t *rt, tr_ref_t supervisor, tr_child_info_t *info, size_t max,
                        size_t *count)
{
    return s_read (rt, supervisor, tr_type ("tr.sup.children"), info, sizeof *info, max, count);
}

int
tr_supervisor_restarts (tr_runtime_t *rt, tr_ref_t supervisor, tr_restart_record_t *records,
                        size_t max, size_t *count)
{
    return s_read (rt, supervisor, tr_type ("tr.sup.restarts"), records, sizeof *records, max,
                   count);
}
