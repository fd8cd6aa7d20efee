//  test_redis_async - an actor on the async loop thread talks to a real
//  redis-server through hiredis' async API (troupe_io): 10,000 commands in
//  flight, errors from the server, then the server killed mid-stream: every
//  outstanding command gets an error, none hangs
#include "server_helpers.h"
#include "troupe_io.h"

#include <hiredis/hiredis.h>
#include <stdint.h>

#define S_REDIS_SERVER "/usr/bin/redis-server"
#define S_BATCH        3400  //  x 3 commands in flight at once
#define S_BLOCKED      5000  //  commands queued behind a BLPOP when the server dies

static tr_type_t s_batch, s_bad, s_blocked, s_wait, s_after, s_stop;

//  --------------------------------------------------------------------------
//  The client actor

typedef struct {
    int64_t ok, errors, mismatches, closed_errors, connect_errors, server_errors;
    int64_t outstanding, max_pending, issued;
    int64_t connect_rc;  //  what on_connect (or the connect call) said; 1: not yet
} s_stats_t;

//  The client's init argument.
typedef struct {
    int port;
    bool burst;  //  send S_BLOCKED + 1 commands at once, before connected
} s_client_arg_t;

typedef struct {
    tr_redis_t *redis;
    s_stats_t stats;
    long long last_incr;
    tr_msg_t waiter;  //  answered later, once nothing is outstanding
    bool waiting;
} s_client_t;

enum { S_SET = 0, S_GET, S_INCR, S_OTHER };

static void *
s_tag (int kind, int64_t index)
{
    return (void *) (intptr_t) (index * 4 + kind);
}

static void
s_answer_waiter (tr_actor_t *self, s_client_t *client)
{
    if (client->waiting && client->stats.outstanding == 0) {
        client->waiting = false;
        TR_CHECK (tr_reply (self, &client->waiter, &client->stats, sizeof client->stats));
    }
}

static void
s_on_reply (tr_actor_t *self, void *state, int rc, struct redisReply *reply, void *arg)
{
    s_client_t *client = state;
    int kind = (int) ((intptr_t) arg & 3);
    int64_t index = (intptr_t) arg >> 2;
    client->stats.outstanding--;
    if (rc == 0) {
        client->stats.ok++;
        char expected[32];
        switch (kind) {
            case S_SET:
                if (reply->type != REDIS_REPLY_STATUS || strcmp (reply->str, "OK") != 0)
                    client->stats.mismatches++;
                break;
            case S_GET:
                snprintf (expected, sizeof expected, "v%lld", (long long) index);
                if (reply->type != REDIS_REPLY_STRING || strcmp (reply->str, expected) != 0)
                    client->stats.mismatches++;
                break;
            case S_INCR:
                //  Pipelined answers come in order.
                if (reply->type != REDIS_REPLY_INTEGER || reply->integer != client->last_incr + 1)
                    client->stats.mismatches++;
                else
                    client->last_incr = reply->integer;
                break;
            default: break;
        }
    }
    else {
        client->stats.errors++;
        if (rc == TR_EIO_CLOSED)
            client->stats.closed_errors++;
        else if (rc == TR_EIO_CONNECT)
            client->stats.connect_errors++;
        else if (rc == TR_EIO_SERVER)
            client->stats.server_errors++;
        //  Only a server error comes with a reply.
        if ((reply != NULL) != (rc == TR_EIO_SERVER))
            client->stats.mismatches++;
    }
    s_answer_waiter (self, client);
}

static void
s_on_connect (tr_actor_t *self, void *state, tr_redis_t *redis, int rc, void *arg)
{
    (void) self;
    (void) redis;
    (void) arg;
    ((s_client_t *) state)->stats.connect_rc = rc;
}

static void s_issued (s_client_t *client, int count);
static void s_send_blocked (s_client_t *client);

