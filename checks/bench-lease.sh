#!/usr/bin/env bash
# Lease reads against the other read paths (stage 03's measurement; NOTES.md, stage 03).
# N = 3, default (Maelstrom) timing, 1 ms and 10 ms links, a fixed offered load (95%
# reads spread round-robin over the nodes, 5% writes so the keys exist), for each path:
#   - lease_read (the leader answers on its lease; followers forward)
#   - read (ReadIndex at the leader; followers forward)
#   - follower_read with a 1000 ms bound (any node answers)
# Per path: read p50/p99 over all reads and over those sent to the leader itself,
# inter-node messages per read beyond what the same writes cost alone, the share served
# on a lease (lease_read), and the leader's CPU time per read beyond the writes-only run.
# Usage: NODE_BIN=build/03-lease-reads/node checks/bench-lease.sh
set -eu
cd "$(dirname "$0")/.."
build=${READPATH_BUILD:-build}
node_bin=${NODE_BIN:-$build/03-lease-reads/node}
seconds=${BENCH_SECONDS:-5}
rate=${BENCH_RATE:-1000}
nodes=3
work=$(mktemp -d "${TMPDIR:-/tmp}/readpath-bench-lease.XXXXXX")
trap 'rm -rf "$work"' EXIT

run() { # run NAME LATENCY MIX RATE
    "$build/cluster" --bin "$node_bin" --nodes "$nodes" --seed 7 --concurrency $((4 * nodes)) \
        --rate "$4" --time-limit "$seconds" --mix "$3" --max-staleness-ms 1000 \
        --target round-robin --latency-ms "$2" --history "$work/$1.jsonl" \
        --summary-json "$work/$1.json" --log-dir "$work/$1.logs" --quiet -- -v >/dev/null
}

# The leader: the node that won the last election (the runs have no faults).
leader_of() { grep -l "won election" "$work/$1.logs"/n*.log | tail -n 1 | xargs -n1 basename | sed 's/\.log$//'; }

printf '%-6s %-14s %9s %9s %12s %12s %10s %8s %14s\n' latency strategy "p50 ms" "p99 ms" \
    "leader p50" "leader p99" "msgs/read" "leased%" "leader us/read"
for latency in 1 10; do
    run "writes-$latency" "$latency" write=100 $((rate / 20))
    base_msgs=$(jq .messages.routed "$work/writes-$latency.json")
    base_leader=$(leader_of "writes-$latency")
    base_cpu=$(jq --arg l "$base_leader" '.node_cpu_s[$l]' "$work/writes-$latency.json")
    for strategy in lease_read read follower_read; do
        name="$strategy-$latency"
        run "$name" "$latency" "$strategy=95,write=5" "$rate"
        leader=$(leader_of "$name")
        jq -r --arg s "$strategy" --arg l "$leader" --argjson base "$base_msgs" --argjson bcpu "$base_cpu" \
            --argjson lat "$latency" --slurpfile h "$work/$name.jsonl" '
            def pct(p): if length == 0 then "-" else (sort | .[((length - 1) * p | floor)] * 100 | round / 100) end;
            # each op of this strategy as {node, ms, done}: a process alternates invoke and completion
            ([$h[] | select(.f == $s)] | group_by(.process)
             | map(. as $e | [range(0; length; 2) | {node: $e[.].node, done: $e[. + 1],
                                                   ms: (($e[. + 1].time_us - $e[.].time_us) / 1000)}]) | add
             | map(select(.done.type == "ok"))) as $ok
            | ($ok | length) as $reads
            | [$lat, $s, ($ok | map(.ms) | pct(0.5)), ($ok | map(.ms) | pct(0.99)),
               ($ok | map(select(.node == $l) | .ms) | pct(0.5)), ($ok | map(select(.node == $l) | .ms) | pct(0.99)),
               ((.messages.routed - $base) / $reads * 100 | round / 100),
               (if $s == "lease_read" then ($ok | map(select(.done.lease_valid)) | length) / $reads * 1000 | round / 10 else "-" end),
               ((.node_cpu_s[$l] - $bcpu) / $reads * 1e6 | round)]
            | @tsv' "$work/$name.json" |
            awk -F'\t' '{ printf "%-6s %-14s %9s %9s %12s %12s %10s %8s %14s\n", $1 " ms", $2, $3, $4, $5, $6, $7, $8, $9 }'
    done
done
echo "(N = $nodes; offered $rate ops/s for ${seconds}s per run, 95% reads round-robin over the nodes;"
echo " heartbeat 50 ms; msgs/read = (routed - routed in a writes-only run) / reads; leader us/read ="
echo " (leader CPU - the writes-only run's leader CPU) / reads, at 10 ms CPU-time resolution)"
