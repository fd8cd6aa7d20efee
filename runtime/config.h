//  config - what config.c (the file, node options, values, loading) and
//  config_tree.c (the supervision tree: actors, pools, services, routes)
//  share while one config file is checked and built
#ifndef TR_CONFIG_H_INCLUDED
#define TR_CONFIG_H_INCLUDED

#include "alloc.h"
#include "strmap.h"
#include "troupe.h"
#include "zpl.h"

#include <stdbool.h>
#include <stddef.h>

struct tr_config {
    char *path;  //  as given
    char *dir;   //  its directory, for relative `load` paths
    tr__zpl_t *zpl;
    tr_options_t options;
    bool has_root;
    tr_supervisor_spec_t root;
    //  Everything the specs point at that is not a string of the tree.
    void **blocks;
    size_t block_count, block_capacity;
};

//  How a key may appear in its section.
typedef enum {
    TR__KEY_VALUE = 0,  //  once, with a value
    TR__KEY_VALUES,     //  any number of times, each with a value (load)
    TR__KEY_SECTION,    //  once, no value, keys indented below it
    TR__KEY_ENTRY,      //  any number of times, value = an id, keys below it
    TR__KEY_ROUTE       //  as an entry, value = a message type
} tr__config_shape_t;

typedef struct {
    const char *name;
    tr__config_shape_t shape;
} tr__config_key_t;

//  A behaviour named somewhere, checked after the load list ran.
typedef struct {
    zconfig_t *item;
    const char *name;
    char key[128];
} tr__config_use_t;

typedef struct {
    tr_config_t *config;
    tr_config_error_t *error;  //  never NULL
    int threads;               //  scheduler threads the node will have
    int dedicated;             //  dedicated threads the services so far need
    tr__config_use_t *behaviours;
    size_t behaviour_count, behaviour_capacity;
    tr__strmap_t *names;  //  registered names given so far, to their line
} tr__config_ctx_t;

//  Check every item under section against the keys of tables (a
//  NULL-terminated list of key tables, each ending with a NULL name); what
//  names the section in messages. 0 or the error.
TR__HIDDEN int tr__config_keys (tr__config_ctx_t *ctx, zconfig_t *section, const char *path,
                                const tr__config_key_t *const *tables, const char *what);
//  The first item named key under section, or NULL.
TR__HIDDEN zconfig_t *tr__config_find (zconfig_t *section, const char *key);

//  Typed values of key under section (path names section in errors). Each
//  leaves *out as it is when the key is absent, returns 0 or the error.
TR__HIDDEN int tr__config_int (tr__config_ctx_t *ctx, zconfig_t *section, const char *path,
                               const char *key, int min, int max, int *out);
//  sized: accepts K, M, G (KiB, MiB, GiB) suffixes.
TR__HIDDEN int tr__config_size (tr__config_ctx_t *ctx, zconfig_t *section, const char *path,
                                const char *key, bool sized, long long min, long long max,
                                size_t *out);
//  One of names (NULL-terminated): its index.
TR__HIDDEN int tr__config_enum (tr__config_ctx_t *ctx, zconfig_t *section, const char *path,
                                const char *key, const char *const *names, int *out);
TR__HIDDEN int tr__config_bool (tr__config_ctx_t *ctx, zconfig_t *section, const char *path,
                                const char *key, bool *out);
//  max_length > 0: a name (1..max_length printable bytes, no spaces);
//  0: any text but empty. *out points into the tree.
TR__HIDDEN int tr__config_string (tr__config_ctx_t *ctx, zconfig_t *section, const char *path,
                                  const char *key, size_t max_length, const char **out);
TR__HIDDEN bool tr__config_name_ok (const char *text, size_t max_length);

//  path/key into buffer (cut to fit size); returns buffer.
TR__HIDDEN const char *tr__config_join (char *buffer, size_t size, const char *path,
                                        const char *key);
//  Report an error at item (its line) for key; returns code.
__attribute__ ((visibility ("hidden"), format (printf, 5, 6))) int
tr__config_error (tr__config_ctx_t *ctx, int code, zconfig_t *item, const char *key,
                  const char *format, ...);
TR__HIDDEN int tr__config_line (tr__config_ctx_t *ctx, zconfig_t *item);
//  A zeroed block that lives as long as the config.
TR__HIDDEN void *tr__config_keep (tr__config_ctx_t *ctx, size_t size);
//  Note that item (key) names behaviour name.
TR__HIDDEN void tr__config_behaviour (tr__config_ctx_t *ctx, zconfig_t *item, const char *key,
                                      const char *name);

//  The supervisor section at item into *spec (config_tree.c). ancestors
//  lists the enclosing supervisor entries (NULL-terminated, or NULL).
TR__HIDDEN int tr__config_supervisor (tr__config_ctx_t *ctx, zconfig_t *item, const char *path,
                                      zconfig_t **ancestors, tr_supervisor_spec_t *spec);

#endif
