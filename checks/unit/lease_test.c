/* lease-test: stage 03's lease (stages/03-lease-reads/lease_state.c) and its rule
 * (lease_rule.c) driven in virtual time, the twins of t03-experiment.sh's clock cases
 * and of t03-restart-window.sh.
 *
 * Every node of a simulated cluster (checks/unit/sim.c) carries one lease_state and one
 * state machine, fed the same Raft events that lease.c hands them in a node, on the
 * node's own clock: the simulator gives each node a rate, so a follower's election
 * timeout can end early on the leader's clock, as drift allows. Two things are watched
 * every virtual millisecond: how many nodes hold a valid lease at once (more than one
 * means a lease outlived the promise it rests on), and every lease read at the old
 * leader (lease_state_read: the value, then a fresh clock reading, then the check),
 * which is stale if a write with a newer value was committed before the read.
 * Output is TAP for checks/t03-virtual.sh; each case prints its arithmetic. */
#include "../../stages/03-lease-reads/lease_rule.h"
#include "../../stages/03-lease-reads/lease_state.h"
#include "proto.h"
#include "sim.h"
#include "tap.h"
#include "trace.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000 /* virtual time is in microseconds */

struct twin;

/* A node's clock, as lease_state_read asks for it. */
struct twin_clock {
    struct twin *t;
    int node;
};

struct twin {
    struct sim *s;
    struct lease_state leases[SIM_MAX_NODES];
    struct kv *kvs[SIM_MAX_NODES];
    struct twin_clock clocks[SIM_MAX_NODES];
    struct lease_allowance allowance;  /* the flags' config: no config in any log */
    int64_t contact_us[SIM_MAX_NODES]; /* virtual time of each node's last leader contact */
    cJSON *key;
};

static void twin_leadership_changed(void *ctx, int node)
{
    struct twin *t = ctx;
    lease_state_leadership_changed(&t->leases[node], t->s->nodes[node].raft);
}

static void twin_round_confirmed(void *ctx, int node, uint64_t round, int64_t sent_us,
                                 int64_t commit_index)
{
    struct twin *t = ctx;
    (void)commit_index;
    lease_state_round_confirmed(&t->leases[node], t->s->nodes[node].raft, &t->allowance, round,
                                sent_us, sim_clock_us(t->s, node));
}

static void twin_applied(void *ctx, int node, int64_t index, const struct raft_entry *entry)
{
    struct twin *t = ctx;
    (void)index;
    kv_apply(t->kvs[node], entry->command);
}

static void twin_leader_contact(void *ctx, int node, int leader, const cJSON *piggyback,
                                int64_t now_us)
{
    struct twin *t = ctx;
    (void)leader, (void)piggyback, (void)now_us;
    t->contact_us[node] = t->s->now_us;
}

static int64_t twin_now_us(void *clock)
{
    const struct twin_clock *c = clock;
    return sim_clock_us(c->t->s, c->node);
}

static struct twin *twin_new(int n, const struct raft_config *config, uint64_t seed,
                             int64_t effective_us)
{
    struct twin *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->s = sim_new(n, config, seed);
    /* Raft's own safety is raft-test's subject: the logs are checked now and then and at
     * the end, which keeps a run to milliseconds. */
    t->s->log_check_every = 1024;
    t->allowance = (struct lease_allowance){.latest_effective_us = effective_us,
                                            .min_effective_us = effective_us};
    t->key = cJSON_CreateString("x");
    for (int i = 0; i < n; i++) {
        lease_state_init(&t->leases[i], n);
        t->kvs[i] = kv_new();
        t->clocks[i] = (struct twin_clock){.t = t, .node = i};
    }
    sim_set_hooks(t->s, &(struct sim_hooks){.ctx = t,
                                            .leadership_changed = twin_leadership_changed,
                                            .round_confirmed = twin_round_confirmed,
                                            .applied = twin_applied,
                                            .leader_contact = twin_leader_contact});
    return t;
}

static void twin_free(struct twin *t)
{
    for (int i = 0; i < t->s->n; i++) {
        lease_state_free(&t->leases[i]);
        kv_free(t->kvs[i]);
    }
    cJSON_Delete(t->key);
    sim_free(t->s);
    free(t);
}

/* A restart from disk: a new process, so no lease and a state machine rebuilt as entries
 * commit again. */
