//  test_pg_async - an actor on the async loop thread runs queries on a real
//  PostgreSQL 15 through libpq's non-blocking API (troupe_io): several in
//  flight over three connections, one blocked on the server while others
//  complete, bad SQL, a backend killed mid-query, a refused connection
//
//  The server: initdb and pg_ctl from /usr/lib/postgresql/15/bin, in a
//  private temp dir, on a free loopback port. PostgreSQL refuses to run as
//  root: as root they run as the user postgres (runuser), which owns the
//  dir. Stopped at exit, even when a check fails.
#include "server_helpers.h"
#include "troupe_io.h"

#include <libpq-fe.h>
#include <stdint.h>

#define S_PG_BIN  "/usr/lib/postgresql/15/bin"
#define S_RUNUSER "/usr/sbin/runuser"
#define S_CONNS   3
#define S_QUERIES 60  //  spread over the connections, all queued at once

static tr_type_t s_mixed, s_order, s_bad, s_kill_backend, s_refused, s_stop;

//  --------------------------------------------------------------------------
//  The client actor: S_CONNS connections

typedef struct {
    int port;
    int conns;  //  0: only the refused test
} s_client_arg_t;

typedef struct {
    int64_t ok, errors, mismatches, closed_errors, connect_errors, server_errors;
    int64_t max_pending, connected;
    char order[8];  //  completion order in the "order" test
    char message[96];
} s_stats_t;

typedef struct {
    tr_pg_t *pg[S_CONNS];
    int conns;
    s_stats_t stats;
    int64_t outstanding;
    tr_msg_t waiter;  //  answered when outstanding reaches 0
    bool waiting;
    int order_at;
} s_client_t;

static void *
s_tag (int kind, int64_t index)
{
    return (void *) (intptr_t) (index * 8 + kind);
}

enum { S_DOUBLE = 0, S_ORDER_LOCK, S_ORDER_BLOCKED, S_ORDER_OTHER, S_ORDER_UNLOCK, S_PLAIN };

static void
s_done (tr_actor_t *self, s_client_t *client)
{
    if (--client->outstanding == 0 && client->waiting) {
        client->waiting = false;
        TR_CHECK (tr_reply (self, &client->waiter, &client->stats, sizeof client->stats));
    }
}

static void
s_wait_for (s_client_t *client, const tr_msg_t *msg, int64_t count)
{
    client->outstanding += count;
    client->waiter = *msg;
    client->waiting = true;
}

static void
s_count_error (s_client_t *client, int rc, PGresult *result)
{
    client->stats.errors++;
    if (rc == TR_EIO_CLOSED)
        client->stats.closed_errors++;
    else if (rc == TR_EIO_CONNECT)
        client->stats.connect_errors++;
    else if (rc == TR_EIO_SERVER) {
        client->stats.server_errors++;
        snprintf (client->stats.message, sizeof client->stats.message, "%s",
                  result ? PQresultErrorMessage (result) : "(no result)");
    }
    //  Only a server error comes with a result.
    if ((result != NULL) != (rc == TR_EIO_SERVER))
        client->stats.mismatches++;
}

static void s_on_result (tr_actor_t *self, void *state, int rc, PGresult *result, void *arg);

static void
s_on_connect (tr_actor_t *self, void *state, tr_pg_t *pg, int rc, void *arg)
{
    (void) self;
    (void) pg;
    (void) arg;
    if (rc == 0)
        ((s_client_t *) state)->stats.connected++;
}

static int
s_client_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    s_client_t *client = state;
    s_client_arg_t config;
    TR_ASSERT_EQ_INT (arg_size, sizeof config);
    memcpy (&config, arg, sizeof config);
    TR_ASSERT (config.conns <= S_CONNS);
    char conninfo[256];
    snprintf (conninfo, sizeof conninfo,
              "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=10",
              config.port);
    client->conns = config.conns;
    for (int i = 0; i < config.conns; i++) {
        TR_CHECK (tr_pg_connect (self, conninfo, &client->pg[i]));
        tr_pg_on_connect (client->pg[i], s_on_connect, NULL);
    }
    return 0;
}

