#!/usr/bin/env bash
# Stage 00, one node on piped stdin: init, read/write/cas, error codes, msg_id
# numbering, addressing, a lone member of a 3-node cluster at EOF, the command line.
# Every comparison is a field subset, so later stages' nodes (more reply fields) pass.
# Requests and expected replies are plain JSON, one per line, in heredocs.
. "$(dirname "$0")/lib.sh"

require_node

# solo <<\EOF: the input of a single-member cluster n1: init, then one client line per
# request body on stdin.
solo() {
    init_line n1 n1
    client_lines n1
}

# The read_ok that answers msg_id N carries exactly the JSON value V (deep equality,
# so object key order does not matter and extra object fields are a mismatch).
expect_value() {
    local replies='[inputs | fromjson? // empty | select(.body.in_reply_to? == $n)]'
    if jq -nRe --argjson n "$1" --argjson v "$2" "$replies"'
        | length == 1 and .[0].body.type == "read_ok" and .[0].body.value == $v' out >/dev/null; then
        return 0
    fi
    echo "expected one read_ok to msg_id $1 with value $2; the replies to it:"
    jq -nRc --argjson n "$1" "$replies"'[]' out | cut -c1-300
    return 1
}

# expect_values <<\EOF: expect_value for each stdin line "N VALUE" (VALUE is plain JSON).
expect_values() {
    local n v status=0
    while read -r n v; do
        [ -n "$n" ] || continue
        expect_value "$n" "$v" || status=1
    done
    return $status
}

# Closes fd 3 (the node's stdin, a fifo) and waits for $pid; sets status, elapsed_ms
# (from EOF to exit) and limit_ms (SPEC.md's 200 ms, scaled), and prints them.
close_stdin_and_wait() {
    local start
    start=$(now_ms)
    exec 3>&-
    status=0
    wait "$pid" || status=$?
    elapsed_ms=$(($(now_ms) - start))
    limit_ms=$(scaled 200)
    echo "status $status; EOF to exit took ${elapsed_ms} ms (limit ${limit_ms} ms)"
}

test_expect_success '--help prints usage naming the flags and the client messages, and exits 0' '
    timeout "$(scaled 5)" "$NODE_BIN" --help </dev/null >out 2>err
    cat out
    grep -q -- --heartbeat-ms out
    grep -q -- --election-timeout-ms out
    grep -q -- --maelstrom out
    grep -E "^client messages \(SPEC\.md\): read write cas( |$)" out
'

test_expect_success 'an unknown flag exits non-zero with a message on stderr' '
    status=0
    timeout "$(scaled 5)" "$NODE_BIN" --no-such-flag </dev/null >out 2>err || status=$?
    echo "status $status"; cat err
    test "$status" -ne 0
    test "$status" -ne 124
    grep -q -- --no-such-flag err
'

test_expect_success 'init gets init_ok with msg_id 0 as the first line' '
    init_line n1 n1 | node_pipe
    cat out
    expect_lines out <<\EOF
{"src":"n1","dest":"c0","body":{"type":"init_ok","in_reply_to":1,"msg_id":0}}
EOF
    head -n 1 out >first
    expect_lines first <<\EOF
{"body":{"type":"init_ok"}}
EOF
'

test_expect_success 'single member: write then read returns the value' '
    solo <<\EOF | node_pipe
{"type":"write","msg_id":2,"key":"x","value":42}
{"type":"read","msg_id":3,"key":"x"}
EOF
    cat out
    expect_lines out <<\EOF
{"src":"n1","dest":"c1","body":{"type":"write_ok","in_reply_to":2}}
{"src":"n1","dest":"c1","body":{"type":"read_ok","in_reply_to":3,"value":42}}
EOF
'

test_expect_success 'a later write overwrites an earlier one' '
    solo <<\EOF | node_pipe
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"write","msg_id":3,"key":"x","value":2}
{"type":"read","msg_id":4,"key":"x"}
EOF
    expect_value 4 2
