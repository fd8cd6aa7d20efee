//  config_tree - the supervision tree of a config file: supervisors and
//  their children (actors, process pools, services with their routes) into
//  tr_supervisor_spec_t, with every key checked (docs/config.md)
#include "config.h"

#include <czmq.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

//  Key tables. A section's keys are a NULL-terminated list of them.
#define V TR__KEY_VALUE
static const tr__config_key_t s_supervisor_keys[] = {
    {"strategy", V},       {"intensity", V},  {"period_ms", V}, {"backoff_ms", V},
    {"backoff_max_ms", V}, {"healthy_ms", V}, {NULL, 0}};
static const tr__config_key_t s_child_kinds[] = {{"actor", TR__KEY_ENTRY},
                                                 {"pool", TR__KEY_ENTRY},
                                                 {"service", TR__KEY_ENTRY},
                                                 {"supervisor", TR__KEY_ENTRY},
                                                 {NULL, 0}};
static const tr__config_key_t s_as_child_keys[] = {
    {"name", V}, {"restart", V}, {"shutdown_ms", V}, {"thread", V}, {NULL, 0}};
static const tr__config_key_t s_actor_keys[] = {{"behaviour", V}, {"arg", V},         {"name", V},
                                                {"restart", V},   {"shutdown_ms", V}, {"thread", V},
                                                {NULL, 0}};
static const tr__config_key_t s_pool_keys[] = {{"behaviour", V},   {"command", V}, {"arg", V},
                                               {"replicas", V},    {"name", V},    {"restart", V},
                                               {"shutdown_ms", V}, {NULL, 0}};
static const tr__config_key_t s_process_keys[] = {{"spares", V},
                                                  {"max_retries", V},
                                                  {"memory_limit", V},
                                                  {"cpu_limit_s", V},
                                                  {"heartbeat_ms", V},
                                                  {"heartbeat_timeout_ms", V},
                                                  {"restart_intensity", V},
                                                  {"restart_period_ms", V},
                                                  {NULL, 0}};
static const tr__config_key_t s_service_keys[] = {
    {"behaviour", V},         {"arg", V},     {"name", V},        {"block_ms", V},
    {"restart_intensity", V}, {"restart", V}, {"shutdown_ms", V}, {"process", TR__KEY_SECTION},
    {"route", TR__KEY_ROUTE}, {NULL, 0}};
static const tr__config_key_t s_route_keys[] = {
    {"mode", V},        {"replicas", V},      {"balance", V},  {"key_offset", V},  {"key_size", V},
    {"deadline_ms", V}, {"max_in_flight", V}, {"overflow", V}, {"queue_limit", V}, {NULL, 0}};
#undef V

static const tr__config_key_t *const s_root_tables[] = {s_supervisor_keys, s_child_kinds, NULL};
static const tr__config_key_t *const s_nested_tables[] = {s_supervisor_keys, s_as_child_keys,
                                                          s_child_kinds, NULL};
static const tr__config_key_t *const s_actor_tables[] = {s_actor_keys, NULL};
static const tr__config_key_t *const s_pool_tables[] = {s_pool_keys, s_process_keys, NULL};
static const tr__config_key_t *const s_service_tables[] = {s_service_keys, NULL};
static const tr__config_key_t *const s_process_tables[] = {s_process_keys, NULL};
static const tr__config_key_t *const s_route_tables[] = {s_route_keys, NULL};

//  Is item a child entry (actor, pool, service, supervisor)?
static bool
s_is_child (zconfig_t *item)
{
    const char *name = zconfig_name (item);
    return strcmp (name, "actor") == 0 || strcmp (name, "pool") == 0
           || strcmp (name, "service") == 0 || strcmp (name, "supervisor") == 0;
}

static const char *s_strategies[] = {"one_for_one", "one_for_all", "rest_for_one", NULL};
static const char *s_restarts[] = {"permanent", "transient", "temporary", NULL};
static const char *s_balances[] = {"round_robin", "least_loaded", "hash", NULL};
static const char *s_route_overflows[] = {"fail", "queue", "drop", NULL};

//  path/key into buffer (cut to fit: a key path is for reading).
static const char *
s_join (char *buffer, size_t size, const char *path, const char *key)
{
    return tr__config_join (buffer, size, path, key);
}

//  --------------------------------------------------------------------------
//  What every kind of child has

