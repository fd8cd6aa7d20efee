//  pool - the actor in front of a behaviour's process replicas: it keeps
//  every message until a child answers it, redelivers what a dead child
//  held, dead-letters poison, and restarts children
#include "clock.h"
#include "log.h"
#include "pool.h"
#include "procs.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"
#include "shm.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef enum { S_FORKING = 1, S_STARTING, S_READY, S_DEAD } s_replica_state_t;

typedef struct {
    uint64_t id;  //  routing identity, new for every child
    pid_t pid;
    s_replica_state_t state;
    uint32_t in_flight;
    uint64_t last_seen_ns;
    int kill_reason;  //  why we killed it, 0 if it died on its own
    int bye_reason;   //  the reason its BYE gave, if any
} s_replica_t;

//  A message held until a child answers it.
typedef struct s_flight {
    uint64_t corr;                 //  on the wire (unique in this pool)
    tr__msg_t *msg;                //  the original: from, corr, type, payload
    int replica;                   //  index, S_QUEUED or S_HELD_POISON
    uint32_t crashes;              //  children that died holding it
    struct s_flight *next_queued;  //  the queue, or an ending child's poison
} s_flight_t;

#define S_QUEUED      (-1)
#define S_HELD_POISON (-2)  //  crashed its last child, which may still answer it

//  A child whose lifeline said it is ending (TR__PROC_ENDING): until it is
//  gone (TR__PROC_DIED), an answer it sent before it died may still come,
//  and is taken. What it held is redelivered at once, but what it was the
//  last child to crash waits here to be dead-lettered as poison.
typedef struct {
    uint64_t id;
    s_flight_t *poison;
} s_ending_t;

typedef struct {
    tr_process_spec_t spec;  //  defaults filled; behaviour, arg, name owned
    const char *label;       //  for logs: the behaviour, or the command
    tr__procs_t *procs;
    s_replica_t *replicas;  //  [0, active) serve; [active, replica_count) spares
    int replica_count;
    int active;
    //  Flights by corr: open addressing, power-of-two capacity.
    s_flight_t **table;
    size_t table_capacity, flight_count;
    s_flight_t *queue_head, *queue_tail;
    size_t queued;
    uint64_t next_corr;
    uint64_t *restarts_at;  //  ring of restart times (intensity window)
    size_t restart_count;
    s_ending_t *ending;
    size_t ending_count, ending_capacity;
    tr_process_stats_t stats;
    bool failed;
} s_pool_t;

static tr_type_t s_type_check, s_type_refill;

//  How long a promoted spare's successor waits before it is forked.
#define S_REFILL_DELAY_MS 10

//  --------------------------------------------------------------------------
//  Flight table

static size_t
s_slot (s_pool_t *pool, uint64_t corr)
{
    size_t mask = pool->table_capacity - 1;
    size_t at = (size_t) (corr * 0x9E3779B97F4A7C15ULL) & mask;
    while (pool->table[at] && pool->table[at]->corr != corr)
        at = (at + 1) & mask;
    return at;
}

static void
s_table_put (s_pool_t *pool, s_flight_t *flight)
{
    if ((pool->flight_count + 1) * 2 > pool->table_capacity) {
        s_flight_t **old = pool->table;
        size_t old_capacity = pool->table_capacity;
        pool->table_capacity = old_capacity ? old_capacity * 2 : 256;
        pool->table = tr__calloc (pool->table_capacity * sizeof (s_flight_t *));
        for (size_t i = 0; i < old_capacity; i++)
            if (old[i])
                pool->table[s_slot (pool, old[i]->corr)] = old[i];
        tr__free (old);
    }
    pool->table[s_slot (pool, flight->corr)] = flight;
    pool->flight_count++;
}

static s_flight_t *
s_table_take (s_pool_t *pool, uint64_t corr)
{
    if (!pool->table_capacity)
        return NULL;
    size_t at = s_slot (pool, corr);
    s_flight_t *flight = pool->table[at];
    if (!flight)
        return NULL;
    //  Remove and re-seat the run after it (linear probing deletion).
    pool->table[at] = NULL;
    pool->flight_count--;
    size_t mask = pool->table_capacity - 1;
    for (size_t next = (at + 1) & mask; pool->table[next]; next = (next + 1) & mask) {
        s_flight_t *moved = pool->table[next];
        pool->table[next] = NULL;
        pool->table[s_slot (pool, moved->corr)] = moved;
    }
    return flight;
}

