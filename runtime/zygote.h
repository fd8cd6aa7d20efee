//  zygote - a single-threaded process forked before the node starts any
//  thread; it forks process actors on request and reports their deaths
#ifndef TR_ZYGOTE_H_INCLUDED
#define TR_ZYGOTE_H_INCLUDED

#include "alloc.h"

#include <stdint.h>
#include <sys/types.h>

typedef struct tr__zygote tr__zygote_t;

//  What a new process actor needs (sent to the zygote, given to the child).
typedef struct {
    uint64_t replica;       //  its identity on the parent's socket
    uint64_t memory_limit;  //  resident bytes; the node checks it, 0 = none
    uint32_t cpu_limit_s;   //  RLIMIT_CPU seconds, 0 = none
    uint32_t heartbeat_ms;
    uint64_t max_payload;
    char behaviour[64];
    char endpoint[200];
    char command[512];  //  not empty: exec /bin/sh -c command instead
    uint64_t lifeline;  //  its lifeline's address (lifeline.h), 0 = none
    uint32_t arg_size;  //  followed by arg bytes
} tr__child_args_t;

//  Events the zygote reports.
typedef enum { TR__ZYGOTE_FORKED = 1, TR__ZYGOTE_DIED = 2 } tr__zygote_event_kind_t;

typedef struct {
    uint32_t kind;
    uint64_t replica;  //  FORKED: the request's replica
    int32_t pid;       //  0 when the fork failed
    int32_t status;    //  DIED: waitpid status; FORKED: errno
} tr__zygote_event_t;

//  Fork the zygote. Call before any thread exists. NULL on failure.
TR__HIDDEN tr__zygote_t *tr__zygote_start (void);
//  Close the channel: the zygote SIGKILLs every child, reaps them, exits;
//  this waits for it (bounded). NULL-safe.
TR__HIDDEN void tr__zygote_stop (tr__zygote_t **self_p);
//  The fd that becomes readable when an event is ready.
TR__HIDDEN int tr__zygote_fd (tr__zygote_t *self);
//  Ask for a child (args followed by args->arg_size bytes). 0 or TR_E*.
TR__HIDDEN int tr__zygote_fork (tr__zygote_t *self, const tr__child_args_t *args, const void *arg);
//  Ask the zygote to signal one of its children (safe from pid reuse: the
//  zygote has not reaped it yet, or the pid is not its child any more).
TR__HIDDEN int tr__zygote_kill (tr__zygote_t *self, pid_t pid, int signal);
//  Read one event: 0, TR_EAGAIN when none, TR_ESTOPPED when the zygote died.
TR__HIDDEN int tr__zygote_read (tr__zygote_t *self, tr__zygote_event_t *event);
//  The zygote's pid.
TR__HIDDEN pid_t tr__zygote_pid (tr__zygote_t *self);

//  In the child: run the process actor; never returns. (child.c)
TR__HIDDEN void tr__child_main (const tr__child_args_t *args, const void *arg)
    __attribute__ ((noreturn));

#endif
