/* raft-test: deterministic tests of the Raft core (common/raft.c) on a simulated cluster.
 *
 * Every test drives `struct raft` values through checks/unit/sim.c: virtual time, a
 * network we can cut, hold, delay, reorder, drop and duplicate, and a seeded PRNG. No
 * wall clock is read, so a failure names a seed and replays exactly:
 *     build/raft-test --seed S      (the randomized runs, for that seed only, verbose)
 * Output is TAP for checks/t00-raft-unit.sh. */
#include "tap.h"
#include "trace.h"
#include "unit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 200 seeds per cluster size: enough to hit split votes, elections in a minority,
 * reordered and duplicated appends, while the binary stays well under its time budget. */
#define CHAOS_SEEDS 200
#define CHAOS_RUN_US (6000 * MS)
/* After healing, a leader must be elected and a proposal committed everywhere within
 * this long: several election timeouts, for a pre-vote, a vote and a possibly split
 * first try. */
#define LIVENESS_BOUND_US (20 * UNIT_ELECTION_US)
/* And every node must have applied it within this long: a follower that missed the whole
 * run catches up max_entries_per_append entries per heartbeat, so with one entry per
 * append and a few hundred entries that takes seconds. */
#define CATCH_UP_BOUND_US (20000 * MS)

static long only_seed = -1;            /* --seed S */
static long chaos_seeds = CHAOS_SEEDS; /* --quick: a few, for valgrind and sanitizers */
bool unit_quick;

struct raft_config unit_config(void)
{
    return (struct raft_config){.heartbeat_us = UNIT_HEARTBEAT_US,
                                .election_timeout_us = UNIT_ELECTION_US,
                                .max_entries_per_append = 64};
}

cJSON *unit_message(const char *type, int64_t term)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", type);
    cJSON_AddNumberToObject(body, "term", (double)term);
    return body;
}

struct sim *unit_cluster(int n, uint64_t seed, int *leader)
{
    struct raft_config config = unit_config();
    struct sim *s = sim_new(n, &config, seed);
    *leader = sim_wait_leader(s, 10 * UNIT_ELECTION_US);
    if (*leader < 0 || s->failed) {
        tap_diag("seed %" PRIu64 ": no settled leader after 10 election timeouts%s%s", seed,
                 s->failed ? "; " : "", s->failed ? s->failure : "");
        sim_free(s);
        return NULL;
    }
    /* A heartbeat or two, so every follower has heard from it and rounds are confirmed. */
    sim_run_until(s, s->now_us + 3 * UNIT_HEARTBEAT_US);
    return s;
}

static const char *role_name(const struct sim *s, int i)
{
    return raft_role_name(raft_role(s->nodes[i].raft));
}

static void diag_cluster(const struct sim *s)
{
    for (int i = 0; i < s->n; i++) {
        const struct raft *r = s->nodes[i].raft;
        tap_diag("node %d: %s term %" PRId64 " leader %d last %" PRId64 " commit %" PRId64, i,
                 role_name(s, i), raft_term(r), raft_leader(r), raft_last_index(r),
                 raft_commit_index(r));
    }
}

/* ---- 1. a single-member cluster ---- */

static void test_single_member(void)
{
    struct raft_config config = unit_config();
    struct sim *s = sim_new(1, &config, 1);
    struct raft *r = s->nodes[0].raft;
    bool before = raft_role(r) != RAFT_LEADER;
    raft_tick(r, 0);
    tap_diag("before the tick: %s; after: %s, term %" PRId64, before ? "not leader" : "leader",
             role_name(s, 0), raft_term(r));
    tap_ok(before && raft_role(r) == RAFT_LEADER && raft_leader(r) == 0,
           "single member: leader after one tick");
    tap_diag(
        "commit %" PRId64 ", applied %" PRId64 " (by the callback: %" PRId64 "), no-op at %" PRId64,
        raft_commit_index(r), raft_applied_index(r), s->nodes[0].applied_count, raft_noop_index(r));
    tap_ok(raft_noop_index(r) == 1 && raft_commit_index(r) == 1 && s->nodes[0].applied_count == 1 &&
               s->nodes[0].applied_id[0] == 0,
           "single member: its no-op commits and applies at once");

    cJSON *command = cJSON_CreateObject();
    cJSON_AddNumberToObject(command, "id", 42);
    int64_t index = raft_propose(r, command);
    tap_diag("raft_propose returned %" PRId64 "; commit %" PRId64 ", applied by callback %" PRId64,
             index, raft_commit_index(r), s->nodes[0].applied_count);
    tap_ok(index == 2 && raft_commit_index(r) == 2 && s->nodes[0].applied_count == 2 &&
               s->nodes[0].applied_id[1] == 42 && s->queue_len == 0,
           "single member: raft_propose commits and applies before it returns, sending nothing");

    uint64_t round = raft_round(r);
    size_t reports = s->rounds_len;
    raft_want_round(r, 0);
    tap_ok(raft_confirmed_round(r) == round + 1 && s->rounds_len == reports + 1 &&
               s->rounds[reports].round == round + 1,
           "single member: a wanted round is confirmed at once");
    sim_free(s);
}

