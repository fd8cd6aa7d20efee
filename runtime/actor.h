//  actor - actor slots: spawn, mailbox, dispatch, exit, links and monitors
#ifndef TR_ACTOR_H_INCLUDED
#define TR_ACTOR_H_INCLUDED

#include "hist.h"
#include "msg.h"
#include "registry.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef struct tr__sched tr__sched_t;

typedef enum {
    TR__ACTOR_FREE = 0,
    TR__ACTOR_PENDING,  //  slot reserved, init not run yet (remote spawn)
    TR__ACTOR_LIVE,
    TR__ACTOR_EXITING
} tr__actor_status_t;

//  Values of the shared `full` hint other threads read before sending.
#define TR__FULL_NO       0
#define TR__FULL_REJECT   1  //  policy fail: senders get TR_EAGAIN
#define TR__FULL_BLOCK    2  //  policy block: host senders wait
#define TR__FULL_DROPPING 3  //  drop policies: senders go on, the owner drops

#define TR__ACTOR_IN_RUNQ   0x01u
#define TR__ACTOR_TRAP_EXIT 0x02u
#define TR__ACTOR_STOPPING  0x04u  //  exit after the current handler
#define TR__ACTOR_INIT_DONE 0x08u
#define TR__ACTOR_RETIRED   0x10u  //  dead, slot freed when popped off the run queue
#define TR__ACTOR_WATCHING  0x20u  //  has had fd watchers (loop.c)

typedef struct {
    uint64_t corr;
    tr_reply_fn *fn;
    void *arg;
    uint64_t timer_id;
} tr__pending_t;

//  Rarely used parts of an actor, allocated on first use so that an idle
//  actor stays small.
typedef struct {
    tr_ref_t *monitors;  //  actors that get DOWN when this one dies
    uint32_t monitor_count, monitor_capacity;
    tr_ref_t *links;
    uint32_t link_count, link_capacity;
    //  This actor's requests awaiting replies: open addressing by corr (0 =
    //  empty slot), capacity a power of two, at most half full.
    tr__pending_t *pending;
    uint32_t pending_count, pending_capacity;
} tr__actor_ext_t;

//  One actor slot. Owned by its scheduler thread; other threads read only
//  the atomics gen and full.
struct tr_actor {
    _Atomic uint32_t gen;
    _Atomic uint8_t full;
    uint8_t status;
    uint8_t policy;
    uint8_t flags;
    uint32_t index;
    uint32_t depth;
    uint32_t limit;
    int exit_reason;
    const tr__behaviour_t *behaviour;
    void *state;
    tr__msg_t *head, *tail;  //  mailbox
    tr_actor_t *next;        //  run queue link, or free list link
    tr__sched_t *sched;
    tr__actor_ext_t *ext;
    tr__hist_t *hist;  //  handler latency in ticks, on first message
    uint64_t seq;      //  spawn order on this thread
    uint64_t received, handled, failed, dropped;
};

static inline tr_ref_t
tr__actor_ref (const tr_actor_t *self, uint32_t thread)
{
    return tr__ref_make (thread, self->index,
                         atomic_load_explicit (&self->gen, memory_order_relaxed));
}

TR__HIDDEN tr__actor_ext_t *tr__actor_ext (tr_actor_t *self);
//  Add monitor to the actors that get DOWN when self ends.
TR__HIDDEN void tr__actor_watch (tr_actor_t *self, tr_ref_t monitor);

//  Initialise a reserved slot and run init. Returns 0 or TR_EINIT (the
//  slot is then released). *alive is false when the actor already ended
//  (init failed, or stopped in init): its slot must not be touched again.
TR__HIDDEN int tr__actor_start (tr__sched_t *sched, tr_actor_t *actor,
                                const tr__behaviour_t *behaviour, const void *arg, size_t arg_size,
                                bool *alive);
//  Run up to budget messages of actor; requeue it if mail is left. Returns
//  how many ran. The slot may be free (and reused) afterwards.
TR__HIDDEN uint32_t tr__actor_run (tr__sched_t *sched, tr_actor_t *actor, uint32_t budget);
//  Stop actor now with reason: terminate, drain the mailbox, notify
//  monitors and links, free the slot. Not from inside its own handler.
TR__HIDDEN void tr__actor_exit (tr__sched_t *sched, tr_actor_t *actor, int reason);
//  Pending requests: add one (corr != 0); find one (NULL if none); take one
//  out (true and *entry when it was there).
TR__HIDDEN void tr__pending_put (tr__actor_ext_t *ext, const tr__pending_t *entry);
TR__HIDDEN tr__pending_t *tr__pending_find (tr__actor_ext_t *ext, uint64_t corr);
TR__HIDDEN bool tr__pending_take (tr__actor_ext_t *ext, uint64_t corr, tr__pending_t *entry);
//  Resolve a pending request of actor with a reply (msg) or an error (rc).
TR__HIDDEN void tr__actor_complete (tr__sched_t *sched, tr_actor_t *actor, uint64_t corr, int rc,
                                    const tr__msg_t *reply);

#endif
