#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int workload_parse_mix(const char *spec, int op_weight[OP_KIND_COUNT], char *err, size_t err_size)
{
    memset(op_weight, 0, OP_KIND_COUNT * sizeof *op_weight);
    char *copy = strdup(spec);
    int total = 0, rc = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        char *end = NULL;
        long weight = eq ? strtol(eq + 1, &end, 10) : -1;
        if (eq) *eq = '\0';
        int kind = op_kind_from_name(item);
        if (kind < 0) {
            snprintf(err, err_size, "--mix: unknown op '%s'", item);
            rc = -1;
        } else if (!op_kind_is_generated((op_kind)kind)) {
            snprintf(err, err_size,
                     "--mix: %s is not generated (it changes the cluster's timing); script it "
                     "in a scenario, or send it at nemesis faults with --lease-configs",
                     item);
            rc = -1;
        } else if (!eq || end == eq + 1 || *end != '\0' || weight < 0 || weight > 1000000) {
            snprintf(err, err_size, "--mix: '%s' needs a weight, e.g. %s=40", item, item);
            rc = -1;
        } else {
            op_weight[kind] = (int)weight;
            total += (int)weight;
        }
    }
    free(copy);
    if (rc == 0 && total == 0) {
        snprintf(err, err_size, "--mix: the weights add up to 0");
        rc = -1;
    }
    return rc;
}

static workload_client *workload_client_get(workload_state *w, int process)
{
    if (process >= w->process_cap) {
        int cap = w->process_cap ? w->process_cap : 16;
        while (cap <= process)
            cap *= 2;
        w->by_process = realloc(w->by_process, (size_t)cap * sizeof *w->by_process);
        memset(w->by_process + w->process_cap, 0,
               (size_t)(cap - w->process_cap) * sizeof *w->by_process);
        w->process_cap = cap;
    }
    if (!w->by_process[process]) {
        workload_client *c = calloc(1, sizeof *c);
        c->process = process;
        ids_client_name(process, c->name);
        c->next_msg_id = 1;
        w->by_process[process] = c;
    }
    return w->by_process[process];
}

void workload_init(workload_state *w, const workload_config *cfg, int node_count,
                   const char (*node_names)[IDS_NAME_MAX], const double *clock_rate_by_node,
                   uint64_t seed, history_log *history, summary_stats *summary,
                   workload_send_fn send, void *send_ctx)
{
    memset(w, 0, sizeof *w);
    w->cfg = *cfg;
    w->node_count = node_count;
    w->node_names = node_names;
    w->clock_rate_by_node = clock_rate_by_node;
    rng_seed(&w->rng, seed, RNG_STREAM_WORKLOAD);
    w->last_value_by_key =
        calloc((size_t)(cfg->key_count > 0 ? cfg->key_count : 1), sizeof *w->last_value_by_key);
    w->history = history;
    w->summary = summary;
    w->send = send;
    w->send_ctx = send_ctx;
    for (int p = 1; p <= cfg->concurrency; p++)
        workload_client_get(w, p)->generated = true;
}

void workload_free(workload_state *w)
{
    for (int p = 0; p < w->process_cap; p++) {
        workload_client *c = w->by_process[p];
        if (!c) continue;
        if (c->busy) op_request_free(&c->outstanding);
        for (size_t i = c->scripted_head; i < c->scripted_len; i++)
            op_request_free(&c->scripted[i]);
        free(c->scripted);
        free(c);
    }
    free(w->by_process);
    free(w->last_value_by_key);
    memset(w, 0, sizeof *w);
}

void workload_start_generating(workload_state *w, int64_t now_us)
{
    w->generating = w->cfg.concurrency > 0;
    w->next_issue_us = now_us;
}

void workload_stop_generating(workload_state *w)
{
    w->generating = false;
}

bool workload_generation_done(const workload_state *w)
{
    return w->cfg.max_ops > 0 && w->ops_generated >= w->cfg.max_ops;
}

static op_request workload_copy_op(const op_request *op)
{
    op_request copy = *op;
    copy.key = op->key ? cJSON_Duplicate(op->key, true) : NULL;
    copy.value = op->value ? cJSON_Duplicate(op->value, true) : NULL;
    copy.cas_to = op->cas_to ? cJSON_Duplicate(op->cas_to, true) : NULL;
    return copy;
}

void workload_enqueue(workload_state *w, int process, const op_request *op)
{
    workload_client *c = workload_client_get(w, process);
    if (c->scripted_len == c->scripted_cap) {
        c->scripted_cap = c->scripted_cap ? 2 * c->scripted_cap : 8;
        c->scripted = realloc(c->scripted, c->scripted_cap * sizeof *c->scripted);
    }
    c->scripted[c->scripted_len++] = workload_copy_op(op);
}

