#!/usr/bin/env bash
# checks/soak.sh: randomized fault runs. For each stage's node, RUNS seeded runs of
# build/cluster: 5 nodes, a random subset of the faults below at a random interval,
# 1-5 ms link latency with as much jitter, and a workload mixing every read type the
# stage serves. The faults a run draws from its seed:
#   partition  two random sides               (the runner's --nemesis partition)
#   isolate    one node cut off, in turn      (--nemesis isolate)
#   pause      SIGSTOP one node, then SIGCONT (--nemesis pause)
#   spike      latency spikes: every node's inbound messages are held an extra
#              20..400 ms in windows of 0.1-1 s (build/soak-spike, checks/soak/spike.c)
#   kill       SIGKILL one node, restart it from its --data-dir 20..800 ms later
#              (--restart-after-ms; only when the runner and the node both offer
#              --data-dir; see checks/harness)
#   duplicate  each node-to-node message, with probability 0.3, delivered twice, the
#              copy with its own latency and jitter (--nemesis duplicate)
# Every node compacts its log every 50 applied entries (SOAK_SNAPSHOT_EVERY), so
# snapshots, InstallSnapshot and restarts from a snapshot run under every fault.
# Stage 03 runs with a nemesis also change the lease configuration at each fault step
# (--lease-configs): 400/600/50, then back to 150/150/15 (the node flags' defaults),
# both safe; election timeouts stay at most 600 ms (900 randomized), under the 1 s
# client timeout, so runs stay live.
# Each history goes through every checker that applies to the stage:
#   00 read/write/cas                      check-linearizable
#   01 + follower_read                     + check-staleness
#   02 + ryw_read                          + check-ryw
#   03 + lease_read                        (judged by check-linearizable: linearizable:true)
# A run fails when the runner reports a node failure (crash, non-zero exit, stuck at
# EOF) or a checker finds an anomaly (exit 1) or rejects the history (exit 2). A checker
# that gives up (exit 3, search budget exhausted) is a warning: it proves nothing either
# way. For each failing run the script prints the seed and the exact command that
# replays it (the same seed gives the same ops and fault schedule; timing differs), and
# keeps its history and node logs. READPATH_UNSAFE_* switches in the environment reach
# the nodes (negative controls: checks/tools-soak.sh) and are part of the replay command.
#
#   checks/soak.sh [NODE...]           default: every build/NN-*/node
#   RUNS=50 SOAK_SECONDS=5 SOAK_SEED=1 SOAK_DIR=dir checks/soak.sh
#   SOAK_FAULTS=partition,spike        only these kinds (default: a random subset of all)
#   SOAK_MIX=write=40,follower_read=60 this op mix (default: the stage's, below)
#
# Exit: 0 when every run passed (warnings allowed), 1 when any run failed.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/${READPATH_BUILD:-build}
RUNS=${RUNS:-10}
SOAK_SECONDS=${SOAK_SECONDS:-5}
SOAK_SEED=${SOAK_SEED:-1}
SCALE=${READPATH_TIME_SCALE:-1}
CLUSTER=$BUILD/cluster

for tool in cluster soak-spike check-linearizable check-staleness check-ryw; do
    if [ ! -x "$BUILD/$tool" ]; then
        echo "soak: no $BUILD/$tool (build it with: make tools)" >&2
        exit 2
    fi
done
command -v jq >/dev/null 2>&1 || { echo "soak: jq not found (checks/deps.sh installs it)" >&2; exit 2; }

