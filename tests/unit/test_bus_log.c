//  test_bus_log - the event bus's log: a round trip through a restart,
//  replay from an offset (host and subscriber), the sync policy, and a torn
//  or corrupt tail cut off and reported
#include "bus_helpers.h"
#include "bus_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/stat.h>

static char s_dir[64];

static tr_ref_t
s_bus_on (tr_runtime_t *rt, const char *path, int sync_events, int sync_ms)
{
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.log_path = path;
    options.sync_every_events = sync_events;
    options.sync_every_ms = sync_ms;
    tr_ref_t bus;
    TR_CHECK (tr_bus_start (rt, &options, &bus));
    return bus;
}

//  The data of event i: its topic then i, as 8 bytes, then i % 300 bytes.
static size_t
s_event_data (uint64_t i, const char *topic, unsigned char *data)
{
    size_t size = strlen (topic);
    memcpy (data, topic, size);
    memcpy (data + size, &i, sizeof i);
    size += sizeof i;
    for (uint64_t k = 0; k < i % 300; k++)
        data[size++] = (unsigned char) (i + k);
    return size;
}

static void
s_topic_of (uint64_t i, char *topic)
{
    snprintf (topic, 32, "%s.%llu", i % 3 == 0 ? "t" : "u", (unsigned long long) (i % 10));
}

static void
s_publish_range (tr_runtime_t *rt, tr_ref_t bus, uint64_t from, uint64_t to)
{
    unsigned char data[512];
    char topic[32];
    for (uint64_t i = from; i < to; i++) {
        s_topic_of (i, topic);
        s_publish (rt, bus, topic, data, s_event_data (i, topic, data));
    }
}

//  tr_bus_replay callback: events must be i, i+1, ... with the data of i.
typedef struct {
    uint64_t next, count, errors, stop_at;
} s_check_t;

static int
s_check_event (const tr_bus_event_t *event, void *arg)
{
    s_check_t *check = arg;
    unsigned char data[512];
    char topic[32];
    s_topic_of (check->next, topic);
    size_t size = s_event_data (check->next, topic, data);
    if (event->offset != check->next || strcmp (event->topic, topic) != 0 || event->size != size
        || memcmp (event->data, data, size) != 0 || !(event->flags & TR_BUS_REPLAYED)
        || ((uintptr_t) event->data & 7))
        check->errors++;
    check->next = event->offset + 1;
    check->count++;
    return check->stop_at && check->count == check->stop_at ? 42 : 0;
}

static s_check_t
s_replay (tr_runtime_t *rt, tr_ref_t bus, uint64_t from, uint64_t stop_at, int expect_rc)
{
    s_check_t check = {from, 0, 0, stop_at};
    TR_ASSERT_EQ_INT (tr_bus_replay (rt, bus, from, s_check_event, &check), expect_rc);
    TR_ASSERT_EQ_INT (check.errors, 0);
    return check;
}

static uint64_t
s_file_size (const char *path)
{
    struct stat info;
    TR_ASSERT (stat (path, &info) == 0);
    return (uint64_t) info.st_size;
}

//  --------------------------------------------------------------------------

