/* lease_rule: which lease configurations are safe (see lease_rule.h). */
#include "lease_rule.h"

#include <stdio.h>

/* NULL when L, E, S are safe, else the inequality they violate.
 *
 * The leader counts L - S from a round's send time s on its own clock. A follower that
 * acknowledged the round got it at or after s and refuses to elect anyone for E on its
 * clock. If that clock runs fast, E on it may be as little as E - S on the leader's
 * (S bounds the disagreement over such an interval: drift, not offset). So the lease is
 * safe iff L - S <= E - S, written as SPEC.md states it: (L - S) + S <= E; and
 * L > S, or there is no lease at all. The course task's "L - S < E" forgets that the follower's
 * clock may be the fast one: 5200/5000/500 passes it, and a lease of 4700 outlasts a
 * follower's 5000 on a clock 500 fast (4500 on the leader's). */
const char *lease_rule_violation(int64_t duration_ms, int64_t election_timeout_ms,
                                 int64_t clock_skew_ms, int64_t heartbeat_us, bool seed_rule)
{
    /* Not about the lease: a follower that misses two heartbeats calls an election, and
     * with less than that the cluster elects leaders without end. The heartbeat is the
     * flags' (no config changes it); --election-timeout-ms obeys the same rule. */
    if (election_timeout_ms * 1000 < 2 * heartbeat_us)
        return "election_timeout_ms >= 2 * heartbeat_ms";
    if (seed_rule)
        return duration_ms - clock_skew_ms < election_timeout_ms
                   ? NULL
                   : "lease - clock_skew < election_timeout (the course task's rule)";
    if (duration_ms <= clock_skew_ms) return "lease_duration_ms > max_clock_skew_ms";
    if ((duration_ms - clock_skew_ms) + clock_skew_ms > election_timeout_ms)
        return "(lease_duration_ms - max_clock_skew_ms) + max_clock_skew_ms <= election_timeout_ms";
    return NULL;
}

void lease_rule_explain(char *out, size_t n, int64_t duration_ms, int64_t election_timeout_ms,
                        int64_t clock_skew_ms, int64_t heartbeat_us, bool seed_rule)
{
    const char *violation = lease_rule_violation(duration_ms, election_timeout_ms, clock_skew_ms,
                                                 heartbeat_us, seed_rule);
    long long l = duration_ms, e = election_timeout_ms, s = clock_skew_ms;
    long long h = heartbeat_us / 1000;
    if (violation && e < 2 * h)
        snprintf(out, n,
                 "unsafe: violates %s (E=%lld, heartbeat %lld ms, the flags'): followers "
                 "would call elections between two heartbeats",
                 violation, e, h);
    else if (violation && l <= s && !seed_rule)
        snprintf(out, n,
                 "unsafe: violates %s (L=%lld, S=%lld): no lease is left once the skew "
                 "is subtracted",
                 violation, l, s);
    else if (violation)
        snprintf(out, n,
                 "unsafe: violates %s (L=%lld, E=%lld, S=%lld): a lease of %lld ms could "
                 "outlast a follower's %lld ms election timeout on a clock %lld ms fast",
                 violation, l, e, s, l - s, e, s);
    else if (seed_rule)
        snprintf(out, n,
                 "lease - clock_skew < election_timeout: %lld - %lld < %lld (the course task's "
                 "rule, a test-only switch; NOT the sound rule)",
                 l, s, e);
    else
        snprintf(out, n,
                 "(lease - clock_skew) + clock_skew <= election_timeout and lease > "
                 "clock_skew: (%lld - %lld) + %lld <= %lld and %lld > %lld",
                 l, s, s, e, l, s);
}
