//  bus_api - the event bus's calls: starting a bus, publishing and
//  subscribing from handlers and host threads, its figures, and replaying
//  its log from a host thread
#include "bus.h"
#include "actor.h"
#include "bus_ipc.h"
#include "bus_log.h"
#include "log.h"
#include "procs.h"
#include "runtime.h"
#include "sched.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Count and refuse a payload over max_payload (runtime.c).
TR__HIDDEN int tr__refuse_oversized (tr_runtime_t *self, tr__sched_t *sched, tr_ref_t from,
                                     tr_ref_t to, tr_type_t type, size_t size);

//  --------------------------------------------------------------------------
//  Event payloads: publishes and deliveries share one layout

size_t
tr__bus_event_size (size_t topic_size, size_t size)
{
    return TR__BUS_DATA_AT (topic_size) + size;
}

void
tr__bus_event_fill (void *payload, uint64_t offset, uint32_t flags, const char *topic,
                    size_t topic_size, const void *data, size_t size)
{
    unsigned char *bytes = payload;
    tr__bus_head_t head = {offset, (uint32_t) topic_size, flags};
    memcpy (bytes, &head, sizeof head);
    memcpy (bytes + sizeof head, topic, topic_size);
    size_t at = TR__BUS_DATA_AT (topic_size);
    memset (bytes + sizeof head + topic_size, 0, at - sizeof head - topic_size);
    if (size)
        memcpy (bytes + at, data, size);
}

int
tr__bus_event_parse (const void *payload, size_t payload_size, tr_bus_event_t *event)
{
    tr__bus_head_t head;
    if (!payload || payload_size < sizeof head)
        return TR_EMALFORMED;
    memcpy (&head, payload, sizeof head);
    if (head.topic_size == 0 || head.topic_size > TR_BUS_TOPIC_MAX
        || TR__BUS_DATA_AT (head.topic_size) > payload_size)
        return TR_EMALFORMED;
    const char *topic = (const char *) payload + sizeof head;
    if (topic[head.topic_size] != 0 || memchr (topic, 0, head.topic_size))
        return TR_EMALFORMED;
    size_t at = TR__BUS_DATA_AT (head.topic_size);
    event->offset = head.offset;
    event->topic = topic;
    event->topic_size = head.topic_size;
    event->data = (const char *) payload + at;
    event->size = payload_size - at;
    event->flags = head.flags;
    return 0;
}

//  Size of a valid topic, or 0.
static size_t
s_topic_size (const char *topic)
{
    if (!topic)
        return 0;
    size_t size = strnlen (topic, TR_BUS_TOPIC_MAX + 1);
    return size <= TR_BUS_TOPIC_MAX ? size : 0;
}

//  --------------------------------------------------------------------------
//  Starting a bus; publishing and subscribing (handlers and hosts); figures

void
tr_bus_options_default (tr_bus_options_t *options)
{
    if (!options)
        return;
    memset (options, 0, sizeof *options);
    options->name = "tr.bus";
    options->default_limit = TR_BUS_LIMIT_DEFAULT;
    options->sync_every_events = 1000;
    options->sync_every_ms = 10;
}

//  The placement is left to tr_spawn, which knows the tagged ones.
static int
s_check_options (const tr_bus_options_t *options)
{
    size_t name_size = options->name ? strlen (options->name) : 0;
    if (name_size == 0 || name_size > 63 || options->thread < -1
        || options->default_limit > TR_BUS_LIMIT_MAX || options->mailbox_limit > UINT32_MAX
        || options->sync_every_events < -1 || options->sync_every_ms < -1
        || (options->log_path && !options->log_path[0])
        || (options->ipc_publish && options->no_ipc))
        return TR_EINVAL;
    return 0;
}