//  --------------------------------------------------------------------------
//  Children

static void
s_fork (tr_actor_t *self, s_pool_t *pool, int index)
{
    s_replica_t *replica = &pool->replicas[index];
    memset (replica, 0, sizeof *replica);
    replica->id = tr__procs_replica_new (pool->procs, tr_self (self));
    replica->state = S_FORKING;
    tr__child_args_t args = {.replica = replica->id,
                             .memory_limit = pool->spec.memory_limit,
                             .cpu_limit_s = (uint32_t) pool->spec.cpu_limit_s,
                             .heartbeat_ms = (uint32_t) pool->spec.heartbeat_ms,
                             .max_payload = tr_actor_runtime (self)->options.max_payload,
                             .arg_size = (uint32_t) pool->spec.arg_size};
    snprintf (args.behaviour, sizeof args.behaviour, "%s",
              pool->spec.behaviour ? pool->spec.behaviour : "");
    snprintf (args.command, sizeof args.command, "%s",
              pool->spec.command ? pool->spec.command : "");
    snprintf (args.endpoint, sizeof args.endpoint, "%s", tr__procs_endpoint (pool->procs));
    replica->last_seen_ns = tr__now_ns ();
    if (tr__procs_fork (pool->procs, &args, pool->spec.arg) != 0) {
        //  No zygote to ask: the child is dead at birth (restarts then run
        //  into the intensity and the pool fails, rather than wait forever).
        tr__error ("pool", "%s: cannot ask the zygote for a child", pool->label);
        tr__proc_event_t event = {.kind = TR__PROC_FORKED, .replica = replica->id};
        tr_send (self, tr_self (self), tr_type ("tr.proc.event"), &event, sizeof event);
    }
}

static int
s_pick (s_pool_t *pool)
{
    int best = -1;
    for (int i = 0; i < pool->active; i++)
        if (pool->replicas[i].state == S_READY && !pool->replicas[i].kill_reason
            && (best < 0 || pool->replicas[i].in_flight < pool->replicas[best].in_flight))
            best = i;
    return best;
}

//  Send a flight to a ready child; false if none could take it.
static bool
s_dispatch (s_pool_t *pool, s_flight_t *flight)
{
    int index = s_pick (pool);
    if (index < 0)
        return false;
    s_replica_t *replica = &pool->replicas[index];
    const tr__msg_t *msg = flight->msg;
    tr__wire_t wire = {.kind = TR__WIRE_MSG,
                       .flags = msg->flags & (TR_MSG_REQUEST | TR_MSG_SHM),
                       .corr = flight->corr,
                       .size = msg->size};
    const char *type = tr_type_name (msg->type);
    tr__wire_type (&wire, type ? type : "?");
    //  Children of the zygote read batches; programs (command) get one
    //  message per frame, as docs/protocol.md lets them expect.
    int rc = pool->spec.command ? tr__procs_send (pool->procs, replica->id, &wire, msg->data)
                                : tr__procs_queue (pool->procs, replica->id, &wire, msg->data);
    if (rc != 0)
        return false;
    flight->replica = index;
    replica->in_flight++;
    return true;
}

static void
s_queue (s_pool_t *pool, s_flight_t *flight, bool front)
{
    flight->replica = S_QUEUED;
    flight->next_queued = NULL;
    if (front) {
        flight->next_queued = pool->queue_head;
        pool->queue_head = flight;
        if (!pool->queue_tail)
            pool->queue_tail = flight;
    }
    else {
        if (pool->queue_tail)
            pool->queue_tail->next_queued = flight;
        else
            pool->queue_head = flight;
        pool->queue_tail = flight;
    }
    pool->queued++;
}

static void
s_flush_queue (s_pool_t *pool)
{
    while (pool->queue_head && s_dispatch (pool, pool->queue_head)) {
        pool->queue_head = pool->queue_head->next_queued;
        if (!pool->queue_head)
            pool->queue_tail = NULL;
        pool->queued--;
    }
}

