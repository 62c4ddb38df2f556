/* Durable restarts (§3.8): what a node persists, and what it does when it comes back.
 *
 * The simulator keeps each node's "disk" from the core's persist_* callbacks and
 * sim_restart builds a new core from it, as node.c does from common/storage. So these
 * tests see exactly what a crash (kill -9 after the last fsync) leaves. */
#include "tap.h"
#include "unit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The reply `voter` sent to `candidate` for a hand-made vote request, or -1 if none. */
static int vote_granted(struct sim *s, int candidate, int voter, bool pre_vote, int64_t term)
{
    const struct raft *r = s->nodes[voter].raft;
    cJSON *vote = unit_message("raft_vote", term);
    cJSON_AddBoolToObject(vote, "pre_vote", pre_vote);
    cJSON_AddNumberToObject(vote, "last_log_index", (double)raft_last_index(r));
    const struct raft_entry *last = raft_entry_at(r, raft_last_index(r));
    cJSON_AddNumberToObject(vote, "last_log_term", last ? (double)last->term : 0);
    sim_discard(s, voter, candidate, "raft_vote_res");
    sim_inject(s, candidate, voter, vote);
    cJSON_Delete(vote);
    cJSON *res = NULL;
    if (sim_count(s, voter, candidate, "raft_vote_res", &res) == 0) return -1;
    int granted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "granted"));
    cJSON_Delete(res);
    return granted;
}

/* A restarted follower refuses pre-votes and votes for one minimum election timeout
 * (a lease counts on a node that acked a round not helping elect anyone else within
 * that time), then grants them. It hears no leader meanwhile: its inbound links are
 * cut, and its replies to the candidate wait, held, where the test reads them. */
static void test_restart_refuses_votes(void)
{
    int leader;
    struct sim *s = unit_cluster(3, 7, &leader);
    if (!tap_ok(s != NULL, "durable: a 3-node cluster elects a leader")) return;
    int follower = (leader + 1) % 3, candidate = (leader + 2) % 3;
    for (int k = 0; k < 5; k++)
        sim_propose(s, leader);
    sim_run_until(s, s->now_us + 5 * UNIT_HEARTBEAT_US);
    int64_t last_before = raft_last_index(s->nodes[follower].raft);
    int64_t term_before = raft_term(s->nodes[follower].raft);

    for (int i = 0; i < 3; i++)
        sim_cut(s, i, follower, true);
    sim_hold(s, follower, candidate, true);
    sim_restart(s, follower);
    int64_t restart_us = s->now_us;
    const struct raft *r = s->nodes[follower].raft;
    tap_ok(raft_last_index(r) == last_before && raft_term(r) == term_before &&
               raft_commit_index(r) == 0,
           "durable: a restarted node recovers its term (%" PRId64 ") and log (%" PRId64
           " entries); its commit index starts at 0, to be relearned",
           raft_term(r), raft_last_index(r));

    int64_t term = raft_term(r) + 1;
    int pre_early = vote_granted(s, candidate, follower, true, term);
    sim_run_until(s, restart_us + UNIT_ELECTION_US - 1 * MS);
    int pre_late = vote_granted(s, candidate, follower, true, term);
    int vote_late = vote_granted(s, candidate, follower, false, term);
    tap_ok(pre_early == 0 && pre_late == 0 && vote_late == 0,
           "durable: within one election timeout of its restart a node refuses pre-votes and "
           "votes (at 0 ms: %d, at %d ms: pre-vote %d, vote %d)",
           pre_early, UNIT_ELECTION_US / MS - 1, pre_late, vote_late);
    sim_run_until(s, restart_us + UNIT_ELECTION_US + 1 * MS);
    int pre_after = vote_granted(s, candidate, follower, true, term);
    int vote_after = vote_granted(s, candidate, follower, false, term);
    tap_ok(pre_after == 1 && vote_after == 1,
           "durable: after the election timeout it grants them again (pre-vote %d, vote %d)",
           pre_after, vote_after);
    sim_free(s);
}

/* A node whose window (minimum election timeout) grows after it restarts, as stage 03's
 * does when its recovered log holds a longer lease config, must not campaign before its
 * last leader contact (the restart) plus the new window: a leader's lease may count on
 * that window. Raising the stored value alone left the timer drawn from the old one. It
 * hears no one, and what it sends waits, held, where the test counts it. */
