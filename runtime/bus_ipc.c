//  bus_ipc - the event bus's endpoints for other processes: an XPUB socket
//  that sends every event as [topic][offset][data], and an optional PULL
//  socket, served by its own thread, through which they publish
#include "bus_ipc.h"
#include "clock.h"
#include "log.h"
#include "runtime.h"
#include "sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

struct tr__bus_ipc {
    tr_runtime_t *rt;
    tr_ref_t bus;
    //  The bus's thread only.
    void *xpub;
    char out_path[128], in_path[128];
    char endpoint[160], in_endpoint[160];
    uint64_t sent, dropped;
    int64_t subscriptions;  //  distinct prefixes held by peers (XPUB reports each once)
    //  The PULL socket belongs to the inbound thread once it runs.
    void *pull;
    pthread_t thread;
    bool thread_started;
    _Atomic bool stop;
    _Atomic uint64_t received, rejected;
};

int
tr__bus_ipc_paths (const char *dir, const char *name, char *out_path, char *in_path, size_t size)
{
    //  A name is 1..63 bytes of anything; a file name is kept to a safe set.
    char safe[64];
    size_t length = strlen (name);
    if (length >= sizeof safe)
        return TR_EINVAL;
    for (size_t i = 0; i <= length; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '.' || c == '_' || c == '-' || c == 0;
        safe[i] = ok ? c : '_';
    }
    //  sun_path holds 107 bytes and a NUL.
    int out = snprintf (out_path, size, "%s/bus.%s", dir, safe);
    int in = snprintf (in_path, size, "%s/bus-in.%s", dir, safe);
    if (out < 0 || in < 0 || (size_t) in >= size || in > 107)
        return TR_EINVAL;
    return 0;
}

static void
s_options (void *socket, int hwm)
{
    int linger = 0;
    zmq_setsockopt (socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
}

//  Bind socket at path unless something is there already (an ipc bind
//  would silently take it over). 0, TR_EEXIST or TR_ESTOPPED.
static int
s_bind (void *socket, const char *path, char *endpoint, size_t size)
{
    struct stat info;
    if (lstat (path, &info) == 0) {
        tr__error ("bus", "%s exists: not taking it over", path);
        return TR_EEXIST;
    }
    snprintf (endpoint, size, "ipc://%s", path);
    if (zmq_bind (socket, endpoint) != 0) {
        tr__error ("bus", "bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        endpoint[0] = 0;
        return TR_ESTOPPED;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The inbound thread: [topic][data] from the PULL socket, published to the
//  bus as a host would. A full bus makes it wait, which fills the socket's
//  queue, which makes the peers' PUSH sockets wait: nothing is dropped.

static void
s_reject (tr__bus_ipc_t *self, const char *why)
{
    uint64_t count = atomic_fetch_add (&self->rejected, 1) + 1;
    tr__dead_letter_counted (self->rt, TR_EMALFORMED);
    if (count <= 10 || count % 1000 == 0)
        tr__warn ("bus", "%s: rejected an inbound message (#%llu): %s", self->in_endpoint,
                  (unsigned long long) count, why);
}

//  Take one message off the socket. Returns false when there is none.
static bool
s_inbound_one (tr__bus_ipc_t *self)
{
    zmq_msg_t parts[2];
    zmq_msg_init (&parts[0]);
    zmq_msg_init (&parts[1]);
    int count = 0;
    bool more = true;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, self->pull, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&part);
            break;  //  none (a message's parts arrive together)
        }
        more = zmq_msg_more (&part);
        if (count < 2)
            zmq_msg_move (&parts[count], &part);
        zmq_msg_close (&part);
        count++;
    }
    if (count == 0) {
        zmq_msg_close (&parts[0]);
        zmq_msg_close (&parts[1]);
        return false;
    }
    char topic[TR_BUS_TOPIC_MAX + 1];
    size_t topic_size = zmq_msg_size (&parts[0]);
    if (count != 2)
        s_reject (self, "not two frames [topic][data]");
    else if (topic_size == 0 || topic_size > TR_BUS_TOPIC_MAX
             || memchr (zmq_msg_data (&parts[0]), 0, topic_size))
        s_reject (self, "bad topic");
    else {
        memcpy (topic, zmq_msg_data (&parts[0]), topic_size);
        topic[topic_size] = 0;
        //  A full bus (TR_EAGAIN), or a full pipe to its thread (the send's
        //  deadline passes): wait and try again, unless the bus is stopping
        //  (it waits for this thread: a send must never wait for it).
        int rc;
        while (true) {
            tr__host_deadline (tr__now_ns () + 20 * 1000000ULL);
            rc = tr_runtime_publish (self->rt, self->bus, topic, zmq_msg_data (&parts[1]),
                                     zmq_msg_size (&parts[1]));
            tr__host_deadline (0);
            if ((rc != TR_EAGAIN && rc != TR_ETIMEDOUT) || atomic_load (&self->stop))
                break;
            if (rc == TR_EAGAIN)
                usleep (1000);
        }
        if (rc == 0)
            atomic_fetch_add (&self->received, 1);
        else if (rc == TR_EMSGSIZE)
            s_reject (self, "data over max_payload");
        else if (rc == TR_EAGAIN || rc == TR_ETIMEDOUT)
            tr__dead_letter_counted (self->rt, TR_ESHUTDOWN);  //  the bus is stopping
        else {
            tr__dead_letter_counted (self->rt, rc);
            atomic_store (&self->stop, true);  //  the bus or the runtime is gone
        }
    }
    zmq_msg_close (&parts[0]);
    zmq_msg_close (&parts[1]);
    return true;
}

static void *
s_inbound (void *arg)
{
    tr__bus_ipc_t *self = arg;
    pthread_setname_np (pthread_self (), "troupe-bus-in");
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t item = {self->pull, 0, ZMQ_POLLIN, 0};
        //  Short polls: the stop flag is seen within 20 ms.
        if (zmq_poll (&item, 1, 20) < 0 && zmq_errno () == ETERM)
            break;
        for (int taken = 0; taken < 1024 && !atomic_load (&self->stop); taken++)
            if (!s_inbound_one (self))
                break;
    }
    return NULL;
}

