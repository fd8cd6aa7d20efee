//  strmap - string to uint64 hash map (open addressing), not thread-safe:
//  each owner guards its map with its own lock
#ifndef TR_STRMAP_H_INCLUDED
#define TR_STRMAP_H_INCLUDED

#include "alloc.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct tr__strmap tr__strmap_t;

TR__HIDDEN tr__strmap_t *tr__strmap_new (void);
TR__HIDDEN void tr__strmap_destroy (tr__strmap_t **self_p);
//  Look key up: true and *value when present.
TR__HIDDEN bool tr__strmap_get (tr__strmap_t *self, const char *key, uint64_t *value);
//  Insert key (copied) if absent: returns true; false if already present.
TR__HIDDEN bool tr__strmap_insert (tr__strmap_t *self, const char *key, uint64_t value);
//  Remove key: true if it was there.
TR__HIDDEN bool tr__strmap_remove (tr__strmap_t *self, const char *key);
TR__HIDDEN uint64_t tr__strmap_hash (const char *key);

#endif
