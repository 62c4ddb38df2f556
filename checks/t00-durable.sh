#!/usr/bin/env bash
# Durable restarts (--data-dir): a node persists term, vote and log in DIR/raft.log
# (one CRC-checked record per line, fsynced before any output leaves), recovers them
# when it starts again, and refuses votes for one election timeout after that.
#   - piped: writes survive a restart; a torn tail is cut off (logged) and the node
#     starts; a corrupted record in the middle stops the node with a clear error (exit
#     1, no crash); a restarted node refuses votes for an election timeout, then grants.
#   - cluster (build/cluster --data-dir): kill -9 a follower, the leader, a majority and
#     finally every node, in the middle of writes, and restart them: every run's history
#     is linearizable and the final reads see the acknowledged writes. The negative
#     control restarts every node WITHOUT --data-dir: acknowledged writes are lost and
#     the checker must say so.
. "$(dirname "$0")/lib.sh"

CLUSTER=$READPATH_ROOT/${READPATH_BUILD:-build}/cluster
CHECK_LIN=$READPATH_ROOT/${READPATH_BUILD:-build}/check-linearizable
SCENARIOS=$READPATH_ROOT/checks/scenarios
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"

DATA=$test_scratch/data
mkdir -p "$DATA"

# A single-member cluster n1 on piped input, persisting in $1: writes k1..k3 = 1..3.
solo_writes() {
    init_line n1 n1
    for i in 1 2 3; do
        client_line n1 "{\"type\":\"write\",\"msg_id\":$((i + 1)),\"key\":\"k$i\",\"value\":$i}"
    done
}
solo_reads() {
    init_line n1 n1
    for i in 1 2 3; do
        client_line n1 "{\"type\":\"read\",\"msg_id\":$((i + 1)),\"key\":\"k$i\"}"
    done
}

test_expect_success '--help names --data-dir' '
    timeout "$(scaled 5)" "$NODE_BIN" --help </dev/null >out
    grep -- "--data-dir DIR" out
'

test_expect_success 'writes acknowledged by a durable node are read back after it restarts' '
    solo_writes | node_pipe --data-dir "$DATA/solo"
    json_subsets out "{\"body\":{\"type\":\"write_ok\",\"in_reply_to\":4}}"
    solo_reads | node_pipe --data-dir "$DATA/solo" -v
    cat err
    grep "restored term 1, vote 0, 4 entries" err
    json_subsets out "{\"body\":{\"type\":\"read_ok\",\"in_reply_to\":2,\"value\":1}}" \
        "{\"body\":{\"type\":\"read_ok\",\"in_reply_to\":3,\"value\":2}}" \
        "{\"body\":{\"type\":\"read_ok\",\"in_reply_to\":4,\"value\":3}}"
'

test_expect_success 'without --data-dir nothing is written and a restart starts empty' '
    solo_writes | node_pipe
    ls -A >files
    printf "%s\n" err files out | test_cmp - files
    solo_reads | node_pipe
    json_subsets out "{\"body\":{\"type\":\"error\",\"code\":20,\"in_reply_to\":4}}"
'

test_expect_success 'every record carries a CRC-32 that matches its JSON' '
    log=$DATA/solo/raft.log
    cat "$log"
    # 4 entries and the term/vote records of two runs.
    test "$(grep -c "\"k\":\"e\"" "$log")" -ge 5
    while read -r crc json; do
        test "$(printf %s "$json" | gzip -c | tail -c 8 | od -An -tx4 -N4 | tr -d " ")" = "$crc"
    done <"$log"
'

test_expect_success 'a torn tail (a half-written last record) is cut off, logged, and the node starts' '
    solo_writes | node_pipe --data-dir "$DATA/torn"
    size=$(stat -c %s "$DATA/torn/raft.log")
    truncate -s $((size - 7)) "$DATA/torn/raft.log"
    solo_reads | node_pipe --data-dir "$DATA/torn"
    cat err
    grep "torn tail" err
    grep "truncated" err
    # The last write (k3) was the torn record; the first two survive.
    json_subsets out "{\"body\":{\"type\":\"read_ok\",\"in_reply_to\":2,\"value\":1}}" \
        "{\"body\":{\"type\":\"read_ok\",\"in_reply_to\":3,\"value\":2}}" \
        "{\"body\":{\"type\":\"error\",\"code\":20,\"in_reply_to\":4}}"
    # Truncated on disk too: a second restart finds nothing to cut.
    solo_reads | node_pipe --data-dir "$DATA/torn"
    ! grep "torn tail" err
'