/* ---- 2. elections ---- */

static void test_elections(int n)
{
    const int seeds = 100;
    int failures = 0, unstable = 0;
    int64_t worst_us = 0;
    for (int seed = 1; seed <= seeds; seed++) {
        struct raft_config config = unit_config();
        struct sim *s = sim_new(n, &config, (uint64_t)seed);
        int leader = sim_wait_leader(s, 5 * UNIT_ELECTION_US);
        if (leader < 0 || s->failed) {
            if (failures++ < 3) {
                tap_diag("seed %d: no single leader followed by all after %d ms%s%s", seed,
                         5 * UNIT_ELECTION_US / MS, s->failed ? "; " : "",
                         s->failed ? s->failure : "");
                diag_cluster(s);
            }
            sim_free(s);
            continue;
        }
        if (s->now_us > worst_us) worst_us = s->now_us;
        /* With no faults, the leader must stay: nothing should time out. */
        int64_t term = raft_term(s->nodes[leader].raft);
        sim_run_until(s, s->now_us + 10 * UNIT_ELECTION_US);
        if (sim_leader(s) != leader || sim_leader_count(s) != 1 ||
            raft_term(s->nodes[leader].raft) != term || s->failed) {
            if (unstable++ < 3) {
                tap_diag("seed %d: leader %d of term %" PRId64 " did not last 1 s without faults",
                         seed, leader, term);
                diag_cluster(s);
            }
        }
        sim_free(s);
    }
    tap_note("%d nodes: slowest first election settled at %.1f ms", n, (double)worst_us / MS);
    tap_ok(failures == 0,
           "%d nodes, %d seeds: exactly one leader, followed by all, within %d "
           "election timeouts",
           n, seeds, 5);
    tap_ok(unstable == 0, "%d nodes, %d seeds: without faults that leader keeps its term", n,
           seeds);
}

/* ---- 2, 3. safety under chaos, liveness after healing ---- */

struct chaos_result {
    const char *kind; /* NULL: no violation */
    char failure[1100];
    bool live, caught_up;
    int64_t recovery_us, catch_up_us;
    int64_t max_term, commits;
};

/* Changes the network at random: the faults a real cluster meets, more often. */
static void chaos_fault(struct sim *s)
{
    switch (sim_random(s, 0, 8)) {
    case 0:
        sim_heal(s);
        break;
    case 1:
    case 7: {
        /* Often the leader: that is what forces elections and truncations. */
        int victim = sim_leader(s);
        if (victim < 0 || sim_random(s, 0, 2)) victim = (int)sim_random(s, 0, s->n);
        sim_heal(s);
        sim_isolate(s, victim, true);
        break;
    }
    case 2: {
        int group[SIM_MAX_NODES];
        for (int i = 0; i < s->n; i++)
            group[i] = (int)sim_random(s, 0, 3);
        sim_partition(s, group);
        break;
    }
    case 3:
        /* One-way cuts: a node that hears but is not heard, or the reverse. */
        for (int k = 0; k < s->n; k++) {
            int a = (int)sim_random(s, 0, s->n), b = (int)sim_random(s, 0, s->n);
            if (a != b) sim_cut(s, a, b, !s->cut[a][b]);
        }
        break;
    case 4: {
        static const int64_t max_delays_us[] = {5 * MS, 20 * MS, 60 * MS, 90 * MS};
        s->delay_max_us = max_delays_us[sim_random(s, 0, 4)];
        s->fifo = sim_random(s, 0, 2) == 0;
        break;
    }
    case 5:
        s->drop_percent = (int)sim_random(s, 0, 4) * 10;
        s->dup_percent = (int)sim_random(s, 0, 3) * 5;
        break;
    default:
        s->drop_percent = 0;
        s->dup_percent = 0;
        s->delay_max_us = 5 * MS;
        s->fifo = true;
        break;
    }
}

static bool chaos_all_applied(struct sim *s, void *arg)
{
    int64_t index = *(int64_t *)arg;
    for (int i = 0; i < s->n; i++)
        if (raft_applied_index(s->nodes[i].raft) < index) return false;
    return true;
}

struct chaos_commit {
    int leader;
    int64_t index, id;
};

/* The proposal is committed by the leader that took it, and it is still that entry. */
static bool chaos_committed(struct sim *s, void *arg)
{
    const struct chaos_commit *c = arg;
    const struct raft *r = s->nodes[c->leader].raft;
    const struct raft_entry *e = raft_entry_at(r, c->index);
    return raft_commit_index(r) >= c->index && e && sim_command_id(e->command) == c->id;
}

/* The proposal committed, or its leader stopped leading (the entry may be lost, as a
 * client's would be when its leader steps down: then the client tries again). */
