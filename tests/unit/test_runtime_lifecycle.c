//  test_runtime_lifecycle - the threaded runtime's life: options and
//  their bad values, calls before start and on a NULL runtime, a bounded
//  destroy that gives up on a stuck handler, a destroy that terminates
//  every actor and leaves no thread, and signal dispositions left alone
#include "runtime_helpers.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Behaviours

//  terminator: records the order of terminate calls (spawn arg: an index)
#define S_TERMINATORS 1000
static atomic_int s_terminated;
static atomic_int s_terminated_badly;
static int32_t s_term_index[S_TERMINATORS];
static uint32_t s_term_thread[S_TERMINATORS];

typedef struct {
    int32_t index;
    uint32_t thread;
} s_terminator_t;

static int
s_terminator_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    s_terminator_t *terminator = state;
    if (arg_size != sizeof (int32_t))
        return -1;
    memcpy (&terminator->index, arg, sizeof (int32_t));
    terminator->thread = tr__ref_thread (tr_self (self));
    return 0;
}

static void
s_terminator_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    s_terminator_t *terminator = state;
    int slot = atomic_fetch_add (&s_terminated, 1);
    if (reason != TR_ESHUTDOWN || slot >= S_TERMINATORS) {
        atomic_fetch_add (&s_terminated_badly, 1);
        return;
    }
    s_term_index[slot] = terminator->index;
    s_term_thread[slot] = terminator->thread;
}
static const tr_behaviour_t s_terminator = {
    .name = "terminator",
    .state_size = sizeof (s_terminator_t),
    .init = s_terminator_init,
    .terminate = s_terminator_terminate,
    .handlers = s_no_handlers,
};

//  stuck: "hang" spins until s_unstick is set
static atomic_bool s_unstick;
static atomic_bool s_stuck_entered;

static int
s_stuck_hang (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    atomic_store (&s_stuck_entered, true);
    while (!atomic_load (&s_unstick))
        usleep (1000);
    return 0;
}

static const tr_handler_t s_stuck_handlers[] = {{"hang", s_stuck_hang}, {NULL, NULL}};
static const tr_behaviour_t s_stuck = {
    .name = "stuck",
    .handlers = s_stuck_handlers,
};

//  --------------------------------------------------------------------------
//  Tests

//  A handler that never returns: destroy gives up on its thread within
//  about stop_timeout_ms. Runs in a child process: destroy leaves that
//  runtime unfreed on purpose and its thread outlives destroy, which must
//  not disturb the thread counts and leak checks of the rest.
static int
s_stuck_destroy_child (void)
{
    tr_runtime_t *rt = s_runtime_new (2, 0, 300);
    TR_CHECK (tr_runtime_start (rt));
    tr_ref_t stuck = s_spawn_on (rt, "stuck", NULL, 0, 1);
    tr_ref_t other = s_spawn_on (rt, "counter", NULL, 0, 2);
    TR_CHECK (tr_runtime_send (rt, stuck, s_hang, NULL, 0));
    int64_t deadline = s_now_ms () + 2000;
    while (!atomic_load (&s_stuck_entered)) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (1);
    }
    TR_ASSERT_EQ_INT (s_call_int64 (rt, other, s_get), 0);  //  the other thread still works
    //  Two schedulers, the process manager, the loop (the lifeline watcher
    //  starts with the first process actor).
    TR_ASSERT_EQ_INT (s_troupe_threads (), 4);
    int64_t start = s_now_ms ();
    tr_runtime_destroy (&rt);
    int64_t elapsed = s_now_ms () - start;
    TR_ASSERT (rt == NULL);
    TR_ASSERT (elapsed < 3000);
    TR_ASSERT (elapsed >= 250);  //  it did wait for the handler first
    //  Let the abandoned thread finish; it must then end.
    atomic_store (&s_unstick, true);
    s_sleep_ms (50);
    deadline = s_now_ms () + 2000;
    while (s_troupe_threads () > 0) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (5);
    }
    return 0;
}

static void
s_test_stuck_destroy (void)
{
    fflush (stdout);
    fflush (stderr);
    pid_t child = fork ();
    TR_ASSERT (child >= 0);
    if (child == 0) {
        s_stuck_destroy_child ();
        fflush (stderr);
        _exit (0);  //  no exit handlers: the abandoned runtime is never freed
    }
    int status = 0;
    TR_ASSERT_EQ_INT (waitpid (child, &status, 0), child);
    TR_ASSERT (WIFEXITED (status));
    TR_ASSERT_EQ_INT (WEXITSTATUS (status), 0);
}

