//  loop - fd watchers on the scheduler threads' poll loop, and placement on
//  the async loop threads and the dedicated threads
#include "loop.h"
#include "actor.h"
#include "clock.h"
#include "log.h"
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>

//  --------------------------------------------------------------------------
//  Placement

int
tr_loop_placement (tr_runtime_t *rt, int index)
{
    if (!rt)
        return TR_EINVAL;
    if (rt->loops == 0)
        return TR_ENOTSUP;
    if (index < 0 || (uint32_t) index >= rt->loops)
        return TR_EINVAL;
    return TR__PLACE_LOOP + index;
}

//  Whether dedicated thread `which` has been started (handed out once).
static bool
s_dedicated_started (tr_runtime_t *rt, uint32_t which)
{
    pthread_mutex_lock (&rt->dedicated_lock);
    bool started = rt->scheds[rt->dedicated_base + which]->thread_started;
    pthread_mutex_unlock (&rt->dedicated_lock);
    return started;
}

int
tr_dedicated_placement (tr_runtime_t *rt)
{
    if (!rt)
        return TR_EINVAL;
    if (rt->dedicated == 0)
        return TR_ETOOMANY;
    //  The lock orders a thread start against tr_runtime_destroy reading
    //  which threads to join: a stopping runtime starts none.
    pthread_mutex_lock (&rt->dedicated_lock);
    if (!tr__running (rt)) {
        pthread_mutex_unlock (&rt->dedicated_lock);
        return TR_ESTOPPED;
    }
    uint64_t now = tr__now_ns ();
    int rc = TR_ETOOMANY;
    for (uint32_t which = 0; which < rt->dedicated && rc == TR_ETOOMANY; which++) {
        tr__sched_t *sched = rt->scheds[rt->dedicated_base + which];
        //  Free: no slot in use (a spawn reserves its slot before it
        //  returns) and not handed out to a spawn still to come.
        pthread_mutex_lock (&sched->slot_lock);
        bool free = sched->slots_used == 0 && sched->reserved_until_ns <= now;
        if (free)
            sched->reserved_until_ns = now + TR__DEDICATED_RESERVE_NS;
        pthread_mutex_unlock (&sched->slot_lock);
        if (!free)
            continue;
        if (!sched->thread_started && tr__sched_start (sched) != 0) {
            tr__error ("loop", "cannot start dedicated thread %u", which);
            pthread_mutex_lock (&sched->slot_lock);
            sched->reserved_until_ns = 0;
            pthread_mutex_unlock (&sched->slot_lock);
            rc = TR_ESTOPPED;
            break;
        }
        rc = TR__PLACE_DEDICATED + (int) which;
    }
    pthread_mutex_unlock (&rt->dedicated_lock);
    return rc;
}

int
tr__placement_thread (tr_runtime_t *rt, int placement, uint32_t *thread)
{
    if (placement == 0 || placement == -1)
        return 1;
    if (placement > 0 && placement <= (int) rt->threads) {
        *thread = (uint32_t) placement - 1;
        return 0;
    }
    if (placement >= TR__PLACE_LOOP && placement <= TR__PLACE_LOOP + TR__PLACE_MAX_INDEX) {
        uint32_t which = (uint32_t) (placement - TR__PLACE_LOOP);
        if (which >= rt->loops)
            return TR_EINVAL;
        *thread = rt->loop_base + which;
        return 0;
    }
    if (placement >= TR__PLACE_DEDICATED
        && placement <= TR__PLACE_DEDICATED + TR__PLACE_MAX_INDEX) {
        uint32_t which = (uint32_t) (placement - TR__PLACE_DEDICATED);
        //  Only a thread tr_dedicated_placement handed out (so started).
        if (which >= rt->dedicated || !s_dedicated_started (rt, which))
            return TR_EINVAL;
        *thread = rt->dedicated_base + which;
        return 0;
    }
    return TR_EINVAL;
}

