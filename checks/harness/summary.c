#include "summary.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void summary_init(summary_stats *s, int node_count)
{
    memset(s, 0, sizeof *s);
    s->node_count = node_count;
    s->served_by_node = calloc((size_t)node_count, sizeof *s->served_by_node);
    s->node_cpu_s = calloc((size_t)node_count, sizeof *s->node_cpu_s);
    s->leader_index = -1;
    s->faults = cJSON_CreateArray();
}

void summary_free(summary_stats *s)
{
    for (int k = 0; k < OP_KIND_COUNT; k++)
        free(s->by_kind[k].ok_latency_us);
    free(s->served_by_node);
    free(s->node_cpu_s);
    cJSON_Delete(s->faults);
    memset(s, 0, sizeof *s);
}

void summary_record_invoke(summary_stats *s, op_kind kind)
{
    s->by_kind[kind].invoked++;
}

void summary_record_completion(summary_stats *s, op_kind kind, summary_outcome outcome,
                               int64_t latency_us, int served_by_index)
{
    summary_op_stats *st = &s->by_kind[kind];
    if (outcome == SUMMARY_FAIL) st->fail++;
    if (outcome == SUMMARY_INFO) st->info++;
    if (outcome != SUMMARY_OK) return;
    st->ok++;
    if (served_by_index >= 0) s->served_by_node[served_by_index]++;
    if (st->ok_latency_len == st->ok_latency_cap) {
        st->ok_latency_cap = st->ok_latency_cap ? 2 * st->ok_latency_cap : 1024;
        st->ok_latency_us =
            realloc(st->ok_latency_us, st->ok_latency_cap * sizeof *st->ok_latency_us);
    }
    st->ok_latency_us[st->ok_latency_len++] = latency_us;
}

void summary_record_fault(summary_stats *s, int64_t time_us, cJSON *fault)
{
    cJSON_AddNumberToObject(fault, "time_us", (double)time_us);
    cJSON_AddItemToArray(s->faults, fault);
}

