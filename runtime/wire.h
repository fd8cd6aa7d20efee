//  wire - the frames between a node and its process actors (docs/protocol.md):
//  [40-byte header][type name][payload], little-endian, versioned
#ifndef TR_WIRE_H_INCLUDED
#define TR_WIRE_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

#include <stddef.h>
#include <stdint.h>

#define TR__WIRE_MAGIC   0x5254u  //  bytes "TR"
#define TR__WIRE_VERSION 1u
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

//  Check and parse one message's frames. Returns 0, TR_EMALFORMED (bad
//  size, magic, version, kind, flags, type name, or payload size that does
//  not match the header) or TR_EMSGSIZE (payload over max_payload).
TR__HIDDEN int tr__wire_parse (const void *head, size_t head_size, const void *type,
                               size_t type_size, size_t payload_size, size_t max_payload,
                               tr__wire_t *wire);
//  Set wire->type to name (cut to 63 bytes), without printf on the hot path.
TR__HIDDEN void tr__wire_type (tr__wire_t *wire, const char *name);
//  Write the header of wire into head (TR__WIRE_HEAD bytes).
TR__HIDDEN void tr__wire_head (const tr__wire_t *wire, unsigned char *head);
//  Send wire + payload as three frames (flags: ZMQ_DONTWAIT or 0). Returns
//  0 or TR_EAGAIN / TR_ESTOPPED.
TR__HIDDEN int tr__wire_send (void *socket, const tr__wire_t *wire, const void *payload, int flags);
//  Receive the three frames of one message (after any routing identity the
//  caller took). Returns 0 and *payload (tr__alloc'd, caller frees; NULL
//  when empty), TR_EAGAIN when nothing is there, or a parse error (the
//  frames are consumed either way).
TR__HIDDEN int tr__wire_recv (void *socket, size_t max_payload, tr__wire_t *wire, void **payload,
                              int flags);

#endif
