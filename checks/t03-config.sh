#!/usr/bin/env bash
# Stage 03: a lease configuration in the log, seen from one node driven by hand.
# SPEC.md, "Stage 03": a node adopts a *larger* election timeout (its stickiness
# window) as soon as a lease_config entry reaches its log, a *smaller* one only when it
# applies the entry; the leader cuts its lease when it appends a config with a shorter
# one. The follower cases feed n2 of n1..n3 the appends a leader n1 would send, and ask
# it for a pre-vote from n3 after a pause: its answer shows the window it obeys. The
# pause is the quantity under test, not a wait for an event, so it is not scaled by
# READPATH_TIME_SCALE: 1 s lies far from both windows it separates (300 ms and 10 s), and
# a slow machine (sanitizers) only stretches it towards the larger by a few hundred ms.
. "$(dirname "$0")/lib.sh"

# append PREV_INDEX LEADER_COMMIT ENTRIES_JSON: a raft_append from n1 in term 1.
append() {
    client_line n2 "{\"type\":\"raft_append\",\"term\":1,\"prev_log_index\":$1,\"prev_log_term\":$([ "$1" -gt 0 ] && echo 1 || echo 0),\"leader_commit\":$2,\"round\":1,\"entries\":$3}" n1
}
config_entry() { # config_entry L E S
    printf '{"term":1,"command":{"type":"lease_config","lease_duration_ms":%s,"election_timeout_ms":%s,"max_clock_skew_ms":%s}}' "$@"
}
NOOP='{"term":1,"command":{"type":"noop"}}'
# A pre-vote for term 2 from n3, whose log (3 entries of term 1) is as long as any here.
prevote() { client_line n2 '{"type":"raft_vote","term":2,"pre_vote":true,"last_log_index":3,"last_log_term":1}' n3; }
pause() { sleep "$1"; }
PREVOTE_REFUSED='{"src":"n2","dest":"n3","body":{"type":"raft_vote_res","for_term":2,"pre_vote":true,"granted":false}}'
PREVOTE_GRANTED='{"src":"n2","dest":"n3","body":{"type":"raft_vote_res","for_term":2,"pre_vote":true,"granted":true}}'

test_expect_success 'control: without a config, a follower grants a pre-vote 1 s after the leader last spoke (window 300 ms)' '
    { init_line n2 n1,n2,n3
      append 0 1 "[$NOOP]"
      pause 1
      prevote
    } | node_pipe -v
    json_subset "$PREVOTE_GRANTED" out
'

test_expect_success 'a larger window is adopted when the entry arrives, before it commits: the pre-vote is refused' '
    { init_line n2 n1,n2,n3
      append 0 0 "[$NOOP,$(config_entry 10000 10000 1000)]"
      pause 1
      prevote
    } | node_pipe -v
    grep "lease_config entry in the log -> election timeout and stickiness window 10000 ms (was 300)" err
    json_subset "$PREVOTE_REFUSED" out
    json_absent "$PREVOTE_GRANTED" out
'

test_expect_success 'a smaller window waits for the entry to apply: refused while it is only in the log, granted after' '
    { init_line n2 n1,n2,n3
      append 0 2 "[$NOOP,$(config_entry 10000 10000 1000)]"
      append 2 2 "[$(config_entry 200 300 50)]"
      pause 1
      prevote
      append 3 3 "[]"
      pause 1
      prevote
    } | node_pipe -v
    grep -n "stickiness window" err
    grep "lease_config applied -> election timeout and stickiness window 300 ms (was 10000)" err
    refute grep "lease_config entry in the log -> election timeout and stickiness window 300 ms" err
    json_subsets out "$PREVOTE_REFUSED" "$PREVOTE_GRANTED"
    # In that order: the refusal came first.
    jq -sc "[.[] | select(.body.type == \"raft_vote_res\") | .body.granted]" out | tee answers
    test "$(cat answers)" = "[false,true]"
'

test_expect_success 'the leader cuts its lease when it appends a config with a shorter one' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":1}"
      client_line n1 "{\"type\":\"lease_read\",\"msg_id\":3,\"key\":\"x\"}"
      client_line n1 "{\"type\":\"lease_read_config\",\"msg_id\":4,\"lease_duration_ms\":100,\"election_timeout_ms\":300,\"max_clock_skew_ms\":40}"
    } | node_pipe -v
    json_subsets out "{\"body\":{\"in_reply_to\":3,\"lease_valid\":true}}" \
                     "{\"body\":{\"in_reply_to\":4,\"safe\":true,\"effective_lease_ms\":60}}"
    grep "lease_config appended -> lease cut to 60 ms after its start" err
'

