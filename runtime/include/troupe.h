//  troupe.h - the public API of troupe, an actor runtime for C on ZeroMQ
//
//  This header is the reference manual. Read docs/embedding.md for a first
//  program and docs/writing-actors.md for behaviours, messages and replies.
//
//  Conventions
//  - Functions that can fail return int: 0 on success, a negative TR_E* code
//    on failure; tr_strerror() names each code. A call that fails has no
//    effect (it never calls a callback, never keeps an argument).
//  - tr_actor_t * is the handler context: valid only inside the handler (or
//    continuation) it was passed to, and only on that thread. Everywhere
//    else, actors are named by tr_ref_t.
//  - Payloads are copied on send unless the name says otherwise
//    (tr_send_payload takes a buffer without copying).
//  - Out of memory aborts the process with file and line.

#ifndef TROUPE_H_INCLUDED
#define TROUPE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TR_VERSION_MAJOR 0
#define TR_VERSION_MINOR 1
#define TR_VERSION_PATCH 0

#if defined(__GNUC__)
#    define TR_EXPORT __attribute__ ((visibility ("default")))
#else
#    define TR_EXPORT
#endif

//  ---------------------------------------------------------------------
//  Errors. errno values where one fits, runtime codes from -4000 down.

#define TR_OK                 0
#define TR_EINVAL             (-22)    //  bad argument
#define TR_ENOENT             (-2)     //  no such name
#define TR_EEXIST             (-17)    //  name already taken
#define TR_EAGAIN             (-11)    //  mailbox full (overflow policy fail)
#define TR_EMSGSIZE           (-90)    //  payload over the configured maximum
#define TR_ETIMEDOUT          (-110)   //  no reply before the deadline
#define TR_ENOTSUP            (-95)    //  not available in this build
#define TR_EDEAD              (-4000)  //  destination actor is dead or never existed
#define TR_EUNKNOWN_TYPE      (-4001)  //  no handler for this message type
#define TR_EUNKNOWN_BEHAVIOUR (-4002)  //  no behaviour registered by that name
#define TR_EMALFORMED         (-4003)  //  malformed frame or message
#define TR_ESTOPPED           (-4004)  //  runtime not started or stopping
#define TR_EFAILED            (-4005)  //  handler failed (exit reason)
#define TR_EKILLED            (-4006)  //  killed (exit reason)
#define TR_ELINKED            (-4007)  //  a linked actor died (exit reason)
#define TR_EOVERFLOW          (-4008)  //  dropped by a mailbox overflow policy
#define TR_ESHUTDOWN          (-4009)  //  runtime shutting down (exit reason)
#define TR_EINIT              (-4010)  //  init callback failed
#define TR_ETOOMANY           (-4011)  //  a table is full (types, threads, ...)
#define TR_EESCALATED         (-4012)  //  a supervisor gave up (restart intensity)
#define TR_EPOISON            (-4013)  //  the message crashed its process max_retries times
#define TR_EHUNG              (-4014)  //  a process actor missed its heartbeats (killed)
#define TR_EMEMLIMIT          (-4015)  //  a process actor went over its memory limit (killed)
#define TR_ECRASHED           (-4016)  //  a process actor died (signal or exit)

//  Return a static string naming rc (never NULL).
TR_EXPORT const char *tr_strerror (int rc);

//  ---------------------------------------------------------------------
//  Refs, types and messages

//  An actor reference. It stays a valid identifier after the actor dies:
//  sending to it then dead-letters the message with TR_EDEAD.
typedef uint64_t tr_ref_t;
#define TR_REF_NONE ((tr_ref_t) 0)

//  A message type: a name interned to a small integer, process-wide.
typedef uint32_t tr_type_t;
#define TR_TYPE_NONE ((tr_type_t) 0)

//  Built-in types, delivered by the runtime.
#define TR_TYPE_DOWN        ((tr_type_t) 1)  //  "tr.down": payload tr_down_t
#define TR_TYPE_EXIT        ((tr_type_t) 2)  //  "tr.exit": payload tr_down_t
#define TR_TYPE_DEAD_LETTER ((tr_type_t) 3)  //  "tr.dead_letter": tr_dead_letter_t + payload

//  Intern name (1..63 printable bytes) and return its type; the same name
//  always gives the same type. Thread-safe. Returns TR_TYPE_NONE for a bad
//  name or when the type table is full (4095 types).
TR_EXPORT tr_type_t tr_type (const char *name);
//  The name of a type, or NULL if type was never interned.
TR_EXPORT const char *tr_type_name (tr_type_t type);

//  What a handler sees. data/size are valid until the handler returns.
typedef struct {
    tr_type_t type;
    uint32_t flags;  //  TR_MSG_* below
    tr_ref_t from;   //  sender, TR_REF_NONE for host sends
    tr_ref_t to;
    uint64_t corr;  //  nonzero: a request; answer with tr_reply
    const void *data;
    size_t size;
} tr_msg_t;

