#!/usr/bin/env bash
# What durability costs (`make bench-durable`; NOTES.md, stage 00, "Durable writes in
# parallel"). 3 nodes, 10 closed-loop clients, writes only, no added link latency; each
# configuration BENCH_RUNS times (default 3), interleaved so the disk's moods spread
# over all of them, and the median run reported:
#   - in memory (no --data-dir)
#   - --data-dir, fsync before anything leaves (READPATH_SERIAL_FSYNC=1): a write waits
#     for the leader's fsync, then the follower's
#   - --data-dir, as the node runs by default: the leader sends before its fsync, a
#     follower holds only its acks for its own (§10.2.1)
# Then what one fdatasync costs on this disk: alone, and three at once (the three nodes
# share one disk here), measured with dd's oflag=dsync (one 256-byte write + sync each).
set -eu
cd "$(dirname "$0")/.."
build=${READPATH_BUILD:-build}
node_bin=${NODE_BIN:-$build/00-raft-kv/node}
seconds=${BENCH_SECONDS:-4}
runs=${BENCH_RUNS:-3}
data=${BENCH_DATA_DIR:-$(pwd)/build/bench-durable-data} # on the disk under test, not /tmp's tmpfs
work=$(mktemp -d "${TMPDIR:-/tmp}/readpath-bench.XXXXXX")
trap 'rm -rf "$work" "$data"' EXIT

run() { # run NAME [--data-dir]: prints "ok/s p50 p99"
    rm -rf "$data"
    "$build/cluster" --bin "$node_bin" --nodes 3 --seed 7 --concurrency 10 --mix write=100 \
        --time-limit "$seconds" --summary-json "$work/$1.json" --quiet "${@:2}" >/dev/null
    jq -r '[(.ok_per_s | floor), .ops.write.p50_ms, .ops.write.p99_ms] | @tsv' "$work/$1.json"
}

for config in memory serial parallel; do : >"$work/$config.runs"; done
for i in $(seq "$runs"); do
    run "memory-$i" >>"$work/memory.runs"
    READPATH_SERIAL_FSYNC=1 run "serial-$i" --data-dir "$data" >>"$work/serial.runs"
    run "parallel-$i" --data-dir "$data" >>"$work/parallel.runs"
done

median() { sort -n "$1" | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }
memory_ops=$(median "$work/memory.runs" | cut -f1)
printf '%-44s %9s %8s %8s %10s\n' configuration "ok ops/s" "p50 ms" "p99 ms" "of memory"
for config in memory serial parallel; do
    case $config in
    memory) label="in memory" ;;
    serial) label="--data-dir, fsync before sending" ;;
    parallel) label="--data-dir, leader sends before its fsync" ;;
    esac
    median "$work/$config.runs" | awk -F'\t' -v l="$label" -v m="$memory_ops" \
        '{ printf "%-44s %9d %8.2f %8.2f %9.0f%%\n", l, $1, $2, $3, 100 * $1 / m }'
done
echo "(median of $runs runs of ${seconds}s each; every run's ok ops/s:" \
    "memory $(cut -f1 "$work/memory.runs" | tr '\n' ' ')/" \
    "serial $(cut -f1 "$work/serial.runs" | tr '\n' ' ')/" \
    "parallel $(cut -f1 "$work/parallel.runs" | tr '\n' ' '))"

# One fdatasync'd 256-byte write, alone and with two others at once.
mkdir -p "$data"
dsync_ms() { # dsync_ms FILE: ms per synced write, over 2000
    local start end
    start=$(date +%s%N)
    dd if=/dev/zero of="$1" bs=256 count=2000 oflag=dsync status=none
    end=$(date +%s%N)
    awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 2000 / 1e6 }'
}
alone=$(dsync_ms "$data/a")
dsync_ms "$data/b" >"$work/b" &
dsync_ms "$data/c" >"$work/c" &
together=$(dsync_ms "$data/a")
wait
echo "one synced write on this disk: ${alone} ms alone; ${together} / $(cat "$work/b") / $(cat "$work/c") ms each with three at once"
