//  procs - the node's process manager: the zygote, the ROUTER socket its
//  children connect to, and the thread that turns their frames and deaths
//  into messages for the pool actors that own them
#include "procs.h"
#include "lifeline.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
    uint64_t replica;
    pid_t pid;
    tr_ref_t pool;
    int pidfd;           //  readable when the child has exited, -1 when none
    int lifeline;        //  its lifeline slot, -1 when none (lifeline.h)
    tr__wire_out_t out;  //  messages queued for it (tr__procs_queue)
} s_child_t;

struct tr__procs {
    tr__zygote_t *zygote;
    tr__lifeline_t *lifeline;  //  NULL: deaths are seen by pidfd alone
    void *router;
    size_t max_payload;
    char dir[128];
    char endpoint[160];
    //  Manager thread only. Few children per node: a plain array.
    s_child_t *children;
    size_t child_count, child_capacity;
    uint64_t next_replica;
    tr_type_t event_type;
    bool zygote_gone;  //  its channel closed: stop polling it
};

tr__procs_t *
tr__procs_new (void)
{
    //  The lifelines before the zygote: it and its children inherit them.
    tr__lifeline_t *lifeline = tr__lifeline_new ();
    tr__zygote_t *zygote = tr__zygote_start ();
    if (!zygote) {
        tr__error ("procs", "cannot fork the zygote: %s", strerror (errno));
        tr__lifeline_destroy (&lifeline);
        return NULL;
    }
    tr__procs_t *self = tr__calloc (sizeof *self);
    self->zygote = zygote;
    self->lifeline = lifeline;
    self->next_replica = 1;
    self->event_type = tr_type ("tr.proc.event");
    return self;
}

void
tr__run_dir_remove (const char *path)
{
    //  Only what the runtime puts there: sockets (procs, bus.*), no folders.
    DIR *dir = opendir (path);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char file[512];
        snprintf (file, sizeof file, "%s/%s", path, entry->d_name);
        unlink (file);
    }
    if (dir)
        closedir (dir);
    rmdir (path);
}

//  Remove the run directories of nodes that died without cleaning up
//  (their pid is gone): node-<pid>-<n> and what is in it.
static void
s_remove_stale (const char *base)
{
    DIR *dir = opendir (base);
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        int pid = 0;
        if (sscanf (entry->d_name, "node-%d-", &pid) != 1 || pid <= 0)
            continue;
        if (kill (pid, 0) == 0 || errno != ESRCH)
            continue;    //  alive (or not ours to judge)
        char path[330];  //  base (< 64) + a file name (< 256)
        snprintf (path, sizeof path, "%s/%s", base, entry->d_name);
        tr__run_dir_remove (path);
    }
    if (dir)
        closedir (dir);
}

int
tr__run_dir_new (char *dir, size_t size)
{
    //  The private directory is the access control: 0700, ours alone. A
    //  fresh name per node, so a bind never takes over another node's path.
    char base[64];
    snprintf (base, sizeof base, "/tmp/troupe-%u", (unsigned) getuid ());
    if (mkdir (base, 0700) != 0 && errno != EEXIST)
        return TR_ESTOPPED;
    struct stat info;
    if (lstat (base, &info) != 0 || !S_ISDIR (info.st_mode) || info.st_uid != getuid ()
        || (info.st_mode & 0077)) {
        tr__error ("procs", "%s is not a private directory of ours; refusing it", base);
        return TR_ESTOPPED;
    }
    s_remove_stale (base);
    static _Atomic unsigned s_nodes;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf (dir, size, "%s/node-%d-%u", base, (int) getpid (),
                  atomic_fetch_add (&s_nodes, 1));
        if (mkdir (dir, 0700) == 0)
            return 0;
    }
    dir[0] = 0;
    return TR_ESTOPPED;
}

