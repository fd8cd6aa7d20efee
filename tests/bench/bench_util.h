//  bench_util - what the benchmark programs share: failure reporting, a
//  monotonic clock, percentiles, selecting benchmarks by name on the
//  command line, and for baselines that fork: the children's registry
//  (every one is killed and reaped) and a single-threaded forker. All
//  static inline, so a program takes what it needs. Define BENCH_NAME
//  (the prefix of failure messages) before including this.
#ifndef BENCH_UTIL_H_INCLUDED
#define BENCH_UTIL_H_INCLUDED

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <troupe.h>

#ifndef BENCH_NAME
#    define BENCH_NAME "bench"
#endif

static int s_failed;  //  a measurement that could not be taken

static inline void
s_fail (const char *what, const char *why)
{
    fflush (stdout);
    fprintf (stderr, BENCH_NAME ": %s: %s\n", what, why);
    s_failed = 1;
}

static inline void
s_fail_rc (const char *what, int rc)
{
    s_fail (what, tr_strerror (rc));
}

static inline double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static inline int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static inline double
s_percentile (double *values, size_t count, double q)
{
    if (count == 0)
        return 0;
    qsort (values, count, sizeof (double), s_cmp_double);
    size_t at = (size_t) (q * (double) count);
    return values[at < count ? at : count - 1];
}

static int s_argc;
static char **s_argv;

//  Keep the arguments for s_want; whether --quick (smaller counts, for the
//  smoke run in CI) is among them.
static inline bool
s_bench_args (int argc, char **argv)
{
    s_argc = argc;
    s_argv = argv;
    bool quick = false;
    for (int i = 1; i < argc; i++)
        quick |= strcmp (argv[i], "--quick") == 0;
    return quick;
}

//  Whether benchmark `name` was asked for (all when no name was given).
static inline bool
s_want (const char *name)
{
    bool any = false;
    for (int i = 1; i < s_argc; i++) {
        if (s_argv[i][0] == '-')
            continue;
        any = true;
        if (strcmp (s_argv[i], name) == 0)
            return true;
    }
    return !any;
}

//  -------------------------------------------------------------------------
//  Children forked by the bench itself: every one is killed and reaped

static pid_t s_forked[2];  //  at most one per baseline at a time

static inline void
s_forked_add (pid_t pid)
{
    for (size_t i = 0; i < sizeof s_forked / sizeof s_forked[0]; i++)
        if (s_forked[i] == 0) {
            s_forked[i] = pid;
            return;
        }
    //  Cannot happen: the baselines hold one child each.
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    s_fail ("fork", "too many children at once");
}

//  Kill one of the baselines' children and wait until it is gone (the
//  forker, its parent, lets the kernel reap it); nonzero if it stays.
static inline int
s_reap (pid_t pid)
{
    if (pid <= 0)
        return 0;
    for (size_t i = 0; i < sizeof s_forked / sizeof s_forked[0]; i++)
        if (s_forked[i] == pid)
            s_forked[i] = 0;
    kill (pid, SIGKILL);
    for (int waited = 0; waited < 200000; waited++) {
        if (kill (pid, 0) != 0 && errno == ESRCH)
            return 0;
        struct timespec pause = {0, 10000};
        nanosleep (&pause, NULL);
    }
    s_fail ("reap", "a child did not die within 2 s");
    return -1;
}

static inline void
s_reap_all (void)
{
    for (size_t i = 0; i < sizeof s_forked / sizeof s_forked[0]; i++)
        s_reap (s_forked[i]);
}

//  The start of a forked child: die with the bench, never outlive it.
static inline void
s_child_setup (pid_t parent)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != parent)
        _exit (0);
}

//  -------------------------------------------------------------------------
//  The forker: the baselines' children are forked from this single-threaded
//  process, made before any ZeroMQ context. Forking from the bench itself
//  (with libzmq's threads running) can leave a child stuck on an allocator
//  lock taken at fork time, which happens under ASan (GCC 12). troupe does
//  the same with its zygote.

//  What a child of the forker runs: kind and endpoint as given to
//  s_forker_fork, parent the forker's pid. It must not return.
typedef void (*s_forker_child_t) (int32_t kind, const char *endpoint, pid_t parent);

typedef struct {
    int32_t kind;
    char endpoint[120];
} s_fork_order_t;

static int s_forker_orders = -1, s_forker_pids = -1;
static pid_t s_forker_pid;

static inline void __attribute__ ((noreturn))
s_forker_main (int orders, int pids, pid_t parent, s_forker_child_t child)
{
    s_child_setup (parent);
    signal (SIGCHLD, SIG_IGN);  //  the kernel reaps our children
    pid_t self = getpid ();
    s_fork_order_t order;
    while (read (orders, &order, sizeof order) == (ssize_t) sizeof order) {
        order.endpoint[sizeof order.endpoint - 1] = 0;
        pid_t pid = fork ();
        if (pid == 0) {
            signal (SIGCHLD, SIG_DFL);
            child (order.kind, order.endpoint, self);
            _exit (127);  //  not reached: child never returns
        }
        int32_t answer = pid > 0 ? pid : -errno;
        if (write (pids, &answer, sizeof answer) != (ssize_t) sizeof answer)
            break;
    }
    _exit (0);
}

//  Start the forker (before any ZeroMQ context); its children run child.
//  0 or -1.
static inline int
s_forker_start (s_forker_child_t child)
{
    int orders[2], pids[2];
    if (pipe (orders) != 0 || pipe (pids) != 0)
        return -1;
    pid_t parent = getpid ();
    fflush (stdout);
    fflush (stderr);
    s_forker_pid = fork ();
    if (s_forker_pid < 0)
        return -1;
    if (s_forker_pid == 0) {
        close (orders[1]);
        close (pids[0]);
        s_forker_main (orders[0], pids[1], parent, child);
    }
    close (orders[0]);
    close (pids[1]);
    s_forker_orders = orders[1];
    s_forker_pids = pids[0];
    return 0;
}

static inline void
s_forker_stop (void)
{
    if (s_forker_pid > 0) {
        close (s_forker_orders);
        close (s_forker_pids);
        kill (s_forker_pid, SIGKILL);
        waitpid (s_forker_pid, NULL, 0);
        s_forker_pid = 0;
    }
}

//  A child of the forker running kind on endpoint: its pid, or -1.
static inline pid_t
s_forker_fork (int32_t kind, const char *endpoint)
{
    s_fork_order_t order = {kind, ""};
    //  At most what fits (the precision keeps GCC's truncation check quiet
    //  once this is inlined into a caller with a longer buffer).
    snprintf (order.endpoint, sizeof order.endpoint, "%.*s", (int) sizeof order.endpoint - 1,
              endpoint);
    int32_t pid = -1;
    if (write (s_forker_orders, &order, sizeof order) != (ssize_t) sizeof order
        || read (s_forker_pids, &pid, sizeof pid) != (ssize_t) sizeof pid || pid <= 0) {
        errno = pid < 0 ? -pid : EPIPE;
        return -1;
    }
    return pid;
}

#endif
