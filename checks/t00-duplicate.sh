#!/usr/bin/env bash
# A network that delivers node-to-node messages twice, and out of order. Raft's own
# messages are idempotent; a forwarded write or cas is not, so the leader remembers each
# forward by (forwarder, its incarnation, forward id) and serves a copy with the first
# one's answer (common/forwarded.c; NOTES.md, stage 00, "Whose answer is this?").
# Clients send to every node, so most writes are forwarded; every peer message is
# duplicated from 0.3 s on (the copy with its own latency and jitter, so it may arrive
# first), and links reorder (jitter 3 ms over 1 ms). Before the leader remembered
# forwards, the first run's history was not linearizable on any of its 5 keys (a cas
# applied twice: its second copy overwrote later writes, or failed with 22 after the
# first had succeeded).
. "$(dirname "$0")/lib.sh"
need_runner

test_expect_success 'every peer message delivered twice, reordered: linearizable' '
    echo "at 0.3s duplicate 1" >scenario.txt
    "$CLUSTER" --bin "$NODE_BIN" --nodes 3 --scenario scenario.txt --concurrency 6 \
        --time-limit 4 --latency-ms 1 --jitter-ms 3 --mix read=30,write=40,cas=30 \
        --history history.jsonl --summary-json summary.json --quiet >summary.txt
    cat summary.txt
    jq -e ".messages.duplicated > 1000" summary.json
    "$CHECK_LIN" history.jsonl
'

test_expect_success 'duplication among partitions and pauses: linearizable' '
    "$CLUSTER" --bin "$NODE_BIN" --nodes 5 --concurrency 8 --time-limit 5 \
        --nemesis duplicate,partition,pause --nemesis-interval-ms 600 --seed 12 \
        --latency-ms 1 --jitter-ms 3 --mix read=30,write=40,cas=30 \
        --history history.jsonl --summary-json summary.json --quiet >summary.txt
    cat summary.txt
    jq -e ".messages.duplicated > 0" summary.json
    "$CHECK_LIN" history.jsonl
'

test_done
