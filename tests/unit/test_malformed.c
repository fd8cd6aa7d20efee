//  test_malformed - frames that break the inproc mailbox protocol are
//  dropped and counted and the runtime keeps working; plus the edge cases
//  of the string map and of the process-wide type and behaviour tables
#include "registry.h"
#include "runtime.h"
#include "sched.h"
#include "strmap.h"
#include "testutil.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
//  From the sanitizer runtime (sanitizer/allocator_interface.h).
size_t __sanitizer_get_current_allocated_bytes (void);
#endif

static tr_type_t s_get;

static int
s_counter_get (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    return tr_reply (self, msg, state, sizeof (int64_t));
}

static const tr_handler_t s_counter_handlers[] = {{"get", s_counter_get}, {NULL, NULL}};
static const tr_behaviour_t s_counter = {
    .name = "counter",
    .state_size = sizeof (int64_t),
    .handlers = s_counter_handlers,
};

//  --------------------------------------------------------------------------
//  Malformed frames

//  Push raw bytes into scheduler thread's mailbox socket, as a host does.
static void
s_send_raw (tr_runtime_t *rt, uint32_t thread, const void *data, size_t size, int flags)
{
    pthread_mutex_lock (&rt->host_lock[thread]);
    int rc = zmq_send (rt->host_push[thread], data, size, flags);
    pthread_mutex_unlock (&rt->host_lock[thread]);
    TR_ASSERT_EQ_INT (rc, (int) size);
}

//  Send every kind of bad frame to thread; returns how many frames.
static int
s_send_malformed (tr_runtime_t *rt, uint32_t thread)
{
    //  Pointer values that must never be followed.
    const uintptr_t bogus[2] = {(uintptr_t) 0xdeadbeefu, (uintptr_t) 0x10u};
    unsigned char frame[4096];
    tr__frame_head_t head;
    int frames = 0;
    memset (frame, 0, sizeof frame);

    s_send_raw (rt, thread, frame, 0, 0);  //  empty
    frames++;
    s_send_raw (rt, thread, "abc", 3, 0);  //  shorter than the head
    frames++;
    s_send_raw (rt, thread, frame, sizeof head - 1, 0);
    frames++;

    //  Wrong magic, otherwise well formed.
    head = (tr__frame_head_t){0x12345678u, 1};
    memcpy (frame, &head, sizeof head);
    memcpy (frame + sizeof head, bogus, sizeof (uintptr_t));
    s_send_raw (rt, thread, frame, sizeof head + sizeof (uintptr_t), 0);
    frames++;
    //  Magic with a byte-swapped twin.
    head = (tr__frame_head_t){__builtin_bswap32 (TR__FRAME_MAGIC), 1};
    memcpy (frame, &head, sizeof head);
    s_send_raw (rt, thread, frame, sizeof head + sizeof (uintptr_t), 0);
    frames++;

    //  Count and size disagree, both ways.
    head = (tr__frame_head_t){TR__FRAME_MAGIC, 2};
    memcpy (frame, &head, sizeof head);
    memcpy (frame + sizeof head, bogus, sizeof bogus);
    s_send_raw (rt, thread, frame, sizeof head + sizeof (uintptr_t), 0);
    frames++;
    head.count = 1;
    memcpy (frame, &head, sizeof head);
    s_send_raw (rt, thread, frame, sizeof head + 2 * sizeof (uintptr_t), 0);
    frames++;
    s_send_raw (rt, thread, frame, sizeof head + sizeof (uintptr_t) + 1, 0);
    frames++;
    head.count = UINT32_MAX;
    memcpy (frame, &head, sizeof head);
    s_send_raw (rt, thread, frame, sizeof head + sizeof (uintptr_t), 0);
    frames++;
    head.count = UINT32_MAX / sizeof (uintptr_t) + 1;  //  count * 8 wraps in 32 bits
    memcpy (frame, &head, sizeof head);
    s_send_raw (rt, thread, frame, sizeof head, 0);
    frames++;

    //  Count 0: a head and nothing else.
    head.count = 0;
    memcpy (frame, &head, sizeof head);
    s_send_raw (rt, thread, frame, sizeof head, 0);
    frames++;

    //  Large garbage.
    memset (frame, 0xab, sizeof frame);
    s_send_raw (rt, thread, frame, sizeof frame, 0);
    frames++;

    //  A multipart message: each part is judged alone.
    s_send_raw (rt, thread, "abc", 3, ZMQ_SNDMORE);
    s_send_raw (rt, thread, "defgh", 5, 0);
    frames += 2;
    return frames;
}