#define TR_MSG_REQUEST 0x1u  //  the sender waits for a reply
#define TR_MSG_REPLY   0x2u  //  this is a reply (continuations only)
#define TR_MSG_ERROR   0x4u  //  an error reply: data holds an int32 code
#define TR_MSG_SHM     0x8u  //  data is a shared-memory handle: see tr_shm_open

//  Payload of TR_TYPE_DOWN (monitors) and TR_TYPE_EXIT (trapped links).
typedef struct {
    tr_ref_t ref;  //  the actor that died
    int reason;    //  0 normal, else a TR_E* code or handler result
} tr_down_t;

//  Payload header of TR_TYPE_DEAD_LETTER; the original payload follows it.
typedef struct {
    int reason;      //  TR_EDEAD, TR_EUNKNOWN_TYPE, TR_EOVERFLOW, ...
    tr_type_t type;  //  the original message's type
    tr_ref_t from;
    tr_ref_t to;
    uint64_t size;  //  original payload size (bytes that follow)
} tr_dead_letter_t;

//  ---------------------------------------------------------------------
//  Behaviours

typedef struct tr_actor tr_actor_t;      //  handler context
typedef struct tr_runtime tr_runtime_t;  //  one node

//  A handler. Return 0 when done; any other value makes the actor fail with
//  that reason (a positive value becomes TR_EFAILED).
typedef int (tr_handler_fn) (tr_actor_t *self, void *state, const tr_msg_t *msg);

typedef struct {
    const char *type;  //  message type name
    tr_handler_fn *fn;
} tr_handler_t;

//  A behaviour: a static table registered by name.
typedef struct {
    const char *name;
    size_t state_size;  //  zeroed bytes handed to every callback
    //  Optional. Runs on the actor's thread before any message. Nonzero
    //  makes the spawn fail (host spawns get TR_EINIT).
    int (*init) (tr_actor_t *self, void *state, const void *arg, size_t arg_size);
    //  Optional. Runs once when the actor stops, with the exit reason.
    void (*terminate) (tr_actor_t *self, void *state, int reason);
    const tr_handler_t *handlers;  //  ends with {NULL, NULL}
    //  Optional. Called for types without a handler. When NULL such a
    //  message is dead-lettered (TR_EUNKNOWN_TYPE) and a request gets an
    //  error reply with that code.
    tr_handler_fn *unhandled;
} tr_behaviour_t;

//  Register behaviour (process-wide; the table must outlive the process's
//  use of it, typically static). Returns TR_EEXIST if the name is taken by
//  another table, TR_EINVAL if malformed, TR_ETOOMANY if full.
TR_EXPORT int tr_behaviour_register (const tr_behaviour_t *behaviour);

//  ---------------------------------------------------------------------
//  Runtime (node)

typedef enum {
    TR_OVERFLOW_FAIL = 0,     //  the sender gets TR_EAGAIN (default)
    TR_OVERFLOW_DROP_NEWEST,  //  the new message is dead-lettered
    TR_OVERFLOW_DROP_OLDEST,  //  the oldest queued message is dead-lettered
    TR_OVERFLOW_BLOCK         //  host senders wait; actor senders get TR_EAGAIN
} tr_overflow_t;

typedef struct {
    int threads;             //  scheduler threads; 0 = number of cores
    size_t mailbox_limit;    //  default per-actor bound (default 65536)
    tr_overflow_t overflow;  //  default per-actor policy
    size_t max_payload;      //  bytes; larger sends fail (default 64 MiB)
    int stop_timeout_ms;     //  bound on tr_runtime_destroy (default 5000)
    const char *name;        //  node name in logs (default "troupe")
    //  No process actors: no zygote is forked and tr_process_start fails
    //  with TR_ENOTSUP (default false).
    bool no_processes;
    //  Async loop threads (troupe-loop-N) for actors that wait on fds
    //  through tr_watch; see troupe_loop.h (default 1, 0 = none).
    int loops;
    //  Dedicated threads (troupe-ded-N), one blocking actor each, started
    //  when first handed out by tr_dedicated_placement (default 4, 0 = none).
    //  threads + loops + dedicated_threads (+ 1 with process actors) <= 127.
    int dedicated_threads;
} tr_options_t;

//  Fill options with the defaults.
TR_EXPORT void tr_options_default (tr_options_t *options);

//  Create a node (options NULL = defaults). Forks the zygote (unless
//  no_processes; if the fork fails the node runs without process actors,
//  logged), makes the ZeroMQ context (libzmq starts its own I/O and reaper
//  threads); starts no scheduler thread and installs no signal handler.
//  Returns NULL on bad options, a bad link order, or when the private run
//  directory cannot be made or bound (logged).
TR_EXPORT tr_runtime_t *tr_runtime_new (const tr_options_t *options);
//  Start the scheduler threads. Returns 0, or TR_ESTOPPED if already
//  started or stopped.
TR_EXPORT int tr_runtime_start (tr_runtime_t *self);
//  Stop every actor (terminate callbacks run, newest first on each thread),
//  join the threads, close every socket, free everything; NULLs *self_p.
//  Returns within about stop_timeout_ms even if a handler never returns
//  (that thread is then abandoned and logged). NULL-safe.
TR_EXPORT void tr_runtime_destroy (tr_runtime_t **self_p);
//  Number of scheduler threads.
TR_EXPORT int tr_runtime_threads (tr_runtime_t *self);

