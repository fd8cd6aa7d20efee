//  tr_redis - hiredis' async API on an actor's fd watchers: the event hooks
//  (addRead ... cleanup) become tr_watch calls, and replies come back to the
//  actor as callbacks with an error code
#include "troupe_io.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

//  The hooks' data (ac->ev.data): one per attached context. Freed by the
//  cleanup hook, or after the watcher callback when cleanup ran inside it.
typedef struct {
    tr_actor_t *self;
    redisAsyncContext *ac;  //  NULL once hiredis cleaned up (it frees ac)
    int fd;
    int events;  //  what we watch now
    bool watching;
    bool dispatching;  //  inside s_on_ready: cleanup must not free this
} s_ev_t;

struct tr_redis {
    tr_actor_t *self;
    redisAsyncContext *ac;  //  NULL once gone (hiredis freed it, or closed)
    bool connect_failed;
    int pending;
    tr_redis_event_fn *on_connect, *on_disconnect;
    void *on_connect_arg, *on_disconnect_arg;
};

//  One command waiting for its answer (hiredis' privdata).
typedef struct {
    tr_actor_t *self;
    tr_redis_reply_fn *fn;
    void *arg;
} s_pending_t;

//  --------------------------------------------------------------------------
//  The event hooks

//  hiredis writes with write(2): to a server that went away that raises
//  SIGPIPE, whose default action kills the process, and a library must not
//  install handlers. So, as libpq does: block SIGPIPE on this thread for
//  the write and swallow the one it raised, if any.
static void
s_handle_write (redisAsyncContext *ac)
{
    sigset_t pipe_set, old_set, pending;
    sigemptyset (&pipe_set);
    sigaddset (&pipe_set, SIGPIPE);
    pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set);
    bool was_pending = sigpending (&pending) == 0 && sigismember (&pending, SIGPIPE);
    redisAsyncHandleWrite (ac);
    if (!was_pending && sigpending (&pending) == 0 && sigismember (&pending, SIGPIPE)) {
        struct timespec now = {0, 0};
        sigtimedwait (&pipe_set, NULL, &now);
    }
    pthread_sigmask (SIG_SETMASK, &old_set, NULL);
}

static void
s_on_ready (tr_actor_t *self, void *state, int fd, int revents, void *arg)
{
    (void) self;
    (void) state;
    (void) fd;
    s_ev_t *ev = arg;
    //  hiredis may free the context (and call cleanup) in either call.
    ev->dispatching = true;
    //  An error or hang-up: the read finds out (and handles a failed connect).
    if (ev->ac && (revents & (TR_WATCH_READ | TR_WATCH_ERROR)))
        redisAsyncHandleRead (ev->ac);
    if (ev->ac && (revents & TR_WATCH_WRITE))
        s_handle_write (ev->ac);
    ev->dispatching = false;
    if (!ev->ac)
        free (ev);
}

static void
s_set_events (s_ev_t *ev, int events)
{
    if (events == ev->events)
        return;
    int rc;
    if (!ev->watching) {
        rc = tr_watch (ev->self, ev->fd, events, s_on_ready, ev);
        ev->watching = rc == 0;
    }
    else
        rc = tr_watch_modify (ev->self, ev->fd, events);
    if (rc == 0)
        ev->events = events;
    else
        fprintf (stderr,
                 "E: tr_redis: cannot watch fd %d: %s (hiredis called outside the "
                 "actor's own code?)\n",
                 ev->fd, tr_strerror (rc));
}

static void
s_add_read (void *data)
{
    s_ev_t *ev = data;
    s_set_events (ev, ev->events | TR_WATCH_READ);
}

static void
s_del_read (void *data)
{
    s_ev_t *ev = data;
    s_set_events (ev, ev->events & ~TR_WATCH_READ);
}

static void
s_add_write (void *data)
{
    s_ev_t *ev = data;
    s_set_events (ev, ev->events | TR_WATCH_WRITE);
}

static void
s_del_write (void *data)
{
    s_ev_t *ev = data;
    s_set_events (ev, ev->events & ~TR_WATCH_WRITE);
}

