//  msg - the runtime's message: one allocation holding header and payload,
//  passed by pointer inside a node (never copied between threads)
#ifndef TR_MSG_H_INCLUDED
#define TR_MSG_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

#include <stddef.h>
#include <stdint.h>

//  A ref packs: generation (bits 0-31, never 0 for a real ref), slot index
//  (bits 32-55), thread (bits 56-62). Thread TR__HOST_THREAD names a host
//  waiter (a thread blocked in tr_call or tr_spawn) instead of an actor.
#define TR__HOST_THREAD 127u
//  Bit 63: the ref lives in another process (a process actor's parent side).
#define TR__REF_REMOTE  (1ULL << 63)
#define TR__MAX_THREADS 126
#define TR__MAX_SLOTS   (1u << 24)

static inline tr_ref_t
tr__ref_make (uint32_t thread, uint32_t index, uint32_t gen)
{
    return ((uint64_t) thread << 56) | ((uint64_t) index << 32) | gen;
}
static inline uint32_t
tr__ref_thread (tr_ref_t ref)
{
    return (uint32_t) (ref >> 56) & 0x7f;
}
static inline uint32_t
tr__ref_index (tr_ref_t ref)
{
    return (uint32_t) (ref >> 32) & 0xffffff;
}
static inline uint32_t
tr__ref_gen (tr_ref_t ref)
{
    return (uint32_t) ref;
}

//  Internal flags, beside the public TR_MSG_REQUEST/REPLY/ERROR.
#define TR__MSG_SYSTEM          0x0100u  //  a runtime operation (sys field), never dropped
#define TR__MSG_NODROP          0x0200u  //  user type but exempt from bounds (DOWN, EXIT)
#define TR__MSG_POOLED          0x0400u  //  allocated from a scheduler's block pool
#define TR__MSG_DEADLETTER_LOST 0x0800u  //  a dead letter: never dead-letter it again

//  System operations.
typedef enum {
    TR__SYS_NONE = 0,
    TR__SYS_SPAWN,    //  init a pending slot; payload tr__spawn_req_t + arg
    TR__SYS_KILL,     //  stop with reason (in corr)
    TR__SYS_MONITOR,  //  from wants DOWN when to dies
    TR__SYS_DEMONITOR,
    TR__SYS_LINK,  //  link from <-> to
    TR__SYS_UNLINK,
    TR__SYS_LINK_EXIT,    //  linked actor from died with reason (in corr)
    TR__SYS_STATS,        //  snapshot actor metrics, reply to from
    TR__SYS_NODE_STATS,   //  snapshot thread metrics, reply to from
    TR__SYS_STOP_THREAD,  //  the scheduler stops its actors and exits
} tr__sys_t;

typedef struct tr__msg tr__msg_t;
struct tr__msg {
    tr__msg_t *next;  //  mailbox link
    tr_ref_t to;
    tr_ref_t from;
    uint64_t corr;
    tr_type_t type;
    uint16_t flags;
    uint16_t sys;          //  tr__sys_t when TR__MSG_SYSTEM
    size_t size;           //  payload bytes in data
    unsigned char data[];  //  payload, 16-byte aligned
};

//  Payload of TR__SYS_SPAWN.
typedef struct {
    const void *behaviour;  //  const tr__behaviour_t *
    uint64_t mailbox_limit;
    int overflow;
    int host_wait;     //  1: reply with init's result to from
    tr_ref_t monitor;  //  gets DOWN when the child ends (0: none)
} tr__spawn_req_t;

//  Pooled blocks hold header + this many payload bytes.
#define TR__MSG_BLOCK     128
#define TR__MSG_POOL_DATA (TR__MSG_BLOCK - sizeof (tr__msg_t))

//  Allocate a message for size payload bytes, header zeroed. pool is a
//  scheduler's free list (NULL from host threads).
typedef struct tr__msg_pool {
    tr__msg_t *free_list;
    uint32_t count;
} tr__msg_pool_t;

#define TR__MSG_POOL_MAX 4096

static inline tr__msg_t *
tr__msg_new (tr__msg_pool_t *pool, size_t size)
{
    tr__msg_t *msg;
    if (size <= TR__MSG_POOL_DATA) {
        if (pool && pool->free_list) {
            msg = pool->free_list;
            pool->free_list = msg->next;
            pool->count--;
        }
        else
            msg = tr__alloc (TR__MSG_BLOCK);
        msg->flags = TR__MSG_POOLED;
    }
    else {
        msg = tr__alloc (sizeof (tr__msg_t) + size);
        msg->flags = 0;
    }
    msg->next = NULL;
    msg->to = msg->from = 0;
    msg->corr = 0;
    msg->type = 0;
    msg->sys = 0;
    msg->size = size;
    return msg;
}

TR__HIDDEN void tr__shm_payload_release (const void *data, size_t size);

static inline void
tr__msg_free (tr__msg_pool_t *pool, tr__msg_t *msg)
{
    //  A shared-memory handle holds a reference until its message is done.
    if (msg->flags & TR_MSG_SHM)
        tr__shm_payload_release (msg->data, msg->size);
    if (msg->flags & TR__MSG_POOLED) {
        if (pool && pool->count < TR__MSG_POOL_MAX) {
            msg->next = pool->free_list;
            pool->free_list = msg;
            pool->count++;
        }
        else
            tr__free_sized (msg, TR__MSG_BLOCK);
    }
    else
        tr__free_sized (msg, sizeof (tr__msg_t) + msg->size);
}

//  The message whose payload is data (from tr_payload_alloc).
static inline tr__msg_t *
tr__msg_of_payload (void *data)
{
    return (tr__msg_t *) ((char *) data - offsetof (tr__msg_t, data));
}

TR__HIDDEN void tr__msg_pool_clear (tr__msg_pool_t *pool);
//  What a handler sees of msg (valid while msg lives).
TR__HIDDEN void tr__msg_view (const tr__msg_t *msg, tr_msg_t *view);

#endif
