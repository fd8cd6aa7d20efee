//  bench_process_zmq - bench_process's raw baselines, without troupe: fork
//  a child that builds a ZeroMQ context and answers one request
//  (fork_answer_p50), and pipelined request/reply between the bench's
//  ROUTER and a forked child's DEALER over ipc (zmq_ipc_reqrep_thr). The
//  children come from the forker (bench_util.h), which main starts with
//  s_baseline_child before any ZeroMQ context exists. The includer defines
//  PAYLOAD and WINDOW (shared with the troupe throughput benchmark).
#ifndef BENCH_PROCESS_ZMQ_H_INCLUDED
#define BENCH_PROCESS_ZMQ_H_INCLUDED

#include "bench_util.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

//  What the forker's children run (s_baseline_child).
typedef enum { S_FORK_ANSWER = 1, S_FORK_ECHO = 2 } s_fork_kind_t;

static char s_dir[64];  //  private temp dir for the baselines' ipc endpoints

//  -------------------------------------------------------------------------
//  Baseline 1: fork a child that builds a ZeroMQ context and answers once

typedef struct {
    int32_t pid;
    int32_t cpu;
} s_hello_t;

//  The child: a fresh context (the parent's is never touched here), one
//  request, wait for the answer, then sit until killed.
static void __attribute__ ((noreturn)) s_answer_child (const char *endpoint, pid_t parent)
{
    s_child_setup (parent);
    void *ctx = zmq_ctx_new ();
    void *dealer = ctx ? zmq_socket (ctx, ZMQ_DEALER) : NULL;
    if (!dealer || zmq_connect (dealer, endpoint) != 0)
        _exit (2);
    s_hello_t hello = {(int32_t) getpid (), (int32_t) sched_getcpu ()};
    if (zmq_send (dealer, &hello, sizeof hello, 0) != (int) sizeof hello)
        _exit (3);
    char reply[16];
    if (zmq_recv (dealer, reply, sizeof reply, 0) < 0)
        _exit (4);
    while (true)
        pause ();
}

//  Receive [identity][body] on router; returns body size or -1.
static int
s_router_recv (void *router, zmq_msg_t *identity, void *body, size_t size)
{
    if (zmq_msg_recv (identity, router, 0) < 0)
        return -1;
    if (!zmq_msg_more (identity)) {
        errno = EPROTO;
        return -1;
    }
    return zmq_recv (router, body, size, 0);
}

static int
s_router_send (void *router, zmq_msg_t *identity, const void *body, size_t size)
{
    if (zmq_send (router, zmq_msg_data (identity), zmq_msg_size (identity), ZMQ_SNDMORE) < 0)
        return -1;
    return zmq_send (router, body, size, 0);
}

//  Fork a child, wait for its request, answer it. Returns the child's pid
//  (0 on failure; the child is then reaped), sets *cpu to its cpu.
static pid_t
s_fork_answer (void *router, const char *endpoint, int *cpu)
{
    pid_t pid = s_forker_fork (S_FORK_ANSWER, endpoint);
    if (pid < 0) {
        s_fail ("fork", strerror (errno));
        return 0;
    }
    s_forked_add (pid);
    zmq_msg_t identity;
    zmq_msg_init (&identity);
    s_hello_t hello;
    int size = s_router_recv (router, &identity, &hello, sizeof hello);
    if (size != (int) sizeof hello) {
        s_fail ("fork_answer: child request", size < 0 ? zmq_strerror (zmq_errno ()) : "bad size");
        zmq_msg_close (&identity);
        s_reap (pid);
        return 0;
    }
    if (hello.pid != (int32_t) pid) {
        s_fail ("fork_answer", "request from another child than the one just forked");
        zmq_msg_close (&identity);
        s_reap (pid);
        return 0;
    }
    int rc = s_router_send (router, &identity, "ok", 2);
    zmq_msg_close (&identity);
    if (rc < 0) {
        s_fail ("fork_answer: reply", zmq_strerror (zmq_errno ()));
        s_reap (pid);
        return 0;
    }
    *cpu = hello.cpu;
    return pid;
}