typedef struct {
    const char *name;        //  register the actor under this name (optional)
    size_t mailbox_limit;    //  0 = runtime default
    tr_overflow_t overflow;  //  used when overflow_set is true
    bool overflow_set;
    int thread;  //  -1 or 0 = default placement, else thread+1
    //  tr_actor_spawn only: the calling actor monitors the child from before
    //  its init runs, so every end of the child, init failure (TR_EINIT)
    //  included, reaches it as one TR_TYPE_DOWN.
    bool monitor;
} tr_spawn_opts_t;

//  Spawn from a host thread: the actor lands on the next thread round-robin
//  (or opts->thread) and init runs there; this call waits for init.
//  Returns 0 and *ref, TR_EUNKNOWN_BEHAVIOUR, TR_EEXIST (name taken),
//  TR_EINIT (init failed), TR_ESTOPPED.
TR_EXPORT int tr_spawn (tr_runtime_t *rt, const char *behaviour, const void *arg, size_t arg_size,
                        const tr_spawn_opts_t *opts, tr_ref_t *ref);

//  Send from a host thread (any thread that is not running a handler).
//  Copies data. Returns 0, TR_EAGAIN (mailbox full, policy fail),
//  TR_EMSGSIZE, TR_EDEAD (known dead at once; it is also dead-lettered),
//  TR_ESTOPPED. A message accepted here may still be dead-lettered later.
TR_EXPORT int tr_runtime_send (tr_runtime_t *rt, tr_ref_t to, tr_type_t type, const void *data,
                               size_t size);

//  Request/reply from a host thread: blocks up to timeout_ms (-1 forever).
//  From inside a handler it returns TR_EINVAL at once (use tr_request).
//  On 0, *reply is a buffer to free with tr_free (NULL for an empty reply)
//  and *reply_size its size. Returns the code of an error reply, or
//  TR_ETIMEDOUT (the timeout covers waiting to send, too), TR_EDEAD,
//  TR_EUNKNOWN_TYPE, TR_EMSGSIZE, TR_EAGAIN, TR_EINVAL, TR_ETOOMANY (too
//  many host calls at once), TR_ESTOPPED.
TR_EXPORT int tr_call (tr_runtime_t *rt, tr_ref_t to, tr_type_t type, const void *data, size_t size,
                       int timeout_ms, void **reply, size_t *reply_size);

//  Ask the actor to stop with reason (0 = normal). Asynchronous; system
//  messages are never dropped. Returns 0 or TR_ESTOPPED.
TR_EXPORT int tr_runtime_kill (tr_runtime_t *rt, tr_ref_t ref, int reason);

//  Names. A name is released when its actor dies.
TR_EXPORT int tr_name_register (tr_runtime_t *rt, const char *name, tr_ref_t ref);
TR_EXPORT int tr_name_unregister (tr_runtime_t *rt, const char *name);
//  The ref registered under name, or TR_REF_NONE.
TR_EXPORT tr_ref_t tr_whereis (tr_runtime_t *rt, const char *name);

//  ---------------------------------------------------------------------
//  Inside a handler

TR_EXPORT tr_ref_t tr_self (tr_actor_t *self);
TR_EXPORT tr_runtime_t *tr_actor_runtime (tr_actor_t *self);

//  Fire and forget. Copies data. Returns 0, TR_EAGAIN (target mailbox full
//  and its policy is fail or block), TR_EMSGSIZE, TR_EDEAD (target known
//  dead: the message is also dead-lettered).
TR_EXPORT int tr_send (tr_actor_t *self, tr_ref_t to, tr_type_t type, const void *data,
                       size_t size);

//  Zero-copy send: allocate a payload buffer, fill it, hand it over.
//  tr_send_payload takes the buffer (NULLs *payload_p) even on failure.
TR_EXPORT void *tr_payload_alloc (size_t size);
TR_EXPORT void tr_payload_free (void **payload_p);
TR_EXPORT int tr_send_payload (tr_actor_t *self, tr_ref_t to, tr_type_t type, void **payload_p);

//  Continuation of tr_request: runs on the requester's thread with rc = 0
//  and the reply, or rc = error code (TR_ETIMEDOUT, TR_EDEAD, the code of an
//  error reply) and reply NULL. Runs exactly once unless the requester dies.
typedef void (tr_reply_fn) (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply,
                            void *arg);

//  Non-blocking request: the reply (or timeout after timeout_ms, which must
//  be > 0) comes to fn. A reply after the deadline is dropped and counted.
//  Returns 0 or a tr_send error (then fn is never called).
TR_EXPORT int tr_request (tr_actor_t *self, tr_ref_t to, tr_type_t type, const void *data,
                          size_t size, int timeout_ms, tr_reply_fn *fn, void *arg);