test_expect_success 'a flipped byte in the last record counts as a torn tail: cut off, logged' '
    solo_writes | node_pipe --data-dir "$DATA/lastflip"
    log=$DATA/lastflip/raft.log
    offset=$(($(stat -c %s "$log") - 4))
    printf "X" | dd of="$log" bs=1 seek="$offset" conv=notrunc status=none
    solo_reads | node_pipe --data-dir "$DATA/lastflip"
    grep "torn tail" err
    json_subsets out "{\"body\":{\"type\":\"read_ok\",\"in_reply_to\":3,\"value\":2}}"
'

test_expect_success 'a flipped byte in the middle of the log: clear error on stderr, exit 1, no crash' '
    solo_writes | node_pipe --data-dir "$DATA/flip"
    log=$DATA/flip/raft.log
    cp "$log" before
    # Line 3 is the write of k1; good records follow it, so it cannot be a torn tail.
    offset=$(head -n 2 "$log" | wc -c)
    offset=$((offset + 30))
    printf "Z" | dd of="$log" bs=1 seek="$offset" conv=notrunc status=none
    refute cmp -s before "$log"
    cp "$log" corrupted
    status=0
    solo_reads | timeout "$(scaled 5)" "$NODE_BIN" --data-dir "$DATA/flip" >out 2>err || status=$?
    echo "status $status"; cat err
    test "$status" -eq 1
    grep "is corrupt: record at line 3" err
    grep "Refusing to start" err
    # It said nothing on stdout (not even init_ok) and left the file as it was.
    test ! -s out
    cmp corrupted "$log"
'

# A node n1 of three that has followed n2 in term 1 (one entry), then restarted: a vote
# request in term 2 with an up-to-date log is refused for one election timeout (400 ms,
# scaled), and granted two timeouts later. Without --data-dir a fresh node grants the same request at once.
follow_n2() {
    init_line n1 n1,n2,n3
    echo "{\"src\":\"n2\",\"dest\":\"n1\",\"body\":{\"type\":\"raft_append\",\"term\":1,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"round\":1,\"entries\":[{\"term\":1,\"command\":{\"type\":\"noop\"}}]}}"
}
vote_line() {
    echo "{\"src\":\"n3\",\"dest\":\"n1\",\"body\":{\"type\":\"raft_vote\",\"term\":2,\"pre_vote\":$1,\"last_log_index\":1,\"last_log_term\":1}}"
}
VOTE_E_MS=$(scaled 400 | cut -d. -f1)
VOTE_FLAGS=(--heartbeat-ms 50 --election-timeout-ms "$VOTE_E_MS")

test_expect_success 'a restarted node refuses votes and pre-votes for an election timeout, then grants' '
    follow_n2 | node_pipe --data-dir "$DATA/voter" "${VOTE_FLAGS[@]}"
    json_subsets out "{\"body\":{\"type\":\"raft_append_res\",\"success\":true,\"match_index\":1}}"
    wait_s=$(awk -v e="$VOTE_E_MS" "BEGIN { print 2 * e / 1000 }")
    { init_line n1 n1,n2,n3; vote_line true; vote_line false; sleep "$wait_s"; vote_line true; vote_line false; } |
        node_pipe --data-dir "$DATA/voter" "${VOTE_FLAGS[@]}" -v
    grep "no votes for $VOTE_E_MS ms" err
    jq -c "select(.body.type == \"raft_vote_res\" and .dest == \"n3\") | .body | [.pre_vote, .granted]" out >votes
    cat votes
    printf "%s\n" "[true,false]" "[false,false]" "[true,true]" "[false,true]" | test_cmp - votes
'

test_expect_success 'negative control: the same node without --data-dir (forgetting) grants at once' '
    { init_line n1 n1,n2,n3; vote_line true; vote_line false; } | node_pipe "${VOTE_FLAGS[@]}"
    jq -c "select(.body.type == \"raft_vote_res\") | .body | [.pre_vote, .granted]" out >votes
    printf "%s\n" "[true,true]" "[false,true]" | test_cmp - votes
'

# ---- under the cluster runner ----

