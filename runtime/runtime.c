//  runtime - one node: options, scheduler threads, host API (send, call,
//  spawn), names, dead letters and host waiters
#include "runtime.h"
#include "clock.h"
#include "log.h"
#include "procs.h"
#include "supervisor.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

TR__HIDDEN void tr__dead_letter_register (void);
TR__HIDDEN void *tr__sched_connect_to (tr_runtime_t *rt, uint32_t to);

void
tr_options_default (tr_options_t *options)
{
    memset (options, 0, sizeof *options);
    options->threads = 0;
    options->mailbox_limit = 65536;
    options->overflow = TR_OVERFLOW_FAIL;
    options->max_payload = 64u << 20;
    options->stop_timeout_ms = 5000;
    options->name = "troupe";
    options->loops = 1;
    options->dedicated_threads = 4;
}

void
tr__builtin_register (void)
{
    tr__dead_letter_register ();
    tr__supervisor_register ();
    tr__pool_register ();
}

//  Scheduler layout: threads user threads, then the process manager (when
//  procs), then loops async loop threads, then dedicated threads.
static tr_runtime_t *
s_runtime_alloc (const tr_options_t *options, uint32_t threads, bool procs, uint32_t loops,
                 uint32_t dedicated)
{
    uint32_t sched_count = threads + (procs ? 1 : 0) + loops + dedicated;
    tr_runtime_t *self = tr__calloc (sizeof *self);
    self->options = *options;
    self->name = tr__strdup (options->name ? options->name : "troupe");
    self->options.name = self->name;
    self->threads = threads;
    self->sched_count = sched_count;
    self->loops = loops;
    self->loop_base = threads + (procs ? 1 : 0);
    self->dedicated = dedicated;
    self->dedicated_base = self->loop_base + loops;
    pthread_mutex_init (&self->dedicated_lock, NULL);
    pthread_mutex_init (&self->waiter_lock, NULL);
    pthread_mutex_init (&self->name_lock, NULL);
    pthread_mutex_init (&self->space_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->space_cond, &attr);
    pthread_cond_init (&self->exit_cond, &attr);
    pthread_condattr_destroy (&attr);
    pthread_mutex_init (&self->exit_lock, NULL);
    self->exit_status = -1;
    self->names = tr__strmap_new ();
    self->waiters = tr__calloc (TR__MAX_WAITERS * sizeof (tr__waiter_t *));
    self->free_waiters = tr__calloc (TR__MAX_WAITERS * sizeof (uint32_t));
    atomic_init (&self->next_corr, 1);
    self->scheds = tr__calloc (sched_count * sizeof (tr__sched_t *));
    self->host_push = tr__calloc (sched_count * sizeof (void *));
    self->host_lock = tr__calloc (sched_count * sizeof (pthread_mutex_t));
    for (uint32_t i = 0; i < sched_count; i++) {
        pthread_mutex_init (&self->host_lock[i], NULL);
        self->scheds[i] = tr__sched_new (self, i);
        self->scheds[i]->role = i < threads                ? TR__SCHED_USER
                                : i < self->loop_base      ? TR__SCHED_PROCS
                                : i < self->dedicated_base ? TR__SCHED_LOOP
                                                           : TR__SCHED_DEDICATED;
    }
    return self;
}

static void
s_runtime_free (tr_runtime_t *self)
{
    for (uint32_t i = 0; i < self->sched_count; i++) {
        if (self->host_push[i]) {
            zmq_close (self->host_push[i]);
            self->host_push[i] = NULL;
        }
        pthread_mutex_destroy (&self->host_lock[i]);
    }
    for (uint32_t i = 0; i < self->sched_count; i++)
        tr__sched_destroy (&self->scheds[i]);
    //  Its socket closes before the context ends; the zygote takes every
    //  child down with it.
    tr__procs_destroy (&self->procs);
    if (self->zmq_context)
        zmq_ctx_term (self->zmq_context);
    for (uint32_t i = 0; i < self->waiter_count; i++) {
        if (self->waiters[i]) {
            pthread_cond_destroy (&self->waiters[i]->cond);
            tr__free (self->waiters[i]);
        }
    }
    tr__free (self->waiters);
    tr__free (self->free_waiters);
    tr__strmap_destroy (&self->names);
    pthread_mutex_destroy (&self->waiter_lock);
    pthread_mutex_destroy (&self->dedicated_lock);
    pthread_mutex_destroy (&self->name_lock);
    pthread_mutex_destroy (&self->space_lock);
    pthread_cond_destroy (&self->space_cond);
    pthread_cond_destroy (&self->exit_cond);
    pthread_mutex_destroy (&self->exit_lock);
    tr__free (self->scheds);
    tr__free (self->host_push);
    tr__free (self->host_lock);
    tr__free (self->name);
    tr__free (self);
}

