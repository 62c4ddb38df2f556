#!/usr/bin/env bash
# make demo: a 3-node cluster of one stage (the newest by default) under the local
# runner, a mixed workload over every read type that stage has, the *leader* cut off
# from the other two in the middle of the run and then healed, and a report a person
# can read:
#   1. per op type: ops, who served them, latency p50/p99, staleness reported vs the
#      bound, redirects;
#   2. a timeline of leadership and the partition;
#   3. every applicable checker's verdict;
# and the same run as an HTML page (build/run-report: the ops on a timeline beside the
# leaders and the partition, latency and staleness plots, the verdicts), whose path it
# prints last.
# Exit status: 0 when every checker finds no anomaly.
#
# Environment: NODE_BIN and STAGE (set by make), DEMO_SECONDS (8; the partition starts
# at 3/8 of it and heals at 11/16), DEMO_SEED (1), DEMO_DIR (keep the run there),
# DEMO_REPORT (where the HTML report goes; DEMO_DIR/report.html).
set -eu
cd "$(dirname "$0")/.."
build=${READPATH_BUILD:-build}
node_bin=${NODE_BIN:?NODE_BIN is set by make}
stage=${STAGE:?STAGE is set by make}
seconds=${DEMO_SECONDS:-8}
work=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/readpath-demo.XXXXXX")}
mkdir -p "$work"
report=${DEMO_REPORT:-$work/report.html}

# Colour only for a person at a terminal (and never with NO_COLOR set).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' yellow=$'\e[33m' dim=$'\e[2m' off=$'\e[0m'
else
    bold='' green='' red='' yellow='' dim='' off=''
fi