int
tr__procs_bind (tr__procs_t *self, void *zmq_context, size_t max_payload)
{
    self->max_payload = max_payload;
    if (tr__run_dir_new (self->dir, sizeof self->dir) != 0)
        return TR_ESTOPPED;
    snprintf (self->endpoint, sizeof self->endpoint, "ipc://%s/procs", self->dir);
    self->router = zmq_socket (zmq_context, ZMQ_ROUTER);
    if (!self->router)
        return TR_ESTOPPED;
    int on = 1, linger = 0, hwm = 100000;
    zmq_setsockopt (self->router, ZMQ_ROUTER_MANDATORY, &on, sizeof on);
    zmq_setsockopt (self->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (self->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    mode_t old = umask (077);
    int rc = zmq_bind (self->router, self->endpoint);
    umask (old);
    if (rc != 0) {
        tr__error ("procs", "bind %s: %s", self->endpoint, zmq_strerror (zmq_errno ()));
        return TR_ESTOPPED;
    }
    return 0;
}

void
tr__procs_destroy (tr__procs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr__procs_t *self = *self_p;
    if (self->router)
        zmq_close (self->router);
    tr__lifeline_destroy (&self->lifeline);
    tr__zygote_stop (&self->zygote);
    if (self->dir[0])
        tr__run_dir_remove (self->dir);
    for (size_t i = 0; i < self->child_count; i++) {
        if (self->children[i].pidfd >= 0)
            close (self->children[i].pidfd);
        tr__wire_out_free (&self->children[i].out);
    }
    tr__free (self->children);
    tr__free (self);
    *self_p = NULL;
}

const char *
tr__procs_endpoint (tr__procs_t *self)
{
    return self->endpoint;
}

const char *
tr__procs_dir (tr__procs_t *self)
{
    return self->dir;
}

int
tr__procs_items (tr__procs_t *self, zmq_pollitem_t *items)
{
    //  (No POLLOUT for a child's queue that found no room: a ROUTER always
    //  polls writable. That child's own frames, or its death, wake us and
    //  the queue is tried again after the next pass.)
    items[0] = (zmq_pollitem_t){self->router, 0, ZMQ_POLLIN, 0};
    items[1] = (zmq_pollitem_t){NULL, self->zygote_gone ? -1 : tr__zygote_fd (self->zygote),
                                ZMQ_POLLIN, 0};
    //  The lifelines' eventfd: a child's main thread ended (the earliest).
    items[2] = (zmq_pollitem_t){NULL, tr__lifeline_fd (self->lifeline), ZMQ_POLLIN, 0};
    //  A pidfd per child: its death is seen here once the whole process is
    //  gone, one hop before the zygote's report (which stays the fallback,
    //  and carries the status).
    int count = 3;
    for (size_t i = 0; i < self->child_count && count < TR__PROCS_MAX_POLL; i++)
        items[count++] = (zmq_pollitem_t){NULL, self->children[i].pidfd, ZMQ_POLLIN, 0};
    return count;
}

static s_child_t *
s_by_replica (tr__procs_t *self, uint64_t replica)
{
    for (size_t i = 0; i < self->child_count; i++)
        if (self->children[i].replica == replica)
            return &self->children[i];
    return NULL;
}

static s_child_t *
s_by_pid (tr__procs_t *self, pid_t pid)
{
    for (size_t i = 0; pid > 0 && i < self->child_count; i++)
        if (self->children[i].pid == pid)
            return &self->children[i];
    return NULL;
}

uint64_t
tr__procs_replica_new (tr__procs_t *self, tr_ref_t pool)
{
    if (self->child_count == self->child_capacity) {
        self->child_capacity = self->child_capacity ? self->child_capacity * 2 : 16;
        self->children = tr__realloc (self->children, self->child_capacity * sizeof (s_child_t));
    }
    s_child_t *child = &self->children[self->child_count++];
    child->replica = self->next_replica++;
    child->pid = 0;
    child->pool = pool;
    child->pidfd = -1;
    child->lifeline = -1;
    memset (&child->out, 0, sizeof child->out);
    return child->replica;
}

void
tr__procs_replica_pid (tr__procs_t *self, uint64_t replica, pid_t pid)
{
    s_child_t *child = s_by_replica (self, replica);
    if (child)
        child->pid = pid;
}

void
tr__procs_replica_forget (tr__procs_t *self, uint64_t replica)
{
    s_child_t *child = s_by_replica (self, replica);
    if (child) {
        if (child->pidfd >= 0)
            close (child->pidfd);
        tr__lifeline_release (self->lifeline, child->lifeline);
        tr__wire_out_free (&child->out);
        *child = self->children[--self->child_count];
    }
}

int
tr__procs_fork (tr__procs_t *self, const tr__child_args_t *args, const void *arg)
{
    if (self->zygote_gone)
        return TR_ESTOPPED;
    //  A C child holds a lifeline (a program run by command cannot).
    s_child_t *child = s_by_replica (self, args->replica);
    tr__child_args_t with = *args;
    if (child && !args->command[0] && child->lifeline < 0)
        child->lifeline = tr__lifeline_take (self->lifeline);
    with.lifeline = child ? tr__lifeline_address (self->lifeline, child->lifeline) : 0;
    return tr__zygote_fork (self->zygote, &with, arg);
}

void
tr__procs_kill (tr__procs_t *self, pid_t pid)
{
    if (pid > 0)
        tr__zygote_kill (self->zygote, pid, SIGKILL);
}

//  Send what child has queued: 0, TR_EAGAIN (no room: it stays queued) or
//  TR_EDEAD (the child is not connected: dropped here; its pool holds the
//  messages and redelivers them when it sees the child die).
static int
s_child_flush (tr__procs_t *self, s_child_t *child)
{
    size_t size;
    const void *frame = tr__wire_out_frame (&child->out, &size);
    if (!frame)
        return 0;
    if (zmq_send (self->router, &child->replica, sizeof child->replica, ZMQ_SNDMORE | ZMQ_DONTWAIT)
        < 0) {
        if (zmq_errno () == EAGAIN)
            return TR_EAGAIN;
        tr__wire_out_reset (&child->out);
        return TR_EDEAD;
    }
    zmq_send (self->router, frame, size, ZMQ_DONTWAIT);  //  the rest of a message never fails
    tr__wire_out_reset (&child->out);
    return 0;
}

int
tr__procs_queue (tr__procs_t *self, uint64_t replica, const tr__wire_t *wire, const void *payload)
{
    s_child_t *child = s_by_replica (self, replica);
    if (!child)
        return TR_EDEAD;
    size_t limit = self->max_payload < 65536 ? self->max_payload : 65536;
    if (4 + tr__wire_size (wire) > limit) {
        int rc = s_child_flush (self, child);
        return rc == TR_EAGAIN ? rc : tr__procs_send (self, replica, wire, payload);
    }
    if (!tr__wire_out_fits (&child->out, wire, limit)) {
        int rc = s_child_flush (self, child);
        if (rc == TR_EAGAIN)
            return rc;
    }
    tr__wire_out_add (&child->out, wire, payload);
    return 0;
}

void
tr__procs_flush (tr__procs_t *self)
{
    //  A queue that finds no room (TR_EAGAIN) stays for the next pass.
    for (size_t i = 0; i < self->child_count; i++)
        s_child_flush (self, &self->children[i]);
}

int
tr__procs_send (tr__procs_t *self, uint64_t replica, const tr__wire_t *wire, const void *payload)
{
    //  With ROUTER_MANDATORY an unknown peer fails here, not silently.
    if (zmq_send (self->router, &replica, sizeof replica, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return zmq_errno () == EAGAIN ? TR_EAGAIN : TR_EDEAD;
    return tr__wire_send (self->router, wire, payload, ZMQ_DONTWAIT);
}

//  Hand an event to the pool that owns replica (manager thread).
static void
s_post (tr__procs_t *self, tr__sched_t *sched, tr_ref_t pool, const tr__proc_event_t *event,
        const void *payload, size_t size)
{
    tr__msg_t *msg = tr__msg_new (&sched->pool, sizeof *event + size);
    memcpy (msg->data, event, sizeof *event);
    if (size)
        memcpy (msg->data + sizeof *event, payload, size);
    msg->to = pool;
    //  From the pool itself: no actor or host can send that, so a pool can
    //  tell real events from forged ones.
    msg->from = pool;
    msg->type = self->event_type;
    msg->flags |= TR__MSG_NODROP;
    tr__sched_deliver (sched, msg, false);
}

//  A child sent something that does not parse: counted, logged, and its
//  pool told (which replaces the child).
static void
s_malformed (tr__procs_t *self, tr__sched_t *sched, s_child_t *child, tr__proc_event_t *event,
             int rc)
{
    atomic_fetch_add (&sched->rt->malformed_frames, 1);
    tr__dead_letter_counted (sched->rt, TR_EMALFORMED);
    tr__warn ("procs", "child %d sent a bad frame (%s): it will be replaced", (int) child->pid,
              tr_strerror (rc));
    event->kind = TR__PROC_MALFORMED;
    event->status = rc;
    s_post (self, sched, child->pool, event, NULL, 0);
}

//  Post one message from a child; its HELLO also arms its lifeline (it
//  holds the slot from before it says hello).
static void
s_post_wire (tr__procs_t *self, tr__sched_t *sched, s_child_t *child, const tr__proc_event_t *event,
             const void *payload)
{
    uint64_t hello[2];
    if (event->wire.kind == TR__WIRE_HELLO && child->lifeline >= 0
        && event->wire.size == sizeof hello) {
        memcpy (hello, payload, sizeof hello);
        if (!tr__lifeline_arm (self->lifeline, child->lifeline, (pid_t) hello[1])) {
            tr__lifeline_release (self->lifeline, child->lifeline);
            child->lifeline = -1;
        }
        else if (child->pid <= 0) {
            //  Its hello came before the zygote's FORKED: the lock says the
            //  pid is its own, and a cut lifeline must be able to kill it.
            child->pid = (pid_t) hello[1];
            child->pidfd = (int) syscall (SYS_pidfd_open, child->pid, 0);
        }
    }
    s_post (self, sched, child->pool, event, payload, event->wire.size);
}

static void
s_read_router (tr__procs_t *self, tr__sched_t *sched)
{
    for (int taken = 0; taken < 256; taken++) {
        uint64_t replica = 0;
        zmq_msg_t identity;
        zmq_msg_init (&identity);
        if (zmq_msg_recv (&identity, self->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&identity);
            return;
        }
        bool known_size = zmq_msg_size (&identity) == sizeof replica;
        if (known_size)
            memcpy (&replica, zmq_msg_data (&identity), sizeof replica);
        bool more = zmq_msg_more (&identity);
        zmq_msg_close (&identity);
        tr__proc_event_t event = {.kind = TR__PROC_WIRE, .replica = replica};
        const void *payload = NULL;
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        int rc =
            more ? tr__wire_recv (self->router, self->max_payload, &event.wire, &frame, &payload, 0)
                 : TR_EMALFORMED;
        s_child_t *child = known_size ? s_by_replica (self, replica) : NULL;
        if (!child) {
            //  Not one of ours (or already forgotten): nothing to tell.
            tr__warn ("procs", "dropped a frame from unknown peer %llu",
                      (unsigned long long) replica);
            zmq_msg_close (&frame);
            continue;
        }
        event.pid = child->pid;
        if (rc == 0 && event.wire.kind == TR__WIRE_BATCH) {
            //  Several messages in one frame: each its own event, in order;
            //  a bad one ends the batch and the child.
            const void *batch = payload;
            size_t batch_size = event.wire.size, offset = 0;
            while ((rc = tr__wire_batch_next (batch, batch_size, &offset, self->max_payload,
                                              &event.wire, &payload))
                   == 1)
                s_post_wire (self, sched, child, &event, payload);
        }
        else if (rc == 0)
            s_post_wire (self, sched, child, &event, payload);
        if (rc < 0)
            s_malformed (self, sched, child, &event, rc);
        zmq_msg_close (&frame);
    }
}

static void
s_read_zygote (tr__procs_t *self, tr__sched_t *sched)
{
    tr__zygote_event_t zygote_event;
    int rc;
    while ((rc = tr__zygote_read (self->zygote, &zygote_event)) == 0) {
        s_child_t *child = zygote_event.kind == TR__ZYGOTE_FORKED
                               ? s_by_replica (self, zygote_event.replica)
                               : s_by_pid (self, zygote_event.pid);
        if (!child)
            continue;
        if (zygote_event.kind == TR__ZYGOTE_FORKED) {
            child->pid = zygote_event.pid;
            //  Not our child (the zygote's): a pidfd still says when it ends.
            if (child->pid > 0 && child->pidfd < 0)
                child->pidfd = (int) syscall (SYS_pidfd_open, child->pid, 0);
        }
        tr__proc_event_t event = {.kind = zygote_event.kind == TR__ZYGOTE_FORKED ? TR__PROC_FORKED
                                                                                 : TR__PROC_DIED,
                                  .pid = zygote_event.pid,
                                  .status = zygote_event.status,
                                  .replica = child->replica};
        s_post (self, sched, child->pool, &event, NULL, 0);
    }
    if (rc == TR_ESTOPPED && !self->zygote_gone) {
        self->zygote_gone = true;
        if (atomic_load (&sched->rt->state) == TR__RT_RUNNING)
            tr__error ("procs", "the zygote is gone: no process actor can start or restart");
        //  Its children died with it (parent-death signal): tell their pools,
        //  which then fail to restart them and give up.
        for (size_t i = self->child_count; i-- > 0;) {
            s_child_t child = self->children[i];
            tr__proc_event_t event = {.kind = TR__PROC_DIED,
                                      .pid = child.pid,
                                      .status = SIGKILL,
                                      .replica = child.replica};
            s_post (self, sched, child.pool, &event, NULL, 0);
        }
    }
}

//  A child ended (DIED: its pidfd) or is ending (ENDING: its lifeline): tell
//  its pool now. The status is unknown here: a signal is assumed; the pool
//  knows when it killed one, and why.
static void
s_post_died (tr__procs_t *self, tr__sched_t *sched, s_child_t *child, uint32_t kind)
{
    tr__proc_event_t event = {
        .kind = kind, .pid = child->pid, .status = SIGKILL, .replica = child->replica};
    s_post (self, sched, child->pool, &event, NULL, 0);
}

//  Children whose main thread ended: the rest of each is still on its way
//  out. Make sure it goes (a main thread can end alone), and tell the pool,
//  after whatever the child sent that has reached the socket; its pidfd,
//  later, says it is gone (DIED).
static void
s_read_lifelines (tr__procs_t *self, tr__sched_t *sched)
{
    tr__lifeline_drain (self->lifeline);
    s_read_router (self, sched);
    for (size_t c = 0; c < self->child_count; c++) {
        s_child_t *child = &self->children[c];
        if (child->lifeline < 0 || !tr__lifeline_cut (self->lifeline, child->lifeline))
            continue;
        tr__lifeline_release (self->lifeline, child->lifeline);
        child->lifeline = -1;
        if (child->pidfd >= 0)
            syscall (SYS_pidfd_send_signal, child->pidfd, SIGKILL, NULL, 0);
        else
            tr__procs_kill (self, child->pid);
        s_post_died (self, sched, child, TR__PROC_ENDING);
    }
}

void
tr__procs_ready (tr__procs_t *self, tr__sched_t *sched, zmq_pollitem_t *items, int count)
{
    //  The socket first: a child's last answers go before its death.
    if (items[0].revents & ZMQ_POLLIN)
        s_read_router (self, sched);
    if (items[2].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
        s_read_lifelines (self, sched);
    if (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
        s_read_zygote (self, sched);
    for (int i = 3; i < count; i++) {
        if (!(items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            continue;
        for (size_t c = 0; c < self->child_count; c++) {
            s_child_t *child = &self->children[c];
            if (child->pidfd != items[i].fd)
                continue;
            close (child->pidfd);
            child->pidfd = -1;
            s_post_died (self, sched, child, TR__PROC_DIED);
            break;
        }
    }
}
