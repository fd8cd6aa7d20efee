//  hist - log-linear latency histogram: exact below 16, then four buckets per
//  power of two (at most 25 % error), owned by one thread, merged on read
#include "hist.h"

//  Lowest value that falls in bucket.
static uint64_t
s_bucket_low (unsigned bucket)
{
    if (bucket < 16)
        return bucket;
    unsigned exponent = 4 + (bucket - 16) / 4;
    unsigned sub = (bucket - 16) % 4;
    return (1ULL << exponent) + ((uint64_t) sub << (exponent - 2));
}

uint64_t
tr__hist_quantile (const tr__hist_t *self, double q)
{
    if (self->count == 0)
        return 0;
    uint64_t rank = (uint64_t) (q * (double) self->count);
    if (rank >= self->count)
        rank = self->count - 1;
    uint64_t seen = 0;
    for (unsigned bucket = 0; bucket < TR__HIST_BUCKETS; bucket++) {
        seen += self->buckets[bucket];
        if (seen > rank) {
            uint64_t low = s_bucket_low (bucket);
            uint64_t high = bucket + 1 < TR__HIST_BUCKETS ? s_bucket_low (bucket + 1) : low + 1;
            uint64_t middle = low + (high - low) / 2;
            //  Never report more than the largest value seen.
            return middle < self->max ? middle : self->max;
        }
    }
    return self->max;
}

void
tr__hist_merge (tr__hist_t *into, const tr__hist_t *from)
{
    for (unsigned bucket = 0; bucket < TR__HIST_BUCKETS; bucket++)
        into->buckets[bucket] += from->buckets[bucket];
    into->count += from->count;
    if (from->max > into->max)
        into->max = from->max;
}
