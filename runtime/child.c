//  child - the life of a process actor: one behaviour in a single-threaded
//  runtime of its own, talking to its node over one DEALER socket
#include "clock.h"
#include "lifeline.h"
#include "log.h"
#include "runtime.h"
#include "wire.h"
#include "zygote.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

//  The parent, as a process actor's handlers see it: msg->from of every
//  message from the node. Replies to it travel back over the socket.
#define S_PARENT (TR__REF_REMOTE | 1u)

typedef struct {
    void *socket;
    tr_runtime_t *rt;
    uint64_t *acks;  //  corr of one-way messages handled, to confirm
    size_t ack_count, ack_capacity;
    //  What goes up to the node, sent once per pass (s_flush).
    tr__wire_out_t out;
    size_t out_limit;  //  payload bytes of one BATCH at most
} s_child_t;

//  Send what is queued: one message as itself, several as one BATCH frame
//  (a ZeroMQ message costs the node's I/O thread and its manager about the
//  same whatever its size: one per pass instead of one per message).
static void
s_flush (s_child_t *child)
{
    size_t size;
    const void *frame = tr__wire_out_frame (&child->out, &size);
    if (frame)
        zmq_send (child->socket, frame, size, 0);
    tr__wire_out_reset (&child->out);
}

//  Queue one message for the node (sent by s_flush, or at once if it is too
//  big to share a frame).
static void
s_queue (s_child_t *child, const tr__wire_t *wire, const void *payload)
{
    if (4 + tr__wire_size (wire) > child->out_limit) {
        s_flush (child);
        tr__wire_send (child->socket, wire, payload, 0);
        return;
    }
    if (!tr__wire_out_fits (&child->out, wire, child->out_limit))
        s_flush (child);
    tr__wire_out_add (&child->out, wire, payload);
}

static void __attribute__ ((noreturn)) s_leave (s_child_t *child, void *context, int status)
{
    if (child->socket) {
        s_flush (child);
        zmq_close (child->socket);
    }
    if (context)
        zmq_ctx_term (context);
    _exit (status);
}

//  Everything addressed outside this process goes up to the node.
static void
s_bridge (tr_runtime_t *rt, tr__msg_t *msg)
{
    s_child_t *child = rt->bridge_arg;
    tr__wire_t wire = {.kind = TR__WIRE_MSG,
                       .flags = msg->flags & (TR_MSG_REQUEST | TR_MSG_REPLY | TR_MSG_ERROR),
                       .corr = msg->corr,
                       .to = msg->to & ~TR__REF_REMOTE,
                       .size = msg->size};
    const char *type = tr_type_name (msg->type);
    tr__wire_type (&wire, type ? type : "tr.reply");
    s_queue (child, &wire, msg->data);
    tr__msg_free (&rt->scheds[0]->pool, msg);
}

//  A one-way message from the node ran: confirm it after this batch.
static void
s_handled (tr_runtime_t *rt, uint64_t corr)
{
    s_child_t *child = rt->bridge_arg;
    if (child->ack_count == child->ack_capacity) {
        child->ack_capacity = child->ack_capacity ? child->ack_capacity * 2 : 64;
        child->acks = tr__realloc (child->acks, child->ack_capacity * sizeof (uint64_t));
    }
    child->acks[child->ack_count++] = corr;
}

static void
s_send_control (s_child_t *child, tr__wire_kind_t kind, uint64_t corr, const void *data,
                size_t size)
{
    tr__wire_t wire = {.kind = (uint8_t) kind, .corr = corr, .size = size};
    s_queue (child, &wire, data);
}

//  One message from the node: a MSG goes to the behaviour; BYE ends us;
//  anything else is ignored.
static void
s_take (s_child_t *child, void *context, tr__sched_t *sched, tr_ref_t self_ref,
        const tr__wire_t *wire, const void *payload)
{
    if (wire->kind == TR__WIRE_BYE)
        s_leave (child, context, 0);
    if (wire->kind != TR__WIRE_MSG)
        return;
    tr__msg_t *msg = tr__msg_new (&sched->pool, wire->size);
    msg->to = self_ref;
    msg->from = S_PARENT;
    msg->corr = wire->corr;
    msg->type = tr_type (wire->type);
    msg->flags = (uint16_t) (msg->flags | (wire->flags & (TR_MSG_REQUEST | TR_MSG_SHM)));
    if (wire->size)
        memcpy (msg->data, payload, wire->size);
    tr__route (child->rt, sched, msg, false);
}

