//  pool - the actor in front of a behaviour's process replicas (pool.c) and
//  the host API that starts one (process.c)
#ifndef TR_POOL_H_INCLUDED
#define TR_POOL_H_INCLUDED

#include "procs.h"
#include "troupe.h"

//  The init argument of "tr.process_pool": the pool takes spec's copies.
typedef struct {
    tr_process_spec_t spec;
    tr__procs_t *procs;
} tr__pool_arg_t;

#endif