static bool chaos_settled(struct sim *s, void *arg)
{
    const struct chaos_commit *c = arg;
    return chaos_committed(s, arg) || raft_role(s->nodes[c->leader].raft) != RAFT_LEADER;
}

/* Heals everything, then: a leader, one proposal that it commits (liveness), and every
 * node applying it (catch-up). */
static void chaos_recover(struct sim *s, struct chaos_result *out)
{
    int64_t healed_us = s->now_us, deadline = healed_us + LIVENESS_BOUND_US;
    sim_heal(s);
    s->drop_percent = 0;
    s->dup_percent = 0;
    s->delay_max_us = 5 * MS;
    out->live = out->caught_up = false;
    while (!s->failed && s->now_us < deadline) {
        struct chaos_commit c = {.leader = sim_wait_leader(s, deadline)};
        if (c.leader < 0) break;
        c.index = sim_propose(s, c.leader);
        c.id = s->next_command_id - 1;
        /* A leader can still lose its term (to a higher one, or to CheckQuorum when the
         * heal came just after a cut): then retry with whoever leads next. */
        if (sim_run_while_not(s, deadline, chaos_settled, &c) && chaos_committed(s, &c)) {
            out->live = true;
            out->recovery_us = s->now_us - healed_us;
            out->caught_up =
                sim_run_while_not(s, healed_us + CATCH_UP_BOUND_US, chaos_all_applied, &c.index);
            out->catch_up_us = s->now_us - healed_us;
            return;
        }
    }
    out->recovery_us = s->now_us - healed_us;
}

static void chaos_run(int n, uint64_t seed, struct chaos_result *out)
{
    *out = (struct chaos_result){0};
    struct raft_config config = unit_config();
    /* One entry per append on some seeds: a new leader then re-replicates an old term's
     * entries before its own no-op, the opening of the Figure 3.7 (Figure 8) trap. */
    static const int batch_sizes[] = {1, 2, 64};
    config.max_entries_per_append = batch_sizes[seed % 3];
    struct sim *s = sim_new(n, &config, seed);
    int64_t next_fault_us = sim_random(s, 50 * MS, 300 * MS);
    while (!s->failed && s->now_us < CHAOS_RUN_US) {
        sim_run_until(s, s->now_us + sim_random(s, 2 * MS, 30 * MS));
        /* Clients write to whoever believes it leads, stale leaders included: their
         * entries are the ones that must never be mistaken for committed. */
        for (int i = 0; i < n; i++)
            if (raft_role(s->nodes[i].raft) == RAFT_LEADER && sim_random(s, 0, 10) < 7) {
                sim_propose(s, i);
                if (sim_random(s, 0, 4) == 0) {
                    raft_want_round(s->nodes[i].raft, s->now_us);
                    sim_poke(s, i);
                }
            }
        if (s->now_us >= next_fault_us) {
            chaos_fault(s);
            next_fault_us = s->now_us + sim_random(s, 20 * MS, 300 * MS);
        }
    }
    if (!s->failed) chaos_recover(s, out);
    if (!s->failed) sim_check_logs(s);
    out->kind = s->failed ? s->failure_kind : NULL;
    snprintf(out->failure, sizeof out->failure, "%s", s->failed ? s->failure : "");
    out->max_term = 0;
    for (int i = 0; i < n; i++)
        if (raft_term(s->nodes[i].raft) > out->max_term)
            out->max_term = raft_term(s->nodes[i].raft);
    out->commits = s->committed_len;
    if (only_seed >= 0) {
        tap_note("seed %" PRIu64 ", %d nodes: %" PRIu64 " events, %" PRIu64
                 " messages delivered, final term %" PRId64 ", %" PRId64 " entries committed",
                 seed, n, s->events, s->messages_delivered, out->max_term, out->commits);
        tap_note("healed: commit after %.1f ms (%s), all applied after %.1f ms (%s)%s%s",
                 (double)out->recovery_us / MS, out->live ? "yes" : "no",
                 (double)out->catch_up_us / MS, out->caught_up ? "yes" : "no",
                 s->failed ? "; " : "", s->failed ? s->failure : "");
        for (int i = 0; i < n; i++) {
            const struct raft *r = s->nodes[i].raft;
            tap_note("node %d: %s term %" PRId64 " leader %d last %" PRId64 " commit %" PRId64
                     " applied %" PRId64,
                     i, role_name(s, i), raft_term(r), raft_leader(r), raft_last_index(r),
                     raft_commit_index(r), raft_applied_index(r));
        }
    }
    sim_free(s);
}

