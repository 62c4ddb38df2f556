# checks/lib.sh: a small sharness-like library for the black-box TAP suites.
# Source it from a bash suite (`. "$(dirname "$0")/lib.sh"`), declare tests, end with
# `test_done`. Needs bash, jq, coreutils `timeout`.
#
# Tests
#   test_expect_success 'what it shows' 'commands'
#       Runs the commands with bash -e semantics (errexit, pipefail, inherit_errexit)
#       in a subshell whose cwd is a fresh scratch directory (removed at exit; kept if
#       READPATH_KEEP=1), prints `ok N - ...` or `not ok N - ...` followed by
#       everything the commands printed, as `# ` lines. Put one command per line:
#       under errexit a failing `a && b` that is not the last line is not a failure.
#   test_expect_failure 'what it shows' 'commands'
#       A known breakage: reported as TODO, never fails the suite.
#   test_done      prints the plan `1..N`; exits 1 if any test failed.
#   skip_all 'why' prints `1..0 # SKIP why` and exits 0 (call before any test).
#
# Prerequisites (declare them once, at the top of a suite, before any test; a missing
# one skips the whole suite with `1..0 # SKIP ...`)
#   test_require CMD...     each CMD is on PATH.
#   require_node            NODE_BIN is set and executable.
#   require_feature TYPE... require_node, and the node accepts each client message TYPE:
#                           `$NODE_BIN --help` has a line `client messages (SPEC.md): ...`
#                           listing the types it accepts (read write cas at stage 00).
#   The scratch directories go away in lib.sh's EXIT trap (test_cleanup); a suite
#   that sets its own EXIT trap calls test_cleanup from it.
#
# Running the node
#   NODE_BIN       the node under test; default: the last `$READPATH_BUILD/*/node`
#                  (build/ by default), i.e. the newest stage. Made absolute.
#   node_pipe [ARGS...] < input
#       Runs `$NODE_BIN ARGS...` with that stdin, stdout to ./out, stderr to ./err,
#       under `timeout` (NODE_TIMEOUT seconds, default 5, times READPATH_TIME_SCALE),
#       and fails unless it exits 0. NODE_OUT / NODE_ERR rename the two files.
#   scaled SECONDS prints SECONDS * READPATH_TIME_SCALE (default 1).
#   wait_lines FILE N [SECONDS]
#       Polls until FILE has at least N lines (for a node still running in the
#       background); fails after SECONDS (default 5, scaled) saying what it has.
#   now_ms         wall-clock milliseconds (date +%s%N), for timing a run.
#   node_start [ARGS...]
#       Starts `$NODE_BIN ARGS...` in the background (under timeout, 20 s scaled) with its
#       stdin a fifo held open on fd 3, stdout to ./out, stderr to ./err; sets $pid.
#       Write lines with `>&3`; node_stop closes fd 3 and waits for it.
#   wait_for FILTER [FILE]
#       Polls FILE (./out) until some line satisfies the jq filter and prints that line:
#       the node's message is the event waited for. Fails after 5 s (scaled), showing
#       what FILE holds.
#
# Building input lines (printed on stdout, one JSON line each)
#   init_line NODE IDS [MSG_ID]    init from c0 to NODE; IDS comma-separated (n1,n2,n3)
#   client_line NODE BODY [SRC]    an envelope from SRC (default c1) to NODE; BODY is
#                                  pasted verbatim, so it may be deliberately malformed
#   client_lines NODE [SRC] <<'EOF'
#       client_line for each line of stdin: one request body per line (blank lines are
#       skipped), so a test writes its requests as plain JSON in a heredoc.
#
# Comparing JSON (every comparison is a field subset: extra fields are allowed)
#   json_subset EXPECTED FILE   some line of FILE holds every field of EXPECTED,
#                               recursively (objects: subset; arrays: same length,
#                               element by element; scalars: equal). On failure prints
#                               the expected object, the nearest candidate lines and,
#                               per candidate, which fields differ.
#   json_subsets FILE EXPECTED...  json_subset of each (one jq run when they all pass).
#   expect_lines FILE <<'EOF'
#       json_subsets FILE with the expected objects read from stdin, one per line (blank
#       lines are skipped): plain JSON in a heredoc, the same diagnostics on failure.
#   expect_no_lines FILE <<'EOF'
#       json_absent FILE for each object read from stdin, one per line.
#   json_absent EXPECTED FILE   no line of FILE matches EXPECTED as a subset.
#   json_count EXPECTED FILE    prints how many lines of FILE match EXPECTED.
#   json_lines FILE             every line of FILE is one JSON object, nothing else.
#   json_reply N FILE [DEST]    prints the one line of FILE whose body.in_reply_to is N
#                               (and whose dest is DEST, if given); fails unless
#                               exactly one line is.
#   test_cmp EXPECTED ACTUAL    files are equal; prints a unified diff otherwise.