//  --------------------------------------------------------------------------
//  Watchers: a table per scheduler thread, touched only by that thread.
//  Entries are appended; a dropped entry stays (marked) until the next poll
//  is built, so indices stay valid while callbacks run.

//  The entry of actor's watcher on fd, or -1.
static int64_t
s_find (tr__sched_t *sched, tr_actor_t *actor, int fd)
{
    for (uint32_t at = 0; at < sched->watch_count; at++) {
        tr__watch_t *watch = &sched->watches[at];
        if (!watch->dropped && watch->actor == actor && watch->fd == fd)
            return at;
    }
    return -1;
}

static void
s_drop (tr__sched_t *sched, tr__watch_t *watch)
{
    if (!watch->dropped) {
        watch->dropped = true;
        sched->watch_live--;
    }
}

//  Checks common to the three calls: the caller runs self's code on its
//  own thread. Returns 0, TR_EINVAL or TR_ENOTSUP.
static int
s_check_caller (tr_actor_t *self)
{
    if (!self)
        return TR_EINVAL;
    tr__sched_t *sched = self->sched;
    if (sched->rt->testkit || sched->rt->bridge)
        return TR_ENOTSUP;  //  driven by a caller: no poll loop
    //  Only self's thread may read self: a host thread holding the pointer
    //  is refused before anything else is read.
    if (tr__sched_current () != sched || sched->current != self)
        return TR_EINVAL;
    return 0;
}

bool
tr_in_actor (tr_actor_t *self)
{
    return self && tr__sched_current () == self->sched && self->sched->current == self;
}

void *
tr_actor_state (tr_actor_t *self)
{
    return self ? self->state : NULL;
}

int
tr_watch (tr_actor_t *self, int fd, int events, tr_watch_fn *fn, void *arg)
{
    int rc = s_check_caller (self);
    if (rc)
        return rc;
    if (fd < 0 || !fn || events == 0 || (events & ~(TR_WATCH_READ | TR_WATCH_WRITE)))
        return TR_EINVAL;
    if (fcntl (fd, F_GETFD) < 0)
        return TR_EINVAL;  //  not an open fd
    tr__sched_t *sched = self->sched;
    if (s_find (sched, self, fd) >= 0)
        return TR_EEXIST;
    if (sched->watch_count == sched->watch_capacity) {
        sched->watch_capacity = sched->watch_capacity ? sched->watch_capacity * 2 : 16;
        sched->watches = tr__realloc (sched->watches, sched->watch_capacity * sizeof (tr__watch_t));
        sched->watch_polled =
            tr__realloc (sched->watch_polled, sched->watch_capacity * sizeof (uint32_t));
    }
    sched->watches[sched->watch_count++] =
        (tr__watch_t){fd, (uint8_t) events, false, self, fn, arg};
    sched->watch_live++;
    self->flags |= TR__ACTOR_WATCHING;
    return 0;
}

int
tr_watch_modify (tr_actor_t *self, int fd, int events)
{
    int rc = s_check_caller (self);
    if (rc)
        return rc;
    if (events & ~(TR_WATCH_READ | TR_WATCH_WRITE))
        return TR_EINVAL;
    int64_t at = s_find (self->sched, self, fd);
    if (at < 0)
        return TR_ENOENT;
    self->sched->watches[at].events = (uint8_t) events;
    return 0;
}

int
tr_unwatch (tr_actor_t *self, int fd)
{
    int rc = s_check_caller (self);
    if (rc)
        return rc;
    int64_t at = s_find (self->sched, self, fd);
    if (at < 0)
        return TR_ENOENT;
    s_drop (self->sched, &self->sched->watches[at]);
    return 0;
}

void
tr__watch_drop_actor (tr__sched_t *sched, tr_actor_t *actor)
{
    for (uint32_t at = 0; at < sched->watch_count; at++)
        if (sched->watches[at].actor == actor)
            s_drop (sched, &sched->watches[at]);
}