//  A registered name: unique in the whole node, not the runtime's own.
static int
s_name (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const char **name)
{
    int rc = tr__config_string (ctx, section, path, "name", 255, name);
    if (rc || !*name)
        return rc;
    zconfig_t *item = tr__config_find (section, "name");
    char key[256];
    s_join (key, sizeof key, path, "name");
    if (strncmp (*name, "tr.", 3) == 0)
        return tr__config_error (ctx, TR_EINVAL, item, key,
                                 "names starting with 'tr.' belong to the runtime: got '%s'",
                                 *name);
    uint64_t first;
    if (tr__strmap_get (ctx->names, *name, &first))
        return tr__config_error (ctx, TR_EINVAL, item, key,
                                 "name '%s' is already given on line %d: a name registers "
                                 "one child of the node",
                                 *name, (int) first);
    tr__strmap_insert (ctx->names, *name, (uint64_t) tr__config_line (ctx, item));
    return 0;
}

//  restart, shutdown_ms, name and (thread_ok) thread of a child.
static int
s_child_common (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, bool thread_ok,
                tr_child_spec_t *child)
{
    int restart = (int) child->restart;
    int rc = tr__config_enum (ctx, section, path, "restart", s_restarts, &restart);
    child->restart = (tr_restart_t) restart;
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "shutdown_ms", 1, INT_MAX, &child->shutdown_ms);
    if (rc == 0)
        rc = s_name (ctx, section, path, &child->name);
    int thread = -1;
    if (rc == 0 && thread_ok)
        rc = tr__config_int (ctx, section, path, "thread", 0, ctx->threads - 1, &thread);
    if (thread >= 0)
        child->thread = thread + 1;
    return rc;
}

//  behaviour: required (unless optional), a name, not the runtime's own;
//  remembered to be checked once the load list ran.
static int
s_behaviour (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const char *what,
             bool optional, const char **behaviour)
{
    zconfig_t *item = tr__config_find (section, "behaviour");
    char key[256];
    s_join (key, sizeof key, path, "behaviour");
    if (!item && optional)
        return 0;
    if (!item)
        return tr__config_error (ctx, TR_EINVAL, section, path,
                                 "%s '%s' needs a behaviour: add 'behaviour = NAME' below it, "
                                 "indented by 4 more spaces",
                                 what, zconfig_value (section));
    int rc = tr__config_string (ctx, section, path, "behaviour", 63, behaviour);
    if (rc)
        return rc;
    if (strncmp (*behaviour, "tr.", 3) == 0)
        return tr__config_error (ctx, TR_EINVAL, item, key,
                                 "behaviours named 'tr.*' belong to the runtime: got '%s'",
                                 *behaviour);
    tr__config_behaviour (ctx, item, key, *behaviour);
    return 0;
}

//  arg: any text, handed to init with its terminating NUL.
static void
s_arg (zconfig_t *section, const void **arg, size_t *arg_size)
{
    zconfig_t *item = tr__config_find (section, "arg");
    if (item) {
        *arg = zconfig_value (item);
        *arg_size = strlen (zconfig_value (item)) + 1;
    }
}

//  --------------------------------------------------------------------------
//  Actors and process pools

static int
s_actor (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, tr_child_spec_t *child)
{
    int rc = tr__config_keys (ctx, section, path, s_actor_tables, "an actor");
    if (rc == 0)
        rc = s_behaviour (ctx, section, path, "actor", false, &child->behaviour);
    if (rc == 0)
        rc = s_child_common (ctx, section, path, true, child);
    s_arg (section, &child->arg, &child->arg_size);
    return rc;
}

