//  sched_stop - how a scheduler thread ends: its actors stop newest first,
//  and the frames still in its mailbox become counted dead letters
#include "actor.h"
#include "runtime.h"
#include "sched.h"

#include <stdlib.h>
#include <zmq.h>

static int
s_newest_first (const void *a, const void *b)
{
    uint64_t x = (*(tr_actor_t *const *) a)->seq, y = (*(tr_actor_t *const *) b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

void
tr__sched_stop_actors (tr__sched_t *self)
{
    //  Newest first: gather the live actors and sort by spawn order.
    //  Empty the run queue first: exits must not find themselves queued.
    while (self->runq_head) {
        tr_actor_t *queued = self->runq_head;
        self->runq_head = queued->next;
        queued->flags &= (uint8_t) ~(TR__ACTOR_IN_RUNQ | TR__ACTOR_RETIRED);
    }
    self->runq_tail = NULL;
    size_t count = 0, capacity = 64;
    tr_actor_t **live = tr__alloc (capacity * sizeof *live);
    pthread_mutex_lock (&self->slot_lock);
    for (uint32_t index = 1; index < self->slot_high; index++) {
        tr_actor_t *actor = tr__sched_slot (self, index);
        if (actor->status == TR__ACTOR_LIVE || actor->status == TR__ACTOR_PENDING) {
            if (count == capacity) {
                capacity *= 2;
                live = tr__realloc (live, capacity * sizeof *live);
            }
            live[count++] = actor;
        }
    }
    pthread_mutex_unlock (&self->slot_lock);
    qsort (live, count, sizeof *live, s_newest_first);
    for (size_t i = 0; i < count; i++)
        tr__actor_exit (self, live[i], TR_ESHUTDOWN);
    tr__free (live);
    self->runq_head = self->runq_tail = NULL;
}

void
tr__sched_drain_shutdown (tr__sched_t *self)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (self->pull && zmq_msg_recv (&frame, self->pull, ZMQ_DONTWAIT) >= 0) {
        TR__HANDOFF_ACQUIRE (self);
        size_t size = zmq_msg_size (&frame);
        const tr__frame_head_t *head = zmq_msg_data (&frame);
        if (size < sizeof *head || head->magic != TR__FRAME_MAGIC
            || size != sizeof *head + head->count * sizeof (tr__msg_t *))
            continue;
        tr__msg_t *const *items = (tr__msg_t *const *) (head + 1);
        for (uint32_t i = 0; i < head->count; i++) {
            tr__dead_letter_counted (self->rt, TR_ESHUTDOWN);
            tr__msg_free (NULL, items[i]);
        }
    }
    zmq_msg_close (&frame);
}