'

test_expect_success 'cas with a matching from succeeds (cas_ok) and the value changes' '
    solo <<\EOF | node_pipe
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"cas","msg_id":3,"key":"x","from":1,"to":2}
{"type":"read","msg_id":4,"key":"x"}
EOF
    cat out
    expect_lines out <<\EOF
{"src":"n1","dest":"c1","body":{"type":"cas_ok","in_reply_to":3}}
EOF
    expect_value 4 2
'

test_expect_success 'cas with a different from gets error 22 and changes nothing' '
    solo <<\EOF | node_pipe
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"cas","msg_id":3,"key":"x","from":5,"to":6}
{"type":"read","msg_id":4,"key":"x"}
EOF
    cat out
    expect_lines out <<\EOF
{"src":"n1","dest":"c1","body":{"type":"error","in_reply_to":3,"code":22}}
EOF
    json_reply 3 out | jq -e ".body.text | strings | length > 0" >/dev/null
    expect_value 4 1
'

test_expect_success 'read of a missing key gets error 20' '
    solo <<\EOF | node_pipe
{"type":"read","msg_id":2,"key":"nope"}
EOF
    cat out
    expect_lines out <<\EOF
{"src":"n1","dest":"c1","body":{"type":"error","in_reply_to":2,"code":20}}
EOF
'

test_expect_success 'cas of a missing key gets error 20 and creates nothing' '
    solo <<\EOF | node_pipe
{"type":"cas","msg_id":2,"key":"nope","from":1,"to":2}
{"type":"read","msg_id":3,"key":"nope"}
EOF
    cat out
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":20}}
{"body":{"type":"error","in_reply_to":3,"code":20}}
EOF
'

test_expect_success 'values of every JSON type are stored and returned by value' '
    solo <<\EOF | node_pipe
{"type":"write","msg_id":2,"key":"i","value":-7}
{"type":"write","msg_id":3,"key":"s","value":"a\"b\\c\u00e9\n"}
{"type":"write","msg_id":4,"key":"o","value":{"a":1,"b":[true,false,"x"]}}
{"type":"write","msg_id":5,"key":"a","value":[1,"two",{"three":3},[]]}
{"type":"write","msg_id":6,"key":"b","value":false}
{"type":"read","msg_id":12,"key":"i"}
{"type":"read","msg_id":13,"key":"s"}
{"type":"read","msg_id":14,"key":"o"}
{"type":"read","msg_id":15,"key":"a"}
{"type":"read","msg_id":16,"key":"b"}
EOF
    cat out
    expect_values <<\EOF
12 -7
13 "a\"b\\c\u00e9\n"
14 {"a":1,"b":[true,false,"x"]}
15 [1,"two",{"three":3},[]]
16 false
EOF
'

test_expect_success 'keys of every JSON type are distinct keys, compared by value' '
    solo <<\EOF | node_pipe
{"type":"write","msg_id":2,"key":1,"value":"int one"}
{"type":"write","msg_id":3,"key":"1","value":"string one"}
{"type":"write","msg_id":4,"key":{"a":1,"b":2},"value":"object"}
{"type":"write","msg_id":5,"key":[1,2],"value":"array"}
{"type":"read","msg_id":12,"key":1}
{"type":"read","msg_id":13,"key":"1"}
{"type":"read","msg_id":14,"key":{"b":2,"a":1}}
{"type":"read","msg_id":15,"key":[1,2]}
{"type":"read","msg_id":16,"key":[2,1]}
EOF
    cat out
    expect_values <<\EOF
12 "int one"
13 "string one"
14 "object"
15 "array"
EOF
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":16,"code":20}}
EOF
'

