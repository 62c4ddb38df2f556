#!/usr/bin/env bash
# checks/soak-memory.sh: does memory stay flat under writes at full speed? (make
# soak-memory; not part of make check: it runs for minutes.)
#
# A 3-node cluster of NODE_BIN (the newest stage) under build/cluster, each node with
# --data-dir and --snapshot-every MEMORY_SNAPSHOT_EVERY (default 500), takes writes
# from 10 closed-loop clients (no rate limit) to MEMORY_KEYS keys (default 1000) for
# MEMORY_SECONDS (default 600). Every MEMORY_SAMPLE_SECONDS (default 5) it samples each
# node's resident set (VmRSS) and the size of its data directory, and prints a line.
# At the end it asserts, per node:
#   - RSS: the largest sample of the last minute is within 1.5x of the largest of the
#     first minute (for runs under 3 minutes: the last third against the first third);
#   - the data directory never exceeded MEMORY_MAX_DIR_BYTES (default 4 MB): the map of
#     1000 small keys, at most a threshold's worth of entries, and their records.
# Without compaction (MEMORY_SNAPSHOT_EVERY=0) both grow with the writes and it fails:
# the negative control, by hand.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${READPATH_BUILD:-build}
NODE_BIN=${NODE_BIN:-$(ls "$BUILD"/*/node | tail -n 1)}
SECONDS_TOTAL=${MEMORY_SECONDS:-600}
SAMPLE_S=${MEMORY_SAMPLE_SECONDS:-5}
EVERY=${MEMORY_SNAPSHOT_EVERY:-500}
KEYS=${MEMORY_KEYS:-1000}
MAX_DIR=${MEMORY_MAX_DIR_BYTES:-4194304}
for tool in "$BUILD/cluster" "$NODE_BIN"; do
    [ -x "$tool" ] || { echo "soak-memory: no $tool (make all)"; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/readpath-memory.XXXXXX")
samples=$work/samples.tsv
echo "soak-memory: $NODE_BIN, 3 nodes, --snapshot-every $EVERY, $KEYS keys, ${SECONDS_TOTAL}s of" \
    "writes at full speed; samples every ${SAMPLE_S}s in $samples"
"$BUILD/cluster" --bin "$NODE_BIN" --nodes 3 --concurrency 10 --mix write=1 --keys "$KEYS" \
    --time-limit "$SECONDS_TOTAL" --data-dir "$work/data" --summary-json "$work/summary.json" \
    --quiet -- --heartbeat-ms 50 --election-timeout-ms 300 --snapshot-every "$EVERY" \
    >"$work/summary.txt" 2>"$work/cluster.err" &
cluster=$!
trap 'kill "$cluster" 2>/dev/null; exit 1' INT TERM

start=$(date +%s)
printf "%s\t%s\t%s\t%s\n" seconds node rss_kb dir_bytes >"$samples"
printf "%8s  %-4s %10s %12s\n" seconds node rss_kb dir_bytes
while kill -0 "$cluster" 2>/dev/null; do
    sleep "$SAMPLE_S"
    t=$(($(date +%s) - start))
    for pid in $(ps -o pid= --ppid "$cluster" 2>/dev/null); do
        # The node's id is the last path element of its --data-dir.
        node=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -A1 -- '^--data-dir$' | tail -n 1)
        [ -n "$node" ] || continue
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        size=$(du -sb "$node" 2>/dev/null | cut -f1)
        [ -n "$rss" ] && [ -n "$size" ] || continue
        printf "%s\t%s\t%s\t%s\n" "$t" "$(basename "$node")" "$rss" "$size" >>"$samples"
        printf "%8s  %-4s %10s %12s\n" "$t" "$(basename "$node")" "$rss" "$size"
    done
done
wait "$cluster"
status=$?
cat "$work/summary.txt" | grep -E "^total|throughput" || true
if [ "$status" -ne 0 ]; then
    echo "not ok: the cluster run failed (exit $status); see $work"
    exit 1
fi

# The verdict, per node: the first and the last window (a minute, or a third of a short run).
window=60
[ "$SECONDS_TOTAL" -lt 180 ] && window=$((SECONDS_TOTAL / 3))
last_t=$(awk -F'\t' 'NR > 1 && $1 > m { m = $1 } END { print m + 0 }' "$samples")
awk -F'\t' -v w="$window" -v last="$last_t" -v max_dir="$MAX_DIR" '
    NR == 1 { next }
    {
        n = $2; nodes[n] = 1
        if ($1 <= w && $3 > first[n]) first[n] = $3
        if ($1 > last - w && $3 > final[n]) final[n] = $3
        if ($4 > dir[n]) dir[n] = $4
    }
    END {
        bad = 0
        for (n in nodes) {
            ok_rss = final[n] <= 1.5 * first[n]
            ok_dir = dir[n] <= max_dir
            printf "%s %s: RSS first %ds max %d kB, last %ds max %d kB (%.2fx); data dir max %d bytes (limit %d)\n",
                (ok_rss && ok_dir) ? "ok    " : "not ok", n, w, first[n], w, final[n],
                first[n] ? final[n] / first[n] : 0, dir[n], max_dir
            if (!(ok_rss && ok_dir)) bad = 1
        }
        exit bad
    }' "$samples"
verdict=$?
echo "writes: $(jq .total.ok "$work/summary.json" 2>/dev/null) ok in ${SECONDS_TOTAL}s; samples kept in $samples"
exit "$verdict"