static void twin_restart(struct twin *t, int node, bool without_window)
{
    lease_state_free(&t->leases[node]);
    lease_state_init(&t->leases[node], t->s->n);
    kv_free(t->kvs[node]);
    t->kvs[node] = kv_new();
    if (without_window)
        sim_restart_without_window(t->s, node);
    else
        sim_restart(t->s, node);
}

/* x := the command's id, so a newer write has a larger value. */
static int64_t twin_write(struct twin *t, int node)
{
    int64_t value = t->s->next_command_id;
    cJSON *command = cJSON_CreateObject();
    cJSON_AddStringToObject(command, "type", "write");
    cJSON_AddStringToObject(command, "key", "x");
    cJSON_AddNumberToObject(command, "value", (double)value);
    return sim_propose_command(t->s, node, command) >= 0 ? value : -1;
}

/* The newest value of x committed (first applied anywhere) before virtual time at_us. */
static int64_t committed_before(const struct sim *s, int64_t at_us)
{
    int64_t newest = 0;
    for (int64_t i = 0; i < s->committed_len; i++)
        if (s->committed[i].applied_us < at_us && s->committed[i].id > newest)
            newest = s->committed[i].id;
    return newest;
}

static bool round_confirmed_at(struct sim *s, void *arg)
{
    const int *watch = arg; /* {node, rounds_len before} */
    for (size_t i = (size_t)watch[1]; i < s->rounds_len; i++)
        if (s->rounds[i].node == watch[0]) return true;
    return false;
}

/* Runs until a round of `node` is confirmed (a lease just granted or extended), so a cut
 * right after leaves the lease at its longest. Returns that round's send time. */
static int64_t run_to_confirmed_round(struct sim *s, int node, int64_t until_us)
{
    int watch[2] = {node, (int)s->rounds_len};
    if (!sim_run_while_not(s, until_us, round_confirmed_at, watch)) return RAFT_UNKNOWN_TIME;
    return s->rounds[s->rounds_len - 1].sent_us;
}

/* What a run saw after the old leader was cut off, every virtual ms. */
struct watch {
    int old_leader, new_leader;
    int64_t cut_us, elected_us, new_write_value;
    int64_t old_lease_end_us; /* the old leader's lease end, on its clock (= virtual) */
    int64_t overlap_from_us, overlap_to_us, overlap_ms;
    int64_t new_lease_from_us; /* first ms the new leader held a valid lease */
    int64_t lease_reads, stale_reads, first_stale_us, last_stale_us;
    int64_t last_lease_read_us;
    int64_t write_committed_us; /* the new leader's write, first applied; -1: never */
};

static void watch_run(struct twin *t, struct watch *w, int64_t until_us)
{
    struct sim *s = t->s;
    w->new_leader = -1;
    w->overlap_from_us = w->new_lease_from_us = w->first_stale_us = w->write_committed_us = -1;
    w->old_lease_end_us = t->leases[w->old_leader].expires_us;
    while (s->now_us < until_us && !s->failed) {
        sim_run_until(s, s->now_us + 1 * MS);
        int leader = sim_leader(s);
        if (leader >= 0 && leader != w->old_leader && w->new_leader < 0) {
            w->new_leader = leader;
            w->elected_us = s->now_us;
        }
        if (w->new_leader >= 0 && w->new_write_value <= 0 &&
            raft_applied_index(s->nodes[w->new_leader].raft) >=
                raft_noop_index(s->nodes[w->new_leader].raft))
            w->new_write_value = twin_write(t, w->new_leader);
        int holders = 0;
        for (int i = 0; i < s->n; i++)
            if (lease_state_valid(&t->leases[i], s->nodes[i].raft, sim_clock_us(s, i))) {
                holders++;
                if (i != w->old_leader && w->new_lease_from_us < 0)
                    w->new_lease_from_us = s->now_us;
            }
        if (holders > 1) {
            if (w->overlap_from_us < 0) w->overlap_from_us = s->now_us;
            w->overlap_to_us = s->now_us;
            w->overlap_ms++;
        }
        /* A client reads x at the old leader. */
        struct lease_ctx ctx = {.raft = s->nodes[w->old_leader].raft,
                                .kv = t->kvs[w->old_leader],
                                .now_us = twin_now_us,
                                .clock = &t->clocks[w->old_leader]};
        struct lease_read read = lease_state_read(&t->leases[w->old_leader], &ctx, t->key);
        if (!read.on_lease) continue;
        w->lease_reads++;
        w->last_lease_read_us = s->now_us;
        int64_t value = read.found == PROTO_OK ? (int64_t)read.value->valuedouble : 0;
        if (value < committed_before(s, s->now_us)) {
            w->stale_reads++;
            if (w->first_stale_us < 0) w->first_stale_us = s->now_us;
            w->last_stale_us = s->now_us;
        }
    }
    for (int64_t i = 0; i < s->committed_len; i++)
        if (w->new_write_value > 0 && s->committed[i].id == w->new_write_value)
            w->write_committed_us = s->committed[i].applied_us;
    sim_check_logs(s);
}

