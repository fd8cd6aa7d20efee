//  bench_strategies_worker - what bench_strategies runs: the workloads, the
//  three kinds of job (cpu, memory, io) and "strat.worker", the one behaviour
//  every strategy runs them in. Its reply says the value and where the
//  handler ran (host, scheduler thread, dedicated thread, loop, process).
//  Static functions: included by bench_strategies.c only, after
//  bench_util.h and bench_strategies_io.h.
#ifndef BENCH_STRATEGIES_WORKER_H_INCLUDED
#define BENCH_STRATEGIES_WORKER_H_INCLUDED

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <troupe.h>

//  ---------------------------------------------------------------------
//  Workloads and jobs

typedef enum { S_CPU, S_MEM, S_IO, S_KINDS } s_kind_t;
enum { W_CPU, W_MEMORY, W_IO, W_MIXED, S_WORKLOADS };
static const char *s_workload_names[S_WORKLOADS] = {"cpu", "memory", "io", "mixed"};

enum { M_INLINE, M_THREAD, M_DEDICATED, M_PROCESS, M_ASYNC, M_SHM, M_HYBRID, S_MODES };
static const char *s_mode_names[S_MODES] = {"inline", "thread", "dedicated", "process",
                                            "async",  "shm",    "hybrid"};

typedef struct {
    uint32_t cpu_iterations;  //  xorshift steps per cpu job
    size_t segment_size;      //  bytes summed per memory job
    int segments;             //  distinct memory payloads (job j uses j % segments)
    int io_delay_us;          //  the server's answer delay
    long jobs[S_WORKLOADS];   //  batch size per workload
    long warmup;              //  jobs run (and checked) before each timed cell
} s_config_t;

static s_config_t s_config;

//  What job `job` of a workload is: the workloads are one kind each, mixed
//  cycles cpu, io, memory.
static s_kind_t
s_kind_of (int workload, long job)
{
    static const s_kind_t mixed[3] = {S_CPU, S_IO, S_MEM};
    switch (workload) {
        case W_CPU: return S_CPU;
        case W_MEMORY: return S_MEM;
        case W_IO: return S_IO;
        default: return mixed[job % 3];
    }
}

//  A job's identity on the wire (cpu seed, io request id).
static uint64_t
s_job_id (int workload, long job)
{
    return ((uint64_t) workload << 32) | (uint64_t) job;
}

//  The three kinds of work, run where the strategy puts them.

typedef struct {
    uint64_t seed;
    uint32_t iterations;
    uint32_t unused;
} s_cpu_job_t;

//  A dependent chain of xorshift steps: pure compute, no memory traffic.
static uint64_t
s_cpu_work (uint64_t seed, uint32_t iterations)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
    for (uint32_t i = 0; i < iterations; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

//  One pass over size bytes (whole 64-bit words): memory bandwidth bound.
static uint64_t
s_mem_work (const void *data, size_t size)
{
    const unsigned char *bytes = data;
    uint64_t sum = 0;
    for (size_t at = 0; at + 8 <= size; at += 8) {
        uint64_t word;
        memcpy (&word, bytes + at, sizeof word);
        sum += word ^ (word >> 29);
    }
    return sum;
}

//  The memory payloads: shared-memory segments filled once, before the
//  scheduler threads start. Every strategy reads the same bytes: inline in
//  place, the copying strategies copy them into messages, the shm strategy
//  sends the segment's handle, the hybrid names the segment ("strat.memref").
static tr_shm_t **s_segments;
static uint64_t *s_segment_sums;

//  Each workload's results as its inline run computed them: the reference
//  every other strategy's replies are checked against. Written before the
//  scheduler threads start.
static uint64_t *s_expected[S_WORKLOADS];

static char s_io_path[108];
static pid_t s_host_pid;
static tr_type_t s_type_cpu, s_type_mem, s_type_memref, s_type_io, s_type_aio, s_type_go,
    s_type_wait;

//  ---------------------------------------------------------------------
//  The worker: one behaviour for every strategy. Its reply says the value
//  and where the handler ran.

typedef struct {
    uint64_t value;
    uint32_t where;  //  't' scheduler thread, 'd' dedicated, 'a' loop, 'p' process, '?'
    uint32_t kind;
} s_result_t;

typedef struct {
    char io_path[108];
    int32_t host_pid;
} s_worker_arg_t;

//  An async io request waiting for the server's answer.
typedef struct {
    tr_msg_t request;  //  from, corr, type and flags: enough to reply later
    uint64_t id;
} s_waiting_t;

typedef struct {
    s_worker_arg_t arg;
    char where;
    int io_fd;   //  blocking connection ("strat.io"), -1 until first used
    int aio_fd;  //  non-blocking connection ("strat.aio"), watched
    s_waiting_t *waiting;
    size_t waiting_count, waiting_capacity;
} s_worker_t;

static char
s_where_here (pid_t host_pid)
{
    if (getpid () != host_pid)
        return 'p';
    char name[16] = "";
    pthread_getname_np (pthread_self (), name, sizeof name);
    if (strncmp (name, "troupe-loop", 11) == 0)
        return 'a';
    if (strncmp (name, "troupe-ded", 10) == 0)
        return 'd';
    if (strncmp (name, "troupe-", 7) == 0 && isdigit ((unsigned char) name[7]))
        return 't';
    return '?';
}

static int
s_worker_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    s_worker_t *worker = state;
    if (arg_size != sizeof worker->arg)
        return TR_EINVAL;
    memcpy (&worker->arg, arg, sizeof worker->arg);
    worker->arg.io_path[sizeof worker->arg.io_path - 1] = 0;
    //  An actor never changes thread: where it runs is known once.
    worker->where = s_where_here (worker->arg.host_pid);
    worker->io_fd = worker->aio_fd = -1;
    return 0;
}

