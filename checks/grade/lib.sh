# checks/grade/lib.sh: what the graded checks are made of. Sourced by grade.sh after
# checks/lib.sh (json_lib_, json_subset, init_line, client_line, scaled, now_ms).
#
# Every check is black-box: it talks to $NODE only through its stdin and stdout, as a
# Maelstrom client would, and never through peer messages, log lines, flags or
# environment switches of the reference nodes.
#
# Declaring checks
#   grade_check KIND 'what it shows' 'commands'
#       KIND is example (the course task's examples), protocol or faults. The commands
#       run with errexit in a fresh directory; exit 0 passes, `grade_skip WHY` skips,
#       anything else fails and what the commands printed goes on the scorecard.
#
# Talking to one node (a session; files ./in, ./out, ./err in the check's directory)
#   session_start IDS          start $NODE, send init (node n1, ids IDS, msg_id 1) and
#                              wait for init_ok (10 s); fails, showing what came, if none
#   ask BODY                   send BODY from c1 with the next msg_id (2, 3, ...), wait for
#                              its reply (10 s) and leave it in ./reply. An error 11 (a
#                              definite "not now", e.g. no leader yet) is retried with a
#                              new msg_id for up to 10 s, as a patient client would.
#   send BODY                  send BODY as it is (it may lack msg_id or be malformed)
#   session_close              close the node's stdin; sets eof_ms (EOF to exit, up to
#                              2 s, then the node is killed) and exit_status
#   expect_reply EXPECTED      ./reply holds every field of EXPECTED (a field subset);
#                              otherwise prints sent / got / expected / differs
#   expect_text_names WORD     ./reply's body.text contains WORD
#   pipe_through FILE          run $NODE with FILE on stdin (a task's sample input);
#                              output in ./out (5 s, then killed)
#   expect_line EXPECTED       some line of ./out holds EXPECTED (json_subset, explained)
#
# Clusters (the runner, build/cluster; a scenario's "at +Ns" counts from the moment the
# readiness check saw the first write acknowledged, plus a margin)
#   run_cluster SCENARIO [RUNNER FLAGS...]   history in ./h.jsonl, summary ./s.json
#   judge_linearizable / judge_staleness / judge_ryw   run a checker on ./h.jsonl
#   need_ok_ops N [F]          the history has at least N ok ops (of type F, if given)

GRADE_DIR=$READPATH_ROOT/checks/grade
GRADE_BUILD=$READPATH_ROOT/${READPATH_BUILD:-build}
CLUSTER=$GRADE_BUILD/cluster
# Where a failed fault check's HTML report goes (checks/report/README.md): kept after the
# run, the anomaly highlighted on the timeline.
GRADE_REPORTS=${GRADE_REPORTS:-$GRADE_BUILD/grade-reports}

grade_pass=0
grade_fail=0
grade_skipped=0
grade_total_fail=0
grade_kind_counts=()

grade_skip() {
    echo "$*"
    exit 77
}

# The scorecard line of one check, then (for a failure or a skip) what it printed.
grade_check() {
    local kind=$1 title=$2 dir status
    test_count=$((test_count + 1))
    dir=$test_scratch/g$test_count
    mkdir -p "$dir"
    set +e
    (
        cd "$dir" || exit 1
        # A check that fails mid-session leaves its node behind: end its process group.
        trap 'status=$?; [ -z "${node_pid:-}" ] || kill -9 -- "-$node_pid" 2>/dev/null || true; exit $status' EXIT
        set -eo pipefail
        shopt -s inherit_errexit
        eval "$3"
    ) </dev/null >"$dir.log" 2>&1
    status=$?
    case $status in
    0)
        grade_pass=$((grade_pass + 1))
        printf '  ok    %-8s %s\n' "$kind" "$title"
        grade_kind_counts+=("$kind:ok")
        ;;
    77)
        grade_skipped=$((grade_skipped + 1))
        printf '  skip  %-8s %s: %s\n' "$kind" "$title" "$(tail -n 1 "$dir.log")"
        ;;
    *)
        grade_fail=$((grade_fail + 1))
        printf '  FAIL  %-8s %s\n' "$kind" "$title"
        cut -c1-400 "$dir.log" | head -n "${GRADE_LOG_LINES:-40}" | sed 's/^/        | /'
        grade_kind_counts+=("$kind:fail")
        ;;
    esac
}

