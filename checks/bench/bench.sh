#!/usr/bin/env bash
# make bench: what each read strategy costs, measured side by side. Not a test.
#
# 1. One node, piped: every built stage's node, single-member cluster, 100,000 mixed ops
#    on stdin (50% read, 40% write, 10% cas over 100 keys), against build/bench-echo
#    (cJSON parse + print of a reply, nothing else) on the same input.
# 2. Read strategies on the newest stage's node at N = 3, 5, 7: 80% reads, 20% writes,
#    every op sent round-robin over the nodes, 1 ms links, a fixed offered load
#    (BENCH_RATE), the default (Maelstrom) timing profile. Per strategy: achieved ok
#    ops/s, read p50/p99, inter-node messages per read, the share of reads the leader
#    served, the leader's CPU seconds per 1,000 reads, the staleness follower reads
#    reported.
# 3. Reads only (no writes), at a higher offered load (BENCH_LOAD_RATE), N = 3, 5, 7,
#    against an idle cluster: the reads' own messages and leader CPU, with nothing else
#    moving. The targets are checked here (0 messages per lease/follower read beyond
#    forwarding, ReadIndex batching, follower reads with a 100 ms bound served where
#    asked with p99 under 10 ms) and the scaling charts drawn from it.
# 4. Latency sensitivity: read p50 per strategy at 0.1, 1 and 10 ms links, N = 3, 80/20.
# Every point runs BENCH_REPEATS times (seeds 1, 2, 3, ...); the median is reported with
# the min-max. Writes $BENCH_OUT/*.csv and *.png and prints a summary table
# ($BENCH_OUT/summary.txt). The committed copy in bench/results/ is what NOTES.md quotes;
# refresh it on purpose with BENCH_OUT=bench/results.
#
# How the per-read costs are computed (the node does not count them itself):
#   - msgs/read = (messages routed between nodes - those of a baseline run) / answered
#     reads (ok, or a definite error such as 20 for a key not yet written).
#     The baseline of an 80/20 run is a writes-only run with the same seed, N and write
#     rate (heartbeats and replication cancel out, but not exactly: a leader busy with
#     reads batches more writes per append, so this can dip below 0); the baseline of a
#     reads-only run is an idle cluster, which cancels exactly the heartbeats.
#   - beyond forwarding = msgs/read - 2 x the share of reads answered by another node
#     than the one asked: a follower that relays a read to the leader costs 2 messages,
#     whatever the strategy; what is left is the strategy's own (ReadIndex rounds).
#   - leader CPU s per 1,000 reads = (CPU of the run's leader - CPU of the baseline's
#     leader) / answered reads * 1000. The runner reads utime + stime from /proc in 10 ms
#     ticks, which is why the reads-only runs (more reads, no write work) are the ones
#     to read it from.
#   - latency and ok ops/s come from the history, leaving out ops invoked in the first
#     BENCH_WARMUP_S seconds (the first election takes 300-450 ms at default timing).
#   - leader share: reads whose reply's served_by is the summary's leader; a `read` reply
#     names no server, and every ReadIndex read is answered by the leader (a follower
#     only relays it), so `read` counts as served by the leader.
#
# Environment: BENCH_SECONDS (3), BENCH_LATENCY_SECONDS (2.5, also the reads-only runs),
# BENCH_RATE (1000 ops/s offered), BENCH_LOAD_RATE (4000), BENCH_REPEATS (3),
# BENCH_NODES and BENCH_LOAD_NODES ("3 5 7"), BENCH_LINKS_MS ("0.1 1 10"),
# BENCH_OPS (100000), BENCH_OUT (build/bench), BENCH_STAGES (the nodes that built).
set -eu
cd "$(dirname "$0")/../.."
build=${READPATH_BUILD:-build}
out=${BENCH_OUT:-$build/bench}
seconds=${BENCH_SECONDS:-3}
latency_seconds=${BENCH_LATENCY_SECONDS:-2.5}
rate=${BENCH_RATE:-1000}
repeats=${BENCH_REPEATS:-3}
sizes=${BENCH_NODES:-3 5 7}
links=${BENCH_LINKS_MS:-0.1 1 10}
load_rate=${BENCH_LOAD_RATE:-4000}
load_sizes=${BENCH_LOAD_NODES:-3 5 7}
ops=${BENCH_OPS:-100000}
warmup_s=${BENCH_WARMUP_S:-1}
read -r -a stage_nodes <<<"${BENCH_STAGES:-$(ls "$build"/[0-9][0-9]-*/node 2>/dev/null | tr '\n' ' ')}"
[ "${#stage_nodes[@]}" -gt 0 ] || { echo "bench: no node built under $build" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/readpath-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
# The results of an earlier run go: what is in $out is always one run's.
rm -f "$out"/*.csv "$out"/*.png "$out"/summary.txt
started=$(date +%s)
load_before=$(uptime | sed 's/.*load average: //')
say() { echo "bench: $*" >&2; }

median_of() { # reads numbers, prints "median min max"
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "- - -"; else print v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# ---- 1. one node, piped ----
checks/bench/piped-ops.sh "$ops" >"$work/piped.jsonl"

# Runs interleave the binaries (echo, 00, 01, ..., echo, 00, ...) so that a burst of load
# from elsewhere on the machine hits them alike. Each run is timed twice: wall clock, and
# the CPU seconds (user + sys) the process used, which another process's load on a shared
# machine barely moves; the ratio to echo is taken on CPU seconds.
echo "binary,run,ops,wall_s,cpu_s,ops_per_s,ops_per_cpu_s" >"$out/node-runs.csv"
piped_bins=("$build/bench-echo" "${stage_nodes[@]}")
for run in $(seq 1 "$repeats"); do
    for bin in "${piped_bins[@]}"; do
        name=$(basename "$(dirname "$bin")")
        [ "$bin" = "$build/bench-echo" ] && name=echo
        say "piped: $name, run $run/$repeats"
        times=$( { TIMEFORMAT='%R %U %S'; time "$bin" <"$work/piped.jsonl" >"$work/piped.out" 2>"$work/piped.err"; } 2>&1)
        replies=$(($(wc -l <"$work/piped.out") - 1))
        [ "$replies" -eq "$ops" ] || { say "$bin: expected $ops replies, got $replies"; exit 1; }
        read -r wall user sys <<<"$times"
        awk -v n="$name" -v r="$run" -v o="$ops" -v w="$wall" -v u="$user" -v s="$sys" \
            'BEGIN { c = u + s; if (c < 0.001) c = 0.001
                     printf "%s,%d,%d,%.3f,%.3f,%.0f,%.0f\n", n, r, o, w, c, o / w, o / c }' >>"$out/node-runs.csv"
    done
done
echo "binary,ops_per_cpu_s_median,ops_per_cpu_s_min,ops_per_cpu_s_max,percent_of_echo,ops_per_s_median,ops_per_s_min,ops_per_s_max,percent_of_echo_wall" >"$out/node.csv"
echo_cpu=$(awk -F, '$1 == "echo" { print $7 }' "$out/node-runs.csv" | median_of | cut -d' ' -f1)
echo_wall=$(awk -F, '$1 == "echo" { print $6 }' "$out/node-runs.csv" | median_of | cut -d' ' -f1)
for bin in "${piped_bins[@]}"; do
    name=$(basename "$(dirname "$bin")")
    [ "$bin" = "$build/bench-echo" ] && name=echo
    read -r cmed clo chi < <(awk -F, -v n="$name" '$1 == n { print $7 }' "$out/node-runs.csv" | median_of)
    read -r wmed wlo whi < <(awk -F, -v n="$name" '$1 == n { print $6 }' "$out/node-runs.csv" | median_of)
    awk -v n="$name" -v cm="$cmed" -v cl="$clo" -v ch="$chi" -v ce="$echo_cpu" \
        -v wm="$wmed" -v wl="$wlo" -v wh="$whi" -v we="$echo_wall" \
        'BEGIN { printf "%s,%d,%d,%d,%.1f,%d,%d,%d,%.1f\n", n, cm, cl, ch, 100 * cm / ce, wm, wl, wh, 100 * wm / we }' >>"$out/node.csv"
done

# ---- 2 and 3. read strategies on a cluster ----
node_bin=${stage_nodes[-1]}
stage=$(basename "$(dirname "$node_bin")" | cut -d- -f1)
stage_num=$((10#$stage))
# lease_read only if this node really answers one (a stage 03 still being written may not).
lease=no
if [ "$stage_num" -ge 3 ] && printf '%s\n' \
    '{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}' \
    '{"src":"c1","dest":"n1","body":{"type":"write","msg_id":2,"key":1,"value":1}}' \
    '{"src":"c1","dest":"n1","body":{"type":"lease_read","msg_id":3,"key":1}}' |
    timeout 5 "$node_bin" 2>/dev/null | grep -q '"lease_read_ok"'; then
    lease=yes
fi
strategies="read"
[ "$lease" = yes ] && strategies="$strategies lease_read"
[ "$stage_num" -ge 1 ] && strategies="$strategies follower_read/100 follower_read/1000"
[ "$stage_num" -ge 2 ] && strategies="$strategies ryw_read"
say "strategies on $node_bin: $strategies (lease_read supported: $lease)"

# run NAME NODES MIX RATE LINK_MS SECONDS SEED BOUND_MS [RUNNER ARGS...]
run() {
    "$build/cluster" --bin "$node_bin" --nodes "$2" --seed "$7" --concurrency 64 \
        --rate "$4" --time-limit "$6" --mix "$3" --max-staleness-ms "$8" \
        --target round-robin --latency-ms "$5" --history "$work/$1.jsonl" \
        --summary-json "$work/$1.json" --log-dir "$work/$1.logs" --quiet "${@:9}" >/dev/null
}
# idle NAME NODES SECONDS SEED: no clients at all, only the heartbeats
idle() {
    "$build/cluster" --bin "$node_bin" --nodes "$2" --seed "$4" --concurrency 0 \
        --time-limit "$3" --latency-ms 1 --summary-json "$work/$1.json" \
        --log-dir "$work/$1.logs" --quiet >/dev/null
}

# measure NAME BASE_NAME|- STRATEGY N LINK_MS REP SEED RATE: one JSON line of metrics
measure() {
    local f=${3%%/*}
    local base_json=null
    [ "$2" != - ] && base_json=$(cat "$work/$2.json")
    jq -c -s --slurpfile s "$work/$1.json" --argjson b "$base_json" --arg f "$f" --arg strategy "$3" \
        --argjson n "$4" --argjson link "$5" --argjson rep "$6" --argjson seed "$7" \
        --argjson warm "$warmup_s" --argjson rate "$8" '
        def pct(p): if length == 0 then null else (sort | .[((length - 1) * p | floor)]) end;
        def r3: . * 1000 | round / 1000;
        $s[0] as $s
        | [group_by(.process)[] | . as $l | range(0; length; 2) | {inv: $l[.], done: $l[. + 1]}
           | select(.done != null)] as $ops
        | [$ops[] | select(.inv.time_us >= $warm * 1e6)] as $steady
        | [$steady[] | select(.done.type == "ok")] as $ok
        | [$ok[] | select(.done.f == $f)] as $reads
        # every answered read costs messages and CPU, an error 20 (no such key) included
        | [$ops[] | select((.done.type == "ok" or .done.type == "fail") and .done.f == $f)] as $answered
        | ($answered | length) as $all_reads
        | ($reads | map((.done.time_us - .inv.time_us) / 1000)) as $lat
        | [$reads[] | .done.actual_staleness_ms | select(. != null)] as $stale
        | ([$reads[] | select((.done.served_by // $s.leader) == $s.leader)] | length) as $at_leader
        # a read answered by another node than the one asked travelled there and back: 2 messages
        # the share of reads relayed to another node, from the ok replies (an error reply
        # does not say who answered it)
        | [$answered[] | select(.done.type == "ok")] as $answered_ok
        | (if ($answered_ok | length) == 0 then 0
           else ([$answered_ok[] | select((.done.served_by // $s.leader) != .inv.node)] | length)
                / ($answered_ok | length) end) as $forwarded_share
        | (if $b == null or $all_reads == 0 then null
           else ($s.messages.routed - $b.messages.routed) / $all_reads end) as $msgs
        # the share of reads the node asked answered itself (stage 01: a follower that
        # serves a tight bound with a read index counts; one that redirects does not)
        | ([$reads[] | select(.done.served_by == .inv.node)] | length) as $where_asked
        | {n: $n, strategy: $strategy, link_ms: $link, rep: $rep, seed: $seed, leader: $s.leader,
           ok_per_s: (($ok | length) / ($s.duration_s - $warm) | round),
           reads_answered: $all_reads,
           p50_ms: ($lat | pct(0.5) | r3), p99_ms: ($lat | pct(0.99) | r3),
           rate: $rate,
           msgs_per_read: (if $msgs == null then null else ($msgs * 100 | round / 100) end),
           msgs_beyond_forwarding_per_read: (if $msgs == null then null
                           else (($msgs - 2 * $forwarded_share) * 100 | round / 100) end),
           leader_share: (if ($reads | length) == 0 then null else ($at_leader / ($reads | length) * 1000 | round / 1000) end),
           served_where_asked: (if ($reads | length) == 0 then null else ($where_asked / ($reads | length) * 1000 | round / 1000) end),
           leader_cpu_s: $s.node_cpu_s[$s.leader],
           leader_cpu_s_per_1000_reads: (if $b == null or $all_reads == 0 then null
                           else (($s.node_cpu_s[$s.leader] - $b.node_cpu_s[$b.leader]) / $all_reads * 1000 | r3) end),
           staleness_p50_ms: ($stale | pct(0.5)), staleness_p99_ms: ($stale | pct(0.99))}' \
        "$work/$1.jsonl"
}

: >"$work/runs.jsonl"
write_rate=$((rate / 5))
for n in $sizes; do
    for rep in $(seq 1 "$repeats"); do
        say "N=$n rep $rep/$repeats: writes only, then $strategies ($(($(date +%s) - started)) s so far)"
        run "base-$n-$rep" "$n" write=100 "$write_rate" 1 "$seconds" "$rep" 1000
        for strategy in $strategies; do
            f=${strategy%%/*}
            bound=${strategy#*/}
            [ "$bound" = "$strategy" ] && bound=1000
            name="$f-$bound-$n-$rep"
            run "$name" "$n" "$f=80,write=20" "$rate" 1 "$seconds" "$rep" "$bound"
            measure "$name" "base-$n-$rep" "$strategy" "$n" 1 "$rep" "$rep" "$rate" >>"$work/runs.jsonl"
        done
        rm -rf "$work"/*.logs
    done
done
for link in $links; do
    [ "$link" = 1 ] && continue # the N = 3 runs above are the 1 ms point
    for rep in $(seq 1 "$repeats"); do
        say "links $link ms rep $rep/$repeats ($(($(date +%s) - started)) s so far)"
        for strategy in $strategies; do
            f=${strategy%%/*}
            bound=${strategy#*/}
            [ "$bound" = "$strategy" ] && bound=1000
            name="lat-$f-$bound-$link-$rep"
            run "$name" 3 "$f=80,write=20" "$rate" "$link" "$latency_seconds" "$rep" "$bound"
            measure "$name" - "$strategy" 3 "$link" "$rep" "$rep" "$rate" >>"$work/runs.jsonl"
        done
        rm -rf "$work"/*.logs
    done
done

# Reads only, against an idle cluster (heartbeats only): with no write appends to ride
# on and no write batching to shift, every message and every CPU tick beyond the idle
# run's is the reads' own. This is where the targets are checked and the scaling chart
# comes from. The offered load is one the cluster cannot quite meet with ReadIndex, so
# reads queue behind each round and one round confirms many of them (batching). The
# keys are written once, before the first measured second. ryw_read is left out: with
# no writes its tokens are all 0 and it is a plain local read.
for key in 0 1 2 3 4; do echo "at 0.8s client c$((key + 1)) n$((key % 3 + 1)) write $key 0"; done >"$work/preload.txt"
for n in $load_sizes; do
    for rep in $(seq 1 "$repeats"); do
        say "reads only at $load_rate ops/s offered, N=$n rep $rep/$repeats ($(($(date +%s) - started)) s so far)"
        idle "idle-$n-$rep" "$n" "$latency_seconds" "$rep"
        for strategy in $strategies; do
            f=${strategy%%/*}
            bound=${strategy#*/}
            [ "$bound" = "$strategy" ] && bound=1000
            [ "$f" = ryw_read ] && continue
            name="only-$f-$bound-$n-$rep"
            run "$name" "$n" "$f=100" "$load_rate" 1 "$latency_seconds" "$rep" "$bound" --scenario "$work/preload.txt"
            measure "$name" "idle-$n-$rep" "$strategy" "$n" 1 "$rep" "$rep" "$load_rate" >>"$work/runs.jsonl"
        done
        # ReadIndex again with 10 ms links: a round now lasts 20 ms, and every read that
        # arrives meanwhile shares the next one (the idle baseline is the same: heartbeats
        # do not depend on the link).
        name="only-read-10ms-$n-$rep"
        run "$name" "$n" read=100 "$load_rate" 10 "$latency_seconds" "$rep" 1000 --scenario "$work/preload.txt"
        measure "$name" "idle-$n-$rep" read "$n" 10 "$rep" "$rep" "$load_rate" >>"$work/runs.jsonl"
        rm -rf "$work"/*.logs
    done
done

# Raw runs, then the median (min, max) of each point.
fields="n strategy link_ms rate rep seed leader ok_per_s reads_answered p50_ms p99_ms msgs_per_read msgs_beyond_forwarding_per_read leader_share leader_cpu_s leader_cpu_s_per_1000_reads staleness_p50_ms staleness_p99_ms served_where_asked"
jq -r -s --arg fields "$fields" '($fields | split(" ")) as $k | ($k | join(",")), (.[] | . as $run | [$k[] | $run[.]] | map(. // "") | @csv)' \
    "$work/runs.jsonl" | tr -d '"' >"$out/strategies-runs.csv"
jq -r -s '
    def med: map(select(. != null)) | sort | if length == 0 then [null, null, null] else [.[(length - 1) / 2 | floor], .[0], .[-1]] end;
    def stat($k): map(.[$k]) | med;
    ["n", "strategy", "link_ms", "ok_per_s", "ok_per_s_min", "ok_per_s_max", "p50_ms", "p50_ms_min", "p50_ms_max",
     "p99_ms", "p99_ms_min", "p99_ms_max", "msgs_per_read", "msgs_per_read_min", "msgs_per_read_max",
     "leader_share", "leader_share_min", "leader_share_max",
     "leader_cpu_s_per_1000_reads", "leader_cpu_s_per_1000_reads_min", "leader_cpu_s_per_1000_reads_max",
     "staleness_p50_ms", "staleness_p50_ms_min", "staleness_p50_ms_max",
     "staleness_p99_ms", "staleness_p99_ms_min", "staleness_p99_ms_max",
     "msgs_beyond_forwarding_per_read", "msgs_beyond_forwarding_per_read_min", "msgs_beyond_forwarding_per_read_max",
     "rate", "served_where_asked", "served_where_asked_min", "served_where_asked_max"] as $head
    | ($head | join(",")),
      (group_by([.rate, .link_ms, .n, .strategy])[] | . as $g
       | [$g[0].n, $g[0].strategy, $g[0].link_ms]
         + ([$g | stat("ok_per_s"), stat("p50_ms"), stat("p99_ms"), stat("msgs_per_read"),
             stat("leader_share"), stat("leader_cpu_s_per_1000_reads"),
             stat("staleness_p50_ms"), stat("staleness_p99_ms"), stat("msgs_beyond_forwarding_per_read")] | add)
         + [$g[0].rate] + ($g | stat("served_where_asked"))
       | map(. // "") | @csv)' "$work/runs.jsonl" | tr -d '"' >"$out/strategies.csv"

# ---- charts ----
order=$(echo "$strategies" | tr ' ' '\n')
for strategy in $order; do
    label=${strategy//_/\\_}
    awk -F, -v s="$strategy" -v r="$load_rate" 'NR > 1 && $2 == s && $3 == 1 && $31 == r { print $1, $19, $20, $21, $28, $29, $30 }' \
        "$out/strategies.csv" | sort -n >"$work/n-$(echo "$strategy" | tr / -).dat"
    awk -F, -v s="$strategy" -v r="$rate" 'NR > 1 && $2 == s && $1 == 3 && $31 == r { print $3, $7, $8, $9 }' \
        "$out/strategies.csv" | sort -g >"$work/link-$(echo "$strategy" | tr / -).dat"
    awk -F, -v s="$strategy" -v r="$load_rate" 'NR > 1 && $2 == s && $3 == 1 && $31 == r { print $1, $10, $11, $12 }' \
        "$out/strategies.csv" | sort -n >"$work/p99-$(echo "$strategy" | tr / -).dat"
done
awk -F, -v r="$load_rate" 'NR > 1 && $2 == "read" && $3 == 10 && $31 == r { print $1, $19, $20, $21, $28, $29, $30 }' \
    "$out/strategies.csv" | sort -n >"$work/n10-read.dat"
plots() { # plots COLUMNS KIND FILE_PREFIX: one gnuplot plot clause per strategy with data
    local sep="" i=0
    for strategy in $order; do
        i=$((i + 1))
        [ -s "$work/$3-$(echo "$strategy" | tr / -).dat" ] || continue
        printf '%s"%s/%s-%s.dat" using %s with %s ls %d title "%s"' "$sep" "$work" "$3" \
            "$(echo "$strategy" | tr / -)" "$1" "$2" "$i" "$(echo "$strategy" | sed 's|/| |; s|_|\\\\_|g; s| \([0-9]*\)$| \1 ms|')"
        sep=", "
    done
}
style='set terminal pngcairo size 900,560 font "DejaVu Sans,11"
set grid lt 1 lc rgb "#dddddd"
set key top left box opaque
set style line 1 lc rgb "#d62728" lw 2 pt 7 ps 1.2
set style line 2 lc rgb "#1f77b4" lw 2 pt 5 ps 1.2
set style line 3 lc rgb "#2ca02c" lw 2 pt 9 ps 1.4
set style line 4 lc rgb "#9467bd" lw 2 pt 11 ps 1.4
set style line 5 lc rgb "#ff7f0e" lw 2 pt 13 ps 1.4
set style line 6 lc rgb "#8c564b" lw 2 pt 4 ps 1.2'
gnuplot <<GNUPLOT
$style
set output "$out/leader-cpu-vs-n.png"
set title "Leader CPU per 1,000 reads as the cluster grows (reads only, $load_rate ops/s offered, 1 ms links)"
set xlabel "nodes (N)"
set ylabel "leader CPU ms per 1,000 reads, beyond idle (median, bars: min-max)"
set xtics (3, 5, 7)
set xrange [2.5:7.5]
set yrange [0:*]
plot $(plots '1:($2*1000):($3*1000):($4*1000)' yerrorlines n)
set output "$out/msgs-per-read-vs-n.png"
set title "Inter-node messages per read beyond forwarding to the leader (reads only, vs an idle cluster)"
set ylabel "messages per read (median, bars: min-max)"
set yrange [-0.1:0.7<*]
set arrow 1 from graph 0, first 0.5 to graph 1, first 0.5 nohead dt 2 lc rgb "#555555"
set label 1 "target for ReadIndex under load: 0.5" at graph 0.98, first 0.53 right tc rgb "#555555"
plot $(plots '1:5:6:7' yerrorlines n)$([ -s "$work/n10-read.dat" ] && printf ', "%s" using 1:5:6:7 with yerrorlines ls 1 dt 2 title "read, 10 ms links"' "$work/n10-read.dat")
unset arrow 1
unset label 1
set output "$out/p99-vs-n.png"
set title "Read latency p99 as the cluster grows (reads only, $load_rate ops/s offered, 1 ms links)"
set ylabel "read p99, ms (log scale; bars: min-max)"
set logscale y
set yrange [*:*]
set arrow 1 from graph 0, first 10 to graph 1, first 10 nohead dt 2 lc rgb "#555555"
set label 1 "target for the 100 ms bound: 10 ms" at graph 0.98, first 11.5 right tc rgb "#555555"
plot $(plots '1:2:3:4' yerrorlines p99)
unset arrow 1
unset label 1
unset logscale y
set output "$out/latency-vs-link.png"
set title "Read latency p50 vs one-way link latency (N = 3, $rate ops/s offered)"
set xlabel "one-way link latency, ms (log scale)"
set ylabel "read p50, ms (log scale; bars: min-max)"
set logscale xy
set xtics ("0.1" 0.1, "1" 1, "10" 10)
set xrange [0.07:14]
set autoscale y
plot $(plots '1:2:3:4' yerrorlines link)
GNUPLOT
awk -F, 'NR > 1 { print NR - 1, $1, $2, $3, $4, $6, $7, $8 }' "$out/node.csv" >"$work/node.dat"
gnuplot <<GNUPLOT
$style
set output "$out/node-vs-echo.png"
set title "One node, piped: $ops mixed ops, single-member cluster (median of $repeats, bars: min-max)"
set ylabel "ops per second"
set style fill solid 0.7
set boxwidth 0.35
set key top right box opaque
set yrange [0:*]
set xrange [0.4:$(wc -l <"$work/node.dat").6]
plot "$work/node.dat" using (\$1 - 0.18):3:xtic(2) with boxes lc rgb "#1f77b4" title "ops per CPU second (user + sys)", \
     "" using (\$1 - 0.18):3:4:5 with yerrorbars lc rgb "black" pt 0 notitle, \
     "" using (\$1 - 0.18):3:(sprintf("%.0fk", \$3 / 1000)) with labels offset 0,1.2 notitle, \
     "" using (\$1 + 0.18):6 with boxes lc rgb "#aaaaaa" title "ops per wall-clock second", \
     "" using (\$1 + 0.18):6:7:8 with yerrorbars lc rgb "black" pt 0 notitle
GNUPLOT

# ---- summary ----
{
    echo "== one node, piped: $ops mixed ops, single-member cluster (median of $repeats runs, min-max)"
    printf '%-22s %11s %21s %8s   %9s %21s %8s\n' binary "ops/CPU-s" "min-max" "of echo" "ops/s" "min-max (wall)" "of echo"
    awk -F, 'NR > 1 { printf "%-22s %11d %21s %7.1f%%   %9d %21s %7.1f%%\n", $1, $2, $3 "-" $4, $5, $6, $7 "-" $8, $9 }' "$out/node.csv"
    echo
    echo "== read strategies on $node_bin: 1 ms links, $rate ops/s offered (80% reads, 20% writes,"
    echo "   round-robin over the nodes), ${seconds} s per run, median of $repeats runs [min-max]"
    printf '%-2s %-18s %6s %6s %6s %-17s %-17s %6s %-21s %s\n' N strategy "ok/s" "p50ms" "p99ms" "msgs/read" "beyond forwarding" leader "leader CPU s/1k reads" "staleness p50/p99"
    row() { # row FILTER: the table rows of strategies.csv that match, in strategy order
        for strategy in $order read; do
            awk -F, -v s="$strategy" "NR > 1 && \$2 == s && $1" "$out/strategies.csv"
        done | awk -F, '!seen[$0]++ {
            share = ($16 == "" ? "-" : sprintf("%.1f%%", 100 * $16))
            stale = ($22 == "" ? "-" : $22 "/" $25 " ms")
            printf "%-2s %-18s %6d %6.2f %6.2f %-17s %-17s %6s %-21s %s\n", $1, $2, $4, $7, $10,
                sprintf("%.2f [%.2f,%.2f]", $13, $14, $15), sprintf("%.2f [%.2f,%.2f]", $28, $29, $30), share,
                sprintf("%.3f [%.3f,%.3f]", $19, $20, $21), stale
        }'
    }
    for n in $sizes; do row "\$1 == $n && \$3 == 1 && \$31 == $rate"; done
    echo
    echo "== reads only: $load_rate ops/s offered, ${latency_seconds} s per run, costs beyond an idle cluster's"
    for n in $load_sizes; do row "\$1 == $n && \$3 == 1 && \$31 == $load_rate"; done
    echo "   ReadIndex with 10 ms links (rounds 10 x longer, so more reads share each):"
    for n in $load_sizes; do row "\$1 == $n && \$3 == 10 && \$31 == $load_rate"; done
    echo
    echo "== scaling: leader CPU ms per 1,000 reads by N (reads only, $load_rate ops/s offered), median [min-max]"
    printf '%-18s' strategy
    for n in $load_sizes; do printf ' %-22s' "N = $n"; done
    echo
    for strategy in $order; do
        [ "$strategy" = ryw_read ] && continue # not in the reads-only runs
        printf '%-18s' "$strategy"
        for n in $load_sizes; do
            awk -F, -v s="$strategy" -v n="$n" -v r="$load_rate" 'NR > 1 && $1 == n && $2 == s && $3 == 1 && $31 == r {
                printf " %-22s", sprintf("%.1f [%.1f,%.1f]", 1000 * $19, 1000 * $20, 1000 * $21) }' "$out/strategies.csv"
        done
        echo
    done
    echo
    echo "== read p50 ms by one-way link latency (N = 3), median [min-max]"
    printf '%-18s' strategy
    for link in $links; do printf ' %-22s' "$link ms"; done
    echo
    for strategy in $order; do
        printf '%-18s' "$strategy"
        for link in $links; do
            awk -F, -v s="$strategy" -v l="$link" -v r="$rate" 'NR > 1 && $1 == 3 && $2 == s && $3 + 0 == l + 0 && $31 == r {
                printf " %-22s", sprintf("%.2f [%.2f,%.2f]", $7, $8, $9) }' "$out/strategies.csv"
        done
        echo
    done
    echo
    echo "== targets (medians)"
    awk -F, -v rate="$rate" -v load="$load_rate" '
        function verdict(ok) { return ok ? "met" : "NOT met (see NOTES.md, Measurements)" }
        NR == 1 { next }
        $3 == 1 && $31 == load && ($2 == "lease_read" || $2 ~ /^follower_read/) {
            zero = zero sprintf(" %s@%s=%.2f", $2, $1, $28); if ($28 > 0.1 || $28 < -0.1) zero_bad = 1; zero_any = 1 }
        $3 == 1 && $31 == load && $2 == "read" {
            batch = batch sprintf(" N=%s:%.2f", $1, $28); if ($28 > 0.5) batch_bad = 1; batch_any = 1 }
        $3 == 10 && $31 == load && $2 == "read" {
            batch10 = batch10 sprintf(" N=%s:%.2f", $1, $28); if ($28 > 0.5) batch10_bad = 1; batch10_any = 1 }
        $3 == 1 && $31 == load && $2 == "read" { read_cpu[$1] = $19 }
        $3 == 1 && $31 == load && $2 == "follower_read/100" {
            tight = tight sprintf(" N=%s:%.1f%%,%.2fms,%.1f/%sms", $1, 100 * $32, $10, 1000 * $19, "READ" $1)
            tight_n[$1] = $19; if ($32 < 0.95 || $10 >= 10) tight_bad = 1; tight_any = 1 }
        $3 == 1 && $31 == rate && $2 ~ /^follower_read/ {
            share = share sprintf(" %s@%s=%.1f%%<=%.1f%%", $2, $1, 100 * $16, 100 * (1 / $1 + 0.05))
            if ($16 > 1 / $1 + 0.05) share_bad = 1; share_any = 1 }
        END {
            if (zero_any) printf "0 messages per lease/follower read beyond forwarding and heartbeats, reads only (|x| <= 0.1): %s\n   %s\n", verdict(!zero_bad), zero
            if (batch_any) printf "ReadIndex batching <= 0.5 messages per read beyond forwarding, reads only at %s ops/s, 1 ms links: %s\n   %s\n", load, verdict(!batch_bad), batch
            if (batch10_any) printf "the same with 10 ms links: %s\n   %s\n", verdict(!batch10_bad), batch10
            if (share_any) printf "leader serves <= 1/N + 5%% of follower reads: %s\n   %s\n", verdict(!share_bad), share
            if (tight_any) {
                for (n in tight_n) {
                    if (!(n in read_cpu) || tight_n[n] > read_cpu[n] * 2 / 3) tight_bad = 1
                    sub("READ" n, sprintf("%.1f", 1000 * read_cpu[n]), tight)
                }
                printf "follower_read/100, reads only at %s ops/s, 1 ms links: >= 95%% served where asked, p99 < 10 ms, leader CPU per read <= 2/3 of read'"'"'s: %s\n   (served where asked, p99, leader CPU ms/1k reads vs read'"'"'s)%s\n", load, verdict(!tight_bad), tight
            }
        }' "$out/strategies.csv"
    echo
    echo "msgs/read: (routed - routed in a writes-only run, same seed and write rate) / answered reads;"
    echo "   for the reads-only runs, routed - routed in an idle cluster (heartbeats only)."
    echo "beyond forwarding: msgs/read - 2 x the share of reads answered by another node than the one asked."
    echo "leader CPU: (leader's CPU - the baseline run's leader's CPU) / answered reads * 1000 (/proc, 10 ms ticks)."
    echo "latency, ok/s: ops invoked after the first ${warmup_s} s (the first election)."
    echo "machine: $(nproc) cores; load average (1, 5, 15 min) before: $load_before; after: $(uptime | sed 's/.*load average: //');"
    echo "   $(($(date +%s) - started)) s in all, $(date -u +%Y-%m-%dT%H:%MZ)."
} | tee "$out/summary.txt"
say "done in $(($(date +%s) - started)) s: $(ls "$out" | tr '\n' ' ')"
