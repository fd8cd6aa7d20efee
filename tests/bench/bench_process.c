//  bench_process - process actors against raw fork + libzmq over ipc,
//  measured in one run: how long a killed replica takes to answer again,
//  with a warm spare (restart_p50/p99) and without (restart_cold_p50),
//  against forking a child that builds a ZeroMQ context and answers one
//  request (fork_answer_p50); and pipelined request/reply from an actor
//  through a pool against a raw ROUTER <-> child DEALER echo over ipc.
//  Prints `name: value unit`; --quick for a smoke run; names select.
//
//  The raw baselines fork from the bench process before the runtime exists
//  and end their ZeroMQ contexts before tr_runtime_new, so the node's zygote
//  is still forked from a single-threaded process.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <troupe.h>

#define PAYLOAD  32    //  request payload bytes (both throughput benchmarks)
#define WINDOW   1000  //  requests in flight (both throughput benchmarks)
#define MAX_PIDS 4096  //  pool children seen (checked after destroy)

#define BENCH_NAME "bench_process"
#include "bench_util.h"
#include "bench_process_zmq.h"

//  -------------------------------------------------------------------------
//  The process actor: echo (runs in the pool's children)

static tr_type_t s_echo_type, s_cpu_type, s_go, s_wait;

static int
s_echo_echo (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    return tr_reply (self, msg, msg->data, msg->size);
}

static int
s_echo_cpu (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    int32_t cpu = (int32_t) sched_getcpu ();
    return tr_reply (self, msg, &cpu, sizeof cpu);
}

static const tr_handler_t s_echo_handlers[] = {
    {"bench.echo", s_echo_echo}, {"bench.cpu", s_echo_cpu}, {NULL, NULL}};
static const tr_behaviour_t s_echo = {"bench.echo", 0, NULL, NULL, s_echo_handlers, NULL};

//  -------------------------------------------------------------------------
//  The requester (thread mode): keeps WINDOW requests to the pool in flight

typedef struct {
    tr_ref_t pool;
    long count;
} s_requester_args_t;

typedef struct {
    double elapsed;  //  seconds from go to the last reply
    long replies;    //  good replies
    long errors;     //  failed or wrong replies
    int first_error;
    int cpu;
} s_requester_result_t;

typedef struct {
    s_requester_args_t args;
    long sent, done;
    double start;
    s_requester_result_t result;
    tr_msg_t waiter;
    bool waiting, finished, retry_pending;
} s_requester_t;

static int
s_requester_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    s_requester_t *requester = state;
    if (size != sizeof (s_requester_args_t))
        return -1;
    memcpy (&requester->args, arg, size);
    return 0;
}

static void
s_requester_check (tr_actor_t *self, s_requester_t *requester)
{
    if (requester->finished && requester->waiting) {
        requester->waiting = false;
        int rc = tr_reply (self, &requester->waiter, &requester->result, sizeof requester->result);
        if (rc != 0)
            fprintf (stderr, "bench_process: requester reply: %s\n", tr_strerror (rc));
    }
}

static void
s_requester_error (s_requester_t *requester, int rc)
{
    if (requester->result.errors++ == 0)
        requester->result.first_error = rc;
}

static void s_requester_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply,
                               void *arg);

static void
s_requester_fill (tr_actor_t *self, s_requester_t *requester)
{
    unsigned char payload[PAYLOAD] = {0};
    while (requester->sent < requester->args.count && requester->sent - requester->done < WINDOW) {
        long seq = requester->sent;
        memcpy (payload, &seq, sizeof seq);
        int rc = tr_request (self, requester->args.pool, s_echo_type, payload, sizeof payload,
                             30000, s_requester_reply, (void *) (intptr_t) seq);
        if (rc == TR_EAGAIN && requester->sent > requester->done)
            break;  //  the pool's mailbox is full: the next reply calls us again
        if (rc == TR_EAGAIN && requester->retry_pending)
            break;
        if (rc == TR_EAGAIN) {
            //  Nothing in flight to wake us: retry through our own mailbox.
            rc = tr_send (self, tr_self (self), s_go, NULL, 0);
            if (rc == 0) {
                requester->retry_pending = true;
                break;
            }
        }
        if (rc != 0) {
            //  Count it as sent and failed so the run still ends.
            s_requester_error (requester, rc);
            requester->done++;
        }
        requester->sent++;
    }
    if (requester->done >= requester->args.count && !requester->finished) {
        requester->result.elapsed = s_now () - requester->start;
        requester->result.cpu = sched_getcpu ();
        requester->finished = true;
        s_requester_check (self, requester);
    }
}

