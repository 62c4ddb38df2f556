#!/usr/bin/env bash
# Stage 03: one leader driven by hand, the test playing its two followers (n2, n3) from
# a coprocess. It checks, step by step, two conditions of SPEC.md, "Stage 03", that a
# cluster run can hardly aim at:
#   - a lease is usable only once the applied index reached the term's no-op: a round
#     acknowledged by a majority before the no-op commits grants no lease_read;
#   - the lease is dropped before any message with a higher term is handled: a
#     lease_read right after an append of term 2 is not served from the lease.
# Every wait is for a message (bounded by READPATH_TIME_SCALE); to know that the node has
# handled everything sent before, the test sends a message of an unknown type and waits
# for its error 10: the node handles its input in order.
#
# The tests are the steps of one run of one node, in order: the node is started once for
# the suite, and every test works in one shared directory (its lines in ./out, its stderr
# in ./err). A step after a failed one fails at once, saying so.
. "$(dirname "$0")/lib.sh"

require_feature lease_read

LEADER_DIR=$test_scratch/leader
mkdir -p "$LEADER_DIR"

# E = 6000 ms, pinned: n1 campaigns 6 s after init; lease L - S = 5400 ms. The steps
# below take up to a second each on a busy machine (a jq per line), hence the long
# lease, CheckQuorum window (E) and request timeout. Its exit status goes to ./status.
start_node() {
    coproc NODE {
        cd "$LEADER_DIR" || exit 1
        status=0
        READPATH_PIN_ELECTION_TIMEOUT=1 timeout -k 1 "$(scaled 120)" "$NODE_BIN" -v \
            --election-timeout-ms 6000 --heartbeat-ms 3000 --request-timeout-ms 60000 2>err || status=$?
        echo "$status" >status
    }
    node_pid=$NODE_PID # bash forgets NODE_PID once the coprocess has exited
    # Plain copies of the coprocess's pipes: bash does not pass a coprocess's own file
    # descriptors on to subshells, and every test runs in one.
    exec {node_in}>&"${NODE[1]}" {node_out}<&"${NODE[0]}"
    exec {NODE[1]}>&- {NODE[0]}<&-
}
# stop_node: closes the node's stdin (the node sees EOF once no test holds it either).
stop_node() {
    if [ -n "${node_in:-}" ]; then
        exec {node_in}>&-
        node_in=
    fi
}
trap 'stop_node; test_cleanup' EXIT

# step: the first line of every test: into the shared directory, failing at once if an
# earlier step failed, and marking this step failed if it does.
step() {
    cd "$LEADER_DIR"
    if [ -e failed ]; then
        echo "an earlier step failed ($(cat failed)); this one depends on it"
        exit 1
    fi
    trap '[ $? -eq 0 ] || echo "step $test_count" >"$LEADER_DIR/failed"' EXIT
}

send() { printf "%s\n" "$1" >&"$node_in"; }
client() { send "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":$1}"; }
peer() { send "{\"src\":\"$1\",\"dest\":\"n1\",\"body\":$2}"; }
# await JQ: reads the node's lines (all kept in ./out) until one matches JQ; it is left in ./last.
await() {
    local line limit=$((SECONDS + $(scaled 10 | cut -d. -f1)))
    while [ "$SECONDS" -lt "$limit" ]; do
        IFS= read -r -t 1 -u "$node_out" line || continue
        printf "%s\n" "$line" >>out
        if printf "%s\n" "$line" | jq -e "$1" >/dev/null 2>&1; then printf "%s\n" "$line" >last; return 0; fi
    done
    echo "no line matched: $1"
    return 1
}
# say SRC <<\EOF: sends n1 each request body on stdin (one a line), from SRC.
say() { client_lines n1 "$1" >&"$node_in"; }
# await_fields <<\EOF: await for a line holding every field of the JSON object on stdin
# (a field subset, as expect_lines compares).
await_fields() {
    local e
    e=$(cat)
    await "$json_lib_ subset($e; .)"
}
# next_probe: a fresh msg_id for a probe (counted in ./probe, from 101).
next_probe() {
    local p
    p=$(($(cat probe 2>/dev/null || echo 100) + 1))
    echo "$p" >probe
    echo "$p"
}
sync_with() { client "{\"type\":\"sync_probe\",\"msg_id\":$1}"; await ".body.in_reply_to == $1 and .body.code == 10"; }
answered() { jq -se --argjson id "$1" 'any(.[]; .body.in_reply_to == $id)' out >/dev/null; }
ack() { # ack ROUND MATCH SUCCESS: n2 answers the append of ROUND
    # An ack echoes the round and the incarnation (this life of n1) of the append.
    local life
    life=$(jq -s '[.[] | select(.dest == "n2" and .body.type == "raft_append") | .body.incarnation][0]' out)
    peer n2 "{\"type\":\"raft_append_res\",\"term\":1,\"success\":$3,\"match_index\":$2,\"conflict_index\":0,\"prev_log_index\":0,\"round\":$1,\"incarnation\":$life}"
}
# confirm ID MATCH: n2 acknowledges the newest round until request ID is answered
# (a ReadIndex read needs a round begun after it; the leader starts one at once).
confirm() {
    local newest
    for _ in 1 2 3 4 5; do
        newest=$(jq -s '[.[] | select(.dest == "n2" and .body.type == "raft_append") | .body.round] | max' out)
        ack "$newest" "$2" true
        sync_with "$(next_probe)"
        answered "$1" && return 0
        await ".dest == \"n2\" and .body.type == \"raft_append\" and .body.round > $newest"
    done
    return 1
}

