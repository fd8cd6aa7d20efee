//  test_loop - the async loop threads, fd watchers, replying later,
//  dedicated threads and their placement, bounded concurrency
#include "loop.h"
#include "runtime_helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

static tr_type_t s_watch_type, s_unwatch, s_modify, s_wait, s_wait_write, s_stats, s_bad, s_nap,
    s_child;

//  --------------------------------------------------------------------------
//  watcher: watches the fds it is told to, counts what it sees, and answers
//  "wait" requests later, from its watcher callbacks

typedef struct {
    int fd;
    int events;
    int stop_on_read;  //  the read callback stops the actor
} s_watch_req_t;

typedef struct {
    int64_t bytes, reads, writes, errors, eofs, deferred;
} s_watch_stats_t;

typedef struct {
    s_watch_stats_t stats;
    int stop_on_read;
    tr_msg_t wait_request;  //  a request answered later
    bool waiting;
    int64_t wait_for;  //  ... once this many bytes were read
    tr_msg_t write_request;
    bool waiting_write;
} s_watcher_t;

//  The watcher actor, for the test of calls from a host thread.
static _Atomic (tr_actor_t *) s_watcher_self;

static void
s_answer_waiter (tr_actor_t *self, s_watcher_t *watcher)
{
    if (watcher->waiting && watcher->stats.bytes >= watcher->wait_for) {
        watcher->waiting = false;
        TR_CHECK (tr_reply (self, &watcher->wait_request, &watcher->stats.bytes, sizeof (int64_t)));
    }
}

static void
s_on_readable (tr_actor_t *self, void *state, int fd, int revents, void *arg)
{
    (void) arg;
    s_watcher_t *watcher = state;
    if (revents & TR_WATCH_ERROR)
        watcher->stats.errors++;
    watcher->stats.reads++;
    char buffer[4096];
    while (true) {
        ssize_t size = read (fd, buffer, sizeof buffer);
        if (size > 0) {
            watcher->stats.bytes += size;
            continue;
        }
        if (size == 0) {
            watcher->stats.eofs++;
            tr_unwatch (self, fd);
        }
        break;  //  EAGAIN, EOF, or the fd is gone
    }
    s_answer_waiter (self, watcher);
    if (watcher->stop_on_read)
        tr_stop (self);
}

static void
s_on_writable (tr_actor_t *self, void *state, int fd, int revents, void *arg)
{
    (void) arg;
    s_watcher_t *watcher = state;
    if (revents & TR_WATCH_ERROR)
        watcher->stats.errors++;
    if (revents & TR_WATCH_WRITE)
        watcher->stats.writes++;
    //  Level-triggered: pause, or this runs on every pass.
    TR_CHECK (tr_watch_modify (self, fd, 0));
    if (watcher->waiting_write) {
        watcher->waiting_write = false;
        TR_CHECK (
            tr_reply (self, &watcher->write_request, &watcher->stats.writes, sizeof (int64_t)));
    }
}

static int
s_watcher_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) state;
    (void) arg;
    (void) arg_size;
    atomic_store (&s_watcher_self, self);
    return 0;
}

static int
s_reply_rc (tr_actor_t *self, const tr_msg_t *msg, int rc)
{
    int32_t value = rc;
    return tr_reply (self, msg, &value, sizeof value);
}

static int
s_watcher_watch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_watch_req_t req;
    TR_ASSERT_EQ_INT (msg->size, sizeof req);
    memcpy (&req, msg->data, sizeof req);
    ((s_watcher_t *) state)->stop_on_read = req.stop_on_read;
    tr_watch_fn *fn = req.events & TR_WATCH_WRITE ? s_on_writable : s_on_readable;
    return s_reply_rc (self, msg, tr_watch (self, req.fd, req.events, fn, NULL));
}

