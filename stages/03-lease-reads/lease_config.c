/* lease_config: the lease's configuration, and changing it through the log.
 *
 * The configuration in force is L (lease), E (election timeout: the window in which a
 * node that heard from a leader refuses to help elect another) and S (clock skew). The
 * flags give the first (index 0); lease_read_config checks a new one against the rule
 * (lease_rule.c) and, if safe, proposes it as a log entry. A node adopts a larger window
 * as soon as such an entry reaches its log, a smaller one only when it applies it, and a
 * leader grants leases only as long as every config a follower may obey allows
 * (lease_state.c). */
#include "lease_config.h"

#include "clock.h"
#include "lease_rule.h"
#include "proto.h"
#include "raft.h"
#include "trace.h"

#include <stdio.h>
#include <string.h>

/* Configurations seen in the log beyond the applied index. Each one may still commit,
 * so a node keeps the largest election timeout among them (see config_note). */
#define LEASE_MAX_UNAPPLIED 64

static struct {
    /* The flags; -1 until checked: derived from the election timeout. */
    int64_t duration_ms, clock_skew_ms;
    /* Negative control: accept the course task's literal rule, L - S < E. */
    bool seed_rule;
    /* Negative control: a node that is not the leader obeys half the window (the
     * election timeout and stickiness window it would otherwise have), so followers stop
     * refusing votes after E/2 while the leader keeps its lease and its own timeout. */
    bool short_stickiness;
    /* The window (election timeout) this node obeys, in ms, before the control above. */
    int64_t window_ms;
    /* The config it obeys and the ones that may follow it. */
    struct lease_config applied;
    struct lease_config unapplied[LEASE_MAX_UNAPPLIED];
    int unapplied_count;
    bool overflowed; /* a config went unrecorded: never shrink the window again */
    /* The smallest effective lease of any config this node has seen (flags included). */
    int64_t min_effective_us;
} cfg = {.duration_ms = -1, .clock_skew_ms = -1};

static const struct node_flag config_flags[] = {
    {"--lease-duration-ms", "L, the lease before skew is subtracted (-1: the election timeout)",
     &cfg.duration_ms},
    {"--max-clock-skew-ms",
     "S, how far two clocks may disagree over one election timeout "
     "(-1: a tenth of it)",
     &cfg.clock_skew_ms},
};

int64_t lease_config_effective_us(const struct lease_config *c)
{
    return (c->duration_ms - c->clock_skew_ms) * 1000;
}

bool lease_config_overflowed(void)
{
    return cfg.overflowed;
}

int64_t lease_config_min_effective_us(void)
{
    return cfg.min_effective_us;
}

/* ---- the rule ---- */

static const char *config_rule_violation(int64_t duration_ms, int64_t election_timeout_ms,
                                         int64_t clock_skew_ms)
{
    return lease_rule_violation(duration_ms, election_timeout_ms, clock_skew_ms,
                                node_heartbeat_us(), cfg.seed_rule);
}

static void config_explain(char *out, size_t n, int64_t duration_ms, int64_t election_timeout_ms,
                           int64_t clock_skew_ms)
{
    lease_rule_explain(out, n, duration_ms, election_timeout_ms, clock_skew_ms, node_heartbeat_us(),
                       cfg.seed_rule);
}

/* ---- configurations in the log ---- */

bool lease_config_parse(const cJSON *command, struct lease_config *out)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(command, "type");
    char why[128];
    return cJSON_IsString(type) && strcmp(type->valuestring, "lease_config") == 0 &&
           proto_get_nonneg_int(command, "lease_duration_ms", &out->duration_ms, why, sizeof why) ==
               PROTO_OK &&
           proto_get_nonneg_int(command, "election_timeout_ms", &out->election_timeout_ms, why,
                                sizeof why) == PROTO_OK &&
           proto_get_nonneg_int(command, "max_clock_skew_ms", &out->clock_skew_ms, why,
                                sizeof why) == PROTO_OK &&
           out->election_timeout_ms >= 1 && out->election_timeout_ms <= PROTO_MAX_MS &&
           out->duration_ms <= PROTO_MAX_MS && out->clock_skew_ms <= PROTO_MAX_MS;
}