static void test_chaos(int n)
{
    static const char *const kinds[] = {SIM_ELECTION_SAFETY, SIM_LOG_MATCHING, SIM_STATE_MACHINE,
                                        SIM_LEADER_COMPLETENESS, SIM_MONOTONIC};
    static const char *const shows[] = {
        "never two leaders in one term",
        "log matching: same index and term -> identical logs up to there",
        "state machine safety: every node applies the same entry at each index, once, in order",
        "leader completeness: every later leader holds every committed entry",
        "no node's term or commit index ever goes back"};
    enum { KINDS = sizeof kinds / sizeof *kinds };
    /* The first few failures of each kind, to print with that kind's result. */
    enum { SHOWN = 3 };
    static char examples[KINDS + 2][SHOWN][1200];
    int violations[KINDS] = {0}, dead = 0, behind = 0, runs = 0;
    int64_t worst_recovery_us = 0, worst_catch_up_us = 0, terms = 0, commits = 0;
    long first = only_seed >= 0 ? only_seed : 1, last = only_seed >= 0 ? only_seed : chaos_seeds;
    for (long seed = first; seed <= last; seed++) {
        struct chaos_result r;
        chaos_run(n, (uint64_t)seed, &r);
        runs++;
        terms += r.max_term;
        commits += r.commits;
        for (int k = 0; k < KINDS; k++)
            if (r.kind && strcmp(r.kind, kinds[k]) == 0 && violations[k]++ < SHOWN)
                snprintf(examples[k][violations[k] - 1], sizeof examples[k][0],
                         "seed %ld (replay: raft-test --seed %ld): %s", seed, seed, r.failure);
        if (r.kind) continue;
        if (!r.live && dead++ < SHOWN)
            snprintf(examples[KINDS][dead - 1], sizeof examples[KINDS][0],
                     "seed %ld (replay: raft-test --seed %ld): no commit within %d ms of healing",
                     seed, seed, LIVENESS_BOUND_US / MS);
        if (r.live && !r.caught_up && behind++ < SHOWN)
            snprintf(examples[KINDS + 1][behind - 1], sizeof examples[KINDS + 1][0],
                     "seed %ld (replay: raft-test --seed %ld): not applied everywhere within "
                     "%d ms of healing",
                     seed, seed, CATCH_UP_BOUND_US / MS);
        if (r.live && r.recovery_us > worst_recovery_us) worst_recovery_us = r.recovery_us;
        if (r.caught_up && r.catch_up_us > worst_catch_up_us) worst_catch_up_us = r.catch_up_us;
    }
    tap_note("%d nodes, %d chaotic runs of %d ms: mean final term %.1f, mean %.0f entries "
             "committed; after healing, slowest commit %.1f ms, slowest full catch-up %.1f ms",
             n, runs, CHAOS_RUN_US / MS, (double)terms / runs, (double)commits / runs,
             (double)worst_recovery_us / MS, (double)worst_catch_up_us / MS);
    /* The runs must have done something, or every property below holds vacuously. */
    tap_ok(terms >= 4 * runs && commits >= 20 * runs,
           "%d nodes: the chaotic runs forced elections and commits (mean term %.1f, %.0f "
           "commits)",
           n, (double)terms / runs, (double)commits / runs);
    for (int k = 0; k < KINDS; k++) {
        if (violations[k]) tap_diag("violated in %d of %d seeds; the first:", violations[k], runs);
        for (int i = 0; i < violations[k] && i < SHOWN; i++)
            tap_diag("%s", examples[k][i]);
        tap_ok(violations[k] == 0,
               "%d nodes, %d seeds of partitions, drops, duplicates, "
               "reordering: %s",
               n, runs, shows[k]);
    }
    if (dead) tap_diag("no recovery in %d of %d seeds; the first:", dead, runs);
    for (int i = 0; i < dead && i < SHOWN; i++)
        tap_diag("%s", examples[KINDS][i]);
    tap_ok(dead == 0,
           "%d nodes: after healing, a leader is elected and commits a proposal "
           "within %d ms (liveness)",
           n, LIVENESS_BOUND_US / MS);
    if (behind) tap_diag("not caught up in %d of %d seeds; the first:", behind, runs);
    for (int i = 0; i < behind && i < SHOWN; i++)
        tap_diag("%s", examples[KINDS + 1][i]);
    /* Seed 42 with 5 nodes found the wedged follower of raft_regress.c. */
    tap_ok(behind == 0, "%d nodes: then every node applies it within %d ms", n,
           CATCH_UP_BOUND_US / MS);
}

/* ---- 3. liveness after a partition that leaves no majority ---- */

