//  router - one service, three message types, three places to run: `status`
//  on the scheduler threads, `compute` in child processes, `fetch` on the
//  async loop (it waits on a timer fd and answers later). The host calls
//  each a few times, prints where each call ran and the route statistics.
//
//  Build: part of the main build (build/router), or against an installed
//  troupe: cc router.c $(pkg-config --cflags --libs troupe)
//  Exit status: 0 when every call was answered where its route says (it
//  runs as a test), 1 otherwise. See README.md here and docs/routing.md.

#define _GNU_SOURCE  //  pthread_getname_np

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <troupe.h>

#define STATUS_CALLS  4
#define COMPUTE_CALLS 4
#define FETCH_CALLS   3
#define FETCH_AT_ONCE 4   //  fetches sent together from as many host threads
#define FETCH_WAIT_MS 50  //  how long one fetch waits on its timer

//  --------------------------------------------------------------------------
//  The behaviour. Every instance of the service runs it, wherever its
//  route puts it; each instance has its own state.

//  What every answer says: where the handler ran, and one number.
typedef struct {
    int32_t pid;
    char thread[16];
    int64_t value;  //  status: calls this instance answered; compute: primes;
                    //  fetch: milliseconds waited
} answer_t;

//  A fetch waiting for its timer: what the watcher needs to answer it.
typedef struct pending {
    struct pending *next;
    struct worker *owner;
    tr_msg_t request;  //  a copy: tr_reply reads from, corr, type and flags
    int fd;
    uint64_t started_ms;
} pending_t;

typedef struct worker {
    int64_t answered;    //  status calls this instance answered
    pending_t *pending;  //  fetches waiting on this instance
} worker_t;

static uint64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
}

static answer_t
s_here (int64_t value)
{
    answer_t answer = {.pid = (int32_t) getpid (), .value = value};
    pthread_getname_np (pthread_self (), answer.thread, sizeof answer.thread);
    return answer;
}

//  "status": a quick answer, fine on a scheduler thread.
static int
s_status (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    worker_t *worker = state;
    answer_t answer = s_here (++worker->answered);
    return tr_reply (self, msg, &answer, sizeof answer);
}

//  "compute": CPU work (primes below n, by trial division), the kind of code
//  one would rather run in a process: a crash there costs a child, not the
//  node.
static int
s_compute (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    int32_t limit;
    if (msg->size != sizeof limit)
        return tr_reply_error (self, msg, TR_EINVAL);
    memcpy (&limit, msg->data, sizeof limit);
    int64_t primes = 0;
    for (int32_t n = 2; n < limit; n++) {
        bool prime = true;
        for (int32_t d = 2; d * d <= n && prime; d++)
            prime = n % d != 0;
        primes += prime;
    }
    answer_t answer = s_here (primes);
    return tr_reply (self, msg, &answer, sizeof answer);
}

static void
s_pending_remove (worker_t *worker, pending_t *pending)
{
    for (pending_t **link = &worker->pending; *link; link = &(*link)->next)
        if (*link == pending) {
            *link = pending->next;
            break;
        }
}

//  The timer of one fetch fired: answer it. Runs on the instance's thread,
//  as a handler does. Everything it needs comes through arg: in a service
//  instance, state here is not the worker_t (docs/routing.md, Limitations).
static void
s_fetch_ready (tr_actor_t *self, void *state, int fd, int revents, void *arg)
{
    (void) state;
    (void) revents;
    pending_t *pending = arg;
    uint64_t expirations;
    if (read (fd, &expirations, sizeof expirations) < 0 && errno == EAGAIN)
        return;  //  not yet: the watcher stays
    tr_unwatch (self, fd);
    close (fd);
    s_pending_remove (pending->owner, pending);
    answer_t answer = s_here ((int64_t) (s_now_ms () - pending->started_ms));
    tr_reply (self, &pending->request, &answer, sizeof answer);
    free (pending);
}

