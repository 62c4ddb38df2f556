/* workload: the simulated clients.
 *
 * A client is a Jepsen "process": it has at most one op outstanding, so its ops are
 * totally ordered in the history, and it is a session: it remembers the largest log
 * index it has seen (write_ok/cas_ok commit_index, ryw_read_ok follower_applied_index)
 * and sends it as ryw_read's last_write_index, which makes the tokens real.
 *
 * Generated clients (c1..cC, --concurrency C) draw ops from one seeded stream in issue
 * order, so the same --seed gives the same op sequence however the replies are timed.
 * Scripted clients come from scenario lines; their ops queue behind the client's
 * outstanding one. A request unanswered by its deadline completes as "info" and the
 * client moves on; a reply arriving later is ignored. */
#ifndef WORKLOAD_H
#define WORKLOAD_H

#include "history.h"
#include "op.h"
#include "rng.h"
#include "summary.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

enum { WORKLOAD_TARGET_RANDOM = -1, WORKLOAD_TARGET_ROUND_ROBIN = -2 };

typedef struct {
    int op_weight[OP_KIND_COUNT];
    int concurrency;
    double rate_per_s; /* 0 = each client sends its next op as soon as the last ends */
    int64_t timeout_us;
    long key_count;
    long max_ops; /* 0 = unlimited */
    long max_staleness_ms;
    bool prefer_follower;
    int target; /* a node index or WORKLOAD_TARGET_* */
} workload_config;

typedef struct {
    int process;
    char name[IDS_NAME_MAX];
    bool generated;
    bool busy;
    long next_msg_id;
    long outstanding_msg_id;
    op_request outstanding;
    int64_t invoke_us, deadline_us;
    long session_index;
    op_request *scripted; /* FIFO of ops waiting for this client */
    size_t scripted_head, scripted_len, scripted_cap;
} workload_client;

typedef void (*workload_send_fn)(void *ctx, int node_index, const char *line, size_t line_len);

typedef struct {
    workload_config cfg;
    int node_count;
    const char (*node_names)[IDS_NAME_MAX];
    const double *clock_rate_by_node;
    rng_stream rng;
    long next_value;
    long *last_value_by_key;
    int round_robin_next;
    workload_client **by_process; /* sparse, indexed by process number */
    int process_cap;
    bool generating;
    int64_t next_issue_us;
    long ops_generated;
    history_log *history;
    summary_stats *summary;
    workload_send_fn send;
    void *send_ctx;
} workload_state;

/* "read=40,write=30,cas=10"; -1 with a message in err on a bad spec. */
int workload_parse_mix(const char *spec, int op_weight[OP_KIND_COUNT], char *err, size_t err_size);
void workload_init(workload_state *w, const workload_config *cfg, int node_count,
                   const char (*node_names)[IDS_NAME_MAX], const double *clock_rate_by_node,
                   uint64_t seed, history_log *history, summary_stats *summary,
                   workload_send_fn send, void *send_ctx);
void workload_free(workload_state *w);
void workload_start_generating(workload_state *w, int64_t now_us);
void workload_stop_generating(workload_state *w);
bool workload_generation_done(const workload_state *w);
/* Queues a copy of op for the scripted client `process`. */
void workload_enqueue(workload_state *w, int process, const op_request *op);
/* Expires deadlines and sends whatever is due. */
void workload_tick(workload_state *w, int64_t now_us);
/* A line from a node addressed to a client. */
void workload_on_reply(workload_state *w, int64_t now_us, const char *dest, const cJSON *body);
int64_t workload_next_wakeup_us(const workload_state *w);
/* True when no op is outstanding or queued. */
bool workload_quiet(const workload_state *w);

#endif
