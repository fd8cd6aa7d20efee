//  zygote - a single-threaded process forked before the node starts any
//  thread; it forks process actors on request and reports their deaths
#include "zygote.h"
#include "log.h"
#include "troupe.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_REQUEST (sizeof (tr__child_args_t) + 65536)

//  Requests on the channel, parent -> zygote.
enum { S_FORK = 1, S_KILL = 2 };

typedef struct {
    uint32_t kind;
    int32_t pid;
    int32_t signal;
} s_kill_t;

struct tr__zygote {
    int fd;  //  our end of the SEQPACKET pair
    pid_t pid;
};

//  --------------------------------------------------------------------------
//  The zygote process

//  Close every inherited fd but keep: the host's sockets, files and ZeroMQ
//  internals are not ours to hold open in children.
static void
s_close_inherited (int keep)
{
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return;
    int dir_fd = dirfd (dir);
    int fds[1024], count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) && count < 1024) {
        int fd = atoi (entry->d_name);
        if (entry->d_name[0] != '.' && fd > 2 && fd != keep && fd != dir_fd)
            fds[count++] = fd;
    }
    closedir (dir);
    for (int i = 0; i < count; i++)
        close (fds[i]);
}

static void
s_send_event (int fd, const tr__zygote_event_t *event)
{
    //  The parent reads promptly; a full channel means it is gone or stuck.
    while (send (fd, event, sizeof *event, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

//  A process actor in another language: it learns where to connect from its
//  environment and speaks docs/protocol.md.
static void __attribute__ ((noreturn)) s_exec_command (const tr__child_args_t *args)
{
    char value[32];
    setenv ("TROUPE_ENDPOINT", args->endpoint, 1);
    snprintf (value, sizeof value, "%llu", (unsigned long long) args->replica);
    setenv ("TROUPE_REPLICA", value, 1);
    snprintf (value, sizeof value, "%u", args->heartbeat_ms);
    setenv ("TROUPE_HEARTBEAT_MS", value, 1);
    snprintf (value, sizeof value, "%llu", (unsigned long long) args->max_payload);
    setenv ("TROUPE_MAX_PAYLOAD", value, 1);
    if (args->cpu_limit_s) {
        struct rlimit limit = {args->cpu_limit_s, args->cpu_limit_s + 1};
        setrlimit (RLIMIT_CPU, &limit);
    }
    //  `exec`: the program replaces the shell, so our kill and the parent
    //  death signal reach it, not a shell in between.
    char line[sizeof args->command + 8];
    snprintf (line, sizeof line, "exec %s", args->command);
    execl ("/bin/sh", "sh", "-c", line, (char *) NULL);
    _exit (127);
}

static void __attribute__ ((noreturn)) s_zygote_main (int fd, pid_t parent)
{
    //  Die with the node, and make our children die with us.
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != parent)
        _exit (0);
    prctl (PR_SET_NAME, "troupe-zygote");
    s_close_inherited (fd);
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGCHLD);
    sigprocmask (SIG_BLOCK, &mask, NULL);
    int signal_fd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    signal (SIGINT, SIG_IGN);  //  a terminal ^C is for the node to handle
    unsigned char *request = malloc (S_MAX_REQUEST);
    if (!request || signal_fd < 0)
        _exit (1);
    int children = 0, capacity = 0;
    pid_t *live = NULL;  //  forked and not reaped yet (plain malloc: no troupe here)
    bool closing = false;
    pid_t zygote_pid = getpid ();
    while (!closing || children > 0) {
        struct pollfd items[2] = {{fd, POLLIN, 0}, {signal_fd, POLLIN, 0}};
        if (poll (items, closing ? 0 : 2, closing ? 10 : -1) < 0 && errno != EINTR)
            break;
        if (closing)
            items[1].revents = POLLIN;  //  reap in a loop until none is left
        if (items[0].revents) {
            ssize_t size = recv (fd, request, S_MAX_REQUEST, 0);
            if (size <= 0) {
                //  The node closed the channel (or died): take everyone down.
                closing = true;
                continue;
            }
            uint32_t kind;
            memcpy (&kind, request, sizeof kind);
            if (kind == S_KILL && (size_t) size == sizeof (s_kill_t)) {
                //  Only a child of ours not reaped yet: a reaped pid may
                //  already belong to some other process.
                s_kill_t order;
                memcpy (&order, request, sizeof order);
                for (int i = 0; i < children; i++)
                    if (order.pid > 0 && live[i] == order.pid)
                        kill (order.pid, order.signal);
            }
            else if (kind == S_FORK && (size_t) size >= sizeof kind + sizeof (tr__child_args_t)) {
                tr__child_args_t args;
                memcpy (&args, request + sizeof kind, sizeof args);
                const unsigned char *arg = request + sizeof kind + sizeof args;
                if ((size_t) size != sizeof kind + sizeof args + args.arg_size)
                    continue;  //  not from our node: ignore
                args.behaviour[sizeof args.behaviour - 1] = 0;
                args.endpoint[sizeof args.endpoint - 1] = 0;
                tr__zygote_event_t event = {TR__ZYGOTE_FORKED, args.replica, 0, 0};
                pid_t pid = fork ();
                if (pid == 0) {
                    //  Die with the zygote; if it is already gone, go now.
                    prctl (PR_SET_PDEATHSIG, SIGKILL);
                    if (getppid () != zygote_pid)
                        _exit (0);
                    close (fd);
                    close (signal_fd);
                    //  A clean signal state: nothing blocked (a host that
                    //  blocks SIGINT/SIGTERM to sigwait for them, as `troupe
                    //  run` does, must not pass that on), default actions.
                    sigset_t none;
                    sigemptyset (&none);
                    sigprocmask (SIG_SETMASK, &none, NULL);
                    signal (SIGINT, SIG_DFL);
                    signal (SIGTERM, SIG_DFL);
                    args.command[sizeof args.command - 1] = 0;
                    if (args.command[0])
                        s_exec_command (&args);
                    tr__child_main (&args, arg);
                }
                if (pid > 0) {
                    if (children == capacity) {
                        capacity = capacity ? capacity * 2 : 64;
                        pid_t *grown = realloc (live, (size_t) capacity * sizeof (pid_t));
                        if (!grown)
                            _exit (1);
                        live = grown;
                    }
                    live[children++] = pid;
                }
                event.pid = pid > 0 ? pid : 0;
                event.status = pid > 0 ? 0 : errno;
                s_send_event (fd, &event);
            }
        }
        if (items[1].revents) {
            struct signalfd_siginfo info;
            while (read (signal_fd, &info, sizeof info) == sizeof info)
                ;
            int status;
            pid_t pid;
            while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
                bool ours = false;  //  else a child's keeper (child.c)
                for (int i = 0; i < children; i++)
                    if (live[i] == pid) {
                        live[i] = live[--children];
                        ours = true;
                        break;
                    }
                if (ours && !closing) {
                    tr__zygote_event_t event = {TR__ZYGOTE_DIED, 0, pid, status};
                    s_send_event (fd, &event);
                }
            }
        }
        if (closing)
            for (int i = 0; i < children; i++)
                kill (live[i], SIGKILL);  //  reaped by the loop above
    }
    //  The children's keepers let go of their memory 2 ms after their child
    //  died: reap them too, so none outlives the node. (Here after a failed
    //  poll too: no child may be left to wait for forever.)
    for (int i = 0; i < children; i++)
        kill (live[i], SIGKILL);
    while (waitpid (-1, NULL, 0) > 0 || errno == EINTR)
        ;
    _exit (0);
}

