/* follower-read-test: stage 01's staleness proof (stages/01-follower-reads/fr_proof.c)
 * driven in virtual time, the twins of checks/t01-cluster.sh's experiments.
 *
 * Every node of a simulated cluster (checks/unit/sim.c) carries one fr_proof, fed the
 * same Raft events, on its own clock, with the same piggyback objects that
 * follower_read.c hands it in a node. A "read" at node F at virtual time t is the bound
 * F's proof reports there (fr_proof_staleness_ms on F's clock); it is honest iff every
 * write committed more than that many ms before t is in F's applied state. The first
 * time any node applied an index is the earliest a client could have heard that write
 * acknowledged, so the check is, if anything, stricter than the cluster test's checker.
 * The last case asks both leaders of a partitioned cluster for a read index, the leader's
 * side of a follower's read index: the deposed one never confirms a round, so it never
 * answers. Output is TAP for checks/t01-virtual.sh; each case prints its arithmetic. */
#include "../../stages/01-follower-reads/fr_proof.h"
#include "sim.h"
#include "tap.h"
#include "trace.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000 /* virtual time is in microseconds */
#define HEARTBEAT_US (20 * MS)
#define ELECTION_US (100 * MS)
#define DRIFT_PCT 10 /* the flag's default allowance */
/* The plugin's name in Raft's piggyback object, as node.c files it. */
#define PLUGIN "follower_read"

/* One proof per simulated node: what one process holds in follower_read.c. */
struct twin {
    struct sim *s;
    struct fr_proof proofs[SIM_MAX_NODES];
    bool naive;
    int64_t drift_pct; /* a, the allowance every node's proof assumes */
};

static const cJSON *twin_mine(const cJSON *piggyback)
{
    const cJSON *mine = piggyback ? cJSON_GetObjectItemCaseSensitive(piggyback, PLUGIN) : NULL;
    return cJSON_IsObject(mine) ? mine : NULL;
}

static void twin_attach(cJSON *piggyback, cJSON *mine)
{
    if (mine->child)
        cJSON_AddItemToObject(piggyback, PLUGIN, mine);
    else
        cJSON_Delete(mine);
}

static void twin_sending_ack(void *ctx, int node, cJSON *piggyback, int64_t now_us)
{
    struct twin *t = ctx;
    cJSON *mine = cJSON_CreateObject();
    fr_proof_sending_ack(&t->proofs[node], mine, now_us);
    twin_attach(piggyback, mine);
}

static void twin_leader_contact(void *ctx, int node, int leader, const cJSON *piggyback,
                                int64_t now_us)
{
    struct twin *t = ctx;
    (void)leader;
    fr_proof_leader_contact(&t->proofs[node], t->s->nodes[node].raft, twin_mine(piggyback), now_us);
}

static void twin_applied(void *ctx, int node, int64_t index, const struct raft_entry *entry)
{
    struct twin *t = ctx;
    (void)entry;
    fr_proof_applied(&t->proofs[node], index);
}

static void twin_ack_received(void *ctx, int node, int peer, const cJSON *piggyback, int64_t now_us)
{
    struct twin *t = ctx;
    (void)now_us;
    fr_proof_ack_received(&t->proofs[node], t->s->nodes[node].raft, peer, twin_mine(piggyback));
}

static void twin_round_confirmed(void *ctx, int node, uint64_t round, int64_t sent_us,
                                 int64_t commit_index)
{
    struct twin *t = ctx;
    fr_proof_round_confirmed(&t->proofs[node], t->s->nodes[node].raft, round, sent_us, commit_index,
                             sim_clock_us(t->s, node));
}

static void twin_sending_append(void *ctx, int node, int peer, cJSON *piggyback)
{
    struct twin *t = ctx;
    cJSON *mine = cJSON_CreateObject();
    fr_proof_sending_append(&t->proofs[node], peer, mine);
    twin_attach(piggyback, mine);
}

static void twin_leadership_changed(void *ctx, int node)
{
    struct twin *t = ctx;
    fr_proof_leadership_changed(&t->proofs[node]);
}

/* Incarnations: node i's life k is 1000 * (i + 1) + k, unless a test reuses one. */
static double twin_incarnation(const struct sim *s, int node)
{
    return (double)(1000 * (node + 1) + s->nodes[node].lives);
}

static struct twin *twin_new(int n, struct raft_config config, uint64_t seed, bool naive)
{
    struct twin *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->s = sim_new(n, &config, seed);
    /* Raft's own safety is raft-test's subject: here the logs are checked now and then
     * and at the end (sim_check_logs), which keeps a run to milliseconds. */
    t->s->log_check_every = 1024;
    t->naive = naive;
    t->drift_pct = DRIFT_PCT;
    for (int i = 0; i < n; i++)
        fr_proof_init(&t->proofs[i], n, twin_incarnation(t->s, i), DRIFT_PCT, naive);
    sim_set_hooks(t->s, &(struct sim_hooks){
                            .ctx = t,
                            .leadership_changed = twin_leadership_changed,
                            .round_confirmed = twin_round_confirmed,
                            .applied = twin_applied,
                            .sending_append = twin_sending_append,
                            .leader_contact = twin_leader_contact,
                            .sending_ack = twin_sending_ack,
                            .ack_received = twin_ack_received,
                        });
    return t;
}

static void twin_free(struct twin *t)
{
    for (int i = 0; i < t->s->n; i++)
        fr_proof_free(&t->proofs[i]);
    sim_free(t->s);
    free(t);
}

/* Node i crashes and starts again from its disk, a new process: its clock starts at 0
 * now, and its proof starts empty with `incarnation`. */
static void twin_restart(struct twin *t, int node, double incarnation)
{
    fr_proof_free(&t->proofs[node]);
    fr_proof_init(&t->proofs[node], t->s->n, incarnation, t->drift_pct, t->naive);
    sim_set_clock(t->s, node, 1.0, t->s->now_us);
    sim_restart(t->s, node);
}

