#!/usr/bin/env bash
# Read strategies side by side on a cluster (stage 01's measurement; `make bench-reads`).
# For N = 3 and 5 nodes, 1 ms links, a fixed offered load (80% reads spread evenly over
# the nodes, 20% writes), the default (Maelstrom) timing profile:
#   - linearizable `read` (ReadIndex at the leader; followers forward)
#   - `follower_read` with a 1000 ms bound
# Per strategy: achieved ok ops/s, read p50/p99, inter-node messages per read beyond what
# the same writes cost alone, the share of reads the leader served, and for follower
# reads the staleness they reported (p50/p99).
set -eu
cd "$(dirname "$0")/.."
build=${READPATH_BUILD:-build}
node_bin=${NODE_BIN:-$build/01-follower-reads/node}
seconds=${BENCH_SECONDS:-5}
rate=${BENCH_RATE:-1000}
work=$(mktemp -d "${TMPDIR:-/tmp}/readpath-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

run() { # run NAME NODES MIX
    "$build/cluster" --bin "$node_bin" --nodes "$2" --seed 7 --concurrency $((4 * $2)) \
        --rate "$4" --time-limit "$seconds" --mix "$3" --max-staleness-ms 1000 \
        --target round-robin --latency-ms 1 --history "$work/$1.jsonl" \
        --summary-json "$work/$1.json" --log-dir "$work/$1.logs" --quiet -- -v >/dev/null
}

printf '%-3s %-14s %9s %9s %9s %10s %8s %14s\n' N strategy "ok ops/s" "p50 ms" "p99 ms" "msgs/read" leader% "staleness ms"
for nodes in 3 5; do
    run "writes-$nodes" "$nodes" write=100 $((rate / 5))
    base_msgs=$(jq .messages.routed "$work/writes-$nodes.json")
    for strategy in read follower_read; do
        name="$strategy-$nodes"
        run "$name" "$nodes" "$strategy=80,write=20" "$rate"
        leader=$(grep -l "won election" "$work/$name.logs"/n*.log | tail -n 1 | xargs -n1 basename | sed 's/\.log$//')
        jq -r --arg s "$strategy" --arg leader "$leader" --argjson base "$base_msgs" --argjson n "$nodes" \
            --slurpfile h <(jq -c "select(.type == \"ok\" and .f == \"$strategy\")" "$work/$name.jsonl") '
            def pct(p): if length == 0 then "-" else (sort | .[((length - 1) * p | floor)]) end;
            ($h | length) as $reads
            # Served by the leader (NOTES.md, "Measurements"): its id in served_by, and every
            # `read`, which carries no served_by and which only a leader answers.
            | ([$h[] | select(.served_by == $leader or (.served_by == null and $s == "read"))] | length) as $at_leader
            | ([$h[] | .actual_staleness_ms | select(. != null)]) as $stale
            | [$n, $s, (.ok_per_s | floor), .ops[$s].p50_ms, .ops[$s].p99_ms,
               ((.messages.routed - $base) / $reads * 100 | round / 100),
               ($at_leader / $reads * 1000 | round / 10),
               (if ($stale | length) > 0 then "\($stale | pct(0.5))/\($stale | pct(0.99))" else "-" end)]
            | @tsv' "$work/$name.json" |
            awk -F'\t' '{ printf "%-3s %-14s %9s %9.2f %9.2f %10s %8s %14s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
    done
done
echo "(offered $rate ops/s for ${seconds}s per run; heartbeat 50 ms; msgs/read = (routed - routed in a writes-only run) / reads)"
