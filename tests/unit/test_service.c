//  test_service - services and their routes: every mode, balancing, bounds,
//  deadlines, automatic moves, restarts, bad specs
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  What an instance says about where it ran.
typedef struct {
    int32_t pid;
    char thread[16];
    tr_ref_t self;
} s_where_t;

static _Atomic int s_notes;

static int
s_where (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    s_where_t where = {(int32_t) getpid (), "", tr_self (self)};
    pthread_getname_np (pthread_self (), where.thread, sizeof where.thread);
    return tr_reply (self, msg, &where, sizeof where);
}

static int
s_echo (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    return tr_reply (self, msg, msg->data, msg->size);
}

static int
s_note (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    (void) msg;
    atomic_fetch_add (&s_notes, 1);
    return 0;
}

//  Sleeps the payload's milliseconds (int32), then says where it ran.
static int
s_slow (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    int32_t ms = 0;
    if (msg->size == sizeof ms)
        memcpy (&ms, msg->data, sizeof ms);
    usleep ((useconds_t) ms * 1000);
    return s_where (self, state, msg);
}

//  Fails in a thread instance; answers in a process (where it is safe).
static int
s_fragile (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    if (msg->size == 1 && ((const char *) msg->data)[0] == 'x') {
        tr_fail (self, TR_EFAILED);
        return 0;
    }
    return s_where (self, state, msg);
}

static const tr_handler_t s_handlers[] = {{"svc.where", s_where},
                                          {"svc.echo", s_echo},
                                          {"svc.note", s_note},
                                          {"svc.slow", s_slow},
                                          {"svc.fragile", s_fragile},
                                          {"svc.crash", s_fragile},
                                          {NULL, NULL}};
static const tr_behaviour_t s_worker = {"svc.worker", 0, NULL, NULL, s_handlers, NULL};

//  A behaviour with state: continuations and timers must see the same
//  state as handlers, inside a service too.
typedef struct {
    int magic;
    tr_msg_t pending;  //  the svc.ask being answered
} s_stateful_t;

static int
s_stateful_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    (void) self;
    (void) arg;
    (void) arg_size;
    ((s_stateful_t *) state)->magic = 4242;
    return 0;
}

static void
s_asked (tr_actor_t *self, void *state, int rc, const tr_msg_t *reply, void *arg)
{
    (void) reply;
    (void) arg;
    s_stateful_t *stateful = state;
    int32_t answer = rc == 0 ? stateful->magic : rc;
    tr_reply (self, &stateful->pending, &answer, sizeof answer);
}

//  Ask ourselves something, answer from the continuation.
static int
s_ask (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_stateful_t *stateful = state;
    stateful->pending = *msg;
    return tr_request (self, tr_self (self), tr_type ("svc.echo"), "?", 1, 5000, s_asked, NULL);
}

//  The first bytes of a shared-memory payload.
static int
s_peek (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_shm_t *shm = tr_shm_open (msg);
    if (!shm)
        return tr_reply_error (self, msg, TR_EINVAL);
    int rc = tr_reply (self, msg, tr_shm_data (shm), 4);
    tr_shm_release (&shm);
    return rc;
}

//  s_peek, 300 ms later.
static int
s_slow_peek (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    usleep (300 * 1000);
    return s_peek (self, state, msg);
}

static const tr_handler_t s_stateful_handlers[] = {{"svc.ask", s_ask},
                                                   {"svc.echo", s_echo},
                                                   {"svc.peek", s_peek},
                                                   {"svc.slowpeek", s_slow_peek},
                                                   {NULL, NULL}};
static const tr_behaviour_t s_stateful = {"svc.stateful", sizeof (s_stateful_t), s_stateful_init,
                                          NULL,           s_stateful_handlers,   NULL};

static tr_runtime_t *
s_node (void)
{
    tr_options_t options;
    tr_options_default (&options);
    options.threads = 2;
    tr_runtime_t *rt = tr_runtime_new (&options);
    TR_ASSERT (rt);
    TR_CHECK (tr_runtime_start (rt));
    return rt;
}