/* A read at `node` now: the bound it would report (-1: it would not serve), and whether
 * that bound is honest. */
struct twin_read {
    int64_t at_us, bound_ms;
    int64_t missed_index;      /* the first committed index the node has not applied */
    int64_t missed_applied_us; /* when that index first applied anywhere; -1: none missed */
    int64_t margin_us;         /* bound - (now - missed_applied_us); >= 0 is honest */
};

static struct twin_read twin_read(const struct twin *t, int node)
{
    const struct sim *s = t->s;
    struct twin_read r = {.at_us = s->now_us,
                          .bound_ms =
                              fr_proof_staleness_ms(&t->proofs[node], sim_clock_us(s, node)),
                          .missed_index = raft_applied_index(s->nodes[node].raft) + 1,
                          .missed_applied_us = -1,
                          .margin_us = INT64_MAX};
    if (r.missed_index <= s->committed_len) {
        r.missed_applied_us = s->committed[r.missed_index - 1].applied_us;
        if (r.bound_ms >= 0) r.margin_us = r.bound_ms * MS - (s->now_us - r.missed_applied_us);
    }
    return r;
}

/* The reads a run watches at one node: how many it would serve, the last, the worst. */
struct twin_reads {
    int64_t served;
    struct twin_read last, worst;
};

/* A read at `node` now, if it would serve one. True when it would. */
static bool twin_observe(const struct twin *t, int node, struct twin_reads *reads)
{
    struct twin_read r = twin_read(t, node);
    if (r.bound_ms < 0) return false;
    if (reads->served++ == 0 || r.margin_us < reads->worst.margin_us) reads->worst = r;
    reads->last = r;
    return true;
}

/* A leader, then 300 ms of writes every 10 ms through it and 50 ms of quiet, so every
 * node has had pairs proven. Returns the leader, or -1 if none was elected. */
static int twin_start(struct twin *t)
{
    struct sim *s = t->s;
    int leader = sim_wait_leader(s, 10 * ELECTION_US);
    if (leader < 0) return -1;
    int64_t until = s->now_us + 300 * MS;
    while (s->now_us < until) {
        sim_propose(s, leader);
        sim_run_until(s, s->now_us + 10 * MS);
    }
    sim_run_until(s, s->now_us + 50 * MS);
    return leader;
}

static struct raft_config fr_config(void)
{
    /* The old leader must keep heartbeating its follower through the partition, as an
     * implementation without CheckQuorum does (etcd's raft library by default): the
     * hardest case for the proof, and the one the naive bound falls for. */
    return (struct raft_config){.heartbeat_us = HEARTBEAT_US,
                                .election_timeout_us = ELECTION_US,
                                .max_entries_per_append = 64,
                                .without_check_quorum = true};
}

/* ---- the deposed leader ---- */

struct deposed_run {
    int old_leader, follower, new_leader;
    int64_t cut_us, heal_us, new_leader_us;
    int64_t writes_committed; /* first applied during the cut: the new leader's */
    int64_t reads_served;     /* samples where the follower had a bound */
    struct twin_read worst;   /* the least margin among them */
    struct twin_read last;    /* the last read before the heal */
    int64_t bound_after_heal_ms;
    bool sim_failed;
    char failure[1024];
};

/* 5 nodes. At cut_us the leader and one follower are cut off from the other three, which
 * elect a new leader that commits a write every 10 ms. A read arrives at the cut-off
 * follower every ms; at heal_us the partition heals. */
static bool deposed_run(uint64_t seed, bool naive, struct deposed_run *out)
{
    struct twin *t = twin_new(5, fr_config(), seed, naive);
    struct sim *s = t->s;
    *out = (struct deposed_run){.new_leader = -1};
    int leader = sim_wait_leader(s, 10 * ELECTION_US);
    if (leader < 0) {
        twin_free(t);
        return false;
    }
    /* Writes while the cluster is whole, so pairs are proven and the bound is small. */
    int64_t settle_until = s->now_us + 300 * MS;
    while (s->now_us < settle_until) {
        sim_propose(s, leader);
        sim_run_until(s, s->now_us + 10 * MS);
    }
    out->old_leader = leader;
    out->follower = (leader + 1) % 5;
    int group[5];
    for (int i = 0; i < 5; i++)
        group[i] = i == leader || i == out->follower;
    out->cut_us = s->now_us;
    out->heal_us = out->cut_us + 800 * MS;
    sim_partition(s, group);
    out->worst.margin_us = INT64_MAX;
    int64_t next_write_us = s->now_us;
    bool healed = false;
    while (s->now_us < out->heal_us + 300 * MS && !s->failed) {
        if (!healed && s->now_us >= out->heal_us) {
            sim_heal(s);
            healed = true;
        }
        int now_leader = sim_leader(s);
        if (now_leader >= 0 && now_leader != leader && s->now_us >= next_write_us) {
            if (out->new_leader < 0) {
                out->new_leader = now_leader;
                out->new_leader_us = s->now_us;
            }
            sim_propose(s, now_leader);
            next_write_us = s->now_us + 10 * MS;
        }
        sim_run_until(s, s->now_us + 1 * MS);
        struct twin_read r = twin_read(t, out->follower);
        if (s->now_us >= out->heal_us + 300 * MS - 1 * MS) out->bound_after_heal_ms = r.bound_ms;
        if (r.bound_ms < 0 || s->now_us >= out->heal_us) continue;
        out->last = r;
        out->reads_served++;
        if (r.margin_us < out->worst.margin_us) out->worst = r;
    }
    for (int64_t i = 0; i < s->committed_len; i++)
        if (s->committed[i].applied_us >= out->cut_us && s->committed[i].applied_us < out->heal_us)
            out->writes_committed++;
    sim_check_logs(s);
    out->sim_failed = s->failed;
    snprintf(out->failure, sizeof out->failure, "%s", s->failure);
    twin_free(t);
    return true;
}

