# Stage 00: Maelstrom's lin-kv. Sourced by grade.sh; each grade_check is one line of
# the scorecard. One-node checks use a single-member cluster (node_ids ["n1"]), which
# is its own leader as soon as it can be: an error 11 is retried for up to 10 s.

grade_check example 'init is answered by init_ok with msg_id 0, the first line the node writes' '
    sample_case 00-init
    head -n 1 out >first
    mv first out
    expect_line "{\"body\":{\"type\":\"init_ok\"}}" "$GRADE_DIR/examples/00-init.in"
'

grade_check example 'init of n1 in a cluster n1, n2, n3 is answered at once (the sample cases'"'"' first line)' '
    sample_case 01-within-bound
'

grade_check example 'write, then read returns the value, then cas from it to a new one (lin-kv)' '
    session_start n1
    ask "$(pair_request 00-write)"
    expect_reply "$(pair_expected 00-write)"
    ask "$(pair_request 00-read)"
    expect_reply "$(pair_expected 00-read)"
    ask "$(pair_request 00-cas)"
    expect_reply "$(pair_expected 00-cas)"
    ask "$(pair_request 00-read)"
    expect_reply "{\"body\":{\"type\":\"read_ok\",\"value\":\"43\"}}"
    session_close
'

grade_check protocol 'read of a missing key: error 20; cas of a missing key: error 20' '
    session_start n1
    ask "{\"type\":\"read\",\"key\":\"nope\"}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":20}}"
    ask "{\"type\":\"cas\",\"key\":\"nope\",\"from\":1,\"to\":2}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":20}}"
    session_close
'

grade_check protocol 'cas whose from differs: error 22, and the value is unchanged' '
    session_start n1
    ask "{\"type\":\"write\",\"key\":\"k\",\"value\":1}"
    expect_reply "{\"body\":{\"type\":\"write_ok\"}}"
    ask "{\"type\":\"cas\",\"key\":\"k\",\"from\":5,\"to\":6}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":22}}"
    ask "{\"type\":\"read\",\"key\":\"k\"}"
    expect_reply "{\"body\":{\"type\":\"read_ok\",\"value\":1}}"
    session_close
'

grade_check protocol 'a missing field: error 12 whose text names it (read without key, write without value, cas without from)' '
    session_start n1
    ask "{\"type\":\"read\"}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":12}}"
    expect_text_names key
    ask "{\"type\":\"write\",\"key\":\"k\"}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":12}}"
    expect_text_names value
    ask "{\"type\":\"cas\",\"key\":\"k\",\"to\":2}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":12}}"
    expect_text_names from
    session_close
'

grade_check protocol 'an unknown type: error 10' '
    session_start n1
    ask "{\"type\":\"no_such_type\",\"key\":\"k\"}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":10}}"
    session_close
'

grade_check protocol 'an unparsable line is skipped: no reply to it, no crash, and the node still answers' '
    session_start n1
    printf "%s\n" "this is not json" "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"wri" "" >bad
    cat bad >>in
    cat bad >&"$node_in"
    ask "{\"type\":\"no_such_type\"}"
    session_close
    replied=$(jq -sc "[.[].body.in_reply_to]" out)
    echo "sent: init (msg_id 1), three bad lines, then msg_id 2; the node replied to: $replied"
    test "$replied" = "[1,2]"
'

grade_check protocol 'replies: lin-kv'"'"'s schemas, from the node, to the client, in_reply_to the request' '
    session_start n1
    ask "{\"type\":\"write\",\"key\":1,\"value\":10}"
    ask "{\"type\":\"read\",\"key\":1}"
    ask "{\"type\":\"cas\",\"key\":1,\"from\":10,\"to\":11}"
    ask "{\"type\":\"read\",\"key\":2}"
    session_close
    jq -se "all(.[]; type == \"object\" and .src == \"n1\")" out >/dev/null ||
        { echo "every line must be a JSON object from n1; got:"; cut -c1-300 out; exit 1; }
    # Maelstrom'"'"'s lin-kv schemas: msg_id is optional there (the next check asks for it).
    jq -c "select(.dest == \"c1\") | .body | select(
            (.in_reply_to | type) != \"number\"
            or (if .type == \"read_ok\" then has(\"value\")
                elif .type == \"write_ok\" or .type == \"cas_ok\" then true
                elif .type == \"error\" then (.code | type) == \"number\" and (.text // \"\" | type) == \"string\"
                else false end | not))" out >bad
    [ ! -s bad ] || { echo "replies off lin-kv'"'"'s schemas (read_ok {value}, write_ok, cas_ok, error {code, text}, each with in_reply_to):"; head -n 5 bad; exit 1; }
'

grade_check protocol 'msg_id: every message the node writes carries the next of one counter, 0, 1, 2, ...' '
    session_start n1
    ask "{\"type\":\"write\",\"key\":1,\"value\":10}"
    ask "{\"type\":\"read\",\"key\":2}"
    ask "{\"type\":\"no_such_type\"}"
    session_close
    ids=$(jq -sc "[.[].body.msg_id]" out)
    echo "msg_ids of the lines the node wrote: $ids (expected [0,1,2,...])"
    jq -se "[.[].body.msg_id] == [range(0; length)]" out >/dev/null
'

grade_check protocol 'an extra top-level "id" on a message is ignored' '
    session_start n1
    echo "{\"id\":7,\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"write\",\"msg_id\":90,\"key\":\"i\",\"value\":3}}" >>in
    tail -n 1 in >&"$node_in"
    session_await_ 90 10 || { echo "sent: $(tail -n 1 in)"; echo "got: no reply to msg_id 90"; exit 1; }
    asked=$(tail -n 1 in)
    expect_reply "{\"body\":{\"type\":\"write_ok\",\"in_reply_to\":90}}"
    session_close
'

grade_check protocol 'end of input: the node exits with status 0 within 500 ms of its stdin closing' '
    session_start n1
    ask "{\"type\":\"write\",\"key\":\"k\",\"value\":1}"
    session_close
    echo "exit status $exit_status, ${eof_ms} ms after stdin closed (limit $(scaled 500) ms)"
    [ "$exit_status" -eq 0 ]
    awk -v e="$eof_ms" -v l="$(scaled 500)" "BEGIN { exit !(e <= l) }"
'

grade_check protocol 'end of input: a request a lone member of n1, n2, n3 cannot serve is answered (error 11) before it exits' '
    {
        init_line n1 n1,n2,n3
        client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":1}"
    } >in
    pipe_through in
    asked=$(tail -n 1 in)
    jq -c "select(.body.in_reply_to == 2)" out >reply
    expect_reply "{\"src\":\"n1\",\"dest\":\"c1\",\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":11}}"
