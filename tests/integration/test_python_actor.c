//  test_python_actor - a process actor written in Python
//  (examples/python-actor/actor.py) speaking docs/protocol.md: requests,
//  replies, error replies, a shared-memory payload, acknowledgements, a
//  kill -9 and its restart, poison, a malformed frame rejected, and no child
//  left after destroy
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_PYTHON   "/usr/bin/python3"
#define S_MAX_PIDS 64

static bool
s_alive (int pid)
{
    return pid > 0 && kill (pid, 0) == 0;
}

//  The source directory: $TR_SOURCE_DIR (ctest sets it), else the one this
//  file was compiled from (CMake gives the compiler absolute paths).
static void
s_source_dir (char *dir, size_t size)
{
    const char *env = getenv ("TR_SOURCE_DIR");
    if (env && *env) {
        snprintf (dir, size, "%s", env);
        return;
    }
    snprintf (dir, size, "%s", __FILE__);
    char *at = strstr (dir, "/tests/integration/");
    if (at)
        *at = 0;
    else
        snprintf (dir, size, ".");
}

//  The interpreter and its ZeroMQ binding must be there: a skipped test
//  proves nothing (scripts/deps.sh installs python3-zmq).
static void
s_require_python (void)
{
    int status = system (S_PYTHON " -c 'import zmq' >/dev/null 2>&1");
    if (status == -1 || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        fprintf (stderr,
                 "test_python_actor: FAIL: %s cannot import zmq; install python3-zmq "
                 "(scripts/deps.sh does)\n",
                 S_PYTHON);
        exit (1);
    }
}

//  Read field 4 (ppid) of /proc/pid/stat; -1 if gone.
static int
s_ppid (int pid)
{
    char path[64], line[512];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    int ppid = -1;
    if (fgets (line, sizeof line, file)) {
        char *paren = strrchr (line, ')');
        if (!paren || sscanf (paren + 2, "%*c %d", &ppid) != 1)
            ppid = -1;
    }
    fclose (file);
    return ppid;
}

//  Every running child of our zygote (a child of ours) whose command line
//  names script: the active replica and any spare the pool keeps.
static size_t
s_script_pids (const char *script, int *pids, size_t max)
{
    size_t count = 0;
    DIR *proc = opendir ("/proc");
    TR_ASSERT (proc);
    struct dirent *entry;
    while ((entry = readdir (proc)) && count < max) {
        int pid = atoi (entry->d_name);
        if (pid <= 0)
            continue;
        char path[64], line[4096];
        snprintf (path, sizeof path, "/proc/%d/cmdline", pid);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        size_t size = fread (line, 1, sizeof line - 1, file);
        fclose (file);
        for (size_t i = 0; i < size; i++)
            if (line[i] == 0)
                line[i] = ' ';
        line[size] = 0;
        int parent = s_ppid (pid);
        if (strstr (line, script) && parent > 0 && s_ppid (parent) == (int) getpid ())
            pids[count++] = pid;
    }
    closedir (proc);
    return count;
}

static int
s_call (tr_runtime_t *rt, tr_ref_t pool, const char *type, const void *data, size_t size,
        void **reply, size_t *reply_size)
{
    return tr_call (rt, pool, tr_type (type), data, size, 10000, reply, reply_size);
}

//  py.upper "hello" -> "HELLO"
static void
s_check_upper (tr_runtime_t *rt, tr_ref_t pool)
{
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (s_call (rt, pool, "py.upper", "hello", 5, &reply, &size));
    TR_ASSERT_EQ_INT (size, 5);
    TR_ASSERT (memcmp (reply, "HELLO", 5) == 0);
    tr_free (reply);
}

static tr_process_stats_t
s_stats (tr_runtime_t *rt, tr_ref_t pool)
{
    tr_process_stats_t stats;
    TR_CHECK (tr_process_stats (rt, pool, &stats));
    return stats;
}

//  py.upper with its payload in shared memory: the child maps the segment.
static void
s_check_shm (tr_runtime_t *rt, tr_ref_t pool)
{
    tr_shm_t *shm = tr_shm_new (5);
    TR_ASSERT (shm);
    memcpy (tr_shm_data (shm), "shm!x", 5);
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call_shm (rt, pool, tr_type ("py.upper"), shm, 10000, &reply, &size));
    TR_ASSERT_EQ_INT (size, 5);
    TR_ASSERT (memcmp (reply, "SHM!X", 5) == 0);
    tr_free (reply);
    tr_shm_release (&shm);
}

//  A one-way message of a type the actor does not know is acknowledged.
static void
s_check_one_way (tr_runtime_t *rt, tr_ref_t pool)
{
    tr_process_stats_t before = s_stats (rt, pool), stats;
    TR_CHECK (tr_runtime_send (rt, pool, tr_type ("py.note"), "x", 1));
    int64_t deadline = s_now_ms () + 5000;
    do {
        usleep (5000);
        stats = s_stats (rt, pool);
    } while ((stats.answered <= before.answered || stats.in_flight || stats.queued)
             && s_now_ms () < deadline);
    TR_ASSERT (stats.answered > before.answered);
    TR_ASSERT_EQ_INT (stats.in_flight, 0);
    TR_ASSERT_EQ_INT (stats.queued, 0);
}

