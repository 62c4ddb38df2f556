/* lease_state: a leader's lease on its own clock (see lease_state.h; the clock analysis
 * is in NOTES.md, stage 03). */
#include "lease_state.h"

#include "trace.h"

#include <stdlib.h>
#include <string.h>

void lease_state_init(struct lease_state *l, int n)
{
    *l = (struct lease_state){.n = n};
    l->holds_config_from_round = calloc((size_t)n, sizeof *l->holds_config_from_round);
    if (!l->holds_config_from_round) abort();
}

void lease_state_free(struct lease_state *l)
{
    free(l->holds_config_from_round);
    l->holds_config_from_round = NULL;
}

bool lease_state_valid(const struct lease_state *l, const struct raft *r, int64_t now_us)
{
    return raft_role(r) == RAFT_LEADER && l->term == raft_term(r) &&
           raft_applied_index(r) >= raft_noop_index(r) && now_us < l->expires_us;
}

/* Starts the per-peer tracking over if the newest config changed. */
void lease_state_track(struct lease_state *l, const struct raft *r, const struct lease_allowance *a)
{
    if (a->latest_index != l->tracked_index || a->latest_term != l->tracked_term) {
        memset(l->holds_config_from_round, 0, (size_t)l->n * sizeof *l->holds_config_from_round);
        l->tracked_index = a->latest_index;
        l->tracked_term = a->latest_term;
    }
    for (int peer = 0; peer < l->n; peer++)
        if (peer != raft_self(r) && !l->holds_config_from_round[peer] &&
            raft_match_index(r, peer) >= a->latest_index)
            l->holds_config_from_round[peer] = raft_round(r) + 1;
}

/* How long a lease round `round` may grant, in us on this node's clock. With no config
 * in the log every node obeys the flags (the cluster runs one set of flags). Otherwise
 * the newest config counts only if the majority that acknowledged the round held its
 * entry *before the round was sent*: a follower draws its election timer on receiving
 * an append, before it looks at the entries inside, so an entry that arrives with the
 * round itself has not yet raised that timer. Failing that, the smallest effective lease
 * this node has ever seen: every follower obeys some config in the leader's log or the
 * flags, and none allows less. The same once the list of configs has overflowed (for
 * good: which configs went unrecorded is not known). */
static int64_t lease_state_round_effective_us(struct lease_state *l, const struct raft *r,
                                              const struct lease_allowance *a, uint64_t round)
{
    lease_state_track(l, r, a);
    /* A config went unrecorded: the newest one recorded may not be the newest in the
     * log, whose lease may be shorter. */
    if (a->overflowed) return a->min_effective_us;
    if (a->latest_index == 0) return a->latest_effective_us;
    int holders = 1; /* this leader appended it */
    for (int peer = 0; peer < l->n; peer++) {
        uint64_t from = l->holds_config_from_round[peer];
        if (peer != raft_self(r) && from && from <= round && raft_acked_round(r, peer) >= round)
            holders++;
    }
    if (holders >= l->n / 2 + 1) return a->latest_effective_us;
    return a->min_effective_us;
}

/* §6.4.1: the majority that acknowledged the round received it at or after sent_us, and
 * refuses to help elect anyone for E on its clocks from then; the rule (L - S) + S <= E
 * makes the lease end, on this clock, before the first of them can. */
void lease_state_round_confirmed(struct lease_state *l, const struct raft *r,
                                 const struct lease_allowance *a, uint64_t round, int64_t sent_us,
                                 int64_t now_us)
{
    if (raft_role(r) != RAFT_LEADER || sent_us == RAFT_UNKNOWN_TIME) return;
    int64_t effective_us = lease_state_round_effective_us(l, r, a, round);
    if (effective_us <= 0) return;
    bool had_lease = lease_state_valid(l, r, now_us);
    l->term = raft_term(r);
    if (sent_us > l->start_us) l->start_us = sent_us;
    if (sent_us + effective_us > l->expires_us) l->expires_us = sent_us + effective_us;
    if (!had_lease && lease_state_valid(l, r, now_us))
        trace_event("round %llu acknowledged by a majority -> lease for %lld ms more",
                    (unsigned long long)round, (long long)((l->expires_us - now_us) / 1000));
}

/* Raft calls this before it sends anything in the new role, so a leader that votes for
 * a newer term has forgotten its lease before the vote leaves. */
void lease_state_leadership_changed(struct lease_state *l, const struct raft *r)
{
    if (raft_role(r) == RAFT_LEADER && raft_term(r) == l->term) return;
    if (l->expires_us > 0)
        trace_event("now %s of term %lld -> lease dropped", raft_role_name(raft_role(r)),
                    (long long)raft_term(r));
    l->expires_us = 0;
    l->start_us = 0;
    l->tracked_index = -1;
}

/* A shorter lease applies at once. Followers adopt the smaller window only when they
 * apply the entry, and each of them last heard from this leader no earlier than the
 * send time of the latest round that granted the lease. */
void lease_state_config_appended(struct lease_state *l, int64_t effective_us)
{
    int64_t cut_us = l->start_us + effective_us;
    if (l->expires_us > cut_us) {
        trace_event("lease_config appended -> lease cut to %lld ms after its start",
                    (long long)(effective_us / 1000));
        l->expires_us = cut_us;
    }
}

/* The value first, then the clock, freshly read: a pause between the two only makes the
 * lease check stricter. The other order (or the event loop's time, taken before this
 * turn's work) could approve a read that happens after the lease ran out. */
struct lease_read lease_state_read(const struct lease_state *l, const struct lease_ctx *ctx,
                                   const cJSON *key)
{
    struct lease_read read = {.value = NULL};
    read.found = kv_read(ctx->kv, key, &read.value);
    read.checked_us = ctx->now_us(ctx->clock);
    read.on_lease = lease_state_valid(l, ctx->raft, read.checked_us);
    return read;
}
