#!/usr/bin/env bash
# The cluster runner itself (build/cluster): its command line and scenario errors, the
# history and summary it writes against the real node, partitions that really cut
# (including messages already on the wire), pause/kill/clock faults, timeouts as info,
# the seeded workload and nemesis being reproducible, and valgrind.
. "$(dirname "$0")/lib.sh"

CLUSTER=$READPATH_ROOT/${READPATH_BUILD:-build}/cluster
CHECK_LIN=$READPATH_ROOT/${READPATH_BUILD:-build}/check-linearizable
FIXTURES=$READPATH_ROOT/checks/harness/testdata
[ -x "$CLUSTER" ] || skip_all "no $CLUSTER (build it with: make tools)"
[ -x "$CHECK_LIN" ] || skip_all "no $CHECK_LIN (build it with: make tools)"
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"

# Short Raft timers, as every cluster suite uses; client timeouts stretch with
# READPATH_TIME_SCALE (sanitizers, valgrind).
NODE_FLAGS=(-- --heartbeat-ms 20 --election-timeout-ms 150)
cluster() {
    timeout -k 2 "$(scaled 60)" "$CLUSTER" --timeout-ms "$(scaled 1000 | cut -d. -f1)" "$@"
}

# Every line of FILE is a JSON object, time_us never goes backwards, and each process
# alternates invoke / completion of the same op, ending with a completion.
history_valid() {
    json_lines "$1"
    jq -se '[.[].time_us] as $t | all(range(1; $t | length); $t[.] >= $t[. - 1])' "$1" >/dev/null ||
        { echo "time_us goes backwards in $1"; return 1; }
    jq -se 'group_by(.process) | all(.[]; . as $ops | ($ops | length) % 2 == 0
              and all(range(0; $ops | length; 2); $ops[.].type == "invoke"
                  and ($ops[. + 1].type | IN("ok", "fail", "info"))
                  and $ops[.].f == $ops[. + 1].f and $ops[.].key == $ops[. + 1].key))' "$1" >/dev/null ||
        { echo "some invoke in $1 has no matching completion"; return 1; }
}

# ---- the command line ----

test_expect_success '--help lists the flags and every fault, and exits 0' '
    "$CLUSTER" --help >out
    cat out
    for flag in --bin --nodes --latency-ms --jitter-ms --seed --scenario --nemesis \
                --rate --concurrency --time-limit --keys --mix --timeout-ms --history \
                --summary-json --log-dir --target --max-staleness-ms --prefer-follower \
                --restart-after-ms --data-dir --keep-logs; do
        grep -q -- "$flag" out
    done
    for fault in partition isolate cut duplicate pause resume kill restart-after clock; do
        grep -q -- "$fault" out
    done
'

test_expect_success 'bad flags exit 2 with a message naming the problem' '
    expect_usage() {
        local want=$1; shift
        status=0
        "$CLUSTER" "$@" >out 2>err || status=$?
        echo "$* -> $status: $(cat err)"
        test "$status" -eq 2
        grep -q -- "$want" err
    }
    expect_usage "--bin PATH is required" --nodes 3
    expect_usage "unknown option" --bin "$NODE_BIN" --frobnicate
    expect_usage "unknown op" --bin "$NODE_BIN" --mix read=1,scan=2
    expect_usage "needs a weight" --bin "$NODE_BIN" --mix read
    expect_usage "lease_read_config is not generated" --bin "$NODE_BIN" --mix read=1,lease_read_config=1
    expect_usage "n9" --bin "$NODE_BIN" --target n9
    expect_usage "unknown kind" --bin "$NODE_BIN" --nemesis meteor
    expect_usage "not a non-negative number" --bin "$NODE_BIN" --rate fast
    expect_usage "no-such-node" --bin ./no-such-node
    expect_usage "the nemesis does not kill" --bin "$NODE_BIN" --nemesis pause --restart-after-ms 20
    expect_usage "give --nemesis too" --bin "$NODE_BIN" --lease-configs 400/600/50
    expect_usage "is not L/E/S" --bin "$NODE_BIN" --nemesis pause --lease-configs 400/600