//  The settings a pool and a service's process section share.
static int
s_process_settings (tr__config_ctx_t *ctx, zconfig_t *section, const char *path,
                    tr_process_spec_t *process)
{
    int spares = -2;  //  absent
    int rc = tr__config_int (ctx, section, path, "spares", 0, 16, &spares);
    if (spares >= 0)
        process->spares = spares ? spares : TR_NO_SPARES;
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "max_retries", 1, INT_MAX, &process->max_retries);
    if (rc == 0)
        rc = tr__config_size (ctx, section, path, "memory_limit", true, 0, LLONG_MAX,
                              &process->memory_limit);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "cpu_limit_s", 0, INT_MAX, &process->cpu_limit_s);
    if (rc == 0)
        rc =
            tr__config_int (ctx, section, path, "heartbeat_ms", 1, INT_MAX, &process->heartbeat_ms);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "heartbeat_timeout_ms", 1, INT_MAX,
                             &process->heartbeat_timeout_ms);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "restart_intensity", 1, INT_MAX,
                             &process->restart_intensity);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "restart_period_ms", 1, INT_MAX,
                             &process->restart_period_ms);
    if (rc)
        return rc;
    int interval = process->heartbeat_ms ? process->heartbeat_ms : 100;
    int timeout = process->heartbeat_timeout_ms ? process->heartbeat_timeout_ms : 1000;
    if (timeout <= interval) {
        zconfig_t *item = tr__config_find (section, "heartbeat_timeout_ms");
        if (!item)
            item = tr__config_find (section, "heartbeat_ms");
        char key[256];
        return tr__config_error (
            ctx, TR_EINVAL, item, s_join (key, sizeof key, path, zconfig_name (item)),
            "heartbeat_timeout_ms (%d) must be longer than heartbeat_ms (%d)", timeout, interval);
    }
    return 0;
}

//  A pool needs the node's process actors.
static int
s_needs_processes (tr__config_ctx_t *ctx, zconfig_t *item, const char *key, const char *what)
{
    if (!ctx->config->options.no_processes)
        return 0;
    zconfig_t *root = tr__zpl_root (ctx->config->zpl);
    zconfig_t *setting = tr__config_find (tr__config_find (root, "node"), "no_processes");
    return tr__config_error (ctx, TR_ENOTSUP, item, key,
                             "%s needs process actors, but node/no_processes is true (line %d)",
                             what, tr__config_line (ctx, setting));
}

static int
s_pool (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, tr_child_spec_t *child)
{
    int rc = tr__config_keys (ctx, section, path, s_pool_tables, "a pool");
    if (rc == 0)
        rc = s_needs_processes (ctx, section, path, "a pool");
    if (rc)
        return rc;
    tr_process_spec_t *process = tr__config_keep (ctx, sizeof *process);
    child->process = process;
    zconfig_t *command = tr__config_find (section, "command");
    zconfig_t *behaviour = tr__config_find (section, "behaviour");
    char key[256];
    if (command && behaviour)
        return tr__config_error (ctx, TR_EINVAL, command, s_join (key, sizeof key, path, "command"),
                                 "a pool runs a behaviour or a command, not both (behaviour on "
                                 "line %d)",
                                 tr__config_line (ctx, behaviour));
    if (!command && !behaviour)
        return tr__config_error (ctx, TR_EINVAL, section, path,
                                 "pool '%s' needs a behaviour (behaviour = NAME) or a program "
                                 "(command = \"...\") below it",
                                 zconfig_value (section));
    if (command && tr__config_find (section, "arg"))
        return tr__config_error (ctx, TR_EINVAL, tr__config_find (section, "arg"),
                                 s_join (key, sizeof key, path, "arg"),
                                 "a command gets no arg (it reads TROUPE_* from its environment)");
    rc = s_behaviour (ctx, section, path, "pool", true, &process->behaviour);
    if (rc == 0)
        rc = tr__config_string (ctx, section, path, "command", 0, &process->command);
    if (rc == 0 && process->command && strlen (process->command) > 511)
        return tr__config_error (ctx, TR_EINVAL, command, s_join (key, sizeof key, path, "command"),
                                 "a command is at most 511 bytes");
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "replicas", 1, 256, &process->replicas);
    if (rc == 0)
        rc = s_process_settings (ctx, section, path, process);
    if (rc == 0)
        rc = s_child_common (ctx, section, path, false, child);
    s_arg (section, &process->arg, &process->arg_size);
    return rc;
}

//  --------------------------------------------------------------------------
//  Services and routes

//  A route's type: "*" or a type name that is not the runtime's.
static int
s_route_type (tr__config_ctx_t *ctx, zconfig_t *item, const char *key)
{
    const char *type = zconfig_value (item);
    if (strcmp (type, "*") == 0)
        return 0;
    if (strchr (type, '*'))
        return tr__config_error (ctx, TR_EINVAL, item, key,
                                 "'%s' is not a message type: only \"*\" alone matches every "
                                 "type without its own route",
                                 type);
    if (!tr__config_name_ok (type, 63))
        return tr__config_error (ctx, TR_EINVAL, item, key,
                                 "'%s' is not a message type (1 to 63 printable characters, no "
                                 "spaces) or \"*\"",
                                 type);
    if (strncmp (type, "tr.", 3) == 0)
        return tr__config_error (ctx, TR_EINVAL, item, key,
                                 "'%s': the runtime's own types (tr.*) are not routed", type);
    return 0;
}