stage_num=$((10#$stage))
mix="read=40,write=35,cas=25"
[ "$stage_num" -ge 1 ] && mix="read=25,write=30,cas=15,follower_read=30"
[ "$stage_num" -ge 2 ] && mix="read=20,write=30,cas=10,follower_read=20,ryw_read=20"
[ "$stage_num" -ge 3 ] && mix="read=15,write=30,cas=10,follower_read=15,ryw_read=15,lease_read=15"
bound_ms=200

cut_ms=$((seconds * 3000 / 8))
heal_ms=$((seconds * 11000 / 16))
cat >"$work/scenario.txt" <<SCENARIO
# the leader alone on one side, the two followers on the other; healed later
at ${cut_ms}ms partition leader | follower1 follower2
at ${heal_ms}ms heal
SCENARIO

echo "${bold}== readpath demo: stage $stage${off} ($node_bin)"
echo "   3 nodes, ${seconds} s, 6 clients at 300 ops/s, links 1-3 ms, heartbeat 20 ms, election timeout 150 ms"
echo "   workload: $mix$([ "$stage_num" -ge 1 ] && echo " (follower_read bound ${bound_ms} ms)")"
echo "   fault: at $(awk -v t="$cut_ms" 'BEGIN { printf "%.2f", t / 1000 }') s the leader is cut off from both followers; healed at $(awk -v t="$heal_ms" 'BEGIN { printf "%.2f", t / 1000 }') s"
echo

# -v makes every node log its elections and step-downs: the leadership timeline is
# read from those logs (replies to read/write/cas do not name who served them).
if ! "$build/cluster" --bin "$node_bin" --nodes 3 --seed "${DEMO_SEED:-1}" \
    --concurrency 6 --rate 300 --time-limit "$seconds" --mix "$mix" \
    --max-staleness-ms "$bound_ms" --latency-ms 1 --jitter-ms 2 \
    --scenario "$work/scenario.txt" --history "$work/history.jsonl" \
    --summary-json "$work/summary.json" --log-dir "$work/logs" --quiet \
    --events "$work/events.jsonl" --report "$report" \
    -- -v --heartbeat-ms 20 --election-timeout-ms 150 >"$work/runner.txt" 2>&1; then
    cat "$work/runner.txt"
    echo "${red}demo: the cluster run failed (node logs: $work/logs)${off}"
    exit 1
fi

# Leadership intervals, one JSON object per line, from the node logs ("n2  0.185s won
# election ... -> leader of term 1"). A node stops leading at its first later line that
# makes it a follower: a step-down, a higher term seen, or a vote granted. Log times
# count from the node's init, which the runner sends at its time 0.
end_s=$(jq '.duration_s + 0.5' "$work/summary.json")
for log in "$work"/logs/n*.log; do
    awk -v end="$end_s" '
        $3 == "won" && /-> leader of term/ {
            if (from != "") print_leader()
            node = $1; from = $2 + 0; term = $0; sub(/.*leader of term /, "", term); term += 0
            why = "still leader at the end"; next
        }
        from != "" && (/-> step down/ || /-> follower/ || /^[^ ]+ +[0-9.]+s vote for term .* -> granted/) {
            to = $2 + 0; why = $0; sub(/^[^ ]+ +[0-9.]+s /, "", why); print_leader()
        }
        function print_leader() {
            gsub(/"/, "\\\"", why)
            printf "{\"node\":\"%s\",\"term\":%d,\"from_s\":%.3f,\"to_s\":%.3f,\"why\":\"%s\"}\n", node, term, from, (to == "" ? end : to), why
            from = ""; to = ""
        }
        END { if (from != "") print_leader() }' "$log"
done | jq -s 'sort_by(.from_s)' >"$work/leaders.json"

# ---- 1. per op type ----
echo "${bold}== reads and writes, per op type${off}"
jq -r -s --slurpfile s "$work/summary.json" --slurpfile leaders "$work/leaders.json" '
    def pct(p): if length == 0 then null else (sort | .[((length - 1) * p | floor)]) end;
    def leader_at($t): [$leaders[0][] | select(.from_s <= $t and $t < .to_s)] | max_by(.term) | .node // null;
    ($s[0].served_by | keys) as $nodes
    | ["read", "lease_read", "follower_read", "ryw_read", "write", "cas"] as $order
    | group_by(.f) | map({key: .[0].f, value: .}) | from_entries as $by
    | ($order[] | select($by[.])) as $f
    | $by[$f] as $lines
    | [$lines[] | select(.type == "ok")] as $ok
    | ($ok | map(.served_by // leader_at(.time_us / 1e6) // .node) | group_by(.) | map({key: .[0], value: length}) | from_entries) as $served
    | [$ok[] | .actual_staleness_ms | select(. != null)] as $stale
    | [$f, ($lines | map(select(.type == "invoke")) | length), ($ok | length),
       ($lines | map(select(.type == "fail")) | length), ($lines | map(select(.type == "info")) | length),
       ($nodes | map("\(.):\($served[.] // 0)") | join(" ")),
       ($s[0].ops[$f].p50_ms // 0), ($s[0].ops[$f].p99_ms // 0),
       (if ($stale | length) > 0
        then "\($stale | pct(0.5))/\($stale | pct(0.99))/\($stale | max) (bound \([$lines[] | .max_staleness_ms | select(. != null)] | max))"
        elif $ok | any(.lease_valid != null)
        then "lease held: \([$ok[] | select(.lease_valid == true)] | length)/\($ok | length)"
        else "-" end),
       ([$ok[] | select((.served_by // leader_at(.time_us / 1e6) // .node) != .node)] | length),
       (if $ok | any(.served_by != null) then "" else "*" end)]
    | @tsv' "$work/history.jsonl" >"$work/table.tsv"
printf '%-14s %5s %5s %5s %5s  %-22s %8s %8s  %-24s %10s\n' \
    "op" ops ok fail info "served by" "p50 ms" "p99 ms" "staleness p50/p99/max" "redirected"
awk -F'\t' '{ printf "%-14s %5d %5d %5d %5d  %-22s %8.2f %8.2f  %-24s %10s\n", $1, $2, $3, $4, $5, $6 $11, $7, $8, $9, $10 }' "$work/table.tsv"
echo "${dim}   served by: the reply's served_by; * = the reply names no server, so the op is counted"
echo "   at the leader of the highest term at the moment of the reply (from the node logs)."
echo "   staleness: what follower reads reported (actual_staleness_ms) vs the bound they asked for;"
echo "   for lease reads, how many were answered under a valid lease (the rest fell back to ReadIndex)."
echo "   redirected: ok ops served by another node than the one asked. A follower always forwards"
echo "   read, write and cas to the leader; the cheaper reads only when it cannot serve them itself.${off}"
jq -r '"   cluster: \(.ok_per_s | floor) ok ops/s; \(.messages.routed) messages between nodes, \(.messages.dropped_at_send + .messages.dropped_in_flight) dropped by the partition; leader at the end: \(.leader // "none")"' "$work/summary.json"
echo

# ---- 2. timeline ----
echo "${bold}== leadership and the partition${off}"
jq -r --slurpfile leaders "$work/leaders.json" '
    . as $s
    | ([.duration_s, ($leaders[0] | map(.to_s) | max // 0)] | max) as $stop
    | ($s.served_by | keys) as $nodes
    # one column per 125 ms (8 per second) up to 10 s runs, coarser beyond
    | (if $stop <= 10 then 0.125 elif $stop <= 20 then 0.25 else ($stop / 72) end) as $col
    | ($stop / $col | ceil) as $ncols
    | def cut_off($n; $t):
        # the partition in force at time t, if any, and whether n is outside the largest group
        ([$s.faults[] | select(.fault == "partition" or .fault == "heal") | select(.time_us / 1e6 <= $t)] | last) as $f
        | if $f == null or $f.fault == "heal" then false
          else ($f.groups | map(length) | max) as $big
               | any($f.groups[]; (index($n) != null) and length < $big) end;
      def leading($n; $a; $b): any($leaders[0][]; .node == $n and .from_s < $b and .to_s > $a);
      (("          " + ([range(0; $ncols)] | map(if (. * $col) == ((. * $col) | floor) then "|" else " " end) | join("")))),
      ($nodes[] as $n
       | ($n + "          ")[0:10] + ([range(0; $ncols)] | map(. * $col) | map(
           (cut_off($n; . + $col / 2)) as $cut
           | if leading($n; .; . + $col) then (if $cut then "l" else "L" end)
             else (if $cut then "x" else "-" end) end) | join(""))),
      ("faults    " + ([range(0; $ncols)] | map(. * $col) | map(. as $a
           | [$s.faults[] | select(.time_us / 1e6 >= $a and .time_us / 1e6 < $a + $col) | .fault[0:1] | ascii_upcase] | first // " ") | join("")))
    ' "$work/summary.json" >"$work/timeline.txt"
# Second labels under the tick row (one every 8 columns); colour in the node rows only.
awk -v g="$green" -v r="$red" -v y="$yellow" -v o="$off" '
    # a label under every "|" (one per second) that has room after the one before it
    NR == 1 { print; s = "          "; sec = 0
              for (i = 11; i <= length($0); i++) if (substr($0, i, 1) == "|") {
                  if (sec == 0 || i > length(s) + 1) s = sprintf("%-" (i - 1) "s%s", s, sec "s")
                  sec++ }
              print s; next }
    /^n[0-9]/ { row = substr($0, 11); gsub(/L/, g "L" o, row); gsub(/l/, r "l" o, row); gsub(/x/, y "x" o, row)
                print substr($0, 1, 10) row; next }
    { print }' "$work/timeline.txt" | sed 's/ *$//'
col_ms=$(jq -r --slurpfile leaders "$work/leaders.json" '([.duration_s, ($leaders[0] | map(.to_s) | max // 0)] | max) as $stop
    | if $stop <= 10 then 125 elif $stop <= 20 then 250 else ($stop / 72 * 1000 | round) end' "$work/summary.json")
echo "${dim}   one column = ${col_ms} ms. L leader; l leader cut off from the majority (it still believes it leads,"
echo "   but nothing that needs a majority completes); - follower or candidate; x follower cut off.${off}"
jq -r '.faults[] | "   \(.fault[0:1] | ascii_upcase) at \(.time_us / 1e6 * 100 | round / 100) s: \(.fault)\(if .groups then " " + (.groups | map(join(" ")) | join(" | ")) elif .node then " " + .node else "" end)"' \
    "$work/summary.json"
jq -r '.[] | "   \(.node) leader of term \(.term) from \(.from_s) s to \(.to_s) s: \(.why)"' "$work/leaders.json"
echo

# ---- 3. checkers ----
echo "${bold}== checkers${off}"
verdicts=0
checkers=(linearizable)
[ "$stage_num" -ge 1 ] && checkers+=(staleness)
[ "$stage_num" -ge 2 ] && checkers+=(ryw)
for checker in "${checkers[@]}"; do
    status=0
    "$build/check-$checker" "$work/history.jsonl" >"$work/check-$checker.txt" 2>&1 || status=$?
    case $status in
    0) verdict="${green}no anomaly${off}" ;;
    1) verdict="${red}ANOMALY${off}"; verdicts=1 ;;
    2) verdict="${red}bad input${off}"; verdicts=1 ;;
    3) verdict="${yellow}unknown (search budget exhausted)${off}"; verdicts=1 ;;
    *) verdict="${red}exit $status${off}"; verdicts=1 ;;
    esac
    printf '%-14s %s\n' "$checker" "$verdict"
    sed 's/^/               /' "$work/check-$checker.txt" | head -n "$([ "$status" -eq 0 ] && echo 1 || echo 20)"
done
echo
echo "${dim}history: $work/history.jsonl   summary: $work/summary.json   node logs: $work/logs${off}"
echo "${bold}report: $report${off} (open it in a browser: the run on one time axis)"
exit "$verdicts"
