//  test_bus - the event bus: prefix routing across threads, per-subscriber
//  bounds with counted drops (also on the test kit), dead subscribers,
//  unsubscribing, a process pool as a subscriber, and bad input
#include "bus_helpers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

static tr_type_t s_type_check;

//  --------------------------------------------------------------------------
//  An actor that publishes on request (from a scheduler thread), and that
//  runs the actor-side API's argument checks.

typedef struct {
    tr_ref_t bus;
    char topic[64];
    uint32_t count;
    uint32_t extra;
} s_burst_t;

static int
s_pub_burst (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    s_burst_t burst;
    if (msg->size != sizeof burst)
        return TR_EINVAL;
    memcpy (&burst, msg->data, sizeof burst);
    char data[256];
    size_t size = strlen (burst.topic);
    memcpy (data, burst.topic, size);
    memset (data + size, 'x', burst.extra);
    uint32_t sent = 0;
    while (sent < burst.count) {
        int rc = tr_publish (self, burst.bus, burst.topic, data, size + burst.extra);
        if (rc == TR_EAGAIN)
            break;  //  the rest next time: a handler must not wait
        if (rc != 0)
            return rc;
        sent++;
    }
    if (sent < burst.count) {
        burst.count -= sent;
        return tr_send (self, tr_self (self), tr_type ("pub.burst"), &burst, sizeof burst);
    }
    return 0;
}

//  Replies with the results of bad calls, in order.
static int
s_pub_check (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    tr_ref_t bus;
    memcpy (&bus, msg->data, sizeof bus);
    char long_topic[TR_BUS_TOPIC_MAX + 2];
    memset (long_topic, 't', sizeof long_topic - 1);
    long_topic[sizeof long_topic - 1] = 0;
    int32_t rc[8] = {
        tr_publish (self, bus, NULL, "x", 1),
        tr_publish (self, bus, "", "x", 1),
        tr_publish (self, bus, long_topic, "x", 1),
        tr_publish (self, bus, "t", NULL, 5),
        tr_subscribe (self, bus, NULL, 0),
        tr_subscribe (self, bus, long_topic, 0),
        tr_subscribe (self, bus, "t", (size_t) TR_BUS_LIMIT_MAX + 1),
        tr_unsubscribe (self, bus, long_topic),
    };
    return tr_reply (self, msg, rc, sizeof rc);
}

static const tr_handler_t s_pub_handlers[] = {
    {"pub.burst", s_pub_burst}, {"pub.check", s_pub_check}, {NULL, NULL}};
static const tr_behaviour_t s_pub_behaviour = {"test.pub", 0, NULL, NULL, s_pub_handlers, NULL};

static void
s_burst (tr_runtime_t *rt, tr_ref_t publisher, tr_ref_t bus, const char *topic, uint32_t count)
{
    s_burst_t burst = {bus, "", count, 8};
    snprintf (burst.topic, sizeof burst.topic, "%s", topic);
    TR_CHECK (tr_runtime_send (rt, publisher, tr_type ("pub.burst"), &burst, sizeof burst));
}

//  --------------------------------------------------------------------------