static s_where_t
s_call_where (tr_runtime_t *rt, tr_ref_t service, const char *type, const void *data, size_t size)
{
    void *reply = NULL;
    size_t reply_size = 0;
    TR_CHECK (tr_call (rt, service, tr_type (type), data, size, 10000, &reply, &reply_size));
    s_where_t where;
    TR_ASSERT_EQ_INT ((int) reply_size, (int) sizeof where);
    memcpy (&where, reply, sizeof where);
    tr_free (reply);
    return where;
}

static tr_route_stats_t
s_stats (tr_runtime_t *rt, tr_ref_t service, const char *type)
{
    tr_route_stats_t stats;
    TR_CHECK (tr_service_route_stats (rt, service, type, &stats));
    return stats;
}

//  Thread routes: round robin over 2 instances, one-way messages, "*",
//  an unknown type without a "*" route.
static void
test_thread_routes (tr_runtime_t *rt)
{
    tr_route_t routes[] = {
        {.type = "svc.where", .replicas = 2},
        {.type = "svc.note"},
        {.type = "svc.echo"},
    };
    tr_service_spec_t spec = {
        .name = "svc.a", .behaviour = "svc.worker", .routes = routes, .route_count = 3};
    tr_ref_t service;
    TR_CHECK (tr_service_start (rt, &spec, &service));
    TR_ASSERT (tr_whereis (rt, "svc.a") == service);
    s_where_t first = s_call_where (rt, service, "svc.where", NULL, 0);
    s_where_t second = s_call_where (rt, service, "svc.where", NULL, 0);
    TR_ASSERT (first.self != second.self);  //  round robin
    TR_ASSERT (first.pid == getpid () && strncmp (first.thread, "troupe-", 7) == 0);
    for (int i = 0; i < 10; i++)
        TR_CHECK (tr_runtime_send (rt, service, tr_type ("svc.note"), NULL, 0));
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, service, tr_type ("svc.echo"), "hi", 2, 5000, &reply, &size));
    TR_ASSERT (size == 2 && memcmp (reply, "hi", 2) == 0);
    tr_free (reply);
    //  The notes went round robin to 2 instances: wait for both.
    for (int i = 0; i < 500 && atomic_load (&s_notes) < 10; i++)
        usleep (1000);
    TR_ASSERT_EQ_INT (atomic_load (&s_notes), 10);
    tr_route_stats_t stats = s_stats (rt, service, "svc.where");
    TR_ASSERT (stats.mode == TR_MODE_THREAD && !stats.automatic);
    TR_ASSERT (stats.requests == 2 && stats.replies == 2 && stats.errors == 0);
    TR_ASSERT (stats.in_flight == 0 && stats.max_us > 0);
    TR_ASSERT_EQ_INT ((int) s_stats (rt, service, "svc.note").one_way, 10);
    //  No route for it, no "*": unknown type, dead-lettered.
    uint64_t unknown = tr_dead_letter_count (rt, TR_EUNKNOWN_TYPE);
    TR_ASSERT_EQ_INT (tr_call (rt, service, tr_type ("svc.slow"), NULL, 0, 5000, NULL, NULL),
                      TR_EUNKNOWN_TYPE);
    TR_ASSERT (tr_dead_letter_count (rt, TR_EUNKNOWN_TYPE) == unknown + 1);
    tr_route_stats_t none;
    TR_ASSERT_EQ_INT (tr_service_route_stats (rt, service, "svc.slow", &none), TR_ENOENT);
    TR_CHECK (tr_runtime_kill (rt, service, 0));
}

//  Hash balancing: one key, one instance; several keys spread.
static void
test_hash (tr_runtime_t *rt)
{
    tr_route_t routes[] = {
        {.type = "*", .replicas = 4, .balance = TR_BALANCE_HASH, .key_offset = 0, .key_size = 4}};
    tr_service_spec_t spec = {.behaviour = "svc.worker", .routes = routes, .route_count = 1};
    tr_ref_t service;
    TR_CHECK (tr_service_start (rt, &spec, &service));
    s_where_t a = s_call_where (rt, service, "svc.where", "key1-and-more", 13);
    for (int i = 0; i < 5; i++) {
        s_where_t again = s_call_where (rt, service, "svc.where", "key1-other", 10);
        TR_ASSERT (again.self == a.self);  //  only the first 4 bytes count
    }
    tr_ref_t seen[4] = {0};
    int distinct = 0;
    for (int key = 0; key < 32; key++) {
        char bytes[4] = {'k', (char) ('a' + key), 'z', 'z'};
        s_where_t where = s_call_where (rt, service, "svc.where", bytes, 4);
        bool known = false;
        for (int i = 0; i < distinct; i++)
            known |= seen[i] == where.self;
        if (!known && distinct < 4)
            seen[distinct++] = where.self;
    }
    TR_ASSERT (distinct >= 3);
    TR_CHECK (tr_runtime_kill (rt, service, 0));
}

