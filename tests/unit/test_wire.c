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

//  A frame: a well-formed MSG header saying `size` payload bytes, then the
//  type name and `actual` payload bytes. Returns the frame's length.
static size_t
s_frame (unsigned char *frame, const char *type, uint64_t size, size_t actual)
{
    tr__wire_t wire = {.kind = TR__WIRE_MSG, .flags = TR_MSG_REQUEST, .corr = 7, .size = size};
    tr__wire_head (&wire, frame);
    size_t type_size = type ? strlen (type) : 0;
    if (type_size)
        memcpy (frame + TR__WIRE_HEAD, type, type_size);
    memset (frame + TR__WIRE_HEAD + type_size, 'x', actual);
    return TR__WIRE_HEAD + type_size + actual;
}

static int
s_parse (const unsigned char *frame, size_t frame_size)
{
    tr__wire_t wire;
    const void *payload;
    return tr__wire_parse (frame, frame_size, 1024, &wire, &payload);
}

static void
test_parse (void)
{
    unsigned char frame[4096];
    tr__wire_t wire;
    const void *payload;
    //  The good frame parses back to what was written.
    size_t size = s_frame (frame, "w.echo", 5, 5);
    TR_CHECK (tr__wire_parse (frame, size, 1024, &wire, &payload));
    TR_ASSERT (wire.kind == TR__WIRE_MSG && wire.flags == TR_MSG_REQUEST && wire.corr == 7
               && wire.size == 5 && strcmp (wire.type, "w.echo") == 0);
    TR_ASSERT (payload == frame + TR__WIRE_HEAD + 6 && memcmp (payload, "xxxxx", 5) == 0);
    //  A control message: no type, no payload.
    tr__wire_t beat = {.kind = TR__WIRE_HEARTBEAT};
    tr__wire_head (&beat, frame);
    TR_CHECK (tr__wire_parse (frame, TR__WIRE_HEAD, 1024, &wire, &payload));
    TR_ASSERT (wire.kind == TR__WIRE_HEARTBEAT && !payload && wire.type[0] == 0);

    //  Shorter than a header, or missing.
    size = s_frame (frame, "w.echo", 5, 5);
    TR_ASSERT_EQ_INT (s_parse (frame, TR__WIRE_HEAD - 1), TR_EMALFORMED);
    TR_ASSERT_EQ_INT (s_parse (NULL, 0), TR_EMALFORMED);
    //  Bad magic, version (1: the old three-frame protocol; 9), kind (0 and
    //  past the last), unknown flag bits.
    unsigned char bad[sizeof frame];
    int offsets[] = {0, 2, 2, 3, 3, 4};
    unsigned char values[] = {0x00, 1, 9, 0, 7, 0x80};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        memcpy (bad, frame, size);
        bad[offsets[i]] = values[i];
        TR_ASSERT_EQ_INT (s_parse (bad, size), TR_EMALFORMED);
    }
    //  The header's payload size is more than the frame holds.
    TR_ASSERT_EQ_INT (s_parse (frame, s_frame (frame, "w.echo", 12, 5)), TR_EMALFORMED);
    //  Type names: missing on a MSG, too long, with a space or a control byte.
    TR_ASSERT_EQ_INT (s_parse (frame, s_frame (frame, NULL, 5, 5)), TR_EMALFORMED);
    char long_name[80];
    memset (long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    TR_ASSERT_EQ_INT (s_parse (frame, s_frame (frame, long_name, 5, 5)), TR_EMALFORMED);
    TR_ASSERT_EQ_INT (s_parse (frame, s_frame (frame, "w echo", 5, 5)), TR_EMALFORMED);
    TR_ASSERT_EQ_INT (s_parse (frame, s_frame (frame, "w.\techo", 5, 5)), TR_EMALFORMED);
    //  A payload size smaller than what follows the header leaves the rest
    //  to the type name: 6 + 60 bytes are too many for one.
    TR_ASSERT_EQ_INT (s_parse (frame, s_frame (frame, "w.echo", 0, 60)), TR_EMALFORMED);
    //  A payload over the maximum.
    TR_ASSERT_EQ_INT (s_parse (frame, s_frame (frame, "w.echo", 2048, 2048)), TR_EMSGSIZE);
}

//  A BATCH payload: [u32 size][message] per message.
static void
test_batch (void)
{
    unsigned char batch[1024];
    size_t size = 0;
    tr__wire_t wire = {.kind = TR__WIRE_MSG, .flags = TR_MSG_REPLY, .corr = 1, .size = 3};
    tr__wire_type (&wire, "w.echo");
    tr__wire_t ack = {.kind = TR__WIRE_ACK, .corr = 2};
    const tr__wire_t *parts[] = {&wire, &ack};
    for (int i = 0; i < 2; i++) {
        size_t part = tr__wire_size (parts[i]);
        for (int b = 0; b < 4; b++)
            batch[size + (size_t) b] = (unsigned char) (part >> (8 * b));
        tr__wire_encode (parts[i], "abc", batch + size + 4);
        size += 4 + part;
    }
    size_t offset = 0;
    tr__wire_t got;
    const void *payload;
    TR_ASSERT_EQ_INT (tr__wire_batch_next (batch, size, &offset, 1024, &got, &payload), 1);
    TR_ASSERT (got.kind == TR__WIRE_MSG && got.corr == 1 && strcmp (got.type, "w.echo") == 0
               && got.size == 3 && memcmp (payload, "abc", 3) == 0);
    TR_ASSERT_EQ_INT (tr__wire_batch_next (batch, size, &offset, 1024, &got, &payload), 1);
    TR_ASSERT (got.kind == TR__WIRE_ACK && got.corr == 2 && got.size == 0);
    TR_ASSERT_EQ_INT (tr__wire_batch_next (batch, size, &offset, 1024, &got, &payload), 0);
    //  A length past the end, a length field cut short, a bad message inside.
    offset = 0;
    TR_ASSERT_EQ_INT (tr__wire_batch_next (batch, size - 1, &offset, 1024, &got, &payload), 1);
    TR_ASSERT_EQ_INT (tr__wire_batch_next (batch, size - 1, &offset, 1024, &got, &payload),
                      TR_EMALFORMED);
    offset = 0;
    TR_ASSERT_EQ_INT (tr__wire_batch_next (batch, 3, &offset, 1024, &got, &payload), TR_EMALFORMED);
    unsigned char bad[1024];
    memcpy (bad, batch, size);
    bad[4 + 2] = 1;  //  the first message's version
    offset = 0;
    TR_ASSERT_EQ_INT (tr__wire_batch_next (bad, size, &offset, 1024, &got, &payload),
                      TR_EMALFORMED);
    //  A batch inside a batch.
    tr__wire_t nested = {.kind = TR__WIRE_BATCH};
    size_t part = tr__wire_size (&nested);
    for (int b = 0; b < 4; b++)
        bad[b] = (unsigned char) (part >> (8 * b));
    tr__wire_encode (&nested, NULL, bad + 4);
    offset = 0;
    TR_ASSERT_EQ_INT (tr__wire_batch_next (bad, 4 + part, &offset, 1024, &got, &payload),
                      TR_EMALFORMED);
    //  A message over the maximum payload.
    offset = 0;
    TR_ASSERT_EQ_INT (tr__wire_batch_next (batch, size, &offset, 2, &got, &payload), TR_EMSGSIZE);
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
    test_batch ();
    test_bad_specs ();
    TR_PASS ();
    return 0;
}