tr_runtime_t *
tr_runtime_new (const tr_options_t *options)
{
    tr_options_t defaults;
    tr_options_default (&defaults);
    if (!options)
        options = &defaults;
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    int threads = options->threads > 0 ? options->threads : (int) (cores > 0 ? cores : 1);
    //  Every scheduler thread needs a thread number in a ref (0..126).
    long all_threads = (long) threads + (options->no_processes ? 0 : 1) + options->loops
                       + options->dedicated_threads;
    if (options->threads < 0 || threads > TR__MAX_THREADS || options->mailbox_limit > UINT32_MAX
        || (unsigned) options->overflow > TR_OVERFLOW_BLOCK || options->stop_timeout_ms < 0
        || options->loops < 0 || options->dedicated_threads < 0
        || all_threads > TR__MAX_THREADS + 1) {
        tr__error ("runtime",
                   "invalid options (threads %d, loops %d, dedicated_threads %d, mailbox_limit "
                   "%zu, overflow %d)",
                   options->threads, options->loops, options->dedicated_threads,
                   options->mailbox_limit, (int) options->overflow);
        return NULL;
    }
    tr_options_t checked = *options;
    if (!checked.mailbox_limit)
        checked.mailbox_limit = defaults.mailbox_limit;
    if (!checked.max_payload)
        checked.max_payload = defaults.max_payload;
    if (!tr__allocator_consistent ()) {
        tr__error ("runtime", "jemalloc is loaded but is not this program's malloc: link with "
                              "`pkg-config --libs troupe` or CMake troupe::troupe, which put "
                              "jemalloc before libc (see docs/embedding.md)");
        return NULL;
    }
    tr__builtin_register ();
    tr__ns_per_tick ();  //  calibrate now, not inside the first handler

    //  The zygote first: it must be forked before any thread and before
    //  this node's ZeroMQ context exists.
    struct tr__procs *procs = checked.no_processes ? NULL : tr__procs_new ();
    tr_runtime_t *self =
        s_runtime_alloc (&checked, (uint32_t) threads, procs != NULL, (uint32_t) checked.loops,
                         (uint32_t) checked.dedicated_threads);
    self->procs = procs;
    self->zmq_context = zmq_ctx_new ();
    if (!self->zmq_context
        || (procs && tr__procs_bind (procs, self->zmq_context, checked.max_payload) != 0)) {
        s_runtime_free (self);
        return NULL;
    }
    //  Sockets close without lingering: destroy must never hang.
    zmq_ctx_set (self->zmq_context, ZMQ_BLOCKY, 0);
    for (uint32_t i = 0; i < self->sched_count; i++) {
        if (tr__sched_bind (self->scheds[i]) != 0 || tr__sched_connect (self->scheds[i]) != 0) {
            s_runtime_free (self);
            return NULL;
        }
    }
    for (uint32_t i = 0; i < self->sched_count; i++) {
        self->host_push[i] = tr__sched_connect_to (self, i);
        if (!self->host_push[i]) {
            s_runtime_free (self);
            return NULL;
        }
    }
    return self;
}

tr_runtime_t *
tr__runtime_new_child (void)
{
    tr_runtime_t *self = tr__runtime_new_testkit ();
    self->scheds[0]->virtual_time = false;
    self->scheds[0]->now_ns = tr__now_ns ();
    return self;
}

tr_runtime_t *
tr__runtime_new_testkit (void)
{
    tr_options_t options;
    tr_options_default (&options);
    options.name = "testkit";
    tr__builtin_register ();
    tr_runtime_t *self = s_runtime_alloc (&options, 1, false, 0, 0);
    self->testkit = true;
    self->scheds[0]->virtual_time = true;
    self->scheds[0]->now_ns = 0;
    atomic_store (&self->state, TR__RT_RUNNING);
    tr_ref_t dead_letters;
    if (tr__spawn_local (self->scheds[0], "tr.dead_letters", NULL, 0, NULL, TR_REF_NONE,
                         &dead_letters)
        == 0)
        atomic_store (&self->dead_letter_ref, dead_letters);
    return self;
}