//  Where the ipc sockets go, and whether they are free. 0, TR_EEXIST,
//  TR_EINVAL or TR_ESTOPPED.
static int
s_ipc_paths (tr_runtime_t *rt, const tr_bus_options_t *options, tr__bus_arg_t *arg)
{
    if (rt->procs)
        snprintf (arg->dir, sizeof arg->dir, "%s", tr__procs_dir (rt->procs));
    else {
        if (tr__run_dir_new (arg->dir, sizeof arg->dir) != 0)
            return TR_ESTOPPED;
        arg->own_dir = true;
    }
    if (tr__bus_ipc_paths (arg->dir, options->name, arg->out_path, arg->in_path,
                           sizeof arg->out_path)
        != 0) {
        tr__error ("bus", "%s: the ipc path in %s is too long; use a shorter name or no_ipc",
                   options->name, arg->dir);
        return TR_EINVAL;
    }
    struct stat info;
    if (lstat (arg->out_path, &info) == 0
        || (options->ipc_publish && lstat (arg->in_path, &info) == 0))
        return TR_EEXIST;
    return 0;
}

int
tr_bus_start (tr_runtime_t *rt, const tr_bus_options_t *options_in, tr_ref_t *bus)
{
    if (!rt || !bus)
        return TR_EINVAL;
    *bus = TR_REF_NONE;
    tr_bus_options_t options;
    tr_bus_options_default (&options);
    if (options_in) {
        options = *options_in;
        if (!options.name)
            options.name = "tr.bus";
    }
    int rc = s_check_options (&options);
    if (rc)
        return rc;
    if (!tr__running (rt) && !rt->testkit)
        return TR_ESTOPPED;
    tr__bus_types ();  //  registers the behaviour
    if (tr_whereis (rt, options.name) != TR_REF_NONE)
        return TR_EEXIST;

    tr__bus_arg_t arg;
    memset (&arg, 0, sizeof arg);
    arg.default_limit = options.default_limit ? options.default_limit : TR_BUS_LIMIT_DEFAULT;
    arg.sync_events = options.sync_every_events ? options.sync_every_events : 1000;
    arg.sync_ms = options.sync_every_ms ? options.sync_every_ms : 10;
    arg.ipc = !options.no_ipc && rt->zmq_context;
    arg.ipc_in = arg.ipc && options.ipc_publish;
    if (arg.ipc && (rc = s_ipc_paths (rt, &options, &arg)) != 0) {
        tr__bus_arg_free (&arg);
        return rc;
    }
    if (options.log_path
        && (rc = tr__bus_log_open (options.log_path, rt->options.max_payload, &arg.log)) != 0) {
        tr__bus_arg_free (&arg);
        return rc;
    }
    arg.name = tr__strdup (options.name);
    //  Always the fail policy: a publisher learns at once that the bus is
    //  full (a drop policy would drop publishes before they get an offset).
    tr_spawn_opts_t spawn = {.name = options.name,
                             .mailbox_limit = options.mailbox_limit,
                             .overflow = TR_OVERFLOW_FAIL,
                             .overflow_set = true,
                             .thread = options.thread};
    rc = tr_spawn (rt, "tr.bus", &arg, sizeof arg, &spawn, bus);
    if (rc != 0 && rc != TR_EINIT)
        tr__bus_arg_free (&arg);  //  init never ran: these are still ours
    return rc;
}

//  A subscribe or unsubscribe request for subscriber.
static tr__msg_t *
s_sub_message (tr__msg_pool_t *pool, tr_type_t type, tr_ref_t subscriber, const char *prefix,
               size_t limit, uint64_t from_offset, uint32_t flags)
{
    size_t prefix_size = prefix ? strlen (prefix) : 0;
    tr__bus_sub_req_t req = {subscriber, limit, from_offset, flags, (uint32_t) prefix_size};
    tr__msg_t *msg = tr__msg_new (pool, sizeof req + prefix_size);
    memcpy (msg->data, &req, sizeof req);
    if (prefix_size)
        memcpy (msg->data + sizeof req, prefix, prefix_size);
    msg->type = type;
    return msg;
}

