#include "lease.h"

#include "clock.h"
#include "kv.h"
#include "proto.h"
#include "raft.h"
#include "readindex.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Configurations seen in the log beyond the applied index. Each one may still commit,
 * so a node keeps the largest election timeout among them (see lease_adopt_window). */
#define LEASE_MAX_UNAPPLIED 64

/* A lease configuration and the log entry that carries it (index 0: the flags). */
struct lease_config {
    int64_t index, term;
    int64_t duration_ms, election_timeout_ms, clock_skew_ms;
};

static struct {
    /* The flags; -1 until started: derived from the election timeout. */
    int64_t duration_ms, clock_skew_ms;
    /* Negative control: accept the seed's literal rule, L - S < E. */
    bool seed_rule;
    /* Negative control: a node that is not the leader obeys half the window (the
     * election timeout and stickiness window it would otherwise have), so followers stop
     * refusing votes after E/2 while the leader keeps its lease and its own timeout. */
    bool short_stickiness;
    /* The window (election timeout) this node obeys, in ms, before the control above. */
    int64_t window_ms;

    /* Every node: the config it obeys and the ones that may follow it. */
    struct lease_config applied;
    struct lease_config unapplied[LEASE_MAX_UNAPPLIED];
    int unapplied_count;
    bool overflowed; /* a config went unrecorded: never shrink the window again */
    /* The smallest effective lease of any config this node has seen (flags included). */
    int64_t min_effective_us;

    /* Leader: the lease, on this node's monotonic clock. */
    int64_t term;       /* the term it was granted in */
    int64_t start_us;   /* send time of the latest round that granted it */
    int64_t expires_us; /* 0: no lease */
    /* Leader: per peer, the first round begun after the peer was known to hold the
     * latest config (entry tracked_index); 0 while not known. */
    uint64_t *holds_config_from_round;
    int64_t tracked_index, tracked_term;
    int n;
} lease = {.duration_ms = -1, .clock_skew_ms = -1};

static const struct node_flag lease_flags[] = {
    {"--lease-duration-ms", "L, the lease before skew is subtracted (-1: the election timeout)",
     &lease.duration_ms},
    {"--max-clock-skew-ms", "S, how far two clocks may disagree over one election timeout "
                            "(-1: a tenth of it)",
     &lease.clock_skew_ms},
};

static int64_t lease_effective_us(const struct lease_config *c)
{
    return (c->duration_ms - c->clock_skew_ms) * 1000;
}

/* ---- the rule ---- */

/* NULL when L, E, S are safe, else the inequality they violate.
 *
 * The leader counts L - S from a round's send time s on its own clock. A follower that
 * acknowledged the round got it at or after s and refuses to elect anyone for E on its
 * clock. If that clock runs fast, E on it may be as little as E - S on the leader's
 * (S bounds the disagreement over such an interval: drift, not offset). So the lease is
 * safe iff L - S <= E - S, written as the contract states it: (L - S) + S <= E; and
 * L > S, or there is no lease at all. The seed's "L - S < E" forgets that the follower's
 * clock may be the fast one: 5200/5000/500 passes it, and a lease of 4700 outlasts a
 * follower's 5000 on a clock 500 fast (4500 on the leader's). */
static const char *lease_rule_violation(int64_t duration_ms, int64_t election_timeout_ms,
                                        int64_t clock_skew_ms)
{
    /* Not about the lease: a follower that misses two heartbeats calls an election, and
     * with less than that the cluster elects leaders without end. The heartbeat is the
     * flags' (no config changes it); --election-timeout-ms obeys the same rule. */
    if (election_timeout_ms * 1000 < 2 * node_heartbeat_us())
        return "election_timeout_ms >= 2 * heartbeat_ms";
    if (lease.seed_rule)
        return duration_ms - clock_skew_ms < election_timeout_ms
                   ? NULL
                   : "lease - clock_skew < election_timeout (the seed's rule)";
    if (duration_ms <= clock_skew_ms) return "lease_duration_ms > max_clock_skew_ms";
    if ((duration_ms - clock_skew_ms) + clock_skew_ms > election_timeout_ms)
        return "(lease_duration_ms - max_clock_skew_ms) + max_clock_skew_ms <= election_timeout_ms";
    return NULL;
}

