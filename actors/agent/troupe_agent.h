//  troupe_agent.h - the inference agent: a service that answers top-k
//  similarity queries and weighted scores over an embedding corpus held in
//  one shared-memory segment, mapped read-only by every replica
//
//  Use:
//      tr_agent_register ();                    //  before tr_runtime_new
//      tr_runtime_t *rt = tr_runtime_new (NULL);
//      tr_runtime_start (rt);
//      tr_agent_options_t options = {.name = "xiaoai", .rows = 50000, .dim = 64};
//      tr_ref_t agent;
//      tr_agent_start (rt, &options, &agent);
//      tr_call (rt, agent, tr_type (TR_AGENT_INFER), query, size, 5000, &reply, &reply_size);
//
//  Payloads are little-endian, packed as the structs below (every field is
//  4 or 8 bytes, at its natural offset). docs/agent.md is the manual.
//  Every request with a bad payload gets the error reply TR_EINVAL; the
//  replica carries on.

#ifndef TROUPE_AGENT_H_INCLUDED
#define TROUPE_AGENT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include <troupe.h>

#ifdef __cplusplus
extern "C" {
#endif

//  ---------------------------------------------------------------------
//  Message types

#define TR_AGENT_INFER  "agent.infer"   //  top-k rows most similar to a query
#define TR_AGENT_SCORE  "agent.score"   //  weighted similarity of given rows
#define TR_AGENT_STATUS "agent.status"  //  what the agent holds

//  agent.infer request: this header, then dim float32 (the query; the
//  agent normalises a copy, so the score is the cosine similarity). k is
//  1..k_max. Reply: min(k, rows) tr_agent_hit_t, best first (higher score
//  first; ties by lower row), nothing else: count = reply size / 8.
typedef struct {
    uint32_t k;
    uint32_t dim;  //  must equal the corpus's dim
} tr_agent_infer_t;

typedef struct {
    uint32_t row;  //  0-based row of the corpus
    float score;   //  dot product of the normalised query and the row
} tr_agent_hit_t;

//  agent.score request: this header, then dim float32 (the query,
//  normalised by the agent), then count tr_agent_candidate_t. count is
//  1..TR_AGENT_SCORE_MAX; every row < rows; weights are not checked
//  (NaN passes through). Reply: tr_agent_score_reply_t, then count
//  float32: weight[i] * similarity(query, row[i]), in request order.
typedef struct {
    uint32_t count;
    uint32_t dim;
} tr_agent_score_t;

typedef struct {
    uint32_t row;
    float weight;
} tr_agent_candidate_t;

typedef struct {
    //  sum(weight[i] * similarity[i]) / sum(weight[i]): the candidates'
    //  weighted average similarity (NaN when the weights sum to 0)
    float weighted_avg;
    uint32_t count;
} tr_agent_score_reply_t;

#define TR_AGENT_SCORE_MAX 65536

//  agent.status request: empty. Reply: this struct.
typedef struct {
    uint64_t rows;
    uint32_t dim;
    uint32_t k_max;
    int32_t infer_mode;       //  tr_mode_t of agent.infer
    int32_t infer_replicas;   //  replicas of agent.infer's lane
    int32_t thread_replicas;  //  replicas of the thread lane (score, status)
    int32_t pid;              //  the process that answered
    char isa[32];             //  trk_isa (): the kernels' instruction set, NUL-ended
} tr_agent_status_t;

//  ---------------------------------------------------------------------
//  Corpus file (docs/agent.md): a 64-byte header, then rows x dim float32,
//  row-major, little-endian, from byte 64. troupe-npy2corpus writes one
//  from a .npy file.

#define TR_AGENT_CORPUS_MAGIC      "TRCORPUS"  //  8 bytes, no NUL
#define TR_AGENT_CORPUS_VERSION    1
#define TR_AGENT_DTYPE_F32         1
#define TR_AGENT_CORPUS_NORMALIZED 0x1u  //  flags: every row has norm 1 already

typedef struct {
    char magic[8];         //  "TRCORPUS"
    uint32_t version;      //  TR_AGENT_CORPUS_VERSION
    uint32_t dtype;        //  TR_AGENT_DTYPE_F32
    uint64_t rows;         //  >= 1, < 2^32
    uint32_t dim;          //  1..65536
    uint32_t flags;        //  TR_AGENT_CORPUS_*
    uint32_t header_size;  //  64: where the rows start
    uint8_t reserved[28];  //  zero
} tr_agent_corpus_header_t;

//  ---------------------------------------------------------------------
//  The service

typedef struct {
    const char *name;         //  register the service under this name (optional)
    const char *corpus_path;  //  a corpus file; or NULL: generate rows x dim
    size_t rows, dim;         //  generated corpus: uniform in [-1, 1) from seed,
    uint64_t seed;            //  then normalised (the same seed, the same corpus)
    //  Where agent.infer runs: a tr_mode_parse name ("process", "thread",
    //  "thread:dedicated"); NULL = "process".
    const char *infer_mode;
    int infer_replicas;   //  agent.infer's replicas (0 = 2)
    int thread_replicas;  //  the thread lane's replicas: score, status (0 = 1)
    int k_max;            //  largest k accepted (0 = 100; at most 4096)
    int deadline_ms;      //  per request (0 = the router's 30000)
    //  Pool settings of the process lane (see tr_service_spec_t.process);
    //  NULL: the pool defaults, with a heartbeat timeout long enough for a
    //  replica to map the corpus.
    const tr_process_spec_t *process;
} tr_agent_options_t;

//  Register the agent's behaviours. Call it before tr_runtime_new (agent.infer
//  runs in process children, copies of the program as it was then).
//  0, or a tr_behaviour_register error.
int tr_agent_register (void);

//  Start an agent service from a host thread: load (or generate) the corpus
//  into one shared-memory segment, normalise its rows, start the service
//  whose replicas map it read-only, and return its router's ref in
//  *service. The segment goes back to the system when the service ends.
//  Returns 0, TR_EINVAL (bad options, a bad or unreadable corpus file:
//  logged on stderr), TR_ENOTSUP (process mode on a node without process
//  actors), or a tr_service_start / tr_spawn error.
int tr_agent_start (tr_runtime_t *rt, const tr_agent_options_t *options, tr_ref_t *service);

//  Read a corpus file's header and check it against the file's size.
//  0 and *header, or TR_EINVAL (with a reason in why[0..why_size), if given).
int tr_agent_corpus_check (const char *path, tr_agent_corpus_header_t *header, char *why,
                           size_t why_size);

//  Fill rows (rows x dim floats) with the corpus tr_agent_start generates
//  for seed: uniform in [-1, 1), each row then normalised with the kernels.
//  For references in tests and benchmarks. 0 or TR_EINVAL.
int tr_agent_corpus_fill (float *rows, size_t row_count, size_t dim, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif
