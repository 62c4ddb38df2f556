/* summary: what a person (stdout) and a script (--summary-json) want to know after a
 * run: per op type the outcome counts and ok latency p50/p99, who served the ops, how
 * many inter-node messages each client op cost, throughput, the faults injected and how
 * each node ended. */
#ifndef SUMMARY_H
#define SUMMARY_H

#include "op.h"
#include "procs.h"
#include "route.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    uint64_t invoked, ok, fail, info;
    int64_t *ok_latency_us; /* grows; sorted only when reported */
    size_t ok_latency_len, ok_latency_cap;
} summary_op_stats;

typedef struct {
    int node_count;
    summary_op_stats by_kind[OP_KIND_COUNT];
    uint64_t *served_by_node;
    uint64_t late_replies, bad_node_lines;
    int64_t clients_start_us, run_end_us;
    cJSON *faults;      /* array of {time_us, fault, ...} */
    double *node_cpu_s; /* per node, read just before shutdown */
    int leader_index;   /* the leader when the run ended, as the runner saw it; -1 */
    /* Leaderships seen (a node sending appends in a term higher than any before): 1 in
     * a run without spurious elections. And the highest such term. */
    int leaderships_seen;
    double max_term;
} summary_stats;

typedef enum { SUMMARY_OK, SUMMARY_FAIL, SUMMARY_INFO } summary_outcome;

void summary_init(summary_stats *s, int node_count);
void summary_free(summary_stats *s);
void summary_record_invoke(summary_stats *s, op_kind kind);
/* served_by_index: the node that answered (served_by, else the node contacted). */
void summary_record_completion(summary_stats *s, op_kind kind, summary_outcome outcome,
                               int64_t latency_us, int served_by_index);
/* Takes ownership of fault, an object describing it; time_us is added. */
void summary_record_fault(summary_stats *s, int64_t time_us, cJSON *fault);

/* Everything the report reads besides the op stats. */
typedef struct {
    const route_net *net;
    const procs_node *nodes;
    int node_count;
    uint64_t seed;
    const char *log_dir; /* NULL: the temporary one was removed, the run having passed */
} summary_context;

void summary_print(summary_stats *s, const summary_context *ctx, FILE *out);
int summary_write_json(summary_stats *s, const summary_context *ctx, const char *path);

#endif
