/* sim: a whole Raft cluster in one process, on a virtual clock.
 *
 * The core (common/raft.c) is a step function, so a cluster is just N `struct raft`
 * values, a clock that jumps from one event to the next, and a queue of messages in
 * flight. The network is ours to break: each directed link can be cut (messages on it
 * are lost) or held (they wait in the queue until a test releases them one by one),
 * every message gets a random delay (so, unless `fifo`, later messages can overtake
 * earlier ones), and a share can be dropped or duplicated. Everything random comes
 * from one seeded PRNG, so a failing seed replays exactly.
 *
 * Each node has its own clock: it reads rate × (virtual time − origin), so a test can
 * make one run fast or slow (the drift a lease must survive) or start again from 0 at a
 * restart, as a new process's monotonic clock does. The core of node i only ever sees
 * node i's clock. A read path rides on the cores through `struct sim_hooks`, the same
 * events node.c hands to a stage's plugins.
 *
 * While it runs, the simulator checks Raft's safety properties (§3.6.3, Figure 3.2)
 * after every event and records the first violation in `failure`:
 *   election safety      at most one leader per term;
 *   state machine safety every node applies the same entry at each index, once, in order;
 *   leader completeness  a leader of a term after an entry was seen committed holds it;
 *   log matching         (every few events and on demand) same index and term ->
 *                        identical logs up to there. */
#ifndef READPATH_SIM_H
#define READPATH_SIM_H

#include "raft.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#define SIM_MAX_NODES 7

struct sim;

struct sim_node {
    struct sim *sim;
    int id;
    int64_t lives; /* starts so far; the current one is the core's incarnation */
    struct raft *raft;
    int64_t tick_due_us; /* virtual time */
    /* Its clock reads clock_base_us + clock_rate * (virtual time - clock_since_us): at
     * rate 1 from virtual time 0 unless a test sets it (sim_set_clock, sim_set_clock_rate). */
    double clock_rate;
    int64_t clock_since_us, clock_base_us;
    /* What this node applied, index i at [i - 1]: entry term and command id (0: no-op). */
    int64_t *applied_term, *applied_id;
    int64_t applied_count, applied_cap;
    int64_t leader_checked_term;    /* the last term in which it was checked as a new leader */
    int64_t seen_term, seen_commit; /* as of the last check: neither may go back */
    /* Its disk: what the core asked to persist (§3.8), as sim_restart finds it. */
    struct {
        int64_t term;
        int voted_for;
        int64_t snapshot_index, snapshot_term;
        cJSON *snapshot;            /* a copy; NULL before any */
        struct raft_entry *entries; /* copies; entries[i] is index snapshot_index + i + 1 */
        int64_t count, cap;
        bool forget_votes; /* negative control: the vote is never written */
    } disk;
    int64_t snapshot_loads; /* snapshots loaded into its state: installs and restarts */
};

struct sim_msg {
    int from, to;
    int64_t deliver_us;
    uint64_t seq; /* ties in time go in send order */
    /* Serialized at send, as on a wire: raft_append refers to log entries the sender may
     * later truncate, so the body cannot wait in the queue as a cJSON tree. */
    char *text;
};

/* One round_confirmed callback, as reported. */
struct sim_round {
    int node;
    int64_t term;
    uint64_t round;
    int64_t sent_us, commit_index;
};

/* The first time anyone applied index i: the entry, the applier's term then, and the
 * virtual time (the earliest a client could have heard it acknowledged). Any leader of a
 * later term must hold this entry (leader completeness). */
struct sim_commit {
    int64_t term, id, seen_in_term;
    int64_t applied_us;
};

/* The events a read path plugs into, per node (see node.h's node_plugin): each gets the
 * node's index and, where the core passes one, time on that node's clock. A piggyback
 * object is Raft's whole one (node.c gives each plugin its own member of it). Every
 * member may be NULL. */
