#!/usr/bin/env bash
# Stage 00, bad input on piped stdin. Each test wraps its bad lines in the same frame:
# an acknowledged write before them, a write and two reads after them. The frame
# shows the node survived, still serves, and lost no acknowledged write; the test
# then checks the answer to the bad input itself: error 12 naming the field, error
# 10 for an unknown type, or (with nothing to reply to) a line on stderr.
. "$(dirname "$0")/lib.sh"

# Runs n1 (single-member) on: init, write k="before" (msg 2), the lines of ./bad,
# write k2="after" (msg 91), read k (92), read k2 (93). Leaves ./in, ./out, ./err.
serve_around() {
    {
        init_line n1 n1
        client_line n1 '{"type":"write","msg_id":2,"key":"k","value":"before"}'
        cat bad
        client_line n1 '{"type":"write","msg_id":91,"key":"k2","value":"after"}'
        client_line n1 '{"type":"read","msg_id":92,"key":"k"}'
        client_line n1 '{"type":"read","msg_id":93,"key":"k2"}'
    } >in
    node_pipe <in
    echo "--- stdout"; cut -c1-300 out
    echo "--- stderr"; cut -c1-300 err
    json_lines out
    head -n 1 out >first
    json_subset '{"src":"n1","dest":"c0","body":{"type":"init_ok","in_reply_to":1,"msg_id":0}}' first
    json_subsets out \
        '{"src":"n1","dest":"c1","body":{"type":"write_ok","in_reply_to":2}}' \
        '{"src":"n1","dest":"c1","body":{"type":"write_ok","in_reply_to":91}}' \
        '{"src":"n1","dest":"c1","body":{"type":"read_ok","in_reply_to":92,"value":"before"}}' \
        '{"src":"n1","dest":"c1","body":{"type":"read_ok","in_reply_to":93,"value":"after"}}'
    jq -se '[.[].body.msg_id] == [range(0; length)]' out >/dev/null
}

# The reply to msg_id N is error CODE from n1 to c1 whose text names WORD (if given).
expect_error() {
    local replies='[inputs | fromjson? // empty | select(.body.in_reply_to? == $n)]'
    if jq -nRe --argjson n "$1" --argjson c "$2" --arg w "${3:-}" "$replies"'
        | length == 1 and (.[0] | .src == "n1" and .dest == "c1" and .body.type == "error"
            and .body.code == $c and (.body.text | type == "string" and length > 0 and contains($w)))' \
        out >/dev/null; then
        return 0
    fi
    echo "expected one error $2 from n1 to c1 for msg_id $1, its text a sentence naming '${3:-}'; the replies to it:"
    jq -nRc --argjson n "$1" "$replies"'[]' out | cut -c1-300
    return 1
}

# Nothing on stdout but the frame's own replies: the bad lines had nobody to answer.
only_frame_replies() {
    jq -se '[.[].body.in_reply_to] | sort == [1,2,91,92,93]' out >/dev/null || {
        echo "expected replies only to msg_ids 1 2 91 92 93"
        return 1
    }
}

logged() {
    test -s err || {
        echo "expected a line on stderr about the bad input"
        return 1
    }
}

test_expect_success 'the frame alone: write, write, read, read all answered' '
    : >bad
    serve_around
    only_frame_replies
'

test_expect_success 'a non-JSON line is logged to stderr and skipped' '
    echo "this is not json" >bad
    serve_around
    only_frame_replies
    logged
'

test_expect_success 'a truncated JSON line, an empty line and a lone brace are skipped' '
    printf "%s\n" "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"write\",\"msg_id\":10,\"key\":\"k\",\"value\":\"lost\"" "" "{" >bad
    serve_around
    only_frame_replies
    logged
'

test_expect_success 'a JSON line without body is logged (naming body) and skipped' '
    echo "{\"src\":\"c1\",\"dest\":\"n1\"}" >bad
    serve_around
    only_frame_replies
    logged
    grep -q body err
