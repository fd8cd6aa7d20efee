//  troupe_loop.h - the node's async I/O loop threads, dedicated threads for
//  blocking actors, fd watchers and bounded concurrency
//
//  Included by troupe.h; include troupe.h (not this file) in programs.
//  docs/async.md explains how to write an actor that does async I/O.
//
//  A node has, beside its scheduler threads (troupe-0 ...):
//  - `options.loops` async loop threads (troupe-loop-N, default 1): ordinary
//    scheduler threads meant for actors that wait on file descriptors
//    (sockets to Redis, PostgreSQL, ...) through tr_watch, and never block.
//  - up to `options.dedicated_threads` dedicated threads (troupe-ded-N,
//    default 4), each meant for ONE actor that blocks in its handlers
//    (SQLite, a blocking library). A dedicated thread is started the first
//    time tr_dedicated_placement hands it out.
//  Round-robin placement and a plain tr_spawn_opts_t.thread (1 ..
//  tr_runtime_threads) never put an actor there: only the placement values
//  below do. From an actor on a loop or dedicated thread, tr_actor_spawn
//  without a placement puts the child on the scheduler threads round-robin
//  (asynchronously, as for any other thread), not on the caller's thread.

#ifndef TROUPE_LOOP_H_INCLUDED
#define TROUPE_LOOP_H_INCLUDED

#include "troupe.h"

#ifdef __cplusplus
extern "C" {
#endif

//  ---------------------------------------------------------------------
//  Placement

//  Placement value for tr_spawn_opts_t.thread / tr_child_spec_t.thread: the
//  node's async loop thread `index` (0-based). Returns > 0, or TR_EINVAL
//  (no runtime, index out of range) / TR_ENOTSUP (the node has no loop
//  thread: options.loops 0, or a test kit). The value is opaque (not a
//  thread number) and stays valid for the node's life.
TR_EXPORT int tr_loop_placement (tr_runtime_t *rt, int index);

//  Placement value for a dedicated thread not used by any live actor (one
//  blocking actor per thread). Returns > 0 or TR_ETOOMANY (every dedicated
//  thread is taken, or options.dedicated_threads is 0); TR_EINVAL without a
//  runtime, TR_ESTOPPED when it is not running.
//  The thread is reserved for 10 s or until an actor is spawned there, and
//  taken while an actor lives there; it is free again once that actor died.
//  Spawning with the same value again (a supervisor restarting its child)
//  reuses the same thread if no other actor took it meanwhile: a dedicated
//  thread never runs two actors (such a spawn fails with TR_ETOOMANY).
TR_EXPORT int tr_dedicated_placement (tr_runtime_t *rt);

//  ---------------------------------------------------------------------
//  fd watchers

//  fd watchers for actors on any scheduler thread (loop threads are where
//  they belong): fn runs on the actor's thread, as a handler does, when fd
//  is ready for `events` (TR_WATCH_READ | TR_WATCH_WRITE); revents says which
//  (plus TR_WATCH_ERROR). A watcher lasts until tr_unwatch or the actor's death.
//
//  Level-triggered: fn runs again on the next loop pass while the fd stays
//  ready, so it must read (or write) until EAGAIN or change the events.
//  TR_WATCH_ERROR means poll reported an error or a hang-up on fd; a read
//  then tells which. If fd was closed while watched, fn gets one
//  TR_WATCH_ERROR and the watcher is dropped. Inside fn, self and state are
//  the actor's; fn may call everything a handler may (tr_send, tr_reply,
//  tr_watch ..., tr_stop, tr_fail).
#define TR_WATCH_READ  0x1
#define TR_WATCH_WRITE 0x2
#define TR_WATCH_ERROR 0x4
typedef void (tr_watch_fn) (tr_actor_t *self, void *state, int fd, int revents, void *arg);

//  Watch fd (not owned: close it after tr_unwatch). Call from the actor's
//  own handler, init or callback. Returns 0, TR_EINVAL (bad fd, events not
//  a non-empty subset of READ | WRITE, fn NULL, or not on the actor's
//  thread, e.g. a host thread), TR_EEXIST (this actor already watches fd),
//  TR_ENOTSUP (a test kit or a process actor's child: no loop).
TR_EXPORT int tr_watch (tr_actor_t *self, int fd, int events, tr_watch_fn *fn, void *arg);
//  Change the events of a watcher; 0 pauses it (kept, not polled).
//  Returns 0, TR_EINVAL or TR_ENOENT (not watched by this actor).
TR_EXPORT int tr_watch_modify (tr_actor_t *self, int fd, int events);
//  Stop watching fd. fn is not called for fd after this returns, even if
//  the current loop pass saw it ready. Returns 0, TR_EINVAL or TR_ENOENT.
TR_EXPORT int tr_unwatch (tr_actor_t *self, int fd);

//  For adapters that keep self for later (they must not outlive the actor:
//  close them in terminate at the latest).
//  Whether the calling thread runs self's code right now (a handler, init,
//  terminate, a continuation or a watcher callback of self).
TR_EXPORT bool tr_in_actor (tr_actor_t *self);
//  The state pointer self's callbacks get (NULL when state_size is 0).
//  Only on self's thread.
TR_EXPORT void *tr_actor_state (tr_actor_t *self);

//  ---------------------------------------------------------------------
//  Replying later
//
//  An async handler starts the work and returns 0 without replying; it
//  keeps a copy of the request (tr_msg_t copy = *msg, by value) and calls
//  tr_reply (self, &copy, ...) or tr_reply_error from a watcher callback, a
//  continuation or a later handler. tr_reply reads only from, corr, type
//  and flags of the copy: data and size are not valid after the handler
//  returned, so copy the payload too if you need it later. A request left
//  unanswered when the actor dies is not answered by the runtime: answer
//  what you hold in terminate (tr_reply_error (self, &copy, reason)),
//  otherwise the requester times out.

//  ---------------------------------------------------------------------
//  Bounded concurrency: a counter of in-flight async operations, kept in
//  the actor's state (no lock: owner thread only).

typedef struct {
    int limit;         //  operations allowed in flight
    int in_flight;     //  operations started, not finished
    uint64_t refused;  //  tr_sem_acquire calls that returned TR_EAGAIN
} tr_sem_t;

//  Set up sem for at most limit operations (> 0). 0 or TR_EINVAL.
TR_EXPORT int tr_sem_init (tr_sem_t *sem, int limit);
//  Take one permit: 0, or TR_EAGAIN when limit operations are in flight
//  (then answer the request with tr_reply_error (self, msg, TR_EAGAIN), or
//  keep it and start it after a release). TR_EINVAL for NULL.
TR_EXPORT int tr_sem_acquire (tr_sem_t *sem);
//  Give one permit back (when an operation finished, whatever its result).
TR_EXPORT void tr_sem_release (tr_sem_t *sem);

#ifdef __cplusplus
}
#endif

#endif