struct sim_hooks {
    void *ctx;
    void (*leadership_changed)(void *ctx, int node);
    void (*round_confirmed)(void *ctx, int node, uint64_t round, int64_t sent_us,
                            int64_t commit_index);
    void (*appended)(void *ctx, int node, int64_t index, const struct raft_entry *entry);
    void (*applied)(void *ctx, int node, int64_t index, const struct raft_entry *entry);
    void (*sending_append)(void *ctx, int node, int peer, cJSON *piggyback);
    void (*leader_contact)(void *ctx, int node, int leader, const cJSON *piggyback, int64_t now_us);
    void (*sending_ack)(void *ctx, int node, cJSON *piggyback, int64_t now_us);
    void (*ack_received)(void *ctx, int node, int peer, const cJSON *piggyback, int64_t now_us);
};

struct sim {
    int n;
    int64_t now_us;
    uint64_t rng;
    struct raft_config config;
    struct sim_node nodes[SIM_MAX_NODES];
    struct sim_hooks hooks;

    /* The network, per directed link from -> to. */
    bool cut[SIM_MAX_NODES][SIM_MAX_NODES];
    bool held[SIM_MAX_NODES][SIM_MAX_NODES];
    bool paused[SIM_MAX_NODES]; /* sim_pause: no ticks, nothing delivered on its own */
    int64_t delay_min_us, delay_max_us;
    bool fifo;        /* no overtaking on a link */
    int drop_percent; /* lost at send */
    int dup_percent;  /* delivered twice */
    int64_t link_last_us[SIM_MAX_NODES][SIM_MAX_NODES];
    struct sim_msg *queue;
    size_t queue_len, queue_cap;
    uint64_t seq;

    /* Observations. */
    int *leader_of_term; /* by term; -1: none seen */
    int64_t terms_cap;
    struct sim_commit *committed; /* index i at [i - 1] */
    int64_t committed_len, committed_cap;
    struct sim_round *rounds;
    size_t rounds_len, rounds_cap;
    int64_t next_command_id;
    uint64_t events, messages_delivered;

    /* Every election timeout exactly the minimum from the next draw on, as node.c's
     * READPATH_PIN_ELECTION_TIMEOUT: a timeline that does not depend on the dice. */
    bool pin_election_timeout;
    /* Events between two log-matching checks (0: every 16). A test about a read path,
     * with long logs, checks less often and once at its end. */
    int log_check_every;
    /* Log compaction (§5.1), as node.c's --snapshot-every: after an event, a node that
     * applied this many entries since its last snapshot compacts at its applied index
     * (0: never). A node's snapshot is its applied list, {"applied":[[term, id], ...]},
     * so loading one is checked against what every other node applied. */
    int64_t snapshot_every;

    bool failed;
    const char *failure_kind; /* one of the SIM_* names below */
    char failure[1024];
};

/* What a violation broke, as failure_kind. */
#define SIM_ELECTION_SAFETY "election safety"
#define SIM_LOG_MATCHING "log matching"
#define SIM_STATE_MACHINE "state machine safety"
#define SIM_LEADER_COMPLETENESS "leader completeness"
#define SIM_MONOTONIC "monotonic term and commit index"

/* A cluster of n nodes at virtual time 0, every link up, delays of 1..5 ms, FIFO. */
struct sim *sim_new(int n, const struct raft_config *config, uint64_t seed);
void sim_free(struct sim *s);

/* Node i's clock now: what its core and its read path see as now_us. */
int64_t sim_clock_us(const struct sim *s, int node);
/* From now on node i's clock reads rate * (virtual time - origin_us). Set it before the
 * node runs (or just before sim_restart, origin now: a new process's clock), since a
 * clock that jumps under a running core is not one a node can have. */
void sim_set_clock(struct sim *s, int node, double rate, int64_t origin_us);
/* Node i's clock runs at `rate` from now on, continuing from its current reading (a
 * drift that starts now, with no jump). */
void sim_set_clock_rate(struct sim *s, int node, double rate);
/* Plugs a read path into every node's events (copied). */
void sim_set_hooks(struct sim *s, const struct sim_hooks *hooks);

/* Uniform in [lo, hi), from the simulator's seeded PRNG. */
int64_t sim_random(struct sim *s, int64_t lo, int64_t hi);

/* Runs events (deliveries, due ticks) in time order up to until_us, then sets the
 * clock to until_us. Stops early at the first safety violation. */
