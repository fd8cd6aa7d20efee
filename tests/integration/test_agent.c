//  test_agent - the inference agent: top-k through the actor API equals the
//  kernels' on the same corpus (thread and process modes, generated and file
//  corpora), score and status, bad input, kill -9 of a replica mid-query,
//  and the corpus segment reclaimed when the service ends
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "troupe_agent.h"
#include <troupe_kernels.h>

#define S_ROWS    50000
#define S_DIM     64
#define S_SEED    42
#define S_QUERIES 8
#define S_K_MAX   100
#define S_BLAST   200  //  requests in flight when a replica is killed

static float *s_corpus;                    //  the reference corpus, normalised
static float s_queries[S_QUERIES][S_DIM];  //  raw queries (not normalised)

//  --------------------------------------------------------------------------
//  Helpers

//  An agent.infer payload for query q and k.
static size_t
s_infer_payload (unsigned char *into, const float *query, uint32_t k)
{
    tr_agent_infer_t header = {.k = k, .dim = S_DIM};
    memcpy (into, &header, sizeof header);
    memcpy (into + sizeof header, query, S_DIM * sizeof (float));
    return sizeof header + S_DIM * sizeof (float);
}

//  The kernels' answer: normalise a copy of the query, top-k.
static size_t
s_reference (const float *query, uint32_t k, trk_hit_t *hits)
{
    float normalised[S_DIM];
    memcpy (normalised, query, sizeof normalised);
    TR_CHECK (trk_normalize_f32 (normalised, S_DIM));
    size_t count = 0;
    TR_CHECK (trk_topk_f32 (normalised, s_corpus, S_ROWS, S_DIM, k, hits, &count));
    return count;
}

//  agent.infer through the service; returns the error code, or 0 with the
//  hits in hits[0..*count).
static int
s_infer (tr_runtime_t *rt, tr_ref_t agent, const float *query, uint32_t k, trk_hit_t *hits,
         size_t *count)
{
    unsigned char payload[sizeof (tr_agent_infer_t) + S_DIM * sizeof (float)];
    size_t size = s_infer_payload (payload, query, k);
    void *reply = NULL;
    size_t reply_size = 0;
    int rc =
        tr_call (rt, agent, tr_type (TR_AGENT_INFER), payload, size, 30000, &reply, &reply_size);
    if (rc == 0) {
        TR_ASSERT (reply_size % sizeof (trk_hit_t) == 0);
        *count = reply_size / sizeof (trk_hit_t);
        TR_ASSERT (*count <= k);
        memcpy (hits, reply, reply_size);
    }
    tr_free (reply);
    return rc;
}

//  Every query, k 1, 10 and 100: the same rows and bit-identical scores.
static void
s_check_against_kernels (tr_runtime_t *rt, tr_ref_t agent)
{
    static const uint32_t ks[] = {1, 10, S_K_MAX};
    for (int q = 0; q < S_QUERIES; q++)
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            trk_hit_t got[S_K_MAX], want[S_K_MAX];
            size_t got_count = 0;
            TR_CHECK (s_infer (rt, agent, s_queries[q], ks[i], got, &got_count));
            size_t want_count = s_reference (s_queries[q], ks[i], want);
            TR_ASSERT_EQ_INT (got_count, want_count);
            TR_ASSERT_EQ_INT (got_count, ks[i]);
            TR_ASSERT (memcmp (got, want, got_count * sizeof got[0]) == 0);
            for (size_t h = 1; h < got_count; h++)
                TR_ASSERT (got[h - 1].score >= got[h].score);
        }
}

static tr_agent_status_t
s_status (tr_runtime_t *rt, tr_ref_t agent)
{
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, agent, tr_type (TR_AGENT_STATUS), NULL, 0, 5000, &reply, &size));
    tr_agent_status_t status;
    TR_ASSERT_EQ_INT (size, sizeof status);
    memcpy (&status, reply, sizeof status);
    tr_free (reply);
    return status;
}