static void test_grown_window_moves_campaign(void)
{
    int leader;
    struct sim *s = unit_cluster(3, 11, &leader);
    if (!tap_ok(s != NULL, "durable: a 3-node cluster elects a leader")) return;
    int follower = (leader + 1) % 3, other = (leader + 2) % 3;
    for (int k = 0; k < 3; k++)
        sim_propose(s, leader);
    sim_run_until(s, s->now_us + 5 * UNIT_HEARTBEAT_US);
    for (int i = 0; i < 3; i++) {
        sim_cut(s, i, follower, true);
        if (i != follower) sim_hold(s, follower, i, true);
    }
    sim_restart(s, follower);
    int64_t restart_us = s->now_us;
    int64_t window_us = 10 * UNIT_ELECTION_US;
    raft_set_election_timeout_us(s->nodes[follower].raft, window_us);
    sim_run_until(s, restart_us + window_us - 1 * MS);
    size_t early = sim_count(s, follower, leader, "raft_vote", NULL) +
                   sim_count(s, follower, other, "raft_vote", NULL);
    sim_run_until(s, restart_us + window_us * 3 / 2 + 1 * MS);
    size_t late = sim_count(s, follower, leader, "raft_vote", NULL);
    tap_ok(early == 0 && late > 0,
           "durable: a window grown to %d ms after a restart holds its own campaign back until "
           "restart + window (vote requests before: %zu, by 1.5 windows: %zu)",
           (int)(window_us / MS), early, late);
    sim_free(s);
}

/* A vote is a promise for the whole term. Node 2 votes for node 0, crashes and comes
 * back: asked by node 1 in the same term, it must refuse. The negative control runs the
 * same with a disk that never records votes: node 2 then votes twice in one term, so
 * nodes 0 and 1 could both win it. */
static int second_vote(bool forget_votes)
{
    struct raft_config config = unit_config();
    struct sim *s = sim_new(3, &config, 11);
    /* Nobody hears anybody, except that node 2's replies wait, held, to be read. */
    for (int i = 0; i < 3; i++)
        sim_isolate(s, i, true);
    for (int i = 0; i < 2; i++) {
        sim_cut(s, 2, i, false);
        sim_hold(s, 2, i, true);
    }
    s->nodes[2].disk.forget_votes = forget_votes;
    int first = vote_granted(s, 0, 2, false, 1);
    sim_restart(s, 2);
    /* Past the restart's refusal window, so only the persisted vote can say no. */
    sim_run_until(s, s->now_us + UNIT_ELECTION_US + 1 * MS);
    int second = vote_granted(s, 1, 2, false, 1);
    sim_free(s);
    return first == 1 ? second : -1;
}

static void test_vote_survives_restart(void)
{
    int kept = second_vote(false);
    tap_ok(kept == 0,
           "durable: a vote survives a restart: the node refuses a second candidate in the "
           "same term (granted: %d)",
           kept);
    int forgot = second_vote(true);
    tap_ok(forgot == 1,
           "durable, negative control: a node whose vote is not persisted votes twice in one "
           "term after a restart (granted: %d), which this test would catch",
           forgot);
}

/* Random crashes in a busy cluster: every 150 ms one node restarts from its disk while
 * proposals keep coming, under drops and reordering. The simulator's safety checks
 * (election safety, log matching, state machine safety, leader completeness) run after
 * every event; a missing persist (a truncation, a vote) shows up as one of them. With
 * snapshot_every > 0 every node also compacts that often, so restarts come back from a
 * snapshot and laggards catch up by InstallSnapshot. */
static void test_restart_chaos(int n, int64_t snapshot_every)
{
    /* Under --quick the compacting runs are a quarter: the plain pass runs them all. */
    int runs = unit_quick && snapshot_every > 0 ? 10 : 40, failed = 0, restarts = 0;
    int64_t commits = 0, loads = 0;
    char first_failure[1200] = "";
    for (int seed = 1; seed <= runs; seed++) {
        struct raft_config config = unit_config();
        struct sim *s = sim_new(n, &config, (uint64_t)seed + 1000);
        s->snapshot_every = snapshot_every;
        s->fifo = false;
        s->drop_percent = 5;
        s->dup_percent = 3;
        for (int64_t t = 0; t < 3000 * MS && !s->failed; t += 10 * MS) {
            sim_run_until(s, t);
            int leader = sim_leader(s);
            if (leader >= 0) sim_propose(s, leader);
            if (t % (150 * MS) == 0 && t > 0) {
                sim_restart(s, (int)sim_random(s, 0, n));
                restarts++;
            }
        }
        /* Quiet down and let everyone catch up: nothing committed may be lost. */
        s->drop_percent = s->dup_percent = 0;
        sim_run_until(s, s->now_us + 40 * UNIT_ELECTION_US);
        if (!s->failed) sim_check_logs(s);
        commits += s->committed_len;
        for (int i = 0; i < n; i++)
            loads += s->nodes[i].snapshot_loads;
        if (s->failed && failed++ == 0)
            snprintf(first_failure, sizeof first_failure, "seed %d: %s: %s", seed + 1000,
                     s->failure_kind, s->failure);
        sim_free(s);
    }
    if (failed) tap_diag("%s", first_failure);
    tap_ok(failed == 0 && commits >= 50 * runs && (snapshot_every == 0 || loads >= runs),
           "durable: %d nodes, %d runs with %d restarts from disk among drops and reordering, "
           "compacting every %" PRId64 " entries (0: never): "
           "Raft's safety properties hold (%.0f entries committed per run, %" PRId64
           " snapshots loaded)",
           n, runs, restarts, snapshot_every, (double)commits / runs, loads);
}

