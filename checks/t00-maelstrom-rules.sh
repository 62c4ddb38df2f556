#!/usr/bin/env bash
# Maelstrom's rules without Maelstrom: the node under test, run with --maelstrom, passes
# the runner's --maelstrom-rules mode (ids n0.., an "id" on every delivered message,
# lin-kv's closed reply schemas, JSON-only stdout) under partitions, and its history is
# linearizable. Negative controls: a node that writes one non-JSON line to stdout, and
# (stage 02 on) a node run without --maelstrom, whose write_ok carries commit_index.
. "$(dirname "$0")/lib.sh"
build=$READPATH_ROOT/${READPATH_BUILD:-build}
for tool in cluster check-linearizable; do
    [ -x "$build/$tool" ] || skip_all "$build/$tool not built (make tools)"
done
timing="--heartbeat-ms 20 --election-timeout-ms 150"

test_expect_success 'lin-kv under partitions follows Maelstrom rules and is linearizable' '
    "$build/cluster" --bin "$NODE_BIN" --maelstrom-rules --nodes 3 --concurrency 6 \
        --time-limit 4 --nemesis partition --nemesis-interval-ms 700 --latency-ms 1 \
        --history history.jsonl --quiet -- --maelstrom $timing >summary.txt 2>err.txt
    cat summary.txt err.txt
    jq -s -e "any(.[]; .node == \"n0\")" history.jsonl
    "$build/check-linearizable" history.jsonl
'

test_expect_success 'negative control: one non-JSON stdout line fails the run' '
    printf "#!/bin/sh\necho \"starting up\"\nexec %s \"\$@\"\n" "$NODE_BIN" >chatty-node
    chmod +x chatty-node
    status=0
    "$build/cluster" --bin ./chatty-node --maelstrom-rules --nodes 3 --concurrency 2 \
        --time-limit 1 --quiet -- --maelstrom $timing >summary.txt 2>err.txt || status=$?
    cat err.txt
    echo "exit status $status"
    [ "$status" -eq 1 ]
    grep -q "not a JSON message" err.txt
'

if [ "$((10#${STAGE:-0}))" -ge 2 ]; then
    test_expect_success 'negative control: without --maelstrom, write_ok.commit_index breaks lin-kv schema' '
        status=0
        "$build/cluster" --bin "$NODE_BIN" --maelstrom-rules --nodes 3 --concurrency 2 \
            --mix read=50,write=50 --time-limit 1 --quiet -- $timing >summary.txt 2>err.txt || status=$?
        head -n 3 err.txt
        echo "exit status $status"
        [ "$status" -eq 1 ]
        grep -q "commit_index" err.txt
    '
fi

test_expect_success 'the rules allow only lin-kv ops' '
    status=0
    "$build/cluster" --bin "$NODE_BIN" --maelstrom-rules --mix read=50,follower_read=50 \
        --time-limit 1 -- $timing 2>err.txt || status=$?
    cat err.txt
    [ "$status" -eq 2 ]
    grep -q "only lin-kv" err.txt
'

test_done
