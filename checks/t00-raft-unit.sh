#!/usr/bin/env bash
# The Raft core's deterministic unit tests (checks/unit/): a simulated cluster on a
# virtual clock checks election safety, log matching, state machine safety, leader
# completeness, liveness, PreVote, stickiness, CheckQuorum and read rounds, plus the
# review's regressions. The binary prints TAP itself; a failure names a seed to replay
# with `build/raft-test --seed S`. It takes a few seconds; the timeout only keeps a
# broken core (one that, say, never steps down and grows its log without end) from
# hanging the suite.
cd "$(dirname "$0")/.." || exit 1
bin=${READPATH_BUILD:-build}/raft-test
if [ ! -x "$bin" ]; then
    echo "Bail out! $bin not built (make $bin)"
    exit 1
fi
limit=$(awk -v s="${READPATH_TIME_SCALE:-1}" 'BEGIN { print int(120 * s) }')
# Under the sanitizers (stretched time) the 200 chaotic seeds become 5: the plain pass
# runs them all, and a sanitizer finds a memory error on the first path that has one.
quick=()
awk -v k="${READPATH_TIME_SCALE:-1}" 'BEGIN { exit !(k > 1) }' && quick=(--quick)
exec timeout "$limit" "$bin" "${quick[@]}"
