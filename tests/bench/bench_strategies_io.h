//  bench_strategies_io - the I/O-bound workload of bench_strategies: a server
//  thread that answers each request on a unix SOCK_SEQPACKET socket a fixed
//  delay after it arrived (a remote service that takes that long, serving any
//  number of requests at once), and the client side: connect, one blocking
//  call, the answer to expect. All static inline; include after bench_util.h.
#ifndef BENCH_STRATEGIES_IO_H_INCLUDED
#define BENCH_STRATEGIES_IO_H_INCLUDED

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>

#define S_IO_MAX_CLIENTS 64  //  connections at once (one per worker instance)

//  One record each way.
typedef struct {
    uint64_t id;
} s_io_request_t;

typedef struct {
    uint64_t id;
    uint64_t answer;
} s_io_reply_t;

//  What the server answers for id: the client checks it.
static inline uint64_t
s_io_answer (uint64_t id)
{
    return ((id + 1) * 0x9e3779b97f4a7c15ULL) ^ 0x5bd1e995ULL;
}

static inline uint64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

//  A request waiting for its answer time. The delay is the same for all,
//  so the queue is in arrival order and in due order at once.
typedef struct {
    uint64_t due_ns;
    uint64_t id;
    int client;           //  slot in clients[]
    uint32_t generation;  //  the slot's generation when it arrived
} s_io_pending_t;

typedef struct {
    char path[108];
    uint64_t delay_ns;
    int listener;
    int wake[2];  //  a byte on wake[1] stops the thread
    pthread_t thread;
    bool running;
    //  The server thread's own (nobody else reads them while it runs).
    int clients[S_IO_MAX_CLIENTS];  //  fd, or -1
    uint32_t generations[S_IO_MAX_CLIENTS];
    s_io_pending_t *queue;  //  ring
    size_t head, count, capacity;
    //  Read by the bench after the thread is joined.
    uint64_t answered, refused;
} s_io_server_t;

static inline void
s_io_queue_push (s_io_server_t *self, s_io_pending_t pending)
{
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 256;
        s_io_pending_t *queue = malloc (capacity * sizeof *queue);
        if (!queue)
            abort ();
        for (size_t i = 0; i < self->count; i++)
            queue[i] = self->queue[(self->head + i) % self->capacity];
        free (self->queue);
        self->queue = queue;
        self->head = 0;
        self->capacity = capacity;
    }
    self->queue[(self->head + self->count++) % self->capacity] = pending;
}

static inline void
s_io_client_close (s_io_server_t *self, int slot)
{
    close (self->clients[slot]);
    self->clients[slot] = -1;
    self->generations[slot]++;  //  its queued requests are dropped when due
}

