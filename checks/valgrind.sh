#!/usr/bin/env bash
# checks/valgrind.sh: memcheck on every stage's node (or the nodes given), two ways:
#   1. a short build/cluster workload: 3 nodes under valgrind with --data-dir and a
#      snapshot every 5 entries (storage, acks held for their fsync, compaction,
#      InstallSnapshot), the stage's read types (follower_read with a 20 ms bound, so
#      both its paths run), a partition and a pause, timings stretched for valgrind
#      (~20x slower);
#   2. one node on piped stdin: every message type of the stage, good and bad input,
#      as a single-member leader and as a follower of three that never hears a leader
#      (its requests are answered at end of input).
# A node passes when it exits 0 and its valgrind log says 0 errors; a definitely lost
# block counts as an error (--errors-for-leak-kinds=definite). Memory still reachable
# at exit is not counted. Logs are kept under $VALGRIND_DIR when something fails.
# First, a negative control (VALGRIND_CONTROL=0 skips it): build/valgrind-leaky-node
# (checks/valgrind/leaky-node.c) loses a block per line and must be reported.
#
#   checks/valgrind.sh [NODE...]      default: every build/NN-*/node
#   VALGRIND_SECONDS=10 VALGRIND_DIR=dir checks/valgrind.sh
# Exit: 0 when every run was clean, 1 otherwise, 2 when valgrind or a tool is missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/${READPATH_BUILD:-build}
SECONDS_PER_RUN=${VALGRIND_SECONDS:-10}
WRAPPER=$ROOT/checks/valgrind/node-under-valgrind.sh