static int
s_worker_reply (tr_actor_t *self, const s_worker_t *worker, const tr_msg_t *request, s_kind_t kind,
                uint64_t value)
{
    s_result_t result = {value, (uint32_t) worker->where, (uint32_t) kind};
    return tr_reply (self, request, &result, sizeof result);
}

static int
s_worker_cpu (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_cpu_job_t job;
    if (msg->size != sizeof job)
        return tr_reply_error (self, msg, TR_EMALFORMED);
    memcpy (&job, msg->data, sizeof job);
    return s_worker_reply (self, state, msg, S_CPU, s_cpu_work (job.seed, job.iterations));
}

//  The payload itself (a copy), or a shared-memory segment mapped here.
static int
s_worker_mem (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (!(msg->flags & TR_MSG_SHM))
        return s_worker_reply (self, state, msg, S_MEM, s_mem_work (msg->data, msg->size));
    tr_shm_t *shm = tr_shm_open (msg);
    if (!shm)
        return tr_reply_error (self, msg, TR_EINVAL);
    uint64_t sum = s_mem_work (tr_shm_data (shm), tr_shm_size (shm));
    tr_shm_release (&shm);
    return s_worker_reply (self, state, msg, S_MEM, sum);
}

//  A memory job by reference: the payload names a segment the node holds,
//  read where it is (only an actor in the node's own process can).
static int
s_worker_memref (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_worker_t *worker = state;
    uint32_t segment;
    if (msg->size != sizeof segment)
        return tr_reply_error (self, msg, TR_EMALFORMED);
    memcpy (&segment, msg->data, sizeof segment);
    if (getpid () != worker->arg.host_pid || segment >= (uint32_t) s_config.segments)
        return tr_reply_error (self, msg, TR_EINVAL);
    uint64_t sum = s_mem_work (tr_shm_data (s_segments[segment]), s_config.segment_size);
    return s_worker_reply (self, worker, msg, S_MEM, sum);
}

//  Blocking io: the handler waits for the answer (its thread waits too).
static int
s_worker_io (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_worker_t *worker = state;
    s_io_request_t request;
    if (msg->size != sizeof request)
        return tr_reply_error (self, msg, TR_EMALFORMED);
    memcpy (&request, msg->data, sizeof request);
    if (worker->io_fd < 0)
        worker->io_fd = s_io_connect (worker->arg.io_path, true, 10000);
    uint64_t answer = 0;
    int rc = worker->io_fd < 0 ? -errno : s_io_call (worker->io_fd, request.id, &answer);
    if (rc != 0) {
        fprintf (stderr, BENCH_NAME ": worker: io call: %s\n", strerror (-rc));
        if (worker->io_fd >= 0)
            close (worker->io_fd);
        worker->io_fd = -1;
        return tr_reply_error (self, msg, TR_EFAILED);
    }
    return s_worker_reply (self, worker, msg, S_IO, answer);
}

