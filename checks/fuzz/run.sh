#!/usr/bin/env bash
# checks/fuzz/run.sh: what `make fuzz` runs. Fuzzes $FUZZ_BIN for $FUZZ_SECONDS seconds,
# starting from the committed seed corpus (checks/fuzz/corpus, read-only here) plus the
# inputs earlier runs found (build/fuzz/corpus/<stage>, kept between runs), then replays
# that whole corpus once more with a leak check on every input (READPATH_FUZZ_LEAKS=1;
# too slow to do while fuzzing). A crash, sanitizer report, hang, bad output line or
# leak is saved under build/fuzz/artifacts/ and printed with the command that turns it
# into a piped line file for a regression test (checks/fuzz/README.md).
#
#   FUZZ_BIN=build/fuzz/02-read-your-writes/fuzz-node FUZZ_SECONDS=60 checks/fuzz/run.sh
#   FUZZ_ARGS='-jobs=2' ...   extra libFuzzer flags
# Exit: 0 when nothing was found, 1 otherwise.
set -u
cd "$(dirname "$0")/../.."
: "${FUZZ_BIN:?FUZZ_BIN is set by make fuzz}"
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
stage=$(basename "$(dirname "$FUZZ_BIN")")
work=build/fuzz/corpus/$stage
artifacts=build/fuzz/artifacts/$stage/
mkdir -p "$work" "$artifacts"
log=build/fuzz/$stage.log
# UBSan's report names the line; with a stack it also names the caller.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

echo "fuzz: $FUZZ_BIN for ${FUZZ_SECONDS}s; corpus $work + checks/fuzz/corpus; log $log"
# -max_len: inputs up to 8 KB (dozens of lines). -timeout: the child gives up itself
# after 10 s; this is the backstop. UBSan halts (the build says -fno-sanitize-recover).
status=0
# shellcheck disable=SC2086
"$FUZZ_BIN" -max_total_time="$FUZZ_SECONDS" -max_len=8192 -timeout=30 -rss_limit_mb=4096 \
    -dict=checks/fuzz/json.dict -artifact_prefix="$artifacts" -print_final_stats=1 \
    ${FUZZ_ARGS:-} "$work" checks/fuzz/corpus >"$log" 2>&1 || status=$?
grep -E '^#[0-9]+.*(INITED|DONE)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added' "$log" |
    sed 's/^/fuzz: /'
if [ "$status" -ne 0 ]; then
    echo "fuzz: FOUND a failure (libFuzzer exit $status); the end of $log:"
    grep -v '^#' "$log" | tail -n 60 | cut -c1-300
fi

# The leak pass: every input of the corpus, once, with LeakSanitizer in the child.
echo "fuzz: leak check over $(find "$work" checks/fuzz/corpus -type f | wc -l) corpus inputs"
leak_status=0
READPATH_FUZZ_LEAKS=1 "$FUZZ_BIN" -runs=0 -timeout=30 -artifact_prefix="$artifacts" \
    "$work" checks/fuzz/corpus >"$log.leaks" 2>&1 || leak_status=$?
if [ "$leak_status" -ne 0 ]; then
    echo "fuzz: FOUND a leak or failure replaying the corpus; the end of $log.leaks:"
    tail -n 60 "$log.leaks" | cut -c1-300
    status=1
else
    echo "fuzz: leak check clean"
fi

if [ "$status" -ne 0 ]; then
    echo "fuzz: artifacts in $artifacts:"
    ls -t "$artifacts" | head -n 10 | sed 's/^/    /'
    echo "fuzz: replay one:  $FUZZ_BIN ${artifacts}FILE"
    echo "fuzz: as a line file for checks/fuzz/regressions/:"
    echo "      READPATH_FUZZ_DUMP=checks/fuzz/regressions/NAME.in $FUZZ_BIN ${artifacts}FILE"
    exit 1
fi
echo "fuzz: nothing found"
