//  bench_strategies - the same batch of jobs done by the host thread alone
//  (inline, the baseline) and by troupe's execution modes: a service on the
//  scheduler threads, on dedicated threads, in processes, on the async loop,
//  a process pool fed by shared memory, and one service whose routes put each
//  job type where it belongs (hybrid). Four workloads: cpu (a compute loop),
//  memory (one pass over a 16 MiB payload), io (a call to a local server that
//  answers after 2 ms) and mixed (the three in turn). Every reply is checked
//  (value, and where the job ran). Prints one line per cell:
//
//    strategy_<workload>_<mode>: <speed-up> x (<jobs/s> jobs/s, inline <jobs/s> jobs/s)
//
//  then a table. docs/performance.md explains each cell. --quick: a smoke
//  run (small counts); names (strategy_cpu_thread ...) select cells.
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <troupe.h>

#define BENCH_NAME "bench_strategies"
#include "bench_util.h"
#include "bench_strategies_io.h"
#include "bench_strategies_worker.h"

#define WINDOW             32     //  requests in flight from the requester
#define MEM_WINDOW         4      //  of which memory jobs (each carries a big payload)
#define DEDICATED_REPLICAS 8      //  dedicated threads of the dedicated strategy
#define PROCESS_REPLICAS   2      //  children of the process, shm and hybrid pools
#define SHM_THREADS        4      //  host threads calling the shm pool
#define JOB_TIMEOUT_MS     60000  //  per request

#include "bench_strategies_drive.h"

//  ---------------------------------------------------------------------
//  The baseline: the host thread does every job itself, in order

//  Jobs [0, count) of workload on this thread, each result recorded as the
//  reference (record) or checked against it; memory sums and io answers
//  are checked too. How many were wrong.
static long
s_inline_jobs (int workload, long count, bool record, int io_fd, int *io_error)
{
    long wrong = 0;
    for (long job = 0; job < count; job++) {
        uint64_t id = s_job_id (workload, job), value = 0;
        switch (s_kind_of (workload, job)) {
            case S_CPU: value = s_cpu_work (id, s_config.cpu_iterations); break;
            case S_MEM: {
                int segment = (int) (job % s_config.segments);
                value = s_mem_work (tr_shm_data (s_segments[segment]), s_config.segment_size);
                wrong += value != s_segment_sums[segment];
                break;
            }
            default: {
                int rc = s_io_call (io_fd, id, &value);
                if (rc != 0 && !*io_error)
                    *io_error = -rc;
                wrong += rc != 0 || value != s_io_answer (id);
            }
        }
        if (record)
            s_expected[workload][job] = value;
        else
            wrong += value != s_expected[workload][job];
    }
    return wrong;
}

//  The baseline of a workload, after the same warm-up as every other cell.
//  Jobs/s, or 0.
static double
s_run_inline (int workload, bool record)
{
    long count = s_config.jobs[workload];
    int io_fd = -1, io_error = 0;
    bool io = workload == W_IO || workload == W_MIXED;
    if (io && (io_fd = s_io_connect (s_io_path, true, 10000)) < 0) {
        s_fail ("inline: connect to the io server", strerror (errno));
        return 0;
    }
    long warmup = s_config.warmup < count ? s_config.warmup : count;
    long wrong = s_inline_jobs (workload, warmup, record, io_fd, &io_error);
    double start = s_now ();
    wrong += s_inline_jobs (workload, count, record, io_fd, &io_error);
    double elapsed = s_now () - start;
    if (io_fd >= 0)
        close (io_fd);
    if (wrong) {
        char why[128];
        snprintf (why, sizeof why, "%ld of %ld jobs wrong (io: %s)", wrong, warmup + count,
                  io_error ? strerror (io_error) : "no error");
        s_fail (s_workload_names[workload], why);
        return 0;
    }
    return (double) count / elapsed;
}

//  ---------------------------------------------------------------------
//  The strategies

typedef struct {
    int mode;
    tr_ref_t target;
    bool callers;    //  host threads with tr_call / tr_call_shm, not a requester
    bool one_route;  //  a service whose "*" route serves every type
    bool service;    //  route statistics to check
    bool mem_by_ref;
    tr_type_t types[S_KINDS];
    char where[S_KINDS];
    tr_mode_t route_modes[S_KINDS];
} s_strategy_t;

//  Which cells are measured: the shm strategy passes big payloads by
//  handle, and cpu and io jobs have none.
static bool
s_cell_makes_sense (int mode, int workload)
{
    return !(mode == M_SHM && (workload == W_CPU || workload == W_IO));
}

