/* lease_config: the configuration a lease rests on (L, E, S) and changing it through the
 * log. lease_read_config answers safe:false for a config that breaks the rule (NOTES.md,
 * stage 03: (L - S) + S <= E and L > S) and proposes a safe one; its E becomes the
 * cluster's minimum election timeout and stickiness window. The flags
 * (--lease-duration-ms, --max-clock-skew-ms) are the first config, checked against the
 * same rule before the node reads any input. */
#ifndef READPATH_LEASE_CONFIG_H
#define READPATH_LEASE_CONFIG_H

#include "node.h"

/* A lease configuration and the log entry that carries it (index 0: the flags). */
struct lease_config {
    int64_t index, term;
    int64_t duration_ms, election_timeout_ms, clock_skew_ms;
};

extern const struct node_feature lease_config_feature;

/* L - S, the lease a config lets a leader count on its own clock. */
int64_t lease_config_effective_us(const struct lease_config *c);
/* A config entry as lease_read_config would have proposed it (index and term unset);
 * anything else in a log (a peer's bug, fuzzed input) is not a config. */
bool lease_config_parse(const cJSON *command, struct lease_config *out);
/* The newest config in this node's log: what a leader's followers converge to. */
const struct lease_config *lease_config_latest(void);
/* More configs waited in the log than were recorded: the newest recorded one need not
 * be the newest (for good). */
bool lease_config_overflowed(void);
/* The smallest effective lease of any config this node has seen, the flags included:
 * every follower obeys one of them, and none allows less. */
int64_t lease_config_min_effective_us(void);

#endif