static void
test_round_trip (void)
{
    char path[128];
    snprintf (path, sizeof path, "%s/round.log", s_dir);
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_ref_t bus = s_bus_on (rt, path, 0, 0);
    tr_bus_stats_t stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.recovered, 0);
    TR_ASSERT_EQ_INT (stats.next_offset, 0);
    TR_ASSERT_EQ_INT (stats.log_bytes, TR__BUS_LOG_HEAD);

    const uint64_t n = 10000;
    s_publish_range (rt, bus, 0, n);
    S_WAIT_UNTIL (s_stats (rt, bus).written_offset == n);
    stats = s_stats (rt, bus);
    TR_ASSERT (stats.writes >= 1 && stats.writes <= n);  //  at most one per event
    TR_ASSERT_EQ_INT (stats.log_errors, 0);
    TR_ASSERT_EQ_INT (stats.log_bytes, s_file_size (path));

    //  Replays: everything, from the middle (off the index's entries), and
    //  one stopped by its callback.
    TR_ASSERT_EQ_INT (s_replay (rt, bus, 0, 0, 0).count, n);
    s_check_t check = s_replay (rt, bus, 5000, 0, 0);
    TR_ASSERT_EQ_INT (check.count, n - 5000);
    TR_ASSERT_EQ_INT (check.next, n);
    TR_ASSERT_EQ_INT (s_replay (rt, bus, 4321, 0, 0).count, n - 4321);
    TR_ASSERT_EQ_INT (s_replay (rt, bus, 9999, 0, 0).count, 1);
    TR_ASSERT_EQ_INT (s_replay (rt, bus, n + 5, 0, 0).count, 0);
    TR_ASSERT_EQ_INT (s_replay (rt, bus, 10, 7, 42).count, 7);
    tr_runtime_destroy (&rt);  //  a clean stop writes and syncs everything

    //  A new node on the same log carries on from there.
    rt = tr_test_runtime (2);
    bus = s_bus_on (rt, path, 0, 0);
    stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.recovered, n);
    TR_ASSERT_EQ_INT (stats.truncated_bytes, 0);
    TR_ASSERT_EQ_INT (stats.next_offset, n);
    TR_ASSERT_EQ_INT (stats.synced_offset, n);
    tr_ref_t sub = s_sub_spawn (rt, 0, 0);
    TR_CHECK (tr_bus_subscribe (rt, bus, sub, "", 0));
    s_publish_range (rt, bus, n, n + 5);
    S_WAIT_UNTIL (s_sub_report (rt, sub).count == 5);
    TR_ASSERT_EQ_INT (s_sub_report (rt, sub).last_offset, n + 4);  //  live offsets go on
    check = s_replay (rt, bus, n - 2, 0, 0);
    TR_ASSERT_EQ_INT (check.count, 7);
    tr_runtime_destroy (&rt);
}

static void
test_sync_policy (void)
{
    char path[128];
    snprintf (path, sizeof path, "%s/sync.log", s_dir);
    tr_runtime_t *rt = tr_test_runtime (2);

    //  By count only: a sync once 100 events are unsynced, so fewer than
    //  100 stay unsynced once the writes are done.
    tr_ref_t bus = s_bus_on (rt, path, 100, -1);
    s_publish_range (rt, bus, 0, 1000);
    S_WAIT_UNTIL (s_stats (rt, bus).written_offset == 1000);
    S_WAIT_UNTIL (s_stats (rt, bus).synced_offset > 900);
    s_sleep_ms (50);
    tr_bus_stats_t stats = s_stats (rt, bus);
    TR_ASSERT (stats.syncs >= 1);
    TR_ASSERT (stats.written_offset - stats.synced_offset < 100);
    TR_CHECK (tr_runtime_kill (rt, bus, 0));  //  stopping syncs everything
    S_WAIT_UNTIL (tr_whereis (rt, "tr.bus") == TR_REF_NONE);

    //  By time only: within sync_every_ms of the write.
    bus = s_bus_on (rt, path, -1, 20);
    stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.recovered, 1000);
    TR_ASSERT_EQ_INT (stats.synced_offset, 1000);
    s_publish_range (rt, bus, 1000, 1060);
    S_WAIT_UNTIL (s_stats (rt, bus).synced_offset == 1060);
    TR_CHECK (tr_runtime_kill (rt, bus, 0));
    S_WAIT_UNTIL (tr_whereis (rt, "tr.bus") == TR_REF_NONE);

    //  Never: written, not synced, until the bus stops.
    bus = s_bus_on (rt, path, -1, -1);
    uint64_t syncs = s_stats (rt, bus).syncs;
    s_publish_range (rt, bus, 1060, 3000);
    S_WAIT_UNTIL (s_stats (rt, bus).written_offset == 3000);
    s_sleep_ms (50);
    stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.synced_offset, 1060);
    TR_ASSERT_EQ_INT (stats.syncs, syncs);
    tr_runtime_destroy (&rt);

    rt = tr_test_runtime (1);
    bus = s_bus_on (rt, path, 0, 0);
    TR_ASSERT_EQ_INT (s_stats (rt, bus).recovered, 3000);
    TR_ASSERT_EQ_INT (s_replay (rt, bus, 0, 0, 0).count, 3000);
    tr_runtime_destroy (&rt);
}