static void
s_requester_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    s_requester_t *requester = state;
    long seq = (long) (intptr_t) arg, echoed = -1;
    if (rc == 0 && reply && reply->size == PAYLOAD)
        memcpy (&echoed, reply->data, sizeof echoed);
    if (rc != 0)
        s_requester_error (requester, rc);
    else if (echoed != seq)
        s_requester_error (requester, TR_EMALFORMED);
    else
        requester->result.replies++;
    requester->done++;
    s_requester_fill (self, requester);
}

static int
s_requester_go (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_requester_t *requester = state;
    requester->retry_pending = false;
    if (requester->start == 0)
        requester->start = s_now ();
    s_requester_fill (self, requester);
    return 0;
}

static int
s_requester_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_requester_t *requester = state;
    requester->waiter = *msg;
    requester->waiting = true;
    s_requester_check (self, requester);
    return 0;
}

static const tr_handler_t s_requester_handlers[] = {
    {"bench.go", s_requester_go}, {"bench.wait", s_requester_wait}, {NULL, NULL}};
static const tr_behaviour_t s_requester = {
    "bench.requester", sizeof (s_requester_t), s_requester_init, NULL, s_requester_handlers, NULL};

//  -------------------------------------------------------------------------
//  Pool children seen, checked after the runtime is destroyed

static int s_pids[MAX_PIDS];
static size_t s_pid_count;

static void
s_pid_seen (int pid)
{
    if (pid <= 0)
        return;
    for (size_t i = 0; i < s_pid_count; i++)
        if (s_pids[i] == pid)
            return;
    if (s_pid_count < MAX_PIDS)
        s_pids[s_pid_count++] = pid;
}

//  Remember the pool's current children; returns the first replica's pid
//  (0 while it is being restarted, -1 on error).
static int
s_pool_pid (tr_runtime_t *rt, tr_ref_t pool)
{
    int pids[8] = {0};
    size_t count = 0;
    int rc = tr_process_pids (rt, pool, pids, 8, &count);
    if (rc != 0) {
        s_fail_rc ("tr_process_pids", rc);
        return -1;
    }
    if (count < 1) {
        s_fail ("tr_process_pids", "the pool has no replica");
        return -1;
    }
    for (size_t i = 0; i < count && i < 8; i++)
        s_pid_seen (pids[i]);
    return pids[0];
}

//  A process's state letter from /proc (0 if it is gone).
static char
s_proc_state (int pid, int *ppid)
{
    char path[64], line[512];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    char state = 0;
    if (fgets (line, sizeof line, file)) {
        char *paren = strrchr (line, ')');
        if (paren && sscanf (paren + 2, "%c %d", &state, ppid) != 2)
            state = 0;
    }
    fclose (file);
    return state;
}

//  The node's zygote: our child named troupe-zygote (0 if none).
static int
s_find_zygote (void)
{
    int found = 0;
    DIR *dir = opendir ("/proc");
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        int pid = atoi (entry->d_name), ppid = 0;
        if (pid <= 0 || !s_proc_state (pid, &ppid) || ppid != getpid ())
            continue;
        char path[64], name[32] = "";
        snprintf (path, sizeof path, "/proc/%d/comm", pid);
        FILE *file = fopen (path, "r");
        if (file) {
            if (!fgets (name, sizeof name, file))
                name[0] = 0;
            fclose (file);
        }
        if (strncmp (name, "troupe-zygote", 13) == 0)
            found = pid;
    }
    if (dir)
        closedir (dir);
    return found;
}

//  Remember every child of the zygote (serving replicas and spares alike:
//  tr_process_pids reports only the serving ones).
static void
s_note_zygote_children (void)
{
    int zygote = s_find_zygote ();
    if (!zygote) {
        fprintf (stderr, "bench_process: warning: cannot find the node's zygote\n");
        return;
    }
    DIR *dir = opendir ("/proc");
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        int pid = atoi (entry->d_name), ppid = 0;
        if (pid > 0 && s_proc_state (pid, &ppid) && ppid == zygote)
            s_pid_seen (pid);
    }
    if (dir)
        closedir (dir);
}

