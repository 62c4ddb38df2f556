#!/usr/bin/env bash
# make demo, in its short mode (DEMO_SECONDS=4), against the node under test: the report
# has its three sections, every op type of the stage appears in the table, the leader
# really was cut off, every checker's verdict is "no anomaly", and a report written to
# a file carries no colour codes; a planted anomaly (a fake checker) is reported as one.
. "$(dirname "$0")/lib.sh"

BUILD_DIR=$READPATH_ROOT/${READPATH_BUILD:-build}
[ -x "$BUILD_DIR/cluster" ] && [ -x "$BUILD_DIR/check-linearizable" ] ||
    skip_all "no runner or checkers in $BUILD_DIR (build them with: make tools)"
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"
# The stage is the NN of build/NN-name/node unless make says it.
DEMO_STAGE=${STAGE:-$(basename "$(dirname "$NODE_BIN")" | cut -d- -f1)}
export DEMO_STAGE

test_expect_success 'the short demo runs and every checker finds no anomaly' '
    status=0
    timeout -k 2 "$(scaled 60)" env READPATH_BUILD="${READPATH_BUILD:-build}" STAGE="$DEMO_STAGE" \
        DEMO_SECONDS=4 DEMO_DIR="$PWD/run" "$READPATH_ROOT/checks/demo.sh" >report 2>&1 || status=$?
    cat report
    test "$status" -eq 0
    cp report "$test_scratch/report"
    sed -n "/^== checkers/,/^history:/p" report | grep -v "^   " >verdicts
    grep -q "^linearizable  *no anomaly$" verdicts
    if [ "$((10#$DEMO_STAGE))" -ge 1 ]; then grep -q "^staleness  *no anomaly$" verdicts; fi
    if [ "$((10#$DEMO_STAGE))" -ge 2 ]; then grep -q "^ryw  *no anomaly$" verdicts; fi
    ! grep -E "ANOMALY|bad input|unknown|exit [0-9]" verdicts
'

test_expect_success 'the report has its sections, a row per op type, and the partition of the leader' '
    report=$test_scratch/report
    grep -q "^== readpath demo: stage $DEMO_STAGE" "$report"
    grep -q "^== reads and writes, per op type" "$report"
    grep -q "^== leadership and the partition" "$report"
    grep -q "^== checkers" "$report"
    ops="read write cas"
    [ "$((10#$DEMO_STAGE))" -ge 1 ] && ops="$ops follower_read"
    [ "$((10#$DEMO_STAGE))" -ge 2 ] && ops="$ops ryw_read"
    [ "$((10#$DEMO_STAGE))" -ge 3 ] && ops="$ops lease_read"
    for op in $ops; do
        grep -Eq "^$op +[0-9]+ +[1-9][0-9]* " "$report" || { echo "no row with ok ops for $op"; exit 1; }
    done
    # one timeline row per node, and the partition and heal marked on the faults row
    test "$(grep -Ec "^n[1-3] +[-LlxX]+$" "$report")" -eq 3
    grep -Eq "^faults +P +H$" "$report"
    # the node that was cut off led before the cut (its row shows L, then l or x)
    cut=$(sed -n "s/^   P at .*: partition \(n[0-9]\) | .*/\1/p" "$report")
    echo "cut off: $cut"
    grep -Eq "^$cut +-*L+[lx]+" "$report"
    # a new leader of a higher term was elected on the majority side
    grep -Eq "^   n[0-9] leader of term [2-9]" "$report"
'

test_expect_success 'a report that is not written to a terminal has no colour codes' '
    ! grep -q $'"'"'\e\['"'"' "$test_scratch/report"
'

# Negative control: the demo only relays verdicts, so a checker that finds an anomaly
# must show up as ANOMALY with its explanation, and the demo must exit non-zero.
test_expect_success 'a checker that finds an anomaly makes the demo say ANOMALY and fail' '
    mkdir fake
    for tool in "$BUILD_DIR"/cluster "$BUILD_DIR"/check-*; do ln -s "$tool" fake/; done
    rm fake/check-linearizable
    printf "%s\n" "#!/bin/sh" "echo \"anomaly: read of key 1 saw a value never written (planted)\"" "exit 1" \
        >fake/check-linearizable
    chmod +x fake/check-linearizable
    status=0
    timeout -k 2 "$(scaled 60)" env READPATH_BUILD="$PWD/fake" STAGE="$DEMO_STAGE" \
        DEMO_SECONDS=2 DEMO_DIR="$PWD/run" "$READPATH_ROOT/checks/demo.sh" >report 2>&1 || status=$?
    sed -n "/^== checkers/,\$p" report
    test "$status" -eq 1
    grep -q "^linearizable  *ANOMALY$" report
    grep -q "^  *anomaly: read of key 1 saw a value never written (planted)$" report
'

test_done