//  Answer a flight's requester (reply or error) and forget the flight.
static void
s_finish (tr_actor_t *self, s_pool_t *pool, s_flight_t *flight, const tr__wire_t *wire,
          const void *payload, int error)
{
    tr__sched_t *sched = self->sched;
    tr__msg_t *msg = flight->msg;
    if (error) {
        //  Counted before the requester hears of it, so what it reads next
        //  already includes this dead letter.
        tr_ref_t from = msg->from;
        uint64_t corr = msg->corr;
        bool request = msg->flags & TR_MSG_REQUEST;
        tr__dead_letter (sched->rt, sched, msg, error);
        if (request)
            tr__reply_error_to (sched->rt, sched, from, corr, error);
        tr__free (flight);
        return;
    }
    if (msg->flags & TR_MSG_REQUEST) {
        {
            tr__msg_t *reply = tr__msg_new (&sched->pool, wire->size);
            reply->to = msg->from;
            reply->from = tr_self (self);
            reply->corr = msg->corr;
            reply->type = msg->type;
            reply->flags |= TR_MSG_REPLY | (wire->flags & TR_MSG_ERROR);
            if (wire->size)
                memcpy (reply->data, payload, wire->size);
            tr__route (sched->rt, sched, reply, false);
        }
    }
    tr__msg_free (&sched->pool, msg);
    tr__free (flight);
    (void) pool;
}

static int
s_exit_reason (const s_replica_t *replica, int status)
{
    if (replica->kill_reason)
        return replica->kill_reason;
    if (replica->bye_reason)
        return replica->bye_reason;
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
        return 0;
    return TR_ECRASHED;
}

//  Too many restarts in the period: the pool fails.
static bool
s_over_intensity (s_pool_t *pool)
{
    uint64_t now = tr__now_ns (), period = (uint64_t) pool->spec.restart_period_ms * 1000000ULL;
    size_t kept = 0;
    for (size_t i = 0; i < pool->restart_count; i++)
        if (now - pool->restarts_at[i] < period)
            pool->restarts_at[kept++] = pool->restarts_at[i];
    pool->restart_count = kept;
    if (kept >= (size_t) pool->spec.restart_intensity)
        return true;
    pool->restarts_at[pool->restart_count++] = now;
    return false;
}

//  A flight that crashed max_retries children: dead-lettered as poison.
static void
s_poison (tr_actor_t *self, s_pool_t *pool, s_flight_t *flight)
{
    s_table_take (pool, flight->corr);
    pool->stats.poisoned++;
    tr__warn ("pool", "%s: message %s crashed %u children: dead-lettered as poison", pool->label,
              tr_type_name (flight->msg->type), flight->crashes);
    s_finish (self, pool, flight, NULL, NULL, TR_EPOISON);
}

//  Take a flight out of the queue (it is in it).
static void
s_unqueue (s_pool_t *pool, s_flight_t *flight)
{
    s_flight_t **link = &pool->queue_head, *previous = NULL;
    while (*link && *link != flight) {
        previous = *link;
        link = &(*link)->next_queued;
    }
    if (!*link)
        return;
    *link = flight->next_queued;
    if (pool->queue_tail == flight)
        pool->queue_tail = previous;
    pool->queued--;
}