static int
s_watcher_unwatch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    s_watch_req_t req;
    memcpy (&req, msg->data, sizeof req);
    return s_reply_rc (self, msg, tr_unwatch (self, req.fd));
}

static int
s_watcher_modify (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    s_watch_req_t req;
    memcpy (&req, msg->data, sizeof req);
    return s_reply_rc (self, msg, tr_watch_modify (self, req.fd, req.events));
}

//  Answer once wait_for bytes were read: now, or later from the callback.
static int
s_watcher_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_watcher_t *watcher = state;
    memcpy (&watcher->wait_for, msg->data, sizeof (int64_t));
    watcher->wait_request = *msg;  //  a copy: tr_reply reads from and corr
    watcher->waiting = true;
    if (watcher->stats.bytes < watcher->wait_for)
        watcher->stats.deferred++;
    s_answer_waiter (self, watcher);
    return 0;
}

//  Resume the (paused) write watcher on the fd given; answer at the next
//  write readiness.
static int
s_watcher_wait_write (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_watcher_t *watcher = state;
    s_watch_req_t req;
    memcpy (&req, msg->data, sizeof req);
    TR_CHECK (tr_watch_modify (self, req.fd, TR_WATCH_WRITE));
    watcher->write_request = *msg;
    watcher->waiting_write = true;
    return 0;
}

static int
s_watcher_stats (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    return tr_reply (self, msg, &((s_watcher_t *) state)->stats, sizeof (s_watch_stats_t));
}

//  Feed every bad input; the payload names an open fd this actor does not
//  watch yet. Replies with the results in order.
static int
s_watcher_bad (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    s_watch_req_t req;
    memcpy (&req, msg->data, sizeof req);
    int32_t rcs[12];
    rcs[0] = tr_watch (self, -1, TR_WATCH_READ, s_on_readable, NULL);
    rcs[1] = tr_watch (self, req.fd, 0, s_on_readable, NULL);
    rcs[2] = tr_watch (self, req.fd, TR_WATCH_ERROR, s_on_readable, NULL);
    rcs[3] = tr_watch (self, req.fd, 0x10, s_on_readable, NULL);
    rcs[4] = tr_watch (self, req.fd, TR_WATCH_READ, NULL, NULL);
    rcs[5] = tr_watch (self, 1000, TR_WATCH_READ, s_on_readable, NULL);  //  not open
    rcs[6] = tr_unwatch (self, req.fd);
    rcs[7] = tr_watch_modify (self, req.fd, TR_WATCH_READ);
    rcs[8] = tr_watch (self, req.fd, TR_WATCH_READ, s_on_readable, NULL);
    rcs[9] = tr_watch (self, req.fd, TR_WATCH_READ, s_on_readable, NULL);  //  twice
    rcs[10] = tr_watch_modify (self, req.fd, 0x8);
    rcs[11] = tr_unwatch (self, req.fd);
    return tr_reply (self, msg, rcs, sizeof rcs);
}

//  Spawn a counter with the default placement; reply with its ref.
static int
s_on_child (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_ref_t child;
    int rc = tr_actor_spawn (self, "counter", NULL, 0, NULL, &child);
    if (rc)
        return rc;
    return tr_reply (self, msg, &child, sizeof child);
}

static const tr_handler_t s_watcher_handlers[] = {{"watch", s_watcher_watch},
                                                  {"unwatch", s_watcher_unwatch},
                                                  {"modify", s_watcher_modify},
                                                  {"wait", s_watcher_wait},
                                                  {"wait_write", s_watcher_wait_write},
                                                  {"stats", s_watcher_stats},
                                                  {"bad", s_watcher_bad},
                                                  {"child", s_on_child},
                                                  {"stop", s_on_stop},
                                                  {NULL, NULL}};
static const tr_behaviour_t s_watcher = {.name = "watcher",
                                         .state_size = sizeof (s_watcher_t),
                                         .init = s_watcher_init,
                                         .handlers = s_watcher_handlers};

