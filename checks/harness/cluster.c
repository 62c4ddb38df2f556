/* cluster: a Maelstrom-style local runner for the readpath nodes.
 *
 * One thread, one poll() loop. Each turn: apply the faults and scripted requests that
 * are due, deliver the node->node messages that are due, let the clients time out and
 * send, flush what the nodes should read, then sleep in poll() until a node writes or
 * the next timer is due. Nothing blocks elsewhere, so a paused node or a slow pipe
 * delays only itself, and every timestamp comes from the same monotonic clock. */
#include "events.h"
#include "history.h"
#include "ids.h"
#include "monotime.h"
#include "mrules.h"
#include "nemesis.h"
#include "options.h"
#include "procs.h"
#include "route.h"
#include "scenario.h"
#include "summary.h"
#include "workload.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { CLUSTER_EXIT_OK = 0, CLUSTER_EXIT_NODE_FAILED = 1, CLUSTER_EXIT_USAGE = 2 };
enum { CLUSTER_SHUTDOWN_GRACE_US = 1000000, CLUSTER_BAD_LINES_SHOWN = 5 };

typedef enum { CLUSTER_INIT, CLUSTER_RUN, CLUSTER_DRAIN, CLUSTER_DONE } cluster_phase;

typedef struct {
    options opt;
    int node_count;
    char (*node_names)[IDS_NAME_MAX];
    procs_node *nodes;
    bool *init_ok_by_node;
    int init_pending;
    route_net net;
    int leader_index; /* -1 until a raft_append is seen */
    double leader_term;
    /* Roles bind at their first use and then keep naming the same nodes, so a script
     * can cut off "leader follower1" and later read at "follower1". */
    int role_leader;
    uint64_t delivered_ids; /* --maelstrom-rules: the last top-level id stamped */
    long rules_broken;
    scenario sc;
    size_t next_event;
    nemesis_state nemesis;
    workload_state work;
    history_log history;
    summary_stats summary;
    events_log events;
    /* --report without --history or --events: both go to this temporary directory. */
    char report_tmp_dir[PATH_MAX];
    int64_t start_raw_us, now_us, run_end_us;
    cluster_phase phase;
    char log_dir[PATH_MAX];
    uint64_t *seed_by_node;  /* READPATH_SEED, kept for restarts */
    int64_t *restart_due_us; /* per node: when a "kill ... restart-after" restarts it */
    bool node_failed;
} cluster;

static volatile sig_atomic_t cluster_interrupted;

static void cluster_on_signal(int signo)
{
    (void)signo;
    cluster_interrupted = 1;
}

static int64_t cluster_clock_us(const cluster *cl)
{
    return monotime_raw_us() - cl->start_raw_us;
}

static void cluster_trace(const cluster *cl, const char *what)
{
    if (!cl->opt.quiet) fprintf(stderr, "cluster: %8.3f s %s\n", (double)cl->now_us / 1e6, what);
}

/* ---- faults ---- */

static cJSON *cluster_fault_json(const char *fault, const char *node_name)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "fault", fault);
    if (node_name) cJSON_AddStringToObject(f, "node", node_name);
    return f;
}

/* "n1 | n2 n3" and [["n1"],["n2","n3"]] from a group per node; the unlisted group 0
 * comes last, as it reads in the scenario. */
static void cluster_describe_partition(const cluster *cl, const int *group_by_node, char *text,
                                       size_t text_size, cJSON *groups)
{
    int max_group = 0;
    for (int i = 0; i < cl->node_count; i++)
        if (group_by_node[i] > max_group) max_group = group_by_node[i];
    size_t used = 0;
    text[0] = '\0';
    for (int g = 1; g <= max_group + 1; g++) {
        int group = g == max_group + 1 ? 0 : g;
        cJSON *members = cJSON_CreateArray();
        for (int i = 0; i < cl->node_count; i++) {
            if (group_by_node[i] != group) continue;
            cJSON_AddItemToArray(members, cJSON_CreateString(cl->node_names[i]));
            if (used + IDS_NAME_MAX + 4 < text_size)
                used += (size_t)snprintf(text + used, text_size - used, "%s%s",
                                         cJSON_GetArraySize(members) == 1 && used ? " | " : " ",
                                         cl->node_names[i]);
        }
        if (cJSON_GetArraySize(members) > 0)
            cJSON_AddItemToArray(groups, members);
        else
            cJSON_Delete(members);
    }
}

/* Folds a partition's role slots ("leader", "followerK") into plain node groups. */
static void cluster_resolve_groups(const cluster *cl, const scenario_event *ev, int *group_by_node)
{
    int n = cl->node_count;
    memcpy(group_by_node, ev->group_by_node, (size_t)n * sizeof *group_by_node);
    if (!ev->names_roles) return;
    for (int role = 0; role < n; role++) {
        if (ev->group_by_node[n + role] == 0) continue;
        int node = ids_resolve(IDS_ROLE_LEADER - role, cl->role_leader, n);
        if (node >= 0) group_by_node[node] = ev->group_by_node[n + role];
    }
}

static int cluster_spawn_node(cluster *cl, int i, bool restart);

