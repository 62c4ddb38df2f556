/* Exercise skeleton for stage 02 (EXERCISES.md): read-your-writes with commit-index
 * tokens. It builds in place of stages/02-read-your-writes/ryw_read.c with the same
 * header and descriptor (`make exercise STAGE=02`); every TODO is yours. SPEC.md says
 * what ryw_read must answer; NOTES.md, stage 02, has the argument. */
#include "ryw_read.h"

#include "clock.h"
#include "proto.h"
#include "raft.h"
#include "readindex.h"
#include "trace.h"

/* ---- the plugin: events from the node ---- */

/* After init: the cluster is known. Read READPATH_UNSAFE_IGNORE_TOKEN here with
 * node_unsafe_test_switch if you want the negative control. */
static void ryw_started(void) {}

/* A write or cas committed at `index`: the client's token. TODO: which field does
 * write_ok carry (SPEC.md), and why does an index name one write on every node? */
static void ryw_write_reply_extend(cJSON *reply, int64_t index)
{
    (void)reply;
    (void)index;
}

/* An entry applied on this node: a read waiting for its token may now be servable. */
static void ryw_applied(int64_t index, const struct raft_entry *entry)
{
    (void)index;
    (void)entry;
}

/* Once per event-loop turn. TODO: retry parked reads (node_retry_stage_waiters) when
 * entries applied since the last turn. */
static void ryw_turn(int64_t now_us)
{
    (void)now_us;
}

static const struct node_plugin ryw_plugin = {
    .name = "ryw_read",
    .started = ryw_started,
    .applied = ryw_applied,
    .write_reply_extend = ryw_write_reply_extend,
    .turn = ryw_turn,
};

/* ---- the message ---- */

/* TODO, in the order the solution takes them:
 *   - prefer_follower false, or this node leads: ReadIndex at the leader
 *     (readindex_redirect), then wait until the token is applied or answer error 11;
 *   - a follower whose applied index has reached last_write_index answers from its own
 *     state (node_reply_value, adding served_by, follower_applied_index, waited_ms,
 *     linearizable:false);
 *   - otherwise park it (node_wait_stage) for a few heartbeats, then redirect. */
static void ryw_handle(struct node_request *req)
{
    const cJSON *key;
    int64_t token;
    bool prefer_follower;
    if (!node_require_any(req, "key", &key) ||
        !node_require_nonneg_int(req, "last_write_index", &token) ||
        !node_require_bool(req, "prefer_follower", &prefer_follower))
        return;
    node_reply_error(req, PROTO_NOT_SUPPORTED, "ryw_read is not implemented yet");
}

static const struct node_handler ryw_handlers[] = {
    {"ryw_read", ryw_handle, false},
};

const struct node_feature ryw_read_feature = {
    .name = "ryw_read",
    .handlers = ryw_handlers,
    .handler_count = NODE_COUNT(ryw_handlers),
    .plugin = &ryw_plugin,
};
