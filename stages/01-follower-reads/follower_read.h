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

/* This node's proven freshness: every write acknowledged before this time (on this
 * node's clock) is in its applied state. INT64_MIN when nothing is proven yet. */
int64_t follower_read_fresh_as_of_us(void);

#endif
