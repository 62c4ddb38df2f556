#include "ryw_read.h"

#include "clock.h"
#include "proto.h"
#include "raft.h"
#include "readindex.h"
#include "trace.h"

/* A follower behind the token waits this many heartbeats before redirecting. A follower
 * in touch with the leader learns of a commit on the next append after it, which is at
 * most one heartbeat plus a one-way delay away; three heartbeats cover that with room
 * for jitter. A follower still behind after that is cut off or far behind, and the
 * leader answers sooner than more waiting would. */
#define RYW_FOLLOWER_WAIT_HEARTBEATS 3
/* After ReadIndex the leader waits this long for a token it has not applied. A token
 * this cluster acknowledged never waits here (see ryw_serve_at_leader), so the bound
 * only decides how soon a token from nowhere (999 on a new cluster) hears error 11.
 * Each wait is capped at a third of the request timeout (node_stage_wait_us), so both
 * together, plus the ReadIndex round, stay inside it. */
#define RYW_LEADER_WAIT_HEARTBEATS 3

static struct {
    /* Negative control: a follower serves at once, whatever the token says. */
    bool ignore_token;
    /* Entries applied since parked reads were last retried. */
    bool applied_since_retry;
} ryw;

/* ---- the plugin ---- */

static void ryw_started(void)
{
    ryw.ignore_token = node_unsafe_test_switch("READPATH_UNSAFE_IGNORE_TOKEN");
}

/* The token: the index of the entry that carried this write. Raft never lets two
 * different entries commit at one index (State Machine Safety, §3.6.3), so "index i"
 * names this write and everything committed before it, on every node. */
static void ryw_write_reply_extend(cJSON *reply, int64_t index)
{
    cJSON_AddNumberToObject(reply, "commit_index", (double)index);
}

static void ryw_applied(int64_t index, const struct raft_entry *entry)
{
    (void)index;
    (void)entry;
    ryw.applied_since_retry = true;
}

/* Parked reads are retried once per loop turn rather than once per entry: an append
 * can carry dozens of entries, and only the state after the last one matters. */
static void ryw_turn(int64_t now_us)
{
    (void)now_us;
    if (!ryw.applied_since_retry) return;
    ryw.applied_since_retry = false;
    node_retry_stage_waiters();
}

static const struct node_plugin ryw_plugin = {
    .name = "ryw_read",
    .started = ryw_started,
    .applied = ryw_applied,
    .write_reply_extend = ryw_write_reply_extend,
    .turn = ryw_turn,
};

/* ---- replies ---- */

static int64_t ryw_token(const struct node_request *req)
{
    return req->stage_value;
}

/* Fields every ryw_read_ok carries. follower_applied_index is the index of the state the
 * value was read from: a client that sends the largest one it has seen as its next
 * token never reads an older state than this one, on any node (monotonic reads). */
static void ryw_add_common(struct node_request *req, cJSON *reply, bool linearizable)
{
    cJSON_AddStringToObject(reply, "served_by", node_id());
    cJSON_AddNumberToObject(reply, "follower_applied_index",
                            (double)raft_applied_index(node_raft()));
    cJSON_AddNumberToObject(reply, "waited_ms",
                            (double)((clock_now_us() - req->received_us) / 1000));
    cJSON_AddBoolToObject(reply, "linearizable", linearizable);
}

static void ryw_add_local(struct node_request *req, cJSON *reply)
{
    ryw_add_common(req, reply, false);
}

static void ryw_add_leader(struct node_request *req, cJSON *reply)
{
    ryw_add_common(req, reply, true);
    if (req->reason) cJSON_AddStringToObject(reply, "reason", req->reason);
}

/* ---- at the leader: ReadIndex, then the token ---- */

static void ryw_retry_at_leader(struct node_request *req)
{
    if (raft_applied_index(node_raft()) >= ryw_token(req)) node_reply_value(req, ryw_add_leader);
}

