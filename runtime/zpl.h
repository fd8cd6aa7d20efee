//  zpl - reads a ZPL file (rfc.zeromq.org/spec:4) into a czmq zconfig tree
//  and keeps the line of every item, which zconfig does not
#ifndef TR_ZPL_H_INCLUDED
#define TR_ZPL_H_INCLUDED

#include "alloc.h"

#include <stddef.h>

typedef struct _zconfig_t zconfig_t;  //  as czmq declares it
typedef struct tr__zpl tr__zpl_t;

//  Longest line, and largest file, that tr__zpl_parse accepts (zconfig
//  itself cuts longer lines silently).
#define TR__ZPL_MAX_LINE 1024
#define TR__ZPL_MAX_SIZE (1u << 20)

//  Parse size bytes of ZPL text. The syntax is checked line by line with
//  zconfig's own rules first, so a bad line is reported here (its number in
//  *line, the reason in why) and zconfig never sees it; the text is then
//  loaded with zconfig_str_load and every item of the tree is matched with
//  its line. Returns 0 and *self_p, or TR_EINVAL.
TR__HIDDEN int tr__zpl_parse (const char *text, size_t size, tr__zpl_t **self_p, int *line,
                              char *why, size_t why_size);
//  The tree's root (named "root"; the file's top-level items are its
//  children). It belongs to self.
TR__HIDDEN zconfig_t *tr__zpl_root (tr__zpl_t *self);
//  The line item was read from (1-based), or 0 for the root or an item
//  that is not from this file.
TR__HIDDEN int tr__zpl_line (tr__zpl_t *self, const zconfig_t *item);
//  Free the tree. NULL-safe.
TR__HIDDEN void tr__zpl_destroy (tr__zpl_t **self_p);

#endif
