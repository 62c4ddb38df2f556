# Stage 01: follower_read with a bounded staleness. Sourced by grade.sh.

grade_check example 'sample: follower read within staleness bound (n1 of n1..n3, alone): init_ok, and no value it cannot vouch for' '
    sample_case 01-within-bound
    # Alone it has heard from no leader: it can prove no bound, so it serves nothing.
    jq -c "select(.body.type == \"follower_read_ok\")" out >served
    [ ! -s served ] || { echo "a lone member that never heard from a leader answered:"; cat served; exit 1; }
'

grade_check example 'sample: zero staleness redirects to leader (n1 of n1..n3, alone): init_ok, then error 11 when its input ends' '
    sample_case 01-zero-staleness
    asked=$(tail -n 1 in)
    jq -c "select(.body.in_reply_to == 2)" out >reply
    expect_reply "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":11}}"
'

# One cluster run for both request/response examples; the second check reads its history.
grade_check example 'follower_read with max_staleness_ms 0 at every node of a 3-node cluster: all name one leader, linearizable:true' '
    run_cluster 01-examples.txt
    cp h.jsonl "$test_scratch/01-examples.jsonl"
    expected=$(pair_expected 01-zero served_by | jq -c ".body | del(.type, .in_reply_to) | .type = \"ok\" | .f = \"follower_read\"")
    echo "expected of each reply, as a history line: $expected (served_by: the same node in all three)"
    jq -c "select(.max_staleness_ms == 0 and .type != \"invoke\")" h.jsonl >zero
    cat zero
    test "$(wc -l <zero)" -eq 3
    jq -se --argjson e "$expected" "$json_lib_"'"'"'all(.[]; subset($e; .)) and ([.[].served_by] | unique | length == 1 and (.[0] | type) == "string")'"'"' zero >/dev/null
'

grade_check example 'follower_read with max_staleness_ms 5000 at every node: a follower serves it itself, linearizable:false, actual_staleness_ms 0..5000' '
    [ -s "$test_scratch/01-examples.jsonl" ] || { echo "not run: the cluster run of the check before wrote no history"; exit 1; }
    cp "$test_scratch/01-examples.jsonl" h.jsonl
    leader=$(jq -r "select(.max_staleness_ms == 0 and .type == \"ok\") | .served_by" h.jsonl | head -n 1)
    echo "the leader, as the max_staleness_ms 0 reads named it: ${leader:-unknown}"
    jq -c "select(.max_staleness_ms == 5000 and .type != \"invoke\")" h.jsonl >bounded
    cat bounded
    expected=$(pair_expected 01-bounded served_by actual_staleness_ms | jq -c ".body | del(.type, .linearizable, .in_reply_to) | .type = \"ok\" | .f = \"follower_read\"")
    echo "each: $expected; served locally (served_by the node asked, linearizable:false, actual_staleness_ms an integer 0..5000) or by the leader (linearizable:true)"
    jq -se --argjson e "$expected" "$json_lib_"'"'"'length == 3 and all(.[]; subset($e; .)
        and (if .linearizable == false
             then .served_by == .node and (.actual_staleness_ms | type == "number" and . == floor and . >= 0 and . <= 5000)
             else .linearizable == true end))'"'"' bounded >/dev/null
    echo "served locally by a node other than the leader:"
    jq -se --arg l "$leader" "[.[] | select(.linearizable == false and .node != \$l)] | length > 0" bounded
'

grade_check protocol 'follower_read of a missing key: error 20; a missing or negative max_staleness_ms: error 12 naming it' '
    session_start n1
    ask "{\"type\":\"follower_read\",\"key\":\"nope\",\"max_staleness_ms\":1000}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":20}}"
    ask "{\"type\":\"follower_read\",\"key\":\"x\"}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":12}}"
    expect_text_names max_staleness_ms
    ask "{\"type\":\"follower_read\",\"key\":\"x\",\"max_staleness_ms\":-1}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":12}}"
    expect_text_names max_staleness_ms
    session_close
'

if fault_run_wanted 1; then
    grade_check faults 'partitions and a pause with follower reads (bound 500 ms): every claimed bound holds, the rest is linearizable' '
        fault_run read=30,write=30,cas=15,follower_read=25
        need_ok_ops 30
        need_ok_ops 10 follower_read
        judge_staleness
        judge_linearizable
    '
else
    grade_check faults 'partitions and a pause with follower reads' 'grade_skip "short mode: the highest stage'"'"'s fault run covers follower_read"'
fi
