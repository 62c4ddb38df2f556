#!/usr/bin/env bash
# ops/s of one node on piped input: a single-member cluster (so no peers), 100,000 mixed
# ops (50% read, 40% write, 10% cas over 100 keys) on stdin, all replies on stdout.
# This measures the per-op cost of parsing, the Raft bookkeeping and printing: the
# cluster-level numbers come from `make bench`.
set -eu
cd "$(dirname "$0")/.."
node_bin=${NODE_BIN:-build/00-raft-kv/node}
ops=${BENCH_OPS:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checks/bench/piped-ops.sh "$ops" >"$work/in.jsonl"
best=0
for run in 1 2 3; do
    start=$(date +%s%N)
    "$node_bin" <"$work/in.jsonl" >"$work/out.jsonl"
    end=$(date +%s%N)
    replies=$(($(wc -l <"$work/out.jsonl") - 1))
    [ "$replies" -eq "$ops" ] || { echo "bench-node: expected $ops replies, got $replies" >&2; exit 1; }
    rate=$((ops * 1000000000 / (end - start)))
    echo "run $run: $ops ops in $(((end - start) / 1000000)) ms = $rate ops/s"
    [ "$rate" -gt "$best" ] && best=$rate
done
echo "bench-node: $node_bin: best of 3: $best ops/s (one node, piped, $ops mixed ops)"