static void note_watch(const char *name, const struct watch *w)
{
    tap_note("%s: n%d elected at %+.1f ms; its lease valid from %+.1f ms; its write of x "
             "committed at %+.1f ms (times from the cut)",
             name, w->new_leader, (w->elected_us - w->cut_us) / 1000.0,
             w->new_lease_from_us < 0 ? -1.0 : (w->new_lease_from_us - w->cut_us) / 1000.0,
             w->write_committed_us < 0 ? -1.0 : (w->write_committed_us - w->cut_us) / 1000.0);
    tap_note("%s: old leader n%d's lease ends at %+.1f ms; %" PRId64
             " lease reads there, the last at %+.1f ms",
             name, w->old_leader, (w->old_lease_end_us - w->cut_us) / 1000.0, w->lease_reads,
             (w->last_lease_read_us - w->cut_us) / 1000.0);
    if (w->overlap_ms > 0)
        tap_note("%s: two valid lease holders for %" PRId64 " ms, from %+.1f to %+.1f ms", name,
                 w->overlap_ms, (w->overlap_from_us - w->cut_us) / 1000.0,
                 (w->overlap_to_us - w->cut_us) / 1000.0);
    if (w->stale_reads > 0)
        tap_note("%s: %" PRId64 " stale lease reads at n%d, from %+.1f to %+.1f ms", name,
                 w->stale_reads, w->old_leader, (w->first_stale_us - w->cut_us) / 1000.0,
                 (w->last_stale_us - w->cut_us) / 1000.0);
}

/* ---- the counterexample to the course task's rule ---- */

#define CE_HEARTBEAT_US (50 * MS)
#define CE_ELECTION_MS 5000
#define CE_SKEW_MS 500
/* F's clock counts E while the leader's counts E - S: as fast as S allows. G's is a
 * little slower, so G asks for votes after F's window ends and F grants (with both at
 * the same rate they would split the vote, pinned to the same timeout). */
#define CE_RATE_F (5000.0 / 4500.0)
#define CE_RATE_G 1.10

struct ce_run {
    bool ran;
    int64_t sent_us, f_window_end_us, g_window_end_us;
    struct watch w;
};

/* 3 nodes, E = 5000 ms, S = 500 ms, heartbeat 50 ms, election timeouts pinned to E once
 * a leader A leads: A's clock exact, F's S fast over E, G's 10% fast. Right after a
 * round is confirmed, A is cut off from F and G, and a client reads x at A every ms. */
static void ce_run(int64_t duration_ms, struct ce_run *out)
{
    struct raft_config config = {.heartbeat_us = CE_HEARTBEAT_US,
                                 .election_timeout_us = CE_ELECTION_MS * MS,
                                 .max_entries_per_append = 64};
    struct twin *t = twin_new(3, &config, 3, (duration_ms - CE_SKEW_MS) * MS);
    struct sim *s = t->s;
    *out = (struct ce_run){.ran = false};
    int a = sim_wait_leader(s, 10 * CE_ELECTION_MS * MS);
    if (a < 0) {
        twin_free(t);
        return;
    }
    int f = (a + 1) % 3, g = (a + 2) % 3;
    s->pin_election_timeout = true;
    sim_set_clock_rate(s, f, CE_RATE_F);
    sim_set_clock_rate(s, g, CE_RATE_G);
    twin_write(t, a);
    sim_run_until(s, s->now_us + 500 * MS);
    out->sent_us = run_to_confirmed_round(s, a, s->now_us + 1000 * MS);
    if (out->sent_us == RAFT_UNKNOWN_TIME) {
        twin_free(t);
        return;
    }
    int group[3] = {0};
    group[a] = 1;
    sim_partition(s, group);
    out->w = (struct watch){.old_leader = a, .cut_us = s->now_us};
    /* The last append F and G heard from A starts their windows: E on their clocks. */
    out->f_window_end_us = t->contact_us[f] + (int64_t)(CE_ELECTION_MS * MS / CE_RATE_F);
    out->g_window_end_us = t->contact_us[g] + (int64_t)(CE_ELECTION_MS * MS / CE_RATE_G);
    watch_run(t, &out->w, s->now_us + 6000 * MS);
    out->ran = !s->failed;
    if (s->failed) tap_diag("simulator: %s", s->failure);
    twin_free(t);
}

