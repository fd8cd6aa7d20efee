//  loop - fd watchers on the scheduler threads' poll loop, and placement on
//  the async loop threads and the dedicated threads
#ifndef TR_LOOP_H_INCLUDED
#define TR_LOOP_H_INCLUDED

#include "sched.h"

#include <zmq.h>

//  Placement values handed out by tr_loop_placement / tr_dedicated_placement:
//  far above any thread number, so no plain tr_spawn_opts_t.thread is one.
#define TR__PLACE_LOOP      0x10000
#define TR__PLACE_DEDICATED 0x20000
#define TR__PLACE_MAX_INDEX 0x0ffff

//  How long a dedicated thread handed out stays reserved for its spawn.
#define TR__DEDICATED_RESERVE_NS (10ULL * 1000000000ULL)

//  One fd watched by one actor.
struct tr__watch {
    int fd;
    uint8_t events;  //  TR_WATCH_READ | TR_WATCH_WRITE; 0 = paused
    bool dropped;    //  unwatched or its actor died: removed at the next poll
    tr_actor_t *actor;
    tr_watch_fn *fn;
    void *arg;
};

//  The scheduler thread of a placement value: 0 and *thread, 1 for the
//  default placement (0 or -1), or TR_EINVAL (no such thread, a dedicated
//  thread never handed out, the process manager).
TR__HIDDEN int tr__placement_thread (tr_runtime_t *rt, int placement, uint32_t *thread);
//  Fill items with the watchers to poll (at most sched->watch_count);
//  returns how many. Removes dropped entries first.
TR__HIDDEN int tr__watch_items (tr__sched_t *sched, zmq_pollitem_t *items);
//  Run the callbacks of the watchers those items found ready.
TR__HIDDEN void tr__watch_ready (tr__sched_t *sched, const zmq_pollitem_t *items, int count);
//  Drop every watcher of actor (it is dying).
TR__HIDDEN void tr__watch_drop_actor (tr__sched_t *sched, tr_actor_t *actor);
//  Free the watcher table (the thread is gone).
TR__HIDDEN void tr__watch_clear (tr__sched_t *sched);

#endif