/* Whether the event names a role ("leader", "followerK") anywhere. */
static bool cluster_event_names_role(const scenario_event *ev)
{
    switch (ev->action) {
    case SCENARIO_PARTITION:
        return ev->names_roles;
    case SCENARIO_HEAL:
    case SCENARIO_DUPLICATE:
        return false;
    case SCENARIO_CUT:
    case SCENARIO_UNCUT:
        return ev->node_index < 0 || ev->to_index < 0;
    case SCENARIO_CLIENT:
        return ev->op.node_index < 0;
    case SCENARIO_PAUSE:
    case SCENARIO_RESUME:
    case SCENARIO_KILL:
    case SCENARIO_RESTART:
        break;
    }
    return ev->node_index < 0;
}

/* {fault, from, to} and "cut n1 -> n2" for a one-way cut or its removal. */
static cJSON *cluster_cut(cluster *cl, const scenario_event *ev, int from_index, char *text,
                          size_t text_size)
{
    bool cut = ev->action == SCENARIO_CUT;
    int to_index = ids_resolve(ev->to_index, cl->role_leader, cl->node_count);
    route_cut(&cl->net, from_index, to_index, cut);
    cJSON *fault = cluster_fault_json(cut ? "cut" : "uncut", NULL);
    cJSON_AddStringToObject(fault, "from", cl->node_names[from_index]);
    cJSON_AddStringToObject(fault, "to", cl->node_names[to_index]);
    snprintf(text, text_size, "%s %s -> %s", cut ? "cut" : "uncut", cl->node_names[from_index],
             cl->node_names[to_index]);
    return fault;
}

static void cluster_apply_event(cluster *cl, const scenario_event *ev)
{
    char text[512];
    if (cluster_event_names_role(ev) && cl->role_leader < 0) {
        cl->role_leader = cl->leader_index >= 0 ? cl->leader_index : 0;
        char leader_text[96];
        snprintf(leader_text, sizeof leader_text, "roles bound: leader is %s%s",
                 cl->node_names[cl->role_leader],
                 cl->leader_index >= 0 ? "" : " (no leader seen yet: n1 stands in)");
        cluster_trace(cl, leader_text);
    }
    int node_index = ids_resolve(ev->node_index, cl->role_leader, cl->node_count);
    const char *node_name = cl->node_names[node_index >= 0 ? node_index : 0];
    cJSON *fault = NULL;
    switch (ev->action) {
    case SCENARIO_PARTITION: {
        fault = cluster_fault_json("partition", NULL);
        char groups_text[400];
        int group_by_node[cl->node_count];
        cluster_resolve_groups(cl, ev, group_by_node);
        cluster_describe_partition(cl, group_by_node, groups_text, sizeof groups_text,
                                   cJSON_AddArrayToObject(fault, "groups"));
        route_partition(&cl->net, group_by_node);
        snprintf(text, sizeof text, "partition%s", groups_text);
        break;
    }
    case SCENARIO_HEAL:
        fault = cluster_fault_json("heal", NULL);
        route_heal(&cl->net);
        snprintf(text, sizeof text, "heal");
        break;
    case SCENARIO_CUT:
    case SCENARIO_UNCUT:
        fault = cluster_cut(cl, ev, node_index, text, sizeof text);
        break;
    case SCENARIO_DUPLICATE:
        fault = cluster_fault_json("duplicate", NULL);
        cJSON_AddNumberToObject(fault, "probability", ev->duplicate_probability);
        route_duplicate(&cl->net, ev->duplicate_probability);
        snprintf(text, sizeof text,
                 "duplicate %g (each peer message also sent again with this probability)",
                 ev->duplicate_probability);
        break;
    case SCENARIO_PAUSE:
        fault = cluster_fault_json("pause", node_name);
        procs_pause(&cl->nodes[node_index]);
        snprintf(text, sizeof text, "pause %s", node_name);
        break;
    case SCENARIO_RESUME:
        fault = cluster_fault_json("resume", node_name);
        procs_resume(&cl->nodes[node_index]);
        snprintf(text, sizeof text, "resume %s", node_name);
        break;
    case SCENARIO_KILL:
        fault = cluster_fault_json("kill", node_name);
        /* A plain kill keeps the node down until a restart line, even one killed
         * earlier with a restart still pending. */
        cl->restart_due_us[node_index] =
            ev->restarts ? cl->now_us + ev->restart_after_us : INT64_MAX;
        if (ev->restarts)
            cJSON_AddNumberToObject(fault, "restart_after_ms", (double)ev->restart_after_us / 1e3);
        procs_kill(&cl->nodes[node_index]);
        route_mark_dead(&cl->net, node_index);
        /* A node killed before it answered init will never answer: stop waiting. */
        if (!cl->init_ok_by_node[node_index]) {
            cl->init_ok_by_node[node_index] = true;
            cl->init_pending--;
        }
        if (ev->restarts)
            snprintf(text, sizeof text, "kill %s (restart in %.3f ms)", node_name,
                     (double)ev->restart_after_us / 1e3);
        else
            snprintf(text, sizeof text, "kill %s", node_name);
        break;
    case SCENARIO_RESTART:
        fault = cluster_fault_json("restart", node_name);
        cl->restart_due_us[node_index] = INT64_MAX;
        if (!cl->nodes[node_index].killed_by_scenario) {
            snprintf(text, sizeof text, "restart %s: it was not killed; nothing to do", node_name);
            break;
        }
        procs_reap(&cl->nodes[node_index]);
        procs_free(&cl->nodes[node_index]);
        if (cluster_spawn_node(cl, node_index, true) < 0) {
            cl->node_failed = true;
            snprintf(text, sizeof text, "restart %s failed", node_name);
            break;
        }
        route_mark_alive(&cl->net, node_index);
        snprintf(text, sizeof text, "restart %s%s", node_name,
                 cl->opt.data_dir ? " (same data dir)"
                                  : " WITHOUT --data-dir: it comes back empty");
        break;
    case SCENARIO_CLIENT: {
        /* A role is resolved when the op is queued, i.e. at its scripted time. */
        op_request op = ev->op;
        op.node_index = ids_resolve(ev->op.node_index, cl->role_leader, cl->node_count);
        workload_enqueue(&cl->work, ev->process, &op);
        return;
    }
    }
    cluster_trace(cl, text);
    summary_record_fault(&cl->summary, cl->now_us, fault);
}

