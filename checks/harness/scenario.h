/* scenario: the small text files a student writes to script faults and client requests.
 *
 *   clock n2 0.8                       # n2's clock runs at 0.8x (READPATH_CLOCK_RATE)
 *   at 2s partition n1 | n2 n3         # groups split by '|'; unlisted nodes form one more
 *   at 3.5s heal
 *   at 4s pause n2                     # SIGSTOP; "resume n2" sends SIGCONT
 *   at 6s kill n3                      # SIGKILL; it stays down ...
 *   at 7s restart n3                   # ... until restarted: same flags, same data dir
 *   at 8s kill n1 restart-after 20ms   # SIGKILL, then restarted 20 ms later
 *   at 2s cut n1 -> n2                 # n1's messages to n2 are dropped; n2 -> n1 flows
 *   at 3s uncut n1 -> n2               # (heal also removes every cut)
 *   at 4s duplicate 0.3                # each peer message also sent again with p 0.3
 *   at 5s duplicate off                # (heal leaves duplication on)
 *   at 1s client c1 n2 write x 5       # keys and values are JSON, or bare words as strings
 *   at 2s partition leader follower1 | follower2 follower3   # roles, resolved at 2s
 *
 * The parser checks everything it can before the cluster starts (node names against
 * --nodes, op arguments), so a typo costs a message and exit status 2, not a run. */
#ifndef SCENARIO_H
#define SCENARIO_H

#include "op.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SCENARIO_PARTITION,
    SCENARIO_HEAL,
    SCENARIO_PAUSE,
    SCENARIO_RESUME,
    SCENARIO_KILL,
    SCENARIO_RESTART,
    SCENARIO_CUT,
    SCENARIO_UNCUT,
    SCENARIO_DUPLICATE,
    SCENARIO_CLIENT,
} scenario_action;

typedef struct {
    int64_t at_us;
    int line;
    scenario_action action;
    int *group_by_node;           /* partition: one group number per node; 0 = the unlisted group */
    bool names_roles;             /* partition: also has a slot per role (see scenario.c) */
    int node_index;               /* pause, resume, kill, restart; cut, uncut: the sender. A node
                                     index or an ids.h role code */
    int to_index;                 /* cut, uncut: the receiver, likewise */
    double duplicate_probability; /* duplicate: per peer message; 0 = off */
    bool restarts;                /* kill: the node is restarted restart_after_us later */
    int64_t restart_after_us;     /* (otherwise it stays down until a restart line) */
    int process;                  /* client */
    op_request op;                /* client */
} scenario_event;

typedef struct {
    scenario_event *events; /* sorted by at_us, ties in file order */
    size_t event_count;
    double *clock_rate_by_node; /* 0 = not set: the node runs at the real rate */
} scenario;

/* Reads a scenario for a cluster of node_count nodes. On error returns -1 and writes
 * "FILE:LINE: what is wrong" into err. */
int scenario_parse_file(const char *path, int node_count, scenario *out, char *err,
                        size_t err_size);
void scenario_init_empty(scenario *sc, int node_count);
void scenario_free(scenario *sc);
/* The runner must stay up at least this long for every scripted event to happen. */
int64_t scenario_last_event_us(const scenario *sc);

#endif
