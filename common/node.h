/* node: the runtime every stage's node is built on.
 *
 * It owns the process: flags, the init handshake, the event loop, the Raft core, the KV
 * state machine, and the life of every client request from arrival to reply (the files
 * that do each are listed in node_parts.h). A stage adds read paths as features: each
 * feature file exports one node_feature with its handlers (message type -> function),
 * its plugin (hooks named after events: appended, applied, round confirmed, ...) and
 * its flags. Stage 00 adds nothing: its main.c is a name and a call to node_main.
 *
 * A request is answered exactly once, by the node the client sent it to. If this node
 * is not the leader it forwards the request to the one it knows and relays the reply;
 * if it knows none it waits (bounded) for an election. Every request has a deadline;
 * past it the client hears error 0 (timeout) if the op may have taken effect (it was
 * appended to a log or handed to another node) and error 11 if it certainly did not. */
#ifndef READPATH_NODE_H
#define READPATH_NODE_H

#include "kv.h"
#include "raft.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

enum node_wait {
    NODE_WAIT_NONE,
    NODE_WAIT_LEADER,     /* no leader known; retried when one is */
    NODE_WAIT_FORWARD,    /* sent to the leader; waiting for its forward_res */
    NODE_WAIT_COMMIT,     /* appended at log_index; answered when that index applies */
    NODE_WAIT_READ_INDEX, /* a linearizable read waiting on ReadIndex (readindex.c) */
    NODE_WAIT_STAGE,      /* waiting on a stage's own condition (its plugin wakes it) */
};

struct node_request;
typedef void (*node_serve_fn)(struct node_request *req);

struct node_request {
    struct node_request *all_prev, *all_next;   /* every live request, by arrival */
    struct node_request *wait_prev, *wait_next; /* the list of what it waits for */
    cJSON *body;                                /* the client's request body (owned) */
    const char *type;                           /* body's "type" */
    char *client;                               /* who asked: a client id, or the peer */
    int64_t client_msg_id;                      /* -1: the client wants no reply */
    int from_peer;                              /* >= 0: a peer forwarded it to us */
    int64_t forward_id;                         /* that peer's id for it, or ours when we forward */
    int64_t forward_incarnation;                /* the life of the peer that forwarded it */
    /* The leader that last answered "not the leader", and in which term we thought it
     * led: not asked again until this node learns of another leader or term. -1: none. */
    int refused_by;
    int64_t refused_in_term;
    int64_t received_us, deadline_us;
    enum node_wait wait;
    bool may_have_effect; /* appended or handed on: a timeout is then indefinite */
    int64_t log_index, log_term;
    int64_t read_index;              /* ReadIndex: commit index to reach; -1 until assigned */
    uint64_t read_round;             /* ReadIndex: a round at or after this confirms it */
    node_serve_fn serve;             /* what to do once ReadIndex (or a stage wait) is satisfied */
    int64_t stage_value;             /* a stage's own number for this request (a bound, a token) */
    int64_t stage_deadline_us;       /* a stage wait gives up at this time ... */
    node_serve_fn on_stage_deadline; /* ... by calling this */
    const char *reason;              /* why it was redirected (readindex_redirect) */
    /* Adds fields to the leader's answer when this node relays it to its client (a
     * redirect's reason); NULL: relayed as it came. */
    void (*extend_relayed)(struct node_request *req, cJSON *reply);
    /* Set for a request a peer forwarded, and for one this node asks of the leader itself
     * (node_ask_leader): node_reply hands the answer to this (which owns the body)
     * instead of writing it to a client. */
    void (*relay)(struct node_request *req, cJSON *body);
    uint64_t visit_epoch; /* node_request.c's walks over stage waiters */
};

typedef void (*node_handler_fn)(struct node_request *req);

struct node_handler {
    const char *type;
    node_handler_fn handle;
    /* Goes through the log (write, cas): a forwarded one whose answer never came may
     * have happened, so its timeout is error 0, not 11. */
    bool changes_state;
};

/* Hooks a read path plugs into. Every member may be NULL. */
struct node_plugin {
    const char *name;
    void (*started)(void); /* after init_ok: the cluster is known */
    void (*leadership_changed)(void);
    void (*round_confirmed)(uint64_t round, int64_t sent_us, int64_t commit_index);
    /* An entry entered this node's log at `index` (it may later be overwritten, if it
     * was never committed); called before anything acknowledges it. */
    void (*appended)(int64_t index, const struct raft_entry *entry);
    void (*applied)(int64_t index, const struct raft_entry *entry);
    /* Riding on Raft's own traffic (zero extra messages). `mine` is this plugin's own
     * object inside the message, named after the plugin: what its sending_* hook put
     * there on the other node, or NULL if it put nothing. A plugin never sees Raft's
     * fields, nor another plugin's. */
    void (*sending_append)(int peer, cJSON *mine); /* leading: an append is going to peer */
    void (*leader_contact)(int leader, const cJSON *mine, int64_t now_us);
    void (*sending_ack)(cJSON *mine, int64_t now_us); /* following: acking an append */
    void (*ack_received)(int peer, const cJSON *mine, int64_t now_us);
    /* Snapshots (§5.1): the state machine is saved with each plugin's state that lives
     * beside it and must survive compaction. snapshot_save fills `mine` (this plugin's
     * object in the snapshot) with that state as of the applied index; snapshot_load
     * takes it back (`mine` NULL: the snapshot holds none) from a snapshot through
     * `index` installed from the leader or found at restart, after `started`. */
    void (*snapshot_save)(cJSON *mine);
    void (*snapshot_load)(int64_t index, const cJSON *mine);
    /* A snapshot replaced this node's state: every entry through `index` is now applied
     * at once, with no `applied` call for them. Parked requests are retried after it. */
    void (*installed)(int64_t index);
    /* A write or cas committed at `index`: add fields to its *_ok reply. */
    void (*write_reply_extend)(cJSON *reply, int64_t index);
    /* Once per event-loop turn, after the turn's messages. */
    void (*turn)(int64_t now_us);
};