static int summary_compare_us(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of ok latencies, in ms; -1 when there were none. */
static double summary_percentile_ms(summary_op_stats *st, double pct)
{
    if (st->ok_latency_len == 0) return -1;
    qsort(st->ok_latency_us, st->ok_latency_len, sizeof *st->ok_latency_us, summary_compare_us);
    size_t rank = (size_t)(pct / 100.0 * (double)st->ok_latency_len + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > st->ok_latency_len) rank = st->ok_latency_len;
    return (double)st->ok_latency_us[rank - 1] / 1000.0;
}

/* Derived totals both reports share. */
typedef struct {
    summary_op_stats all;
    uint64_t completed;
    double duration_s, ok_per_s, completed_per_s, messages_per_op;
    double runner_cpu_s, nodes_cpu_s;
} summary_totals;

static double summary_cpu_s(int who)
{
    struct rusage usage;
    if (getrusage(who, &usage) < 0) return 0;
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static summary_totals summary_total(const summary_stats *s, const summary_context *ctx)
{
    summary_totals t;
    memset(&t, 0, sizeof t);
    for (int k = 0; k < OP_KIND_COUNT; k++) {
        t.all.invoked += s->by_kind[k].invoked;
        t.all.ok += s->by_kind[k].ok;
        t.all.fail += s->by_kind[k].fail;
        t.all.info += s->by_kind[k].info;
    }
    t.completed = t.all.ok + t.all.fail + t.all.info;
    t.duration_s = (double)(s->run_end_us - s->clients_start_us) / 1e6;
    if (t.duration_s > 0) {
        t.ok_per_s = (double)t.all.ok / t.duration_s;
        t.completed_per_s = (double)t.completed / t.duration_s;
    }
    if (t.completed) t.messages_per_op = (double)ctx->net->routed_total / (double)t.completed;
    /* The runner's own cost is what bounds how hard it can drive a cluster; the nodes'
     * (children reaped by now) is what the cluster spent serving it. */
    t.runner_cpu_s = summary_cpu_s(RUSAGE_SELF);
    t.nodes_cpu_s = summary_cpu_s(RUSAGE_CHILDREN);
    return t;
}

void summary_print(summary_stats *s, const summary_context *ctx, FILE *out)
{
    summary_totals t = summary_total(s, ctx);
    fprintf(out, "cluster: %d nodes, seed %llu, clients ran %.2f s\n", ctx->node_count,
            (unsigned long long)ctx->seed, t.duration_s);
    fprintf(out, "%-17s %8s %8s %8s %8s %9s %9s\n", "op", "count", "ok", "fail", "info", "p50 ms",
            "p99 ms");
    for (int k = 0; k < OP_KIND_COUNT; k++) {
        summary_op_stats *st = &s->by_kind[k];
        if (st->invoked == 0) continue;
        char p50[32] = "-", p99[32] = "-";
        if (st->ok_latency_len) {
            snprintf(p50, sizeof p50, "%.2f", summary_percentile_ms(st, 50));
            snprintf(p99, sizeof p99, "%.2f", summary_percentile_ms(st, 99));
        }
        fprintf(out, "%-17s %8llu %8llu %8llu %8llu %9s %9s\n", op_kind_name((op_kind)k),
                (unsigned long long)st->invoked, (unsigned long long)st->ok,
                (unsigned long long)st->fail, (unsigned long long)st->info, p50, p99);
    }
    fprintf(out, "%-17s %8llu %8llu %8llu %8llu\n", "total", (unsigned long long)t.all.invoked,
            (unsigned long long)t.all.ok, (unsigned long long)t.all.fail,
            (unsigned long long)t.all.info);
    fprintf(out, "throughput: %.1f ok ops/s, %.1f completed ops/s\n", t.ok_per_s,
            t.completed_per_s);
    fprintf(out, "cpu: runner %.2f s, nodes %.2f s (", t.runner_cpu_s, t.nodes_cpu_s);
    for (int i = 0; i < ctx->node_count; i++)
        fprintf(out, "%s%s %.2f", i ? ", " : "", ctx->nodes[i].name, s->node_cpu_s[i]);
    fprintf(out, "); leader at the end: %s\n",
            s->leader_index >= 0 ? ctx->nodes[s->leader_index].name : "none seen");
    fprintf(out, "served by:");
    for (int i = 0; i < ctx->node_count; i++)
        fprintf(out, " %s %llu", ctx->nodes[i].name, (unsigned long long)s->served_by_node[i]);
    const route_net *net = ctx->net;
    fprintf(out,
            "\nmessages: %llu routed between nodes (%.2f per client op), %llu dropped by "
            "partitions and cuts (%llu of them in flight), %llu to or from killed nodes, %llu "
            "duplicated\n",
            (unsigned long long)net->routed_total, t.messages_per_op,
            (unsigned long long)(net->dropped_at_send + net->dropped_in_flight),
            (unsigned long long)net->dropped_in_flight, (unsigned long long)net->dropped_dead,
            (unsigned long long)net->duplicated_total);
    fprintf(out, "faults: %d injected\n", cJSON_GetArraySize(s->faults));
    if (s->late_replies || s->bad_node_lines)
        fprintf(out, "ignored: %llu late replies, %llu unparsable node lines\n",
                (unsigned long long)s->late_replies, (unsigned long long)s->bad_node_lines);
    for (int i = 0; i < ctx->node_count; i++) {
        char how[128];
        if (procs_describe_exit(&ctx->nodes[i], how, sizeof how))
            fprintf(out, "warning: %s %s\n", ctx->nodes[i].name, how);
    }
    if (ctx->log_dir)
        fprintf(out, "node logs: %s\n", ctx->log_dir);
    else
        fprintf(out, "node logs: removed (the run passed; --keep-logs keeps them)\n");
}

static cJSON *summary_op_json(summary_op_stats *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)st->invoked);
    cJSON_AddNumberToObject(o, "ok", (double)st->ok);
    cJSON_AddNumberToObject(o, "fail", (double)st->fail);
    cJSON_AddNumberToObject(o, "info", (double)st->info);
    if (st->ok_latency_len) {
        cJSON_AddNumberToObject(o, "p50_ms", summary_percentile_ms(st, 50));
        cJSON_AddNumberToObject(o, "p99_ms", summary_percentile_ms(st, 99));
    }
    return o;
}