//  A child died (ending: its main thread ended, the rest may follow).
static void
s_child_died (tr_actor_t *self, s_pool_t *pool, int index, int status, bool ending)
{
    s_replica_t *replica = &pool->replicas[index];
    int reason = s_exit_reason (replica, status);
    pool->stats.last_exit_reason = reason;
    replica->state = S_DEAD;
    s_ending_t *entry = NULL;
    if (ending) {
        if (pool->ending_count == pool->ending_capacity) {
            pool->ending_capacity = pool->ending_capacity ? 2 * pool->ending_capacity : 4;
            pool->ending = tr__realloc (pool->ending, pool->ending_capacity * sizeof (s_ending_t));
        }
        entry = &pool->ending[pool->ending_count++];
        *entry = (s_ending_t){.id = replica->id, .poison = NULL};
    }
    else
        tr__procs_replica_forget (pool->procs, replica->id);
    if (WIFSIGNALED (status))
        tr__warn ("pool", "%s: child %d died on signal %d (%s)", pool->label, (int) replica->pid,
                  WTERMSIG (status), tr_strerror (reason));
    else
        tr__warn ("pool", "%s: child %d exited with %d (%s)", pool->label, (int) replica->pid,
                  WEXITSTATUS (status), tr_strerror (reason));
    //  What it held goes to the front of the queue, in corr order, unless it
    //  has now crashed max_retries children: then it is poison.
    s_flight_t **held = tr__alloc ((pool->flight_count + 1) * sizeof *held);
    size_t count = 0;
    for (size_t i = 0; i < pool->table_capacity; i++)
        if (pool->table[i] && pool->table[i]->replica == index)
            held[count++] = pool->table[i];
    for (size_t i = 1; i < count; i++)  //  insertion sort by corr, newest first
        for (size_t j = i; j > 0 && held[j - 1]->corr < held[j]->corr; j--) {
            s_flight_t *swap = held[j];
            held[j] = held[j - 1];
            held[j - 1] = swap;
        }
    for (size_t i = 0; i < count; i++) {
        s_flight_t *flight = held[i];
        flight->crashes++;
        if (flight->crashes >= (uint32_t) pool->spec.max_retries && entry) {
            flight->replica = S_HELD_POISON;
            flight->next_queued = entry->poison;
            entry->poison = flight;
        }
        else if (flight->crashes >= (uint32_t) pool->spec.max_retries)
            s_poison (self, pool, flight);
        else {
            pool->stats.redelivered++;
            s_queue (pool, flight, true);
        }
    }
    tr__free (held);
    replica->in_flight = 0;
    if (pool->failed)
        return;
    if (s_over_intensity (pool)) {
        tr__error ("pool", "%s: more than %d restarts in %d ms: the pool gives up", pool->label,
                   pool->spec.restart_intensity, pool->spec.restart_period_ms);
        pool->failed = true;
        tr_fail (self, TR_EESCALATED);
        return;
    }
    pool->stats.restarts++;
    //  A ready spare takes the dead child's place at once; a new spare is
    //  forked behind it. Without one, a new child is forked for the place.
    int spare = -1;
    for (int i = pool->active; index < pool->active && i < pool->replica_count; i++)
        if (pool->replicas[i].state == S_READY && !pool->replicas[i].kill_reason) {
            spare = i;
            break;
        }
    if (spare >= 0) {
        //  Redeliver to the promoted spare first, then fork its successor:
        //  on two cores the fork would compete with serving what waits.
        pool->replicas[index] = pool->replicas[spare];
        pool->replicas[index].in_flight = 0;
        pool->replicas[spare].state = S_DEAD;
        s_flush_queue (pool);
        //  The new spare a little later: a fork and a child's start-up now
        //  would take the CPU from the promoted spare answering what waits.
        uint64_t slot = (uint64_t) spare;
        tr_send_after (self, S_REFILL_DELAY_MS, tr_self (self), s_type_refill, &slot, sizeof slot,
                       NULL);
    }
    else {
        s_fork (self, pool, index);
        s_flush_queue (pool);
    }
}

static void
s_kill (s_pool_t *pool, s_replica_t *replica, int reason)
{
    if (replica->state == S_DEAD || replica->kill_reason)
        return;
    replica->kill_reason = reason;
    tr__procs_kill (pool->procs, replica->pid);
}

//  A child broke the protocol: counted, logged, killed and replaced; the
//  node stays healthy and what it held is redelivered.
static void
s_violation (s_pool_t *pool, s_replica_t *replica, const char *what)
{
    pool->stats.malformed++;
    tr__warn ("pool", "%s: child %d sent %s: replacing it", pool->label, (int) replica->pid, what);
    s_kill (pool, replica, TR_EMALFORMED);
}

//  An event about a child that is ending (else about one long gone: none).
static void
s_on_ending (tr_actor_t *self, s_pool_t *pool, const tr__proc_event_t *event, const void *payload)
{
    size_t at = 0;
    while (at < pool->ending_count && pool->ending[at].id != event->replica)
        at++;
    if (at == pool->ending_count)
        return;
    s_ending_t *entry = &pool->ending[at];
    if (event->kind == TR__PROC_DIED) {
        //  Gone: what it was the last to crash is poison after all.
        for (s_flight_t *flight = entry->poison, *next; flight; flight = next) {
            next = flight->next_queued;
            s_poison (self, pool, flight);
        }
        tr__procs_replica_forget (pool->procs, entry->id);
        *entry = pool->ending[--pool->ending_count];
        return;
    }
    bool ack = event->kind == TR__PROC_WIRE && event->wire.kind == TR__WIRE_ACK;
    bool reply = event->kind == TR__PROC_WIRE && event->wire.kind == TR__WIRE_MSG
                 && (event->wire.flags & TR_MSG_REPLY);
    if ((!ack && !reply) || event->wire.corr == 0 || event->wire.corr >= pool->next_corr)
        return;  //  only its answers count now
    s_flight_t *flight = s_table_take (pool, event->wire.corr);
    if (!flight) {
        pool->stats.duplicates++;
        return;
    }
    if (((flight->msg->flags & TR_MSG_REQUEST) != 0) != reply) {
        s_table_put (pool, flight);  //  not in kind: ignored
        return;
    }
    //  Answered before it died: wherever it waits again, it is done.
    if (flight->replica >= 0 && pool->replicas[flight->replica].in_flight)
        pool->replicas[flight->replica].in_flight--;
    else if (flight->replica == S_QUEUED)
        s_unqueue (pool, flight);
    else if (flight->replica == S_HELD_POISON) {
        s_flight_t **link = &entry->poison;
        while (*link && *link != flight)
            link = &(*link)->next_queued;
        if (*link)
            *link = flight->next_queued;
    }
    pool->stats.answered++;
    s_finish (self, pool, flight, &event->wire, payload, 0);
}