//  The memfd segments open in this process.
static int
s_memfds (void)
{
    int count = 0;
    DIR *dir = opendir ("/proc/self/fd");
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        char path[300], target[256];
        snprintf (path, sizeof path, "/proc/self/fd/%s", entry->d_name);
        ssize_t length = readlink (path, target, sizeof target - 1);
        if (length > 0) {
            target[length] = '\0';
            if (strstr (target, "memfd:troupe-shm"))
                count++;
        }
    }
    if (dir)
        closedir (dir);
    return count;
}

//  The pids of the agent's process replicas (children of our zygote named
//  "tr:agent"), up to max.
static int
s_replicas (int *pids, int max)
{
    int zygote = tr_test_child_named ("troupe-zygote");
    return zygote ? tr_test_children_named (zygote, "tr:agent", pids, max) : 0;
}

static bool
s_alive (int pid)
{
    return pid > 0 && kill (pid, 0) == 0;
}

//  Wait until the replicas of the services stopped before are gone (a kill
//  is asynchronous), so that the next test sees only its own.
static void
s_wait_no_replicas (void)
{
    int pids[8];
    for (int i = 0; i < 2000 && s_replicas (pids, 8) > 0; i++)
        s_sleep_ms (5);
    TR_ASSERT_EQ_INT (s_replicas (pids, 8), 0);
}

//  --------------------------------------------------------------------------
//  A requester actor: fires S_BLAST infer requests at once, checks each
//  answer against the expected hits, answers "t.wait" with the tallies.

typedef struct {
    tr_ref_t agent;
    const trk_hit_t *expected;  //  S_QUERIES x 10, read-only while it runs
} s_blaster_args_t;

typedef struct {
    s_blaster_args_t args;
    int32_t done, good, wrong, errors, first_error;
    tr_msg_t waiter;
    bool waiting;
} s_blaster_t;

static void
s_blaster_check (tr_actor_t *self, s_blaster_t *blaster)
{
    if (blaster->waiting && blaster->done == S_BLAST) {
        blaster->waiting = false;
        int32_t result[4] = {blaster->good, blaster->wrong, blaster->errors, blaster->first_error};
        tr_reply (self, &blaster->waiter, result, sizeof result);
    }
}

static int
s_blaster_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    s_blaster_t *blaster = state;
    if (arg_size != sizeof blaster->args)
        return -1;
    memcpy (&blaster->args, arg, sizeof blaster->args);
    return 0;
}

static void
s_blaster_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    s_blaster_t *blaster = state;
    int q = (int) (intptr_t) arg;
    blaster->done++;
    if (rc != 0) {
        if (blaster->errors++ == 0)
            blaster->first_error = rc;
    }
    else if (reply->size == 10 * sizeof (trk_hit_t)
             && memcmp (reply->data, blaster->args.expected + q * 10, reply->size) == 0)
        blaster->good++;
    else
        blaster->wrong++;
    s_blaster_check (self, blaster);
}

