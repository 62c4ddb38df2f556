#!/usr/bin/env bash
# Fuzzing's regression tests: every input in checks/fuzz/regressions/*.in (a crash or
# failure checks/fuzz once found, as the exact lines the node read) is piped into the
# node under test. It must exit 0 with no sanitizer report on stderr and only JSON
# lines on stdout. Inputs named in checks/fuzz/regressions/KNOWN are known breakages
# (TODO). Then, if the fuzz target of the newest stage is built (make fuzz-build) and
# newer than every source it is built from, it replays the seed corpus once, with a
# leak check on every input. (Negative control: against the node of 491fa67^, before
# the end-of-input-before-init fix, four of the five eof/crash inputs fail.)
. "$(dirname "$0")/lib.sh"

REGRESSIONS=$READPATH_ROOT/checks/fuzz/regressions
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"

known() { grep -qxF "$1" "$REGRESSIONS/KNOWN" 2>/dev/null; }
# Run as a test body: pipe one input, judge exit status, stderr and stdout.
replay='
    node_pipe <"$input"
    if grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: .*Sanitizer" err; then
        echo "a sanitizer report on stderr (above)"
        false
    fi
    json_lines out
'
for input in "$REGRESSIONS"/*.in; do
    [ -e "$input" ] || continue
    name=$(basename "$input")
    what="fuzz regression $name: exit 0, no sanitizer report, JSON lines only"
    export input
    if known "$name"; then
        test_expect_failure "$what" "$replay"
    else
        test_expect_success "$what" "$replay"
    fi
done

FUZZ_BIN=
for f in "$READPATH_ROOT"/build/fuzz/[0-9][0-9]-*/fuzz-node; do [ -x "$f" ] && FUZZ_BIN=$f; done
stale=
if [ -n "$FUZZ_BIN" ]; then
    stale=$(find "$READPATH_ROOT/common" "$READPATH_ROOT/stages" "$READPATH_ROOT/checks/fuzz" \
        -name '*.[ch]' -newer "$FUZZ_BIN" -print -quit)
fi
if [ -z "$FUZZ_BIN" ] || [ -n "$stale" ]; then
    test_count=$((test_count + 1))
    why="not built: make fuzz-build"
    [ -n "$stale" ] && why="${FUZZ_BIN#"$READPATH_ROOT"/} is older than ${stale#"$READPATH_ROOT"/}: make fuzz-build"
    echo "ok $test_count # skip the seed corpus replays clean under the fuzz target ($why)"
else
    export FUZZ_BIN
    test_expect_success "the seed corpus replays clean under $(basename "$(dirname "$FUZZ_BIN")")'s fuzz target, with leak checks" '
        status=0
        READPATH_FUZZ_LEAKS=1 timeout "$(scaled 120)" "$FUZZ_BIN" -runs=0 -artifact_prefix="$PWD/" \
            "$READPATH_ROOT/checks/fuzz/corpus" >log 2>&1 || status=$?
        grep -E "INITED|DONE" log
        [ "$status" -eq 0 ] || { tail -n 40 log; false; }
    '
fi
test_done