//  Reply to a request. request may be a copy of the tr_msg_t kept after the
//  handler returned (from, corr, type and flags are read), so replies can be
//  sent later. Replying to a non-request is TR_EINVAL. Replies are never
//  dropped by the requester's mailbox bound.
TR_EXPORT int tr_reply (tr_actor_t *self, const tr_msg_t *request, const void *data, size_t size);
//  Reply with an error code (negative) that the requester receives as rc.
TR_EXPORT int tr_reply_error (tr_actor_t *self, const tr_msg_t *request, int code);

//  Stop this actor after the current handler, normally (reason 0).
TR_EXPORT void tr_stop (tr_actor_t *self);
//  Fail this actor after the current handler with reason (a TR_E* code or
//  any negative value; 0 or positive becomes TR_EFAILED).
TR_EXPORT void tr_fail (tr_actor_t *self, int reason);
//  Ask another actor to stop with reason. Asynchronous.
TR_EXPORT int tr_kill (tr_actor_t *self, tr_ref_t target, int reason);

//  Spawn from inside a handler. By default the child lands on the caller's
//  thread and its init runs before this returns (then *ref is ready and
//  init's failure is TR_EINIT). With opts->thread naming another thread the
//  spawn is asynchronous: *ref is valid at once, init runs there later, and
//  an init failure shows as the child dying with TR_EINIT.
TR_EXPORT int tr_actor_spawn (tr_actor_t *self, const char *behaviour, const void *arg,
                              size_t arg_size, const tr_spawn_opts_t *opts, tr_ref_t *ref);

//  Monitor target: when it dies (or if it is already dead) this actor gets
//  one TR_TYPE_DOWN with the reason (TR_EDEAD if it never lived).
TR_EXPORT int tr_monitor (tr_actor_t *self, tr_ref_t target);
TR_EXPORT int tr_demonitor (tr_actor_t *self, tr_ref_t target);
//  Link both ways: when one dies with a reason other than 0, the other dies
//  with TR_ELINKED, unless it traps exits and gets TR_TYPE_EXIT instead.
TR_EXPORT int tr_link (tr_actor_t *self, tr_ref_t target);
TR_EXPORT int tr_unlink (tr_actor_t *self, tr_ref_t target);
TR_EXPORT void tr_trap_exits (tr_actor_t *self, bool trap);

//  Timers, owned by the calling actor (dropped when it dies). delay/period in
//  milliseconds (>= 0 / > 0). *timer_id (optional) identifies it for cancel.
TR_EXPORT int tr_send_after (tr_actor_t *self, int delay_ms, tr_ref_t to, tr_type_t type,
                             const void *data, size_t size, uint64_t *timer_id);
TR_EXPORT int tr_send_every (tr_actor_t *self, int period_ms, tr_ref_t to, tr_type_t type,
                             const void *data, size_t size, uint64_t *timer_id);
//  Cancel a timer of this actor. Returns 0 or TR_ENOENT (fired or unknown).
TR_EXPORT int tr_timer_cancel (tr_actor_t *self, uint64_t timer_id);

//  Milliseconds on the actor's clock (monotonic; virtual in the test kit).
TR_EXPORT uint64_t tr_now_ms (tr_actor_t *self);

//  ---------------------------------------------------------------------
//  Supervision
//
//  A supervisor is an actor that starts children in order, watches them,
//  restarts them by their restart type and its strategy, and gives up when
//  they fail more than `intensity` times within `period_ms`: it then stops
//  its children (newest first) and fails with TR_EESCALATED, which its own
//  supervisor sees as a child failure. See docs/supervision.md.

typedef enum {
    TR_PERMANENT = 0,  //  always restarted
    TR_TRANSIENT,      //  restarted only after an abnormal exit (not 0, not TR_ESHUTDOWN)
    TR_TEMPORARY       //  never restarted
} tr_restart_t;

typedef enum {
    TR_ONE_FOR_ONE = 0,  //  restart the failed child
    TR_ONE_FOR_ALL,      //  stop all, restart all
    TR_REST_FOR_ONE      //  stop the ones started after it, restart it and them
} tr_strategy_t;

typedef struct tr_supervisor_spec tr_supervisor_spec_t;

typedef struct {
    const char *id;         //  unique among its siblings (1..63 bytes)
    const char *behaviour;  //  the child's behaviour (unused for a supervisor)
    const void *arg;        //  init argument, copied
    size_t arg_size;
    tr_restart_t restart;
    int shutdown_ms;                         //  wait for its exit when stopping it (0 = 5000)
    const char *name;                        //  registered name, moved to each incarnation
    int thread;                              //  placement, as tr_spawn_opts_t.thread
    const tr_supervisor_spec_t *supervisor;  //  a nested supervisor instead
    //  A process pool instead (see "Process actors"): its memory and CPU
    //  limits, heartbeat interval and timeout are in there. The pool fails
    //  (TR_EESCALATED) when its own children restart too often.
    const struct tr_process_spec *process;
    //  A service instead (see "Services and routes"): its router, and the
    //  instances and pools behind it, restart as one child.
    const struct tr_service_spec *service;
} tr_child_spec_t;

