//  service_spec - service specs (copies and checks, for tr_service_start
//  and the supervisor) and the host API of services: starting one, reading
//  a route's figures, moving a route, mode names (docs/routing.md)
#include "service.h"

#include "log.h"
#include "runtime.h"

#include <stdio.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Spec copies and checks

static char *
s_dup (const char *str)
{
    return str ? tr__strdup (str) : NULL;
}

tr_service_spec_t *
tr__service_spec_copy (const tr_service_spec_t *from)
{
    tr_service_spec_t *spec = tr__calloc (sizeof *spec);
    *spec = *from;
    spec->name = s_dup (from->name);
    spec->behaviour = s_dup (from->behaviour);
    spec->arg = NULL;
    if (from->arg_size) {
        void *arg = tr__alloc (from->arg_size);
        memcpy (arg, from->arg, from->arg_size);
        spec->arg = arg;
    }
    spec->routes = NULL;
    if (from->route_count) {
        tr_route_t *routes = tr__alloc (from->route_count * sizeof *routes);
        for (size_t i = 0; i < from->route_count; i++) {
            routes[i] = from->routes[i];
            routes[i].type = s_dup (from->routes[i].type);
        }
        spec->routes = routes;
    }
    spec->process = NULL;
    if (from->process) {
        tr_process_spec_t *process = tr__calloc (sizeof *process);
        *process = *from->process;
        process->behaviour = process->command = process->name = NULL;
        process->arg = NULL;
        process->arg_size = 0;
        process->replicas = 0;
        spec->process = process;
    }
    return spec;
}

void
tr__service_spec_free (tr_service_spec_t **spec_p)
{
    tr_service_spec_t *spec = *spec_p;
    if (!spec)
        return;
    tr__free ((void *) spec->name);
    tr__free ((void *) spec->behaviour);
    tr__free ((void *) spec->arg);
    for (size_t i = 0; i < spec->route_count; i++)
        tr__free ((void *) spec->routes[i].type);
    tr__free ((void *) spec->routes);
    tr__free ((void *) spec->process);
    tr__free (spec);
    *spec_p = NULL;
}

static bool
s_type_name_ok (const char *name)
{
    if (!name || !name[0] || strlen (name) > 63)
        return false;
    if (strcmp (name, "*") == 0)
        return true;
    for (const char *at = name; *at; at++)
        if ((unsigned char) *at <= ' ' || (unsigned char) *at >= 127)
            return false;
    return strncmp (name, "tr.", 3) != 0;  //  the runtime's own types are not routed
}