command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not installed (checks/deps.sh valgrind installs it)" >&2; exit 2; }
[ -x "$BUILD/cluster" ] || { echo "valgrind: no $BUILD/cluster (build it with: make tools)" >&2; exit 2; }
if [ $# -gt 0 ]; then
    nodes=()
    for n in "$@"; do case $n in /*) nodes+=("$n") ;; *) nodes+=("$PWD/$n") ;; esac; done
else
    nodes=()
    for n in "$BUILD"/[0-9][0-9]-*/node; do [ -x "$n" ] && nodes+=("$n"); done
fi
[ ${#nodes[@]} -gt 0 ] || { echo "valgrind: no node binaries under $BUILD (build them with: make)" >&2; exit 2; }
if [ -n "${VALGRIND_DIR:-}" ]; then mkdir -p "$VALGRIND_DIR"; else VALGRIND_DIR=$(mktemp -d "${TMPDIR:-/tmp}/readpath-valgrind.XXXXXX"); fi

. "$ROOT/checks/stages.sh"


# The piped input: init, then every message type of the stage, then bad lines.
piped_input() {
    local stage=$1 self=$2 ids=$3
    printf '{"src":"c0","dest":"%s","body":{"type":"init","msg_id":1,"node_id":"%s","node_ids":%s}}\n' "$self" "$self" "$ids"
    c() { printf '{"src":"c1","dest":"%s","body":%s}\n' "$self" "$1"; }
    c '{"type":"write","msg_id":2,"key":"x","value":"one"}'
    c '{"type":"read","msg_id":3,"key":"x"}'
    c '{"type":"cas","msg_id":4,"key":"x","from":"one","to":{"two":[2,null,true]}}'
    c '{"type":"cas","msg_id":5,"key":"x","from":"one","to":"three"}'
    c '{"type":"cas","msg_id":6,"key":"nope","from":1,"to":2}'
    c '{"type":"read","msg_id":7,"key":"nope"}'
    c '{"type":"write","msg_id":8,"key":[1,{"k":"v"}],"value":1.5}'
    if [ "$stage" -ge 1 ]; then
        c '{"type":"follower_read","msg_id":10,"key":"x","max_staleness_ms":100}'
        c '{"type":"follower_read","msg_id":11,"key":"x","max_staleness_ms":0}'
        c '{"type":"follower_read","msg_id":12,"key":"x","max_staleness_ms":-1}'
    fi
    if [ "$stage" -ge 2 ]; then
        c '{"type":"ryw_read","msg_id":20,"key":"x","last_write_index":2,"prefer_follower":true}'
        c '{"type":"ryw_read","msg_id":21,"key":"x","last_write_index":999,"prefer_follower":true}'
        c '{"type":"ryw_read","msg_id":22,"key":"x","last_write_index":1,"prefer_follower":false}'
        c '{"type":"ryw_read","msg_id":23,"key":"x","last_write_index":"1","prefer_follower":false}'
    fi
    if [ "$stage" -ge 3 ]; then
        c '{"type":"lease_read","msg_id":30,"key":"x"}'
        c '{"type":"lease_read_config","msg_id":31,"lease_duration_ms":3000,"election_timeout_ms":5000,"max_clock_skew_ms":500}'
        c '{"type":"lease_read_config","msg_id":32,"lease_duration_ms":5200,"election_timeout_ms":5000,"max_clock_skew_ms":500}'
        c '{"type":"lease_read_config","msg_id":33,"lease_duration_ms":1.5,"election_timeout_ms":5000,"max_clock_skew_ms":500}'
        c '{"type":"lease_read","msg_id":34,"key":"x"}'
    fi
    printf '%s\n' 'not json' '{"src":"c1","dest":"n1","body":{"type":"write"' '[]' '{"src":"c1","dest":"n1"}'
    c '{"type":"frobnicate","msg_id":40,"key":"x"}'
    c '{"type":7,"msg_id":41}'
    c '{"type":"write","msg_id":42,"key":"x"}'
    c '{"type":"read","msg_id":"43","key":"x"}'
    c '{"type":"init","msg_id":44,"node_id":"n1","node_ids":["n1"]}'
    printf '{"src":"n2","dest":"%s","body":{"type":"raft_append","term":"x"}}\n' "$self"
    c '{"type":"read","msg_id":45,"key":"x"}'
}

# Did valgrind call this run clean? Every log must have its summary (the process ended)
# with 0 errors.
logs_clean() {
    local dir=$1 log ok=0 count=0
    for log in "$dir"/*.vg; do
        [ -e "$log" ] || continue
        count=$((count + 1))
        if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
            echo "  $log:"
            grep -E 'ERROR SUMMARY|definitely lost|Invalid|uninitialised|at 0x|by 0x' "$log" | head -n 30 | sed 's/^/    /'
            ok=1
        fi
    done
    [ "$count" -gt 0 ] || { echo "  no valgrind logs in $dir"; ok=1; }
    return $ok
}

# piped_run NODE STAGE NAME LABEL SELF IDS: one node on the piped input under memcheck.
piped_run() {
    local node=$1 stage=$2 name=$3 label=$4 self=$5 ids=$6 dir status
    dir=$VALGRIND_DIR/$name/piped-$label
    mkdir -p "$dir"
    piped_input "$stage" "$self" "$ids" >"$dir/input"
    status=0
    VALGRIND_NODE=$node VALGRIND_LOG_DIR=$dir timeout -k 5 60 "$WRAPPER" \
        --data-dir "$dir/data" --snapshot-every 2 <"$dir/input" >"$dir/out" 2>"$dir/err" || status=$?
    logs_clean "$dir" >"$dir/verdict" && [ "$status" -eq 0 ]
    if [ $? -eq 0 ]; then
        echo "ok   $name piped ($label, $(wc -l <"$dir/input") lines in, $(wc -l <"$dir/out") out): 0 errors, 0 bytes definitely lost"
        return 0
    fi
    echo "FAIL $name piped ($label; node exit $status; kept $dir)"
    cat "$dir/verdict"
    return 1
}

# The negative control: a node that loses a block per line must fail, with the leak
# named in its log. Otherwise "0 errors" below would prove nothing.
if [ "${VALGRIND_CONTROL:-1}" = 1 ]; then
    leaky=$BUILD/valgrind-leaky-node
    [ -x "$leaky" ] || { echo "valgrind: no $leaky (make $leaky)" >&2; exit 2; }
    if piped_run "$leaky" 99 control single n1 '["n1"]' >"$VALGRIND_DIR/control.out"; then
        echo "FAIL control: valgrind passed build/valgrind-leaky-node, a node that leaks on every line:"
        cat "$VALGRIND_DIR/control.out"
        exit 1
    fi
    lost=$(grep -ho 'definitely lost: [0-9,]* bytes in [0-9,]* blocks' "$VALGRIND_DIR"/control/piped-single/*.vg | head -n 1)
    if [ -z "$lost" ]; then
        echo "FAIL control: build/valgrind-leaky-node failed, but not with a definite leak:"
        cat "$VALGRIND_DIR/control.out"
        exit 1
    fi
    echo "ok   control: valgrind catches build/valgrind-leaky-node ($lost)"
    rm -rf "${VALGRIND_DIR:?}/control" "$VALGRIND_DIR/control.out"
fi

failed=0
# follower_read's bound, 20 ms, is below the 3 heartbeats (300 ms here) that waiting for
# a pair could prove: a stage 01 follower serves a read from its proof when the write
# traffic's pairs meet the bound, and otherwise asks the leader for a read index, so
# both paths run under memcheck.
for node in "${nodes[@]}"; do
    stage=$(stage_of "$node")
    name=$(basename "$(dirname "$node")")
    node_failed=0
    dir=$VALGRIND_DIR/$name/cluster
    mkdir -p "$dir"
    status=0
    VALGRIND_NODE=$node VALGRIND_LOG_DIR=$dir timeout -k 5 $((SECONDS_PER_RUN + 90)) \
        "$BUILD/cluster" --bin "$WRAPPER" --nodes 3 --seed 7 --nemesis partition,pause \
        --nemesis-interval-ms 1000 --concurrency 4 --time-limit "$SECONDS_PER_RUN" --timeout-ms 5000 \
        --init-timeout-ms 30000 --keys 3 --mix "$(mix_of "$stage")" --max-staleness-ms 20 \
        --history "$dir/history.jsonl" \
        --summary-json "$dir/summary.json" --log-dir "$dir/logs" --data-dir "$dir/data" --quiet \
        -- --heartbeat-ms 100 --election-timeout-ms 1000 --request-timeout-ms 3000 --snapshot-every 5 \
        >"$dir/cluster.out" 2>"$dir/cluster.err" || status=$?
    ops=$(jq -r '"\(.total.ok) ops ok of \(.total.count), \(.faults | length) faults"' "$dir/summary.json" 2>/dev/null)
    logs_clean "$dir" >"$dir/verdict" && [ "$status" -eq 0 ]
    if [ $? -eq 0 ]; then
        echo "ok   $name cluster: 3 nodes, ${ops:-?}: 0 errors, 0 bytes definitely lost"
    else
        node_failed=1
        echo "FAIL $name cluster (runner exit $status; $ops; kept $dir)"
        cat "$dir/verdict"
        tail -n 5 "$dir/cluster.err" | sed 's/^/  /'
    fi

    for shape in 'single n1 ["n1"]' 'follower n1 ["n1","n2","n3"]'; do
        piped_run "$node" "$stage" "$name" $shape || node_failed=1
    done
    if [ "$node_failed" -eq 0 ]; then rm -rf "${VALGRIND_DIR:?}/$name"; else failed=1; fi
done
rmdir "$VALGRIND_DIR" 2>/dev/null
exit $failed