//  --------------------------------------------------------------------------
//  The behaviour

static int
s_find (s_pool_t *pool, uint64_t id)
{
    for (int i = 0; i < pool->replica_count; i++)
        if (pool->replicas[i].id == id && pool->replicas[i].state != S_DEAD)
            return i;
    return -1;
}

static int
s_on_event (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_pool_t *pool = state;
    tr__proc_event_t event;
    if (msg->size < sizeof event || msg->from != tr_self (self))
        return 0;  //  only the process manager (or we) post events
    memcpy (&event, msg->data, sizeof event);
    const void *payload = (const char *) msg->data + sizeof event;
    int index = s_find (pool, event.replica);
    if (index < 0) {
        s_on_ending (self, pool, &event, payload);  //  an old child's last words
        s_flush_queue (pool);
        return 0;
    }
    s_replica_t *replica = &pool->replicas[index];
    replica->last_seen_ns = tr__now_ns ();
    switch (event.kind) {
        case TR__PROC_FORKED:
            if (event.pid <= 0) {
                s_child_died (self, pool, index, 1 << 8, false);
                break;
            }
            //  Its HELLO (over the socket) may have come before this report
            //  (over the zygote's channel): never move a ready child back.
            replica->pid = event.pid;
            if (replica->state == S_FORKING)
                replica->state = S_STARTING;
            if (replica->kill_reason)  //  ordered killed before its pid was known
                tr__procs_kill (pool->procs, replica->pid);
            break;
        case TR__PROC_DIED: s_child_died (self, pool, index, event.status, false); break;
        case TR__PROC_ENDING: s_child_died (self, pool, index, event.status, true); break;
        case TR__PROC_MALFORMED:
            pool->stats.malformed++;
            s_kill (pool, replica, TR_EMALFORMED);
            break;
        case TR__PROC_WIRE:
            switch (event.wire.kind) {
                case TR__WIRE_HELLO: {
                    uint64_t hello[2];
                    if (event.wire.size != sizeof hello) {
                        s_violation (pool, replica, "a bad HELLO");
                        break;
                    }
                    replica->state = S_READY;
                    s_flush_queue (pool);
                    break;
                }
                case TR__WIRE_HEARTBEAT: break;
                case TR__WIRE_BYE: {
                    //  Its exit follows; keep the reason it gives (init failed).
                    int32_t reason = 0;
                    if (event.wire.size == sizeof reason)
                        memcpy (&reason, payload, sizeof reason);
                    if (!replica->kill_reason && reason < 0)
                        replica->bye_reason = reason;
                    break;
                }
                case TR__WIRE_ACK:
                case TR__WIRE_MSG: {
                    bool answer =
                        event.wire.kind == TR__WIRE_ACK || (event.wire.flags & TR_MSG_REPLY);
                    if (!answer) {
                        //  A child's own message to an actor of this node: never
                        //  to the pool itself, never a runtime type (no forged
                        //  events, deaths or answers).
                        if (event.wire.to == tr_self (self)
                            || tr__ref_thread (event.wire.to) == TR__HOST_THREAD
                            || strncmp (event.wire.type, "tr.", 3) == 0
                            || tr_type (event.wire.type) == TR_TYPE_NONE) {
                            s_violation (pool, replica, "a message it may not send");
                            break;
                        }
                        tr__msg_t *out = tr__msg_new (&self->sched->pool, event.wire.size);
                        out->to = event.wire.to;
                        out->from = tr_self (self);
                        out->type = tr_type (event.wire.type);
                        if (event.wire.size)
                            memcpy (out->data, payload, event.wire.size);
                        tr__route (self->sched->rt, self->sched, out, false);
                        break;
                    }
                    if (event.wire.corr == 0 || event.wire.corr >= pool->next_corr) {
                        s_violation (pool, replica, "an answer to a message never sent");
                        break;
                    }
                    s_flight_t *flight = s_table_take (pool, event.wire.corr);
                    if (!flight) {
                        pool->stats.duplicates++;  //  answered already (a redelivery)
                        break;
                    }
                    //  Only the child holding it answers, and in kind: a reply
                    //  for a request, an ACK for a one-way message.
                    bool request = flight->msg->flags & TR_MSG_REQUEST;
                    bool is_reply = event.wire.kind == TR__WIRE_MSG;
                    if (flight->replica != index || request != is_reply) {
                        s_table_put (pool, flight);
                        s_violation (pool, replica, "an answer that does not match");
                        break;
                    }
                    if (flight->replica >= 0 && pool->replicas[flight->replica].in_flight)
                        pool->replicas[flight->replica].in_flight--;
                    pool->stats.answered++;
                    s_finish (self, pool, flight, &event.wire, payload, 0);
                    break;
                }
                default: break;
            }
            break;
        default: break;
    }
    s_flush_queue (pool);
    return 0;
}

