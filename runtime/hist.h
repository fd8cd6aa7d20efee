//  hist - log-linear latency histogram: exact below 16, then four buckets per
//  power of two (at most 25 % error), owned by one thread, merged on read
#ifndef TR_HIST_H_INCLUDED
#define TR_HIST_H_INCLUDED

#include "alloc.h"
#include <stdint.h>
#include <string.h>

#define TR__HIST_EXPONENTS 40  //  values up to 2^40
#define TR__HIST_BUCKETS   (16 + (TR__HIST_EXPONENTS - 4) * 4)

typedef struct {
    uint64_t count;
    uint64_t max;
    uint64_t buckets[TR__HIST_BUCKETS];
} tr__hist_t;

static inline unsigned
tr__hist_bucket (uint64_t value)
{
    if (value < 16)
        return (unsigned) value;
    unsigned exponent = 63u - (unsigned) __builtin_clzll (value);  //  >= 4
    if (exponent >= TR__HIST_EXPONENTS)
        return TR__HIST_BUCKETS - 1;
    unsigned sub = (unsigned) (value >> (exponent - 2)) & 3u;
    return 16 + (exponent - 4) * 4 + sub;
}

//  Hot path: called by the owning thread once per handled message.
static inline void
tr__hist_record (tr__hist_t *self, uint64_t value)
{
    self->buckets[tr__hist_bucket (value)]++;
    self->count++;
    if (value > self->max)
        self->max = value;
}

//  The value at quantile q (0..1): the middle of the bucket that holds it.
TR__HIDDEN uint64_t tr__hist_quantile (const tr__hist_t *self, double q);
TR__HIDDEN void tr__hist_merge (tr__hist_t *into, const tr__hist_t *from);

#endif
