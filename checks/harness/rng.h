/* rng: seeded, splittable pseudo-random streams.
 *
 * A run must be reproducible from --seed, and one part of the runner drawing more
 * numbers (say, jitter on a busier network) must not change what another part draws
 * (the op sequence). So each consumer owns its own stream, derived from the seed and a
 * stream id. SplitMix64 is enough: we need speed and independence, not cryptography. */
#ifndef RNG_H
#define RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} rng_stream;

/* Stream ids, one per consumer, so adding a consumer never shifts another's numbers. */
enum {
    RNG_STREAM_WORKLOAD = 1,
    RNG_STREAM_NETWORK,
    RNG_STREAM_NEMESIS,
    RNG_STREAM_NODE_SEEDS,
    RNG_STREAM_DUPLICATE
};

void rng_seed(rng_stream *rng, uint64_t seed, uint64_t stream_id);
uint64_t rng_next(rng_stream *rng);
/* Uniform in [0, bound); bound 0 yields 0. */
uint64_t rng_below(rng_stream *rng, uint64_t bound);

#endif
