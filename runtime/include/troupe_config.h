//  troupe_config.h - a node described by a ZPL config file: node options,
//  the supervision tree (actors, process pools, services and their routes,
//  nested supervisors) and shared objects to load (docs/config.md)
//
//  Included by troupe.h; include troupe.h (not this file) in programs.
//
//  A config is checked in full before anything starts: the first problem is
//  reported with the file, the line, the key and what was expected, and then
//  no runtime is created. Behaviours named in a config must be registered
//  when it is loaded: by the program itself, or by a shared object of the
//  config's `load` list (or tr_config_load_object), whose constructor calls
//  tr_behaviour_register. Shared objects are loaded once and never unloaded.

#ifndef TROUPE_CONFIG_H_INCLUDED
#define TROUPE_CONFIG_H_INCLUDED

#include "troupe.h"

#ifdef __cplusplus
extern "C" {
#endif

//  What went wrong, and where. line is 0, and key empty, when the problem is
//  not on one line (the file cannot be read, the runtime cannot be created).
typedef struct {
    int code;           //  the TR_E* code the call returned
    char file[1024];    //  the config file as given (or the shared object)
    int line;           //  1-based line of the bad item, or 0
    char key[256];      //  its path from the top: "node/threads", "supervisor/actor/behaviour"
    char message[512];  //  what was found and what was expected
} tr_config_error_t;

typedef struct tr_config tr_config_t;

//  Read and check the config file at path: its syntax (ZPL), every key,
//  value and name, and the behaviours it names (after loading the shared
//  objects of its `load` list). Creates no runtime, starts nothing. Returns
//  the config, or NULL with *error filled in (error may be NULL): code
//  TR_ENOENT (the file, or a shared object of its `load` list, cannot be
//  read or loaded), TR_EINVAL (syntax, key, value, name, id),
//  TR_EUNKNOWN_BEHAVIOUR, TR_ENOTSUP (a pool or route the node's own
//  options rule out).
TR_EXPORT tr_config_t *tr_config_load (const char *path, tr_config_error_t *error);
//  Free a config. A runtime made from it does not need it. NULL-safe.
TR_EXPORT void tr_config_destroy (tr_config_t **self_p);
//  As tr_config_load, keeping nothing: 0 when the file is good, else the
//  error code (and *error filled in).
TR_EXPORT int tr_config_check (const char *path, tr_config_error_t *error);

//  Load one shared object now (dlopen, every symbol resolved at once), as a
//  `load` entry does; for programs that name modules outside the config
//  (troupe run --load). A path without '/' is looked for in the directories
//  of TROUPE_LOAD_PATH, then by the dynamic linker. Returns 0, or
//  TR_ENOENT with *error saying why (dlerror's text; error may be NULL),
//  TR_EINVAL for no path.
TR_EXPORT int tr_config_load_object (const char *path, tr_config_error_t *error);

//  The node options of the config (tr_options_default for keys it does not
//  set). Valid while config lives.
TR_EXPORT const tr_options_t *tr_config_options (tr_config_t *self);
//  The root supervisor's spec, or NULL when the config has no supervisor
//  section. Valid while config lives.
TR_EXPORT const tr_supervisor_spec_t *tr_config_root (tr_config_t *self);
//  Create and start a runtime with the config's options, and start the root
//  supervisor (tr_runtime_root) with every child. Returns the running
//  runtime (the caller destroys it; config may go first), or NULL with
//  *error filled in, and then nothing is left running.
TR_EXPORT tr_runtime_t *tr_config_start (tr_config_t *self, tr_config_error_t *error);
//  tr_config_load + tr_config_start + tr_config_destroy.
TR_EXPORT tr_runtime_t *tr_runtime_new_from_config (const char *path, tr_config_error_t *error);

#ifdef __cplusplus
}
#endif

#endif