//  A log of n events at path, stopped cleanly; returns its size.
static uint64_t
s_make_log (const char *path, uint64_t n)
{
    unlink (path);
    tr_runtime_t *rt = tr_test_runtime (1);
    tr_ref_t bus = s_bus_on (rt, path, 0, 0);
    s_publish_range (rt, bus, 0, n);
    S_WAIT_UNTIL (s_stats (rt, bus).written_offset == n);
    tr_runtime_destroy (&rt);
    return s_file_size (path);
}

//  Reopen path: the bus's figures after recovery (and check the events).
static tr_bus_stats_t
s_reopen (const char *path)
{
    tr_runtime_t *rt = tr_test_runtime (1);
    tr_ref_t bus = s_bus_on (rt, path, 0, 0);
    tr_bus_stats_t stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (s_replay (rt, bus, 0, 0, 0).count, stats.recovered);
    TR_ASSERT_EQ_INT (s_file_size (path), stats.log_bytes);
    //  The log takes new events after what it kept.
    s_publish_range (rt, bus, stats.recovered, stats.recovered + 3);
    S_WAIT_UNTIL (s_stats (rt, bus).written_offset == stats.recovered + 3);
    TR_ASSERT_EQ_INT (s_replay (rt, bus, 0, 0, 0).count, stats.recovered + 3);
    tr_runtime_destroy (&rt);
    return stats;
}

//  The position of the record of offset in the log at path.
static uint64_t
s_record_pos (const char *path, uint64_t offset)
{
    int fd = open (path, O_RDONLY);
    TR_ASSERT (fd >= 0);
    tr__bus_reader_t reader;
    tr__bus_reader_init (&reader, fd, TR__BUS_LOG_HEAD, s_file_size (path), 1 << 20);
    tr__bus_record_t record;
    uint64_t pos = 0;
    while (tr__bus_reader_next (&reader, &record) == 1)
        if (record.offset == offset)
            pos = record.pos;
    tr__bus_reader_fini (&reader);
    close (fd);
    TR_ASSERT (pos > 0);
    return pos;
}