static void note_deposed(const char *rule, const struct deposed_run *d)
{
    tap_note("%s: leader n%d and follower n%d cut off at %.1f ms; n%d leads the majority from "
             "%.1f ms; %" PRId64 " entries committed there before the heal at %.1f ms",
             rule, d->old_leader, d->follower, d->cut_us / 1000.0, d->new_leader,
             d->new_leader_us / 1000.0, d->writes_committed, d->heal_us / 1000.0);
    const struct twin_read *l = &d->last;
    tap_note("%s: the last read before the heal, at %.1f ms, claims %" PRId64 " ms; the first "
             "write it misses (index %" PRId64 ") first applied at %.1f ms, %.1f ms earlier: "
             "margin %+.1f ms",
             rule, l->at_us / 1000.0, l->bound_ms, l->missed_index, l->missed_applied_us / 1000.0,
             (l->at_us - l->missed_applied_us) / 1000.0, l->margin_us / 1000.0);
    if (d->worst.margin_us == INT64_MAX) {
        tap_note("%s: %" PRId64 " reads at n%d had a bound; none missed a committed write", rule,
                 d->reads_served, d->follower);
        return;
    }
    const struct twin_read *w = &d->worst;
    tap_note("%s: worst of %" PRId64 " reads at n%d: at %.1f ms it claims %" PRId64
             " ms; index %" PRId64 " (first applied at %.1f ms, %.1f ms earlier) is not in its "
             "state: margin %+.1f ms",
             rule, d->reads_served, d->follower, w->at_us / 1000.0, w->bound_ms, w->missed_index,
             w->missed_applied_us / 1000.0, (w->at_us - w->missed_applied_us) / 1000.0,
             w->margin_us / 1000.0);
}

static void test_deposed_leader(void)
{
    struct deposed_run proven, naive;
    bool ran = deposed_run(7, false, &proven) && deposed_run(7, true, &naive);
    if (!tap_ok(ran, "deposed leader: a leader is elected in both runs")) return;
    note_deposed("proven bound", &proven);
    note_deposed("naive bound (time since the last heartbeat)", &naive);
    tap_ok(!proven.sim_failed && !naive.sim_failed, "deposed leader: no Raft safety violation%s%s",
           proven.sim_failed ? ": " : "", proven.sim_failed ? proven.failure : naive.failure);
    tap_ok(proven.new_leader >= 0 && proven.writes_committed >= 20 && proven.reads_served >= 50,
           "deposed leader: the majority elected n%d and committed %" PRId64
           " writes while n%d kept serving reads with a bound (%" PRId64 " reads)",
           proven.new_leader, proven.writes_committed, proven.follower, proven.reads_served);
    tap_ok(proven.worst.margin_us >= 0 && proven.last.missed_applied_us > proven.cut_us,

           "deposed leader: the proven bound never claims freshness that misses a committed "
           "write, though its state misses the new leader's");
    tap_ok(naive.worst.margin_us < 0,
           "deposed leader, negative control: the naive bound claims %" PRId64
           " ms at n%d while missing a write committed %.1f ms before",
           naive.worst.bound_ms, naive.follower,
           (naive.worst.at_us - naive.worst.missed_applied_us) / 1000.0);
    tap_note("after the heal: n%d's proven bound is %" PRId64 " ms again", proven.follower,
             proven.bound_after_heal_ms);
    tap_ok(proven.bound_after_heal_ms >= 0 && proven.bound_after_heal_ms < 100,
           "deposed leader: after the heal the proof resumes (a bound under 100 ms)");
}

/* ---- a round in flight when the stamp arrives ---- */

struct in_flight_run {
    int leader, follower, new_leader;
    uint64_t round;
    int64_t round_sent_us, cut_us, release_us, confirmed_us;
    int64_t new_writes; /* committed by the new leader before the release */
    struct twin_reads reads;
};

/* 5 nodes. The three followers M acknowledge the leader's round R, but their acks are
 * held; then neither the leader nor follower F can reach them, and they elect a new
 * leader that commits writes. Meanwhile follower F keeps acknowledging the old leader, whose stamps
 * arrive after R was sent (and after the new writes). Then the held acks of R arrive
 * and confirm it. R proves the old leader led when R was *sent*, nothing later: a stamp
 * that arrived after that must stay unproven (fr_proof_round_confirmed: "only a round
 * that began after the stamp arrived proves it"). */
static bool in_flight_run(uint64_t seed, struct in_flight_run *out)
{
    struct twin *t = twin_new(5, fr_config(), seed, false);
    struct sim *s = t->s;
    *out = (struct in_flight_run){.new_leader = -1};
    int leader = twin_start(t);
    if (leader < 0) {
        twin_free(t);
        return false;
    }
    int f = (leader + 1) % 5;
    out->leader = leader;
    out->follower = f;
    for (int m = 0; m < 5; m++)
        if (m != leader && m != f) sim_hold(s, m, leader, true);
    sim_run_until(s, s->now_us + 25 * MS);
    out->round = raft_round(s->nodes[leader].raft);
    sim_run_until(s, s->now_us + 6 * MS);
    /* The old leader and F on one side, the three M on the other; only the held acks
     * cross, later. */
    for (int m = 0; m < 5; m++)
        if (m != leader && m != f) {
            sim_cut(s, leader, m, true);
            sim_cut(s, f, m, true);
            sim_cut(s, m, f, true);
        }
    out->cut_us = s->now_us;
    int64_t next_write_us = s->now_us;
    bool released = false;
    while (s->now_us < out->cut_us + 600 * MS && !s->failed) {
        int now_leader = sim_leader(s);
        if (now_leader >= 0 && now_leader != leader && s->now_us >= next_write_us) {
            out->new_leader = now_leader;
            sim_propose(s, now_leader);
            next_write_us = s->now_us + 10 * MS;
        }
        if (!released && s->now_us >= out->cut_us + 400 * MS) {
            released = true;
            out->release_us = s->now_us;
            for (int64_t i = 0; i < s->committed_len; i++)
                if (s->committed[i].applied_us >= out->cut_us) out->new_writes++;
            /* Two of the held acks of R: with F's own, a majority of five. */
            int delivered = 0;
            for (int m = 0; m < 5 && delivered < 2; m++)
                if (m != leader && m != f &&
                    sim_deliver_one(s, m, leader, "raft_append_res", (int64_t)out->round))
                    delivered++;
            if (sim_round_sent(s, leader, out->round, &out->round_sent_us))
                out->confirmed_us = s->now_us;
        }
        sim_run_until(s, s->now_us + 1 * MS);
        twin_observe(t, f, &out->reads);
    }
    sim_check_logs(s);
    bool ok = !s->failed;
    if (!ok) tap_diag("simulator: %s", s->failure);
    twin_free(t);
    return ok;
}

