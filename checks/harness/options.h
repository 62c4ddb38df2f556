/* options: the runner's command line, one table that both parses and prints --help, so
 * the two cannot drift apart. */
#ifndef OPTIONS_H
#define OPTIONS_H

#include "workload.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *bin;
    long node_count;
    double latency_ms, jitter_ms;
    long seed;
    const char *scenario_path;
    const char *nemesis_spec;
    long nemesis_interval_ms;
    long restart_after_ms; /* < 0: not given */
    const char *lease_configs;
    double rate_per_s;
    long concurrency;
    double time_limit_s; /* < 0: not given */
    long max_ops;
    long key_count;
    const char *mix_spec;
    long max_staleness_ms;
    const char *prefer_follower;
    const char *target;
    long timeout_ms;
    long init_timeout_ms;
    const char *history_path;
    const char *summary_json_path;
    const char *events_path; /* faults and leaderships, for a report */
    const char *report_path; /* an HTML report of the run, by run-report */
    const char *log_dir;
    const char *data_dir;
    bool keep_logs;
    bool quiet;
    bool maelstrom_rules;
    bool help;
    char **node_args; /* everything after "--" */
    int node_arg_count;
} options;

/* Returns 0, or -1 with a message in err (the caller exits 2). */
int options_parse(options *o, int argc, char **argv, char *err, size_t err_size);
void options_print_help(FILE *out);
/* Turns the workload flags into a config (node names resolve --target). */
int options_workload_config(const options *o, workload_config *cfg, char *err, size_t err_size);

#endif
