//  test_bus_kill9 - a node publishing to a persistent bus is killed with
//  SIGKILL, three times over on one log: every event up to the last synced
//  (and written) offset it reported is still there, in order and intact,
//  and what was lost (accepted by tr_runtime_publish, not in the log) is
//  measured
#include "bus_helpers.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define S_ROUNDS 3

//  What a child node reports, in memory shared with the test.
typedef struct {
    _Atomic uint64_t base;      //  the first offset it published at (its log's next)
    _Atomic uint64_t accepted;  //  events tr_runtime_publish took
    _Atomic uint64_t written;   //  last written_offset it read from the bus
    _Atomic uint64_t synced;    //  last synced_offset it read from the bus
    _Atomic uint64_t recovered, truncated;
    _Atomic int ready;
    _Atomic int pid;
} s_report_t;

//  The data of event i of round r: r, i, and 48 bytes derived from both.
typedef struct {
    uint64_t round, index;
    unsigned char fill[48];
} s_event_t;

static void
s_event_make (uint64_t round, uint64_t index, s_event_t *event)
{
    event->round = round;
    event->index = index;
    for (size_t k = 0; k < sizeof event->fill; k++)
        event->fill[k] = (unsigned char) (round * 31 + index + k);
}

typedef struct {
    tr_runtime_t *rt;
    tr_ref_t bus;
    s_report_t *report;
} s_reporter_t;

//  Reads the bus's figures every millisecond, as a monitor would.
static void *
s_reporter (void *arg)
{
    s_reporter_t *reporter = arg;
    while (true) {
        tr_bus_stats_t stats;
        if (tr_bus_stats (reporter->rt, reporter->bus, &stats) == 0) {
            atomic_store (&reporter->report->written, stats.written_offset);
            atomic_store (&reporter->report->synced, stats.synced_offset);
        }
        s_sleep_ms (1);
    }
    return NULL;
}

//  A child node: publish as fast as the bus takes it until killed.
static void __attribute__ ((noreturn)) s_node (const char *path, uint64_t round, s_report_t *report)
{
    tr_options_t options;
    tr_options_default (&options);
    options.threads = 2;
    options.no_processes = true;
    tr_runtime_t *rt = tr_runtime_new (&options);
    if (!rt || tr_runtime_start (rt) != 0)
        _exit (2);
    tr_bus_options_t bus_options;
    tr_bus_options_default (&bus_options);  //  the default sync policy
    bus_options.log_path = path;
    tr_ref_t bus;
    if (tr_bus_start (rt, &bus_options, &bus) != 0)
        _exit (3);
    tr_bus_stats_t stats;
    if (tr_bus_stats (rt, bus, &stats) != 0)
        _exit (4);
    atomic_store (&report->base, stats.next_offset);
    atomic_store (&report->recovered, stats.recovered);
    atomic_store (&report->truncated, stats.truncated_bytes);
    s_reporter_t reporter = {rt, bus, report};
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_reporter, &reporter) != 0)
        _exit (5);
    atomic_store (&report->ready, 1);
    for (uint64_t i = 0;; i++) {
        s_event_t event;
        s_event_make (round, i, &event);
        int rc;
        while ((rc = tr_runtime_publish (rt, bus, "kill9.events", &event, sizeof event))
               == TR_EAGAIN)
            sched_yield ();
        if (rc != 0)
            _exit (6);
        atomic_store (&report->accepted, i + 1);
    }
}

//  Check the log after all rounds. Returns the events it holds.
typedef struct {
    s_report_t *reports;
    uint64_t count, round, index, errors;
    uint64_t kept[S_ROUNDS];
} s_verify_t;

static int
s_verify_event (const tr_bus_event_t *event, void *arg)
{
    s_verify_t *verify = arg;
    s_event_t expected, found;
    if (event->offset != verify->count || event->size != sizeof found
        || strcmp (event->topic, "kill9.events") != 0) {
        verify->errors++;
        return 0;
    }
    memcpy (&found, event->data, sizeof found);
    //  Rounds follow each other; within a round, indexes go 0, 1, 2, ...
    if (found.round != verify->round) {
        if (found.round != verify->round + 1 || found.index != 0)
            verify->errors++;
        verify->round = found.round;
        verify->index = 0;
    }
    s_event_make (found.round, verify->index, &expected);
    if (found.round >= S_ROUNDS || memcmp (&found, &expected, sizeof found) != 0)
        verify->errors++;
    else
        verify->kept[found.round]++;
    verify->index++;
    verify->count++;
    return 0;
}

//  Whether a run directory of process pid is left in /tmp/troupe-<uid>.
static bool
s_run_dir_left (int pid)
{
    char base[64], prefix[32];
    snprintf (base, sizeof base, "/tmp/troupe-%u", (unsigned) getuid ());
    snprintf (prefix, sizeof prefix, "node-%d-", pid);
    DIR *dir = opendir (base);
    struct dirent *entry;
    bool found = false;
    while (dir && (entry = readdir (dir)))
        found = found || strncmp (entry->d_name, prefix, strlen (prefix)) == 0;
    if (dir)
        closedir (dir);
    return found;
}