start_node

test_expect_success 'n1 wins term 1 (PreVote, then a vote from n2) and replicates its no-op' '
    step
    say c0 <<\EOF
{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}
EOF
    await_fields <<\EOF
{"body":{"type":"init_ok"}}
EOF
    await_fields <<\EOF
{"dest":"n2","body":{"type":"raft_vote","pre_vote":true}}
EOF
    say n2 <<\EOF
{"type":"raft_vote_res","term":0,"for_term":1,"pre_vote":true,"granted":true}
EOF
    await_fields <<\EOF
{"dest":"n2","body":{"type":"raft_vote","pre_vote":false}}
EOF
    say n2 <<\EOF
{"type":"raft_vote_res","term":1,"for_term":1,"pre_vote":false,"granted":true}
EOF
    # One entry: the no-op.
    await ".dest == \"n2\" and .body.type == \"raft_append\" and (.body.entries | length) == 1"
    jq -r .body.round last >r1
'

test_expect_success 'a round a majority acknowledged before the no-op commits grants no lease_read' '
    step
    # n2 acknowledges the round but rejects the entry: a majority (n1, n2) confirmed the
    # round, so a lease is counted from it, but the no-op has not committed.
    ack "$(cat r1)" 0 false
    say c1 <<\EOF
{"type":"lease_read","msg_id":2,"key":"x"}
EOF
    sync_with 3
    refute answered 2
'

test_expect_success 'once the no-op commits, ReadIndex (not the lease) answers the waiting read' '
    step
    # Key x does not exist yet: error 20 is what ReadIndex answers for it.
    confirm 2 1
    json_reply 2 out | tee last
    expect_lines last <<\EOF
{"body":{"type":"error","code":20}}
EOF
'

test_expect_success 'a write acknowledged by n2 commits (write_ok)' '
    step
    say c1 <<\EOF
{"type":"write","msg_id":4,"key":"x","value":1}
EOF
    confirm 4 2
    expect_lines out <<\EOF
{"body":{"in_reply_to":4,"type":"write_ok"}}
EOF
'

test_expect_success 'with the no-op applied, the lease serves lease_read with no round trip' '
    step
    say c1 <<\EOF
{"type":"lease_read","msg_id":5,"key":"x"}
EOF
    await ".body.in_reply_to == 5"
    expect_lines last <<\EOF
{"body":{"type":"lease_read_ok","value":1,"lease_valid":true,"network_round_trips":0}}
EOF
'

test_expect_success 'after an append of term 2 from n3, the very next lease_read is forwarded to n3, not served' '
    step
    # n3 leads term 2 (it says so with an append): n1 is a follower of n3 now.
    say n3 <<\EOF
{"type":"raft_append","term":2,"prev_log_index":2,"prev_log_term":1,"leader_commit":2,"round":1,"entries":[]}
EOF
    say c1 <<\EOF
{"type":"lease_read","msg_id":6,"key":"x"}
EOF
    sync_with 7
    refute answered 6
    expect_lines out <<\EOF
{"dest":"n3","body":{"type":"forward","request":{"msg_id":6}}}
EOF
'

test_expect_success 'n1 logs that it dropped the lease' '
    step
    grep "lease dropped" err
'

stop_node

test_expect_success 'n1 exits 0 at the end of its input' '
    step
    deadline=$((SECONDS + $(scaled 10 | cut -d. -f1)))
    while [ ! -s status ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    echo "exit status: $(cat status 2>/dev/null || echo "none yet")"
    test "$(cat status)" = 0
'

test_done