struct tr_supervisor_spec {
    tr_strategy_t strategy;
    int intensity;       //  restarts allowed within period_ms (0 = 3)
    int period_ms;       //  (0 = 5000)
    int backoff_ms;      //  delay before a repeated restart (0 = 10), doubled
    int backoff_max_ms;  //  each time up to this (0 = 5000), with +-20 % jitter
    int healthy_ms;      //  a child up this long restarts without delay again
                         //  (0 = period_ms)
    const tr_child_spec_t *children;
    size_t child_count;
};

//  Start a supervisor from a host thread (the spec is copied). Its children
//  are started in order; those on its own thread before this returns, those
//  placed on other threads asynchronously. Returns 0 and *ref, TR_EINVAL
//  for a malformed spec (logged with the reason), or a tr_spawn error.
TR_EXPORT int tr_supervisor_start (tr_runtime_t *rt, const tr_supervisor_spec_t *spec,
                                   const char *name, tr_ref_t *ref);
//  As tr_supervisor_start, as the node's root: when it gives up (its
//  children are stopped first), tr_runtime_wait returns TR_EXIT_ESCALATED;
//  the host then destroys the runtime and exits with that status.
TR_EXPORT int tr_runtime_root (tr_runtime_t *rt, const tr_supervisor_spec_t *spec, tr_ref_t *ref);

#define TR_EXIT_OK        0
#define TR_EXIT_ESCALATED 70  //  the root supervisor gave up (EX_SOFTWARE)

//  Wait until the node's root supervisor gives up (or timeout_ms passes;
//  -1 forever). Returns the exit status, or TR_ETIMEDOUT.
TR_EXPORT int tr_runtime_wait (tr_runtime_t *rt, int timeout_ms);

typedef enum {
    TR_CHILD_RUNNING = 0,
    TR_CHILD_STOPPING,
    TR_CHILD_RESTARTING,  //  waiting for its backoff or its group
    TR_CHILD_DONE         //  ended and not to be restarted
} tr_child_state_t;

typedef struct {
    char id[64];
    tr_ref_t ref;  //  current incarnation, TR_REF_NONE when not running
    tr_child_state_t state;
    uint32_t restarts;  //  times restarted
    int last_reason;    //  reason of the last exit
} tr_child_info_t;

typedef struct {
    char id[64];
    int reason;         //  why it ended
    uint64_t at_ms;     //  supervisor clock
    uint32_t delay_ms;  //  backoff applied before the restart
    bool escalated;     //  this failure made the supervisor give up
} tr_restart_record_t;

//  Read a supervisor's children (in start order) into info[0..max). Returns
//  0 and *count, or a tr_call error.
TR_EXPORT int tr_supervisor_children (tr_runtime_t *rt, tr_ref_t supervisor, tr_child_info_t *info,
                                      size_t max, size_t *count);
//  Read its last restart records (up to 64, oldest first).
TR_EXPORT int tr_supervisor_restarts (tr_runtime_t *rt, tr_ref_t supervisor,
                                      tr_restart_record_t *records, size_t max, size_t *count);

//  ---------------------------------------------------------------------
//  Process actors
//
//  A process pool runs a behaviour in child processes forked from the
//  node's zygote (forked by tr_runtime_new before any thread: create the
//  runtime early, from the thread that lives longest, and register the
//  behaviour before tr_runtime_new, since children are copies of the
//  process as it was then). Send, request or call the pool's ref as any
//  actor: each message goes to the ready replica with the fewest messages
//  in flight. The node keeps every message until the child answers it (a
//  reply, or an acknowledgement for one-way messages); when a child dies,
//  its messages go to the restarted replica, at most max_retries times,
//  then they are dead-lettered as TR_EPOISON (requests get that error).
//  See docs/supervision.md and docs/protocol.md.

typedef struct tr_process_spec {
    const char *behaviour;  //  registered before tr_runtime_new; or
    //  a program in any language, run as `/bin/sh -c command` with
    //  TROUPE_ENDPOINT, TROUPE_REPLICA, TROUPE_HEARTBEAT_MS and
    //  TROUPE_MAX_PAYLOAD in its environment; it speaks docs/protocol.md.
    //  Exactly one of behaviour and command is set.
    const char *command;
    const void *arg;  //  init argument for every replica, copied
    size_t arg_size;
    int replicas;  //  children serving (default 1)
    //  Warm standby children, started and connected but idle: one takes a
    //  dead child's place at once, so a restart costs no fork and no start-up
    //  (default 1; TR_NO_SPARES for none).
    int spares;
    int max_retries;           //  crashes one message may cause (default 3)
    size_t memory_limit;       //  resident bytes per child; over it: killed (0 = none)
    int cpu_limit_s;           //  CPU seconds per child (RLIMIT_CPU; 0 = none)
    int heartbeat_ms;          //  child heartbeat interval (default 100)
    int heartbeat_timeout_ms;  //  silence that gets a child killed (default 1000)
    int restart_intensity;     //  replica restarts allowed within restart_period_ms
    int restart_period_ms;     //  (defaults 10 and 10000); past it the pool fails
                               //  with TR_EESCALATED
    const char *name;          //  register the pool under this name (optional)
} tr_process_spec_t;

