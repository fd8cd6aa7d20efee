//  wire - the frames between a node and its process actors (docs/protocol.md):
//  one ZeroMQ frame per message, [40-byte header][type name][payload],
//  little-endian, versioned
#include "wire.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

static uint64_t
s_get (const unsigned char *at, int bytes)
{
    uint64_t value = 0;
    for (int i = bytes - 1; i >= 0; i--)
        value = (value << 8) | at[i];
    return value;
}

static void
s_put (unsigned char *at, uint64_t value, int bytes)
{
    for (int i = 0; i < bytes; i++, value >>= 8)
        at[i] = (unsigned char) value;
}

int
tr__wire_parse (const void *frame, size_t frame_size, size_t max_payload, tr__wire_t *wire,
                const void **payload)
{
    memset (wire, 0, sizeof *wire);
    *payload = NULL;
    if (!frame || frame_size < TR__WIRE_HEAD)
        return TR_EMALFORMED;
    const unsigned char *bytes = frame;
    if (s_get (bytes, 2) != TR__WIRE_MAGIC || bytes[2] != TR__WIRE_VERSION)
        return TR_EMALFORMED;
    wire->kind = bytes[3];
    if (wire->kind < TR__WIRE_HELLO || wire->kind > TR__WIRE_BATCH)
        return TR_EMALFORMED;
    wire->flags = (uint32_t) s_get (bytes + 4, 4);
    if (wire->flags & ~(uint32_t) (TR_MSG_REQUEST | TR_MSG_REPLY | TR_MSG_ERROR | TR_MSG_SHM))
        return TR_EMALFORMED;
    wire->corr = s_get (bytes + 8, 8);
    wire->to = s_get (bytes + 16, 8);
    wire->from = s_get (bytes + 24, 8);
    wire->size = s_get (bytes + 32, 8);
    size_t rest = frame_size - TR__WIRE_HEAD;
    if (wire->size > rest)
        return TR_EMALFORMED;
    //  A type name: 0..63 printable bytes; a message must have one.
    size_t type_size = rest - wire->size;
    if (type_size >= sizeof wire->type)
        return TR_EMALFORMED;
    const unsigned char *name = bytes + TR__WIRE_HEAD;
    for (size_t i = 0; i < type_size; i++)
        if (name[i] <= ' ' || name[i] >= 127)
            return TR_EMALFORMED;
    memcpy (wire->type, name, type_size);
    if (wire->kind == TR__WIRE_MSG && type_size == 0)
        return TR_EMALFORMED;
    if (wire->size > max_payload)
        return TR_EMSGSIZE;
    if (wire->size)
        *payload = name + type_size;
    return 0;
}

void
tr__wire_type (tr__wire_t *wire, const char *name)
{
    size_t length = strnlen (name, sizeof wire->type - 1);
    memcpy (wire->type, name, length);
    wire->type[length] = 0;
}

void
tr__wire_head (const tr__wire_t *wire, unsigned char *head)
{
    s_put (head, TR__WIRE_MAGIC, 2);
    head[2] = TR__WIRE_VERSION;
    head[3] = wire->kind;
    s_put (head + 4, wire->flags, 4);
    s_put (head + 8, wire->corr, 8);
    s_put (head + 16, wire->to, 8);
    s_put (head + 24, wire->from, 8);
    s_put (head + 32, wire->size, 8);
}

void
tr__wire_encode (const tr__wire_t *wire, const void *payload, unsigned char *out)
{
    size_t type_size = strnlen (wire->type, sizeof wire->type - 1);
    tr__wire_head (wire, out);
    memcpy (out + TR__WIRE_HEAD, wire->type, type_size);
    if (wire->size)
        memcpy (out + TR__WIRE_HEAD + type_size, payload, wire->size);
}

