//  agent - the inference agent: a service whose replicas (threads and process
//  children) answer top-k and scoring queries over one shared corpus segment
//
//  How a replica finds the corpus. The starter builds the corpus once, in a
//  segment from tr_shm_new, takes its handle (tr_shm_handle: the holder's
//  pid and fd, valid while the holder keeps a reference) and hands the
//  segment to an owner actor ("agent.corpus") that keeps it for as long as
//  the service lives. The handle is in the service's init argument; each
//  replica maps the segment with tr_shm_open_handle, read-only, then
//  pre-faults its mapping (MADV_POPULATE_READ). A restarted
//  replica (a new process after a kill -9) does the same from the same
//  argument. The owner monitors the router and drops the segment when the
//  router ends; the memory goes once the last replica has unmapped it.
#define _GNU_SOURCE
#include "troupe_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <troupe_kernels.h>

#define S_ARG_MAGIC      0x41474e54u  //  "AGNT"
#define S_HANDLE_MAX     64           //  bytes of a shm handle we carry
#define S_K_MAX_DEFAULT  100
#define S_K_MAX_LIMIT    4096
#define S_DIM_LIMIT      65536
#define S_ROWS_LIMIT     0xffffffffull  //  rows are uint32 in hits
#define S_SEGMENT_HEADER 64             //  rows start here in the segment

_Static_assert(sizeof (tr_agent_corpus_header_t) == 64, "corpus header is 64 bytes");
_Static_assert(sizeof (tr_agent_hit_t) == sizeof (trk_hit_t), "hits match the kernels'");
_Static_assert(sizeof (tr_agent_status_t) == 64, "status is 64 bytes");

//  The init argument of every replica (copied by the router, and into each
//  process child).
typedef struct {
    uint32_t magic;
    uint32_t dim;
    uint64_t rows;
    uint32_t k_max;
    int32_t infer_mode;
    int32_t infer_replicas;
    int32_t thread_replicas;
    uint32_t handle_size;
    unsigned char handle[S_HANDLE_MAX];  //  the segment's handle, opaque
} s_arg_t;

//  One replica's state.
typedef struct {
    s_arg_t arg;
    tr_shm_t *shm;      //  our read-only mapping of the corpus
    const float *rows;  //  rows x dim, 64-byte aligned
    float *query;       //  dim floats, normalised copy of the request's
    trk_hit_t *hits;    //  k_max
} s_agent_t;

//  --------------------------------------------------------------------------
//  The replica

static int
s_agent_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    s_agent_t *agent = state;
    if (arg_size != sizeof (s_arg_t))
        return TR_EINVAL;
    memcpy (&agent->arg, arg, sizeof agent->arg);
    if (agent->arg.magic != S_ARG_MAGIC || agent->arg.handle_size > S_HANDLE_MAX
        || agent->arg.dim == 0 || agent->arg.rows == 0 || agent->arg.k_max == 0)
        return TR_EINVAL;
    agent->shm = tr_shm_open_handle (agent->arg.handle, agent->arg.handle_size);
    if (!agent->shm) {
        fprintf (stderr, "agent: cannot map the corpus segment (its holder is gone?)\n");
        return TR_EINVAL;
    }
    size_t bytes = (size_t) agent->arg.rows * agent->arg.dim * sizeof (float);
    const unsigned char *base = tr_shm_data (agent->shm);
    tr_agent_corpus_header_t header;
    if (tr_shm_size (agent->shm) >= sizeof header)
        memcpy (&header, base, sizeof header);
    else
        memset (&header, 0, sizeof header);
    if (tr_shm_size (agent->shm) < S_SEGMENT_HEADER + bytes
        || memcmp (header.magic, TR_AGENT_CORPUS_MAGIC, 8) != 0 || header.rows != agent->arg.rows
        || header.dim != agent->arg.dim) {
        fprintf (stderr, "agent: the corpus segment does not match the service's\n");
        tr_shm_release (&agent->shm);
        return TR_EINVAL;
    }
    //  Map every page now: a query must not pay ~10 us per 4 KiB first
    //  touch. The pages exist already (the starter wrote them), so this only
    //  fills our page tables. Kernels before 5.14 lack the advice: touch.
    if (madvise ((void *) base, tr_shm_size (agent->shm), MADV_POPULATE_READ) != 0) {
        volatile unsigned char sink = 0;
        for (size_t at = 0; at < tr_shm_size (agent->shm); at += 4096)
            sink += base[at];
        (void) sink;
    }
    agent->rows = (const float *) (base + S_SEGMENT_HEADER);
    size_t query_bytes = ((size_t) agent->arg.dim * sizeof (float) + 63) & ~(size_t) 63;
    agent->query = aligned_alloc (64, query_bytes);
    agent->hits = malloc (agent->arg.k_max * sizeof (trk_hit_t));
    if (!agent->query || !agent->hits) {
        fprintf (stderr, "agent: out of memory\n");
        abort ();
    }
    return 0;
}