/* Every draw comes from the workload stream in op order and nothing else touches it,
 * which is what makes the op sequence a function of --seed alone. */
static op_request workload_generate(workload_state *w)
{
    op_request op;
    memset(&op, 0, sizeof op);
    int total = 0;
    for (int k = 0; k < OP_KIND_COUNT; k++)
        total += w->cfg.op_weight[k];
    int pick = (int)rng_below(&w->rng, (uint64_t)total), kind = 0;
    while (pick >= w->cfg.op_weight[kind])
        pick -= w->cfg.op_weight[kind++];
    op.kind = (op_kind)kind;
    long key = (long)rng_below(&w->rng, (uint64_t)w->cfg.key_count);
    op.key = cJSON_CreateNumber((double)key);
    int target = w->cfg.target;
    if (target == WORKLOAD_TARGET_RANDOM)
        target = (int)rng_below(&w->rng, (uint64_t)w->node_count);
    else if (target == WORKLOAD_TARGET_ROUND_ROBIN)
        target = w->round_robin_next++ % w->node_count;
    op.node_index = target;
    /* Values come from one counter, so every written value is unique per key (indeed
     * globally) and a checker can tell exactly which write a read observed. cas expects
     * the value most recently generated for the key: usually the current one, so
     * many cas succeed, and it depends on nothing but the seed. 0 is never written, so
     * a cas on a fresh key fails with 20 as it should. */
    if (op.kind == OP_WRITE || op.kind == OP_CAS) {
        long fresh = ++w->next_value;
        if (op.kind == OP_CAS) {
            op.value = cJSON_CreateNumber((double)w->last_value_by_key[key]);
            op.cas_to = cJSON_CreateNumber((double)fresh);
        } else {
            op.value = cJSON_CreateNumber((double)fresh);
        }
        w->last_value_by_key[key] = fresh;
    }
    op.max_staleness_ms = w->cfg.max_staleness_ms;
    op.last_write_index = OP_TOKEN_FROM_SESSION;
    op.prefer_follower = w->cfg.prefer_follower;
    w->ops_generated++;
    return op;
}

static history_op_context workload_context(const workload_state *w, const workload_client *c,
                                           int64_t time_us)
{
    int node = c->outstanding.node_index;
    return (history_op_context){.time_us = time_us,
                                .process = c->process,
                                .op = &c->outstanding,
                                .node_name = w->node_names[node],
                                .clock_rate = w->clock_rate_by_node[node]};
}

static void workload_send(workload_state *w, workload_client *c, op_request op, int64_t now_us)
{
    /* Resolve the session token now, so the history records the token actually sent. */
    if (op.kind == OP_RYW_READ && op.last_write_index == OP_TOKEN_FROM_SESSION)
        op.last_write_index = c->session_index;
    c->outstanding = op;
    c->outstanding_msg_id = c->next_msg_id++;
    c->busy = true;
    c->invoke_us = now_us;
    c->deadline_us = now_us + w->cfg.timeout_us;

    cJSON *envelope = cJSON_CreateObject();
    cJSON_AddStringToObject(envelope, "src", c->name);
    cJSON_AddStringToObject(envelope, "dest", w->node_names[op.node_index]);
    cJSON_AddItemToObject(envelope, "body",
                          op_request_body(&op, c->outstanding_msg_id, c->session_index));
    char *line = cJSON_PrintUnformatted(envelope);
    cJSON_Delete(envelope);
    history_op_context ctx = workload_context(w, c, now_us);
    history_invoke(w->history, &ctx);
    summary_record_invoke(w->summary, op.kind);
    w->send(w->send_ctx, op.node_index, line, strlen(line));
    cJSON_free(line);
}

static void workload_finish(workload_state *w, workload_client *c, int64_t now_us,
                            summary_outcome outcome, const cJSON *reply, int error_code,
                            const char *error_text, int served_by_index)
{
    static const char *const type_names[] = {"ok", "fail", "info"};
    history_op_context ctx = workload_context(w, c, now_us);
    history_complete(w->history, &ctx, type_names[outcome], reply, error_code, error_text);
    summary_record_completion(w->summary, c->outstanding.kind, outcome, now_us - c->invoke_us,
                              served_by_index);
    op_request_free(&c->outstanding);
    c->busy = false;
}

/* The first idle generated client, lowest number first: deterministic, and it keeps
 * the op sequence independent of which client happens to carry an op. */
static workload_client *workload_idle_generated(workload_state *w)
{
    for (int p = 1; p <= w->cfg.concurrency && p < w->process_cap; p++) {
        workload_client *c = w->by_process[p];
        if (c && !c->busy && c->scripted_head == c->scripted_len) return c;
    }
    return NULL;
}

