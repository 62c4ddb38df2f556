#!/usr/bin/env bash
# Prints the piped benchmark's input: init of a single-member cluster, then OPS mixed ops
# (50% read, 40% write, 10% cas over 100 keys), seeded so every run sends the same lines.
# Used by checks/bench-node.sh and checks/bench/bench.sh. Usage: piped-ops.sh OPS
set -eu
awk -v ops="${1:?usage: piped-ops.sh OPS}" 'BEGIN {
    srand(7)
    print "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":0,\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}"
    for (i = 1; i <= ops; i++) {
        k = int(rand() * 100); r = rand()
        if (r < 0.5) body = sprintf("{\"type\":\"read\",\"msg_id\":%d,\"key\":%d}", i, k)
        else if (r < 0.9) body = sprintf("{\"type\":\"write\",\"msg_id\":%d,\"key\":%d,\"value\":%d}", i, k, i)
        else body = sprintf("{\"type\":\"cas\",\"msg_id\":%d,\"key\":%d,\"from\":%d,\"to\":%d}", i, k, i - 1, i)
        printf "{\"src\":\"c1\",\"dest\":\"n1\",\"body\":%s}\n", body
    }
}'
