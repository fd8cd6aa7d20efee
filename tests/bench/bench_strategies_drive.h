//  bench_strategies_drive - how bench_strategies feeds a cell: its plan and
//  the check of each reply, a requester actor that keeps a window of
//  requests in flight to a service, and host threads calling a pool with
//  shared-memory payloads. Included once, by bench_strategies.c, after its
//  settings (WINDOW, MEM_WINDOW, SHM_THREADS, JOB_TIMEOUT_MS).
#ifndef BENCH_STRATEGIES_DRIVE_H_INCLUDED
#define BENCH_STRATEGIES_DRIVE_H_INCLUDED

//  ---------------------------------------------------------------------
//  A cell's plan, and the check of one reply

typedef struct {
    tr_ref_t target;
    int workload;
    long first, count;  //  jobs [first, first + count) of the workload
    tr_type_t types[S_KINDS];
    char where[S_KINDS];  //  where each kind must have run
    bool mem_by_ref;      //  memory jobs name their segment ("strat.memref")
} s_plan_t;

typedef struct {
    double elapsed;  //  seconds from the first request to the last reply
    long good;
    long failed;  //  error replies or send errors
    long wrong_value, wrong_where;
    int first_error;
    char odd_where;  //  the first unexpected place seen
} s_outcome_t;

static void
s_check_reply (const s_plan_t *plan, long job, int rc, const void *data, size_t size,
               s_outcome_t *outcome)
{
    s_result_t result;
    if (rc == 0 && size != sizeof result)
        rc = TR_EMALFORMED;
    if (rc != 0) {
        if (outcome->failed++ == 0)
            outcome->first_error = rc;
        return;
    }
    memcpy (&result, data, sizeof result);
    s_kind_t kind = s_kind_of (plan->workload, job);
    if (result.value != s_expected[plan->workload][job] || result.kind != (uint32_t) kind)
        outcome->wrong_value++;
    else if (result.where != (uint32_t) plan->where[kind]) {
        if (outcome->wrong_where++ == 0)
            outcome->odd_where = (char) result.where;
    }
    else
        outcome->good++;
}

//  The request for a job: type and payload (pointers into static data or
//  into *cpu / *io / *segment, which the caller provides).
static void
s_job_payload (const s_plan_t *plan, long job, s_cpu_job_t *cpu, s_io_request_t *io,
               uint32_t *segment, const void **data, size_t *size)
{
    switch (s_kind_of (plan->workload, job)) {
        case S_CPU:
            *cpu = (s_cpu_job_t){s_job_id (plan->workload, job), s_config.cpu_iterations, 0};
            *data = cpu;
            *size = sizeof *cpu;
            break;
        case S_MEM:
            *segment = (uint32_t) (job % s_config.segments);
            *data = plan->mem_by_ref ? (const void *) segment : tr_shm_data (s_segments[*segment]);
            *size = plan->mem_by_ref ? sizeof *segment : s_config.segment_size;
            break;
        default:
            io->id = s_job_id (plan->workload, job);
            *data = io;
            *size = sizeof *io;
    }
}

//  ---------------------------------------------------------------------
//  The requester: keeps WINDOW requests in flight (MEM_WINDOW memory jobs)

typedef struct {
    s_plan_t plan;
    long sent, done;
    int in_flight, mem_in_flight;
    double start;
    s_outcome_t outcome;
    tr_msg_t waiter;
    bool waiting, finished;
} s_requester_t;

static int
s_requester_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) self;
    s_requester_t *requester = state;
    if (size != sizeof requester->plan)
        return TR_EINVAL;
    memcpy (&requester->plan, arg, size);
    return 0;
}

static void
s_requester_answer (tr_actor_t *self, s_requester_t *requester)
{
    if (requester->finished && requester->waiting) {
        requester->waiting = false;
        int rc =
            tr_reply (self, &requester->waiter, &requester->outcome, sizeof requester->outcome);
        if (rc != 0)
            s_fail_rc ("requester reply", rc);
    }
}

static void s_requester_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply,
                               void *arg);

static void
s_requester_fill (tr_actor_t *self, s_requester_t *requester)
{
    const s_plan_t *plan = &requester->plan;
    while (requester->sent < plan->count && requester->in_flight < WINDOW) {
        long job = plan->first + requester->sent;
        s_kind_t kind = s_kind_of (plan->workload, job);
        if (kind == S_MEM && requester->mem_in_flight >= MEM_WINDOW)
            break;  //  in order: the next reply of a memory job calls us again
        s_cpu_job_t cpu;
        s_io_request_t io;
        uint32_t segment;
        const void *data;
        size_t size;
        s_job_payload (plan, job, &cpu, &io, &segment, &data, &size);
        int rc = tr_request (self, plan->target, plan->types[kind], data, size, JOB_TIMEOUT_MS,
                             s_requester_reply, (void *) (intptr_t) job);
        requester->sent++;
        if (rc != 0) {
            s_check_reply (plan, job, rc, NULL, 0, &requester->outcome);
            requester->done++;
            continue;
        }
        requester->in_flight++;
        requester->mem_in_flight += kind == S_MEM;
    }
    if (requester->done == plan->count && !requester->finished) {
        requester->outcome.elapsed = s_now () - requester->start;
        requester->finished = true;
        s_requester_answer (self, requester);
    }
}

