/* lease: linearizable reads at the leader with no network round trip (see lease.h).
 * The lease itself is a pure core (lease_state.c); this file is its node glue. The
 * configuration the lease rests on, and its changes through the log, are in
 * lease_config.c. */
#include "lease.h"

#include "clock.h"
#include "lease_config.h"
#include "lease_state.h"
#include "proto.h"
#include "raft.h"
#include "readindex.h"

/* One lease per process (lease_state.c, the pure core), driven here with this node's
 * Raft core and clock_now_us(). */
static struct lease_state lease;

/* What the configs in this node's log allow, as lease_config.c knows them. */
static struct lease_allowance lease_allowance(void)
{
    const struct lease_config *latest = lease_config_latest();
    return (struct lease_allowance){
        .latest_index = latest->index,
        .latest_term = latest->term,
        .latest_effective_us = lease_config_effective_us(latest),
        .min_effective_us = lease_config_min_effective_us(),
        .overflowed = lease_config_overflowed(),
    };
}

static int64_t lease_clock(void *unused)
{
    (void)unused;
    return clock_now_us();
}

/* ---- the plugin: Raft's events, handed to the lease ---- */

static void lease_started(void)
{
    lease_state_init(&lease, raft_cluster_size(node_raft()));
}

static void lease_round_confirmed(uint64_t round, int64_t sent_us, int64_t commit_index)
{
    (void)commit_index;
    struct lease_allowance allowance = lease_allowance();
    lease_state_round_confirmed(&lease, node_raft(), &allowance, round, sent_us, clock_now_us());
}

static void lease_leadership_changed(void)
{
    lease_state_leadership_changed(&lease, node_raft());
}

/* This leader appended a config: a shorter lease applies at once. */
static void lease_appended(int64_t index, const struct raft_entry *entry)
{
    (void)index;
    struct lease_config c;
    if (!node_is_leader() || !lease_config_parse(entry->command, &c)) return;
    lease_state_config_appended(&lease, lease_config_effective_us(&c));
}

static void lease_turn(int64_t now_us)
{
    (void)now_us;
    if (!node_is_leader()) return;
    struct lease_allowance allowance = lease_allowance();
    lease_state_track(&lease, node_raft(), &allowance);
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
    /* lease_state_read takes the value first, then reads the clock: see why there. */
    struct lease_ctx ctx = {.raft = node_raft(), .kv = node_kv(), .now_us = lease_clock};
    struct lease_read read = lease_state_read(&lease, &ctx, key);
    if (!read.on_lease) {
        readindex_submit(req, lease_serve_fallback, read.checked_us);
        return;
    }
    if (read.found != PROTO_OK) {
        node_reply_error(req, PROTO_KEY_DOES_NOT_EXIST, "key does not exist");
        return;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "type", "lease_read_ok");
    /* A reference: the reply is printed before anything can change the map. */
    cJSON_AddItemReferenceToObject(reply, "value", (cJSON *)read.value);
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
