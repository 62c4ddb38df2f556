#!/usr/bin/env bash
# A follower's read index (SPEC.md, "Peer messages": `read_index`), with the leader n2
# played by hand. Reference-only: it plays the reference nodes' peer protocol, which the
# grader never looks at (a student's node may redirect a tight bound to the leader).
# A follower_read whose bound is tighter than heartbeats can prove makes the follower
# ask its leader for a read index; the follower serves the read itself, linearizable,
# once it has applied that index, and only with an answer from the leader's life and
# term it asked, to a request sent after the read arrived.
. "$(dirname "$0")/lib.sh"

"$NODE_BIN" --help 2>/dev/null | grep -q "follower_read" ||
    skip_all "$NODE_BIN has no follower_read (stage 01 and later)"

# n1 follows n2 (term 1, life 42). Its life is pinned to 7 so an answer can echo it.
# A 500 ms heartbeat makes any bound under 1.5 s a read-index bound, and gives a read
# min(1.5 s, timeout / 3) = 1.5 s to be answered before it falls back to the leader
# (both stretched under READPATH_TIME_SCALE, as the test's own pauses are).
start_follower() {
    READPATH_INCARNATION=7 node_start --election-timeout-ms "$(scaled 30000 | cut -d. -f1)" \
        --heartbeat-ms "$(scaled 500 | cut -d. -f1)" --request-timeout-ms "$(scaled 6000 | cut -d. -f1)"
    init_line n1 n1,n2 >&3
}

# append ROUND COMMIT PREV_INDEX ENTRIES: an append from n2, term 1, life 42.
append() {
    client_line n1 "{\"type\":\"raft_append\",\"term\":1,\"prev_log_index\":$3,\"prev_log_term\":$([ "$3" -gt 0 ] && echo 1 || echo 0),\"leader_commit\":$2,\"round\":$1,\"incarnation\":42,\"entries\":$4}" n2
}
noop_and_x='[{"term":1,"command":{"type":"noop"}},{"term":1,"command":{"type":"write","key":"x","value":"v2"}}]'

# read MSG_ID: a follower_read of x with a 10 ms bound.
read_x() {
    client_line n1 "{\"type\":\"follower_read\",\"msg_id\":$1,\"key\":\"x\",\"max_staleness_ms\":10}" >&3
}

# The Nth forward of a read_index request n1 sent (1-based).
nth_ask() {
    wait_for '.body.type == "forward" and .body.request.type == "read_index"' >/dev/null || return 1
    jq -c 'select(.body.type == "forward" and .body.request.type == "read_index")' out | sed -n "$1p"
}

# answer FORWARD INDEX [TERM] [LIFE]: n2's read_index_ok to that forward.
answer() {
    local id
    id=$(echo "$1" | jq .body.forward_id)
    client_line n1 "{\"type\":\"forward_res\",\"forward_id\":$id,\"incarnation\":7,\"reply\":{\"type\":\"read_index_ok\",\"read_index\":$2,\"term\":${3:-1},\"incarnation\":${4:-42}}}" n2
}

replies_to() { jq -c "select(.dest == \"c1\" and .body.in_reply_to == $1)" out; }

test_expect_success 'a tight bound: n1 asks n2 for a read index and serves the read itself, linearizable' '
    start_follower
    append 1 2 0 "$noop_and_x" >&3
    wait_for ".body.type == \"raft_append_res\" and .body.round == 1" >/dev/null
    read_x 5
    ask=$(nth_ask 1)
    echo "asked: $ask"
    echo "$ask" | jq -e ".dest == \"n2\" and .body.incarnation == 7 and .body.to_incarnation == 42" >/dev/null
    answer "$ask" 2 >&3
    reply=$(wait_for ".body.in_reply_to == 5")
    node_stop || true
    echo "reply: $reply"
    echo "$reply" | jq -e ".body | .type == \"follower_read_ok\" and .value == \"v2\" and
        .served_by == \"n1\" and .linearizable == true and .reason == \"follower_read_index\" and
        .actual_staleness_ms == 0" >/dev/null
