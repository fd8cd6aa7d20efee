//  test_bus_ipc - the event bus's ipc endpoints, from another process: a
//  SUB socket receives [topic][offset][data] by prefix, a PUSH socket
//  publishes [topic][data] in, malformed messages are counted
#include "bus_helpers.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zmq.h>

#define S_EVENTS 100
#define S_IN     50

//  The other process: no runtime, plain libzmq. Exit status 0 when every
//  check held, else the number of the check that failed.
static int
s_other_process (int order_fd)
{
    char endpoints[2][160];
    if (read (order_fd, endpoints, sizeof endpoints) != (ssize_t) sizeof endpoints)
        return 2;
    void *context = zmq_ctx_new ();
    void *sub = zmq_socket (context, ZMQ_SUB);
    int timeout = 20000;
    zmq_setsockopt (sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "ipc.", 4);
    if (zmq_connect (sub, endpoints[0]) != 0)
        return 3;
    uint64_t last = 0;
    for (int i = 0; i < S_EVENTS; i++) {
        char topic[64], data[64];
        uint64_t offset;
        int more = 0;
        size_t more_size = sizeof more;
        int topic_size = zmq_recv (sub, topic, sizeof topic - 1, 0);
        if (topic_size < 4 || memcmp (topic, "ipc.", 4) != 0)
            return 4;
        zmq_getsockopt (sub, ZMQ_RCVMORE, &more, &more_size);
        if (!more || zmq_recv (sub, &offset, sizeof offset, 0) != sizeof offset)
            return 5;
        zmq_getsockopt (sub, ZMQ_RCVMORE, &more, &more_size);
        int data_size = more ? zmq_recv (sub, data, sizeof data, 0) : -1;
        zmq_getsockopt (sub, ZMQ_RCVMORE, &more, &more_size);
        if (data_size != topic_size || memcmp (data, topic, (size_t) topic_size) != 0 || more)
            return 6;
        if (i > 0 && offset <= last)
            return 7;
        last = offset;
    }
    //  Publish in: S_IN good messages, then three bad ones.
    void *push = zmq_socket (context, ZMQ_PUSH);
    int linger = 5000;
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect (push, endpoints[1]) != 0)
        return 8;
    for (int i = 0; i < S_IN; i++) {
        char data[32];
        int size = snprintf (data, sizeof data, "from.child+%d", i);
        zmq_send (push, "from.child", 10, ZMQ_SNDMORE);
        zmq_send (push, data, (size_t) size, 0);
    }
    zmq_send (push, "from.child", 10, ZMQ_SNDMORE);  //  three frames
    zmq_send (push, "a", 1, ZMQ_SNDMORE);
    zmq_send (push, "b", 1, 0);
    zmq_send (push, "", 0, ZMQ_SNDMORE);  //  an empty topic
    zmq_send (push, "x", 1, 0);
    zmq_send (push, "lonely", 6, 0);  //  one frame
    zmq_close (push);
    zmq_close (sub);
    zmq_ctx_term (context);
    return 0;
}

