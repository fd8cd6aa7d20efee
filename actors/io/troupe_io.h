//  troupe_io.h - async Redis (hiredis) and PostgreSQL (libpq) clients for
//  actors, driven by the actor's fd watchers (see troupe_loop.h)
//
//  Library troupe_io (actors/io/). Each client belongs to the actor that
//  made it: call its functions only from that actor's code (handlers,
//  init, terminate, callbacks), and close it at the latest in terminate.
//  Every callback runs on the actor's thread, as a handler does, with the
//  actor's self and state. Put the actor on an async loop thread
//  (tr_loop_placement) when it does nothing else but I/O. docs/async.md.
//
//  Errors reach callbacks as codes, never as a crash: TR_EIO_* below, or
//  TR_EINVAL for bad arguments. A call that fails never calls its callback.

#ifndef TROUPE_IO_H_INCLUDED
#define TROUPE_IO_H_INCLUDED

#include <troupe.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TR_EIO_CONNECT (-4200)  //  could not connect (refused, unreachable, bad address, auth)
#define TR_EIO_CLOSED  (-4201)  //  the connection broke or was closed before the answer
#define TR_EIO_SERVER  (-4202)  //  the server answered with an error (see the reply / result)

//  tr_strerror for these codes too.
TR_EXPORT const char *tr_io_strerror (int rc);

//  ---------------------------------------------------------------------
//  Redis, through hiredis' async API (hiredis 0.14: RESP2, no TLS)

struct redisAsyncContext;
struct redisReply;
typedef struct tr_redis tr_redis_t;

//  The answer to one command: rc 0 and reply, or rc TR_EIO_SERVER and the
//  error reply (reply->str says why), or rc TR_EIO_CONNECT / TR_EIO_CLOSED
//  and reply NULL. reply is valid during the call only (hiredis frees it).
typedef void (tr_redis_reply_fn) (tr_actor_t *self, void *state, int rc, struct redisReply *reply,
                                  void *arg);
//  The end of the connection attempt (rc 0 connected, or TR_EIO_CONNECT),
//  or of the connection (rc TR_EIO_CLOSED: it broke; never after
//  tr_redis_close).
typedef void (tr_redis_event_fn) (tr_actor_t *self, void *state, tr_redis_t *redis, int rc,
                                  void *arg);

//  Start connecting to host:port from self's code; returns at once (give a
//  numeric address: hiredis resolves a name with a blocking lookup). Commands may be sent before the connection is
//  up: they go out when it is (or fail with TR_EIO_CONNECT). Returns 0 and
//  *redis_p, TR_EINVAL, or TR_EIO_CONNECT when it fails at once.
TR_EXPORT int tr_redis_connect (tr_actor_t *self, const char *host, int port, tr_redis_t **redis_p);
//  Optional: fn runs when the connection is up or failed (on_connect), or
//  when it ends (on_disconnect).
TR_EXPORT void tr_redis_on_connect (tr_redis_t *redis, tr_redis_event_fn *fn, void *arg);
TR_EXPORT void tr_redis_on_disconnect (tr_redis_t *redis, tr_redis_event_fn *fn, void *arg);
//  Send one command (hiredis format: "SET %s %b", ...); fn gets its answer,
//  exactly once. Commands on one connection are pipelined: send many
//  without waiting, answers come in order. Returns 0, TR_EINVAL (bad
//  format, fn NULL, not from self's code), TR_ENOTSUP ((P)SUBSCRIBE,
//  MONITOR: use tr_redis_attach and hiredis' API), TR_EIO_CLOSED (the
//  connection is gone: connect again).
TR_EXPORT int tr_redis_command (tr_redis_t *redis, tr_redis_reply_fn *fn, void *arg,
                                const char *format, ...);
TR_EXPORT int tr_redis_command_argv (tr_redis_t *redis, tr_redis_reply_fn *fn, void *arg, int argc,
                                     const char **argv, const size_t *argv_len);
