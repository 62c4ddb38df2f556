#!/usr/bin/env bash
# Stage 03's lease in virtual time (checks/unit/lease_test.c): the pure core
# (stages/03-lease-reads/lease_state.c) and the rule (lease_rule.c) on a simulated
# cluster whose nodes' clocks run at their own rates. The deterministic twins of
# t03-experiment.sh's case (c) (the course task's rule, 5200/5000/500, lets the old lease
# outlast the new leader's election on a follower clock S fast: two lease holders and
# stale reads; the sound rule, none) and of t03-restart-window.sh (a node restarted from
# disk refuses votes for one E, so the lease holds; a restart without that window, the
# negative control, elects a second lease holder at once). It runs in milliseconds;
# `build/lease-test` prints each case's arithmetic.
cd "$(dirname "$0")/.." || exit 1
bin=${READPATH_BUILD:-build}/lease-test
if [ ! -x "$bin" ]; then
    echo "Bail out! $bin not built (make $bin)"
    exit 1
fi
limit=$(awk -v s="${READPATH_TIME_SCALE:-1}" 'BEGIN { print int(30 * s) }')
exec timeout "$limit" "$bin"