static void
test_routing (void)
{
    tr_runtime_t *rt = tr_test_runtime (3);
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.thread = 1;
    tr_ref_t bus;
    TR_CHECK (tr_bus_start (rt, &options, &bus));
    TR_ASSERT (tr_whereis (rt, "tr.bus") == bus);

    //  One subscriber per thread and one more; d holds overlapping prefixes.
    //  Bounds they cannot reach (with 3 threads on 2 cores one may be off
    //  its core for a while): this is about routing, test_bounds about drops.
    const size_t limit = 1 << 20;
    tr_ref_t a = s_sub_spawn (rt, 1, 0), b = s_sub_spawn (rt, 2, 0), c = s_sub_spawn (rt, 3, 0);
    tr_ref_t d = s_sub_spawn (rt, 2, 0);
    TR_CHECK (tr_bus_subscribe (rt, bus, a, "orders.", limit));
    TR_CHECK (tr_bus_subscribe (rt, bus, b, "orders.eu", limit));
    TR_CHECK (tr_bus_subscribe (rt, bus, c, "", limit));
    //  d subscribes itself, from its own thread (asynchronous).
    s_sub_order_t order = {.bus = bus, .limit = limit};
    snprintf (order.prefix, sizeof order.prefix, "metrics.");
    TR_CHECK (s_sub_order (rt, d, &order));
    snprintf (order.prefix, sizeof order.prefix, "orders.us");
    TR_CHECK (s_sub_order (rt, d, &order));
    snprintf (order.prefix, sizeof order.prefix, "orders.");
    TR_CHECK (s_sub_order (rt, d, &order));
    //  (All three of d's prefixes: its orders are taken one by one.)
    tr_bus_subscriber_t info[8];
    size_t count = 0;
    S_WAIT_UNTIL (tr_bus_subscribers (rt, bus, info, 8, &count) == 0 && count == 4
                  && info[3].prefixes == 3);
    TR_CHECK (tr_bus_subscribers (rt, bus, info, 8, &count));
    TR_ASSERT_EQ_INT (count, 4);
    TR_ASSERT (info[0].ref == a && info[3].ref == d);  //  oldest first
    TR_ASSERT_EQ_INT (info[3].prefixes, 3);
    TR_ASSERT_EQ_INT (info[0].limit, limit);

    //  Publishers: this host thread, and an actor on thread 3.
    tr_spawn_opts_t on3 = {.thread = 3};
    tr_ref_t publisher;
    TR_CHECK (tr_spawn (rt, "test.pub", NULL, 0, &on3, &publisher));
    const int n = 500;
    for (int i = 0; i < n; i++) {
        s_publish_topic (rt, bus, "orders.eu.1", (size_t) i % 100);
        s_publish_topic (rt, bus, "metrics.cpu", 0);
        s_publish_topic (rt, bus, "other", 3);
    }
    s_burst (rt, publisher, bus, "orders.us.7", (uint32_t) n);
    S_WAIT_UNTIL (s_stats (rt, bus).published == (uint64_t) 4 * n);

    S_WAIT_UNTIL (s_sub_report (rt, c).count == (uint64_t) 4 * n);
    S_WAIT_UNTIL (s_sub_report (rt, a).count == (uint64_t) 2 * n);
    S_WAIT_UNTIL (s_sub_report (rt, b).count == (uint64_t) n);
    //  d: metrics, orders.us and (through "orders.") orders.eu: each once.
    S_WAIT_UNTIL (s_sub_report (rt, d).count == (uint64_t) 3 * n);
    s_sleep_ms (50);  //  nothing more comes
    TR_ASSERT_EQ_INT (s_sub_report (rt, a).count, 2 * n);
    TR_ASSERT_EQ_INT (s_sub_report (rt, b).count, n);
    TR_ASSERT_EQ_INT (s_sub_report (rt, c).count, 4 * n);
    TR_ASSERT_EQ_INT (s_sub_report (rt, d).count, 3 * n);
    tr_ref_t all[] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        s_sub_report_t report = s_sub_report (rt, all[i]);
        TR_ASSERT_EQ_INT (report.errors, 0);  //  in offset order, data intact
        TR_ASSERT_EQ_INT (report.replayed, 0);
    }
    TR_ASSERT_EQ_INT (s_sub_report (rt, c).last_offset, 4 * n - 1);
    tr_bus_stats_t stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.delivered, (2 + 1 + 4 + 3) * n);
    TR_ASSERT_EQ_INT (stats.dropped, 0);
    TR_ASSERT_EQ_INT (stats.next_offset, 4 * n);
    TR_ASSERT_EQ_INT (stats.written_offset, 0);  //  no log
    //  Markers drain in_flight to 0 once subscribers keep up.
    S_WAIT_UNTIL (tr_bus_subscribers (rt, bus, info, 8, &count) == 0 && info[0].in_flight == 0
                  && info[1].in_flight == 0 && info[2].in_flight == 0 && info[3].in_flight == 0);
    tr_runtime_destroy (&rt);
}

