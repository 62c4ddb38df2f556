/* Shared by the raft-test groups: the timing every cluster test uses, and the groups. */
#ifndef READPATH_UNIT_H
#define READPATH_UNIT_H

#include "sim.h"

#include <cJSON.h>
#include <stdint.h>

#define MS 1000 /* virtual time is in microseconds */

/* Short timers keep the event count (and so the run time) small; only ratios matter to
 * the core: heartbeat 20 ms, election timeout 100 ms (drawn from [100, 150) ms). */
#define UNIT_HEARTBEAT_US (20 * MS)
#define UNIT_ELECTION_US (100 * MS)

/* --quick (valgrind, sanitizers): the randomized groups run fewer seeds. */
extern bool unit_quick;

struct raft_config unit_config(void);
/* A new cluster whose leader is settled; NULL (with a TAP diagnostic) if none came. */
struct sim *unit_cluster(int n, uint64_t seed, int *leader);
/* The core logs each malformed message it drops: expected in a test that sends some, so
 * kept off its stderr, where prove would show it as if something went wrong. Returns
 * what unit_restore_stderr puts back. */
int unit_quiet_stderr(void);
void unit_restore_stderr(int saved);
/* A {"type":..,"term":..} message for injecting by hand. */
cJSON *unit_message(const char *type, int64_t term);

void test_regressions(void);
void test_durable(void);
void test_snapshots(void);

#endif
