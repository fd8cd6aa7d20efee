//  strmap - string to uint64 hash map (open addressing), not thread-safe:
//  each owner guards its map with its own lock
#include "strmap.h"

#include <string.h>

typedef struct {
    char *key;  //  NULL = empty; s_tombstone = removed
    uint64_t hash;
    uint64_t value;
} s_entry_t;

struct tr__strmap {
    s_entry_t *entries;
    size_t capacity;  //  power of two
    size_t used;      //  live + tombstones (drives growth)
    size_t live;
};

static char s_tombstone_mark;
#define s_tombstone (&s_tombstone_mark)

uint64_t
tr__strmap_hash (const char *key)
{
    //  FNV-1a: short keys, few of them; good enough and branch-free.
    uint64_t hash = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *) key; *p; p++)
        hash = (hash ^ *p) * 1099511628211ULL;
    return hash;
}

tr__strmap_t *
tr__strmap_new (void)
{
    tr__strmap_t *self = tr__calloc (sizeof *self);
    self->capacity = 16;
    self->entries = tr__calloc (self->capacity * sizeof (s_entry_t));
    return self;
}

void
tr__strmap_destroy (tr__strmap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tr__strmap_t *self = *self_p;
    for (size_t i = 0; i < self->capacity; i++)
        if (self->entries[i].key && self->entries[i].key != s_tombstone)
            tr__free (self->entries[i].key);
    tr__free (self->entries);
    tr__free (self);
    *self_p = NULL;
}

//  Slot holding key, or NULL.
static s_entry_t *
s_find (tr__strmap_t *self, const char *key, uint64_t hash)
{
    size_t mask = self->capacity - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        s_entry_t *entry = &self->entries[i];
        if (!entry->key)
            return NULL;
        if (entry->key != s_tombstone && entry->hash == hash && strcmp (entry->key, key) == 0)
            return entry;
    }
}

//  Rebuild without tombstones; double only when live entries need it.
static void
s_grow (tr__strmap_t *self)
{
    s_entry_t *old = self->entries;
    size_t old_capacity = self->capacity;
    if ((self->live + 1) * 4 > self->capacity)
        self->capacity *= 2;
    self->entries = tr__calloc (self->capacity * sizeof (s_entry_t));
    self->used = 0;
    size_t mask = self->capacity - 1;
    for (size_t i = 0; i < old_capacity; i++) {
        if (!old[i].key || old[i].key == s_tombstone)
            continue;
        size_t j = old[i].hash & mask;
        while (self->entries[j].key)
            j = (j + 1) & mask;
        self->entries[j] = old[i];
        self->used++;
    }
    tr__free (old);
}

bool
tr__strmap_get (tr__strmap_t *self, const char *key, uint64_t *value)
{
    s_entry_t *entry = s_find (self, key, tr__strmap_hash (key));
    if (entry && value)
        *value = entry->value;
    return entry != NULL;
}

bool
tr__strmap_insert (tr__strmap_t *self, const char *key, uint64_t value)
{
    uint64_t hash = tr__strmap_hash (key);
    if (s_find (self, key, hash))
        return false;
    //  Keep the load under 1/2 so probes stay short.
    if ((self->used + 1) * 2 > self->capacity)
        s_grow (self);
    size_t mask = self->capacity - 1;
    size_t i = hash & mask;
    while (self->entries[i].key && self->entries[i].key != s_tombstone)
        i = (i + 1) & mask;
    if (!self->entries[i].key)
        self->used++;
    self->live++;
    self->entries[i].key = tr__strdup (key);
    self->entries[i].hash = hash;
    self->entries[i].value = value;
    return true;
}

bool
tr__strmap_remove (tr__strmap_t *self, const char *key)
{
    s_entry_t *entry = s_find (self, key, tr__strmap_hash (key));
    if (!entry)
        return false;
    tr__free (entry->key);
    entry->key = s_tombstone;
    self->live--;
    return true;
}
