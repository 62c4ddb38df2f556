#!/usr/bin/env bash
# make grade, in its short mode (GRADE_SHORT=1: one fault run, the highest stage's):
# the reference stage 03 node scores 100% at stage 03; the negative control
# (build/naive-node, one map per process) passes the piped course examples and fails
# stage 00's cluster checks with check-linearizable's counterexample; the python
# starter passes init and the protocol basics and fails the key/value checks.
. "$(dirname "$0")/lib.sh"

BUILD_DIR=$READPATH_ROOT/${READPATH_BUILD:-build}
REFERENCE=$BUILD_DIR/03-lease-reads/node
[ -x "$BUILD_DIR/cluster" ] && [ -x "$BUILD_DIR/check-linearizable" ] && [ -x "$BUILD_DIR/naive-node" ] ||
    skip_all "no runner, checkers or naive node in $BUILD_DIR (build them with: make)"
[ -x "$REFERENCE" ] || skip_all "no $REFERENCE (build it with: make)"
# The grader is shell around the reference node, which every other suite already runs
# under the sanitizers; in that pass (READPATH_TIME_SCALE > 1) this minute is skipped.
awk -v k="$READPATH_TIME_SCALE" 'BEGIN { exit !(k > 1) }' &&
    skip_all "stretched time (READPATH_TIME_SCALE=$READPATH_TIME_SCALE): the plain pass grades"

grade() { # grade STAGE NODE: the scorecard in ./card, the exit status in ./status
    local status=0
    timeout -k 2 "$(scaled 120)" env READPATH_BUILD="${READPATH_BUILD:-build}" GRADE_SHORT=1 \
        "$READPATH_ROOT/checks/grade/grade.sh" "$1" "$2" >card 2>&1 || status=$?
    echo "$status" >status
    cat card
}

# card_line KIND TITLE-PREFIX: the scorecard's verdict (ok, FAIL, skip) for that check.
verdict() { awk -v k="$1" -v t="$2" '$2 == k && index($0, t) { print $1; exit }' card; }

test_expect_success 'the reference stage 03 node scores 100% at stage 03' '
    grade 03 "$REFERENCE"
    test "$(cat status)" -eq 0
    for s in 00 01 02 03; do
        grep -Eq "^stage $s: ([0-9]+)/\\1 passed" card
    done
    refute grep -q "FAIL" card
'

test_expect_success 'the naive node passes the piped course examples and fails stage 00 in a cluster, with a counterexample' '
    grade 00 "$BUILD_DIR/naive-node"
    test "$(cat status)" -eq 1
    grep -q "^stage 00: .*example 3/3" card
    test "$(verdict faults "a 3-node cluster acknowledges a write")" = ok
    test "$(verdict faults "a write acknowledged by one node is then read at every node")" = FAIL
    test "$(verdict faults "partitions")" = FAIL
    # the counterexample: check-linearizable names the read that cannot be placed
    grep -q "| NOT linearizable" card
    grep -q "read key \"x\" -> fail (error 20)" card
    # and its run as an HTML report, the offending ops marked as the anomaly
    report=$(sed -n "s/^ *| report: //p" card | head -n 1)
    echo "report: $report"
    test -s "$report"
    grep -q "<h3>check-linearizable: ANOMALY</h3>" "$report"
    grep -q "<li class=\"anomaly\"" "$report"
'

test_expect_success 'the python starter passes init and the protocol basics and fails the key/value checks' '
    command -v python3 >/dev/null || { echo "no python3: nothing to run the starter with"; exit 0; }
    grade 00 "$READPATH_ROOT/starter/python/node.py"
    test "$(cat status)" -eq 1
    test "$(verdict example "init is answered by init_ok with msg_id 0")" = ok
    test "$(verdict protocol "an unknown type: error 10")" = ok
    test "$(verdict protocol "an unparsable line is skipped")" = ok
    test "$(verdict protocol "end of input: the node exits with status 0")" = ok
    test "$(verdict example "write, then read returns the value")" = FAIL
    test "$(verdict protocol "read of a missing key")" = FAIL
    test "$(verdict faults "a 3-node cluster acknowledges a write")" = FAIL
    # the first failure says what was sent, what came back and what was expected
    grep -A4 "FAIL  example  write, then read" card | grep -q "got: .*\"code\":10"
'

test_expect_success 'the C starter builds from a copy beside the workbook and answers init and error 10' '
    cp -r "$READPATH_ROOT/starter/c" mine
    make -s -C mine READPATH="$READPATH_ROOT" >build.log 2>&1 || { cat build.log; false; }
    { init_line n1 n1
      client_line n1 "{\"type\":\"write\",\"msg_id\":2,\"key\":\"x\",\"value\":1}"
    } | NODE_BIN=$PWD/mine/node node_pipe
    json_subsets out "{\"body\":{\"type\":\"init_ok\",\"in_reply_to\":1,\"msg_id\":0}}" \
        "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":10}}"
'

test_done
