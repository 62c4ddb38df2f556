#!/usr/bin/env bash
# Stage 01 on a cluster, under the local runner (build/cluster): the course task's examples,
# a follower cut off with a deposed leader, a randomized run, and the negative control
# that shows the staleness checker catching the naive "time since heartbeat" bound; then
# bounds tighter than heartbeats prove (a follower's read index), with the negative
# control that shows the linearizability checker catching a follower that does not ask.
. "$(dirname "$0")/lib.sh"
build=$READPATH_ROOT/${READPATH_BUILD:-build}
scenarios=$READPATH_ROOT/checks/scenarios
for tool in cluster check-staleness check-linearizable; do
    [ -x "$build/$tool" ] || skip_all "$build/$tool not built (make tools)"
done
timing="--heartbeat-ms 20 --election-timeout-ms 150"

# ok entries of one kind: ok_ops F [jq-filter]
ok_ops() { jq -c "select(.type == \"ok\" and .f == \"$1\") ${2:+| select($2)}" history.jsonl; }

test_expect_success 'the course task'"'"'s examples on 3 nodes: followers serve within the bound; a bound of 0 goes to the leader' '
    cat >scenario.txt <<SCENARIO
at 1s   client c1 leader write x "42"
at 1.5s client c2 follower1 follower_read x 5000
at 1.5s client c3 follower2 follower_read x 5000
at 1.6s client c4 follower1 follower_read x 0
SCENARIO
    "$build/cluster" --bin "$NODE_BIN" --nodes 3 --scenario scenario.txt \
        --history history.jsonl -- $timing >summary.txt 2>trace.txt
    grep "roles bound" trace.txt
    ok_ops follower_read
    leader=$(ok_ops write | jq -r .node)
    # Each follower served its own read, not linearizable, within 5000 ms.
    for p in 2 3; do
        ok_ops follower_read ".process == $p" >r.json
        jq -e --arg leader "$leader" ".value == \"42\" and .linearizable == false and
            .served_by == .node and .served_by != \$leader and
            .actual_staleness_ms >= 0 and .actual_staleness_ms <= 5000" r.json
    done
    ok_ops follower_read ".process == 4" >r0.json
    jq -e --arg leader "$leader" ".value == \"42\" and .linearizable == true and
        .served_by == \$leader and .reason == \"redirected_to_leader\"" r0.json
'

test_expect_success '5 nodes, leader + follower1 cut off: reads are fresh within their bound or refused' '
    "$build/cluster" --bin "$NODE_BIN" --nodes 5 --scenario "$scenarios/t01-cutoff.txt" \
        --history history.jsonl --quiet -- $timing >summary.txt 2>trace.txt
    cat summary.txt
    # The majority took writes while the others were cut off.
    [ "$(ok_ops write ".value != 1" | wc -l)" -ge 1 ]
    echo "follower1 reads:"
    jq -c "select(.f == \"follower_read\" and .type != \"invoke\") |
        {time_us, type, value, served_by, actual_staleness_ms, linearizable, reason, error}" history.jsonl
    "$build/check-staleness" history.jsonl | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
    "$build/check-linearizable" history.jsonl | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
'

test_expect_success 'negative control: the naive bound without CheckQuorum is flagged' '
    READPATH_UNSAFE_NAIVE_STALENESS=1 READPATH_UNSAFE_NO_CHECK_QUORUM=1 \
    "$build/cluster" --bin "$NODE_BIN" --nodes 5 --scenario "$scenarios/t01-naive.txt" \
        --history history.jsonl --quiet -- $timing >summary.txt 2>trace.txt
    write2=$(ok_ops write ".value == 2" | jq -s "first")
    read=$(jq -c "select(.type == \"invoke\" and .f == \"follower_read\")" history.jsonl | head -n 1)
    served=$(ok_ops follower_read | head -n 1)
    echo "x = 2 acknowledged at: $(echo "$write2" | jq .time_us) us"
    echo "follower_read invoked at: $(echo "$read" | jq .time_us) us"
    echo "answer: $served"
    # The arithmetic: the read claims every write acknowledged before
    # invoke - actual_staleness is visible; x = 2 was acknowledged before that.
    claim=$(jq -n --argjson i "$read" --argjson s "$served" "\$i.time_us - \$s.actual_staleness_ms * 1000")
    echo "it claims to show every write acknowledged before $claim us; x = 2 was at $(echo "$write2" | jq .time_us) us"
    jq -n -e --argjson w "$write2" --argjson s "$served" --argjson claim "$claim" \
        "\$w.time_us < \$claim and \$s.value == 1 and \$s.linearizable == false" >/dev/null
    status=0
    "$build/check-staleness" history.jsonl | tee verdict || status=$?
    grep -Eq "judged [1-9][0-9]* ops" verdict
    echo "check-staleness exit status: $status (1 = anomaly found)"
    [ "$status" -eq 1 ]
'

