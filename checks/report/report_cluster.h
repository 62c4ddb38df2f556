/* report_cluster: the runner's events file (checks/harness/README.md, "Events") as what a
 * report draws on the cluster's rows: who led each term and when, and every fault as a
 * window from the line that starts it to the line that ends it. */
#ifndef REPORT_CLUSTER_H
#define REPORT_CLUSTER_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    /* {nodes, clock_rate, seed, bin, clients_start_us, clients_stop_us, end_us}; without an
     * events file, only nodes (those the history names) and end_us. */
    cJSON *run;
    cJSON *leaders; /* [{node, term, from_us, to_us, appends}] */
    /* [{kind, label, node?, from?, to?, groups?, from_us, to_us, open}]: kind is partition,
     * cut, duplicate, pause, kill or clock; open means the run ended inside the window. */
    cJSON *faults;
    int has_events;
} report_cluster;

/* events_path may be NULL: a report of a history alone (nodes from ops). Returns 0, or
 * -1 with a message in err. */
int report_cluster_read(report_cluster *c, const char *events_path, const cJSON *ops,
                        int64_t last_us, char *err, size_t err_size);
void report_cluster_free(report_cluster *c);

#endif