static int
s_client_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    s_client_t *client = state;
    s_client_arg_t config;
    TR_ASSERT_EQ_INT (arg_size, sizeof config);
    memcpy (&config, arg, sizeof config);
    client->stats.connect_rc = 1;
    int rc = tr_redis_connect (self, "127.0.0.1", config.port, &client->redis);
    if (rc) {
        //  A refused connect may fail at once (then no command can go).
        TR_ASSERT_EQ_INT (rc, TR_EIO_CONNECT);
        TR_ASSERT (config.burst && client->redis == NULL);
        client->stats.connect_rc = rc;
        return 0;
    }
    tr_redis_on_connect (client->redis, s_on_connect, NULL);
    if (config.burst)
        s_send_blocked (client);
    return 0;
}

static void
s_client_terminate (tr_actor_t *self, void *state, int reason)
{
    (void) self;
    (void) reason;
    tr_redis_close (&((s_client_t *) state)->redis);
}

static void
s_issued (s_client_t *client, int count)
{
    client->stats.outstanding += count;
    client->stats.issued += count;
    if (tr_redis_pending (client->redis) > client->stats.max_pending)
        client->stats.max_pending = tr_redis_pending (client->redis);
}

//  SET, GET and INCR, S_BATCH times each, all pipelined; answered once
//  every reply is in.
static int
s_client_batch (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_client_t *client = state;
    for (int64_t i = 0; i < S_BATCH; i++) {
        char key[32], value[32];
        snprintf (key, sizeof key, "key:%lld", (long long) i);
        snprintf (value, sizeof value, "v%lld", (long long) i);
        TR_CHECK (tr_redis_command (client->redis, s_on_reply, s_tag (S_SET, i), "SET %s %s", key,
                                    value));
        TR_CHECK (tr_redis_command (client->redis, s_on_reply, s_tag (S_GET, i), "GET %s", key));
        const char *argv[] = {"INCR", "counter"};
        TR_CHECK (
            tr_redis_command_argv (client->redis, s_on_reply, s_tag (S_INCR, i), 2, argv, NULL));
        s_issued (client, 3);
    }
    client->waiter = *msg;
    client->waiting = true;
    return 0;
}

static void
s_on_bad_reply (tr_actor_t *self, void *state, int rc, struct redisReply *reply, void *arg)
{
    (void) arg;
    s_client_t *client = state;
    int32_t result[2] = {rc, reply && reply->type == REDIS_REPLY_ERROR && reply->str
                                 && strstr (reply->str, "not an integer") != NULL};
    TR_CHECK (tr_reply (self, &client->waiter, result, sizeof result));
}

//  A command the server refuses (INCR of a string), and bad calls.
static int
s_client_bad (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    s_client_t *client = state;
    TR_ASSERT_EQ_INT (tr_redis_command (client->redis, NULL, NULL, "PING"), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_redis_command (client->redis, s_on_reply, NULL, NULL), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_redis_command (NULL, s_on_reply, NULL, "PING"), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_redis_command (client->redis, s_on_reply, NULL, "SUBSCRIBE news"),
                      TR_ENOTSUP);
    TR_ASSERT_EQ_INT (tr_redis_command_argv (client->redis, s_on_reply, NULL, 0, NULL, NULL),
                      TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_redis_attach (self, NULL), TR_EINVAL);
    tr_redis_t *other = NULL;
    TR_ASSERT_EQ_INT (tr_redis_connect (self, "127.0.0.1", 0, &other), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_redis_connect (self, NULL, 6379, &other), TR_EINVAL);
    TR_ASSERT (tr_redis_connected (client->redis));
    TR_CHECK (tr_redis_command (client->redis, s_on_bad_reply, NULL, "INCR %s", "key:1"));
    client->waiter = *msg;
    return 0;
}

//  A BLPOP that blocks the connection, and S_BLOCKED commands behind it.
//  Answers at once: the test then kills the server.
static void
s_send_blocked (s_client_t *client)
{
    TR_CHECK (tr_redis_command (client->redis, s_on_reply, s_tag (S_OTHER, 0), "BLPOP %s %d",
                                "nothing", 20));
    s_issued (client, 1);
    for (int64_t i = 0; i < S_BLOCKED; i++) {
        TR_CHECK (tr_redis_command (client->redis, s_on_reply, s_tag (S_OTHER, i), "GET key:%lld",
                                    (long long) i));
        s_issued (client, 1);
    }
}

