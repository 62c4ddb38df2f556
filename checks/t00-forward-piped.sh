#!/usr/bin/env bash
# Forwarding, one node driven by hand (reference internals: the test plays the other
# nodes with this project's peer messages, so it is not a graded check). n1 of
# {n1, n2, n3} follows n2 (an append from it), a client writes to n1, and the test
# answers for n2. Its incarnation is pinned (READPATH_INCARNATION, tests only) so the
# answers can echo it blind.
#   - "not the leader" from n2 is believed: n1 does not ask n2 again in that term (it
#     used to ask once per loop turn: thousands of forwards in 0.4 s), and asks the next
#     leader it learns of.
#   - a forward addressed to another life of this node (to_incarnation) is dropped
#     unanswered: that life may have proposed it, so "not the leader" from this one
#     would let the forwarder propose it again elsewhere.
. "$(dirname "$0")/lib.sh"
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"

append_from() { # append_from PEER TERM INCARNATION
    client_line n1 "{\"type\":\"raft_append\",\"term\":$2,\"prev_log_index\":0,\"prev_log_term\":0,\"leader_commit\":0,\"round\":1,\"incarnation\":$3,\"entries\":[]}" "$1"
}
forwards_to() { jq -s --arg d "$1" "[.[] | select(.dest == \$d and .body.type == \"forward\")] | length" out; }

test_expect_success '"not the leader" is believed until another leader is known, then the write goes there' '
    { init_line n1 n1,n2,n3
      append_from n2 1 5
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":1}"
      sleep 0.1
      client_line n1 "{\"type\":\"forward_res\",\"forward_id\":0,\"incarnation\":7,\"reply\":{\"type\":\"error\",\"code\":11,\"text\":\"not the leader\",\"not_leader\":true}}" n2
      sleep 0.3
      append_from n3 2 9
      sleep 0.1
    } | READPATH_INCARNATION=7 node_pipe --request-timeout-ms 2000
    jq -c "select(.body.type == \"forward\") | {dest, body}" out
    test "$(forwards_to n2)" -eq 1
    test "$(forwards_to n3)" -eq 1
    # Each forward names the life of the leader it is meant for.
    json_subsets out "{\"dest\":\"n2\",\"body\":{\"type\":\"forward\",\"incarnation\":7,\"to_incarnation\":5}}" \
        "{\"dest\":\"n3\",\"body\":{\"type\":\"forward\",\"incarnation\":7,\"to_incarnation\":9}}"
    # Asked and refused once, the write is still unanswered when input ends: 0, since
    # n3 may have it.
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":0}}" out
'

test_expect_success 'a forward meant for another life of this node is dropped unanswered' '
    { init_line n1 n1,n2,n3
      client_line n1 "{\"type\":\"forward\",\"forward_id\":3,\"incarnation\":11,\"to_incarnation\":12345,\"request\":{\"type\":\"write\",\"msg_id\":9,\"key\":\"x\",\"value\":1}}" n2
      client_line n1 "{\"type\":\"forward\",\"forward_id\":4,\"incarnation\":11,\"to_incarnation\":7,\"request\":{\"type\":\"write\",\"msg_id\":10,\"key\":\"x\",\"value\":1}}" n2
    } | READPATH_INCARNATION=7 node_pipe
    jq -c "select(.body.type == \"forward_res\") | .body" out
    json_absent "{\"body\":{\"type\":\"forward_res\",\"forward_id\":3}}" out
    # The one meant for this life gets its answer: not the leader (n1 leads nothing).
    json_subset "{\"dest\":\"n2\",\"body\":{\"type\":\"forward_res\",\"forward_id\":4,\"incarnation\":11,\"reply\":{\"code\":11,\"not_leader\":true}}}" out
'

test_done