//  Heartbeats and memory, every heartbeat interval.
static int
s_on_check (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    (void) self;
    (void) msg;
    s_pool_t *pool = state;
    uint64_t now = tr__now_ns ();
    uint64_t timeout = (uint64_t) pool->spec.heartbeat_timeout_ms * 1000000ULL;
    for (int i = 0; i < pool->replica_count; i++) {
        s_replica_t *replica = &pool->replicas[i];
        if (replica->state != S_READY && replica->state != S_STARTING)
            continue;
        if (now - replica->last_seen_ns > timeout) {
            tr__warn ("pool", "%s: child %d silent for %d ms: killing it", pool->label,
                      (int) replica->pid, pool->spec.heartbeat_timeout_ms);
            s_kill (pool, replica, TR_EHUNG);
            continue;
        }
        if (pool->spec.memory_limit && replica->pid > 0) {
            char path[64];
            snprintf (path, sizeof path, "/proc/%d/statm", (int) replica->pid);
            FILE *file = fopen (path, "r");
            long pages = 0, resident = 0;
            if (file) {
                if (fscanf (file, "%ld %ld", &pages, &resident) != 2)
                    resident = 0;
                fclose (file);
            }
            uint64_t bytes = (uint64_t) resident * (uint64_t) sysconf (_SC_PAGESIZE);
            if (bytes > pool->spec.memory_limit) {
                tr__warn ("pool", "%s: child %d uses %llu bytes (limit %zu): killing it",
                          pool->label, (int) replica->pid, (unsigned long long) bytes,
                          pool->spec.memory_limit);
                s_kill (pool, replica, TR_EMEMLIMIT);
            }
        }
    }
    return 0;
}

//  Fork the successor of a promoted spare (our own timer only).
static int
s_on_refill (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_pool_t *pool = state;
    uint64_t slot;
    if (msg->from != tr_self (self) || msg->size != sizeof slot)
        return 0;
    memcpy (&slot, msg->data, sizeof slot);
    if (slot < (uint64_t) pool->replica_count && pool->replicas[slot].state == S_DEAD
        && !pool->failed)
        s_fork (self, pool, (int) slot);
    return 0;
}

static int
s_on_stats (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_pool_t *pool = state;
    tr_process_stats_t stats = pool->stats;
    stats.in_flight = pool->flight_count - pool->queued;
    stats.queued = pool->queued;
    for (int i = 0; i < pool->active; i++)
        stats.replicas_ready += pool->replicas[i].state == S_READY;
    for (int i = pool->active; i < pool->replica_count; i++)
        stats.spares_ready += pool->replicas[i].state == S_READY;
    return tr_reply (self, msg, &stats, sizeof stats);
}

static int
s_on_pids (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_pool_t *pool = state;
    int32_t pids[256];
    int count = pool->active < 256 ? pool->active : 256;
    for (int i = 0; i < count; i++)
        pids[i] = pool->replicas[i].state == S_DEAD ? 0 : (int32_t) pool->replicas[i].pid;
    return tr_reply (self, msg, pids, (size_t) count * sizeof pids[0]);
}