typedef struct {
    tr_runtime_t *rt;
    tr_ref_t service;
    int rc;
} s_caller_t;

static void *
s_caller (void *arg)
{
    s_caller_t *caller = arg;
    int32_t ms = 100;
    caller->rc = tr_call (caller->rt, caller->service, tr_type ("svc.slow"), &ms, sizeof ms, 10000,
                          NULL, NULL);
    return NULL;
}

//  4 concurrent callers on a route with max_in_flight 1.
static void
s_four_callers (tr_runtime_t *rt, tr_ref_t service, int *ok, int *rejected, int *dropped)
{
    s_caller_t callers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        callers[i] = (s_caller_t){rt, service, 1};
        TR_ASSERT (pthread_create (&threads[i], NULL, s_caller, &callers[i]) == 0);
    }
    *ok = *rejected = *dropped = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join (threads[i], NULL);
        *ok += callers[i].rc == 0;
        *rejected += callers[i].rc == TR_EAGAIN;
        *dropped += callers[i].rc == TR_EOVERFLOW;
    }
}

static void
test_bounds (tr_runtime_t *rt)
{
    tr_route_overflow_t policies[] = {TR_ROUTE_FAIL, TR_ROUTE_QUEUE, TR_ROUTE_DROP};
    for (int p = 0; p < 3; p++) {
        tr_route_t routes[] = {{.type = "svc.slow", .max_in_flight = 1, .overflow = policies[p]}};
        tr_service_spec_t spec = {.behaviour = "svc.worker", .routes = routes, .route_count = 1};
        tr_ref_t service;
        TR_CHECK (tr_service_start (rt, &spec, &service));
        uint64_t overflow_before = tr_dead_letter_count (rt, TR_EOVERFLOW);
        int ok, rejected, dropped;
        struct timespec start, end;
        clock_gettime (CLOCK_MONOTONIC, &start);
        s_four_callers (rt, service, &ok, &rejected, &dropped);
        clock_gettime (CLOCK_MONOTONIC, &end);
        long elapsed_ms =
            (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
        tr_route_stats_t stats = s_stats (rt, service, "svc.slow");
        TR_ASSERT (ok >= 1);
        TR_ASSERT_EQ_INT (ok + rejected + dropped, 4);
        if (policies[p] == TR_ROUTE_FAIL) {
            TR_ASSERT (rejected >= 1 && dropped == 0);
            TR_ASSERT_EQ_INT ((int) stats.rejected, rejected);
        }
        else if (policies[p] == TR_ROUTE_QUEUE) {
            //  All served, one at a time: 4 x 100 ms at least.
            TR_ASSERT_EQ_INT (ok, 4);
            TR_ASSERT (stats.queued == 0 && stats.replies == 4 && elapsed_ms >= 390);
        }
        else {
            TR_ASSERT (dropped >= 1 && rejected == 0);
            TR_ASSERT_EQ_INT ((int) stats.dropped, dropped);
            TR_ASSERT (tr_dead_letter_count (rt, TR_EOVERFLOW)
                       >= overflow_before + (uint64_t) dropped);
        }
        TR_CHECK (tr_runtime_kill (rt, service, 0));
    }
}

static void
test_deadline_and_restart (tr_runtime_t *rt)
{
    tr_route_t routes[] = {{.type = "svc.slow", .deadline_ms = 50}, {.type = "svc.fragile"}};
    tr_service_spec_t spec = {.behaviour = "svc.worker", .routes = routes, .route_count = 2};
    tr_ref_t service;
    TR_CHECK (tr_service_start (rt, &spec, &service));
    int32_t ms = 300;
    TR_ASSERT_EQ_INT (tr_call (rt, service, tr_type ("svc.slow"), &ms, sizeof ms, 5000, NULL, NULL),
                      TR_ETIMEDOUT);
    TR_ASSERT_EQ_INT ((int) s_stats (rt, service, "svc.slow").timeouts, 1);
    //  A failing handler: the caller gets the reason, the instance restarts.
    s_where_t before = s_call_where (rt, service, "svc.fragile", NULL, 0);
    TR_ASSERT_EQ_INT (tr_call (rt, service, tr_type ("svc.fragile"), "x", 1, 5000, NULL, NULL),
                      TR_EFAILED);
    s_where_t after = s_call_where (rt, service, "svc.fragile", NULL, 0);
    TR_ASSERT (after.self != before.self && after.pid == getpid ());
    tr_route_stats_t stats = s_stats (rt, service, "svc.fragile");
    TR_ASSERT (stats.crashes == 1 && stats.mode == TR_MODE_THREAD && stats.moves == 0);
    TR_CHECK (tr_runtime_kill (rt, service, 0));
}

//  Explicit process, dedicated and async routes run where they say.
static void
test_modes (tr_runtime_t *rt)
{
    tr_route_t routes[] = {{.type = "svc.where", .mode = TR_MODE_PROCESS},
                           {.type = "svc.slow", .mode = TR_MODE_DEDICATED},
                           {.type = "svc.echo", .mode = TR_MODE_ASYNC}};
    tr_service_spec_t spec = {.behaviour = "svc.worker", .routes = routes, .route_count = 3};
    tr_ref_t service;
    TR_CHECK (tr_service_start (rt, &spec, &service));
    s_where_t where = s_call_where (rt, service, "svc.where", NULL, 0);
    TR_ASSERT (where.pid != getpid ());
    int32_t ms = 1;
    where = s_call_where (rt, service, "svc.slow", &ms, sizeof ms);
    TR_ASSERT (where.pid == getpid () && strncmp (where.thread, "troupe-ded", 10) == 0);
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, service, tr_type ("svc.echo"), "loop", 4, 5000, &reply, &size));
    TR_ASSERT (size == 4 && memcmp (reply, "loop", 4) == 0);
    tr_free (reply);
    TR_ASSERT (s_stats (rt, service, "svc.echo").mode == TR_MODE_ASYNC);
    //  Moved by hand: the process route to a thread, and back.
    TR_CHECK (tr_service_set_mode (rt, service, "svc.where", TR_MODE_THREAD));
    where = s_call_where (rt, service, "svc.where", NULL, 0);
    TR_ASSERT (where.pid == getpid ());
    tr_route_stats_t stats = s_stats (rt, service, "svc.where");
    TR_ASSERT (stats.mode == TR_MODE_THREAD && stats.last_move == TR_MOVE_SET && stats.moves == 1);
    TR_ASSERT_EQ_INT (tr_service_set_mode (rt, service, "svc.nothing", TR_MODE_THREAD), TR_ENOENT);
    TR_CHECK (tr_runtime_kill (rt, service, 0));
}

