#include "follower_read.h"

#include "clock.h"
#include "fr_proof.h"
#include "fr_read_index.h"
#include "proto.h"
#include "readindex.h"
#include "trace.h"

/* A node too stale for a request waits this many heartbeats for a fresher pair before
 * redirecting to the leader: a pair needs about 2.5 heartbeats to come back. (Capped by
 * node_stage_wait_us so the redirect fits in the request timeout.) A bound below this
 * many heartbeats is one waiting cannot meet: a follower asks the leader for a read
 * index at once instead (fr_read_index.h). */
#define FR_WAIT_HEARTBEATS 3

/* One proof per process (fr_proof.c, the pure core), driven here with this node's Raft
 * core and clock_now_us(). Until fr_started it proves nothing. */
static struct fr_proof proof = {.fresh_as_of_us = INT64_MIN, .last_leader_contact_us = INT64_MIN};
/* a, in percent: this clock's rate is within 1 ± a of real time (the flag). */
static int64_t fr_max_clock_drift_pct = 10;

static const struct node_flag fr_flags[] = {
    {"--max-clock-drift-pct",
     "a, how far this node's clock rate may be from real time, in % "
     "(0..99); staleness claims are divided by 1 - a",
     &fr_max_clock_drift_pct},
};

/* An allowance of 100% or more leaves nothing to prove. */
static const char *fr_check_flags(void)
{
    if (fr_max_clock_drift_pct < 100) return NULL;
    return "--max-clock-drift-pct must be below 100: a clock that may run 100% slow may not "
           "move at all, and then no staleness can be proven";
}

static const struct fr_read_index_reader fr_reader;

static void fr_started(void)
{
    fr_read_index_start(&fr_reader);
    /* Not from clock_random: that is seeded by READPATH_SEED, and a restarted node with
     * the same seed must not pass for its earlier life, whose stamps meant another
     * clock origin. */
    fr_proof_init(&proof, raft_cluster_size(node_raft()), (double)clock_unique_id(),
                  fr_max_clock_drift_pct,
                  node_unsafe_test_switch("READPATH_UNSAFE_NAIVE_STALENESS"));
}

/* ---- the plugin: Raft's events, handed to the proof ---- */

static void fr_sending_ack(cJSON *mine, int64_t now_us)
{
    fr_proof_sending_ack(&proof, mine, now_us);
}

static void fr_leader_contact(int leader, const cJSON *mine, int64_t now_us)
{
    (void)leader;
    if (fr_proof_leader_contact(&proof, node_raft(), mine, now_us)) node_retry_stage_waiters();
}

static void fr_applied(int64_t index, const struct raft_entry *entry)
{
    (void)entry;
    if (fr_proof_applied(&proof, index)) node_retry_stage_waiters();
    fr_read_index_applied(index);
}

/* A snapshot applied every entry through index at once: pairs it covers count now (a
 * pair counts once its index is applied, however the entries came to be applied). The
 * node retries parked requests after this. */
static void fr_installed(int64_t index)
{
    fr_proof_applied(&proof, index);
}

static void fr_ack_received(int peer, const cJSON *mine, int64_t now_us)
{
    (void)now_us;
    fr_proof_ack_received(&proof, node_raft(), peer, mine);
}

static void fr_round_confirmed(uint64_t round, int64_t sent_us, int64_t commit_index)
{
    if (fr_proof_round_confirmed(&proof, node_raft(), round, sent_us, commit_index, clock_now_us()))
        node_retry_stage_waiters();
}

static void fr_sending_append(int peer, cJSON *mine)
{
    fr_proof_sending_append(&proof, peer, mine);
}

static void fr_leadership_changed(void)
{
    fr_proof_leadership_changed(&proof);
    fr_read_index_leadership_changed();
}

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

static void fr_add_linearizable(struct node_request *req, cJSON *reply)
{
    cJSON_AddStringToObject(reply, "served_by", node_id());
    cJSON_AddBoolToObject(reply, "linearizable", true);
    cJSON_AddStringToObject(reply, "reason", req->reason ? req->reason : "redirected_to_leader");
}

static void fr_serve_linearizable(struct node_request *req)
{
    node_reply_value(req, fr_add_linearizable);
}

/* The leader reads with ReadIndex; anyone else sends it to the leader. */
static void fr_read_at_leader(struct node_request *req, const char *reason)
{
    /* From here on it is a linearizable read, wherever it ends up: if this leader loses
     * its leadership mid-ReadIndex the read is forwarded, and the next node must not
     * serve it from its own bound. */
    cJSON_ReplaceItemInObjectCaseSensitive(req->body, "max_staleness_ms", cJSON_CreateNumber(0));
    readindex_redirect(req, reason, fr_serve_linearizable, clock_now_us());
}