static int
s_client_blocked (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_client_t *client = state;
    s_send_blocked (client);
    return tr_reply (self, msg, &client->stats, sizeof client->stats);
}

//  Answer once nothing is outstanding.
static int
s_client_wait (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_client_t *client = state;
    client->waiter = *msg;
    client->waiting = true;
    s_answer_waiter (self, client);
    return 0;
}

//  After the server died: a new command fails at once.
static int
s_client_after (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_client_t *client = state;
    int32_t result[2] = {tr_redis_command (client->redis, s_on_reply, NULL, "PING"),
                         tr_redis_connected (client->redis)};
    return tr_reply (self, msg, result, sizeof result);
}

static int
s_client_stop (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_reply (self, msg, NULL, 0);
    tr_stop (self);
    return 0;
}

static const tr_handler_t s_client_handlers[] = {{"batch", s_client_batch},
                                                 {"bad", s_client_bad},
                                                 {"blocked", s_client_blocked},
                                                 {"wait", s_client_wait},
                                                 {"after", s_client_after},
                                                 {"stop", s_client_stop},
                                                 {NULL, NULL}};
static const tr_behaviour_t s_client = {.name = "redis_client",
                                        .state_size = sizeof (s_client_t),
                                        .init = s_client_init,
                                        .terminate = s_client_terminate,
                                        .handlers = s_client_handlers};

//  --------------------------------------------------------------------------
//  The server

static pid_t s_server_pid;
static char s_dir[64];

static void
s_cleanup (void)
{
    s_server_kill (s_server_pid);
    s_server_pid = 0;
    s_server_rmdir (s_dir);
}

static int
s_redis_start (void)
{
    s_server_require (S_REDIS_SERVER, "redis-server");
    s_server_tmpdir (s_dir, sizeof s_dir, "redis");
    int port = s_server_free_port ();
    char port_text[16], log_path[128];
    snprintf (port_text, sizeof port_text, "%d", port);
    snprintf (log_path, sizeof log_path, "%s/redis.log", s_dir);
    char *argv[] = {(char *) S_REDIS_SERVER,
                    (char *) "--port",
                    port_text,
                    (char *) "--bind",
                    (char *) "127.0.0.1",
                    (char *) "--save",
                    (char *) "",
                    (char *) "--appendonly",
                    (char *) "no",
                    (char *) "--dir",
                    s_dir,
                    (char *) "--logfile",
                    log_path,
                    (char *) "--daemonize",
                    (char *) "no",
                    NULL};
    s_server_pid = s_server_spawn (argv);
    s_server_wait_port (port, s_server_pid, 10000, "redis-server");
    return port;
}

static s_stats_t
s_call_stats (tr_runtime_t *rt, tr_ref_t client, tr_type_t type, int timeout_ms)
{
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, client, type, NULL, 0, timeout_ms, &reply, &size));
    TR_ASSERT_EQ_INT (size, sizeof (s_stats_t));
    s_stats_t stats;
    memcpy (&stats, reply, sizeof stats);
    tr_free (reply);
    return stats;
}

//  Connecting to a port nobody listens on: on_connect and every command
//  get TR_EIO_CONNECT; no hang.
static void
s_test_refused (tr_runtime_t *rt)
{
    s_client_arg_t config = {s_server_free_port (), true};
    tr_spawn_opts_t opts = {.thread = tr_loop_placement (rt, 0)};
    tr_ref_t client;
    TR_CHECK (tr_spawn (rt, "redis_client", &config, sizeof config, &opts, &client));
    s_stats_t stats = s_call_stats (rt, client, s_wait, 10000);
    TR_ASSERT_EQ_INT (stats.connect_rc, TR_EIO_CONNECT);
    TR_ASSERT_EQ_INT (stats.connect_errors, stats.issued);
    printf ("refused connection: %lld commands answered TR_EIO_CONNECT\n",
            (long long) stats.issued);
    TR_ASSERT_EQ_INT (stats.outstanding, 0);
    TR_ASSERT_EQ_INT (stats.ok, 0);
    TR_ASSERT_EQ_INT (stats.mismatches, 0);
    int32_t after[2];
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, client, s_after, NULL, 0, 5000, &reply, &size));
    TR_ASSERT_EQ_INT (size, sizeof after);
    memcpy (after, reply, sizeof after);
    tr_free (reply);
    TR_ASSERT_EQ_INT (after[0], TR_EIO_CONNECT);
    TR_ASSERT_EQ_INT (after[1], 0);
    TR_CHECK (tr_call (rt, client, s_stop, NULL, 0, 5000, NULL, NULL));
}