static void
s_agent_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    (void) reason;
    s_agent_t *agent = state;
    tr_shm_release (&agent->shm);
    free (agent->query);
    free (agent->hits);
    agent->query = NULL;
    agent->hits = NULL;
}

//  Copy the request's query (unaligned bytes) into agent->query and
//  normalise it. 0 or TR_EINVAL (a zero query cannot be normalised).
static int
s_load_query (s_agent_t *agent, const unsigned char *bytes)
{
    memcpy (agent->query, bytes, (size_t) agent->arg.dim * sizeof (float));
    return trk_normalize_f32 (agent->query, agent->arg.dim) == 0 ? 0 : TR_EINVAL;
}

static int
s_agent_infer (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_agent_t *agent = state;
    if (!(msg->flags & TR_MSG_REQUEST))
        return 0;  //  nobody to answer: ignore
    tr_agent_infer_t header;
    if (msg->size < sizeof header)
        return tr_reply_error (self, msg, TR_EINVAL);
    memcpy (&header, msg->data, sizeof header);
    size_t query_bytes = (size_t) agent->arg.dim * sizeof (float);
    if (header.dim != agent->arg.dim || msg->size != sizeof header + query_bytes || header.k == 0
        || header.k > agent->arg.k_max)
        return tr_reply_error (self, msg, TR_EINVAL);
    if (s_load_query (agent, (const unsigned char *) msg->data + sizeof header) != 0)
        return tr_reply_error (self, msg, TR_EINVAL);
    size_t count = 0;
    if (trk_topk_f32 (agent->query, agent->rows, agent->arg.rows, agent->arg.dim, header.k,
                      agent->hits, &count)
        != 0)
        return tr_reply_error (self, msg, TR_EINVAL);
    return tr_reply (self, msg, agent->hits, count * sizeof (trk_hit_t));
}

