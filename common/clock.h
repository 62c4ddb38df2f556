/* clock: this node's sense of time, and its dice.
 *
 * Every duration the node measures (election timeouts, staleness bounds, leases) comes
 * from clock_now_us(). The harness can make one node's clock run fast or slow with
 * READPATH_CLOCK_RATE (0.8 = 20% slow), and that rate applies to every reading and every
 * timer, poll timeouts included, so drift is injected in one place and nowhere else.
 * The PRNG is seeded from READPATH_SEED so election jitter can be replayed. */
#ifndef READPATH_CLOCK_H
#define READPATH_CLOCK_H

#include <stdint.h>

/* Reads READPATH_CLOCK_RATE and READPATH_SEED; returns -1 (and logs) on a bad value. */
int clock_init(void);
double clock_rate(void);

/* Monotonic time on this node's (possibly drifting) clock, from process start. */
int64_t clock_now_us(void);

/* A duration on this node's clock, as real milliseconds for poll(), rounded up. */
int clock_real_ms(int64_t node_us);

uint64_t clock_random(void);
/* A random number that READPATH_SEED does not decide (from /dev/urandom, else the time
 * and pid): for ids that must differ between two runs of the same seeded process,
 * like an incarnation. Below 2^49 < 10^15, so it survives cJSON's printing exactly. */
uint64_t clock_unique_id(void);
/* Uniform in [lo, hi). */
int64_t clock_random_between(int64_t lo, int64_t hi);

#endif
