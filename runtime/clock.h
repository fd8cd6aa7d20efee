//  clock - monotonic time for timers and TSC ticks for handler latency
#ifndef TR_CLOCK_H_INCLUDED
#define TR_CLOCK_H_INCLUDED

#include "alloc.h"
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#    include <x86intrin.h>
//  A tick counter for latency: one rdtsc (about 8 ns here), no syscall.
static inline uint64_t
tr__ticks (void)
{
    return __rdtsc ();
}
#else
static inline uint64_t
tr__ticks (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}
#endif

//  Monotonic nanoseconds.
static inline uint64_t
tr__now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

//  Nanoseconds per tick, calibrated once per process (a few ms on first use).
TR__HIDDEN double tr__ns_per_tick (void);

#endif
