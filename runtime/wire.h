//  wire - the frames between a node and its process actors (docs/protocol.md):
//  one ZeroMQ frame per message, [40-byte header][type name][payload],
//  little-endian, versioned
#ifndef TR_WIRE_H_INCLUDED
#define TR_WIRE_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define TR__WIRE_MAGIC   0x5254u  //  bytes "TR"
#define TR__WIRE_VERSION 2u
#define TR__WIRE_HEAD    40u

typedef enum {
    TR__WIRE_HELLO = 1,      //  child -> parent, first: payload = replica id, pid
    TR__WIRE_MSG = 2,        //  a message, either way
    TR__WIRE_HEARTBEAT = 3,  //  child -> parent, every heartbeat interval
    TR__WIRE_BYE = 4,        //  either way: closing (payload = int32 reason)
    TR__WIRE_ACK = 5         //  child -> parent: the message `corr` was handled
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
//  Receive one message (after any routing identity the caller took) into
//  frame, which the caller has initialised and closes. Returns 0 and
//  *payload (inside frame; NULL when empty), TR_EAGAIN when nothing is
//  there, or a parse error; a message of more than one frame is malformed
//  (its other frames are consumed).
TR__HIDDEN int tr__wire_recv (void *socket, size_t max_payload, tr__wire_t *wire, zmq_msg_t *frame,
                              const void **payload, int flags);

#endif
