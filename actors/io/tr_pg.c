//  tr_pg - libpq's non-blocking API on an actor's fd watchers: connect with
//  PQconnectStart / PQconnectPoll, then one query at a time per connection
//  (PQsendQuery, PQflush, PQconsumeInput, PQisBusy, PQgetResult), queued
#include "troupe_io.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_query {
    struct s_query *next;
    tr_pg_result_fn *fn;
    void *arg;
    char *sql;
    int param_count;  //  -1: plain PQsendQuery
    char **values;
} s_query_t;

typedef enum { S_CONNECTING = 0, S_READY, S_GONE } s_state_t;

struct tr_pg {
    tr_actor_t *self;
    PGconn *conn;  //  NULL once closed
    s_state_t state;
    bool connect_failed;
    int fd;                  //  watched fd, or -1
    int events;              //  what we watch on it
    s_query_t *head, *tail;  //  queued, not sent
    s_query_t *running;      //  sent, results being collected
    PGresult *result;        //  the running query's result so far
    bool result_failed;      //  ... an error result
    int pending;
    tr_pg_event_fn *on_connect;
    void *on_connect_arg;
    //  User callbacks may close the connection: inside one of our calls the
    //  struct is freed only when the outermost call returns.
    int depth;
    bool free_later;
};

static void *
s_alloc (size_t size)
{
    void *ptr = calloc (1, size);
    if (!ptr)
        abort ();  //  out of memory
    return ptr;
}

static char *
s_strdup (const char *text)
{
    size_t size = strlen (text) + 1;
    return memcpy (s_alloc (size), text, size);
}

static void
s_query_free (s_query_t *query)
{
    for (int i = 0; i < query->param_count; i++)
        free (query->values[i]);
    free (query->values);
    free (query->sql);
    free (query);
}

static void
s_answer (tr_pg_t *pg, s_query_t *query, int rc, PGresult *result)
{
    pg->pending--;
    query->fn (pg->self, tr_actor_state (pg->self), rc, result, query->arg);
    s_query_free (query);
}

//  --------------------------------------------------------------------------
//  Watching the socket (it may change while connecting)

static void s_on_ready (tr_actor_t *self, void *state, int fd, int revents, void *arg);

static void
s_watch (tr_pg_t *pg, int events)
{
    int fd = pg->conn && pg->state != S_GONE ? PQsocket (pg->conn) : -1;
    if (fd != pg->fd) {
        if (pg->fd >= 0)
            tr_unwatch (pg->self, pg->fd);
        pg->fd = -1;
        pg->events = 0;
        if (fd < 0 || events == 0)
            return;
        int rc = tr_watch (pg->self, fd, events, s_on_ready, pg);
        if (rc != 0) {
            fprintf (stderr, "E: tr_pg: cannot watch fd %d: %s\n", fd, tr_strerror (rc));
            return;
        }
        pg->fd = fd;
        pg->events = events;
    }
    else if (fd >= 0 && events != pg->events) {
        tr_watch_modify (pg->self, fd, events);
        pg->events = events;
    }
}

//  --------------------------------------------------------------------------
//  Failing

//  Answer the running query and every queued one with rc.
static void
s_fail_all (tr_pg_t *pg, int rc)
{
    if (pg->result) {
        PQclear (pg->result);
        pg->result = NULL;
    }
    s_query_t *running = pg->running;
    pg->running = NULL;
    if (running)
        s_answer (pg, running, rc, NULL);
    while (pg->head) {
        s_query_t *query = pg->head;
        pg->head = query->next;
        if (!pg->head)
            pg->tail = NULL;
        s_answer (pg, query, rc, NULL);
    }
}

//  The connection is gone (the server died, a protocol error).
static void
s_gone (tr_pg_t *pg, int rc)
{
    pg->state = S_GONE;
    s_watch (pg, 0);
    s_fail_all (pg, rc);
}

//  --------------------------------------------------------------------------
//  Running queries

static void s_collect (tr_pg_t *pg);

//  Send what the socket takes; watch for write room while some is left.
static void
s_flush (tr_pg_t *pg)
{
    int rc = PQflush (pg->conn);
    if (rc < 0)
        s_gone (pg, TR_EIO_CLOSED);
    else
        s_watch (pg, TR_WATCH_READ | (rc == 1 ? TR_WATCH_WRITE : 0));
}