static void lease_explain(char *out, size_t n, int64_t duration_ms, int64_t election_timeout_ms,
                          int64_t clock_skew_ms)
{
    const char *violation = lease_rule_violation(duration_ms, election_timeout_ms, clock_skew_ms);
    long long l = duration_ms, e = election_timeout_ms, s = clock_skew_ms;
    long long h = node_heartbeat_us() / 1000;
    if (violation && e < 2 * h)
        snprintf(out, n, "unsafe: violates %s (E=%lld, heartbeat %lld ms, the flags'): followers "
                         "would call elections between two heartbeats", violation, e, h);
    else if (violation && l <= s && !lease.seed_rule)
        snprintf(out, n, "unsafe: violates %s (L=%lld, S=%lld): no lease is left once the skew "
                         "is subtracted", violation, l, s);
    else if (violation)
        snprintf(out, n, "unsafe: violates %s (L=%lld, E=%lld, S=%lld): a lease of %lld ms could "
                         "outlast a follower's %lld ms election timeout on a clock %lld ms fast",
                 violation, l, e, s, l - s, e, s);
    else if (lease.seed_rule)
        snprintf(out, n, "lease - clock_skew < election_timeout: %lld - %lld < %lld (the seed's "
                         "rule, a test-only switch; NOT the sound rule)", l, s, e);
    else
        snprintf(out, n, "(lease - clock_skew) + clock_skew <= election_timeout and lease > "
                         "clock_skew: (%lld - %lld) + %lld <= %lld and %lld > %lld",
                 l, s, s, e, l, s);
}

/* ---- configurations in the log ---- */

/* A config entry as lease_read_config would have proposed it; anything else in a log
 * (a peer's bug, fuzzed input) is not a config and changes nothing. */
static bool lease_parse_config(const cJSON *command, struct lease_config *out)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(command, "type");
    char why[128];
    return cJSON_IsString(type) && strcmp(type->valuestring, "lease_config") == 0 &&
           proto_get_nonneg_int(command, "lease_duration_ms", &out->duration_ms, why, sizeof why) == PROTO_OK &&
           proto_get_nonneg_int(command, "election_timeout_ms", &out->election_timeout_ms, why, sizeof why) == PROTO_OK &&
           proto_get_nonneg_int(command, "max_clock_skew_ms", &out->clock_skew_ms, why, sizeof why) == PROTO_OK &&
           out->election_timeout_ms >= 1 && out->election_timeout_ms <= PROTO_MAX_MS &&
           out->duration_ms <= PROTO_MAX_MS && out->clock_skew_ms <= PROTO_MAX_MS;
}

/* Is this config's entry still in the log? (Uncommitted entries can be overwritten.) */
static bool lease_in_log(const struct lease_config *c)
{
    if (c->index == 0) return true;
    const struct raft_entry *entry = raft_entry_at(node_raft(), c->index);
    struct lease_config parsed;
    return entry && entry->term == c->term && lease_parse_config(entry->command, &parsed);
}

/* The newest config in this node's log: what a leader's followers converge to. */
static const struct lease_config *lease_latest(void)
{
    const struct lease_config *latest = &lease.applied;
    for (int i = 0; i < lease.unapplied_count; i++)
        if (lease.unapplied[i].index > latest->index && lease_in_log(&lease.unapplied[i]))
            latest = &lease.unapplied[i];
    return latest;
}

