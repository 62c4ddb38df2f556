#!/usr/bin/env bash
# Stage 00 lab: why a leader's read goes through ReadIndex (§6.4). With
# READPATH_UNSAFE_LEADER_LOCAL_READ=1 (common/node_linkv.c) a node that believes it leads
# answers `read` from its own map. checks/scenarios/t00-leader-local-read.txt cuts the
# leader off, lets the majority elect and acknowledge x = 2, then reads at the old
# leader: check-linearizable flags the stale x = 1. The same run without the switch is
# linearizable (the read cannot be confirmed, so it is never answered with 1). Both runs
# keep the old leader deposed-but-unaware with READPATH_UNSAFE_NO_CHECK_QUORUM=1: with
# CheckQuorum it would step down within an election timeout and the window would close
# only as far as clocks agree, which is stage 03's lease argument.
. "$(dirname "$0")/lib.sh"
need_runner
k=$(time_stretch)

# lab_run NAME [ENV...]: one run of the scenario, its history in NAME.jsonl.
lab_run() {
    name=$1
    shift
    stretch_scenario "$k" "$SCENARIOS/t00-leader-local-read.txt" >scenario.txt
    env READPATH_UNSAFE_NO_CHECK_QUORUM=1 "$@" \
        "$CLUSTER" --bin "$NODE_BIN" --nodes 3 --scenario scenario.txt --log-dir "logs-$name" \
        --history "$name.jsonl" --quiet -- --heartbeat-ms $((20 * k)) \
        --election-timeout-ms $((150 * k)) >"summary-$name.txt"
    jq -c "select(.type != \"invoke\")" "$name.jsonl"
}

test_expect_success 'without the switch: the cut-off leader never answers x = 1, and the history is linearizable' '
    lab_run safe
    # The majority did acknowledge x = 2 (else the run proves nothing).
    jq -s -e "any(.[]; .f == \"write\" and .type == \"ok\" and .value == 2)" safe.jsonl
    jq -s -e "all(.[]; .f != \"read\" or .type != \"ok\" or .value == 2)" safe.jsonl
    "$CHECK_LIN" safe.jsonl
'

test_expect_success 'READPATH_UNSAFE_LEADER_LOCAL_READ=1: the old leader answers x = 1 after x = 2 completed, and check-linearizable flags it' '
    lab_run unsafe READPATH_UNSAFE_LEADER_LOCAL_READ=1
    grep -l "READPATH_UNSAFE_LEADER_LOCAL_READ=1" logs-unsafe/*.log
    jq -s -e "any(.[]; .f == \"write\" and .type == \"ok\" and .value == 2)" unsafe.jsonl
    jq -s -e "any(.[]; .f == \"read\" and .type == \"ok\" and .value == 1)" unsafe.jsonl
    status=0
    "$CHECK_LIN" unsafe.jsonl >verdict.txt || status=$?
    cat verdict.txt
    echo "check-linearizable exit status: $status (1 = anomaly found)"
    [ "$status" -eq 1 ]
'

test_done
