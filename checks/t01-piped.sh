#!/usr/bin/env bash
# Stage 01, piped into one node: the course task's sample cases (checks/grade/examples/,
# compared field by field as subsets) and follower_read's bad inputs. Requests and
# expected replies are plain JSON, one per line, in heredocs.
. "$(dirname "$0")/lib.sh"

require_feature follower_read

test_expect_success 'sample case: follower read within staleness bound (n1 of n1..n3, alone)' '
    node_pipe <<\EOF
{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}
{"src":"c1","dest":"n1","body":{"type":"follower_read","msg_id":2,"key":"x","max_staleness_ms":5000}}
EOF
    expect_lines out <<\EOF
{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
EOF
    # Alone, it can prove nothing: never a follower_read_ok, and never a stale value.
    expect_no_lines out <<\EOF
{"body":{"type":"follower_read_ok"}}
EOF
'

test_expect_success 'sample case: zero staleness redirects to leader (n1 of n1..n3, alone)' '
    node_pipe <<\EOF
{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}
{"src":"c1","dest":"n1","body":{"type":"follower_read","msg_id":2,"key":"x","max_staleness_ms":0}}
EOF
    expect_lines out <<\EOF
{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
{"body":{"type":"error","in_reply_to":2,"code":11}}
EOF
'

test_expect_success 'a single-member cluster serves follower_read locally with its own bound' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":"42"}
{"type":"follower_read","msg_id":3,"key":"x","max_staleness_ms":5000}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"follower_read_ok","in_reply_to":3,"value":"42","served_by":"n1","linearizable":false}}
EOF
    staleness=$(json_reply 3 out | jq ".body.actual_staleness_ms")
    echo "actual_staleness_ms=$staleness (bound 5000)"
    [ "$staleness" -ge 0 ] && [ "$staleness" -le 5000 ]
'

test_expect_success 'a single-member cluster: max_staleness_ms 0 reads linearizably' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":"42"}
{"type":"follower_read","msg_id":3,"key":"x","max_staleness_ms":0}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"follower_read_ok","in_reply_to":3,"value":"42","served_by":"n1","linearizable":true,"reason":"redirected_to_leader"}}
EOF
'

test_expect_success 'follower_read of a missing key is error 20' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"follower_read","msg_id":2,"key":"nope","max_staleness_ms":1000}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":20}}
EOF
'

for bad in missing -1 1.5 '"100"' null; do
    field=',"max_staleness_ms":'$bad # the field as it ends a follower_read body
    [ "$bad" != missing ] || field=
    test_expect_success "max_staleness_ms $bad is error 12 naming the field" '
        { init_line n1 n1
          client_lines n1 <<EOF
{"type":"follower_read","msg_id":2,"key":"x"$field}
{"type":"write","msg_id":3,"key":"x","value":1}
{"type":"read","msg_id":4,"key":"x"}
EOF
        } | node_pipe
        expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":12}}
{"body":{"type":"read_ok","in_reply_to":4,"value":1}}
EOF
        json_reply 2 out | jq -r .body.text | grep max_staleness_ms
    '
done

test_expect_success 'follower_read without key is error 12 naming key' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"follower_read","msg_id":2,"max_staleness_ms":10}
EOF
    } | node_pipe
    json_reply 2 out >reply
    expect_lines reply <<\EOF
{"body":{"code":12}}
EOF
    jq -r .body.text reply | grep key
'

test_expect_success 'the incarnation a follower stamps survives JSON printing exactly (below 10^15), 20 starts' '
    # cJSON prints a number with 15 significant digits whenever that reads back "close
    # enough", so an integer of 16 digits or more can come back changed; the leader would
    # then return pairs the follower no longer recognizes as its own.
    cat >append <<\EOF
{"type":"raft_append","term":1,"prev_log_index":0,"prev_log_term":0,"leader_commit":0,"round":1,"entries":[]}
EOF
    for i in $(seq 1 20); do
        { init_line n1 n1,n2; client_lines n1 n2 <append; } | node_pipe
        json_lines out
        jq -c --arg t raft_append_res "select(.body.type == \$t)" out >res
        test "$(wc -l <res)" -eq 1
        jq -e ".body.piggyback.follower_read.incarnation | numbers | . >= 0 and . < 1e15 and . == floor" res
    done
'

test_expect_success '--help names --max-clock-drift-pct and its default, 10' '
    timeout "$(scaled 5)" "$NODE_BIN" --help </dev/null >help
    grep -E -- "--max-clock-drift-pct .*\(default 10\)" help
'

test_expect_success '--max-clock-drift-pct 100 exits 2 before init, saying why' '
    status=0
    init_line n1 n1 | timeout "$(scaled 5)" "$NODE_BIN" --max-clock-drift-pct 100 >out 2>err || status=$?
    cat err
    test "$status" -eq 2
    grep -q -- "--max-clock-drift-pct must be below 100" err
    test ! -s out
'

for pct in 0 99; do
    test_expect_success "--max-clock-drift-pct $pct runs and serves follower_read" '
        { init_line n1 n1
          client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"follower_read","msg_id":3,"key":"x","max_staleness_ms":5000}
EOF
        } | node_pipe --max-clock-drift-pct $pct
        expect_lines out <<\EOF
{"body":{"type":"follower_read_ok","in_reply_to":3,"value":1}}
EOF
    '
done

test_done