# "stage 00: 12/12 passed (example 4/4, protocol 6/6, faults 2/2)", and resets the counts.
grade_stage_summary() {
    local stage=$1 kind parts="" ok n
    for kind in example protocol faults; do
        ok=0 n=0
        for e in "${grade_kind_counts[@]}"; do
            case $e in "$kind:ok") ok=$((ok + 1)) n=$((n + 1)) ;; "$kind:"*) n=$((n + 1)) ;; esac
        done
        [ "$n" -gt 0 ] && parts="$parts${parts:+, }$kind $ok/$n"
    done
    printf 'stage %s: %d/%d passed (%s)%s\n' "$stage" "$grade_pass" $((grade_pass + grade_fail)) "$parts" \
        "$([ "$grade_skipped" -gt 0 ] && echo ", $grade_skipped skipped")"
    grade_total_fail=$((grade_total_fail + grade_fail))
    grade_pass=0 grade_fail=0 grade_skipped=0 grade_kind_counts=()
}

# ---- one node, one client: a session ----

# Reads node lines (appending each to ./out) until one answers msg_id $1 or $2 seconds
# pass; the answer goes to ./reply. Fails if none came.
session_await_() {
    local want=$1 deadline line irt status
    deadline=$(($(now_ms) + $(scaled "$2" | awk '{ printf "%d", $1 * 1000 }')))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        status=0
        IFS= read -r -t 0.2 -u "$node_out" line || status=$?
        if [ "$status" -ne 0 ]; then
            if [ "$status" -le 128 ]; then
                echo "the node closed its stdout (it exited?) before answering msg_id $want"
                session_stderr_tail_
                return 1
            fi
            # A timeout keeps what it read of a line that is still being written.
            partial_line_+=$line
            continue
        fi
        line=$partial_line_$line
        partial_line_=
        printf '%s\n' "$line" >>out
        irt=$(printf '%s' "$line" | jq -r '.body.in_reply_to? // empty' 2>/dev/null || true)
        if [ "$irt" = "$want" ]; then
            printf '%s\n' "$line" >reply
            return 0
        fi
    done
    return 1
}

session_stderr_tail_() {
    [ -s err ] || return 0
    echo "its stderr ends:"
    tail -n 5 err | cut -c1-300 | sed 's/^/    /'
}

session_start() {
    local ids=$1
    : >in
    : >out
    # In a process group of its own, so that closing the session can end whatever the
    # node started (an interpreter behind a wrapper script, say).
    coproc NODE_PROC { exec setsid "$NODE" 2>err; }
    node_pid=$NODE_PROC_PID
    # bash hides a coprocess's own descriptors from subshells: work on copies.
    exec {node_in}>&"${NODE_PROC[1]}" {node_out}<&"${NODE_PROC[0]}"
    eval "exec ${NODE_PROC[1]}>&- ${NODE_PROC[0]}<&-"
    next_msg_id=2
    partial_line_=
    init_line n1 "$ids" >line
    cat line >>in
    cat line >&"$node_in"
    if ! session_await_ 1 10; then
        echo "sent:     $(cat in)"
        echo "got:      no init_ok within 10 s; the node wrote:"
        sed 's/^/    /' out | cut -c1-300 | head -n 5
        echo "expected: {\"type\":\"init_ok\",\"in_reply_to\":1} from n1 to c0"
        session_stderr_tail_
        return 1
    fi
}

send() {
    client_line n1 "$1" >>in
    client_line n1 "$1" >&"$node_in"
}

ask() {
    local body=$1 id deadline
    deadline=$(($(now_ms) + $(scaled 10 | awk '{ printf "%d", $1 * 1000 }')))
    while :; do
        id=$next_msg_id
        next_msg_id=$((next_msg_id + 1))
        asked=$(printf '%s' "$body" | jq -c --argjson id "$id" '.msg_id = $id')
        send "$asked"
        if ! session_await_ "$id" 10; then
            echo "sent:     $asked"
            echo "got:      no reply to msg_id $id within 10 s"
            session_stderr_tail_
            return 1
        fi
        jq -e '.body.type == "error" and .body.code == 11' reply >/dev/null || return 0
        if [ "$(now_ms)" -ge "$deadline" ]; then
            echo "(note: error 11 to every try for 10 s: a node whose node_ids is [\"$(jq -r '.dest' <<<"$(head -n 1 in)")\"] alone must serve on its own)"
            return 0
        fi
        sleep 0.1
    done
}

session_close() {
    local start
    start=$(now_ms)
    exec {node_in}>&-
    exit_status=0
    (sleep "$(scaled 2)" && kill -9 -- "-$node_pid" 2>/dev/null) &
    local killer=$!
    # (stderr quiet: bash reports a job the timer had to kill as "Killed")
    { wait "$node_pid"; } 2>/dev/null || exit_status=$?
    kill "$killer" 2>/dev/null || true
    kill -9 -- "-$node_pid" 2>/dev/null || true
    node_pid=
    eof_ms=$(($(now_ms) - start))
    # what the node wrote after its last awaited reply
    cat <&"$node_out" >>out 2>/dev/null || true
}

