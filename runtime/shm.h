//  shm - shared-memory segments (memfd) handed between actors and process
//  actors by handle, reference counted by the messages that carry them
#ifndef TR_SHM_H_INCLUDED
#define TR_SHM_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

#include <stdint.h>

//  The payload of a TR_MSG_SHM message (docs/protocol.md): where the
//  segment is (holder pid and fd, opened as /proc/<pid>/fd/<fd>), its size,
//  and the holder's own pointer (meaningful in the holder process only).
typedef struct {
    uint32_t magic;  //  TR__SHM_MAGIC
    uint32_t pid;
    uint32_t fd;
    uint32_t reserved;
    uint64_t size;
    uint64_t holder;  //  tr_shm_t * in process `pid`
} tr__shm_handle_t;

#define TR__SHM_MAGIC 0x48535254u  //  "TRSH"

//  A message is done with: drop the reference its handle holds (in the
//  holder process; nothing elsewhere).
TR__HIDDEN void tr__shm_payload_release (const void *data, size_t size);
//  A copy of such a message is made: take a reference for it.
TR__HIDDEN void tr__shm_payload_retain (const void *data, size_t size);

#endif
