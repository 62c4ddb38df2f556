#!/usr/bin/env bash
# Stage 03, piped into one node: the course task's sample cases (checks/grade/examples/,
# field subsets; the config case exactly as the sample), lease_read at a single-member
# leader, lease_read_config's safe and unsafe answers, its bad fields (error 12), and the
# lease flags, checked at start against the sound rule. Requests and expected replies are
# plain JSON, one per line, in heredocs.
. "$(dirname "$0")/lib.sh"

require_feature lease_read lease_read_config

test_expect_success 'sample case: lease read with zero round trips (n1 of n1..n3, alone)' '
    node_pipe <<\EOF
{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}
{"src":"c1","dest":"n1","body":{"type":"lease_read","msg_id":2,"key":"x"}}
EOF
    # Alone among three it never leads, so it holds no lease and serves nothing: the
    # read waits for a leader and is answered 11 when the input closes.
    expect_lines out <<\EOF
{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
{"body":{"type":"error","in_reply_to":2,"code":11}}
EOF
    expect_no_lines out <<\EOF
{"body":{"type":"lease_read_ok"}}
EOF
'

test_expect_success 'sample case: safe lease configuration (single member), exactly as the sample' '
    node_pipe <<\EOF
{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}
{"src":"c1","dest":"n1","body":{"type":"lease_read_config","msg_id":2,"lease_duration_ms":3000,"election_timeout_ms":5000,"max_clock_skew_ms":500}}
EOF
    cat out
    expect_lines out <<\EOF
{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
{"src": "n1", "dest": "c1", "body": {"type": "lease_read_config_ok", "in_reply_to": 2, "safe": true, "effective_lease_ms": 2500, "msg_id": 1}}
EOF
    test "$(wc -l <out)" -eq 2
    json_reply 2 out | jq -r .body.reason | grep -F "<= election_timeout"
'

test_expect_success 'with --maelstrom only lin-kv replies lose fields: lease_read_config_ok keeps safe and effective_lease_ms' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"lease_read_config","msg_id":2,"lease_duration_ms":3000,"election_timeout_ms":5000,"max_clock_skew_ms":500}
{"type":"write","msg_id":3,"key":"x","value":1}
EOF
    } | node_pipe --maelstrom
    cat out
    json_reply 2 out >reply
    expect_lines reply <<\EOF
{"body":{"type":"lease_read_config_ok","safe":true,"effective_lease_ms":2500}}
EOF
    json_reply 3 out | jq -c ".body | keys" >actual
    cat >expect <<\EOF
["in_reply_to","msg_id","type"]
EOF
    test_cmp expect actual
'

test_expect_success "the course task's response example: lease_read_ok with lease_valid and 0 round trips" '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":"42"}
{"type":"lease_read","msg_id":3,"key":"x"}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"lease_read_ok","in_reply_to":3,"value":"42","lease_valid":true,"network_round_trips":0,"linearizable":true}}
EOF
'

test_expect_success 'lease_read of a missing key is error 20' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"lease_read","msg_id":2,"key":"nope"}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":20}}
EOF
'

test_expect_success 'lease_read without a key is error 12 naming it' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"lease_read","msg_id":3}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":3,"code":12}}
EOF
    json_reply 3 out | jq -r .body.text | grep key
'

test_expect_success 'unsafe configs: safe:false, the computed effective lease, the violated inequality; nothing changes' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"lease_read_config","msg_id":2,"lease_duration_ms":5200,"election_timeout_ms":5000,"max_clock_skew_ms":500}
{"type":"lease_read_config","msg_id":3,"lease_duration_ms":500,"election_timeout_ms":5000,"max_clock_skew_ms":500}
{"type":"lease_read_config","msg_id":4,"lease_duration_ms":6000,"election_timeout_ms":5000,"max_clock_skew_ms":0}
{"type":"write","msg_id":5,"key":"x","value":1}
EOF
    } | node_pipe -v
    # Nothing went through the log: the write is entry 2, right after the no-op.
    expect_lines out <<\EOF
{"body":{"type":"lease_read_config_ok","in_reply_to":2,"safe":false,"effective_lease_ms":4700}}
{"body":{"type":"lease_read_config_ok","in_reply_to":3,"safe":false,"effective_lease_ms":0}}
{"body":{"type":"lease_read_config_ok","in_reply_to":4,"safe":false,"effective_lease_ms":6000}}
{"body":{"type":"write_ok","in_reply_to":5,"commit_index":2}}
EOF
    for n in 2 3 4; do json_reply $n out | jq -r .body.reason; done
    json_reply 2 out | jq -r .body.reason | grep -F "(lease_duration_ms - max_clock_skew_ms) + max_clock_skew_ms <= election_timeout_ms"
    json_reply 3 out | jq -r .body.reason | grep -F "lease_duration_ms > max_clock_skew_ms"
    refute grep -q "election timeout and stickiness window" err
'