//  --------------------------------------------------------------------------
//  The node side

tr__zygote_t *
tr__zygote_start (void)
{
    int pair[2];
    if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return NULL;
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid < 0) {
        close (pair[0]);
        close (pair[1]);
        return NULL;
    }
    if (pid == 0) {
        //  The host's unwritten stdio buffers are its own: never write them
        //  again from here or from a child (that would repeat its output).
        __fpurge (stdout);
        __fpurge (stderr);
        close (pair[0]);
        s_zygote_main (pair[1], parent);
    }
    close (pair[1]);
    tr__zygote_t *self = tr__calloc (sizeof *self);
    self->fd = pair[0];
    self->pid = pid;
    return self;
}

void
tr__zygote_stop (tr__zygote_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr__zygote_t *self = *self_p;
    shutdown (self->fd, SHUT_RDWR);
    close (self->fd);
    //  It kills and reaps its children first; give it a bounded while.
    for (int waited = 0; waited < 2000; waited++) {
        if (waitpid (self->pid, NULL, WNOHANG) == self->pid)
            goto done;
        struct timespec pause = {0, 1000000};
        nanosleep (&pause, NULL);
    }
    tr__error ("zygote", "zygote %d did not exit in 2 s; killing it", (int) self->pid);
    kill (self->pid, SIGKILL);
    waitpid (self->pid, NULL, 0);
done:
    tr__free (self);
    *self_p = NULL;
}

int
tr__zygote_fd (tr__zygote_t *self)
{
    return self->fd;
}

pid_t
tr__zygote_pid (tr__zygote_t *self)
{
    return self->pid;
}

int
tr__zygote_fork (tr__zygote_t *self, const tr__child_args_t *args, const void *arg)
{
    if (sizeof (uint32_t) + sizeof *args + args->arg_size > S_MAX_REQUEST)
        return TR_EMSGSIZE;
    size_t size = sizeof (uint32_t) + sizeof *args + args->arg_size;
    unsigned char *request = tr__alloc (size);
    uint32_t kind = S_FORK;
    memcpy (request, &kind, sizeof kind);
    memcpy (request + sizeof kind, args, sizeof *args);
    if (args->arg_size)
        memcpy (request + sizeof kind + sizeof *args, arg, args->arg_size);
    ssize_t sent = send (self->fd, request, size, MSG_NOSIGNAL);
    tr__free (request);
    return sent == (ssize_t) size ? 0 : TR_ESTOPPED;
}

int
tr__zygote_kill (tr__zygote_t *self, pid_t pid, int signal)
{
    s_kill_t order = {S_KILL, pid, signal};
    return send (self->fd, &order, sizeof order, MSG_NOSIGNAL) == sizeof order ? 0 : TR_ESTOPPED;
}

int
tr__zygote_read (tr__zygote_t *self, tr__zygote_event_t *event)
{
    ssize_t size = recv (self->fd, event, sizeof *event, MSG_DONTWAIT);
    if (size == (ssize_t) sizeof *event)
        return 0;
    if (size < 0 && (errno == EAGAIN || errno == EINTR))
        return TR_EAGAIN;
    return TR_ESTOPPED;
}