static void
test_bounds (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.thread = 2;
    tr_ref_t bus;
    TR_CHECK (tr_bus_start (rt, &options, &bus));
    //  slow: 200 µs per event, at most 8 in flight; fast: takes everything.
    tr_ref_t slow = s_sub_spawn (rt, 2, 200), fast = s_sub_spawn (rt, 1, 0);
    TR_CHECK (tr_bus_subscribe (rt, bus, slow, "t.", 8));
    TR_CHECK (tr_bus_subscribe (rt, bus, fast, "t.", 100000));
    uint64_t overflow_before = tr_dead_letter_count (rt, TR_EOVERFLOW);

    const int n = 3000;
    for (int i = 0; i < n; i++)
        s_publish_topic (rt, bus, "t.x", 16);
    S_WAIT_UNTIL (s_sub_report (rt, fast).count == (uint64_t) n);
    tr_bus_subscriber_t info[2];
    size_t count;
    //  Quiet: everything sent to slow has been handled and confirmed.
    S_WAIT_UNTIL (tr_bus_subscribers (rt, bus, info, 2, &count) == 0 && info[0].in_flight == 0
                  && info[1].in_flight == 0);
    TR_ASSERT (info[0].ref == slow);
    s_sub_report_t slow_report = s_sub_report (rt, slow);
    TR_ASSERT (info[0].dropped > 0);                            //  slow fell behind
    TR_ASSERT_EQ_INT (info[0].delivered + info[0].dropped, n);  //  every event accounted for
    TR_ASSERT_EQ_INT (slow_report.count, info[0].delivered);    //  what was sent arrived
    TR_ASSERT_EQ_INT (slow_report.errors, 0);
    TR_ASSERT_EQ_INT (info[0].limit, 8);
    TR_ASSERT_EQ_INT (info[1].dropped, 0);  //  fast lost nothing
    TR_ASSERT_EQ_INT (info[1].delivered, n);
    TR_ASSERT_EQ_INT (s_sub_report (rt, fast).errors, 0);
    tr_bus_stats_t stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.dropped, info[0].dropped);
    TR_ASSERT_EQ_INT (stats.delivered, n + info[0].delivered);
    //  Each drop is also a TR_EOVERFLOW dead letter of the runtime.
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EOVERFLOW) - overflow_before, stats.dropped);
    printf ("test_bus: bounds: slow subscriber got %llu of %d, dropped %llu\n",
            (unsigned long long) info[0].delivered, n, (unsigned long long) info[0].dropped);

    //  A subscriber whose own mailbox refuses (fail policy, bound 4) is
    //  dropped too, and counted: no silent loss either way. On the bus's
    //  thread, where a mailbox's bound is exact (from another thread, what
    //  is already on its way is queued past it).
    tr_spawn_opts_t small = {.mailbox_limit = 4, .thread = 2};
    s_sub_arg_t arg = {200};
    tr_ref_t tight;
    TR_CHECK (tr_spawn (rt, "test.sub", &arg, sizeof arg, &small, &tight));
    TR_CHECK (tr_bus_subscribe (rt, bus, tight, "u.", 1000));
    for (int i = 0; i < 500; i++)
        s_publish_topic (rt, bus, "u.y", 0);
    S_WAIT_UNTIL (tr_bus_subscribers (rt, bus, info, 2, &count) == 0 && count == 3);
    tr_bus_subscriber_t three[3];
    S_WAIT_UNTIL (tr_bus_subscribers (rt, bus, three, 3, &count) == 0
                  && three[2].delivered + three[2].dropped == 500 && three[2].in_flight == 0);
    TR_ASSERT (three[2].dropped > 0);
    TR_ASSERT_EQ_INT (s_sub_report (rt, tight).count, three[2].delivered);
    tr_runtime_destroy (&rt);
}

