//  timer - per-scheduler timer heap: send-after, periodic sends and request
//  deadlines; owned by one scheduler thread, cancelled lazily
#include "timer.h"
#include "troupe.h"

#include <string.h>

void
tr__timers_init (tr__timers_t *self)
{
    memset (self, 0, sizeof *self);
}

void
tr__timers_clear (tr__timers_t *self)
{
    for (uint32_t i = 0; i < self->record_count; i++)
        if (self->records[i].in_use && self->records[i].proto)
            tr__msg_free (NULL, self->records[i].proto);
    tr__free (self->records);
    tr__free (self->free_records);
    tr__free (self->heap);
    tr__timers_init (self);
}

static bool
s_earlier (tr__timers_t *self, uint32_t a, uint32_t b)
{
    return self->records[self->heap[a]].due_ns < self->records[self->heap[b]].due_ns;
}

static void
s_swap (tr__timers_t *self, uint32_t a, uint32_t b)
{
    uint32_t tmp = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = tmp;
}

static void
s_heap_push (tr__timers_t *self, uint32_t record)
{
    if (self->heap_count == self->heap_capacity) {
        self->heap_capacity = self->heap_capacity ? self->heap_capacity * 2 : 64;
        self->heap = tr__realloc (self->heap, self->heap_capacity * sizeof (uint32_t));
    }
    uint32_t at = self->heap_count++;
    self->heap[at] = record;
    while (at > 0 && s_earlier (self, at, (at - 1) / 2)) {
        s_swap (self, at, (at - 1) / 2);
        at = (at - 1) / 2;
    }
}

static uint32_t
s_heap_pop (tr__timers_t *self)
{
    uint32_t top = self->heap[0];
    self->heap[0] = self->heap[--self->heap_count];
    uint32_t at = 0;
    while (true) {
        uint32_t left = 2 * at + 1, right = left + 1, best = at;
        if (left < self->heap_count && s_earlier (self, left, best))
            best = left;
        if (right < self->heap_count && s_earlier (self, right, best))
            best = right;
        if (best == at)
            break;
        s_swap (self, at, best);
        at = best;
    }
    return top;
}

uint64_t
tr__timers_add (tr__timers_t *self, tr__timer_kind_t kind, uint64_t due_ns, uint64_t period_ns,
                tr_ref_t owner, uint64_t corr, tr__msg_t *proto)
{
    uint32_t index;
    if (self->free_count)
        index = self->free_records[--self->free_count];
    else {
        if (self->record_count == self->record_capacity) {
            self->record_capacity = self->record_capacity ? self->record_capacity * 2 : 64;
            self->records =
                tr__realloc (self->records, self->record_capacity * sizeof (tr__timer_t));
            self->free_records =
                tr__realloc (self->free_records, self->record_capacity * sizeof (uint32_t));
        }
        index = self->record_count++;
        self->records[index].gen = 1;
    }
    tr__timer_t *timer = &self->records[index];
    timer->due_ns = due_ns;
    timer->period_ns = period_ns;
    timer->kind = (uint8_t) kind;
    timer->live = true;
    timer->in_use = true;
    timer->owner = owner;
    timer->corr = corr;
    timer->proto = proto;
    s_heap_push (self, index);
    return ((uint64_t) timer->gen << 32) | (index + 1);
}

int
tr__timers_cancel (tr__timers_t *self, uint64_t id, tr_ref_t owner)
{
    uint32_t index = (uint32_t) id - 1;
    if ((uint32_t) id == 0 || index >= self->record_count)
        return TR_ENOENT;
    tr__timer_t *timer = &self->records[index];
    if (!timer->in_use || !timer->live || timer->gen != (uint32_t) (id >> 32)
        || timer->owner != owner)
        return TR_ENOENT;
    //  The heap entry stays until it comes due; only the payload goes now.
    timer->live = false;
    if (timer->proto) {
        tr__msg_free (NULL, timer->proto);
        timer->proto = NULL;
    }
    return 0;
}

void
tr__timers_release (tr__timers_t *self, tr__timer_t *timer)
{
    if (timer->proto)
        tr__msg_free (NULL, timer->proto);
    timer->proto = NULL;
    timer->in_use = false;
    timer->live = false;
    timer->gen++;
    self->free_records[self->free_count++] = (uint32_t) (timer - self->records);
}

bool
tr__timers_next (tr__timers_t *self, uint64_t *due_ns)
{
    //  Drop cancelled timers at the top so they do not cause early wake-ups.
    while (self->heap_count && !self->records[self->heap[0]].live)
        tr__timers_release (self, &self->records[s_heap_pop (self)]);
    if (!self->heap_count)
        return false;
    *due_ns = self->records[self->heap[0]].due_ns;
    return true;
}

tr__timer_t *
tr__timers_pop_due (tr__timers_t *self, uint64_t now_ns)
{
    uint64_t due;
    if (!tr__timers_next (self, &due) || due > now_ns)
        return NULL;
    return &self->records[s_heap_pop (self)];
}

void
tr__timers_rearm (tr__timers_t *self, tr__timer_t *timer, uint64_t now_ns)
{
    //  Keep the period's phase, but never fire a backlog of missed periods.
    timer->due_ns += timer->period_ns;
    if (timer->due_ns <= now_ns)
        timer->due_ns = now_ns + timer->period_ns;
    s_heap_push (self, (uint32_t) (timer - self->records));
}
