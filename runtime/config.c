//  config - a node described by a ZPL file (docs/config.md): every key is
//  checked, the options and the supervision tree are built from it, its
//  shared objects are loaded, and the node is started from it
//
//  Checking goes in three passes, so that nothing is loaded from a file
//  that is malformed: (1) the whole tree's keys and values, building the
//  specs and noting each behaviour named; (2) the `load` list; (3) those
//  behaviours, then the runtime's own spec checks. The first problem found
//  is reported with its line (zpl.c keeps the line of every item).
#include "config.h"
#include "registry.h"
#include "supervisor.h"

#include <czmq.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Errors

//  Fill error (never NULL here) and return code. item gives the line.
static int
s_fail (tr__config_ctx_t *ctx, int code, zconfig_t *item, const char *key, const char *format, ...)
{
    tr_config_error_t *error = ctx->error;
    error->code = code;
    error->line = item ? tr__zpl_line (ctx->config->zpl, item) : 0;
    snprintf (error->key, sizeof error->key, "%s", key ? key : "");
    va_list args;
    va_start (args, format);
    vsnprintf (error->message, sizeof error->message, format, args);
    va_end (args);
    return code;
}

const char *
tr__config_join (char *buffer, size_t size, const char *path, const char *key)
{
    size_t used = 0;
    for (const char *part = path; *part && used + 1 < size; part++)
        buffer[used++] = *part;
    if (path[0] && used + 1 < size)
        buffer[used++] = '/';
    for (const char *part = key; *part && used + 1 < size; part++)
        buffer[used++] = *part;
    buffer[used] = '\0';
    return buffer;
}

//  --------------------------------------------------------------------------
//  Keys: which may appear in a section, and in what shape

//  The key of tables (NULL-terminated) named name, or NULL.
static const tr__config_key_t *
s_key_find (const tr__config_key_t *const *tables, const char *name)
{
    for (; *tables; tables++)
        for (const tr__config_key_t *key = *tables; key->name; key++)
            if (strcmp (key->name, name) == 0)
                return key;
    return NULL;
}