//  Start a pool from a host thread. Returns 0 and *ref once every replica
//  answered its first heartbeat (or failed), TR_ENOTSUP without a zygote,
//  TR_EINVAL, TR_EUNKNOWN_BEHAVIOUR, or a tr_spawn error.
TR_EXPORT int tr_process_start (tr_runtime_t *rt, const tr_process_spec_t *spec, tr_ref_t *ref);

typedef struct {
    uint64_t received;     //  messages given to the pool
    uint64_t answered;     //  replies and acknowledgements from children
    uint64_t redelivered;  //  messages sent again after a child died
    uint64_t poisoned;     //  dead-lettered as TR_EPOISON
    uint64_t duplicates;   //  replies dropped: already answered
    uint64_t restarts;     //  children restarted
    uint64_t malformed;    //  bad frames from children (each one killed)
    uint64_t in_flight;    //  sent, not yet answered
    uint64_t queued;       //  waiting for a ready child
    int replicas_ready;
    int spares_ready;
    int last_exit_reason;  //  why the last child ended
} tr_process_stats_t;

#define TR_NO_SPARES (-1)

//  Snapshot a pool's figures. 0 or a tr_call error.
TR_EXPORT int tr_process_stats (tr_runtime_t *rt, tr_ref_t pool, tr_process_stats_t *stats);
//  The pids of a pool's children (0 for one being restarted) into
//  pids[0..max); *count is how many replicas the pool has.
TR_EXPORT int tr_process_pids (tr_runtime_t *rt, tr_ref_t pool, int *pids, size_t max,
                               size_t *count);

//  ---------------------------------------------------------------------
//  Services and routes (docs/routing.md)
//
//  A service is one behaviour behind a router. The router is an actor: send
//  to or call its ref like any actor's. Per message type, its route table
//  says where the work runs (mode), on how many instances, how they are
//  balanced, the deadline and the bound on requests in flight. The router
//  starts the instances (and process pools) itself, restarts those that
//  die, and counts and times every route.

typedef enum {
    TR_MODE_THREAD = 0,  //  instances on the scheduler threads (default)
    TR_MODE_DEDICATED,   //  each instance on a thread of its own (blocking code)
    TR_MODE_PROCESS,     //  a supervised pool of process replicas
    TR_MODE_ASYNC,       //  instances on the node's async I/O loop
    TR_MODE_AUTO         //  start on a thread; the router moves it (docs/routing.md)
} tr_mode_t;

typedef enum {
    TR_BALANCE_ROUND_ROBIN = 0,
    TR_BALANCE_LEAST_LOADED,  //  the instance with fewest requests in flight
    TR_BALANCE_HASH           //  consistent hash of a key in the payload
} tr_balance_t;

typedef enum {
    TR_ROUTE_FAIL = 0,  //  past max_in_flight: requests get TR_EAGAIN at once
    TR_ROUTE_QUEUE,     //  wait in the router, up to queue_limit; then fail
    TR_ROUTE_DROP       //  dead-lettered (TR_EOVERFLOW); a request gets that error
} tr_route_overflow_t;

typedef struct {
    const char *type;  //  message type name; "*" = every type without its own route
    tr_mode_t mode;
    //  Instances of this route's mode (0 = 1). Routes of one mode share
    //  that mode's instances; the largest count among them wins.
    int replicas;
    tr_balance_t balance;  //  process routes: the pool balances (least loaded)
    //  TR_BALANCE_HASH: the key is payload bytes [key_offset, key_offset +
    //  key_size) (key_size 0: from key_offset to the end); a shorter
    //  payload hashes what there is.
    size_t key_offset, key_size;
    int deadline_ms;    //  a request unanswered by then fails with TR_ETIMEDOUT (0 = 30000)
    int max_in_flight;  //  requests at once on this route (0 = no bound)
    tr_route_overflow_t overflow;
    int queue_limit;  //  TR_ROUTE_QUEUE: requests waiting at most (0 = 1024)
} tr_route_t;

typedef struct tr_service_spec {
    const char *name;       //  register the router under this name (optional)
    const char *behaviour;  //  every instance's behaviour (registered before tr_runtime_new
                            //  when a route may run in processes)
    const void *arg;        //  init argument of every instance, copied
    size_t arg_size;
    const tr_route_t *routes;  //  none: "*" on one thread instance
    size_t route_count;
    //  Settings of process instances (limits, heartbeat, spares, retries);
    //  behaviour, command, arg, replicas and name are ignored. NULL: defaults.
    const struct tr_process_spec *process;
    //  TR_MODE_AUTO: a handler that runs longer than this moves its type to
    //  a dedicated thread (0 = 100 ms).
    int block_ms;
    //  Instance restarts allowed within 10 s before the service itself fails
    //  with TR_EESCALATED (0 = 10).
    int restart_intensity;
} tr_service_spec_t;

//  Start a service from a host thread (the spec is copied). Returns 0 and
//  *ref once its router and thread-side instances run; TR_EINVAL (bad spec,
//  logged with the reason), TR_EUNKNOWN_BEHAVIOUR, TR_ENOTSUP (a process
//  or async route on a node without them), or a tr_spawn error.
TR_EXPORT int tr_service_start (tr_runtime_t *rt, const tr_service_spec_t *spec, tr_ref_t *ref);