static void test_liveness_no_majority(void)
{
    int leader;
    struct sim *s = unit_cluster(5, 7, &leader);
    if (!tap_ok(s != NULL, "liveness: a 5-node cluster elects a leader")) return;
    /* Three islands {leader, a}, {b, c}, {d}: nobody can commit. */
    int group[5], k = 0;
    group[leader] = 0;
    for (int i = 0; i < 5; i++)
        if (i != leader) group[i] = k++ < 1 ? 0 : k <= 3 ? 1 : 2;
    sim_partition(s, group);
    int64_t commit_before = raft_commit_index(s->nodes[leader].raft);
    int64_t stuck_index = sim_propose(s, leader);
    sim_run_until(s, s->now_us + 20 * UNIT_ELECTION_US);
    int leaders = sim_leader_count(s);
    bool no_progress = true;
    for (int i = 0; i < 5; i++)
        if (raft_commit_index(s->nodes[i].raft) > commit_before) no_progress = false;
    diag_cluster(s);
    tap_ok(!s->failed && leaders == 0 && no_progress && stuck_index > 0,
           "liveness: split three ways, no side keeps a leader (CheckQuorum) or commits");

    int64_t healed_us = s->now_us;
    sim_heal(s);
    int now_leader = sim_wait_leader(s, healed_us + LIVENESS_BOUND_US);
    int64_t index = now_leader >= 0 ? sim_propose(s, now_leader) : -1;
    bool committed =
        index > 0 && sim_run_while_not(s, healed_us + LIVENESS_BOUND_US, chaos_all_applied, &index);
    tap_diag("healed at %.1f ms; leader %d; proposal at %" PRId64 "; now %.1f ms%s%s",
             (double)healed_us / MS, now_leader, index, (double)s->now_us / MS,
             s->failed ? "; " : "", s->failed ? s->failure : "");
    diag_cluster(s);
    tap_ok(!s->failed && committed,
           "liveness: after healing, a leader is elected and a proposal applies on all 5 "
           "within %d ms (took %.1f ms)",
           LIVENESS_BOUND_US / MS, (double)(s->now_us - healed_us) / MS);
    sim_free(s);
}

/* ---- 4. PreVote ---- */

static void test_prevote(void)
{
    const int seeds = 20;
    int inflated = 0, deposed = 0, setup = 0;
    for (int seed = 1; seed <= seeds; seed++) {
        int leader;
        struct sim *s = unit_cluster(5, (uint64_t)seed, &leader);
        if (!s) {
            setup++;
            continue;
        }
        int lonely = (leader + 1) % 5;
        int64_t term = raft_term(s->nodes[lonely].raft);
        sim_isolate(s, lonely, true);
        /* Long enough for a dozen of its own election timeouts. */
        sim_run_until(s, s->now_us + 20 * UNIT_ELECTION_US);
        int64_t lonely_term = raft_term(s->nodes[lonely].raft);
        enum raft_role lonely_role = raft_role(s->nodes[lonely].raft);
        if (lonely_term != term || lonely_role == RAFT_CANDIDATE) {
            if (inflated++ < 3)
                tap_diag("seed %d: node %d alone for 2 s went from term %" PRId64 " to %" PRId64
                         " (%s)",
                         seed, lonely, term, lonely_term, raft_role_name(lonely_role));
        }
        sim_isolate(s, lonely, false);
        sim_run_until(s, s->now_us + 10 * UNIT_ELECTION_US);
        if (s->failed || sim_leader(s) != leader || raft_term(s->nodes[leader].raft) != term ||
            raft_leader(s->nodes[lonely].raft) != leader ||
            raft_term(s->nodes[lonely].raft) != term) {
            if (deposed++ < 3) {
                tap_diag(
                    "seed %d: after node %d rejoined, expected leader %d in term %" PRId64 "%s%s",
                    seed, lonely, leader, term, s->failed ? "; " : "", s->failed ? s->failure : "");
                diag_cluster(s);
            }
        }
        sim_free(s);
    }
    tap_ok(setup == 0 && inflated == 0,
           "PreVote: a node cut off alone for 20 election timeouts keeps its term (%d seeds)",
           seeds);
    tap_ok(setup == 0 && deposed == 0,
           "PreVote: on rejoining it follows the same leader, whose term is unchanged (%d seeds)",
           seeds);
}

/* ---- 5. stickiness ---- */

/* A (pre)vote from `from` that would win on any log: a much later term, a long log. */
static cJSON *strong_vote(int64_t term, bool pre_vote)
{
    cJSON *vote = unit_message("raft_vote", term);
    cJSON_AddBoolToObject(vote, "pre_vote", pre_vote);
    cJSON_AddNumberToObject(vote, "last_log_index", 1000);
    cJSON_AddNumberToObject(vote, "last_log_term", (double)term);
    return vote;
}

/* Injects the vote into `to` and returns whether its reply (queued to `from`) granted it;
 * *replied says whether there was a reply at all. */
static bool vote_granted(struct sim *s, int from, int to, int64_t term, bool pre_vote,
                         bool *replied)
{
    sim_discard(s, to, from, "raft_vote_res");
    cJSON *vote = strong_vote(term, pre_vote);
    sim_inject(s, from, to, vote);
    cJSON_Delete(vote);
    cJSON *res = NULL;
    *replied = sim_count(s, to, from, "raft_vote_res", &res) > 0;
    bool granted = res && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "granted"));
    cJSON_Delete(res);
    return granted;
}