//  "fetch": start a wait (a timer fd stands in for a socket waiting on a
//  server), watch it, and return at once without answering. The loop thread
//  handles other fetches meanwhile; s_fetch_ready answers this one later.
static int
s_fetch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    worker_t *worker = state;
    int fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return tr_reply_error (self, msg, TR_EFAILED);
    struct itimerspec wait = {.it_value = {.tv_nsec = FETCH_WAIT_MS * 1000000L}};
    pending_t *pending = calloc (1, sizeof *pending);
    if (!pending || timerfd_settime (fd, 0, &wait, NULL) != 0) {
        free (pending);
        close (fd);
        return tr_reply_error (self, msg, TR_EFAILED);
    }
    *pending = (pending_t){worker->pending, worker, *msg, fd, s_now_ms ()};
    pending->request.data = NULL;  //  the payload is not valid after we return
    pending->request.size = 0;
    int rc = tr_watch (self, fd, TR_WATCH_READ, s_fetch_ready, pending);
    if (rc != 0) {
        free (pending);
        close (fd);
        return tr_reply_error (self, msg, rc);
    }
    worker->pending = pending;
    return 0;
}

//  The instance stops (the service stops or restarts it): answer the
//  fetches still waiting, or their callers would wait for the deadline.
static void
s_terminate (tr_actor_t *self, void *state, int reason)
{
    worker_t *worker = state;
    while (worker->pending) {
        pending_t *pending = worker->pending;
        worker->pending = pending->next;
        tr_unwatch (self, pending->fd);
        close (pending->fd);
        tr_reply_error (self, &pending->request, reason ? reason : TR_ESHUTDOWN);
        free (pending);
    }
}

static const tr_handler_t s_worker_handlers[] = {
    {"status", s_status}, {"compute", s_compute}, {"fetch", s_fetch}, {NULL, NULL}};
static const tr_behaviour_t s_worker = {.name = "demo.worker",
                                        .state_size = sizeof (worker_t),
                                        .terminate = s_terminate,
                                        .handlers = s_worker_handlers};

//  --------------------------------------------------------------------------
//  The service: one route per type (router.zpl describes the same one).

static const tr_route_t s_routes[] = {
    //  Two instances on the scheduler threads, taken in turn.
    {.type = "status", .replicas = 2},
    //  A pool of two child processes; at most 8 requests in it, the next
    //  ones wait in the router (up to 64), then get TR_EAGAIN.
    {.type = "compute",
     .mode = TR_MODE_PROCESS,
     .replicas = 2,
     .deadline_ms = 5000,
     .max_in_flight = 8,
     .overflow = TR_ROUTE_QUEUE,
     .queue_limit = 64},
    //  One instance on the async loop thread, many fetches in flight.
    {.type = "fetch", .mode = TR_MODE_ASYNC, .deadline_ms = 2000},
};

static const tr_service_spec_t s_service = {
    .name = "demo",
    .behaviour = "demo.worker",
    .routes = s_routes,
    .route_count = sizeof s_routes / sizeof s_routes[0],
};

//  --------------------------------------------------------------------------
//  The host

static tr_runtime_t *s_rt;
static tr_ref_t s_demo;
static int s_failures;

static void
s_expect (bool ok, const char *what)
{
    if (!ok) {
        fprintf (stderr, "router: FAILED: %s\n", what);
        s_failures++;
    }
}

//  Call type with payload; print and return where it ran.
static answer_t
s_call (const char *type, const void *data, size_t size, bool print)
{
    answer_t answer = {0};
    void *reply = NULL;
    size_t reply_size = 0;
    int rc = tr_call (s_rt, s_demo, tr_type (type), data, size, 10000, &reply, &reply_size);
    if (rc == 0 && reply_size == sizeof answer)
        memcpy (&answer, reply, sizeof answer);
    else
        fprintf (stderr, "router: %s: %s\n", type, rc ? tr_strerror (rc) : "bad reply size");
    tr_free (reply);
    s_expect (rc == 0 && reply_size == sizeof answer, "every call is answered");
    if (print)
        printf ("  %-8s pid %-7d thread %-15s %lld\n", type, (int) answer.pid, answer.thread,
                (long long) answer.value);
    return answer;
}

