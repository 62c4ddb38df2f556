#include "options.h"

#include "ids.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_STRING, OPT_LONG, OPT_DOUBLE, OPT_FLAG } options_kind;

typedef struct {
    const char *name;
    options_kind kind;
    size_t offset;
    const char *arg;
    const char *help;
} options_spec;

#define OPT(name, kind, field, arg, help)                                                          \
    {                                                                                              \
        name, kind, offsetof(options, field), arg, help                                            \
    }
static const options_spec options_table[] = {
    OPT("--bin", OPT_STRING, bin, "PATH", "the node executable (required)"),
    OPT("--nodes", OPT_LONG, node_count, "N", "cluster size, ids n1..nN (default 3)"),
    OPT("--latency-ms", OPT_DOUBLE, latency_ms, "MS",
        "one-way node->node delay, fractions allowed (default 0)"),
    OPT("--jitter-ms", OPT_DOUBLE, jitter_ms, "MS", "plus a seeded uniform draw in [0, MS]"),
    OPT("--seed", OPT_LONG, seed, "N", "seeds ops, jitter, nemesis, READPATH_SEED (default 1)"),
    OPT("--scenario", OPT_STRING, scenario_path, "FILE", "scripted faults and client requests"),
    OPT("--nemesis", OPT_STRING, nemesis_spec, "KINDS",
        "random faults, any of: partition, isolate, pause, kill (needs --data-dir), "
        "duplicate"),
    OPT("--nemesis-interval-ms", OPT_LONG, nemesis_interval_ms, "MS",
        "toggle fault/heal this often (default 1000)"),
    OPT("--restart-after-ms", OPT_LONG, restart_after_ms, "MS",
        "--nemesis kill restarts the node MS after the kill (default: at the next heal)"),
    OPT("--lease-configs", OPT_STRING, lease_configs, "L/E/S,...",
        "each nemesis fault also sends the next as lease_read_config (stage 03), from c(C+1)"),
    OPT("--rate", OPT_DOUBLE, rate_per_s, "OPS", "ops/s over all clients (default 0: no limit)"),
    OPT("--concurrency", OPT_LONG, concurrency, "C",
        "generated clients c1..cC, one op each in flight (default 0: none)"),
    OPT("--time-limit", OPT_DOUBLE, time_limit_s, "S",
        "seconds from start until clients stop (default 5 with clients)"),
    OPT("--ops", OPT_LONG, max_ops, "N", "stop generating after N ops"),
    OPT("--keys", OPT_LONG, key_count, "K", "generated keys are 0..K-1 (default 5)"),
    OPT("--mix", OPT_STRING, mix_spec, "SPEC",
        "op weights (default read=50,write=30,cas=20); also follower_read, ryw_read, "
        "lease_read"),
    OPT("--max-staleness-ms", OPT_LONG, max_staleness_ms, "MS",
        "follower_read's bound (default 500)"),
    OPT("--prefer-follower", OPT_STRING, prefer_follower, "true|false",
        "ryw_read's prefer_follower (default true)"),
    OPT("--target", OPT_STRING, target, "WHO",
        "random (default), round-robin, or a node id: where clients send"),
    OPT("--timeout-ms", OPT_LONG, timeout_ms, "MS", "client gives up: info (default 1000)"),
    OPT("--init-timeout-ms", OPT_LONG, init_timeout_ms, "MS",
        "every node must answer init by then (default 5000)"),
    OPT("--history", OPT_STRING, history_path, "FILE", "write the history, one JSON per line"),
    OPT("--summary-json", OPT_STRING, summary_json_path, "FILE", "write the summary as JSON"),
    OPT("--events", OPT_STRING, events_path, "FILE",
        "write the faults and who led (from raft_append) with their times, one JSON per line"),
    OPT("--report", OPT_STRING, report_path, "FILE.html",
        "write an HTML report of the run (build/run-report: timeline, checker verdicts)"),
    OPT("--log-dir", OPT_STRING, log_dir, "DIR",
        "node stderr logs (default a new temp dir, removed if the run passed)"),
    OPT("--keep-logs", OPT_FLAG, keep_logs, NULL,
        "keep the temp log dir of a run that passed (kept anyway on a failure, or when a "
        "READPATH_UNSAFE_* switch is set)"),
    OPT("--data-dir", OPT_STRING, data_dir, "DIR",
        "nodes persist to DIR/nK (node flag --data-dir); enables restart and nemesis kill"),
    OPT("--quiet", OPT_FLAG, quiet, NULL, "do not trace faults on stderr"),
    OPT("--maelstrom-rules", OPT_FLAG, maelstrom_rules, NULL,
        "enforce what Maelstrom enforces: ids n0.., an \"id\" on every message, lin-kv's "
        "closed reply schemas, JSON-only stdout, lin-kv ops only"),
    OPT("--help", OPT_FLAG, help, NULL, "this text"),
};
#undef OPT

static void options_defaults(options *o)
{
    memset(o, 0, sizeof *o);
    o->node_count = 3;
    o->seed = 1;
    o->nemesis_interval_ms = 1000;
    o->restart_after_ms = -1;
    o->time_limit_s = -1;
    o->key_count = 5;
    o->mix_spec = "read=50,write=30,cas=20";
    o->max_staleness_ms = 500;
    o->prefer_follower = "true";
    o->target = "random";
    o->timeout_ms = 1000;
    o->init_timeout_ms = 5000;
}

