/* lease: linearizable reads at the leader with no network round trip (see lease.h).
 * The configuration the lease rests on, and its changes through the log, are in
 * lease_config.c. */
#include "lease.h"

#include "clock.h"
#include "kv.h"
#include "lease_config.h"
#include "proto.h"
#include "raft.h"
#include "readindex.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

/* The lease, held by a leader, on its own monotonic clock. */
static struct {
    int64_t term;       /* the term it was granted in */
    int64_t start_us;   /* send time of the latest round that granted it */
    int64_t expires_us; /* 0: no lease */
    /* Per peer, the first round begun after the peer was known to hold the latest
     * config (entry tracked_index); 0 while not known. */
    uint64_t *holds_config_from_round;
    int64_t tracked_index, tracked_term;
    int n;
} lease;

/* ---- the plugin ---- */

static void lease_started(void)
{
    lease.n = raft_cluster_size(node_raft());
    lease.holds_config_from_round = calloc((size_t)lease.n, sizeof *lease.holds_config_from_round);
    if (!lease.holds_config_from_round) abort();
}

static bool lease_valid(int64_t now_us)
{
    struct raft *r = node_raft();
    return raft_role(r) == RAFT_LEADER && lease.term == raft_term(r) &&
           raft_applied_index(r) >= raft_noop_index(r) && now_us < lease.expires_us;
}

/* Points the per-peer tracking at the newest config, starting over if it changed. */
static const struct lease_config *lease_track_latest(void)
{
    struct raft *r = node_raft();
    const struct lease_config *latest = lease_config_latest();
    if (latest->index != lease.tracked_index || latest->term != lease.tracked_term) {
        memset(lease.holds_config_from_round, 0, (size_t)lease.n * sizeof *lease.holds_config_from_round);
        lease.tracked_index = latest->index;
        lease.tracked_term = latest->term;
    }
    for (int peer = 0; peer < lease.n; peer++)
        if (peer != raft_self(r) && !lease.holds_config_from_round[peer] &&
            raft_match_index(r, peer) >= latest->index)
            lease.holds_config_from_round[peer] = raft_round(r) + 1;
    return latest;
}

/* How long a lease round `round` may grant. With no config in the log every node obeys
 * the flags (the cluster runs one set of flags). Otherwise the newest config counts only
 * if the majority that acknowledged the round held its entry *before the round was
 * sent*: a follower draws its election timer on receiving an append, before it looks at
 * the entries inside, so an entry that arrives with the round itself has not yet raised
 * that timer. Failing that, the smallest effective lease this node has ever seen: every
 * follower obeys some config in the leader's log or the flags, and none allows less.
 * The same once the list of configs has overflowed (for good: which configs went
 * unrecorded is not known). */
static int64_t lease_round_effective_us(uint64_t round)
{
    struct raft *r = node_raft();
    const struct lease_config *latest = lease_track_latest();
    /* A config went unrecorded (more than LEASE_MAX_UNAPPLIED waiting): the newest one
     * recorded may not be the newest in the log, whose lease may be shorter. */
    if (lease_config_overflowed()) return lease_config_min_effective_us();
    if (latest->index == 0) return lease_config_effective_us(latest);
    int holders = 1; /* this leader appended it */
    for (int peer = 0; peer < lease.n; peer++) {
        uint64_t from = lease.holds_config_from_round[peer];
        if (peer != raft_self(r) && from && from <= round && raft_acked_round(r, peer) >= round)
            holders++;
    }
    if (holders >= lease.n / 2 + 1) return lease_config_effective_us(latest);
    return lease_config_min_effective_us();
}

static void lease_round_confirmed(uint64_t round, int64_t sent_us, int64_t commit_index)
{
    (void)commit_index;
    struct raft *r = node_raft();
    if (raft_role(r) != RAFT_LEADER || sent_us == RAFT_UNKNOWN_TIME) return;
    int64_t effective_us = lease_round_effective_us(round);
    if (effective_us <= 0) return;
    int64_t now_us = clock_now_us();
    bool had_lease = lease_valid(now_us);
    lease.term = raft_term(r);
    if (sent_us > lease.start_us) lease.start_us = sent_us;
    if (sent_us + effective_us > lease.expires_us) lease.expires_us = sent_us + effective_us;
    if (!had_lease && lease_valid(now_us))
        trace_event("round %llu acknowledged by a majority -> lease for %lld ms more",
                    (unsigned long long)round, (long long)((lease.expires_us - now_us) / 1000));
}

static void lease_leadership_changed(void)
{
    struct raft *r = node_raft();
    if (raft_role(r) == RAFT_LEADER && raft_term(r) == lease.term) return;
    if (lease.expires_us > 0)
        trace_event("now %s of term %lld -> lease dropped", raft_role_name(raft_role(r)),
                    (long long)raft_term(r));
    lease.expires_us = 0;
    lease.start_us = 0;
    lease.tracked_index = -1;
}

/* This leader appended a config: a shorter lease applies at once. Followers adopt the
 * smaller window only when they apply the entry, and each of them last heard from this
 * leader no earlier than the send time of the latest round that granted the lease. */
static void lease_appended(int64_t index, const struct raft_entry *entry)
{
    (void)index;
    struct lease_config c;
    if (!node_is_leader() || !lease_config_parse(entry->command, &c)) return;
    int64_t cut_us = lease.start_us + lease_config_effective_us(&c);
    if (lease.expires_us > cut_us) {
        trace_event("lease_config appended -> lease cut to %lld ms after its start",
                    (long long)(lease_config_effective_us(&c) / 1000));
        lease.expires_us = cut_us;
    }
}

static void lease_turn(int64_t now_us)
{
    (void)now_us;
    if (node_is_leader()) lease_track_latest();
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

/* A read that a follower forwarded cost its client one more round trip. */
static int lease_hops(const struct node_request *req)
{
    return req->from_peer >= 0 ? 1 : 0;
}

static void lease_add_fields(cJSON *reply, bool lease_valid_now, int round_trips)
{
    cJSON_AddBoolToObject(reply, "lease_valid", lease_valid_now);
    cJSON_AddNumberToObject(reply, "network_round_trips", round_trips);
    cJSON_AddBoolToObject(reply, "linearizable", true);
    cJSON_AddStringToObject(reply, "served_by", node_id());
}

static void lease_add_fallback(struct node_request *req, cJSON *reply)
{
    lease_add_fields(reply, false, 1 + lease_hops(req));
}

static void lease_serve_fallback(struct node_request *req)
{
    node_reply_value(req, lease_add_fallback);
}

static void lease_read_handle(struct node_request *req)
{
    const cJSON *key;
    if (!node_require_any(req, "key", &key)) return;
    if (!node_is_leader()) {
        node_forward(req);
        return;
    }
    /* The value first, then the clock, freshly read: a pause between the two only makes
     * the lease check stricter. The other order (or the event loop's time, taken before
     * this turn's work) could approve a read that happens after the lease ran out. */
    const cJSON *value;
    int found = kv_read(node_kv(), key, &value);
    int64_t now_us = clock_now_us();
    if (!lease_valid(now_us)) {
        readindex_submit(req, lease_serve_fallback, now_us);
        return;
    }
    if (found != PROTO_OK) {
        node_reply_error(req, PROTO_KEY_DOES_NOT_EXIST, "key does not exist");
        return;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "type", "lease_read_ok");
    /* A reference: the reply is printed before anything can change the map. */
    cJSON_AddItemReferenceToObject(reply, "value", (cJSON *)value);
    lease_add_fields(reply, true, lease_hops(req));
    node_reply(req, reply);
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
