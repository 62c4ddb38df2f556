#!/usr/bin/env bash
# Stage 01's staleness proof in virtual time (checks/unit/follower_read_test.c): the
# pure core (stages/01-follower-reads/fr_proof.c) on every node of a simulated cluster,
# the deterministic twin of t01-cluster.sh's deposed-leader experiment (the proven bound
# never misses a committed write; the naive one, the negative control, does), of
# t01-drift.sh (a follower clock inside the drift allowance never under-claims; one
# outside it, the negative control, does) and of a follower restart (a new life refuses
# pairs stamped by its earlier one; a reused incarnation, the negative control, takes
# them and claims a false bound); plus a round in flight when a stamp arrives, which
# must not prove it. It runs in milliseconds; `build/follower-read-test` prints each
# case's arithmetic.
cd "$(dirname "$0")/.." || exit 1
bin=${READPATH_BUILD:-build}/follower-read-test
if [ ! -x "$bin" ]; then
    echo "Bail out! $bin not built (make $bin)"
    exit 1
fi
limit=$(awk -v s="${READPATH_TIME_SCALE:-1}" 'BEGIN { print int(30 * s) }')
exec timeout "$limit" "$bin"
