//  runtime - one node: options, scheduler threads, host API (send, call,
//  spawn), names, dead letters and host waiters
#ifndef TR_RUNTIME_H_INCLUDED
#define TR_RUNTIME_H_INCLUDED

#include "msg.h"
#include "sched.h"
#include "strmap.h"

#include <pthread.h>
#include <stdatomic.h>

typedef enum { TR__RT_NEW = 0, TR__RT_RUNNING, TR__RT_STOPPING } tr__rt_state_t;

//  A host thread blocked in tr_call / tr_spawn / a stats read.
typedef struct {
    uint32_t gen;
    bool in_use;
    bool done;
    tr__msg_t *reply;
    pthread_cond_t cond;
} tr__waiter_t;

#define TR__MAX_WAITERS 65536u

//  Dead-letter reasons get a counter each; the last counts the rest.
#define TR__DL_REASONS 10

struct tr_runtime {
    tr_options_t options;
    char *name;
    void *zmq_context;
    uint32_t threads;      //  scheduler threads that run actors placed by users
    uint32_t sched_count;  //  threads + the process manager, when there is one
    tr__sched_t **scheds;
    _Atomic int state;
    bool testkit;  //  driven by the calling thread, no threads
    //  In a process actor: messages to TR__REF_REMOTE refs go to the parent.
    void (*bridge) (tr_runtime_t *rt, tr__msg_t *msg);
    void *bridge_arg;
    //  In a process actor: a one-way message from the node (corr) has been
    //  handled, so the node may forget it.
    void (*handled) (tr_runtime_t *rt, uint64_t corr);
    //  The process manager (zygote, ROUTER), or NULL without process actors.
    //  Its scheduler is scheds[threads].
    struct tr__procs *procs;
    //  Async loop threads are scheds[loop_base, loop_base + loops),
    //  dedicated threads scheds[dedicated_base, dedicated_base + dedicated):
    //  after the user threads and the process manager (loop.c).
    uint32_t loops, loop_base;
    uint32_t dedicated, dedicated_base;
    //  Taken to hand out and start dedicated threads (any thread), and by
    //  tr_runtime_destroy to read which ones were started.
    pthread_mutex_t dedicated_lock;

    //  Host threads reach scheduler i through host_push[i] under host_lock[i].
    void **host_push;
    pthread_mutex_t *host_lock;
    _Atomic uint32_t next_thread;

    pthread_mutex_t waiter_lock;
    tr__waiter_t **waiters;
    uint32_t waiter_count;  //  allocated entries
    uint32_t *free_waiters;
    uint32_t free_waiter_count;
    _Atomic uint64_t next_corr;

    pthread_mutex_t name_lock;
    tr__strmap_t *names;

    //  Host senders waiting on a TR_OVERFLOW_BLOCK mailbox.
    pthread_mutex_t space_lock;
    pthread_cond_t space_cond;

    _Atomic tr_ref_t dead_letter_ref;   //  the dead-letter actor
    _Atomic tr_ref_t dead_letter_sink;  //  user's sink, or 0
    _Atomic uint64_t dead_letters[TR__DL_REASONS];
    _Atomic uint64_t late_replies;
    _Atomic uint64_t malformed_frames;
    _Atomic uint64_t actors_spawned;

    //  Set once when the root supervisor gives up; tr_runtime_wait reads it.
    pthread_mutex_t exit_lock;
    pthread_cond_t exit_cond;
    int exit_status;  //  -1 while running
};

//  Record the node's exit status (first call wins) and wake tr_runtime_wait.
TR__HIDDEN void tr__runtime_exit (tr_runtime_t *rt, int status);

//  Count msg as undeliverable for reason and deal with it: a request gets
//  an error reply, a monitor or link request gets DOWN / exit, anything
//  else becomes a dead letter. Takes msg. sched may be NULL (host thread).
TR__HIDDEN void tr__undeliverable (tr_runtime_t *rt, tr__sched_t *sched, tr__msg_t *msg,
                                   int reason);
//  Count one dead letter for reason without a message (shutdown drops).
TR__HIDDEN void tr__dead_letter_counted (tr_runtime_t *rt, int reason);
//  Send a runtime notice from `from`: a system operation (sys != 0) or a
//  user type that no bound drops (DOWN, EXIT). sched may be NULL.
TR__HIDDEN void tr__notice (tr_runtime_t *rt, tr__sched_t *sched, tr_ref_t to, tr_ref_t from,
                            tr_type_t type, uint16_t sys, uint64_t corr, const void *data,
                            size_t size);