//  A key that only counts with another setting: an error when given without it.
static int
s_only_with (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const char *key,
             bool allowed, const char *why)
{
    zconfig_t *item = tr__config_find (section, key);
    if (!item || allowed)
        return 0;
    char where[256];
    return tr__config_error (ctx, TR_EINVAL, item, s_join (where, sizeof where, path, key), "%s",
                             why);
}

static int
s_route (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, tr_route_t *route)
{
    route->type = zconfig_value (section);
    int rc = s_route_type (ctx, section, path);
    if (rc == 0)
        rc = tr__config_keys (ctx, section, path, s_route_tables, "a route");
    if (rc)
        return rc;
    char key[256];
    zconfig_t *mode = tr__config_find (section, "mode");
    if (mode) {
        int parsed = tr_mode_parse (zconfig_value (mode));
        s_join (key, sizeof key, path, "mode");
        if (parsed < 0)
            return tr__config_error (
                ctx, TR_EINVAL, mode, key, "expected one of: %s, %s, %s, %s, %s; got '%s'",
                tr_mode_name (TR_MODE_THREAD), tr_mode_name (TR_MODE_DEDICATED),
                tr_mode_name (TR_MODE_PROCESS), tr_mode_name (TR_MODE_ASYNC),
                tr_mode_name (TR_MODE_AUTO), zconfig_value (mode));
        route->mode = (tr_mode_t) parsed;
        if (route->mode == TR_MODE_PROCESS) {
            rc = s_needs_processes (ctx, mode, key, "mode process");
            if (rc)
                return rc;
        }
        if (route->mode == TR_MODE_ASYNC && ctx->config->options.loops == 0)
            return tr__config_error (ctx, TR_ENOTSUP, mode, key,
                                     "mode async needs a loop thread, but node/loops is 0");
    }
    int balance = (int) route->balance, overflow = (int) route->overflow;
    rc = tr__config_int (ctx, section, path, "replicas", 1, 256, &route->replicas);
    if (rc == 0)
        rc = tr__config_enum (ctx, section, path, "balance", s_balances, &balance);
    route->balance = (tr_balance_t) balance;
    if (rc == 0)
        rc = tr__config_size (ctx, section, path, "key_offset", false, 0, INT_MAX,
                              &route->key_offset);
    if (rc == 0)
        rc = tr__config_size (ctx, section, path, "key_size", false, 0, INT_MAX, &route->key_size);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "deadline_ms", 1, INT_MAX, &route->deadline_ms);
    if (rc == 0)
        rc =
            tr__config_int (ctx, section, path, "max_in_flight", 0, INT_MAX, &route->max_in_flight);
    if (rc == 0)
        rc = tr__config_enum (ctx, section, path, "overflow", s_route_overflows, &overflow);
    route->overflow = (tr_route_overflow_t) overflow;
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "queue_limit", 1, INT_MAX, &route->queue_limit);

    //  Settings that would be ignored are mistakes: say so.
    bool hash = route->balance == TR_BALANCE_HASH;
    if (rc == 0)
        rc = s_only_with (ctx, section, path, "balance", route->mode != TR_MODE_PROCESS,
                          "process routes are balanced by their pool (least loaded): remove "
                          "balance, or choose another mode");
    if (rc == 0)
        rc = s_only_with (ctx, section, path, "key_offset", hash,
                          "key_offset needs balance = hash (it picks the bytes hashed)");
    if (rc == 0)
        rc = s_only_with (ctx, section, path, "key_size", hash,
                          "key_size needs balance = hash (it picks the bytes hashed)");
    if (rc == 0)
        rc = s_only_with (ctx, section, path, "overflow", route->max_in_flight > 0,
                          "overflow needs max_in_flight (it says what happens past it)");
    if (rc == 0)
        rc = s_only_with (ctx, section, path, "queue_limit", route->overflow == TR_ROUTE_QUEUE,
                          "queue_limit needs overflow = queue");
    return rc;
}

