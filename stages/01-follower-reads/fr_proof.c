/* fr_proof: the staleness proof of follower_read (see fr_proof.h; the proof itself is in
 * NOTES.md, stage 01). */
#include "fr_proof.h"

#include "proto.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

void fr_proof_init(struct fr_proof *p, int n, double incarnation, int64_t max_clock_drift_pct,
                   bool naive)
{
    *p = (struct fr_proof){
        .incarnation = incarnation,
        .fresh_as_of_us = INT64_MIN,
        .n = n,
        .naive = naive,
        .last_leader_contact_us = INT64_MIN,
        .max_clock_drift_pct = max_clock_drift_pct,
    };
    p->peers = calloc((size_t)n, sizeof *p->peers);
    if (!p->peers) abort();
}

void fr_proof_free(struct fr_proof *p)
{
    free(p->peers);
    p->peers = NULL;
}

/* How stale, in real milliseconds rounded up, is state fresh as of a time that this
 * node's clock measured `measured_us` ago? A clock whose rate ρ is at least 1 - a measures
 * a real interval d as ρ·d >= (1 - a)·d, so d <= measured / (1 - a). (measured × (1 + a)
 * is not enough: at ρ = 1 - a it gives (1 - a²)·d, less than d.) A fast clock only makes
 * the claim looser. */
int64_t fr_proof_real_staleness_ms(const struct fr_proof *p, int64_t measured_us)
{
    /* A real millisecond is at least (1 - a) * 1000 us on this clock: 900 at a = 10%. */
    int64_t measured_us_per_real_ms = (100 - p->max_clock_drift_pct) * 10;
    return (measured_us + measured_us_per_real_ms - 1) / measured_us_per_real_ms;
}

int64_t fr_proof_fresh_as_of_us(const struct fr_proof *p)
{
    return p->naive ? p->last_leader_contact_us : p->fresh_as_of_us;
}

int64_t fr_proof_staleness_ms(const struct fr_proof *p, int64_t now_us)
{
    int64_t fresh_as_of_us = fr_proof_fresh_as_of_us(p);
    if (fresh_as_of_us == INT64_MIN) return -1;
    return fr_proof_real_staleness_ms(p, now_us - fresh_as_of_us);
}

/* Takes a proven pair: usable now if its index is applied, else kept for later. */
static void fr_proof_learn(struct fr_proof *p, const struct raft *r, struct fr_pair pair,
                           int64_t now_us)
{
    if (pair.stamp_us > now_us || pair.stamp_us <= p->fresh_as_of_us) return;
    if (pair.index <= raft_applied_index(r)) {
        p->fresh_as_of_us = pair.stamp_us;
        return;
    }
    for (int i = 0; i < p->pending_count; i++)
        if (p->pending[i].stamp_us == pair.stamp_us) return;
    if (p->pending_count == FR_MAX_PENDING) {
        /* Drop the oldest stamp: a newer one is worth more once applied. */
        int oldest = 0;
        for (int i = 1; i < p->pending_count; i++)
            if (p->pending[i].stamp_us < p->pending[oldest].stamp_us) oldest = i;
        p->pending[oldest] = p->pending[--p->pending_count];
    }
    p->pending[p->pending_count++] = pair;
}

/* ---- follower side ---- */

/* Every ack carries this node's stamp: its own clock at sending, and which life of it
 * that clock belongs to. */
void fr_proof_sending_ack(const struct fr_proof *p, cJSON *mine, int64_t now_us)
{
    cJSON_AddNumberToObject(mine, "stamp_us", (double)now_us);
    cJSON_AddNumberToObject(mine, "incarnation", p->incarnation);
}

/* The leader hands back a proven pair (see fr_proof_sending_append) when it has one. */
bool fr_proof_leader_contact(struct fr_proof *p, const struct raft *r, const cJSON *mine,
                             int64_t now_us)
{
    p->last_leader_contact_us = now_us;
    const cJSON *pair = mine ? cJSON_GetObjectItemCaseSensitive(mine, "pair") : NULL;
    if (!pair) return false;
    char why[128] = "field \"incarnation\" must be a number";
    int64_t stamp_us, index;
    const cJSON *incarnation = cJSON_GetObjectItemCaseSensitive(pair, "incarnation");
    if (proto_get_nonneg_int(pair, "stamp_us", &stamp_us, why, sizeof why) != PROTO_OK ||
        proto_get_nonneg_int(pair, "index", &index, why, sizeof why) != PROTO_OK ||
        !cJSON_IsNumber(incarnation)) {
        trace_warn("follower_read pair from the leader is malformed (%s); ignored", why);
        return false;
    }
    /* A stamp from an earlier life of this process means nothing to this clock. */
    if (incarnation->valuedouble != p->incarnation) return false;
    fr_proof_learn(p, r, (struct fr_pair){.stamp_us = stamp_us, .index = index}, now_us);
    return true;
}

