//  alloc - the one module that names the allocator (jemalloc, or libc malloc
//  in sanitizer builds)
#ifndef TR_ALLOC_H_INCLUDED
#define TR_ALLOC_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define TR__HIDDEN __attribute__ ((visibility ("hidden")))

//  All abort with file and line when memory runs out: out of memory is not
//  an error code in troupe.
#define tr__alloc(size)        tr__alloc_at ((size), __FILE__, __LINE__)
#define tr__calloc(size)       tr__calloc_at ((size), __FILE__, __LINE__)
#define tr__realloc(ptr, size) tr__realloc_at ((ptr), (size), __FILE__, __LINE__)
#define tr__strdup(str)        tr__strdup_at ((str), __FILE__, __LINE__)

TR__HIDDEN void *tr__alloc_at (size_t size, const char *file, int line);
TR__HIDDEN void *tr__calloc_at (size_t size, const char *file, int line);
TR__HIDDEN void *tr__realloc_at (void *ptr, size_t size, const char *file, int line);
TR__HIDDEN char *tr__strdup_at (const char *str, const char *file, int line);
//  Free ptr (NULL-safe). size is the size it was allocated with: jemalloc's
//  sized free skips the size lookup on the hot path.
TR__HIDDEN void tr__free_sized (void *ptr, size_t size);
TR__HIDDEN void tr__free (void *ptr);
//  False when jemalloc is linked but is not the program's malloc (a link
//  order that crashes libzmq): see tr_runtime_new.
TR__HIDDEN bool tr__allocator_consistent (void);

#endif