//  Fail every async request still waiting (connection lost, or stopping).
static void
s_worker_fail_waiting (tr_actor_t *self, s_worker_t *worker, int reason)
{
    for (size_t i = 0; i < worker->waiting_count; i++)
        tr_reply_error (self, &worker->waiting[i].request, reason);
    worker->waiting_count = 0;
}

//  The async connection is readable: answer the requests whose answers came.
//  Under a service, `state` is not the behaviour's state (see
//  docs/performance.md): the worker comes in arg.
static void
s_worker_aio_ready (tr_actor_t *self, void *state, int fd, int revents, void *arg)
{
    (void) state;
    (void) revents;
    s_worker_t *worker = arg;
    while (true) {
        s_io_reply_t reply;
        ssize_t got = recv (fd, &reply, sizeof reply, MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (got < 0 && errno == EINTR)
            continue;
        if (got != (ssize_t) sizeof reply) {
            fprintf (stderr, BENCH_NAME ": worker: async io connection lost\n");
            tr_unwatch (self, fd);
            close (fd);
            worker->aio_fd = -1;
            s_worker_fail_waiting (self, worker, TR_EFAILED);
            return;
        }
        size_t at = 0;
        while (at < worker->waiting_count && worker->waiting[at].id != reply.id)
            at++;
        if (at == worker->waiting_count) {
            fprintf (stderr, BENCH_NAME ": worker: an answer nobody asked for\n");
            continue;
        }
        s_worker_reply (self, worker, &worker->waiting[at].request, S_IO, reply.answer);
        worker->waiting_count--;
        memmove (&worker->waiting[at], &worker->waiting[at + 1],
                 (worker->waiting_count - at) * sizeof worker->waiting[0]);
    }
}

//  Async io: send the request, keep it, return at once; the watcher replies.
static int
s_worker_aio (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_worker_t *worker = state;
    s_io_request_t request;
    if (msg->size != sizeof request)
        return tr_reply_error (self, msg, TR_EMALFORMED);
    memcpy (&request, msg->data, sizeof request);
    if (worker->aio_fd < 0) {
        worker->aio_fd = s_io_connect (worker->arg.io_path, false, 0);
        if (worker->aio_fd < 0)
            return tr_reply_error (self, msg, TR_EFAILED);
        int rc = tr_watch (self, worker->aio_fd, TR_WATCH_READ, s_worker_aio_ready, worker);
        if (rc != 0) {
            close (worker->aio_fd);
            worker->aio_fd = -1;
            return tr_reply_error (self, msg, rc);
        }
    }
    if (send (worker->aio_fd, &request, sizeof request, MSG_DONTWAIT | MSG_NOSIGNAL)
        != (ssize_t) sizeof request)
        return tr_reply_error (self, msg, TR_EAGAIN);
    if (worker->waiting_count == worker->waiting_capacity) {
        worker->waiting_capacity = worker->waiting_capacity ? worker->waiting_capacity * 2 : 64;
        s_waiting_t *waiting =
            realloc (worker->waiting, worker->waiting_capacity * sizeof *worker->waiting);
        if (!waiting)
            abort ();
        worker->waiting = waiting;
    }
    s_waiting_t *waiting = &worker->waiting[worker->waiting_count++];
    waiting->request = *msg;
    waiting->request.data = NULL;  //  not valid once the handler returned
    waiting->request.size = 0;
    waiting->id = request.id;
    return 0;
}

static void
s_worker_terminate (tr_actor_t *self, void *state, int reason)
{
    s_worker_t *worker = state;
    s_worker_fail_waiting (self, worker, reason ? reason : TR_ESHUTDOWN);
    if (worker->aio_fd >= 0) {
        tr_unwatch (self, worker->aio_fd);  //  also dropped with the actor
        close (worker->aio_fd);
    }
    if (worker->io_fd >= 0)
        close (worker->io_fd);
    free (worker->waiting);
}

static const tr_handler_t s_worker_handlers[] = {
    {"strat.cpu", s_worker_cpu}, {"strat.mem", s_worker_mem}, {"strat.memref", s_worker_memref},
    {"strat.io", s_worker_io},   {"strat.aio", s_worker_aio}, {NULL, NULL}};
static const tr_behaviour_t s_worker = {"strat.worker",     sizeof (s_worker_t), s_worker_init,
                                        s_worker_terminate, s_worker_handlers,   NULL};

#endif