static tr_ref_t
s_service_start (tr_runtime_t *rt, const char *what, const tr_route_t *routes, size_t count)
{
    s_worker_arg_t arg = {"", (int32_t) s_host_pid};
    snprintf (arg.io_path, sizeof arg.io_path, "%s", s_io_path);
    tr_service_spec_t spec = {.behaviour = "strat.worker",
                              .arg = &arg,
                              .arg_size = sizeof arg,
                              .routes = routes,
                              .route_count = count};
    tr_ref_t service = TR_REF_NONE;
    int rc = tr_service_start (rt, &spec, &service);
    if (rc != 0)
        s_fail_rc (what, rc);
    return service;
}

//  Start what strategy mode needs. 0 or -1.
static int
s_strategy_start (tr_runtime_t *rt, int mode, s_strategy_t *strategy)
{
    int threads = tr_runtime_threads (rt);
    *strategy = (s_strategy_t){.mode = mode,
                               .one_route = true,
                               .service = true,
                               .types = {s_type_cpu, s_type_mem, s_type_io}};
    tr_mode_t route_mode = TR_MODE_THREAD;
    char where = 't';
    switch (mode) {
        case M_THREAD: {
            tr_route_t routes[] = {{.type = "*", .mode = TR_MODE_THREAD, .replicas = threads}};
            strategy->target = s_service_start (rt, "thread service", routes, 1);
            break;
        }
        case M_DEDICATED: {
            tr_route_t routes[] = {
                {.type = "*", .mode = TR_MODE_DEDICATED, .replicas = DEDICATED_REPLICAS}};
            strategy->target = s_service_start (rt, "dedicated service", routes, 1);
            route_mode = TR_MODE_DEDICATED;
            where = 'd';
            break;
        }
        case M_PROCESS: {
            tr_route_t routes[] = {
                {.type = "*", .mode = TR_MODE_PROCESS, .replicas = PROCESS_REPLICAS}};
            strategy->target = s_service_start (rt, "process service", routes, 1);
            route_mode = TR_MODE_PROCESS;
            where = 'p';
            break;
        }
        case M_ASYNC: {
            tr_route_t routes[] = {{.type = "*", .mode = TR_MODE_ASYNC}};
            strategy->target = s_service_start (rt, "async service", routes, 1);
            strategy->types[S_IO] = s_type_aio;
            route_mode = TR_MODE_ASYNC;
            where = 'a';
            break;
        }
        case M_SHM: {
            //  A pool, not a service: a router forwards a copy of the
            //  segment's handle without TR_MSG_SHM (docs/performance.md).
            s_worker_arg_t arg = {"", (int32_t) s_host_pid};
            snprintf (arg.io_path, sizeof arg.io_path, "%s", s_io_path);
            tr_process_spec_t spec = {.behaviour = "strat.worker",
                                      .arg = &arg,
                                      .arg_size = sizeof arg,
                                      .replicas = PROCESS_REPLICAS};
            int rc = tr_process_start (rt, &spec, &strategy->target);
            if (rc != 0)
                s_fail_rc ("shm pool", rc);
            strategy->callers = true;
            strategy->one_route = strategy->service = false;
            where = 'p';
            break;
        }
        default: {
            tr_route_t routes[] = {
                {.type = "strat.cpu", .mode = TR_MODE_PROCESS, .replicas = PROCESS_REPLICAS},
                {.type = "strat.aio", .mode = TR_MODE_ASYNC},
                {.type = "strat.memref", .mode = TR_MODE_THREAD, .replicas = threads}};
            strategy->target = s_service_start (rt, "hybrid service", routes, 3);
            strategy->one_route = false;
            strategy->mem_by_ref = true;
            strategy->types[S_MEM] = s_type_memref;
            strategy->types[S_IO] = s_type_aio;
            strategy->where[S_CPU] = 'p';
            strategy->where[S_MEM] = 't';
            strategy->where[S_IO] = 'a';
            strategy->route_modes[S_CPU] = TR_MODE_PROCESS;
            strategy->route_modes[S_MEM] = TR_MODE_THREAD;
            strategy->route_modes[S_IO] = TR_MODE_ASYNC;
            return strategy->target ? 0 : -1;
        }
    }
    for (int kind = 0; kind < S_KINDS; kind++) {
        strategy->where[kind] = where;
        strategy->route_modes[kind] = route_mode;
    }
    return strategy->target ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  One cell

static bool
s_outcome_ok (const char *cell, const char *phase, const s_outcome_t *outcome, long count)
{
    if (outcome->good == count && !outcome->failed && !outcome->wrong_value
        && !outcome->wrong_where)
        return true;
    char what[96], why[256];
    snprintf (what, sizeof what, "%s (%s)", cell, phase);
    snprintf (why, sizeof why,
              "%ld of %ld jobs good: %ld failed (first: %s), %ld wrong values, %ld ran in the "
              "wrong place (first '%c')",
              outcome->good, count, outcome->failed,
              outcome->failed ? tr_strerror (outcome->first_error) : "-", outcome->wrong_value,
              outcome->wrong_where, outcome->wrong_where ? outcome->odd_where : '-');
    s_fail (what, why);
    return false;
}

static int
s_run_plan (tr_runtime_t *rt, const s_strategy_t *strategy, const s_plan_t *plan,
            s_outcome_t *outcome)
{
    memset (outcome, 0, sizeof *outcome);
    return strategy->callers ? s_run_callers (rt, plan, outcome)
                             : s_run_requester (rt, plan, outcome);
}

//  Route statistics of every kind the workload uses.
static int
s_route_snapshot (tr_runtime_t *rt, const s_strategy_t *strategy, int workload,
                  tr_route_stats_t stats[S_KINDS])
{
    memset (stats, 0, S_KINDS * sizeof stats[0]);
    for (int kind = 0; kind < S_KINDS; kind++) {
        if (workload != W_MIXED && (int) s_kind_of (workload, 0) != kind)
            continue;
        int rc = tr_service_route_stats (rt, strategy->target, tr_type_name (strategy->types[kind]),
                                         &stats[kind]);
        if (rc != 0) {
            s_fail_rc ("tr_service_route_stats", rc);
            return -1;
        }
    }
    return 0;
}

//  The router saw every job of the cell, on the right route, none failed.
static void
s_route_check (const char *cell, const s_strategy_t *strategy, int workload, long count,
               const tr_route_stats_t before[S_KINDS], const tr_route_stats_t after[S_KINDS])
{
    long per_kind[S_KINDS] = {0};
    for (long job = 0; job < count; job++)
        per_kind[s_kind_of (workload, job)]++;
    for (int kind = 0; kind < S_KINDS; kind++) {
        if (!per_kind[kind])
            continue;
        long want = strategy->one_route ? count : per_kind[kind];
        uint64_t requests = after[kind].requests - before[kind].requests;
        uint64_t replies = after[kind].replies - before[kind].replies;
        uint64_t errors = after[kind].errors - before[kind].errors;
        if (requests != (uint64_t) want || replies != (uint64_t) want || errors
            || after[kind].in_flight || after[kind].mode != strategy->route_modes[kind]) {
            char why[256];
            snprintf (why, sizeof why,
                      "route of %s: %llu requests, %llu replies, %llu errors, %llu in flight "
                      "(want %ld, %ld, 0, 0), mode %s (want %s)",
                      tr_type_name (strategy->types[kind]), (unsigned long long) requests,
                      (unsigned long long) replies, (unsigned long long) errors,
                      (unsigned long long) after[kind].in_flight, want, want,
                      tr_mode_name (after[kind].mode), tr_mode_name (strategy->route_modes[kind]));
            s_fail (cell, why);
        }
    }
}

//  Warm up (the lane's instances start when first used), then time the
//  workload's batch. Jobs/s, or 0.
static double
s_run_cell (tr_runtime_t *rt, const s_strategy_t *strategy, int workload, const char *cell)
{
    long count = s_config.jobs[workload];
    s_plan_t plan = {strategy->target,    workload, 0, s_config.warmup, {0}, {0},
                     strategy->mem_by_ref};
    memcpy (plan.types, strategy->types, sizeof plan.types);
    memcpy (plan.where, strategy->where, sizeof plan.where);
    s_outcome_t outcome;
    if (s_run_plan (rt, strategy, &plan, &outcome) != 0
        || !s_outcome_ok (cell, "warm-up", &outcome, plan.count))
        return 0;
    tr_route_stats_t before[S_KINDS], after[S_KINDS];
    if (strategy->service && s_route_snapshot (rt, strategy, workload, before) != 0)
        return 0;
    plan.count = count;
    if (s_run_plan (rt, strategy, &plan, &outcome) != 0
        || !s_outcome_ok (cell, "timed", &outcome, count) || outcome.elapsed <= 0)
        return 0;
    if (strategy->service) {
        if (s_route_snapshot (rt, strategy, workload, after) != 0)
            return 0;
        s_route_check (cell, strategy, workload, count, before, after);
    }
    return (double) count / outcome.elapsed;
}

//  ---------------------------------------------------------------------

static void
s_print_cell (int workload, int mode, double rate, double inline_rate)
{
    printf ("strategy_%s_%s: %.2f x (%.0f jobs/s, inline %.0f jobs/s)\n",
            s_workload_names[workload], s_mode_names[mode], rate / inline_rate, rate, inline_rate);
    fflush (stdout);
}

//  The memory payloads: distinct pseudo-random words, and their sums.
static int
s_segments_make (void)
{
    s_segments = calloc ((size_t) s_config.segments, sizeof *s_segments);
    s_segment_sums = calloc ((size_t) s_config.segments, sizeof *s_segment_sums);
    if (!s_segments || !s_segment_sums)
        return -1;
    for (int segment = 0; segment < s_config.segments; segment++) {
        s_segments[segment] = tr_shm_new (s_config.segment_size);
        if (!s_segments[segment])
            return -1;
        unsigned char *bytes = tr_shm_data (s_segments[segment]);
        uint64_t x = 0x853c49e6748fea9bULL + (uint64_t) segment;
        for (size_t at = 0; at + 8 <= s_config.segment_size; at += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy (bytes + at, &x, sizeof x);
        }
        s_segment_sums[segment] = s_mem_work (bytes, s_config.segment_size);
    }
    return 0;
}

static void
s_segments_free (void)
{
    for (int segment = 0; s_segments && segment < s_config.segments; segment++)
        tr_shm_release (&s_segments[segment]);
    free (s_segments);
    free (s_segment_sums);
    s_segments = NULL;
    s_segment_sums = NULL;
}

//  The 1-minute load average: the figures only mean something on a machine
//  that runs nothing else.
static double
s_load_average (void)
{
    double load = -1;
    FILE *file = fopen ("/proc/loadavg", "r");
    if (file) {
        if (fscanf (file, "%lf", &load) != 1)
            load = -1;
        fclose (file);
    }
    return load;
}

//  CPU ticks spent by the whole machine (/proc/stat) and by this process
//  with its descendants (the zygote and the pool children): the difference
//  is what other programs took while we measured.
typedef struct {
    uint64_t machine, ours;
} s_ticks_t;

#define S_MAX_PROCS 4096

static s_ticks_t
s_ticks (void)
{
    s_ticks_t ticks = {0, 0};
    FILE *file = fopen ("/proc/stat", "r");
    unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
    if (file
        && fscanf (file, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system,
                   &idle, &iowait, &irq, &softirq, &steal)
               == 8)
        ticks.machine = user + nice + system + irq + softirq + steal;
    if (file)
        fclose (file);
    //  Every process: pid, parent, ticks; then sum our tree.
    static int pids[S_MAX_PROCS], parents[S_MAX_PROCS];
    static uint64_t spent[S_MAX_PROCS];
    static bool mine[S_MAX_PROCS];
    int count = 0;
    DIR *dir = opendir ("/proc");
    struct dirent *entry;
    while (dir && (entry = readdir (dir)) && count < S_MAX_PROCS) {
        int pid = atoi (entry->d_name);
        char path[64], line[512];
        snprintf (path, sizeof path, "/proc/%d/stat", pid);
        FILE *stat = pid > 0 ? fopen (path, "r") : NULL;
        if (!stat)
            continue;
        char *paren = fgets (line, sizeof line, stat) ? strrchr (line, ')') : NULL;
        unsigned long long utime, stime;
        int parent;
        if (paren
            && sscanf (paren + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &parent,
                       &utime, &stime)
                   == 3) {
            pids[count] = pid;
            parents[count] = parent;
            spent[count] = utime + stime;
            mine[count] = pid == getpid ();
            count++;
        }
        fclose (stat);
    }
    if (dir)
        closedir (dir);
    for (bool grew = true; grew;) {  //  descendants, to any depth
        grew = false;
        for (int i = 0; i < count; i++)
            for (int j = 0; !mine[i] && j < count; j++)
                if (mine[j] && parents[i] == pids[j])
                    mine[i] = grew = true;
    }
    for (int i = 0; i < count; i++)
        if (mine[i])
            ticks.ours += spent[i];
    return ticks;
}

//  CPUs other programs kept busy between then and now, on average.
static double
s_others_cpus (s_ticks_t then, double then_s)
{
    s_ticks_t now = s_ticks ();
    double elapsed = s_now () - then_s, hz = (double) sysconf (_SC_CLK_TCK);
    double others = (double) (now.machine - then.machine) - (double) (now.ours - then.ours);
    return elapsed > 0 && others > 0 ? others / hz / elapsed : 0;
}

static bool
s_cell_wanted (int workload, int mode)
{
    char name[64];
    snprintf (name, sizeof name, "strategy_%s_%s", s_workload_names[workload], s_mode_names[mode]);
    return s_cell_makes_sense (mode, workload) && s_want (name);
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: bench_strategies [--quick] [strategy_<workload>_<mode>...]\n"
                     "workloads: cpu memory io mixed\n"
                     "modes: inline thread dedicated process async shm hybrid\n");
    return 1;
}