//  --------------------------------------------------------------------------
//  sleeper: blocks its thread in "nap" (a blocking library call)

static atomic_int s_napping;

static int
s_sleeper_nap (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    int32_t ms;
    memcpy (&ms, msg->data, sizeof ms);
    atomic_store (&s_napping, 1);
    s_sleep_ms (ms);
    atomic_store (&s_napping, 0);
    return 0;
}

static const tr_handler_t s_sleeper_handlers[] = {
    {"nap", s_sleeper_nap}, {"child", s_on_child}, {"touch", s_counter_touch}, {NULL, NULL}};
static const tr_behaviour_t s_sleeper = {.name = "sleeper", .handlers = s_sleeper_handlers};

//  --------------------------------------------------------------------------
//  Helpers

//  Whether a thread of this process is named name.
static bool
s_thread_named (const char *name)
{
    DIR *dir = opendir ("/proc/self/task");
    TR_ASSERT (dir);
    bool found = false;
    struct dirent *entry;
    while (!found && (entry = readdir (dir))) {
        char path[300], comm[64] = "";
        snprintf (path, sizeof path, "/proc/self/task/%s/comm", entry->d_name);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        if (fgets (comm, sizeof comm, file)) {
            comm[strcspn (comm, "\n")] = '\0';
            found = strcmp (comm, name) == 0;
        }
        fclose (file);
    }
    closedir (dir);
    return found;
}

static int32_t
s_call_rc (tr_runtime_t *rt, tr_ref_t to, tr_type_t type, int fd, int events, int stop_on_read)
{
    s_watch_req_t req = {fd, events, stop_on_read};
    int32_t rc;
    s_call_into (rt, to, type, &req, sizeof req, &rc, sizeof rc);
    return rc;
}

static s_watch_stats_t
s_watch_stats (tr_runtime_t *rt, tr_ref_t watcher)
{
    s_watch_stats_t stats;
    s_call_into (rt, watcher, s_stats, NULL, 0, &stats, sizeof stats);
    return stats;
}

static void
s_pipe (int fds[2])
{
    TR_ASSERT (pipe2 (fds, O_NONBLOCK | O_CLOEXEC) == 0);
}

static tr_ref_t
s_spawn_placed (tr_runtime_t *rt, const char *behaviour, int placement)
{
    TR_ASSERT (placement > 0);
    tr_spawn_opts_t opts = {.thread = placement};
    tr_ref_t ref = TR_REF_NONE;
    TR_CHECK (tr_spawn (rt, behaviour, NULL, 0, &opts, &ref));
    return ref;
}

//  Writes to fd after a delay, from another thread.
typedef struct {
    int fd;
    int delay_ms;
    size_t size;
} s_late_write_t;

static void *
s_late_write (void *arg)
{
    s_late_write_t *job = arg;
    s_sleep_ms (job->delay_ms);
    char buffer[64] = "late";
    TR_ASSERT (write (job->fd, buffer, job->size) == (ssize_t) job->size);
    return NULL;
}

//  --------------------------------------------------------------------------
//  Tests

static void
s_test_options (void)
{
    tr_options_t options;
    tr_options_default (&options);
    TR_ASSERT_EQ_INT (options.loops, 1);
    TR_ASSERT_EQ_INT (options.dedicated_threads, 4);
    options.loops = -1;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    tr_options_default (&options);
    options.dedicated_threads = -1;
    TR_ASSERT (tr_runtime_new (&options) == NULL);
    tr_options_default (&options);
    options.threads = 100;
    options.loops = 30;  //  past 127 threads in all
    TR_ASSERT (tr_runtime_new (&options) == NULL);

    //  No loop thread: placement there is not supported.
    tr_options_default (&options);
    options.threads = 1;
    options.loops = 0;
    options.dedicated_threads = 0;
    options.no_processes = true;
    tr_runtime_t *rt = tr_runtime_new (&options);
    TR_ASSERT (rt);
    TR_ASSERT_EQ_INT (tr_dedicated_placement (rt), TR_ETOOMANY);
    TR_CHECK (tr_runtime_start (rt));
    TR_ASSERT_EQ_INT (tr_loop_placement (rt, 0), TR_ENOTSUP);
    TR_ASSERT_EQ_INT (tr_dedicated_placement (rt), TR_ETOOMANY);
    TR_ASSERT (!s_thread_named ("troupe-loop-0"));
    tr_runtime_destroy (&rt);
    TR_ASSERT_EQ_INT (tr_loop_placement (NULL, 0), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_dedicated_placement (NULL), TR_EINVAL);
}

