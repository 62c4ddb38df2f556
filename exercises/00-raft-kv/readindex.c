/* Exercise skeleton for stage 00 (EXERCISES.md): ReadIndex (§6.4). It builds in place
 * of common/readindex.c with the same header (`make exercise STAGE=00`); readindex.h
 * lists the four steps. Until it is done every read hears error 10. */
#include "readindex.h"

#include "node_parts.h"
#include "proto.h"

static struct raft *readindex_raft;

void readindex_start(struct raft *r)
{
    readindex_raft = r;
}

/* TODO: at a follower, node_forward(req). At the leader, remember `serve`, park the
 * read (node_wait_on(req, NODE_WAIT_READ_INDEX)) and make progress: step 1 (this term's
 * no-op applied: raft_noop_index), step 2 (read_index = raft_commit_index), step 3 (a
 * round that begins after step 2: raft_round + 1, raft_want_round, then
 * raft_confirmed_round), step 4 (raft_applied_index >= read_index: req->serve(req)). */
void readindex_submit(struct node_request *req, node_serve_fn serve, int64_t now_us)
{
    (void)serve;
    (void)now_us;
    node_reply_error(req, PROTO_NOT_SUPPORTED, "ReadIndex is not implemented yet");
}

/* TODO: a redirected read (stages 01-03) is ReadIndex at the leader too; the reason
 * goes on a linearizable reply relayed by the node the client asked
 * (req->reason, req->extend_relayed). */
void readindex_redirect(struct node_request *req, const char *reason, node_serve_fn serve,
                        int64_t now_us)
{
    (void)reason;
    readindex_submit(req, serve, now_us);
}

/* TODO: called after rounds, applies and leadership changes: serve every parked read
 * whose round is confirmed and whose index is applied, in order; forward them all if
 * this node lost its leadership. */
void readindex_progress(int64_t now_us)
{
    (void)now_us;
}