static void
test_dead_subscriber (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_ref_t bus;
    TR_CHECK (tr_bus_start (rt, NULL, &bus));
    tr_ref_t doomed = s_sub_spawn (rt, 2, 0), other = s_sub_spawn (rt, 1, 0);
    TR_CHECK (tr_bus_subscribe (rt, bus, doomed, "", 0));
    TR_CHECK (tr_bus_subscribe (rt, bus, other, "", 0));
    s_publish_topic (rt, bus, "a", 0);
    S_WAIT_UNTIL (s_sub_report (rt, doomed).count == 1);

    //  Killed: the bus's monitor removes it.
    TR_CHECK (tr_runtime_kill (rt, doomed, 0));
    S_WAIT_UNTIL (s_stats (rt, bus).subscribers == 1);
    tr_bus_subscriber_t info[2];
    size_t count;
    TR_CHECK (tr_bus_subscribers (rt, bus, info, 2, &count));
    TR_ASSERT_EQ_INT (count, 1);
    TR_ASSERT (info[0].ref == other);
    TR_ASSERT_EQ_INT (info[0].limit, TR_BUS_LIMIT_DEFAULT);
    for (int i = 0; i < 100; i++)
        s_publish_topic (rt, bus, "b", 0);
    S_WAIT_UNTIL (s_sub_report (rt, other).count == 101);
    TR_ASSERT_EQ_INT (s_stats (rt, bus).delivered, 2 + 100);

    //  Subscribing a dead actor fails; so does an actor that dies at once
    //  after subscribing (removed, whichever notice comes first).
    TR_ASSERT_EQ_INT (tr_bus_subscribe (rt, bus, doomed, "", 0), TR_EDEAD);
    tr_ref_t brief = s_sub_spawn (rt, 2, 0);
    TR_CHECK (tr_bus_subscribe (rt, bus, brief, "c", 0));
    TR_CHECK (tr_runtime_kill (rt, brief, 0));
    for (int i = 0; i < 50; i++)
        s_publish_topic (rt, bus, "c", 0);
    S_WAIT_UNTIL (s_stats (rt, bus).subscribers == 1);
    tr_runtime_destroy (&rt);
}

static void
test_unsubscribe (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_ref_t bus;
    TR_CHECK (tr_bus_start (rt, NULL, &bus));
    tr_ref_t sub = s_sub_spawn (rt, 2, 0);
    TR_CHECK (tr_bus_subscribe (rt, bus, sub, "x.", 0));
    TR_CHECK (tr_bus_subscribe (rt, bus, sub, "y.", 0));
    TR_CHECK (tr_bus_subscribe (rt, bus, sub, "y.", 0));  //  again: no change
    TR_CHECK (tr_bus_unsubscribe (rt, bus, sub, "x."));
    TR_ASSERT_EQ_INT (tr_bus_unsubscribe (rt, bus, sub, "x."), TR_ENOENT);
    s_publish_topic (rt, bus, "x.1", 0);
    s_publish_topic (rt, bus, "y.1", 0);
    S_WAIT_UNTIL (s_stats (rt, bus).published == 2);
    S_WAIT_UNTIL (s_sub_report (rt, sub).count == 1);
    TR_ASSERT_EQ_INT (s_sub_report (rt, sub).last_offset, 1);  //  y.1, not x.1
    //  From the actor itself: all of its prefixes.
    s_sub_order_t order = {.bus = bus, .unsubscribe = 1};
    TR_CHECK (s_sub_order (rt, sub, &order));
    S_WAIT_UNTIL (s_stats (rt, bus).subscribers == 0);
    s_publish_topic (rt, bus, "y.2", 0);
    S_WAIT_UNTIL (s_stats (rt, bus).published == 3);
    TR_ASSERT_EQ_INT (s_stats (rt, bus).delivered, 1);
    TR_ASSERT_EQ_INT (tr_bus_unsubscribe (rt, bus, sub, NULL), TR_ENOENT);
    tr_runtime_destroy (&rt);
}

//  --------------------------------------------------------------------------
//  A process pool as a subscriber: its children get the events. They count
//  them in memory shared with this process (mapped before the runtime forks
//  its zygote, so every child has it).

static _Atomic uint64_t *s_pool_seen;  //  [0] events, [1] sum of their offsets

static int
s_psub_event (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    tr_bus_event_t event;
    if (tr_bus_event_read (msg, &event) == 0 && strncmp (event.topic, "job.", 4) == 0) {
        atomic_fetch_add (&s_pool_seen[0], 1);
        atomic_fetch_add (&s_pool_seen[1], event.offset);
    }
    return 0;
}

static const tr_handler_t s_psub_handlers[] = {{TR_BUS_EVENT_TYPE, s_psub_event}, {NULL, NULL}};
static const tr_behaviour_t s_psub_behaviour = {"test.psub", 0, NULL, NULL, s_psub_handlers, NULL};

