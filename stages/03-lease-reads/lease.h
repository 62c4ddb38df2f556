/* lease: linearizable reads at the leader with no network round trip.
 *
 * A majority that acknowledged a heartbeat round sent at time s will refuse to elect
 * anyone else until an election timeout E has passed on their clocks since they got
 * it (leader stickiness, §4.2.3 / §6.4.1). So until s + (L - S) on the leader's own clock,
 * with S the most two clocks can disagree about such an interval, no other leader can
 * exist, and the leader's state is current: it may answer from it directly. The clock
 * analysis, the counterexample to the course task's rule and the experiment are in NOTES.md,
 * stage 03. Without a valid lease a read falls back to ReadIndex (§6.4). */
#ifndef READPATH_LEASE_H
#define READPATH_LEASE_H

#include "node.h"

/* The lease_read message, and the plugin that grants the lease on rounds a majority
 * acknowledged and drops it on any change of leadership. Needs lease_config_feature
 * (lease_config.h), which owns L, E and S, listed before it. */
extern const struct node_feature lease_feature;

#endif
