//  sched - scheduler threads: each runs many actors from one run queue and
//  owns one inproc PULL mailbox socket; other threads reach it through PUSH
//  sockets carrying batches of message pointers
#ifndef TR_SCHED_H_INCLUDED
#define TR_SCHED_H_INCLUDED

#include "actor.h"
#include "hist.h"
#include "msg.h"
#include "timer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define TR__CHUNK_SLOTS 4096u
#define TR__MAX_CHUNKS  (TR__MAX_SLOTS / TR__CHUNK_SLOTS)

//  Frame layout on the inproc sockets: magic, count, then count pointers.
#define TR__FRAME_MAGIC 0x31425254u  //  "TRB1"
#define TR__BATCH_MAX   256u

typedef struct {
    uint32_t magic;
    uint32_t count;
} tr__frame_head_t;

//  Outgoing pointers for one destination thread, flushed once per loop
//  pass (or when full). Grows only while that thread's pipe is full.
typedef struct {
    tr__frame_head_t *frame;  //  head followed by pointers
    uint32_t count, capacity;
} tr__batch_t;

typedef struct tr_runtime tr_runtime_t;

//  ThreadSanitizer cannot see the synchronisation inside libzmq's pipes
//  (libzmq is not instrumented). The pointer handoff through them is a real
//  release/acquire; these annotations tell TSan so, on one word per
//  receiving scheduler. No code in other builds.
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
#    define TR__HANDOFF_RELEASE(sched) __tsan_release (&(sched)->handoff)
#    define TR__HANDOFF_ACQUIRE(sched) __tsan_acquire (&(sched)->handoff)
#else
#    define TR__HANDOFF_RELEASE(sched) ((void) (sched))
#    define TR__HANDOFF_ACQUIRE(sched) ((void) (sched))
#endif

//  What a scheduler thread is for. Placement by users (round-robin, a
//  plain thread number) only ever picks TR__SCHED_USER threads.
typedef enum {
    TR__SCHED_USER = 0,   //  troupe-N
    TR__SCHED_PROCS,      //  troupe-procs: the process manager
    TR__SCHED_LOOP,       //  troupe-loop-N: async I/O actors (loop.c)
    TR__SCHED_DEDICATED,  //  troupe-ded-N: one blocking actor each (loop.c)
} tr__sched_role_t;

typedef struct tr__watch tr__watch_t;

struct tr__sched {
    tr_runtime_t *rt;
    uint32_t index;
    uint8_t role;  //  tr__sched_role_t
    pthread_t thread;
    bool thread_started;
    _Atomic bool thread_exited;

    void *pull;        //  this thread's mailbox socket
    void **push;       //  [threads] to the other schedulers (NULL: self)
    tr__batch_t *out;  //  [threads]
    bool out_pending;  //  some batch could not be sent: retry

    tr_actor_t *runq_head, *runq_tail;
    tr_actor_t *current;    //  actor whose handler runs now
    uint64_t current_corr;  //  request being handled, until replied
    tr__msg_pool_t pool;

    //  Slots: chunks never move once published, so other threads can read
    //  gen/full through a ref. slot_lock guards allocation and the free list
    //  (the owner and remote spawners take it).
    pthread_mutex_t slot_lock;
    _Atomic (tr_actor_t *) *chunks;
    uint32_t slot_high;  //  next never-used index
    tr_actor_t *free_slots;
    uint32_t slots_used;         //  slots reserved or live
    uint64_t reserved_until_ns;  //  a dedicated thread handed out, not yet used
    uint64_t seq;

    tr__timers_t timers;
    uint64_t now_ns;  //  refreshed once per loop pass (virtual in testkit)
    bool virtual_time;
    uint64_t corr_next;

    //  Metrics, written by this thread only, read through NODE_STATS.
    tr__hist_t hist;
    uint64_t handled, failed, spawned, live;
    bool stopping;
    _Atomic bool stop_requested;  //  set by tr_runtime_destroy
    char handoff;                 //  TSan sync word for frames sent to this thread