'

test_expect_success 'scenario errors exit 2 with FILE:LINE and what is wrong' '
    expect_scenario_error() {
        printf "# a comment\n%s\n" "$1" >bad.txt
        status=0
        "$CLUSTER" --bin "$NODE_BIN" --scenario bad.txt >out 2>err || status=$?
        echo "[$1] -> $status: $(cat err)"
        test "$status" -eq 2
        grep -q "bad.txt:2: " err
        grep -q -- "$2" err
    }
    expect_scenario_error "at 2 heal" "needs a unit"
    expect_scenario_error "at -1s heal" "non-negative"
    expect_scenario_error "at 1s partiton n1 | n2" "unknown action .partiton."
    expect_scenario_error "at 1s partition n1 | n9" "not a node of this cluster (n1..n3, leader, follower1..follower2)"
    expect_scenario_error "at 1s partition n1 | n1 n2" "appears twice"
    expect_scenario_error "at 1s partition n1 | | n2" "empty group"
    expect_scenario_error "at 1s partition n1 n2 n3" "cuts nothing"
    expect_scenario_error "at 1s pause" "usage: pause"
    expect_scenario_error "at 1s cut n1 n2" "usage: cut|uncut FROM -> TO"
    expect_scenario_error "at 1s duplicate 1.5" "not a probability in \[0, 1\]"
    expect_scenario_error "at 1s duplicate sometimes" "not a probability"
    expect_scenario_error "at 1s duplicate" "usage: duplicate P"
    expect_scenario_error "at 1s cut n1 -> n9" "not a node of this cluster"
    expect_scenario_error "at 1s uncut leader -> leader" "to itself"
    expect_scenario_error "at 1s kill n1 restart-after" "usage: kill nK \[restart-after TIME\]"
    expect_scenario_error "at 1s kill n1 after 20ms" "not .after."
    expect_scenario_error "at 1s kill n1 restart-after 20" "needs a unit"
    expect_scenario_error "at 1s client c1 n1 scan x" "unknown op .scan."
    expect_scenario_error "at 1s client c1 n1 write x" "usage: write KEY VALUE"
    expect_scenario_error "at 1s client x1 n1 read x" "not a client name"
    expect_scenario_error "at 1s client c1 n1 follower_read x soon" "max_staleness_ms"
    expect_scenario_error "at 1s client c1 n1 lease_read_config 3000 5000" "usage: lease_read_config"
    expect_scenario_error "at 1s client c1 n1 lease_read_config 3000 5000 -5" "max_clock_skew_ms .-5. is not a non-negative integer"
    expect_scenario_error "clock n2 fast" "clock rate"
    expect_scenario_error "clock leader 0.5" "roles are not known at start"
    expect_scenario_error "at 1s pause follower3" "not a node of this cluster"
    expect_scenario_error "wait 1s" "starts with .at TIME. or .clock."
'

# ---- a run against the real node ----

