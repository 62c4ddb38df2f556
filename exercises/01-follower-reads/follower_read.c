/* Exercise skeleton for stage 01 (EXERCISES.md): follower reads with a proven staleness
 * bound. It builds in place of stages/01-follower-reads/follower_read.c with the same
 * header and descriptor (`make exercise STAGE=01`). The hooks are Raft's events; what a
 * follower may claim from them is the argument of NOTES.md, stage 01. fr_proof.c (the
 * solution's pure proof core) still links: write your own, or wire that one in. */
#include "follower_read.h"

#include "clock.h"
#include "proto.h"
#include "readindex.h"
#include "trace.h"

/* a, in percent: this clock's rate is within 1 ± a of real time (the flag). */
static int64_t fr_max_clock_drift_pct = 10;

static const struct node_flag fr_flags[] = {
    {"--max-clock-drift-pct",
     "a, how far this node's clock rate may be from real time, in % "
     "(0..99); staleness claims are divided by 1 - a",
     &fr_max_clock_drift_pct},
};

static const char *fr_check_flags(void)
{
    if (fr_max_clock_drift_pct < 100) return NULL;
    return "--max-clock-drift-pct must be below 100";
}

/* ---- the plugin: Raft's events ---- */

/* After init. READPATH_UNSAFE_NAIVE_STALENESS (node_unsafe_test_switch) is the
 * negative control: "time since the last heartbeat" as the bound. */
static void fr_started(void) {}

/* A follower is about to acknowledge an append: `mine` is this stage's part of the ack
 * (add fields to it). TODO: what must the leader learn back to date your state? */
static void fr_sending_ack(cJSON *mine, int64_t now_us)
{
    (void)mine;
    (void)now_us;
}

/* An append from the current leader, with the part of it a leader's sending_append put
 * there. TODO: what does this contact prove, and as of when on *your* clock? */
static void fr_leader_contact(int leader, const cJSON *mine, int64_t now_us)
{
    (void)leader;
    (void)mine;
    (void)now_us;
}

/* An entry applied: a read parked for freshness may be servable
 * (node_retry_stage_waiters). */
static void fr_applied(int64_t index, const struct raft_entry *entry)
{
    (void)index;
    (void)entry;
}

/* A snapshot from the leader applied every entry through `index` at once (no applied
 * call for each): what you were waiting on may be covered now. The node retries parked
 * requests after this. */
static void fr_installed(int64_t index)
{
    (void)index;
}

/* At the leader: a follower's ack arrived with the part its sending_ack added. */
static void fr_ack_received(int peer, const cJSON *mine, int64_t now_us)
{
    (void)peer;
    (void)mine;
    (void)now_us;
}

/* At the leader: a majority acknowledged round `round`, sent at `sent_us`. */
static void fr_round_confirmed(uint64_t round, int64_t sent_us, int64_t commit_index)
{
    (void)round;
    (void)sent_us;
    (void)commit_index;
}

/* At the leader: an append to `peer` is going out; add this stage's fields to `mine`. */
static void fr_sending_append(int peer, cJSON *mine)
{
    (void)peer;
    (void)mine;
}

/* TODO: a proof belongs to one leadership; what must be forgotten? */
static void fr_leadership_changed(void) {}

static const struct node_plugin fr_plugin = {
    .name = "follower_read",
    .started = fr_started,
    .leadership_changed = fr_leadership_changed,
    .round_confirmed = fr_round_confirmed,
    .applied = fr_applied,
    .installed = fr_installed,
    .sending_append = fr_sending_append,
    .leader_contact = fr_leader_contact,
    .sending_ack = fr_sending_ack,
    .ack_received = fr_ack_received,
};

/* ---- the request ---- */

/* TODO: max_staleness_ms 0 goes to the leader (readindex_redirect, reason
 * redirected_to_leader, linearizable:true); otherwise serve from local state when the
 * proven bound, in real time, is within max_staleness_ms (follower_read_ok with
 * actual_staleness_ms, served_by, linearizable:false); otherwise wait a few heartbeats
 * (node_wait_stage) for a fresher proof, then redirect. */
static void fr_handle(struct node_request *req)
{
    const cJSON *key;
    int64_t max_staleness_ms;
    if (!node_require_any(req, "key", &key) ||
        !node_require_nonneg_int(req, "max_staleness_ms", &max_staleness_ms))
        return;
    node_reply_error(req, PROTO_NOT_SUPPORTED, "follower_read is not implemented yet");
}

static const struct node_handler fr_handlers[] = {
    {"follower_read", fr_handle, false},
};

const struct node_feature follower_read_feature = {
    .name = "follower_read",
    .handlers = fr_handlers,
    .handler_count = NODE_COUNT(fr_handlers),
    .plugin = &fr_plugin,
    .flags = fr_flags,
    .flag_count = NODE_COUNT(fr_flags),
    .check_flags = fr_check_flags,
};
