#!/usr/bin/env bash
# Stage 01, piped into one node: the seed's sample cases (shared/seeds/01-follower-reads.txt,
# compared field by field as subsets) and follower_read's bad inputs.
. "$(dirname "$0")/lib.sh"

test_expect_success 'seed: follower read within staleness bound (n1 of n1..n3, alone)' '
    printf "%s\n" \
      "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\",\"n2\",\"n3\"]}}" \
      "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"follower_read\",\"msg_id\":2,\"key\":\"x\",\"max_staleness_ms\":5000}}" |
      node_pipe
    json_subset "{\"src\": \"n1\", \"dest\": \"c0\", \"body\": {\"type\": \"init_ok\", \"in_reply_to\": 1, \"msg_id\": 0}}" out
    # Alone, it can prove nothing: never a follower_read_ok, and never a stale value.
    json_absent "{\"body\":{\"type\":\"follower_read_ok\"}}" out
'

test_expect_success 'seed: zero staleness redirects to leader (n1 of n1..n3, alone)' '
    printf "%s\n" \
      "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\",\"n2\",\"n3\"]}}" \
      "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"follower_read\",\"msg_id\":2,\"key\":\"x\",\"max_staleness_ms\":0}}" |
      node_pipe
    json_subset "{\"src\": \"n1\", \"dest\": \"c0\", \"body\": {\"type\": \"init_ok\", \"in_reply_to\": 1, \"msg_id\": 0}}" out
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":11}}" out
'

test_expect_success 'a single-member cluster serves follower_read locally with its own bound' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":\"42\"}"
      client_line n1 "{\"type\":\"follower_read\",\"msg_id\":3,\"key\":\"x\",\"max_staleness_ms\":5000}"
    } | node_pipe
    json_subset "{\"body\":{\"type\":\"follower_read_ok\",\"in_reply_to\":3,\"value\":\"42\",\"served_by\":\"n1\",\"linearizable\":false}}" out
    staleness=$(json_reply 3 out | jq ".body.actual_staleness_ms")
    echo "actual_staleness_ms=$staleness (bound 5000)"
    [ "$staleness" -ge 0 ] && [ "$staleness" -le 5000 ]
'

test_expect_success 'a single-member cluster: max_staleness_ms 0 reads linearizably' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":\"42\"}"
      client_line n1 "{\"type\":\"follower_read\",\"msg_id\":3,\"key\":\"x\",\"max_staleness_ms\":0}"
    } | node_pipe
    json_subset "{\"body\":{\"type\":\"follower_read_ok\",\"in_reply_to\":3,\"value\":\"42\",\"served_by\":\"n1\",\"linearizable\":true,\"reason\":\"redirected_to_leader\"}}" out
'

test_expect_success 'follower_read of a missing key is error 20' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"follower_read\",\"msg_id\":2,\"key\":\"nope\",\"max_staleness_ms\":1000}"
    } | node_pipe
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":20}}" out
'

for bad in "" ",\"max_staleness_ms\":-1" ",\"max_staleness_ms\":1.5" ",\"max_staleness_ms\":\"100\"" ",\"max_staleness_ms\":null"; do
    test_expect_success "max_staleness_ms bad (${bad:-missing}) is error 12 naming the field" '
        { init_line n1 n1
          client_line n1 "{\"type\":\"follower_read\",\"msg_id\":2,\"key\":\"x\"$bad}"
          client_line n1 "{\"type\":\"write\",\"msg_id\":3,\"key\":\"x\",\"value\":1}"
          client_line n1 "{\"type\":\"read\",\"msg_id\":4,\"key\":\"x\"}"
        } | node_pipe
        json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":12}}" out
        json_reply 2 out | jq -e ".body.text | test(\"max_staleness_ms\")"
        json_subset "{\"body\":{\"type\":\"read_ok\",\"in_reply_to\":4,\"value\":1}}" out
    '
done

test_expect_success 'follower_read without key is error 12 naming key' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"follower_read\",\"msg_id\":2,\"max_staleness_ms\":10}"
    } | node_pipe
    json_reply 2 out | jq -e ".body.code == 12 and (.body.text | test(\"key\"))"
'

test_expect_success 'the incarnation a follower stamps survives JSON printing exactly (below 10^15), 20 starts' '
    # cJSON prints a number with 15 significant digits whenever that reads back "close
    # enough", so an integer of 16 digits or more can come back changed; the leader would
    # then return pairs the follower no longer recognizes as its own.
    append="{\"type\":\"raft_append\",\"term\":1,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"round\":1,\"entries\":[]}"
    for i in $(seq 1 20); do
        { init_line n1 n1,n2; client_line n1 "$append" n2; } | node_pipe
        json_lines out
        jq -se "[.[] | select(.body.type == \"raft_append_res\")] | length == 1" out >/dev/null
        jq -se "[.[] | select(.body.type == \"raft_append_res\") | .body.piggyback.follower_read.incarnation]
            | .[0] | (type == \"number\" and . >= 0 and . < 1e15 and . == floor)" out
    done
'

test_expect_success '--help names --max-clock-drift-pct and its default, 10' '
    timeout "$(scaled 5)" "$NODE_BIN" --help </dev/null >help
    grep -E -- "--max-clock-drift-pct .*\(default 10\)" help
'

test_expect_success '--max-clock-drift-pct 100 exits 2 before init, saying why; 0 and 99 run' '
    status=0
    init_line n1 n1 | timeout "$(scaled 5)" "$NODE_BIN" --max-clock-drift-pct 100 >out 2>err || status=$?
    cat err
    test "$status" -eq 2
    grep -q -- "--max-clock-drift-pct must be below 100" err
    test ! -s out
    for pct in 0 99; do
        { init_line n1 n1
          client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":1}"
          client_line n1 "{\"type\":\"follower_read\",\"msg_id\":3,\"key\":\"x\",\"max_staleness_ms\":5000}"
        } | node_pipe --max-clock-drift-pct $pct
        json_subset "{\"body\":{\"type\":\"follower_read_ok\",\"in_reply_to\":3,\"value\":1}}" out
    done
'

test_done