static void
s_client_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    (void) reason;
    s_client_t *client = state;
    for (int i = 0; i < client->conns; i++)
        tr_pg_close (&client->pg[i]);
}

static void
s_on_result (tr_actor_t *self, void *state, int rc, PGresult *result, void *arg)
{
    s_client_t *client = state;
    int kind = (int) ((intptr_t) arg & 7);
    int64_t index = (intptr_t) arg >> 3;
    if (rc != 0)
        s_count_error (client, rc, result);
    else {
        client->stats.ok++;
        if (kind == S_DOUBLE) {
            //  SELECT $1::int * 2
            if (PQresultStatus (result) != PGRES_TUPLES_OK || PQntuples (result) != 1
                || atoll (PQgetvalue (result, 0, 0)) != 2 * index)
                client->stats.mismatches++;
        }
        else if (kind >= S_ORDER_LOCK && kind <= S_ORDER_UNLOCK) {
            static const char letters[] = "LBOU";
            client->stats.order[client->order_at++] = letters[kind - S_ORDER_LOCK];
            if (kind == S_ORDER_LOCK) {
                //  Holding the lock: the next query on connection 1 blocks
                //  on the server, while connection 2 goes on.
                TR_CHECK (tr_pg_query (client->pg[1], "SELECT pg_advisory_lock(7)", s_on_result,
                                       s_tag (S_ORDER_BLOCKED, 0)));
                TR_CHECK (tr_pg_query (client->pg[2], "SELECT pg_sleep(0.1), 'other'", s_on_result,
                                       s_tag (S_ORDER_OTHER, 0)));
                client->outstanding += 2;
            }
            else if (kind == S_ORDER_OTHER) {
                TR_CHECK (tr_pg_query (client->pg[0], "SELECT pg_advisory_unlock(7)", s_on_result,
                                       s_tag (S_ORDER_UNLOCK, 0)));
                client->outstanding++;
            }
        }
        else if (kind == S_PLAIN && PQresultStatus (result) == PGRES_TUPLES_OK
                 && PQntuples (result) == 1) {
            snprintf (client->stats.message, sizeof client->stats.message, "%s",
                      PQgetvalue (result, 0, 0));
        }
    }
    s_done (self, client);
}

//  S_QUERIES parameterised queries, queued at once, round-robin over the
//  connections; answered when all are in.
static int
s_client_mixed (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_client_t *client = state;
    s_wait_for (client, msg, S_QUERIES);
    for (int64_t i = 0; i < S_QUERIES; i++) {
        char value[32];
        snprintf (value, sizeof value, "%lld", (long long) i);
        const char *values[] = {value};
        TR_CHECK (tr_pg_query_params (client->pg[i % S_CONNS], "SELECT $1::int * 2", 1, values,
                                      s_on_result, s_tag (S_DOUBLE, i)));
    }
    int64_t pending = 0;
    for (int c = 0; c < S_CONNS; c++)
        pending += tr_pg_pending (client->pg[c]);
    client->stats.max_pending = pending;
    return 0;
}

//  Completion order: L (lock on 0), then O (connection 2) while B
//  (connection 1) waits for the lock on the server, then U (unlock on 0),
//  then B.
static int
s_client_order (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_client_t *client = state;
    memset (client->stats.order, 0, sizeof client->stats.order);
    client->order_at = 0;
    s_wait_for (client, msg, 1);
    TR_CHECK (tr_pg_query (client->pg[0], "SELECT pg_advisory_lock(7)", s_on_result,
                           s_tag (S_ORDER_LOCK, 0)));
    return 0;
}