//  Take every record a client sent; each is answered delay_ns from now.
static inline void
s_io_client_read (s_io_server_t *self, int slot)
{
    while (self->clients[slot] >= 0) {
        s_io_request_t request;
        ssize_t got = recv (self->clients[slot], &request, sizeof request, MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (got != (ssize_t) sizeof request) {  //  closed, failed, or not a request
            s_io_client_close (self, slot);
            return;
        }
        s_io_pending_t pending = {s_now_ns () + self->delay_ns, request.id, slot,
                                  self->generations[slot]};
        s_io_queue_push (self, pending);
    }
}

//  Answer every request that is due.
static inline void
s_io_answer_due (s_io_server_t *self)
{
    uint64_t now = s_now_ns ();
    while (self->count && self->queue[self->head].due_ns <= now) {
        s_io_pending_t pending = self->queue[self->head];
        self->head = (self->head + 1) % self->capacity;
        self->count--;
        if (self->clients[pending.client] < 0
            || self->generations[pending.client] != pending.generation)
            continue;  //  the client went away
        s_io_reply_t reply = {pending.id, s_io_answer (pending.id)};
        if (send (self->clients[pending.client], &reply, sizeof reply, MSG_DONTWAIT | MSG_NOSIGNAL)
            == (ssize_t) sizeof reply)
            self->answered++;
        else
            self->refused++;  //  the client then times out: its job fails
    }
}

static inline void *
s_io_server_main (void *arg)
{
    s_io_server_t *self = arg;
    struct pollfd fds[S_IO_MAX_CLIENTS + 2];
    int slots[S_IO_MAX_CLIENTS + 2];
    while (true) {
        nfds_t count = 0;
        fds[count++] = (struct pollfd){self->wake[0], POLLIN, 0};
        fds[count++] = (struct pollfd){self->listener, POLLIN, 0};
        for (int slot = 0; slot < S_IO_MAX_CLIENTS; slot++)
            if (self->clients[slot] >= 0) {
                slots[count] = slot;
                fds[count++] = (struct pollfd){self->clients[slot], POLLIN, 0};
            }
        //  Sleep until the next answer is due (ns precision: ppoll).
        struct timespec wait, *timeout = NULL;
        if (self->count) {
            uint64_t now = s_now_ns (), due = self->queue[self->head].due_ns;
            uint64_t left = due > now ? due - now : 0;
            wait =
                (struct timespec){(time_t) (left / 1000000000ULL), (long) (left % 1000000000ULL)};
            timeout = &wait;
        }
        if (ppoll (fds, count, timeout, NULL) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        if (fds[1].revents & POLLIN) {
            int fd;
            while ((fd = accept4 (self->listener, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
                int slot = 0;
                while (slot < S_IO_MAX_CLIENTS && self->clients[slot] >= 0)
                    slot++;
                if (slot == S_IO_MAX_CLIENTS)
                    close (fd);  //  full: that client's calls fail
                else
                    self->clients[slot] = fd;
            }
        }
        for (nfds_t i = 2; i < count; i++)
            if (fds[i].revents)
                s_io_client_read (self, slots[i]);
        s_io_answer_due (self);
    }
    for (int slot = 0; slot < S_IO_MAX_CLIENTS; slot++)
        if (self->clients[slot] >= 0)
            s_io_client_close (self, slot);
    return NULL;
}

//  Listen on path (absent) and start answering after delay_us. 0 or -1
//  (errno set).
static inline int
s_io_server_start (s_io_server_t *self, const char *path, int delay_us)
{
    memset (self, 0, sizeof *self);
    self->listener = self->wake[0] = self->wake[1] = -1;
    for (int slot = 0; slot < S_IO_MAX_CLIENTS; slot++)
        self->clients[slot] = -1;
    self->delay_ns = (uint64_t) delay_us * 1000;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen (path) >= sizeof address.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    snprintf (self->path, sizeof self->path, "%s", path);
    memcpy (address.sun_path, path, strlen (path) + 1);
    self->listener = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (self->listener < 0 || bind (self->listener, (struct sockaddr *) &address, sizeof address)
        || listen (self->listener, S_IO_MAX_CLIENTS) || pipe2 (self->wake, O_CLOEXEC)) {
        int error = errno;
        if (self->listener >= 0)
            close (self->listener);
        unlink (path);
        errno = error;
        return -1;
    }
    errno = pthread_create (&self->thread, NULL, s_io_server_main, self);
    if (errno) {
        close (self->listener);
        close (self->wake[0]);
        close (self->wake[1]);
        unlink (path);
        return -1;
    }
    self->running = true;
    return 0;
}

static inline void
s_io_server_stop (s_io_server_t *self)
{
    if (!self->running)
        return;
    if (write (self->wake[1], "x", 1) != 1)
        fprintf (stderr, BENCH_NAME ": cannot wake the io server: %s\n", strerror (errno));
    pthread_join (self->thread, NULL);
    close (self->listener);
    close (self->wake[0]);
    close (self->wake[1]);
    unlink (self->path);
    free (self->queue);
    self->queue = NULL;
    self->running = false;
}

//  A connection to the server at path: blocking (with a receive timeout of
//  timeout_ms) or non-blocking. The fd, or -1 (errno set).
static inline int
s_io_connect (const char *path, bool blocking, int timeout_ms)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen (path) >= sizeof address.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy (address.sun_path, path, strlen (path) + 1);
    int fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    if (connect (fd, (struct sockaddr *) &address, sizeof address) != 0
        || (blocking && setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0)
        || (!blocking && fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK) != 0)) {
        int error = errno;
        close (fd);
        errno = error;
        return -1;
    }
    return fd;
}

//  One request on a blocking connection: waits for the answer. 0, or a
//  negative errno (ETIMEDOUT when the receive timed out, EPROTO for a
//  wrong answer).
static inline int
s_io_call (int fd, uint64_t id, uint64_t *answer)
{
    s_io_request_t request = {id};
    if (send (fd, &request, sizeof request, MSG_NOSIGNAL) != (ssize_t) sizeof request)
        return -errno;
    s_io_reply_t reply;
    ssize_t got = recv (fd, &reply, sizeof reply, 0);
    if (got < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
    if (got != (ssize_t) sizeof reply || reply.id != id)
        return -EPROTO;
    *answer = reply.answer;
    return 0;
}

#endif