/* The earliest restart a "kill ... restart-after" left pending; INT64_MAX for none. */
static int64_t cluster_next_restart_us(const cluster *cl)
{
    int64_t next_us = INT64_MAX;
    for (int i = 0; i < cl->node_count; i++)
        if (cl->restart_due_us[i] < next_us) next_us = cl->restart_due_us[i];
    return next_us;
}

static void cluster_apply_due_events(cluster *cl)
{
    while (cl->next_event < cl->sc.event_count && cl->sc.events[cl->next_event].at_us <= cl->now_us)
        cluster_apply_event(cl, &cl->sc.events[cl->next_event++]);
    for (int i = 0; i < cl->node_count; i++)
        if (cl->restart_due_us[i] <= cl->now_us) {
            scenario_event restart = {.action = SCENARIO_RESTART, .node_index = i};
            cluster_apply_event(cl, &restart);
        }
    while (nemesis_next_us(&cl->nemesis) <= cl->now_us) {
        scenario_event step[2];
        int count = nemesis_step(&cl->nemesis, step);
        for (int i = 0; i < count; i++) {
            cluster_apply_event(cl, &step[i]);
            free(step[i].group_by_node);
        }
    }
}

/* ---- lines from nodes ---- */

/* Queues a line for a node's stdin: the network's deliveries and the clients' requests
 * both end here, flushed once per loop turn. */
static void cluster_deliver(void *ctx, int to_index, const char *line, size_t line_len)
{
    cluster *cl = ctx;
    if (!cl->opt.maelstrom_rules) {
        procs_queue_line(&cl->nodes[to_index], line, line_len);
        return;
    }
    /* Maelstrom gives every message it delivers a top-level id; nodes must ignore it. */
    size_t room = line_len + 32;
    char *stamped = malloc(room);
    size_t stamped_len = mrules_stamp_id(line, line_len, ++cl->delivered_ids, stamped, room);
    if (stamped_len > 0)
        procs_queue_line(&cl->nodes[to_index], stamped, stamped_len);
    else
        procs_queue_line(&cl->nodes[to_index], line, line_len);
    free(stamped);
}

/* Under --maelstrom-rules a broken rule fails the run, as it would fail Maelstrom's. */
static void cluster_rule_broken(cluster *cl, int node_index, const char *why, const char *line)
{
    if (cl->rules_broken++ < CLUSTER_BAD_LINES_SHOWN)
        fprintf(stderr, "cluster: maelstrom rules: %s: %s: %.200s\n", cl->node_names[node_index],
                why, line);
    cl->node_failed = true;
}

static void cluster_bad_line(cluster *cl, int node_index, const char *line)
{
    if (cl->opt.maelstrom_rules)
        cluster_rule_broken(cl, node_index, "stdout line is not a JSON message", line);
    if (cl->summary.bad_node_lines++ < CLUSTER_BAD_LINES_SHOWN)
        fprintf(stderr,
                "cluster: %s wrote a line that is not a message (stdout is for JSON "
                "only): %.200s\n",
                cl->node_names[node_index], line);
}

/* A line whose dest is a node is a peer message for the network; dest c0 is the answer
 * to our init; anything else is a reply to a client. */