//  kill -9 the child: the pool restarts it and the next request is answered.
static void
s_check_kill (tr_runtime_t *rt, tr_ref_t pool)
{
    int pid = 0;
    size_t count = 0;
    TR_CHECK (tr_process_pids (rt, pool, &pid, 1, &count));
    TR_ASSERT_EQ_INT (count, 1);
    TR_ASSERT (pid > 0);
    TR_ASSERT (kill (pid, SIGKILL) == 0);
    s_check_upper (rt, pool);
    tr_process_stats_t stats = s_stats (rt, pool);
    TR_ASSERT (stats.restarts >= 1);
    int now = 0;
    TR_CHECK (tr_process_pids (rt, pool, &now, 1, &count));
    TR_ASSERT (now != pid);
}

//  A one-way py.garbage makes the child send a malformed message: counted,
//  the child is killed for it, and a new one serves.
static void
s_check_garbage (tr_runtime_t *rt, tr_ref_t pool)
{
    tr_process_stats_t before = s_stats (rt, pool), stats;
    TR_CHECK (tr_runtime_send (rt, pool, tr_type ("py.garbage"), NULL, 0));
    int64_t deadline = s_now_ms () + 5000;
    do {
        usleep (5000);
        stats = s_stats (rt, pool);
    } while ((stats.malformed <= before.malformed || stats.last_exit_reason != TR_EMALFORMED)
             && s_now_ms () < deadline);
    TR_ASSERT (stats.malformed >= 1);
    TR_ASSERT_EQ_INT (stats.last_exit_reason, TR_EMALFORMED);
    TR_ASSERT (stats.restarts > before.restarts);
    s_check_upper (rt, pool);
}

int
main (void)
{
    s_require_python ();
    char dir[400], script[480], command[512];
    s_source_dir (dir, sizeof dir);
    snprintf (script, sizeof script, "%s/examples/python-actor/actor.py", dir);
    if (access (script, R_OK) != 0) {
        fprintf (stderr, "test_python_actor: FAIL: cannot read %s (set TR_SOURCE_DIR)\n", script);
        return 1;
    }
    TR_ASSERT (!strchr (script, '\''));
    int length = snprintf (command, sizeof command, "%s '%s'", S_PYTHON, script);
    TR_ASSERT (length > 0 && (size_t) length < sizeof command);

    int64_t start = s_now_ms ();
    tr_runtime_t *rt = tr_test_runtime (2);
    //  Python takes a while to start: a generous silence allowance.
    tr_process_spec_t spec = {.command = command,
                              .replicas = 1,
                              .max_retries = 2,
                              .heartbeat_ms = 50,
                              .heartbeat_timeout_ms = 2000};
    tr_ref_t pool;
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_ASSERT_EQ_INT (s_stats (rt, pool).replicas_ready, 1);

    //  Requests, replies and an error reply.
    s_check_upper (rt, pool);
    int64_t operands[2] = {2, 40}, sum = 0;
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (s_call (rt, pool, "py.add", operands, sizeof operands, &reply, &size));
    TR_ASSERT_EQ_INT (size, sizeof sum);
    memcpy (&sum, reply, sizeof sum);
    tr_free (reply);
    TR_ASSERT_EQ_INT (sum, 42);
    TR_ASSERT_EQ_INT (s_call (rt, pool, "py.nope", "?", 1, NULL, NULL), TR_EUNKNOWN_TYPE);

    s_check_shm (rt, pool);
    s_check_one_way (rt, pool);
    s_check_kill (rt, pool);

    //  A message that crashes every child it reaches: max_retries (2)
    //  children, then it is dead-lettered and the caller gets TR_EPOISON.
    TR_ASSERT_EQ_INT (s_call (rt, pool, "py.crash", NULL, 0, NULL, NULL), TR_EPOISON);
    tr_process_stats_t stats = s_stats (rt, pool);
    TR_ASSERT (stats.poisoned >= 1);
    TR_ASSERT (stats.redelivered >= 1);

    s_check_garbage (rt, pool);

    //  Every python child goes with the node.
    int pids[S_MAX_PIDS];
    size_t count = 0;
    TR_CHECK (tr_process_pids (rt, pool, pids, S_MAX_PIDS, &count));
    TR_ASSERT_EQ_INT (count, 1);
    count += s_script_pids (script, pids + count, S_MAX_PIDS - count);
    TR_ASSERT (count >= 2);  //  the replica, found both ways
    stats = s_stats (rt, pool);
    TR_ASSERT_EQ_INT (stats.in_flight, 0);
    printf ("python actor: %llu answered, %llu restarts, %llu redelivered, %llu poisoned, "
            "%llu malformed, %zu python children at the end\n",
            (unsigned long long) stats.answered, (unsigned long long) stats.restarts,
            (unsigned long long) stats.redelivered, (unsigned long long) stats.poisoned,
            (unsigned long long) stats.malformed, count - 1);
    tr_runtime_destroy (&rt);
    TR_ASSERT (!rt);
    for (size_t i = 0; i < count; i++)
        TR_ASSERT (!s_alive (pids[i]));
    printf ("test_python_actor: %lld ms\n", (long long) (s_now_ms () - start));
    TR_PASS ();
    return 0;
}