//  --------------------------------------------------------------------------

int
tr__bus_ipc_open (tr_runtime_t *rt, tr_ref_t bus, const char *out_path, const char *in_path,
                  tr__bus_ipc_t **self_p)
{
    tr__bus_ipc_t *self = tr__calloc (sizeof *self);
    self->rt = rt;
    self->bus = bus;
    snprintf (self->out_path, sizeof self->out_path, "%s", out_path);
    self->xpub = zmq_socket (rt->zmq_context, ZMQ_XPUB);
    if (!self->xpub) {
        tr__free (self);
        return TR_ESTOPPED;
    }
    //  At the high-water mark XPUB drops silently; with NODROP a send that
    //  would overflow a peer fails instead, and the bus counts it.
    int on = 1;
    zmq_setsockopt (self->xpub, ZMQ_XPUB_NODROP, &on, sizeof on);
    s_options (self->xpub, 100000);
    int rc = s_bind (self->xpub, out_path, self->endpoint, sizeof self->endpoint);
    if (rc == 0 && in_path) {
        snprintf (self->in_path, sizeof self->in_path, "%s", in_path);
        self->pull = zmq_socket (rt->zmq_context, ZMQ_PULL);
        if (!self->pull)
            rc = TR_ESTOPPED;
        else {
            s_options (self->pull, 1000);
            int64_t max_size = (int64_t) (rt->options.max_payload + TR_BUS_TOPIC_MAX);
            zmq_setsockopt (self->pull, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
            rc = s_bind (self->pull, in_path, self->in_endpoint, sizeof self->in_endpoint);
        }
        if (rc == 0) {
            if (pthread_create (&self->thread, NULL, s_inbound, self) != 0)
                rc = TR_ETOOMANY;
            else
                self->thread_started = true;
        }
    }
    if (rc != 0) {
        tr__bus_ipc_close (&self);
        return rc;
    }
    *self_p = self;
    return 0;
}

void
tr__bus_ipc_close (tr__bus_ipc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr__bus_ipc_t *self = *self_p;
    if (self->thread_started) {
        atomic_store (&self->stop, true);
        pthread_join (self->thread, NULL);
    }
    //  libzmq unlinks an ipc path when its listener goes, later, on its own
    //  thread: unlink here so that the run directory can go at once.
    if (self->pull) {
        zmq_close (self->pull);
        if (self->in_endpoint[0])
            unlink (self->in_path);
    }
    if (self->xpub) {
        zmq_close (self->xpub);
        if (self->endpoint[0])
            unlink (self->out_path);
    }
    tr__free (self);
    *self_p = NULL;
}

void
tr__bus_ipc_poll (tr__bus_ipc_t *self)
{
    //  Without XPUB_VERBOSE each prefix is reported once when its first peer
    //  subscribes (\1prefix) and once when its last one goes (\0prefix).
    char frame[TR_BUS_TOPIC_MAX + 2];
    int size;
    while ((size = zmq_recv (self->xpub, frame, sizeof frame, ZMQ_DONTWAIT)) >= 0) {
        if (size >= 1 && frame[0] == 1)
            self->subscriptions++;
        else if (size >= 1 && frame[0] == 0 && self->subscriptions > 0)
            self->subscriptions--;
    }
}

bool
tr__bus_ipc_wanted (tr__bus_ipc_t *self)
{
    return self->subscriptions > 0;
}

void
tr__bus_ipc_send (tr__bus_ipc_t *self, const char *topic, size_t topic_size, uint64_t offset,
                  const void *data, size_t size)
{
    //  With NODROP only the first part can fail: a message's parts count
    //  against the high-water mark together.
    if (zmq_send (self->xpub, topic, topic_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        self->dropped++;
        if (self->dropped == 1 || self->dropped % 10000 == 0)
            tr__warn ("bus", "%s: a subscriber is full: %llu events not sent", self->endpoint,
                      (unsigned long long) self->dropped);
        return;
    }
    zmq_send (self->xpub, &offset, sizeof offset, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (self->xpub, data, size, ZMQ_DONTWAIT);
    self->sent++;
}

void
tr__bus_ipc_stats (tr__bus_ipc_t *self, tr__bus_ipc_stats_t *stats)
{
    stats->sent = self->sent;
    stats->dropped = self->dropped;
    stats->subscriptions = (uint64_t) self->subscriptions;
    stats->received = atomic_load (&self->received);
    stats->rejected = atomic_load (&self->rejected);
}

const char *
tr__bus_ipc_endpoint (tr__bus_ipc_t *self)
{
    return self->endpoint;
}

const char *
tr__bus_ipc_in_endpoint (tr__bus_ipc_t *self)
{
    return self->in_endpoint;
}