int
main (void)
{
    s_batch = tr_type ("batch");
    s_bad = tr_type ("bad");
    s_blocked = tr_type ("blocked");
    s_wait = tr_type ("wait");
    s_after = tr_type ("after");
    s_stop = tr_type ("stop");
    TR_CHECK (tr_behaviour_register (&s_client));
    atexit (s_cleanup);
    int port = s_redis_start ();

    tr_runtime_t *rt = tr_test_runtime (2);
    tr_spawn_opts_t opts = {.thread = tr_loop_placement (rt, 0)};
    TR_ASSERT (opts.thread > 0);
    tr_ref_t client;
    s_client_arg_t config = {port, false};
    TR_CHECK (tr_spawn (rt, "redis_client", &config, sizeof config, &opts, &client));

    //  10,200 commands in flight on one connection; every answer checked.
    s_stats_t stats = s_call_stats (rt, client, s_batch, 20000);
    TR_ASSERT_EQ_INT (stats.connect_rc, 0);
    TR_ASSERT_EQ_INT (stats.ok, 3 * S_BATCH);
    TR_ASSERT_EQ_INT (stats.errors, 0);
    TR_ASSERT_EQ_INT (stats.mismatches, 0);
    TR_ASSERT (stats.max_pending >= 3 * S_BATCH);
    TR_ASSERT_EQ_INT (stats.outstanding, 0);

    //  The server refuses a command: TR_EIO_SERVER with its error reply.
    int32_t bad[2];
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, client, s_bad, NULL, 0, 5000, &reply, &size));
    TR_ASSERT_EQ_INT (size, sizeof bad);
    memcpy (bad, reply, sizeof bad);
    tr_free (reply);
    TR_ASSERT_EQ_INT (bad[0], TR_EIO_SERVER);
    TR_ASSERT_EQ_INT (bad[1], 1);

    //  The server dies with 5,001 commands outstanding: each one gets
    //  TR_EIO_CLOSED, and nothing is left hanging.
    stats = s_call_stats (rt, client, s_blocked, 5000);
    TR_ASSERT_EQ_INT (stats.outstanding, S_BLOCKED + 1);
    s_sleep_ms (100);  //  let the server take the pipeline in
    s_server_kill (s_server_pid);
    s_server_pid = 0;
    stats = s_call_stats (rt, client, s_wait, 10000);
    TR_ASSERT_EQ_INT (stats.outstanding, 0);
    TR_ASSERT_EQ_INT (stats.ok, 3 * S_BATCH);
    TR_ASSERT_EQ_INT (stats.closed_errors, S_BLOCKED + 1);
    TR_ASSERT_EQ_INT (stats.server_errors, 0);
    TR_ASSERT_EQ_INT (stats.mismatches, 0);
    int32_t after[2];
    TR_CHECK (tr_call (rt, client, s_after, NULL, 0, 5000, &reply, &size));
    TR_ASSERT_EQ_INT (size, sizeof after);
    memcpy (after, reply, sizeof after);
    tr_free (reply);
    TR_ASSERT_EQ_INT (after[0], TR_EIO_CLOSED);
    TR_ASSERT_EQ_INT (after[1], 0);

    s_test_refused (rt);
    tr_runtime_destroy (&rt);
    s_cleanup ();
    TR_PASS ();
    return 0;
}