static void lease_apply_window(const char *why)
{
    struct raft *r = node_raft();
    int64_t window_us = lease.window_ms * 1000;
    if (lease.short_stickiness && raft_role(r) != RAFT_LEADER) window_us /= 2;
    if (raft_election_timeout_us(r) == window_us) return;
    trace_event("%s -> election timeout and stickiness window %lld ms (was %lld)%s", why,
                (long long)(window_us / 1000), (long long)(raft_election_timeout_us(r) / 1000),
                lease.short_stickiness ? " (READPATH_UNSAFE_SHORT_STICKINESS: half, unless leader)" : "");
    raft_set_election_timeout_us(r, window_us);
}

static void lease_set_window(int64_t election_timeout_ms, const char *why)
{
    lease.window_ms = election_timeout_ms;
    lease_apply_window(why);
}

/* A config entry reached this node's log (a follower receiving it, the leader
 * appending it). A larger window is adopted now: once a leader may count on this entry,
 * this node must already refuse votes for that long. A smaller one waits for apply. */
static void lease_note_config(int64_t index, int64_t term, const cJSON *command)
{
    struct lease_config c;
    if (!lease_parse_config(command, &c) || index <= raft_applied_index(node_raft())) return;
    c.index = index;
    c.term = term;
    if (lease_effective_us(&c) < lease.min_effective_us) lease.min_effective_us = lease_effective_us(&c);
    if (c.election_timeout_ms > lease.window_ms)
        lease_set_window(c.election_timeout_ms, "lease_config entry in the log");
    for (int i = 0; i < lease.unapplied_count; i++)
        if (lease.unapplied[i].index == index && lease.unapplied[i].term == term) return;
    if (lease.unapplied_count == LEASE_MAX_UNAPPLIED) {
        /* Make room: entries no longer in the log (overwritten) are of no use. */
        int kept = 0;
        for (int i = 0; i < lease.unapplied_count; i++)
            if (lease_in_log(&lease.unapplied[i])) lease.unapplied[kept++] = lease.unapplied[i];
        lease.unapplied_count = kept;
    }
    if (lease.unapplied_count == LEASE_MAX_UNAPPLIED) {
        trace_warn("more than %d lease configs in flight; the election timeout will only grow",
                   LEASE_MAX_UNAPPLIED);
        lease.overflowed = true;
        return;
    }
    lease.unapplied[lease.unapplied_count++] = c;
}

/* ---- the plugin ---- */

/* The flags' lease must obey the rule (NOTES.md, stage 03) for the election timeout the
 * node runs with. Checked with every other flag, before any input is read: a node
 * started with an unsafe lease says why and exits 2, and never answers init. */
static const char *lease_check_flags(void)
{
    static char why[600];
    int64_t election_timeout_ms = node_election_timeout_us() / 1000;
    if (lease.duration_ms < 0) lease.duration_ms = election_timeout_ms;
    if (lease.clock_skew_ms < 0) lease.clock_skew_ms = election_timeout_ms / 10;
    lease.seed_rule = node_unsafe_test_switch("READPATH_UNSAFE_SEED_LEASE_RULE");
    if (!lease_rule_violation(lease.duration_ms, election_timeout_ms, lease.clock_skew_ms))
        return NULL;
    char rule[400];
    lease_explain(rule, sizeof rule, lease.duration_ms, election_timeout_ms, lease.clock_skew_ms);
    snprintf(why, sizeof why,
             "--lease-duration-ms %lld --election-timeout-ms %lld --max-clock-skew-ms %lld: %s",
             (long long)lease.duration_ms, (long long)election_timeout_ms,
             (long long)lease.clock_skew_ms, rule);
    return why;
}