/* Serves from local state if the proven bound, in real time, is within the request's;
 * the value is read first and the clock after, so the reported bound covers the read. */
static bool fr_try_local(struct node_request *req)
{
    if (fr_proof_fresh_as_of_us(&proof) == INT64_MIN) return false;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(req->body, "key");
    const cJSON *value;
    int found = kv_read(node_kv(), key, &value);
    int64_t staleness_ms = fr_proof_staleness_ms(&proof, clock_now_us());
    if (staleness_ms > req->stage_value) return false;
    if (found != PROTO_OK) {
        node_reply_error(req, PROTO_KEY_DOES_NOT_EXIST, "key does not exist (as of %lld ms ago)",
                         (long long)staleness_ms);
        return true;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "type", "follower_read_ok");
    cJSON_AddItemReferenceToObject(reply, "value", (cJSON *)value);
    cJSON_AddNumberToObject(reply, "actual_staleness_ms", (double)staleness_ms);
    cJSON_AddStringToObject(reply, "served_by", node_id());
    cJSON_AddBoolToObject(reply, "linearizable", false);
    node_reply(req, reply);
    return true;
}

/* A follower's read at its own read index, which the leader confirmed after the read
 * arrived: linearizable, so it reports a staleness of 0 (every write that completed
 * before the request arrived is in the value). */
static void fr_add_read_index(struct node_request *req, cJSON *reply)
{
    (void)req;
    cJSON_AddNumberToObject(reply, "actual_staleness_ms", 0);
    cJSON_AddStringToObject(reply, "served_by", node_id());
    cJSON_AddBoolToObject(reply, "linearizable", true);
    cJSON_AddStringToObject(reply, "reason", "follower_read_index");
}

static void fr_serve_read_index(struct node_request *req)
{
    node_reply_value(req, fr_add_read_index);
}

static void fr_read_index_fell_back(struct node_request *req)
{
    fr_read_at_leader(req, "follower_too_stale_redirected_to_leader");
}

/* The answer is a pair like those heartbeats bring (the leader recorded the index after
 * the request, sent at asked_us, arrived, and a later round confirmed it): reads that come
 * soon after, with a bound it meets, are served from it without asking again. */
static void fr_read_index_confirmed(int64_t asked_us, int64_t index)
{
    struct fr_pair pair = {.stamp_us = asked_us, .index = index};
    /* No retry here: fr_read_index retries every parked request right after. */
    fr_proof_read_index(&proof, node_raft(), pair, clock_now_us());
}

static const struct fr_read_index_reader fr_reader = {
    .serve = fr_serve_read_index,
    .fall_back = fr_read_index_fell_back,
    .confirmed = fr_read_index_confirmed,
    .serve_if_proven = fr_try_local,
};

static void fr_retry(struct node_request *req)
{
    fr_try_local(req);
}

static void fr_give_up_waiting(struct node_request *req)
{
    trace_event("follower_read from %s: no proof within %lld ms after %lld ms -> leader",
                req->client, (long long)req->stage_value,
                (long long)((clock_now_us() - req->received_us) / 1000));
    fr_read_at_leader(req, "follower_too_stale_redirected_to_leader");
}

static void fr_handle(struct node_request *req)
{
    const cJSON *key;
    int64_t max_staleness_ms;
    if (!node_require_any(req, "key", &key) ||
        !node_require_nonneg_int(req, "max_staleness_ms", &max_staleness_ms))
        return;
    if (max_staleness_ms == 0) {
        fr_read_at_leader(req, "redirected_to_leader");
        return;
    }
    req->stage_value = max_staleness_ms;
    if (fr_try_local(req)) return;
    if (max_staleness_ms < FR_WAIT_HEARTBEATS * node_heartbeat_us() / 1000) {
        /* Tighter than a fresh pair could prove: a read index now, rather than a wait that
         * ends at the leader anyway. The leader reads with its own ReadIndex. */
        trace_event("follower_read from %s: bound %lld ms below what heartbeats prove -> %s",
                    req->client, (long long)max_staleness_ms,
                    node_is_leader() ? "ReadIndex" : "read index from the leader");
        if (node_is_leader())
            fr_read_at_leader(req, "follower_too_stale_redirected_to_leader");
        else
            fr_read_index_read(req);
        return;
    }
    node_wait_stage(req, fr_retry, clock_now_us() + node_stage_wait_us(FR_WAIT_HEARTBEATS),
                    fr_give_up_waiting);
}

static const struct node_handler fr_handlers[] = {
    {"follower_read", fr_handle, false},
    /* Between nodes only: a follower's request for a read index (fr_read_index.c). */
    {"read_index", fr_read_index_handle, false},
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