static void test_round_in_flight(void)
{
    struct in_flight_run r;
    bool ran = in_flight_run(13, &r);
    if (!tap_ok(ran && r.confirmed_us > 0 && r.new_writes >= 10,
                "round in flight: round %llu, sent before the new leader's %" PRId64
                " writes, is confirmed by held acks after them",
                (unsigned long long)r.round, r.new_writes))
        return;
    tap_note("round in flight: n%d's round %llu sent at %.1f ms (its clock = virtual); acks of "
             "the majority side held; n%d cut off from them at %.1f ms; n%d leads them and "
             "commits %" PRId64 " entries; two held acks of round %llu confirm it at %.1f ms",
             r.leader, (unsigned long long)r.round, r.round_sent_us / 1000.0, r.leader,
             r.cut_us / 1000.0, r.new_leader, r.new_writes, (unsigned long long)r.round,
             r.confirmed_us / 1000.0);
    tap_note("round in flight: the last read at n%d, at %.1f ms, claims %" PRId64
             " ms; it misses index %" PRId64 " (first applied at %.1f ms): margin %+.1f ms; "
             "least margin of %" PRId64 " reads %+.1f ms",
             r.follower, r.reads.last.at_us / 1000.0, r.reads.last.bound_ms,
             r.reads.last.missed_index, r.reads.last.missed_applied_us / 1000.0,
             r.reads.last.margin_us / 1000.0, r.reads.served, r.reads.worst.margin_us / 1000.0);
    tap_ok(r.reads.worst.margin_us >= 0 && r.reads.last.missed_applied_us > r.cut_us,
           "round in flight: stamps that arrived after the round was sent stay unproven: the "
           "follower's bound never misses a committed write");
}

/* ---- a leader paused with its newest round in flight ---- */

struct paused_run {
    int leader, follower, new_leader;
    uint64_t round;
    int64_t paused_us, stamp_us, woke_us;
    int64_t new_writes;  /* committed by the new leader while the old one slept */
    bool stamp_in_round; /* F's stamp arrived while R was the old leader's newest */
    bool confirmed;      /* ... and R was confirmed after it */
    struct twin_reads reads;
};

/* 5 nodes. Leader L begins round R and is paused (a GC pause, SIGSTOP) before it begins
 * another; its append of R to follower F is delayed in the network, and the acks of R
 * from the three others (M) wait unread in its input. M elect a new leader, which commits
 * writes. Then F receives R's append and acknowledges it: a stamp taken after those
 * writes. L wakes and, as an event loop does, reads everything waiting before its timers
 * run: F's stamp arrives while R is still its newest round, and M's acks then confirm R.
 * R was sent before the writes, so it proves nothing about that stamp, which must stay
 * unproven ("only a round that began after the stamp arrived proves it": the round
 * current at arrival does not). The round-in-flight case above cannot pin this boundary:
 * a leader that keeps running begins a new round every heartbeat, long before a new
 * leader can be elected. */
static bool paused_run(uint64_t seed, struct paused_run *out)
{
    struct twin *t = twin_new(5, fr_config(), seed, false);
    struct sim *s = t->s;
    *out = (struct paused_run){.new_leader = -1};
    int leader = twin_start(t);
    if (leader < 0) {
        twin_free(t);
        return false;
    }
    int f = (leader + 1) % 5;
    out->leader = leader;
    out->follower = f;
    /* R's append to F waits in the network; L sleeps right after beginning R. */
    sim_hold(s, leader, f, true);
    uint64_t before = raft_round(s->nodes[leader].raft);
    int64_t until = s->now_us + 10 * HEARTBEAT_US;
    while (raft_round(s->nodes[leader].raft) == before && s->now_us < until)
        sim_run_until(s, s->now_us + 100);
    out->round = raft_round(s->nodes[leader].raft);
    sim_pause(s, leader, true);
    out->paused_us = s->now_us;
    /* F hears nothing of M's new term. */
    for (int m = 0; m < 5; m++)
        if (m != leader && m != f) {
            sim_cut(s, f, m, true);
            sim_cut(s, m, f, true);
        }
    while (s->now_us < out->paused_us + 5 * ELECTION_US && out->new_writes < 10 && !s->failed) {
        int now_leader = sim_leader(s);
        if (now_leader >= 0 && now_leader != leader) {
            out->new_leader = now_leader;
            sim_propose(s, now_leader);
        }
        sim_run_until(s, s->now_us + 10 * MS);
        out->new_writes = 0;
        for (int64_t i = 0; i < s->committed_len; i++)
            if (s->committed[i].applied_us >= out->paused_us) out->new_writes++;
    }
    /* F acknowledges R now, after the writes. */
    sim_deliver_one(s, leader, f, "raft_append", (int64_t)out->round);
    out->stamp_us = s->now_us;
    sim_run_until(s, s->now_us + 6 * MS);
    /* L wakes: F's ack first, then two of M's acks of R (with L, a majority of five). */
    out->woke_us = s->now_us;
    sim_deliver_one(s, f, leader, "raft_append_res", (int64_t)out->round);
    const struct fr_peer *fp = &t->proofs[leader].peers[f];
    for (int i = 0; i < FR_MAX_UNPROVEN; i++)
        if (fp->unproven[i].used && fp->unproven[i].arrival_round == out->round)
            out->stamp_in_round = true;
    int delivered = 0;
    for (int m = 0; m < 5 && delivered < 2; m++)
        if (m != leader && m != f &&
            sim_deliver_one(s, m, leader, "raft_append_res", (int64_t)out->round))
            delivered++;
    out->confirmed = raft_confirmed_round(s->nodes[leader].raft) >= out->round;
    sim_pause(s, leader, false);
    sim_hold(s, leader, f, false);
    int64_t end_us = s->now_us + 100 * MS;
    while (s->now_us < end_us && !s->failed) {
        sim_run_until(s, s->now_us + 1 * MS);
        twin_observe(t, f, &out->reads);
    }
    sim_check_logs(s);
    bool ok = !s->failed;
    if (!ok) tap_diag("simulator: %s", s->failure);
    twin_free(t);
    return ok;
}

