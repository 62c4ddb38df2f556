#!/usr/bin/env bash
# Stage 03, piped into one node: the seed's sample cases (shared/seeds/03-lease-reads.txt,
# field subsets; the config case exactly as the sample), lease_read at a single-member
# leader, lease_read_config's safe and unsafe answers, its bad fields (error 12), and the
# lease flags, checked at start against the sound rule.
. "$(dirname "$0")/lib.sh"

config() { # config MSG_ID L E S: a lease_read_config body
    printf '{"type":"lease_read_config","msg_id":%s,"lease_duration_ms":%s,"election_timeout_ms":%s,"max_clock_skew_ms":%s}' "$@"
}
lease_read() { printf '{"type":"lease_read","msg_id":%s,"key":"%s"}' "$@"; }

test_expect_success 'seed: lease read with zero round trips (n1 of n1..n3, alone)' '
    printf "%s\n" \
      "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\",\"n2\",\"n3\"]}}" \
      "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"lease_read\",\"msg_id\":2,\"key\":\"x\"}}" |
      node_pipe
    json_subset "{\"src\": \"n1\", \"dest\": \"c0\", \"body\": {\"type\": \"init_ok\", \"in_reply_to\": 1, \"msg_id\": 0}}" out
    # Alone among three it never leads, so it holds no lease and serves nothing: the
    # read waits for a leader and is answered 11 when the input closes.
    json_absent "{\"body\":{\"type\":\"lease_read_ok\"}}" out
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":11}}" out
'

test_expect_success 'seed: safe lease configuration (single member), exactly as the sample' '
    printf "%s\n" \
      "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}" \
      "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"lease_read_config\",\"msg_id\":2,\"lease_duration_ms\":3000,\"election_timeout_ms\":5000,\"max_clock_skew_ms\":500}}" |
      node_pipe
    cat out
    json_subsets out \
      "{\"src\": \"n1\", \"dest\": \"c0\", \"body\": {\"type\": \"init_ok\", \"in_reply_to\": 1, \"msg_id\": 0}}" \
      "{\"src\": \"n1\", \"dest\": \"c1\", \"body\": {\"type\": \"lease_read_config_ok\", \"in_reply_to\": 2, \"safe\": true, \"effective_lease_ms\": 2500, \"msg_id\": 1}}"
    test "$(wc -l <out)" -eq 2
    json_reply 2 out | jq -e ".body.reason | test(\"<= election_timeout\")"
'

test_expect_success 'with --maelstrom only lin-kv replies lose fields: lease_read_config_ok keeps safe and effective_lease_ms' '
    printf "%s\n" \
      "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}" \
      "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"lease_read_config\",\"msg_id\":2,\"lease_duration_ms\":3000,\"election_timeout_ms\":5000,\"max_clock_skew_ms\":500}}" \
      "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"write\",\"msg_id\":3,\"key\":\"x\",\"value\":1}}" |
      node_pipe --maelstrom
    cat out
    json_reply 2 out | jq -e ".body.type == \"lease_read_config_ok\" and .body.safe == true and .body.effective_lease_ms == 2500"
    json_reply 3 out | jq -e ".body | keys == [\"in_reply_to\", \"msg_id\", \"type\"]"
'

test_expect_success 'the seed'"'"'s response example: lease_read_ok with lease_valid and 0 round trips' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":\"42\"}"
      client_line n1 "$(lease_read 3 x)"
    } | node_pipe
    json_subset "{\"body\":{\"type\":\"lease_read_ok\",\"in_reply_to\":3,\"value\":\"42\",\"lease_valid\":true,\"network_round_trips\":0,\"linearizable\":true}}" out
'