/* §10.2.1, a leader that sends its new entries before its own fsync: it must count its
 * own copy toward the commit only once that fsync is done (await_own_fsync). The run:
 * a 3-node cluster, the leader's link to follower b cut, one entry E proposed and acked
 * by follower a only. Then `crash` (if set) kills the leader before its fsync (E is
 * dropped from its disk) and restarts it, a is cut off and the leader's link to b
 * healed: the leader and b, a majority without E, elect one of them, which puts its own
 * entry at E's index. Reports whether E was committed before the crash; the simulator's
 * state machine safety check judges the rest. */
static bool fsync_race(bool await_own_fsync, bool crash, uint64_t seed, struct sim **out,
                       int64_t *entry_index)
{
    struct raft_config config = unit_config();
    config.await_own_fsync = await_own_fsync;
    struct sim *s = sim_new(3, &config, seed);
    *out = s;
    int leader = sim_wait_leader(s, 10 * UNIT_ELECTION_US);
    if (leader < 0) return false;
    struct raft *r = s->nodes[leader].raft;
    sim_run_until(s, s->now_us + 3 * UNIT_HEARTBEAT_US);
    raft_set_durable_index(r, raft_last_index(r)); /* everything so far is on disk */
    raft_commit_durable(r);
    int a = (leader + 1) % 3, b = (leader + 2) % 3;
    sim_cut(s, leader, b, true);
    int64_t index = sim_propose(s, leader);
    *entry_index = index;
    sim_run_until(s, s->now_us + 5 * UNIT_HEARTBEAT_US);
    bool committed = raft_commit_index(r) >= index;
    if (!crash) return committed;

    /* Killed before its fsync: E never reached the leader's disk. */
    struct sim_node *node = &s->nodes[leader];
    while (node->disk.count >= index)
        cJSON_Delete(node->disk.entries[--node->disk.count].command);
    sim_restart(s, leader);
    sim_isolate(s, a, true);
    sim_cut(s, leader, b, false);
    /* From here on every node's fsync keeps up, reported every 5 ms as node.c's flush
     * hooks would. */
    for (int64_t until_us = s->now_us + 30 * UNIT_ELECTION_US; s->now_us < until_us;) {
        sim_run_until(s, s->now_us + 5 * MS);
        for (int i = 0; i < 3; i++) {
            raft_set_durable_index(s->nodes[i].raft, raft_last_index(s->nodes[i].raft));
            raft_commit_durable(s->nodes[i].raft);
        }
    }
    return committed;
}

static void test_leader_counts_itself_when_durable(void)
{
    struct sim *s;
    int64_t index;
    bool committed = fsync_race(true, false, 41, &s, &index);
    int leader = sim_leader(s);
    bool after = leader >= 0 && raft_commit_durable(s->nodes[leader].raft) &&
                 raft_commit_index(s->nodes[leader].raft) >= index;
    /* The fsync is reported now: E is on two disks, the leader's and a's. */
    if (leader >= 0) raft_set_durable_index(s->nodes[leader].raft, index);
    after = leader >= 0 && raft_commit_durable(s->nodes[leader].raft) &&
            raft_commit_index(s->nodes[leader].raft) >= index && !after;
    tap_ok(!committed && after && !s->failed,
           "durable, parallel fsync: an entry one follower acked is not committed while the "
           "leader's own copy is not on disk (committed: %d), and is once its fsync is "
           "reported (%d)",
           committed, after);
    sim_free(s);

    committed = fsync_race(true, true, 41, &s, &index);
    int64_t later = 0;
    for (int i = 0; i < 3; i++)
        if (raft_commit_index(s->nodes[i].raft) > later)
            later = raft_commit_index(s->nodes[i].raft);
    if (s->failed) tap_diag("%s: %s", s->failure_kind, s->failure);
    tap_ok(!committed && later >= index && !s->failed,
           "durable, parallel fsync: the leader dies before its fsync; the two nodes without "
           "the entry elect a leader that commits its own entry at index %" PRId64
           " (commit %" PRId64 "): no acknowledged entry is lost",
           index, later);
    sim_free(s);

    committed = fsync_race(false, true, 41, &s, &index);
    tap_ok(committed && s->failed,
           "durable, parallel fsync, negative control: a leader that counts its copy before "
           "its fsync commits the entry with one other copy (%d), and the same crash loses it: "
           "%s",
           committed, s->failed ? s->failure : "no violation seen");
    sim_free(s);
}

void test_durable(void)
{
    test_leader_counts_itself_when_durable();
    test_restart_refuses_votes();
    test_grown_window_moves_campaign();
    test_vote_survives_restart();
    test_restart_chaos(3, 0);
    test_restart_chaos(5, 0);
    test_restart_chaos(3, 5);
    test_restart_chaos(5, 5);
}