test_expect_success 'cas compares from by value ({"a":1} in any key order)' '
    solo <<\EOF | node_pipe
{"type":"write","msg_id":2,"key":"k","value":{"a":1,"b":[1,2]}}
{"type":"cas","msg_id":3,"key":"k","from":{"a":1},"to":"no"}
{"type":"cas","msg_id":4,"key":"k","from":{"b":[1,2],"a":1},"to":{"a":1}}
{"type":"cas","msg_id":5,"key":"k","from":{"a":1},"to":["done"]}
{"type":"read","msg_id":6,"key":"k"}
EOF
    cat out
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":3,"code":22}}
{"body":{"type":"cas_ok","in_reply_to":4}}
{"body":{"type":"cas_ok","in_reply_to":5}}
EOF
    expect_values <<\EOF
6 ["done"]
EOF
'

test_expect_success 'msg_ids of everything the node writes count 0,1,2,...' '
    solo <<\EOF | node_pipe
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"read","msg_id":3,"key":"x"}
{"type":"read","msg_id":4,"key":"missing"}
{"type":"cas","msg_id":5,"key":"x","from":1,"to":2}
{"type":"cas","msg_id":6,"key":"x","from":1,"to":2}
{"type":"no_such_type","msg_id":7}
{"type":"read","msg_id":8,"key":"x"}
EOF
    cat out
    jq -se "[.[].body.msg_id] == [range(0; length)]" out >/dev/null
'

test_expect_success 'replies come from the node and go to the client that asked' '
    cat >in <<\EOF
{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}
{"src":"c1","dest":"n1","body":{"type":"write","msg_id":2,"key":"x","value":1}}
{"src":"c2","dest":"n1","body":{"type":"read","msg_id":3,"key":"x"}}
{"src":"c3","dest":"n1","body":{"type":"cas","msg_id":4,"key":"x","from":9,"to":2}}
{"src":"c4","dest":"n1","body":{"type":"read","msg_id":5,"key":"y"}}
EOF
    node_pipe <in
    cat out
    expect_lines out <<\EOF
{"src":"n1","dest":"c0","body":{"in_reply_to":1}}
{"src":"n1","dest":"c1","body":{"in_reply_to":2}}
{"src":"n1","dest":"c2","body":{"in_reply_to":3}}
{"src":"n1","dest":"c3","body":{"in_reply_to":4}}
{"src":"n1","dest":"c4","body":{"in_reply_to":5}}
EOF
    echo n1 >expect
    jq -r .src out | sort -u >actual
    test_cmp expect actual
'

test_expect_success 'a single-member cluster writes nothing but one reply per request' '
    solo >in <<\EOF
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"read","msg_id":3,"key":"x"}
{"type":"cas","msg_id":4,"key":"x","from":1,"to":2}
{"type":"write","msg_id":5,"key":"y","value":1}
{"type":"read","msg_id":6,"key":"z"}
EOF
    node_pipe <in
    cat out
    test "$(wc -l <out)" -eq 6
    jq -se "[.[].body.in_reply_to] | sort == [1,2,3,4,5,6]" out >/dev/null
'

test_expect_success 'a cluster whose ids are n0..n2 answers init_ok' '
    init_line n0 n0,n1,n2 | node_pipe
    cat out
    expect_lines out <<\EOF
{"src":"n0","dest":"c0","body":{"type":"init_ok","in_reply_to":1,"msg_id":0}}
EOF
'

test_expect_success 'a single-member cluster named n0 serves writes and reads' '
    { init_line n0 n0
      client_lines n0 <<\EOF
{"type":"write","msg_id":2,"key":0,"value":5}
{"type":"read","msg_id":3,"key":0}
EOF
    } | node_pipe
    cat out
    expect_lines out <<\EOF
{"src":"n0","dest":"c1","body":{"type":"read_ok","in_reply_to":3,"value":5}}
EOF
'