static void
test_pool_subscriber (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_ref_t bus, pool;
    TR_CHECK (tr_bus_start (rt, NULL, &bus));
    tr_process_spec_t spec = {.behaviour = "test.psub", .replicas = 2};
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_CHECK (tr_bus_subscribe (rt, bus, pool, "job.", 0));
    uint64_t sum = 0;
    for (int i = 0; i < 200; i++) {
        s_publish_topic (rt, bus, "job.run", 0);  //  offset 2 i
        s_publish_topic (rt, bus, "other", 0);
        sum += 2 * (uint64_t) i;
    }
    S_WAIT_UNTIL (atomic_load (&s_pool_seen[0]) == 200);
    TR_ASSERT_EQ_INT (atomic_load (&s_pool_seen[1]), sum);
    tr_bus_subscriber_t info;
    size_t count;
    S_WAIT_UNTIL (tr_bus_subscribers (rt, bus, &info, 1, &count) == 0 && info.in_flight == 0);
    TR_ASSERT (info.ref == pool);
    TR_ASSERT_EQ_INT (info.delivered, 200);
    TR_ASSERT_EQ_INT (info.dropped, 0);
    tr_runtime_destroy (&rt);
}

//  On the test kit: deterministic. The bus handles ten queued publishes
//  before its subscriber runs, so with a bound of 2 exactly 8 are dropped.
static void
test_testkit (void)
{
    tr_testkit_t *kit = tr_testkit_new ();
    tr_runtime_t *rt = tr_testkit_runtime (kit);
    tr_ref_t bus, sub;
    TR_CHECK (tr_bus_start (rt, NULL, &bus));
    TR_CHECK (tr_testkit_spawn (kit, "test.sub", NULL, 0, &sub));
    TR_CHECK (tr_bus_subscribe (rt, bus, sub, "k", 2));
    for (int i = 0; i < 10; i++)
        TR_CHECK (tr_runtime_publish (rt, bus, "k", "k", 1));
    tr_testkit_run (kit);
    tr_bus_stats_t stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.published, 10);
    TR_ASSERT_EQ_INT (stats.delivered, 2);
    TR_ASSERT_EQ_INT (stats.dropped, 8);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EOVERFLOW), 8);
    TR_ASSERT_EQ_INT (s_sub_report (rt, sub).count, 2);
    TR_ASSERT_EQ_INT (s_sub_report (rt, sub).last_offset, 1);
    //  Handled and confirmed: room again for the next ones.
    tr_bus_subscriber_t info;
    size_t count;
    TR_CHECK (tr_bus_subscribers (rt, bus, &info, 1, &count));
    TR_ASSERT_EQ_INT (info.in_flight, 0);
    TR_CHECK (tr_runtime_publish (rt, bus, "k", "k", 1));
    tr_testkit_run (kit);
    TR_ASSERT_EQ_INT (s_sub_report (rt, sub).count, 3);
    TR_ASSERT_EQ_INT (s_sub_report (rt, sub).last_offset, 10);

    //  A full bus refuses publishers (whatever the runtime's default
    //  policy), but still answers its control requests.
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.name = "small";
    options.mailbox_limit = 4;
    tr_ref_t small;
    TR_CHECK (tr_bus_start (rt, &options, &small));
    for (int i = 0; i < 4; i++)
        TR_CHECK (tr_runtime_publish (rt, small, "k", "k", 1));
    TR_ASSERT_EQ_INT (tr_runtime_publish (rt, small, "k", "k", 1), TR_EAGAIN);
    TR_CHECK (tr_bus_subscribe (rt, small, sub, "k", 0));
    TR_ASSERT_EQ_INT (s_stats (rt, small).published, 4);
    tr_testkit_destroy (&kit);
}