'

test_expect_success 'a body without type gets error 12 naming type' '
    client_line n1 "{\"msg_id\":10,\"key\":\"k\"}" >bad
    serve_around
    expect_error 10 12 type
'

test_expect_success 'a body without type and without msg_id is logged' '
    client_line n1 "{\"key\":\"k\",\"value\":\"lost\"}" >bad
    serve_around
    only_frame_replies
    logged
'

test_expect_success 'a read without key gets error 12 naming key' '
    client_line n1 "{\"type\":\"read\",\"msg_id\":10}" >bad
    serve_around
    expect_error 10 12 key
'

test_expect_success 'a cas without from gets error 12 naming from, and changes nothing' '
    client_line n1 "{\"type\":\"cas\",\"msg_id\":10,\"key\":\"k\",\"to\":\"lost\"}" >bad
    serve_around
    expect_error 10 12 from
'

test_expect_success 'a cas without to gets error 12, and changes nothing' '
    client_line n1 "{\"type\":\"cas\",\"msg_id\":10,\"key\":\"k\",\"from\":\"before\"}" >bad
    serve_around
    expect_error 10 12
'

test_expect_success 'a write without value gets error 12 naming value, and changes nothing' '
    client_line n1 "{\"type\":\"write\",\"msg_id\":10,\"key\":\"k\"}" >bad
    serve_around
    expect_error 10 12 value
'

test_expect_success 'a write without key gets error 12 naming key' '
    client_line n1 "{\"type\":\"write\",\"msg_id\":10,\"value\":\"lost\"}" >bad
    serve_around
    expect_error 10 12 key
'

test_expect_success 'an unknown type gets error 10' '
    client_line n1 "{\"type\":\"frobnicate\",\"msg_id\":10,\"key\":\"k\"}" >bad
    serve_around
    expect_error 10 10
'

test_expect_success 'a type that is not a string gets error 12 naming type' '
    client_line n1 "{\"type\":7,\"msg_id\":10,\"key\":\"k\"}" >bad
    serve_around
    expect_error 10 12 type
'

test_expect_success 'a msg_id that is a string is handled without a crash' '
    client_line n1 "{\"type\":\"write\",\"msg_id\":\"10\",\"key\":\"k3\",\"value\":1}" >bad
    serve_around
    test -s err || json_subset "{\"body\":{\"type\":\"error\",\"code\":12}}" out
'

test_expect_success 'a 1 MiB value is written and read back intact' '
    awk "BEGIN { for (i = 0; i < 65536; i++) printf \"%015d|\", i }" >big
    test "$(wc -c <big)" -eq 1048576
    {
        client_line n1 "{\"type\":\"write\",\"msg_id\":10,\"key\":\"big\",\"value\":\"$(cat big)\"}"
        client_line n1 "{\"type\":\"read\",\"msg_id\":11,\"key\":\"big\"}"
    } >bad
    serve_around
    json_subset "{\"body\":{\"type\":\"write_ok\",\"in_reply_to\":10}}" out
    json_reply 11 out | jq -e --rawfile v big ".body.type == \"read_ok\" and .body.value == \$v" >/dev/null
'

test_expect_success 'messages before init: no crash, init_ok is still the first line, then it serves' '
    {
        client_line n1 "{\"type\":\"read\",\"msg_id\":5,\"key\":\"k\"}"
        client_line n1 "{\"type\":\"write\",\"msg_id\":6,\"key\":\"early\",\"value\":1}"
        init_line n1 n1
        client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"k\",\"value\":\"before\"}"
        client_line n1 "{\"type\":\"read\",\"msg_id\":3,\"key\":\"k\"}"
    } >in
    node_pipe <in
    cat out err
    json_lines out
    head -n 1 out >first
    json_subset "{\"src\":\"n1\",\"dest\":\"c0\",\"body\":{\"type\":\"init_ok\",\"in_reply_to\":1,\"msg_id\":0}}" first
    json_subset "{\"body\":{\"type\":\"read_ok\",\"in_reply_to\":3,\"value\":\"before\"}}" out
    jq -se "[.[].body.msg_id] == [range(0; length)]" out >/dev/null
    # Buffered (both answered after init) or dropped (and said so on stderr).
    if ! { json_reply 5 out >/dev/null && json_reply 6 out >/dev/null; }; then logged; fi