//  Every other type: hold it, send it to a child.
static int
s_on_message (tr_actor_t *self, void *state, const tr_msg_t *msg)
{
    s_pool_t *pool = state;
    pool->stats.received++;
    s_flight_t *flight = tr__calloc (sizeof *flight);
    flight->corr = pool->next_corr++;
    //  Keep a copy: the node holds every message until it is answered.
    tr__msg_t *copy = tr__msg_new (NULL, msg->size);
    copy->to = msg->to;
    copy->from = msg->from;
    copy->corr = msg->corr;
    copy->type = msg->type;
    copy->flags = (uint16_t) (copy->flags | (msg->flags & (TR_MSG_REQUEST | TR_MSG_SHM)));
    if (msg->size)
        memcpy (copy->data, msg->data, msg->size);
    //  The held copy keeps the segment alive until a child answers.
    if (msg->flags & TR_MSG_SHM)
        tr__shm_payload_retain (copy->data, copy->size);
    flight->msg = copy;
    //  The request is answered by whichever child replies, later.
    self->sched->current_corr = 0;
    s_table_put (pool, flight);
    if (pool->queue_head || !s_dispatch (pool, flight))
        s_queue (pool, flight, false);
    return 0;
}

static int
s_init (tr_actor_t *self, void *state, const void *arg, size_t arg_size)
{
    s_pool_t *pool = state;
    if (arg_size != sizeof (tr__pool_arg_t))
        return TR_EINVAL;
    tr__pool_arg_t args;
    memcpy (&args, arg, sizeof args);
    pool->spec = args.spec;
    pool->procs = args.procs;
    pool->label = pool->spec.behaviour ? pool->spec.behaviour : pool->spec.command;
    pool->active = pool->spec.replicas;
    pool->replica_count = pool->active + (pool->spec.spares > 0 ? pool->spec.spares : 0);
    pool->replicas = tr__calloc ((size_t) pool->replica_count * sizeof (s_replica_t));
    pool->restarts_at =
        tr__calloc (((size_t) pool->spec.restart_intensity + 1) * sizeof (uint64_t));
    pool->next_corr = 1;
    for (int i = 0; i < pool->replica_count; i++)
        s_fork (self, pool, i);
    return tr_send_every (self, pool->spec.heartbeat_ms, tr_self (self), s_type_check, NULL, 0,
                          NULL);
}

static void
s_terminate (tr_actor_t *self, void *state, int reason)
{
    s_pool_t *pool = state;
    for (int i = 0; i < pool->replica_count; i++)
        if (pool->replicas[i].state != S_DEAD) {
            s_kill (pool, &pool->replicas[i], reason ? reason : TR_ESHUTDOWN);
            tr__procs_replica_forget (pool->procs, pool->replicas[i].id);
        }
    for (size_t i = 0; i < pool->ending_count; i++)
        tr__procs_replica_forget (pool->procs, pool->ending[i].id);
    tr__free (pool->ending);
    //  Whatever is still held is answered with the reason.
    for (size_t i = 0; i < pool->table_capacity; i++)
        if (pool->table[i])
            s_finish (self, pool, pool->table[i], NULL, NULL, reason ? reason : TR_ESHUTDOWN);
    tr__free (pool->table);
    tr__free (pool->replicas);
    tr__free (pool->restarts_at);
    tr__free ((void *) pool->spec.behaviour);
    tr__free ((void *) pool->spec.command);
    tr__free ((void *) pool->spec.arg);
    tr__free ((void *) pool->spec.name);
}

static const tr_handler_t s_handlers[] = {
    {"tr.proc.event", s_on_event}, {"tr.proc.check", s_on_check}, {"tr.proc.refill", s_on_refill},
    {"tr.proc.stats", s_on_stats}, {"tr.proc.pids", s_on_pids},   {NULL, NULL}};
static const tr_behaviour_t s_behaviour = {
    .name = "tr.process_pool",
    .state_size = sizeof (s_pool_t),
    .init = s_init,
    .terminate = s_terminate,
    .handlers = s_handlers,
    .unhandled = s_on_message,
};

void
tr__pool_register (void)
{
    tr_behaviour_register (&s_behaviour);
    s_type_check = tr_type ("tr.proc.check");
    s_type_refill = tr_type ("tr.proc.refill");
}
