/* monotime: the runner's one time source.
 *
 * Everything the runner schedules (deliveries, faults, client deadlines) and every
 * history timestamp is read from CLOCK_MONOTONIC, so a wall-clock step (NTP, a user
 * changing the date) can never reorder a history or fire a fault early. Times are
 * microseconds since the run started; the _us suffix says so everywhere. */
#ifndef MONOTIME_H
#define MONOTIME_H

#include <stdint.h>
#include <time.h>

static inline int64_t monotime_raw_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
