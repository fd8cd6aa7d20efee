//  lifeline - an early notice of a process actor's death. Each C child
//  holds a robust, process-shared mutex in memory it shares with its node;
//  the kernel marks that mutex owner-dead and wakes a waiter as soon as the
//  child's main thread exits, before the rest of the process is torn down.
//  A pidfd only becomes readable after every thread has exited and the
//  address space is gone: on a 2-vCPU VM, 300-600 µs after a SIGKILL for a
//  child with libzmq's two threads, against about 100 µs for the lifeline.
//  The pidfd (and the zygote's report) stay: the lifeline is only earlier.
#ifndef TR_LIFELINE_H_INCLUDED
#define TR_LIFELINE_H_INCLUDED

#include "alloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tr__lifeline tr__lifeline_t;

//  Slots in a node (children holding a lifeline at once; more children
//  still work, seen by their pidfd only).
#define TR__LIFELINE_SLOTS 1024

//  Map the shared slots. Before the zygote is forked (it and every child
//  inherit the mapping at the same address). NULL on failure.
TR__HIDDEN tr__lifeline_t *tr__lifeline_new (void);
//  Stop the watcher and unmap. NULL-safe.
TR__HIDDEN void tr__lifeline_destroy (tr__lifeline_t **self_p);
//  An eventfd, readable when a lifeline was cut; -1 when lifelines are off.
TR__HIDDEN int tr__lifeline_fd (tr__lifeline_t *self);

//  Manager thread only. A slot for a new child (its mutex made fresh), or
//  -1 when none is free or lifelines are off (no futex_waitv in this
//  kernel). The first call starts the watcher thread. Its address for the
//  child.
TR__HIDDEN int tr__lifeline_take (tr__lifeline_t *self);
TR__HIDDEN uint64_t tr__lifeline_address (tr__lifeline_t *self, int slot);
//  The child pid said hello: watch its slot. False (not watched) when the
//  slot is not held by pid's main thread.
TR__HIDDEN bool tr__lifeline_arm (tr__lifeline_t *self, int slot, pid_t pid);
//  True once the watcher saw the armed slot's holder end.
TR__HIDDEN bool tr__lifeline_cut (tr__lifeline_t *self, int slot);
//  Read the eventfd (after it polled readable).
TR__HIDDEN void tr__lifeline_drain (tr__lifeline_t *self);
//  The child is forgotten: stop watching; the slot is taken again only
//  once its holder is gone.
TR__HIDDEN void tr__lifeline_release (tr__lifeline_t *self, int slot);

//  In the child, first thing: hold the slot at address for life. False
//  when it could not (the node then relies on the pidfd).
TR__HIDDEN bool tr__lifeline_hold (uint64_t address);

#endif
