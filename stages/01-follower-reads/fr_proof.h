/* fr_proof: the staleness proof of follower_read, as a pure core.
 *
 * One node's part in the proof (NOTES.md, stage 01, "The mechanism"): as a follower it
 * stamps its acks and keeps the proven pairs its leader hands back; as a leader it pairs
 * each stamp with its commit index at arrival and proves the pair with a later round a
 * majority confirmed. Nothing here reads a clock or reaches for the node: time arrives
 * as `now_us` (this node's clock), the Raft core as an argument, and the piggyback
 * objects are the plugin's own, as follower_read.c receives them. So the unit
 * simulator (checks/unit/fr_twin.c) can drive the same proof on virtual time that
 * follower_read.c drives on clock_now_us(). */
#ifndef READPATH_FR_PROOF_H
#define READPATH_FR_PROOF_H

#include "raft.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

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

struct fr_proof {
    /* This life of the process: below 10^15, so cJSON prints it exactly. Stamps are on
     * this life's clock, whose origin a restart moves. */
    double incarnation;
    int64_t fresh_as_of_us; /* INT64_MIN: nothing proven */
    struct fr_pair pending[FR_MAX_PENDING];
    int pending_count;
    struct fr_peer *peers; /* leader side, one per cluster member */
    int n;
    /* Negative control: "time since the last heartbeat" as the bound. */
    bool naive;
    int64_t last_leader_contact_us;
    /* a, in percent: this clock's rate is within 1 ± a of real time. */
    int64_t max_clock_drift_pct;
};

/* A fresh proof for one life of a node in a cluster of n (allocates; fr_proof_free). */
void fr_proof_init(struct fr_proof *p, int n, double incarnation, int64_t max_clock_drift_pct,
                   bool naive);
void fr_proof_free(struct fr_proof *p);

/* ---- follower side (the Raft piggyback events) ---- */

/* This node acks an append at now_us: stamp its object. */
void fr_proof_sending_ack(const struct fr_proof *p, cJSON *mine, int64_t now_us);
/* An append from the leader arrived, with the leader's object (or NULL). True when it
 * carried a well-formed pair of this life (the caller retries parked reads). */
bool fr_proof_leader_contact(struct fr_proof *p, const struct raft *r, const cJSON *mine,
                             int64_t now_us);
/* The leader answered a read index (fr_read_index.h) to a request this node sent at
 * pair.stamp_us: the leader recorded pair.index after the request arrived and a round
 * begun after that confirmed it, which is a proven pair like a heartbeat's. */
void fr_proof_read_index(struct fr_proof *p, const struct raft *r, struct fr_pair pair,
                         int64_t now_us);
/* Index applied: pending pairs up to it count now. True if fresh_as_of moved. */
bool fr_proof_applied(struct fr_proof *p, int64_t index);

/* ---- leader side ---- */

/* An ack from peer arrived with its object (or NULL): remember its stamp, unproven. */
void fr_proof_ack_received(struct fr_proof *p, const struct raft *r, int peer, const cJSON *mine);
/* A majority confirmed `round` (sent at sent_us with commit_index): prove the stamps
 * that arrived before it, and learn the leader's own pair. True when the own pair was
 * taken (the caller retries parked reads). */
bool fr_proof_round_confirmed(struct fr_proof *p, const struct raft *r, uint64_t round,
                              int64_t sent_us, int64_t commit_index, int64_t now_us);
/* An append is going to peer: hand back its latest proven pair, if any. */
void fr_proof_sending_append(const struct fr_proof *p, int peer, cJSON *mine);
/* Leadership changed: unproven stamps were about the old term's leadership. */
void fr_proof_leadership_changed(struct fr_proof *p);

/* ---- the bound ---- */

/* The stamp this node's state is proven fresh as of (the naive control: its last leader
 * contact); INT64_MIN when nothing is. */
int64_t fr_proof_fresh_as_of_us(const struct fr_proof *p);
/* How stale, in real ms rounded up, is state fresh as of a time this node's clock
 * measured `measured_us` ago, given the drift allowance. */
int64_t fr_proof_real_staleness_ms(const struct fr_proof *p, int64_t measured_us);
/* The bound a read reports when its clock reads now_us after taking the value; -1 when
 * nothing is proven. */
int64_t fr_proof_staleness_ms(const struct fr_proof *p, int64_t now_us);

#endif