static void workload_issue_generated(workload_state *w, int64_t now_us)
{
    int64_t interval_us = w->cfg.rate_per_s > 0 ? (int64_t)(1e6 / w->cfg.rate_per_s) : 0;
    while (w->generating && !workload_generation_done(w) && now_us >= w->next_issue_us) {
        workload_client *c = workload_idle_generated(w);
        if (!c) {
            /* Every client is waiting: the cluster, not the rate, is the limit. Do not
             * bank the missed slots, or a stall would be followed by a burst. */
            if (w->next_issue_us < now_us - interval_us) w->next_issue_us = now_us;
            return;
        }
        workload_send(w, c, workload_generate(w), now_us);
        w->next_issue_us += interval_us;
    }
}

void workload_tick(workload_state *w, int64_t now_us)
{
    for (int p = 0; p < w->process_cap; p++) {
        workload_client *c = w->by_process[p];
        if (!c) continue;
        if (c->busy && now_us >= c->deadline_us) {
            char text[64];
            snprintf(text, sizeof text, "no reply within %lld ms",
                     (long long)(w->cfg.timeout_us / 1000));
            workload_finish(w, c, now_us, SUMMARY_INFO, NULL, 0, text, -1);
        }
        if (!c->busy && c->scripted_head < c->scripted_len) {
            workload_send(w, c, c->scripted[c->scripted_head++], now_us);
            if (c->scripted_head == c->scripted_len) c->scripted_head = c->scripted_len = 0;
        }
    }
    workload_issue_generated(w, now_us);
}

static int workload_served_by(const workload_state *w, const workload_client *c, const cJSON *body)
{
    const cJSON *served_by = cJSON_GetObjectItemCaseSensitive(body, "served_by");
    if (cJSON_IsString(served_by))
        for (int i = 0; i < w->node_count; i++)
            if (strcmp(w->node_names[i], served_by->valuestring) == 0) return i;
    return c->outstanding.node_index;
}

/* The session token: the largest log index this client has seen acknowledged. */
static void workload_learn_index(workload_client *c, const cJSON *body)
{
    static const char *const fields[] = {"commit_index", "follower_applied_index"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(body, fields[i]);
        if (cJSON_IsNumber(index) && index->valuedouble > (double)c->session_index)
            c->session_index = (long)index->valuedouble;
    }
}

void workload_on_reply(workload_state *w, int64_t now_us, const char *dest, const cJSON *body)
{
    int process = ids_client_process(dest);
    workload_client *c = process >= 0 && process < w->process_cap ? w->by_process[process] : NULL;
    const cJSON *in_reply_to = cJSON_GetObjectItemCaseSensitive(body, "in_reply_to");
    if (!c || !c->busy || !cJSON_IsNumber(in_reply_to) ||
        (long)in_reply_to->valuedouble != c->outstanding_msg_id) {
        w->summary->late_replies++;
        return;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
    const char *type_name = cJSON_IsString(type) ? type->valuestring : "";
    char ok_type[40];
    snprintf(ok_type, sizeof ok_type, "%s_ok", op_kind_name(c->outstanding.kind));
    if (strcmp(type_name, ok_type) == 0) {
        workload_learn_index(c, body);
        workload_finish(w, c, now_us, SUMMARY_OK, body, -1, NULL, workload_served_by(w, c, body));
        return;
    }
    if (strcmp(type_name, "error") == 0) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(body, "code");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(body, "text");
        int error_code = cJSON_IsNumber(code) ? (int)code->valuedouble : -1;
        bool definite = error_code >= 0 && op_error_is_definite(error_code);
        workload_finish(w, c, now_us, definite ? SUMMARY_FAIL : SUMMARY_INFO, NULL, error_code,
                        cJSON_IsString(text) ? text->valuestring : NULL, -1);
        return;
    }
    /* A reply of the wrong type is a node bug; its outcome is unknown. */
    char text[96];
    snprintf(text, sizeof text, "unexpected reply type '%.40s'", type_name);
    workload_finish(w, c, now_us, SUMMARY_INFO, NULL, -1, text, -1);
}

int64_t workload_next_wakeup_us(const workload_state *w)
{
    int64_t next_us = INT64_MAX;
    bool any_idle_generated = false;
    for (int p = 0; p < w->process_cap; p++) {
        const workload_client *c = w->by_process[p];
        if (!c) continue;
        if (c->busy && c->deadline_us < next_us) next_us = c->deadline_us;
        if (!c->busy && c->generated) any_idle_generated = true;
    }
    if (w->generating && !workload_generation_done(w) && any_idle_generated &&
        w->next_issue_us < next_us)
        next_us = w->next_issue_us;
    return next_us;
}

bool workload_quiet(const workload_state *w)
{
    for (int p = 0; p < w->process_cap; p++) {
        const workload_client *c = w->by_process[p];
        if (c && (c->busy || c->scripted_head < c->scripted_len)) return false;
    }
    return true;
}
