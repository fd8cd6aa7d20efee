//  testutil - check macros for troupe's test programs: each failure prints
//  file:line and what failed, then exits 1
//
//  A test is a program that exits 0 when everything held:
//
//      #include "testutil.h"
//      int main (void)
//      {
//          tr_runtime_t *rt = tr_runtime_new (NULL);
//          TR_ASSERT (rt);
//          TR_CHECK (tr_runtime_start (rt));
//          TR_ASSERT_EQ_INT (tr_runtime_threads (rt), 2);
//          tr_runtime_destroy (&rt);
//          TR_PASS ();
//          return 0;
//      }

#ifndef TR_TESTUTIL_H_INCLUDED
#define TR_TESTUTIL_H_INCLUDED

#include <dirent.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "troupe.h"

//  The test's name: the source file's base name without its extension.
static inline const char *
tr_testutil_name (const char *file, char *buffer, size_t size)
{
    const char *base = strrchr (file, '/');
    base = base ? base + 1 : file;
    const char *dot = strrchr (base, '.');
    size_t length = dot ? (size_t) (dot - base) : strlen (base);
    if (length >= size)
        length = size - 1;
    memcpy (buffer, base, length);
    buffer[length] = '\0';
    return buffer;
}

//  Fail the test unless the troupe call returned 0 (TR_OK).
#define TR_CHECK(call)                                                                        \
    do {                                                                                      \
        int tr_testutil_rc_ = (call);                                                         \
        if (tr_testutil_rc_ != 0) {                                                           \
            fflush (stdout);                                                                  \
            fprintf (stderr, "%s:%d: FAIL: %s returned %d (%s)\n", __FILE__, __LINE__, #call, \
                     tr_testutil_rc_, tr_strerror (tr_testutil_rc_));                         \
            exit (1);                                                                         \
        }                                                                                     \
    } while (0)

//  Fail the test unless cond is true.
#define TR_ASSERT(cond)                                                                 \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fflush (stdout);                                                            \
            fprintf (stderr, "%s:%d: FAIL: assertion %s\n", __FILE__, __LINE__, #cond); \
            exit (1);                                                                   \
        }                                                                               \
    } while (0)

//  Fail the test unless two integers are equal; prints both values.
#define TR_ASSERT_EQ_INT(a, b)                                                                    \
    do {                                                                                          \
        long long tr_testutil_a_ = (long long) (a);                                               \
        long long tr_testutil_b_ = (long long) (b);                                               \
        if (tr_testutil_a_ != tr_testutil_b_) {                                                   \
            fflush (stdout);                                                                      \
            fprintf (stderr, "%s:%d: FAIL: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
                     tr_testutil_a_, tr_testutil_b_);                                             \
            exit (1);                                                                             \
        }                                                                                         \
    } while (0)

//  Say the test passed: "<test name>: PASS".
#define TR_PASS()                                                                          \
    do {                                                                                   \
        char tr_testutil_name_[128];                                                       \
        printf ("%s: PASS\n",                                                              \
                tr_testutil_name (__FILE__, tr_testutil_name_, sizeof tr_testutil_name_)); \
        fflush (stdout);                                                                   \
    } while (0)

//  The pids of live children of parent whose name (comm) is name, up to
//  max into pids; returns how many.
static inline int
tr_test_children_named (int parent, const char *name, int *pids, int max)
{
    int found = 0;
    DIR *proc = opendir ("/proc");
    struct dirent *entry;
    while (proc && found < max && (entry = readdir (proc))) {
        char path[300], line[256], comm[64] = "";
        snprintf (path, sizeof path, "/proc/%s/stat", entry->d_name);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        int pid = 0, ppid = 0;
        char state = 0;
        if (fgets (line, sizeof line, file)
            && sscanf (line, "%d (%63[^)]) %c %d", &pid, comm, &state, &ppid) == 4 && ppid == parent
            && state != 'Z' && strcmp (comm, name) == 0)
            pids[found++] = pid;
        fclose (file);
    }
    if (proc)
        closedir (proc);
    return found;
}

//  The pid of a live child of this process whose name (comm) is name, or 0.
static inline int
tr_test_child_named (const char *name)
{
    int pid = 0;
    tr_test_children_named (getpid (), name, &pid, 1);
    return pid;
}

//  A started runtime with threads scheduler threads (defaults otherwise).
static inline tr_runtime_t *
tr_test_runtime (int threads)
{
    tr_options_t options;
    tr_options_default (&options);
    options.threads = threads;
    tr_runtime_t *rt = tr_runtime_new (&options);
    TR_ASSERT (rt);
    TR_CHECK (tr_runtime_start (rt));
    return rt;
}

//  Monotonic milliseconds, and a sleep in milliseconds.
static inline int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void
s_sleep_ms (int ms)
{
    struct timespec pause = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep (&pause, NULL);
}

#endif