//  Auto: a crash moves the type into a process, a block to a dedicated thread.
static void
test_auto (tr_runtime_t *rt)
{
    tr_route_t routes[] = {{.type = "svc.crash", .mode = TR_MODE_AUTO},
                           {.type = "svc.slow", .mode = TR_MODE_AUTO}};
    tr_service_spec_t spec = {
        .behaviour = "svc.worker", .routes = routes, .route_count = 2, .block_ms = 30};
    tr_ref_t service;
    TR_CHECK (tr_service_start (rt, &spec, &service));
    s_where_t where = s_call_where (rt, service, "svc.crash", NULL, 0);
    TR_ASSERT (where.pid == getpid ());
    TR_ASSERT_EQ_INT (tr_call (rt, service, tr_type ("svc.crash"), "x", 1, 5000, NULL, NULL),
                      TR_EFAILED);
    //  The move is decided when the failure is seen: at once here.
    tr_route_stats_t stats = s_stats (rt, service, "svc.crash");
    TR_ASSERT (stats.automatic && stats.mode == TR_MODE_PROCESS);
    TR_ASSERT (stats.last_move == TR_MOVE_CRASHED && stats.moves >= 1 && stats.crashes == 1);
    where = s_call_where (rt, service, "svc.crash", NULL, 0);
    TR_ASSERT (where.pid != getpid ());
    //  Blocking past block_ms: to a dedicated thread.
    int32_t ms = 60;
    where = s_call_where (rt, service, "svc.slow", &ms, sizeof ms);
    TR_ASSERT (strncmp (where.thread, "troupe-ded", 10) != 0);
    stats = s_stats (rt, service, "svc.slow");
    TR_ASSERT (stats.mode == TR_MODE_DEDICATED && stats.last_move == TR_MOVE_BLOCKED);
    TR_ASSERT (stats.blocks == 1 && stats.handler_cpu_us < stats.handler_wall_us);
    where = s_call_where (rt, service, "svc.slow", &ms, sizeof ms);
    TR_ASSERT (strncmp (where.thread, "troupe-ded", 10) == 0);
    //  Back to automatic (from a thread) by hand.
    TR_CHECK (tr_service_set_mode (rt, service, "svc.slow", TR_MODE_AUTO));
    TR_ASSERT (s_stats (rt, service, "svc.slow").mode == TR_MODE_THREAD);
    TR_CHECK (tr_runtime_kill (rt, service, 0));
}