static void
test_torn_tail (void)
{
    char path[128];
    snprintf (path, sizeof path, "%s/torn.log", s_dir);

    //  The last record cut short (a write torn by a crash).
    uint64_t size = s_make_log (path, 100);
    uint64_t last = s_record_pos (path, 99);
    TR_ASSERT (truncate (path, (off_t) (size - 7)) == 0);
    tr_bus_stats_t stats = s_reopen (path);
    TR_ASSERT_EQ_INT (stats.recovered, 99);
    TR_ASSERT_EQ_INT (stats.truncated_bytes, size - 7 - last);
    TR_ASSERT_EQ_INT (stats.next_offset, 99);
    TR_ASSERT_EQ_INT (stats.log_bytes, last);

    //  Only part of a record head.
    size = s_make_log (path, 100);
    last = s_record_pos (path, 99);
    TR_ASSERT (truncate (path, (off_t) (last + 10)) == 0);
    stats = s_reopen (path);
    TR_ASSERT_EQ_INT (stats.recovered, 99);
    TR_ASSERT_EQ_INT (stats.truncated_bytes, 10);

    //  Garbage after the last record.
    size = s_make_log (path, 100);
    int fd = open (path, O_WRONLY | O_APPEND);
    unsigned char junk[1000];
    memset (junk, 0xab, sizeof junk);
    TR_ASSERT (write (fd, junk, sizeof junk) == (ssize_t) sizeof junk);
    close (fd);
    stats = s_reopen (path);
    TR_ASSERT_EQ_INT (stats.recovered, 100);
    TR_ASSERT_EQ_INT (stats.truncated_bytes, 1000);

    //  One flipped byte in the data of record 50: its CRC fails, so it and
    //  everything after it go.
    size = s_make_log (path, 100);
    uint64_t pos = s_record_pos (path, 50);
    fd = open (path, O_RDWR);
    unsigned char byte;
    TR_ASSERT (pread (fd, &byte, 1, (off_t) pos + TR__BUS_RECORD_HEAD + 5) == 1);
    byte ^= 0x40;
    TR_ASSERT (pwrite (fd, &byte, 1, (off_t) pos + TR__BUS_RECORD_HEAD + 5) == 1);
    close (fd);
    stats = s_reopen (path);
    TR_ASSERT_EQ_INT (stats.recovered, 50);
    TR_ASSERT_EQ_INT (stats.truncated_bytes, size - pos);

    //  A record whose offset is out of sequence (a CRC that holds, but an
    //  offset that does not follow): cut there too.
    size = s_make_log (path, 20);
    pos = s_record_pos (path, 10);
    fd = open (path, O_RDWR);
    unsigned char record[TR__BUS_RECORD_HEAD + 512];
    TR_ASSERT (pread (fd, record, sizeof record, (off_t) pos) > TR__BUS_RECORD_HEAD);
    uint32_t body;
    memcpy (&body, record, 4);
    uint64_t wrong = 77;
    memcpy (record + 8, &wrong, 8);
    uint32_t crc = tr__crc32 (tr__crc32 (0, record, 4), record + 8, TR__BUS_RECORD_HEAD - 8 + body);
    memcpy (record + 4, &crc, 4);
    TR_ASSERT (pwrite (fd, record, 8 + 8, (off_t) pos) == 16);
    close (fd);
    stats = s_reopen (path);
    TR_ASSERT_EQ_INT (stats.recovered, 10);
    TR_ASSERT_EQ_INT (stats.truncated_bytes, size - pos);

    //  A torn file head (a crash while creating it): written again.
    fd = open (path, O_WRONLY | O_TRUNC);
    TR_ASSERT (write (fd, TR__BUS_LOG_MAGIC, 5) == 5);
    close (fd);
    stats = s_reopen (path);
    TR_ASSERT_EQ_INT (stats.recovered, 0);

    //  Not a bus log at all: refused, left alone.
    fd = open (path, O_WRONLY | O_TRUNC);
    TR_ASSERT (write (fd, "hello, this is not a log", 24) == 24);
    close (fd);
    tr_runtime_t *rt = tr_test_runtime (1);
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.log_path = path;
    tr_ref_t bus;
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    TR_ASSERT_EQ_INT (s_file_size (path), 24);
    tr_runtime_destroy (&rt);

    //  A record bigger than this node's max_payload, but whole: maybe from
    //  a node with a larger one. Refused rather than cut.
    unlink (path);
    rt = tr_test_runtime (1);
    bus = s_bus_on (rt, path, 0, 0);
    s_publish_range (rt, bus, 0, 5);
    char big[2000];
    memset (big, 'b', sizeof big);
    s_publish (rt, bus, "big", big, sizeof big);
    S_WAIT_UNTIL (s_stats (rt, bus).written_offset == 6);
    tr_runtime_destroy (&rt);
    size = s_file_size (path);
    tr_options_t small;
    tr_options_default (&small);
    small.threads = 1;
    small.max_payload = 1024;
    rt = tr_runtime_new (&small);
    TR_ASSERT (rt);
    TR_CHECK (tr_runtime_start (rt));
    TR_ASSERT_EQ_INT (tr_bus_start (rt, &options, &bus), TR_EINVAL);
    TR_ASSERT_EQ_INT (s_file_size (path), size);
    tr_runtime_destroy (&rt);

    //  CRC-32 is zlib's: the check value of "123456789".
    TR_ASSERT_EQ_INT (tr__crc32 (0, "123456789", 9), 0xCBF43926u);
    TR_ASSERT_EQ_INT (tr__crc32 (tr__crc32 (0, "1234", 4), "56789", 5), 0xCBF43926u);
}

//  A subscriber replays from an offset while events keep coming: it gets
//  every matching event from there on, once, in order, then live ones.
typedef struct {
    tr_runtime_t *rt;
    tr_ref_t bus;
    uint64_t next;  //  published up to here
} s_publisher_t;

//  Publish in chunks of 30 (10 of them t.*) while the replay runs; once it
//  is live, 300 more, each chunk once the one before was handled (the bound
//  of 16 applies to live events: a bigger burst would see drops).
static void *
s_publisher (void *arg)
{
    s_publisher_t *publisher = arg;
    uint64_t after = 0;
    while (after < 300) {
        s_publish_range (publisher->rt, publisher->bus, publisher->next, publisher->next + 30);
        publisher->next += 30;
        tr_bus_subscriber_t info;
        size_t count;
        TR_CHECK (tr_bus_subscribers (publisher->rt, publisher->bus, &info, 1, &count));
        if (count == 1 && !info.replaying) {
            after += 30;
            S_WAIT_UNTIL (tr_bus_subscribers (publisher->rt, publisher->bus, &info, 1, &count) == 0
                          && info.in_flight == 0);
        }
        else
            s_sleep_ms (1);
    }
    return NULL;
}