READPATH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
READPATH_TIME_SCALE=${READPATH_TIME_SCALE:-1}

for _tool in jq timeout; do
    if ! command -v "$_tool" >/dev/null 2>&1; then
        echo "Bail out! $_tool not found (checks/deps.sh installs it)"
        exit 1
    fi
done

if [ -z "${NODE_BIN:-}" ]; then
    _nodes=("$READPATH_ROOT/${READPATH_BUILD:-build}"/*/node)
    [ -x "${_nodes[-1]}" ] && NODE_BIN=${_nodes[-1]}
fi
case "${NODE_BIN:-}" in
'') ;;
/*) ;;
*) NODE_BIN=$PWD/$NODE_BIN ;;
esac
export NODE_BIN

# refute CMD...: succeeds only if CMD fails. Use it for "must not happen" checks: a bare
# `! cmd` never fails a test body, because errexit ignores a negated command.
refute() { if "$@"; then echo "expected to fail: $*"; return 1; fi; }

# need_runner: sets CLUSTER, CHECK_LIN and SCENARIOS for a suite that runs clusters, or
# skips the whole suite when the runner, the checkers or the node are not built.
need_runner() {
    CLUSTER=$READPATH_ROOT/${READPATH_BUILD:-build}/cluster
    CHECK_LIN=$READPATH_ROOT/${READPATH_BUILD:-build}/check-linearizable
    SCENARIOS=$READPATH_ROOT/checks/scenarios
    [ -x "$CLUSTER" ] || skip_all "no $CLUSTER (build it with: make tools)"
    [ -x "$CHECK_LIN" ] || skip_all "no checkers (build them with: make tools)"
    [ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"
}

# time_stretch prints READPATH_TIME_SCALE rounded up to a whole number, at least 1: the
# factor by which a suite with a scripted timeline stretches it under sanitizers.
time_stretch() {
    awk -v k="$READPATH_TIME_SCALE" 'BEGIN { c = int(k); if (c < k) c++; if (c < 1) c = 1; print c }'
}

# stretch_scenario K FILE prints the scenario FILE with every "at Ns" time multiplied by
# K (times written in ms are left as they are).
stretch_scenario() {
    awk -v k="$1" '$1 == "at" && $2 ~ /s$/ && $2 !~ /ms$/ { t = $2; sub(/s$/, "", t); $2 = sprintf("%.6fs", t * k) } { print }' "$2"
}

test_require() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || skip_all "$cmd not found"
    done
}

require_node() {
    [ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"
}

require_feature() {
    local types type
    require_node
    types=$(timeout "$(scaled 5)" "$NODE_BIN" --help </dev/null 2>&1 |
        sed -n 's/^client messages (SPEC\.md)://p' | head -n 1)
    for type in "$@"; do
        case " $types " in
        *" $type "*) ;;
        *) skip_all "$NODE_BIN accepts no $type (client messages:${types:- none listed})" ;;
        esac
    done
}

test_count=0
test_failures=0
test_scratch=$(mktemp -d "${TMPDIR:-/tmp}/readpath-checks.XXXXXX")
test_cleanup() { [ "${READPATH_KEEP:-0}" = 1 ] || rm -rf "$test_scratch"; }
trap test_cleanup EXIT

skip_all() {
    echo "1..0 # SKIP $1"
    exit 0
}

# Runs one test body; leaves its status in test_status and its output in test_log.
# The subshell is a plain statement (not inside `if` or `||`) because bash ignores
# errexit for everything run in a tested context.
test_run_() {
    local dir="$test_scratch/t$test_count"
    mkdir -p "$dir"
    test_log="$dir.log"
    case $- in *e*) set +e; local outer_errexit=1 ;; *) local outer_errexit=0 ;; esac
    (
        cd "$dir" || exit 1
        set -eo pipefail
        shopt -s inherit_errexit
        eval "$1"
    ) </dev/null >"$test_log" 2>&1
    test_status=$?
    [ "$outer_errexit" = 1 ] && set -e
    return 0
}

test_show_log_() { sed 's/^/# /' "$test_log"; }

test_expect_success() {
    test_count=$((test_count + 1))
    test_run_ "$2"
    if [ "$test_status" -eq 0 ]; then
        echo "ok $test_count - $1"
        [ "${READPATH_VERBOSE:-0}" = 1 ] && test_show_log_
    else
        test_failures=$((test_failures + 1))
        echo "not ok $test_count - $1"
        test_show_log_
    fi
    return 0
}

test_expect_failure() {
    test_count=$((test_count + 1))
    test_run_ "$2"
    if [ "$test_status" -eq 0 ]; then
        echo "ok $test_count - $1 # TODO known breakage vanished"
    else
        echo "not ok $test_count - $1 # TODO known breakage"
    fi
    return 0
}

test_done() {
    echo "1..$test_count"
    [ "$test_failures" -eq 0 ] || echo "# failed $test_failures of $test_count"
    [ "$test_failures" -eq 0 ]
    exit
}

scaled() { awk -v s="$1" -v k="$READPATH_TIME_SCALE" 'BEGIN { print s * k }'; }

node_pipe() {
    local out=${NODE_OUT:-out} err=${NODE_ERR:-err} limit status
    limit=$(scaled "${NODE_TIMEOUT:-5}")
    if [ -z "$NODE_BIN" ] || [ ! -x "$NODE_BIN" ]; then
        echo "node_pipe: no node binary (NODE_BIN='$NODE_BIN'; build one with make)"
        return 1
    fi
    status=0
    timeout -k 1 "$limit" "$NODE_BIN" "$@" >"$out" 2>"$err" || status=$?
    if [ "$status" -ne 0 ]; then
        if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
            echo "node_pipe: $NODE_BIN $* still running after ${limit}s (killed)"
        else
            echo "node_pipe: $NODE_BIN $* exited with status $status (expected 0)"
        fi
        echo "--- stdout (last 20 lines)"
        tail -n 20 "$out" | cut -c1-300
        echo "--- stderr (last 20 lines)"
        tail -n 20 "$err" | cut -c1-300
        return 1
    fi
}

wait_lines() {
    local file=$1 want=$2 deadline
    deadline=$(($(now_ms) + $(scaled "${3:-5}" | awk '{ printf "%d", $1 * 1000 }')))
    while [ "$(wc -l <"$file" 2>/dev/null || echo 0)" -lt "$want" ]; do
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "wait_lines: $file has $(wc -l <"$file" 2>/dev/null || echo 0) lines after ${3:-5}s, wanted $want:"
            cut -c1-300 "$file" 2>/dev/null | tail -n 10
            return 1
        fi
        sleep 0.01
    done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

init_line() {
    local ids
    ids=$(printf '%s' "$2" | jq -Rc 'split(",")')
    printf '{"src":"c0","dest":"%s","body":{"type":"init","msg_id":%s,"node_id":"%s","node_ids":%s}}\n' \
        "$1" "${3:-1}" "$1" "$ids"
}

client_line() {
    printf '{"src":"%s","dest":"%s","body":%s}\n' "${3:-c1}" "$1" "$2"
}

client_lines() {
    local body
    while IFS= read -r body || [ -n "$body" ]; do
        case $body in *[![:space:]]*) client_line "$1" "$body" "${2:-}" ;; esac
    done
}

# jq definitions shared by the comparisons. Input lines that are not JSON are skipped
# here (json_lines is the test that rejects them).
json_lib_='
def subset($e; $a):
  if ($e | type) == "object" then
    ($a | type) == "object"
    and all($e | to_entries[]; . as $f | ($a | has($f.key)) and subset($f.value; $a[$f.key]))
  elif ($e | type) == "array" then
    ($a | type) == "array" and ($e | length) == ($a | length)
    and all(range(0; $e | length); subset($e[.]; $a[.]))
  else $e == $a end;
def why($e; $a; $p):
  if ($e | type) == "object" then
    if ($a | type) != "object" then ["\($p): expected an object, got \($a | tojson)"]
    else [$e | to_entries[] | . as $f
          | if ($a | has($f.key)) | not then "\($p).\($f.key): missing (expected \($f.value | tojson))"
            else why($f.value; $a[$f.key]; "\($p).\($f.key)")[] end]
    end
  elif ($e | type) == "array" then
    if ($a | type) != "array" or ($a | length) != ($e | length)
    then ["\($p): expected \($e | tojson), got \($a | tojson)"]
    else [range(0; $e | length) as $i | why($e[$i]; $a[$i]; "\($p)[\($i)]")[]] end
  elif $e == $a then []
  else ["\($p): expected \($e | tojson), got \($a | tojson)"] end;
def short: tojson | if length > 300 then .[:300] + "..." else . end;
def lines: [inputs | fromjson? // empty];
'

json_subset() {
    local expected=$1 file=$2
    if jq -nRe --argjson e "$expected" "$json_lib_"'any(lines[]; subset($e; .))' "$file" >/dev/null 2>&1; then
        return 0
    fi
    if ! jq -ne --argjson e "$expected" '$e' >/dev/null 2>&1; then
        echo "json_subset: expected value is not JSON: $expected"
        return 1
    fi
    jq -nRr --argjson e "$expected" "$json_lib_"'
      lines as $ls
      | "json_subset: no line of '"$file"' (\($ls | length) JSON lines) holds these fields:",
        "  expected: \($e | tojson)",
        ( [$ls[] | {line: ., why: why($e; .; "")}] | sort_by(.why | length) | .[:5][]
          | "  candidate: \(.line | short)", "    \(.why[:4][])" )' "$file"
    return 1
}

# json_subsets FILE EXPECTED...: json_subset for each, in one jq run when all match.
json_subsets() {
    local file=$1 e status=0
    shift
    if jq -nRe "$json_lib_"'lines as $ls | all($ARGS.positional[] | fromjson; . as $e | any($ls[]; subset($e; .)))' \
        "$file" --args "$@" >/dev/null 2>&1 </dev/null; then
        return 0
    fi
    for e in "$@"; do json_subset "$e" "$file" || status=1; done
    return $status
}

expect_lines() {
    local file=$1 line
    local -a expected=()
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in *[![:space:]]*) expected+=("$line") ;; esac
    done
    if [ "${#expected[@]}" -eq 0 ]; then
        echo "expect_lines: no expected objects on stdin"
        return 1
    fi
    json_subsets "$file" "${expected[@]}"
}

expect_no_lines() {
    local file=$1 line status=0 count=0
    while IFS= read -r line || [ -n "$line" ]; do
        case $line in *[![:space:]]*) ;; *) continue ;; esac
        count=$((count + 1))
        json_absent "$line" "$file" || status=1
    done
    if [ "$count" -eq 0 ]; then
        echo "expect_no_lines: no objects on stdin"
        return 1
    fi
    return $status
}

json_absent() {
    local expected=$1 file=$2
    if jq -nRe --argjson e "$expected" "$json_lib_"'any(lines[]; subset($e; .)) | not' "$file" >/dev/null; then
        return 0
    fi
    echo "json_absent: a line of $file holds all of $expected:"
    jq -nRr --argjson e "$expected" "$json_lib_"'lines[] | select(subset($e; .)) | short' "$file" | head -n 5
    return 1
}

json_count() {
    jq -nR --argjson e "$1" "$json_lib_"'[lines[] | select(subset($e; .))] | length' "$2"
}

json_lines() {
    local file=$1
    if jq -nRe '[inputs | (fromjson? | type == "object") // false] | all' "$file" >/dev/null; then
        return 0
    fi
    echo "json_lines: lines of $file that are not one JSON object each:"
    jq -nRr '[inputs] | to_entries[]
             | select((.value | fromjson? | type == "object") // false | not)
             | "  line \(.key + 1): \(.value[:200])"' "$file" | head -n 10
    return 1
}

json_reply() {
    local n=$1 file=$2 dest=${3:-} found count
    found=$(jq -nRc --argjson n "$n" --arg d "$dest" "$json_lib_"'
      lines[] | select(.body.in_reply_to? == $n and ($d == "" or .dest == $d))' "$file")
    count=$(printf '%s' "$found" | grep -c '' || true)
    if [ "$count" -ne 1 ]; then
        echo "json_reply: expected one reply to msg_id $n${dest:+ for $dest} in $file, found $count"
        printf '%s\n' "$found" | cut -c1-300 | head -n 5
        return 1
    fi
    printf '%s\n' "$found"
}

test_cmp() { diff -u "$1" "$2"; }

node_start() {
    mkfifo in
    timeout -k 1 "$(scaled 20)" "$NODE_BIN" "$@" <in >out 2>err &
    pid=$!
    exec 3>in
}

node_stop() {
    exec 3>&-
    wait "$pid"
}

wait_for() {
    local file=${2:-out} deadline line
    deadline=$(($(now_ms) + $(scaled 5 | awk '{ printf "%d", $1 * 1000 }')))
    while :; do
        line=$(jq -c "select($1)" "$file" 2>/dev/null | head -n 1)
        [ -n "$line" ] && { echo "$line"; return 0; }
        if [ "$(now_ms)" -gt "$deadline" ]; then
            echo "no line of $file satisfies: $1" >&2
            cut -c1-300 "$file" >&2
            return 1
        fi
        sleep 0.01
    done
}
