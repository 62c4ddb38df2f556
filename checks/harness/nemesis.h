/* nemesis: a seeded random fault schedule, for runs nobody scripted by hand.
 *
 * Every --nemesis-interval-ms it toggles between a fault and a heal, so the cluster
 * spends half its time faulty and half recovering, and each recovery is exercised.
 * Kinds (any subset, comma separated):
 *   partition  split the nodes into two random non-empty sides
 *   isolate    cut one node off from the rest, n1 first, then n2, ... in turn, so a
 *              run of N faults is sure to isolate whichever node leads
 *   pause      SIGSTOP one random node (the heal resumes it)
 *   duplicate  every peer message is, with probability 0.3, delivered twice (the copy
 *              with its own latency and jitter); the heal turns it off
 *   kill       SIGKILL one random node (the heal restarts it, or, with a restart
 *              delay, the runner does that long after the kill; needs the runner's
 *              --data-dir, or the node would come back empty)
 * With lease configs (--lease-configs), each fault step also sends the next of them, in
 * turn, as a lease_read_config to a random node: stage 03's timing changes while the
 * cluster is partitioned or a node is down, where a config's rules are tested hardest.
 * Its draws come from their own stream: turning the nemesis on never changes the
 * workload's op sequence. */
#ifndef NEMESIS_H
#define NEMESIS_H

#include "rng.h"
#include "scenario.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    NEMESIS_PARTITION,
    NEMESIS_ISOLATE,
    NEMESIS_PAUSE,
    NEMESIS_KILL,
    NEMESIS_DUPLICATE,
    NEMESIS_KIND_COUNT
} nemesis_kind;

typedef struct {
    bool enabled[NEMESIS_KIND_COUNT];
    int node_count;
    int64_t interval_us;
    int64_t restart_after_us; /* kill: restart this long after it; -1: at the heal */
    rng_stream rng;
    bool active; /* the schedule runs */
    int64_t next_us;
    bool faulted;
    int paused_node; /* -1 when none */
    int killed_node; /* -1 when none */
    bool duplicating;
    op_lease_config *lease_configs; /* sent in turn, one per fault step */
    int lease_config_count, next_lease_config;
    int config_process; /* the client that sends them */
    int next_isolated;
} nemesis_state;

/* "partition,pause"; -1 with a message in err when a kind is unknown. restart_after_us
 * >= 0 makes each kill restart its node that long after it (--restart-after-ms). */
int nemesis_init(nemesis_state *n, const char *spec, int node_count, int64_t interval_us,
                 int64_t restart_after_us, uint64_t seed, char *err, size_t err_size);
/* "400/600/50,150/150/15": the configs a fault step sends, from client config_process.
 * -1 with a message in err on a bad spec. */
int nemesis_set_lease_configs(nemesis_state *n, const char *spec, int config_process, char *err,
                              size_t err_size);
void nemesis_free(nemesis_state *n);
void nemesis_start(nemesis_state *n, int64_t now_us);
void nemesis_stop(nemesis_state *n);
int64_t nemesis_next_us(const nemesis_state *n);
/* The events of the next step (a fault and maybe a lease config, or a heal and maybe a
 * resume, restart or end of duplication) into out[0..1]; returns their count. Partition
 * events own group_by_node: the caller frees it. */
int nemesis_step(nemesis_state *n, scenario_event out[2]);

#endif