static void
s_test_malformed_frames (void)
{
    tr_runtime_t *rt = tr_test_runtime (2);
    tr_ref_t counters[2];
    for (int thread = 0; thread < 2; thread++) {
        tr_spawn_opts_t opts = {.thread = thread + 1};
        TR_CHECK (tr_spawn (rt, "counter", NULL, 0, &opts, &counters[thread]));
    }
    TR_ASSERT_EQ_INT (atomic_load (&rt->malformed_frames), 0);

    int expected = 0;
    for (int round = 0; round < 3; round++) {
        for (uint32_t thread = 0; thread < 2; thread++) {
            expected += s_send_malformed (rt, thread);
            //  The call goes through the same socket, behind the bad frames:
            //  once it is answered they have all been seen.
            void *reply = NULL;
            size_t size = 0;
            TR_CHECK (tr_call (rt, counters[thread], s_get, NULL, 0, 2000, &reply, &size));
            TR_ASSERT_EQ_INT (size, sizeof (int64_t));
            tr_free (reply);
        }
        TR_ASSERT_EQ_INT (atomic_load (&rt->malformed_frames), expected);
    }
    //  Everything else still works: spawn, send, stats.
    tr_ref_t late;
    TR_CHECK (tr_spawn (rt, "counter", NULL, 0, NULL, &late));
    TR_CHECK (tr_call (rt, late, s_get, NULL, 0, 2000, NULL, NULL));
    tr_runtime_stats_t stats;
    TR_CHECK (tr_runtime_stats (rt, &stats));
    TR_ASSERT (stats.actors_live >= 3);

    //  Bad frames still queued at shutdown are dropped too.
    s_send_malformed (rt, 0);
    s_send_malformed (rt, 1);
    tr_runtime_destroy (&rt);
    TR_ASSERT (rt == NULL);
}

//  --------------------------------------------------------------------------
//  String map

//  Bytes the allocator holds now, or 0 when it cannot say.
static size_t
s_allocated_bytes (void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return __sanitizer_get_current_allocated_bytes ();
#else
    tr_mem_stats_t mem;
    return tr_mem_stats (&mem) == 0 ? (size_t) mem.allocated : 0;
#endif
}