static int
s_agent_score (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_agent_t *agent = state;
    if (!(msg->flags & TR_MSG_REQUEST))
        return 0;
    tr_agent_score_t header;
    if (msg->size < sizeof header)
        return tr_reply_error (self, msg, TR_EINVAL);
    memcpy (&header, msg->data, sizeof header);
    size_t query_bytes = (size_t) agent->arg.dim * sizeof (float);
    if (header.dim != agent->arg.dim || header.count == 0 || header.count > TR_AGENT_SCORE_MAX
        || msg->size != sizeof header + query_bytes + header.count * sizeof (tr_agent_candidate_t))
        return tr_reply_error (self, msg, TR_EINVAL);
    const unsigned char *bytes = (const unsigned char *) msg->data + sizeof header;
    const unsigned char *candidates = bytes + query_bytes;
    for (uint32_t i = 0; i < header.count; i++) {
        tr_agent_candidate_t candidate;
        memcpy (&candidate, candidates + i * sizeof candidate, sizeof candidate);
        if (candidate.row >= agent->arg.rows)
            return tr_reply_error (self, msg, TR_EINVAL);
    }
    if (s_load_query (agent, bytes) != 0)
        return tr_reply_error (self, msg, TR_EINVAL);
    //  One buffer: the reply header, the weighted scores, then the raw
    //  similarities and the weights for the weighted average.
    size_t count = header.count;
    size_t reply_size = sizeof (tr_agent_score_reply_t) + count * sizeof (float);
    unsigned char *reply = malloc (reply_size + 2 * count * sizeof (float));
    if (!reply)
        abort ();
    float *weighted = (float *) (reply + sizeof (tr_agent_score_reply_t));
    float *similarity = weighted + count;
    float *weights = similarity + count;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        tr_agent_candidate_t candidate;
        memcpy (&candidate, candidates + i * sizeof candidate, sizeof candidate);
        const float *row = agent->rows + (size_t) candidate.row * agent->arg.dim;
        rc = trk_dot_f32 (agent->query, row, agent->arg.dim, &similarity[i]);
        weights[i] = candidate.weight;
        weighted[i] = candidate.weight * similarity[i];
    }
    tr_agent_score_reply_t summary = {.weighted_avg = NAN, .count = header.count};
    if (rc == 0 && trk_weighted_avg_f32 (similarity, weights, count, &summary.weighted_avg) != 0)
        summary.weighted_avg = NAN;  //  the weights sum to 0
    memcpy (reply, &summary, sizeof summary);
    rc = rc == 0 ? tr_reply (self, msg, reply, reply_size) : tr_reply_error (self, msg, TR_EINVAL);
    free (reply);
    return rc;
}

static int
s_agent_status (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_agent_t *agent = state;
    if (!(msg->flags & TR_MSG_REQUEST))
        return 0;
    if (msg->size != 0)
        return tr_reply_error (self, msg, TR_EINVAL);
    tr_agent_status_t status = {.rows = agent->arg.rows,
                                .dim = agent->arg.dim,
                                .k_max = agent->arg.k_max,
                                .infer_mode = agent->arg.infer_mode,
                                .infer_replicas = agent->arg.infer_replicas,
                                .thread_replicas = agent->arg.thread_replicas,
                                .pid = (int32_t) getpid ()};
    snprintf (status.isa, sizeof status.isa, "%s", trk_isa ());
    return tr_reply (self, msg, &status, sizeof status);
}

//  Any other type: an error reply, never a failure of the replica.
static int
s_agent_unhandled (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    if (msg->flags & TR_MSG_REQUEST)
        return tr_reply_error (self, msg, TR_EUNKNOWN_TYPE);
    return 0;
}

static const tr_handler_t s_agent_handlers[] = {{TR_AGENT_INFER, s_agent_infer},
                                                {TR_AGENT_SCORE, s_agent_score},
                                                {TR_AGENT_STATUS, s_agent_status},
                                                {NULL, NULL}};
static const tr_behaviour_t s_agent_behaviour = {
    .name = "agent",
    .state_size = sizeof (s_agent_t),
    .init = s_agent_init,
    .terminate = s_agent_terminate,
    .handlers = s_agent_handlers,
    .unhandled = s_agent_unhandled,
};

//  --------------------------------------------------------------------------
//  The corpus owner: holds the segment's reference for the service's life

typedef struct {
    tr_shm_t *shm;
} s_owner_t;

//  arg: a tr_shm_t * whose reference the owner takes (same process: the
//  starter spawns it from a host thread).
static int
s_owner_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    s_owner_t *owner = state;
    if (arg_size != sizeof owner->shm)
        return TR_EINVAL;
    memcpy (&owner->shm, arg, sizeof owner->shm);
    return 0;
}

static void
s_owner_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    (void) reason;
    s_owner_t *owner = state;
    tr_shm_release (&owner->shm);
}

//  "agent.corpus.watch": monitor the service (a tr_ref_t) and end with it.
static int
s_owner_watch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_ref_t service;
    if (msg->size != sizeof service)
        return 0;
    memcpy (&service, msg->data, sizeof service);
    return tr_monitor (self, service);
}

