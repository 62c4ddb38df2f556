#include "follower_read.h"

#include "clock.h"
#include "proto.h"
#include "readindex.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

/* A node too stale for a request waits this many heartbeats for a fresher pair before
 * redirecting to the leader: a pair needs about 2.5 heartbeats to come back. (Capped by
 * node_stage_wait_us so the redirect fits in the request timeout.) */
#define FR_WAIT_HEARTBEATS 3
/* Pairs received for indexes not applied yet; more than this and the oldest go. */
#define FR_MAX_PENDING 32
/* Stamps a leader holds per follower while waiting for a round to prove them. */
#define FR_MAX_UNPROVEN 8

struct fr_pair {
    int64_t stamp_us; /* the follower's clock when it sent the reply */
    int64_t index;    /* the leader's commit index when the reply arrived */
};

struct fr_unproven {
    struct fr_pair pair;
    double incarnation;
    uint64_t arrival_round; /* proven by any confirmed round after this one */
    bool used;
};

struct fr_peer {
    struct fr_unproven unproven[FR_MAX_UNPROVEN];
    struct fr_pair proven;
    double proven_incarnation;
    uint64_t proven_arrival_round;
    bool has_proven;
};

static struct {
    /* This process's incarnation: below 10^15, so cJSON prints it exactly. */
    double incarnation;
    int64_t fresh_as_of_us;
    struct fr_pair pending[FR_MAX_PENDING];
    int pending_count;
    struct fr_peer *peers; /* leader side, one per cluster member */
    int n;
    /* Negative control: "time since the last heartbeat" as the bound. */
    bool naive;
    int64_t last_leader_contact_us;
    /* a, in percent: this clock's rate is within 1 ± a of real time (the flag). */
    int64_t max_clock_drift_pct;
} fr = {
    .fresh_as_of_us = INT64_MIN, .last_leader_contact_us = INT64_MIN, .max_clock_drift_pct = 10};

static const struct node_flag fr_flags[] = {
    {"--max-clock-drift-pct",
     "a, how far this node's clock rate may be from real time, in % "
     "(0..99); staleness claims are divided by 1 - a",
     &fr.max_clock_drift_pct},
};

/* An allowance of 100% or more leaves nothing to prove. */
static const char *fr_check_flags(void)
{
    if (fr.max_clock_drift_pct < 100) return NULL;
    return "--max-clock-drift-pct must be below 100: a clock that may run 100% slow may not "
           "move at all, and then no staleness can be proven";
}

/* How stale, in real milliseconds rounded up, is state fresh as of a time that this
 * node's clock measured `measured_us` ago? A clock whose rate ρ is at least 1 - a measures
 * a real interval d as ρ·d >= (1 - a)·d, so d <= measured / (1 - a). (measured × (1 + a)
 * is not enough: at ρ = 1 - a it gives (1 - a²)·d, less than d.) A fast clock only makes
 * the claim looser. */
static int64_t fr_real_staleness_ms(int64_t measured_us)
{
    /* A real millisecond is at least (1 - a) * 1000 us on this clock: 900 at a = 10%. */
    int64_t measured_us_per_real_ms = (100 - fr.max_clock_drift_pct) * 10;
    return (measured_us + measured_us_per_real_ms - 1) / measured_us_per_real_ms;
}

static int64_t fr_fresh_as_of_us(void)
{
    return fr.naive ? fr.last_leader_contact_us : fr.fresh_as_of_us;
}

/* Takes a proven pair: usable now if its index is applied, else kept for later. */
static void fr_learn(struct fr_pair pair, int64_t now_us)
{
    if (pair.stamp_us > now_us || pair.stamp_us <= fr.fresh_as_of_us) return;
    if (pair.index <= raft_applied_index(node_raft())) {
        fr.fresh_as_of_us = pair.stamp_us;
        return;
    }
    for (int i = 0; i < fr.pending_count; i++)
        if (fr.pending[i].stamp_us == pair.stamp_us) return;
    if (fr.pending_count == FR_MAX_PENDING) {
        /* Drop the oldest stamp: a newer one is worth more once applied. */
        int oldest = 0;
        for (int i = 1; i < fr.pending_count; i++)
            if (fr.pending[i].stamp_us < fr.pending[oldest].stamp_us) oldest = i;
        fr.pending[oldest] = fr.pending[--fr.pending_count];
    }
    fr.pending[fr.pending_count++] = pair;
}

static void fr_started(void)
{
    /* Not from clock_random: that is seeded by READPATH_SEED, and a restarted node with
     * the same seed must not pass for its earlier life, whose stamps meant another
     * clock origin. */
    fr.incarnation = (double)clock_unique_id();
    fr.n = raft_cluster_size(node_raft());
    fr.peers = calloc((size_t)fr.n, sizeof *fr.peers);
    if (!fr.peers) abort();
    fr.naive = node_unsafe_test_switch("READPATH_UNSAFE_NAIVE_STALENESS");
}

/* ---- follower side ---- */

/* Every ack carries this node's stamp: its own clock at sending, and which life of it
 * that clock belongs to. */
static void fr_sending_ack(cJSON *mine, int64_t now_us)
{
    cJSON_AddNumberToObject(mine, "stamp_us", (double)now_us);
    cJSON_AddNumberToObject(mine, "incarnation", fr.incarnation);
}