static int
s_blaster_go (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_blaster_t *blaster = state;
    unsigned char payload[sizeof (tr_agent_infer_t) + S_DIM * sizeof (float)];
    for (int i = 0; i < S_BLAST; i++) {
        int q = i % S_QUERIES;
        size_t size = s_infer_payload (payload, s_queries[q], 10);
        int rc = tr_request (self, blaster->args.agent, tr_type (TR_AGENT_INFER), payload, size,
                             120000, s_blaster_reply, (void *) (intptr_t) q);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
s_blaster_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_blaster_t *blaster = state;
    blaster->waiter = *msg;
    blaster->waiting = true;
    s_blaster_check (self, blaster);
    return 0;
}

static const tr_handler_t s_blaster_handlers[] = {
    {"t.go", s_blaster_go}, {"t.wait", s_blaster_wait}, {NULL, NULL}};
static const tr_behaviour_t s_blaster = {"t.blaster", sizeof (s_blaster_t), s_blaster_init,
                                         NULL,        s_blaster_handlers,   NULL};

//  --------------------------------------------------------------------------
//  Tests

static tr_ref_t
s_start (tr_runtime_t *rt, const char *mode, const char *name)
{
    tr_agent_options_t options = {.name = name,
                                  .rows = S_ROWS,
                                  .dim = S_DIM,
                                  .seed = S_SEED,
                                  .infer_mode = mode,
                                  .infer_replicas = 2,
                                  .k_max = S_K_MAX};
    tr_ref_t agent;
    TR_CHECK (tr_agent_start (rt, &options, &agent));
    return agent;
}

//  Top-k in every mode equals the kernels' (same rows, bit-identical
//  scores); status says what the agent holds.
static void
test_infer_modes (tr_runtime_t *rt)
{
    const char *modes[] = {"thread", "thread:dedicated", "process"};
    for (int m = 0; m < 3; m++) {
        tr_ref_t agent = s_start (rt, modes[m], "xiaoai");
        TR_ASSERT (tr_whereis (rt, "xiaoai") == agent);
        s_check_against_kernels (rt, agent);
        tr_route_stats_t stats;
        TR_CHECK (tr_service_route_stats (rt, agent, TR_AGENT_INFER, &stats));
        TR_ASSERT_EQ_INT (stats.mode, tr_mode_parse (modes[m]));
        TR_ASSERT_EQ_INT (stats.replies, S_QUERIES * 3);
        TR_ASSERT_EQ_INT (stats.errors, 0);
        tr_agent_status_t status = s_status (rt, agent);
        TR_ASSERT_EQ_INT (status.rows, S_ROWS);
        TR_ASSERT_EQ_INT (status.dim, S_DIM);
        TR_ASSERT_EQ_INT (status.k_max, S_K_MAX);
        TR_ASSERT_EQ_INT (status.infer_mode, tr_mode_parse (modes[m]));
        TR_ASSERT_EQ_INT (status.infer_replicas, 2);
        TR_ASSERT_EQ_INT (status.thread_replicas, 1);
        TR_ASSERT_EQ_INT (status.pid, getpid ());  //  status runs on a thread
        TR_ASSERT (strcmp (status.isa, trk_isa ()) == 0);
        if (m == 2) {
            int pids[8];
            TR_ASSERT (s_replicas (pids, 8) >= 2);  //  2 replicas (+ a spare)
        }
        TR_CHECK (tr_runtime_kill (rt, agent, 0));
        for (int i = 0; i < 5000 && tr_whereis (rt, "xiaoai") != TR_REF_NONE; i++)
            s_sleep_ms (2);
        TR_ASSERT (tr_whereis (rt, "xiaoai") == TR_REF_NONE);
    }
}

//  The same corpus from a file gives the same answers.
static void
test_corpus_file (tr_runtime_t *rt)
{
    char path[] = "/tmp/test_agent_XXXXXX";
    int fd = mkstemp (path);
    TR_ASSERT (fd >= 0);
    tr_agent_corpus_header_t header = {.version = TR_AGENT_CORPUS_VERSION,
                                       .dtype = TR_AGENT_DTYPE_F32,
                                       .rows = S_ROWS,
                                       .dim = S_DIM,
                                       .flags = TR_AGENT_CORPUS_NORMALIZED,
                                       .header_size = 64};
    memcpy (header.magic, TR_AGENT_CORPUS_MAGIC, 8);
    size_t bytes = (size_t) S_ROWS * S_DIM * sizeof (float);
    TR_ASSERT (write (fd, &header, sizeof header) == (ssize_t) sizeof header);
    TR_ASSERT (write (fd, s_corpus, bytes) == (ssize_t) bytes);
    close (fd);
    tr_agent_corpus_header_t read_back;
    TR_CHECK (tr_agent_corpus_check (path, &read_back, NULL, 0));
    TR_ASSERT_EQ_INT (read_back.rows, S_ROWS);
    tr_agent_options_t options = {.corpus_path = path, .infer_mode = "thread", .k_max = S_K_MAX};
    tr_ref_t agent;
    TR_CHECK (tr_agent_start (rt, &options, &agent));
    s_check_against_kernels (rt, agent);
    TR_CHECK (tr_runtime_kill (rt, agent, 0));

    //  A NaN in the rows (flagged normalised or not): refused, nothing starts.
    float nan = NAN;
    fd = open (path, O_WRONLY);
    TR_ASSERT (fd >= 0 && pwrite (fd, &nan, sizeof nan, 64 + 7 * sizeof (float)) == sizeof nan);
    close (fd);
    TR_ASSERT_EQ_INT (tr_agent_start (rt, &options, &agent), TR_EINVAL);

    //  A file cut short, and one with a bad magic: refused.
    TR_ASSERT (truncate (path, 64 + 100) == 0);
    char why[128] = "";
    TR_ASSERT_EQ_INT (tr_agent_corpus_check (path, &read_back, why, sizeof why), TR_EINVAL);
    TR_ASSERT (strstr (why, "size"));
    TR_ASSERT_EQ_INT (tr_agent_start (rt, &options, &agent), TR_EINVAL);
    fd = open (path, O_WRONLY);
    TR_ASSERT (fd >= 0 && write (fd, "NOTCORPS", 8) == 8);
    close (fd);
    TR_ASSERT_EQ_INT (tr_agent_corpus_check (path, &read_back, why, sizeof why), TR_EINVAL);
    TR_ASSERT (strstr (why, "magic"));
    unlink (path);
    options.corpus_path = "/nonexistent/corpus";
    TR_ASSERT_EQ_INT (tr_agent_start (rt, &options, &agent), TR_EINVAL);
}

//  agent.score: weight * similarity per candidate and their weighted average.
static void
test_score (tr_runtime_t *rt, tr_ref_t agent)
{
    const tr_agent_candidate_t candidates[] = {{0, 1.0f}, {5, 0.5f}, {S_ROWS - 1, 2.0f}, {77, -1}};
    const size_t count = sizeof candidates / sizeof candidates[0];
    unsigned char payload[sizeof (tr_agent_score_t) + S_DIM * sizeof (float) + sizeof candidates];
    tr_agent_score_t header = {.count = (uint32_t) count, .dim = S_DIM};
    memcpy (payload, &header, sizeof header);
    memcpy (payload + sizeof header, s_queries[3], S_DIM * sizeof (float));
    memcpy (payload + sizeof header + S_DIM * sizeof (float), candidates, sizeof candidates);
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, agent, tr_type (TR_AGENT_SCORE), payload, sizeof payload, 5000, &reply,
                       &size));
    TR_ASSERT_EQ_INT (size, sizeof (tr_agent_score_reply_t) + count * sizeof (float));
    tr_agent_score_reply_t summary;
    memcpy (&summary, reply, sizeof summary);
    float scores[4];
    memcpy (scores, (unsigned char *) reply + sizeof summary, sizeof scores);
    tr_free (reply);
    //  The reference, with the kernels.
    float query[S_DIM], similarity[4], weights[4], average;
    memcpy (query, s_queries[3], sizeof query);
    TR_CHECK (trk_normalize_f32 (query, S_DIM));
    for (size_t i = 0; i < count; i++) {
        TR_CHECK (trk_dot_f32 (query, s_corpus + (size_t) candidates[i].row * S_DIM, S_DIM,
                               &similarity[i]));
        weights[i] = candidates[i].weight;
        TR_ASSERT (scores[i] == weights[i] * similarity[i]);
    }
    TR_CHECK (trk_weighted_avg_f32 (similarity, weights, count, &average));
    TR_ASSERT_EQ_INT (summary.count, count);
    TR_ASSERT (summary.weighted_avg == average);

    //  A NaN weight passes through (NaN scores), weights summing to 0 give
    //  a NaN average: answers, not errors.
    tr_agent_candidate_t odd[2] = {{1, NAN}, {2, 1.0f}};
    header.count = 2;
    memcpy (payload, &header, sizeof header);
    memcpy (payload + sizeof header + S_DIM * sizeof (float), odd, sizeof odd);
    size_t odd_size = sizeof header + S_DIM * sizeof (float) + sizeof odd;
    TR_CHECK (
        tr_call (rt, agent, tr_type (TR_AGENT_SCORE), payload, odd_size, 5000, &reply, &size));
    memcpy (scores, (unsigned char *) reply + sizeof summary, 2 * sizeof (float));
    tr_free (reply);
    TR_ASSERT (isnan (scores[0]) && !isnan (scores[1]));
    odd[0].weight = 1.0f;
    odd[1].weight = -1.0f;
    memcpy (payload + sizeof header + S_DIM * sizeof (float), odd, sizeof odd);
    TR_CHECK (
        tr_call (rt, agent, tr_type (TR_AGENT_SCORE), payload, odd_size, 5000, &reply, &size));
    memcpy (&summary, reply, sizeof summary);
    tr_free (reply);
    TR_ASSERT (isnan (summary.weighted_avg));
}