static int options_set(options *o, const options_spec *spec, const char *value, char *err,
                       size_t err_size)
{
    void *field = (char *)o + spec->offset;
    char *end;
    errno = 0;
    switch (spec->kind) {
    case OPT_STRING:
        *(const char **)field = value;
        return 0;
    case OPT_LONG: {
        long number = strtol(value, &end, 10);
        if (end == value || *end != '\0' || errno != 0 || number < 0) break;
        *(long *)field = number;
        return 0;
    }
    case OPT_DOUBLE: {
        double number = strtod(value, &end);
        if (end == value || *end != '\0' || errno != 0 || !isfinite(number) || number < 0) break;
        *(double *)field = number;
        return 0;
    }
    case OPT_FLAG:
        *(bool *)field = true;
        return 0;
    }
    snprintf(err, err_size, "%s: '%s' is not a non-negative number", spec->name, value);
    return -1;
}

static int options_check(const options *o, char *err, size_t err_size)
{
    if (o->help) return 0;
    if (!o->bin) {
        snprintf(err, err_size, "--bin PATH is required (e.g. --bin build/00-raft-kv/node)");
        return -1;
    }
    if (o->node_count < 1 || o->node_count > 64) {
        snprintf(err, err_size, "--nodes must be 1..64");
        return -1;
    }
    if (o->key_count < 1) {
        snprintf(err, err_size, "--keys must be at least 1");
        return -1;
    }
    if (o->timeout_ms < 1 || o->nemesis_interval_ms < 1) {
        snprintf(err, err_size, "--timeout-ms and --nemesis-interval-ms must be at least 1");
        return -1;
    }
    return 0;
}

int options_parse(options *o, int argc, char **argv, char *err, size_t err_size)
{
    options_defaults(o);
    size_t spec_count = sizeof options_table / sizeof options_table[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            o->node_args = argv + i + 1;
            o->node_arg_count = argc - i - 1;
            break;
        }
        const char *eq = strchr(argv[i], '=');
        size_t name_len = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
        const options_spec *spec = NULL;
        for (size_t s = 0; s < spec_count && !spec; s++)
            if (strlen(options_table[s].name) == name_len &&
                strncmp(options_table[s].name, argv[i], name_len) == 0)
                spec = &options_table[s];
        if (!spec && strcmp(argv[i], "-h") == 0) spec = &options_table[spec_count - 1];
        if (!spec) {
            snprintf(err, err_size, "unknown option '%s' (see --help)", argv[i]);
            return -1;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (spec->kind != OPT_FLAG && !value) {
            if (i + 1 >= argc) {
                snprintf(err, err_size, "%s needs a value (%s)", spec->name, spec->arg);
                return -1;
            }
            value = argv[++i];
        }
        if (options_set(o, spec, value, err, err_size) < 0) return -1;
    }
    return options_check(o, err, err_size);
}

void options_print_help(FILE *out)
{
    fprintf(out, "usage: cluster --bin PATH [--nodes N] [options] [-- node flags...]\n"
                 "Runs N node processes, routes their messages with simulated latency and\n"
                 "faults, drives clients, writes a history and prints a summary.\n"
                 "Exit: 0 run complete, 1 a node failed (init, crash, hang), 2 bad usage.\n\n");
    for (size_t s = 0; s < sizeof options_table / sizeof options_table[0]; s++) {
        char left[48];
        snprintf(left, sizeof left, "%s%s%s", options_table[s].name,
                 options_table[s].arg ? " " : "", options_table[s].arg ? options_table[s].arg : "");
        fprintf(out, "  %-28s %s\n", left, options_table[s].help);
    }
    fprintf(out,
            "\nFaults (scenario lines \"at TIME ...\"; the nemesis draws the starred ones):\n"
            "  partition A.. | B..   * groups cut off from each other (heal: every node joined)\n"
            "  cut X -> Y            one direction of one link dropped (uncut X -> Y)\n"
            "  duplicate P|off       * each peer message also delivered again with probability P\n"
            "  pause X / resume X    * SIGSTOP / SIGCONT\n"
            "  kill X [restart-after TIME]\n"
            "                        * SIGKILL, down until restart X (or TIME later)\n"
            "  clock X RATE          X's clock runs at RATE (a line of its own, no \"at\")\n"
            "X may be a node id or a role (leader, follower1, ...); checks/harness/README.md\n"
            "has the whole grammar.\n"
            "\nEverything after -- goes to every node, e.g. -- --heartbeat-ms 20 "
            "--election-timeout-ms 150\n");
}

int options_workload_config(const options *o, workload_config *cfg, char *err, size_t err_size)
{
    memset(cfg, 0, sizeof *cfg);
    if (workload_parse_mix(o->mix_spec, cfg->op_weight, err, err_size) < 0) return -1;
    cfg->concurrency = (int)o->concurrency;
    cfg->rate_per_s = o->rate_per_s;
    cfg->timeout_us = (int64_t)o->timeout_ms * 1000;
    cfg->key_count = o->key_count;
    cfg->max_ops = o->max_ops;
    cfg->max_staleness_ms = o->max_staleness_ms;
    if (strcmp(o->prefer_follower, "true") != 0 && strcmp(o->prefer_follower, "false") != 0) {
        snprintf(err, err_size, "--prefer-follower must be true or false");
        return -1;
    }
    cfg->prefer_follower = strcmp(o->prefer_follower, "true") == 0;
    if (strcmp(o->target, "random") == 0)
        cfg->target = WORKLOAD_TARGET_RANDOM;
    else if (strcmp(o->target, "round-robin") == 0)
        cfg->target = WORKLOAD_TARGET_ROUND_ROBIN;
    else if ((cfg->target = ids_node_index(o->target, (int)o->node_count)) < 0) {
        snprintf(err, err_size, "--target: '%s' is not random, round-robin or n1..n%ld", o->target,
                 o->node_count);
        return -1;
    }
    if (o->concurrency > 100000) {
        snprintf(err, err_size, "--concurrency is at most 100000");
        return -1;
    }
    return 0;
}