int
main (void)
{
    char dir[64], path[128];
    s_tmpdir (dir, sizeof dir);
    snprintf (path, sizeof path, "%s/kill9.log", dir);
    s_report_t *reports = mmap (NULL, S_ROUNDS * sizeof (s_report_t), PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    TR_ASSERT (reports != MAP_FAILED);
    memset (reports, 0, S_ROUNDS * sizeof (s_report_t));
    srand ((unsigned) getpid ());

    //  Every round on the same log: each child recovers what the one before
    //  left, then goes on. This process starts no runtime until the end, so
    //  it forks with a single thread.
    pid_t parent = getpid ();
    for (uint64_t round = 0; round < S_ROUNDS; round++) {
        s_report_t *report = &reports[round];
        fflush (stdout);
        fflush (stderr);
        pid_t pid = fork ();
        TR_ASSERT (pid >= 0);
        if (pid == 0) {
            prctl (PR_SET_PDEATHSIG, SIGKILL);
            if (getppid () != parent)
                _exit (1);
            s_node (path, round, report);
        }
        atomic_store (&report->pid, pid);
        //  Kill it at a random moment once it is publishing at full speed
        //  and has synced at least once.
        int64_t deadline = s_now_ms () + S_WAIT_MS;
        while (!atomic_load (&report->ready) || atomic_load (&report->accepted) < 20000
               || atomic_load (&report->synced) <= atomic_load (&report->base)) {
            int status;
            if (waitpid (pid, &status, WNOHANG) == pid) {
                fprintf (stderr, "test_bus_kill9: the node exited early (status %d)\n", status);
                return 1;
            }
            TR_ASSERT (s_now_ms () < deadline);
            s_sleep_ms (1);
        }
        s_sleep_ms (rand () % 50);
        TR_ASSERT (kill (pid, SIGKILL) == 0);
        int status;
        TR_ASSERT (waitpid (pid, &status, 0) == pid);
        TR_ASSERT (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
        TR_ASSERT (s_run_dir_left (pid));  //  killed: nothing cleaned up
    }

    //  Reopen the log (recovery) and read it all.
    tr_options_t options;
    tr_options_default (&options);
    options.threads = 1;
    options.no_processes = true;
    tr_runtime_t *rt = tr_runtime_new (&options);
    TR_ASSERT (rt);
    TR_CHECK (tr_runtime_start (rt));
    tr_bus_options_t bus_options;
    tr_bus_options_default (&bus_options);
    bus_options.log_path = path;
    tr_ref_t bus;
    TR_CHECK (tr_bus_start (rt, &bus_options, &bus));
    //  Starting a bus removed the dead nodes' run directories.
    for (int round = 0; round < S_ROUNDS; round++)
        TR_ASSERT (!s_run_dir_left (atomic_load (&reports[round].pid)));
    tr_bus_stats_t stats = s_stats (rt, bus);
    s_verify_t verify = {.reports = reports};
    TR_CHECK (tr_bus_replay (rt, bus, 0, s_verify_event, &verify));
    TR_ASSERT_EQ_INT (verify.errors, 0);
    TR_ASSERT_EQ_INT (verify.count, stats.recovered);

    uint64_t max_lost = 0;
    for (int round = 0; round < S_ROUNDS; round++) {
        s_report_t *report = &reports[round];
        uint64_t base = atomic_load (&report->base), accepted = atomic_load (&report->accepted);
        uint64_t written = atomic_load (&report->written), synced = atomic_load (&report->synced);
        uint64_t kept = verify.kept[round];
        //  Each round began where the log ended after the previous one.
        uint64_t before = 0;
        for (int earlier = 0; earlier < round; earlier++)
            before += verify.kept[earlier];
        TR_ASSERT_EQ_INT (base, before);
        if (round > 0)
            TR_ASSERT_EQ_INT (atomic_load (&report->recovered), before);
        //  Everything it saw synced, and everything it saw written, is there.
        TR_ASSERT (base + kept >= synced);
        TR_ASSERT (base + kept >= written);
        //  Nothing it did not accept (one may be in before its count moved).
        TR_ASSERT (kept <= accepted + 1);
        uint64_t lost = accepted > kept ? accepted - kept : 0;
        if (lost > max_lost)
            max_lost = lost;
        printf ("test_bus_kill9: round %d: accepted %llu, kept %llu, lost %llu "
                "(last seen written %llu, synced %llu of its %llu; torn tail cut at its start: "
                "%llu bytes)\n",
                round, (unsigned long long) accepted, (unsigned long long) kept,
                (unsigned long long) lost, (unsigned long long) (written - base),
                (unsigned long long) (synced - base), (unsigned long long) accepted,
                (unsigned long long) atomic_load (&report->truncated));
    }
    printf ("test_bus_kill9: window: at most %llu events lost per kill -9\n",
            (unsigned long long) max_lost);
    tr_runtime_destroy (&rt);
    munmap (reports, S_ROUNDS * sizeof (s_report_t));
    s_tmpdir_remove (dir);
    TR_PASS ();
    return 0;
}
