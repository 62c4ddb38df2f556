/* follower_read: reads served by any node, with a proven bound on how stale they are.
 *
 * The mechanism and its proof are in NOTES.md, stage 01. In one line: a follower's
 * heartbeat reply carries a stamp from its own clock; the leader pairs the stamp with
 * its commit index at arrival and, once a later round proves it was still leader, hands
 * the pair back; a node that has applied the pair's index is fresh as of the stamp. The
 * proof itself is a pure core (fr_proof.h); follower_read.c is its node glue. */
#ifndef READPATH_FOLLOWER_READ_H
#define READPATH_FOLLOWER_READ_H

#include "node.h"

/* The follower_read message, the plugin that carries stamps and proofs on heartbeats,
 * and --max-clock-drift-pct (how far this node's clock rate may be from real time: every
 * staleness the node reports is a bound in real time as long as it is). */
extern const struct node_feature follower_read_feature;

#endif