//  One call on a host thread of its own, to have several in flight at once.
typedef struct {
    const char *type;
    int32_t payload;  //  compute: the limit
    answer_t answer;
    pthread_t thread;
} job_t;

static void *
s_job (void *arg)
{
    job_t *job = arg;
    size_t size = job->payload ? sizeof job->payload : 0;  //  fetch: no payload
    job->answer = s_call (job->type, &job->payload, size, false);
    return NULL;
}

//  Run count jobs at once; false if a thread could not start.
static bool
s_run_jobs (job_t *jobs, int count)
{
    int started = 0;
    while (started < count
           && pthread_create (&jobs[started].thread, NULL, s_job, &jobs[started]) == 0)
        started++;
    for (int i = 0; i < started; i++)
        pthread_join (jobs[i].thread, NULL);
    return started == count;
}

static void
s_print_stats (const char *type)
{
    tr_route_stats_t stats;
    int rc = tr_service_route_stats (s_rt, s_demo, type, &stats);
    s_expect (rc == 0, "route statistics");
    if (rc != 0)
        return;
    printf ("  %-8s %-8s %8llu %7llu %6llu %8llu %8llu %8llu %10llu\n", type,
            tr_mode_name (stats.mode), (unsigned long long) stats.requests,
            (unsigned long long) stats.replies, (unsigned long long) stats.errors,
            (unsigned long long) stats.p50_us, (unsigned long long) stats.p99_us,
            (unsigned long long) stats.max_us, (unsigned long long) stats.handler_wall_us);
    s_expect (stats.errors == 0 && stats.replies == stats.requests && stats.in_flight == 0,
              "every request of the route answered without error");
}

//  The same node from the config file (router.zpl): its root supervisor
//  starts the service under the name "demo".
static int
s_start_from_config (const char *path)
{
    tr_config_error_t error;
    s_rt = tr_runtime_new_from_config (path, &error);
    if (!s_rt) {
        fprintf (stderr, "router: %s:%d: %s: %s\n", error.file, error.line, error.key,
                 error.message);
        return 1;
    }
    for (int tries = 0; tries < 2000 && !(s_demo = tr_whereis (s_rt, "demo")); tries++)
        usleep (1000);
    if (!s_demo) {
        fprintf (stderr, "router: no service named demo in %s\n", path);
        tr_runtime_destroy (&s_rt);
        return 1;
    }
    return 0;
}

