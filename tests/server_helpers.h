//  server_helpers - start and stop real servers (redis-server, PostgreSQL)
//  for integration tests: a free loopback port, a private temp dir, child
//  processes, and a cleanup at exit so a failed test leaves nothing behind
#ifndef TR_SERVER_HELPERS_H_INCLUDED
#define TR_SERVER_HELPERS_H_INCLUDED

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

//  Fail the test (clearly) unless path is an executable: a missing server
//  is a failure, never a silent skip.
static inline void
s_server_require (const char *path, const char *package)
{
    if (access (path, X_OK) != 0) {
        fprintf (stderr,
                 "FAIL: %s not found or not executable: install the Debian package %s "
                 "(scripts/deps.sh does)\n",
                 path, package);
        exit (1);
    }
}

//  A TCP port on 127.0.0.1 that nothing listens on right now.
static inline int
s_server_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TR_ASSERT (fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    TR_ASSERT (bind (fd, (struct sockaddr *) &address, sizeof address) == 0);
    socklen_t size = sizeof address;
    TR_ASSERT (getsockname (fd, (struct sockaddr *) &address, &size) == 0);
    close (fd);
    return ntohs (address.sin_port);
}

//  Whether something accepts connections on 127.0.0.1:port.
static inline bool
s_server_port_open (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TR_ASSERT (fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    bool open = connect (fd, (struct sockaddr *) &address, sizeof address) == 0;
    close (fd);
    return open;
}

//  Start argv[0] (a path) with argv, its stdout to /dev/null when quiet;
//  returns its pid.
static inline pid_t
s_server_spawn_as (char *const argv[], bool quiet)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    if (quiet)
        posix_spawn_file_actions_addopen (&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn (&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    if (rc != 0) {
        fprintf (stderr, "FAIL: cannot start %s: %s\n", argv[0], strerror (rc));
        exit (1);
    }
    return pid;
}

static inline pid_t
s_server_spawn (char *const argv[])
{
    return s_server_spawn_as (argv, false);
}

//  Run argv to its end (stdout to /dev/null); returns its exit status (-1
//  when killed).
static inline int
s_server_run (char *const argv[])
{
    pid_t pid = s_server_spawn_as (argv, true);
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Kill pid with SIGKILL and reap it (it must be our child).
static inline void
s_server_kill (pid_t pid)
{
    if (pid <= 0)
        return;
    kill (pid, SIGKILL);
    while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

//  A new private directory under /tmp (path into buffer of 64 bytes).
static inline void
s_server_tmpdir (char *buffer, size_t size, const char *name)
{
    snprintf (buffer, size, "/tmp/troupe-%s-XXXXXX", name);
    TR_ASSERT (mkdtemp (buffer));
}

static inline void
s_server_rmdir (const char *path)
{
    if (!path[0] || strncmp (path, "/tmp/troupe-", 12) != 0)
        return;  //  never anything else
    char *argv[] = {(char *) "/bin/rm", (char *) "-rf", (char *) path, NULL};
    s_server_run (argv);
}

//  Wait until port accepts connections or pid exits; fail after timeout_ms.
static inline void
s_server_wait_port (int port, pid_t pid, int timeout_ms, const char *what)
{
    int64_t deadline = s_now_ms () + timeout_ms;
    while (!s_server_port_open (port)) {
        if (pid > 0 && waitpid (pid, NULL, WNOHANG) == pid) {
            fprintf (stderr, "FAIL: %s exited before listening on port %d\n", what, port);
            exit (1);
        }
        if (s_now_ms () > deadline) {
            fprintf (stderr, "FAIL: %s not listening on port %d after %d ms\n", what, port,
                     timeout_ms);
            exit (1);
        }
        s_sleep_ms (10);
    }
}

#endif