/* A command-line flag a feature adds: --name N (milliseconds or a count), N >= 0. */
struct node_flag {
    const char *name; /* "--lease-duration-ms" */
    const char *help;
    int64_t *value; /* holds the default; set from the command line */
};

/* The number of elements of an array: descriptors are counted by the compiler. */
#define NODE_COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

/* Everything one read path adds to the node, exported by its feature file as one
 * descriptor (follower_read_feature, ...). */
struct node_feature {
    const char *name; /* "follower_read" */
    const struct node_handler *handlers;
    int handler_count;
    const struct node_plugin *plugin; /* may be NULL */
    const struct node_flag *flags;
    int flag_count;
    /* Once every flag is parsed, before any input is read: NULL if the feature can run
     * with them, else why not (the node prints it and exits 2, like any bad flag). May
     * be NULL. */
    const char *(*check_flags)(void);
};

/* A stage is a name and the features it adds to stage 00, in stage order. */
struct node_stage {
    const char *name;    /* "00-raft-kv" */
    const char *summary; /* one line for --help */
    const struct node_feature *const *features;
    int feature_count;
};

/* Runs the node. Stage 00's messages (read, write, cas) are always served; the stage's
 * features add their own. */
int node_main(int argc, char **argv, const struct node_stage *stage);

/* ---- for handlers and plugins ---- */
struct raft *node_raft(void);
struct kv *node_kv(void);
const char *node_id(void);
const char *node_peer_id(int peer);
bool node_is_leader(void);
bool node_maelstrom_mode(void); /* --maelstrom: replies carry exactly Maelstrom's fields */
int64_t node_request_timeout_us(void);
int64_t node_heartbeat_us(void);
int64_t node_election_timeout_us(void); /* the --election-timeout-ms flag */
/* How long a read path may park a request before its fallback: `heartbeats` heartbeat
 * intervals, but never more than a third of the request timeout, so the fallback (a
 * redirect, a ReadIndex round) still fits before the client hears error 11. */
int64_t node_stage_wait_us(int heartbeats);
/* Negative controls: an environment variable set to 1 turns on a deliberately unsafe
 * behaviour, so a test can show a checker catching it. Logged loudly when on. */
bool node_unsafe_test_switch(const char *name);

/* Replies (takes ownership of body; sets in_reply_to) and frees the request. */
void node_reply(struct node_request *req, cJSON *body);
void node_reply_error(struct node_request *req, int code, const char *fmt, ...);
/* Field checks that answer error 12 naming the field; return false when they did. */
bool node_require_any(struct node_request *req, const char *field, const cJSON **out);
bool node_require_nonneg_int(struct node_request *req, const char *field, int64_t *out);
bool node_require_bool(struct node_request *req, const char *field, bool *out);
/* Hands the request to the leader (or waits for one); its reply is relayed. */
void node_forward(struct node_request *req);
/* A request this node itself makes of the leader, forwarded like a client's (stage 01's
 * read index): takes ownership of body ({"type": ...}, no msg_id) and returns the live
 * request. Its one answer, whatever it is (the leader's reply, or an error: no answer in
 * time, input closed, or node_reply_error from the asker), goes to `answered`, which
 * owns the body; the request is freed right after. */
struct node_request *node_ask_leader(cJSON *body,
                                     void (*answered)(struct node_request *req, cJSON *body));
/* This life of the process: the random id its Raft messages and forwards carry. */
int64_t node_incarnation(void);
/* Appends a write-like command; the reply comes when it applies. Leader only. */
void node_propose(struct node_request *req, cJSON *command);
/* Parks a request on a stage's own condition. node_retry_stage_waiters calls `retry`,
 * which either answers the request or leaves it parked (it must not park it again);
 * at deadline_us `on_deadline` runs instead (it must answer or move the request). */
void node_wait_stage(struct node_request *req, node_serve_fn retry, int64_t deadline_us,
                     node_serve_fn on_deadline);
/* A read path's state improved: give every parked request another try. */
void node_retry_stage_waiters(void);
/* Answers a read from the local state machine with `<type>_ok {value}` or error 20;
 * extra fields are added by `extend` (may be NULL). */
void node_reply_value(struct node_request *req, void (*extend)(struct node_request *, cJSON *));

#endif