//  Send the next queued query when none runs.
static void
s_start_next (tr_pg_t *pg)
{
    while (pg->conn && pg->state == S_READY && !pg->running && pg->head) {
        s_query_t *query = pg->head;
        pg->head = query->next;
        if (!pg->head)
            pg->tail = NULL;
        int sent = query->param_count < 0
                       ? PQsendQuery (pg->conn, query->sql)
                       : PQsendQueryParams (pg->conn, query->sql, query->param_count, NULL,
                                            (const char *const *) query->values, NULL, NULL, 0);
        if (!sent) {
            bool broken = PQstatus (pg->conn) == CONNECTION_BAD;
            s_answer (pg, query, broken ? TR_EIO_CLOSED : TR_EIO_SERVER, NULL);
            if (broken && pg->conn)
                s_gone (pg, TR_EIO_CLOSED);
            continue;
        }
        pg->running = query;
        pg->result_failed = false;
        s_flush (pg);
    }
}

//  Take the results libpq has complete, without blocking.
static void
s_collect (tr_pg_t *pg)
{
    while (pg->conn && pg->running && !PQisBusy (pg->conn)) {
        PGresult *result = PQgetResult (pg->conn);
        if (!result) {
            //  The query is done: answer with its last result, or its error.
            //  An error that came with the end of the connection (the
            //  backend was terminated) is the connection breaking: whether
            //  libpq read the error before the EOF is only timing.
            s_query_t *query = pg->running;
            PGresult *answer = pg->result;
            int rc = pg->result_failed ? TR_EIO_SERVER : 0;
            bool broken = PQstatus (pg->conn) == CONNECTION_BAD;
            if (broken) {
                if (answer)
                    PQclear (answer);
                answer = NULL;
                rc = TR_EIO_CLOSED;
            }
            pg->running = NULL;
            pg->result = NULL;
            s_answer (pg, query, rc, answer);
            if (answer)
                PQclear (answer);
            if (broken) {
                if (pg->conn && pg->state != S_GONE)
                    s_gone (pg, TR_EIO_CLOSED);
                return;
            }
            s_start_next (pg);
            continue;
        }
        ExecStatusType status = PQresultStatus (result);
        if (status == PGRES_COPY_IN) {
            PQputCopyEnd (pg->conn, "COPY FROM STDIN is not supported by tr_pg");
            PQclear (result);
            s_flush (pg);
            continue;
        }
        if (status == PGRES_COPY_OUT) {
            //  Not supported: read the rows and drop them.
            char *row;
            int size;
            while ((size = PQgetCopyData (pg->conn, &row, 1)) > 0)
                PQfreemem (row);
            PQclear (result);
            if (size == 0)
                return;  //  more to come
            continue;
        }
        bool failed = status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE;
        //  Keep the first error, else the last result.
        if (pg->result_failed)
            PQclear (result);
        else {
            if (pg->result)
                PQclear (pg->result);
            pg->result = result;
            pg->result_failed = failed;
        }
    }
}

static void
s_connect_step (tr_pg_t *pg)
{
    switch (PQconnectPoll (pg->conn)) {
        case PGRES_POLLING_READING: s_watch (pg, TR_WATCH_READ); break;
        case PGRES_POLLING_WRITING: s_watch (pg, TR_WATCH_WRITE); break;
        case PGRES_POLLING_OK:
            PQsetnonblocking (pg->conn, 1);
            pg->state = S_READY;
            //  Idle, we still read: a server that goes away is seen at once.
            s_watch (pg, TR_WATCH_READ);
            if (pg->on_connect)
                pg->on_connect (pg->self, tr_actor_state (pg->self), pg, 0, pg->on_connect_arg);
            s_start_next (pg);
            break;
        default:
            pg->connect_failed = true;
            pg->state = S_GONE;
            s_watch (pg, 0);
            if (pg->on_connect)
                pg->on_connect (pg->self, tr_actor_state (pg->self), pg, TR_EIO_CONNECT,
                                pg->on_connect_arg);
            if (pg->conn)
                s_fail_all (pg, TR_EIO_CONNECT);
            break;
    }
}

static void
s_enter (tr_pg_t *pg)
{
    pg->depth++;
}

static void
s_leave (tr_pg_t *pg)
{
    if (--pg->depth == 0 && pg->free_later)
        free (pg);
}

static void
s_on_ready (tr_actor_t *self, void *state, int fd, int revents, void *arg)
{
    (void) self;
    (void) state;
    (void) fd;
    tr_pg_t *pg = arg;
    s_enter (pg);
    if (pg->state == S_CONNECTING)
        s_connect_step (pg);
    else if (pg->state == S_READY) {
        if (revents & TR_WATCH_WRITE)
            s_flush (pg);
        if (pg->conn && pg->state == S_READY && (revents & (TR_WATCH_READ | TR_WATCH_ERROR))) {
            if (!PQconsumeInput (pg->conn))
                s_gone (pg, TR_EIO_CLOSED);  //  the server went away
            else {
                PGnotify *notify;
                while ((notify = PQnotifies (pg->conn)))
                    PQfreemem (notify);
                s_collect (pg);
                if (pg->conn && pg->state == S_READY && PQstatus (pg->conn) == CONNECTION_BAD)
                    s_gone (pg, TR_EIO_CLOSED);
            }
        }
    }
    s_leave (pg);
}

