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
. "$(dirname "$0")/lib.sh"

[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"

test_expect_success 'no lease before the no-op applies; dropped at once on a higher term' '
    # E = 6000 ms, pinned: n1 campaigns 6 s after init; lease L - S = 5400 ms. The steps
    # below take up to a second each on a busy machine (a jq per line), hence the long
    # lease, CheckQuorum window (E) and request timeout.
    coproc NODE { READPATH_PIN_ELECTION_TIMEOUT=1 exec "$NODE_BIN" -v --election-timeout-ms 6000 --heartbeat-ms 3000 --request-timeout-ms 60000 2>err; }
    node_pid=$NODE_PID # bash forgets NODE_PID once the coprocess has exited
    send() { printf "%s\n" "$1" >&"${NODE[1]}"; }
    client() { send "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":$1}"; }
    peer() { send "{\"src\":\"$1\",\"dest\":\"n1\",\"body\":$2}"; }
    # await JQ: reads the node'"'"'s lines (all kept in ./out) until one matches JQ; it is left in ./last.
    await() {
        local line limit=$((SECONDS + $(scaled 10 | cut -d. -f1)))
        while [ "$SECONDS" -lt "$limit" ]; do
            IFS= read -r -t 1 -u "${NODE[0]}" line || continue
            printf "%s\n" "$line" >>out
            if printf "%s\n" "$line" | jq -e "$1" >/dev/null 2>&1; then printf "%s\n" "$line" >last; return 0; fi
        done
        echo "no line matched: $1"
        return 1
    }
    sync_with() { client "{\"type\":\"sync_probe\",\"msg_id\":$1}"; await ".body.in_reply_to == $1 and .body.code == 10"; }
    answered() { jq -se --argjson id "$1" "any(.[]; .body.in_reply_to == \$id)" out >/dev/null; }
    round() { jq -r .body.round last; }
    ack() { # ack ROUND MATCH SUCCESS: n2 answers the append of ROUND
        # An ack echoes the round and the incarnation (this life of n1) of the append.
        local life
        life=$(jq -s "[.[] | select(.dest == \"n2\" and .body.type == \"raft_append\") | .body.incarnation][0]" out)
        peer n2 "{\"type\":\"raft_append_res\",\"term\":1,\"success\":$3,\"match_index\":$2,\"conflict_index\":0,\"prev_log_index\":0,\"round\":$1,\"incarnation\":$life}"
    }
    probe=100
    # confirm ID MATCH: n2 acknowledges the newest round until request ID is answered
    # (a ReadIndex read needs a round begun after it; the leader starts one at once).
    confirm() {
        local newest
        for _ in 1 2 3 4 5; do
            newest=$(jq -s "[.[] | select(.dest == \"n2\" and .body.type == \"raft_append\") | .body.round] | max" out)
            ack "$newest" "$2" true
            probe=$((probe + 1))
            sync_with "$probe"
            answered "$1" && return 0
            await ".dest == \"n2\" and .body.type == \"raft_append\" and .body.round > $newest"
        done
        return 1
    }

    send "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\",\"n2\",\"n3\"]}}"
    await ".body.type == \"init_ok\""
    await ".dest == \"n2\" and .body.type == \"raft_vote\" and .body.pre_vote == true"
    peer n2 "{\"type\":\"raft_vote_res\",\"term\":0,\"for_term\":1,\"pre_vote\":true,\"granted\":true}"
    await ".dest == \"n2\" and .body.type == \"raft_vote\" and .body.pre_vote == false"
    peer n2 "{\"type\":\"raft_vote_res\",\"term\":1,\"for_term\":1,\"pre_vote\":false,\"granted\":true}"
    await ".dest == \"n2\" and .body.type == \"raft_append\" and (.body.entries | length) == 1"
    r1=$(round)

    # n2 acknowledges the round but rejects the entry: a majority (n1, n2) confirmed the
    # round, so a lease is counted from it, but the no-op has not committed.
    ack "$r1" 0 false
    client "{\"type\":\"lease_read\",\"msg_id\":2,\"key\":\"x\"}"
    sync_with 3
    refute answered 2

    # The no-op commits; the waiting read is answered by ReadIndex, not the lease (key x
    # does not exist yet: error 20 is what ReadIndex answers for it).
    confirm 2 1
    jq -c "select(.body.in_reply_to == 2)" out | tee last
    jq -e ".body.type == \"error\" and .body.code == 20" last

    # A write, acknowledged; now the lease serves a read with no round trip.
    client "{\"type\":\"write\",\"msg_id\":4,\"key\":\"x\",\"value\":1}"
    confirm 4 2
    jq -se "any(.[]; .body.in_reply_to == 4 and .body.type == \"write_ok\")" out
    client "{\"type\":\"lease_read\",\"msg_id\":5,\"key\":\"x\"}"
    await ".body.in_reply_to == 5"
    jq -e ".body.type == \"lease_read_ok\" and .body.value == 1 and .body.lease_valid == true and .body.network_round_trips == 0" last

    # n3 leads term 2 (it says so with an append). The very next lease_read is not served
    # from n1'"'"'s lease: n1 is a follower of n3 now and forwards it there.
    peer n3 "{\"type\":\"raft_append\",\"term\":2,\"prev_log_index\":2,\"prev_log_term\":1,\"leader_commit\":2,\"round\":1,\"entries\":[]}"
    client "{\"type\":\"lease_read\",\"msg_id\":6,\"key\":\"x\"}"
    sync_with 7
    refute answered 6
    jq -se "any(.[]; .dest == \"n3\" and .body.type == \"forward\" and .body.request.msg_id == 6)" out
    grep "lease dropped" err

    exec {NODE[1]}>&-
    wait "$node_pid"
'

test_done