# The jq that explains a mismatch: the expected object, what came, and which fields differ.
explain_() { # explain_ EXPECTED FILE (FILE: the candidate lines)
    jq -nRr --argjson e "$1" "$json_lib_"'
      lines as $ls
      | if ($ls | length) == 0 then "got:      nothing" else
          ($ls[] | "got:      \(short)"), "expected: \($e | tojson)  (these fields; extra fields are allowed)",
          ([$ls[] | why($e; .; "")] | sort_by(length) | .[0][:6][] | "differs:  \(.)")
        end' "$2"
}

expect_reply() {
    local expected=$1
    if jq -e --argjson e "$expected" "$json_lib_"'subset($e; .)' reply >/dev/null 2>&1; then
        return 0
    fi
    echo "sent:     $asked"
    explain_ "$expected" reply
    return 1
}

expect_text_names() {
    if jq -e --arg w "$1" '.body.text | type == "string" and contains($w)' reply >/dev/null 2>&1; then
        return 0
    fi
    echo "sent:     $asked"
    echo "got:      $(cut -c1-300 reply)"
    echo "expected: an error whose text names the field \"$1\""
    return 1
}

pipe_through() {
    local status=0
    timeout -k 1 "$(scaled 5)" "$NODE" <"$1" >out 2>err || status=$?
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        echo "(note: the node was still running 5 s after its input ended, and was killed)"
    elif [ "$status" -ne 0 ]; then
        echo "(note: the node exited with status $status)"
        session_stderr_tail_
    fi
}

expect_line() {
    if jq -nRe --argjson e "$1" "$json_lib_"'any(lines[]; subset($e; .))' out >/dev/null 2>&1; then
        return 0
    fi
    echo "sent:"
    sed 's/^/    /' "${2:-in}" | cut -c1-300
    echo "got (every line the node wrote):"
    [ -s out ] && sed 's/^/    /' out | cut -c1-300 | head -n 10
    [ -s out ] || echo "    nothing"
    echo "expected a line holding: $1"
    jq -nRr --argjson e "$1" "$json_lib_"'
      [lines[] | why($e; .; "")] | sort_by(length) | .[0][:6][]? | "differs (nearest line): \(.)"' out
    return 1
}

# ---- clusters ----

# The moment, in seconds since the runner's start, from which a scenario's "+" times
# count: written by stage 00's readiness check.
ready_at() {
    [ -s "$test_scratch/ready_at" ] || {
        echo "not run: the readiness check found no cluster that acknowledges writes" >&2
        return 1
    }
    cat "$test_scratch/ready_at"
}

# Prints SCENARIO with every "at +Ns" moved to ready_at + N s.
place_scenario() {
    awk -v r="$1" '$1 == "at" && $2 ~ /^\+/ { t = $2; sub(/^\+/, "", t); sub(/s$/, "", t); $2 = sprintf("%.3fs", r + t) } { print }' "$2"
}

run_cluster() {
    local scenario=$1 r status=0
    shift
    r=$(ready_at)
    place_scenario "$r" "$GRADE_DIR/scenarios/$scenario" >scenario.txt
    timeout -k 2 "$(scaled 120)" "$CLUSTER" --bin "$NODE" --nodes 3 --init-timeout-ms 10000 --scenario scenario.txt \
        --timeout-ms 2000 --history h.jsonl --events events.jsonl --summary-json s.json --log-dir logs \
        --quiet "$@" >summary 2>runner.err ||
        status=$?
    if [ ! -s h.jsonl ]; then
        echo "the runner wrote no history (status $status):"
        cut -c1-300 runner.err | tail -n 5
        return 1
    fi
    # A node that will not exit at EOF is the EOF check's business; here it is a note.
    if [ "$status" -ne 0 ]; then
        echo "(note: runner status $status: $(jq -c '.node_exits // {}' s.json 2>/dev/null))"
    fi
}

need_ok_ops() {
    local n
    n=$(jq -s --arg f "${2:-}" '[.[] | select(.type == "ok" and ($f == "" or .f == $f))] | length' h.jsonl)
    [ "$n" -ge "$1" ] && return 0
    echo "only $n ok ${2:-} ops in the run (at least $1 are needed to judge anything); the ops by outcome:"
    jq -sc '[.[] | select(.type != "invoke")] | group_by(.f) | map({(.[0].f): (group_by(.type) | map({(.[0].type): length}) | add)}) | add' h.jsonl
    echo "the first failures:"
    jq -c 'select(.type == "fail" or .type == "info") | {f, node, type, error, text}' h.jsonl | head -n 3
    return 1
}

