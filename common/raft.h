/* raft: the consensus core, as a step function.
 *
 * Nothing in here reads a clock, draws a random number from the OS or touches a file
 * descriptor: time comes in as `now_us` arguments, messages come in through
 * raft_receive, and everything that goes out (messages, committed entries, changes of
 * leadership) leaves through the callbacks. So a test can drive a whole cluster.
 *
 * What this core implements, with the dissertation's sections (Ongaro 2014):
 *   §3.4 leader election with randomized timeouts, drawn at or above a minimum;
 *   §9.6 PreVote, so a node cut off from the cluster does not inflate terms;
 *   §4.2.3 leader stickiness: a node that heard from a live leader within the minimum
 *          election timeout refuses PreVotes and votes, in every role (a leader counts
 *          the last time a majority acknowledged it);
 *   §6.2 CheckQuorum: a leader that has not heard from a majority for an election
 *          timeout steps down;
 *   §3.5 log replication, batched (one append per peer per event-loop turn) and
 *          pipelined (next_index advances optimistically);
 *   §6.4 a no-op entry at the start of each term, and heartbeat *rounds*: every
 *          broadcast carries a round id (with the term and this process's incarnation)
 *          that acks echo, so a read path can learn that a majority still followed this
 *          leader after a given moment.
 * §3.8 persistence is the driver's business: the core reports every change to term,
 * vote and log through the persist_* callbacks (node.c writes them to common/storage,
 * the unit simulator keeps them in memory), and raft_restore loads them back. The
 * driver makes them durable before any message leaves.
 *   §5.1-5.4 log compaction: the driver serializes its state machine at an applied index
 *          and hands it to raft_compact, which drops the log through that index; a
 *          follower that needs a dropped entry gets the snapshot instead (raft_snapshot,
 *          InstallSnapshot) and loads it through load_snapshot.
 * No membership changes. */
#ifndef READPATH_RAFT_H
#define READPATH_RAFT_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define RAFT_UNKNOWN_TIME INT64_MIN