static void test_stickiness(void)
{
    int leader;
    struct sim *s = unit_cluster(3, 11, &leader);
    if (!tap_ok(s != NULL, "stickiness: a 3-node cluster elects a leader")) return;
    int follower = (leader + 1) % 3, other = (leader + 2) % 3;
    int64_t term = raft_term(s->nodes[leader].raft);

    /* Pin down when the follower last heard from the leader: hold the leader's appends,
     * hand it exactly one, and drop the rest. */
    sim_hold(s, leader, follower, true);
    sim_run_until(s, s->now_us + 2 * UNIT_HEARTBEAT_US);
    bool handed = sim_deliver_one(s, leader, follower, "raft_append", -1);
    int64_t contact_us = s->now_us;
    sim_discard(s, leader, follower, NULL);

    sim_run_until(s, contact_us + UNIT_ELECTION_US - 1 * MS);
    sim_discard(s, leader, follower, NULL);
    bool replied_vote, replied_pre;
    bool vote = vote_granted(s, other, follower, term + 5, false, &replied_vote);
    bool pre = vote_granted(s, other, follower, term + 5, true, &replied_pre);
    int64_t follower_term = raft_term(s->nodes[follower].raft);
    tap_diag("1 ms before the window closes: vote %s, pre-vote %s, follower term %" PRId64
             " (leader's %" PRId64 ")",
             vote           ? "granted"
             : replied_vote ? "refused"
                            : "unanswered",
             pre           ? "granted"
             : replied_pre ? "refused"
                           : "unanswered",
             follower_term, term);
    tap_ok(handed && replied_vote && replied_pre && !vote && !pre && follower_term == term,
           "stickiness: a follower that heard from the leader within the minimum election "
           "timeout refuses a vote and a pre-vote for a later term, and keeps its term");

    /* The leader's own contact is its majority's last ack. */
    bool leader_vote = vote_granted(s, follower, leader, term + 5, false, &replied_vote);
    bool leader_pre = vote_granted(s, follower, leader, term + 5, true, &replied_pre);
    tap_diag("leader: vote %s, pre-vote %s; now %s in term %" PRId64,
             leader_vote    ? "granted"
             : replied_vote ? "refused"
                            : "unanswered",
             leader_pre    ? "granted"
             : replied_pre ? "refused"
                           : "unanswered",
             role_name(s, leader), raft_term(s->nodes[leader].raft));
    tap_ok(replied_vote && replied_pre && !leader_vote && !leader_pre &&
               raft_role(s->nodes[leader].raft) == RAFT_LEADER &&
               raft_term(s->nodes[leader].raft) == term,
           "stickiness: a leader in contact with a majority refuses both, keeps its term and "
           "stays leader");

    /* The window closes an election timeout after the contact: the same vote now wins,
     * so the refusals above were stickiness, not a malformed message. */
    sim_run_until(s, contact_us + UNIT_ELECTION_US + 1 * MS);
    bool late_pre = vote_granted(s, other, follower, term + 5, true, &replied_pre);
    int64_t term_after_pre = raft_term(s->nodes[follower].raft);
    bool late_vote = vote_granted(s, other, follower, term + 5, false, &replied_vote);
    tap_diag("1 ms after: pre-vote %s (term then %" PRId64 "), vote %s, follower term %" PRId64,
             late_pre ? "granted" : "refused", term_after_pre, late_vote ? "granted" : "refused",
             raft_term(s->nodes[follower].raft));
    tap_ok(late_pre && term_after_pre == term && late_vote &&
               raft_term(s->nodes[follower].raft) == term + 5,
           "stickiness: once an election timeout has passed since the contact, the pre-vote is "
           "granted (term unchanged) and the vote is granted (term adopted)");
    sim_free(s);
}

/* ---- 6. CheckQuorum ---- */

static bool node_not_leader(struct sim *s, void *arg)
{
    return raft_role(s->nodes[*(int *)arg].raft) != RAFT_LEADER;
}

static void test_check_quorum(int n)
{
    int leader;
    struct sim *s = unit_cluster(n, 21, &leader);
    if (!tap_ok(s != NULL, "CheckQuorum: a %d-node cluster elects a leader", n)) return;
    int64_t term = raft_term(s->nodes[leader].raft);
    int64_t cut_us = s->now_us;
    sim_isolate(s, leader, true);
    bool stepped = sim_run_while_not(s, cut_us + 5 * UNIT_ELECTION_US, node_not_leader, &leader);
    int64_t after_us = s->now_us - cut_us;
    /* Its last majority ack arrived at most a heartbeat and a round trip before the cut,
     * so it must step down between E - (heartbeat + 2 * max delay) and E after it. */
    int64_t earliest_us = UNIT_ELECTION_US - UNIT_HEARTBEAT_US - 2 * s->delay_max_us;
    tap_diag("cut at %.1f ms; leader %d %s after %.1f ms (allowed %.1f..%.1f ms), term %" PRId64
             " -> %" PRId64,
             (double)cut_us / MS, leader, stepped ? "stepped down" : "still leader",
             (double)after_us / MS, (double)earliest_us / MS, (double)UNIT_ELECTION_US / MS, term,
             raft_term(s->nodes[leader].raft));
    tap_ok(stepped && after_us >= earliest_us && after_us <= UNIT_ELECTION_US &&
               raft_term(s->nodes[leader].raft) == term,
           "CheckQuorum (%d nodes): a leader cut off from the majority steps down within one "
           "election timeout, without raising its term",
           n);
    sim_free(s);

    struct raft_config config = unit_config();
    config.without_check_quorum = true;
    s = sim_new(n, &config, 21);
    leader = sim_wait_leader(s, 10 * UNIT_ELECTION_US);
    bool elected = leader >= 0;
    if (elected) {
        sim_isolate(s, leader, true);
        sim_run_until(s, s->now_us + 10 * UNIT_ELECTION_US);
    }
    tap_ok(elected && raft_role(s->nodes[leader].raft) == RAFT_LEADER && !s->failed,
           "without_check_quorum (%d nodes): the cut-off leader is still leader 10 election "
           "timeouts later",
           n);
    sim_free(s);
}