static bool
s_valid_prefix (const char *prefix)
{
    return prefix && strnlen (prefix, TR_BUS_TOPIC_MAX + 1) <= TR_BUS_TOPIC_MAX;
}

//  From a handler: subscribe requests are runtime notices, never refused
//  by the bus's bound (they are few, and a refused one would be lost).
static int
s_actor_sub (tr_actor_t *self, tr_ref_t bus, tr_type_t type, const char *prefix, size_t limit,
             uint64_t from_offset, uint32_t flags)
{
    if (!self || bus == TR_REF_NONE || limit > TR_BUS_LIMIT_MAX)
        return TR_EINVAL;
    tr__msg_t *msg =
        s_sub_message (&self->sched->pool, type, tr_self (self), prefix, limit, from_offset, flags);
    msg->to = bus;
    msg->from = tr_self (self);
    msg->flags |= TR__MSG_NODROP;
    return tr__route (self->sched->rt, self->sched, msg, false);
}

int
tr_subscribe (tr_actor_t *self, tr_ref_t bus, const char *prefix, size_t limit)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (!s_valid_prefix (prefix))
        return TR_EINVAL;
    return s_actor_sub (self, bus, types->subscribe, prefix, limit, 0, 0);
}

int
tr_subscribe_from (tr_actor_t *self, tr_ref_t bus, const char *prefix, size_t limit,
                   uint64_t from_offset)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (!s_valid_prefix (prefix))
        return TR_EINVAL;
    return s_actor_sub (self, bus, types->subscribe, prefix, limit, from_offset,
                        TR__BUS_SUB_REPLAY);
}

int
tr_unsubscribe (tr_actor_t *self, tr_ref_t bus, const char *prefix)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (prefix && !s_valid_prefix (prefix))
        return TR_EINVAL;
    return s_actor_sub (self, bus, types->unsubscribe, prefix, 0, 0, prefix ? 0 : TR__BUS_SUB_ALL);
}

//  A request from a host thread to the bus (takes msg), as tr_call. Marked
//  no-drop: a bus whose mailbox is full of events still answers its
//  control requests (stats, subscribe, ...).
static int
s_host_call (tr_runtime_t *rt, tr_ref_t bus, tr__msg_t *msg, int timeout_ms, void **reply,
             size_t *reply_size)
{
    msg->to = bus;
    msg->flags |= TR_MSG_REQUEST | TR__MSG_NODROP;
    if (bus == TR_REF_NONE || tr__ref_thread (bus) == TR__HOST_THREAD) {
        tr__msg_free (NULL, msg);
        return bus == TR_REF_NONE ? TR_EDEAD : TR_EINVAL;
    }
    if (!tr__running (rt) && !rt->testkit) {
        tr__msg_free (NULL, msg);
        return TR_ESTOPPED;
    }
    return tr__call_msg (rt, msg, timeout_ms, reply, reply_size);
}

static int
s_host_request (tr_runtime_t *rt, tr_ref_t bus, tr_type_t type, const void *data, size_t size,
                int timeout_ms, void **reply, size_t *reply_size)
{
    tr__msg_t *msg = tr__msg_new (NULL, size);
    msg->type = type;
    if (size)
        memcpy (msg->data, data, size);
    return s_host_call (rt, bus, msg, timeout_ms, reply, reply_size);
}

static int
s_host_sub (tr_runtime_t *rt, tr_ref_t bus, tr_type_t type, tr_ref_t subscriber, const char *prefix,
            size_t limit, uint32_t flags)
{
    if (!rt || subscriber == TR_REF_NONE || tr__ref_thread (subscriber) == TR__HOST_THREAD
        || limit > TR_BUS_LIMIT_MAX)
        return TR_EINVAL;
    tr__msg_t *msg = s_sub_message (NULL, type, subscriber, prefix, limit, 0, flags);
    return s_host_call (rt, bus, msg, 5000, NULL, NULL);
}

