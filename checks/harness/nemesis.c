#include "nemesis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const nemesis_names[NEMESIS_KIND_COUNT] = {"partition", "isolate", "pause",
                                                              "kill", "duplicate"};
/* High enough that most Raft rounds see a copy, low enough that the originals still
 * carry the run forward. */
#define NEMESIS_DUPLICATE_PROBABILITY 0.3

int nemesis_init(nemesis_state *n, const char *spec, int node_count, int64_t interval_us,
                 int64_t restart_after_us, uint64_t seed, char *err, size_t err_size)
{
    memset(n, 0, sizeof *n);
    n->node_count = node_count;
    n->interval_us = interval_us;
    n->restart_after_us = restart_after_us;
    n->paused_node = -1;
    n->killed_node = -1;
    rng_seed(&n->rng, seed, RNG_STREAM_NEMESIS);
    if (!spec) return 0;
    char *copy = strdup(spec);
    int rc = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        int kind = 0;
        while (kind < NEMESIS_KIND_COUNT && strcmp(nemesis_names[kind], item) != 0)
            kind++;
        if (kind == NEMESIS_KIND_COUNT) {
            snprintf(err, err_size,
                     "--nemesis: unknown kind '%s' (partition, isolate, pause, kill, "
                     "duplicate)",
                     item);
            rc = -1;
            break;
        }
        n->enabled[kind] = true;
    }
    free(copy);
    if (rc == 0 && node_count < 2 &&
        (n->enabled[NEMESIS_PARTITION] || n->enabled[NEMESIS_ISOLATE])) {
        snprintf(err, err_size, "--nemesis: a partition needs at least 2 nodes");
        rc = -1;
    }
    return rc;
}

int nemesis_set_lease_configs(nemesis_state *n, const char *spec, int config_process, char *err,
                              size_t err_size)
{
    char *copy = strdup(spec);
    int rc = 0;
    for (char *save = NULL, *item = strtok_r(copy, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        op_lease_config config;
        char tail;
        if (sscanf(item, "%ld/%ld/%ld%c", &config.lease_duration_ms, &config.election_timeout_ms,
                   &config.max_clock_skew_ms, &tail) != 3 ||
            config.lease_duration_ms < 0 || config.election_timeout_ms < 0 ||
            config.max_clock_skew_ms < 0) {
            snprintf(err, err_size,
                     "--lease-configs: '%s' is not L/E/S (three non-negative integers, ms)", item);
            rc = -1;
            break;
        }
        n->lease_configs = realloc(n->lease_configs,
                                   (size_t)(n->lease_config_count + 1) * sizeof *n->lease_configs);
        n->lease_configs[n->lease_config_count++] = config;
    }
    free(copy);
    if (rc == 0 && n->lease_config_count == 0) {
        snprintf(err, err_size, "--lease-configs: no config given (e.g. 400/600/50,150/150/15)");
        rc = -1;
    }
    n->config_process = config_process;
    return rc;
}

void nemesis_free(nemesis_state *n)
{
    free(n->lease_configs);
    n->lease_configs = NULL;
    n->lease_config_count = 0;
}

void nemesis_start(nemesis_state *n, int64_t now_us)
{
    for (int k = 0; k < NEMESIS_KIND_COUNT; k++)
        n->active |= n->enabled[k];
    n->next_us = now_us + n->interval_us;
}

void nemesis_stop(nemesis_state *n)
{
    n->active = false;
}

int64_t nemesis_next_us(const nemesis_state *n)
{
    return n->active ? n->next_us : INT64_MAX;
}

static int nemesis_pick_kind(nemesis_state *n)
{
    int count = 0;
    for (int k = 0; k < NEMESIS_KIND_COUNT; k++)
        count += n->enabled[k];
    int pick = (int)rng_below(&n->rng, (uint64_t)count);
    for (int k = 0; k < NEMESIS_KIND_COUNT; k++)
        if (n->enabled[k] && pick-- == 0) return k;
    return NEMESIS_PARTITION;
}

/* The fault step's second event: the next lease config, to a random node. */
static int nemesis_with_lease_config(nemesis_state *n, scenario_event *out)
{
    if (n->lease_config_count == 0) return 1;
    out->action = SCENARIO_CLIENT;
    out->process = n->config_process;
    out->op.kind = OP_LEASE_READ_CONFIG;
    out->op.node_index = (int)rng_below(&n->rng, (uint64_t)n->node_count);
    out->op.lease_config = n->lease_configs[n->next_lease_config];
    n->next_lease_config = (n->next_lease_config + 1) % n->lease_config_count;
    return 2;
}

int nemesis_step(nemesis_state *n, scenario_event out[2])
{
    memset(out, 0, 2 * sizeof *out);
    n->next_us += n->interval_us;
    if (n->faulted) {
        n->faulted = false;
        out[0].action = SCENARIO_HEAL;
        if (n->duplicating) {
            out[1].action = SCENARIO_DUPLICATE;
            out[1].duplicate_probability = 0;
            n->duplicating = false;
            return 2;
        }
        if (n->paused_node >= 0) {
            out[1].action = SCENARIO_RESUME;
            out[1].node_index = n->paused_node;
            n->paused_node = -1;
            return 2;
        }
        if (n->killed_node >= 0) {
            out[1].action = SCENARIO_RESTART;
            out[1].node_index = n->killed_node;
            n->killed_node = -1;
            return 2;
        }
        return 1;
    }
    n->faulted = true;
    int kind = nemesis_pick_kind(n);
    if (kind == NEMESIS_PAUSE) {
        out[0].action = SCENARIO_PAUSE;
        out[0].node_index = (int)rng_below(&n->rng, (uint64_t)n->node_count);
        n->paused_node = out[0].node_index;
        return nemesis_with_lease_config(n, &out[1]);
    }
    if (kind == NEMESIS_DUPLICATE) {
        out[0].action = SCENARIO_DUPLICATE;
        out[0].duplicate_probability = NEMESIS_DUPLICATE_PROBABILITY;
        n->duplicating = true;
        return nemesis_with_lease_config(n, &out[1]);
    }
    if (kind == NEMESIS_KILL) {
        out[0].action = SCENARIO_KILL;
        out[0].node_index = (int)rng_below(&n->rng, (uint64_t)n->node_count);
        if (n->restart_after_us >= 0) {
            out[0].restarts = true;
            out[0].restart_after_us = n->restart_after_us;
        } else {
            n->killed_node = out[0].node_index;
        }
        return nemesis_with_lease_config(n, &out[1]);
    }
    out[0].action = SCENARIO_PARTITION;
    out[0].group_by_node = calloc((size_t)n->node_count, sizeof *out[0].group_by_node);
    if (kind == NEMESIS_ISOLATE) {
        out[0].group_by_node[n->next_isolated] = 1;
        n->next_isolated = (n->next_isolated + 1) % n->node_count;
        return nemesis_with_lease_config(n, &out[1]);
    }
    /* Each node flips a coin for its side; redraw until both sides are non-empty. */
    for (;;) {
        int on_side_one = 0;
        for (int i = 0; i < n->node_count; i++) {
            out[0].group_by_node[i] = (int)rng_below(&n->rng, 2);
            on_side_one += out[0].group_by_node[i];
        }
        if (on_side_one > 0 && on_side_one < n->node_count)
            return nemesis_with_lease_config(n, &out[1]);
    }
}