/* ---- 7. rounds ---- */

static const struct sim_round *round_report(const struct sim *s, size_t from)
{
    return s->rounds_len > from ? &s->rounds[s->rounds_len - 1] : NULL;
}

/* A forced broadcast: a proposal always goes out at flush, round in flight or not. */
static uint64_t new_round(struct sim *s, int leader, int64_t *sent_us)
{
    sim_propose(s, leader);
    *sent_us = s->now_us;
    return raft_round(s->nodes[leader].raft);
}

static void test_rounds(void)
{
    int leader;
    struct sim *s = unit_cluster(3, 31, &leader);
    if (!tap_ok(s != NULL, "rounds: a 3-node cluster elects a leader")) return;
    int a = (leader + 1) % 3, b = (leader + 2) % 3;
    struct raft *r = s->nodes[leader].raft;
    int64_t term = raft_term(r);
    /* Every link held: only what the test hands over is delivered, in the order given. */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            sim_hold(s, i, j, true);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            sim_discard(s, i, j, NULL);

    int64_t t1, t2;
    uint64_t r1 = new_round(s, leader, &t1);
    sim_deliver_one(s, leader, a, "raft_append", (int64_t)r1);
    sim_deliver_one(s, leader, b, "raft_append", (int64_t)r1);
    sim_run_until(s, s->now_us + 1 * MS);
    uint64_t r2 = new_round(s, leader, &t2);
    sim_deliver_one(s, leader, a, "raft_append", (int64_t)r2);
    sim_deliver_one(s, leader, b, "raft_append", (int64_t)r2);
    uint64_t confirmed_before = raft_confirmed_round(r);
    size_t mark = s->rounds_len;
    tap_diag("rounds %" PRIu64 " (sent %.1f ms) and %" PRIu64 " (sent %.1f ms) in flight; "
             "confirmed %" PRIu64,
             r1, (double)t1 / MS, r2, (double)t2 / MS, confirmed_before);
    tap_ok(r2 == r1 + 1 && confirmed_before < r1 && s->rounds_len == mark,
           "rounds: nothing is confirmed while every ack is held");

    bool got = sim_deliver_one(s, a, leader, "raft_append_res", (int64_t)r1);
    const struct sim_round *rep = round_report(s, mark);
    tap_diag("after %d's ack of %" PRIu64 ": %zu report(s), last round %" PRIu64 " sent %.1f ms; "
             "confirmed %" PRIu64,
             a, r1, s->rounds_len - mark, rep ? rep->round : 0,
             rep ? (double)rep->sent_us / MS : -1.0, raft_confirmed_round(r));
    tap_ok(got && s->rounds_len == mark + 1 && rep->round == r1 && rep->sent_us == t1 &&
               raft_confirmed_round(r) == r1,
           "rounds: one follower's ack of round %" PRIu64 " (plus the leader) confirms that round, "
           "with its send time, and not the newer one",
           r1);

    mark = s->rounds_len;
    got = sim_deliver_one(s, b, leader, "raft_append_res", (int64_t)r1);
    tap_diag("after %d's ack of %" PRIu64 ": %zu new report(s); confirmed %" PRIu64, b, r1,
             s->rounds_len - mark, raft_confirmed_round(r));
    tap_ok(got && s->rounds_len == mark && raft_confirmed_round(r) == r1,
           "rounds: a second, older ack (of round %" PRIu64 ") does not confirm round %" PRIu64, r1,
           r2);

    got = sim_deliver_one(s, a, leader, "raft_append_res", (int64_t)r2);
    rep = round_report(s, mark);
    tap_ok(got && s->rounds_len == mark + 1 && rep->round == r2 && rep->sent_us == t2,
           "rounds: an ack that echoes round %" PRIu64 " confirms it, with its send time", r2);

    /* A later round's ack vouches for the earlier round too: the follower answered after
     * both began. Only the newest is reported. */
    int64_t t3, t4;
    uint64_t r3 = new_round(s, leader, &t3);
    sim_run_until(s, s->now_us + 1 * MS);
    uint64_t r4 = new_round(s, leader, &t4);
    sim_deliver_one(s, leader, b, "raft_append", (int64_t)r3);
    sim_deliver_one(s, leader, b, "raft_append", (int64_t)r4);
    mark = s->rounds_len;
    /* b's ack of r3 stays held: only its ack of r4 reaches the leader. */
    sim_deliver_one(s, b, leader, "raft_append_res", (int64_t)r4);
    rep = round_report(s, mark);
    tap_diag("rounds %" PRIu64 " and %" PRIu64 " in flight, only an ack of %" PRIu64
             ": %zu report(s), last %" PRIu64,
             r3, r4, r4, s->rounds_len - mark, rep ? rep->round : 0);
    tap_ok(rep && rep->round == r4 && rep->sent_us == t4 && raft_confirmed_round(r) == r4,
           "rounds: an ack of a later round confirms it (and so every earlier one)");

    /* An ack from an earlier term echoing a round in flight now: it must not count, or a
     * follower that has since moved on could vouch for this leader. */
    int64_t t5;
    uint64_t r5 = new_round(s, leader, &t5);
    mark = s->rounds_len;
    cJSON *ack = unit_message("raft_append_res", term - 1);
    cJSON_AddBoolToObject(ack, "success", true);
    cJSON_AddNumberToObject(ack, "match_index", 0);
    cJSON_AddNumberToObject(ack, "conflict_index", 0);
    cJSON_AddNumberToObject(ack, "round", (double)r5);
    cJSON_AddNumberToObject(ack, "incarnation", (double)s->nodes[leader].lives);
    sim_inject(s, a, leader, ack);
    sim_inject(s, b, leader, ack);
    bool stale_confirmed = s->rounds_len != mark || raft_confirmed_round(r) >= r5;
    cJSON_ReplaceItemInObjectCaseSensitive(ack, "term", cJSON_CreateNumber((double)term));
    sim_inject(s, a, leader, ack);
    rep = round_report(s, mark);
    tap_diag("round %" PRIu64 ": acks of term %" PRId64 " %s; then one of term %" PRId64 " %s", r5,
             term - 1, stale_confirmed ? "confirmed it" : "did not confirm it", term,
             rep && rep->round == r5 ? "confirmed it" : "did not confirm it");
    tap_ok(!stale_confirmed && rep && rep->round == r5 && rep->term == term,
           "rounds: acks of a previous term never confirm a round (the same ack in the current "
           "term does)");

    /* The same for another life of this leader: round ids restart at 0 in every life, so
     * an ack echoing the right term and round but an earlier incarnation is not for us. */
    int64_t t6;
    uint64_t r6 = new_round(s, leader, &t6);
    mark = s->rounds_len;
    cJSON_ReplaceItemInObjectCaseSensitive(ack, "round", cJSON_CreateNumber((double)r6));
    cJSON_ReplaceItemInObjectCaseSensitive(ack, "incarnation",
                                           cJSON_CreateNumber((double)s->nodes[leader].lives + 1));
    sim_inject(s, a, leader, ack);
    sim_inject(s, b, leader, ack);
    bool other_life_confirmed = s->rounds_len != mark || raft_confirmed_round(r) >= r6;
    cJSON_ReplaceItemInObjectCaseSensitive(ack, "incarnation",
                                           cJSON_CreateNumber((double)s->nodes[leader].lives));
    sim_inject(s, a, leader, ack);
    rep = round_report(s, mark);
    tap_ok(!other_life_confirmed && rep && rep->round == r6,
           "rounds: acks addressed to another life of the leader never confirm a round (the same "
           "ack echoing its own incarnation does)");
    cJSON_Delete(ack);
    tap_ok(!s->failed, "rounds: no safety violation along the way%s%s", s->failed ? ": " : "",
           s->failed ? s->failure : "");
    sim_free(s);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            trace_verbose = true;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            only_seed = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--quick") == 0) {
            chaos_seeds = 5;
            unit_quick = true;
        } else {
            fprintf(stderr,
                    "usage: %s [-v] [--seed S] [--quick]\n"
                    "  Deterministic tests of the Raft core; prints TAP.\n"
                    "  -v         the core's traces on stderr\n"
                    "  --seed S   only the randomized runs, for seed S (to replay a failure)\n"
                    "  --quick    5 randomized seeds instead of 200 (for valgrind)\n",
                    argv[0]);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (only_seed >= 0) {
        test_chaos(3);
        test_chaos(5);
        return tap_done();
    }
    test_single_member();
    test_elections(3);
    test_elections(5);
    test_chaos(3);
    test_chaos(5);
    test_liveness_no_majority();
    test_prevote();
    test_stickiness();
    test_check_quorum(3);
    test_check_quorum(5);
    test_rounds();
    test_regressions();
    test_durable();
    test_snapshots();
    return tap_done();
}