# The heartbeat is the flags' (--heartbeat-ms, 50 by default here); a config's election
# timeout must leave room for two of them, the rule --election-timeout-ms obeys at start
# (common/node_flags.c). 1/1/0 is safe by the lease inequality alone, and made the cluster
# elect a leader hundreds of times a second.
test_expect_success 'an election timeout under two heartbeats: safe:false naming election_timeout_ms >= 2 * heartbeat_ms; nothing changes' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"lease_read_config","msg_id":2,"lease_duration_ms":1,"election_timeout_ms":1,"max_clock_skew_ms":0}
{"type":"lease_read_config","msg_id":3,"lease_duration_ms":40,"election_timeout_ms":90,"max_clock_skew_ms":10}
{"type":"lease_read_config","msg_id":4,"lease_duration_ms":90,"election_timeout_ms":100,"max_clock_skew_ms":10}
{"type":"lease_read_config","msg_id":5,"lease_duration_ms":3000,"election_timeout_ms":5000,"max_clock_skew_ms":500}
{"type":"write","msg_id":6,"key":"x","value":1}
EOF
    } | node_pipe -v --heartbeat-ms 50
    expect_lines out <<\EOF
{"body":{"type":"lease_read_config_ok","in_reply_to":2,"safe":false,"effective_lease_ms":1}}
{"body":{"type":"lease_read_config_ok","in_reply_to":3,"safe":false,"effective_lease_ms":30}}
{"body":{"type":"lease_read_config_ok","in_reply_to":4,"safe":true,"effective_lease_ms":80,"commit_index":2}}
{"body":{"type":"lease_read_config_ok","in_reply_to":5,"safe":true,"effective_lease_ms":2500,"commit_index":3}}
{"body":{"type":"write_ok","in_reply_to":6,"commit_index":4}}
EOF
    for n in 2 3; do
        json_reply $n out | jq -r .body.reason | grep -F "election_timeout_ms >= 2 * heartbeat_ms"
    done
    refute grep -q "stickiness window 1 ms\|stickiness window 90 ms" err
'

test_expect_success 'a safe config goes through the log and sets the election timeout (stickiness window)' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"lease_read_config","msg_id":2,"lease_duration_ms":400,"election_timeout_ms":500,"max_clock_skew_ms":50}
{"type":"write","msg_id":3,"key":"x","value":1}
{"type":"lease_read","msg_id":4,"key":"x"}
EOF
    } | node_pipe -v
    expect_lines out <<\EOF
{"body":{"type":"lease_read_config_ok","in_reply_to":2,"safe":true,"effective_lease_ms":350,"commit_index":2}}
{"body":{"type":"write_ok","in_reply_to":3,"commit_index":3}}
{"body":{"type":"lease_read_ok","in_reply_to":4,"value":1,"lease_valid":true}}
EOF
    grep "election timeout and stickiness window 500 ms (was 300)" err
'

# A safe config (the sample's), each field in turn left out or replaced by a bad value.
safe_config='{"type":"lease_read_config","msg_id":2,"lease_duration_ms":3000,"election_timeout_ms":5000,"max_clock_skew_ms":500}'
for field in lease_duration_ms election_timeout_ms max_clock_skew_ms; do
    for bad in missing -1 1.5 '"3000"' null; do
        if [ "$bad" = missing ]; then
            body=$(jq -c --arg f "$field" 'del(.[$f])' <<<"$safe_config")
        else
            body=$(jq -c --arg f "$field" --argjson v "$bad" '.[$f] = $v' <<<"$safe_config")
        fi
        test_expect_success "lease_read_config: $field $bad is error 12 naming the field" '
            echo "$body"
            { init_line n1 n1
              client_lines n1 <<EOF
$body
{"type":"lease_read_config","msg_id":3,"lease_duration_ms":3000,"election_timeout_ms":5000,"max_clock_skew_ms":500}
EOF
            } | node_pipe
            expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":12}}
{"body":{"type":"lease_read_config_ok","in_reply_to":3,"safe":true}}
EOF
            json_reply 2 out | jq -r .body.text | grep -F -- "$field"
        '
    done
done

test_expect_success 'lease_read_config: a value beyond an hour is error 12 naming the field' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"lease_read_config","msg_id":2,"lease_duration_ms":3000,"election_timeout_ms":99999999999,"max_clock_skew_ms":500}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":12}}
EOF
    json_reply 2 out | jq -r .body.text | grep -F election_timeout_ms
'

test_expect_success 'negative control switch: READPATH_UNSAFE_SEED_LEASE_RULE=1 accepts 5200/5000/500 (and says so)' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"lease_read_config","msg_id":2,"lease_duration_ms":5200,"election_timeout_ms":5000,"max_clock_skew_ms":500}
EOF
    } | READPATH_UNSAFE_SEED_LEASE_RULE=1 node_pipe
    expect_lines out <<\EOF
{"body":{"type":"lease_read_config_ok","in_reply_to":2,"safe":true,"effective_lease_ms":4700}}
EOF
    grep "READPATH_UNSAFE_SEED_LEASE_RULE=1: an UNSAFE test-only behaviour is on" err
'

test_expect_success 'flags: an unsafe lease exits 2 naming the inequality' '
    status=0
    init_line n1 n1 | "$NODE_BIN" --election-timeout-ms 500 --lease-duration-ms 520 --max-clock-skew-ms 50 >out 2>err || status=$?
    cat err
    test "$status" -eq 2
    grep -q "(lease_duration_ms - max_clock_skew_ms) + max_clock_skew_ms <= election_timeout_ms" err
    test ! -s out
'

test_expect_success 'flags: the sample'"'"'s rule (test-only) lets the same unsafe lease through' '
    init_line n1 n1 | READPATH_UNSAFE_SEED_LEASE_RULE=1 node_pipe --election-timeout-ms 500 --lease-duration-ms 520 --max-clock-skew-ms 50
'

test_expect_success 'flags: the default lease is safe at --election-timeout-ms 500' '
    init_line n1 n1 | node_pipe --election-timeout-ms 500
'

test_expect_success '--help names the lease flags' '
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
