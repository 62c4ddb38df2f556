/* op: the client operations the runner can issue, and what a reply means for the
 * history. Both the workload generator and scripted scenario lines build an op_request;
 * everything downstream (request body, history entries, summary rows) reads the table
 * below instead of switching on names. */
#ifndef OP_H
#define OP_H

#include <cJSON.h>
#include <stdbool.h>

#define OP_KINDS(X)                                                                                \
    X(OP_READ, "read")                                                                             \
    X(OP_WRITE, "write")                                                                           \
    X(OP_CAS, "cas")                                                                               \
    X(OP_FOLLOWER_READ, "follower_read")                                                           \
    X(OP_RYW_READ, "ryw_read")                                                                     \
    X(OP_LEASE_READ, "lease_read")                                                                 \
    X(OP_LEASE_READ_CONFIG, "lease_read_config")

#define OP_ENUM(id, name) id,
typedef enum { OP_KINDS(OP_ENUM) OP_KIND_COUNT } op_kind;
#undef OP_ENUM

/* ryw_read's token comes from the client's session unless a scenario pins it. */
enum { OP_TOKEN_FROM_SESSION = -1 };

/* lease_read_config's three fields (stage 03), as sent. */
typedef struct {
    long lease_duration_ms, election_timeout_ms, max_clock_skew_ms;
} op_lease_config;

typedef struct {
    op_kind kind;
    int node_index;               /* the node the request is sent to */
    cJSON *key;                   /* owned; NULL for lease_read_config, which names no key */
    cJSON *value;                 /* write: the value; cas: from. Owned, NULL for reads. */
    cJSON *cas_to;                /* cas: to. Owned. */
    long max_staleness_ms;        /* follower_read */
    long last_write_index;        /* ryw_read: a pinned token or OP_TOKEN_FROM_SESSION */
    bool prefer_follower;         /* ryw_read */
    op_lease_config lease_config; /* lease_read_config */
} op_request;

const char *op_kind_name(op_kind kind);
/* -1 when the name is not an op. */
int op_kind_from_name(const char *name);
/* Reads return a value; only they put "value" on ok entries from the reply. */
bool op_kind_is_read(op_kind kind);
/* Ops the workload generator can draw (--mix). lease_read_config is not one: it changes
 * the cluster's timing, so a run sends it only where a scenario or --lease-configs says. */
bool op_kind_is_generated(op_kind kind);
/* Adds the fields a history entry of this op carries besides f, key and value (the
 * staleness bound, the token sent, a config's three numbers). */
void op_request_history_fields(const op_request *op, cJSON *entry);

/* The request body for msg_id, with the session's token filled in for ryw_read. */
cJSON *op_request_body(const op_request *op, long msg_id, long session_index);
/* The "value" a history entry carries for this op regardless of outcome: the written
 * value for write, [from, to] for cas, nothing (NULL) for reads. New cJSON. */
cJSON *op_request_history_value(const op_request *op);
void op_request_free(op_request *op);

/* Maelstrom error codes that mean the op certainly did not happen (SPEC.md, "Errors"). Every
 * other code (0 timeout, 13 crash, unknown codes) leaves the outcome open. */
bool op_error_is_definite(int code);

#endif