static int
s_register (void)
{
    int rc;
    if ((rc = tr_behaviour_register (&s_worker)) != 0
        || (rc = tr_behaviour_register (&s_requester)) != 0) {
        s_fail_rc ("tr_behaviour_register", rc);
        return -1;
    }
    s_type_cpu = tr_type ("strat.cpu");
    s_type_mem = tr_type ("strat.mem");
    s_type_memref = tr_type ("strat.memref");
    s_type_io = tr_type ("strat.io");
    s_type_aio = tr_type ("strat.aio");
    s_type_go = tr_type ("strat.go");
    s_type_wait = tr_type ("strat.wait");
    if (!s_type_cpu || !s_type_mem || !s_type_memref || !s_type_io || !s_type_aio || !s_type_go
        || !s_type_wait) {
        s_fail ("tr_type", "cannot intern the bench's types");
        return -1;
    }
    return 0;
}

int
main (int argc, char *argv[])
{
    bool quick = s_bench_args (argc, argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--quick") == 0)
            continue;
        bool known = false;
        for (int workload = 0; workload < S_WORKLOADS; workload++)
            for (int mode = 0; mode < S_MODES; mode++) {
                char name[64];
                snprintf (name, sizeof name, "strategy_%s_%s", s_workload_names[workload],
                          s_mode_names[mode]);
                known |= strcmp (argv[i], name) == 0;
            }
        if (!known)
            return s_usage ();
    }
    //  Full: about 0.5 ms per cpu job, 16 MiB per memory job out of 256 MiB
    //  (more than this machine's share of the last-level cache, even for
    //  half the payloads: every pass comes from memory), 2 ms per io job,
    //  and under a second of inline work per workload. Quick: a smoke run
    //  that also passes under the sanitizers.
    s_config = quick ? (s_config_t){20000, 1u << 20, 2, 2000, {48, 12, 48, 36}, 8}
                     : (s_config_t){300000, 16u << 20, 16, 2000, {1600, 96, 600, 300}, 16};
    bool wanted[S_WORKLOADS][S_MODES] = {{false}}, any_mode[S_MODES] = {false};
    bool any_workload[S_WORKLOADS] = {false};
    for (int workload = 0; workload < S_WORKLOADS; workload++)
        for (int mode = 0; mode < S_MODES; mode++)
            if (s_cell_wanted (workload, mode)) {
                wanted[workload][mode] = any_mode[mode] = any_workload[workload] = true;
                //  Every cell is a ratio to its workload's inline run.
                wanted[workload][M_INLINE] = true;
            }

    //  Before tr_runtime_new: process children are forked from a copy of
    //  the process as it is then (the zygote).
    if (s_register () != 0)
        return 1;
    s_host_pid = getpid ();
    char dir[64];
    snprintf (dir, sizeof dir, "/tmp/bench_strategies-XXXXXX");
    if (!mkdtemp (dir)) {
        s_fail ("mkdtemp", strerror (errno));
        return 1;
    }
    snprintf (s_io_path, sizeof s_io_path, "%s/io", dir);
    tr_options_t options;
    tr_options_default (&options);
    options.loops = 2;  //  0: async instances, 1: the requester
    options.dedicated_threads = DEDICATED_REPLICAS;
    tr_runtime_t *rt = tr_runtime_new (&options);
    s_io_server_t server;
    memset (&server, 0, sizeof server);
    if (!rt)
        s_fail ("tr_runtime_new", "no runtime");
    else if (s_segments_make () != 0)
        s_fail ("segments", "cannot make the memory payloads");
    else if (s_io_server_start (&server, s_io_path, s_config.io_delay_us) != 0)
        s_fail ("io server", strerror (errno));
    int cpus = (int) sysconf (_SC_NPROCESSORS_ONLN);
    if (!s_failed)
        printf ("# bench_strategies: %d cpus; %d scheduler threads, 2 loop threads (async, "
                "requester), %d dedicated, "
                "%d process replicas; window %d (%d memory jobs); cpu job %u xorshift steps, "
                "memory job %zu KiB (%d payloads), io job %d us; jobs: cpu %ld, memory %ld, io "
                "%ld, mixed "
                "%ld; load average %.2f\n",
                cpus, tr_runtime_threads (rt), DEDICATED_REPLICAS, PROCESS_REPLICAS, WINDOW,
                MEM_WINDOW, s_config.cpu_iterations, s_config.segment_size >> 10, s_config.segments,
                s_config.io_delay_us, s_config.jobs[W_CPU], s_config.jobs[W_MEMORY],
                s_config.jobs[W_IO], s_config.jobs[W_MIXED], s_load_average ());

    int rc = s_failed ? TR_ESTOPPED : tr_runtime_start (rt);
    if (rc != 0 && !s_failed)
        s_fail_rc ("tr_runtime_start", rc);
    s_strategy_t strategies[S_MODES];
    memset (strategies, 0, sizeof strategies);
    for (int mode = M_THREAD; !s_failed && mode < S_MODES; mode++)
        if (any_mode[mode])
            s_strategy_start (rt, mode, &strategies[mode]);

    //  Per workload: the baseline (which also computes the reference
    //  results), its cells, the baseline again. The machine's speed drifts
    //  (other work, other VMs): each cell is compared with the mean of the
    //  two baselines around it, and both are printed.
    double rates[S_WORKLOADS][S_MODES] = {{0}};
    for (int workload = 0; !s_failed && workload < S_WORKLOADS; workload++) {
        if (!wanted[workload][M_INLINE])
            continue;
        s_expected[workload] = calloc ((size_t) s_config.jobs[workload], sizeof (uint64_t));
        if (!s_expected[workload]) {
            s_fail ("calloc", "no memory for the results");
            break;
        }
        s_ticks_t ticks = s_ticks ();
        double start = s_now ();
        double before = s_run_inline (workload, true);
        if (before <= 0)
            break;
        for (int mode = M_THREAD; !s_failed && mode < S_MODES; mode++) {
            if (!wanted[workload][mode])
                continue;
            char cell[64];
            snprintf (cell, sizeof cell, "strategy_%s_%s", s_workload_names[workload],
                      s_mode_names[mode]);
            rates[workload][mode] = s_run_cell (rt, &strategies[mode], workload, cell);
        }
        double after = s_failed ? 0 : s_run_inline (workload, false);
        if (after <= 0)
            break;
        double baseline = (before + after) / 2;
        rates[workload][M_INLINE] = baseline;
        printf ("# %s: inline %.0f jobs/s before its cells, %.0f after; other programs kept "
                "%.2f cpus busy meanwhile\n",
                s_workload_names[workload], before, after, s_others_cpus (ticks, start));
        for (int mode = 0; mode < S_MODES; mode++)
            if (rates[workload][mode] > 0)
                s_print_cell (workload, mode, rates[workload][mode], baseline);
    }

    if (!s_failed) {
        printf ("# speed-up over inline on %d cpus ('-': not measured, see docs/performance.md); "
                "load average %.2f\n",
                cpus, s_load_average ());
        printf ("# %-8s", "");
        for (int mode = 0; mode < S_MODES; mode++)
            printf (" %9s", s_mode_names[mode]);
        printf ("\n");
        for (int workload = 0; workload < S_WORKLOADS; workload++) {
            if (!any_workload[workload])
                continue;
            printf ("# %-8s", s_workload_names[workload]);
            for (int mode = 0; mode < S_MODES; mode++)
                if (rates[workload][mode] > 0)
                    printf (" %8.2fx", rates[workload][mode] / rates[workload][M_INLINE]);
                else
                    printf (" %9s", "-");
            printf ("\n");
        }
    }
    fflush (stdout);
    tr_runtime_destroy (&rt);
    s_io_server_stop (&server);
    if (server.refused)
        s_fail ("io server", "some answers could not be sent");
    s_segments_free ();
    for (int workload = 0; workload < S_WORKLOADS; workload++)
        free (s_expected[workload]);
    if (rmdir (dir) != 0)
        fprintf (stderr, BENCH_NAME ": warning: cannot remove %s: %s\n", dir, strerror (errno));
    return s_failed;
}
