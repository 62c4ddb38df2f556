#!/usr/bin/env bash
# Stage 01's proof rides on Raft's own messages (SPEC.md, "Peer messages": `piggyback`).
# Reference-only: this suite plays the leader n2 by hand, so it depends on the reference
# nodes' peer protocol (the grader never does). It checks the wire shape SPEC.md
# documents: a follower stamps every ack under piggyback.follower_read, and a pair the
# leader hands back there, naming the follower's own life, is what lets it serve a
# follower_read itself. Anywhere else (Raft's own fields, another feature's object) or
# naming another life, the same pair proves nothing and the read goes to the leader.
. "$(dirname "$0")/lib.sh"

"$NODE_BIN" --help 2>/dev/null | grep -q "follower_read" ||
    skip_all "$NODE_BIN has no follower_read (stage 01 and later)"

# Starts n1 as a follower of n2 (a long election timeout keeps it from campaigning),
# with its stdin on fd 3.
start_follower() {
    node_start --election-timeout-ms 10000
    init_line n1 n1,n2 >&3
}

# append ROUND [PIGGYBACK-FIELD]: an empty append from the leader n2 in term 1.
append() {
    client_line n1 "{\"type\":\"raft_append\",\"term\":1,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"round\":$1,\"incarnation\":42,\"entries\":[]${2:+,$2}}" n2
}

# The stamp n1 put on its first ack: {stamp_us, incarnation}.
first_stamp() {
    append 1 >&3
    wait_for '.body.type == "raft_append_res" and .body.round == 1' |
        jq -c '.body.piggyback.follower_read'
}

# read_with_pair WHERE PAIR: starts n1, builds a pair from its first stamp with the jq
# filter PAIR, hands it back at WHERE (a JSON fragment in which PAIR stands for it), asks
# for a follower_read of a missing key with a bound of 60 s, and waits for the outcome:
# the reply (n1 served it) or a forward to n2 (it did not). Sets $pair and $outcome.
read_with_pair() {
    start_follower
    pair=$(first_stamp | jq -c "$2")
    append 2 "${1//PAIR/$pair}" >&3
    wait_for '.body.type == "raft_append_res" and .body.round == 2' >/dev/null
    client_line n1 '{"type":"follower_read","msg_id":5,"key":"x","max_staleness_ms":60000}' >&3
    outcome=$(wait_for '.body.in_reply_to == 5 or (.dest == "n2" and .body.type == "forward")')
    node_stop || true
    echo "pair at ${1//PAIR/$pair}"
    echo "outcome: $outcome"
}

# A pair n1 must not believe: the read is forwarded to the leader, never served.
expect_forwarded() {
    read_with_pair "$@"
    echo "$outcome" | jq -e ".dest == \"n2\" and .body.type == \"forward\"" >/dev/null
}

test_expect_success 'every ack carries piggyback.follower_read {stamp_us, incarnation} and nothing of it at the top level' '
    start_follower
    stamp=$(first_stamp)
    node_stop || true
    echo "stamp: $stamp"
    echo "$stamp" | jq -e "(.stamp_us | type == \"number\") and (.incarnation | type == \"number\")" >/dev/null
    jq -se "[.[] | select(.body.type == \"raft_append_res\") | .body | has(\"stamp_us\") or has(\"fr_stamp_us\")] | any | not" out >/dev/null
'

own_life='{stamp_us, index: 0, incarnation}'

test_expect_success 'the pair handed back under piggyback.follower_read.pair proves freshness: n1 serves the read itself' '
    read_with_pair "\"piggyback\":{\"follower_read\":{\"pair\":PAIR}}" "$own_life"
    echo "$outcome" | jq -e ".body.type == \"error\" and .body.code == 20" >/dev/null
    grep -q "as of" <<<"$outcome"
'

test_expect_success 'negative control: the same pair among Raft'"'"'s own fields proves nothing: the read goes to the leader' '
    expect_forwarded "\"pair\":PAIR" "$own_life"
'

test_expect_success 'negative control: the same pair in another feature'"'"'s object proves nothing' '
    expect_forwarded "\"piggyback\":{\"lease\":{\"pair\":PAIR}}" "$own_life"
'

test_expect_success 'negative control: a pair naming another life of n1 proves nothing' '
    expect_forwarded "\"piggyback\":{\"follower_read\":{\"pair\":PAIR}}" "{stamp_us, index: 0, incarnation: (.incarnation + 1)}"
'

test_expect_success 'a malformed piggyback is ignored and logged; the append is still acknowledged' '
    {
        init_line n1 n1,n2
        append 1 "\"piggyback\":5"
        append 2 "\"piggyback\":{\"follower_read\":[1]}"
    } | node_pipe --election-timeout-ms 10000
    cat err
    grep -q "piggyback from peer .* is not an object; ignored" err
    grep -q "piggyback.follower_read is not an object; ignored" err
    test "$(jq -s "[.[] | select(.body.type == \"raft_append_res\" and .body.success)] | length" out)" -eq 2
'

test_done