/* Is this config's entry still in the log? (Uncommitted entries can be overwritten.) */
static bool config_in_log(const struct lease_config *c)
{
    if (c->index == 0) return true;
    const struct raft_entry *entry = raft_entry_at(node_raft(), c->index);
    struct lease_config parsed;
    return entry && entry->term == c->term && lease_config_parse(entry->command, &parsed);
}

const struct lease_config *lease_config_latest(void)
{
    const struct lease_config *latest = &cfg.applied;
    for (int i = 0; i < cfg.unapplied_count; i++)
        if (cfg.unapplied[i].index > latest->index && config_in_log(&cfg.unapplied[i]))
            latest = &cfg.unapplied[i];
    return latest;
}

static void config_apply_window(const char *why)
{
    struct raft *r = node_raft();
    int64_t window_us = cfg.window_ms * 1000;
    if (cfg.short_stickiness && raft_role(r) != RAFT_LEADER) window_us /= 2;
    if (raft_election_timeout_us(r) == window_us) return;
    trace_event("%s -> election timeout and stickiness window %lld ms (was %lld)%s", why,
                (long long)(window_us / 1000), (long long)(raft_election_timeout_us(r) / 1000),
                cfg.short_stickiness ? " (READPATH_UNSAFE_SHORT_STICKINESS: half, unless leader)"
                                     : "");
    raft_set_election_timeout_us(r, window_us);
}

static void config_set_window(int64_t election_timeout_ms, const char *why)
{
    cfg.window_ms = election_timeout_ms;
    config_apply_window(why);
}

/* A config entry reached this node's log (a follower receiving it, the leader
 * appending it). A larger window is adopted now: once a leader may count on this entry,
 * this node must already refuse votes for that long. A smaller one waits for apply. */
static void config_note(int64_t index, int64_t term, const cJSON *command)
{
    struct lease_config c;
    if (!lease_config_parse(command, &c) || index <= raft_applied_index(node_raft())) return;
    c.index = index;
    c.term = term;
    if (lease_config_effective_us(&c) < cfg.min_effective_us)
        cfg.min_effective_us = lease_config_effective_us(&c);
    if (c.election_timeout_ms > cfg.window_ms)
        config_set_window(c.election_timeout_ms, "lease_config entry in the log");
    for (int i = 0; i < cfg.unapplied_count; i++)
        if (cfg.unapplied[i].index == index && cfg.unapplied[i].term == term) return;
    if (cfg.unapplied_count == LEASE_MAX_UNAPPLIED) {
        /* Make room: entries no longer in the log (overwritten) are of no use. */
        int kept = 0;
        for (int i = 0; i < cfg.unapplied_count; i++)
            if (config_in_log(&cfg.unapplied[i])) cfg.unapplied[kept++] = cfg.unapplied[i];
        cfg.unapplied_count = kept;
    }
    if (cfg.unapplied_count == LEASE_MAX_UNAPPLIED) {
        trace_warn("more than %d lease configs in flight; the election timeout will only grow",
                   LEASE_MAX_UNAPPLIED);
        cfg.overflowed = true;
        return;
    }
    cfg.unapplied[cfg.unapplied_count++] = c;
}

/* ---- the plugin ---- */

/* The flags' lease must obey the rule (NOTES.md, stage 03) for the election timeout the
 * node runs with. Checked with every other flag, before any input is read: a node
 * started with an unsafe lease says why and exits 2, and never answers init. */
static const char *config_check_flags(void)
{
    static char why[600];
    int64_t election_timeout_ms = node_election_timeout_us() / 1000;
    if (cfg.duration_ms < 0) cfg.duration_ms = election_timeout_ms;
    if (cfg.clock_skew_ms < 0) cfg.clock_skew_ms = election_timeout_ms / 10;
    cfg.seed_rule = node_unsafe_test_switch("READPATH_UNSAFE_SEED_LEASE_RULE");
    if (!config_rule_violation(cfg.duration_ms, election_timeout_ms, cfg.clock_skew_ms))
        return NULL;
    char rule[400];
    config_explain(rule, sizeof rule, cfg.duration_ms, election_timeout_ms, cfg.clock_skew_ms);
    snprintf(why, sizeof why,
             "--lease-duration-ms %lld --election-timeout-ms %lld --max-clock-skew-ms %lld: %s",
             (long long)cfg.duration_ms, (long long)election_timeout_ms,
             (long long)cfg.clock_skew_ms, rule);
    return why;
}