test_expect_success 'a workload run writes a valid history and a summary' '
    cluster --bin "$NODE_BIN" --nodes 3 --concurrency 4 --rate 400 --time-limit 1.5 \
        --keys 3 --history h.jsonl --summary-json s.json --log-dir logs "${NODE_FLAGS[@]}" >out 2>err
    cat out
    history_valid h.jsonl
    grep -q "^throughput: " out
    grep -q "^read " out
    grep -q "^messages: " out
    test "$(jq .total.ok s.json)" -gt 100
    test "$(jq "[.ops[].count] | add" s.json)" -eq "$(jq -s "map(select(.type == \"invoke\")) | length" h.jsonl)"
    test "$(jq .total.ok s.json)" -eq "$(jq -s "map(select(.type == \"ok\")) | length" h.jsonl)"
    jq -e ".node_exits | all(. == \"exit 0\")" s.json
    test -f logs/n1.log
'

test_expect_success 'history entries carry the written value, [from, to] for cas, the value read' '
    cluster --bin "$NODE_BIN" --concurrency 3 --ops 300 --keys 2 --history h.jsonl "${NODE_FLAGS[@]}" >out 2>err
    jq -se "map(select(.f == \"write\")) | length > 0 and all(.value | type == \"number\")" h.jsonl
    jq -se "map(select(.f == \"cas\")) | length > 0 and all(.value | type == \"array\" and length == 2)" h.jsonl
    jq -se "map(select(.f == \"read\" and .type == \"invoke\")) | all(has(\"value\") | not)" h.jsonl
    jq -se "map(select(.f == \"read\" and .type == \"ok\")) | length > 0 and all(has(\"value\"))" h.jsonl
    jq -se "map(select(.type == \"fail\" and .f == \"read\")) | all(.error == 20)" h.jsonl
    jq -se "map(select(.f == \"write\" and .type == \"invoke\") | [.key, .value]) | (unique | length) == length" h.jsonl
'

test_expect_success 'scripted requests: a client sends its next op only after the last one ends' '
    cat >sc.txt <<-EOT
	at 500ms client c1 n2 write x 5
	at 500ms client c1 n3 read x
	at 500ms client c7 n1 cas x 5 "six"
	EOT
    cluster --bin "$NODE_BIN" --scenario sc.txt --history h.jsonl "${NODE_FLAGS[@]}" >out 2>err
    cat h.jsonl
    history_valid h.jsonl
    json_subset "{\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"key\":\"x\",\"value\":5,\"node\":\"n2\"}" h.jsonl
    json_subset "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"x\",\"node\":\"n3\"}" h.jsonl
    jq -se "(map(select(.process == 1 and .f == \"write\" and .type == \"ok\"))[0].time_us) <=
            (map(select(.process == 1 and .f == \"read\" and .type == \"invoke\"))[0].time_us)" h.jsonl
    json_subset "{\"process\":7,\"f\":\"cas\",\"value\":[5,\"six\"]}" h.jsonl
'

# A lease configuration is a client message of stage 03; the checkers must pass over it.
LEASE_NODE=$READPATH_ROOT/${READPATH_BUILD:-build}/03-lease-reads/node
if [ -x "$LEASE_NODE" ]; then
    test_expect_success 'lease_read_config L E S: the request carries the three fields, the history the reply' '
        cat >sc.txt <<-EOT
	at 400ms client c1 leader lease_read_config 3000 5000 500
	at 400ms client c2 leader write x 1
	at 500ms client c1 n1 lease_read_config 5200 5000 500
	at 600ms client c2 n2 read x
	EOT
        cluster --bin "$LEASE_NODE" --scenario sc.txt --history h.jsonl --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
        cat h.jsonl
        history_valid h.jsonl
        json_subsets h.jsonl \
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"lease_read_config\",\"lease_duration_ms\":3000,\"election_timeout_ms\":5000,\"max_clock_skew_ms\":500}" \
            "{\"process\":1,\"type\":\"ok\",\"f\":\"lease_read_config\",\"lease_duration_ms\":3000,\"safe\":true,\"effective_lease_ms\":2500}" \
            "{\"process\":1,\"type\":\"ok\",\"f\":\"lease_read_config\",\"lease_duration_ms\":5200,\"safe\":false,\"effective_lease_ms\":4700}"
        jq -se "map(select(.f == \"lease_read_config\")) | all(has(\"key\") | not)" h.jsonl
        jq -e ".ops.lease_read_config.ok == 2" s.json
    '

    test_expect_success 'every checker passes over lease_read_config ops and still judges the rest' '
        cat >sc.txt <<-EOT
	at 400ms client c1 leader lease_read_config 3000 5000 500
	at 400ms client c2 leader write x 1
	at 500ms client c2 leader read x
	EOT
        cluster --bin "$LEASE_NODE" --scenario sc.txt --history h.jsonl "${NODE_FLAGS[@]}" >out 2>err
        "$CHECK_LIN" h.jsonl | tee verdict
        grep -q "judged 2 ops" verdict
        # No follower_read or ryw_read here: they read the history, and say they judged none.
        for c in staleness ryw; do
            status=0
            "$READPATH_ROOT/${READPATH_BUILD:-build}/check-$c" h.jsonl | tee verdict || status=$?
            test "$status" -eq 4
            grep -q "^nothing to judge: judged 0 ops" verdict
        done
        # The same history with the read turned stale must still be flagged.
        jq -c "if .f == \"read\" and .type == \"ok\" then .value = 7 else . end" h.jsonl >stale.jsonl
        status=0
        "$CHECK_LIN" stale.jsonl | tee verdict || status=$?
        test "$status" -eq 1
        grep -Eq "judged [1-9][0-9]* ops" verdict
    '

    test_expect_success '--lease-configs: every nemesis fault step sends the next config in turn, from c(C+1)' '
        cluster --bin "$LEASE_NODE" --nemesis partition --nemesis-interval-ms 200 \
            --lease-configs 400/600/50,150/150/15 --concurrency 2 --time-limit 1.5 \
            --history h.jsonl --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
        history_valid h.jsonl
        jq -c "select(.f == \"lease_read_config\") | [.time_us, .type, .process, .node, .lease_duration_ms, .safe]" h.jsonl
        jq -s "map(select(.f == \"lease_read_config\" and .type == \"invoke\") | .lease_duration_ms)" h.jsonl >sent
        jq -cs "map(select(.f == \"lease_read_config\") | .process) | unique" h.jsonl >processes
        echo "[3]" >expected_processes
        test_cmp expected_processes processes
        faults=$(jq "[.faults[] | select(.fault == \"partition\")] | length" s.json)
        echo "$faults partitions, configs sent: $(jq -c . sent)"
        test "$faults" -ge 2
        jq -e --argjson n "$faults" "length == \$n and (to_entries | all(.value == (if .key % 2 == 0 then 400 else 150 end)))" sent
    '
else
    test_count=$((test_count + 3))
    echo "ok $((test_count - 2)) # skip lease_read_config: no $LEASE_NODE (stage 03)"
    echo "ok $((test_count - 1)) # skip checkers over lease_read_config: no $LEASE_NODE (stage 03)"
    echo "ok $test_count # skip --lease-configs: no $LEASE_NODE (stage 03)"
fi

# ---- the network ----

test_expect_success 'a partition from the start: nothing crosses the cut, traffic flows inside' '
    echo "at 0s partition n1 | n2 n3" >sc.txt
    cluster --bin "$NODE_BIN" --scenario sc.txt --time-limit 1 --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    jq -c ".messages.links[]" s.json
    jq -e "[.messages.links[] | select(.from == \"n1\" or .to == \"n1\") | .delivered] | all(. == 0)" s.json
    jq -e "[.messages.links[] | select(.from == \"n1\" or .to == \"n1\") | .dropped] | add > 0" s.json
    jq -e ".messages.links[] | select(.from == \"n2\" and .to == \"n3\") | .delivered > 0" s.json
    jq -e ".faults[0] | .fault == \"partition\" and .groups == [[\"n1\"], [\"n2\", \"n3\"]]" s.json
'

test_expect_success 'a partition drops messages already in flight; a heal reconnects' '
    printf "at 1s partition n1 | n2 n3\nat 1.5s heal\n" >sc.txt
    cluster --bin "$NODE_BIN" --scenario sc.txt --time-limit 2.5 --latency-ms 30 \
        --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    jq -c .messages s.json
    jq -e ".messages.dropped_in_flight > 0" s.json
    jq -e ".messages.links[] | select(.from == \"n1\" and .to == \"n2\") | .delivered > 0" s.json
    jq -e "[.faults[].fault] == [\"partition\", \"heal\"]" s.json
'

test_expect_success 'cut leader -> follower1 drops that one direction only; the reverse link still delivers' '
    printf "at 500ms cut leader -> follower1\n" >sc.txt
    cluster --bin "$NODE_BIN" --scenario sc.txt --time-limit 1.5 --latency-ms 2 \
        --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    grep "^messages: " out
    jq -c ".faults[]" s.json
    from=$(jq -r ".faults[0].from" s.json)
    to=$(jq -r ".faults[0].to" s.json)
    jq -e ".faults[0].fault == \"cut\" and .leader == \"$from\"" s.json
    jq -c ".messages.links[] | select(.dropped > 0)" s.json
    jq -e --arg f "$from" --arg t "$to" "[.messages.links[] | select(.dropped > 0) | [.from, .to]] == [[\$f, \$t]]" s.json
    jq -e --arg f "$from" --arg t "$to" ".messages.links[] | select(.from == \$t and .to == \$f) | .delivered > 0" s.json
    grep -q "dropped by partitions and cuts" out
'

test_expect_success 'uncut, and heal, restore a cut link: it delivers again, unlike a link left cut' '
    # delivered_on_cut SUMMARY: what the link of the first cut fault delivered in the run.
    delivered_on_cut() {
        jq "(.faults[0] | {from, to}) as \$c | .messages.links[] | select(.from == \$c.from and .to == \$c.to) | .delivered" "$1"
    }
    printf "at 300ms cut leader -> follower1\n" >stay.txt
    { cat stay.txt; echo "at 600ms uncut leader -> follower1"; } >uncut.txt
    { cat stay.txt; echo "at 600ms heal"; } >heal.txt
    for run in stay uncut heal; do
        cluster --bin "$NODE_BIN" --scenario $run.txt --time-limit 1.2 --summary-json $run.json \
            "${NODE_FLAGS[@]}" >out 2>err
        jq -c "[.faults[] | [.fault, .from, .to]]" $run.json
        echo "$run: the cut link delivered $(delivered_on_cut $run.json)"
    done
    jq -e "[.faults[].fault] == [\"cut\", \"uncut\"] and .faults[0].from == .faults[1].from and .faults[0].to == .faults[1].to" uncut.json
    # Heartbeats every 20 ms: 600 ms of a restored link carry far more than a dozen.
    test "$(delivered_on_cut uncut.json)" -gt "$(($(delivered_on_cut stay.json) + 12))"
    test "$(delivered_on_cut heal.json)" -gt "$(($(delivered_on_cut stay.json) + 12))"
'

# leader_ops N: N rounds of scripted ops from c1..c3, all to the role "leader" (bound at
# 500 ms, when a leader is elected), so no request is forwarded between nodes.
leader_ops() {
    for i in $(seq 1 "$1"); do
        for c in 1 2 3; do
            case $((i % 3)) in
            0) echo "at 500ms client c$c leader write $((i % 2)) $((c * 1000 + i))" ;;
            1) echo "at 500ms client c$c leader read $((i % 2))" ;;
            2) echo "at 500ms client c$c leader cas $((i % 2)) $((c * 1000 + i - 2)) $((c * 1000 + i))" ;;
            esac
        done
    done
}

test_expect_success 'duplicate 1 delivers every peer message twice (with jitter, out of order) and stage 00 stays linearizable' '
    { echo "at 0s duplicate 1"; leader_ops 100; } >sc.txt
    cluster --bin "$NODE_BIN" --scenario sc.txt --latency-ms 1 --jitter-ms 3 --history h.jsonl \
        --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    grep "^messages: " out
    jq -c "del(.links)" <(jq .messages s.json)
    jq -e ".faults[0] == {fault: \"duplicate\", probability: 1, time_us: .faults[0].time_us}" s.json
    jq -e ".messages.duplicated > 0 and .messages.duplicated == .messages.routed" s.json
    # Both copies arrive (a few may still be on the wire when the run ends).
    jq -e ".messages.delivered > 1.9 * .messages.routed" s.json
    # Every link that carried anything carried copies (a link may carry nothing: two
    # followers never talk unless one campaigns).
    jq -e "[.messages.links[] | select(.delivered > 0) | .duplicated] | all(. > 0)" s.json
    jq -e ".total.ok > 200 and .total.info == 0" s.json
    jq -e "[.served_by[]] | map(select(. > 0)) | length == 1" s.json
    "$CHECK_LIN" h.jsonl | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
'

test_expect_success 'duplicate off stops it: copies only between the two lines' '
    printf "at 300ms duplicate 1\nat 600ms duplicate off\n" >sc.txt
    cluster --bin "$NODE_BIN" --scenario sc.txt --time-limit 1.2 --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    jq -c "del(.links)" <(jq .messages s.json)
    # Heartbeats every 20 ms to 2 followers, acks back: 300 ms carry ~60 messages, 1.2 s ~240.
    jq -e ".messages.duplicated > 20 and .messages.duplicated < .messages.routed / 2" s.json
    jq -e "[.faults[].probability] == [1, 0]" s.json
'

test_expect_success '--nemesis duplicate: a 0.3 duplication window at each fault step, turned off at its heal' '
    cluster --bin "$NODE_BIN" --nemesis duplicate --nemesis-interval-ms 200 --time-limit 1.5 \
        --concurrency 2 --seed 4 --history h.jsonl --summary-json s.json --latency-ms 1 --jitter-ms 2 \
        "${NODE_FLAGS[@]}" >out 2>err
    jq -c "[.faults[] | del(.time_us)]" s.json
    jq -e "[.faults[] | select(.fault == \"duplicate\") | .probability] | .[0] == 0.3 and .[1] == 0" s.json
    jq -e "(.faults | map(.fault)) as \$f | \$f[0] == \"duplicate\" and \$f[1] == \"heal\" and \$f[2] == \"duplicate\"" s.json
    jq -e ".messages.duplicated > 0 and .messages.duplicated < .messages.routed" s.json
    history_valid h.jsonl
'

test_expect_success 'latency shows in client latency: a write needs a round of 2 x 25 ms' '
    cluster --bin "$NODE_BIN" --concurrency 1 --ops 20 --target n1 --latency-ms 25 \
        --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    cat out
    jq -e ".ops.write.p50_ms >= 50" s.json
'

# ---- faults ----

test_expect_success 'a paused node does not answer: the op times out as info, error 0' '
    printf "at 500ms pause n1\nat 600ms client c1 n1 read x\nat 1.5s resume n1\n" >sc.txt
    cluster --bin "$NODE_BIN" --scenario sc.txt --timeout-ms 300 --history h.jsonl \
        --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    cat h.jsonl
    json_subset "{\"process\":1,\"type\":\"info\",\"f\":\"read\",\"node\":\"n1\",\"error\":0}" h.jsonl
    jq -se "map(select(.type == \"info\"))[0].time_us - map(select(.type == \"invoke\"))[0].time_us >= 300000" h.jsonl
    jq -e ".node_exits.n1 == \"exit 0\"" s.json
'

test_expect_success 'a killed node stays down; the run still completes with exit 0' '
    echo "at 500ms kill n3" >sc.txt
    cluster --bin "$NODE_BIN" --scenario sc.txt --time-limit 1.5 --concurrency 2 --target n1 \
        --history h.jsonl --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    cat out
    history_valid h.jsonl
    jq -e ".node_exits.n3 == \"killed by the scenario\"" s.json
    jq -e ".messages.dropped_dead > 0" s.json
    jq -e ".total.ok > 0" s.json
'

# How long after each kill its node came back, in us, one line per kill, from a summary.
restart_delays() {
    jq -r '[.faults[] | select(.fault == "kill" or .fault == "restart")] as $f
           | range(0; $f | length) | select($f[.].fault == "kill") as $i
           | [$f[$i + 1:][] | select(.fault == "restart" and .node == $f[$i].node)][0] as $r
           | "\($f[$i].node) \(if $r then $r.time_us - $f[$i].time_us else "never" end)"' "$1"
}

test_expect_success 'kill nK restart-after 20ms: the node is back 20 ms after the kill, and ends cleanly' '
    echo "at 500ms kill follower1 restart-after 20ms" >sc.txt
    cluster --bin "$NODE_BIN" --scenario sc.txt --data-dir data --time-limit 1.2 --concurrency 2 \
        --target n1 --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    cat err
    jq -c ".faults[]" s.json
    jq -e "[.faults[].fault] == [\"kill\", \"restart\"] and .faults[0].node == .faults[1].node
           and .faults[0].restart_after_ms == 20" s.json
    delay_us=$(restart_delays s.json | cut -d" " -f2)
    echo "restarted after $delay_us us"
    test "$delay_us" -ge 20000
    test "$delay_us" -le "$(scaled 120000 | cut -d. -f1)"
    jq -e ".node_exits | all(. == \"exit 0\")" s.json
'

test_expect_success '--nemesis kill --restart-after-ms 50: each killed node is back 50 ms after its kill, not at the heal' '
    cluster --bin "$NODE_BIN" --nemesis kill --restart-after-ms 50 --nemesis-interval-ms 200 \
        --data-dir data --time-limit 1.5 --concurrency 2 --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
    jq -c ".faults[]" s.json
    restart_delays s.json >delays
    cat delays
    test "$(wc -l <delays)" -ge 2
    awk -v max="$(scaled 150000)" '\''$2 == "never" || $2 < 50000 || $2 > max { bad = 1 } END { exit bad }'\'' delays
    jq -e "[.faults[] | select(.fault == \"heal\")] | length >= 1" s.json
    jq -e ".node_exits | all(. == \"exit 0\")" s.json
'

test_expect_success 'each node gets its own READPATH_SEED, and clock rates only where set' '
    echo "clock n2 0.8" >sc.txt
    "$CLUSTER" --bin "$FIXTURES/env-node.sh" --scenario sc.txt --seed 5 --log-dir a >out 2>err
    "$CLUSTER" --bin "$FIXTURES/env-node.sh" --scenario sc.txt --seed 5 --log-dir b >out 2>err
    cat a/*.log
    grep -q "READPATH_CLOCK_RATE=0.8" a/n2.log
    grep -q "READPATH_CLOCK_RATE=unset" a/n1.log
    test "$(grep -h -o "SEED=[0-9]*" a/*.log | sort -u | wc -l)" -eq 3
    test_cmp a/n1.log b/n1.log
'

# Without --log-dir the node logs go to a new $TMPDIR/readpath-cluster-XXXXXX, which a run
# that passed removes: nobody reads it, and every suite run used to leave one behind.
test_expect_success 'the temporary log directory is removed after a clean run, kept with --keep-logs' '
    mkdir tmp
    echo "clock n2 0.8" >sc.txt
    TMPDIR=$PWD/tmp "$CLUSTER" --bin "$FIXTURES/env-node.sh" --scenario sc.txt \
        --summary-json s.json >out 2>err
    cat out
    grep -q "^node logs: removed (the run passed; --keep-logs keeps them)" out
    jq -e ".log_dir == null" s.json
    test_cmp /dev/null <(ls tmp)
    TMPDIR=$PWD/tmp "$CLUSTER" --bin "$FIXTURES/env-node.sh" --scenario sc.txt --keep-logs \
        --summary-json s.json >out 2>err
    kept=$(jq -r .log_dir s.json)
    echo "kept: $kept"
    grep -q "^node logs: $kept$" out
    grep -q "READPATH_CLOCK_RATE=0.8" "$kept/n2.log"
'

test_expect_success '...and kept when a node failed, or when a READPATH_UNSAFE_ switch is on' '
    mkdir tmp
    status=0
    TMPDIR=$PWD/tmp "$CLUSTER" --bin "$(command -v sleep)" --nodes 1 --init-timeout-ms 300 \
        --summary-json s.json -- 30 >out 2>err || status=$?
    test "$status" -eq 1
    grep "^node logs: " out
    test -f "$(jq -r .log_dir s.json)/n1.log"
    echo "clock n2 0.8" >sc.txt
    READPATH_UNSAFE_ANYTHING=1 TMPDIR=$PWD/tmp "$CLUSTER" --bin "$FIXTURES/env-node.sh" \
        --scenario sc.txt --summary-json s.json >out 2>err
    grep -q "READPATH_CLOCK_RATE=0.8" "$(jq -r .log_dir s.json)/n2.log"
    test "$(ls tmp | wc -l)" -eq 2
'

test_expect_success 'history entries for a node with an injected clock carry clock_rate' '
    printf "clock n2 0.8\nat 300ms client c1 n2 write x 1\nat 300ms client c2 n1 write x 2\n" >sc.txt
    cluster --bin "$NODE_BIN" --scenario sc.txt --history h.jsonl "${NODE_FLAGS[@]}" >out 2>err
    cat h.jsonl
    jq -se "map(select(.node == \"n2\")) | length == 2 and all(.clock_rate == 0.8)" h.jsonl
    jq -se "map(select(.node == \"n1\")) | all(has(\"clock_rate\") | not)" h.jsonl
'

test_expect_success 'a node that never answers init: exit 1, and the message names it' '
    status=0
    "$CLUSTER" --bin "$(command -v sleep)" --nodes 2 --init-timeout-ms 300 -- 30 >out 2>err || status=$?
    cat err
    test "$status" -eq 1
    grep -q "n1 did not answer init within 300 ms" err
'

# ---- reproducibility ----

invokes() { jq -c 'select(.type == "invoke") | [.f, .key, .value, .node]' "$1"; }

test_expect_success 'the same --seed gives the same op sequence; another seed another one' '
    for run in a b; do
        cluster --bin "$NODE_BIN" --concurrency 4 --ops 200 --seed 7 \
            --mix read=30,write=30,cas=20,follower_read=10,ryw_read=5,lease_read=5 \
            --history $run.jsonl "${NODE_FLAGS[@]}" >out 2>err
    done
    cluster --bin "$NODE_BIN" --concurrency 4 --ops 200 --seed 8 --history c.jsonl "${NODE_FLAGS[@]}" >out 2>err
    invokes a.jsonl >a.ops
    invokes b.jsonl >b.ops
    invokes c.jsonl >c.ops
    test "$(wc -l <a.ops)" -eq 200
    test_cmp a.ops b.ops
    refute cmp -s a.ops c.ops
'

test_expect_success 'the nemesis alternates fault and heal, the same schedule for the same seed' '
    for run in a b; do
        cluster --bin "$NODE_BIN" --nemesis partition,isolate,pause --nemesis-interval-ms 200 \
            --time-limit 2 --concurrency 2 --seed 3 --history $run.jsonl --summary-json $run.json \
            "${NODE_FLAGS[@]}" >out 2>err
        history_valid $run.jsonl
    done
    # The first six steps: how many fit in the time limit depends on how fast init was.
    jq -c "[.faults[] | del(.time_us)][:6]" a.json >a.faults
    jq -c "[.faults[] | del(.time_us)][:6]" b.json >b.faults
    cat a.faults
    test_cmp a.faults b.faults
    jq -e "[.faults[].fault | select(. != \"resume\")] | length >= 6 and
           (to_entries | all(if .key % 2 == 1 then .value == \"heal\" else .value != \"heal\" end))" a.json
    jq -e ".node_exits | all(. == \"exit 0\")" a.json
'

# ---- memory ----

# Valgrind cannot run a binary built with AddressSanitizer (make SANITIZE=1); that
# build checks memory itself.
if command -v valgrind >/dev/null 2>&1 && ! grep -q __asan_init "$CLUSTER"; then
    test_expect_success 'valgrind: no errors, no leaks in a run with every kind of fault' '
        cat >sc.txt <<-EOT
	clock n3 1.1
	at 200ms partition n1 | n2 n3
	at 300ms client c9 n1 write x 1
	at 400ms heal
	at 500ms pause n2
	at 600ms resume n2
	at 250ms cut n1 -> n2
	at 300ms client c8 n1 lease_read_config 400 600 50
	at 350ms duplicate 0.5
	at 450ms duplicate off
	at 700ms kill n3 restart-after 20ms
	EOT
        timeout -k 2 "$(scaled 120)" valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible \
            "$CLUSTER" --bin "$NODE_BIN" --scenario sc.txt --concurrency 3 --time-limit 1.2 \
            --nemesis pause --nemesis-interval-ms 300 --latency-ms 2 --jitter-ms 3 \
            --mix read=30,write=30,cas=20,follower_read=10,ryw_read=5,lease_read=5 \
            --data-dir data --history h.jsonl --summary-json s.json "${NODE_FLAGS[@]}" >out 2>err
        cat err | grep -v "^cluster:" || true
        jq -e "[.faults[].fault] | index(\"cut\") and index(\"duplicate\") and index(\"restart\")" s.json
    '
fi

test_done