static int
s_call_rc (tr_runtime_t *rt, tr_ref_t agent, const char *type, const void *data, size_t size)
{
    void *reply = NULL;
    size_t reply_size = 0;
    int rc = tr_call (rt, agent, tr_type (type), data, size, 10000, &reply, &reply_size);
    tr_free (reply);
    return rc;
}

//  Bad input gets TR_EINVAL, and the replicas carry on.
static void
test_bad_input (tr_runtime_t *rt, tr_ref_t agent)
{
    unsigned char payload[sizeof (tr_agent_score_t) + S_DIM * sizeof (float)
                          + 2 * sizeof (tr_agent_candidate_t)];
    size_t size = s_infer_payload (payload, s_queries[0], 10);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_INFER, payload, 3), TR_EINVAL);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_INFER, payload, size - 4), TR_EINVAL);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_INFER, NULL, 0), TR_EINVAL);
    s_infer_payload (payload, s_queries[0], 0);  //  k 0
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_INFER, payload, size), TR_EINVAL);
    s_infer_payload (payload, s_queries[0], S_K_MAX + 1);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_INFER, payload, size), TR_EINVAL);
    tr_agent_infer_t wrong_dim = {.k = 5, .dim = S_DIM + 1};
    memcpy (payload, &wrong_dim, sizeof wrong_dim);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_INFER, payload, size), TR_EINVAL);
    float zero[S_DIM] = {0}, nan_query[S_DIM];
    for (int i = 0; i < S_DIM; i++)
        nan_query[i] = i == 7 ? NAN : 1.0f;
    s_infer_payload (payload, zero, 5);  //  no direction: cannot be normalised
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_INFER, payload, size), TR_EINVAL);
    s_infer_payload (payload, nan_query, 5);  //  a NaN norm: the same
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_INFER, payload, size), TR_EINVAL);

    //  score: a row out of range, no candidate, a size that does not add up
    tr_agent_score_t header = {.count = 2, .dim = S_DIM};
    tr_agent_candidate_t candidates[2] = {{1, 1.0f}, {S_ROWS, 1.0f}};
    memcpy (payload, &header, sizeof header);
    memcpy (payload + sizeof header, s_queries[0], S_DIM * sizeof (float));
    memcpy (payload + sizeof header + S_DIM * sizeof (float), candidates, sizeof candidates);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_SCORE, payload, sizeof payload), TR_EINVAL);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_SCORE, payload, sizeof payload - 1),
                      TR_EINVAL);
    header.count = 0;
    memcpy (payload, &header, sizeof header);
    TR_ASSERT_EQ_INT (
        s_call_rc (rt, agent, TR_AGENT_SCORE, payload, sizeof header + S_DIM * sizeof (float)),
        TR_EINVAL);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_SCORE, payload, 2), TR_EINVAL);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, TR_AGENT_STATUS, "x", 1), TR_EINVAL);
    TR_ASSERT_EQ_INT (s_call_rc (rt, agent, "agent.nope", NULL, 0), TR_EUNKNOWN_TYPE);
    //  One-way bad messages are ignored, not fatal.
    TR_CHECK (tr_runtime_send (rt, agent, tr_type (TR_AGENT_INFER), "x", 1));

    //  Still answering, nothing crashed, no process replica restarted.
    trk_hit_t hits[10], want[10];
    size_t count = 0;
    TR_CHECK (s_infer (rt, agent, s_queries[1], 10, hits, &count));
    TR_ASSERT_EQ_INT (count, s_reference (s_queries[1], 10, want));
    TR_ASSERT (memcmp (hits, want, sizeof hits) == 0);
    tr_route_stats_t stats;
    TR_CHECK (tr_service_route_stats (rt, agent, TR_AGENT_SCORE, &stats));
    TR_ASSERT_EQ_INT (stats.crashes, 0);

    //  Bad options.
    tr_agent_options_t options = {.rows = 0, .dim = 8};
    tr_ref_t other;
    TR_ASSERT_EQ_INT (tr_agent_start (rt, &options, &other), TR_EINVAL);
    options.rows = 10;
    options.infer_mode = "async";
    TR_ASSERT_EQ_INT (tr_agent_start (rt, &options, &other), TR_EINVAL);
    options.infer_mode = "nonsense";
    TR_ASSERT_EQ_INT (tr_agent_start (rt, &options, &other), TR_EINVAL);
    options.infer_mode = NULL;
    options.k_max = 5000;
    TR_ASSERT_EQ_INT (tr_agent_start (rt, &options, &other), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_agent_start (rt, NULL, &other), TR_EINVAL);
}

