//  shm - shared-memory segments (memfd) handed between actors and process
//  actors by handle, reference counted by the messages that carry them
#include "shm.h"
#include "log.h"
#include "msg.h"
#include "runtime.h"
#include "sched.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct tr_shm {
    _Atomic int refs;
    int fd;
    void *data;
    size_t size;
};

//  A segment object for a mapped fd, one reference.
static tr_shm_t *
s_wrap (int fd, void *data, size_t size)
{
    tr_shm_t *self = tr__calloc (sizeof *self);
    atomic_init (&self->refs, 1);
    self->fd = fd;
    self->data = data;
    self->size = size;
    return self;
}

tr_shm_t *
tr_shm_new (size_t size)
{
    if (size == 0)
        return NULL;
    //  A memfd is 0600 and has no name in any file system: nothing to clean.
    int fd = memfd_create ("troupe-shm", MFD_CLOEXEC);
    if (fd < 0 || ftruncate (fd, (off_t) size) != 0) {
        tr__error ("shm", "cannot make a %zu-byte segment: %s", size, strerror (errno));
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    void *data = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) {
        tr__error ("shm", "cannot map a %zu-byte segment: %s", size, strerror (errno));
        close (fd);
        return NULL;
    }
    return s_wrap (fd, data, size);
}

void *
tr_shm_data (tr_shm_t *self)
{
    return self ? self->data : NULL;
}

size_t
tr_shm_size (tr_shm_t *self)
{
    return self ? self->size : 0;
}

static void
s_unref (tr_shm_t *self)
{
    if (atomic_fetch_sub (&self->refs, 1) == 1) {
        munmap (self->data, self->size);
        close (self->fd);
        tr__free (self);
    }
}

void
tr_shm_release (tr_shm_t **self_p)
{
    if (self_p && *self_p) {
        s_unref (*self_p);
        *self_p = NULL;
    }
}

//  The holder's tr_shm_t behind a handle, when this process is the holder.
static tr_shm_t *
s_holder (const void *data, size_t size)
{
    tr__shm_handle_t handle;
    if (!data || size != sizeof handle)
        return NULL;
    memcpy (&handle, data, sizeof handle);
    if (handle.magic != TR__SHM_MAGIC || handle.pid != (uint32_t) getpid () || !handle.holder)
        return NULL;
    return (tr_shm_t *) (uintptr_t) handle.holder;
}

void
tr__shm_payload_release (const void *data, size_t size)
{
    tr_shm_t *holder = s_holder (data, size);
    if (holder)
        s_unref (holder);
}

void
tr__shm_payload_retain (const void *data, size_t size)
{
    tr_shm_t *holder = s_holder (data, size);
    if (holder)
        atomic_fetch_add (&holder->refs, 1);
}

tr_shm_t *
tr_shm_open (const tr_msg_t *msg)
{
    if (!msg || !(msg->flags & TR_MSG_SHM))
        return NULL;
    return tr_shm_open_handle (msg->data, msg->size);
}

tr_shm_t *
tr_shm_retain (tr_shm_t *self)
{
    if (self)
        atomic_fetch_add (&self->refs, 1);
    return self;
}

int
tr_shm_handle (tr_shm_t *self, void *out, size_t size)
{
    if (!self || !out || size < TR_SHM_HANDLE_SIZE)
        return TR_EINVAL;
    //  No holder pointer: a handle given out this way holds no reference.
    tr__shm_handle_t handle = {
        TR__SHM_MAGIC, (uint32_t) getpid (), (uint32_t) self->fd, 0, self->size, 0};
    memcpy (out, &handle, sizeof handle);
    return 0;
}

tr_shm_t *
tr_shm_open_handle (const void *bytes, size_t size)
{
    tr__shm_handle_t handle;
    if (!bytes || size != sizeof handle)
        return NULL;
    memcpy (&handle, bytes, sizeof handle);
    if (handle.magic != TR__SHM_MAGIC || handle.size == 0)
        return NULL;
    //  Through the holder's fd table: works in the holder and its children
    //  (same user); the holder keeps the fd open while the message lives.
    char path[64];
    snprintf (path, sizeof path, "/proc/%u/fd/%u", handle.pid, handle.fd);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (fd < 0 || fstat (fd, &info) != 0 || (uint64_t) info.st_size < handle.size) {
        tr__warn ("shm", "cannot open segment %s (%s)", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    void *data = mmap (NULL, handle.size, PROT_READ, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) {
        close (fd);
        return NULL;
    }
    return s_wrap (fd, data, handle.size);
}

//  A message carrying shm's handle, holding a reference of its own.
static tr__msg_t *
s_message (tr__sched_t *sched, tr_ref_t to, tr_type_t type, tr_shm_t *shm)
{
    _Static_assert(sizeof (tr__shm_handle_t) == TR_SHM_HANDLE_SIZE, "handle size");
    tr__shm_handle_t handle = {TR__SHM_MAGIC, (uint32_t) getpid (),      (uint32_t) shm->fd, 0,
                               shm->size,     (uint64_t) (uintptr_t) shm};
    tr__msg_t *msg = tr__msg_new (sched ? &sched->pool : NULL, sizeof handle);
    memcpy (msg->data, &handle, sizeof handle);
    msg->to = to;
    msg->type = type;
    msg->flags |= TR_MSG_SHM;
    atomic_fetch_add (&shm->refs, 1);
    return msg;
}

int
tr_send_shm (tr_actor_t *self, tr_ref_t to, tr_type_t type, tr_shm_t *shm)
{
    if (!shm || type == TR_TYPE_NONE)
        return TR_EINVAL;
    tr__msg_t *msg = s_message (self->sched, to, type, shm);
    msg->from = tr_self (self);
    return tr__route (self->sched->rt, self->sched, msg, true);
}

int
tr_runtime_send_shm (tr_runtime_t *rt, tr_ref_t to, tr_type_t type, tr_shm_t *shm)
{
    if (!rt || !shm || type == TR_TYPE_NONE)
        return TR_EINVAL;
    if (!tr__running (rt))
        return TR_ESTOPPED;
    tr__sched_t *sched = rt->testkit ? rt->scheds[0] : NULL;
    return tr__route (rt, sched, s_message (sched, to, type, shm), true);
}

int
tr_call_shm (tr_runtime_t *rt, tr_ref_t to, tr_type_t type, tr_shm_t *shm, int timeout_ms,
             void **reply, size_t *reply_size)
{
    if (!rt || !shm || type == TR_TYPE_NONE)
        return TR_EINVAL;
    if (!tr__running (rt))
        return TR_ESTOPPED;
    tr__msg_t *msg = s_message (NULL, to, type, shm);
    msg->flags |= TR_MSG_REQUEST;
    return tr__call_msg (rt, msg, timeout_ms, reply, reply_size);
}