//  --------------------------------------------------------------------------
//  API

int
tr_pg_connect (tr_actor_t *self, const char *conninfo, tr_pg_t **pg_p)
{
    if (!pg_p)
        return TR_EINVAL;
    *pg_p = NULL;
    if (!conninfo || !tr_in_actor (self))
        return TR_EINVAL;
    PGconn *conn = PQconnectStart (conninfo);
    if (!conn)
        abort ();  //  out of memory
    if (PQstatus (conn) == CONNECTION_BAD) {
        PQfinish (conn);
        return TR_EIO_CONNECT;
    }
    tr_pg_t *pg = s_alloc (sizeof *pg);
    pg->self = self;
    pg->conn = conn;
    pg->fd = -1;
    //  Before the first PQconnectPoll, wait as if it had said "writing".
    s_watch (pg, TR_WATCH_WRITE);
    if (pg->fd < 0) {
        PQfinish (conn);
        free (pg);
        return TR_EIO_CONNECT;
    }
    *pg_p = pg;
    return 0;
}

void
tr_pg_on_connect (tr_pg_t *pg, tr_pg_event_fn *fn, void *arg)
{
    if (pg) {
        pg->on_connect = fn;
        pg->on_connect_arg = arg;
    }
}

static int
s_queue (tr_pg_t *pg, const char *sql, int param_count, const char *const *values,
         tr_pg_result_fn *fn, void *arg)
{
    if (!pg || !sql || !fn || param_count < -1 || (param_count > 0 && !values)
        || !tr_in_actor (pg->self))
        return TR_EINVAL;
    if (!pg->conn || pg->state == S_GONE)
        return pg->connect_failed ? TR_EIO_CONNECT : TR_EIO_CLOSED;
    s_query_t *query = s_alloc (sizeof *query);
    query->fn = fn;
    query->arg = arg;
    query->sql = s_strdup (sql);
    query->param_count = param_count;
    if (param_count > 0) {
        query->values = s_alloc ((size_t) param_count * sizeof (char *));
        for (int i = 0; i < param_count; i++)
            query->values[i] = values[i] ? s_strdup (values[i]) : NULL;
    }
    if (pg->tail)
        pg->tail->next = query;
    else
        pg->head = query;
    pg->tail = query;
    pg->pending++;
    s_enter (pg);
    s_start_next (pg);
    s_leave (pg);
    return 0;
}

int
tr_pg_query (tr_pg_t *pg, const char *sql, tr_pg_result_fn *fn, void *arg)
{
    return s_queue (pg, sql, -1, NULL, fn, arg);
}

int
tr_pg_query_params (tr_pg_t *pg, const char *sql, int param_count, const char *const *values,
                    tr_pg_result_fn *fn, void *arg)
{
    if (param_count < 0)
        return TR_EINVAL;
    return s_queue (pg, sql, param_count, values, fn, arg);
}

int
tr_pg_pending (tr_pg_t *pg)
{
    return pg ? pg->pending : 0;
}

bool
tr_pg_connected (tr_pg_t *pg)
{
    return pg && pg->conn && pg->state == S_READY && PQstatus (pg->conn) == CONNECTION_OK;
}

const char *
tr_pg_error (tr_pg_t *pg)
{
    return pg && pg->conn ? PQerrorMessage (pg->conn) : "";
}

struct pg_conn *
tr_pg_conn (tr_pg_t *pg)
{
    return pg ? pg->conn : NULL;
}

void
tr_pg_close (tr_pg_t **pg_p)
{
    if (!pg_p || !*pg_p)
        return;
    tr_pg_t *pg = *pg_p;
    *pg_p = NULL;
    if (pg->free_later)
        return;  //  being closed already (called again from a callback)
    if (!tr_in_actor (pg->self)) {
        fprintf (stderr, "E: tr_pg: tr_pg_close outside the actor's own code: leaked\n");
        return;
    }
    s_enter (pg);
    pg->state = S_GONE;  //  callbacks below cannot queue more
    s_watch (pg, 0);
    s_fail_all (pg, TR_EIO_CLOSED);
    PQfinish (pg->conn);
    pg->conn = NULL;
    pg->free_later = true;
    s_leave (pg);
}