static void note_ce(const char *name, int64_t duration_ms, const struct ce_run *r)
{
    int64_t cut = r->w.cut_us;
    tap_note("%s: L/E/S = %" PRId64 "/%d/%d: the lease counts L - S = %" PRId64
             " ms from the round sent at %+.1f ms, to %+.1f ms (times from the cut, A's clock "
             "= real time)",
             name, duration_ms, CE_ELECTION_MS, CE_SKEW_MS, duration_ms - CE_SKEW_MS,
             (r->sent_us - cut) / 1000.0,
             (r->sent_us + (duration_ms - CE_SKEW_MS) * MS - cut) / 1000.0);
    tap_note("%s: F (rate %.4f) counts E = %d ms by %+.1f ms real; G (rate %.2f) by %+.1f ms", name,
             CE_RATE_F, CE_ELECTION_MS, (r->f_window_end_us - cut) / 1000.0, CE_RATE_G,
             (r->g_window_end_us - cut) / 1000.0);
    note_watch(name, &r->w);
}

static void test_counterexample(void)
{
    int64_t heartbeat_us = CE_HEARTBEAT_US;
    const char *seed_says =
        lease_rule_violation(5200, CE_ELECTION_MS, CE_SKEW_MS, heartbeat_us, true);
    const char *sound_says =
        lease_rule_violation(5200, CE_ELECTION_MS, CE_SKEW_MS, heartbeat_us, false);
    const char *sound_5000 =
        lease_rule_violation(5000, CE_ELECTION_MS, CE_SKEW_MS, heartbeat_us, false);
    tap_note(
        "the rule: 5200/5000/500 under the course task's L - S < E: %s; under (L - S) + S <= E: %s",
        seed_says ? seed_says : "safe", sound_says ? sound_says : "safe");
    tap_ok(
        !seed_says && sound_says && !sound_5000,
        "lease rule: the course task's rule accepts 5200/5000/500, the sound rule refuses it and "
        "accepts 5000/5000/500");

    struct ce_run unsafe, safe;
    ce_run(5200, &unsafe);
    ce_run(5000, &safe);
    if (!tap_ok(unsafe.ran && safe.ran && unsafe.w.new_leader >= 0 && safe.w.new_leader >= 0,
                "counterexample: in both runs the majority side elects a new leader"))
        return;
    note_ce("the course task's rule 5200/5000/500", 5200, &unsafe);
    note_ce("sound rule 5000/5000/500", 5000, &safe);
    tap_ok(unsafe.w.overlap_ms > 0 && unsafe.w.stale_reads > 0,
           "counterexample, the course task's rule: the old lease outlasts the new leader's "
           "election: two "
           "valid lease holders for %" PRId64 " ms, %" PRId64 " stale lease reads",
           unsafe.w.overlap_ms, unsafe.w.stale_reads);
    tap_ok(safe.w.overlap_ms == 0 && safe.w.stale_reads == 0 && safe.w.lease_reads > 0 &&
               safe.w.write_committed_us > safe.w.last_lease_read_us,
           "counterexample, sound rule: never two lease holders, no stale read (%" PRId64
           " lease reads; the new write committed %.1f ms after the last)",
           safe.w.lease_reads, (safe.w.write_committed_us - safe.w.last_lease_read_us) / 1000.0);
}

/* ---- the restart window ---- */

#define RW_HEARTBEAT_US (20 * MS)
#define RW_ELECTION_MS 500
#define RW_DURATION_MS 500
#define RW_SKEW_MS 50

struct rw_run {
    bool ran;
    int follower, candidate;
    int64_t sent_us, restart_us;
    size_t held_votes; /* C's vote requests that reach the restarted F when the hold lifts */
    struct watch w;
};

/* 3 nodes, E = 500 ms, L/S = 500/50 (the defaults' ratio), heartbeat 20 ms. Node C is cut
 * off from leader A and its pre-votes to F are held, so it asks as soon as the hold
 * lifts. Right after a round F acknowledged, A is cut off; F crashes 5 ms later, restarts
 * from its disk, and C's requests reach it. The lease rests on F refusing them. */
