//  handlers - message handlers several test programs' behaviours share
#ifndef TR_TEST_HANDLERS_H_INCLUDED
#define TR_TEST_HANDLERS_H_INCLUDED

#include <string.h>
#include <troupe.h>

//  Stop normally (answering a request first).
static inline int
s_on_stop (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) state;
    if (msg->flags & TR_MSG_REQUEST)
        tr_reply (self, msg, NULL, 0);
    tr_stop (self);
    return 0;
}

//  Return the int32 payload (default 1) from the handler: the actor fails.
static inline int
s_on_fail (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) state;
    int32_t reason = 1;
    if (msg->size == sizeof reason)
        memcpy (&reason, msg->data, sizeof reason);
    return reason;
}

#endif