//  Why the router last moved a TR_MODE_AUTO route.
typedef enum {
    TR_MOVE_NONE = 0,
    TR_MOVE_CRASHED,  //  a handler of the type crashed: now in a process
    TR_MOVE_BLOCKED,  //  a handler blocked its thread past block_ms: now dedicated
    TR_MOVE_SET       //  tr_service_set_mode
} tr_move_t;

typedef struct {
    tr_mode_t mode;     //  where the type runs now
    bool automatic;     //  the route is TR_MODE_AUTO
    uint64_t requests;  //  requests received
    uint64_t one_way;   //  one-way messages forwarded
    uint64_t replies;   //  answered by an instance (error replies included)
    uint64_t errors;    //  answered with an error, or the instance died
    uint64_t timeouts;  //  past the route's deadline
    uint64_t rejected;  //  past max_in_flight: TR_EAGAIN
    uint64_t dropped;   //  past max_in_flight: dead-lettered
    uint64_t crashes;   //  handlers of this type that failed or crashed
    uint64_t blocks;    //  handler runs longer than block_ms
    uint64_t moves;     //  automatic moves (and tr_service_set_mode)
    tr_move_t last_move;
    uint64_t in_flight;  //  now
    uint64_t queued;     //  now
    //  Service time seen by the router (dispatch to reply), microseconds.
    uint64_t p50_us, p95_us, p99_us, max_us;
    //  Handler time measured around the handler call (thread, dedicated and
    //  async instances; not process ones), microseconds in total.
    uint64_t handler_wall_us, handler_cpu_us;
} tr_route_stats_t;

//  Snapshot the route that serves type (the "*" route for types without
//  their own). 0, TR_ENOENT (no such route) or a tr_call error.
TR_EXPORT int tr_service_route_stats (tr_runtime_t *rt, tr_ref_t service, const char *type,
                                      tr_route_stats_t *stats);
//  Move a route to mode now (TR_MODE_AUTO: back to automatic, from a thread).
//  Requests in flight finish where they are. 0, TR_ENOENT, TR_ENOTSUP.
TR_EXPORT int tr_service_set_mode (tr_runtime_t *rt, tr_ref_t service, const char *type,
                                   tr_mode_t mode);
//  The name of a mode ("thread", "thread:dedicated", "process", "async",
//  "auto") and back (-1 if unknown).
TR_EXPORT const char *tr_mode_name (tr_mode_t mode);
TR_EXPORT int tr_mode_parse (const char *name);

//  ---------------------------------------------------------------------
//  Shared memory: large payloads between the node and its process actors
//  (or its own actors) without a copy.
//
//  A segment is a memfd (mode 0600). A message made by tr_send_shm carries
//  a small handle and holds its own reference until the message is done
//  with (handled, or answered by a process actor); a receiver maps the
//  segment read-only with tr_shm_open. The memory goes back to the system
//  when the last reference, mapping or holder process is gone.

typedef struct tr_shm tr_shm_t;

//  A new writable segment of size bytes (zeroed), one reference. NULL on
//  failure (logged).
TR_EXPORT tr_shm_t *tr_shm_new (size_t size);
TR_EXPORT void *tr_shm_data (tr_shm_t *self);
TR_EXPORT size_t tr_shm_size (tr_shm_t *self);
//  Drop this reference (unmaps when it is the last here). NULL-safe.
TR_EXPORT void tr_shm_release (tr_shm_t **self_p);
//  Map the segment msg carries (msg->flags & TR_MSG_SHM), read-only, with a
//  reference of its own. NULL when it carries none or the holder is gone.
TR_EXPORT tr_shm_t *tr_shm_open (const tr_msg_t *msg);
//  Another reference to shm (released with tr_shm_release). Returns shm.
TR_EXPORT tr_shm_t *tr_shm_retain (tr_shm_t *shm);
//  A segment's handle outside any message, for an init argument or a
//  config: TR_SHM_HANDLE_SIZE bytes into handle. It holds no reference:
//  it opens (tr_shm_open_handle, in this process or a process actor of this
//  node, same user) while this process keeps shm. 0 or TR_EINVAL.
#define TR_SHM_HANDLE_SIZE 32
TR_EXPORT int tr_shm_handle (tr_shm_t *shm, void *handle, size_t size);
//  Map the segment a handle names, read-only, with a reference of its own.
//  NULL when the handle is bad or its holder is gone.
TR_EXPORT tr_shm_t *tr_shm_open_handle (const void *handle, size_t size);
//  Send shm by handle from a handler / from a host thread; the message
//  takes its own reference (shm stays yours). Same returns as tr_send /
//  tr_runtime_send.
TR_EXPORT int tr_send_shm (tr_actor_t *self, tr_ref_t to, tr_type_t type, tr_shm_t *shm);
TR_EXPORT int tr_runtime_send_shm (tr_runtime_t *rt, tr_ref_t to, tr_type_t type, tr_shm_t *shm);
//  Request/reply with a segment from a host thread (see tr_call).
TR_EXPORT int tr_call_shm (tr_runtime_t *rt, tr_ref_t to, tr_type_t type, tr_shm_t *shm,
                           int timeout_ms, void **reply, size_t *reply_size);