//  router [CONFIG]: the service from the code below, or from CONFIG.
int
main (int argc, char *argv[])
{
    //  Before tr_runtime_new: the process children are copies of the
    //  program as it is when tr_runtime_new forks the zygote.
    if (tr_behaviour_register (&s_worker) != 0)
        return 1;
    if (argc > 2) {
        fprintf (stderr, "usage: router [CONFIG]\n");
        return 2;
    }
    if (argc == 2) {
        if (s_start_from_config (argv[1]) != 0)
            return 1;
    }
    else {
        tr_options_t options;
        tr_options_default (&options);
        options.threads = 2;  //  troupe-0, troupe-1; one async loop (troupe-loop-0)
        s_rt = tr_runtime_new (&options);
        if (!s_rt || tr_runtime_start (s_rt) != 0)
            return 1;
        int rc = tr_service_start (s_rt, &s_service, &s_demo);
        if (rc != 0) {
            fprintf (stderr, "router: tr_service_start: %s\n", tr_strerror (rc));
            tr_runtime_destroy (&s_rt);
            return 1;
        }
    }
    int host = (int) getpid ();
    printf ("router: host pid %d, service \"demo\" (behaviour demo.worker)\n\n", host);
    printf ("  type     where                            answer\n");

    //  status: two thread instances, in turn (round robin).
    answer_t answer;
    char first[16] = "";
    bool both = false;
    for (int i = 0; i < STATUS_CALLS; i++) {
        answer = s_call ("status", NULL, 0, true);
        bool scheduler = strncmp (answer.thread, "troupe-", 7) == 0 && answer.thread[7] >= '0'
                         && answer.thread[7] <= '9';  //  troupe-N, not troupe-loop-N
        s_expect (answer.pid == host && scheduler, "status runs on a scheduler thread");
        if (i == 0)
            memcpy (first, answer.thread, sizeof first);
        both |= strcmp (first, answer.thread) != 0;
    }
    s_expect (both, "status goes to both of its instances");

    //  compute: in the pool's child processes. The router starts the pool
    //  on first use: the first call waits for the children to start. Then
    //  COMPUTE_CALLS at once from as many host threads: the pool gives each
    //  to the child with the fewest in flight.
    int32_t warm_up = 10000;
    answer = s_call ("compute", &warm_up, sizeof warm_up, true);
    s_expect (answer.pid != host && answer.pid > 0, "compute runs in a child process");
    //  The children start one after the other (a fork and a start-up each,
    //  a few ms); the first call went to the first one ready. Give the
    //  second one time, or the next calls may all go to the first child.
    usleep (200 * 1000);
    job_t computes[COMPUTE_CALLS];
    for (int i = 0; i < COMPUTE_CALLS; i++)
        computes[i] = (job_t){.type = "compute", .payload = 40000 << i};
    s_expect (s_run_jobs (computes, COMPUTE_CALLS), "host threads start");
    for (int i = 0; i < COMPUTE_CALLS; i++) {
        answer = computes[i].answer;
        printf ("  %-8s pid %-7d thread %-15s %lld\n", "compute", (int) answer.pid, answer.thread,
                (long long) answer.value);
        s_expect (answer.pid != host && answer.pid > 0, "compute runs in a child process");
    }

    //  fetch: on the loop thread, one at a time, then FETCH_AT_ONCE together.
    for (int i = 0; i < FETCH_CALLS; i++) {
        answer = s_call ("fetch", NULL, 0, true);
        s_expect (answer.pid == host && strncmp (answer.thread, "troupe-loop-", 12) == 0,
                  "fetch runs on the async loop thread");
    }
    job_t fetches[FETCH_AT_ONCE];
    for (int i = 0; i < FETCH_AT_ONCE; i++)
        fetches[i] = (job_t){.type = "fetch"};
    uint64_t start = s_now_ms ();
    s_expect (s_run_jobs (fetches, FETCH_AT_ONCE), "host threads start");
    printf ("\n  %d fetches at once, from %d host threads: %llu ms in all, each waited %d ms"
            "\n  on one loop instance (the waits overlap: it never blocks)\n",
            FETCH_AT_ONCE, FETCH_AT_ONCE, (unsigned long long) (s_now_ms () - start),
            FETCH_WAIT_MS);

    //  What the router measured, per route.
    printf ("\n  route    mode     requests replies errors   p50 us   p99 us   max us"
            " handler us\n");
    s_print_stats ("status");
    s_print_stats ("compute");
    s_print_stats ("fetch");
    tr_route_stats_t stats;
    if (tr_service_route_stats (s_rt, s_demo, "compute", &stats) == 0)
        s_expect (stats.mode == TR_MODE_PROCESS && stats.requests == COMPUTE_CALLS + 1,
                  "compute: a process route, every call counted");
    if (tr_service_route_stats (s_rt, s_demo, "fetch", &stats) == 0)
        s_expect (stats.mode == TR_MODE_ASYNC && stats.requests == FETCH_CALLS + FETCH_AT_ONCE,
                  "fetch: an async route, every call counted");
    printf ("\n  (handler us: time spent inside handlers, measured around each call on"
            "\n  threads and on the loop; a fetch's wait is not in it. Process routes: 0.)\n");

    tr_runtime_destroy (&s_rt);
    printf ("\nrouter: %s\n", s_failures ? "FAILED" : "ok");
    return s_failures ? 1 : 0;
}
