//  msg - the runtime's message: one allocation holding header and payload,
//  passed by pointer inside a node (never copied between threads)
#include "msg.h"

void
tr__msg_pool_clear (tr__msg_pool_t *pool)
{
    while (pool->free_list) {
        tr__msg_t *msg = pool->free_list;
        pool->free_list = msg->next;
        tr__free_sized (msg, TR__MSG_BLOCK);
    }
    pool->count = 0;
}