static void test_paused_leader(void)
{
    struct paused_run r;
    bool ran = paused_run(17, &r);
    if (!tap_ok(ran && r.new_writes >= 1 && r.stamp_in_round && r.confirmed && r.reads.served > 0,
                "paused leader: F's stamp, taken after %" PRId64
                " writes of a new leader, reaches the old leader while its round %llu is "
                "newest, and the round is confirmed after it",
                r.new_writes, (unsigned long long)r.round))
        return;
    tap_note("paused leader: n%d begins round %llu and sleeps at %.1f ms; n%d leads the others "
             "and commits %" PRId64 " entries; n%d acks round %llu at %.1f ms; n%d wakes at "
             "%.1f ms and reads that ack, then two acks of round %llu",
             r.leader, (unsigned long long)r.round, r.paused_us / 1000.0, r.new_leader,
             r.new_writes, r.follower, (unsigned long long)r.round, r.stamp_us / 1000.0, r.leader,
             r.woke_us / 1000.0, (unsigned long long)r.round);
    tap_note("paused leader: the last read at n%d, at %.1f ms, claims %" PRId64
             " ms; it misses index %" PRId64 " (first applied at %.1f ms): margin %+.1f ms; "
             "least margin of %" PRId64 " reads %+.1f ms",
             r.follower, r.reads.last.at_us / 1000.0, r.reads.last.bound_ms,
             r.reads.last.missed_index, r.reads.last.missed_applied_us / 1000.0,
             r.reads.last.margin_us / 1000.0, r.reads.served, r.reads.worst.margin_us / 1000.0);
    tap_ok(r.reads.worst.margin_us >= 0,
           "paused leader: the round current when a stamp arrives does not prove it: the "
           "follower's bound never misses a committed write");
}

/* ---- a new leader before its no-op ---- */

struct noop_run {
    int old_leader, new_leader;
    int64_t w_index, w_applied_us, elected_us;
    bool window; /* a round of the new leader confirmed while W was not applied there */
    struct twin_reads reads;
    int worst_node;
};

/* 5 nodes. The old leader L1 commits W with L2 and X; L2 and X never hear that it is
 * committed, and Y and Z never get it. L1 and X go silent; L2 is elected by Y and Z (its
 * log is longer) with a commit index below W: W is committed, acknowledged and in L2's
 * log, but L2 does not know it until its own no-op commits. Y and Z reject L2's first
 * appends (they miss W) yet echo the round, so L2's first rounds are confirmed by a
 * majority before its commit index covers W. A commit index read then, paired with the
 * round's send time or with a stamp arriving then, would claim freshness past W for a
 * state without it: hence "nothing before this term's no-op is applied" (ack arrival)
 * and "the commit index at sending must cover the no-op" (the leader's own pair). */
static bool noop_run(uint64_t seed, struct noop_run *out)
{
    struct twin *t = twin_new(5, fr_config(), seed, false);
    struct sim *s = t->s;
    *out = (struct noop_run){.new_leader = -1, .worst_node = -1};
    int l1 = twin_start(t);
    if (l1 < 0) {
        twin_free(t);
        return false;
    }
    int64_t until = s->now_us;
    int l2 = (l1 + 1) % 5, x = (l1 + 2) % 5, y = (l1 + 3) % 5, z = (l1 + 4) % 5;
    out->old_leader = l1;
    sim_hold(s, l1, y, true);
    sim_hold(s, l1, z, true);
    out->w_index = sim_propose(s, l1);
    /* Once L2 and X hold W, nothing more from L1 reaches them: not the commit notice. */
    bool l2_held = false, x_held = false;
    while (!(l2_held && x_held) && s->now_us < until + 200 * MS) {
        sim_run_until(s, s->now_us + 100);
        if (!l2_held && raft_last_index(s->nodes[l2].raft) >= out->w_index)
            sim_hold(s, l1, l2, true), l2_held = true;
        if (!x_held && raft_last_index(s->nodes[x].raft) >= out->w_index)
            sim_hold(s, l1, x, true), x_held = true;
    }
    while (raft_applied_index(s->nodes[l1].raft) < out->w_index && s->now_us < until + 400 * MS)
        sim_run_until(s, s->now_us + 100);
    if (out->w_index < 1 || out->w_index > s->committed_len) {
        twin_free(t);
        return false;
    }
    out->w_applied_us = s->committed[out->w_index - 1].applied_us;
    sim_isolate(s, l1, true);
    sim_isolate(s, x, true);
    int64_t deadline = s->now_us + 10 * ELECTION_US;
    while (s->now_us < deadline && sim_leader(s) != l2 && !s->failed)
        sim_run_until(s, s->now_us + 100);
    if (sim_leader(s) != l2) {
        twin_free(t);
        return false;
    }
    out->new_leader = l2;
    out->elected_us = s->now_us;
    uint64_t first_round = raft_round(s->nodes[l2].raft);
    int readers[3] = {l2, y, z};
    while (s->now_us < out->elected_us + 100 * MS && !s->failed) {
        sim_run_until(s, s->now_us + 100);
        const struct raft *r2 = s->nodes[l2].raft;
        if (raft_confirmed_round(r2) >= first_round && raft_applied_index(r2) < out->w_index)
            out->window = true;
        for (int i = 0; i < 3; i++) {
            int64_t worst_us = out->reads.served ? out->reads.worst.margin_us : INT64_MAX;
            if (twin_observe(t, readers[i], &out->reads) && out->reads.worst.margin_us < worst_us)
                out->worst_node = readers[i];
        }
    }
    sim_check_logs(s);
    bool ok = !s->failed;
    if (!ok) tap_diag("simulator: %s", s->failure);
    twin_free(t);
    return ok;
}