static void
test_subscribe_from (void)
{
    char path[128];
    snprintf (path, sizeof path, "%s/replay.log", s_dir);
    unlink (path);
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_ref_t bus = s_bus_on (rt, path, 0, 0);
    s_publish_range (rt, bus, 0, 3000);
    S_WAIT_UNTIL (s_stats (rt, bus).published == 3000);

    tr_ref_t sub = s_sub_spawn (rt, 2, 0);
    //  A small bound: the replay has to wait for room many times.
    s_sub_order_t order = {.bus = bus, .limit = 16, .from_offset = 1000, .replay = 1};
    snprintf (order.prefix, sizeof order.prefix, "t.");
    TR_CHECK (s_sub_order (rt, sub, &order));
    pthread_t thread;
    s_publisher_t publisher = {rt, bus, 3000};
    TR_ASSERT (pthread_create (&thread, NULL, s_publisher, &publisher) == 0);
    pthread_join (thread, NULL);
    S_WAIT_UNTIL (s_stats (rt, bus).published == publisher.next);

    //  t.* is every third event: offsets 1002, 1005, ... Each was delivered
    //  or counted as dropped: replays never drop, but live events past the
    //  bound of 16 do (the replay may end with 16 in flight, and the next
    //  live burst then finds no room).
    uint64_t expected = 0;
    for (uint64_t i = 1000; i < publisher.next; i++)
        expected += i % 3 == 0;
    tr_bus_subscriber_t info;
    size_t count;
    S_WAIT_UNTIL (tr_bus_subscribers (rt, bus, &info, 1, &count) == 0 && !info.replaying
                  && info.in_flight == 0 && info.delivered + info.dropped == expected);
    s_sub_report_t report = s_sub_report (rt, sub);
    TR_ASSERT_EQ_INT (report.count, info.delivered);
    TR_ASSERT_EQ_INT (report.errors, 0);  //  in order, no duplicate, data intact
    TR_ASSERT (report.replayed >= 666);   //  at least what was there before
    TR_ASSERT_EQ_INT (info.replayed, report.replayed);
    TR_ASSERT (report.count - report.replayed >= 50);  //  the last chunks were live
    size_t received = 0;
    uint64_t *offsets = s_sub_offsets_of (rt, sub, &received);
    TR_ASSERT_EQ_INT (received, report.count);
    uint64_t next = 1002;
    for (size_t i = 0; i < report.replayed; i++, next += 3)
        TR_ASSERT_EQ_INT (offsets[i], next);  //  the replay: no gap, no duplicate
    //  Live from where the replay ended: offsets only go up.
    TR_ASSERT (received == report.replayed || offsets[report.replayed] >= next);
    tr_free (offsets);
    tr_bus_stats_t stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.replayed, report.replayed);
    printf ("test_bus_log: subscribe_from: %llu replayed, %llu live, %llu dropped live\n",
            (unsigned long long) report.replayed,
            (unsigned long long) (report.count - report.replayed),
            (unsigned long long) info.dropped);
    tr_runtime_destroy (&rt);
}

static void
test_no_log (void)
{
    tr_runtime_t *rt = tr_test_runtime (1);
    tr_ref_t bus;
    TR_CHECK (tr_bus_start (rt, NULL, &bus));
    s_check_t check = {0, 0, 0, 0};
    TR_ASSERT_EQ_INT (tr_bus_replay (rt, bus, 0, s_check_event, &check), TR_ENOTSUP);
    //  subscribe_from on a bus without a log: live only.
    tr_ref_t sub = s_sub_spawn (rt, 0, 0);
    s_sub_order_t order = {.bus = bus, .from_offset = 0, .replay = 1};
    TR_CHECK (s_sub_order (rt, sub, &order));
    S_WAIT_UNTIL (s_stats (rt, bus).subscribers == 1);
    s_publish_topic (rt, bus, "x", 0);
    S_WAIT_UNTIL (s_sub_report (rt, sub).count == 1);
    TR_ASSERT_EQ_INT (s_sub_report (rt, sub).replayed, 0);
    tr_bus_stats_t stats = s_stats (rt, bus);
    TR_ASSERT_EQ_INT (stats.written_offset + stats.synced_offset + stats.log_bytes, 0);
    tr_runtime_destroy (&rt);
}