//  After destroy: no pool child alive, no child of ours left, no node dir.
static void
s_check_leftovers (void)
{
    for (size_t i = 0; i < s_pid_count; i++)
        if (kill (s_pids[i], 0) == 0) {
            int ppid = 0;
            char state = s_proc_state (s_pids[i], &ppid);
            fprintf (stderr,
                     "bench_process: warning: pool child %d still exists after "
                     "tr_runtime_destroy (state %c, parent %d)\n",
                     s_pids[i], state ? state : '?', ppid);
        }
    DIR *dir = opendir ("/proc");
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        int pid = atoi (entry->d_name), ppid = 0;
        if (pid <= 0 || pid == getpid ())
            continue;
        char state = s_proc_state (pid, &ppid);
        if (state && ppid == getpid ())
            fprintf (stderr,
                     "bench_process: warning: process %d (state %c) is still a child of the "
                     "bench after tr_runtime_destroy\n",
                     pid, state);
    }
    if (dir)
        closedir (dir);
    char base[64], prefix[64];
    snprintf (base, sizeof base, "/tmp/troupe-%u", (unsigned) getuid ());
    snprintf (prefix, sizeof prefix, "node-%d-", (int) getpid ());
    dir = opendir (base);
    while (dir && (entry = readdir (dir)))
        if (strncmp (entry->d_name, prefix, strlen (prefix)) == 0)
            fprintf (stderr, "bench_process: warning: %s/%s was left behind\n", base,
                     entry->d_name);
    if (dir)
        closedir (dir);
}

//  -------------------------------------------------------------------------
//  Troupe benchmarks

//  A pool of one "bench.echo" replica; spares as tr_process_spec_t.spares.
static tr_ref_t
s_pool_start (tr_runtime_t *rt, int spares, int restart_intensity)
{
    tr_process_spec_t spec = {0};
    spec.behaviour = "bench.echo";
    spec.replicas = 1;
    spec.spares = spares;                        //  0 = the default (1)
    spec.restart_intensity = restart_intensity;  //  0 = the default (10)
    spec.restart_period_ms = 10000;
    tr_ref_t pool = TR_REF_NONE;
    int rc = tr_process_start (rt, &spec, &pool);
    if (rc != 0) {
        s_fail_rc ("tr_process_start", rc);
        return TR_REF_NONE;
    }
    return pool;
}

//  Wait until the replica and `spares` spares are ready. 0 or -1.
static int
s_pool_ready (tr_runtime_t *rt, tr_ref_t pool, int spares, int timeout_ms)
{
    double start = s_now ();
    tr_process_stats_t stats;
    while (true) {
        int rc = tr_process_stats (rt, pool, &stats);
        if (rc != 0) {
            s_fail_rc ("tr_process_stats", rc);
            return -1;
        }
        if (stats.replicas_ready == 1 && stats.spares_ready >= spares)
            return 0;
        if (s_now () - start > timeout_ms / 1000.0)
            break;
        usleep (500);
    }
    char why[128];
    snprintf (why, sizeof why, "%d replicas and %d spares ready after %d ms (want 1 and %d)",
              stats.replicas_ready, stats.spares_ready, timeout_ms, spares);
    s_fail ("pool", why);
    return -1;
}

static void
s_pool_stop (tr_runtime_t *rt, tr_ref_t pool)
{
    if (pool == TR_REF_NONE)
        return;
    s_pool_pid (rt, pool);
    s_note_zygote_children ();
    int rc = tr_runtime_kill (rt, pool, 0);
    if (rc != 0)
        s_fail_rc ("tr_runtime_kill (pool)", rc);
}

//  One echo through the pool; 0 or an error code.
static int
s_echo_call (tr_runtime_t *rt, tr_ref_t pool, int seq, int timeout_ms)
{
    char payload[PAYLOAD];
    snprintf (payload, sizeof payload, "echo %d", seq);
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_call (rt, pool, s_echo_type, payload, sizeof payload, timeout_ms, &reply, &size);
    if (rc == 0 && (size != sizeof payload || memcmp (reply, payload, size) != 0))
        rc = TR_EMALFORMED;
    tr_free (reply);
    return rc;
}

