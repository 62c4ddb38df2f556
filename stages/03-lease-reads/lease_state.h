/* lease_state: a leader's lease on its own clock, as a pure core.
 *
 * Granted by heartbeat rounds a majority acknowledged (from the round's send time, for
 * the effective lease L - S the configs allow), cut when this leader appends a config
 * with a shorter lease, dropped on any change of leadership, and usable only once this
 * term's no-op is applied (NOTES.md, stage 03, "Why each condition in the code is
 * there"). Nothing here reads a clock or reaches for the node: time, the Raft core and
 * the state machine are passed in, so the unit simulator (checks/unit/lease_test.c)
 * drives the same lease on virtual clocks that lease.c drives on clock_now_us(). */
#ifndef READPATH_LEASE_STATE_H
#define READPATH_LEASE_STATE_H

#include "kv.h"
#include "raft.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* What the configurations in this node's log allow a lease to count on (lease_config.c
 * knows them; a test states them). */
struct lease_allowance {
    int64_t latest_index, latest_term; /* the newest config in the log; index 0: the flags */
    int64_t latest_effective_us;       /* its L - S */
    int64_t min_effective_us;          /* the smallest L - S of any config seen, flags too */
    bool overflowed;                   /* a config went unrecorded: only the smallest counts */
};

struct lease_state {
    int64_t term;       /* the term it was granted in */
    int64_t start_us;   /* send time of the latest round that granted it */
    int64_t expires_us; /* 0: no lease */
    /* Per peer, the first round begun after the peer was known to hold the latest
     * config (entry tracked_index); 0 while not known. */
    uint64_t *holds_config_from_round;
    int64_t tracked_index, tracked_term;
    int n;
};

/* No lease, for a node in a cluster of n (allocates; lease_state_free). */
void lease_state_init(struct lease_state *l, int n);
void lease_state_free(struct lease_state *l);

/* Does this node hold a usable lease at now_us on its clock? */
bool lease_state_valid(const struct lease_state *l, const struct raft *r, int64_t now_us);
/* Points the per-peer tracking at the newest config (once per turn while leading, and
 * before every grant). */
void lease_state_track(struct lease_state *l, const struct raft *r,
                       const struct lease_allowance *a);
/* A majority acknowledged `round`, sent at sent_us: extend the lease. */
void lease_state_round_confirmed(struct lease_state *l, const struct raft *r,
                                 const struct lease_allowance *a, uint64_t round, int64_t sent_us,
                                 int64_t now_us);
/* Role, term or leader changed: a lease of an earlier term or role is dropped. */
void lease_state_leadership_changed(struct lease_state *l, const struct raft *r);
/* This leader appended a config whose effective lease is effective_us. */
void lease_state_config_appended(struct lease_state *l, int64_t effective_us);

/* What a lease read needs from the node, passed in. */
struct lease_ctx {
    const struct raft *raft;
    const struct kv *kv;
    /* This node's clock, read at the instant of the check. */
    int64_t (*now_us)(void *clock);
    void *clock;
};

struct lease_read {
    bool on_lease;      /* answer from `value`/`found` with no round trip */
    int found;          /* kv_read's result: PROTO_OK or PROTO_KEY_DOES_NOT_EXIST */
    const cJSON *value; /* owned by the state machine */
    int64_t checked_us; /* the clock reading the lease was checked against */
};

/* A lease read of key: the value first, then a fresh clock reading, then the check. Not
 * on_lease: the caller falls back to ReadIndex. */
struct lease_read lease_state_read(const struct lease_state *l, const struct lease_ctx *ctx,
                                   const cJSON *key);

#endif