//  Each dedicated instance takes a dedicated thread of its own, for good:
//  the dedicated lanes of all services must fit in node/dedicated_threads.
static int
s_dedicated (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const tr_route_t *routes,
             size_t count)
{
    int lane = 0;
    size_t widest = 0;
    for (size_t i = 0; i < count; i++) {
        int replicas = routes[i].replicas ? routes[i].replicas : 1;
        if (routes[i].mode == TR_MODE_DEDICATED && replicas > lane) {
            lane = replicas;
            widest = i;
        }
    }
    if (lane == 0)
        return 0;
    zconfig_t *route = zconfig_child (section);
    for (size_t seen = 0; route; route = zconfig_next (route))
        if (strcmp (zconfig_name (route), "route") == 0 && seen++ == widest)
            break;
    char key[256];
    tr__config_join (key, sizeof key, path, "route/mode");
    int available = ctx->config->options.dedicated_threads;
    ctx->dedicated += lane;
    if (available == 0)
        return tr__config_error (ctx, TR_ENOTSUP, tr__config_find (route, "mode"), key,
                                 "mode %s needs dedicated threads, but node/dedicated_threads "
                                 "is 0",
                                 tr_mode_name (TR_MODE_DEDICATED));
    if (ctx->dedicated > available)
        return tr__config_error (ctx, TR_EINVAL, tr__config_find (route, "mode"), key,
                                 "the dedicated instances of the services up to here need %d "
                                 "dedicated threads; node/dedicated_threads is %d",
                                 ctx->dedicated, available);
    return 0;
}

