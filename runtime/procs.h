//  procs - the node's process manager: the zygote, the ROUTER socket its
//  children connect to, and the thread that turns their frames and deaths
//  into messages for the pool actors that own them
#ifndef TR_PROCS_H_INCLUDED
#define TR_PROCS_H_INCLUDED

#include "msg.h"
#include "wire.h"
#include "zygote.h"

#include <sys/types.h>
#include <zmq.h>

typedef struct tr__sched tr__sched_t;
typedef struct tr__procs tr__procs_t;

//  An event for a pool actor (type "tr.proc.event"); wire payload follows.
typedef enum {
    TR__PROC_WIRE = 1,   //  a frame from a child (wire.kind says which)
    TR__PROC_FORKED,     //  pid 0: the fork failed (status = errno)
    TR__PROC_DIED,       //  status: waitpid status (or SIGKILL assumed)
    TR__PROC_MALFORMED,  //  the child sent a bad frame
    TR__PROC_ENDING      //  its main thread ended (lifeline): its last frames
                         //  may still come; DIED follows when it is gone
} tr__proc_event_kind_t;

typedef struct {
    uint32_t kind;
    int32_t pid;
    int32_t status;
    uint64_t replica;
    tr__wire_t wire;
} tr__proc_event_t;

//  Fork the zygote (before any thread). NULL on failure (logged).
TR__HIDDEN tr__procs_t *tr__procs_new (void);
//  Make the private run directory (0700) and bind the ROUTER in it.
TR__HIDDEN int tr__procs_bind (tr__procs_t *self, void *zmq_context, size_t max_payload);
//  Close the socket, stop the zygote (it kills every child), remove the
//  run directory. After the manager thread has stopped.
TR__HIDDEN void tr__procs_destroy (tr__procs_t **self_p);
//  At most this many poll items: the socket, the zygote, the lifelines, a
//  pidfd per child.
#define TR__PROCS_MAX_POLL 1027
//  Poll items the manager thread adds to its loop (returns how many).
TR__HIDDEN int tr__procs_items (tr__procs_t *self, zmq_pollitem_t *items);
//  Handle what those items reported (manager thread).
TR__HIDDEN void tr__procs_ready (tr__procs_t *self, tr__sched_t *sched, zmq_pollitem_t *items,
                                 int count);

//  Manager thread only: children and their pools.
TR__HIDDEN uint64_t tr__procs_replica_new (tr__procs_t *self, tr_ref_t pool);
TR__HIDDEN void tr__procs_replica_pid (tr__procs_t *self, uint64_t replica, pid_t pid);
TR__HIDDEN void tr__procs_replica_forget (tr__procs_t *self, uint64_t replica);
TR__HIDDEN int tr__procs_fork (tr__procs_t *self, const tr__child_args_t *args, const void *arg);
TR__HIDDEN void tr__procs_kill (tr__procs_t *self, pid_t pid);
//  Queue one message for a child (a C behaviour's: it reads BATCH frames);
//  the manager's thread sends every child's queue as one frame after each
//  pass (tr__procs_flush). 0, TR_EAGAIN (no room) or TR_EDEAD (not there).
TR__HIDDEN int tr__procs_queue (tr__procs_t *self, uint64_t replica, const tr__wire_t *wire,
                                const void *payload);
TR__HIDDEN void tr__procs_flush (tr__procs_t *self);
//  Send one message to a child: 0, TR_EAGAIN (full) or TR_EDEAD (not there).
TR__HIDDEN int tr__procs_send (tr__procs_t *self, uint64_t replica, const tr__wire_t *wire,
                               const void *payload);
TR__HIDDEN const char *tr__procs_endpoint (tr__procs_t *self);
TR__HIDDEN const char *tr__procs_dir (tr__procs_t *self);

//  Make a private run directory /tmp/troupe-<uid>/node-<pid>-<n> (0700)
//  into dir, after checking the base is ours and removing the directories
//  of dead nodes. 0 or TR_ESTOPPED (logged).
TR__HIDDEN int tr__run_dir_new (char *dir, size_t size);
//  Remove a run directory and the files (sockets) in it.
TR__HIDDEN void tr__run_dir_remove (const char *path);

#endif