if [ $# -gt 0 ]; then
    nodes=()
    for n in "$@"; do
        case $n in /*) nodes+=("$n") ;; *) nodes+=("$PWD/$n") ;; esac
    done
else
    nodes=()
    for n in "$BUILD"/[0-9][0-9]-*/node; do [ -x "$n" ] && nodes+=("$n"); done
fi
if [ ${#nodes[@]} -eq 0 ]; then
    echo "soak: no node binaries under $BUILD (build them with: make)" >&2
    exit 2
fi

if [ -n "${SOAK_DIR:-}" ]; then
    mkdir -p "$SOAK_DIR"
else
    SOAK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/readpath-soak.XXXXXX")
fi

. "$ROOT/checks/stages.sh"


# Can the runner restart a killed node from disk? (Then kill is one of the faults.)
runner_restarts=0
if "$CLUSTER" --help 2>&1 | grep -q -- '--data-dir' && "$CLUSTER" --help 2>&1 | grep -q 'kill'; then
    runner_restarts=1
fi

# Everything a run draws comes from its seed, so the printed command replays it.
# Sets args (the runner's flags), bin (what --bin runs) and run_env (VAR=value...).
run_args() {
    local seed=$1 stage=$2 node=$3 kinds=() k can_kill=0
    RANDOM=$seed
    if [ "$runner_restarts" = 1 ] && "$node" --help 2>&1 | grep -q -- '--data-dir'; then
        can_kill=1
    fi
    # Six draws always, so a seed means the same schedule with or without kill.
    for k in partition isolate pause spike kill duplicate; do
        if [ $((RANDOM % 2)) -eq 1 ] && { [ "$k" != kill ] || [ "$can_kill" = 1 ]; }; then
            kinds+=("$k")
        fi
    done
    [ ${#kinds[@]} -eq 0 ] && kinds=(partition pause)
    if [ -n "${SOAK_FAULTS:-}" ]; then IFS=, read -r -a kinds <<<"$SOAK_FAULTS"; fi
    local latency=$((1 + RANDOM % 5))
    local interval=$((300 + RANDOM % 8 * 100))
    local concurrency=$((4 + RANDOM % 7))
    local spike_ms=$((20 + RANDOM % 381)) spike_every=$((500 + RANDOM % 1501))
    local restart_after_ms=$((20 + RANDOM % 781))
    local timeout_ms nemesis=() spike=0 kill=0
    timeout_ms=$(awk -v k="$SCALE" 'BEGIN { printf "%d", 1000 * k }')
    for k in "${kinds[@]}"; do
        case $k in
        spike) spike=1 ;;
        kill) kill=1 nemesis+=(kill) ;;
        *) nemesis+=("$k") ;;
        esac
    done
    args=(--nodes 5 --seed "$seed" --latency-ms "$latency" --jitter-ms "$latency"
        --concurrency "$concurrency" --keys 3 --time-limit "$SOAK_SECONDS"
        --timeout-ms "$timeout_ms" --mix "${SOAK_MIX:-$(mix_of "$stage")}")
    if [ ${#nemesis[@]} -gt 0 ]; then
        args+=(--nemesis "$(IFS=,; echo "${nemesis[*]}")" --nemesis-interval-ms "$interval")
        [ "$stage" -ge 3 ] && args+=(--lease-configs 400/600/50,150/150/15)
    fi
    [ "$kill" = 1 ] && args+=(--data-dir "$dir/data" --restart-after-ms "$restart_after_ms")
    run_env=()
    local v
    for v in $(compgen -e | grep '^READPATH_UNSAFE_' || true); do run_env+=("$v=${!v}"); done
    bin=$node
    if [ "$spike" = 1 ]; then
        bin=$BUILD/soak-spike
        run_env+=("SPIKE_NODE=$node" "READPATH_SPIKE_MS=$spike_ms" "READPATH_SPIKE_EVERY_MS=$spike_every")
    fi
    faults=$(IFS=,; echo "${kinds[*]}")
    [ "$kill" = 1 ] && faults=${faults/kill/kill (restart after ${restart_after_ms} ms)}
}

quote() { printf '%q ' "$@"; }

total_runs=0 total_failed=0 total_warned=0
summary=()
for node in "${nodes[@]}"; do
    stage=$(stage_of "$node")
    name=$(basename "$(dirname "$node")")
    node_flags=(-- --heartbeat-ms 20 --election-timeout-ms 150)
    # Compaction on, at a small threshold, so snapshots, installs and restarts from a
    # snapshot happen all through every run (nodes that predate it run without).
    if "$node" --help 2>&1 | grep -q -- '--snapshot-every'; then
        node_flags+=(--snapshot-every "${SOAK_SNAPSHOT_EVERY:-50}")
    fi
    passed=0 failed=0 warned=0 ops_ok=0 ops_info=0
    start=$(date +%s)
    for i in $(seq 1 "$RUNS"); do
        seed=$((SOAK_SEED * 1000 + i))
        dir=$SOAK_DIR/$name/seed-$seed
        run_args "$seed" "$stage" "$node"
        mkdir -p "$dir"
        cmd=(env "${run_env[@]}" "$CLUSTER" --bin "$bin" "${args[@]}" --history "$dir/history.jsonl"
            --summary-json "$dir/summary.json" --log-dir "$dir/logs" --quiet "${node_flags[@]}")
        status=0
        timeout -k 5 "$(awk -v s="$SOAK_SECONDS" -v k="$SCALE" 'BEGIN { printf "%d", (s + 30) * k }')" \
            "${cmd[@]}" >"$dir/cluster.out" 2>"$dir/cluster.err" || status=$?
        problems=() warnings=()
        [ "$status" -eq 0 ] || problems+=("cluster exited $status: $(tail -n 3 "$dir/cluster.err" | tr '\n' ' ')")
        checkers=(check-linearizable)
        [ "$stage" -ge 1 ] && checkers+=(check-staleness)
        [ "$stage" -ge 2 ] && checkers+=(check-ryw)
        if [ -s "$dir/history.jsonl" ]; then
            for c in "${checkers[@]}"; do
                cstatus=0
                "$BUILD/$c" "$dir/history.jsonl" >"$dir/$c.out" 2>&1 || cstatus=$?
                # Exit 4 (nothing to judge) is a failure too: a run that gave a checker
                # nothing to judge proved nothing (checks/checkers/README.md).
                case $cstatus in
                0) grep -Eq "judged [1-9][0-9]* ops" "$dir/$c.out" ||
                    problems+=("$c passed without judging an op: $(head -n 1 "$dir/$c.out")") ;;
                3) warnings+=("$c: unknown ($(head -n 1 "$dir/$c.out"))") ;;
                *) problems+=("$c exit $cstatus: $(head -c 1500 "$dir/$c.out")") ;;
                esac
            done
        else
            problems+=("no history written")
        fi
        ok=? info=?
        if [ -s "$dir/summary.json" ]; then
            read -r ok info < <(jq -r '"\(.total.ok) \(.total.info)"' "$dir/summary.json")
            ops_ok=$((ops_ok + ok)) ops_info=$((ops_info + info))
        fi
        if [ ${#problems[@]} -gt 0 ]; then
            failed=$((failed + 1))
            echo "FAIL $name seed $seed (faults: $faults)"
            for p in "${problems[@]}"; do echo "  $p" | head -n 40; done
            echo "  kept: $dir"
            echo "  replay: $(quote "${cmd[@]}")"
        else
            passed=$((passed + 1))
            echo "ok   $name seed $seed (faults: $faults): $ok ops ok, $info info"
            for w in "${warnings[@]}"; do
                warned=$((warned + 1))
                echo "WARN $name seed $seed (faults: $faults): $w"
                echo "  replay: $(quote "${cmd[@]}")"
            done
            [ ${#warnings[@]} -gt 0 ] || rm -rf "$dir"
        fi
    done
    secs=$(($(date +%s) - start))
    line="$name: $RUNS runs, $passed passed, $failed failed, $warned checker warnings; $ops_ok ops ok, $ops_info info; ${secs}s"
    echo "$line"
    summary+=("$line")
    total_runs=$((total_runs + RUNS)) total_failed=$((total_failed + failed))
    total_warned=$((total_warned + warned))
done
echo "soak summary (seeds $((SOAK_SEED * 1000 + 1))..$((SOAK_SEED * 1000 + RUNS)), ${SOAK_SECONDS}s each):"
printf '  %s\n' "${summary[@]}"
rmdir "$SOAK_DIR"/* "$SOAK_DIR" 2>/dev/null
[ "$total_failed" -eq 0 ]