static void test_new_leader_noop(void)
{
    struct noop_run r;
    bool ran = noop_run(19, &r);
    if (!tap_ok(ran && r.window && r.reads.served > 0,
                "new leader: n%d is elected knowing less than what is committed, and a round "
                "of it is confirmed before it applies W",
                r.new_leader))
        return;
    tap_note("new leader: n%d commits W at index %" PRId64 " (first applied at %.1f ms); n%d, "
             "which holds W but not its commit, is elected at %.1f ms by the two without W",
             r.old_leader, r.w_index, r.w_applied_us / 1000.0, r.new_leader, r.elected_us / 1000.0);
    if (r.worst_node >= 0)
        tap_note("new leader: %" PRId64 " reads at the new leader and the two it repairs over "
                 "100 ms; least margin %+.1f ms (n%d at %.1f ms claims %" PRId64
                 " ms, first missed index %" PRId64 ")",
                 r.reads.served, r.reads.worst.margin_us / 1000.0, r.worst_node,
                 r.reads.worst.at_us / 1000.0, r.reads.worst.bound_ms, r.reads.worst.missed_index);
    tap_ok(r.reads.worst.margin_us >= 0,
           "new leader: no bound is taken from a commit index that does not yet cover the "
           "term's no-op: no read misses a committed write");
}

/* ---- a slow clock at the follower ---- */

struct drift_run {
    double rate;
    int64_t drift_pct;
    int follower;
    int64_t cut_us, reads_served;
    struct twin_read worst, last;
};

/* 3 nodes; follower F's clock runs at `rate`, its proof assumes an allowance of
 * drift_pct. F is cut off alone while the leader commits a write every 10 ms, and a read
 * arrives at F every ms for 400 ms (t01-drift.sh's scenario). */
static bool drift_run(uint64_t seed, double rate, int64_t drift_pct, struct drift_run *out)
{
    struct twin *t = twin_new(3, fr_config(), seed, false);
    struct sim *s = t->s;
    *out = (struct drift_run){.rate = rate, .drift_pct = drift_pct};
    int leader = sim_wait_leader(s, 10 * ELECTION_US);
    if (leader < 0) {
        twin_free(t);
        return false;
    }
    int f = (leader + 1) % 3;
    out->follower = f;
    sim_set_clock_rate(s, f, rate);
    t->proofs[f].max_clock_drift_pct = drift_pct;
    int64_t until = s->now_us + 300 * MS;
    while (s->now_us < until) {
        sim_propose(s, leader);
        sim_run_until(s, s->now_us + 10 * MS);
    }
    sim_isolate(s, f, true);
    out->cut_us = s->now_us;
    out->worst.margin_us = INT64_MAX;
    while (s->now_us < out->cut_us + 400 * MS && !s->failed) {
        if ((s->now_us - out->cut_us) % (10 * MS) == 0) sim_propose(s, leader);
        sim_run_until(s, s->now_us + 1 * MS);
        struct twin_read r = twin_read(t, f);
        if (r.bound_ms < 0) continue;
        out->reads_served++;
        out->last = r;
        if (r.margin_us < out->worst.margin_us) out->worst = r;
    }
    sim_check_logs(s);
    bool ok = !s->failed;
    twin_free(t);
    return ok;
}

static void note_drift(const struct drift_run *d)
{
    tap_note("drift: n%d at rate %.2f, allowance a = %" PRId64 "%%: %" PRId64
             " reads after the cut; the last, at %+.1f ms from the cut, claims %" PRId64
             " ms, the first write it misses is %.1f ms old: margin %+.1f ms (least %+.1f ms)",
             d->follower, d->rate, d->drift_pct, d->reads_served,
             (d->last.at_us - d->cut_us) / 1000.0, d->last.bound_ms,
             (d->last.at_us - d->last.missed_applied_us) / 1000.0, d->last.margin_us / 1000.0,
             d->worst.margin_us / 1000.0);
}

static void test_drift(void)
{
    struct drift_run inside, outside, wider;
    bool ran = drift_run(17, 0.92, 10, &inside) && drift_run(17, 0.7, 10, &outside) &&
               drift_run(17, 0.7, 40, &wider);
    if (!tap_ok(ran && inside.reads_served > 0 && outside.reads_served > 0 &&
                    wider.reads_served > 0,
                "drift: the cut-off follower serves reads with a bound in all three runs"))
        return;
    note_drift(&inside);
    note_drift(&outside);
    note_drift(&wider);
    tap_ok(inside.worst.margin_us >= 0 && wider.worst.margin_us >= 0,
           "drift: a clock inside the allowance (0.92 at 10%%, 0.7 at 40%%) never under-claims");
    tap_ok(outside.worst.margin_us < 0,
           "drift, negative control: a clock outside it (0.7 at 10%%) claims less staleness "
           "than real (by %.1f ms)",
           -outside.worst.margin_us / 1000.0);
}