//  kill -9 of a replica process with S_BLAST queries in flight: the pool
//  restarts it (the new child maps the same segment) and every query is
//  answered once, correctly.
static void
test_kill_replica (tr_runtime_t *rt)
{
    static const tr_process_spec_t process = {.spares = TR_NO_SPARES,
                                              .heartbeat_timeout_ms = 10000};
    s_wait_no_replicas ();
    tr_agent_options_t options = {.rows = S_ROWS,
                                  .dim = S_DIM,
                                  .seed = S_SEED,
                                  .infer_replicas = 2,
                                  .k_max = S_K_MAX,
                                  .deadline_ms = 120000,
                                  .process = &process};
    tr_ref_t agent;
    TR_CHECK (tr_agent_start (rt, &options, &agent));
    static trk_hit_t expected[S_QUERIES * 10];
    for (int q = 0; q < S_QUERIES; q++)
        TR_ASSERT_EQ_INT (s_reference (s_queries[q], 10, expected + q * 10), 10);
    //  Start the process lane, and see its two children.
    trk_hit_t hits[10];
    size_t count = 0;
    TR_CHECK (s_infer (rt, agent, s_queries[0], 10, hits, &count));
    int before[4] = {0};
    int found = 0;
    for (int i = 0; i < 1000 && (found = s_replicas (before, 4)) < 2; i++)
        s_sleep_ms (5);
    TR_ASSERT_EQ_INT (found, 2);

    s_blaster_args_t args = {agent, expected};
    tr_ref_t blaster;
    TR_CHECK (tr_spawn (rt, "t.blaster", &args, sizeof args, NULL, &blaster));
    TR_CHECK (tr_runtime_send (rt, blaster, tr_type ("t.go"), NULL, 0));
    //  Kill one child once enough is in flight (most of the blast).
    tr_route_stats_t stats = {0};
    for (int i = 0; i < 5000 && stats.in_flight < S_BLAST / 2; i++) {
        TR_CHECK (tr_service_route_stats (rt, agent, TR_AGENT_INFER, &stats));
        if (stats.in_flight < S_BLAST / 2)
            usleep (1000);
    }
    uint64_t in_flight = stats.in_flight;
    TR_ASSERT (kill (before[0], SIGKILL) == 0);
    int32_t *result = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, blaster, tr_type ("t.wait"), NULL, 0, 300000, (void **) &result, &size));
    TR_ASSERT (result && size == 4 * sizeof (int32_t));
    printf ("kill -9 of a replica with %llu queries in flight: %d right, %d wrong, %d errors\n",
            (unsigned long long) in_flight, result[0], result[1], result[2]);
    TR_ASSERT (in_flight >= S_BLAST / 2);
    TR_ASSERT_EQ_INT (result[0], S_BLAST);
    TR_ASSERT_EQ_INT (result[1], 0);
    TR_ASSERT_EQ_INT (result[2], 0);
    tr_free (result);
    TR_ASSERT (!s_alive (before[0]) || waitpid (before[0], NULL, WNOHANG) >= 0);
    //  A new child took its place, and it answers.
    int after[4] = {0};
    found = 0;
    for (int i = 0; i < 1000; i++) {
        found = s_replicas (after, 4);
        bool replaced = found == 2 && after[0] != before[0] && after[1] != before[0];
        if (replaced)
            break;
        s_sleep_ms (5);
    }
    TR_ASSERT_EQ_INT (found, 2);
    TR_ASSERT (after[0] != before[0] && after[1] != before[0]);
    for (int q = 0; q < S_QUERIES; q++) {
        TR_CHECK (s_infer (rt, agent, s_queries[q], 10, hits, &count));
        TR_ASSERT (memcmp (hits, expected + q * 10, sizeof hits) == 0);
    }
    TR_CHECK (tr_runtime_kill (rt, blaster, 0));
    TR_CHECK (tr_runtime_kill (rt, agent, 0));
}