static void config_started(void)
{
    struct raft *r = node_raft();
    int64_t election_timeout_ms = node_election_timeout_us() / 1000;
    cfg.short_stickiness = node_unsafe_test_switch("READPATH_UNSAFE_SHORT_STICKINESS");
    cfg.window_ms = election_timeout_ms;
    config_apply_window("started");
    cfg.applied = (struct lease_config){
        .duration_ms = cfg.duration_ms,
        .election_timeout_ms = election_timeout_ms,
        .clock_skew_ms = cfg.clock_skew_ms,
    };
    cfg.min_effective_us = lease_config_effective_us(&cfg.applied);
    /* A log restored from disk (--data-dir) may hold configs this node received before it
     * restarted, and a leader may be counting on their larger windows: they are in its
     * log, so they count now, as on receipt. (The commit index is not on disk: nothing
     * here is applied yet, so a smaller window waits for the apply, as always.) */
    for (int64_t index = raft_snapshot_index(r) + 1; index <= raft_last_index(r); index++) {
        const struct raft_entry *entry = raft_entry_at(r, index);
        if (entry) config_note(index, entry->term, entry->command);
    }
}

/* ---- snapshots: the config in force survives compaction ---- */

static void config_save_one(cJSON *out, const struct lease_config *c)
{
    cJSON_AddNumberToObject(out, "lease_duration_ms", (double)c->duration_ms);
    cJSON_AddNumberToObject(out, "election_timeout_ms", (double)c->election_timeout_ms);
    cJSON_AddNumberToObject(out, "max_clock_skew_ms", (double)c->clock_skew_ms);
    cJSON_AddNumberToObject(out, "index", (double)c->index);
    cJSON_AddNumberToObject(out, "term", (double)c->term);
}

/* Once compacted, the entry of the config in force is gone from the log, and so are
 * those before it: the snapshot keeps the config (its E is the window this node obeys)
 * and the smallest effective lease seen, which a leader's grants must still respect for
 * followers that have not applied as far. */
static void config_snapshot_save(cJSON *mine)
{
    config_save_one(cJSON_AddObjectToObject(mine, "applied"), &cfg.applied);
    cJSON_AddNumberToObject(mine, "min_effective_us", (double)cfg.min_effective_us);
}

/* The config in force as of the snapshot's index (installed from the leader, or found at
 * restart after config_started noted the configs in the log after it). As on applying a
 * config entry, the window becomes its E unless a config later in the log asks for more.
 * Every config waiting in this node's log counts, even one a snapshot that discarded the
 * log has made moot: a window kept too long is only conservative, and the next applied
 * config prunes it. */
static void config_snapshot_load(int64_t index, const cJSON *mine)
{
    struct lease_config c;
    char why[128];
    int64_t min_effective_us, config_index, config_term;
    const cJSON *applied = mine ? cJSON_GetObjectItemCaseSensitive(mine, "applied") : NULL;
    if (!mine) return;
    cJSON *command = cJSON_Duplicate(applied, true);
    if (command) cJSON_AddStringToObject(command, "type", "lease_config");
    bool ok = command && lease_config_parse(command, &c) &&
              proto_get_nonneg_int(applied, "index", &config_index, why, sizeof why) == PROTO_OK &&
              proto_get_nonneg_int(applied, "term", &config_term, why, sizeof why) == PROTO_OK &&
              proto_get_nonneg_int(mine, "min_effective_us", &min_effective_us, why, sizeof why) ==
                  PROTO_OK;
    cJSON_Delete(command);
    if (!ok) {
        trace_warn("lease_config in a snapshot is malformed; the config in force is kept");
        return;
    }
    c.index = config_index;
    c.term = config_term;
    cfg.applied = c;
    if (min_effective_us < cfg.min_effective_us) cfg.min_effective_us = min_effective_us;
    if (lease_config_effective_us(&c) < cfg.min_effective_us)
        cfg.min_effective_us = lease_config_effective_us(&c);
    int64_t window_ms = c.election_timeout_ms;
    int kept = 0;
    for (int i = 0; i < cfg.unapplied_count; i++) {
        struct lease_config *u = &cfg.unapplied[i];
        if (u->index <= index) continue;
        if (u->election_timeout_ms > window_ms) window_ms = u->election_timeout_ms;
        cfg.unapplied[kept++] = *u;
    }
    cfg.unapplied_count = kept;
    if (cfg.overflowed && window_ms < cfg.window_ms) window_ms = cfg.window_ms;
    config_set_window(window_ms, "snapshot loaded");
}