test_expect_success 'lease_read of a missing key is error 20; without a key, error 12 naming it' '
    { init_line n1 n1
      client_line n1 "$(lease_read 2 nope)"
      client_line n1 "{\"type\":\"lease_read\",\"msg_id\":3}"
    } | node_pipe
    json_subsets out "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":20}}" \
                     "{\"body\":{\"type\":\"error\",\"in_reply_to\":3,\"code\":12}}"
    json_reply 3 out | jq -e ".body.text | test(\"key\")"
'

test_expect_success 'unsafe configs: safe:false, the computed effective lease, the violated inequality; nothing changes' '
    { init_line n1 n1
      client_line n1 "$(config 2 5200 5000 500)"
      client_line n1 "$(config 3 500 5000 500)"
      client_line n1 "$(config 4 6000 5000 0)"
      client_line n1 "{\"type\":\"write\",\"msg_id\":5,\"key\":\"x\",\"value\":1}"
    } | node_pipe -v
    json_subsets out \
      "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":2,\"safe\":false,\"effective_lease_ms\":4700}}" \
      "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":3,\"safe\":false,\"effective_lease_ms\":0}}" \
      "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":4,\"safe\":false,\"effective_lease_ms\":6000}}"
    for n in 2 3 4; do json_reply $n out | jq -r .body.reason; done
    json_reply 2 out | jq -e ".body.reason | test(\"\\\\(lease_duration_ms - max_clock_skew_ms\\\\) \\\\+ max_clock_skew_ms <= election_timeout_ms\")"
    json_reply 3 out | jq -e ".body.reason | test(\"lease_duration_ms > max_clock_skew_ms\")"
    # Nothing went through the log: the write is entry 2, right after the no-op.
    json_subset "{\"body\":{\"type\":\"write_ok\",\"in_reply_to\":5,\"commit_index\":2}}" out
    refute grep -q "election timeout and stickiness window" err
'

# The heartbeat is the flags' (--heartbeat-ms, 50 by default here); a config's election
# timeout must leave room for two of them, the rule --election-timeout-ms obeys at start
# (common/node_flags.c). 1/1/0 is safe by the lease inequality alone, and made the cluster
# elect a leader hundreds of times a second.
test_expect_success 'an election timeout under two heartbeats: safe:false naming election_timeout_ms >= 2 * heartbeat_ms; nothing changes' '
    { init_line n1 n1
      client_line n1 "$(config 2 1 1 0)"
      client_line n1 "$(config 3 40 90 10)"
      client_line n1 "$(config 4 90 100 10)"
      client_line n1 "$(config 5 3000 5000 500)"
      client_line n1 "{\"type\":\"write\",\"msg_id\":6,\"key\":\"x\",\"value\":1}"
    } | node_pipe -v --heartbeat-ms 50
    json_subsets out \
      "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":2,\"safe\":false,\"effective_lease_ms\":1}}" \
      "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":3,\"safe\":false,\"effective_lease_ms\":30}}" \
      "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":4,\"safe\":true,\"effective_lease_ms\":80,\"commit_index\":2}}" \
      "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":5,\"safe\":true,\"effective_lease_ms\":2500,\"commit_index\":3}}" \
      "{\"body\":{\"type\":\"write_ok\",\"in_reply_to\":6,\"commit_index\":4}}"
    for n in 2 3; do
        json_reply $n out | jq -r .body.reason
        json_reply $n out | jq -e ".body.reason | test(\"election_timeout_ms >= 2 \\\\* heartbeat_ms\")"
    done
    refute grep -q "stickiness window 1 ms\|stickiness window 90 ms" err
'

test_expect_success 'a safe config goes through the log and sets the election timeout (stickiness window)' '
    { init_line n1 n1
      client_line n1 "$(config 2 400 500 50)"
      client_line n1 "{\"type\":\"write\",\"msg_id\":3,\"key\":\"x\",\"value\":1}"
      client_line n1 "$(lease_read 4 x)"
    } | node_pipe -v
    json_subsets out \
      "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":2,\"safe\":true,\"effective_lease_ms\":350,\"commit_index\":2}}" \
      "{\"body\":{\"type\":\"write_ok\",\"in_reply_to\":3,\"commit_index\":3}}" \
      "{\"body\":{\"type\":\"lease_read_ok\",\"in_reply_to\":4,\"value\":1,\"lease_valid\":true}}"
    grep "election timeout and stickiness window 500 ms (was 300)" err
'

for field in lease_duration_ms election_timeout_ms max_clock_skew_ms; do
    for bad in missing -1 1.5 '"3000"' null; do
        test_expect_success "lease_read_config: $field $bad is error 12 naming the field" '
            body=$(config 2 3000 5000 500 | jq -c --arg f '"$field"' --arg b '"'$bad'"' \
                   "if \$b == \"missing\" then del(.[\$f]) else .[\$f] = (\$b | fromjson) end")
            echo "$body"
            { init_line n1 n1
              client_line n1 "$body"
              client_line n1 "$(config 3 3000 5000 500)"
            } | node_pipe
            json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":12}}" out
            json_reply 2 out | jq -e --arg f '"$field"' ".body.text | contains(\$f)"
            json_subset "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":3,\"safe\":true}}" out
        '
    done
done

test_expect_success 'lease_read_config: a value beyond an hour is error 12 naming the field' '
    { init_line n1 n1
      client_line n1 "$(config 2 3000 99999999999 500)"
    } | node_pipe
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":12}}" out
    json_reply 2 out | jq -e ".body.text | contains(\"election_timeout_ms\")"
'

test_expect_success 'negative control switch: READPATH_UNSAFE_SEED_LEASE_RULE=1 accepts 5200/5000/500 (and says so)' '
    { init_line n1 n1
      client_line n1 "$(config 2 5200 5000 500)"
    } | READPATH_UNSAFE_SEED_LEASE_RULE=1 node_pipe
    json_subset "{\"body\":{\"type\":\"lease_read_config_ok\",\"in_reply_to\":2,\"safe\":true,\"effective_lease_ms\":4700}}" out
    grep "READPATH_UNSAFE_SEED_LEASE_RULE=1: an UNSAFE test-only behaviour is on" err
'

test_expect_success 'flags: an unsafe lease exits 2 naming the inequality; the defaults are safe' '
    status=0
    init_line n1 n1 | "$NODE_BIN" --election-timeout-ms 500 --lease-duration-ms 520 --max-clock-skew-ms 50 >out 2>err || status=$?
    cat err
    test "$status" -eq 2
    grep -q "(lease_duration_ms - max_clock_skew_ms) + max_clock_skew_ms <= election_timeout_ms" err
    test ! -s out
    # The seed rule (test-only) lets the same flags through; the defaults need no flags.
    init_line n1 n1 | READPATH_UNSAFE_SEED_LEASE_RULE=1 node_pipe --election-timeout-ms 500 --lease-duration-ms 520 --max-clock-skew-ms 50
    init_line n1 n1 | node_pipe --election-timeout-ms 500
    "$NODE_BIN" --help >help
    grep -E -- "--lease-duration-ms|--max-clock-skew-ms" help
'

test_expect_success 'flags: an unsafe lease exits 2 before reading any input (no input at all, too)' '
    status=0
    "$NODE_BIN" --election-timeout-ms 500 --lease-duration-ms 520 --max-clock-skew-ms 50 </dev/null >out 2>err || status=$?
    cat err
    test "$status" -eq 2
    grep -q "(lease_duration_ms - max_clock_skew_ms) + max_clock_skew_ms <= election_timeout_ms" err
    test ! -s out
'

test_done