//  The segment lives as long as the service: after the service ends, no
//  memfd is left here and its children are gone.
static void
test_reclaimed (tr_runtime_t *rt)
{
    //  The services of the tests before are gone, their segments too.
    for (int i = 0; i < 2000 && s_memfds () > 0; i++)
        s_sleep_ms (5);
    TR_ASSERT_EQ_INT (s_memfds (), 0);
    s_wait_no_replicas ();
    int baseline = 0;
    tr_ref_t agent = s_start (rt, "process", NULL);
    trk_hit_t hits[10];
    size_t count = 0;
    TR_CHECK (s_infer (rt, agent, s_queries[0], 10, hits, &count));
    TR_ASSERT (s_memfds () >= baseline + 2);  //  the owner's and the thread instance's
    int pids[4];
    int children = s_replicas (pids, 4);
    TR_ASSERT (children >= 2);
    TR_CHECK (tr_runtime_kill (rt, agent, 0));
    int left = 0;
    for (int i = 0; i < 2000; i++) {
        left = s_memfds () - baseline;
        bool gone = true;
        for (int c = 0; c < children; c++)
            gone = gone && !s_alive (pids[c]);
        if (left == 0 && gone)
            break;
        s_sleep_ms (5);
    }
    TR_ASSERT_EQ_INT (left, 0);
    for (int c = 0; c < children; c++)
        TR_ASSERT (!s_alive (pids[c]));
}