/* The leader hands back a proven pair (see fr_sending_append) when it has one. */
static void fr_leader_contact(int leader, const cJSON *mine, int64_t now_us)
{
    (void)leader;
    fr.last_leader_contact_us = now_us;
    const cJSON *pair = mine ? cJSON_GetObjectItemCaseSensitive(mine, "pair") : NULL;
    if (!pair) return;
    char why[128] = "field \"incarnation\" must be a number";
    int64_t stamp_us, index;
    const cJSON *incarnation = cJSON_GetObjectItemCaseSensitive(pair, "incarnation");
    if (proto_get_nonneg_int(pair, "stamp_us", &stamp_us, why, sizeof why) != PROTO_OK ||
        proto_get_nonneg_int(pair, "index", &index, why, sizeof why) != PROTO_OK ||
        !cJSON_IsNumber(incarnation)) {
        trace_warn("follower_read pair from the leader is malformed (%s); ignored", why);
        return;
    }
    /* A stamp from an earlier life of this process means nothing to this clock. */
    if (incarnation->valuedouble != fr.incarnation) return;
    fr_learn((struct fr_pair){.stamp_us = stamp_us, .index = index}, now_us);
    node_retry_stage_waiters();
}

static void fr_applied(int64_t index, const struct raft_entry *entry)
{
    (void)entry;
    bool improved = false;
    for (int i = 0; i < fr.pending_count;) {
        if (fr.pending[i].index <= index) {
            if (fr.pending[i].stamp_us > fr.fresh_as_of_us) {
                fr.fresh_as_of_us = fr.pending[i].stamp_us;
                improved = true;
            }
            fr.pending[i] = fr.pending[--fr.pending_count];
        } else {
            i++;
        }
    }
    if (improved) node_retry_stage_waiters();
}

/* ---- leader side ---- */

static void fr_ack_received(int peer, const cJSON *mine, int64_t now_us)
{
    (void)now_us;
    struct raft *r = node_raft();
    /* Before the no-op is applied the commit index may miss earlier leaders' entries. */
    if (raft_applied_index(r) < raft_noop_index(r)) return;
    if (!mine) return;
    const cJSON *stamp = cJSON_GetObjectItemCaseSensitive(mine, "stamp_us");
    const cJSON *incarnation = cJSON_GetObjectItemCaseSensitive(mine, "incarnation");
    int64_t stamp_us;
    if (!proto_int_in(stamp, 0, PROTO_MAX_EXACT_INT, &stamp_us) || !cJSON_IsNumber(incarnation))
        return;
    struct fr_peer *p = &fr.peers[peer];
    int slot = 0;
    for (int i = 0; i < FR_MAX_UNPROVEN; i++) {
        if (!p->unproven[i].used) {
            slot = i;
            break;
        }
        if (p->unproven[i].arrival_round < p->unproven[slot].arrival_round) slot = i;
    }
    p->unproven[slot] = (struct fr_unproven){
        .pair = {.stamp_us = stamp_us, .index = raft_commit_index(r)},
        .incarnation = incarnation->valuedouble,
        .arrival_round = raft_round(r),
        .used = true,
    };
}

static void fr_round_confirmed(uint64_t round, int64_t sent_us, int64_t commit_index)
{
    struct raft *r = node_raft();
    if (raft_role(r) != RAFT_LEADER) return;
    for (int peer = 0; peer < fr.n; peer++) {
        struct fr_peer *p = &fr.peers[peer];
        for (int i = 0; i < FR_MAX_UNPROVEN; i++) {
            struct fr_unproven *u = &p->unproven[i];
            /* Only a round that began after the stamp arrived proves it. */
            if (!u->used || u->arrival_round >= round) continue;
            /* Within one incarnation the latest stamp is worth most; across a restart
             * the stamp that arrived last is from the live process. */
            bool newer = u->incarnation == p->proven_incarnation
                             ? u->pair.stamp_us > p->proven.stamp_us
                             : u->arrival_round > p->proven_arrival_round;
            if (!p->has_proven || newer) {
                p->proven = u->pair;
                p->proven_incarnation = u->incarnation;
                p->proven_arrival_round = u->arrival_round;
                p->has_proven = true;
            }
            u->used = false;
        }
    }
    /* The leader's own pair: the round's send time, with the commit index at sending,
     * which must cover this term's no-op. */
    if (sent_us != RAFT_UNKNOWN_TIME && commit_index >= raft_noop_index(r)) {
        fr_learn((struct fr_pair){.stamp_us = sent_us, .index = commit_index}, clock_now_us());
        node_retry_stage_waiters();
    }
}

static void fr_sending_append(int peer, cJSON *mine)
{
    struct fr_peer *p = &fr.peers[peer];
    if (!p->has_proven) return;
    cJSON *pair = cJSON_AddObjectToObject(mine, "pair");
    cJSON_AddNumberToObject(pair, "stamp_us", (double)p->proven.stamp_us);
    cJSON_AddNumberToObject(pair, "index", (double)p->proven.index);
    cJSON_AddNumberToObject(pair, "incarnation", p->proven_incarnation);
}

static void fr_leadership_changed(void)
{
    /* Stamps waiting for proof were about the old term's leadership: start over. What
     * this node has already learned (fresh_as_of) stays true. */
    for (int peer = 0; peer < fr.n; peer++) memset(&fr.peers[peer], 0, sizeof fr.peers[peer]);
}

static const struct node_plugin fr_plugin = {
    .name = "follower_read",
    .started = fr_started,
    .leadership_changed = fr_leadership_changed,
    .round_confirmed = fr_round_confirmed,
    .applied = fr_applied,
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
    int64_t fresh_as_of_us = fr_fresh_as_of_us();
    if (fresh_as_of_us == INT64_MIN) return false;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(req->body, "key");
    const cJSON *value;
    int found = kv_read(node_kv(), key, &value);
    int64_t staleness_ms = fr_real_staleness_ms(clock_now_us() - fresh_as_of_us);
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
    node_wait_stage(req, fr_retry, clock_now_us() + node_stage_wait_us(FR_WAIT_HEARTBEATS),
                    fr_give_up_waiting);
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