static void lease_started(void)
{
    struct raft *r = node_raft();
    int64_t election_timeout_ms = node_election_timeout_us() / 1000;
    lease.short_stickiness = node_unsafe_test_switch("READPATH_UNSAFE_SHORT_STICKINESS");
    lease.window_ms = election_timeout_ms;
    lease_apply_window("started");
    lease.applied = (struct lease_config){
        .duration_ms = lease.duration_ms,
        .election_timeout_ms = election_timeout_ms,
        .clock_skew_ms = lease.clock_skew_ms,
    };
    lease.min_effective_us = lease_effective_us(&lease.applied);
    lease.n = raft_cluster_size(r);
    lease.holds_config_from_round = calloc((size_t)lease.n, sizeof *lease.holds_config_from_round);
    if (!lease.holds_config_from_round) abort();
    /* A log restored from disk (--data-dir) may hold configs this node received before it
     * restarted, and a leader may be counting on their larger windows: they are in its
     * log, so they count now, as on receipt. (The commit index is not on disk: nothing
     * here is applied yet, so a smaller window waits for the apply, as always.) */
    for (int64_t index = 1; index <= raft_last_index(r); index++) {
        const struct raft_entry *entry = raft_entry_at(r, index);
        if (entry) lease_note_config(index, entry->term, entry->command);
    }
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
    const struct lease_config *latest = lease_latest();
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
    if (lease.overflowed) return lease.min_effective_us;
    if (latest->index == 0) return lease_effective_us(latest);
    int holders = 1; /* this leader appended it */
    for (int peer = 0; peer < lease.n; peer++) {
        uint64_t from = lease.holds_config_from_round[peer];
        if (peer != raft_self(r) && from && from <= round && raft_acked_round(r, peer) >= round)
            holders++;
    }
    if (holders >= lease.n / 2 + 1) return lease_effective_us(latest);
    return lease.min_effective_us;
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
    if (lease.short_stickiness) lease_apply_window("leadership changed");
    if (raft_role(r) == RAFT_LEADER && raft_term(r) == lease.term) return;
    if (lease.expires_us > 0)
        trace_event("now %s of term %lld -> lease dropped", raft_role_name(raft_role(r)),
                    (long long)raft_term(r));
    lease.expires_us = 0;
    lease.start_us = 0;
    lease.tracked_index = -1;
}

/* An entry reached this node's log (from a leader's append, or this leader's own
 * proposal), before this node acknowledges it: a config in it counts from now, since a
 * leader may count on this node holding it once the ack arrives. */
static void lease_appended(int64_t index, const struct raft_entry *entry)
{
    lease_note_config(index, entry->term, entry->command);
}

/* A config applied: it is now the one obeyed. Its window holds, unless a config still
 * waiting in the log asks for more. */
static void lease_applied(int64_t index, const struct raft_entry *entry)
{
    struct lease_config c;
    if (!lease_parse_config(entry->command, &c)) return;
    c.index = index;
    c.term = entry->term;
    lease.applied = c;
    if (lease_effective_us(&c) < lease.min_effective_us) lease.min_effective_us = lease_effective_us(&c);
    int64_t window_ms = c.election_timeout_ms;
    int kept = 0;
    for (int i = 0; i < lease.unapplied_count; i++) {
        struct lease_config *u = &lease.unapplied[i];
        if (u->index <= index || !lease_in_log(u)) continue;
        if (u->election_timeout_ms > window_ms) window_ms = u->election_timeout_ms;
        lease.unapplied[kept++] = *u;
    }
    lease.unapplied_count = kept;
    if (lease.overflowed && window_ms < lease.window_ms) window_ms = lease.window_ms;
    lease_set_window(window_ms, "lease_config applied");
}

