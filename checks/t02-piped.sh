#!/usr/bin/env bash
# Stage 02, piped into one node: the seed's sample cases (shared/seeds/02-read-your-writes.txt,
# compared field by field as subsets), commit_index on write_ok and cas_ok (and not under
# --maelstrom), ryw_read on a single-member cluster, and ryw_read's bad inputs.
. "$(dirname "$0")/lib.sh"

ryw() { # ryw MSG_ID KEY TOKEN PREFER: a ryw_read body
    printf '{"type":"ryw_read","msg_id":%s,"key":"%s","last_write_index":%s,"prefer_follower":%s}' "$@"
}

test_expect_success 'seed: read-your-writes from follower (n1 of n1..n3, alone)' '
    printf "%s\n" \
      "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\",\"n2\",\"n3\"]}}" \
      "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"ryw_read\",\"msg_id\":2,\"key\":\"x\",\"last_write_index\":5,\"prefer_follower\":true}}" |
      node_pipe
    json_subset "{\"src\": \"n1\", \"dest\": \"c0\", \"body\": {\"type\": \"init_ok\", \"in_reply_to\": 1, \"msg_id\": 0}}" out
    # Alone it has applied nothing, so token 5 is never served from its state: it
    # waits, finds no leader, and says so when its input closes.
    json_absent "{\"body\":{\"type\":\"ryw_read_ok\"}}" out
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":11}}" out
'

test_expect_success 'seed: follower behind redirects to leader (n1 of n1..n3, alone, token 999)' '
    printf "%s\n" \
      "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,\"node_id\":\"n1\",\"node_ids\":[\"n1\",\"n2\",\"n3\"]}}" \
      "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"ryw_read\",\"msg_id\":2,\"key\":\"x\",\"last_write_index\":999,\"prefer_follower\":true}}" |
      node_pipe
    json_subset "{\"src\": \"n1\", \"dest\": \"c0\", \"body\": {\"type\": \"init_ok\", \"in_reply_to\": 1, \"msg_id\": 0}}" out
    json_absent "{\"body\":{\"type\":\"ryw_read_ok\"}}" out
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":11}}" out
'

test_expect_success 'write_ok and cas_ok carry the commit_index of their entry' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":\"old\"}"
      client_line n1 "{\"type\":\"write\",\"msg_id\":3,\"key\":\"x\",\"value\":\"new\"}"
      client_line n1 "{\"type\":\"cas\",\"msg_id\":4,\"key\":\"x\",\"from\":\"new\",\"to\":\"newer\"}"
    } | node_pipe
    # Index 1 is the leader'"'"'s no-op; the three commands follow it.
    json_subsets out \
      "{\"body\":{\"type\":\"write_ok\",\"in_reply_to\":2,\"commit_index\":2}}" \
      "{\"body\":{\"type\":\"write_ok\",\"in_reply_to\":3,\"commit_index\":3}}" \
      "{\"body\":{\"type\":\"cas_ok\",\"in_reply_to\":4,\"commit_index\":4}}"
'

test_expect_success '--maelstrom: write_ok and cas_ok carry exactly Maelstrom'"'"'s fields' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":1,\"value\":1}"
      client_line n1 "{\"type\":\"cas\",\"msg_id\":3,\"key\":1,\"from\":1,\"to\":2}"
    } | node_pipe --maelstrom
    json_reply 2 out | jq -ce ".body | keys == [\"in_reply_to\", \"msg_id\", \"type\"] and .type == \"write_ok\""
    json_reply 3 out | jq -ce ".body | keys == [\"in_reply_to\", \"msg_id\", \"type\"] and .type == \"cas_ok\""
'

test_expect_success 'a single-member cluster serves ryw_read as leader (linearizable)' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":\"new\"}"
      client_line n1 "$(ryw 3 x 2 true)"
      client_line n1 "$(ryw 4 x 2 false)"
    } | node_pipe
    json_subsets out \
      "{\"body\":{\"type\":\"ryw_read_ok\",\"in_reply_to\":3,\"value\":\"new\",\"served_by\":\"n1\",\"follower_applied_index\":2,\"linearizable\":true}}" \
      "{\"body\":{\"type\":\"ryw_read_ok\",\"in_reply_to\":4,\"value\":\"new\",\"served_by\":\"n1\",\"linearizable\":true}}"
    json_reply 3 out | jq -e ".body.waited_ms >= 0"
    json_reply 4 out | jq -e ".body.reason | type == \"string\""
'

test_expect_success 'ryw_read of a missing key is error 20' '
    { init_line n1 n1
      client_line n1 "$(ryw 2 nope 0 true)"
    } | node_pipe
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":20}}" out
'

test_expect_success 'a token beyond the commit index: after a bounded wait, error 11 naming both indexes' '
    # The node stays up until it has answered (wait_lines), so the answer is its own
    # bounded wait running out, not its input closing.
    { init_line n1 n1
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":1}"
      client_line n1 "$(ryw 3 x 999 true)"
      wait_lines out 3
    } | node_pipe --heartbeat-ms 20
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":3,\"code\":11}}" out
    text=$(json_reply 3 out | jq -r .body.text)
    echo "text: $text"
    [[ $text == *999* && $text == *"commit index 2"* && $text != *"input closed"* ]]
    json_absent "{\"body\":{\"type\":\"ryw_read_ok\"}}" out
'

for bad in "" ",\"last_write_index\":-1" ",\"last_write_index\":1.5" ",\"last_write_index\":\"3\"" ",\"last_write_index\":null"; do
    test_expect_success "last_write_index bad (${bad:-missing}) is error 12 naming the field" '
        { init_line n1 n1
          client_line n1 "{\"type\":\"ryw_read\",\"msg_id\":2,\"key\":\"x\",\"prefer_follower\":true$bad}"
          client_line n1 "{\"type\":\"write\",\"msg_id\":3,\"key\":\"x\",\"value\":1}"
          client_line n1 "$(ryw 4 x 2 true)"
        } | node_pipe
        json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":12}}" out
        json_reply 2 out | jq -e ".body.text | test(\"last_write_index\")"
        json_subset "{\"body\":{\"type\":\"ryw_read_ok\",\"in_reply_to\":4,\"value\":1}}" out
    '
done

for bad in "" ",\"prefer_follower\":\"true\"" ",\"prefer_follower\":1" ",\"prefer_follower\":null"; do
    test_expect_success "prefer_follower bad (${bad:-missing}) is error 12 naming the field" '
        { init_line n1 n1
          client_line n1 "{\"type\":\"ryw_read\",\"msg_id\":2,\"key\":\"x\",\"last_write_index\":0$bad}"
          client_line n1 "{\"type\":\"write\",\"msg_id\":3,\"key\":\"x\",\"value\":1}"
          client_line n1 "$(ryw 4 x 2 true)"
        } | node_pipe
        json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":12}}" out
        json_reply 2 out | jq -e ".body.text | test(\"prefer_follower\")"
        json_subset "{\"body\":{\"type\":\"ryw_read_ok\",\"in_reply_to\":4,\"value\":1}}" out
    '
done

test_expect_success 'ryw_read without a key is error 12 naming the field' '
    { init_line n1 n1
      client_line n1 "{\"type\":\"ryw_read\",\"msg_id\":2,\"last_write_index\":0,\"prefer_follower\":true}"
    } | node_pipe
    json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":12}}" out
    json_reply 2 out | jq -e ".body.text | test(\"key\")"
'

test_done
