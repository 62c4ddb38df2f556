#!/usr/bin/env bash
# TEST FIXTURE, not a node: it answers init and nothing else. checks/tools-cluster.sh
# runs it under the cluster runner to see what environment each node is started with
# (READPATH_SEED, READPATH_CLOCK_RATE); it prints that to stderr, i.e. the node's log.
echo "env READPATH_SEED=${READPATH_SEED:-unset} READPATH_CLOCK_RATE=${READPATH_CLOCK_RATE:-unset}" >&2
while IFS= read -r line; do
    printf '%s\n' "$line" | jq -c 'select(.body.type == "init")
        | {src: .dest, dest: .src, body: {type: "init_ok", in_reply_to: .body.msg_id, msg_id: 0}}'
done