static void
test_bad_specs (tr_runtime_t *rt)
{
    tr_ref_t service;
    tr_service_spec_t spec = {.behaviour = "svc.none"};
    TR_ASSERT_EQ_INT (tr_service_start (rt, &spec, &service), TR_EUNKNOWN_BEHAVIOUR);
    TR_ASSERT_EQ_INT (tr_service_start (rt, NULL, &service), TR_EINVAL);
    tr_route_t bad[][1] = {
        {{.type = ""}},
        {{.type = "tr.down"}},
        {{.type = "a b"}},
        {{.type = "svc.x", .mode = (tr_mode_t) 9}},
        {{.type = "svc.x", .replicas = -1}},
        {{.type = "svc.x", .replicas = 100000}},
        {{.type = "svc.x", .key_size = 4}},
        {{.type = "svc.x", .mode = TR_MODE_PROCESS, .balance = TR_BALANCE_HASH}},
        {{.type = "svc.x", .deadline_ms = -1}},
        {{.type = "svc.x", .max_in_flight = -3}},
        {{.type = "svc.x", .overflow = (tr_route_overflow_t) 7}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spec = (tr_service_spec_t){.behaviour = "svc.worker", .routes = bad[i], .route_count = 1};
        TR_ASSERT_EQ_INT (tr_service_start (rt, &spec, &service), TR_EINVAL);
        TR_ASSERT (service == TR_REF_NONE);
    }
    tr_route_t twice[] = {{.type = "svc.x"}, {.type = "svc.x"}};
    spec = (tr_service_spec_t){.behaviour = "svc.worker", .routes = twice, .route_count = 2};
    TR_ASSERT_EQ_INT (tr_service_start (rt, &spec, &service), TR_EINVAL);
    tr_route_stats_t stats;
    TR_ASSERT_EQ_INT (tr_service_route_stats (rt, TR_REF_NONE, "svc.x", &stats), TR_EDEAD);
    TR_ASSERT_EQ_INT (tr_service_set_mode (rt, 0, "svc.x", (tr_mode_t) 12), TR_EINVAL);
    TR_ASSERT (tr_mode_parse ("process") == TR_MODE_PROCESS);
    TR_ASSERT (tr_mode_parse ("thread:dedicated") == TR_MODE_DEDICATED);
    TR_ASSERT (tr_mode_parse ("warp") == -1 && tr_mode_parse (NULL) == -1);
    TR_ASSERT (strcmp (tr_mode_name (TR_MODE_ASYNC), "async") == 0);
}

//  A service as a supervisor's child.
static void
test_supervised (tr_runtime_t *rt)
{
    tr_route_t routes[] = {{.type = "*", .replicas = 2}};
    tr_service_spec_t service = {.behaviour = "svc.worker", .routes = routes, .route_count = 1};
    tr_child_spec_t children[] = {{.id = "svc", .name = "svc.sup", .service = &service}};
    tr_supervisor_spec_t spec = {.children = children, .child_count = 1};
    tr_ref_t sup;
    TR_CHECK (tr_supervisor_start (rt, &spec, NULL, &sup));
    tr_ref_t ref = TR_REF_NONE;
    for (int i = 0; i < 1000 && !(ref = tr_whereis (rt, "svc.sup")); i++)
        usleep (1000);
    TR_ASSERT (ref != TR_REF_NONE);
    s_where_t where = s_call_where (rt, ref, "svc.where", NULL, 0);
    TR_ASSERT (where.pid == getpid ());
    //  Killed: the supervisor starts it again under its name.
    TR_CHECK (tr_runtime_kill (rt, ref, TR_EFAILED));
    tr_ref_t again = TR_REF_NONE;
    for (int i = 0; i < 2000; i++) {
        again = tr_whereis (rt, "svc.sup");
        if (again && again != ref)
            break;
        usleep (1000);
    }
    TR_ASSERT (again && again != ref);
    where = s_call_where (rt, again, "svc.where", NULL, 0);
    TR_ASSERT (where.pid == getpid ());
    //  A bad service spec in a supervisor spec is refused up front.
    tr_route_t bad[] = {{.type = "svc.x", .replicas = -1}};
    tr_service_spec_t bad_service = {.behaviour = "svc.worker", .routes = bad, .route_count = 1};
    children[0].service = &bad_service;
    tr_ref_t refused;
    TR_ASSERT_EQ_INT (tr_supervisor_start (rt, &spec, NULL, &refused), TR_EINVAL);
    TR_CHECK (tr_runtime_kill (rt, sup, 0));
}

//  Continuations get the behaviour's state; shared memory crosses the router.
static void
test_state_and_shm (tr_runtime_t *rt)
{
    tr_route_t routes[] = {{.type = "svc.ask"}, {.type = "svc.peek"}, {.type = "*"}};
    tr_service_spec_t spec = {.behaviour = "svc.stateful", .routes = routes, .route_count = 3};
    tr_ref_t service;
    TR_CHECK (tr_service_start (rt, &spec, &service));
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, service, tr_type ("svc.ask"), NULL, 0, 5000, &reply, &size));
    int32_t magic = 0;
    TR_ASSERT (size == sizeof magic);
    memcpy (&magic, reply, sizeof magic);
    tr_free (reply);
    TR_ASSERT_EQ_INT (magic, 4242);
    tr_shm_t *shm = tr_shm_new (1 << 20);
    TR_ASSERT (shm);
    memcpy (tr_shm_data (shm), "shm!", 4);
    TR_CHECK (tr_call_shm (rt, service, tr_type ("svc.peek"), shm, 5000, &reply, &size));
    TR_ASSERT (size == 4 && memcmp (reply, "shm!", 4) == 0);
    tr_free (reply);
    tr_shm_release (&shm);
    TR_CHECK (tr_runtime_kill (rt, service, 0));
}