    //  fd watchers of this thread's actors (loop.c), owner thread only.
    tr__watch_t *watches;
    uint32_t watch_count, watch_capacity;  //  entries (some maybe dropped)
    uint32_t watch_live;                   //  entries not dropped
    uint32_t *watch_polled;                //  entry of each fd item of the last poll
};

TR__HIDDEN tr__sched_t *tr__sched_new (tr_runtime_t *rt, uint32_t index);
//  Free the scheduler (its thread is gone). Frees what its sockets still
//  hold. Closes its sockets.
TR__HIDDEN void tr__sched_destroy (tr__sched_t **self_p);
//  Bind the PULL socket (before any thread connects to it).
TR__HIDDEN int tr__sched_bind (tr__sched_t *self);
//  Connect PUSH sockets to every other scheduler.
TR__HIDDEN int tr__sched_connect (tr__sched_t *self);
TR__HIDDEN int tr__sched_start (tr__sched_t *self);
//  The scheduler whose thread calls this, or NULL on a host thread.
TR__HIDDEN tr__sched_t *tr__sched_current (void);
//  Set the deadline (monotonic ns, 0 = none) of this host thread's sends.
TR__HIDDEN void tr__host_deadline (uint64_t deadline_ns);

//  Slot by index: for the owner, or (acquire) for other threads; NULL if
//  that chunk does not exist.
static inline tr_actor_t *
tr__sched_slot (tr__sched_t *self, uint32_t index)
{
    tr_actor_t *chunk =
        atomic_load_explicit (&self->chunks[index / TR__CHUNK_SLOTS], memory_order_acquire);
    return chunk ? &chunk[index % TR__CHUNK_SLOTS] : NULL;
}

//  Reserve a slot (any thread). Status PENDING, gen set.
TR__HIDDEN tr_actor_t *tr__sched_slot_alloc (tr__sched_t *self, uint32_t limit, uint8_t policy);
//  Give a slot back (owner thread): bumps gen so old refs go dead.
TR__HIDDEN void tr__sched_slot_release (tr__sched_t *self, tr_actor_t *actor);
//  As release, for a dead actor still in the run queue: refs go dead now,
//  the slot is freed when the scheduler pops it.
TR__HIDDEN void tr__sched_slot_retire (tr__sched_t *self, tr_actor_t *actor);

//  Send msg (ownership taken in all cases) from this scheduler thread, or
//  from a host thread when self is NULL. can_fail: a full mailbox with the
//  fail/block policy returns TR_EAGAIN (msg freed) instead of dropping.
TR__HIDDEN int tr__route (tr_runtime_t *rt, tr__sched_t *self, tr__msg_t *msg, bool can_fail);
//  Queue msg on one of this thread's actors (or handle a scheduler op).
TR__HIDDEN int tr__sched_deliver (tr__sched_t *self, tr__msg_t *msg, bool can_fail);
TR__HIDDEN void tr__sched_schedule (tr__sched_t *self, tr_actor_t *actor);
//  Run actors until the run queue is empty or budget messages ran.
TR__HIDDEN uint32_t tr__sched_run (tr__sched_t *self, uint32_t budget);
//  Fire timers due by self->now_ns.
TR__HIDDEN void tr__sched_fire_timers (tr__sched_t *self);
//  Stop every actor on this thread, newest first (shutdown).
TR__HIDDEN void tr__sched_stop_actors (tr__sched_t *self);
//  Free (and dead-letter as TR_ESHUTDOWN) whatever is still queued for this
//  thread in its socket (after every thread stopped).
TR__HIDDEN void tr__sched_drain_shutdown (tr__sched_t *self);
//  Flush outgoing batches.
TR__HIDDEN void tr__sched_flush (tr__sched_t *self);

#endif
