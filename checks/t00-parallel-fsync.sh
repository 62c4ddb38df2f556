#!/usr/bin/env bash
# What leaves before the fsync and what after, with --data-dir (common/node_durable.c,
# NOTES.md "Durable writes in parallel"). Reference-only (labelled): these tests
# watch the node's system calls with strace (each write(2) to stdout and each
# fdatasync(2), in order), so they test our node's internals, not the protocol a
# student's node is graded on.
#   - a follower handed an entry, with a client's write in the same batch of input: the
#     forward of that write leaves before the fdatasync completes, the ack after it (an
#     ack says "I have this entry on disk": never before the fsync).
#     Negative control: READPATH_UNSAFE_ACK_BEFORE_FSYNC=1 sends the ack first, and the
#     same check says so.
#   - a leader (the test plays its one follower and grants its votes): the append
#     carrying a client's write leaves before the leader's own fdatasync completes
#     (§10.2.1), and the write_ok only after that and the follower's ack.
. "$(dirname "$0")/lib.sh"
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"
command -v strace >/dev/null 2>&1 || skip_all "strace not found (apt-get install strace)"

# Starts the node (ARGS) under strace (-f: any threads too): every write(2) to stdout
# and every fdatasync(2) go to ./trace, one line each, in the order they completed.
traced_start() {
    mkfifo in
    # LeakSanitizer cannot run under ptrace: a sanitized build checks leaks elsewhere.
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
        timeout -k 1 "$(scaled 20)" strace -f -qq -o trace -s 4096 -e trace=fdatasync,write \
        -e signal=none "$NODE_BIN" "$@" <in >out 2>err &
    pid=$!
    exec 3>in
}

# The line number in ./trace, after line FROM (default 0), of the first fdatasync to
# complete, and of the first write to stdout that holds STRING.
first_sync() {
    awk -v from="${1:-0}" 'NR > from && /fdatasync/ && /= 0$/ && !/unfinished/ { print NR; exit }' trace
}
first_write() {
    awk -v from="${2:-0}" -v s="$1" 'NR > from && /^[0-9]+ +write\(1,/ {
        line = $0; gsub(/\\"/, "\"", line)    # strace escapes every quote
        if (index(line, s)) { print NR; exit }
    }' trace
}

APPEND_ENTRY='{"src":"n1","dest":"n2","body":{"type":"raft_append","term":1,"prev_log_index":0,"prev_log_term":0,"leader_commit":0,"round":2,"incarnation":5,"entries":[{"term":1,"command":{"type":"noop"}}],"msg_id":2}}'
CLIENT_WRITE='{"src":"c1","dest":"n2","body":{"type":"write","key":"x","value":1,"msg_id":3}}'

# n2 of n1,n2,n3 follows n1 (played here): a heartbeat of term 1 (its term and vote are
# synced before the ack), then in one write(2), so in one turn of n2's loop, an append
# with an entry and a client's write that n2 forwards to n1.
follower_batch() {
    traced_start --data-dir data --election-timeout-ms 10000
    init_line n2 n1,n2,n3 >&3
    client_line n2 '{"type":"raft_append","term":1,"prev_log_index":0,"prev_log_term":0,"leader_commit":0,"round":1,"incarnation":5,"entries":[]}' n1 >&3
    wait_for '.body.type == "raft_append_res" and .body.round == 1' >/dev/null &&
    printf "%s\n%s\n" "$APPEND_ENTRY" "$CLIENT_WRITE" >batch &&
    cat batch >&3 &&    # one write(2): bash would write each line on its own
    wait_for '.body.type == "raft_append_res" and .body.match_index == 1' >/dev/null &&
    wait_for '.body.type == "forward"' >/dev/null
    local status=$?
    node_stop
    return $status
}

# Where the forward, the fsync of the entry and the ack fall in ./trace.
follower_order() {
    local hb_ack forward sync ack
    hb_ack=$(first_write '"round":1')
    forward=$(first_write '"type":"forward"' "$hb_ack")
    sync=$(first_sync "$hb_ack")
    ack=$(first_write '"match_index":1' "$hb_ack")
    echo "# trace lines: heartbeat ack $hb_ack, forward $forward, fdatasync $sync, entry ack $ack"
    [ -n "$forward" ] && [ -n "$sync" ] && [ -n "$ack" ] && [ "$forward" -lt "$sync" ] &&
        [ "$sync" -lt "$ack" ]
}

test_expect_success 'reference-only: a follower forwards a client write before its fsync and acks the entry only after it' '
    follower_batch &&
    follower_order
'

test_expect_success 'reference-only, negative control: READPATH_UNSAFE_ACK_BEFORE_FSYNC=1 acks before the fsync and the order check fails' '
    READPATH_UNSAFE_ACK_BEFORE_FSYNC=1 follower_batch &&
    refute follower_order
'

test_expect_success 'reference-only: a leader sends the append carrying a write before its own fsync, and answers write_ok only after its follower acks' '
    traced_start --data-dir data --election-timeout-ms "$(scaled 1000)" --heartbeat-ms "$(scaled 500)"
    init_line n1 n1,n2 >&3
    wait_for ".body.type == \"raft_vote\" and .body.pre_vote" >/dev/null &&
    client_line n1 "{\"type\":\"raft_vote_res\",\"term\":0,\"for_term\":1,\"pre_vote\":true,\"granted\":true}" n2 >&3 &&
    wait_for ".body.type == \"raft_vote\" and (.body.pre_vote | not)" >/dev/null &&
    client_line n1 "{\"type\":\"raft_vote_res\",\"term\":1,\"for_term\":1,\"pre_vote\":false,\"granted\":true}" n2 >&3 &&
    noop=$(wait_for ".body.type == \"raft_append\" and (.body.entries | length) == 1") &&
    inc=$(echo "$noop" | jq .body.incarnation) &&
    client_line n1 "{\"type\":\"raft_append_res\",\"term\":1,\"success\":true,\"match_index\":1,\"conflict_index\":0,\"prev_log_index\":0,\"round\":$(echo "$noop" | jq .body.round),\"incarnation\":$inc}" n2 >&3 &&
    client_line n1 "{\"type\":\"write\",\"key\":\"x\",\"value\":1,\"msg_id\":5}" >&3 &&
    append=$(wait_for ".body.type == \"raft_append\" and .body.entries[0].command.type == \"write\"") &&
    refute grep -q "\"type\":\"write_ok\"" out &&
    client_line n1 "{\"type\":\"raft_append_res\",\"term\":1,\"success\":true,\"match_index\":2,\"conflict_index\":0,\"prev_log_index\":1,\"round\":$(echo "$append" | jq .body.round),\"incarnation\":$inc}" n2 >&3 &&
    wait_for ".body.type == \"write_ok\"" >/dev/null
    status=$?
    node_stop
    [ $status -eq 0 ] || return 1
    sent=$(first_write "\"type\":\"write\",\"key\":\"x\"")
    sync=$(first_sync "$sent")
    ok=$(first_write "\"type\":\"write_ok\"")
    echo "# trace lines: append with the write $sent, the next fdatasync $sync, write_ok $ok"
    [ -n "$sent" ] && [ -n "$sync" ] && [ -n "$ok" ] && [ "$sent" -lt "$sync" ] && [ "$sync" -lt "$ok" ]
'

test_done
