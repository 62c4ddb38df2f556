#include "clock.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double clock_rate_value = 1.0;
static int64_t clock_origin_us;
static uint64_t clock_prng_state = 0x9e3779b97f4a7c15ULL;

static int64_t clock_raw_us(void)
{
    struct timespec ts;
    /* CLOCK_BOOTTIME keeps counting while the machine is suspended; CLOCK_MONOTONIC
     * stops, so a leader suspended longer than its lease would wake up believing in it
     * while its followers' clocks ran on (stage 03). */
#ifdef CLOCK_BOOTTIME
    clock_gettime(CLOCK_BOOTTIME, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int clock_init(void)
{
    clock_origin_us = clock_raw_us();
    const char *rate = getenv("READPATH_CLOCK_RATE");
    if (rate && *rate) {
        char *end;
        errno = 0;
        double value = strtod(rate, &end);
        if (errno || *end || !(value > 0.0) || !isfinite(value)) {
            fprintf(stderr, "clock: READPATH_CLOCK_RATE=%s is not a positive number\n", rate);
            return -1;
        }
        clock_rate_value = value;
    }
    const char *seed = getenv("READPATH_SEED");
    if (seed && *seed) {
        char *end;
        errno = 0;
        unsigned long long value = strtoull(seed, &end, 10);
        if (errno || *end) {
            fprintf(stderr, "clock: READPATH_SEED=%s is not an integer\n", seed);
            return -1;
        }
        clock_prng_state ^= value * 0xbf58476d1ce4e5b9ULL;
    } else {
        clock_prng_state ^= (uint64_t)clock_origin_us * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)getpid();
    }
    if (clock_prng_state == 0) clock_prng_state = 1;
    return 0;
}

double clock_rate(void)
{
    return clock_rate_value;
}

int64_t clock_now_us(void)
{
    return (int64_t)((double)(clock_raw_us() - clock_origin_us) * clock_rate_value);
}

int clock_real_ms(int64_t node_us)
{
    if (node_us <= 0) return 0;
    double real_ms = ceil((double)node_us / clock_rate_value / 1000.0);
    return real_ms > 60000.0 ? 60000 : (int)real_ms;
}

/* xorshift64*: small, fast, and good enough for jitter and workload choices. */
uint64_t clock_random(void)
{
    clock_prng_state ^= clock_prng_state >> 12;
    clock_prng_state ^= clock_prng_state << 25;
    clock_prng_state ^= clock_prng_state >> 27;
    return clock_prng_state * 0x2545f4914f6cdd1dULL;
}

int64_t clock_random_between(int64_t lo, int64_t hi)
{
    if (hi <= lo) return lo;
    return lo + (int64_t)(clock_random() % (uint64_t)(hi - lo));
}

uint64_t clock_unique_id(void)
{
    uint64_t id = 0;
    FILE *urandom = fopen("/dev/urandom", "rb");
    if (!urandom || fread(&id, sizeof id, 1, urandom) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        id = ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) * 0x9e3779b97f4a7c15ULL ^
             (uint64_t)getpid();
    }
    if (urandom) fclose(urandom);
    /* Below 2^49 < 10^15: ids travel as JSON numbers, and cJSON prints a number with 15
     * significant digits whenever that reads back "close enough", so a 16-digit
     * integer can arrive changed (it did: follower-read pairs went unrecognized). */
    return id >> 15;
}