typedef struct {
    tr_runtime_t *rt;
    tr_ref_t service;
    int rc;
} s_slow_call_t;

static void *
s_slow_call (void *arg)
{
    s_slow_call_t *call = arg;
    int32_t ms = 500;
    call->rc =
        tr_call (call->rt, call->service, tr_type ("svc.slow"), &ms, sizeof ms, 20000, NULL, NULL);
    return NULL;
}

//  A router that dies answers what it has in flight with its reason; an
//  intensity above 16 is honoured.
static void
test_router_end (tr_runtime_t *rt)
{
    //  Dedicated: the router's own thread stays free to answer stats.
    tr_route_t routes[] = {{.type = "svc.slow", .mode = TR_MODE_DEDICATED}};
    tr_service_spec_t spec = {.behaviour = "svc.worker", .routes = routes, .route_count = 1};
    tr_ref_t service;
    TR_CHECK (tr_service_start (rt, &spec, &service));
    s_slow_call_t call = {rt, service, 1};
    pthread_t thread;
    TR_ASSERT (pthread_create (&thread, NULL, s_slow_call, &call) == 0);
    while (s_stats (rt, service, "svc.slow").in_flight == 0)
        usleep (1000);
    TR_CHECK (tr_runtime_kill (rt, service, TR_EFAILED));
    pthread_join (thread, NULL);
    TR_ASSERT_EQ_INT (call.rc, TR_EFAILED);  //  not TR_ETIMEDOUT 20 s later

    tr_route_t fragile[] = {{.type = "svc.fragile"}};
    spec = (tr_service_spec_t){
        .behaviour = "svc.worker", .routes = fragile, .route_count = 1, .restart_intensity = 20};
    TR_CHECK (tr_service_start (rt, &spec, &service));
    for (int i = 0; i < 20; i++)
        TR_ASSERT_EQ_INT (tr_call (rt, service, tr_type ("svc.fragile"), "x", 1, 5000, NULL, NULL),
                          TR_EFAILED);
    s_where_t where = s_call_where (rt, service, "svc.fragile", NULL, 0);
    TR_ASSERT (where.pid == getpid ());
    TR_ASSERT_EQ_INT (tr_call (rt, service, tr_type ("svc.fragile"), "x", 1, 5000, NULL, NULL),
                      TR_EFAILED);
    //  The 21st end within 10 s: the service gives up.
    int rc = 0;
    for (int i = 0; i < 1000 && rc != TR_EDEAD; i++) {
        rc = tr_call (rt, service, tr_type ("svc.fragile"), NULL, 0, 5000, NULL, NULL);
        if (rc != TR_EDEAD)
            usleep (1000);
    }
    TR_ASSERT_EQ_INT (rc, TR_EDEAD);
}

