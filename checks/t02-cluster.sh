#!/usr/bin/env bash
# Stage 02 under the cluster runner (3 nodes, heartbeats of 20 ms, so a follower behind
# a token waits 3 x 20 = 60 ms before redirecting):
#   - the course task's examples: a follower that has applied the token serves the new value;
#     a token the cluster committed but a follower has not applied redirects
#     (scenarios t02-examples.txt and, at 100 ms link latency, t02-redirect.txt);
#   - a follower held behind by a partition errors 11, never a stale value, and serves
#     after the heal (t02-lag.txt, with a generated workload beside it);
#   - sessions reading their writes through random nodes under random partitions:
#     build/check-ryw and build/check-linearizable both pass;
#   - the negative control: the t02-lag run again with READPATH_UNSAFE_IGNORE_TOKEN=1,
#     which build/check-ryw must flag.
. "$(dirname "$0")/lib.sh"

CLUSTER=$READPATH_ROOT/${READPATH_BUILD:-build}/cluster
CHECK_RYW=$READPATH_ROOT/${READPATH_BUILD:-build}/check-ryw
CHECK_LIN=$READPATH_ROOT/${READPATH_BUILD:-build}/check-linearizable
SCENARIOS=$READPATH_ROOT/checks/scenarios
[ -x "$CLUSTER" ] || skip_all "no $CLUSTER (build it with: make tools)"
[ -x "$CHECK_RYW" ] && [ -x "$CHECK_LIN" ] || skip_all "no checkers (build them with: make tools)"
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"

RUN=$test_scratch/run
mkdir -p "$RUN"
NODE_FLAGS=(-- --heartbeat-ms 20 --election-timeout-ms 150)
cluster() {
    timeout -k 2 "$(scaled 60)" "$CLUSTER" --quiet --timeout-ms "$(scaled 1000 | cut -d. -f1)" "$@"
}
# jq: each op as {inv, done} (a process alternates invoke and completion).
JQ_OPS='def ops: group_by(.process) | map(. as $e | [range(0; length; 2) | {inv: $e[.], done: $e[. + 1]}]) | add;'
# jq: one op's completion line by process and key, the n-th (0-based) of that kind.
JQ_DONE='def done($p; $f; $k; $n): [.[] | select(.process == $p and .f == $f and .key == $k and .type != "invoke")][$n];'

# ---- the course task's first example, the 999 token, prefer_follower false ----

test_expect_success 'seed examples on a 3-node cluster: the run completes cleanly' '
    cluster --bin "$NODE_BIN" --nodes 3 --scenario "$SCENARIOS/t02-examples.txt" \
        --history "$RUN/ex.jsonl" --summary-json "$RUN/ex.json" "${NODE_FLAGS[@]}" >out
    cat out
    jq -e ".node_exits | all(. == \"exit 0\")" "$RUN/ex.json"
'

test_expect_success 'write_ok carries commit_index, growing with each write' '
    jq -sc "[.[] | select(.f == \"write\" and .type == \"ok\") | {value, commit_index}]" "$RUN/ex.jsonl" | tee writes
    jq -e "length == 2 and .[0].commit_index >= 2 and .[1].commit_index == .[0].commit_index + 1" writes
'

test_expect_success 'seed example 1: with the write'"'"'s index as token, a follower serves the new value' '
    jq -s "$JQ_DONE"" [done(1; \"write\"; \"x\"; 1), done(1; \"ryw_read\"; \"x\"; 0), done(1; \"ryw_read\"; \"x\"; 1)]" \
        "$RUN/ex.jsonl" >ops
    jq -c ".[] | {node, type, value, last_write_index, served_by, follower_applied_index, waited_ms, linearizable, reason}" ops
    # Both reads carry the token of write "new", and return it.
    jq -e ".[0].commit_index as \$t | .[1:] | all(.type == \"ok\" and .value == \"new\" and .last_write_index == \$t
                                                  and .follower_applied_index >= \$t)" ops
    # n2 and n3 cannot both lead: at least one served it itself, as a follower.
    jq -e "[.[1:][] | select(.served_by == .node and .linearizable == false and .waited_ms >= 0)] | length >= 1" ops
'

test_expect_success 'token 999 on this cluster: error 11 at every node, naming both indexes' '
    jq -sc ".[] | select(.f == \"ryw_read\" and .last_write_index == 999 and .type != \"invoke\")
            | {node, type, error, text}" "$RUN/ex.jsonl" | tee t999
    test "$(wc -l <t999)" -eq 3
    jq -se "all(.type == \"fail\" and .error == 11 and (.text | test(\"999\") and test(\"commit index [0-9]+\")))" t999
'

test_expect_success 'prefer_follower false: read at the leader, linearizably, wherever sent' '
    jq -sc ".[] | select(.f == \"ryw_read\" and .prefer_follower == false and .type != \"invoke\")
            | {node, type, value, served_by, linearizable, reason}" "$RUN/ex.jsonl" | tee pf
    jq -se "length == 2 and all(.type == \"ok\" and .value == \"new\" and .linearizable == true)
            and (map(.served_by) | unique | length) == 1" pf