/* ---- a follower restart ---- */

struct restart_run {
    int leader, follower;
    int64_t restart_us, release_us;
    int64_t old_pairs;      /* appends carrying a pair of the earlier life, delivered */
    int64_t accepted_ms;    /* the bound the new life reported after them; -1: none */
    struct twin_read read;  /* ... and whether it was honest */
    int64_t bound_later_ms; /* once the new life's own stamps are proven */
};

static bool append_carries_pair(const cJSON *append, double *incarnation, int64_t *stamp_us)
{
    const cJSON *piggyback = cJSON_GetObjectItemCaseSensitive(append, "piggyback");
    const cJSON *pair = cJSON_GetObjectItemCaseSensitive(twin_mine(piggyback), "pair");
    if (!pair) return false;
    *incarnation = cJSON_GetObjectItemCaseSensitive(pair, "incarnation")->valuedouble;
    *stamp_us = (int64_t)cJSON_GetObjectItemCaseSensitive(pair, "stamp_us")->valuedouble;
    return true;
}

/* 3 nodes, writes every 10 ms. The leader's appends to follower F are held from hold_us;
 * F restarts (a new process: clock from 0, a new proof) and, 700 ms later, the held
 * appends arrive one by one, each carrying a pair stamped by F's earlier life. The
 * earlier clock's stamps are by then below the new clock's now, so only the incarnation
 * tells them apart. `reuse` gives the new life its earlier incarnation. */
static bool restart_run(uint64_t seed, bool reuse, struct restart_run *out)
{
    struct twin *t = twin_new(3, fr_config(), seed, false);
    struct sim *s = t->s;
    *out = (struct restart_run){.accepted_ms = -1};
    int leader = sim_wait_leader(s, 10 * ELECTION_US);
    if (leader < 0) {
        twin_free(t);
        return false;
    }
    int f = (leader + 1) % 3;
    out->leader = leader;
    out->follower = f;
    int64_t until = s->now_us + 500 * MS;
    while (s->now_us < until) {
        sim_propose(s, leader);
        sim_run_until(s, s->now_us + 10 * MS);
    }
    sim_hold(s, leader, f, true);
    sim_run_until(s, s->now_us + 30 * MS);
    out->restart_us = s->now_us;
    double earlier = t->proofs[f].incarnation;
    twin_restart(t, f, reuse ? earlier : twin_incarnation(s, f) + 1);
    until = s->now_us + 700 * MS;
    while (s->now_us < until) {
        sim_propose(s, leader);
        sim_run_until(s, s->now_us + 10 * MS);
    }
    out->release_us = s->now_us;
    /* The oldest held append first: its commit index is the oldest, so after it F's
     * state is as old as the earlier life left it. */
    cJSON *held = NULL;
    size_t count = sim_collect(s, leader, f, "raft_append", &held, 1);
    double incarnation;
    int64_t stamp_us;
    if (count == 1 && append_carries_pair(held, &incarnation, &stamp_us) &&
        incarnation == earlier && sim_deliver_one(s, leader, f, "raft_append", -1)) {
        out->old_pairs = 1;
        out->accepted_ms = fr_proof_staleness_ms(&t->proofs[f], sim_clock_us(s, f));
        out->read = twin_read(t, f);
        tap_note("restart%s: n%d's earlier life's pair (stamp %.1f ms on its old clock) arrives "
                 "at %.1f ms, when the new clock reads %.1f ms; n%d has applied index %" PRId64,
                 reuse ? " (incarnation reused)" : "", f, stamp_us / 1000.0, s->now_us / 1000.0,
                 sim_clock_us(s, f) / 1000.0, f, raft_applied_index(s->nodes[f].raft));
    }
    cJSON_Delete(held);
    sim_hold(s, leader, f, false);
    sim_run_until(s, s->now_us + 300 * MS);
    out->bound_later_ms = twin_read(t, f).bound_ms;
    twin_free(t);
    return true;
}

static void test_restart(void)
{
    struct restart_run fresh, reused;
    bool ran = restart_run(11, false, &fresh) && restart_run(11, true, &reused);
    if (!tap_ok(ran && fresh.old_pairs == 1 && reused.old_pairs == 1,
                "restart: a held append with the earlier life's pair reaches the restarted "
                "follower in both runs"))
        return;
    tap_note("restart: n%d restarted at %.1f ms (clock from 0); held appends released at %.1f ms",
             fresh.follower, fresh.restart_us / 1000.0, fresh.release_us / 1000.0);
    tap_note("new incarnation: bound after the old pair %" PRId64 " (-1: none); after 300 ms of "
             "its own stamps %" PRId64 " ms",
             fresh.accepted_ms, fresh.bound_later_ms);
    tap_ok(fresh.accepted_ms < 0,
           "restart: a follower's new life does not accept a pair stamped by its earlier life");
    tap_ok(fresh.bound_later_ms >= 0 && fresh.bound_later_ms < 100,
           "restart: its own stamps are proven soon after (a bound under 100 ms)");
    tap_note("incarnation reused: the old pair gives a bound of %" PRId64 " ms; index %" PRId64
             " first applied %.1f ms before is not in its state: margin %+.1f ms",
             reused.accepted_ms, reused.read.missed_index,
             (reused.read.at_us - reused.read.missed_applied_us) / 1000.0,
             reused.read.margin_us / 1000.0);
    tap_ok(reused.accepted_ms >= 0 && reused.read.missed_applied_us >= 0 &&
               reused.read.margin_us < 0,
           "restart, negative control: a new life that reused the earlier incarnation takes "
           "the old pair and claims a bound that misses committed writes");
}

/* ---- a read index asked of a deposed leader ---- */

