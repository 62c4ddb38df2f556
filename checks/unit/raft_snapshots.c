/* Snapshots and log compaction (§5.1-5.4) on the simulated cluster.
 *
 * The simulator's state machine is the list of entries a node applied, and a snapshot is
 * that list (sim.h, snapshot_every), so loading one is checked entry by entry against
 * what every other node applied: a snapshot that held the wrong entries, or rolled a
 * node's state back, is a state machine safety violation. */
#include "tap.h"
#include "unit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A settled 3-node cluster that compacts every `every` entries. */
static struct sim *snapshot_cluster(uint64_t seed, int64_t every, bool install_any, int *leader)
{
    struct raft_config config = unit_config();
    config.install_any_snapshot = install_any;
    struct sim *s = sim_new(3, &config, seed);
    s->snapshot_every = every;
    *leader = sim_wait_leader(s, 10 * UNIT_ELECTION_US);
    if (*leader < 0) {
        sim_free(s);
        return NULL;
    }
    return s;
}

/* Proposes `count` entries at the leader, a few per heartbeat. */
static void propose_many(struct sim *s, int leader, int count)
{
    for (int k = 0; k < count; k++) {
        sim_propose(s, leader);
        if (k % 8 == 7) sim_run_until(s, s->now_us + 2 * MS);
    }
}

static bool all_applied(struct sim *s, void *arg)
{
    int64_t index = *(int64_t *)arg;
    for (int i = 0; i < s->n; i++)
        if (raft_applied_index(s->nodes[i].raft) < index) return false;
    return true;
}

/* Every node holds the same state: the same applied list. */
static bool same_state(const struct sim *s)
{
    for (int i = 1; i < s->n; i++) {
        const struct sim_node *a = &s->nodes[0], *b = &s->nodes[i];
        if (a->applied_count != b->applied_count) return false;
        for (int64_t k = 0; k < a->applied_count; k++)
            if (a->applied_term[k] != b->applied_term[k] || a->applied_id[k] != b->applied_id[k])
                return false;
    }
    return true;
}

static void test_compaction_keeps_state(void)
{
    int leader;
    struct sim *s = snapshot_cluster(21, 10, false, &leader);
    if (!tap_ok(s != NULL, "snapshots: a 3-node cluster elects a leader")) return;
    propose_many(s, leader, 300);
    int64_t last = raft_last_index(s->nodes[leader].raft);
    bool applied = sim_run_while_not(s, s->now_us + 50 * UNIT_ELECTION_US, all_applied, &last);
    int64_t longest_log = 0, fewest_snapshot = last;
    for (int i = 0; i < 3; i++) {
        const struct raft *r = s->nodes[i].raft;
        if (raft_last_index(r) - raft_snapshot_index(r) > longest_log)
            longest_log = raft_last_index(r) - raft_snapshot_index(r);
        if (raft_snapshot_index(r) < fewest_snapshot) fewest_snapshot = raft_snapshot_index(r);
    }
    if (!s->failed) sim_check_logs(s);
    if (s->failed) tap_diag("%s: %s", s->failure_kind, s->failure);
    tap_ok(applied && !s->failed && same_state(s) && fewest_snapshot >= last - 10 &&
               longest_log <= 10,
           "snapshots: compacting every 10 entries, 3 nodes apply all %" PRId64
           " entries into the same state; every snapshot is within 10 of the end (lowest %" PRId64
           "), no log holds more than 10 entries (longest %" PRId64 ")",
           last, fewest_snapshot, longest_log);
    sim_free(s);
}

/* A follower cut off while the leader compacts far past it can only catch up from the
 * snapshot: the entries it lacks are gone. */
static void test_far_behind_follower(void)
{
    int leader;
    struct sim *s = snapshot_cluster(22, 20, false, &leader);
    if (!tap_ok(s != NULL, "snapshots: a 3-node cluster elects a leader")) return;
    int follower = (leader + 1) % 3;
    propose_many(s, leader, 10);
    sim_run_until(s, s->now_us + 5 * UNIT_HEARTBEAT_US);
    sim_isolate(s, follower, true);
    sim_cut(s, leader, (leader + 2) % 3, false);
    sim_cut(s, (leader + 2) % 3, leader, false);
    int64_t behind = raft_applied_index(s->nodes[follower].raft);
    propose_many(s, leader, 1000);
    sim_run_until(s, s->now_us + 5 * UNIT_HEARTBEAT_US);
    int64_t leader_snapshot = raft_snapshot_index(s->nodes[leader].raft);
    int64_t loads_before = s->nodes[follower].snapshot_loads;
    sim_heal(s);
    int64_t healed_us = s->now_us;
    int64_t last = raft_last_index(s->nodes[leader].raft);
    bool caught_up = sim_run_while_not(s, s->now_us + 20 * UNIT_ELECTION_US, all_applied, &last);
    int64_t took_us = s->now_us - healed_us;
    int64_t installs = s->nodes[follower].snapshot_loads - loads_before;
    if (!s->failed) sim_check_logs(s);
    if (s->failed) tap_diag("%s: %s", s->failure_kind, s->failure);
    tap_ok(caught_up && !s->failed && installs >= 1 && same_state(s) &&
               leader_snapshot > behind + 900 && took_us < 5 * UNIT_HEARTBEAT_US,
           "snapshots: a follower cut off at %" PRId64
           " while the leader compacted through %" PRId64 " catches up to %" PRId64
           " by InstallSnapshot (%" PRId64 " installed) in %.1f ms, "
           "into the same state",
           behind, leader_snapshot, last, installs, (double)took_us / MS);
    sim_free(s);
}