int
tr__wire_send (void *socket, const tr__wire_t *wire, const void *payload, int flags)
{
    zmq_msg_t frame;
    if (zmq_msg_init_size (&frame, tr__wire_size (wire)) != 0)
        return TR_EAGAIN;  //  out of memory: as if there were no room now
    tr__wire_encode (wire, payload, zmq_msg_data (&frame));
    if (zmq_msg_send (&frame, socket, flags) < 0) {
        int error = zmq_errno ();
        zmq_msg_close (&frame);
        return error == EAGAIN ? TR_EAGAIN : TR_ESTOPPED;
    }
    return 0;
}

int
tr__wire_batch_next (const void *batch, size_t size, size_t *offset, size_t max_payload,
                     tr__wire_t *wire, const void **payload)
{
    if (*offset >= size)
        return 0;
    const unsigned char *bytes = (const unsigned char *) batch + *offset;
    size_t left = size - *offset;
    if (left < 4)
        return TR_EMALFORMED;
    size_t length = (size_t) s_get (bytes, 4);
    if (length > left - 4)
        return TR_EMALFORMED;
    int rc = tr__wire_parse (bytes + 4, length, max_payload, wire, payload);
    if (rc == 0 && wire->kind == TR__WIRE_BATCH)
        rc = TR_EMALFORMED;
    if (rc != 0)
        return rc;
    *offset += 4 + length;
    return 1;
}

int
tr__wire_recv (void *socket, size_t max_payload, tr__wire_t *wire, zmq_msg_t *frame,
               const void **payload, int flags)
{
    *payload = NULL;
    memset (wire, 0, sizeof *wire);
    if (zmq_msg_recv (frame, socket, flags) < 0)
        return TR_EAGAIN;
    if (!zmq_msg_more (frame))
        return tr__wire_parse (zmq_msg_data (frame), zmq_msg_size (frame), max_payload, wire,
                               payload);
    //  More than one frame: take the rest of this message and refuse it.
    zmq_msg_t extra;
    zmq_msg_init (&extra);
    bool more = true;
    while (more && zmq_msg_recv (&extra, socket, 0) >= 0)
        more = zmq_msg_more (&extra);
    zmq_msg_close (&extra);
    return TR_EMALFORMED;
}

bool
tr__wire_out_fits (const tr__wire_out_t *out, const tr__wire_t *wire, size_t limit)
{
    size_t used = out->size > TR__WIRE_HEAD ? out->size - TR__WIRE_HEAD : 0;
    return out->count == 0 || used + 4 + tr__wire_size (wire) <= limit;
}

void
tr__wire_out_add (tr__wire_out_t *out, const tr__wire_t *wire, const void *payload)
{
    if (out->size < TR__WIRE_HEAD)
        out->size = TR__WIRE_HEAD;
    size_t size = tr__wire_size (wire);
    if (out->size + 4 + size > out->capacity) {
        out->capacity = (out->size + 4 + size) * 2;
        out->data = tr__realloc (out->data, out->capacity);
    }
    s_put (out->data + out->size, size, 4);
    tr__wire_encode (wire, payload, out->data + out->size + 4);
    out->size += 4 + size;
    out->count++;
}

const void *
tr__wire_out_frame (tr__wire_out_t *out, size_t *size)
{
    if (out->count == 0) {
        *size = 0;
        return NULL;
    }
    if (out->count == 1) {
        *size = out->size - TR__WIRE_HEAD - 4;
        return out->data + TR__WIRE_HEAD + 4;
    }
    tr__wire_t batch = {.kind = TR__WIRE_BATCH, .size = out->size - TR__WIRE_HEAD};
    tr__wire_head (&batch, out->data);
    *size = out->size;
    return out->data;
}

void
tr__wire_out_reset (tr__wire_out_t *out)
{
    out->size = TR__WIRE_HEAD;
    out->count = 0;
}

void
tr__wire_out_free (tr__wire_out_t *out)
{
    tr__free (out->data);
    memset (out, 0, sizeof *out);
}