int
tr__watch_items (tr__sched_t *sched, zmq_pollitem_t *items)
{
    //  Compact: no callback runs now, so entries may move.
    uint32_t kept = 0;
    for (uint32_t at = 0; at < sched->watch_count; at++)
        if (!sched->watches[at].dropped)
            sched->watches[kept++] = sched->watches[at];
    sched->watch_count = kept;
    int count = 0;
    for (uint32_t at = 0; at < sched->watch_count; at++) {
        const tr__watch_t *watch = &sched->watches[at];
        if (!watch->events)
            continue;  //  paused
        short events = (short) (((watch->events & TR_WATCH_READ) ? ZMQ_POLLIN : 0)
                                | ((watch->events & TR_WATCH_WRITE) ? ZMQ_POLLOUT : 0));
        items[count] = (zmq_pollitem_t){NULL, watch->fd, events, 0};
        sched->watch_polled[count++] = at;
    }
    return count;
}

void
tr__watch_ready (tr__sched_t *sched, const zmq_pollitem_t *items, int count)
{
    for (int item = 0; item < count; item++) {
        if (!items[item].revents)
            continue;
        //  Callbacks may add entries (the table may move) or drop them, so
        //  re-read the entry by index each time; entries do not move here.
        tr__watch_t *watch = &sched->watches[sched->watch_polled[item]];
        if (watch->dropped)
            continue;
        int revents = 0;
        if (items[item].revents & ZMQ_POLLIN)
            revents |= TR_WATCH_READ;
        if (items[item].revents & ZMQ_POLLOUT)
            revents |= TR_WATCH_WRITE;
        if (items[item].revents & ZMQ_POLLERR)
            revents |= TR_WATCH_ERROR;
        //  An earlier callback of this pass may have changed the events.
        revents &= watch->events | TR_WATCH_ERROR;
        tr_actor_t *actor = watch->actor;
        if (!revents || actor->status != TR__ACTOR_LIVE || (actor->flags & TR__ACTOR_STOPPING))
            continue;
        tr_watch_fn *fn = watch->fn;
        void *arg = watch->arg;
        int fd = watch->fd;
        //  libzmq reports POLLNVAL as an error: an fd closed while watched
        //  would report it on every pass. Say so once and drop it.
        if ((revents & TR_WATCH_ERROR) && fcntl (fd, F_GETFD) < 0 && errno == EBADF) {
            tr__warn ("loop", "fd %d was closed while watched: watcher dropped", fd);
            s_drop (sched, watch);
            revents = TR_WATCH_ERROR;
        }
        //  As a handler: the actor is current, and a stop or failure it
        //  asks for takes effect when the callback returns.
        sched->current = actor;
        sched->current_corr = 0;
        fn (actor, actor->state, fd, revents, arg);
        sched->current = NULL;
        if (actor->flags & TR__ACTOR_STOPPING)
            tr__actor_exit (sched, actor, actor->exit_reason);
    }
}

void
tr__watch_clear (tr__sched_t *sched)
{
    tr__free (sched->watches);
    tr__free (sched->watch_polled);
    sched->watches = NULL;
    sched->watch_polled = NULL;
    sched->watch_count = sched->watch_capacity = sched->watch_live = 0;
}

//  --------------------------------------------------------------------------
//  Bounded concurrency

int
tr_sem_init (tr_sem_t *sem, int limit)
{
    if (!sem || limit <= 0)
        return TR_EINVAL;
    sem->limit = limit;
    sem->in_flight = 0;
    sem->refused = 0;
    return 0;
}

int
tr_sem_acquire (tr_sem_t *sem)
{
    if (!sem)
        return TR_EINVAL;
    if (sem->in_flight >= sem->limit) {
        sem->refused++;
        return TR_EAGAIN;
    }
    sem->in_flight++;
    return 0;
}

void
tr_sem_release (tr_sem_t *sem)
{
    if (sem && sem->in_flight > 0)
        sem->in_flight--;
}
