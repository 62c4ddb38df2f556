/* events: the cluster's side of a run, for a report to draw beside the clients' history.
 *
 * The history says what clients saw; this says what the runner did and observed: each
 * fault with its time, and who led. Leadership is read from the peer messages the runner
 * routes, not from the nodes' logs: a node leads term T from the first raft_append it
 * sends in T to the last. That is the reference implementation's peer protocol; a node
 * that speaks another one (a student's own Raft, a Maelstrom node in another language)
 * simply has no leadership here. --events FILE writes it all, one JSON object per line
 * in time order, when the run ends. */
#ifndef EVENTS_H
#define EVENTS_H

#include "ids.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int node_index;
    double term;
    int64_t first_append_us, last_append_us;
    uint64_t appends;
} events_leadership;

typedef struct {
    int node_count;
    events_leadership *leaderships; /* in order of first append */
    size_t leadership_len, leadership_cap;
    long *latest_by_node; /* index of the node's newest leadership, -1 for none */
} events_log;

void events_init(events_log *ev, int node_count);
void events_free(events_log *ev);
/* A raft_append the node sent in this term: opens a leadership or extends its own. */
void events_note_append(events_log *ev, int64_t now_us, int node_index, double term);

/* What the events file says about the run besides leaderships. */
typedef struct {
    const char (*node_names)[IDS_NAME_MAX];
    const double *clock_rate_by_node; /* 0: the node's clock runs at rate 1 */
    const cJSON *faults;              /* the summary's {fault, ..., time_us} list */
    int64_t clients_start_us, clients_stop_us, end_us;
    uint64_t seed;
    const char *bin;
} events_context;

/* Returns 0, or -1 with errno set. */
int events_write(const events_log *ev, const events_context *ctx, const char *path);

#endif
