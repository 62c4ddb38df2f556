# Stage 03: lease reads (lease_read, lease_read_config). Sourced by grade.sh.

config() { # config L E S: a lease_read_config body
    printf '{"type":"lease_read_config","lease_duration_ms":%s,"election_timeout_ms":%s,"max_clock_skew_ms":%s}' "$@"
}

grade_check example 'sample: lease read with zero round trips (n1 of n1..n3, alone): init_ok, no value, error 11 at the end' '
    lone_member_sample 03-zero-round-trips lease_read_ok "a lone member of three, which can hold no lease, served"
'

grade_check example 'sample: safe lease configuration (one node): exactly the sample'"'"'s two lines, msg_id 0 and 1' '
    sample_case 03-safe-config
    test "$(wc -l <out)" -eq 2 || { echo "expected exactly 2 lines, got $(wc -l <out):"; cut -c1-300 out; exit 1; }
'

grade_check example 'lease_read at a one-node leader: the value, lease_valid:true, network_round_trips:0' '
    session_start n1
    ask "{\"type\":\"write\",\"key\":\"x\",\"value\":\"42\"}"
    ask "$(pair_request 03-lease-read)"
    expect_reply "$(pair_expected 03-lease-read)"
    session_close
'

grade_check example 'lease_read_config 3000/5000/500: safe:true, effective_lease_ms 2500' '
    session_start n1
    ask "$(pair_request 03-lease-config)"
    expect_reply "$(pair_expected 03-lease-config reason)"
    session_close
'

grade_check example 'lease_read at every node of a quiet 3-node cluster: the leader answers lease_valid:true with 0 round trips; all linearizable' '
    run_cluster 03-examples.txt
    jq -c "select(.type != \"invoke\" and .f == \"lease_read\")" h.jsonl >reads
    cat reads
    jq -se "length == 3 and all(.[]; .type == \"ok\" and .value == \"42\")
        and any(.[]; .lease_valid == true and .network_round_trips == 0)" reads >/dev/null ||
        { echo "expected: three lease_read_ok with value \"42\", one of them lease_valid:true, network_round_trips:0"; exit 1; }
    mark_lease_reads
    judge_linearizable h-lease.jsonl
'

grade_check protocol 'lease_read of a missing key: error 20; without a key: error 12 naming it' '
    session_start n1
    ask "{\"type\":\"lease_read\",\"key\":\"nope\"}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":20}}"
    ask "{\"type\":\"lease_read\"}"
    expect_reply "{\"body\":{\"type\":\"error\",\"code\":12}}"
    expect_text_names key
    session_close
'

grade_check protocol 'lease_read_config with a field missing: error 12 naming it (each of the three)' '
    session_start n1
    for field in lease_duration_ms election_timeout_ms max_clock_skew_ms; do
        ask "$(config 3000 5000 500 | jq -c --arg f "$field" "del(.[\$f])")"
        expect_reply "{\"body\":{\"type\":\"error\",\"code\":12}}"
        expect_text_names "$field"
    done
    session_close
'

grade_check protocol 'an unsafe config (5200/5000/500: the lease outlasts the election timeout on a fast clock): safe:false' '
    session_start n1
    ask "$(config 5200 5000 500)"
    expect_reply "{\"body\":{\"type\":\"lease_read_config_ok\",\"safe\":false,\"effective_lease_ms\":4700}}"
    session_close
'

grade_check faults 'partitions and a pause with lease reads: every lease read is linearizable (and so is the rest)' '
    fault_run read=15,write=30,cas=15,follower_read=10,ryw_read=15,lease_read=15
    need_ok_ops 30
    need_ok_ops 10 lease_read
    judge_ryw
    judge_staleness
    mark_lease_reads
    judge_linearizable h-lease.jsonl
'