//  Check every item under section against keys: no unknown key, single
//  keys once, values and sub-keys where they belong.
int
tr__config_keys (tr__config_ctx_t *ctx, zconfig_t *section, const char *path,
                 const tr__config_key_t *const *tables, const char *what)
{
    char key[256];
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item)) {
        const char *name = zconfig_name (item);
        const char *value = zconfig_value (item);
        tr__config_join (key, sizeof key, path, name);
        const tr__config_key_t *known = s_key_find (tables, name);
        if (!known) {
            char expected[512] = "";
            for (const tr__config_key_t *const *table = tables; *table; table++)
                for (const tr__config_key_t *k = *table; k->name; k++) {
                    size_t used = strlen (expected);
                    snprintf (expected + used, sizeof expected - used, "%s%s", used ? ", " : "",
                              k->name);
                }
            return s_fail (ctx, TR_EINVAL, item, key,
                           "unknown key '%s' in %s (expected one of: %s)", name, what, expected);
        }
        bool has_children = zconfig_child (item) != NULL;
        bool has_value = value && value[0];
        if (known->shape == TR__KEY_VALUE || known->shape == TR__KEY_VALUES) {
            if (has_children)
                return s_fail (ctx, TR_EINVAL, zconfig_child (item), key,
                               "'%s' takes a value (%s = VALUE), not keys indented below it", name,
                               name);
        }
        else if (known->shape == TR__KEY_SECTION) {
            if (has_value)
                return s_fail (ctx, TR_EINVAL, item, key,
                               "'%s' takes no value: put its keys on the lines below it, "
                               "indented by 4 more spaces",
                               name);
        }
        else if (!has_value)
            return s_fail (ctx, TR_EINVAL, item, key, "'%s' needs %s: %s = %s", name,
                           known->shape == TR__KEY_ROUTE ? "a message type" : "an id", name,
                           known->shape == TR__KEY_ROUTE ? "TYPE" : "ID");
        if (known->shape == TR__KEY_VALUE || known->shape == TR__KEY_SECTION)
            for (zconfig_t *first = zconfig_child (section); first != item;
                 first = zconfig_next (first))
                if (strcmp (zconfig_name (first), name) == 0)
                    return s_fail (ctx, TR_EINVAL, item, key, "'%s' given twice (first on line %d)",
                                   name, tr__zpl_line (ctx->config->zpl, first));
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Values

zconfig_t *
tr__config_find (zconfig_t *section, const char *key)
{
    for (zconfig_t *item = zconfig_child (section); item; item = zconfig_next (item))
        if (strcmp (zconfig_name (item), key) == 0)
            return item;
    return NULL;
}

//  Parse a decimal integer, with a K/M/G (KiB/MiB/GiB) suffix when sized.
static bool
s_parse_integer (const char *text, bool sized, long long *value)
{
    if (!text || !((text[0] >= '0' && text[0] <= '9') || text[0] == '-' || text[0] == '+'))
        return false;
    errno = 0;
    char *end;
    long long number = strtoll (text, &end, 10);
    if (errno || end == text || !(end[-1] >= '0' && end[-1] <= '9'))
        return false;
    if (sized && *end) {
        int shift = 0;
        switch (*end) {
            case 'k':
            case 'K': shift = 10; break;
            case 'M': shift = 20; break;
            case 'G': shift = 30; break;
            default: return false;
        }
        end++;
        if (strcmp (end, "iB") == 0)
            end += 2;
        if (number < 0 || number > (LLONG_MAX >> shift))
            return false;
        number <<= shift;
    }
    if (*end)
        return false;
    *value = number;
    return true;
}

//  An integer key in [min, max] into *out (untouched when absent).
static int
s_number (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const char *key, bool sized,
          long long min, long long max, long long *out)
{
    zconfig_t *item = tr__config_find (section, key);
    if (!item)
        return 0;
    char where[256];
    const char *value = zconfig_value (item);
    long long number;
    if (!s_parse_integer (value, sized, &number) || number < min || number > max) {
        char range[96];
        if (max == LLONG_MAX || max == INT_MAX)
            snprintf (range, sizeof range, "%lld or more", min);
        else
            snprintf (range, sizeof range, "from %lld to %lld", min, max);
        return s_fail (ctx, TR_EINVAL, item, tr__config_join (where, sizeof where, path, key),
                       "expected %s %s, got '%s'",
                       sized ? "a size in bytes (K, M, G suffixes)" : "an integer", range, value);
    }
    *out = number;
    return 0;
}

int
tr__config_int (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const char *key,
                int min, int max, int *out)
{
    long long number = *out;
    int rc = s_number (ctx, section, path, key, false, min, max, &number);
    if (rc == 0)
        *out = (int) number;
    return rc;
}

int
tr__config_size (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const char *key,
                 bool sized, long long min, long long max, size_t *out)
{
    long long number = (long long) *out;
    int rc = s_number (ctx, section, path, key, sized, min, max, &number);
    if (rc == 0)
        *out = (size_t) number;
    return rc;
}

//  One of names (NULL-terminated); its index into *out.
int
tr__config_enum (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const char *key,
                 const char *const *names, int *out)
{
    zconfig_t *item = tr__config_find (section, key);
    if (!item)
        return 0;
    const char *value = zconfig_value (item);
    char expected[256] = "";
    for (int i = 0; names[i]; i++) {
        if (strcmp (value, names[i]) == 0) {
            *out = i;
            return 0;
        }
        size_t used = strlen (expected);
        snprintf (expected + used, sizeof expected - used, "%s%s", i ? ", " : "", names[i]);
    }
    char where[256];
    return s_fail (ctx, TR_EINVAL, item, tr__config_join (where, sizeof where, path, key),
                   "expected one of: %s; got '%s'", expected, value);
}

int
tr__config_bool (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const char *key,
                 bool *out)
{
    //  Pairs of false, true.
    static const char *names[] = {"false", "true", "no", "yes", "off", "on", "0", "1", NULL};
    zconfig_t *item = tr__config_find (section, key);
    if (!item)
        return 0;
    const char *value = zconfig_value (item);
    for (int i = 0; names[i]; i++)
        if (strcmp (value, names[i]) == 0) {
            *out = i % 2 == 1;
            return 0;
        }
    char where[256];
    return s_fail (ctx, TR_EINVAL, item, tr__config_join (where, sizeof where, path, key),
                   "expected true or false (or yes/no, on/off, 1/0), got '%s'", value);
}

//  A name-like string: 1..max_length bytes, printable, no spaces.
bool
tr__config_name_ok (const char *text, size_t max_length)
{
    size_t length = text ? strlen (text) : 0;
    if (length == 0 || length > max_length)
        return false;
    for (size_t i = 0; i < length; i++)
        if ((unsigned char) text[i] <= ' ' || (unsigned char) text[i] >= 127)
            return false;
    return true;
}

int
tr__config_string (tr__config_ctx_t *ctx, zconfig_t *section, const char *path, const char *key,
                   size_t max_length, const char **out)
{
    zconfig_t *item = tr__config_find (section, key);
    if (!item)
        return 0;
    const char *value = zconfig_value (item);
    if (max_length && !tr__config_name_ok (value, max_length)) {
        char where[256];
        return s_fail (ctx, TR_EINVAL, item, tr__config_join (where, sizeof where, path, key),
                       "expected 1 to %zu printable characters, no spaces; got '%s'", max_length,
                       value);
    }
    if (!max_length && !value[0]) {
        char where[256];
        return s_fail (ctx, TR_EINVAL, item, tr__config_join (where, sizeof where, path, key),
                       "expected a value: %s = \"...\"", key);
    }
    *out = value;
    return 0;
}

int
tr__config_error (tr__config_ctx_t *ctx, int code, zconfig_t *item, const char *key,
                  const char *format, ...)
{
    char message[512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    return s_fail (ctx, code, item, key, "%s", message);
}

int
tr__config_line (tr__config_ctx_t *ctx, zconfig_t *item)
{
    return tr__zpl_line (ctx->config->zpl, item);
}

void *
tr__config_keep (tr__config_ctx_t *ctx, size_t size)
{
    tr_config_t *config = ctx->config;
    if (config->block_count == config->block_capacity) {
        config->block_capacity = config->block_capacity ? config->block_capacity * 2 : 32;
        config->blocks =
            tr__realloc (config->blocks, config->block_capacity * sizeof *config->blocks);
    }
    void *block = tr__calloc (size ? size : 1);
    config->blocks[config->block_count++] = block;
    return block;
}

//  Remember a behaviour named at item, to check once the load list ran.
void
tr__config_behaviour (tr__config_ctx_t *ctx, zconfig_t *item, const char *key, const char *name)
{
    if (ctx->behaviour_count == ctx->behaviour_capacity) {
        ctx->behaviour_capacity = ctx->behaviour_capacity ? ctx->behaviour_capacity * 2 : 16;
        ctx->behaviours =
            tr__realloc (ctx->behaviours, ctx->behaviour_capacity * sizeof *ctx->behaviours);
    }
    tr__config_use_t *use = &ctx->behaviours[ctx->behaviour_count++];
    use->item = item;
    use->name = name;
    snprintf (use->key, sizeof use->key, "%s", key);
}

//  --------------------------------------------------------------------------
//  The node section

static const tr__config_key_t s_node_key_list[] = {
    {"name", TR__KEY_VALUE},
    {"threads", TR__KEY_VALUE},
    {"mailbox_limit", TR__KEY_VALUE},
    {"overflow", TR__KEY_VALUE},
    {"max_payload", TR__KEY_VALUE},
    {"stop_timeout_ms", TR__KEY_VALUE},
    {"no_processes", TR__KEY_VALUE},
    {"loops", TR__KEY_VALUE},
    {"dedicated_threads", TR__KEY_VALUE},
    {NULL, 0},
};
static const tr__config_key_t *const s_node_keys[] = {s_node_key_list, NULL};

static int
s_node (tr__config_ctx_t *ctx, zconfig_t *node)
{
    tr_options_t *options = &ctx->config->options;
    static const char *overflows[] = {"fail", "drop_newest", "drop_oldest", "block", NULL};
    const char *path = "node";
    int overflow = (int) options->overflow;
    int rc = tr__config_keys (ctx, node, path, s_node_keys, "node");
    if (rc == 0)
        rc = tr__config_string (ctx, node, path, "name", 63, &options->name);
    if (rc == 0)
        rc = tr__config_int (ctx, node, path, "threads", 0, 126, &options->threads);
    if (rc == 0)
        rc = tr__config_size (ctx, node, path, "mailbox_limit", false, 1, UINT32_MAX,
                              &options->mailbox_limit);
    if (rc == 0)
        rc = tr__config_enum (ctx, node, path, "overflow", overflows, &overflow);
    options->overflow = (tr_overflow_t) overflow;
    if (rc == 0)
        rc = tr__config_size (ctx, node, path, "max_payload", true, 1, LLONG_MAX,
                              &options->max_payload);
    if (rc == 0)
        rc = tr__config_int (ctx, node, path, "stop_timeout_ms", 0, INT_MAX,
                             &options->stop_timeout_ms);
    if (rc == 0)
        rc = tr__config_bool (ctx, node, path, "no_processes", &options->no_processes);
    if (rc == 0)
        rc = tr__config_int (ctx, node, path, "loops", 0, 126, &options->loops);
    if (rc == 0)
        rc = tr__config_int (ctx, node, path, "dedicated_threads", 0, 126,
                             &options->dedicated_threads);
    if (rc)
        return rc;

    //  Every thread needs a number in a ref: at most 127 of them.
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    ctx->threads = options->threads ? options->threads : (int) (cores > 0 ? cores : 1);
    if (ctx->threads > 126)
        ctx->threads = 126;
    int all = ctx->threads + options->loops + options->dedicated_threads
              + (options->no_processes ? 0 : 1);
    if (all > 127) {
        const char *key = tr__config_find (node, "dedicated_threads") ? "dedicated_threads"
                          : tr__config_find (node, "loops")           ? "loops"
                                                                      : "threads";
        zconfig_t *item = tr__config_find (node, key);
        char where[64];
        return s_fail (ctx, TR_EINVAL, item ? item : node,
                       item ? tr__config_join (where, sizeof where, path, key) : path,
                       "threads (%d) + loops (%d) + dedicated_threads (%d)%s is %d: at most 127",
                       ctx->threads, options->loops, options->dedicated_threads,
                       options->no_processes ? "" : " + 1 for process actors", all);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Shared objects

//  Resolve name as docs/config.md says: absolute as is; with a '/', from
//  dir (the config's directory; NULL: the working directory); bare, from
//  TROUPE_LOAD_PATH, then dir, then the dynamic linker's own search.
static void
s_resolve (const char *name, const char *dir, char *path, size_t size)
{
    if (name[0] == '/' || (strchr (name, '/') && !dir)) {
        snprintf (path, size, "%s", name);
        return;
    }
    if (strchr (name, '/')) {
        snprintf (path, size, "%s/%s", dir, name);
        return;
    }
    const char *search = getenv ("TROUPE_LOAD_PATH");
    while (search && *search) {
        const char *colon = strchr (search, ':');
        size_t length = colon ? (size_t) (colon - search) : strlen (search);
        if (length) {
            snprintf (path, size, "%.*s/%s", (int) length, search, name);
            if (access (path, R_OK) == 0)
                return;
        }
        search = colon ? colon + 1 : NULL;
    }
    if (dir) {
        snprintf (path, size, "%s/%s", dir, name);
        if (access (path, R_OK) == 0)
            return;
    }
    snprintf (path, size, "%s", name);
}

//  dlopen; on failure why holds dlerror's text.
static int
s_load (const char *name, const char *dir, char *why, size_t why_size)
{
    char path[4096];
    s_resolve (name, dir, path, sizeof path);
    //  Every symbol now, so a missing one is this error and not a crash
    //  later. Never closed: the behaviour tables it registered live in it.
    void *handle = dlopen (path, RTLD_NOW | RTLD_GLOBAL);
    if (!handle) {
        const char *reason = dlerror ();
        snprintf (why, why_size, "cannot load: %s", reason ? reason : name);
        return TR_ENOENT;
    }
    return 0;
}

int
tr_config_load_object (const char *path, tr_config_error_t *error)
{
    tr_config_error_t ignored;
    if (!error)
        error = &ignored;
    memset (error, 0, sizeof *error);
    if (!path || !path[0]) {
        error->code = TR_EINVAL;
        snprintf (error->message, sizeof error->message, "no shared object named");
        return TR_EINVAL;
    }
    snprintf (error->file, sizeof error->file, "%s", path);
    int rc = s_load (path, NULL, error->message, sizeof error->message);
    error->code = rc;
    return rc;
}

//  --------------------------------------------------------------------------
//  The whole file

static const tr__config_key_t s_top_key_list[] = {
    {"load", TR__KEY_VALUES},
    {"node", TR__KEY_SECTION},
    {"supervisor", TR__KEY_SECTION},
    {NULL, 0},
};
static const tr__config_key_t *const s_top_keys[] = {s_top_key_list, NULL};

//  Read path whole into *text.
static int
s_read (const char *path, char **text, size_t *size, char *why, size_t why_size)
{
    FILE *file = fopen (path, "rb");
    struct stat info;
    int rc = 0;
    if (!file || fstat (fileno (file), &info) != 0)
        rc = errno;
    else if (S_ISDIR (info.st_mode))
        rc = EISDIR;
    if (rc) {
        snprintf (why, why_size, "cannot read the file: %s", strerror (rc));
        if (file)
            fclose (file);
        return TR_ENOENT;
    }
    size_t capacity = 4096, used = 0;
    char *buffer = tr__alloc (capacity);
    size_t got;
    while ((got = fread (buffer + used, 1, capacity - used, file)) > 0) {
        used += got;
        if (used > TR__ZPL_MAX_SIZE)
            break;
        if (used == capacity)
            buffer = tr__realloc (buffer, capacity *= 2);
    }
    bool failed = ferror (file);
    fclose (file);
    if (failed || used > TR__ZPL_MAX_SIZE) {
        snprintf (why, why_size,
                  failed ? "cannot read the file: read error"
                         : "larger than 1 MiB: not a config file");
        tr__free (buffer);
        return failed ? TR_ENOENT : TR_EINVAL;
    }
    *text = buffer;
    *size = used;
    return 0;
}

//  Passes 2 and 3, and the runtime's own checks.
static int
s_finish (tr__config_ctx_t *ctx, zconfig_t *root)
{
    tr_config_t *config = ctx->config;
    char why[512];
    for (zconfig_t *item = zconfig_child (root); item; item = zconfig_next (item)) {
        if (strcmp (zconfig_name (item), "load") != 0)
            continue;
        const char *name = zconfig_value (item);
        if (!name[0])
            return s_fail (ctx, TR_EINVAL, item, "load",
                           "expected a shared object: load = \"libmodule.so\"");
        int rc = s_load (name, config->dir, why, sizeof why);
        if (rc)
            return s_fail (ctx, rc, item, "load", "%s", why);
    }
    for (size_t i = 0; i < ctx->behaviour_count; i++) {
        tr__config_use_t *use = &ctx->behaviours[i];
        if (!tr__behaviour_find (use->name))
            return s_fail (ctx, TR_EUNKNOWN_BEHAVIOUR, use->item, use->key,
                           "no behaviour '%s' is registered (is it in a shared object that "
                           "no 'load' names?)",
                           use->name);
    }
    zconfig_t *supervisor = tr__config_find (root, "supervisor");
    if (config->has_root) {
        int rc = tr__supervisor_spec_check (&config->root, why, sizeof why);
        if (rc)
            return s_fail (ctx, rc, supervisor, "supervisor", "the runtime refuses the tree: %s",
                           why);
    }
    return 0;
}

tr_config_t *
tr_config_load (const char *path, tr_config_error_t *error)
{
    tr_config_error_t ignored;
    if (!error)
        error = &ignored;
    memset (error, 0, sizeof *error);
    if (!path || !path[0]) {
        error->code = TR_EINVAL;
        snprintf (error->message, sizeof error->message, "no config file named");
        return NULL;
    }
    snprintf (error->file, sizeof error->file, "%s", path);
    char *text = NULL;
    size_t size = 0;
    int rc = s_read (path, &text, &size, error->message, sizeof error->message);
    if (rc) {
        error->code = rc;
        return NULL;
    }
    tr_config_t *config = tr__calloc (sizeof *config);
    rc = tr__zpl_parse (text, size, &config->zpl, &error->line, error->message,
                        sizeof error->message);
    tr__free (text);
    if (rc) {
        error->code = rc;
        tr_config_destroy (&config);
        return NULL;
    }
    config->path = tr__strdup (path);
    const char *slash = strrchr (path, '/');
    config->dir = slash ? tr__strdup (path) : tr__strdup (".");
    if (slash)
        config->dir[slash == path ? 1 : slash - path] = '\0';
    tr_options_default (&config->options);

    tr__config_ctx_t ctx = {.config = config, .error = error, .names = tr__strmap_new ()};
    zconfig_t *root = tr__zpl_root (config->zpl);
    rc = tr__config_keys (&ctx, root, "", s_top_keys, "the file");
    zconfig_t *node = tr__config_find (root, "node");
    if (rc == 0 && node)
        rc = s_node (&ctx, node);
    else if (rc == 0) {
        long cores = sysconf (_SC_NPROCESSORS_ONLN);
        ctx.threads = cores > 0 ? (cores > 126 ? 126 : (int) cores) : 1;
    }
    zconfig_t *supervisor = tr__config_find (root, "supervisor");
    if (rc == 0 && supervisor) {
        config->has_root = true;
        rc = tr__config_supervisor (&ctx, supervisor, "supervisor", NULL, &config->root);
    }
    if (rc == 0)
        rc = s_finish (&ctx, root);
    tr__free (ctx.behaviours);
    tr__strmap_destroy (&ctx.names);
    if (rc) {
        tr_config_destroy (&config);
        return NULL;
    }
    return config;
}

void
tr_config_destroy (tr_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr_config_t *self = *self_p;
    for (size_t i = 0; i < self->block_count; i++)
        tr__free (self->blocks[i]);
    tr__free (self->blocks);
    tr__free (self->dir);
    tr__free (self->path);
    tr__zpl_destroy (&self->zpl);
    tr__free (self);
    *self_p = NULL;
}

int
tr_config_check (const char *path, tr_config_error_t *error)
{
    tr_config_error_t local;
    if (!error)
        error = &local;
    tr_config_t *config = tr_config_load (path, error);
    if (!config)
        return error->code ? error->code : TR_EINVAL;
    tr_config_destroy (&config);
    return 0;
}

const tr_options_t *
tr_config_options (tr_config_t *self)
{
    return self ? &self->options : NULL;
}

const tr_supervisor_spec_t *
tr_config_root (tr_config_t *self)
{
    return self && self->has_root ? &self->root : NULL;
}

tr_runtime_t *
tr_config_start (tr_config_t *self, tr_config_error_t *error)
{
    tr_config_error_t ignored;
    if (!error)
        error = &ignored;
    memset (error, 0, sizeof *error);
    if (!self) {
        error->code = TR_EINVAL;
        snprintf (error->message, sizeof error->message, "no config");
        return NULL;
    }
    snprintf (error->file, sizeof error->file, "%s", self->path);
    tr_runtime_t *rt = tr_runtime_new (&self->options);
    if (!rt) {
        error->code = TR_EINVAL;
        snprintf (error->message, sizeof error->message,
                  "the runtime could not be created (the log says why)");
        return NULL;
    }
    int rc = tr_runtime_start (rt);
    tr_ref_t root = TR_REF_NONE;
    if (rc == 0 && self->has_root)
        rc = tr_runtime_root (rt, &self->root, &root);
    if (rc) {
        error->code = rc;
        snprintf (error->key, sizeof error->key, "%s", self->has_root ? "supervisor" : "");
        error->line =
            self->has_root
                ? tr__zpl_line (self->zpl, tr__config_find (tr__zpl_root (self->zpl), "supervisor"))
                : 0;
        snprintf (error->message, sizeof error->message, "the root supervisor did not start: %s",
                  tr_strerror (rc));
        tr_runtime_destroy (&rt);
        return NULL;
    }
    return rt;
}

tr_runtime_t *
tr_runtime_new_from_config (const char *path, tr_config_error_t *error)
{
    tr_config_t *config = tr_config_load (path, error);
    if (!config)
        return NULL;
    tr_runtime_t *rt = tr_config_start (config, error);
    tr_config_destroy (&config);
    return rt;
}
