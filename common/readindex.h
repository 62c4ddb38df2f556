/* readindex: linearizable reads without writing to the log (§6.4 of the dissertation).
 *
 * The leader
 *   1. waits until it has applied its term's no-op (before that it may not know about
 *      entries earlier leaders committed);
 *   2. records its commit index as the read's read_index;
 *   3. confirms it is still leader with a heartbeat round that *begins after* step 2 and
 *      is acknowledged by a majority (acks echo the round id, so an ack for an older
 *      round does not count);
 *   4. waits until it has applied read_index, then reads its state machine.
 * Reads share rounds: every read that arrives while a round is in flight waits for the
 * next one, so under load one round serves a whole batch of reads. */
#ifndef READPATH_READINDEX_H
#define READPATH_READINDEX_H

#include "node.h"

/* The Raft core whose rounds and indexes reads wait on. */
void readindex_start(struct raft *r);
/* Queues a read at the leader; `serve` runs once it is safe to read local state.
 * If this node is not the leader the request is forwarded instead. */
void readindex_submit(struct node_request *req, node_serve_fn serve, int64_t now_us);
/* A read that a stage sends to the leader instead of serving it locally (stage 01's
 * follower_read with no bound, stage 02's ryw_read preferring the leader, either one
 * when a follower gave up waiting): ReadIndex at the leader, forwarded from anywhere
 * else. `reason` goes on the reply ("reason" field, added where the client asked);
 * the first reason given sticks, so a read that comes back here (the leader moved, or
 * this node became it) still says why it was redirected in the first place. */
void readindex_redirect(struct node_request *req, const char *reason, node_serve_fn serve,
                        int64_t now_us);
/* Serves what can be served; called after rounds, applies and leadership changes. */
void readindex_progress(int64_t now_us);

#endif
