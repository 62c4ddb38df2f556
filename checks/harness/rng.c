#include "rng.h"

/* SplitMix64 (Steele, Lea, Flood 2014): each output is a bijective mix of a counter,
 * so distinct stream ids give unrelated sequences. */
static uint64_t rng_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(rng_stream *rng, uint64_t seed, uint64_t stream_id)
{
    rng->state = rng_mix(seed ^ rng_mix(stream_id + 0x9e3779b97f4a7c15ULL));
}

uint64_t rng_next(rng_stream *rng)
{
    rng->state += 0x9e3779b97f4a7c15ULL;
    return rng_mix(rng->state);
}

uint64_t rng_below(rng_stream *rng, uint64_t bound)
{
    if (bound == 0) return 0;
    /* Rejection keeps the draw exactly uniform; the loop almost never repeats. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do {
        x = rng_next(rng);
    } while (x >= limit);
    return x % bound;
}