//  Kill the replica `rounds` times, each time once it and `spares` spares
//  are ready; times[i] µs from the kill to an answer. Returns how many
//  rounds completed.
static int
s_restart (tr_runtime_t *rt, tr_ref_t pool, int spares, int rounds, double *times, long *retries)
{
    int rc = s_echo_call (rt, pool, -1, 5000);
    if (rc != 0) {
        s_fail_rc ("restart: first echo", rc);
        return 0;
    }
    int done = 0;
    *retries = 0;
    while (done < rounds) {
        if (s_pool_ready (rt, pool, spares, 5000) != 0)
            break;
        int pid = s_pool_pid (rt, pool);
        if (pid <= 0) {
            if (pid == 0)
                s_fail ("restart", "ready replica reported without a pid");
            break;
        }
        double start = s_now ();
        if (kill (pid, SIGKILL) != 0) {
            s_fail ("restart: kill", strerror (errno));
            break;
        }
        rc = -1;
        while (rc != 0 && s_now () - start < 30) {
            rc = s_echo_call (rt, pool, done, 5000);
            if (rc == 0)
                break;
            (*retries)++;
            if (rc != TR_ETIMEDOUT && rc != TR_EPOISON) {
                char what[64];
                snprintf (what, sizeof what, "restart round %d: echo", done);
                s_fail_rc (what, rc);
                break;
            }
        }
        if (rc != 0) {
            if (rc == TR_ETIMEDOUT || rc == TR_EPOISON)
                s_fail ("restart", "no answer within 30 s of the kill");
            break;
        }
        times[done++] = (s_now () - start) * 1e6;
        int now_pid = s_pool_pid (rt, pool);
        if (now_pid == pid) {
            s_fail ("restart", "the replica answered with the killed pid");
            break;
        }
    }
    return done;
}

//  Restart benchmark on a fresh pool: fills p50/p99 (µs) and its stats.
//  Returns 0 when every round completed.
static int
s_restart_bench (tr_runtime_t *rt, int spares, int rounds, double *p50, double *p99,
                 tr_process_stats_t *stats, long *retries)
{
    tr_ref_t pool = s_pool_start (rt, spares, 2 * rounds + 10);
    if (pool == TR_REF_NONE)
        return -1;
    int want_spares = spares == TR_NO_SPARES ? 0 : spares ? spares : 1;
    double *times = calloc ((size_t) rounds, sizeof (double));
    int done = s_restart (rt, pool, want_spares, rounds, times, retries);
    int rc = tr_process_stats (rt, pool, stats);
    if (rc != 0)
        s_fail_rc ("tr_process_stats", rc);
    if (done == rounds) {
        *p50 = s_percentile (times, (size_t) done, 0.5);
        *p99 = s_percentile (times, (size_t) done, 0.99);
    }
    else
        s_fail ("restart", "not every round completed");
    free (times);
    s_pool_stop (rt, pool);
    return done == rounds ? 0 : -1;
}

//  Pipelined requests from an actor through the pool: msgs/s, or 0.
static double
s_process_reqrep_thr (tr_runtime_t *rt, tr_ref_t pool, long count, int *cpus)
{
    s_requester_args_t args = {pool, count};
    tr_spawn_opts_t opts = {.thread = 1};
    tr_ref_t requester;
    int rc = tr_spawn (rt, "bench.requester", &args, sizeof args, &opts, &requester);
    if (rc != 0) {
        s_fail_rc ("tr_spawn (requester)", rc);
        return 0;
    }
    rc = tr_runtime_send (rt, requester, s_go, NULL, 0);
    void *reply = NULL;
    size_t size = 0;
    if (rc != 0)
        s_fail_rc ("tr_runtime_send (go)", rc);
    else {
        rc = tr_call (rt, requester, s_wait, NULL, 0, 120000, &reply, &size);
        if (rc != 0)
            s_fail_rc ("requester wait", rc);
    }
    double result = 0;
    s_requester_result_t outcome;
    if (rc == 0 && size == sizeof outcome) {
        memcpy (&outcome, reply, sizeof outcome);
        cpus[0] = outcome.cpu;
        if (outcome.errors) {
            char why[128];
            snprintf (why, sizeof why, "%ld of %ld requests failed (first: %s)", outcome.errors,
                      count, tr_strerror (outcome.first_error));
            s_fail ("process_reqrep_thr", why);
        }
        else if (outcome.replies != count || outcome.elapsed <= 0)
            s_fail ("process_reqrep_thr", "wrong reply count");
        else
            result = (double) count / outcome.elapsed;
    }
    else if (rc == 0)
        s_fail ("process_reqrep_thr", "bad wait reply");
    tr_free (reply);
    int kill_rc = tr_runtime_kill (rt, requester, 0);
    if (kill_rc != 0)
        s_fail_rc ("tr_runtime_kill (requester)", kill_rc);
    //  Where the child ran.
    reply = NULL;
    rc = tr_call (rt, pool, s_cpu_type, NULL, 0, 5000, &reply, &size);
    if (rc == 0 && size == sizeof (int32_t)) {
        int32_t cpu;
        memcpy (&cpu, reply, sizeof cpu);
        cpus[1] = cpu;
    }
    else
        s_fail_rc ("child cpu", rc ? rc : TR_EMALFORMED);
    tr_free (reply);
    return result;
}

