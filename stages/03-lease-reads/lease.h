/* lease: linearizable reads at the leader with no network round trip.
 *
 * A majority that acknowledged a heartbeat round sent at time s will refuse to elect
 * anyone else until an election timeout E has passed on their clocks since they got
 * it (leader stickiness, §4.2.3 / §6.4.1). So until s + (L - S) on the leader's own clock,
 * with S the most two clocks can disagree about such an interval, no other leader can
 * exist, and the leader's state is current: it may answer from it directly. The clock
 * analysis, the counterexample to the seed's rule and the experiment are in NOTES.md,
 * stage 03. Without a valid lease a read falls back to ReadIndex (§6.4). */
#ifndef READPATH_LEASE_H
#define READPATH_LEASE_H

#include "node.h"

/* --lease-duration-ms and --max-clock-skew-ms. */
#define LEASE_FLAG_COUNT 2
extern const struct node_flag lease_flags[LEASE_FLAG_COUNT];

/* Grants and drops the lease, applies lease_config entries, adds lease_read_config_ok's
 * fields when such an entry commits. */
extern const struct node_plugin lease_plugin;

void lease_read_handle(struct node_request *req);
void lease_read_config_handle(struct node_request *req);

#endif