test_expect_success 'an append whose entry has an out-of-range term is survived (no float-to-integer overflow)' '
    { init_line n2 n1,n2,n3
      append 0 0 "[{\"term\":1e300,\"command\":{\"type\":\"lease_config\",\"lease_duration_ms\":400,\"election_timeout_ms\":500,\"max_clock_skew_ms\":50}}]"
      append 0 0 "[$NOOP]"
    } | node_pipe -v
    # The malformed entry is ignored (by the lease plugin and by raft); the next append is taken.
    refute grep "stickiness window 500 ms" err
    json_subset "{\"src\":\"n2\",\"dest\":\"n1\",\"body\":{\"type\":\"raft_append_res\",\"success\":true,\"match_index\":1}}" out
'

test_expect_success 'a lease_config entry no client could have proposed (a field beyond an hour) is ignored' '
    { init_line n2 n1,n2,n3
      append 0 0 "[$NOOP,$(config_entry 9007199254740992 500 0)]"
    } | node_pipe -v
    refute grep "stickiness window 500 ms" err
    json_subset "{\"src\":\"n2\",\"dest\":\"n1\",\"body\":{\"type\":\"raft_append_res\",\"success\":true,\"match_index\":2}}" out
'

# More than LEASE_MAX_UNAPPLIED (64) configs waiting in the log overflow the list a node
# keeps: the newest is then unrecorded, and the node must not trust the newest one it
# did record. Here n1 gets, from a leader n2 of term 1 later deposed, 64 configs with a
# 1900 ms lease (2000/2000/100), then one with 300 ms (400/2000/100), the newest. It wins
# term 2 (the grants are fed by hand once its 2000 ms window has passed: pinned), n3
# acknowledges rounds while holding entry 65 (not 66), then the no-op, and goes silent.
# A read 1 s after that last acknowledged round is past any lease but the stale 1900 ms
# one: it must not be served on the lease (error 20, key missing, would say it was);
# it waits for a round n3 never acknowledges and is answered 11 when the input closes.
test_expect_success 'overflowed config list: the leader does not grant the lease of a stale, longer config' '
    entries=$NOOP
    for i in $(seq 64); do entries="$entries,$(config_entry 2000 2000 100)"; done
    ack() { # ack MATCH_INDEX: n3 acknowledges every round up to 60 in term 2
        for r in $(seq 60); do
            client_line n1 "{\"type\":\"raft_append_res\",\"term\":2,\"success\":true,\"match_index\":$1,\"conflict_index\":0,\"prev_log_index\":$1,\"round\":$r,\"incarnation\":7}" n3
        done
    }
    { init_line n1 n1,n2,n3
      client_line n1 "{\"type\":\"raft_append\",\"term\":1,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"round\":1,\"entries\":[$entries]}" n2
      client_line n1 "{\"type\":\"raft_append\",\"term\":1,\"prev_log_index\":65,\"prev_log_term\":1,\"leader_commit\":0,\"round\":2,\"entries\":[$(config_entry 400 2000 100)]}" n2
      pause 2.4
      client_line n1 "{\"type\":\"raft_vote_res\",\"term\":1,\"for_term\":2,\"pre_vote\":true,\"granted\":true}" n3
      client_line n1 "{\"type\":\"raft_vote_res\",\"term\":2,\"for_term\":2,\"pre_vote\":false,\"granted\":true}" n3
      pause 0.2
      ack 66
      pause 0.2
      ack 66
      pause 0.2
      ack 67
      pause 0.8
      client_line n1 "{\"type\":\"lease_read\",\"msg_id\":2,\"key\":\"x\"}"
    } | READPATH_PIN_ELECTION_TIMEOUT=1 READPATH_INCARNATION=7 node_pipe -v
    grep "more than 64 lease configs in flight" err
    grep "won election with 2 of 3 votes -> leader of term 2, no-op at 67" err
    grep -q "\"leader_commit\":67" out
    json_reply 2 out
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":11}}" out
'

# A node restarted with --data-dir gets its log back but not its commit index: the
# configs in it count at once, like entries that have just arrived. Without that, a
# follower that acknowledged a lease under a larger window would come back obeying the
# flags' smaller one and could vote before the leader's lease ends.
if "$NODE_BIN" --help 2>&1 | grep -q -- --data-dir; then
    test_expect_success 'restarted with --data-dir, a follower obeys the larger window of a config in its restored log' '
        { init_line n2 n1,n2,n3
          append 0 0 "[$NOOP,$(config_entry 10000 10000 1000)]"
        } | node_pipe --data-dir "$PWD/data"
        { init_line n2 n1,n2,n3
          pause 1
          prevote
        } | node_pipe -v --data-dir "$PWD/data"
        grep "stickiness window 10000 ms (was 300)" err
        json_subset "$PREVOTE_REFUSED" out
        json_absent "$PREVOTE_GRANTED" out
    '
else
    test_count=$((test_count + 1))
    echo "ok $test_count - restarted with --data-dir, a follower obeys the larger window of a config in its restored log # SKIP this node has no --data-dir"
fi

test_done
