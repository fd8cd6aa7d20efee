//  registry - process-wide tables: message types interned by name, and
//  behaviours registered by name with a dispatch table indexed by type
#ifndef TR_REGISTRY_H_INCLUDED
#define TR_REGISTRY_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

#define TR__MAX_TYPES      4096
#define TR__MAX_BEHAVIOURS 1024

//  Internal behaviour flags.
#define TR__BEH_RAW_REPLIES 0x1u  //  replies with no continuation go to handlers

typedef struct {
    const tr_behaviour_t *pub;
    tr_handler_fn **table;  //  handler by type, table_size entries
    uint32_t table_size;
    uint32_t flags;
} tr__behaviour_t;

//  Find a registered behaviour by name, or NULL. Thread-safe.
TR__HIDDEN const tr__behaviour_t *tr__behaviour_find (const char *name);
//  Register with internal flags (the runtime's own behaviours).
TR__HIDDEN int tr__behaviour_register_flags (const tr_behaviour_t *behaviour, uint32_t flags);

//  Handler for type, or NULL.
static inline tr_handler_fn *
tr__behaviour_handler (const tr__behaviour_t *self, tr_type_t type)
{
    return type < self->table_size ? self->table[type] : NULL;
}

#endif