skip_cluster() {
    [ -x "$CLUSTER" ] && [ -x "$CHECK_LIN" ] && return 0
    test_count=$((test_count + 1))
    echo "ok $test_count # skip $1 (no $CLUSTER or $CHECK_LIN)"
    return 1
}
NODE_FLAGS=(-- --heartbeat-ms 20 --election-timeout-ms 150)
cluster() {
    timeout -k 2 "$(scaled 60)" "$CLUSTER" --timeout-ms "$(scaled 1000 | cut -d. -f1)" \
        --nodes 3 --concurrency 6 --rate 300 --keys 3 --quiet "$@"
}
# The scripted final reads (clients c101..c103) of a history: every key read ok at
# least once, and none answered "key does not exist" (every key was written and
# acknowledged before the kills). A read that timed out on a loaded machine is allowed.
final_reads_ok() {
    jq -s -e "[.[] | select(.process > 100 and .type != \"invoke\")] as \$r
        | (\$r | map(select(.type == \"ok\") | .key) | unique) == [0, 1, 2]
          and (\$r | all(.error != 20))" "$1" || {
        echo "final reads:"; jq -c "select(.process > 100)" "$1"
        return 1
    }
}

if skip_cluster 'kill -9 a follower, the leader and a majority mid-writes, restart: linearizable'; then
test_expect_success 'kill -9 a follower, the leader and a majority mid-writes, restart: linearizable' '
    cluster --bin "$NODE_BIN" --scenario "$SCENARIOS/t00-durable-kills.txt" --time-limit 7 \
        --seed 3 --data-dir "$DATA/kills" --log-dir logs --history h.jsonl --summary-json s.json \
        "${NODE_FLAGS[@]}" >summary
    cat summary
    jq -c ".faults | map(.fault + \" \" + (.node // \"\"))" s.json
    jq -e "[.faults[].fault] | map(select(. == \"restart\")) | length == 4" s.json
    jq -e ".node_exits | all(. == \"exit 0\")" s.json
    grep -h "restored term" logs/*.log
    test "$(cat logs/*.log | grep -c "restored term")" -eq 4
    # Writes were acknowledged after each kill, by the survivors and the restarted.
    jq -e ".total.ok > 600" s.json
    "$CHECK_LIN" h.jsonl
    final_reads_ok h.jsonl
'
fi

if skip_cluster 'every node killed -9 at once and restarted: every acknowledged write survives'; then
test_expect_success 'every node killed -9 at once and restarted: every acknowledged write survives' '
    cluster --bin "$NODE_BIN" --scenario "$SCENARIOS/t00-durable-all.txt" --time-limit 3.5 \
        --seed 3 --data-dir "$DATA/all" --history h.jsonl --summary-json s.json \
        "${NODE_FLAGS[@]}" >summary
    cat summary
    jq -e ".node_exits | all(. == \"exit 0\")" s.json
    "$CHECK_LIN" h.jsonl
    final_reads_ok h.jsonl
'
fi

if skip_cluster 'negative control: the same run without --data-dir loses acknowledged writes, and the checker says so'; then
test_expect_success 'negative control: the same run without --data-dir loses acknowledged writes, and the checker says so' '
    cluster --bin "$NODE_BIN" --scenario "$SCENARIOS/t00-durable-all.txt" --time-limit 3.5 \
        --seed 3 --history h.jsonl --summary-json s.json "${NODE_FLAGS[@]}" >summary
    # Each key was written (and acknowledged) before the kill; after the restart the
    # final reads find no key at all.
    jq -s -e "[.[] | select(.type == \"ok\" and .f == \"write\" and .time_us < 1500000)] | length > 3" h.jsonl
    jq -c "select(.process > 100 and .type != \"invoke\")" h.jsonl
    status=0
    "$CHECK_LIN" h.jsonl >verdict || status=$?
    cat verdict
    test "$status" -eq 1
'
fi

if skip_cluster 'the random nemesis with kill (and restart) under --data-dir: linearizable'; then
test_expect_success 'the random nemesis with kill (and restart) under --data-dir: linearizable' '
    cluster --bin "$NODE_BIN" --nemesis kill,partition --nemesis-interval-ms 700 --time-limit 6 \
        --seed 5 --data-dir "$DATA/nemesis" --history h.jsonl --summary-json s.json \
        "${NODE_FLAGS[@]}" >summary
    cat summary
    jq -e "[.faults[].fault] | index(\"restart\") != null" s.json
    jq -e ".node_exits | all(. == \"exit 0\")" s.json
    "$CHECK_LIN" h.jsonl
'
fi

test_expect_success 'cluster: --nemesis kill without --data-dir is refused (the node would come back empty)' '
    if [ ! -x "$CLUSTER" ]; then echo "no $CLUSTER"; exit 0; fi
    status=0
    "$CLUSTER" --bin "$NODE_BIN" --nemesis kill --concurrency 1 >out 2>err || status=$?
    cat err
    test "$status" -eq 2
    grep "needs --data-dir" err
'

test_done