static void
s_requester_reply (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    s_requester_t *requester = state;
    long job = (long) (intptr_t) arg;
    s_check_reply (&requester->plan, job, rc, reply ? reply->data : NULL, reply ? reply->size : 0,
                   &requester->outcome);
    requester->in_flight--;
    requester->mem_in_flight -= s_kind_of (requester->plan.workload, job) == S_MEM;
    requester->done++;
    s_requester_fill (self, requester);
}

static int
s_requester_go (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) msg;
    s_requester_t *requester = state;
    requester->start = s_now ();
    s_requester_fill (self, requester);
    return 0;
}

static int
s_requester_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_requester_t *requester = state;
    requester->waiter = *msg;
    requester->waiting = true;
    s_requester_answer (self, requester);
    return 0;
}

static const tr_handler_t s_requester_handlers[] = {
    {"strat.go", s_requester_go}, {"strat.wait", s_requester_wait}, {NULL, NULL}};
static const tr_behaviour_t s_requester = {
    "strat.requester", sizeof (s_requester_t), s_requester_init, NULL, s_requester_handlers, NULL};

//  Run a plan through a requester actor on loop thread 1, a thread of its
//  own: it never waits behind a job (async instances are on loop 0). 0 or -1.
static int
s_run_requester (tr_runtime_t *rt, const s_plan_t *plan, s_outcome_t *outcome)
{
    tr_spawn_opts_t opts = {.thread = tr_loop_placement (rt, 1)};
    tr_ref_t requester;
    int rc = tr_spawn (rt, "strat.requester", plan, sizeof *plan, &opts, &requester);
    if (rc != 0) {
        s_fail_rc ("tr_spawn (requester)", rc);
        return -1;
    }
    void *reply = NULL;
    size_t size = 0;
    rc = tr_runtime_send (rt, requester, s_type_go, NULL, 0);
    if (rc == 0)
        rc = tr_call (rt, requester, s_type_wait, NULL, 0, 10 * JOB_TIMEOUT_MS, &reply, &size);
    if (rc == 0 && size != sizeof *outcome)
        rc = TR_EMALFORMED;
    if (rc == 0)
        memcpy (outcome, reply, sizeof *outcome);
    else
        s_fail_rc ("requester", rc);
    tr_free (reply);
    int kill_rc = tr_runtime_kill (rt, requester, 0);
    if (kill_rc != 0)
        s_fail_rc ("tr_runtime_kill (requester)", kill_rc);
    return rc == 0 ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  Host threads calling with tr_call / tr_call_shm (the shm strategy: an
//  actor has no request call that carries a segment)

typedef struct {
    tr_runtime_t *rt;
    const s_plan_t *plan;
    _Atomic long *next;
    s_outcome_t outcome;
} s_caller_t;

static void *
s_caller_main (void *arg)
{
    s_caller_t *caller = arg;
    const s_plan_t *plan = caller->plan;
    long taken;
    while ((taken = atomic_fetch_add (caller->next, 1)) < plan->count) {
        long job = plan->first + taken;
        s_kind_t kind = s_kind_of (plan->workload, job);
        void *reply = NULL;
        size_t size = 0;
        int rc;
        if (kind == S_MEM)
            rc = tr_call_shm (caller->rt, plan->target, plan->types[kind],
                              s_segments[job % s_config.segments], JOB_TIMEOUT_MS, &reply, &size);
        else {
            s_cpu_job_t cpu;
            s_io_request_t io;
            uint32_t segment;
            const void *data;
            size_t data_size;
            s_job_payload (plan, job, &cpu, &io, &segment, &data, &data_size);
            rc = tr_call (caller->rt, plan->target, plan->types[kind], data, data_size,
                          JOB_TIMEOUT_MS, &reply, &size);
        }
        s_check_reply (plan, job, rc, reply, size, &caller->outcome);
        tr_free (reply);
    }
    return NULL;
}

static int
s_run_callers (tr_runtime_t *rt, const s_plan_t *plan, s_outcome_t *outcome)
{
    s_caller_t callers[SHM_THREADS];
    pthread_t threads[SHM_THREADS];
    _Atomic long next = 0;
    int started = 0;
    double start = s_now ();
    for (int i = 0; i < SHM_THREADS; i++) {
        callers[i] = (s_caller_t){.rt = rt, .plan = plan, .next = &next};
        if (pthread_create (&threads[i], NULL, s_caller_main, &callers[i]) != 0) {
            s_fail ("pthread_create", strerror (errno));
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join (threads[i], NULL);
    memset (outcome, 0, sizeof *outcome);
    outcome->elapsed = s_now () - start;
    for (int i = 0; i < started; i++) {
        const s_outcome_t *part = &callers[i].outcome;
        outcome->good += part->good;
        if (part->failed && !outcome->failed)
            outcome->first_error = part->first_error;
        outcome->failed += part->failed;
        if (part->wrong_where && !outcome->wrong_where)
            outcome->odd_where = part->odd_where;
        outcome->wrong_value += part->wrong_value;
        outcome->wrong_where += part->wrong_where;
    }
    return started == SHM_THREADS ? 0 : -1;
}

#endif
