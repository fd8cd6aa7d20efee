//  test_wire - every way a process actor's frame can be malformed is
//  refused by the parser; bad process specs are refused by tr_process_start
#include "testutil.h"
#include "wire.h"

#include <string.h>

static int
s_echo (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    return tr_reply (self, msg, msg->data, msg->size);
}

static const tr_handler_t s_handlers[] = {{"w.echo", s_echo}, {NULL, NULL}};
static const tr_behaviour_t s_echoer = {"w.echoer", 0, NULL, NULL, s_handlers, NULL};

//  A well-formed MSG header for a payload of size bytes.
static void
s_head (unsigned char *head, uint64_t size)
{
    tr__wire_t wire = {.kind = TR__WIRE_MSG, .flags = TR_MSG_REQUEST, .corr = 7, .size = size};
    tr__wire_head (&wire, head);
}

static int
s_parse (const unsigned char *head, size_t head_size, const char *type, size_t payload_size)
{
    tr__wire_t wire;
    return tr__wire_parse (head, head_size, type, type ? strlen (type) : 0, payload_size, 1024,
                           &wire);
}

static void
test_parse (void)
{
    unsigned char head[TR__WIRE_HEAD];
    tr__wire_t wire;
    //  The good frame parses back to what was written.
    s_head (head, 5);
    TR_CHECK (tr__wire_parse (head, sizeof head, "w.echo", 6, 5, 1024, &wire));
    TR_ASSERT (wire.kind == TR__WIRE_MSG && wire.flags == TR_MSG_REQUEST && wire.corr == 7
               && wire.size == 5 && strcmp (wire.type, "w.echo") == 0);

    //  Header of the wrong size, or missing.
    TR_ASSERT_EQ_INT (s_parse (head, sizeof head - 1, "w.echo", 5), TR_EMALFORMED);
    TR_ASSERT_EQ_INT (s_parse (NULL, 0, "w.echo", 5), TR_EMALFORMED);
    //  Bad magic, version, kind (0 and past the last), unknown flag bits.
    unsigned char bad[TR__WIRE_HEAD];
    int offsets[] = {0, 2, 3, 3, 4};
    unsigned char values[] = {0x00, 9, 0, 6, 0x80};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        memcpy (bad, head, sizeof bad);
        bad[offsets[i]] = values[i];
        TR_ASSERT_EQ_INT (s_parse (bad, sizeof bad, "w.echo", 5), TR_EMALFORMED);
    }
    //  The payload frame's size differs from the header's.
    TR_ASSERT_EQ_INT (s_parse (head, sizeof head, "w.echo", 4), TR_EMALFORMED);
    //  Type names: missing on a MSG, too long, with a space or a control byte.
    TR_ASSERT_EQ_INT (s_parse (head, sizeof head, NULL, 5), TR_EMALFORMED);
    char long_name[80];
    memset (long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    TR_ASSERT_EQ_INT (s_parse (head, sizeof head, long_name, 5), TR_EMALFORMED);
    TR_ASSERT_EQ_INT (s_parse (head, sizeof head, "w echo", 5), TR_EMALFORMED);
    TR_ASSERT_EQ_INT (s_parse (head, sizeof head, "w.\techo", 5), TR_EMALFORMED);
    //  A payload over the maximum.
    s_head (head, 2048);
    TR_ASSERT_EQ_INT (s_parse (head, sizeof head, "w.echo", 2048), TR_EMSGSIZE);
}

static void
test_bad_specs (void)
{
    tr_runtime_t *rt = tr_test_runtime (1);
    tr_ref_t pool;
    tr_process_spec_t spec = {.behaviour = "w.no.such.behaviour"};
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_EUNKNOWN_BEHAVIOUR);
    TR_ASSERT (pool == TR_REF_NONE);
    spec = (tr_process_spec_t){0};
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_EUNKNOWN_BEHAVIOUR);
    spec = (tr_process_spec_t){.behaviour = "w.echoer", .command = "/bin/true"};
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_EINVAL);
    spec = (tr_process_spec_t){.command = "/bin/true", .arg = "x", .arg_size = 1};
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_EINVAL);
    spec = (tr_process_spec_t){.command = ""};
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_EINVAL);
    spec = (tr_process_spec_t){.behaviour = "w.echoer", .replicas = -1};
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_EINVAL);
    spec = (tr_process_spec_t){.behaviour = "w.echoer", .replicas = 257};
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_EINVAL);
    spec = (tr_process_spec_t){.behaviour = "w.echoer", .arg_size = 4};  //  no arg
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_EINVAL);
    spec = (tr_process_spec_t){.behaviour = "w.echoer", .heartbeat_ms = -5};
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_EINVAL);
    TR_ASSERT_EQ_INT (tr_process_start (rt, NULL, &pool), TR_EINVAL);
    //  A good one still starts and serves afterwards.
    spec = (tr_process_spec_t){.behaviour = "w.echoer"};
    TR_CHECK (tr_process_start (rt, &spec, &pool));
    TR_CHECK (tr_call (rt, pool, tr_type ("w.echo"), "ok", 2, 5000, NULL, NULL));
    tr_runtime_destroy (&rt);

    //  A node without process actors says so.
    tr_options_t options;
    tr_options_default (&options);
    options.threads = 1;
    options.no_processes = true;
    rt = tr_runtime_new (&options);
    TR_ASSERT (rt);
    TR_CHECK (tr_runtime_start (rt));
    TR_ASSERT_EQ_INT (tr_process_start (rt, &spec, &pool), TR_ENOTSUP);
    tr_runtime_destroy (&rt);
}

int
main (void)
{
    TR_CHECK (tr_behaviour_register (&s_echoer));  //  before any runtime: children copy it
    test_parse ();
    test_bad_specs ();
    TR_PASS ();
    return 0;
}
