/* follower_read: reads served by any node, with a proven bound on how stale they are.
 *
 * The mechanism and its proof are in NOTES.md, stage 01. In one line: a follower's
 * heartbeat reply carries a stamp from its own clock; the leader pairs the stamp with
 * its commit index at arrival and, once a later round proves it was still leader, hands
 * the pair back; a node that has applied the pair's index is fresh as of the stamp. */
#ifndef READPATH_FOLLOWER_READ_H
#define READPATH_FOLLOWER_READ_H

#include "node.h"

extern const struct node_plugin follower_read_plugin;
void follower_read_handle(struct node_request *req);

/* --max-clock-drift-pct: how far this node's clock rate may be from real time. Every
 * staleness the node reports is a bound in real time as long as it is. */
#define FOLLOWER_READ_FLAG_COUNT 1
extern const struct node_flag follower_read_flags[FOLLOWER_READ_FLAG_COUNT];
/* The stage's check_flags: an allowance of 100% or more leaves nothing to prove. */
const char *follower_read_check_flags(void);

/* This node's proven freshness: every write acknowledged before this time (on this
 * node's clock) is in its applied state. INT64_MIN when nothing is proven yet. */
int64_t follower_read_fresh_as_of_us(void);

#endif