//  Dead-letter msg (takes it).
TR__HIDDEN void tr__dead_letter (tr_runtime_t *rt, tr__sched_t *sched, tr__msg_t *msg, int reason);
//  Send an error reply with code to a request's sender.
TR__HIDDEN void tr__reply_error_to (tr_runtime_t *rt, tr__sched_t *sched, tr_ref_t to,
                                    uint64_t corr, int code);
//  Hand a message addressed to a host waiter to it (takes msg).
TR__HIDDEN void tr__waiter_deliver (tr_runtime_t *rt, tr__sched_t *sched, tr__msg_t *msg);
//  Whether the runtime is running (accepts host calls).
TR__HIDDEN bool tr__running (tr_runtime_t *rt);
//  Send msg (takes it) from a new host waiter and wait up to timeout_ms for
//  the answer: 0 and *reply (free it with tr__msg_free), or an error code.
TR__HIDDEN int tr__host_request (tr_runtime_t *rt, tr__msg_t *msg, int timeout_ms,
                                 tr__msg_t **reply);
//  The request/reply of tr_call for a message already built (takes msg).
TR__HIDDEN int tr__call_msg (tr_runtime_t *rt, tr__msg_t *msg, int timeout_ms, void **reply,
                             size_t *reply_size);
//  Send a copy of msg (type, payload, and its shared-memory segment with a
//  reference of its own when it carries one) from self to `to`: one-way
//  when fn is NULL, else a request whose answer goes to fn (as tr_request).
TR__HIDDEN int tr__forward (tr_actor_t *self, tr_ref_t to, const tr_msg_t *msg, int timeout_ms,
                            tr_reply_fn *fn, void *arg);
//  Wake host senders blocked on a full TR_OVERFLOW_BLOCK mailbox.
TR__HIDDEN void tr__space_available (tr_runtime_t *rt);
//  Whether ref names an actor that has not died (a hint from any thread).
TR__HIDDEN bool tr__ref_alive (tr_runtime_t *rt, tr_ref_t ref);
TR__HIDDEN tr_runtime_t *tr__runtime_new_testkit (void);
//  A runtime for a process actor: one scheduler driven by the caller, on
//  real time.
TR__HIDDEN tr_runtime_t *tr__runtime_new_child (void);
//  Spawn on sched from its own thread (init runs now).
TR__HIDDEN int tr__spawn_local (tr__sched_t *sched, const char *behaviour, const void *arg,
                                size_t arg_size, const tr_spawn_opts_t *opts, tr_ref_t monitor_by,
                                tr_ref_t *ref);
//  Built-in behaviours of the runtime (dead letters, supervisors, pools).
TR__HIDDEN void tr__builtin_register (void);
TR__HIDDEN void tr__pool_register (void);
//  Process pools (pool.c): check a spec (rt NULL: without the zygote check),
//  build the init argument of "tr.process_pool" (it owns the copies), free
//  one that never reached a pool.
TR__HIDDEN int tr__pool_check (tr_runtime_t *rt, const tr_process_spec_t *spec);
TR__HIDDEN size_t tr__pool_arg_size (void);
TR__HIDDEN void tr__pool_arg_make (tr_runtime_t *rt, const tr_process_spec_t *spec, void *arg);
TR__HIDDEN void tr__pool_arg_free (void *arg);
//  Spawn from an actor onto scheduler `thread` (the process manager's
//  included), asynchronously; monitor_by (optional) gets its DOWN.
TR__HIDDEN int tr__spawn_on_from (tr__sched_t *sched, uint32_t thread, const char *behaviour,
                                  const void *arg, size_t arg_size, const char *name,
                                  tr_ref_t monitor_by, tr_ref_t *ref);
//  Spawn from a host thread onto scheduler `thread` (the process manager's
//  included); waits for init.
TR__HIDDEN int tr__spawn_on (tr_runtime_t *rt, uint32_t thread, const char *behaviour,
                             const void *arg, size_t arg_size, const char *name, tr_ref_t *ref);

#endif
