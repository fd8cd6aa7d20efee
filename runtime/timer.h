//  timer - per-scheduler timer heap: send-after, periodic sends and request
//  deadlines; owned by one scheduler thread, cancelled lazily
#ifndef TR_TIMER_H_INCLUDED
#define TR_TIMER_H_INCLUDED

#include "msg.h"

#include <stdbool.h>

typedef enum { TR__TIMER_SEND = 1, TR__TIMER_REQUEST } tr__timer_kind_t;

typedef struct {
    uint64_t due_ns;
    uint64_t period_ns;  //  0 = once
    uint32_t gen;        //  bumped on free: stale ids miss
    uint8_t kind;
    bool live;  //  false once cancelled (record freed when popped)
    bool in_use;
    tr_ref_t owner;    //  the actor that owns it
    uint64_t corr;     //  TR__TIMER_REQUEST: the pending request
    tr__msg_t *proto;  //  TR__TIMER_SEND: copied on every fire
} tr__timer_t;

typedef struct {
    tr__timer_t *records;
    uint32_t record_count, record_capacity;
    uint32_t *free_records;
    uint32_t free_count;
    uint32_t *heap;  //  record indices, earliest due first
    uint32_t heap_count, heap_capacity;
} tr__timers_t;

TR__HIDDEN void tr__timers_init (tr__timers_t *self);
//  Free every record (their prototype messages too).
TR__HIDDEN void tr__timers_clear (tr__timers_t *self);
//  Add a timer; takes proto. Returns its id (never 0).
TR__HIDDEN uint64_t tr__timers_add (tr__timers_t *self, tr__timer_kind_t kind, uint64_t due_ns,
                                    uint64_t period_ns, tr_ref_t owner, uint64_t corr,
                                    tr__msg_t *proto);
//  Cancel id if owner owns it: 0, or TR_ENOENT.
TR__HIDDEN int tr__timers_cancel (tr__timers_t *self, uint64_t id, tr_ref_t owner);
//  Earliest due time of a live timer: true and *due_ns when there is one.
TR__HIDDEN bool tr__timers_next (tr__timers_t *self, uint64_t *due_ns);
//  Pop one timer due at or before now: its record, or NULL. Cancelled
//  records are freed on the way. The caller hands the record back with
//  tr__timers_rearm (periodic) or tr__timers_release.
TR__HIDDEN tr__timer_t *tr__timers_pop_due (tr__timers_t *self, uint64_t now_ns);
TR__HIDDEN void tr__timers_rearm (tr__timers_t *self, tr__timer_t *timer, uint64_t now_ns);
TR__HIDDEN void tr__timers_release (tr__timers_t *self, tr__timer_t *timer);

#endif