//  Commands sent and not answered yet.
TR_EXPORT int tr_redis_pending (tr_redis_t *redis);
//  Whether the connection is up (false while connecting and once gone).
TR_EXPORT bool tr_redis_connected (tr_redis_t *redis);
//  Close and free: every command still waiting gets TR_EIO_CLOSED, inside
//  this call (or, from one of this connection's reply callbacks, right
//  after that callback). NULL-safe; NULLs *redis_p. From self's code only.
TR_EXPORT void tr_redis_close (tr_redis_t **redis_p);

//  The raw adapter, as hiredis' adapters/*.h: drive an async context made
//  by redisAsyncConnect* with self's fd watchers; use hiredis' API on it
//  from self's code (its callbacks then run on self's thread). Detached by
//  redisAsyncFree / a disconnect. Returns 0, TR_EINVAL (not from self's
//  code, NULL, already attached) or TR_EIO_CONNECT (ac->err is set).
TR_EXPORT int tr_redis_attach (tr_actor_t *self, struct redisAsyncContext *ac);

//  ---------------------------------------------------------------------
//  PostgreSQL, through libpq's non-blocking API

struct pg_conn;
struct pg_result;
typedef struct tr_pg tr_pg_t;

//  The answer to one query: rc 0 and result (its last result when the SQL
//  held several statements), or rc TR_EIO_SERVER and the failed result
//  (PQresultErrorMessage says why), or TR_EIO_CONNECT / TR_EIO_CLOSED and
//  result NULL. result is valid during the call only (cleared after).
typedef void (tr_pg_result_fn) (tr_actor_t *self, void *state, int rc, struct pg_result *result,
                                void *arg);
//  The connection is up (rc 0) or failed (TR_EIO_CONNECT; message from
//  tr_pg_error).
typedef void (tr_pg_event_fn) (tr_actor_t *self, void *state, tr_pg_t *pg, int rc, void *arg);

//  Start connecting with a libpq conninfo string ("host=127.0.0.1 port=5432
//  dbname=x user=y"); returns at once. Queries may be sent at once: they
//  run one at a time, in order, once connected. Returns 0 and *pg_p,
//  TR_EINVAL, or TR_EIO_CONNECT when it fails at once (bad conninfo).
TR_EXPORT int tr_pg_connect (tr_actor_t *self, const char *conninfo, tr_pg_t **pg_p);
TR_EXPORT void tr_pg_on_connect (tr_pg_t *pg, tr_pg_event_fn *fn, void *arg);
//  Queue one SQL text (may hold several statements) / one parameterised
//  statement ($1 .. $n, text values, NULL for SQL NULL). fn gets its answer
//  exactly once. Returns 0, TR_EINVAL, or TR_EIO_CLOSED (the connection is
//  gone: connect again).
TR_EXPORT int tr_pg_query (tr_pg_t *pg, const char *sql, tr_pg_result_fn *fn, void *arg);
TR_EXPORT int tr_pg_query_params (tr_pg_t *pg, const char *sql, int param_count,
                                  const char *const *values, tr_pg_result_fn *fn, void *arg);
//  Queries queued or running.
TR_EXPORT int tr_pg_pending (tr_pg_t *pg);
TR_EXPORT bool tr_pg_connected (tr_pg_t *pg);
//  libpq's last error message for this connection ("" when none).
TR_EXPORT const char *tr_pg_error (tr_pg_t *pg);
//  The libpq connection, for calls that do not block (PQescapeLiteral,
//  PQserverVersion, ...). Never run a blocking libpq call on it.
TR_EXPORT struct pg_conn *tr_pg_conn (tr_pg_t *pg);
//  Close and free: queries still queued or running get TR_EIO_CLOSED,
//  inside this call (the server ends a running query when it sees the
//  connection gone). NULL-safe; NULLs *pg_p. From self's code only.
TR_EXPORT void tr_pg_close (tr_pg_t **pg_p);

#ifdef __cplusplus
}
#endif

#endif