int
main (void)
{
    //  Before the runtime: process replicas are copies of the program then.
    TR_CHECK (tr_agent_register ());
    TR_CHECK (tr_behaviour_register (&s_blaster));
    s_corpus = aligned_alloc (64, (size_t) S_ROWS * S_DIM * sizeof (float));
    TR_ASSERT (s_corpus);
    TR_CHECK (tr_agent_corpus_fill (s_corpus, S_ROWS, S_DIM, S_SEED));
    //  Queries: unnormalised, from another seed.
    TR_CHECK (tr_agent_corpus_fill (&s_queries[0][0], S_QUERIES, S_DIM, 7));
    for (int q = 0; q < S_QUERIES; q++)
        for (int i = 0; i < S_DIM; i++)
            s_queries[q][i] *= (float) (q + 1);

    tr_runtime_t *rt = tr_test_runtime (2);
    test_infer_modes (rt);
    test_corpus_file (rt);
    tr_ref_t agent = s_start (rt, "process", "soer");
    test_score (rt, agent);
    test_bad_input (rt, agent);
    TR_CHECK (tr_runtime_kill (rt, agent, 0));
    test_kill_replica (rt);
    test_reclaimed (rt);
    tr_runtime_destroy (&rt);
    //  Nothing left at all: no memfd, no child (zygote and replicas reaped).
    TR_ASSERT_EQ_INT (s_memfds (), 0);
    TR_ASSERT (waitpid (-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    free (s_corpus);
    TR_PASS ();
    return 0;
}
