//  alloc - the one module that names the allocator (jemalloc, or libc malloc
//  in sanitizer builds)
#include "alloc.h"
#include "troupe.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TR_NO_JEMALLOC
#    include <jemalloc/jemalloc.h>
#endif

static void
s_out_of_memory (size_t size, const char *file, int line)
{
    fprintf (stderr, "E: troupe: out of memory allocating %zu bytes at %s:%d\n", size, file, line);
    abort ();
}

void *
tr__alloc_at (size_t size, const char *file, int line)
{
#ifndef TR_NO_JEMALLOC
    void *ptr = mallocx (size ? size : 1, 0);
#else
    void *ptr = malloc (size ? size : 1);
#endif
    if (!ptr)
        s_out_of_memory (size, file, line);
    return ptr;
}

void *
tr__calloc_at (size_t size, const char *file, int line)
{
#ifndef TR_NO_JEMALLOC
    void *ptr = mallocx (size ? size : 1, MALLOCX_ZERO);
#else
    void *ptr = calloc (1, size ? size : 1);
#endif
    if (!ptr)
        s_out_of_memory (size, file, line);
    return ptr;
}

void *
tr__realloc_at (void *ptr, size_t size, const char *file, int line)
{
#ifndef TR_NO_JEMALLOC
    void *grown = ptr ? rallocx (ptr, size ? size : 1, 0) : mallocx (size ? size : 1, 0);
#else
    void *grown = realloc (ptr, size ? size : 1);
#endif
    if (!grown)
        s_out_of_memory (size, file, line);
    return grown;
}

char *
tr__strdup_at (const char *str, const char *file, int line)
{
    size_t size = strlen (str) + 1;
    char *copy = tr__alloc_at (size, file, line);
    memcpy (copy, str, size);
    return copy;
}

void
tr__free_sized (void *ptr, size_t size)
{
    if (!ptr)
        return;
#ifndef TR_NO_JEMALLOC
    sdallocx (ptr, size ? size : 1, 0);
#else
    (void) size;
    free (ptr);
#endif
}

//  Always the x-API: whether plain malloc is jemalloc depends on the
//  program's link order, so troupe never mixes the two families.
void
tr__free (void *ptr)
{
    if (!ptr)
        return;
#ifndef TR_NO_JEMALLOC
    dallocx (ptr, 0);
#else
    free (ptr);
#endif
}

void *
tr_malloc (size_t size)
{
    return tr__alloc (size);
}

void
tr_free (void *ptr)
{
    tr__free (ptr);
}

int
tr_mem_stats (tr_mem_stats_t *stats)
{
    if (!stats)
        return TR_EINVAL;
    memset (stats, 0, sizeof *stats);
#ifndef TR_NO_JEMALLOC
    //  jemalloc caches its statistics; bumping the epoch refreshes them.
    uint64_t epoch = 1;
    size_t size = sizeof epoch;
    mallctl ("epoch", &epoch, &size, &epoch, size);
    size_t value;
    size = sizeof value;
    if (mallctl ("stats.allocated", &value, &size, NULL, 0) == 0)
        stats->allocated = value;
    if (mallctl ("stats.active", &value, &size, NULL, 0) == 0)
        stats->active = value;
    if (mallctl ("stats.resident", &value, &size, NULL, 0) == 0)
        stats->resident = value;
    if (mallctl ("stats.mapped", &value, &size, NULL, 0) == 0)
        stats->mapped = value;
    return 0;
#else
    return TR_ENOTSUP;
#endif
}

bool
tr__allocator_consistent (void)
{
#ifndef TR_NO_JEMALLOC
    //  jemalloc counts this thread's allocations: if a plain malloc does
    //  not move the count, malloc is not jemalloc's. libjemalloc is loaded
    //  (libtroupe needs it) but after libc, and then C++ new (jemalloc's)
    //  and sized delete (libstdc++'s, calling glibc's free) no longer pair
    //  up inside libzmq.
    uint64_t *counter = NULL;
    size_t size = sizeof counter;
    if (mallctl ("thread.allocatedp", &counter, &size, NULL, 0) != 0 || !counter)
        return true;  //  cannot tell
    //  volatile: the compiler takes malloc to write no memory it knows of.
    volatile uint64_t *allocated = counter;
    uint64_t before = *allocated;
    void *volatile probe = malloc (4096);
    uint64_t after = *allocated;
    free (probe);
    return after > before;
#else
    return true;
#endif
}
