#!/usr/bin/env bash
# make exercise: every skeleton under exercises/ builds (with the project's -Wall -Wextra
# -Werror -pedantic) into a node, and that node FAILS its own stage's grade: a skeleton
# that passes has left the answer in. The quick grade (GRADE_STAGE_ONLY=1: the stage's
# examples and protocol checks, no fault run) must fail on a check that ran, not only on
# one skipped for want of stage 00's readiness run. That the solutions score 100% is
# checks/tools-grade.sh's test.
. "$(dirname "$0")/lib.sh"

BUILD_DIR=${READPATH_BUILD:-build}
[ -x "$READPATH_ROOT/$BUILD_DIR/cluster" ] && [ -x "$READPATH_ROOT/$BUILD_DIR/check-linearizable" ] ||
    skip_all "no runner or checkers in $BUILD_DIR (build them with: make)"
# As tools-grade.sh: the grader is shell around nodes every other suite runs under the
# sanitizers, so the stretched-time pass skips it.
awk -v k="$READPATH_TIME_SCALE" 'BEGIN { exit !(k > 1) }' &&
    skip_all "stretched time (READPATH_TIME_SCALE=$READPATH_TIME_SCALE): the plain pass grades"

quick_grade() { # quick_grade STAGE NODE: the card in ./card, the exit status in ./status
    local status=0
    timeout -k 2 "$(scaled 60)" env READPATH_BUILD="$BUILD_DIR" GRADE_SHORT=1 GRADE_STAGE_ONLY=1 \
        "$READPATH_ROOT/checks/grade/grade.sh" "$1" "$2" >card 2>&1 || status=$?
    echo "$status" >status
}

# ran_and_failed CARD: prints the FAIL lines of checks that ran (a check not run for want
# of stage 00's readiness run does not count); fails when there are none.
ran_and_failed() {
    awk '{ if (pending) { if ($0 !~ /not run:/) { print pending; n++ } pending = "" } }
        /^  FAIL/ { pending = $0 }
        END { if (pending) { print pending; n++ } exit !n }' "$1"
}

for dir in "$READPATH_ROOT"/exercises/*/; do
    exercise=$(basename "$dir")
    stage=${exercise%%-*}
    export exercise stage
    test_expect_success "exercise $exercise: the skeleton builds with -Werror and fails stage $stage's quick grade" '
        make -s -C "$READPATH_ROOT" --no-print-directory BUILD="$BUILD_DIR" \
            "$BUILD_DIR/exercise/$exercise/node" >make.out 2>&1 || { cat make.out; false; }
        quick_grade "$stage" "$READPATH_ROOT/$BUILD_DIR/exercise/$exercise/node"
        grep -E "^ *(ok|FAIL) |^stage " card
        [ "$(cat status)" -eq 1 ]
        ran_and_failed card
    '
done

test_done
