/* Exercise skeleton for stage 03 (EXERCISES.md): lease reads at the leader. It builds in
 * place of stages/03-lease-reads/lease.c with the same header and descriptor (`make
 * exercise STAGE=03`); lease_config.c (L, E, S, the rule, configs through the log) stays
 * the solution's, so lease_config_latest() and lease_config_effective_us() are yours to
 * call (lease_state.c, the solution's pure lease, links too: write your own). SPEC.md
 * says what lease_read answers; NOTES.md, stage 03, has the clock argument. */
#include "lease.h"

#include "clock.h"
#include "kv.h"
#include "lease_config.h"
#include "proto.h"
#include "raft.h"
#include "readindex.h"
#include "trace.h"

/* TODO: the lease a leader holds, on its own monotonic clock: the term it was granted
 * in, and when it expires (0: none). */

/* ---- the plugin: events from the node ---- */

static void lease_started(void) {}

/* A majority acknowledged heartbeat round `round`, sent at `sent_us` on this node's
 * clock. TODO: until when may this leader answer reads alone? Measure from the send
 * time, not from now: why? (RAFT_UNKNOWN_TIME: no lease from this round.) */
static void lease_round_confirmed(uint64_t round, int64_t sent_us, int64_t commit_index)
{
    (void)round;
    (void)sent_us;
    (void)commit_index;
}

/* TODO: a lease belongs to one term of leadership; drop it on any change. */
static void lease_leadership_changed(void) {}

/* TODO: this leader appended a lease_read_config (lease_config_parse): a shorter
 * lease applies at once. */
static void lease_appended(int64_t index, const struct raft_entry *entry)
{
    (void)index;
    (void)entry;
}

static void lease_turn(int64_t now_us)
{
    (void)now_us;
}

static const struct node_plugin lease_plugin = {
    .name = "lease",
    .started = lease_started,
    .leadership_changed = lease_leadership_changed,
    .round_confirmed = lease_round_confirmed,
    .appended = lease_appended,
    .turn = lease_turn,
};

/* ---- lease_read ---- */

/* TODO: a follower forwards (node_forward); a leader with a valid lease (leader, same
 * term, its no-op applied, now before expiry) answers from its map at once, with
 * lease_valid, network_round_trips, linearizable and served_by; without one it falls
 * back to ReadIndex (readindex_submit). Read the value before the clock: why? */
static void lease_read_handle(struct node_request *req)
{
    const cJSON *key;
    if (!node_require_any(req, "key", &key)) return;
    node_reply_error(req, PROTO_NOT_SUPPORTED, "lease_read is not implemented yet");
}

static const struct node_handler lease_handlers[] = {
    {"lease_read", lease_read_handle, false},
};

const struct node_feature lease_feature = {
    .name = "lease_read",
    .handlers = lease_handlers,
    .handler_count = NODE_COUNT(lease_handlers),
    .plugin = &lease_plugin,
};