/* A follower's read index (stages/01-follower-reads/fr_read_index.c) is the leader's
 * ReadIndex, answered from the leader's side: the commit index when the request arrives,
 * handed out only once a round begun after that is confirmed. The twin asks it of both
 * leaders of a partitioned cluster: the old one, cut off with the asking follower (no
 * CheckQuorum, so it keeps leading), and the new one. */
struct read_index_ask {
    int64_t index;       /* the commit index recorded when the request arrived */
    uint64_t round;      /* the first round that may confirm it */
    int64_t answered_us; /* when that round was confirmed while still leader; -1: never */
};

static struct read_index_ask read_index_ask(struct sim *s, int leader)
{
    struct raft *r = s->nodes[leader].raft;
    struct read_index_ask ask = {
        .index = raft_commit_index(r), .round = raft_round(r) + 1, .answered_us = -1};
    raft_want_round(r, sim_clock_us(s, leader));
    sim_poke(s, leader);
    return ask;
}

static void read_index_watch(const struct sim *s, int leader, int64_t term,
                             struct read_index_ask *ask)
{
    const struct raft *r = s->nodes[leader].raft;
    if (ask->answered_us < 0 && raft_is_leader(r) && raft_term(r) == term &&
        raft_confirmed_round(r) >= ask->round)
        ask->answered_us = s->now_us;
}

static void test_read_index_deposed(void)
{
    struct sim *s = sim_new(5,
                            &(struct raft_config){.heartbeat_us = HEARTBEAT_US,
                                                  .election_timeout_us = ELECTION_US,
                                                  .max_entries_per_append = 64,
                                                  .without_check_quorum = true},
                            7);
    int old = sim_wait_leader(s, 10 * ELECTION_US);
    if (!tap_ok(old >= 0, "read index: a leader is elected")) {
        sim_free(s);
        return;
    }
    for (int i = 0; i < 5; i++) {
        sim_propose(s, old);
        sim_run_until(s, s->now_us + 10 * MS);
    }
    int64_t old_term = raft_term(s->nodes[old].raft);
    int follower = (old + 1) % 5;
    int group[5];
    for (int i = 0; i < 5; i++)
        group[i] = i == old || i == follower;
    sim_partition(s, group);
    /* The majority elects a leader and commits a write; the time the first node applied
     * it is the earliest any client heard it acknowledged. */
    int fresh = -1;
    int64_t write_index = -1;
    while (s->now_us < 2000 * MS && write_index < 0) {
        sim_run_until(s, s->now_us + 1 * MS);
        int now_leader = sim_leader(s);
        if (fresh < 0 && now_leader >= 0 && now_leader != old) {
            fresh = now_leader;
            write_index = sim_propose(s, fresh);
        }
    }
    while (s->now_us < 3000 * MS && (write_index < 0 || s->committed_len < write_index))
        sim_run_until(s, s->now_us + 1 * MS);
    if (!tap_ok(fresh >= 0 && write_index > 0 && s->committed_len >= write_index,
                "read index: the majority elects n%d and commits a write", fresh)) {
        sim_free(s);
        return;
    }
    int64_t acked_us = s->committed[write_index - 1].applied_us;
    /* 10 ms later, n<follower>'s request reaches its leader, the deposed one, and another
     * follower's reaches the new leader. */
    sim_run_until(s, s->now_us + 10 * MS);
    int64_t asked_us = s->now_us;
    int64_t fresh_term = raft_term(s->nodes[fresh].raft);
    struct read_index_ask at_old = read_index_ask(s, old);
    struct read_index_ask at_fresh = read_index_ask(s, fresh);
    while (s->now_us < asked_us + 500 * MS) {
        sim_run_until(s, s->now_us + 1 * MS);
        read_index_watch(s, old, old_term, &at_old);
        read_index_watch(s, fresh, fresh_term, &at_fresh);
    }
    bool still_leads =
        raft_is_leader(s->nodes[old].raft) && raft_term(s->nodes[old].raft) == old_term;
    tap_note("read index: the write at index %" PRId64 " was acknowledged at %.1f ms; both leaders "
             "are asked at %.1f ms",
             write_index, acked_us / 1000.0, asked_us / 1000.0);
    tap_note("read index: deposed n%d (term %" PRId64 ", %s) recorded index %" PRId64
             ": answered, that would miss the write; its round %llu: %s",
             old, old_term, still_leads ? "still leading" : "no longer leading", at_old.index,
             (unsigned long long)at_old.round,
             at_old.answered_us < 0 ? "never confirmed in 500 ms" : "CONFIRMED");
    tap_note("read index: n%d (term %" PRId64 ") recorded index %" PRId64
             ", its round confirmed after %.1f ms",
             fresh, fresh_term, at_fresh.index,
             at_fresh.answered_us < 0 ? -1.0 : (at_fresh.answered_us - asked_us) / 1000.0);
    tap_ok(still_leads && at_old.index < write_index,
           "read index: the deposed leader's index would miss the acknowledged write (negative "
           "control: answering without a confirmed round is unsafe)");
    tap_ok(at_old.answered_us < 0,
           "read index: the deposed leader never confirms a round begun after the request, so "
           "it never answers");
    tap_ok(at_fresh.answered_us >= 0 && at_fresh.index >= write_index,
           "read index: the new leader answers within 500 ms with an index that holds the write");
    tap_ok(!s->failed, "read index: no Raft safety violation%s%s", s->failed ? ": " : "",
           s->failed ? s->failure : "");
    sim_free(s);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            trace_verbose = true;
        } else {
            fprintf(stderr,
                    "usage: %s [-v]\n"
                    "  Stage 01's staleness proof on a simulated cluster in virtual time; "
                    "prints TAP.\n"
                    "  -v   the cores' traces on stderr\n",
                    argv[0]);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    test_deposed_leader();
    test_round_in_flight();
    test_paused_leader();
    test_new_leader_noop();
    test_drift();
    test_restart();
    test_read_index_deposed();
    return tap_done();
}