//  --------------------------------------------------------------------------
//  The keeper: a second process in our address space (CLONE_VM, not a
//  thread of ours), so that when we die the address space outlives us for
//  a moment. Tearing down a child's memory (a few MB of page tables and
//  pages) takes 200-300 µs of one CPU on this kind of VM; done by our last
//  thread, it competes with the node redelivering what we held to a spare,
//  and it delays our pidfd. The keeper waits for us to end, then gives the
//  memory back 2 ms later at the lowest priority. It runs on its
//  own stack but shares our TLS (no CLONE_SETTLS): raw system calls only,
//  no errno, no libc.
#if defined(__has_feature)
#    if __has_feature(memory_sanitizer) || __has_feature(address_sanitizer) \
        || __has_feature(thread_sanitizer)
#        define S_SANITIZED 1
#    endif
#endif
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) \
    && !defined(S_SANITIZED)
#    define S_KEEPER 1

#    define S_KEEPER_GRACE_NS 2000000  //  after our death, before it lets go

static char s_keeper_stack[16384] __attribute__ ((aligned (64)));

static inline long
s_raw (long number, long a, long b, long c, long d)
{
    long result;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return result;
}

static int
s_keeper (void *arg)
{
    long pidfd = (long) (intptr_t) arg;  //  our owner's, opened before the clone
    //  Never outlive the zygote (its child, like us: CLONE_PARENT); no
    //  signal but SIGKILL; the lowest priority for the teardown at the end
    //  (nice 19, not SCHED_IDLE: a big address space must still be given
    //  back on a busy machine).
    s_raw (SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0);
    s_raw (SYS_prctl, PR_SET_NAME, (long) "tr-keeper", 0, 0);
    uint64_t all = ~0ULL;
    s_raw (SYS_rt_sigprocmask, SIG_SETMASK, (long) &all, 0, sizeof all);
    s_raw (SYS_setpriority, PRIO_PROCESS, 0, 19, 0);
    if (pidfd >= 0) {
        struct pollfd item = {(int) pidfd, POLLIN, 0};
        long rc;
        while ((rc = s_raw (SYS_poll, (long) &item, 1, -1, 0)) == -EINTR || rc == 0)
            ;  //  (a real error, never expected, ends the wait rather than spin)
        struct timespec grace = {0, S_KEEPER_GRACE_NS};
        s_raw (SYS_nanosleep, (long) &grace, 0, 0, 0);
    }
    s_raw (SYS_exit, 0, 0, 0, 0);
    return 0;
}

//  Before any other thread or socket of ours exists: the keeper must hold
//  none of our files (it has a copy of the fd table as it is now).
static void
s_keeper_start (void)
{
    //  Our pidfd, opened here: a keeper that opened it itself could, after
    //  our death and a reuse of our pid, watch some other process.
    int pidfd = (int) syscall (SYS_pidfd_open, getpid (), 0);
    if (pidfd < 0)
        return;
    clone (s_keeper, s_keeper_stack + sizeof s_keeper_stack, CLONE_VM | CLONE_PARENT | SIGCHLD,
           (void *) (intptr_t) pidfd);
    close (pidfd);  //  the keeper has its own copy of the fd table
}
#endif

