#!/usr/bin/env bash
# make demo: a 3-node cluster of one stage (the newest by default) under the local
# runner, a mixed workload over every read type that stage has, a partition in the
# middle, then the runner's report and every applicable checker's verdict.
set -eu
cd "$(dirname "$0")/.."
build=${READPATH_BUILD:-build}
node_bin=${NODE_BIN:?NODE_BIN is set by make}
stage=${STAGE:?STAGE is set by make}
seconds=${DEMO_SECONDS:-8}
work=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/readpath-demo.XXXXXX")}
mkdir -p "$work"

mix="read=40,write=35,cas=25"
[ "$((10#$stage))" -ge 1 ] && mix="read=25,write=30,cas=15,follower_read=30"
[ "$((10#$stage))" -ge 2 ] && mix="read=20,write=30,cas=10,follower_read=20,ryw_read=20"
[ "$((10#$stage))" -ge 3 ] && mix="read=15,write=30,cas=10,follower_read=15,ryw_read=15,lease_read=15"

half=$((seconds * 1000 / 2))
cat >"$work/scenario.txt" <<SCENARIO
# a partition in the middle of the run: n1 alone, then healed
at $((half - 1000))ms partition n1 | n2 n3
at $((half + 1000))ms heal
SCENARIO

echo "== readpath demo: stage $stage ($node_bin), 3 nodes, ${seconds}s, 1-3 ms links"
echo "== workload: $mix; n1 is cut off from $((half - 1000)) ms to $((half + 1000)) ms"
"$build/cluster" --bin "$node_bin" --nodes 3 --seed "${DEMO_SEED:-1}" \
    --concurrency 6 --rate 300 --time-limit "$seconds" --mix "$mix" \
    --max-staleness-ms 200 --latency-ms 1 --jitter-ms 2 \
    --scenario "$work/scenario.txt" --history "$work/history.jsonl" \
    --log-dir "$work/logs" --quiet \
    -- --heartbeat-ms 20 --election-timeout-ms 150

echo
echo "== checkers"
verdicts=0
for checker in linearizable staleness ryw; do
    [ -x "$build/check-$checker" ] || continue
    printf '%-14s ' "$checker:"
    if "$build/check-$checker" "$work/history.jsonl"; then :; else
        status=$?
        verdicts=1
        echo "   (exit $status)"
    fi
done
echo
echo "history: $work/history.jsonl   node logs: $work/logs"
exit "$verdicts"