/* The negative control's half window follows the role. */
static void config_leadership_changed(void)
{
    if (cfg.short_stickiness) config_apply_window("leadership changed");
}

/* An entry reached this node's log (from a leader's append, or this leader's own
 * proposal), before this node acknowledges it: a config in it counts from now, since a
 * leader may count on this node holding it once the ack arrives. */
static void config_appended(int64_t index, const struct raft_entry *entry)
{
    config_note(index, entry->term, entry->command);
}

/* A config applied: it is now the one obeyed. Its window holds, unless a config still
 * waiting in the log asks for more. */
static void config_applied(int64_t index, const struct raft_entry *entry)
{
    struct lease_config c;
    if (!lease_config_parse(entry->command, &c)) return;
    c.index = index;
    c.term = entry->term;
    cfg.applied = c;
    if (lease_config_effective_us(&c) < cfg.min_effective_us)
        cfg.min_effective_us = lease_config_effective_us(&c);
    int64_t window_ms = c.election_timeout_ms;
    int kept = 0;
    for (int i = 0; i < cfg.unapplied_count; i++) {
        struct lease_config *u = &cfg.unapplied[i];
        if (u->index <= index || !config_in_log(u)) continue;
        if (u->election_timeout_ms > window_ms) window_ms = u->election_timeout_ms;
        cfg.unapplied[kept++] = *u;
    }
    cfg.unapplied_count = kept;
    if (cfg.overflowed && window_ms < cfg.window_ms) window_ms = cfg.window_ms;
    config_set_window(window_ms, "lease_config applied");
}

/* lease_read_config_ok for a config that committed. */
static void config_reply_extend(cJSON *reply, int64_t index)
{
    const struct raft_entry *entry = raft_entry_at(node_raft(), index);
    struct lease_config c;
    if (!entry || !lease_config_parse(entry->command, &c)) return;
    char reason[400];
    config_explain(reason, sizeof reason, c.duration_ms, c.election_timeout_ms, c.clock_skew_ms);
    cJSON_AddBoolToObject(reply, "safe", true);
    cJSON_AddNumberToObject(reply, "effective_lease_ms", (double)(c.duration_ms - c.clock_skew_ms));
    cJSON_AddStringToObject(reply, "reason", reason);
}

/* ---- lease_read_config ---- */

static void config_handle(struct node_request *req)
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
    if (config_rule_violation(duration_ms, election_timeout_ms, clock_skew_ms)) {
        /* Nothing changes, so any node can say so. */
        char reason[400];
        config_explain(reason, sizeof reason, duration_ms, election_timeout_ms, clock_skew_ms);
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
    if (cfg.unapplied_count == LEASE_MAX_UNAPPLIED) {
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
    /* Once appended, a shorter lease applies at once (lease_state_config_appended). */
    node_propose(req, command);
}

static const struct node_plugin config_plugin = {
    .name = "lease_config",
    .started = config_started,
    .leadership_changed = config_leadership_changed,
    .appended = config_appended,
    .applied = config_applied,
    .snapshot_save = config_snapshot_save,
    .snapshot_load = config_snapshot_load,
    .write_reply_extend = config_reply_extend,
};

static const struct node_handler config_handlers[] = {
    /* Goes through the log: a forwarded one whose answer never came may have changed
     * the cluster's timing. */
    {"lease_read_config", config_handle, true},
};

const struct node_feature lease_config_feature = {
    .name = "lease_read_config",
    .handlers = config_handlers,
    .handler_count = NODE_COUNT(config_handlers),
    .plugin = &config_plugin,
    .flags = config_flags,
    .flag_count = NODE_COUNT(config_flags),
    .check_flags = config_check_flags,
};