/* A raft_snapshot as `leader` would send it, through `index` of its applied list. */
static cJSON *snapshot_message(struct sim *s, int leader, int64_t index)
{
    const struct raft *r = s->nodes[leader].raft;
    cJSON *body = unit_message("raft_snapshot", raft_term(r));
    cJSON_AddNumberToObject(body, "last_index", (double)index);
    cJSON_AddNumberToObject(body, "last_term", (double)s->nodes[leader].applied_term[index - 1]);
    cJSON_AddNumberToObject(body, "round", (double)raft_round(r));
    cJSON_AddNumberToObject(body, "incarnation", (double)s->nodes[leader].lives);
    cJSON *state = sim_state(s, leader);
    cJSON *applied = cJSON_GetObjectItemCaseSensitive(state, "applied");
    while (cJSON_GetArraySize(applied) > index)
        cJSON_DeleteItemFromArray(applied, cJSON_GetArraySize(applied) - 1);
    cJSON_AddItemToObject(body, "data", state);
    return body;
}

struct stale_outcome {
    int64_t applied_before, applied_after, commit_after, snapshot_after;
    bool acked, failed;
    char failure[1100];
};

/* After the follower has everything, old snapshots arrive at it: one through a quarter
 * of the log, the same again (a duplicate), then one through half (reordered: older
 * than what it has, newer than the last one). */
static void stale_snapshots(bool install_any, struct stale_outcome *out)
{
    int leader;
    memset(out, 0, sizeof *out);
    struct sim *s = snapshot_cluster(23, 20, install_any, &leader);
    if (!s) {
        out->failed = true;
        snprintf(out->failure, sizeof out->failure, "no leader");
        return;
    }
    int follower = (leader + 1) % 3;
    propose_many(s, leader, 200);
    int64_t last = raft_last_index(s->nodes[leader].raft);
    sim_run_while_not(s, s->now_us + 50 * UNIT_ELECTION_US, all_applied, &last);
    out->applied_before = raft_applied_index(s->nodes[follower].raft);
    sim_hold(s, follower, leader, true);
    int64_t stale[] = {last / 4, last / 4, last / 2};
    for (int k = 0; k < 3; k++) {
        cJSON *body = snapshot_message(s, leader, stale[k]);
        sim_inject(s, leader, follower, body);
        cJSON_Delete(body);
    }
    cJSON *res = NULL;
    sim_count(s, follower, leader, "raft_append_res", &res);
    out->acked = res && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "success")) &&
                 cJSON_GetObjectItemCaseSensitive(res, "match_index")->valuedouble == last / 2;
    cJSON_Delete(res);
    sim_hold(s, follower, leader, false);
    sim_run_until(s, s->now_us + 10 * UNIT_HEARTBEAT_US);
    out->applied_after = raft_applied_index(s->nodes[follower].raft);
    out->commit_after = raft_commit_index(s->nodes[follower].raft);
    out->snapshot_after = raft_snapshot_index(s->nodes[follower].raft);
    out->failed = s->failed;
    if (s->failed)
        snprintf(out->failure, sizeof out->failure, "%s: %s", s->failure_kind, s->failure);
    sim_free(s);
}

static void test_stale_snapshots(void)
{
    struct stale_outcome o;
    stale_snapshots(false, &o);
    if (o.failed) tap_diag("%s", o.failure);
    tap_ok(!o.failed && o.acked && o.applied_after >= o.applied_before &&
               o.commit_after >= o.applied_before && o.snapshot_after <= o.applied_after,
           "snapshots: stale, duplicated and reordered snapshots never roll a follower back: "
           "applied %" PRId64 " before, %" PRId64 " after; each one acked (the last with its "
           "index), none installed (snapshot index %" PRId64 ")",
           o.applied_before, o.applied_after, o.snapshot_after);
    stale_snapshots(true, &o);
    tap_diag("%s", o.failure);
    tap_ok(o.failed && strstr(o.failure, "state machine safety") &&
               strstr(o.failure, "rolled back"),
           "snapshots, negative control: a follower that installs a snapshot older than its "
           "commit index is caught by the state machine safety check");
}