static void
s_test_placement (void)
{
    tr_options_t options;
    tr_options_default (&options);
    options.threads = 2;
    options.loops = 2;
    options.dedicated_threads = 2;
    tr_runtime_t *rt = tr_runtime_new (&options);
    TR_ASSERT (rt);
    TR_ASSERT_EQ_INT (tr_dedicated_placement (rt), TR_ESTOPPED);  //  not started
    TR_CHECK (tr_runtime_start (rt));
    TR_ASSERT (s_thread_named ("troupe-loop-0"));
    TR_ASSERT (s_thread_named ("troupe-loop-1"));
    TR_ASSERT (!s_thread_named ("troupe-ded-0"));  //  not handed out yet

    int loop0 = tr_loop_placement (rt, 0), loop1 = tr_loop_placement (rt, 1);
    TR_ASSERT (loop0 > 0 && loop1 > 0 && loop0 != loop1);
    TR_ASSERT_EQ_INT (tr_loop_placement (rt, 2), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_loop_placement (rt, -1), TR_EINVAL);
    tr_ref_t on_loop = s_spawn_placed (rt, "counter", loop1);
    TR_ASSERT_EQ_INT (tr__ref_thread (on_loop), rt->loop_base + 1);
    TR_ASSERT_EQ_INT (s_call_int64 (rt, on_loop, s_get), 0);

    //  Round-robin and plain thread numbers stay on the user threads.
    for (int i = 0; i < 20; i++) {
        tr_ref_t ref;
        TR_CHECK (tr_spawn (rt, "counter", NULL, 0, NULL, &ref));
        TR_ASSERT (tr__ref_thread (ref) < 2);
    }
    tr_ref_t ref;
    tr_spawn_opts_t opts = {.thread = 3};  //  would be the process manager
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    opts.thread = 4;  //  would be the first loop thread
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    opts.thread = TR__PLACE_DEDICATED;  //  never handed out
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    opts.thread = TR__PLACE_LOOP + 2;  //  no third loop
    TR_ASSERT_EQ_INT (tr_spawn (rt, "counter", NULL, 0, &opts, &ref), TR_EINVAL);
    //  A child of an actor on a loop thread goes to the user threads.
    tr_ref_t parent = s_spawn_placed (rt, "watcher", loop0);
    tr_ref_t child;
    s_call_into (rt, parent, s_child, NULL, 0, &child, sizeof child);
    TR_ASSERT (tr__ref_thread (child) < 2);
    TR_ASSERT_EQ_INT (s_call_int64 (rt, child, s_get), 0);

    //  Dedicated threads: two, each handed out once, reserved until used.
    int ded_a = tr_dedicated_placement (rt);
    int ded_b = tr_dedicated_placement (rt);
    TR_ASSERT (ded_a > 0 && ded_b > 0 && ded_a != ded_b);
    TR_ASSERT_EQ_INT (tr_dedicated_placement (rt), TR_ETOOMANY);
    TR_ASSERT (s_thread_named ("troupe-ded-0"));
    TR_ASSERT (s_thread_named ("troupe-ded-1"));
    tr_ref_t sleeper_a = s_spawn_placed (rt, "sleeper", ded_a);
    tr_ref_t sleeper_b = s_spawn_placed (rt, "sleeper", ded_b);
    TR_ASSERT (tr__ref_thread (sleeper_a) >= rt->dedicated_base);
    TR_ASSERT (tr__ref_thread (sleeper_b) != tr__ref_thread (sleeper_a));
    TR_ASSERT_EQ_INT (tr_dedicated_placement (rt), TR_ETOOMANY);
    //  Its children do not land on it.
    s_call_into (rt, sleeper_a, s_child, NULL, 0, &child, sizeof child);
    TR_ASSERT (tr__ref_thread (child) < 2);

    //  A blocking handler on a dedicated thread stalls nobody else.
    tr_ref_t counter = s_spawn_on (rt, "counter", NULL, 0, 1);
    int32_t nap_ms = 1500;
    TR_CHECK (tr_runtime_send (rt, sleeper_a, s_nap, &nap_ms, sizeof nap_ms));
    int64_t deadline = s_now_ms () + 2000;
    while (!atomic_load (&s_napping)) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (1);
    }
    int64_t start = s_now_ms ();
    for (int i = 0; i < 10; i++) {
        TR_CHECK (tr_call (rt, counter, s_get, NULL, 0, 500, NULL, NULL));
        TR_CHECK (tr_call (rt, on_loop, s_get, NULL, 0, 500, NULL, NULL));
        TR_CHECK (tr_call (rt, sleeper_b, s_touch, NULL, 0, 500, NULL, NULL));
    }
    TR_ASSERT (atomic_load (&s_napping));  //  still asleep: answered meanwhile
    TR_ASSERT (s_now_ms () - start < 1000);
    //  ... while the sleeper itself does not answer before it wakes.
    TR_ASSERT_EQ_INT (tr_call (rt, sleeper_a, s_touch, NULL, 0, 50, NULL, NULL), TR_ETIMEDOUT);

    //  Its death frees the thread, which is handed out again.
    TR_CHECK (tr_runtime_kill (rt, sleeper_a, 0));
    s_wait_dead (rt, sleeper_a);
    int again = TR_ETOOMANY;
    deadline = s_now_ms () + 3000;
    while ((again = tr_dedicated_placement (rt)) == TR_ETOOMANY) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (5);
    }
    TR_ASSERT_EQ_INT (again, ded_a);
    tr_ref_t sleeper_c = s_spawn_placed (rt, "sleeper", again);
    TR_ASSERT_EQ_INT (tr__ref_thread (sleeper_c), tr__ref_thread (sleeper_a));
    TR_CHECK (tr_call (rt, sleeper_c, s_touch, NULL, 0, 3000, NULL, NULL));
    TR_ASSERT_EQ_INT (tr_dedicated_placement (rt), TR_ETOOMANY);
    //  One actor per dedicated thread, whatever old value a spawn uses.
    tr_ref_t intruder = TR_REF_NONE;
    tr_spawn_opts_t intrude = {.thread = ded_a};
    TR_ASSERT_EQ_INT (tr_spawn (rt, "sleeper", NULL, 0, &intrude, &intruder), TR_ETOOMANY);

    tr_runtime_stats_t stats;
    TR_CHECK (tr_runtime_stats (rt, &stats));  //  every started thread answers
    tr_runtime_destroy (&rt);
}