static int
s_owner_down (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    (void) msg;
    tr_stop (self);
    return 0;
}

static const tr_handler_t s_owner_handlers[] = {
    {"agent.corpus.watch", s_owner_watch}, {"tr.down", s_owner_down}, {NULL, NULL}};
static const tr_behaviour_t s_owner_behaviour = {
    .name = "agent.corpus",
    .state_size = sizeof (s_owner_t),
    .init = s_owner_init,
    .terminate = s_owner_terminate,
    .handlers = s_owner_handlers,
};

int
tr_agent_register (void)
{
    int rc = tr_behaviour_register (&s_agent_behaviour);
    if (rc == 0)
        rc = tr_behaviour_register (&s_owner_behaviour);
    return rc;
}

//  --------------------------------------------------------------------------
//  The corpus: file or generated, into one segment

static void
s_why (char *why, size_t why_size, const char *text)
{
    if (why && why_size)
        snprintf (why, why_size, "%s", text);
}

//  Check the header of the corpus file open on fd (read at offset 0).
static int
s_corpus_check_fd (int fd, tr_agent_corpus_header_t *header, char *why, size_t why_size)
{
    struct stat info;
    ssize_t got = pread (fd, header, sizeof *header, 0);
    int stat_rc = fstat (fd, &info);
    if (got != (ssize_t) sizeof *header || stat_rc != 0) {
        s_why (why, why_size, "shorter than its 64-byte header");
        return TR_EINVAL;
    }
    if (memcmp (header->magic, TR_AGENT_CORPUS_MAGIC, 8) != 0) {
        s_why (why, why_size, "not a corpus file (no TRCORPUS magic)");
        return TR_EINVAL;
    }
    if (header->version != TR_AGENT_CORPUS_VERSION || header->header_size != 64) {
        s_why (why, why_size, "unknown corpus version");
        return TR_EINVAL;
    }
    if (header->dtype != TR_AGENT_DTYPE_F32) {
        s_why (why, why_size, "dtype is not float32");
        return TR_EINVAL;
    }
    if (header->rows == 0 || header->rows > S_ROWS_LIMIT || header->dim == 0
        || header->dim > S_DIM_LIMIT) {
        s_why (why, why_size, "rows or dim out of range");
        return TR_EINVAL;
    }
    uint64_t expected = 64 + header->rows * header->dim * sizeof (float);
    if ((uint64_t) info.st_size != expected) {
        s_why (why, why_size, "file size does not match rows x dim");
        return TR_EINVAL;
    }
    return 0;
}

int
tr_agent_corpus_check (const char *path, tr_agent_corpus_header_t *header, char *why,
                       size_t why_size)
{
    if (!path || !header)
        return TR_EINVAL;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s_why (why, why_size, strerror (errno));
        return TR_EINVAL;
    }
    int rc = s_corpus_check_fd (fd, header, why, why_size);
    close (fd);
    return rc;
}