static void
test_bad_input (void)
{
    tr_options_t runtime_options;
    tr_options_default (&runtime_options);
    runtime_options.threads = 2;
    runtime_options.max_payload = 1024;
    tr_runtime_t *rt = tr_runtime_new (&runtime_options);
    TR_ASSERT (rt);
    tr_ref_t bus = TR_REF_NONE;
    TR_ASSERT_EQ_INT (tr_bus_start (rt, NULL, &bus), TR_ESTOPPED);  //  not started yet
    TR_CHECK (tr_runtime_start (rt));

    //  Options
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    TR_ASSERT_EQ_INT (tr_bus_start (NULL, &options, &bus), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, NULL), TR_EINVAL);
    options.name = "";
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    options.name = "a-name-that-is-far-too-long-for-a-bus-because-it-has-64-bytes!!!";
    TR_ASSERT_EQ_INT (strlen (options.name), 64);
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    tr_bus_options_default (&options);
    options.thread = 3;  //  there are 2
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    tr_bus_options_default (&options);
    options.sync_every_events = -2;
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    tr_bus_options_default (&options);
    options.sync_every_ms = -5;
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    tr_bus_options_default (&options);
    options.default_limit = (size_t) TR_BUS_LIMIT_MAX + 1;
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    tr_bus_options_default (&options);
    options.log_path = "";
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    options.log_path = "/nonexistent-dir/bus.log";
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    options.log_path = "/tmp";  //  a directory
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    tr_bus_options_default (&options);
    options.no_ipc = true;
    options.ipc_publish = true;
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    TR_ASSERT (tr_whereis (rt, "tr.bus") == TR_REF_NONE);  //  none of these started one

    TR_CHECK (tr_bus_start (rt, NULL, &bus));
    tr_ref_t second;
    TR_ASSERT_EQ_INT (tr_bus_start (rt, NULL, &second), TR_EEXIST);

    //  Publishing from the host
    char long_topic[TR_BUS_TOPIC_MAX + 2];
    memset (long_topic, 't', sizeof long_topic - 1);
    long_topic[sizeof long_topic - 1] = 0;
    TR_ASSERT_EQ_INT (tr_runtime_publish (NULL, bus, "t", "x", 1), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_runtime_publish (rt, bus, NULL, "x", 1), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_runtime_publish (rt, bus, "", "x", 1), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_runtime_publish (rt, bus, long_topic, "x", 1), TR_EINVAL);
    long_topic[TR_BUS_TOPIC_MAX] = 0;  //  255 bytes: fine
    TR_CHECK (tr_runtime_publish (rt, bus, long_topic, "x", 1));
    TR_ASSERT_EQ_INT (tr_runtime_publish (rt, bus, "t", NULL, 3), TR_EINVAL);
    TR_CHECK (tr_runtime_publish (rt, bus, "t", NULL, 0));  //  no data is fine
    uint64_t oversized = tr_dead_letter_count (rt, TR_EMSGSIZE);
    char big[1024] = {0};
    TR_ASSERT_EQ_INT (tr_runtime_publish (rt, bus, "t", big, sizeof big), TR_EMSGSIZE);
    TR_ASSERT_EQ_INT (tr_runtime_publish (rt, bus, "t", big, 1001), TR_EMSGSIZE);  //  + head
    TR_CHECK (tr_runtime_publish (rt, bus, "t", big, 1000));  //  1024 with its 24-byte head
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EMSGSIZE) - oversized, 2);
    S_WAIT_UNTIL (s_stats (rt, bus).published == 3);

    //  Publishing from an actor
    tr_ref_t publisher;
    TR_CHECK (tr_spawn (rt, "test.pub", NULL, 0, NULL, &publisher));
    void *reply = NULL;
    size_t size = 0;
    TR_CHECK (tr_call (rt, publisher, s_type_check, &bus, sizeof bus, 5000, &reply, &size));
    TR_ASSERT_EQ_INT (size, 8 * sizeof (int32_t));
    int32_t rc[8];
    memcpy (rc, reply, sizeof rc);
    tr_free (reply);
    for (int i = 0; i < 8; i++)
        TR_ASSERT_EQ_INT (rc[i], TR_EINVAL);

    //  Subscribing from the host
    tr_ref_t sub = s_sub_spawn (rt, 0, 0);
    TR_ASSERT_EQ_INT (tr_bus_subscribe (rt, bus, sub, NULL, 0), TR_EINVAL);
    TR_CHECK (tr_bus_subscribe (rt, bus, sub, long_topic, 0));  //  255 bytes: fine
    long_topic[TR_BUS_TOPIC_MAX] = 't';
    TR_ASSERT_EQ_INT (tr_bus_subscribe (rt, bus, sub, long_topic, 0), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_bus_subscribe (rt, bus, sub, "", (size_t) TR_BUS_LIMIT_MAX + 1),
                      TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_bus_subscribe (rt, bus, TR_REF_NONE, "", 0), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_bus_subscribe (NULL, bus, sub, "", 0), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_bus_unsubscribe (rt, bus, sub, "nothing"), TR_ENOENT);

    //  Malformed messages to the bus are rejected and counted.
    uint64_t malformed = tr_dead_letter_count (rt, TR_EMALFORMED);
    TR_CHECK (tr_runtime_send (rt, bus, tr_type ("tr.bus.publish"), "junk", 4));
    unsigned char bad_topic[32] = {0};
    uint32_t topic_size = 3;
    memcpy (bad_topic + 8, &topic_size, 4);
    memcpy (bad_topic + 16, "a\0b", 3);  //  a NUL inside the topic
    TR_CHECK (tr_runtime_send (rt, bus, tr_type ("tr.bus.publish"), bad_topic, sizeof bad_topic));
    TR_ASSERT_EQ_INT (tr_call (rt, bus, tr_type ("tr.bus.subscribe"), "short", 5, 5000, NULL, NULL),
                      TR_EMALFORMED);
    S_WAIT_UNTIL (s_stats (rt, bus).rejected == 3);
    TR_ASSERT_EQ_INT (tr_dead_letter_count (rt, TR_EMALFORMED) - malformed, 3);
    TR_ASSERT_EQ_INT (s_stats (rt, bus).published, 3);  //  none of them counted as events
    TR_ASSERT_EQ_INT (tr_call (rt, bus, tr_type ("no.such.type"), NULL, 0, 5000, NULL, NULL),
                      TR_EUNKNOWN_TYPE);

    //  Reading events
    tr_bus_event_t event;
    tr_msg_t msg = {.type = tr_type ("other"), .data = big, .size = 64};
    TR_ASSERT_EQ_INT (tr_bus_event_read (&msg, &event), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_bus_event_read (NULL, &event), TR_EINVAL);
    msg.type = tr_type (TR_BUS_EVENT_TYPE);
    TR_ASSERT_EQ_INT (tr_bus_event_read (&msg, &event), TR_EMALFORMED);  //  topic size 0
    msg.data = bad_topic;
    msg.size = sizeof bad_topic;
    TR_ASSERT_EQ_INT (tr_bus_event_read (&msg, &event), TR_EMALFORMED);
    msg.size = 10;
    TR_ASSERT_EQ_INT (tr_bus_event_read (&msg, &event), TR_EMALFORMED);

    //  Calls on what is not a bus, or nothing
    tr_bus_stats_t stats;
    TR_ASSERT_EQ_INT (tr_bus_stats (rt, sub, &stats), TR_EUNKNOWN_TYPE);
    TR_ASSERT_EQ_INT (tr_bus_stats (rt, bus, NULL), TR_EINVAL);
    TR_CHECK (tr_runtime_kill (rt, publisher, 0));
    S_WAIT_UNTIL (tr_runtime_publish (rt, publisher, "t", "x", 1) == TR_EDEAD);
    size_t count;
    TR_ASSERT_EQ_INT (tr_bus_subscribers (rt, bus, NULL, 1, &count), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_bus_replay (rt, bus, 0, NULL, NULL), TR_EINVAL);
    char endpoint[8];
    TR_ASSERT_EQ_INT (tr_bus_endpoint (rt, bus, endpoint, sizeof endpoint, NULL, 0), TR_EINVAL);
    tr_runtime_destroy (&rt);
}

int
main (void)
{
    TR_CHECK (tr_behaviour_register (&s_sub_behaviour));
    TR_CHECK (tr_behaviour_register (&s_pub_behaviour));
    TR_CHECK (tr_behaviour_register (&s_psub_behaviour));
    s_type_check = tr_type ("pub.check");
    s_pool_seen = mmap (NULL, 2 * sizeof (uint64_t), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    TR_ASSERT (s_pool_seen != MAP_FAILED);
    test_routing ();
    test_bounds ();
    test_dead_subscriber ();
    test_unsubscribe ();
    test_pool_subscriber ();
    test_testkit ();
    test_bad_input ();
    TR_PASS ();
    return 0;
}