void
tr__child_main (const tr__child_args_t *args, const void *arg)
{
    char name[16];
    snprintf (name, sizeof name, "tr:%.12s", args->behaviour);
    prctl (PR_SET_NAME, name);
    //  Held for life: the node sees this thread end before the rest of us.
    tr__lifeline_hold (args->lifeline);
#ifdef S_KEEPER
    s_keeper_start ();
#endif
    if (args->cpu_limit_s) {
        struct rlimit limit = {args->cpu_limit_s, args->cpu_limit_s + 1};
        setrlimit (RLIMIT_CPU, &limit);
    }
    s_child_t child = {0};
    child.out_limit = args->max_payload < 65536 ? args->max_payload : 65536;
    //  A fresh ZeroMQ context: nothing of the node's crossed the fork.
    void *context = zmq_ctx_new ();
    child.socket = context ? zmq_socket (context, ZMQ_DEALER) : NULL;
    if (!child.socket)
        s_leave (&child, context, 2);
    int linger = 0;
    zmq_setsockopt (child.socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (child.socket, ZMQ_ROUTING_ID, &args->replica, sizeof args->replica);
    if (zmq_connect (child.socket, args->endpoint) != 0)
        s_leave (&child, context, 2);

    tr_runtime_t *rt = tr__runtime_new_child ();
    rt->options.max_payload = args->max_payload;
    rt->bridge = s_bridge;
    rt->bridge_arg = &child;
    rt->handled = s_handled;
    child.rt = rt;
    tr__sched_t *sched = rt->scheds[0];
    tr_ref_t self_ref;
    int rc =
        tr__spawn_local (sched, args->behaviour, arg, args->arg_size, NULL, TR_REF_NONE, &self_ref);
    if (rc != 0) {
        int32_t reason = rc;
        s_send_control (&child, TR__WIRE_BYE, 0, &reason, sizeof reason);
        s_leave (&child, context, 3);
    }
    uint64_t hello[2] = {args->replica, (uint64_t) getpid ()};
    s_send_control (&child, TR__WIRE_HELLO, 0, hello, sizeof hello);
    s_flush (&child);

    uint64_t heartbeat_ns = (uint64_t) (args->heartbeat_ms ? args->heartbeat_ms : 100) * 1000000ULL;
    uint64_t next_beat = tr__now_ns () + heartbeat_ns;
    while (true) {
        //  Run what is ready, fire timers, confirm one-way messages handled.
        //  One bounded batch per pass: a long backlog must not keep the
        //  heartbeat (or the socket) waiting, or a busy child looks hung.
        sched->now_ns = tr__now_ns ();
        tr__sched_fire_timers (sched);
        tr__sched_run (sched, 64);
        //  Confirm the one-way messages that ran in this batch (s_handled).
        for (size_t i = 0; i < child.ack_count; i++)
            s_send_control (&child, TR__WIRE_ACK, child.acks[i], NULL, 0);
        child.ack_count = 0;
        if (!tr__ref_alive (rt, self_ref)) {
            //  The behaviour stopped (tr_stop / tr_fail / a failed handler).
            s_leave (&child, context, 4);
        }
        uint64_t now = tr__now_ns ();
        if (now >= next_beat) {
            s_send_control (&child, TR__WIRE_HEARTBEAT, 0, NULL, 0);
            next_beat = now + heartbeat_ns;
        }
        uint64_t wake = next_beat, due;
        if (tr__timers_next (&sched->timers, &due) && due < wake)
            wake = due;
        long timeout = wake > now ? (long) ((wake - now + 999999) / 1000000) : 0;
        if (sched->runq_head)
            timeout = 0;   //  more to run: only look at the socket
        s_flush (&child);  //  this pass's replies, acknowledgements and heartbeat
        zmq_pollitem_t item = {child.socket, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, timeout) < 0)
            s_leave (&child, context, 5);
        tr__wire_t wire;
        const void *payload;
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        while ((rc = tr__wire_recv (child.socket, args->max_payload, &wire, &frame, &payload,
                                    ZMQ_DONTWAIT))
               != TR_EAGAIN) {
            if (rc == 0 && wire.kind == TR__WIRE_BATCH) {
                //  Several messages in one frame: each in turn.
                const void *batch = payload;
                size_t batch_size = wire.size, offset = 0;
                while ((rc = tr__wire_batch_next (batch, batch_size, &offset, args->max_payload,
                                                  &wire, &payload))
                       == 1)
                    s_take (&child, context, sched, self_ref, &wire, payload);
                if (rc != 0)
                    s_leave (&child, context, 6);
                continue;
            }
            if (rc != 0) {
                zmq_msg_close (&frame);
                s_leave (&child, context, 6);  //  the node is trusted: bad input ends us
            }
            s_take (&child, context, sched, self_ref, &wire, payload);
        }
        zmq_msg_close (&frame);
    }
}