static void
s_test_watchers (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_ref_t watcher = s_spawn_placed (rt, "watcher", tr_loop_placement (rt, 0));
    TR_ASSERT_EQ_INT (tr__ref_thread (watcher), rt->loop_base);

    //  Read readiness on a pipe; a request answered later, from the callback.
    int fds[2];
    s_pipe (fds);
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_watch_type, fds[0], TR_WATCH_READ, 0), 0);
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_watch_type, fds[0], TR_WATCH_READ, 0), TR_EEXIST);
    TR_ASSERT (write (fds[1], "hello", 5) == 5);
    int64_t wanted = 5;
    int64_t got = 0;
    s_call_into (rt, watcher, s_wait, &wanted, sizeof wanted, &got, sizeof got);
    TR_ASSERT_EQ_INT (got, 5);
    pthread_t writer;
    s_late_write_t job = {fds[1], 100, 7};
    TR_ASSERT (pthread_create (&writer, NULL, s_late_write, &job) == 0);
    wanted = 12;
    s_call_into (rt, watcher, s_wait, &wanted, sizeof wanted, &got, sizeof got);
    TR_ASSERT_EQ_INT (got, 12);
    pthread_join (writer, NULL);
    s_watch_stats_t stats = s_watch_stats (rt, watcher);
    TR_ASSERT_EQ_INT (stats.bytes, 12);
    TR_ASSERT (stats.deferred >= 1);  //  the second wait was answered later
    TR_ASSERT_EQ_INT (stats.errors, 0);

    //  Paused (events 0): no callback, the data stays in the pipe.
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_modify, fds[0], 0, 0), 0);
    TR_ASSERT (write (fds[1], "abc", 3) == 3);
    s_sleep_ms (100);
    TR_ASSERT_EQ_INT (s_watch_stats (rt, watcher).bytes, 12);
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_modify, fds[0], TR_WATCH_READ, 0), 0);
    wanted = 15;
    s_call_into (rt, watcher, s_wait, &wanted, sizeof wanted, &got, sizeof got);
    TR_ASSERT_EQ_INT (got, 15);

    //  Unwatched: the callback no longer runs; the bytes stay in the pipe.
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_unwatch, fds[0], 0, 0), 0);
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_unwatch, fds[0], 0, 0), TR_ENOENT);
    TR_ASSERT (write (fds[1], "xyz", 3) == 3);
    s_sleep_ms (100);
    TR_ASSERT_EQ_INT (s_watch_stats (rt, watcher).bytes, 15);
    char buffer[16];
    TR_ASSERT_EQ_INT (read (fds[0], buffer, sizeof buffer), 3);

    //  eventfd: readable once signalled.
    int event = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    TR_ASSERT (event >= 0);
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_watch_type, event, TR_WATCH_READ, 0), 0);
    TR_ASSERT (eventfd_write (event, 3) == 0);
    wanted = 15 + 8;
    s_call_into (rt, watcher, s_wait, &wanted, sizeof wanted, &got, sizeof got);
    TR_ASSERT_EQ_INT (got, 23);
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_unwatch, event, 0, 0), 0);
    close (event);

    //  Write readiness: at once on an empty pipe, never while it is full,
    //  again once the reader drains it.
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_watch_type, fds[1], TR_WATCH_WRITE, 0), 0);
    //  It fired once (and paused) before this request came.
    int64_t writes = 0;
    s_watch_req_t req = {fds[1], TR_WATCH_WRITE, 0};
    s_call_into (rt, watcher, s_wait_write, &req, sizeof req, &writes, sizeof writes);
    TR_ASSERT_EQ_INT (writes, 2);
    static char block[65536];
    size_t filled = 0;
    ssize_t size;
    while ((size = write (fds[1], block, sizeof block)) > 0)
        filled += (size_t) size;
    TR_ASSERT (errno == EAGAIN && filled > 0);
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_modify, fds[1], TR_WATCH_WRITE, 0), 0);
    s_sleep_ms (100);
    TR_ASSERT_EQ_INT (s_watch_stats (rt, watcher).writes, 2);  //  full: not writable
    while (read (fds[0], block, sizeof block) > 0)
        ;
    int64_t deadline = s_now_ms () + 2000;
    while (s_watch_stats (rt, watcher).writes < 3) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (2);
    }
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_unwatch, fds[1], 0, 0), 0);

    //  Bad input from inside a handler.
    int32_t rcs[12];
    req = (s_watch_req_t){fds[0], 0, 0};
    s_call_into (rt, watcher, s_bad, &req, sizeof req, rcs, sizeof rcs);
    TR_ASSERT_EQ_INT (rcs[0], TR_EINVAL);   //  fd -1
    TR_ASSERT_EQ_INT (rcs[1], TR_EINVAL);   //  no events
    TR_ASSERT_EQ_INT (rcs[2], TR_EINVAL);   //  ERROR is not an event to ask for
    TR_ASSERT_EQ_INT (rcs[3], TR_EINVAL);   //  unknown event bit
    TR_ASSERT_EQ_INT (rcs[4], TR_EINVAL);   //  no callback
    TR_ASSERT_EQ_INT (rcs[5], TR_EINVAL);   //  fd not open
    TR_ASSERT_EQ_INT (rcs[6], TR_ENOENT);   //  unwatch unknown
    TR_ASSERT_EQ_INT (rcs[7], TR_ENOENT);   //  modify unknown
    TR_ASSERT_EQ_INT (rcs[8], 0);           //  watch
    TR_ASSERT_EQ_INT (rcs[9], TR_EEXIST);   //  watch twice
    TR_ASSERT_EQ_INT (rcs[10], TR_EINVAL);  //  modify with a bad event
    TR_ASSERT_EQ_INT (rcs[11], 0);          //  unwatch

    //  From a host thread: refused, nothing read from the actor.
    tr_actor_t *actor = atomic_load (&s_watcher_self);
    TR_ASSERT (actor);
    TR_ASSERT_EQ_INT (tr_watch (actor, fds[0], TR_WATCH_READ, s_on_readable, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_watch_modify (actor, fds[0], TR_WATCH_READ), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_unwatch (actor, fds[0]), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_watch (NULL, fds[0], TR_WATCH_READ, s_on_readable, NULL), TR_EINVAL);

    //  The writer closes: the reader sees the hang-up and reads EOF.
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_watch_type, fds[0], TR_WATCH_READ, 0), 0);
    close (fds[1]);
    deadline = s_now_ms () + 2000;
    while (s_watch_stats (rt, watcher).eofs < 1) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (2);
    }
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_unwatch, fds[0], 0, 0), TR_ENOENT);
    close (fds[0]);

    //  An fd closed while watched: one error, then the watcher is gone.
    s_pipe (fds);
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_watch_type, fds[0], TR_WATCH_READ, 0), 0);
    int64_t errors = s_watch_stats (rt, watcher).errors;
    close (fds[0]);
    deadline = s_now_ms () + 2000;
    while (s_watch_stats (rt, watcher).errors < errors + 1) {
        TR_ASSERT (s_now_ms () < deadline);
        s_sleep_ms (2);
    }
    s_sleep_ms (50);
    TR_ASSERT_EQ_INT (s_watch_stats (rt, watcher).errors, errors + 1);  //  once
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_unwatch, fds[0], 0, 0), TR_ENOENT);
    close (fds[1]);

    //  The actor's death drops its watchers: the data stays in the pipe.
    s_pipe (fds);
    TR_ASSERT_EQ_INT (s_call_rc (rt, watcher, s_watch_type, fds[0], TR_WATCH_READ, 0), 0);
    TR_CHECK (tr_call (rt, watcher, s_stop, NULL, 0, 1000, NULL, NULL));
    s_wait_dead (rt, watcher);
    TR_ASSERT (write (fds[1], "dead", 4) == 4);
    s_sleep_ms (100);
    TR_ASSERT_EQ_INT (read (fds[0], buffer, sizeof buffer), 4);

    //  A callback that stops its actor: it dies after the callback.
    tr_ref_t quitter = s_spawn_placed (rt, "watcher", tr_loop_placement (rt, 0));
    TR_ASSERT_EQ_INT (s_call_rc (rt, quitter, s_watch_type, fds[0], TR_WATCH_READ, 1), 0);
    TR_ASSERT (write (fds[1], "bye", 3) == 3);
    s_wait_dead (rt, quitter);
    //  A watcher on a user thread works too.
    tr_ref_t elsewhere = s_spawn_on (rt, "watcher", NULL, 0, 2);
    TR_ASSERT_EQ_INT (s_call_rc (rt, elsewhere, s_watch_type, fds[0], TR_WATCH_READ, 0), 0);
    TR_ASSERT (write (fds[1], "on2", 3) == 3);
    wanted = 3;
    s_call_into (rt, elsewhere, s_wait, &wanted, sizeof wanted, &got, sizeof got);
    TR_ASSERT_EQ_INT (got, 3);
    //  Shutdown with a watcher still in place.
    tr_runtime_destroy (&rt);
    close (fds[0]);
    close (fds[1]);
}

