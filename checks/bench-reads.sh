#!/usr/bin/env bash
# Read strategies side by side on a cluster (stage 01's measurement; `make bench-reads`).
# For N = 3 and 5 nodes, 1 ms links, a fixed offered load (80% reads spread evenly over
# the nodes, 20% writes), the default (Maelstrom) timing profile:
#   - linearizable `read` (ReadIndex at the leader; followers forward)
#   - `follower_read` with a 1000 ms bound
# Per strategy: achieved ok ops/s, read p50/p99, inter-node messages per read beyond what
# the same writes cost alone, the share of reads the leader served, and for follower
# reads the staleness they reported (p50/p99).
# Then reads only at N = 3 (BENCH_LOAD_RATE, 4000 ops/s offered, keys written once first):
# ReadIndex against `follower_read` with a 100 ms bound, tighter than heartbeats prove,
# which followers serve with a read index from the leader: the share of reads served
# where they were asked, p50/p99, and the leader's CPU per 1,000 reads beyond an idle
# cluster's.
set -eu
cd "$(dirname "$0")/.."
build=${READPATH_BUILD:-build}
node_bin=${NODE_BIN:-$build/01-follower-reads/node}
seconds=${BENCH_SECONDS:-5}
rate=${BENCH_RATE:-1000}
load_rate=${BENCH_LOAD_RATE:-4000}
work=$(mktemp -d "${TMPDIR:-/tmp}/readpath-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

run() { # run NAME NODES MIX RATE [BOUND_MS [RUNNER ARGS...]]
    "$build/cluster" --bin "$node_bin" --nodes "$2" --seed 7 --concurrency $((4 * $2)) \
        --rate "$4" --time-limit "$seconds" --mix "$3" --max-staleness-ms "${5:-1000}" \
        --target round-robin --latency-ms 1 --history "$work/$1.jsonl" \
        --summary-json "$work/$1.json" --log-dir "$work/$1.logs" --quiet "${@:6}" -- -v >/dev/null
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

# Reads only: what a tight bound costs now that followers serve it with a read index.
for key in 0 1 2 3 4; do echo "at 0.8s client c$((key + 1)) n$((key % 3 + 1)) write $key 0"; done >"$work/preload.txt"
"$build/cluster" --bin "$node_bin" --nodes 3 --seed 7 --concurrency 0 --time-limit "$seconds" \
    --latency-ms 1 --summary-json "$work/idle.json" --log-dir "$work/idle.logs" --quiet >/dev/null
echo
printf '%-3s %-18s %9s %9s %9s %13s %8s %16s\n' N strategy "ok ops/s" "p50 ms" "p99 ms" "where asked" leader% "leader CPU ms/1k"
for strategy in read follower_read/100; do
    f=${strategy%%/*}
    name="only-$f"
    run "$name" 3 "$f=100" "$load_rate" 100 --scenario "$work/preload.txt"
    jq -r -s --slurpfile s "$work/$name.json" --slurpfile b "$work/idle.json" --arg f "$f" --arg strategy "$strategy" '
        def pct(p): if length == 0 then "-" else (sort | .[((length - 1) * p | floor)]) end;
        $s[0] as $s | $b[0] as $b
        # after the first second (the election and the keys being written)
        | [group_by(.process)[] | . as $l | range(0; length; 2) | {inv: $l[.], done: $l[. + 1]}
           | select(.done != null and .inv.time_us >= 1e6)] as $ops
        | [$ops[] | select(.done.type == "ok" and .done.f == $f)] as $reads
        | [$ops[] | select(.done.f == $f and (.done.type == "ok" or .done.type == "fail"))] as $answered
        | ($reads | map((.done.time_us - .inv.time_us) / 1000)) as $lat
        # a `read` reply names no server: only the leader answers one
        | ([$reads[] | select((.done.served_by // $s.leader) == .inv.node)] | length) as $where_asked
        | ([$reads[] | select((.done.served_by // $s.leader) == $s.leader)] | length) as $at_leader
        | [3, $strategy, (($reads | length) / ($s.duration_s - 1) | floor), ($lat | pct(0.5)), ($lat | pct(0.99)),
           "\($where_asked / ($reads | length) * 1000 | round / 10)%",
           ($at_leader / ($reads | length) * 1000 | round / 10),
           (($s.node_cpu_s[$s.leader] - $b.node_cpu_s[$b.leader]) / ($answered | length) * 1e7 | round / 10)]
        | @tsv' "$work/$name.jsonl" |
        awk -F'\t' '{ printf "%-3s %-18s %9s %9.2f %9.2f %13s %8s %16s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
done
echo "(reads only: $load_rate ops/s offered for ${seconds}s, keys written first; leader CPU from /proc in 10 ms ticks, beyond an idle cluster's)"