static void
s_test_strmap (void)
{
    tr__strmap_t *map = tr__strmap_new ();
    TR_ASSERT (map);
    uint64_t value = 77;
    TR_ASSERT (!tr__strmap_get (map, "a", &value));
    TR_ASSERT_EQ_INT (value, 77);  //  untouched on a miss
    TR_ASSERT (!tr__strmap_remove (map, "a"));
    TR_ASSERT (tr__strmap_insert (map, "a", 1));
    TR_ASSERT (!tr__strmap_insert (map, "a", 2));  //  present: not replaced
    TR_ASSERT (tr__strmap_get (map, "a", &value));
    TR_ASSERT_EQ_INT (value, 1);
    TR_ASSERT (tr__strmap_get (map, "a", NULL));
    TR_ASSERT (!tr__strmap_get (map, "A", NULL));
    TR_ASSERT (!tr__strmap_get (map, "ab", NULL));
    TR_ASSERT (tr__strmap_remove (map, "a"));
    TR_ASSERT (!tr__strmap_remove (map, "a"));
    TR_ASSERT (!tr__strmap_get (map, "a", NULL));
    TR_ASSERT (tr__strmap_insert (map, "a", 3));  //  into the tombstone
    TR_ASSERT (tr__strmap_get (map, "a", &value));
    TR_ASSERT_EQ_INT (value, 3);

    //  The empty key, a long key, a key that is a copy (not kept by pointer).
    TR_ASSERT (tr__strmap_insert (map, "", 10));
    TR_ASSERT (tr__strmap_get (map, "", &value));
    TR_ASSERT_EQ_INT (value, 10);
    char key[2048];
    memset (key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    TR_ASSERT (tr__strmap_insert (map, key, 11));
    key[0] = 'K';
    TR_ASSERT (!tr__strmap_get (map, key, NULL));
    key[0] = 'k';
    TR_ASSERT (tr__strmap_get (map, key, &value));
    TR_ASSERT_EQ_INT (value, 11);
    TR_ASSERT_EQ_INT (tr__strmap_hash (""), tr__strmap_hash (""));
    TR_ASSERT (tr__strmap_hash ("a") != tr__strmap_hash ("b"));

    //  Many keys: growth keeps them all; removing half keeps the rest.
    enum { KEYS = 20000 };
    for (int i = 0; i < KEYS; i++) {
        snprintf (key, sizeof key, "key-%d", i);
        TR_ASSERT (tr__strmap_insert (map, key, (uint64_t) i));
    }
    for (int i = 0; i < KEYS; i += 2) {
        snprintf (key, sizeof key, "key-%d", i);
        TR_ASSERT (tr__strmap_remove (map, key));
    }
    for (int i = 0; i < KEYS; i++) {
        snprintf (key, sizeof key, "key-%d", i);
        bool found = tr__strmap_get (map, key, &value);
        TR_ASSERT (found == (i % 2 == 1));
        if (found)
            TR_ASSERT_EQ_INT (value, i);
    }
    for (int i = 0; i < KEYS; i += 2) {
        snprintf (key, sizeof key, "key-%d", i);
        TR_ASSERT (tr__strmap_insert (map, key, (uint64_t) i + 1000000));
    }
    for (int i = 0; i < KEYS; i++) {
        snprintf (key, sizeof key, "key-%d", i);
        TR_ASSERT (tr__strmap_get (map, key, &value));
        TR_ASSERT_EQ_INT (value, i % 2 ? i : i + 1000000);
    }
    TR_ASSERT (tr__strmap_get (map, "a", &value));
    TR_ASSERT_EQ_INT (value, 3);
    tr__strmap_destroy (&map);
    TR_ASSERT (map == NULL);
    tr__strmap_destroy (&map);
    tr__strmap_destroy (NULL);
}

//  Insert/remove churn with few live keys (names of short-lived actors):
//  the map must not keep growing. Returns the bytes it grew by.
static size_t
s_strmap_churn_growth (void)
{
    tr__strmap_t *map = tr__strmap_new ();
    char key[64];
    for (int i = 0; i < 8; i++) {
        snprintf (key, sizeof key, "resident-%d", i);
        TR_ASSERT (tr__strmap_insert (map, key, (uint64_t) i));
    }
    size_t before = s_allocated_bytes ();
    for (int i = 0; i < 200000; i++) {
        snprintf (key, sizeof key, "session-%d", i);
        TR_ASSERT (tr__strmap_insert (map, key, (uint64_t) i));
        TR_ASSERT (tr__strmap_remove (map, key));
    }
    size_t after = s_allocated_bytes ();
    for (int i = 0; i < 8; i++) {
        snprintf (key, sizeof key, "resident-%d", i);
        TR_ASSERT (tr__strmap_get (map, key, NULL));
    }
    tr__strmap_destroy (&map);
    if (!before)
        return 0;  //  no allocator figures in this build
    return after > before ? after - before : 0;
}

//  --------------------------------------------------------------------------
//  Process-wide tables: filled to the brim (last, nothing new fits after)

static void
s_test_registry_limits (void)
{
    //  A kit made before the tables fill up (its probe behaviour is
    //  registered on first use) keeps working after.
    tr_testkit_t *kit = tr_testkit_new ();
    TR_ASSERT (tr__behaviour_find (NULL) == NULL);
    TR_ASSERT (tr__behaviour_find ("no-such-behaviour") == NULL);
    const tr__behaviour_t *counter = tr__behaviour_find ("counter");
    TR_ASSERT (counter && counter->pub == &s_counter);
    TR_ASSERT (tr__behaviour_handler (counter, s_get) == s_counter_get);
    TR_ASSERT (tr__behaviour_handler (counter, TR_TYPE_DOWN) == NULL);
    TR_ASSERT (tr__behaviour_handler (counter, TR__MAX_TYPES + 5) == NULL);

    //  Types: 1..4095 exist at most; then TR_TYPE_NONE, old names still work.
    tr_type_t last = TR_TYPE_NONE;
    char name[64];
    for (int i = 0; i < TR__MAX_TYPES + 10; i++) {
        snprintf (name, sizeof name, "fill.type.%d", i);
        tr_type_t type = tr_type (name);
        if (type == TR_TYPE_NONE)
            break;
        TR_ASSERT (type > last);
        last = type;
    }
    TR_ASSERT_EQ_INT (last, TR__MAX_TYPES - 1);
    TR_ASSERT_EQ_INT (tr_type ("one.more.type"), TR_TYPE_NONE);
    TR_ASSERT_EQ_INT (tr_type ("get"), s_get);
    TR_ASSERT (tr_type_name (last) != NULL);
    TR_ASSERT_EQ_INT (tr_type (tr_type_name (last)), last);
    TR_ASSERT_EQ_INT (tr_type ("tr.down"), TR_TYPE_DOWN);
    //  A behaviour that needs a new type cannot be registered.
    static const tr_handler_t new_type[] = {{"brand.new.type", s_counter_get}, {NULL, NULL}};
    static const tr_behaviour_t needs_type = {.name = "needs_type", .handlers = new_type};
    TR_ASSERT_EQ_INT (tr_behaviour_register (&needs_type), TR_ETOOMANY);
    TR_ASSERT (tr__behaviour_find ("needs_type") == NULL);

    //  Behaviours: TR__MAX_BEHAVIOURS at most.
    static tr_behaviour_t fillers[TR__MAX_BEHAVIOURS];
    static char filler_names[TR__MAX_BEHAVIOURS][32];
    int registered = 0, rc = 0;
    for (int i = 0; i < TR__MAX_BEHAVIOURS; i++) {
        snprintf (filler_names[i], sizeof filler_names[i], "filler.%d", i);
        fillers[i] = (tr_behaviour_t){.name = filler_names[i], .handlers = s_counter_handlers};
        rc = tr_behaviour_register (&fillers[i]);
        if (rc != 0)
            break;
        registered++;
    }
    TR_ASSERT_EQ_INT (rc, TR_ETOOMANY);
    TR_ASSERT (registered > TR__MAX_BEHAVIOURS - 10);  //  a few are the runtime's own
    TR_ASSERT (tr__behaviour_find ("filler.0") != NULL);
    snprintf (name, sizeof name, "filler.%d", registered - 1);
    TR_ASSERT (tr__behaviour_find (name) != NULL);
    snprintf (name, sizeof name, "filler.%d", registered);
    TR_ASSERT (tr__behaviour_find (name) == NULL);
    TR_CHECK (tr_behaviour_register (&s_counter));  //  re-registering still fine
    TR_ASSERT_EQ_INT (tr_behaviour_register (&fillers[registered]), TR_ETOOMANY);

    //  Registered behaviours still spawn and run.
    tr_ref_t ref, probe = tr_testkit_probe (kit);
    TR_ASSERT (probe != TR_REF_NONE);
    TR_CHECK (tr_testkit_spawn (kit, "filler.0", NULL, 0, &ref));
    TR_CHECK (tr_testkit_request (kit, probe, ref, s_get, NULL, 0));
    tr_testkit_run (kit);
    tr_msg_t msg;
    TR_CHECK (tr_testkit_expect (kit, probe, &msg));
    TR_ASSERT (msg.flags & TR_MSG_REPLY);
    tr_testkit_destroy (&kit);
}

int
main (void)
{
    s_get = tr_type ("get");
    TR_CHECK (tr_behaviour_register (&s_counter));
    s_test_malformed_frames ();
    s_test_strmap ();
    size_t growth = s_strmap_churn_growth ();
    s_test_registry_limits ();
    //  Last, so that the tests above still run when it fails.
    if (growth > (1u << 20))
        fprintf (stderr,
                 "strmap: 200,000 insert/remove pairs with 8 live keys grew the map by %zu "
                 "bytes (tombstones make it double instead of rehash)\n",
                 growth);
    TR_ASSERT (growth <= (1u << 20));
    TR_PASS ();
    return 0;
}