//  tr_watch in a test kit (no poll loop) is not supported.
static int s_kit_rc = 1;

static int
s_kit_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) state;
    (void) arg;
    (void) arg_size;
    s_kit_rc = tr_watch (self, 0, TR_WATCH_READ, s_on_readable, NULL);
    return 0;
}

static const tr_behaviour_t s_kit_watcher = {
    .name = "kit_watcher", .init = s_kit_init, .handlers = s_no_handlers};

static void
s_test_testkit (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_ref_t ref;
    TR_CHECK (tr_testkit_spawn (kit, "kit_watcher", NULL, 0, &ref));
    TR_ASSERT_EQ_INT (s_kit_rc, TR_ENOTSUP);
    TR_ASSERT_EQ_INT (tr_loop_placement (tr_testkit_runtime (kit), 0), TR_ENOTSUP);
    TR_ASSERT_EQ_INT (tr_dedicated_placement (tr_testkit_runtime (kit)), TR_ETOOMANY);
    tr_testkit_destroy (&kit);
}

static void
s_test_sem (void)
{
    tr_sem_t sem;
    TR_ASSERT_EQ_INT (tr_sem_init (&sem, 0), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_sem_init (NULL, 2), TR_EINVAL);
    TR_CHECK (tr_sem_init (&sem, 2));
    TR_CHECK (tr_sem_acquire (&sem));
    TR_CHECK (tr_sem_acquire (&sem));
    TR_ASSERT_EQ_INT (tr_sem_acquire (&sem), TR_EAGAIN);
    TR_ASSERT_EQ_INT (sem.refused, 1);
    tr_sem_release (&sem);
    TR_ASSERT_EQ_INT (sem.in_flight, 1);
    TR_CHECK (tr_sem_acquire (&sem));
    tr_sem_release (&sem);
    tr_sem_release (&sem);
    tr_sem_release (&sem);  //  one too many: stays at 0
    TR_ASSERT_EQ_INT (sem.in_flight, 0);
    TR_ASSERT_EQ_INT (tr_sem_acquire (NULL), TR_EINVAL);
}

int
main (void)
{
    signal (SIGPIPE, SIG_IGN);
    s_types_init ();
    s_watch_type = tr_type ("watch");
    s_unwatch = tr_type ("unwatch");
    s_modify = tr_type ("modify");
    s_wait = tr_type ("wait");
    s_wait_write = tr_type ("wait_write");
    s_stats = tr_type ("stats");
    s_bad = tr_type ("bad");
    s_nap = tr_type ("nap");
    s_child = tr_type ("child");
    TR_CHECK (tr_behaviour_register (&s_counter));
    TR_CHECK (tr_behaviour_register (&s_watcher));
    TR_CHECK (tr_behaviour_register (&s_sleeper));
    TR_CHECK (tr_behaviour_register (&s_kit_watcher));

    s_test_options ();
    s_test_sem ();
    s_test_testkit ();
    s_test_placement ();
    s_test_watchers ();
    TR_PASS ();
    return 0;
}