# The checkers print their verdict and, on an anomaly, the ops that show it.
judge_with_() {
    local checker=$1 file=${2:-h.jsonl} status=0
    "$GRADE_BUILD/$checker" "$file" >verdict 2>&1 || status=$?
    if [ "$status" -eq 0 ]; then
        head -n 2 verdict
        return 0
    fi
    echo "$checker says (exit $status):"
    head -c 3000 verdict
    report_failure_ "$file"
    return 1
}

# The run as an HTML report a person can look at: the ops on a timeline, the faults and
# leaders the runner saw, every checker's verdict with the offending ops highlighted.
report_failure_() {
    local out events=()
    [ -x "$GRADE_BUILD/run-report" ] || return 0
    mkdir -p "$GRADE_REPORTS"
    out=$GRADE_REPORTS/stage-${nn:-xx}-check-$test_count.html
    [ -s events.jsonl ] && events=(--events events.jsonl)
    if "$GRADE_BUILD/run-report" --history "$1" "${events[@]}" --out "$out" >/dev/null 2>&1; then
        echo "report: $out"
    fi
}
judge_linearizable() { judge_with_ check-linearizable "$@"; }
judge_staleness() { judge_with_ check-staleness "$@"; }
judge_ryw() { judge_with_ check-ryw "$@"; }

# The ok replies in the history to one scripted client, in order.
ok_of() { jq -c --argjson p "$1" 'select(.process == $p and .type != "invoke")' h.jsonl; }

# ---- the course task's examples (examples/) ----

# The request of a .pair file, without its msg_id (ask gives it the session's next one).
pair_request() { sed -n 1p "$GRADE_DIR/examples/$1.pair" | jq -c 'del(.msg_id)'; }

# The response of a .pair file as the fields to expect of the reply to the last ask:
# in_reply_to names that request; msg_id, the free-text reason and text, and the FIELDS
# given (values the example measured, like actual_staleness_ms: 200) are left out, for
# the check to judge by their type and meaning instead.
pair_expected() {
    local name=$1
    shift
    sed -n 2p "$GRADE_DIR/examples/$name.pair" |
        jq -c --argjson id "$(printf '%s' "${asked:-null}" | jq '.msg_id?')" \
            --args 'del(.msg_id, .reason, .text) | del(.[$ARGS.positional[]]) | {src: "n1", dest: "c1", body: (.in_reply_to = $id)}' "$@"
}

# A sample case: pipe NN-name.in through the node; every line of NN-name.expected must
# be matched by a line of the output.
sample_case() {
    local e status=0
    cp "$GRADE_DIR/examples/$1.in" in
    pipe_through in
    while IFS= read -r e; do
        expect_line "$e" || status=1
    done <"$GRADE_DIR/examples/$1.expected"
    return $status
}

# A sample case for a lone member of three (it never hears a leader): it must not
# serve OK_TYPE, and request 2 ends in error 11 when its input closes.
#   lone_member_sample NN-name OK_TYPE "what serving would mean"
lone_member_sample() {
    sample_case "$1"
    asked=$(tail -n 1 in)
    jq -c "select(.body.type == \"$2\")" out >served
    [ ! -s served ] || { echo "$3:"; cat served; return 1; }
    jq -c "select(.body.in_reply_to == 2)" out >reply
    expect_reply "{\"body\":{\"type\":\"error\",\"in_reply_to\":2,\"code\":11}}"
}

# The fault run of a stage: clients on every node with the op mix MIX, while
# scenarios/faults.txt (short mode: faults-short.txt) cuts each node off in turn and
# pauses one.
fault_run() {
    local scenario=faults.txt length=6.5
    if [ "${GRADE_SHORT:-0}" = 1 ]; then scenario=faults-short.txt length=3.5; fi
    run_cluster "$scenario" --concurrency 5 --rate 100 --keys 3 --mix "$1" \
        --time-limit "$(awk -v r="$(ready_at 2>/dev/null)" -v l="$length" 'BEGIN { print r + l }')"
}

# A lease read promises linearizability whether or not its reply says so: the copy of
# the history that check-linearizable judges marks every ok lease_read linearizable.
mark_lease_reads() {
    jq -c 'if .f == "lease_read" and .type == "ok" then .linearizable = true else . end' h.jsonl >h-lease.jsonl
}

# Like ask, but an error 11 is an answer (for checks that expect one).
ask_once() {
    local id=$next_msg_id
    next_msg_id=$((next_msg_id + 1))
    asked=$(printf '%s' "$1" | jq -c --argjson id "$id" '.msg_id = $id')
    send "$asked"
    session_await_ "$id" "${2:-10}" && return 0
    echo "sent:     $asked"
    echo "got:      no reply to msg_id $id within ${2:-10} s"
    return 1
}
