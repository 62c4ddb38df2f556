/* raft_parts.h: the inside of the Raft core, shared by its three files. Drivers (the node,
 * the simulator) use raft.h only.
 *
 *   raft.c              the state and its lifecycle, persistence and restart (§3.8),
 *                       receiving, the clock (raft_tick: CheckQuorum §6.2, election timer)
 *   raft_election.c     elections (§3.4) with PreVote (§9.6) and leader stickiness (§4.2.3)
 *   raft_replication.c  log replication and commit (§3.5), the no-op and the broadcast
 *                       rounds every read path counts on (§6.4)
 *   raft_snapshot.c     log compaction and InstallSnapshot (§5.1-5.4)
 */
#ifndef READPATH_RAFT_PARTS_H
#define READPATH_RAFT_PARTS_H

#include "raft.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* An ack for a round older than this still confirms leadership; only its send time is
 * forgotten (read paths then wait for a newer round). */
#define RAFT_ROUND_MEMORY 1024

struct raft {
    int self, n;
    struct raft_config config;
    struct raft_callbacks cb;
    raft_draw_fn draw;

    /* Persistent state (§3.8): every change is reported through the persist_* callbacks. */
    int64_t term;
    int voted_for; /* -1: none this term */
    /* Entries snapshot_index+1..last_index, index i at log[i - snapshot_index] (see
     * raft_log_entry); log[0] stands for the snapshot's last entry (term snapshot_term),
     * a sentinel of term 0 before any snapshot (§5.1). */
    struct raft_entry *log;
    int64_t last_index, log_cap;
    int64_t snapshot_index, snapshot_term;
    cJSON *snapshot; /* the driver's state at snapshot_index; NULL before any */

    int64_t commit_index, applied_index;
    /* With await_own_fsync: the log is on this node's disk up to here (the driver says so
     * after each fsync); the leader's own vote in the commit rule. */
    int64_t durable_index;
    enum raft_role role;
    int leader;
    int64_t election_due_us;
    /* Follower: when it last got an append from the leader of its term. Leader: the
     * latest time by which a majority had acknowledged it. Stickiness (§4.2.3) and
     * CheckQuorum (§6.2) both read this one number. */
    int64_t leader_contact_us;
    /* Follower: the incarnation the leader's latest append carried (0: none seen). */
    int64_t leader_incarnation;
    bool *votes;

    /* Leader state. */
    int64_t *next_index, *match_index, *last_ack_us;
    uint64_t *acked_round;
    int64_t noop_index;
    int64_t heartbeat_due_us;
    bool entries_pending;
    bool round_wanted;
    uint64_t round, confirmed_round;
    /* Send time and commit index of the last RAFT_ROUND_MEMORY rounds, by round id. */
    struct {
        uint64_t round;
        int64_t sent_us, commit_index;
    } rounds[RAFT_ROUND_MEMORY];
};

/* ---- raft.c: the log, terms and messages ---- */
void raft_persist_term_vote(struct raft *r);
int raft_majority(const struct raft *r);
int64_t raft_quorum_value(const struct raft *r, int64_t *values);
/* The term of entry `index`: the snapshot's for its last index, 0 beyond the log, -1
 * (unknown) below the snapshot. */
int64_t raft_term_at(const struct raft *r, int64_t index);
struct raft_entry *raft_log_entry(const struct raft *r, int64_t index); /* in the log */
int64_t raft_random_election_timeout(struct raft *r);
void raft_append_local(struct raft *r, int64_t term, cJSON *command);
void raft_truncate_after(struct raft *r, int64_t index);
void raft_apply_committed(struct raft *r);
void raft_notify(struct raft *r);
void raft_become_follower(struct raft *r, int64_t term, int leader, int64_t now_us);
cJSON *raft_message(const char *type, int64_t term);
int64_t raft_int(const cJSON *body, const char *field, bool *ok);

/* ---- raft_election.c ---- */
void raft_become_precandidate(struct raft *r, int64_t now_us);
void raft_on_vote(struct raft *r, int from, const cJSON *body, int64_t now_us);
void raft_on_vote_res(struct raft *r, int from, const cJSON *body, int64_t now_us);
void raft_become_leader(struct raft *r, int64_t now_us);

/* ---- raft_replication.c ---- */
void raft_broadcast(struct raft *r, int64_t now_us);
void raft_send_append(struct raft *r, int peer);
void raft_attach_piggyback(cJSON *body, cJSON *piggyback);
const cJSON *raft_piggyback_of(const cJSON *body, int from);
bool raft_heed_leader(struct raft *r, int from, const cJSON *body, int64_t term, int64_t prev,
                      int64_t round, int64_t now_us);
void raft_reply_append(struct raft *r, int to, bool success, int64_t match_index,
                       int64_t conflict_index, int64_t prev, int64_t round,
                       const cJSON *incarnation, int64_t now_us);
void raft_advance_commit(struct raft *r);
void raft_on_append(struct raft *r, int from, const cJSON *body, int64_t now_us);
void raft_on_append_res(struct raft *r, int from, const cJSON *body, int64_t now_us);

/* ---- raft_snapshot.c ---- */
void raft_send_snapshot(struct raft *r, int peer);
void raft_on_snapshot(struct raft *r, int from, const cJSON *body, int64_t now_us);

#endif
