/* lease_rule: which lease configurations (L, E, S) are safe, as a pure function.
 *
 * The rule (NOTES.md, stage 03, "What S means, and the sound rule"): (L - S) + S <= E
 * and L > S, with E at least two heartbeats. lease_config.c applies it to the flags and
 * to lease_read_config; the unit simulator (checks/unit/lease_test.c) shows what the
 * configs it refuses would do. */
#ifndef READPATH_LEASE_RULE_H
#define READPATH_LEASE_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NULL when L, E, S are safe, else the inequality they violate. `seed_rule` is the
 * negative control (READPATH_UNSAFE_SEED_LEASE_RULE): judge by L - S < E instead. */
const char *lease_rule_violation(int64_t duration_ms, int64_t election_timeout_ms,
                                 int64_t clock_skew_ms, int64_t heartbeat_us, bool seed_rule);
/* Why a config is safe or not, with its numbers, for a reply's "reason". */
void lease_rule_explain(char *out, size_t n, int64_t duration_ms, int64_t election_timeout_ms,
                        int64_t clock_skew_ms, int64_t heartbeat_us, bool seed_rule);

#endif