'

test_expect_success 'the examples history: read-your-writes holds and it is linearizable' '
    "$CHECK_RYW" "$RUN/ex.jsonl"
    "$CHECK_LIN" "$RUN/ex.jsonl"
'

# ---- the course task's second example: committed, not yet applied by the follower ----

test_expect_success 'seed example 2 at 100 ms latency: a token the follower lacks redirects to the leader' '
    # Link latency 100 ms (times the stretch under sanitizers, so a late timer on a
    # loaded machine cannot close the window) needs a longer election timeout (an RTT is
    # 200 ms, and a leader that hears no majority within the timeout steps down) and a
    # longer request timeout (wait 60 + forward 100 + ReadIndex round 200 + relay 100 ms).
    k=$(time_stretch)
    latency_ms=$((100 * k))
    stretch_scenario "$k" "$SCENARIOS/t02-redirect.txt" >redirect.txt
    cluster --bin "$NODE_BIN" --nodes 3 --latency-ms "$latency_ms" --timeout-ms "$(scaled 3000 | cut -d. -f1)" \
        --scenario redirect.txt --history "$RUN/rd.jsonl" --summary-json "$RUN/rd.json" \
        -- --heartbeat-ms 20 --election-timeout-ms $((600 * k)) --request-timeout-ms $((2000 * k)) >out
    cat out
    jq -e ".node_exits | all(. == \"exit 0\")" "$RUN/rd.json"
    leader=$(jq -rs "$JQ_DONE"" done(9; \"ryw_read\"; \"warmup\"; 0).served_by" "$RUN/rd.jsonl")
    echo "leader (served c9'"'"'s prefer_follower:false read): $leader"
    test -n "$leader" && test "$leader" != null
    # The client that wrote at the leader, and its read at the next node.
    jq -s --arg l "$leader" "$JQ_OPS""
      [ops[] | select(.inv.f == \"write\" and (.inv.key | test(\"^k\")) and .inv.node == \$l)][0] as \$w
      | [ops[] | select(.inv.f == \"ryw_read\" and .inv.process == \$w.inv.process)][0] as \$r
      | {write_ok_us: \$w.done.time_us, commit_index: \$w.done.commit_index,
         read_invoke_us: \$r.inv.time_us, read: \$r.done}" "$RUN/rd.jsonl" >plan.json
    jq -c . plan.json
    gap_us=$(jq ".read_invoke_us - .write_ok_us" plan.json)
    echo "timeline: the leader committed the write at C <= write_ok (t=$(jq .write_ok_us plan.json) us)."
    echo "  A follower learns of a commit only from an append sent at or after C, so not"
    echo "  before C + $latency_ms ms. The read reached it ${gap_us} us after write_ok and it waits"
    echo "  60 ms: ${gap_us} us + 60 ms < $latency_ms ms, so it was behind for its whole wait."
    test "$gap_us" -lt $(((latency_ms - 60) * 1000))
    jq -e --arg l "$leader" ".commit_index >= 10 and (.read | .type == \"ok\" and .value == \"new\"
            and .served_by == \$l and .node != \$l and .linearizable == true
            and .reason == \"follower_behind_redirected_to_leader\")" plan.json
'

test_expect_success 'every read of the redirect run returned the session'"'"'s own write' '
    jq -sc ".[] | select(.f == \"ryw_read\" and (.key | test(\"^k\")) and .type != \"invoke\")
            | {process, node, value, served_by, linearizable, reason, waited_ms}" "$RUN/rd.jsonl" | tee reads
    jq -se "length == 3 and all(.value == \"new\")" reads
    "$CHECK_RYW" "$RUN/rd.jsonl"
    "$CHECK_LIN" "$RUN/rd.jsonl"
'

# ---- a follower held behind by a partition; then the negative control ----

# The same run twice, with the switch off and on: t02-lag.txt (scripted client c9 on
# key "lag") beside a generated workload of writes and ryw_reads on keys 0..2.
# 10 ms of link latency: after the heal no message reaches n3 before heal + 10 ms.
# (More latency makes split votes in the two-node majority likely at these timeouts.)
lag_run() {
    cluster --bin "$NODE_BIN" --nodes 3 --latency-ms 10 --scenario "$SCENARIOS/t02-lag.txt" \
        --concurrency 4 --rate 200 --keys 3 --mix write=30,cas=10,ryw_read=60 --time-limit 4 --seed 23 \
        --history "$RUN/$1.jsonl" --summary-json "$RUN/$1.json" --log-dir "$RUN/$1.logs" "${NODE_FLAGS[@]}"
}

test_expect_success 'a follower behind a partition: error 11, never the old value; after the heal it serves' '
    lag_run lag >out
    cat out
    jq -e ".node_exits | all(. == \"exit 0\")" "$RUN/lag.json"
    jq -s "$JQ_DONE"" [done(9; \"write\"; \"lag\"; 1), done(9; \"ryw_read\"; \"lag\"; 0), done(9; \"ryw_read\"; \"lag\"; 1)]" \
        "$RUN/lag.jsonl" >ops
    jq -c ".[] | {time_us, node, type, value, error, text, last_write_index, served_by, follower_applied_index, waited_ms, reason}" ops
    jq -e ".[0].type == \"ok\" and .[1].type == \"fail\" and .[1].error == 11" ops
    jq -e ".[2].type == \"ok\" and .[2].value == \"new\" and .[2].last_write_index == .[0].commit_index" ops
'

test_expect_success 'the lag run: read-your-writes holds and it is linearizable' '
    "$CHECK_RYW" "$RUN/lag.jsonl"
    "$CHECK_LIN" "$RUN/lag.jsonl"
'

test_expect_success 'negative control: READPATH_UNSAFE_IGNORE_TOKEN=1 in the same run is flagged by check-ryw' '
    READPATH_UNSAFE_IGNORE_TOKEN=1 lag_run unsafe >out
    cat out
    log_dir=$RUN/unsafe.logs
    grep -l "READPATH_UNSAFE_IGNORE_TOKEN=1" "$log_dir"/*.log
    jq -r ".faults[] | \"fault: \(.fault) \(.groups // \"\" | tostring) at \(.time_us) us\"" "$RUN/unsafe.json"
    jq -s "$JQ_DONE"" [done(9; \"write\"; \"lag\"; 1), done(9; \"ryw_read\"; \"lag\"; 0), done(9; \"ryw_read\"; \"lag\"; 1)]" \
        "$RUN/unsafe.jsonl" >ops
    jq -c ".[] | {time_us, node, type, value, last_write_index, follower_applied_index}" ops
    partition_us=$(jq "[.faults[] | select(.fault == \"partition\")][0].time_us" "$RUN/unsafe.json")
    heal_us=$(jq "[.faults[] | select(.fault == \"heal\")][0].time_us" "$RUN/unsafe.json")
    write_invoke_us=$(jq -s "[.[] | select(.process == 9 and .value == \"new\" and .type == \"invoke\")][0].time_us" "$RUN/unsafe.jsonl")
    echo "timeline: n3 cut off at $partition_us us; write \"new\" invoked at $write_invoke_us us (later),"
    echo "  so n3 could learn of it only from a message sent after the heal at $heal_us us,"
    echo "  arriving at $heal_us + 10000 us or later. Read 1 completed at $(jq ".[1].time_us" ops) us"
    echo "  (before the heal); read 2 completed at $(jq ".[2].time_us" ops) us. Each one that completed"
    echo "  before heal + 10 ms cannot hold \"new\", yet carried the token of \"new\"."
    test "$write_invoke_us" -gt "$partition_us"
    test "$(jq ".[1].time_us" ops)" -lt "$heal_us"
    jq -e ".[1].type == \"ok\" and .[1].value == \"old\" and .[1].last_write_index == .[0].commit_index" ops
    # The whole run is flagged (the generated sessions trip over ordinary replication
    # lag too), and so is c9 alone, whose violation the timeline above guarantees.
    status=0
    "$CHECK_RYW" "$RUN/unsafe.jsonl" >verdict 2>&1 || status=$?
    head -n 8 verdict
    test "$status" -eq 1
    jq -c "select(.process == 9)" "$RUN/unsafe.jsonl" >c9.jsonl
    status=0
    "$CHECK_RYW" c9.jsonl >verdict 2>&1 || status=$?
    cat verdict
    test "$status" -eq 1
'

# ---- generated sessions under random partitions ----

test_expect_success 'sessions through random nodes under random partitions: the run completes cleanly' '
    cluster --bin "$NODE_BIN" --nodes 3 --nemesis partition --nemesis-interval-ms 500 \
        --concurrency 6 --rate 300 --keys 3 --mix read=10,write=30,cas=10,ryw_read=50 \
        --time-limit 5 --seed 21 --history "$RUN/nem.jsonl" --summary-json "$RUN/nem.json" "${NODE_FLAGS[@]}" >out
    cat out
    jq -e ".node_exits | all(. == \"exit 0\")" "$RUN/nem.json"
    jq -e "(.faults | length) >= 8 and .ops.ryw_read.ok > 100" "$RUN/nem.json"
    jq -sc "[.[] | select(.f == \"ryw_read\" and .type != \"invoke\")]
            | {ok_local: map(select(.type == \"ok\" and .linearizable == false)) | length,
               ok_leader: map(select(.type == \"ok\" and .linearizable == true)) | length,
               redirected: map(select(.reason == \"follower_behind_redirected_to_leader\")) | length,
               fail: map(select(.type == \"fail\")) | group_by(.error) | map({error: .[0].error, n: length}),
               info: map(select(.type == \"info\")) | length}" "$RUN/nem.jsonl"
'

test_expect_success 'the partition history: read-your-writes holds' '
    "$CHECK_RYW" "$RUN/nem.jsonl"
'

test_expect_success 'the partition history: linearizable (read, write, cas, leader-served ryw_read)' '
    "$CHECK_LIN" "$RUN/nem.jsonl"
'

test_done