static cJSON *summary_messages_json(const summary_context *ctx, double per_op)
{
    const route_net *net = ctx->net;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "routed", (double)net->routed_total);
    cJSON_AddNumberToObject(m, "delivered", (double)net->delivered_total);
    cJSON_AddNumberToObject(m, "dropped_at_send", (double)net->dropped_at_send);
    cJSON_AddNumberToObject(m, "dropped_in_flight", (double)net->dropped_in_flight);
    cJSON_AddNumberToObject(m, "dropped_dead", (double)net->dropped_dead);
    cJSON_AddNumberToObject(m, "duplicated", (double)net->duplicated_total);
    cJSON_AddNumberToObject(m, "per_client_op", per_op);
    cJSON *links = cJSON_AddArrayToObject(m, "links");
    for (int from = 0; from < ctx->node_count; from++)
        for (int to = 0; to < ctx->node_count; to++) {
            size_t link = (size_t)from * (size_t)ctx->node_count + (size_t)to;
            if (from == to) continue;
            cJSON *l = cJSON_CreateObject();
            cJSON_AddStringToObject(l, "from", ctx->nodes[from].name);
            cJSON_AddStringToObject(l, "to", ctx->nodes[to].name);
            cJSON_AddNumberToObject(l, "delivered", (double)net->delivered_by_link[link]);
            cJSON_AddNumberToObject(l, "dropped", (double)net->dropped_by_link[link]);
            cJSON_AddNumberToObject(l, "duplicated", (double)net->duplicated_by_link[link]);
            cJSON_AddItemToArray(links, l);
        }
    return m;
}

int summary_write_json(summary_stats *s, const summary_context *ctx, const char *path)
{
    summary_totals t = summary_total(s, ctx);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "nodes", ctx->node_count);
    cJSON_AddNumberToObject(root, "seed", (double)ctx->seed);
    cJSON_AddNumberToObject(root, "duration_s", t.duration_s);
    cJSON *ops = cJSON_AddObjectToObject(root, "ops");
    for (int k = 0; k < OP_KIND_COUNT; k++)
        if (s->by_kind[k].invoked)
            cJSON_AddItemToObject(ops, op_kind_name((op_kind)k), summary_op_json(&s->by_kind[k]));
    cJSON *total = cJSON_AddObjectToObject(root, "total");
    cJSON_AddNumberToObject(total, "count", (double)t.all.invoked);
    cJSON_AddNumberToObject(total, "ok", (double)t.all.ok);
    cJSON_AddNumberToObject(total, "fail", (double)t.all.fail);
    cJSON_AddNumberToObject(total, "info", (double)t.all.info);
    cJSON_AddNumberToObject(root, "ok_per_s", t.ok_per_s);
    cJSON_AddNumberToObject(root, "completed_per_s", t.completed_per_s);
    cJSON_AddNumberToObject(root, "runner_cpu_s", t.runner_cpu_s);
    cJSON_AddNumberToObject(root, "nodes_cpu_s", t.nodes_cpu_s);
    cJSON *node_cpu = cJSON_AddObjectToObject(root, "node_cpu_s");
    for (int i = 0; i < ctx->node_count; i++)
        cJSON_AddNumberToObject(node_cpu, ctx->nodes[i].name, s->node_cpu_s[i]);
    cJSON_AddNumberToObject(root, "leaderships_seen", s->leaderships_seen);
    cJSON_AddNumberToObject(root, "max_term", s->max_term);
    cJSON *rss = cJSON_AddObjectToObject(root, "node_max_rss_kb");
    for (int i = 0; i < ctx->node_count; i++)
        cJSON_AddNumberToObject(rss, ctx->nodes[i].name, (double)ctx->nodes[i].max_rss_kb);
    if (s->leader_index >= 0)
        cJSON_AddStringToObject(root, "leader", ctx->nodes[s->leader_index].name);
    else
        cJSON_AddNullToObject(root, "leader");
    cJSON *served = cJSON_AddObjectToObject(root, "served_by");
    for (int i = 0; i < ctx->node_count; i++)
        cJSON_AddNumberToObject(served, ctx->nodes[i].name, (double)s->served_by_node[i]);
    cJSON_AddItemToObject(root, "messages", summary_messages_json(ctx, t.messages_per_op));
    cJSON_AddItemReferenceToObject(root, "faults", s->faults);
    cJSON_AddNumberToObject(root, "late_replies", (double)s->late_replies);
    cJSON_AddNumberToObject(root, "bad_node_lines", (double)s->bad_node_lines);
    cJSON *exits = cJSON_AddObjectToObject(root, "node_exits");
    for (int i = 0; i < ctx->node_count; i++) {
        char how[128];
        procs_describe_exit(&ctx->nodes[i], how, sizeof how);
        cJSON_AddStringToObject(exits, ctx->nodes[i].name, how);
    }
    if (ctx->log_dir)
        cJSON_AddStringToObject(root, "log_dir", ctx->log_dir);
    else
        cJSON_AddNullToObject(root, "log_dir");
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *file = fopen(path, "w");
    int rc = -1;
    if (file) {
        fputs(text, file);
        fputc('\n', file);
        rc = fclose(file) == 0 ? 0 : -1;
    }
    cJSON_free(text);
    return rc;
}
