# Stage 02: read-your-writes (commit_index tokens, ryw_read). Sourced by grade.sh.

grade_check example 'sample: read-your-writes from follower (n1 of n1..n3, alone, token 5): init_ok, no value, error 11 at the end' '
    lone_member_sample 02-ryw-from-follower ryw_read_ok "a lone member that has applied nothing served token 5"
'

grade_check example 'sample: follower behind redirects to leader (n1 of n1..n3, alone, token 999): init_ok, no value, error 11 at the end' '
    lone_member_sample 02-behind-redirects ryw_read_ok "a lone member served token 999"
'

grade_check example 'write_ok carries commit_index (an integer >= 1); ryw_read with it as last_write_index returns the value (one node)' '
    session_start n1
    ask "$(pair_request 02-write)"
    expect_reply "$(pair_expected 02-write commit_index)"
    token=$(jq ".body.commit_index" reply)
    jq -e ".body.commit_index | type == \"number\" and . == floor and . >= 1" reply >/dev/null ||
        { echo "sent:     $asked"; echo "got:      $(cat reply)"; echo "expected: commit_index, an integer >= 1"; exit 1; }
    ask "$(pair_request 02-from-follower | jq -c --argjson t "$token" ".last_write_index = \$t")"
    expect_reply "$(pair_expected 02-from-follower served_by follower_applied_index waited_ms)"
    expect_reply "{\"body\":{\"served_by\":\"n1\"}}"
    session_close
'

grade_check example 'ryw_read at the followers of a 3-node cluster with the writer'"'"'s token: "new", a follower serves it itself; token 999: error 11 everywhere' '
    run_cluster 02-examples.txt
    jq -c "select(.type != \"invoke\" and .f == \"ryw_read\")" h.jsonl >reads
    cat reads
    expected=$(pair_expected 02-from-follower served_by follower_applied_index waited_ms | jq -c ".body | del(.type, .in_reply_to) | .type = \"ok\" | .f = \"ryw_read\"")
    echo "the two reads with c1'"'"'s token: each $expected; one served_by the node asked, with follower_applied_index >= the token and waited_ms a number"
    jq -se --argjson e "$expected" "$json_lib_"'"'"'[.[] | select(.process == 1)] | length == 2 and all(.[]; subset($e; .))
        and any(.[]; .served_by == .node and .follower_applied_index >= .last_write_index and (.waited_ms | type) == "number")'"'"' reads >/dev/null
    echo "token 999 at n1, n2, n3: each error 11"
    jq -se "[.[] | select(.last_write_index == 999)] | length == 3 and all(.[]; .type == \"fail\" and .error == 11)" reads >/dev/null
'

if [ "${GRADE_SHORT:-0}" != 1 ]; then
    grade_check example 'a follower behind the token (100 ms links) waits or redirects: "new", and a redirect says follower_behind_redirected_to_leader' '
        run_cluster 02-behind.txt --latency-ms 100
        jq -c "select(.type != \"invoke\" and .process <= 3)" h.jsonl >ops
        cat ops
        jq -c "select(.f == \"ryw_read\")" ops >reads
        expected=$(pair_expected 02-follower-behind served_by reason | jq -c ".body | del(.type, .in_reply_to) | .type = \"ok\" | .f = \"ryw_read\"")
        echo "each: $expected; served_by another node than the one asked only with reason \"follower_behind_redirected_to_leader\""
        jq -se --argjson e "$expected" "$json_lib_"'"'"'length == 3 and all(.[]; subset($e; .)
            and (.served_by == .node or .reason == "follower_behind_redirected_to_leader"))'"'"' reads >/dev/null
        echo "redirected: $(jq -s "[.[] | select(.served_by != .node)] | length" reads) of 3 (a follower may also wait until it has applied the token)"
        judge_ryw
    '
fi

grade_check protocol 'ryw_read of a missing key: error 20; missing last_write_index or prefer_follower: error 12 naming it' '
    session_start n1
    ask "{\"type\":\"ryw_read\",\"key\":\"nope\",\"last_write_index\":0,\"prefer_follower\":true}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":20}}"
    ask "{\"type\":\"ryw_read\",\"key\":\"x\",\"prefer_follower\":true}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":12}}"
    expect_text_names last_write_index
    ask "{\"type\":\"ryw_read\",\"key\":\"x\",\"last_write_index\":0}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":12}}"
    expect_text_names prefer_follower
    session_close
'

grade_check protocol 'a token beyond anything committed (999, one node): after a bounded wait, error 11 naming 999, never a value' '
    session_start n1
    ask "{\"type\":\"write\",\"key\":\"x\",\"value\":1}"
    ask_once "{\"type\":\"ryw_read\",\"key\":\"x\",\"last_write_index\":999,\"prefer_follower\":true}" 5
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":11}}"
    expect_text_names 999
    session_close
'

if fault_run_wanted 2; then
    grade_check faults 'partitions and a pause with ryw_read sessions: read-your-writes holds, the rest is linearizable' '
        fault_run read=20,write=30,cas=15,follower_read=15,ryw_read=20
        need_ok_ops 30
        need_ok_ops 10 ryw_read
        judge_ryw
        judge_staleness
        judge_linearizable
    '
else
    grade_check faults 'partitions and a pause with ryw_read sessions' 'grade_skip "short mode: the highest stage'"'"'s fault run covers ryw_read"'
fi
