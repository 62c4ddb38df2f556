#!/usr/bin/env bash
# make grade STAGE=NN NODE=path: black-box checks of stages 00..NN against any
# executable that speaks Maelstrom on stdin/stdout, and a scorecard per stage.
#
#   checks/grade/grade.sh NN NODE
#
# Three kinds of check, labelled on the scorecard:
#   example   the course task's request/response examples and sample cases (examples/)
#   protocol  error codes, bad input, end of input, reply schemas (one node, one client)
#   faults    3-node clusters under build/cluster with partitions and pauses (and
#             kill/restart when the node's --help mentions --data-dir), each history
#             judged by the checkers
# Nothing is passed to the node but Maelstrom messages (no flags, no environment
# switches), so the node runs with its own defaults.
#
# A fault check whose checker finds an anomaly writes an HTML report of its run
# (build/grade-reports/stage-NN-check-K.html, or $GRADE_REPORTS; checks/report/README.md)
# and prints its path.
#
# GRADE_SHORT=1 keeps one fault run, the highest stage's, whose op mix covers every
# stage (what checks/tools-grade.sh uses). GRADE_STAGE_ONLY=1 keeps only stage NN's
# examples and protocol checks, no fault run: the quick verdict on an unfinished
# exercise skeleton (checks/tools-exercise.sh). Exit status 1 when any check fails.
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 STAGE NODE   (e.g. $0 00 starter/python/node.py)" >&2
    exit 2
fi
GRADE_STAGE=$((10#$1))
NODE=$2
case $NODE in /*) ;; *) NODE=$PWD/$NODE ;; esac
if [ ! -x "$NODE" ] || [ -d "$NODE" ]; then
    echo "grade: $NODE is not an executable file (NODE=path/to/your/node; chmod +x it)" >&2
    exit 2
fi
export NODE
NODE_BIN=$NODE
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib.sh"
for tool in "$CLUSTER" "$GRADE_BUILD/check-linearizable" "$GRADE_BUILD/check-staleness" "$GRADE_BUILD/check-ryw"; do
    [ -x "$tool" ] || {
        echo "grade: no $tool (build it with: make tools)" >&2
        exit 2
    }
done

# Fault runs: the full set, or (short) only the highest stage's.
fault_run_wanted() {
    [ "${GRADE_STAGE_ONLY:-0}" != 1 ] && { [ "${GRADE_SHORT:-0}" != 1 ] || [ "$1" -eq "$GRADE_STAGE" ]; }
}
first_stage=0
[ "${GRADE_STAGE_ONLY:-0}" != 1 ] || first_stage=$GRADE_STAGE

# A failed fault check leaves an HTML report of its run here; last time's go first.
rm -f "$GRADE_REPORTS"/stage-*-check-*.html 2>/dev/null || true
echo "grading $NODE, stages 00..$(printf %02d "$GRADE_STAGE")${GRADE_SHORT:+ (short)}"
names=("raft kv: read, write, cas (Maelstrom lin-kv)" "follower reads with bounded staleness"
    "read-your-writes" "lease reads")
for stage in $(seq "$first_stage" "$GRADE_STAGE"); do
    nn=$(printf %02d "$stage")
    echo
    echo "== stage $nn: ${names[$stage]}"
    . "$GRADE_DIR/stage-$nn.sh"
    grade_stage_summary "$nn" >"$test_scratch/summary-$nn"
    cat "$test_scratch/summary-$nn"
done
echo
cat "$test_scratch"/summary-*
reports=$(ls "$GRADE_REPORTS"/stage-*-check-*.html 2>/dev/null | wc -l)
[ "$reports" -gt 0 ] &&
    echo "$reports HTML report(s) of failed fault checks, the anomaly highlighted: $GRADE_REPORTS/"
[ "$grade_total_fail" -eq 0 ]