/* lease_read_config_ok for a config that committed. */
static void lease_write_reply_extend(cJSON *reply, int64_t index)
{
    const struct raft_entry *entry = raft_entry_at(node_raft(), index);
    struct lease_config c;
    if (!entry || !lease_parse_config(entry->command, &c)) return;
    char reason[400];
    lease_explain(reason, sizeof reason, c.duration_ms, c.election_timeout_ms, c.clock_skew_ms);
    cJSON_AddBoolToObject(reply, "safe", true);
    cJSON_AddNumberToObject(reply, "effective_lease_ms", (double)(c.duration_ms - c.clock_skew_ms));
    cJSON_AddStringToObject(reply, "reason", reason);
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
    .applied = lease_applied,
    .appended = lease_appended,
    .write_reply_extend = lease_write_reply_extend,
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

/* ---- lease_read_config ---- */

static void lease_read_config_handle(struct node_request *req)
{
    int64_t duration_ms, election_timeout_ms, clock_skew_ms;
    if (!node_require_nonneg_int(req, "lease_duration_ms", &duration_ms) ||
        !node_require_nonneg_int(req, "election_timeout_ms", &election_timeout_ms) ||
        !node_require_nonneg_int(req, "max_clock_skew_ms", &clock_skew_ms))
        return;
    const char *too_big = duration_ms > PROTO_MAX_MS           ? "lease_duration_ms"
                          : election_timeout_ms > PROTO_MAX_MS ? "election_timeout_ms"
                          : clock_skew_ms > PROTO_MAX_MS       ? "max_clock_skew_ms"
                                                               : NULL;
    if (too_big) {
        node_reply_error(req, PROTO_MALFORMED_REQUEST, "%s: field \"%s\" must be at most %d",
                         req->type, too_big, PROTO_MAX_MS);
        return;
    }
    if (lease_rule_violation(duration_ms, election_timeout_ms, clock_skew_ms)) {
        /* Nothing changes, so any node can say so. */
        char reason[400];
        lease_explain(reason, sizeof reason, duration_ms, election_timeout_ms, clock_skew_ms);
        cJSON *reply = cJSON_CreateObject();
        cJSON_AddStringToObject(reply, "type", "lease_read_config_ok");
        cJSON_AddBoolToObject(reply, "safe", false);
        cJSON_AddNumberToObject(reply, "effective_lease_ms", (double)(duration_ms - clock_skew_ms));
        cJSON_AddStringToObject(reply, "reason", reason);
        node_reply(req, reply);
        return;
    }
    if (!node_is_leader()) {
        node_forward(req);
        return;
    }
    if (lease.unapplied_count == LEASE_MAX_UNAPPLIED) {
        node_reply_error(req, PROTO_TEMPORARILY_UNAVAILABLE,
                         "%d lease configs are already waiting to commit; nothing was done",
                         LEASE_MAX_UNAPPLIED);
        return;
    }
    cJSON *command = cJSON_CreateObject();
    cJSON_AddStringToObject(command, "type", "lease_config");
    cJSON_AddNumberToObject(command, "lease_duration_ms", (double)duration_ms);
    cJSON_AddNumberToObject(command, "election_timeout_ms", (double)election_timeout_ms);
    cJSON_AddNumberToObject(command, "max_clock_skew_ms", (double)clock_skew_ms);
    /* On appending: a shorter lease applies at once. Followers adopt the smaller window
     * when they apply the entry, and each of them last heard from this leader no
     * earlier than the send time of the latest round that granted the lease. */
    int64_t cut_us = lease.start_us + (duration_ms - clock_skew_ms) * 1000;
    if (lease.expires_us > cut_us) {
        trace_event("lease_config appended -> lease cut to %lld ms after its start",
                    (long long)(duration_ms - clock_skew_ms));
        lease.expires_us = cut_us;
    }
    node_propose(req, command);
}

static const struct node_handler lease_handlers[] = {
    {"lease_read", lease_read_handle, false},
    /* Goes through the log: a forwarded one whose answer never came may have changed
     * the cluster's timing. */
    {"lease_read_config", lease_read_config_handle, true},
};

const struct node_feature lease_feature = {
    .name = "lease_read",
    .handlers = lease_handlers,
    .handler_count = NODE_COUNT(lease_handlers),
    .plugin = &lease_plugin,
    .flags = lease_flags,
    .flag_count = NODE_COUNT(lease_flags),
    .check_flags = lease_check_flags,
};
