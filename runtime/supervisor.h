//  supervisor - an actor that starts children in order, restarts them by
//  restart type and strategy, backs off, and gives up past its intensity
#ifndef TR_SUPERVISOR_H_INCLUDED
#define TR_SUPERVISOR_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

//  The init argument of "tr.supervisor": it takes spec.
typedef struct {
    tr_supervisor_spec_t *spec;
    bool root;
} tr__supervisor_arg_t;

//  Deep copy with the defaults filled in.
TR__HIDDEN tr_supervisor_spec_t *tr__supervisor_spec_copy (const tr_supervisor_spec_t *spec);
TR__HIDDEN void tr__supervisor_spec_free (tr_supervisor_spec_t **spec_p);
//  0, or an error with why filled in (nested specs included).
TR__HIDDEN int tr__supervisor_spec_check (const tr_supervisor_spec_t *spec, char *why,
                                          size_t why_size);
TR__HIDDEN void tr__supervisor_register (void);

#endif