/* Peer input the core must shrug off: a snapshot whose data the state machine refuses,
 * and one with a missing field. Neither changes the node nor gets an ack. */
static void test_malformed_snapshot(void)
{
    int leader;
    struct sim *s = snapshot_cluster(24, 20, false, &leader);
    if (!tap_ok(s != NULL, "snapshots: a 3-node cluster elects a leader")) return;
    int follower = (leader + 1) % 3;
    propose_many(s, leader, 10);
    sim_run_until(s, s->now_us + 5 * UNIT_HEARTBEAT_US);
    sim_isolate(s, leader, true);
    sim_cut(s, follower, leader, false);
    sim_hold(s, follower, leader, true);
    int64_t applied = raft_applied_index(s->nodes[follower].raft);
    int saved_stderr = unit_quiet_stderr();
    cJSON *bad_data = snapshot_message(s, leader, applied);
    cJSON_ReplaceItemInObjectCaseSensitive(bad_data, "last_index",
                                           cJSON_CreateNumber((double)applied + 50));
    sim_inject(s, leader, follower, bad_data);
    cJSON_Delete(bad_data);
    cJSON *no_term = snapshot_message(s, leader, applied);
    cJSON_DeleteItemFromObjectCaseSensitive(no_term, "last_term");
    sim_inject(s, leader, follower, no_term);
    cJSON_Delete(no_term);
    unit_restore_stderr(saved_stderr);
    size_t acks = sim_count(s, follower, leader, "raft_append_res", NULL);
    tap_ok(!s->failed && acks == 0 && raft_applied_index(s->nodes[follower].raft) == applied,
           "snapshots: a snapshot whose data does not fit its index, and one without last_term, "
           "are ignored (%zu acks, applied %" PRId64 ")",
           acks, raft_applied_index(s->nodes[follower].raft));
    sim_free(s);
}

/* A node restarts from its snapshot and the log after it: its state is the snapshot's
 * at once (committed, applied), and the rest commits again. */
static void test_restart_from_snapshot(void)
{
    int leader;
    struct sim *s = snapshot_cluster(25, 10, false, &leader);
    if (!tap_ok(s != NULL, "snapshots: a 3-node cluster elects a leader")) return;
    int follower = (leader + 1) % 3;
    propose_many(s, leader, 53);
    sim_run_until(s, s->now_us + 10 * UNIT_HEARTBEAT_US);
    /* Entries it holds but has not seen committed: with the third node cut off, the
     * leader commits them on this follower's ack, which it learns of only from the next
     * append. */
    sim_isolate(s, (leader + 2) % 3, true);
    propose_many(s, leader, 3);
    sim_run_until(s, s->now_us + 6 * MS);
    sim_isolate(s, (leader + 2) % 3, false);
    const struct raft *r = s->nodes[follower].raft;
    int64_t snapshot = raft_snapshot_index(r), last = raft_last_index(r);
    sim_restart(s, follower);
    r = s->nodes[follower].raft;
    bool restored = raft_snapshot_index(r) == snapshot && raft_last_index(r) == last &&
                    raft_applied_index(r) == snapshot && raft_commit_index(r) == snapshot &&
                    s->nodes[follower].applied_count == snapshot;
    tap_ok(restored && snapshot > 0 && last > snapshot,
           "snapshots: a restarted node recovers its snapshot (through %" PRId64
           ") as applied state and the log after it (to %" PRId64 ")",
           raft_snapshot_index(r), raft_last_index(r));
    propose_many(s, leader, 20);
    int64_t end = raft_last_index(s->nodes[leader].raft);
    bool applied = sim_run_while_not(s, s->now_us + 20 * UNIT_ELECTION_US, all_applied, &end);
    if (s->failed) tap_diag("%s: %s", s->failure_kind, s->failure);
    tap_ok(applied && !s->failed && same_state(s),
           "snapshots: it then applies the rest into the same state as the others (%" PRId64
           " entries)",
           end);
    sim_free(s);
}

void test_snapshots(void)
{
    test_compaction_keeps_state();
    test_far_behind_follower();
    test_stale_snapshots();
    test_malformed_snapshot();
    test_restart_from_snapshot();
}