//  Bad SQL, an error in the middle of several statements, then a good
//  query on the same connection; bad arguments.
static int
s_client_bad (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_client_t *client = state;
    TR_ASSERT_EQ_INT (tr_pg_query (NULL, "SELECT 1", s_on_result, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_pg_query (client->pg[0], NULL, s_on_result, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_pg_query (client->pg[0], "SELECT 1", NULL, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_pg_query_params (client->pg[0], "SELECT $1", -1, NULL, s_on_result, NULL),
                      TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_pg_query_params (client->pg[0], "SELECT $1", 1, NULL, s_on_result, NULL),
                      TR_EINVAL);
    tr_pg_t *other;
    TR_ASSERT_EQ_INT (tr_pg_connect (self, NULL, &other), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_pg_connect (self, "this is not = a 'conninfo", &other), TR_EIO_CONNECT);
    TR_ASSERT (other == NULL);
    TR_ASSERT (tr_pg_connected (client->pg[0]));
    s_wait_for (client, msg, 2);
    TR_CHECK (tr_pg_query (client->pg[0], "SELEC 1", s_on_result, s_tag (S_PLAIN, 0)));
    TR_CHECK (tr_pg_query (client->pg[0], "SELECT 42::text", s_on_result, s_tag (S_PLAIN, 0)));
    return 0;
}

//  The server ends connection 1's backend while it runs a long query with
//  one more queued behind it: both get TR_EIO_CLOSED.
static int
s_client_kill_backend (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_client_t *client = state;
    s_wait_for (client, msg, 3);
    TR_CHECK (tr_pg_query (client->pg[1], "SELECT pg_sleep(20)", s_on_result, s_tag (S_PLAIN, 0)));
    TR_CHECK (tr_pg_query (client->pg[1], "SELECT 1", s_on_result, s_tag (S_PLAIN, 0)));
    char sql[128];
    snprintf (sql, sizeof sql, "SELECT pg_sleep(0.2), pg_terminate_backend(%d)::text",
              PQbackendPID (tr_pg_conn (client->pg[1])));
    TR_CHECK (tr_pg_query (client->pg[2], sql, s_on_result, s_tag (S_PLAIN, 0)));
    return 0;
}

//  After the kill: connection 1 refuses new queries; the others still work.
static int
s_client_after (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_client_t *client = state;
    int32_t result[3] = {tr_pg_query (client->pg[1], "SELECT 1", s_on_result, NULL),
                         tr_pg_connected (client->pg[1]), tr_pg_connected (client->pg[0])};
    return tr_reply (self, msg, result, sizeof result);
}

//  A connection to a port nobody listens on, with queries queued on it.
static int
s_client_refused (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_client_t *client = state;
    int port;
    memcpy (&port, msg->data, sizeof port);
    char conninfo[128];
    snprintf (conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=postgres connect_timeout=5",
              port);
    TR_CHECK (tr_pg_connect (self, conninfo, &client->pg[0]));
    client->conns = 1;
    s_wait_for (client, msg, 2);
    TR_CHECK (tr_pg_query (client->pg[0], "SELECT 1", s_on_result, s_tag (S_PLAIN, 0)));
    TR_CHECK (tr_pg_query (client->pg[0], "SELECT 2", s_on_result, s_tag (S_PLAIN, 0)));
    return 0;
}

static int
s_client_stop (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_reply (self, msg, NULL, 0);
    tr_stop (self);
    return 0;
}

static const tr_handler_t s_client_handlers[] = {
    {"mixed", s_client_mixed}, {"order", s_client_order},
    {"bad", s_client_bad},     {"kill_backend", s_client_kill_backend},
    {"after", s_client_after}, {"refused", s_client_refused},
    {"stop", s_client_stop},   {NULL, NULL}};
static const tr_behaviour_t s_client = {.name = "pg_client",
                                        .state_size = sizeof (s_client_t),
                                        .init = s_client_init,
                                        .terminate = s_client_terminate,
                                        .handlers = s_client_handlers};

//  --------------------------------------------------------------------------
//  The server

static char s_dir[64], s_data[96];
static bool s_started;

//  argv with "runuser -u postgres --" in front when we are root.
static void
s_pg_argv (char **out, size_t max, char *const *argv)
{
    size_t at = 0;
    if (geteuid () == 0) {
        out[at++] = (char *) S_RUNUSER;
        out[at++] = (char *) "-u";
        out[at++] = (char *) "postgres";
        out[at++] = (char *) "--";
    }
    for (size_t i = 0; argv[i]; i++) {
        TR_ASSERT (at + 1 < max);
        out[at++] = argv[i];
    }
    out[at] = NULL;
}

static void
s_pg_stop (void)
{
    if (s_started) {
        s_started = false;
        char *argv[] = {(char *) S_PG_BIN "/pg_ctl", (char *) "-D", s_data,          (char *) "-m",
                        (char *) "immediate",        (char *) "-w", (char *) "stop", NULL};
        char *full[16];
        s_pg_argv (full, 16, argv);
        if (s_server_run (full) != 0)
            fprintf (stderr, "test_pg_async: pg_ctl stop failed\n");
    }
    s_server_rmdir (s_dir);
    s_dir[0] = '\0';
}

static int
s_pg_start (void)
{
    s_server_require (S_PG_BIN "/initdb", "postgresql-15");
    s_server_require (S_PG_BIN "/pg_ctl", "postgresql-15");
    s_server_tmpdir (s_dir, sizeof s_dir, "pg");
    snprintf (s_data, sizeof s_data, "%s/data", s_dir);
    if (geteuid () == 0) {
        //  initdb and postgres refuse root: the dir belongs to postgres.
        s_server_require (S_RUNUSER, "util-linux");
        struct passwd *user = getpwnam ("postgres");
        if (!user) {
            fprintf (stderr, "FAIL: no user postgres (the postgresql package makes it)\n");
            exit (1);
        }
        TR_ASSERT (chown (s_dir, user->pw_uid, user->pw_gid) == 0);
    }
    TR_ASSERT (chmod (s_dir, 0700) == 0);
    char *initdb[] = {(char *) S_PG_BIN "/initdb",
                      (char *) "-D",
                      s_data,
                      (char *) "-A",
                      (char *) "trust",
                      (char *) "-U",
                      (char *) "postgres",
                      (char *) "--no-sync",
                      (char *) "-E",
                      (char *) "UTF8",
                      (char *) "--locale=C",
                      NULL};
    char *full[20];
    s_pg_argv (full, 20, initdb);
    if (s_server_run (full) != 0) {
        fprintf (stderr, "FAIL: initdb failed in %s\n", s_data);
        exit (1);
    }
    int port = s_server_free_port ();
    char options[256], log_path[128];
    snprintf (options, sizeof options,
              "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
              port, s_dir);
    snprintf (log_path, sizeof log_path, "%s/server.log", s_dir);
    char *pg_ctl[] = {(char *) S_PG_BIN "/pg_ctl",
                      (char *) "-D",
                      s_data,
                      (char *) "-o",
                      options,
                      (char *) "-l",
                      log_path,
                      (char *) "-w",
                      (char *) "-t",
                      (char *) "30",
                      (char *) "start",
                      NULL};
    s_pg_argv (full, 20, pg_ctl);
    s_started = true;  //  stop it even if start half worked
    if (s_server_run (full) != 0) {
        fprintf (stderr, "FAIL: pg_ctl start failed (log: %s)\n", log_path);
        exit (1);
    }
    s_server_wait_port (port, 0, 10000, "postgres");
    return port;
}

static s_stats_t
s_call_stats (tr_runtime_t *rt, tr_ref_t client, tr_type_t type, const void *data, size_t size)
{
    void *reply = NULL;
    size_t reply_size = 0;
    TR_CHECK (tr_call (rt, client, type, data, size, 20000, &reply, &reply_size));
    TR_ASSERT_EQ_INT (reply_size, sizeof (s_stats_t));
    s_stats_t stats;
    memcpy (&stats, reply, sizeof stats);
    tr_free (reply);
    return stats;
}

int
main (void)
{
    s_mixed = tr_type ("mixed");
    s_order = tr_type ("order");
    s_bad = tr_type ("bad");
    s_kill_backend = tr_type ("kill_backend");
    s_refused = tr_type ("refused");
    s_stop = tr_type ("stop");
    TR_CHECK (tr_behaviour_register (&s_client));
    atexit (s_pg_stop);
    int port = s_pg_start ();

    tr_runtime_t *rt = tr_test_runtime (2);
    tr_spawn_opts_t opts = {.thread = tr_loop_placement (rt, 0)};
    s_client_arg_t config = {port, S_CONNS};
    tr_ref_t client;
    TR_CHECK (tr_spawn (rt, "pg_client", &config, sizeof config, &opts, &client));

    //  Many queries in flight over three connections, each answer checked.
    s_stats_t stats = s_call_stats (rt, client, s_mixed, NULL, 0);
    TR_ASSERT_EQ_INT (stats.connected, S_CONNS);
    TR_ASSERT_EQ_INT (stats.ok, S_QUERIES);
    TR_ASSERT_EQ_INT (stats.errors, 0);
    TR_ASSERT_EQ_INT (stats.mismatches, 0);
    TR_ASSERT_EQ_INT (stats.max_pending, S_QUERIES);

    //  A query blocked on the server does not hold up the others.
    stats = s_call_stats (rt, client, s_order, NULL, 0);
    TR_ASSERT (strcmp (stats.order, "LOUB") == 0);
    TR_ASSERT_EQ_INT (stats.errors, 0);

    //  Bad SQL: TR_EIO_SERVER with the server's message; the connection
    //  still works after it.
    stats = s_call_stats (rt, client, s_bad, NULL, 0);
    TR_ASSERT_EQ_INT (stats.server_errors, 1);
    TR_ASSERT_EQ_INT (stats.mismatches, 0);
    TR_ASSERT (strcmp (stats.message, "42") == 0);  //  the good query after it
    int64_t ok_before = stats.ok;

    //  The backend dies mid-query: that query and the one queued behind it
    //  get TR_EIO_CLOSED; the connection refuses new ones; the others work.
    stats = s_call_stats (rt, client, s_kill_backend, NULL, 0);
    TR_ASSERT_EQ_INT (stats.closed_errors, 2);
    TR_ASSERT_EQ_INT (stats.ok, ok_before + 1);  //  the terminating query
    TR_ASSERT_EQ_INT (stats.mismatches, 0);
    int32_t after[3];
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, client, tr_type ("after"), NULL, 0, 5000, &reply, &size));
    TR_ASSERT_EQ_INT (size, sizeof after);
    memcpy (after, reply, sizeof after);
    tr_free (reply);
    TR_ASSERT_EQ_INT (after[0], TR_EIO_CLOSED);
    TR_ASSERT_EQ_INT (after[1], 0);
    TR_ASSERT_EQ_INT (after[2], 1);
    TR_CHECK (tr_call (rt, client, s_stop, NULL, 0, 5000, NULL, NULL));

    //  Nobody listening: the queued queries get TR_EIO_CONNECT.
    s_client_arg_t none = {port, 0};
    tr_ref_t lonely;
    TR_CHECK (tr_spawn (rt, "pg_client", &none, sizeof none, &opts, &lonely));
    int free_port = s_server_free_port ();
    stats = s_call_stats (rt, lonely, s_refused, &free_port, sizeof free_port);
    TR_ASSERT_EQ_INT (stats.connect_errors, 2);
    TR_ASSERT_EQ_INT (stats.mismatches, 0);

    tr_runtime_destroy (&rt);
    s_pg_stop ();
    TR_PASS ();
    return 0;
}
