#!/usr/bin/env bash
# Stage 02, piped into one node: the course task's sample cases (checks/grade/examples/,
# compared field by field as subsets), commit_index on write_ok and cas_ok (and not under
# --maelstrom), ryw_read on a single-member cluster, and ryw_read's bad inputs. Requests
# and expected replies are plain JSON, one per line, in heredocs.
. "$(dirname "$0")/lib.sh"

require_feature ryw_read

test_expect_success 'sample case: read-your-writes from follower (n1 of n1..n3, alone)' '
    node_pipe <<\EOF
{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}
{"src":"c1","dest":"n1","body":{"type":"ryw_read","msg_id":2,"key":"x","last_write_index":5,"prefer_follower":true}}
EOF
    # Alone it has applied nothing, so token 5 is never served from its state: it
    # waits, finds no leader, and says so when its input closes.
    expect_lines out <<\EOF
{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
{"body":{"type":"error","in_reply_to":2,"code":11}}
EOF
    expect_no_lines out <<\EOF
{"body":{"type":"ryw_read_ok"}}
EOF
'

test_expect_success 'sample case: follower behind redirects to leader (n1 of n1..n3, alone, token 999)' '
    node_pipe <<\EOF
{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}
{"src":"c1","dest":"n1","body":{"type":"ryw_read","msg_id":2,"key":"x","last_write_index":999,"prefer_follower":true}}
EOF
    expect_lines out <<\EOF
{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
{"body":{"type":"error","in_reply_to":2,"code":11}}
EOF
    expect_no_lines out <<\EOF
{"body":{"type":"ryw_read_ok"}}
EOF
'

test_expect_success 'write_ok and cas_ok carry the commit_index of their entry' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":"old"}
{"type":"write","msg_id":3,"key":"x","value":"new"}
{"type":"cas","msg_id":4,"key":"x","from":"new","to":"newer"}
EOF
    } | node_pipe
    # Index 1 is the no-op a new leader appends; the three commands follow it.
    expect_lines out <<\EOF
{"body":{"type":"write_ok","in_reply_to":2,"commit_index":2}}
{"body":{"type":"write_ok","in_reply_to":3,"commit_index":3}}
{"body":{"type":"cas_ok","in_reply_to":4,"commit_index":4}}
EOF
'

test_expect_success "--maelstrom: write_ok and cas_ok carry exactly Maelstrom's fields" '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":1,"value":1}
{"type":"cas","msg_id":3,"key":1,"from":1,"to":2}
EOF
    } | node_pipe --maelstrom
    for n in 2 3; do json_reply $n out | jq -c "[.body.type, (.body | keys)]"; done >actual
    cat >expect <<\EOF
["write_ok",["in_reply_to","msg_id","type"]]
["cas_ok",["in_reply_to","msg_id","type"]]
EOF
    test_cmp expect actual
'

test_expect_success 'a single-member cluster serves ryw_read as leader (linearizable)' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":"new"}
{"type":"ryw_read","msg_id":3,"key":"x","last_write_index":2,"prefer_follower":true}
{"type":"ryw_read","msg_id":4,"key":"x","last_write_index":2,"prefer_follower":false}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"ryw_read_ok","in_reply_to":3,"value":"new","served_by":"n1","follower_applied_index":2,"linearizable":true}}
{"body":{"type":"ryw_read_ok","in_reply_to":4,"value":"new","served_by":"n1","linearizable":true}}
EOF
    json_reply 3 out | jq -e ".body.waited_ms >= 0"
    json_reply 4 out | jq -e ".body.reason | strings"
'

test_expect_success 'ryw_read of a missing key is error 20' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"ryw_read","msg_id":2,"key":"nope","last_write_index":0,"prefer_follower":true}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":20}}
EOF
'

test_expect_success 'a token beyond the commit index: after a bounded wait, error 11 naming both indexes' '
    # The node stays up until it has answered (wait_lines), so the answer is its own
    # bounded wait running out, not its input closing.
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"write","msg_id":2,"key":"x","value":1}
{"type":"ryw_read","msg_id":3,"key":"x","last_write_index":999,"prefer_follower":true}
EOF
      wait_lines out 3
    } | node_pipe --heartbeat-ms 20
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":3,"code":11}}
EOF
    text=$(json_reply 3 out | jq -r .body.text)
    echo "text: $text"
    [[ $text == *999* && $text == *"commit index 2"* && $text != *"input closed"* ]]
    expect_no_lines out <<\EOF
{"body":{"type":"ryw_read_ok"}}
EOF
'

# Each bad field is put at the end of a ryw_read body that lacks it ("missing": left out).
for bad in missing -1 1.5 '"3"' null; do
    field=',"last_write_index":'$bad
    [ "$bad" != missing ] || field=
    test_expect_success "last_write_index $bad is error 12 naming the field" '
        { init_line n1 n1
          client_lines n1 <<EOF
{"type":"ryw_read","msg_id":2,"key":"x","prefer_follower":true$field}
{"type":"write","msg_id":3,"key":"x","value":1}
{"type":"ryw_read","msg_id":4,"key":"x","last_write_index":2,"prefer_follower":true}
EOF
        } | node_pipe
        expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":12}}
{"body":{"type":"ryw_read_ok","in_reply_to":4,"value":1}}
EOF
        json_reply 2 out | jq -r .body.text | grep last_write_index
    '
done

for bad in missing '"true"' 1 null; do
    field=',"prefer_follower":'$bad
    [ "$bad" != missing ] || field=
    test_expect_success "prefer_follower $bad is error 12 naming the field" '
        { init_line n1 n1
          client_lines n1 <<EOF
{"type":"ryw_read","msg_id":2,"key":"x","last_write_index":0$field}
{"type":"write","msg_id":3,"key":"x","value":1}
{"type":"ryw_read","msg_id":4,"key":"x","last_write_index":2,"prefer_follower":true}
EOF
        } | node_pipe
        expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":12}}
{"body":{"type":"ryw_read_ok","in_reply_to":4,"value":1}}
EOF
        json_reply 2 out | jq -r .body.text | grep prefer_follower
    '
done

test_expect_success 'ryw_read without a key is error 12 naming the field' '
    { init_line n1 n1
      client_lines n1 <<\EOF
{"type":"ryw_read","msg_id":2,"last_write_index":0,"prefer_follower":true}
EOF
    } | node_pipe
    expect_lines out <<\EOF
{"body":{"type":"error","in_reply_to":2,"code":12}}
EOF
    json_reply 2 out | jq -r .body.text | grep key
'

test_done