int
tr__service_check (tr_runtime_t *rt, const tr_service_spec_t *spec, char *why, size_t why_size)
{
    if (!spec) {
        snprintf (why, why_size, "no spec");
        return TR_EINVAL;
    }
    if (!spec->behaviour || !tr__behaviour_find (spec->behaviour)) {
        snprintf (why, why_size, "unknown behaviour '%s'",
                  spec->behaviour ? spec->behaviour : "(none)");
        return TR_EUNKNOWN_BEHAVIOUR;
    }
    if ((spec->arg_size && !spec->arg) || (spec->route_count && !spec->routes) || spec->block_ms < 0
        || spec->restart_intensity < 0 || spec->restart_intensity > 10000
        || spec->route_count > 1024) {
        snprintf (why, why_size, "arg, routes, block_ms or restart_intensity malformed");
        return TR_EINVAL;
    }
    if (spec->name && (!spec->name[0] || strlen (spec->name) > 255)) {
        snprintf (why, why_size, "bad name");
        return TR_EINVAL;
    }
    for (size_t i = 0; i < spec->route_count; i++) {
        const tr_route_t *route = &spec->routes[i];
        const char *type = route->type ? route->type : "(none)";
        if (!s_type_name_ok (route->type)) {
            snprintf (why, why_size,
                      "route %zu: type '%s' is not a type name (1..63 printable bytes, not "
                      "tr.*) or \"*\"",
                      i, type);
            return TR_EINVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp (spec->routes[j].type, route->type) == 0) {
                snprintf (why, why_size, "route '%s' given twice", type);
                return TR_EINVAL;
            }
        if ((unsigned) route->mode > TR_MODE_AUTO || route->replicas < 0
            || route->replicas > TR__SERVICE_MAX_REPLICAS
            || (unsigned) route->balance > TR_BALANCE_HASH || route->deadline_ms < 0
            || route->max_in_flight < 0 || (unsigned) route->overflow > TR_ROUTE_DROP
            || route->queue_limit < 0) {
            snprintf (why, why_size,
                      "route '%s': bad mode, replicas (0..%d), balance, deadline, "
                      "max_in_flight, overflow or queue_limit",
                      type, TR__SERVICE_MAX_REPLICAS);
            return TR_EINVAL;
        }
        if (route->balance != TR_BALANCE_HASH && (route->key_offset || route->key_size)) {
            snprintf (why, why_size, "route '%s': a key without balance hash", type);
            return TR_EINVAL;
        }
        if (route->mode == TR_MODE_PROCESS && route->balance == TR_BALANCE_HASH) {
            snprintf (why, why_size,
                      "route '%s': process routes are balanced by their pool (least loaded)", type);
            return TR_EINVAL;
        }
        if (rt && route->mode == TR_MODE_PROCESS && !rt->procs) {
            snprintf (why, why_size, "route '%s': process mode on a node without processes", type);
            return TR_ENOTSUP;
        }
        if (rt && route->mode == TR_MODE_DEDICATED && rt->dedicated == 0) {
            snprintf (why, why_size,
                      "route '%s': dedicated mode on a node without dedicated threads", type);
            return TR_ENOTSUP;
        }
        if (rt && route->mode == TR_MODE_ASYNC && tr_loop_placement (rt, 0) <= 0) {
            snprintf (why, why_size, "route '%s': async mode on a node without a loop", type);
            return TR_ENOTSUP;
        }
    }
    if (spec->process) {
        tr_process_spec_t probe = *spec->process;
        probe.behaviour = spec->behaviour;
        probe.command = NULL;
        probe.arg = NULL;
        probe.arg_size = 0;
        probe.replicas = 0;
        int rc = tr__pool_check (NULL, &probe);
        if (rc) {
            snprintf (why, why_size, "bad process settings (%s)", tr_strerror (rc));
            return rc;
        }
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Host API

int
tr_service_start (tr_runtime_t *rt, const tr_service_spec_t *spec, tr_ref_t *ref)
{
    if (!rt || !ref)
        return TR_EINVAL;
    *ref = TR_REF_NONE;
    char why[256];
    int rc = tr__service_check (rt, spec, why, sizeof why);
    if (rc) {
        tr__error ("service", "cannot start service: %s", why);
        return rc;
    }
    tr__service_init ();
    tr_service_spec_t *copy = tr__service_spec_copy (spec);
    tr_spawn_opts_t opts = {.name = spec->name};
    rc = tr_spawn (rt, "tr.service", &copy, sizeof copy, &opts, ref);
    if (rc != 0 && rc != TR_EINIT)
        tr__service_spec_free (&copy);
    return rc;
}

int
tr_service_route_stats (tr_runtime_t *rt, tr_ref_t service, const char *type,
                        tr_route_stats_t *stats)
{
    if (!rt || !type || !stats || strlen (type) > 63)
        return TR_EINVAL;
    tr__service_init ();
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_call (rt, service, tr_type ("tr.service.stats"), type, strlen (type) + 1, 5000,
                      &reply, &size);
    if (rc == 0 && size != sizeof *stats)
        rc = TR_EMALFORMED;
    if (rc == 0)
        memcpy (stats, reply, sizeof *stats);
    tr_free (reply);
    return rc;
}

int
tr_service_set_mode (tr_runtime_t *rt, tr_ref_t service, const char *type, tr_mode_t mode)
{
    if (!rt || !type || strlen (type) > 63 || (unsigned) mode > TR_MODE_AUTO)
        return TR_EINVAL;
    tr__service_init ();
    unsigned char request[sizeof (int32_t) + 64];
    int32_t value = (int32_t) mode;
    memcpy (request, &value, sizeof value);
    size_t length = strlen (type) + 1;
    memcpy (request + sizeof value, type, length);
    return tr_call (rt, service, tr_type ("tr.service.set_mode"), request, sizeof value + length,
                    5000, NULL, NULL);
}

static const char *s_mode_names[] = {"thread", "thread:dedicated", "process", "async", "auto"};

const char *
tr_mode_name (tr_mode_t mode)
{
    return (unsigned) mode <= TR_MODE_AUTO ? s_mode_names[mode] : "?";
}

int
tr_mode_parse (const char *name)
{
    for (int i = 0; name && i <= TR_MODE_AUTO; i++)
        if (strcmp (name, s_mode_names[i]) == 0)
            return i;
    if (name && strcmp (name, "dedicated") == 0)
        return TR_MODE_DEDICATED;
    return -1;
}