//  Dedicated threads run out: a dedicated route fails its requests and
//  dead-letters its one-way messages, and starts once a thread is free.
//  A node without any refuses dedicated routes; without process actors an
//  auto route that crashes stays on its thread.
static void
test_dedicated_scarce (void)
{
    tr_options_t options;
    tr_options_default (&options);
    options.threads = 1;
    options.dedicated_threads = 1;
    options.no_processes = true;
    tr_runtime_t *rt = tr_runtime_new (&options);
    TR_ASSERT (rt);
    TR_CHECK (tr_runtime_start (rt));
    tr_route_t routes[] = {{.type = "svc.note", .mode = TR_MODE_DEDICATED},
                           {.type = "svc.where", .mode = TR_MODE_DEDICATED},
                           {.type = "svc.crash", .mode = TR_MODE_AUTO}};
    tr_service_spec_t spec = {.behaviour = "svc.worker", .routes = routes, .route_count = 3};
    tr_ref_t first, second;
    TR_CHECK (tr_service_start (rt, &spec, &first));
    TR_CHECK (tr_service_start (rt, &spec, &second));
    //  The first takes the only dedicated thread.
    s_where_t where = s_call_where (rt, first, "svc.where", NULL, 0);
    TR_ASSERT (strncmp (where.thread, "troupe-ded", 10) == 0);
    TR_ASSERT_EQ_INT (tr_call (rt, second, tr_type ("svc.where"), NULL, 0, 5000, NULL, NULL),
                      TR_EDEAD);
    uint64_t dead = tr_dead_letter_count (rt, TR_EDEAD);
    TR_CHECK (tr_runtime_send (rt, second, tr_type ("svc.note"), NULL, 0));
    for (int i = 0; i < 1000 && tr_dead_letter_count (rt, TR_EDEAD) == dead; i++)
        usleep (1000);
    TR_ASSERT (tr_dead_letter_count (rt, TR_EDEAD) == dead + 1);
    TR_ASSERT_EQ_INT ((int) s_stats (rt, second, "svc.note").errors, 1);
    //  The first service goes, its thread with it: the second starts its
    //  lane on a later message.
    TR_CHECK (tr_runtime_kill (rt, first, 0));
    int rc = TR_EDEAD;
    for (int i = 0; i < 2000 && rc == TR_EDEAD; i++) {
        rc = tr_call (rt, second, tr_type ("svc.where"), NULL, 0, 5000, NULL, NULL);
        if (rc == TR_EDEAD)
            usleep (1000);
    }
    TR_CHECK (rc);
    //  Auto without processes: a crash cannot move it; it stays on a thread.
    TR_ASSERT_EQ_INT (tr_call (rt, second, tr_type ("svc.crash"), "x", 1, 5000, NULL, NULL),
                      TR_EFAILED);
    tr_route_stats_t stats = s_stats (rt, second, "svc.crash");
    TR_ASSERT (stats.mode == TR_MODE_THREAD && stats.crashes == 1 && stats.moves == 0);
    TR_ASSERT (s_call_where (rt, second, "svc.crash", NULL, 0).pid == getpid ());
    TR_ASSERT_EQ_INT (tr_service_set_mode (rt, second, "svc.crash", TR_MODE_PROCESS), TR_ENOTSUP);
    tr_runtime_destroy (&rt);

    options.dedicated_threads = 0;
    rt = tr_runtime_new (&options);
    TR_ASSERT (rt);
    TR_CHECK (tr_runtime_start (rt));
    TR_ASSERT_EQ_INT (tr_service_start (rt, &spec, &first), TR_ENOTSUP);
    tr_route_t plain[] = {{.type = "svc.where"}};
    spec = (tr_service_spec_t){.behaviour = "svc.worker", .routes = plain, .route_count = 1};
    TR_CHECK (tr_service_start (rt, &spec, &first));
    TR_ASSERT_EQ_INT (tr_service_set_mode (rt, first, "svc.where", TR_MODE_DEDICATED), TR_ENOTSUP);
    tr_runtime_destroy (&rt);
}