//  p50 in µs of: kill + reap the previous child, fork a new one, receive
//  its request, reply. 0 on failure.
static double
s_fork_answer_p50 (int rounds, int *child_cpu)
{
    char endpoint[128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/answer", s_dir);
    void *ctx = zmq_ctx_new ();
    void *router = ctx ? zmq_socket (ctx, ZMQ_ROUTER) : NULL;
    int linger = 0, timeout = 5000, on = 1;
    if (!router || zmq_setsockopt (router, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_setsockopt (router, ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0
        || zmq_setsockopt (router, ZMQ_SNDTIMEO, &timeout, sizeof timeout) != 0
        || zmq_setsockopt (router, ZMQ_ROUTER_MANDATORY, &on, sizeof on) != 0
        || zmq_bind (router, endpoint) != 0) {
        s_fail ("fork_answer: router", zmq_strerror (zmq_errno ()));
        if (router)
            zmq_close (router);
        if (ctx)
            zmq_ctx_term (ctx);
        return 0;
    }
    double *times = calloc ((size_t) rounds, sizeof (double));
    int done = 0;
    //  The first child is not timed: every timed round kills one.
    pid_t previous = s_fork_answer (router, endpoint, child_cpu);
    while (previous > 0 && done < rounds) {
        double start = s_now ();
        if (s_reap (previous) != 0)
            break;
        previous = s_fork_answer (router, endpoint, child_cpu);
        if (previous <= 0)
            break;
        times[done++] = (s_now () - start) * 1e6;
    }
    s_reap (previous);
    double p50 = done == rounds ? s_percentile (times, (size_t) done, 0.5) : 0;
    if (done != rounds)
        s_fail ("fork_answer_p50", "not every round completed");
    free (times);
    zmq_close (router);
    zmq_ctx_term (ctx);
    return p50;
}

//  -------------------------------------------------------------------------
//  Baseline 3: raw ROUTER (bench) <-> DEALER echo (forked child) over ipc

//  The child echoes every message; an empty one asks for its cpu.
static void __attribute__ ((noreturn)) s_echo_child (const char *endpoint, pid_t parent)
{
    s_child_setup (parent);
    void *ctx = zmq_ctx_new ();
    void *dealer = ctx ? zmq_socket (ctx, ZMQ_DEALER) : NULL;
    if (!dealer || zmq_connect (dealer, endpoint) != 0)
        _exit (2);
    s_hello_t hello = {(int32_t) getpid (), (int32_t) sched_getcpu ()};
    if (zmq_send (dealer, &hello, sizeof hello, 0) != (int) sizeof hello)
        _exit (3);
    char buffer[256];
    while (true) {
        int size = zmq_recv (dealer, buffer, sizeof buffer, 0);
        if (size < 0)
            _exit (4);
        if (size == 0) {
            int32_t cpu = (int32_t) sched_getcpu ();
            memcpy (buffer, &cpu, sizeof cpu);
            size = sizeof cpu;
        }
        if (zmq_send (dealer, buffer, (size_t) size, 0) < 0)
            _exit (5);
    }
}

//  Returns msgs/s for count pipelined round trips (window in flight), or 0.
static double
s_zmq_ipc_reqrep_thr (long count, int *cpus)
{
    char endpoint[128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/echo", s_dir);
    void *ctx = zmq_ctx_new ();
    void *router = ctx ? zmq_socket (ctx, ZMQ_ROUTER) : NULL;
    //  As the node's ROUTER: mandatory routing, no linger, deep queues.
    int linger = 0, timeout = 10000, on = 1, hwm = 100000;
    if (!router || zmq_setsockopt (router, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_setsockopt (router, ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0
        || zmq_setsockopt (router, ZMQ_SNDTIMEO, &timeout, sizeof timeout) != 0
        || zmq_setsockopt (router, ZMQ_ROUTER_MANDATORY, &on, sizeof on) != 0
        || zmq_setsockopt (router, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0
        || zmq_setsockopt (router, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0
        || zmq_bind (router, endpoint) != 0) {
        s_fail ("zmq_ipc_reqrep_thr: router", zmq_strerror (zmq_errno ()));
        if (router)
            zmq_close (router);
        if (ctx)
            zmq_ctx_term (ctx);
        return 0;
    }
    double result = 0;
    pid_t pid = s_forker_fork (S_FORK_ECHO, endpoint);
    if (pid < 0) {
        s_fail ("zmq_ipc_reqrep_thr: fork", strerror (errno));
        goto done;
    }
    s_forked_add (pid);
    zmq_msg_t identity;
    zmq_msg_init (&identity);
    s_hello_t hello;
    if (s_router_recv (router, &identity, &hello, sizeof hello) != (int) sizeof hello
        || hello.pid != (int32_t) pid) {
        s_fail ("zmq_ipc_reqrep_thr: child hello", zmq_strerror (zmq_errno ()));
        goto done_child;
    }
    unsigned char payload[PAYLOAD] = {0}, reply[PAYLOAD + 1];
    long sent = 0, received = 0;
    double start = s_now ();
    while (received < count) {
        while (sent < count && sent - received < WINDOW) {
            memcpy (payload, &sent, sizeof sent);
            if (s_router_send (router, &identity, payload, sizeof payload) < 0) {
                s_fail ("zmq_ipc_reqrep_thr: send", zmq_strerror (zmq_errno ()));
                goto done_child;
            }
            sent++;
        }
        zmq_msg_t from;
        zmq_msg_init (&from);
        int size = s_router_recv (router, &from, reply, sizeof reply);
        zmq_msg_close (&from);
        long seq;
        memcpy (&seq, reply, sizeof seq);
        if (size != PAYLOAD || seq != received) {
            s_fail ("zmq_ipc_reqrep_thr: reply",
                    size < 0 ? zmq_strerror (zmq_errno ()) : "wrong size or order");
            goto done_child;
        }
        received++;
    }
    double elapsed = s_now () - start;
    result = (double) count / elapsed;
    cpus[0] = sched_getcpu ();
    //  Ask the child where it ran.
    int32_t child_cpu = -1;
    zmq_msg_t from;
    zmq_msg_init (&from);
    if (s_router_send (router, &identity, "", 0) < 0
        || s_router_recv (router, &from, &child_cpu, sizeof child_cpu) != (int) sizeof child_cpu)
        s_fail ("zmq_ipc_reqrep_thr: child cpu", zmq_strerror (zmq_errno ()));
    zmq_msg_close (&from);
    cpus[1] = child_cpu;
done_child:
    zmq_msg_close (&identity);
    s_reap (pid);
done:
    zmq_close (router);
    zmq_ctx_term (ctx);
    return result;
}

//  The forker's children (s_forker_start): one of the two above.
static void __attribute__ ((noreturn))
s_baseline_child (int32_t kind, const char *endpoint, pid_t parent)
{
    if (kind == S_FORK_ANSWER)
        s_answer_child (endpoint, parent);
    s_echo_child (endpoint, parent);
}

#endif