static void rw_run(bool without_window, struct rw_run *out)
{
    struct raft_config config = {.heartbeat_us = RW_HEARTBEAT_US,
                                 .election_timeout_us = RW_ELECTION_MS * MS,
                                 .max_entries_per_append = 64};
    struct twin *t = twin_new(3, &config, 5, (RW_DURATION_MS - RW_SKEW_MS) * MS);
    struct sim *s = t->s;
    *out = (struct rw_run){.ran = false};
    int a = sim_wait_leader(s, 10 * RW_ELECTION_MS * MS);
    if (a < 0) {
        twin_free(t);
        return;
    }
    int f = (a + 1) % 3, c = (a + 2) % 3;
    out->follower = f;
    out->candidate = c;
    twin_write(t, a);
    sim_run_until(s, s->now_us + 100 * MS);
    sim_cut(s, a, c, true);
    sim_cut(s, c, a, true);
    sim_hold(s, c, f, true);
    sim_run_until(s, s->now_us + 1500 * MS);
    out->sent_us = run_to_confirmed_round(s, a, s->now_us + 1000 * MS);
    if (out->sent_us == RAFT_UNKNOWN_TIME) {
        twin_free(t);
        return;
    }
    sim_cut(s, a, f, true);
    sim_cut(s, f, a, true);
    out->w = (struct watch){.old_leader = a, .cut_us = s->now_us};
    sim_run_until(s, s->now_us + 5 * MS);
    out->restart_us = s->now_us;
    twin_restart(t, f, without_window);
    out->held_votes = sim_count(s, c, f, "raft_vote", NULL);
    sim_hold(s, c, f, false);
    watch_run(t, &out->w, out->w.cut_us + 2000 * MS);
    out->ran = !s->failed;
    if (s->failed) tap_diag("simulator: %s", s->failure);
    twin_free(t);
}

static void note_rw(const char *name, const struct rw_run *r)
{
    int64_t cut = r->w.cut_us;
    tap_note("%s: L/E/S = %d/%d/%d: A's lease counts %d ms from the round sent at %+.1f ms, "
             "to %+.1f ms; F restarts at %+.1f ms and would refuse votes until %+.1f ms "
             "(times from the cut)",
             name, RW_DURATION_MS, RW_ELECTION_MS, RW_SKEW_MS, RW_DURATION_MS - RW_SKEW_MS,
             (r->sent_us - cut) / 1000.0,
             (r->sent_us + (RW_DURATION_MS - RW_SKEW_MS) * MS - cut) / 1000.0,
             (r->restart_us - cut) / 1000.0, (r->restart_us + RW_ELECTION_MS * MS - cut) / 1000.0);
    tap_note("%s: %zu held vote requests from C (n%d) reach F (n%d) right after its restart", name,
             r->held_votes, r->candidate, r->follower);
    note_watch(name, &r->w);
}

static void test_restart_window(void)
{
    struct rw_run safe, unsafe;
    rw_run(false, &safe);
    rw_run(true, &unsafe);
    if (!tap_ok(safe.ran && unsafe.ran && safe.held_votes > 0 && unsafe.held_votes > 0 &&
                    safe.w.new_leader >= 0 && unsafe.w.new_leader == unsafe.candidate,
                "restart window: in both runs the candidate's held requests reach the restarted "
                "follower and a new leader is elected (without the window, the candidate at "
                "once)"))
        return;
    note_rw("restart refusing votes for E", &safe);
    note_rw("restart without the window (negative control)", &unsafe);
    tap_ok(safe.w.overlap_ms == 0 && safe.w.stale_reads == 0 && safe.w.lease_reads > 0 &&
               safe.w.elected_us >= safe.restart_us + RW_ELECTION_MS * MS,
           "restart window: no leader is elected before the restarted follower's window ends, "
           "after the old lease: no two lease holders, no stale read");
    tap_ok(unsafe.w.overlap_ms > 0 && unsafe.w.stale_reads > 0,
           "restart window, negative control: a restart that grants votes at once elects a "
           "second lease holder within the old lease (%" PRId64 " ms, %" PRId64 " stale reads)",
           unsafe.w.overlap_ms, unsafe.w.stale_reads);
}

/* ---- a config through the log: which round may grant its lease ---- */