static void
s_test_options (void)
{
    tr_options_t options;
    tr_options_default (&options);
    TR_ASSERT_EQ_INT (options.threads, 0);
    TR_ASSERT_EQ_INT (options.mailbox_limit, 65536);
    TR_ASSERT_EQ_INT (options.overflow, TR_OVERFLOW_FAIL);
    TR_ASSERT_EQ_INT (options.max_payload, 64u << 20);
    TR_ASSERT_EQ_INT (options.stop_timeout_ms, 5000);
    TR_ASSERT (options.name && strcmp (options.name, "troupe") == 0);

    options.threads = -1;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    options.threads = 1000;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    options.threads = 127;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    tr_options_default (&options);
    options.overflow = (tr_overflow_t) 9;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    tr_options_default (&options);
    options.stop_timeout_ms = -1;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    tr_options_default (&options);
    options.mailbox_limit = (size_t) UINT32_MAX + 1;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    TR_ASSERT_EQ_INT (s_troupe_threads (), 0);

    //  Defaults: one thread per core; nothing runs before start.
    tr_runtime_t *rt = tr_runtime_new (NULL);
    TR_ASSERT (rt);
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    TR_ASSERT_EQ_INT (tr_runtime_threads (rt), cores > 0 ? cores : 1);
    TR_ASSERT_EQ_INT (tr_runtime_threads (NULL), 0);
    TR_ASSERT_EQ_INT (s_troupe_threads (), 0);
    tr_ref_t ref = 1;
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, NULL, &ref), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (ref, TR_REF_NONE);
    TR_ASSERT_EQ_INT (tr_runtime_send (rt, ref, s_inc, NULL, 0), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (tr_call (rt, ref, s_get, NULL, 0, 100, NULL, NULL), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (tr_runtime_kill (rt, ref, 0), TR_ESTOPPED);
    tr_actor_stats_t actor_stats;
    TR_ASSERT_EQ_INT (tr_actor_stats (rt, ref, &actor_stats), TR_ESTOPPED);
    tr_runtime_stats_t stats;
    TR_ASSERT_EQ_INT (tr_runtime_stats (rt, &stats), TR_ESTOPPED);
    tr_runtime_destroy (&rt);  //  never started
    TR_ASSERT (rt == NULL);
    tr_runtime_destroy (&rt);
    tr_runtime_destroy (NULL);

    //  NULL runtime.
    TR_ASSERT_EQ_INT (tr_runtime_start (NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_spawn (NULL, "counter", NULL, 0, NULL, &ref), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_runtime_send (NULL, 1, s_inc, NULL, 0), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (tr_call (NULL, 1, s_get, NULL, 0, 100, NULL, NULL), TR_ESTOPPED);
    TR_ASSERT_EQ_INT (tr_name_register (NULL, "x", 1), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_whereis (NULL, "x"), TR_REF_NONE);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (NULL, 0), 0);
    TR_ASSERT_EQ_INT (tr_dead_letter_sink (NULL, 1), TR_EINVAL);
}

static void
s_test_signals_untouched (void)
{
    struct sigaction action;
    TR_ASSERT_EQ_INT (sigaction (SIGINT, NULL, &action), 0);
    TR_ASSERT (action.sa_handler == SIG_DFL);
    TR_ASSERT (!(action.sa_flags & SA_SIGINFO));
    TR_ASSERT_EQ_INT (sigaction (SIGTERM, NULL, &action), 0);
    TR_ASSERT (action.sa_handler == SIG_DFL);
    TR_ASSERT (!(action.sa_flags & SA_SIGINFO));
}

//  Destroy a started runtime with many actors: every terminate runs
//  (newest first on each thread) before destroy returns.
static void
s_test_destroy_terminates_all (void)
{
    tr_runtime_t *rt = s_runtime_new (2, 0, 0);
    TR_CHECK (tr_runtime_start (rt));
    int on_thread[2] = {0, 0};
    for (int32_t i = 0; i < S_TERMINATORS; i++) {
        tr_ref_t ref;
        TR_CHECK (tr_spawn (rt, "terminator", &i, sizeof i, NULL, &ref));
        on_thread[tr__ref_thread (ref)]++;
    }
    TR_ASSERT (on_thread[0] > 0 && on_thread[1] > 0);
    TR_ASSERT_EQ_INT (atomic_load (&s_terminated), 0);
    tr_runtime_destroy (&rt);
    TR_ASSERT (rt == NULL);
    TR_ASSERT_EQ_INT (atomic_load (&s_terminated), S_TERMINATORS);
    TR_ASSERT_EQ_INT (atomic_load (&s_terminated_badly), 0);
    int32_t last[2] = {S_TERMINATORS, S_TERMINATORS};
    int per_thread[2] = {0, 0};
    for (int slot = 0; slot < S_TERMINATORS; slot++) {
        uint32_t thread = s_term_thread[slot];
        TR_ASSERT (thread < 2);
        TR_ASSERT (s_term_index[slot] < last[thread]);  //  newest first
        last[thread] = s_term_index[slot];
        per_thread[thread]++;
    }
    TR_ASSERT_EQ_INT (per_thread[0], on_thread[0]);
    TR_ASSERT_EQ_INT (per_thread[1], on_thread[1]);
    TR_ASSERT_EQ_INT (s_troupe_threads (), 0);
}

int
main (void)
{
    s_types_init ();
    TR_CHECK (tr_behaviour_register (&s_counter));
    TR_CHECK (tr_behaviour_register (&s_terminator));
    TR_CHECK (tr_behaviour_register (&s_stuck));

    //  First, while this process has no other thread: fork is safe.
    s_test_stuck_destroy ();
    s_test_options ();

    //  The runtime installs no signal handler.
    signal (SIGINT, SIG_DFL);
    signal (SIGTERM, SIG_DFL);
    tr_runtime_t *rt = s_runtime_new (2, 1024, 0);
    TR_CHECK (tr_runtime_start (rt));
    s_test_signals_untouched ();

    tr_runtime_destroy (&rt);
    TR_ASSERT (rt == NULL);
    TR_ASSERT_EQ_INT (s_troupe_threads (), 0);
    s_test_signals_untouched ();
    s_test_destroy_terminates_all ();
    TR_PASS ();
    return 0;
}