int
tr_bus_subscribe (tr_runtime_t *rt, tr_ref_t bus, tr_ref_t subscriber, const char *prefix,
                  size_t limit)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (!s_valid_prefix (prefix))
        return TR_EINVAL;
    return s_host_sub (rt, bus, types->subscribe, subscriber, prefix, limit, 0);
}

int
tr_bus_unsubscribe (tr_runtime_t *rt, tr_ref_t bus, tr_ref_t subscriber, const char *prefix)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (prefix && !s_valid_prefix (prefix))
        return TR_EINVAL;
    return s_host_sub (rt, bus, types->unsubscribe, subscriber, prefix, 0,
                       prefix ? 0 : TR__BUS_SUB_ALL);
}

int
tr_publish (tr_actor_t *self, tr_ref_t bus, const char *topic, const void *data, size_t size)
{
    const tr__bus_types_t *types = tr__bus_types ();
    size_t topic_size = s_topic_size (topic);
    if (!self || topic_size == 0 || (size && !data))
        return TR_EINVAL;
    tr__sched_t *sched = self->sched;
    size_t total = tr__bus_event_size (topic_size, size);
    if (size > sched->rt->options.max_payload || total > sched->rt->options.max_payload)
        return tr__refuse_oversized (sched->rt, sched, tr_self (self), bus, types->publish, total);
    tr__msg_t *msg = tr__msg_new (&sched->pool, total);
    tr__bus_event_fill (msg->data, 0, 0, topic, topic_size, data, size);
    msg->to = bus;
    msg->from = tr_self (self);
    msg->type = types->publish;
    return tr__route (sched->rt, sched, msg, true);
}

int
tr_runtime_publish (tr_runtime_t *rt, tr_ref_t bus, const char *topic, const void *data,
                    size_t size)
{
    const tr__bus_types_t *types = tr__bus_types ();
    size_t topic_size = s_topic_size (topic);
    if (!rt || topic_size == 0 || (size && !data))
        return TR_EINVAL;
    size_t total = tr__bus_event_size (topic_size, size);
    if (size > rt->options.max_payload || total > rt->options.max_payload)
        return tr__refuse_oversized (rt, NULL, TR_REF_NONE, bus, types->publish, total);
    //  Build the payload here; tr_runtime_send copies it into the message.
    _Alignas(16) unsigned char small[512];
    void *payload = total <= sizeof small ? small : tr__alloc (total);
    tr__bus_event_fill (payload, 0, 0, topic, topic_size, data, size);
    int rc = tr_runtime_send (rt, bus, types->publish, payload, total);
    if (payload != small)
        tr__free_sized (payload, total);
    return rc;
}

int
tr_bus_event_read (const tr_msg_t *msg, tr_bus_event_t *event)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (!msg || !event || msg->type != types->event)
        return TR_EINVAL;
    return tr__bus_event_parse (msg->data, msg->size, event);
}

int
tr_bus_stats (tr_runtime_t *rt, tr_ref_t bus, tr_bus_stats_t *stats)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (!rt || !stats)
        return TR_EINVAL;
    void *reply = NULL;
    size_t size = 0;
    int rc = s_host_request (rt, bus, types->stats, NULL, 0, 5000, &reply, &size);
    if (rc == 0 && size != sizeof *stats)
        rc = TR_EMALFORMED;
    if (rc == 0)
        memcpy (stats, reply, sizeof *stats);
    tr_free (reply);
    return rc;
}