'

# ---- a 3-node cluster under the runner ----

grade_check faults 'a 3-node cluster acknowledges a write within 10 s of init (readiness)' '
    # Writes go round-robin to n1..n3; the first acknowledged one says when the cluster
    # is ready. Later scenarios start their faults from then, plus a margin (x1.5 + 0.5 s).
    for limit in 2 10; do
        status=0
        timeout -k 2 "$(scaled 60)" "$CLUSTER" --bin "$NODE" --nodes 3 --init-timeout-ms 10000 --concurrency 3 --rate 20 \
            --mix write=1 --target round-robin --time-limit "$limit" --timeout-ms 2000 \
            --history h.jsonl --summary-json s.json --log-dir logs --quiet >summary 2>runner.err || status=$?
        first=$(jq -s "[.[] | select(.type == \"ok\" and .f == \"write\")][0].time_us // empty" h.jsonl 2>/dev/null || true)
        [ -n "$first" ] && break
        # Only "not yet" answers (11, or none) are worth a longer wait.
        jq -se "all(.[] | select(.type == \"fail\"); .error == 11)" h.jsonl >/dev/null 2>&1 || break
    done
    if [ -z "$first" ]; then
        echo "no write was acknowledged in ${limit} s (runner status $status)"
        [ -s h.jsonl ] || { cut -c1-300 runner.err | tail -n 5; exit 1; }
        echo "the first answers:"
        jq -c "select(.type != \"invoke\") | {node, type, error, text}" h.jsonl | head -n 3
        exit 1
    fi
    ready=$(awk -v t="$first" "BEGIN { printf \"%.1f\", t / 1e6 * 1.5 + 0.5 }")
    echo "first write acknowledged at $(awk -v t="$first" "BEGIN { printf \"%.3f\", t / 1e6 }") s; scenarios start at $ready s"
    echo "$ready" >"$test_scratch/ready_at"
'

grade_check faults 'a write acknowledged by one node is then read at every node' '
    run_cluster 00-visible.txt
    ok_of 1 >ops
    cat ops
    jq -se "length == 4 and all(.[]; .type == \"ok\") and ([.[1:][].value] == [\"v1\", \"v1\", \"v1\"])" ops >/dev/null || {
        echo "expected: write x \"v1\" at n1 acknowledged, then read x at n1, n2 and n3 each returning \"v1\""
        judge_linearizable || true
        exit 1
    }
    judge_linearizable
'

if fault_run_wanted 0; then
    grade_check faults 'partitions (each node cut off in turn) and a pause: the history is linearizable' '
        fault_run read=50,write=30,cas=20
        need_ok_ops 30
        judge_linearizable
    '
else
    grade_check faults 'partitions and a pause, read/write/cas' 'grade_skip "short mode: the highest stage'"'"'s fault run covers these ops"'
fi

if fault_run_wanted 0 && [ "${GRADE_SHORT:-0}" != 1 ]; then
    grade_check faults 'kill -9 and restart (with --data-dir) under load: the history is linearizable' '
        timeout -k 1 5 "$NODE" --help </dev/null 2>&1 | grep -q -- --data-dir || grade_skip "the node'"'"'s --help does not mention --data-dir"
        run_cluster kills.txt --data-dir "$PWD/data" --concurrency 5 --rate 100 --keys 3 \
            --time-limit "$(awk -v r="$(ready_at)" "BEGIN { print r + 5 }")"
        need_ok_ops 30
        judge_linearizable
    '
fi
