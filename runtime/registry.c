//  registry - process-wide tables: message types interned by name, and
//  behaviours registered by name with a dispatch table indexed by type
#include "registry.h"
#include "strmap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

//  Both tables only grow. Writers hold s_lock; tr_type_name reads the names
//  array without the lock (entries are published with a release store).
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static tr__strmap_t *s_types;
static _Atomic (const char *) s_type_names[TR__MAX_TYPES];
static uint32_t s_type_count;
static tr__strmap_t *s_behaviours;
static tr__behaviour_t s_behaviour_table[TR__MAX_BEHAVIOURS];
static uint32_t s_behaviour_count;

static bool
s_valid_name (const char *name)
{
    if (!name)
        return false;
    size_t length = strlen (name);
    if (length == 0 || length > 63)
        return false;
    for (size_t i = 0; i < length; i++)
        if ((unsigned char) name[i] <= ' ' || (unsigned char) name[i] >= 127)
            return false;
    return true;
}

//  Caller holds s_lock.
static tr_type_t
s_intern (const char *name)
{
    if (!s_types) {
        s_types = tr__strmap_new ();
        //  The built-in types take fixed numbers 1..3.
        static const char *builtin[] = {"tr.down", "tr.exit", "tr.dead_letter"};
        for (uint32_t i = 0; i < 3; i++) {
            tr__strmap_insert (s_types, builtin[i], i + 1);
            atomic_store_explicit (&s_type_names[i + 1], builtin[i], memory_order_release);
        }
        s_type_count = 4;
    }
    uint64_t type;
    if (tr__strmap_get (s_types, name, &type))
        return (tr_type_t) type;
    if (s_type_count >= TR__MAX_TYPES)
        return TR_TYPE_NONE;
    type = s_type_count++;
    tr__strmap_insert (s_types, name, type);
    atomic_store_explicit (&s_type_names[type], tr__strdup (name), memory_order_release);
    return (tr_type_t) type;
}

tr_type_t
tr_type (const char *name)
{
    if (!s_valid_name (name))
        return TR_TYPE_NONE;
    pthread_mutex_lock (&s_lock);
    tr_type_t type = s_intern (name);
    pthread_mutex_unlock (&s_lock);
    return type;
}

const char *
tr_type_name (tr_type_t type)
{
    if (type == TR_TYPE_NONE || type >= TR__MAX_TYPES) {
        return NULL;
    }
    if (!atomic_load_explicit (&s_type_names[1], memory_order_acquire))
        tr_type ("tr.down");  //  make the built-ins exist
    return atomic_load_explicit (&s_type_names[type], memory_order_acquire);
}

int
tr__behaviour_register_flags (const tr_behaviour_t *behaviour, uint32_t flags)
{
    if (!behaviour || !s_valid_name (behaviour->name))
        return TR_EINVAL;
    const tr_handler_t *handler = behaviour->handlers;
    for (; handler && handler->type; handler++)
        if (!handler->fn || !s_valid_name (handler->type))
            return TR_EINVAL;

    pthread_mutex_lock (&s_lock);
    int rc = 0;
    if (!s_behaviours)
        s_behaviours = tr__strmap_new ();
    uint64_t index;
    if (tr__strmap_get (s_behaviours, behaviour->name, &index)) {
        //  Registering the same table twice is harmless (idempotent).
        rc = s_behaviour_table[index].pub == behaviour ? 0 : TR_EEXIST;
        goto done;
    }
    if (s_behaviour_count >= TR__MAX_BEHAVIOURS) {
        rc = TR_ETOOMANY;
        goto done;
    }
    //  Intern every handled type and size the dispatch table to the largest.
    uint32_t table_size = 0;
    for (handler = behaviour->handlers; handler && handler->type; handler++) {
        tr_type_t type = s_intern (handler->type);
        if (type == TR_TYPE_NONE) {
            rc = TR_ETOOMANY;
            goto done;
        }
        if (type + 1 > table_size)
            table_size = type + 1;
    }
    tr__behaviour_t *entry = &s_behaviour_table[s_behaviour_count];
    entry->pub = behaviour;
    entry->flags = flags;
    entry->table_size = table_size;
    entry->table = tr__calloc ((table_size ? table_size : 1) * sizeof (tr_handler_fn *));
    for (handler = behaviour->handlers; handler && handler->type; handler++)
        entry->table[s_intern (handler->type)] = handler->fn;
    tr__strmap_insert (s_behaviours, behaviour->name, s_behaviour_count);
    s_behaviour_count++;
done:
    pthread_mutex_unlock (&s_lock);
    return rc;
}

int
tr_behaviour_register (const tr_behaviour_t *behaviour)
{
    return tr__behaviour_register_flags (behaviour, 0);
}

const tr__behaviour_t *
tr__behaviour_find (const char *name)
{
    if (!name)
        return NULL;
    const tr__behaviour_t *found = NULL;
    pthread_mutex_lock (&s_lock);
    uint64_t index;
    if (s_behaviours && tr__strmap_get (s_behaviours, name, &index))
        found = &s_behaviour_table[index];
    pthread_mutex_unlock (&s_lock);
    return found;
}