'

test_expect_success 'input that ends before any init: exit 0, nothing written, the held messages said dropped' '
    {
        client_line n1 "{\"type\":\"read\",\"msg_id\":1,\"key\":\"x\"}"
        client_line n1 "{\"type\":\"frobnicate\",\"msg_id\":2}"
        client_line n1 "{\"type\":\"write\",\"msg_id\":-3,\"key\":\"x\",\"value\":1}"
        echo "{\"src\":\"n2\",\"dest\":\"n1\",\"body\":{\"type\":\"raft_vote\"}}"
    } >in
    node_pipe <in
    cat err
    test ! -s out
    test "$(grep -c "stdin closed before init -> message from .* dropped" err)" -eq 4
'

test_expect_success 'an init whose node_ids is not an array: no crash, a later init works' '
    {
        echo "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":7,\"node_id\":\"n1\",\"node_ids\":\"n1\"}}"
        init_line n1 n1
        client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"k\",\"value\":\"v\"}"
        client_line n1 "{\"type\":\"read\",\"msg_id\":3,\"key\":\"k\"}"
    } >in
    node_pipe <in
    cat out err
    json_lines out
    json_subset "{\"src\":\"n1\",\"dest\":\"c0\",\"body\":{\"type\":\"init_ok\",\"in_reply_to\":1}}" out
    json_subset "{\"body\":{\"type\":\"read_ok\",\"in_reply_to\":3,\"value\":\"v\"}}" out
    if ! json_reply 7 out >/dev/null; then logged; else
        json_subset "{\"body\":{\"type\":\"error\",\"in_reply_to\":7,\"code\":12}}" out
        json_reply 7 out | grep -q node_ids
    fi
'

test_expect_success 'an assortment of garbage lines: no crash, only JSON on stdout, still serves' '
    {
        echo "["
        echo "[]"
        echo "null"
        echo "\"just a string\""
        echo "12345"
        echo "{\"body\":null}"
        echo "{\"src\":1,\"dest\":2,\"body\":{}}"
        client_line n1 "\"read\""
        client_line n1 "[1,2]"
        client_line n1 "{\"type\":null,\"msg_id\":30}"
        client_line n1 "{\"type\":\"read\",\"msg_id\":1e300,\"key\":\"k\"}"
        client_line n1 "{\"type\":\"read\",\"msg_id\":-1,\"key\":\"k\"}"
        client_line n1 "{\"type\":\"read\",\"msg_id\":2.5,\"key\":\"k\"}"
        echo "{\"dest\":\"n1\",\"body\":{\"type\":\"read\",\"msg_id\":31,\"key\":\"k\"}}"
        echo "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"write\",\"msg_id\":32,\"key\":\"k\",\"value\":{\"a\":[1,2}}}"
        printf "%s" "[[[[[[[[[[[[[[[[[[[[" | awk "{ for (i = 0; i < 5000; i++) printf \"%s\", \$0; print \"\" }"
        printf "\377\376 not utf-8 \200\n"
        printf "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":{\"type\":\"read\",\"msg_id\":33,\"key\":\"k\"\000}}\n"
        awk "BEGIN { for (i = 0; i < 196608; i++) printf \"xxxxxxxxxxxxxxxx\"; print \"\" }"
    } >bad
    serve_around
    jq -se "all(.[]; .src == \"n1\")" out >/dev/null
    logged
'

test_done