int
tr_bus_subscribers (tr_runtime_t *rt, tr_ref_t bus, tr_bus_subscriber_t *info, size_t max,
                    size_t *count)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (!rt || !count || (max && !info))
        return TR_EINVAL;
    *count = 0;
    void *reply = NULL;
    size_t size = 0;
    int rc = s_host_request (rt, bus, types->subscribers, NULL, 0, 5000, &reply, &size);
    if (rc == 0 && size % sizeof (tr_bus_subscriber_t) != 0)
        rc = TR_EMALFORMED;
    if (rc == 0) {
        *count = size / sizeof (tr_bus_subscriber_t);
        size_t copy = *count < max ? *count : max;
        if (copy)
            memcpy (info, reply, copy * sizeof (tr_bus_subscriber_t));
    }
    tr_free (reply);
    return rc;
}

int
tr_bus_endpoint (tr_runtime_t *rt, tr_ref_t bus, char *buffer, size_t size, char *in_buffer,
                 size_t in_size)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (!rt || !buffer || !size || (in_buffer && !in_size))
        return TR_EINVAL;
    buffer[0] = 0;
    if (in_buffer)
        in_buffer[0] = 0;
    char *reply = NULL;
    size_t reply_size = 0;
    int rc =
        s_host_request (rt, bus, types->endpoint, NULL, 0, 5000, (void **) &reply, &reply_size);
    if (rc == 0 && (reply_size < 2 || reply[reply_size - 1] != 0))
        rc = TR_EMALFORMED;
    if (rc == 0) {
        size_t out_size = strlen (reply) + 1;
        const char *in = reply + out_size;
        if (out_size > size || (in_buffer && strlen (in) + 1 > in_size))
            rc = TR_EINVAL;
        else {
            memcpy (buffer, reply, out_size);
            if (in_buffer && out_size < reply_size)
                memcpy (in_buffer, in, strlen (in) + 1);
        }
    }
    tr_free (reply);
    return rc;
}

int
tr_bus_replay (tr_runtime_t *rt, tr_ref_t bus, uint64_t from_offset, tr_bus_replay_fn *fn,
               void *arg)
{
    const tr__bus_types_t *types = tr__bus_types ();
    if (!rt || !fn)
        return TR_EINVAL;
    unsigned char *reply = NULL;
    size_t reply_size = 0;
    int rc = s_host_request (rt, bus, types->flush, &from_offset, sizeof from_offset, 30000,
                             (void **) &reply, &reply_size);
    if (rc != 0)
        return rc;
    tr__bus_flush_t flush;
    if (reply_size <= sizeof flush || reply[reply_size - 1] != 0) {
        tr_free (reply);
        return TR_EMALFORMED;
    }
    memcpy (&flush, reply, sizeof flush);
    int fd = open ((const char *) reply + sizeof flush, O_RDONLY | O_CLOEXEC);
    tr_free (reply);
    if (fd < 0)
        return TR_EINVAL;
    tr__bus_reader_t reader;
    tr__bus_reader_init (&reader, fd, flush.start_pos, flush.end_pos, flush.max_record);
    //  The event as a subscriber sees it: topic NUL-terminated, data aligned.
    char topic[TR_BUS_TOPIC_MAX + 1];
    void *data = NULL;
    size_t data_capacity = 0;
    tr__bus_record_t record;
    int next;
    rc = 0;
    while (rc == 0 && (next = tr__bus_reader_next (&reader, &record)) == 1) {
        if (record.offset < from_offset)
            continue;
        memcpy (topic, record.topic, record.topic_size);
        topic[record.topic_size] = 0;
        if (record.size > data_capacity) {
            tr__free (data);
            data_capacity = record.size;
            data = tr__alloc (data_capacity);
        }
        if (record.size)
            memcpy (data, record.data, record.size);
        tr_bus_event_t event = {record.offset, topic,       record.topic_size,
                                data,          record.size, TR_BUS_REPLAYED};
        rc = fn (&event, arg);
    }
    if (rc == 0 && next < 0)
        rc = TR_EMALFORMED;
    tr__free (data);
    tr__bus_reader_fini (&reader);
    close (fd);
    return rc;
}
