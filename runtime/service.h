//  service - services and their routers (service.c): spec copies and checks
//  for the supervisor, and spawning a service from an actor
#ifndef TR_SERVICE_H_INCLUDED
#define TR_SERVICE_H_INCLUDED

#include "alloc.h"
#include "troupe.h"

#include <stddef.h>

//  Deep copy of spec (process settings without their own strings).
TR__HIDDEN tr_service_spec_t *tr__service_spec_copy (const tr_service_spec_t *spec);
TR__HIDDEN void tr__service_spec_free (tr_service_spec_t **spec_p);
//  0, or an error with why filled in. rt NULL: without the node's checks
//  (process and async support).
TR__HIDDEN int tr__service_check (tr_runtime_t *rt, const tr_service_spec_t *spec, char *why,
                                  size_t why_size);
//  Start a service from an actor, monitored by it (the supervisor's way).
TR__HIDDEN int tr__service_spawn (tr_actor_t *self, const tr_service_spec_t *spec, const char *name,
                                  tr_ref_t *ref);
TR__HIDDEN void tr__service_register (void);

#endif