static void cluster_on_node_line(void *ctx, int node_index, char *line, size_t line_len)
{
    cluster *cl = ctx;
    cJSON *msg = cJSON_ParseWithLength(line, line_len);
    const cJSON *dest = cJSON_GetObjectItemCaseSensitive(msg, "dest");
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
    if (!cJSON_IsString(dest) || !cJSON_IsObject(body)) {
        cluster_bad_line(cl, node_index, line);
        cJSON_Delete(msg);
        return;
    }
    int peer = ids_node_index(dest->valuestring, cl->node_count);
    if (peer >= 0) {
        const cJSON *append_type = cJSON_GetObjectItemCaseSensitive(body, "type");
        const cJSON *append_term = cJSON_GetObjectItemCaseSensitive(body, "term");
        if (cJSON_IsString(append_type) && strcmp(append_type->valuestring, "raft_append") == 0 &&
            cJSON_IsNumber(append_term))
            events_note_append(&cl->events, cl->now_us, node_index, append_term->valuedouble);
        /* Who leads, for scenarios that name roles: the sender of appends in the highest
         * term. A deposed leader still sending in an old term does not count. */
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
        const cJSON *term = cJSON_GetObjectItemCaseSensitive(body, "term");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "raft_append") == 0 &&
            cJSON_IsNumber(term) && term->valuedouble >= cl->leader_term) {
            if (term->valuedouble > cl->leader_term) cl->summary.leaderships_seen++;
            cl->leader_term = term->valuedouble;
            cl->summary.max_term = term->valuedouble;
            cl->leader_index = node_index;
        }
        route_send(&cl->net, cl->now_us, node_index, peer, line, line_len);
        cJSON_Delete(msg);
        return;
    }
    /* Everything else is a reply to a client (c0 is the runner's init client). */
    char why[160];
    if (cl->opt.maelstrom_rules && !mrules_check_reply(body, why, sizeof why))
        cluster_rule_broken(cl, node_index, why, line);
    if (strcmp(dest->valuestring, "c0") == 0) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "init_ok") == 0 &&
            !cl->init_ok_by_node[node_index]) {
            cl->init_ok_by_node[node_index] = true;
            cl->init_pending--;
        }
    } else {
        workload_on_reply(&cl->work, cl->now_us, dest->valuestring, body);
    }
    cJSON_Delete(msg);
}

/* ---- set-up ---- */

/* --report reads the history and the events file after the run; when the command line
 * names neither, they are written to a temporary directory that the report replaces. */
static int cluster_report_inputs(cluster *cl)
{
    static char history_path[PATH_MAX + 16], events_path[PATH_MAX + 16];
    if (!cl->opt.report_path || (cl->opt.history_path && cl->opt.events_path)) return 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(cl->report_tmp_dir, sizeof cl->report_tmp_dir, "%s/readpath-report-XXXXXX",
             tmp ? tmp : "/tmp");
    if (!mkdtemp(cl->report_tmp_dir)) return -1;
    snprintf(history_path, sizeof history_path, "%s/history.jsonl", cl->report_tmp_dir);
    snprintf(events_path, sizeof events_path, "%s/events.jsonl", cl->report_tmp_dir);
    if (!cl->opt.history_path) cl->opt.history_path = history_path;
    if (!cl->opt.events_path) cl->opt.events_path = events_path;
    return 0;
}