'

test_expect_success 'an index n1 has not applied yet: the read waits for it, then shows that write' '
    start_follower
    append 1 1 0 "$noop_and_x" >&3 # x = v2 is in the log, not committed
    wait_for ".body.type == \"raft_append_res\" and .body.round == 1" >/dev/null
    read_x 5
    answer "$(nth_ask 1)" 2 >&3
    sleep "$(scaled 0.3)"
    echo "answered index 2 with 1 applied; replies so far: $(replies_to 5)"
    [ -z "$(replies_to 5)" ]
    append 2 2 2 "[]" >&3 # now index 2 is committed
    reply=$(wait_for ".body.in_reply_to == 5")
    node_stop || true
    echo "reply: $reply"
    echo "$reply" | jq -e ".body.value == \"v2\" and .body.reason == \"follower_read_index\"" >/dev/null
'

# An answer n1 must not use: the read is redirected to the leader instead.
expect_redirected() {
    start_follower
    append 1 2 0 "$noop_and_x" >&3
    wait_for ".body.type == \"raft_append_res\" and .body.round == 1" >/dev/null
    read_x 5
    answer "$(nth_ask 1)" 2 "$@" >&3
    redirect=$(wait_for ".body.type == \"forward\" and .body.request.type == \"follower_read\"")
    served=$(replies_to 5)
    node_stop || true
    echo "redirected: $redirect"
    echo "$redirect" | jq -e ".body.request.max_staleness_ms == 0" >/dev/null
    [ -z "$served" ]
    grep "read index for batch 1: term" err
    grep -q "ignored -> its reads go to the leader" err
}

test_expect_success 'negative control: an answer from another term is not used; the read goes to the leader' '
    expect_redirected 2 42
'

test_expect_success 'negative control: an answer from another life of the leader is not used' '
    expect_redirected 1 43
'

test_expect_success 'a read that arrives while a request is in flight rides the next one, and a duplicated answer serves nothing' '
    start_follower
    append 1 2 0 "$noop_and_x" >&3
    wait_for ".body.type == \"raft_append_res\" and .body.round == 1" >/dev/null
    read_x 5
    first=$(nth_ask 1)
    read_x 6 # arrives after the first request went out
    sleep "$(scaled 0.2)"
    echo "read_index requests while the first is in flight: $(jq -c "select(.body.request.type == \"read_index\")" out | wc -l)"
    [ "$(jq -c "select(.body.request.type == \"read_index\")" out | wc -l)" -eq 1 ]
    answer "$first" 2 >&3
    wait_for ".body.in_reply_to == 5" >/dev/null
    second=$(nth_ask 2)
    echo "second request: $second"
    answer "$first" 2 >&3 # the first answer again, as a duplicating network would
    sleep "$(scaled 0.3)"
    echo "after the duplicate, replies to the later read: $(replies_to 6)"
    [ -z "$(replies_to 6)" ]
    answer "$second" 2 >&3
    reply=$(wait_for ".body.in_reply_to == 6")
    node_stop || true
    echo "$reply" | jq -e ".body.reason == \"follower_read_index\"" >/dev/null
'

test_expect_success 'no leader known: no read index is asked; the read waits for a leader and is redirected to it' '
    start_follower
    read_x 5
    sleep "$(scaled 0.2)"
    append 1 2 0 "$noop_and_x" >&3
    redirect=$(wait_for ".body.type == \"forward\" and .body.request.type == \"follower_read\"")
    node_stop || true
    echo "redirected: $redirect"
    [ "$(jq -c "select(.body.request.type == \"read_index\")" out | wc -l)" -eq 0 ]
'

test_expect_success 'a client asking for a read_index gets error 10' '
    {
        init_line n1 n1
        client_line n1 "{\"type\":\"read_index\",\"msg_id\":2}"
    } | node_pipe
    json_reply 2 out | jq -e ".body.type == \"error\" and .body.code == 10" >/dev/null
'

test_done