//  splitmix64: a small deterministic generator, the same on every machine.
static uint64_t
s_next (uint64_t *seed)
{
    uint64_t z = (*seed += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void
s_normalize_rows (float *rows, size_t row_count, size_t dim)
{
    for (size_t row = 0; row < row_count; row++)
        trk_normalize_f32 (rows + row * dim, dim);  //  a zero row stays 0
}

int
tr_agent_corpus_fill (float *rows, size_t row_count, size_t dim, uint64_t seed)
{
    if (!rows || row_count == 0 || dim == 0)
        return TR_EINVAL;
    size_t values = row_count * dim;
    for (size_t i = 0; i < values; i++)
        rows[i] = (float) (s_next (&seed) >> 40) * (2.0f / 16777216.0f) - 1.0f;
    s_normalize_rows (rows, row_count, dim);
    return 0;
}

//  Read exactly size bytes at offset. 0 or -1.
static int
s_read_all (int fd, void *into, size_t size, off_t offset)
{
    unsigned char *at = into;
    while (size) {
        ssize_t got = pread (fd, at, size > (1u << 30) ? (1u << 30) : size, offset);
        if (got <= 0)
            return -1;
        at += got;
        size -= (size_t) got;
        offset += got;
    }
    return 0;
}

//  A new segment holding the corpus: a 64-byte header, then the rows,
//  normalised. NULL on failure (logged).
static tr_shm_t *
s_corpus_build (const tr_agent_options_t *options)
{
    tr_agent_corpus_header_t header = {
        .version = TR_AGENT_CORPUS_VERSION, .dtype = TR_AGENT_DTYPE_F32, .header_size = 64};
    memcpy (header.magic, TR_AGENT_CORPUS_MAGIC, 8);
    //  One open for the header and the rows: a file replaced in between
    //  cannot mix one file's header with another's rows.
    int fd = -1;
    if (options->corpus_path) {
        char why[128] = "";
        fd = open (options->corpus_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            snprintf (why, sizeof why, "%s", strerror (errno));
        if (fd < 0 || s_corpus_check_fd (fd, &header, why, sizeof why) != 0) {
            fprintf (stderr, "agent: %s: %s\n", options->corpus_path, why);
            if (fd >= 0)
                close (fd);
            return NULL;
        }
    }
    else {
        header.rows = options->rows;
        header.dim = (uint32_t) options->dim;
    }
    size_t bytes = (size_t) header.rows * header.dim * sizeof (float);
    tr_shm_t *shm = tr_shm_new (S_SEGMENT_HEADER + bytes);
    if (!shm) {
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    unsigned char *base = tr_shm_data (shm);
    //  Allocate every page in one call: first touches one by one cost
    //  ~10 us per 4 KiB page here (3.4 s for 1.5 GB, against ~0.9 s). No
    //  memory for it: an error now, not a SIGBUS while filling.
    if (madvise (base, tr_shm_size (shm), MADV_POPULATE_WRITE) != 0 && errno == ENOMEM) {
        fprintf (stderr, "agent: no memory for a %zu-byte corpus\n", tr_shm_size (shm));
        if (fd >= 0)
            close (fd);
        tr_shm_release (&shm);
        return NULL;
    }
    float *rows = (float *) (base + S_SEGMENT_HEADER);
    if (options->corpus_path) {
        int rc = s_read_all (fd, rows, bytes, 64);
        close (fd);
        const char *bad = rc != 0 ? "cannot read the rows" : NULL;
        //  Every value finite, whatever the flags say: a NaN or infinite
        //  element would sort first or last in every query.
        for (size_t i = 0; !bad && i < (size_t) header.rows * header.dim; i++)
            if (!isfinite (rows[i]))
                bad = "a value is NaN or infinite";
        if (bad) {
            fprintf (stderr, "agent: %s: %s\n", options->corpus_path, bad);
            tr_shm_release (&shm);
            return NULL;
        }
        if (!(header.flags & TR_AGENT_CORPUS_NORMALIZED))
            s_normalize_rows (rows, header.rows, header.dim);
    }
    else
        tr_agent_corpus_fill (rows, header.rows, header.dim, options->seed);
    header.flags |= TR_AGENT_CORPUS_NORMALIZED;
    memcpy (base, &header, sizeof header);
    return shm;
}

//  --------------------------------------------------------------------------
//  Starting a service

static int
s_options_check (const tr_agent_options_t *options, int *infer_mode)
{
    if (!options->corpus_path
        && (options->rows == 0 || options->rows > S_ROWS_LIMIT || options->dim == 0
            || options->dim > S_DIM_LIMIT)) {
        fprintf (stderr, "agent: give a corpus_path, or rows and dim in range\n");
        return TR_EINVAL;
    }
    *infer_mode = tr_mode_parse (options->infer_mode ? options->infer_mode : "process");
    if (*infer_mode != TR_MODE_PROCESS && *infer_mode != TR_MODE_THREAD
        && *infer_mode != TR_MODE_DEDICATED) {
        fprintf (stderr, "agent: infer_mode must be process, thread or thread:dedicated\n");
        return TR_EINVAL;
    }
    if (options->infer_replicas < 0 || options->infer_replicas > 256 || options->thread_replicas < 0
        || options->thread_replicas > 256 || options->k_max < 0 || options->k_max > S_K_MAX_LIMIT
        || options->deadline_ms < 0) {
        fprintf (stderr, "agent: a replica count, k_max or deadline_ms out of range\n");
        return TR_EINVAL;
    }
    return 0;
}

int
tr_agent_start (tr_runtime_t *rt, const tr_agent_options_t *options, tr_ref_t *service)
{
    int infer_mode = TR_MODE_PROCESS;
    if (!rt || !options || !service || s_options_check (options, &infer_mode) != 0)
        return TR_EINVAL;
    tr_shm_t *shm = s_corpus_build (options);
    if (!shm)
        return TR_EINVAL;
    tr_agent_corpus_header_t header;
    memcpy (&header, tr_shm_data (shm), sizeof header);
    size_t segment_size = tr_shm_size (shm);

    unsigned char handle[TR_SHM_HANDLE_SIZE];
    int rc = tr_shm_handle (shm, handle, sizeof handle);
    //  The owner takes the segment's reference; from here on it frees it.
    tr_ref_t owner;
    if (rc == 0)
        rc = tr_spawn (rt, "agent.corpus", &shm, sizeof shm, NULL, &owner);
    if (rc != 0) {
        tr_shm_release (&shm);
        return rc;
    }
    s_arg_t arg = {.magic = S_ARG_MAGIC,
                   .dim = header.dim,
                   .rows = header.rows,
                   .k_max = (uint32_t) (options->k_max ? options->k_max : S_K_MAX_DEFAULT),
                   .infer_mode = infer_mode,
                   .infer_replicas = options->infer_replicas ? options->infer_replicas : 2,
                   .thread_replicas = options->thread_replicas ? options->thread_replicas : 1};
    _Static_assert(TR_SHM_HANDLE_SIZE <= S_HANDLE_MAX, "a handle fits the init argument");
    memcpy (arg.handle, handle, sizeof handle);
    arg.handle_size = sizeof handle;

    tr_route_t routes[] = {
        {.type = TR_AGENT_INFER,
         .mode = (tr_mode_t) infer_mode,
         .replicas = arg.infer_replicas,
         .deadline_ms = options->deadline_ms},
        {.type = TR_AGENT_SCORE,
         .replicas = arg.thread_replicas,
         .deadline_ms = options->deadline_ms},
        {.type = TR_AGENT_STATUS, .replicas = arg.thread_replicas},
    };
    //  A process replica maps and pre-faults the corpus in init, before its
    //  first heartbeat: ~25 ms per GiB here, so a second per GiB is ample.
    tr_process_spec_t process = {0};
    if (options->process)
        process = *options->process;
    else
        process.heartbeat_timeout_ms = 1000 + (int) (segment_size >> 20);
    tr_service_spec_t spec = {.name = options->name,
                              .behaviour = "agent",
                              .arg = &arg,
                              .arg_size = sizeof arg,
                              .routes = routes,
                              .route_count = sizeof routes / sizeof routes[0],
                              .process = &process};
    rc = tr_service_start (rt, &spec, service);
    if (rc != 0) {
        tr_runtime_kill (rt, owner, 0);
        return rc;
    }
    //  The owner ends with the router (and drops the segment then).
    rc = tr_runtime_send (rt, owner, tr_type ("agent.corpus.watch"), service, sizeof *service);
    if (rc != 0) {
        tr_runtime_kill (rt, *service, 0);
        tr_runtime_kill (rt, owner, 0);
        return rc;
    }
    return 0;
}