static int cluster_make_log_dir(cluster *cl)
{
    if (cl->opt.log_dir) {
        if (mkdir(cl->opt.log_dir, 0755) < 0 && errno != EEXIST) return -1;
        snprintf(cl->log_dir, sizeof cl->log_dir, "%s", cl->opt.log_dir);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(cl->log_dir, sizeof cl->log_dir, "%s/readpath-cluster-XXXXXX", tmp ? tmp : "/tmp");
    return mkdtemp(cl->log_dir) ? 0 : -1;
}

/* Starts node i (again, after a kill, when restart) with the node flags, plus
 * --data-dir DIR/nK under the runner's --data-dir, and sends it init. */
static int cluster_spawn_node(cluster *cl, int i, bool restart)
{
    char log_path[PATH_MAX + IDS_NAME_MAX + 8], err[256];
    snprintf(log_path, sizeof log_path, "%s/%s.log", cl->log_dir, cl->node_names[i]);
    int argc = cl->opt.node_arg_count;
    char **args = calloc((size_t)argc + 2, sizeof *args);
    char data_dir[PATH_MAX + IDS_NAME_MAX + 2];
    for (int a = 0; a < cl->opt.node_arg_count; a++)
        args[a] = cl->opt.node_args[a];
    if (cl->opt.data_dir) {
        snprintf(data_dir, sizeof data_dir, "%s/%s", cl->opt.data_dir, cl->node_names[i]);
        args[argc++] = "--data-dir";
        args[argc++] = data_dir;
    }
    int rc = procs_spawn(&cl->nodes[i], i, cl->opt.bin, args, argc, log_path, restart,
                         cl->sc.clock_rate_by_node[i], cl->seed_by_node[i], err, sizeof err);
    free(args);
    if (rc < 0) {
        fprintf(stderr, "cluster: %s: %s\n", cl->node_names[i], err);
        return -1;
    }
    cJSON *node_ids = cJSON_CreateArray();
    for (int k = 0; k < cl->node_count; k++)
        cJSON_AddItemToArray(node_ids, cJSON_CreateString(cl->node_names[k]));
    {
        cJSON *init = cJSON_CreateObject();
        cJSON_AddStringToObject(init, "src", "c0");
        cJSON_AddStringToObject(init, "dest", cl->node_names[i]);
        cJSON *body = cJSON_AddObjectToObject(init, "body");
        cJSON_AddStringToObject(body, "type", "init");
        cJSON_AddNumberToObject(body, "msg_id", 1);
        cJSON_AddStringToObject(body, "node_id", cl->node_names[i]);
        cJSON_AddItemToObject(body, "node_ids", node_ids);
        char *line = cJSON_PrintUnformatted(init);
        cluster_deliver(cl, i, line, strlen(line));
        cJSON_free(line);
        cJSON_Delete(init);
    }
    return 0;
}

static int cluster_start_nodes(cluster *cl)
{
    rng_stream node_seeds;
    rng_seed(&node_seeds, (uint64_t)cl->opt.seed, RNG_STREAM_NODE_SEEDS);
    for (int i = 0; i < cl->node_count; i++)
        /* 31 bits, so a node can read READPATH_SEED with any integer parser. */
        cl->seed_by_node[i] = rng_next(&node_seeds) >> 33;
    for (int i = 0; i < cl->node_count; i++)
        if (cluster_spawn_node(cl, i, false) < 0) return -1;
    return 0;
}

/* ---- the loop ---- */

static bool cluster_run_over(const cluster *cl)
{
    if (cl->next_event < cl->sc.event_count) return false;
    if (cl->opt.max_ops > 0 && workload_generation_done(&cl->work)) return true;
    return cl->now_us >= cl->run_end_us;
}

static void cluster_advance_phase(cluster *cl)
{
    int64_t init_deadline_us = cl->opt.init_timeout_ms * 1000;
    if (cl->phase == CLUSTER_INIT && cl->init_pending == 0) {
        cl->phase = CLUSTER_RUN;
        char text[64];
        snprintf(text, sizeof text, "all %d nodes answered init", cl->node_count);
        cluster_trace(cl, text);
        cl->summary.clients_start_us = cl->now_us;
        workload_start_generating(&cl->work, cl->now_us);
        nemesis_start(&cl->nemesis, cl->now_us);
    } else if (cl->phase == CLUSTER_INIT && cl->now_us >= init_deadline_us) {
        for (int i = 0; i < cl->node_count; i++)
            if (!cl->init_ok_by_node[i])
                fprintf(stderr, "cluster: %s did not answer init within %ld ms (see %s/%s.log)\n",
                        cl->node_names[i], cl->opt.init_timeout_ms, cl->log_dir, cl->node_names[i]);
        cl->node_failed = true;
        cl->phase = CLUSTER_DONE;
        return;
    }
    if (cl->phase == CLUSTER_RUN) {
        workload_tick(&cl->work, cl->now_us);
        if (cluster_run_over(cl)) {
            /* Stop issuing, keep the network and the faults as they are, and give the
             * ops in flight their full timeout to complete. */
            cl->phase = CLUSTER_DRAIN;
            cl->summary.run_end_us = cl->now_us;
            workload_stop_generating(&cl->work);
            nemesis_stop(&cl->nemesis);
            cluster_trace(cl, "clients stop; waiting for outstanding ops");
        }
    }
    if (cl->phase == CLUSTER_DRAIN) {
        workload_tick(&cl->work, cl->now_us);
        /* A pending "restart-after" is part of the schedule: the run ends with the
         * node back, so its clean exit shows it recovered. */
        if (workload_quiet(&cl->work) && cluster_next_restart_us(cl) == INT64_MAX)
            cl->phase = CLUSTER_DONE;
    }
}

static int64_t cluster_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* How long poll() may sleep: until the earliest timer of any module. */
static int cluster_poll_timeout_ms(const cluster *cl)
{
    int64_t wake_us = route_next_due_us(&cl->net);
    if (cl->next_event < cl->sc.event_count)
        wake_us = cluster_min(wake_us, cl->sc.events[cl->next_event].at_us);
    wake_us = cluster_min(wake_us, nemesis_next_us(&cl->nemesis));
    wake_us = cluster_min(wake_us, cluster_next_restart_us(cl));
    if (cl->phase == CLUSTER_INIT) wake_us = cluster_min(wake_us, cl->opt.init_timeout_ms * 1000);
    if (cl->phase == CLUSTER_RUN || cl->phase == CLUSTER_DRAIN)
        wake_us = cluster_min(wake_us, workload_next_wakeup_us(&cl->work));
    /* A run without a time limit ends with its scenario (run_end_us is 0 then): only
     * a time still ahead may bound the wait, or the loop would spin until the end. */
    if (cl->phase == CLUSTER_RUN && cl->run_end_us > cl->now_us)
        wake_us = cluster_min(wake_us, cl->run_end_us);
    int64_t wait_us = wake_us - cluster_clock_us(cl);
    if (wait_us <= 0) return 0;
    /* Round up: waking early would only spin; the cap keeps signals responsive. */
    return (int)cluster_min((wait_us + 999) / 1000, 1000);
}

static void cluster_note_eof(cluster *cl, int i)
{
    procs_node *node = &cl->nodes[i];
    if (node->killed_by_scenario) return;
    fprintf(stderr, "cluster: %s closed its stdout at %.3f s (crashed? see %s/%s.log)\n",
            node->name, (double)cl->now_us / 1e6, cl->log_dir, node->name);
    cl->node_failed = true;
}

static void cluster_poll_once(cluster *cl)
{
    int n = cl->node_count;
    struct pollfd *fds = calloc(2 * (size_t)n, sizeof *fds);
    for (int i = 0; i < n; i++) {
        procs_flush(&cl->nodes[i]);
        fds[i] = (struct pollfd){.fd = cl->nodes[i].stdout_fd, .events = POLLIN};
        fds[n + i] = (struct pollfd){
            .fd = procs_wants_write(&cl->nodes[i]) ? cl->nodes[i].stdin_fd : -1, .events = POLLOUT};
    }
    int ready = poll(fds, 2 * (nfds_t)n, cluster_poll_timeout_ms(cl));
    cl->now_us = cluster_clock_us(cl);
    for (int i = 0; ready > 0 && i < n; i++) {
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
            if (!procs_read(&cl->nodes[i], i, cluster_on_node_line, cl)) cluster_note_eof(cl, i);
        if (fds[n + i].revents & (POLLOUT | POLLERR | POLLHUP)) procs_flush(&cl->nodes[i]);
    }
    free(fds);
}

static void cluster_loop(cluster *cl)
{
    cl->phase = CLUSTER_INIT;
    while (cl->phase != CLUSTER_DONE && !cluster_interrupted) {
        cl->now_us = cluster_clock_us(cl);
        cluster_apply_due_events(cl);
        route_deliver_due(&cl->net, cl->now_us, cluster_deliver, cl);
        cluster_advance_phase(cl);
        if (cl->phase == CLUSTER_DONE) break;
        cluster_poll_once(cl);
    }
}

/* ---- main ---- */

static int cluster_setup(cluster *cl, int argc, char **argv)
{
    char err[512];
    if (options_parse(&cl->opt, argc, argv, err, sizeof err) < 0) {
        fprintf(stderr, "cluster: %s\n", err);
        return CLUSTER_EXIT_USAGE;
    }
    if (cl->opt.help) {
        options_print_help(stdout);
        return -1;
    }
    cl->node_count = (int)cl->opt.node_count;
    ids_set_first_node_number(cl->opt.maelstrom_rules ? 0 : 1);
    workload_config cfg;
    if (options_workload_config(&cl->opt, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "cluster: %s\n", err);
        return CLUSTER_EXIT_USAGE;
    }
    if (cl->opt.maelstrom_rules)
        for (int k = 0; k < OP_KIND_COUNT; k++)
            if (cfg.op_weight[k] > 0 && k != OP_READ && k != OP_WRITE && k != OP_CAS) {
                fprintf(stderr,
                        "cluster: --maelstrom-rules allows only lin-kv's ops (read, "
                        "write, cas) in --mix, not %s\n",
                        op_kind_name((op_kind)k));
                return CLUSTER_EXIT_USAGE;
            }
    if (cl->opt.scenario_path) {
        if (scenario_parse_file(cl->opt.scenario_path, cl->node_count, &cl->sc, err, sizeof err) <
            0) {
            fprintf(stderr, "cluster: %s\n", err);
            return CLUSTER_EXIT_USAGE;
        }
    } else {
        scenario_init_empty(&cl->sc, cl->node_count);
    }
    int64_t restart_after_us = cl->opt.restart_after_ms >= 0 ? cl->opt.restart_after_ms * 1000 : -1;
    if (nemesis_init(&cl->nemesis, cl->opt.nemesis_spec, cl->node_count,
                     cl->opt.nemesis_interval_ms * 1000, restart_after_us, (uint64_t)cl->opt.seed,
                     err, sizeof err) < 0) {
        fprintf(stderr, "cluster: %s\n", err);
        return CLUSTER_EXIT_USAGE;
    }
    if (cl->opt.lease_configs) {
        bool any_kind = false;
        for (int k = 0; k < NEMESIS_KIND_COUNT; k++)
            any_kind |= cl->nemesis.enabled[k];
        if (!any_kind ||
            nemesis_set_lease_configs(&cl->nemesis, cl->opt.lease_configs,
                                      (int)cl->opt.concurrency + 1, err, sizeof err) < 0) {
            fprintf(
                stderr, "cluster: %s\n",
                any_kind
                    ? err
                    : "--lease-configs are sent at the nemesis's fault steps: give --nemesis too");
            return CLUSTER_EXIT_USAGE;
        }
    }
    if (restart_after_us >= 0 && !cl->nemesis.enabled[NEMESIS_KILL]) {
        fprintf(stderr, "cluster: --restart-after-ms is the delay of --nemesis kill's restarts; "
                        "the nemesis does not kill (in a scenario: kill nK restart-after TIME)\n");
        return CLUSTER_EXIT_USAGE;
    }
    if (cl->nemesis.enabled[NEMESIS_KILL] && !cl->opt.data_dir) {
        fprintf(stderr, "cluster: --nemesis kill needs --data-dir (a node restarted without "
                        "one comes back empty)\n");
        return CLUSTER_EXIT_USAGE;
    }
    if (cl->opt.data_dir && mkdir(cl->opt.data_dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "cluster: --data-dir %s: %s\n", cl->opt.data_dir, strerror(errno));
        return CLUSTER_EXIT_USAGE;
    }
    if (access(cl->opt.bin, X_OK) < 0) {
        fprintf(stderr, "cluster: --bin %s: %s\n", cl->opt.bin, strerror(errno));
        return CLUSTER_EXIT_USAGE;
    }
    if (cluster_report_inputs(cl) < 0) {
        fprintf(stderr, "cluster: --report: cannot create a temporary directory: %s\n",
                strerror(errno));
        return CLUSTER_EXIT_USAGE;
    }
    if (history_open(&cl->history, cl->opt.history_path) < 0) {
        fprintf(stderr, "cluster: --history %s: %s\n", cl->opt.history_path, strerror(errno));
        return CLUSTER_EXIT_USAGE;
    }
    if (cluster_make_log_dir(cl) < 0) {
        fprintf(stderr, "cluster: cannot create the log directory: %s\n", strerror(errno));
        return CLUSTER_EXIT_USAGE;
    }
    double time_limit_s = cl->opt.time_limit_s;
    if (time_limit_s < 0) time_limit_s = cl->opt.concurrency > 0 && !cl->opt.max_ops ? 5 : 0;
    cl->run_end_us = (int64_t)(time_limit_s * 1e6);
    if (cl->opt.max_ops > 0 && cl->opt.time_limit_s < 0) cl->run_end_us = INT64_MAX;

    cl->node_names = calloc((size_t)cl->node_count, sizeof *cl->node_names);
    for (int i = 0; i < cl->node_count; i++)
        ids_node_name(i, cl->node_names[i]);
    cl->nodes = calloc((size_t)cl->node_count, sizeof *cl->nodes);
    cl->seed_by_node = calloc((size_t)cl->node_count, sizeof *cl->seed_by_node);
    cl->restart_due_us = calloc((size_t)cl->node_count, sizeof *cl->restart_due_us);
    for (int i = 0; i < cl->node_count; i++)
        cl->restart_due_us[i] = INT64_MAX;
    cl->init_ok_by_node = calloc((size_t)cl->node_count, sizeof *cl->init_ok_by_node);
    cl->init_pending = cl->node_count;
    cl->leader_index = -1;
    cl->leader_term = -1;
    cl->role_leader = -1;
    route_init(&cl->net, cl->node_count, (int64_t)(cl->opt.latency_ms * 1000),
               (int64_t)(cl->opt.jitter_ms * 1000), (uint64_t)cl->opt.seed);
    summary_init(&cl->summary, cl->node_count);
    events_init(&cl->events, cl->node_count);
    workload_init(&cl->work, &cfg, cl->node_count, (const char(*)[IDS_NAME_MAX])cl->node_names,
                  cl->sc.clock_rate_by_node, (uint64_t)cl->opt.seed, &cl->history, &cl->summary,
                  cluster_deliver, cl);
    if (!cl->opt.quiet) fprintf(stderr, "cluster: node logs in %s\n", cl->log_dir);
    return 0;
}

static void cluster_teardown(cluster *cl)
{
    /* Every free below is safe on a module that was never set up (zeroed). */
    for (int i = 0; cl->nodes && i < cl->node_count; i++)
        procs_free(&cl->nodes[i]);
    free(cl->nodes);
    free(cl->seed_by_node);
    free(cl->restart_due_us);
    free(cl->node_names);
    free(cl->init_ok_by_node);
    workload_free(&cl->work);
    route_free(&cl->net);
    summary_free(&cl->summary);
    events_free(&cl->events);
    scenario_free(&cl->sc);
    nemesis_free(&cl->nemesis);
    history_close(&cl->history);
}

/* A READPATH_UNSAFE_* switch reaches the nodes through our environment: the run is a
 * negative control, and its logs are the evidence that the switch was on. */
static bool cluster_unsafe_switch_set(void)
{
    for (char **var = environ; *var; var++)
        if (strncmp(*var, "READPATH_UNSAFE_", 16) == 0) return true;
    return false;
}

/* The temporary log directory (no --log-dir) of a run that passed is removed: nobody reads
 * it, and every suite run used to leave one in $TMPDIR. A failed or interrupted run keeps it,
 * as do --keep-logs and an unsafe switch. */
static bool cluster_keeps_logs(const cluster *cl, int rc)
{
    return cl->opt.log_dir || cl->opt.keep_logs || rc != CLUSTER_EXIT_OK || cluster_interrupted ||
           cluster_unsafe_switch_set();
}

static void cluster_remove_logs(cluster *cl)
{
    for (int i = 0; i < cl->node_count; i++) {
        char log_path[PATH_MAX + IDS_NAME_MAX + 8];
        snprintf(log_path, sizeof log_path, "%s/%s.log", cl->log_dir, cl->node_names[i]);
        unlink(log_path);
    }
    if (rmdir(cl->log_dir) < 0)
        fprintf(stderr, "cluster: left %s behind: %s\n", cl->log_dir, strerror(errno));
}

static int cluster_report(cluster *cl)
{
    int rc = cl->node_failed ? CLUSTER_EXIT_NODE_FAILED : CLUSTER_EXIT_OK;
    for (int i = 0; i < cl->node_count; i++) {
        char how[128];
        if (procs_describe_exit(&cl->nodes[i], how, sizeof how)) rc = CLUSTER_EXIT_NODE_FAILED;
    }
    bool keep_logs = cluster_keeps_logs(cl, rc);
    summary_context ctx = {.net = &cl->net,
                           .nodes = cl->nodes,
                           .node_count = cl->node_count,
                           .seed = (uint64_t)cl->opt.seed,
                           .log_dir = keep_logs ? cl->log_dir : NULL};
    if (cl->summary.run_end_us == 0) cl->summary.run_end_us = cl->now_us;
    summary_print(&cl->summary, &ctx, stdout);
    if (!keep_logs) cluster_remove_logs(cl);
    if (cl->opt.summary_json_path &&
        summary_write_json(&cl->summary, &ctx, cl->opt.summary_json_path) < 0) {
        fprintf(stderr, "cluster: --summary-json %s: %s\n", cl->opt.summary_json_path,
                strerror(errno));
        rc = CLUSTER_EXIT_USAGE;
    }
    return rc;
}

extern char **environ;

/* The events file, then the report: build/run-report, found beside this executable
 * (so build/sanitize/cluster runs build/sanitize/run-report), reads the history and the
 * events and runs the checkers. Returns -1 when either could not be written. */
static int cluster_write_report(cluster *cl)
{
    int rc = 0;
    if (cl->opt.events_path) {
        events_context ctx = {.node_names = (const char(*)[IDS_NAME_MAX])cl->node_names,
                              .clock_rate_by_node = cl->sc.clock_rate_by_node,
                              .faults = cl->summary.faults,
                              .clients_start_us = cl->summary.clients_start_us,
                              .clients_stop_us = cl->summary.run_end_us,
                              .end_us = cl->now_us,
                              .seed = (uint64_t)cl->opt.seed,
                              .bin = cl->opt.bin};
        if (events_write(&cl->events, &ctx, cl->opt.events_path) < 0) {
            fprintf(stderr, "cluster: --events %s: %s\n", cl->opt.events_path, strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0 && cl->opt.report_path) {
        char tool[PATH_MAX];
        ssize_t len = readlink("/proc/self/exe", tool, sizeof tool - 16);
        if (len < 0) len = 0;
        tool[len] = '\0';
        char *slash = strrchr(tool, '/');
        snprintf(slash ? slash + 1 : tool, 16, "run-report");
        char *history = (char *)cl->opt.history_path, *events = (char *)cl->opt.events_path;
        char *out = (char *)cl->opt.report_path;
        char *argv[] = {tool, "--history", history, "--events", events, "--out", out, NULL};
        pid_t pid;
        int status = 0;
        fflush(stdout); /* the summary before anything the report might print */
        int err = posix_spawn(&pid, tool, NULL, NULL, argv, environ);
        if (err != 0) {
            fprintf(stderr, "cluster: --report: cannot run %s: %s (make tools builds it)\n", tool,
                    strerror(err));
            rc = -1;
        } else if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "cluster: --report: %s failed; no report written\n", tool);
            rc = -1;
        } else {
            printf("report: %s\n", cl->opt.report_path);
        }
    }
    if (cl->report_tmp_dir[0]) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/history.jsonl", cl->report_tmp_dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/events.jsonl", cl->report_tmp_dir);
        unlink(path);
        rmdir(cl->report_tmp_dir);
    }
    return rc;
}