int
main (void)
{
    TR_CHECK (tr_behaviour_register (&s_sub_behaviour));
    int orders[2];
    TR_ASSERT (pipe (orders) == 0);
    pid_t parent = getpid ();
    fflush (stdout);
    pid_t pid = fork ();  //  before any runtime: no threads, no ZeroMQ context
    TR_ASSERT (pid >= 0);
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (1);
        close (orders[1]);
        _exit (s_other_process (orders[0]));
    }
    close (orders[0]);

    tr_runtime_t *rt = tr_test_runtime (2);
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.ipc_publish = true;
    tr_ref_t bus;
    TR_CHECK (tr_bus_start (rt, &options, &bus));
    char endpoints[2][160];
    TR_CHECK (tr_bus_endpoint (rt, bus, endpoints[0], sizeof endpoints[0], endpoints[1],
                               sizeof endpoints[1]));
    TR_ASSERT (strncmp (endpoints[0], "ipc:///tmp/troupe-", 18) == 0);
    TR_ASSERT (strstr (endpoints[0], "/bus.tr.bus"));
    TR_ASSERT (strstr (endpoints[1], "/bus-in.tr.bus"));
    //  In the node's private run directory (0700).
    char dir[160];
    snprintf (dir, sizeof dir, "%.150s", endpoints[0] + 6);
    *strrchr (dir, '/') = 0;
    struct stat info;
    TR_ASSERT (stat (dir, &info) == 0 && (info.st_mode & 0777) == 0700);
    TR_ASSERT (stat (endpoints[0] + 6, &info) == 0 && S_ISSOCK (info.st_mode));

    tr_ref_t collector = s_sub_spawn (rt, 1, 0);
    TR_CHECK (tr_bus_subscribe (rt, bus, collector, "from.", 0));
    TR_ASSERT (write (orders[1], endpoints, sizeof endpoints) == (ssize_t) sizeof endpoints);
    //  Publish only once the other process's subscription reached the bus.
    S_WAIT_UNTIL (s_stats (rt, bus).ipc_subscriptions == 1);
    for (int i = 0; i < S_EVENTS; i++) {
        char topic[32];
        snprintf (topic, sizeof topic, "ipc.%d", i);
        s_publish_topic (rt, bus, topic, 0);
        snprintf (topic, sizeof topic, "other.%d", i);  //  not subscribed
        s_publish_topic (rt, bus, topic, 0);
    }
    //  What it published in arrives as events like any other.
    S_WAIT_UNTIL (s_sub_report (rt, collector).count == S_IN);
    int status = 0;
    TR_ASSERT (waitpid (pid, &status, 0) == pid);
    TR_ASSERT (WIFEXITED (status));
    TR_ASSERT_EQ_INT (WEXITSTATUS (status), 0);
    S_WAIT_UNTIL (s_stats (rt, bus).ipc_rejected == 3);
    tr_bus_stats_t stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.ipc_received, S_IN);
    //  Every event went to the socket while the subscription lasted (those
    //  published in may come after the other process closed its SUB).
    TR_ASSERT (stats.ipc_sent >= 2 * S_EVENTS && stats.ipc_sent <= 2 * S_EVENTS + S_IN);
    TR_ASSERT_EQ_INT (stats.ipc_dropped, 0);
    TR_ASSERT_EQ_INT (stats.published, 2 * S_EVENTS + S_IN);
    TR_ASSERT_EQ_INT (s_sub_report (rt, collector).errors, 0);
    //  The other process has gone: its subscription with it.
    S_WAIT_UNTIL (s_stats (rt, bus).ipc_subscriptions == 0);

    //  A second bus: its own paths (the name made safe for a file name).
    options.name = "a/b c";
    options.ipc_publish = false;
    tr_ref_t second;
    TR_CHECK (tr_bus_start (rt, &options, &second));
    char second_endpoint[160], in_endpoint[160];
    TR_CHECK (tr_bus_endpoint (rt, second, second_endpoint, sizeof second_endpoint, in_endpoint,
                               sizeof in_endpoint));
    TR_ASSERT (strstr (second_endpoint, "/bus.a_b_c"));
    TR_ASSERT_EQ_INT (in_endpoint[0], 0);
    //  A third without an endpoint.
    options.name = "quiet";
    options.no_ipc = true;
    tr_ref_t quiet;
    TR_CHECK (tr_bus_start (rt, &options, &quiet));
    TR_ASSERT_EQ_INT (tr_bus_endpoint (rt, quiet, second_endpoint, sizeof second_endpoint, NULL, 0),
                      TR_ENOENT);
    tr_runtime_destroy (&rt);
    //  The sockets and the run directory are gone.
    TR_ASSERT (stat (endpoints[0] + 6, &info) != 0);
    TR_ASSERT (stat (dir, &info) != 0);

    //  A node without process actors makes a run directory for its bus.
    tr_options_t runtime_options;
    tr_options_default (&runtime_options);
    runtime_options.no_processes = true;
    runtime_options.threads = 1;
    rt = tr_runtime_new (&runtime_options);
    TR_ASSERT (rt);
    TR_CHECK (tr_runtime_start (rt));
    TR_CHECK (tr_bus_start (rt, NULL, &bus));
    TR_CHECK (tr_bus_endpoint (rt, bus, endpoints[0], sizeof endpoints[0], NULL, 0));
    snprintf (dir, sizeof dir, "%.150s", endpoints[0] + 6);
    *strrchr (dir, '/') = 0;
    TR_ASSERT (stat (dir, &info) == 0 && (info.st_mode & 0777) == 0700);
    tr_runtime_destroy (&rt);
    TR_ASSERT (stat (dir, &info) != 0);
    TR_PASS ();
    return 0;
}
