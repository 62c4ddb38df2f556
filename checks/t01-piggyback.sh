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
    mkfifo in
    timeout -k 1 "$(scaled 20)" "$NODE_BIN" --election-timeout-ms 10000 <in >out 2>err &
    pid=$!
    exec 3>in
    init_line n1 n1,n2 >&3
}

# wait_for JQ: polls ./out until some line satisfies the jq filter (the node's reply is
# the event waited for); prints that line. Fails after 5 s (scaled), showing the output.
wait_for() {
    local deadline line
    deadline=$(($(now_ms) + $(scaled 5 | awk '{ printf "%d", $1 * 1000 }')))
    while :; do
        line=$(jq -c "select($1)" out 2>/dev/null | head -n 1)
        [ -n "$line" ] && { echo "$line"; return 0; }
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "no line of the output satisfies: $1" >&2
            cut -c1-300 out >&2
            return 1
        fi
        sleep 0.01
    done
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
    exec 3>&-
    wait "$pid" || true
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
    exec 3>&-
    wait "$pid" || true
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

test_done