static int
s_service (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, tr_child_spec_t *child)
{
    int rc = tr__config_keys (ctx, section, path, s_service_tables, "a service");
    if (rc)
        return rc;
    tr_service_spec_t *service = tr__config_keep (ctx, sizeof *service);
    child->service = service;
    rc = s_behaviour (ctx, section, path, "service", false, &service->behaviour);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "block_ms", 1, INT_MAX, &service->block_ms);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "restart_intensity", 1, INT_MAX,
                             &service->restart_intensity);
    if (rc == 0)
        rc = s_child_common (ctx, section, path, false, child);
    if (rc)
        return rc;
    service->name = child->name;  //  the supervisor registers child->name
    s_arg (section, &service->arg, &service->arg_size);

    char key[256];
    size_t count = 0;
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item))
        count += strcmp (zconfig_name (item), "route") == 0;
    tr_route_t *routes = tr__config_keep (ctx, count * sizeof *routes);
    service->routes = count ? routes : NULL;
    service->route_count = count;
    bool processes = false;
    size_t index = 0;
    tr__strmap_t *types = tr__strmap_new ();  //  route types, to their line
    for (zconfig_t *item = zconfig_child (section); item && rc == 0; item = zconfig_next (item)) {
        if (strcmp (zconfig_name (item), "route") != 0)
            continue;
        uint64_t first;
        if (tr__strmap_get (types, zconfig_value (item), &first)) {
            rc = tr__config_error (ctx, TR_EINVAL, item, s_join (key, sizeof key, path, "route"),
                                   "route '%s' given twice in this service (first on line %d)",
                                   zconfig_value (item), (int) first);
            break;
        }
        tr__strmap_insert (types, zconfig_value (item), (uint64_t) tr__config_line (ctx, item));
        rc = s_route (ctx, item, s_join (key, sizeof key, path, "route"), &routes[index]);
        processes |= routes[index].mode == TR_MODE_PROCESS || routes[index].mode == TR_MODE_AUTO;
        index++;
    }
    tr__strmap_destroy (&types);
    if (rc == 0)
        rc = s_dedicated (ctx, section, path, routes, count);
    zconfig_t *process = tr__config_find (section, "process");
    if (rc == 0 && process) {
        s_join (key, sizeof key, path, "process");
        if (!processes)
            return tr__config_error (ctx, TR_EINVAL, process, key,
                                     "process settings, but no route of this service has mode "
                                     "process or auto");
        tr_process_spec_t *settings = tr__config_keep (ctx, sizeof *settings);
        service->process = settings;
        rc = tr__config_keys (ctx, process, key, s_process_tables, "process settings");
        if (rc == 0)
            rc = s_process_settings (ctx, process, key, settings);
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  Supervisors

//  One child of a supervisor: item is its entry (actor = ID, ...).
static int
s_child (tr__config_ctx_t *ctx, zconfig_t *item, const char *key, zconfig_t **ancestors,
         tr_child_spec_t *child)
{
    const char *kind = zconfig_name (item);
    const char *id = zconfig_value (item);
    child->id = id;
    if (strcmp (kind, "actor") == 0)
        return s_actor (ctx, item, key, child);
    if (strcmp (kind, "pool") == 0)
        return s_pool (ctx, item, key, child);
    if (strcmp (kind, "service") == 0)
        return s_service (ctx, item, key, child);

    //  A tree is nested by indentation, so it cannot name itself; an id
    //  repeated down one branch is refused all the same.
    size_t depth = 0;
    for (; ancestors && ancestors[depth]; depth++)
        if (strcmp (zconfig_value (ancestors[depth]), id) == 0)
            return tr__config_error (ctx, TR_EINVAL, item, key,
                                     "supervisor '%s' is inside a supervisor with the same id "
                                     "(line %d): ids along one branch must differ",
                                     id, tr__config_line (ctx, ancestors[depth]));
    zconfig_t **chain = tr__config_keep (ctx, (depth + 2) * sizeof *chain);
    for (size_t a = 0; a < depth; a++)
        chain[a] = ancestors[a];
    chain[depth] = item;
    tr_supervisor_spec_t *nested = tr__config_keep (ctx, sizeof *nested);
    child->supervisor = nested;
    int rc = tr__config_supervisor (ctx, item, key, chain, nested);
    if (rc == 0)
        rc = s_child_common (ctx, item, key, true, child);
    return rc;
}

int
tr__config_supervisor (tr__config_ctx_t *ctx, zconfig_t *section, const char *path,
                       zconfig_t **ancestors, tr_supervisor_spec_t *spec)
{
    bool root = ancestors == NULL;
    int rc = tr__config_keys (ctx, section, path, root ? s_root_tables : s_nested_tables,
                              root ? "the root supervisor" : "a supervisor");
    int strategy = (int) spec->strategy;
    if (rc == 0)
        rc = tr__config_enum (ctx, section, path, "strategy", s_strategies, &strategy);
    spec->strategy = (tr_strategy_t) strategy;
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "intensity", 1, INT_MAX, &spec->intensity);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "period_ms", 1, INT_MAX, &spec->period_ms);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "backoff_ms", 1, INT_MAX, &spec->backoff_ms);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "backoff_max_ms", 1, INT_MAX,
                             &spec->backoff_max_ms);
    if (rc == 0)
        rc = tr__config_int (ctx, section, path, "healthy_ms", 1, INT_MAX, &spec->healthy_ms);
    if (rc)
        return rc;
    int backoff = spec->backoff_ms ? spec->backoff_ms : 10;
    int backoff_max = spec->backoff_max_ms ? spec->backoff_max_ms : 5000;
    char key[256];
    if (backoff_max < backoff) {
        zconfig_t *item = tr__config_find (section, "backoff_max_ms");
        if (!item)
            item = tr__config_find (section, "backoff_ms");
        return tr__config_error (
            ctx, TR_EINVAL, item, s_join (key, sizeof key, path, zconfig_name (item)),
            "backoff_max_ms (%d) is below backoff_ms (%d)", backoff_max, backoff);
    }

    //  Children, in file order; a supervisor among them nests.
    size_t count = 0;
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item))
        count += s_is_child (item);
    tr_child_spec_t *children = tr__config_keep (ctx, count * sizeof *children);
    spec->children = count ? children : NULL;
    spec->child_count = count;
    tr__strmap_t *ids = tr__strmap_new ();  //  ids so far, to their line
    size_t index = 0;
    for (zconfig_t *item = zconfig_child (section); item && rc == 0; item = zconfig_next (item)) {
        if (!s_is_child (item))
            continue;
        const char *id = zconfig_value (item);
        s_join (key, sizeof key, path, zconfig_name (item));
        uint64_t first;
        if (!tr__config_name_ok (id, 63))
            rc = tr__config_error (ctx, TR_EINVAL, item, key,
                                   "'%s' is not a child id (1 to 63 printable characters, no "
                                   "spaces)",
                                   id);
        else if (tr__strmap_get (ids, id, &first))
            rc = tr__config_error (ctx, TR_EINVAL, item, key,
                                   "child id '%s' is used twice in this supervisor (first on "
                                   "line %d)",
                                   id, (int) first);
        else {
            tr__strmap_insert (ids, id, (uint64_t) tr__config_line (ctx, item));
            rc = s_child (ctx, item, key, ancestors, &children[index++]);
        }
    }
    tr__strmap_destroy (&ids);
    return rc;
}