void fr_proof_read_index(struct fr_proof *p, const struct raft *r, struct fr_pair pair,
                         int64_t now_us)
{
    fr_proof_learn(p, r, pair, now_us);
}

bool fr_proof_applied(struct fr_proof *p, int64_t index)
{
    bool improved = false;
    for (int i = 0; i < p->pending_count;) {
        if (p->pending[i].index <= index) {
            if (p->pending[i].stamp_us > p->fresh_as_of_us) {
                p->fresh_as_of_us = p->pending[i].stamp_us;
                improved = true;
            }
            p->pending[i] = p->pending[--p->pending_count];
        } else {
            i++;
        }
    }
    return improved;
}

/* ---- leader side ---- */

void fr_proof_ack_received(struct fr_proof *p, const struct raft *r, int peer, const cJSON *mine)
{
    /* Before the no-op is applied the commit index may miss earlier leaders' entries. */
    if (raft_applied_index(r) < raft_noop_index(r)) return;
    if (!mine) return;
    const cJSON *stamp = cJSON_GetObjectItemCaseSensitive(mine, "stamp_us");
    const cJSON *incarnation = cJSON_GetObjectItemCaseSensitive(mine, "incarnation");
    int64_t stamp_us;
    if (!proto_int_in(stamp, 0, PROTO_MAX_EXACT_INT, &stamp_us) || !cJSON_IsNumber(incarnation))
        return;
    struct fr_peer *peer_state = &p->peers[peer];
    int slot = 0;
    for (int i = 0; i < FR_MAX_UNPROVEN; i++) {
        if (!peer_state->unproven[i].used) {
            slot = i;
            break;
        }
        if (peer_state->unproven[i].arrival_round < peer_state->unproven[slot].arrival_round)
            slot = i;
    }
    peer_state->unproven[slot] = (struct fr_unproven){
        .pair = {.stamp_us = stamp_us, .index = raft_commit_index(r)},
        .incarnation = incarnation->valuedouble,
        .arrival_round = raft_round(r),
        .used = true,
    };
}

bool fr_proof_round_confirmed(struct fr_proof *p, const struct raft *r, uint64_t round,
                              int64_t sent_us, int64_t commit_index, int64_t now_us)
{
    if (raft_role(r) != RAFT_LEADER) return false;
    for (int peer = 0; peer < p->n; peer++) {
        struct fr_peer *peer_state = &p->peers[peer];
        for (int i = 0; i < FR_MAX_UNPROVEN; i++) {
            struct fr_unproven *u = &peer_state->unproven[i];
            /* Only a round that began after the stamp arrived proves it. */
            if (!u->used || u->arrival_round >= round) continue;
            /* Within one incarnation the latest stamp is worth most; across a restart
             * the stamp that arrived last is from the live process. */
            bool newer = u->incarnation == peer_state->proven_incarnation
                             ? u->pair.stamp_us > peer_state->proven.stamp_us
                             : u->arrival_round > peer_state->proven_arrival_round;
            if (!peer_state->has_proven || newer) {
                peer_state->proven = u->pair;
                peer_state->proven_incarnation = u->incarnation;
                peer_state->proven_arrival_round = u->arrival_round;
                peer_state->has_proven = true;
            }
            u->used = false;
        }
    }
    /* The leader's own pair: the round's send time, with the commit index at sending,
     * which must cover this term's no-op. */
    if (sent_us == RAFT_UNKNOWN_TIME || commit_index < raft_noop_index(r)) return false;
    fr_proof_learn(p, r, (struct fr_pair){.stamp_us = sent_us, .index = commit_index}, now_us);
    return true;
}

void fr_proof_sending_append(const struct fr_proof *p, int peer, cJSON *mine)
{
    const struct fr_peer *peer_state = &p->peers[peer];
    if (!peer_state->has_proven) return;
    cJSON *pair = cJSON_AddObjectToObject(mine, "pair");
    cJSON_AddNumberToObject(pair, "stamp_us", (double)peer_state->proven.stamp_us);
    cJSON_AddNumberToObject(pair, "index", (double)peer_state->proven.index);
    cJSON_AddNumberToObject(pair, "incarnation", peer_state->proven_incarnation);
}

void fr_proof_leadership_changed(struct fr_proof *p)
{
    /* Stamps waiting for proof were about the old term's leadership: start over. What
     * this node has already learned (fresh_as_of) stays true. */
    for (int peer = 0; peer < p->n; peer++)
        memset(&p->peers[peer], 0, sizeof p->peers[peer]);
}