int main(int argc, char **argv)
{
    static cluster cl;
    cl.start_raw_us = monotime_raw_us();
    int rc = cluster_setup(&cl, argc, argv);
    if (rc != 0) {
        cluster_teardown(&cl);
        return rc < 0 ? CLUSTER_EXIT_OK : rc;
    }
    /* A node that dies makes its stdin a broken pipe; that is an event, not our death. */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction on_stop = {.sa_handler = cluster_on_signal};
    sigaction(SIGINT, &on_stop, NULL);
    sigaction(SIGTERM, &on_stop, NULL);

    if (cluster_start_nodes(&cl) == 0) {
        cluster_loop(&cl);
    } else {
        cl.node_failed = true;
    }
    /* Per-node CPU, read while the nodes still run: a benchmark wants the leader's. */
    for (int i = 0; i < cl.node_count; i++)
        cl.summary.node_cpu_s[i] = procs_cpu_s(&cl.nodes[i]);
    cl.summary.leader_index = cl.leader_index;
    procs_shutdown(cl.nodes, cl.node_count, CLUSTER_SHUTDOWN_GRACE_US);
    history_close(&cl.history);
    rc = cluster_report(&cl);
    if (cluster_write_report(&cl) < 0 && rc == CLUSTER_EXIT_OK) rc = CLUSTER_EXIT_USAGE;
    if (cluster_interrupted) {
        fprintf(stderr, "cluster: interrupted\n");
        rc = 130;
    }
    cluster_teardown(&cl);
    return rc;
}
