/* node_parts: how the files of the node runtime fit together (internal to common/).
 *
 * node.h is what a stage sees. Behind it the runtime is a few files, each one idea, in
 * layers: a file calls only the ones listed above it, and hears from the ones below
 * through the callbacks it is given at start.
 *
 *   node_members.c  who is who: this node's id and its peers'
 *   node_request.c  a request's life: arrival, waiting lists, deadline, its one reply
 *   node_forward.c  forwarding to the leader, and serving what peers forward to us
 *   readindex.c     linearizable reads at the leader (§6.4)
 *   node_linkv.c    Maelstrom's lin-kv: read, write, cas, and answering committed writes
 *   node_intake.c   client lines: the pre-init buffer, the queue, overload, end of input
 *   node_flags.c    the command line
 *   node_durable.c  with --data-dir: acks and votes wait for their fsync, nothing else does
 *   node.c          init, the Raft core's callbacks fanned out to the above and to the
 *                   stage's plugins, and main */
#ifndef READPATH_NODE_PARTS_H
#define READPATH_NODE_PARTS_H

#include "node.h"

#include <stdio.h>

/* ---- node_members.c ---- */
/* Takes the ids from init (copied). */
void node_members_set(const char *self_id, const char *const *ids, int n, int self);
void node_members_free(void);
int node_self(void);
int node_cluster_size(void);
/* The index of a peer id, or -1 for anyone else (a client). */
int node_peer_index(const char *id);
char *node_strdup(const char *s); /* aborts when out of memory */

/* ---- node_request.c ---- */
/* A request from `client` (a client id, or peer `from_peer` >= 0 when it was forwarded
 * to us). Takes ownership of body, whose "type" is a string. */
struct node_request *node_request_new(cJSON *body, const char *client, int from_peer,
                                      int64_t now_us, int64_t timeout_us);
int64_t node_live_requests(void);
void node_wait_on(struct node_request *req, enum node_wait wait);
void node_unwait(struct node_request *req);
/* The commit list is kept sorted by log index (see node_linkv.c). */
void node_wait_commit(struct node_request *req);
struct node_request *node_first_waiting(enum node_wait wait);
struct node_request *node_next_waiting(struct node_request *req);
/* Answers a request whose time is up: code 0 if it may have had an effect, else 11. */
void node_expire(struct node_request *req, const char *why);
/* End of input: every live request is answered at once. */
void node_expire_all(const char *why);
/* The deadline timer: answers overdue requests and stage waits; returns the delay
 * until it wants to run again. */
int64_t node_requests_timer(int64_t now_us);

/* ---- node_forward.c ---- */
struct node_forward_config {
    struct raft *raft;
    /* This life of the process: a random id, so an answer meant for an earlier life
     * (whose forward ids started at 0 too) is never taken for one of ours. */
    int64_t incarnation;
    int64_t request_timeout_us, max_inflight;
    /* Handles a request from the top (a forward that arrived, or one that waited for a
     * leader when this node became it). */
    void (*dispatch)(struct node_request *req);
    /* Write-like types: forwarded and not answered, their outcome is unknown (0). */
    bool (*changes_state)(const char *type);
};
void node_forward_start(const struct node_forward_config *config);
void node_forward_stop(void);
/* Peer messages of this file: "forward" and "forward_res". */
void node_forward_receive(int peer, const cJSON *body, int64_t now_us);
void node_forward_receive_res(int peer, const cJSON *body);
/* A leader is known now: requests that waited for one go to it. */
void node_retry_leaderless(void);
/* The timer that looks for a leader while requests wait for one. */
int64_t node_forward_timer(void *ctx, int64_t now_us);

/* ---- node_linkv.c ---- */
extern const struct node_handler node_linkv_handlers[];
extern const int node_linkv_handler_count;
void node_linkv_start(struct raft *raft, struct kv *kv, bool maelstrom,
                      const struct node_stage *stage);
/* A committed entry was applied with kv_apply's result: answer the writes waiting on it. */
void node_linkv_applied(int64_t index, const struct raft_entry *entry, int result);
/* A snapshot brought the state to `index`: writes waiting for an entry it covers are
 * answered with error 0 (this node never saw which entry took their slot). */
void node_linkv_installed(int64_t index);

/* ---- node_intake.c ---- */
struct node_intake_handlers {
    void (*init)(const cJSON *envelope);
    void (*peer)(int peer, const cJSON *body);
    void (*request)(cJSON *body, const char *src);
    bool (*initialized)(void);
};
void node_intake_start(const struct node_intake_handlers *handlers, int64_t max_inflight);
void node_intake_stop(void);
void node_intake_line(void *ctx, const char *line, size_t len);
bool node_intake_wants_input(void *ctx);
/* Handles one turn's share of the queued client lines; true if more are waiting. */
bool node_intake_turn(void);
void node_intake_eof(void);

/* ---- node_durable.c ---- */
struct storage;
/* Before init: proto's flush hooks around the storage. */
void node_durable_open(struct storage *storage);
/* At init: returns whether output may leave before the fsync (then raft must await its
 * own fsync); commit_moved runs when an fsync let the leader commit. */
bool node_durable_start(int cluster_size, void (*commit_moved)(void));
/* Storage has the whole log on disk as it is now (after a sync, or a compaction that
 * rewrote it): raft's durable index moves to the last index. */
void node_durable_log_synced(void);
/* Raft's send: true if it kept body (an ack or a vote) until its records are synced. */
bool node_durable_hold(int peer, cJSON *body);
void node_durable_stop(void);

/* ---- node_flags.c ---- */
struct node_flags {
    int64_t heartbeat_ms, election_timeout_ms, request_timeout_ms, max_inflight;
    int64_t snapshot_every; /* entries applied between two snapshots; 0: never */
    bool maelstrom;
    const char *data_dir; /* NULL: in memory only, as Maelstrom expects */
};
/* Parses the command line (the stage's own flags too). Returns 0, or -1 after saying
 * what is wrong on stderr; --help prints the usage and exits 0. */
int node_flags_parse(int argc, char **argv, const struct node_stage *stage,
                     struct node_flags *flags);

#endif