void sim_run_until(struct sim *s, int64_t until_us);
/* Runs until pred(s, arg) holds (checked after every event) or until_us; true if it held. */
bool sim_run_while_not(struct sim *s, int64_t until_us, bool (*pred)(struct sim *s, void *arg),
                       void *arg);

/* The network. */
void sim_cut(struct sim *s, int from, int to, bool cut);
/* Cuts every link between `node` and the others, both ways (or mends them). */
void sim_isolate(struct sim *s, int node, bool isolated);
/* Splits the cluster: group[i] names node i's side; links across sides are cut. */
void sim_partition(struct sim *s, const int *group);
void sim_heal(struct sim *s);
void sim_hold(struct sim *s, int from, int to, bool held);
/* A paused node (SIGSTOP) neither ticks nor receives: messages to it wait in the queue.
 * sim_deliver_one still hands it one, without running its timers: a process that wakes
 * reads every line waiting for it before its event loop runs the timers. Unpausing runs
 * them (sim_poke). */
void sim_pause(struct sim *s, int node, bool paused);
/* Delivers now the first queued message from -> to of this type whose "round" field
 * equals round (any round if round < 0), held or not. Returns false if there is none. */
bool sim_deliver_one(struct sim *s, int from, int to, const char *type, int64_t round);
/* Removes the first queued message from -> to of this type (any if NULL), as if lost. */
bool sim_drop_one(struct sim *s, int from, int to, const char *type);
/* Removes every queued message from -> to (of this type, or all if NULL). */
size_t sim_discard(struct sim *s, int from, int to, const char *type);
/* Queued messages from -> to of this type (all types if NULL); *body_out (if not NULL)
 * receives a parsed copy of the last one, for the caller to delete. */
size_t sim_count(struct sim *s, int from, int to, const char *type, cJSON **body_out);

/* Parsed copies of up to max queued messages from -> to of this type (all if NULL), in
 * send order, for the caller to delete. Returns how many. */
size_t sim_collect(struct sim *s, int from, int to, const char *type, cJSON **bodies, size_t max);

/* Hands `body` to node `to` as if `from` had sent it, now; then ticks and flushes it. */
void sim_inject(struct sim *s, int from, int to, const cJSON *body);
/* Crashes a node and starts it again now from what it persisted (term, vote, snapshot,
 * log): its state is the snapshot's, the rest is relearned from a leader. */
void sim_restart(struct sim *s, int node);
/* Negative control: the same restart, but the core is told it restarted one election
 * timeout ago, so it grants votes at once instead of refusing them for one election
 * timeout (its own campaign still waits for its timer). */
void sim_restart_without_window(struct sim *s, int node);

/* Ticks and flushes a node now, as the event loop does after a turn. */
void sim_poke(struct sim *s, int node);
/* Proposes a fresh command {"type":"put","id":N} at a node and flushes it. Returns the
 * log index, or -1 when the node is not leader. */
int64_t sim_propose(struct sim *s, int node);
/* The same for a command of the caller's (ownership passes; "id" is added). */
int64_t sim_propose_command(struct sim *s, int node, cJSON *command);

/* The one node that is leader with the highest term, or -1. */
int sim_leader(const struct sim *s);
/* Runs until exactly one node is leader and every node follows it in its term; returns
 * it, or -1 if that did not happen by until_us. */
int sim_wait_leader(struct sim *s, int64_t until_us);
/* Has node's round `round` been confirmed? If so, *sent_us (if not NULL) gets its send
 * time. */
bool sim_round_sent(const struct sim *s, int node, uint64_t round, int64_t *sent_us);
/* Number of nodes that currently believe they are leader. */
int sim_leader_count(const struct sim *s);
/* Checks log matching across every pair now; false (and `failure` set) on a violation. */
bool sim_check_logs(struct sim *s);
/* Node's applied list as a snapshot, {"applied":[[term, id], ...]} (see snapshot_every). */
cJSON *sim_state(const struct sim *s, int node);
/* A command's id (0 for a no-op or anything without one). */
int64_t sim_command_id(const cJSON *command);

#endif