//  -------------------------------------------------------------------------

static const char *s_names[] = {
    "fork_answer_p50",    "restart_p50",        "restart_p99", "restart_cold_p50",
    "zmq_ipc_reqrep_thr", "process_reqrep_thr", NULL};

static int
s_register (void)
{
    int rc;
    if ((rc = tr_behaviour_register (&s_echo)) != 0
        || (rc = tr_behaviour_register (&s_requester)) != 0) {
        s_fail_rc ("tr_behaviour_register", rc);
        return -1;
    }
    s_echo_type = tr_type ("bench.echo");
    s_cpu_type = tr_type ("bench.cpu");
    s_go = tr_type ("bench.go");
    s_wait = tr_type ("bench.wait");
    if (!s_echo_type || !s_cpu_type || !s_go || !s_wait) {
        s_fail ("tr_type", "cannot intern the bench's types");
        return -1;
    }
    return 0;
}

int
main (int argc, char *argv[])
{
    //  --quick: smaller counts (for a smoke run in CI). Names select benchmarks.
    bool quick = s_bench_args (argc, argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--quick") == 0)
            continue;
        bool known = false;
        for (int n = 0; s_names[n]; n++)
            known |= strcmp (argv[i], s_names[n]) == 0;
        if (!known) {
            fprintf (stderr, "usage: bench_process [--quick] [benchmark...]\nbenchmarks:");
            for (int n = 0; s_names[n]; n++)
                fprintf (stderr, " %s", s_names[n]);
            fprintf (stderr, "\n");
            return 1;
        }
    }
    int fork_rounds = quick ? 5 : 30, restart_rounds = quick ? 5 : 50;
    long thr_count = quick ? 5000 : 100000;
    int thr_runs = quick ? 1 : 3;
    bool want_restart = s_want ("restart_p50") || s_want ("restart_p99");
    bool want_cold = s_want ("restart_cold_p50");
    bool want_process_thr = s_want ("process_reqrep_thr");

    //  Before tr_runtime_new: children are copies of the process as it was.
    if (s_register () != 0)
        return 1;

    if (s_forker_start (s_baseline_child) != 0) {
        s_fail ("forker", strerror (errno));
        return 1;
    }
    snprintf (s_dir, sizeof s_dir, "/tmp/bench_process-XXXXXX");
    if (!mkdtemp (s_dir)) {
        s_fail ("mkdtemp", strerror (errno));
        return 1;
    }
    double fork_answer = 0, zmq_thr = 0;
    int cpus[2] = {-1, -1};
    if (s_want ("fork_answer_p50") || want_restart || want_cold) {
        fork_answer = s_fork_answer_p50 (fork_rounds, &cpus[1]);
        if (fork_answer > 0)
            printf ("fork_answer_p50: %.0f us (%d rounds, bench cpu %d, last child cpu %d)\n",
                    fork_answer, fork_rounds, sched_getcpu (), cpus[1]);
    }
    if (s_want ("zmq_ipc_reqrep_thr") || want_process_thr) {
        //  The best of a few runs, here and for process_reqrep_thr: where
        //  the scheduler puts the threads of two processes on two cpus
        //  moves a single run by up to 2x.
        for (int run = 0; run < thr_runs; run++) {
            int run_cpus[2] = {-1, -1};
            double thr = s_zmq_ipc_reqrep_thr (thr_count, run_cpus);
            if (thr <= 0) {
                zmq_thr = 0;
                break;
            }
            if (thr > zmq_thr) {
                zmq_thr = thr;
                memcpy (cpus, run_cpus, sizeof run_cpus);
            }
        }
        if (zmq_thr > 0)
            printf ("zmq_ipc_reqrep_thr: %.0f msgs/s (%d-byte payloads, window %d, best of %d, "
                    "cpus %d,%d)\n",
                    zmq_thr, PAYLOAD, WINDOW, thr_runs, cpus[0], cpus[1]);
    }
    fflush (stdout);
    s_reap_all ();
    s_forker_stop ();
    char path[128];
    snprintf (path, sizeof path, "%s/answer", s_dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/echo", s_dir);
    unlink (path);
    if (rmdir (s_dir) != 0)
        fprintf (stderr, "bench_process: warning: cannot remove %s: %s\n", s_dir, strerror (errno));

    if (want_restart || want_cold || want_process_thr) {
        tr_options_t options;
        tr_options_default (&options);
        options.threads = 2;
        tr_runtime_t *rt = tr_runtime_new (&options);
        int rc = rt ? tr_runtime_start (rt) : TR_ESTOPPED;
        bool started = rc == 0;
        if (!started)
            s_fail_rc ("cannot start the runtime", rc);
        tr_process_stats_t stats;
        if (started && want_restart) {
            //  The default pool: one warm spare, ready before every kill.
            double p50 = 0, p99 = 0;
            long retries = 0;
            if (s_restart_bench (rt, 0, restart_rounds, &p50, &p99, &stats, &retries) == 0) {
                if (fork_answer > 0)
                    printf ("restart_p50: %.0f us (%.2fx fork_answer_p50, 1 warm spare, %d "
                            "rounds)\n",
                            p50, p50 / fork_answer, restart_rounds);
                else
                    printf ("restart_p50: %.0f us (1 warm spare, %d rounds)\n", p50,
                            restart_rounds);
                printf ("restart_p99: %.0f us (max of %d; %llu restarts, %llu redelivered, "
                        "%ld calls retried)\n",
                        p99, restart_rounds, (unsigned long long) stats.restarts,
                        (unsigned long long) stats.redelivered, retries);
            }
        }
        if (started && want_cold) {
            //  No spare: every restart forks a child and waits for its hello.
            double p50 = 0, p99 = 0;
            long retries = 0;
            if (s_restart_bench (rt, TR_NO_SPARES, restart_rounds, &p50, &p99, &stats, &retries)
                == 0) {
                if (fork_answer > 0)
                    printf ("restart_cold_p50: %.0f us (%.2fx fork_answer_p50, no spare, p99 "
                            "%.0f us, %ld calls retried)\n",
                            p50, p50 / fork_answer, p99, retries);
                else
                    printf ("restart_cold_p50: %.0f us (no spare, p99 %.0f us, %ld calls "
                            "retried)\n",
                            p50, p99, retries);
            }
        }
        if (started && want_process_thr) {
            tr_ref_t pool = s_pool_start (rt, 0, 0);
            double thr = 0;
            for (int run = 0; pool && run < thr_runs; run++) {
                int run_cpus[2] = {-1, -1};
                double this_run = s_process_reqrep_thr (rt, pool, thr_count, run_cpus);
                if (this_run <= 0) {
                    thr = 0;
                    break;
                }
                if (this_run > thr) {
                    thr = this_run;
                    memcpy (cpus, run_cpus, sizeof run_cpus);
                }
            }
            memset (&stats, 0, sizeof stats);
            if (pool && (rc = tr_process_stats (rt, pool, &stats)) != 0)
                s_fail_rc ("tr_process_stats", rc);
            if (thr > 0) {
                if (zmq_thr > 0)
                    printf ("process_reqrep_thr: %.0f msgs/s (%.2fx zmq_ipc_reqrep_thr, best of "
                            "%d, requester cpu %d, child cpu %d)\n",
                            thr, thr / zmq_thr, thr_runs, cpus[0], cpus[1]);
                else
                    printf ("process_reqrep_thr: %.0f msgs/s (requester cpu %d, child cpu %d)\n",
                            thr, cpus[0], cpus[1]);
            }
            if (pool && rc == 0
                && (stats.restarts || stats.redelivered || stats.poisoned || stats.duplicates
                    || stats.malformed))
                fprintf (stderr,
                         "bench_process: warning: throughput pool: %llu restarts, %llu "
                         "redelivered, %llu poisoned, %llu duplicates, %llu malformed\n",
                         (unsigned long long) stats.restarts,
                         (unsigned long long) stats.redelivered,
                         (unsigned long long) stats.poisoned, (unsigned long long) stats.duplicates,
                         (unsigned long long) stats.malformed);
            s_pool_stop (rt, pool);
        }
        fflush (stdout);
        if (started)
            s_note_zygote_children ();
        tr_runtime_destroy (&rt);
        s_check_leftovers ();
    }
    s_reap_all ();
    s_forker_stop ();
    return s_failed;
}