//  ---------------------------------------------------------------------
//  Metrics

typedef struct {
    uint64_t received;       //  messages that reached the mailbox
    uint64_t handled;        //  handler calls that returned 0
    uint64_t failed;         //  handler calls that failed
    uint64_t dropped;        //  dead-lettered by the overflow policy
    uint64_t mailbox_depth;  //  messages queued now
    uint64_t latency_count;  //  handler latency samples
    uint64_t latency_p50_ns, latency_p95_ns, latency_p99_ns, latency_max_ns;
} tr_actor_stats_t;

//  Snapshot one actor's metrics (asks its thread; waits up to 1 s).
TR_EXPORT int tr_actor_stats (tr_runtime_t *rt, tr_ref_t ref, tr_actor_stats_t *stats);

typedef struct {
    int threads;
    uint64_t actors_live;
    uint64_t actors_spawned;
    uint64_t messages_handled;
    uint64_t messages_failed;
    uint64_t dead_letters;  //  all reasons
    uint64_t late_replies;  //  replies after their deadline, dropped
    uint64_t latency_p50_ns, latency_p95_ns, latency_p99_ns, latency_max_ns;
    //  jemalloc figures (0 in builds without jemalloc)
    uint64_t mem_allocated, mem_active, mem_resident;
} tr_runtime_stats_t;

TR_EXPORT int tr_runtime_stats (tr_runtime_t *rt, tr_runtime_stats_t *stats);
//  Dead letters counted for reason (a TR_E* code), or for all when 0.
TR_EXPORT uint64_t tr_dead_letter_count (tr_runtime_t *rt, int reason);
//  Forward every dead letter (type TR_TYPE_DEAD_LETTER) to sink as well.
//  TR_REF_NONE stops forwarding.
TR_EXPORT int tr_dead_letter_sink (tr_runtime_t *rt, tr_ref_t sink);

//  ---------------------------------------------------------------------
//  Memory

//  Allocate / free through the runtime's allocator (jemalloc in the
//  shipped build). tr_free is NULL-safe; use it for tr_call replies.
TR_EXPORT void *tr_malloc (size_t size);
TR_EXPORT void tr_free (void *ptr);

typedef struct {
    uint64_t allocated, active, resident, mapped;
} tr_mem_stats_t;
//  Process-wide allocator figures. TR_ENOTSUP without jemalloc.
TR_EXPORT int tr_mem_stats (tr_mem_stats_t *stats);

//  ---------------------------------------------------------------------
//  Test kit: run actors deterministically on the calling thread.
//
//  Nothing runs until you step. Time is virtual: timers fire on advance.
//  A probe is an actor that records what it receives, for assertions.

typedef struct tr_testkit tr_testkit_t;

TR_EXPORT tr_testkit_t *tr_testkit_new (void);
TR_EXPORT void tr_testkit_destroy (tr_testkit_t **self_p);
//  The runtime behind the kit (for tr_dead_letter_count and the like).
TR_EXPORT tr_runtime_t *tr_testkit_runtime (tr_testkit_t *self);
//  Spawn an actor; its init runs now. Same returns as tr_spawn.
TR_EXPORT int tr_testkit_spawn (tr_testkit_t *self, const char *behaviour, const void *arg,
                                size_t arg_size, tr_ref_t *ref);
//  A new probe.
TR_EXPORT tr_ref_t tr_testkit_probe (tr_testkit_t *self);
//  Queue a message as if from `from` (a probe, or TR_REF_NONE).
TR_EXPORT int tr_testkit_send (tr_testkit_t *self, tr_ref_t from, tr_ref_t to, tr_type_t type,
                               const void *data, size_t size);
//  Queue a request from probe `from`; the reply arrives at the probe.
TR_EXPORT int tr_testkit_request (tr_testkit_t *self, tr_ref_t from, tr_ref_t to, tr_type_t type,
                                  const void *data, size_t size);
//  Handle one queued message. Returns true if one was handled.
TR_EXPORT bool tr_testkit_step (tr_testkit_t *self);
//  Handle messages until none is queued; returns how many.
TR_EXPORT int tr_testkit_run (tr_testkit_t *self);
//  Move virtual time forward by ms, firing due timers (then run).
TR_EXPORT void tr_testkit_advance (tr_testkit_t *self, int ms);
//  Pop the oldest message probe received into *msg (data valid until the
//  next call on the kit). Returns 0, or TR_EAGAIN if none.
TR_EXPORT int tr_testkit_expect (tr_testkit_t *self, tr_ref_t probe, tr_msg_t *msg);
//  Whether ref is a live actor in the kit.
TR_EXPORT bool tr_testkit_alive (tr_testkit_t *self, tr_ref_t ref);

#ifdef __cplusplus
}
#endif

#include "troupe_loop.h"
#include "troupe_config.h"
#include "troupe_bus.h"

#endif