//  hiredis is about to free the context.
static void
s_cleanup (void *data)
{
    s_ev_t *ev = data;
    if (ev->watching)
        tr_unwatch (ev->self, ev->fd);
    ev->watching = false;
    if (ev->ac) {
        tr_redis_t *redis = ev->ac->data;
        if (redis)
            redis->ac = NULL;
        ev->ac->ev.data = NULL;
        ev->ac = NULL;
    }
    if (!ev->dispatching)
        free (ev);
}

int
tr_redis_attach (tr_actor_t *self, struct redisAsyncContext *ac)
{
    if (!ac || !tr_in_actor (self) || ac->ev.data)
        return TR_EINVAL;
    if (ac->err || ac->c.fd < 0)
        return TR_EIO_CONNECT;
    s_ev_t *ev = calloc (1, sizeof *ev);
    if (!ev)
        abort ();
    ev->self = self;
    ev->ac = ac;
    ev->fd = ac->c.fd;
    ac->ev.data = ev;
    ac->ev.addRead = s_add_read;
    ac->ev.delRead = s_del_read;
    ac->ev.addWrite = s_add_write;
    ac->ev.delWrite = s_del_write;
    ac->ev.cleanup = s_cleanup;
    //  hiredis finishes a non-blocking connect on the first write event,
    //  but asks for one only with the first command: ask now.
    if (!(ac->c.flags & REDIS_CONNECTED)) {
        s_set_events (ev, TR_WATCH_WRITE);
        if (!ev->watching) {
            memset (&ac->ev, 0, sizeof ac->ev);
            free (ev);
            return TR_EINVAL;
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The client

static void
s_on_connect (const redisAsyncContext *ac, int status)
{
    tr_redis_t *redis = ac->data;
    if (!redis)
        return;
    //  On failure hiredis frees the context next: commands get NULL replies.
    if (status != REDIS_OK)
        redis->connect_failed = true;
    if (redis->on_connect)
        redis->on_connect (redis->self, tr_actor_state (redis->self), redis,
                           status == REDIS_OK ? 0 : TR_EIO_CONNECT, redis->on_connect_arg);
}

static void
s_on_disconnect (const redisAsyncContext *ac, int status)
{
    (void) status;
    tr_redis_t *redis = ac->data;
    if (!redis)
        return;
    redis->ac = NULL;
    if (redis->on_disconnect)
        redis->on_disconnect (redis->self, tr_actor_state (redis->self), redis, TR_EIO_CLOSED,
                              redis->on_disconnect_arg);
}

static void
s_on_reply (redisAsyncContext *ac, void *reply_p, void *privdata)
{
    s_pending_t pending = *(s_pending_t *) privdata;
    free (privdata);
    tr_redis_t *redis = ac->data;  //  NULL once closed
    redisReply *reply = reply_p;
    int rc = 0;
    if (!reply)
        rc = redis && redis->connect_failed ? TR_EIO_CONNECT : TR_EIO_CLOSED;
    else if (reply->type == REDIS_REPLY_ERROR)
        rc = TR_EIO_SERVER;
    if (redis)
        redis->pending--;
    pending.fn (pending.self, tr_actor_state (pending.self), rc, reply, pending.arg);
}

int
tr_redis_connect (tr_actor_t *self, const char *host, int port, tr_redis_t **redis_p)
{
    if (!redis_p)
        return TR_EINVAL;
    *redis_p = NULL;
    if (!host || port <= 0 || port > 65535 || !tr_in_actor (self))
        return TR_EINVAL;
    redisAsyncContext *ac = redisAsyncConnect (host, port);
    if (!ac)
        abort ();  //  out of memory
    if (ac->err) {
        redisAsyncFree (ac);
        return TR_EIO_CONNECT;
    }
    tr_redis_t *redis = calloc (1, sizeof *redis);
    if (!redis)
        abort ();
    redis->self = self;
    redis->ac = ac;
    ac->data = redis;
    redisAsyncSetConnectCallback (ac, s_on_connect);
    redisAsyncSetDisconnectCallback (ac, s_on_disconnect);
    int rc = tr_redis_attach (self, ac);
    if (rc) {
        ac->data = NULL;
        redisAsyncFree (ac);
        free (redis);
        return rc;
    }
    *redis_p = redis;
    return 0;
}

void
tr_redis_on_connect (tr_redis_t *redis, tr_redis_event_fn *fn, void *arg)
{
    if (redis) {
        redis->on_connect = fn;
        redis->on_connect_arg = arg;
    }
}

void
tr_redis_on_disconnect (tr_redis_t *redis, tr_redis_event_fn *fn, void *arg)
{
    if (redis) {
        redis->on_disconnect = fn;
        redis->on_disconnect_arg = arg;
    }
}

//  Whether a formatted command (RESP) is one whose callback hiredis calls
//  more than once: those need hiredis' own API.
static bool
s_multi_reply (const char *command, size_t length)
{
    const char *end = command + length;
    const char *at = memchr (command, '\n', length);
    if (!at || at + 1 >= end || at[1] != '$')
        return false;
    char *name;
    long name_length = strtol (at + 2, &name, 10);
    if (name_length <= 0 || name + 2 + name_length > end)
        return false;
    name += 2;  //  past \r\n
    static const char *const multi[] = {"subscribe", "psubscribe", "unsubscribe", "punsubscribe",
                                        "monitor"};
    for (size_t i = 0; i < sizeof multi / sizeof multi[0]; i++)
        if ((size_t) name_length == strlen (multi[i])
            && strncasecmp (name, multi[i], (size_t) name_length) == 0)
            return true;
    return false;
}

static int
s_send (tr_redis_t *redis, tr_redis_reply_fn *fn, void *arg, const char *command, size_t length)
{
    if (!redis->ac || (redis->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
        return redis->connect_failed ? TR_EIO_CONNECT : TR_EIO_CLOSED;
    if (s_multi_reply (command, length))
        return TR_ENOTSUP;
    s_pending_t *pending = malloc (sizeof *pending);
    if (!pending)
        abort ();
    *pending = (s_pending_t){redis->self, fn, arg};
    if (redisAsyncFormattedCommand (redis->ac, s_on_reply, pending, command, length) != REDIS_OK) {
        free (pending);
        return TR_EIO_CLOSED;
    }
    redis->pending++;
    return 0;
}

int
tr_redis_command (tr_redis_t *redis, tr_redis_reply_fn *fn, void *arg, const char *format, ...)
{
    if (!redis || !fn || !format || !tr_in_actor (redis->self))
        return TR_EINVAL;
    char *command = NULL;
    va_list args;
    va_start (args, format);
    int length = redisvFormatCommand (&command, format, args);
    va_end (args);
    if (length <= 0)
        return TR_EINVAL;
    int rc = s_send (redis, fn, arg, command, (size_t) length);
    redisFreeCommand (command);
    return rc;
}

int
tr_redis_command_argv (tr_redis_t *redis, tr_redis_reply_fn *fn, void *arg, int argc,
                       const char **argv, const size_t *argv_len)
{
    if (!redis || !fn || argc <= 0 || !argv || !tr_in_actor (redis->self))
        return TR_EINVAL;
    for (int i = 0; i < argc; i++)
        if (!argv[i])
            return TR_EINVAL;
    char *command = NULL;
    int length = redisFormatCommandArgv (&command, argc, argv, argv_len);
    if (length <= 0)
        return TR_EINVAL;
    int rc = s_send (redis, fn, arg, command, (size_t) length);
    redisFreeCommand (command);
    return rc;
}

int
tr_redis_pending (tr_redis_t *redis)
{
    return redis ? redis->pending : 0;
}

bool
tr_redis_connected (tr_redis_t *redis)
{
    return redis && redis->ac && (redis->ac->c.flags & REDIS_CONNECTED)
           && !(redis->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING));
}

void
tr_redis_close (tr_redis_t **redis_p)
{
    if (!redis_p || !*redis_p)
        return;
    tr_redis_t *redis = *redis_p;
    *redis_p = NULL;
    redisAsyncContext *ac = redis->ac;
    if (ac && !tr_in_actor (redis->self)) {
        //  The hooks would unwatch from the wrong thread: leak rather than
        //  break the loop.
        fprintf (stderr, "E: tr_redis: tr_redis_close outside the actor's own code: leaked\n");
        return;
    }
    if (ac) {
        //  Detach first: the NULL replies redisAsyncFree runs say "closed",
        //  and no event callback runs into freed memory.
        ac->data = NULL;
        ac->onConnect = NULL;
        ac->onDisconnect = NULL;
        redisAsyncFree (ac);
    }
    free (redis);
}