/* Runs until `node`'s round `round` is confirmed; its send time, or RAFT_UNKNOWN_TIME. */
static int64_t run_until_round_confirmed(struct sim *s, int node, uint64_t round, int64_t until_us)
{
    int64_t sent_us;
    while (s->now_us < until_us && !s->failed) {
        if (sim_round_sent(s, node, round, &sent_us)) return sent_us;
        sim_run_until(s, s->now_us + 100);
    }
    return RAFT_UNKNOWN_TIME;
}

static int64_t propose_config(struct twin *t, int node, int64_t effective_ms)
{
    cJSON *command = cJSON_CreateObject();
    cJSON_AddStringToObject(command, "type", "lease_config");
    cJSON_AddNumberToObject(command, "effective_ms", (double)effective_ms);
    return sim_propose_command(t->s, node, command);
}

/* 3 nodes on exact clocks; the flags allow an 80 ms lease. Leader A appends a config
 * allowing 95 ms, then one allowing 40 ms. (The allowance is set as lease_config.c sets
 * it on appending.) The longer lease may be granted only by a round that a majority
 * acknowledged after holding the entry *before the round was sent*: the round that
 * carries the entry is acknowledged by followers that receive it together with the
 * round, and a follower draws its election timer on receiving an append, before it reads
 * the entries inside. A shorter one cuts the lease at once. */
static void test_config_grant(void)
{
    struct raft_config config = {
        .heartbeat_us = 20 * MS, .election_timeout_us = 100 * MS, .max_entries_per_append = 64};
    struct twin *t = twin_new(3, &config, 29, 80 * MS);
    struct sim *s = t->s;
    int a = sim_wait_leader(s, 1000 * MS);
    if (!tap_ok(a >= 0 && run_to_confirmed_round(s, a, s->now_us + 500 * MS) != RAFT_UNKNOWN_TIME,
                "config grant: a leader holds a lease under the flags (80 ms)")) {
        twin_free(t);
        return;
    }
    const struct lease_state *l = &t->leases[a];
    const struct raft *r = s->nodes[a].raft;

    int64_t index = propose_config(t, a, 95);
    t->allowance = (struct lease_allowance){.latest_index = index,
                                            .latest_term = raft_term(r),
                                            .latest_effective_us = 95 * MS,
                                            .min_effective_us = 80 * MS};
    uint64_t carrying = raft_round(r);
    int64_t sent_us = run_until_round_confirmed(s, a, carrying, s->now_us + 500 * MS);
    int64_t granted_us = l->expires_us - sent_us;
    tap_note("config grant: round %llu carries the 95 ms config (index %" PRId64
             "); confirmed, it extends the lease to %.1f ms after its send time",
             (unsigned long long)carrying, index, granted_us / 1000.0);
    tap_ok(sent_us != RAFT_UNKNOWN_TIME && granted_us == 80 * MS,
           "config grant: the round that carries a longer config grants only the flags' 80 ms "
           "(its majority did not hold the entry when it was sent)");

    sim_run_until(s, s->now_us + 5 * 20 * MS);
    int64_t later_us = l->expires_us - l->start_us;
    tap_note("config grant: five heartbeats later the lease runs %.1f ms from its start",
             later_us / 1000.0);
    tap_ok(later_us == 95 * MS,
           "config grant: a round sent after a majority held the entry grants the new 95 ms");

    index = propose_config(t, a, 40);
    t->allowance = (struct lease_allowance){.latest_index = index,
                                            .latest_term = raft_term(r),
                                            .latest_effective_us = 40 * MS,
                                            .min_effective_us = 40 * MS};
    lease_state_config_appended(&t->leases[a], 40 * MS);
    int64_t cut_us = l->expires_us - l->start_us;
    tap_note("config grant: appending a 40 ms config leaves %.1f ms from the lease's start",
             cut_us / 1000.0);
    tap_ok(cut_us <= 40 * MS, "config grant: appending a shorter config cuts the lease at once");
    sim_check_logs(s);
    tap_ok(!s->failed, "config grant: no Raft safety violation%s%s", s->failed ? ": " : "",
           s->failed ? s->failure : "");
    twin_free(t);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            trace_verbose = true;
        } else {
            fprintf(stderr,
                    "usage: %s [-v]\n"
                    "  Stage 03's lease on a simulated cluster in virtual time; prints TAP.\n"
                    "  -v   the cores' traces on stderr\n",
                    argv[0]);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    test_counterexample();
    test_restart_window();
    test_config_grant();
    return tap_done();
}