int
tr_runtime_start (tr_runtime_t *self)
{
    if (!self)
        return TR_EINVAL;
    int expected = TR__RT_NEW;
    if (!atomic_compare_exchange_strong (&self->state, &expected, TR__RT_RUNNING))
        return TR_ESTOPPED;
    //  Dedicated threads start when tr_dedicated_placement first hands
    //  them out.
    for (uint32_t i = 0; i < self->dedicated_base; i++)
        if (tr__sched_start (self->scheds[i]) != 0) {
            tr__error ("runtime", "cannot start scheduler thread %u", i);
            return TR_ESTOPPED;
        }
    tr_spawn_opts_t opts = {.thread = 1};
    tr_ref_t dead_letters;
    if (tr_spawn (self, "tr.dead_letters", NULL, 0, &opts, &dead_letters) == 0)
        atomic_store (&self->dead_letter_ref, dead_letters);
    tr__info ("runtime", "%s started with %u threads", self->name, self->threads);
    return 0;
}

int
tr_runtime_threads (tr_runtime_t *self)
{
    return self ? (int) self->threads : 0;
}

//  --------------------------------------------------------------------------
//  Host waiters

//  Now on clock plus ms (for timed waits on condition variables and joins).
static struct timespec
s_deadline (clockid_t clock, int ms)
{
    struct timespec deadline;
    clock_gettime (clock, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

static tr_ref_t
s_waiter_new (tr_runtime_t *self)
{
    pthread_mutex_lock (&self->waiter_lock);
    uint32_t index;
    if (self->free_waiter_count)
        index = self->free_waiters[--self->free_waiter_count];
    else if (self->waiter_count < TR__MAX_WAITERS) {
        index = self->waiter_count++;
        tr__waiter_t *waiter = tr__calloc (sizeof *waiter);
        pthread_condattr_t attr;
        pthread_condattr_init (&attr);
        pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
        pthread_cond_init (&waiter->cond, &attr);
        pthread_condattr_destroy (&attr);
        waiter->gen = 1;
        self->waiters[index] = waiter;
    }
    else {
        pthread_mutex_unlock (&self->waiter_lock);
        return TR_REF_NONE;
    }
    tr__waiter_t *waiter = self->waiters[index];
    waiter->in_use = true;
    waiter->done = false;
    waiter->reply = NULL;
    pthread_mutex_unlock (&self->waiter_lock);
    return tr__ref_make (TR__HOST_THREAD, index, waiter->gen);
}

void
tr__waiter_deliver (tr_runtime_t *self, tr__sched_t *sched, tr__msg_t *msg)
{
    uint32_t index = tr__ref_index (msg->to);
    pthread_mutex_lock (&self->waiter_lock);
    tr__waiter_t *waiter = index < self->waiter_count ? self->waiters[index] : NULL;
    if (waiter && waiter->in_use && !waiter->done && waiter->gen == tr__ref_gen (msg->to)) {
        waiter->reply = msg;
        waiter->done = true;
        pthread_cond_signal (&waiter->cond);
        msg = NULL;
    }
    pthread_mutex_unlock (&self->waiter_lock);
    if (msg) {
        //  The caller gave up (timeout): a late reply, dropped and counted.
        atomic_fetch_add (&self->late_replies, 1);
        tr__msg_free (sched ? &sched->pool : NULL, msg);
    }
}

//  Wait for the waiter's reply; free the waiter. Returns 0 and *reply (NULL
//  when the runtime stopped), or TR_ETIMEDOUT.
static int
s_waiter_wait (tr_runtime_t *self, tr_ref_t ref, int timeout_ms, tr__msg_t **reply)
{
    uint32_t index = tr__ref_index (ref);
    if (self->testkit) {
        //  No threads in a test kit: run the scheduler here until answered.
        tr__sched_t *sched = self->scheds[0];
        while (!self->waiters[index]->done && tr__sched_run (sched, 1))
            ;
    }
    struct timespec deadline = s_deadline (CLOCK_MONOTONIC, timeout_ms >= 0 ? timeout_ms : 0);
    pthread_mutex_lock (&self->waiter_lock);
    tr__waiter_t *waiter = self->waiters[index];
    int rc = 0;
    while (!waiter->done && rc == 0 && !self->testkit) {
        if (timeout_ms < 0)
            pthread_cond_wait (&waiter->cond, &self->waiter_lock);
        else if (pthread_cond_timedwait (&waiter->cond, &self->waiter_lock, &deadline) == ETIMEDOUT)
            rc = waiter->done ? 0 : TR_ETIMEDOUT;
    }
    if (!waiter->done && rc == 0)
        rc = TR_ETIMEDOUT;
    *reply = waiter->reply;
    waiter->reply = NULL;
    waiter->in_use = false;
    waiter->done = false;
    waiter->gen = waiter->gen + 1 ? waiter->gen + 1 : 1;
    self->free_waiters[self->free_waiter_count++] = index;
    pthread_mutex_unlock (&self->waiter_lock);
    return rc;
}

//  Release every waiter with no reply (the runtime is stopping).
static void
s_waiters_wake_all (tr_runtime_t *self)
{
    pthread_mutex_lock (&self->waiter_lock);
    for (uint32_t i = 0; i < self->waiter_count; i++) {
        tr__waiter_t *waiter = self->waiters[i];
        if (waiter->in_use && !waiter->done) {
            waiter->done = true;
            pthread_cond_signal (&waiter->cond);
        }
    }
    pthread_mutex_unlock (&self->waiter_lock);
}

//  Result code of a reply message (0, or the code of an error reply).
static int
s_reply_code (const tr__msg_t *reply)
{
    if (!reply)
        return TR_ESTOPPED;
    if (!(reply->flags & TR_MSG_ERROR))
        return 0;
    int32_t code = TR_EFAILED;
    if (reply->size >= sizeof code)
        memcpy (&code, reply->data, sizeof code);
    return code;
}

//  Send msg from a new waiter and wait for the answer.
int
tr__host_request (tr_runtime_t *self, tr__msg_t *msg, int timeout_ms, tr__msg_t **reply)
{
    if ((!self->testkit && tr__sched_current ()) || self->bridge) {
        tr__warn ("runtime", "a blocking host call from inside a handler is refused "
                             "(use tr_request, tr_actor_spawn)");
        tr__msg_free (NULL, msg);
        return TR_EINVAL;
    }
    tr_ref_t waiter = s_waiter_new (self);
    if (!waiter) {
        tr__msg_free (NULL, msg);
        return TR_ETOOMANY;
    }
    msg->from = waiter;
    msg->corr = atomic_fetch_add (&self->next_corr, 1);
    tr__sched_t *sched = self->testkit ? self->scheds[0] : NULL;
    //  The call's deadline covers waiting for room in a full pipe too.
    tr__host_deadline (timeout_ms >= 0 ? tr__now_ns () + (uint64_t) timeout_ms * 1000000ULL : 0);
    int rc = tr__route (self, sched, msg, true);
    tr__host_deadline (0);
    tr__msg_t *answer = NULL;
    int wait_rc = s_waiter_wait (self, waiter, rc == 0 ? timeout_ms : 0, &answer);
    if (rc == 0)
        rc = wait_rc;
    if (rc != 0) {
        if (answer)
            tr__msg_free (NULL, answer);
        return rc;
    }
    *reply = answer;
    return s_reply_code (answer);
}

//  --------------------------------------------------------------------------
//  Host API

bool
tr__running (tr_runtime_t *self)
{
    return self && atomic_load (&self->state) == TR__RT_RUNNING;
}

bool
tr__ref_alive (tr_runtime_t *self, tr_ref_t ref)
{
    uint32_t thread = tr__ref_thread (ref);
    if (thread >= self->sched_count || tr__ref_index (ref) == 0)
        return false;
    tr_actor_t *actor = tr__sched_slot (self->scheds[thread], tr__ref_index (ref));
    return actor && atomic_load_explicit (&actor->gen, memory_order_acquire) == tr__ref_gen (ref);
}

//  Build a message from the host (or a scheduler when sched is set).
static tr__msg_t *
s_message (tr__sched_t *sched, tr_ref_t to, tr_type_t type, const void *data, size_t size)
{
    tr__msg_t *msg = tr__msg_new (sched ? &sched->pool : NULL, size);
    msg->to = to;
    msg->type = type;
    if (size)
        memcpy (msg->data, data, size);
    return msg;
}

//  Count an oversized send as a dead letter (header only) and refuse it.
TR__HIDDEN int tr__refuse_oversized (tr_runtime_t *self, tr__sched_t *sched, tr_ref_t from,
                                     tr_ref_t to, tr_type_t type, size_t size);

int
tr__refuse_oversized (tr_runtime_t *self, tr__sched_t *sched, tr_ref_t from, tr_ref_t to,
                      tr_type_t type, size_t size)
{
    tr__msg_t *msg = s_message (sched, to, type, NULL, 0);
    msg->from = from;
    tr__warn ("runtime", "refused a %zu-byte payload (maximum %zu)", size,
              self->options.max_payload);
    tr__dead_letter (self, sched, msg, TR_EMSGSIZE);
    return TR_EMSGSIZE;
}

//  Host senders wait while a TR_OVERFLOW_BLOCK mailbox is full, until
//  timeout_ms (-1: no limit). Returns 0, or TR_ETIMEDOUT.
static int
s_wait_for_space (tr_runtime_t *self, tr_ref_t to, int timeout_ms)
{
    uint32_t thread = tr__ref_thread (to);
    if (thread >= self->sched_count || !tr__ref_index (to))
        return 0;
    tr_actor_t *actor = tr__sched_slot (self->scheds[thread], tr__ref_index (to));
    if (!actor)
        return 0;
    uint64_t give_up = timeout_ms >= 0 ? tr__now_ns () + (uint64_t) timeout_ms * 1000000ULL : 0;
    int rc = 0;
    pthread_mutex_lock (&self->space_lock);
    while (tr__running (self)
           && atomic_load_explicit (&actor->full, memory_order_relaxed) == TR__FULL_BLOCK
           && atomic_load_explicit (&actor->gen, memory_order_relaxed) == tr__ref_gen (to)) {
        if (give_up && tr__now_ns () >= give_up) {
            rc = TR_ETIMEDOUT;
            break;
        }
        //  Bounded naps: a wake-up can race with the check above.
        struct timespec deadline = s_deadline (CLOCK_MONOTONIC, 10);
        pthread_cond_timedwait (&self->space_cond, &self->space_lock, &deadline);
    }
    pthread_mutex_unlock (&self->space_lock);
    return rc;
}

void
tr__space_available (tr_runtime_t *self)
{
    pthread_mutex_lock (&self->space_lock);
    pthread_cond_broadcast (&self->space_cond);
    pthread_mutex_unlock (&self->space_lock);
}

//  The checks every host send makes: 0, or the error to return.
static int
s_check_send (tr_runtime_t *self, tr_ref_t to, tr_type_t type, const void *data, size_t size)
{
    if (!tr__running (self))
        return TR_ESTOPPED;
    if (type == TR_TYPE_NONE || (size && !data))
        return TR_EINVAL;
    if (size > self->options.max_payload)
        return tr__refuse_oversized (self, NULL, TR_REF_NONE, to, type, size);
    return 0;
}

int
tr_runtime_send (tr_runtime_t *self, tr_ref_t to, tr_type_t type, const void *data, size_t size)
{
    int rc = s_check_send (self, to, type, data, size);
    if (rc)
        return rc;
    s_wait_for_space (self, to, -1);
    tr__sched_t *sched = self->testkit ? self->scheds[0] : NULL;
    return tr__route (self, sched, s_message (sched, to, type, data, size), true);
}

int
tr_call (tr_runtime_t *self, tr_ref_t to, tr_type_t type, const void *data, size_t size,
         int timeout_ms, void **reply, size_t *reply_size)
{
    if (reply)
        *reply = NULL;
    if (reply_size)
        *reply_size = 0;
    int rc = s_check_send (self, to, type, data, size);
    if (rc)
        return rc;
    tr__msg_t *msg = s_message (NULL, to, type, data, size);
    msg->flags |= TR_MSG_REQUEST;
    return tr__call_msg (self, msg, timeout_ms, reply, reply_size);
}

int
tr__call_msg (tr_runtime_t *self, tr__msg_t *msg, int timeout_ms, void **reply, size_t *reply_size)
{
    if (reply)
        *reply = NULL;
    if (reply_size)
        *reply_size = 0;
    //  The call's timeout covers waiting for room in a blocking mailbox too.
    if (s_wait_for_space (self, msg->to, timeout_ms) != 0) {
        tr__msg_free (NULL, msg);
        return TR_ETIMEDOUT;
    }
    tr__msg_t *answer = NULL;
    int rc = tr__host_request (self, msg, timeout_ms, &answer);
    if (rc == 0 && answer && answer->size && reply) {
        *reply = tr__alloc (answer->size);
        memcpy (*reply, answer->data, answer->size);
        if (reply_size)
            *reply_size = answer->size;
    }
    if (answer)
        tr__msg_free (NULL, answer);
    return rc;
}

int
tr_runtime_kill (tr_runtime_t *self, tr_ref_t ref, int reason)
{
    if (!tr__running (self))
        return TR_ESTOPPED;
    tr__sched_t *sched = self->testkit ? self->scheds[0] : NULL;
    tr__msg_t *msg = s_message (sched, ref, 0, NULL, 0);
    msg->flags |= TR__MSG_SYSTEM;
    msg->sys = TR__SYS_KILL;
    msg->corr = (uint64_t) (int64_t) reason;
    int rc = tr__route (self, sched, msg, false);
    return rc == TR_EDEAD ? 0 : rc;
}

//  --------------------------------------------------------------------------
//  Metrics

int
tr_actor_stats (tr_runtime_t *self, tr_ref_t ref, tr_actor_stats_t *stats)
{
    if (!stats)
        return TR_EINVAL;
    memset (stats, 0, sizeof *stats);
    if (!tr__running (self))
        return TR_ESTOPPED;
    tr__msg_t *msg = s_message (NULL, ref, 0, NULL, 0);
    msg->flags |= TR__MSG_SYSTEM;
    msg->sys = TR__SYS_STATS;
    tr__msg_t *answer = NULL;
    int rc = tr__host_request (self, msg, 1000, &answer);
    if (rc == 0 && answer->size == sizeof *stats)
        memcpy (stats, answer->data, sizeof *stats);
    if (answer)
        tr__msg_free (NULL, answer);
    return rc;
}

int
tr_runtime_stats (tr_runtime_t *self, tr_runtime_stats_t *stats)
{
    if (!stats)
        return TR_EINVAL;
    memset (stats, 0, sizeof *stats);
    if (!tr__running (self))
        return TR_ESTOPPED;
    stats->threads = (int) self->threads;
    tr__hist_t *merged = tr__calloc (sizeof *merged);
    int rc = 0;
    for (uint32_t i = 0; i < self->sched_count && rc == 0; i++) {
        //  A dedicated thread never handed out has not started: nothing to ask.
        pthread_mutex_lock (&self->dedicated_lock);
        bool started = self->scheds[i]->thread_started;
        pthread_mutex_unlock (&self->dedicated_lock);
        if (!started)
            continue;
        tr__msg_t *msg = s_message (NULL, tr__ref_make (i, 0, 1), 0, NULL, 0);
        msg->flags |= TR__MSG_SYSTEM;
        msg->sys = TR__SYS_NODE_STATS;
        tr__msg_t *answer = NULL;
        rc = tr__host_request (self, msg, 1000, &answer);
        if (rc == 0 && answer->size == 4 * sizeof (uint64_t) + sizeof (tr__hist_t)) {
            const uint64_t *counters = (const uint64_t *) answer->data;
            stats->messages_handled += counters[0];
            stats->messages_failed += counters[1];
            stats->actors_live += counters[3];
            tr__hist_t part;
            memcpy (&part, counters + 4, sizeof part);
            tr__hist_merge (merged, &part);
        }
        if (answer)
            tr__msg_free (NULL, answer);
    }
    double ns = tr__ns_per_tick ();
    stats->latency_p50_ns = (uint64_t) (tr__hist_quantile (merged, 0.50) * ns);
    stats->latency_p95_ns = (uint64_t) (tr__hist_quantile (merged, 0.95) * ns);
    stats->latency_p99_ns = (uint64_t) (tr__hist_quantile (merged, 0.99) * ns);
    stats->latency_max_ns = (uint64_t) ((double) merged->max * ns);
    tr__free (merged);
    stats->actors_spawned = atomic_load (&self->actors_spawned);
    stats->dead_letters = tr_dead_letter_count (self, 0);
    stats->late_replies = atomic_load (&self->late_replies);
    tr_mem_stats_t mem;
    if (tr_mem_stats (&mem) == 0) {
        stats->mem_allocated = mem.allocated;
        stats->mem_active = mem.active;
        stats->mem_resident = mem.resident;
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Stopping

void
tr__runtime_exit (tr_runtime_t *self, int status)
{
    pthread_mutex_lock (&self->exit_lock);
    if (self->exit_status < 0) {
        self->exit_status = status;
        tr__error ("runtime", "%s: root supervisor gave up; node exit status %d", self->name,
                   status);
    }
    pthread_cond_broadcast (&self->exit_cond);
    pthread_mutex_unlock (&self->exit_lock);
}

int
tr_runtime_wait (tr_runtime_t *self, int timeout_ms)
{
    if (!self)
        return TR_EINVAL;
    struct timespec deadline = s_deadline (CLOCK_MONOTONIC, timeout_ms >= 0 ? timeout_ms : 0);
    pthread_mutex_lock (&self->exit_lock);
    int rc = 0;
    while (self->exit_status < 0 && rc == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait (&self->exit_cond, &self->exit_lock);
        else
            rc = pthread_cond_timedwait (&self->exit_cond, &self->exit_lock, &deadline);
    }
    int status = self->exit_status >= 0 ? self->exit_status : TR_ETIMEDOUT;
    pthread_mutex_unlock (&self->exit_lock);
    return status;
}

void
tr_runtime_destroy (tr_runtime_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr_runtime_t *self = *self_p;
    *self_p = NULL;
    int was = atomic_exchange (&self->state, TR__RT_STOPPING);
    if (self->testkit) {
        tr__sched_stop_actors (self->scheds[0]);
        s_runtime_free (self);
        return;
    }
    bool abandoned = false, manager_abandoned = false;
    if (was == TR__RT_RUNNING) {
        //  Each scheduler stops its actors (newest first) when it sees its
        //  flag; the message only wakes it (a full pipe means it is awake).
        for (uint32_t i = 0; i < self->sched_count; i++) {
            atomic_store (&self->scheds[i]->stop_requested, true);
            tr__msg_t *msg = s_message (NULL, tr__ref_make (i, 0, 1), 0, NULL, 0);
            msg->flags |= TR__MSG_SYSTEM;
            msg->sys = TR__SYS_STOP_THREAD;
            tr__route (self, NULL, msg, false);
        }
        s_waiters_wake_all (self);
        //  pthread_timedjoin_np measures against the realtime clock.
        struct timespec deadline = s_deadline (CLOCK_REALTIME, self->options.stop_timeout_ms);
        for (uint32_t i = 0; i < self->sched_count; i++) {
            tr__sched_t *sched = self->scheds[i];
            //  A dedicated thread may have been started by any thread; the
            //  lock orders that start before this read (see loop.c).
            pthread_mutex_lock (&self->dedicated_lock);
            bool started = sched->thread_started;
            pthread_mutex_unlock (&self->dedicated_lock);
            if (!started)
                continue;
            if (pthread_timedjoin_np (sched->thread, NULL, &deadline) != 0) {
                tr__error ("runtime",
                           "%s: thread %u did not stop within %d ms (a handler never "
                           "returned); abandoning it",
                           self->name, i, self->options.stop_timeout_ms);
                pthread_detach (sched->thread);
                abandoned = true;
                if (sched->role == TR__SCHED_PROCS)
                    manager_abandoned = true;
            }
        }
    }
    if (abandoned) {
        //  A thread still runs on this memory: leave it be. But when the
        //  process manager did stop, its children need not outlive us: stop
        //  the zygote (it kills them) and remove the run directory.
        if (!manager_abandoned)
            tr__procs_destroy (&self->procs);
        return;
    }
    for (uint32_t i = 0; i < self->sched_count; i++)
        tr__sched_drain_shutdown (self->scheds[i]);
    s_runtime_free (self);
}
