//  deadletter - what could not be delivered: counted per reason, answered
//  when it was a request, and handed to the dead-letter actor
#include "clock.h"
#include "log.h"
#include "runtime.h"

#include <string.h>

static int
s_reason_index (int reason)
{
    switch (reason) {
        case TR_EDEAD: return 0;
        case TR_EUNKNOWN_TYPE: return 1;
        case TR_EMSGSIZE: return 2;
        case TR_EOVERFLOW: return 3;
        case TR_EMALFORMED: return 4;
        case TR_ESHUTDOWN: return 5;
        case TR_ETIMEDOUT: return 6;
        case TR_EPOISON: return 7;
        case TR_EFAILED: return 8;
        default: return TR__DL_REASONS - 1;
    }
}

void
tr__dead_letter_counted (tr_runtime_t *rt, int reason)
{
    atomic_fetch_add_explicit (&rt->dead_letters[s_reason_index (reason)], 1, memory_order_relaxed);
}

uint64_t
tr_dead_letter_count (tr_runtime_t *rt, int reason)
{
    if (!rt)
        return 0;
    if (reason != 0)
        return atomic_load (&rt->dead_letters[s_reason_index (reason)]);
    uint64_t total = 0;
    for (int i = 0; i < TR__DL_REASONS; i++)
        total += atomic_load (&rt->dead_letters[i]);
    return total;
}

int
tr_dead_letter_sink (tr_runtime_t *rt, tr_ref_t sink)
{
    if (!rt)
        return TR_EINVAL;
    atomic_store (&rt->dead_letter_sink, sink);
    return 0;
}

void
tr__dead_letter (tr_runtime_t *rt, tr__sched_t *sched, tr__msg_t *msg, int reason)
{
    tr__msg_pool_t *pool = sched ? &sched->pool : NULL;
    //  A dead letter that cannot be delivered itself ends here (no loops).
    if (msg->type == TR_TYPE_DEAD_LETTER) {
        tr__msg_free (pool, msg);
        return;
    }
    tr__dead_letter_counted (rt, reason);
    tr_ref_t to = atomic_load (&rt->dead_letter_ref);
    if (!to || atomic_load (&rt->state) != TR__RT_RUNNING) {
        tr__msg_free (pool, msg);
        return;
    }
    tr_dead_letter_t head = {reason, msg->type, msg->from, msg->to, msg->size};
    tr__msg_t *letter = tr__msg_new (pool, sizeof head + msg->size);
    memcpy (letter->data, &head, sizeof head);
    memcpy (letter->data + sizeof head, msg->data, msg->size);
    letter->to = to;
    letter->type = TR_TYPE_DEAD_LETTER;
    letter->flags |= TR__MSG_NODROP;
    tr__msg_free (pool, msg);
    tr__route (rt, sched, letter, false);
}

void
tr__reply_error_to (tr_runtime_t *rt, tr__sched_t *sched, tr_ref_t to, uint64_t corr, int code)
{
    if (to == TR_REF_NONE)
        return;
    int32_t value = code;
    tr__msg_t *msg = tr__msg_new (sched ? &sched->pool : NULL, sizeof value);
    memcpy (msg->data, &value, sizeof value);
    msg->to = to;
    msg->corr = corr;
    msg->flags |= TR_MSG_REPLY | TR_MSG_ERROR;
    tr__route (rt, sched, msg, false);
}

void
tr__notice (tr_runtime_t *rt, tr__sched_t *sched, tr_ref_t to, tr_ref_t from, tr_type_t type,
            uint16_t sys, uint64_t corr, const void *data, size_t size)
{
    tr__msg_t *msg = tr__msg_new (sched ? &sched->pool : NULL, size);
    msg->to = to;
    msg->from = from;
    msg->type = type;
    msg->sys = sys;
    msg->corr = corr;
    msg->flags |= sys ? TR__MSG_SYSTEM : TR__MSG_NODROP;
    if (size)
        memcpy (msg->data, data, size);
    tr__route (rt, sched, msg, false);
}

void
tr__undeliverable (tr_runtime_t *rt, tr__sched_t *sched, tr__msg_t *msg, int reason)
{
    tr__msg_pool_t *pool = sched ? &sched->pool : NULL;
    if (msg->flags & TR__MSG_SYSTEM) {
        //  Operations on a dead actor answer as if it died just now.
        if (msg->sys == TR__SYS_MONITOR) {
            tr_down_t down = {msg->to, TR_EDEAD};
            tr__notice (rt, sched, msg->from, msg->to, TR_TYPE_DOWN, 0, 0, &down, sizeof down);
        }
        else if (msg->sys == TR__SYS_LINK)
            tr__notice (rt, sched, msg->from, msg->to, 0, TR__SYS_LINK_EXIT,
                        (uint64_t) (int64_t) TR_EDEAD, NULL, 0);
        else if (msg->sys == TR__SYS_STATS || msg->sys == TR__SYS_NODE_STATS
                 || msg->sys == TR__SYS_SPAWN)
            tr__reply_error_to (rt, sched, msg->from, msg->corr, reason);
        tr__msg_free (pool, msg);
        return;
    }
    //  Count (dead-letter) first, answer second: a requester that reads the
    //  counters after its error reply sees this one.
    bool request = msg->flags & TR_MSG_REQUEST;
    tr_ref_t from = msg->from;
    uint64_t corr = msg->corr;
    tr__dead_letter (rt, sched, msg, reason);
    if (request)
        tr__reply_error_to (rt, sched, from, corr, reason);
}

//  --------------------------------------------------------------------------
//  The dead-letter actor: logs (rate-limited) and forwards to the sink.

typedef struct {
    uint64_t seen;
} s_dead_letters_t;

static int
s_on_dead_letter (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_dead_letters_t *dead_letters = state;
    dead_letters->seen++;
    tr_dead_letter_t head;
    if (msg->size < sizeof head)
        return 0;
    memcpy (&head, msg->data, sizeof head);
    //  The first ten, then one in a thousand: a flood must not drown the log.
    if (dead_letters->seen <= 10 || dead_letters->seen % 1000 == 0) {
        const char *type = tr_type_name (head.type);
        tr__warn ("dead_letters", "#%llu %s to %016llx from %016llx: %s",
                  (unsigned long long) dead_letters->seen, type ? type : "?",
                  (unsigned long long) head.to, (unsigned long long) head.from,
                  tr_strerror (head.reason));
    }
    tr_ref_t sink = atomic_load (&tr_actor_runtime (self)->dead_letter_sink);
    if (sink)
        tr_send (self, sink, TR_TYPE_DEAD_LETTER, msg->data, msg->size);
    return 0;
}

static const tr_handler_t s_dead_letter_handlers[] = {{"tr.dead_letter", s_on_dead_letter},
                                                      {NULL, NULL}};
static const tr_behaviour_t s_dead_letter_behaviour = {
    .name = "tr.dead_letters",
    .state_size = sizeof (s_dead_letters_t),
    .handlers = s_dead_letter_handlers,
};

TR__HIDDEN void tr__dead_letter_register (void);

void
tr__dead_letter_register (void)
{
    tr_behaviour_register (&s_dead_letter_behaviour);
}
