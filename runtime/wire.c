//  wire - the frames between a node and its process actors (docs/protocol.md):
//  [40-byte header][type name][payload], little-endian, versioned
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
tr__wire_parse (const void *head, size_t head_size, const void *type, size_t type_size,
                size_t payload_size, size_t max_payload, tr__wire_t *wire)
{
    memset (wire, 0, sizeof *wire);
    if (!head || head_size != TR__WIRE_HEAD)
        return TR_EMALFORMED;
    const unsigned char *bytes = head;
    if (s_get (bytes, 2) != TR__WIRE_MAGIC || bytes[2] != TR__WIRE_VERSION)
        return TR_EMALFORMED;
    wire->kind = bytes[3];
    if (wire->kind < TR__WIRE_HELLO || wire->kind > TR__WIRE_ACK)
        return TR_EMALFORMED;
    wire->flags = (uint32_t) s_get (bytes + 4, 4);
    if (wire->flags & ~(uint32_t) (TR_MSG_REQUEST | TR_MSG_REPLY | TR_MSG_ERROR | TR_MSG_SHM))
        return TR_EMALFORMED;
    wire->corr = s_get (bytes + 8, 8);
    wire->to = s_get (bytes + 16, 8);
    wire->from = s_get (bytes + 24, 8);
    wire->size = s_get (bytes + 32, 8);
    if (wire->size != payload_size)
        return TR_EMALFORMED;
    //  A type name: 0..63 printable bytes; a message must have one.
    if (type_size >= sizeof wire->type || (type_size && !type))
        return TR_EMALFORMED;
    const unsigned char *name = type;
    for (size_t i = 0; i < type_size; i++)
        if (name[i] <= ' ' || name[i] >= 127)
            return TR_EMALFORMED;
    if (type_size)
        memcpy (wire->type, type, type_size);
    if (wire->kind == TR__WIRE_MSG && type_size == 0)
        return TR_EMALFORMED;
    if (payload_size > max_payload)
        return TR_EMSGSIZE;
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

int
tr__wire_send (void *socket, const tr__wire_t *wire, const void *payload, int flags)
{
    unsigned char head[TR__WIRE_HEAD];
    tr__wire_head (wire, head);
    size_t type_size = strnlen (wire->type, sizeof wire->type - 1);
    //  ZeroMQ sends a multipart message atomically: all three frames or none.
    if (zmq_send (socket, head, sizeof head, flags | ZMQ_SNDMORE) < 0
        || zmq_send (socket, wire->type, type_size, flags | ZMQ_SNDMORE) < 0
        || zmq_send (socket, payload, wire->size, flags) < 0)
        return zmq_errno () == EAGAIN ? TR_EAGAIN : TR_ESTOPPED;
    return 0;
}

//  Receive one frame part into msg; false when none (or not a part).
static bool
s_part (void *socket, zmq_msg_t *msg, int flags)
{
    return zmq_msg_recv (msg, socket, flags) >= 0;
}

int
tr__wire_recv (void *socket, size_t max_payload, tr__wire_t *wire, void **payload, int flags)
{
    *payload = NULL;
    zmq_msg_t parts[3];
    int count = 0, rc = 0;
    for (int i = 0; i < 3; i++)
        zmq_msg_init (&parts[i]);
    if (!s_part (socket, &parts[0], flags)) {
        zmq_msg_close (&parts[0]);
        for (int i = 1; i < 3; i++)
            zmq_msg_close (&parts[i]);
        return TR_EAGAIN;
    }
    count = 1;
    //  Take every remaining part of this message, however many there are.
    while (zmq_msg_more (&parts[count - 1])) {
        if (count < 3) {
            s_part (socket, &parts[count], 0);
            count++;
        }
        else {
            zmq_msg_t extra;
            zmq_msg_init (&extra);
            s_part (socket, &extra, 0);
            bool more = zmq_msg_more (&extra);
            zmq_msg_close (&extra);
            rc = TR_EMALFORMED;
            if (!more)
                break;
        }
    }
    if (count != 3)
        rc = TR_EMALFORMED;
    if (rc == 0)
        rc = tr__wire_parse (zmq_msg_data (&parts[0]), zmq_msg_size (&parts[0]),
                             zmq_msg_data (&parts[1]), zmq_msg_size (&parts[1]),
                             zmq_msg_size (&parts[2]), max_payload, wire);
    if (rc == 0 && wire->size) {
        *payload = tr__alloc (wire->size);
        memcpy (*payload, zmq_msg_data (&parts[2]), wire->size);
    }
    for (int i = 0; i < 3; i++)
        zmq_msg_close (&parts[i]);
    return rc;
}
