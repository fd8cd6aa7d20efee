//  process - the host API of process actors: checking a pool's spec,
//  starting a pool, and reading its figures and pids
#include "log.h"
#include "pool.h"
#include "registry.h"
#include "runtime.h"

#include <string.h>
#include <unistd.h>

int
tr__pool_check (tr_runtime_t *rt, const tr_process_spec_t *spec)
{
    if (!spec || (spec->arg_size && !spec->arg) || spec->replicas < 0 || spec->max_retries < 0
        || spec->heartbeat_ms < 0 || spec->heartbeat_timeout_ms < 0 || spec->cpu_limit_s < 0
        || spec->restart_intensity < 0 || spec->restart_period_ms < 0 || spec->replicas > 256
        || spec->spares > 16 || spec->arg_size > 60000)
        return TR_EINVAL;
    if (rt && !rt->procs)
        return TR_ENOTSUP;
    //  A program gets no init argument (it has its environment instead).
    if (spec->command
        && (spec->behaviour || spec->arg_size || !spec->command[0] || strlen (spec->command) > 511))
        return TR_EINVAL;
    if (!spec->command && (!spec->behaviour || !tr__behaviour_find (spec->behaviour)))
        return TR_EUNKNOWN_BEHAVIOUR;
    return 0;
}

size_t
tr__pool_arg_size (void)
{
    return sizeof (tr__pool_arg_t);
}

void
tr__pool_arg_make (tr_runtime_t *rt, const tr_process_spec_t *spec, void *arg_out)
{
    tr__pool_arg_t arg = {*spec, rt->procs};
    tr_process_spec_t *copy = &arg.spec;
    copy->behaviour = spec->behaviour ? tr__strdup (spec->behaviour) : NULL;
    copy->command = spec->command ? tr__strdup (spec->command) : NULL;
    copy->name = spec->name ? tr__strdup (spec->name) : NULL;
    if (spec->arg_size) {
        void *bytes = tr__alloc (spec->arg_size);
        memcpy (bytes, spec->arg, spec->arg_size);
        copy->arg = bytes;
    }
    copy->replicas = spec->replicas ? spec->replicas : 1;
    copy->spares = spec->spares ? spec->spares : 1;
    copy->max_retries = spec->max_retries ? spec->max_retries : 3;
    copy->heartbeat_ms = spec->heartbeat_ms ? spec->heartbeat_ms : 100;
    copy->heartbeat_timeout_ms = spec->heartbeat_timeout_ms ? spec->heartbeat_timeout_ms : 1000;
    copy->restart_intensity = spec->restart_intensity ? spec->restart_intensity : 10;
    copy->restart_period_ms = spec->restart_period_ms ? spec->restart_period_ms : 10000;
    memcpy (arg_out, &arg, sizeof arg);
}

void
tr__pool_arg_free (void *arg_in)
{
    tr__pool_arg_t arg;
    memcpy (&arg, arg_in, sizeof arg);
    tr__free ((void *) arg.spec.behaviour);
    tr__free ((void *) arg.spec.command);
    tr__free ((void *) arg.spec.name);
    tr__free ((void *) arg.spec.arg);
}

int
tr_process_start (tr_runtime_t *rt, const tr_process_spec_t *spec, tr_ref_t *ref)
{
    if (!rt || !ref)
        return TR_EINVAL;
    *ref = TR_REF_NONE;
    int rc = tr__pool_check (rt, spec);
    if (rc)
        return rc;
    tr__pool_arg_t arg;
    tr__pool_arg_make (rt, spec, &arg);
    rc = tr__spawn_on (rt, rt->threads, "tr.process_pool", &arg, sizeof arg, spec->name, ref);
    if (rc != 0) {
        if (rc != TR_EINIT)
            tr__pool_arg_free (&arg);
        return rc;
    }
    //  Wait (bounded) until every child said hello, so the first request
    //  does not pay for the start-up.
    for (int waited = 0; waited < 5000; waited++) {
        tr_process_stats_t stats;
        if (tr_process_stats (rt, *ref, &stats) != 0) {
            *ref = TR_REF_NONE;
            return TR_EINIT;
        }
        if (stats.replicas_ready >= arg.spec.replicas)
            return 0;
        usleep (1000);
    }
    tr__warn ("pool", "%s: not every child was ready within 5 s",
              spec->behaviour ? spec->behaviour : spec->command);
    return 0;
}

int
tr_process_stats (tr_runtime_t *rt, tr_ref_t pool, tr_process_stats_t *stats)
{
    if (!stats)
        return TR_EINVAL;
    memset (stats, 0, sizeof *stats);
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_call (rt, pool, tr_type ("tr.proc.stats"), NULL, 0, 1000, &reply, &size);
    if (rc == 0 && size == sizeof *stats)
        memcpy (stats, reply, size);
    tr_free (reply);
    return rc;
}

int
tr_process_pids (tr_runtime_t *rt, tr_ref_t pool, int *pids, size_t max, size_t *count)
{
    if (!count || (max && !pids))
        return TR_EINVAL;
    *count = 0;
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_call (rt, pool, tr_type ("tr.proc.pids"), NULL, 0, 1000, &reply, &size);
    if (rc == 0) {
        *count = size / sizeof (int32_t);
        for (size_t i = 0; i < *count && i < max; i++) {
            int32_t pid;
            memcpy (&pid, (char *) reply + i * sizeof pid, sizeof pid);
            pids[i] = pid;
        }
    }
    tr_free (reply);
    return rc;
}