//  A request waiting in a route's queue keeps its shared-memory segment:
//  its caller may give up (and release the segment) before it is sent.
typedef struct {
    tr_runtime_t *rt;
    tr_ref_t service;
    int rc;
} s_shm_caller_t;

static void *
s_shm_caller (void *arg)
{
    s_shm_caller_t *caller = arg;
    tr_shm_t *shm = tr_shm_new (4096);
    memcpy (tr_shm_data (shm), "held", 4);
    caller->rc =
        tr_call_shm (caller->rt, caller->service, tr_type ("svc.slowpeek"), shm, 5000, NULL, NULL);
    tr_shm_release (&shm);
    return NULL;
}

static void
test_queued_shm (tr_runtime_t *rt)
{
    tr_route_t routes[] = {{.type = "svc.slowpeek", .max_in_flight = 1, .overflow = TR_ROUTE_QUEUE},
                           {.type = "*"}};
    tr_service_spec_t spec = {.behaviour = "svc.stateful", .routes = routes, .route_count = 2};
    tr_ref_t service;
    TR_CHECK (tr_service_start (rt, &spec, &service));
    s_shm_caller_t first = {rt, service, 1};
    pthread_t thread;
    TR_ASSERT (pthread_create (&thread, NULL, s_shm_caller, &first) == 0);
    while (s_stats (rt, service, "svc.slowpeek").in_flight == 0)
        usleep (1000);
    //  Queued behind the first; given up on and released before it leaves.
    tr_shm_t *shm = tr_shm_new (4096);
    memcpy (tr_shm_data (shm), "gone", 4);
    TR_ASSERT_EQ_INT (tr_call_shm (rt, service, tr_type ("svc.slowpeek"), shm, 50, NULL, NULL),
                      TR_ETIMEDOUT);
    tr_shm_release (&shm);
    pthread_join (thread, NULL);
    TR_CHECK (first.rc);
    //  The queued one ran on its own reference (ASan would see a freed
    //  segment otherwise); the route is idle again.
    tr_route_stats_t stats;
    for (int i = 0; i < 2000; i++) {
        stats = s_stats (rt, service, "svc.slowpeek");
        if (stats.replies == 2)
            break;
        usleep (1000);
    }
    TR_ASSERT (stats.replies == 2 && stats.errors == 0 && stats.queued == 0);
    TR_CHECK (tr_runtime_kill (rt, service, 0));
}

int
main (void)
{
    TR_CHECK (tr_behaviour_register (&s_worker));  //  before the zygote
    TR_CHECK (tr_behaviour_register (&s_stateful));
    tr_runtime_t *rt = s_node ();
    test_thread_routes (rt);
    test_hash (rt);
    test_bounds (rt);
    test_deadline_and_restart (rt);
    test_modes (rt);
    test_auto (rt);
    test_bad_specs (rt);
    test_supervised (rt);
    test_state_and_shm (rt);
    test_router_end (rt);
    test_queued_shm (rt);
    tr_runtime_destroy (&rt);
    test_dedicated_scarce ();
    TR_PASS ();
    return 0;
}