test_expect_success 'a lone member of a 3-node cluster answers every pending request with 11 at EOF, exits 0 fast' '
    { init_line n1 n1,n2,n3
      client_lines n1 <<\EOF
{"type":"read","msg_id":2,"key":"x"}
{"type":"write","msg_id":3,"key":"x","value":1}
{"type":"cas","msg_id":4,"key":"x","from":1,"to":2}
EOF
    } >in
    start=$(date +%s%N)
    NODE_TIMEOUT=2 node_pipe <in
    elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    limit_ms=$(scaled 500)
    echo "run took ${elapsed_ms} ms (limit ${limit_ms} ms: EOF comes right after the input)"
    cat out
    for n in 2 3 4; do json_reply $n out c1 >/dev/null; done
    expect_lines out <<\EOF
{"src":"n1","dest":"c0","body":{"type":"init_ok","in_reply_to":1,"msg_id":0}}
{"src":"n1","dest":"c1","body":{"type":"error","in_reply_to":2,"code":11}}
{"src":"n1","dest":"c1","body":{"type":"error","in_reply_to":3,"code":11}}
{"src":"n1","dest":"c1","body":{"type":"error","in_reply_to":4,"code":11}}
EOF
    awk -v e="$elapsed_ms" -v l="$limit_ms" "BEGIN { exit !(e <= l) }"
'

test_expect_success 'sample case (checks/grade/examples/): init of n1 in n1..n3, then a read, answers init_ok' '
    { init_line n1 n1,n2,n3
      client_lines n1 <<\EOF
{"type":"read","msg_id":2,"key":"x"}
EOF
    } | NODE_TIMEOUT=2 node_pipe
    expect_lines out <<\EOF
{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
EOF
'

test_expect_success 'replies are flushed while stdin is still open; EOF ends the node at once' '
    mkfifo in
    timeout -k 1 "$(scaled 10)" "$NODE_BIN" <in >out 2>err &
    pid=$!
    exec 3>in
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"read","msg_id":3,"key":"x"}
EOF
    } >&3
    wait_lines out 3
    close_stdin_and_wait
    cat out
    test "$status" -eq 0
    expect_value 3 1
    awk -v e="$elapsed_ms" -v l="$limit_ms" "BEGIN { exit !(e <= l) }"
'

test_expect_success 'a lone member of 3: peer messages share the msg_id counter; EOF answers 11 and exits within 200 ms' '
    mkfifo in
    timeout -k 1 "$(scaled 10)" "$NODE_BIN" --heartbeat-ms 10 --election-timeout-ms 50 <in >out 2>err &
    pid=$!
    exec 3>in
    init_line n1 n1,n2,n3 >&3
    # init_ok, then the first election (PreVote or vote requests to n2 and n3).
    wait_lines out 3
    client_lines n1 >&3 <<\EOF
{"type":"read","msg_id":2,"key":"x"}
EOF
    close_stdin_and_wait
    cat out
    test "$status" -eq 0
    expect_lines out <<\EOF
{"src":"n1","dest":"c1","body":{"type":"error","in_reply_to":2,"code":11}}
EOF
    json_lines out
    jq -se "[.[].body.msg_id] == [range(0; length)]" out >/dev/null
    echo n1 >expect
    jq -r .src out | sort -u >actual
    test_cmp expect actual
    jq -r .dest out | sort -u >dests
    grep -x n2 dests
    grep -x n3 dests
    awk -v e="$elapsed_ms" -v l="$limit_ms" "BEGIN { exit !(e <= l) }"
'

test_expect_success '--maelstrom: read_ok, write_ok and cas_ok carry exactly Maelstrom fields' '
    solo >in <<\EOF
{"type":"write","msg_id":2,"key":1,"value":1}
{"type":"cas","msg_id":3,"key":1,"from":1,"to":2}
{"type":"read","msg_id":4,"key":1}
EOF
    node_pipe --maelstrom <in
    cat out
    for n in 2 3 4; do json_reply $n out | jq -c "[.body.type, (.body | keys)]"; done >actual
    cat >expect <<\EOF