static void ryw_token_not_committed(struct node_request *req)
{
    int64_t commit_index = raft_commit_index(node_raft());
    trace_event("ryw_read from %s: token %lld beyond commit index %lld after %lld ms -> error 11",
                req->client, (long long)ryw_token(req), (long long)commit_index,
                (long long)((clock_now_us() - req->received_us) / 1000));
    node_reply_error(req, PROTO_TEMPORARILY_UNAVAILABLE,
                     "last_write_index %lld is beyond the cluster's commit index %lld; "
                     "no write was acknowledged at that index, nothing was read",
                     (long long)ryw_token(req), (long long)commit_index);
}

/* ReadIndex has made the local state at least as new as every write acknowledged
 * before the read arrived, and the token's write was acknowledged before the client
 * sent it: so a token this cluster handed out is already applied here, and anything
 * else is one it never committed. Serving later, from an even newer state, stays
 * linearizable: every entry in it was committed, hence proposed, before the reply. */
static void ryw_serve_at_leader(struct node_request *req)
{
    if (raft_applied_index(node_raft()) >= ryw_token(req)) {
        node_reply_value(req, ryw_add_leader);
        return;
    }
    node_wait_stage(req, ryw_retry_at_leader,
                    clock_now_us() + node_stage_wait_us(RYW_LEADER_WAIT_HEARTBEATS),
                    ryw_token_not_committed);
}

static void ryw_read_at_leader(struct node_request *req, const char *reason)
{
    /* Whoever ends up with it must read at the leader, not from its own state: a node
     * that turns out not to lead answers not_leader, and the read goes to the real one;
     * and if this leader loses its leadership mid-ReadIndex, the read is forwarded. */
    cJSON_ReplaceItemInObjectCaseSensitive(req->body, "prefer_follower", cJSON_CreateFalse());
    readindex_redirect(req, reason, ryw_serve_at_leader, clock_now_us());
}

/* ---- at a follower: applied >= token, or wait, or redirect ---- */

/* Applied ≥ token is exactly what the client needs: every write it saw acknowledged sits
 * at an index ≤ its token, and the applied prefix is the committed log up to there. A
 * smaller applied index may miss the client's own write; asking for more would make the
 * follower wait for writes the client never saw. */
static bool ryw_try_local(struct node_request *req)
{
    if (raft_applied_index(node_raft()) < ryw_token(req)) return false;
    node_reply_value(req, ryw_add_local);
    return true;
}

static void ryw_retry_local(struct node_request *req)
{
    ryw_try_local(req);
}

static void ryw_give_up_waiting(struct node_request *req)
{
    trace_event("ryw_read from %s: applied %lld < token %lld after %lld ms -> leader", req->client,
                (long long)raft_applied_index(node_raft()), (long long)ryw_token(req),
                (long long)((clock_now_us() - req->received_us) / 1000));
    ryw_read_at_leader(req, "follower_behind_redirected_to_leader");
}

static void ryw_handle(struct node_request *req)
{
    const cJSON *key;
    int64_t token;
    bool prefer_follower;
    if (!node_require_any(req, "key", &key) ||
        !node_require_nonneg_int(req, "last_write_index", &token) ||
        !node_require_bool(req, "prefer_follower", &prefer_follower))
        return;
    req->stage_value = token;
    if (!prefer_follower) {
        ryw_read_at_leader(req, "redirected_to_leader");
        return;
    }
    /* The leader's replies say linearizable:true, so it never takes the shortcut. */
    if (node_is_leader()) {
        ryw_read_at_leader(req, NULL);
        return;
    }
    if (ryw.ignore_token) {
        node_reply_value(req, ryw_add_local);
        return;
    }
    if (ryw_try_local(req)) return;
    node_wait_stage(req, ryw_retry_local,
                    clock_now_us() + node_stage_wait_us(RYW_FOLLOWER_WAIT_HEARTBEATS),
                    ryw_give_up_waiting);
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