test_expect_success 'a redirected read whose leader steps down mid-ReadIndex stays linearizable' '
    for seed in 1 2 3; do
        "$build/cluster" --bin "$NODE_BIN" --nodes 3 --seed $seed \
            --scenario "$scenarios/t01-lost-leadership.txt" --history history.jsonl --quiet \
            -- $timing >summary.txt 2>trace.txt
        ok_ops follower_read | tee -a reads.jsonl
    done
    # Found by review: the read used to be forwarded with its original bound and served
    # from a follower, linearizable:false, with a redirect reason on it.
    [ "$(wc -l <reads.jsonl)" -ge 1 ]
    jq -s -e "all(.[]; .linearizable == true and .reason == \"follower_too_stale_redirected_to_leader\")" reads.jsonl
'

test_expect_success 'randomized: partitions, 1-5 ms links, reads on every node pass both checkers' '
    "$build/cluster" --bin "$NODE_BIN" --nodes 5 --seed 11 --concurrency 8 --time-limit 6 \
        --mix read=20,write=30,cas=10,follower_read=40 --max-staleness-ms 150 \
        --latency-ms 1 --jitter-ms 4 --nemesis partition --nemesis-interval-ms 800 \
        --history history.jsonl --quiet -- $timing >summary.txt 2>trace.txt
    cat summary.txt
    [ "$(ok_ops follower_read ".linearizable == false" | wc -l)" -ge 50 ]
    "$build/check-staleness" history.jsonl | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
    "$build/check-linearizable" history.jsonl | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
'

# A 2 ms bound is below what heartbeats prove (3 heartbeats, 60 ms here), and below what
# an earlier read index's answer can (a round trip is 4 ms at 1 ms links): followers
# serve nearly every read asked of them with a read index of its own, and the checker
# judges each one. Under stretched time (sanitizers) the run is shorter.
tight_seconds=3
awk -v k="$READPATH_TIME_SCALE" 'BEGIN { exit !(k > 1) }' && tight_seconds=1.5

test_expect_success 'a 2 ms bound at 1 ms links: followers serve the reads asked of them themselves with a read index; both checkers pass' '
    "$build/cluster" --bin "$NODE_BIN" --nodes 3 --seed 5 --concurrency 8 --time-limit $tight_seconds \
        --mix write=20,follower_read=80 --keys 3 --max-staleness-ms 2 --latency-ms 1 \
        --history history.jsonl --quiet -- $timing >summary.txt 2>trace.txt
    cat summary.txt
    leader=$(sed -n "s/.*leader at the end: \([^ ]*\).*/\1/p" summary.txt)
    ok_ops follower_read ".node != \"$leader\"" >at_followers.jsonl
    asked=$(wc -l <at_followers.jsonl)
    itself=$(jq -c "select(.served_by == .node)" at_followers.jsonl | wc -l)
    by_index=$(jq -c "select(.reason == \"follower_read_index\")" at_followers.jsonl | wc -l)
    echo "reads asked of followers: $asked; served by the follower asked: $itself; with a read index: $by_index"
    jq -s -e "all(.[] | select(.reason == \"follower_read_index\"); .linearizable == true and .served_by == .node)" at_followers.jsonl >/dev/null
    [ "$by_index" -ge 50 ]
    [ $((by_index * 100)) -ge $((asked * 80)) ]
    [ $((itself * 100)) -ge $((asked * 90)) ]
    "$build/check-staleness" history.jsonl | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
    "$build/check-linearizable" history.jsonl | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
'

# read_cut_off: the scenario above; prints x = 2's acknowledgement, the read and its answer.
read_cut_off() {
    "$build/cluster" --bin "$NODE_BIN" --nodes 3 --scenario "$scenarios/t01-read-index-cutoff.txt" \
        --history history.jsonl --quiet -- $timing >summary.txt 2>trace.txt
    write2=$(ok_ops write ".value == 2" | jq -c -s "first")
    read=$(jq -c "select(.type == \"invoke\" and .f == \"follower_read\")" history.jsonl)
    answer=$(jq -c "select(.type != \"invoke\" and .f == \"follower_read\")" history.jsonl)
    echo "x = 2 acknowledged at $(echo "$write2" | jq .time_us) us; the read invoked at $(echo "$read" | jq .time_us) us"
    echo "answer: $answer"
}

test_expect_success 'a follower cut off from the leader does not answer a read-index read from its own state' '
    read_cut_off
    echo "$answer" | jq -e "(.type == \"ok\" and .value == 2) or .type == \"fail\"" >/dev/null
    "$build/check-linearizable" history.jsonl | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
'

test_expect_success 'negative control: reading at the follower'"'"'s own commit index without asking is flagged' '
    READPATH_UNSAFE_FOLLOWER_READ_INDEX_OWN_COMMIT=1 read_cut_off
    # The arithmetic: x = 2 was acknowledged before the read began, so a linearizable
    # read must return 2; this one says linearizable:true and returns 1.
    jq -n -e --argjson w "$write2" --argjson r "$read" --argjson a "$answer" \
        "\$w.time_us < \$r.time_us and \$a.value == 1 and \$a.linearizable == true" >/dev/null
    status=0
    "$build/check-linearizable" history.jsonl | tee verdict || status=$?
    echo "check-linearizable exit status: $status (1 = anomaly found)"
    [ "$status" -eq 1 ]
'

test_done