["write_ok",["in_reply_to","msg_id","type"]]
["cas_ok",["in_reply_to","msg_id","type"]]
["read_ok",["in_reply_to","msg_id","type","value"]]
EOF
    test_cmp expect actual
    expect_value 4 2
'

test_expect_success 'the timing flags are accepted; a bad value exits non-zero with a message' '
    solo >in <<\EOF
{"type":"write","msg_id":2,"key":1,"value":7}
{"type":"read","msg_id":3,"key":1}
EOF
    node_pipe --heartbeat-ms 10 --election-timeout-ms 60 <in
    expect_value 3 7
    for bad in "--heartbeat-ms" "--heartbeat-ms abc" "--election-timeout-ms -5" "--election-timeout-ms 0"; do
        status=0
        timeout "$(scaled 5)" "$NODE_BIN" $bad <in >out 2>err || status=$?
        echo "$bad: status $status: $(head -c 200 err)"
        test "$status" -ne 0
        test "$status" -ne 124
        test -s err
    done
'

test_expect_success 'an extra top-level "id" on input lines is ignored' '
    node_pipe <<\EOF
{"id":0,"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}
{"id":1,"src":"c1","dest":"n1","body":{"type":"write","msg_id":2,"key":"x","value":3}}
{"src":"c1","dest":"n1","id":2,"body":{"type":"read","msg_id":3,"key":"x"}}
EOF
    cat out
    expect_lines out <<\EOF
{"body":{"type":"init_ok","in_reply_to":1,"msg_id":0}}
{"body":{"type":"write_ok","in_reply_to":2}}
EOF
    expect_value 3 3
'

test_expect_success 'stdout holds only JSON lines, even with -v and a lone cluster member' '
    { init_line n1 n1,n2,n3
      client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"read","msg_id":3,"key":"x"}
EOF
    } >in3
    NODE_TIMEOUT=2 node_pipe -v <in3
    json_lines out
    solo >in1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"read","msg_id":3,"key":"x"}
{"type":"read","msg_id":4,"key":"y"}
EOF
    node_pipe -v <in1
    json_lines out
    expect_value 3 1
'

test_expect_success '200 writes and 200 reads in one pipe: each read sees the write before it' '
    { init_line n1 n1
      for i in $(seq 2 2 400); do
          k=$((i % 7))
          client_lines n1 <<EOF
{"type":"write","msg_id":$i,"key":$k,"value":$i}
{"type":"read","msg_id":$((i + 1)),"key":$k}
EOF
      done
    } >in
    node_pipe <in
    test "$(wc -l <out)" -eq 401
    jq -se "[.[].body.msg_id] == [range(0; length)]" out >/dev/null
    jq -se "all(.[] | select(.body.type == \"read_ok\"); .body.value == .body.in_reply_to - 1)" out >/dev/null
'

test_expect_success 'numbers come back exactly as a double holds them, 16 and 17 digits too' '
    # cJSON alone prints 9007199254740992 as 9.00719925474099e+15, which reads back as
    # 9007199254740990 (it accepts 15 digits when they are "close enough"): a changed
    # value for the client, and on the wire to a follower a replica that diverges.
    { init_line n1 n1
      i=2
      for v in 1000000000000001 9007199254740992 123456789012345678 0.1 -2.5e-300 1e300 -7; do
          client_lines n1 <<EOF
{"type":"write","msg_id":$i,"key":$i,"value":$v}
{"type":"read","msg_id":$((i + 1)),"key":$i}
EOF
          i=$((i + 2))
      done
    } | node_pipe
    json_lines out
    cat out
    # Each as printed, on some line of out.
    while IFS= read -r want; do
        grep -F -- "$want" out >/dev/null || { echo "no line of out holds: $want"; false; }
    done <<\EOF
"value":1000000000000001,
"value":9007199254740992,
"value":123456789012345680,
"value":0.1,
"value":-2.5e-300,
"value":1e+300,
"value":-7,
EOF
'

test_done
