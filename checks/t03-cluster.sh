#!/usr/bin/env bash
# Stage 03 under the cluster runner:
#   - lease_read at the leader (lease, 0 round trips), at a follower (forwarded, 1), and
#     right after an election (ReadIndex fallback, lease_valid false) (t03-cluster.txt);
#   - lease reads beside writes through random nodes under random partitions: the
#     history is linearizable, and most lease reads were served on the lease.
# The clock experiments (the lease outliving a new leader) are in t03-experiment.sh.
. "$(dirname "$0")/lib.sh"

need_runner

RUN=$test_scratch/run
mkdir -p "$RUN"
# The scripted run's timeline holds at the speed of a plain build. Under
# READPATH_TIME_SCALE=K (sanitizers) it is stretched K times (K rounded up): scenario
# times, timing flags and link latency alike, so its arithmetic keeps its shape.
K=$(time_stretch)
[ "$K" = 1 ] || echo "# READPATH_TIME_SCALE=$READPATH_TIME_SCALE: the scripted timeline is stretched $K times"
stretch_scenario "$K" "$SCENARIOS/t03-cluster.txt" >"$RUN/t03-cluster.txt"
cluster() {
    timeout -k 2 "$(scaled 60)" "$CLUSTER" --quiet --timeout-ms "$(scaled 1000 | cut -d. -f1)" "$@"
}
# jq: the completion line of process P (of its K-th op, counting from 0).
JQ_DONE='def done($p; $k): [.[] | select(.process == $p and .type != "invoke")][$k]; def done($p): done($p; 0);'

test_expect_success 'the leader, a follower and a new leader: the run completes cleanly' '
    READPATH_PIN_ELECTION_TIMEOUT=1 cluster --bin "$NODE_BIN" --nodes 3 --latency-ms $((10 * K)) \
        --scenario "$RUN/t03-cluster.txt" --history "$RUN/cl.jsonl" --summary-json "$RUN/cl.json" \
        -- --heartbeat-ms $((20 * K)) --election-timeout-ms $((300 * K)) --request-timeout-ms $((500 * K)) >out
    cat out
    jq -e ".node_exits | all(. == \"exit 0\")" "$RUN/cl.json"
    jq -c "select(.type != \"invoke\") | {time_us, process, node, type, value, error, lease_valid, network_round_trips, served_by}" "$RUN/cl.jsonl"
'

test_expect_success 'at the leader: lease_valid, 0 round trips; a missing key is error 20' '
    jq -se "$JQ_DONE"" done(1; 0) | .type == \"ok\" and .f == \"write\"" "$RUN/cl.jsonl"
    jq -se "$JQ_DONE"" done(1; 1) | .type == \"ok\" and .value == 42 and .served_by == \"n1\"
            and .lease_valid == true and .network_round_trips == 0 and .linearizable == true" "$RUN/cl.jsonl"
    jq -se "$JQ_DONE"" done(1; 3) | .type == \"fail\" and .error == 20" "$RUN/cl.jsonl"
'

test_expect_success 'at a follower: forwarded to the leader, which serves it on its lease (1 round trip)' '
    jq -se "$JQ_DONE"" done(1; 2) | .type == \"ok\" and .value == 42 and .node == \"n2\" and .served_by == \"n1\"
            and .lease_valid == true and .network_round_trips == 1" "$RUN/cl.jsonl"
'

test_expect_success 'right after an election: the new leader has no lease yet and falls back to ReadIndex' '
    jq -sc "$JQ_DONE"" [done(6), done(7)]" "$RUN/cl.jsonl" | tee after
    # Exactly one of the two reads was sent to the winner; it waited for the election
    # and was served without a lease. The other was forwarded (one more round trip).
    jq -e "[.[] | select(.served_by == .node)] | length == 1 and (.[0] | .lease_valid == false
            and .network_round_trips == 1 and .value == 42)" after
    jq -e "[.[] | select(.served_by != .node)] | length == 1 and (.[0] | .network_round_trips
            == (if .lease_valid then 1 else 2 end))" after
    # Later the new leader holds a lease: 0 round trips there, 1 through the other node.
    jq -se "$JQ_DONE"" [done(8), done(9)] | map(select(.type == \"ok\" and .lease_valid == true))
            | length == 2 and (map(.network_round_trips) | sort == [0, 1])" "$RUN/cl.jsonl"
'

test_expect_success 'the scripted run is linearizable' '
    "$CHECK_LIN" "$RUN/cl.jsonl" | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
'

test_expect_success 'lease reads under random partitions: linearizable, mostly served on the lease' '
    cluster --bin "$NODE_BIN" --nodes 3 --nemesis partition --nemesis-interval-ms 500 \
        --concurrency 6 --rate 300 --keys 3 --mix lease_read=60,write=25,cas=5,read=10 \
        --time-limit 5 --seed 31 --history "$RUN/nem.jsonl" --summary-json "$RUN/nem.json" \
        -- --heartbeat-ms 20 --election-timeout-ms 150 >out
    cat out
    jq -e "(.node_exits | all(. == \"exit 0\")) and (.faults | length) >= 8" "$RUN/nem.json"
    jq -sc "[.[] | select(.f == \"lease_read\" and .type == \"ok\")]
            | {on_lease: map(select(.lease_valid)) | length, fallback: map(select(.lease_valid | not)) | length,
               round_trips: group_by(.network_round_trips) | map({n: .[0].network_round_trips, reads: length})}" \
        "$RUN/nem.jsonl" | tee counts
    jq -e ".on_lease > .fallback and .on_lease > 100" counts
    "$CHECK_LIN" "$RUN/nem.jsonl" | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
'

test_done