enum raft_role { RAFT_FOLLOWER, RAFT_PRECANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

struct raft_entry {
    int64_t term;
    cJSON *command; /* {"type":"noop"} or a client command; owned by the log */
};

struct raft_config {
    int64_t heartbeat_us;
    int64_t election_timeout_us; /* the minimum; timeouts are drawn from [min, 1.5*min) */
    int max_entries_per_append;
    /* This life of the process (a random id drawn at start): every append carries it and
     * an ack counts only if it echoes it, so an ack addressed to an earlier life of this
     * leader can never confirm a round of this one (round ids restart at 0 each life). */
    int64_t incarnation;
    /* Test-only (stage 01's negative control): a leader that never steps down for lack
     * of a majority, as etcd's raft library behaves unless CheckQuorum is enabled. */
    bool without_check_quorum;
    /* §10.2.1, writing to the leader's disk in parallel: a driver that sends a leader's
     * new entries before its own fsync sets this, and reports each fsync with
     * raft_set_durable_index. The leader then counts its own copy of an entry toward
     * the commit only once it is on disk: counted earlier, an entry could be committed
     * (and a client told) with one other copy, which a crash of this leader before its
     * fsync would leave alone in a minority. false: the driver syncs before anything
     * leaves (or keeps no disk), so the leader counts its whole log at once. */
    bool await_own_fsync;
    /* Test-only negative control: a follower installs every snapshot it is sent, even one
     * older than its commit index (§5.3 says to ignore those), rolling its state back. */
    bool install_any_snapshot;
};

struct raft_callbacks {
    void *ctx;
    /* Sends body to peer index `peer`; takes ownership of body. */
    void (*send)(void *ctx, int peer, cJSON *body);
    /* A committed entry, in log order, exactly once per index. */
    void (*apply)(void *ctx, int64_t index, const struct raft_entry *entry);
    /* Role, term or known leader changed. Called before anything is sent in the new
     * role, so a read path can drop what it must (a lease) before answering anyone. */
    void (*leadership_changed)(void *ctx);
    /* A majority (counting this leader) acknowledged broadcast round `round`, which was
     * sent at sent_us when the commit index was commit_index. For a round too old to
     * remember, sent_us is RAFT_UNKNOWN_TIME and commit_index -1. */
    void (*round_confirmed)(void *ctx, uint64_t round, int64_t sent_us, int64_t commit_index);
    /* Persistence (§3.8), all optional (NULL: in memory only). Called as the change
     * happens; the driver must make them durable before it sends anything this turn,
     * since a vote or an ack promises what they record. */
    void (*persist_term_vote)(void *ctx, int64_t term, int voted_for);
    void (*persist_append)(void *ctx, int64_t index, const struct raft_entry *entry);
    void (*persist_truncate)(void *ctx, int64_t after_index); /* drop entries > after */
    /* Snapshots (§5.1-5.4). `snapshot` is the driver's own serialized state machine after
     * applying exactly the entries through `index` (whose term is `term`); raft never
     * reads it, only keeps the latest and sends it.
     * - load_snapshot: the state machine becomes `snapshot`: at raft_restore, and when a
     *   leader's raft_snapshot is to be installed. Called before the log changes; false
     *   refuses a malformed one, and then nothing changes. Required once snapshots exist.
     * - persist_snapshot (optional, like persist_*): the log now starts after `index`:
     *   make the snapshot durable and drop what it covers from disk. Called after the log
     *   changed, so raft_entry_at shows the entries kept after it. */
    bool (*load_snapshot)(void *ctx, int64_t index, int64_t term, const cJSON *snapshot);
    void (*persist_snapshot)(void *ctx, int64_t index, int64_t term, const cJSON *snapshot);
    /* Piggybacking, for read paths (all optional). Raft's appends and their acks carry
     * a "piggyback" object that raft itself never reads: the driver fills it before an
     * append or an ack is sent and gets it back (or NULL) when one arrives, so a read
     * path adds zero messages and never parses raft's own fields.
     * - sending_append: this leader is about to send an append (entries or a heartbeat)
     *   to `peer`.
     * - leader_contact: an append from the leader of this node's current term arrived.
     * - sending_ack: this node is about to answer an append.
     * - ack_received: an ack addressed to this life of this leader, in its term, arrived
     *   (successful or not). */
    void (*sending_append)(void *ctx, int peer, cJSON *piggyback);
    void (*leader_contact)(void *ctx, int leader, const cJSON *piggyback, int64_t now_us);
    void (*sending_ack)(void *ctx, cJSON *piggyback, int64_t now_us);
    void (*ack_received)(void *ctx, int peer, const cJSON *piggyback, int64_t now_us);
};

struct raft;

/* `draw` returns a uniformly random integer in [lo, hi): the election jitter. */
typedef int64_t (*raft_draw_fn)(int64_t lo, int64_t hi);

struct raft *raft_new(int self, int cluster_size, const struct raft_config *config,
                      const struct raft_callbacks *callbacks, raft_draw_fn draw, int64_t now_us);
void raft_free(struct raft *r);
/* What a previous run persisted: term and vote, the latest snapshot (index 0 and NULL when
 * none) and the log entries after it, entries[k] being index snapshot_index + 1 + k. */
struct raft_persisted {
    int64_t term;
    int voted_for;
    int64_t snapshot_index, snapshot_term;
    cJSON *snapshot;
    struct raft_entry *entries;
    int64_t count;
};

/* After raft_new, before any message: loads what a previous run persisted (the snapshot
 * and the commands pass to the core; the caller frees the entries array). The snapshot
 * is loaded into the state machine first (load_snapshot) and counts as committed and
 * applied; the entries after it are not known to be committed: the rest of the commit
 * index is relearned from a leader. A node that restores any state refuses votes and
 * PreVotes for one minimum election timeout from now_us: it may have acknowledged a
 * leader's round just before it crashed, and a lease (stage 03) counts on such a node
 * not helping elect another leader within that time. False: load_snapshot refused the
 * snapshot. */
bool raft_restore(struct raft *r, struct raft_persisted *saved, int64_t now_us);

/* True for the message types this core handles (raft_vote, raft_append, ...). */
bool raft_handles(const char *type);
void raft_receive(struct raft *r, int from, const cJSON *body, int64_t now_us);
/* Heartbeats, election and CheckQuorum timers. Returns microseconds until it wants to
 * run again. */
int64_t raft_tick(struct raft *r, int64_t now_us);

/* Leader only: appends a command (ownership passes to the log) and returns its index,
 * or -1 when not leader. Replication happens at raft_flush, so one turn's proposals
 * travel in one append per peer. */
int64_t raft_propose(struct raft *r, cJSON *command);
/* The driver serialized its state machine as `snapshot` (ownership passes) right after
 * applying `index` (<= the applied index): the log through `index` is dropped (§5.1).
 * An index at or below the current snapshot's is ignored. */
void raft_compact(struct raft *r, int64_t index, cJSON *snapshot);
/* A read wants a round that begins after this call. The next raft_flush broadcasts one
 * unless a round is already in flight (then the round after it serves). */
void raft_want_round(struct raft *r, int64_t now_us);
/* End of an event-loop turn: send what proposals and rounds need. */
void raft_flush(struct raft *r, int64_t now_us);
/* With await_own_fsync: the driver's disk now holds this node's log up to `index`. Only
 * records it (no callback runs, so a driver may call it mid-turn, from its fsync). */
void raft_set_durable_index(struct raft *r, int64_t index);
/* With await_own_fsync, a leader: commits (and applies) what its followers' acks and its
 * own durable copy now cover. Returns true if the commit index moved. */
bool raft_commit_durable(struct raft *r);

enum raft_role raft_role(const struct raft *r);
bool raft_is_leader(const struct raft *r);
int64_t raft_term(const struct raft *r);
int raft_leader(const struct raft *r); /* peer index, or -1 when unknown */
/* The life of the known leader (the incarnation its appends carry), 0 if unknown. */
int64_t raft_leader_incarnation(const struct raft *r);
int raft_self(const struct raft *r);
int raft_cluster_size(const struct raft *r);
int64_t raft_last_index(const struct raft *r);
int64_t raft_commit_index(const struct raft *r);
int64_t raft_applied_index(const struct raft *r);
/* NULL for an index beyond the log or compacted into the snapshot. */
const struct raft_entry *raft_entry_at(const struct raft *r, int64_t index);
/* The last index and term the snapshot covers (0, 0 before any), and the snapshot. */
int64_t raft_snapshot_index(const struct raft *r);
int64_t raft_snapshot_term(const struct raft *r);
const cJSON *raft_snapshot(const struct raft *r);
/* Leader: index of this term's no-op. Reads wait until it is applied (§6.4): before
 * that the leader's state may miss entries committed by earlier leaders. */
int64_t raft_noop_index(const struct raft *r);
uint64_t raft_round(const struct raft *r);           /* the latest round broadcast */
uint64_t raft_confirmed_round(const struct raft *r); /* the latest a majority acked */
/* Leader: what it knows of a peer: the highest log index it has and the latest round
 * it acknowledged (a lease path asks "did the majority that confirmed round R have
 * entry I?"). For the leader itself, its whole log (on disk or not: a lease asks what
 * the nodes know, and a crashed leader holds no lease). */
int64_t raft_match_index(const struct raft *r, int peer);
uint64_t raft_acked_round(const struct raft *r, int peer);
int64_t raft_election_timeout_us(const struct raft *r);
/* Changes the minimum election timeout, which is also the stickiness window. When it
 * grows, a node that is not leader also puts its own next campaign off to at least its
 * last leader contact (or restart) plus a timeout drawn from the new window. */
void raft_set_election_timeout_us(struct raft *r, int64_t election_timeout_us);
const char *raft_role_name(enum raft_role role);

#endif