//  A log write that fails while a subscriber replays: the replay ends at
//  the last event the log holds, and every later event it did not get is
//  counted as dropped for it — nothing goes missing without a count.
static _Atomic int s_slow_received;

static int
s_slow_event (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    tr_bus_event_t event;
    if (tr_bus_event_read (msg, &event) == 0)
        atomic_fetch_add (&s_slow_received, 1);
    usleep (200);  //  slow: the replay is still running when the log fails
    return 0;
}

static int
s_slow_init (tr_actor_t *self, void *state, const void *arg, size_t size)
{
    (void) state;
    tr_ref_t bus;
    if (size != sizeof bus)
        return TR_EINVAL;
    memcpy (&bus, arg, sizeof bus);
    return tr_subscribe_from (self, bus, "", 8, 0);
}

static const tr_handler_t s_slow_handlers[] = {{TR_BUS_EVENT_TYPE, s_slow_event}, {NULL, NULL}};
static const tr_behaviour_t s_slow_sub = {
    .name = "test.slowsub", .init = s_slow_init, .handlers = s_slow_handlers};

static void
test_failed_log_replay (void)
{
    TR_CHECK (tr_behaviour_register (&s_slow_sub));
    signal (SIGXFSZ, SIG_IGN);
    char path[128];
    snprintf (path, sizeof path, "%s/failing.log", s_dir);
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    options.log_path = path;
    options.no_ipc = true;
    options.name = "failing";
    tr_ref_t bus, sub;
    TR_CHECK (tr_bus_start (rt, &options, &bus));
    int first = 2000, second = 1000;
    for (int i = 0; i < first; i++)
        while (tr_runtime_publish (rt, bus, "t", &i, sizeof i) != 0)
            usleep (100);
    tr_bus_stats_t stats;
    do
        TR_CHECK (tr_bus_stats (rt, bus, &stats));
    while (stats.written_offset < (uint64_t) first);
    //  From now on the file cannot grow: the next write fails (EFBIG).
    struct stat info;
    TR_ASSERT (stat (path, &info) == 0);
    struct rlimit before, limit = {(rlim_t) info.st_size, RLIM_INFINITY};
    TR_ASSERT (getrlimit (RLIMIT_FSIZE, &before) == 0);
    TR_ASSERT (setrlimit (RLIMIT_FSIZE, &limit) == 0);
    TR_CHECK (tr_spawn (rt, "test.slowsub", &bus, sizeof bus, NULL, &sub));
    s_sleep_ms (20);
    for (int i = 0; i < second; i++)
        while (tr_runtime_publish (rt, bus, "t", &i, sizeof i) != 0)
            usleep (100);
    int64_t deadline = s_now_ms () + S_WAIT_MS;
    do {
        TR_CHECK (tr_bus_stats (rt, bus, &stats));
        if (atomic_load (&s_slow_received) + (int64_t) stats.dropped >= first + second)
            break;
        s_sleep_ms (5);
    } while (s_now_ms () < deadline);
    TR_ASSERT (setrlimit (RLIMIT_FSIZE, &before) == 0);
    printf ("failed log during a replay: %d received, %llu dropped, %llu log errors\n",
            atomic_load (&s_slow_received), (unsigned long long) stats.dropped,
            (unsigned long long) stats.log_errors);
    TR_ASSERT (stats.log_errors >= 1);
    TR_ASSERT (atomic_load (&s_slow_received) >= first);  //  the log's part, replayed
    TR_ASSERT_EQ_INT (atomic_load (&s_slow_received) + (int) stats.dropped, first + second);
    TR_ASSERT (tr_dead_letter_count (rt, TR_EOVERFLOW) == stats.dropped);
    tr_runtime_destroy (&rt);
}

int
main (void)
{
    TR_CHECK (tr_behaviour_register (&s_sub_behaviour));
    s_tmpdir (s_dir, sizeof s_dir);
    test_round_trip ();
    test_sync_policy ();
    test_torn_tail ();
    test_subscribe_from ();
    test_no_log ();
    test_failed_log_replay ();  //  last: it plays with RLIMIT_FSIZE
    s_tmpdir_remove (s_dir);
    TR_PASS ();
    return 0;
}
