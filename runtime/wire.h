//  wire - the frames between a node and its process actors (docs/protocol.md):
//  one ZeroMQ frame per message, [40-byte header][type name][payload],
//  little-endian, versioned
#ifndef TR_WIRE_H_INCLUDED
#define TR_WIRE_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

#define TR__WIRE_MAGIC   0x5254u  //  bytes "TR"
#define TR__WIRE_VERSION 2u
#define TR__WIRE_HEAD    40u

typedef enum {
    TR__WIRE_HELLO = 1,      //  child -> parent, first: payload = replica id, pid
    TR__WIRE_MSG = 2,        //  a message, either way
    TR__WIRE_HEARTBEAT = 3,  //  child -> parent, every heartbeat interval
    TR__WIRE_BYE = 4,        //  either way: closing (payload = int32 reason)
    TR__WIRE_ACK = 5,        //  child -> parent: the message `corr` was handled
    TR__WIRE_BATCH = 6       //  child -> parent: payload = messages, each [u32 size][message]
} tr__wire_kind_t;

//  A parsed header (host byte order).
typedef struct {
    uint8_t kind;
    uint32_t flags;  //  TR_MSG_REQUEST / REPLY / ERROR
    uint64_t corr;
    uint64_t to;
    uint64_t from;
    uint64_t size;  //  payload bytes
    char type[64];  //  type name, NUL-terminated ("" when none)
} tr__wire_t;

//  Check and parse one message frame. The type name's length is what the
//  frame holds past the header and the header's payload size. Returns 0
//  and *payload (inside frame; NULL when empty), TR_EMALFORMED (short
//  frame, bad magic, version, kind, flags or type name, or a payload size
//  larger than the frame) or TR_EMSGSIZE (payload over max_payload).
TR__HIDDEN int tr__wire_parse (const void *frame, size_t frame_size, size_t max_payload,
                               tr__wire_t *wire, const void **payload);
//  Set wire->type to name (cut to 63 bytes), without printf on the hot path.
TR__HIDDEN void tr__wire_type (tr__wire_t *wire, const char *name);
//  Write the header of wire into head (TR__WIRE_HEAD bytes).
TR__HIDDEN void tr__wire_head (const tr__wire_t *wire, unsigned char *head);
//  Send wire + payload as one frame (flags: ZMQ_DONTWAIT or 0). Returns
//  0, TR_EAGAIN (no room now) or TR_ESTOPPED.
TR__HIDDEN int tr__wire_send (void *socket, const tr__wire_t *wire, const void *payload, int flags);
//  Bytes of the one-frame encoding of wire + its payload.
static inline size_t
tr__wire_size (const tr__wire_t *wire)
{
    return TR__WIRE_HEAD + strnlen (wire->type, sizeof wire->type - 1) + wire->size;
}
//  Write that encoding into out (tr__wire_size bytes).
TR__HIDDEN void tr__wire_encode (const tr__wire_t *wire, const void *payload, unsigned char *out);
//  The next message of a BATCH payload: 1 and *wire, *payload (inside the
//  batch) with *offset moved past it; 0 at the end; TR_EMALFORMED for a
//  bad entry (a short length, a message that does not parse, a batch
//  inside a batch) or TR_EMSGSIZE.
TR__HIDDEN int tr__wire_batch_next (const void *batch, size_t size, size_t *offset,
                                    size_t max_payload, tr__wire_t *wire, const void **payload);

//  Messages waiting to leave as one frame: [room for a BATCH header] then
//  [u32 size][message] each. One message leaves as itself, several as a
//  BATCH (docs/protocol.md).
typedef struct {
    unsigned char *data;
    size_t size, capacity, count;
} tr__wire_out_t;

//  Whether wire fits in out without its BATCH payload passing limit (an
//  empty out takes anything: the caller sends what passes limit alone).
TR__HIDDEN bool tr__wire_out_fits (const tr__wire_out_t *out, const tr__wire_t *wire, size_t limit);
TR__HIDDEN void tr__wire_out_add (tr__wire_out_t *out, const tr__wire_t *wire, const void *payload);
//  The frame to send for what out holds (NULL, 0 when empty).
TR__HIDDEN const void *tr__wire_out_frame (tr__wire_out_t *out, size_t *size);
TR__HIDDEN void tr__wire_out_reset (tr__wire_out_t *out);
TR__HIDDEN void tr__wire_out_free (tr__wire_out_t *out);

//  Receive one message (after any routing identity the caller took) into
//  frame, which the caller has initialised and closes. Returns 0 and
//  *payload (inside frame; NULL when empty), TR_EAGAIN when nothing is
//  there, or a parse error; a message of more than one frame is malformed
//  (its other frames are consumed).
TR__HIDDEN int tr__wire_recv (void *socket, size_t max_payload, tr__wire_t *wire, zmq_msg_t *frame,
                              const void **payload, int flags);

#endif
