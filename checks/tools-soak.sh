#!/usr/bin/env bash
# The soak (checks/soak.sh) in CI: two seeded random fault runs of the node under test
# (5 nodes; partitions, isolation, pauses, latency spikes, kills restarted 20..800 ms
# later when the runner has --data-dir, duplicated peer messages, and for stage 03 lease
# configs changed at each fault; every read type of the stage), each history through every checker
# that applies (`make soak RUNS=50` is the long one). Then the negative controls: the
# same soak with an unsafe test switch must report the anomaly, name the seed and
# print a replay command that finds it again.
. "$(dirname "$0")/lib.sh"

BUILD=$READPATH_ROOT/${READPATH_BUILD:-build}
for tool in cluster soak-spike check-linearizable check-staleness check-ryw; do
    [ -x "$BUILD/$tool" ] || skip_all "no $BUILD/$tool (build it with: make tools)"
done
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || skip_all "no node binary (NODE_BIN='$NODE_BIN')"
name=$(basename "$(dirname "$NODE_BIN")")
case $name in
[0-9][0-9]-*) stage=$((10#${name%%-*})) ;;
*) skip_all "soak.sh tells the stage from the build directory (build/NN-name/node), not $NODE_BIN" ;;
esac
export name

test_expect_success "2 random fault runs of $name: no anomaly, clean exits" '
    RUNS=2 SOAK_SECONDS=4 SOAK_SEED=7 SOAK_DIR=$PWD/soak "$READPATH_ROOT/checks/soak.sh" "$NODE_BIN" | tee out
    grep -q "^ok   $name seed 7001 " out
    grep -q "^ok   $name seed 7002 " out
'

# soak.sh with an unsafe switch, one 6 s run of isolations and partitions (a deposed
# leader in a minority keeps heartbeating its followers for up to an election timeout:
# the naive bound's window; 7-12 violations a run, 0-5 with isolations alone in 4 s), with
# a mix heavy in the read type the switch breaks (so a slow sanitizer build still does
# enough of them): it must fail (exit 1), say
# FAIL with the seed, the checker's verdict, keep the history, and print a replay
# command (with the switch in it) that finds the anomaly again.
# unsafe_control SWITCH CHECKER
unsafe_control='
    status=0
    env "$switch=1" RUNS=1 SOAK_SECONDS=6 SOAK_SEED=7 SOAK_FAULTS=isolate,partition SOAK_MIX="$mix" SOAK_DIR=$PWD/soak \
        "$READPATH_ROOT/checks/soak.sh" "$NODE_BIN" >out 2>&1 || status=$?
    cut -c1-300 out
    [ "$status" -eq 1 ]
    grep -q "^FAIL $name seed 7001 (faults: isolate,partition)" out
    grep -q "^  $checker exit 1: " out
    kept=$(sed -n "s/^  kept: //p" out | head -n 1)
    [ -s "$kept/history.jsonl" ]
    replay=$(sed -n "s/^  replay: //p" out | head -n 1)
    case $replay in "env $switch=1 "*) ;; *) echo "replay line lacks $switch=1"; false ;; esac
    rm -f "$kept/history.jsonl"
    eval "$replay" >replay.out 2>&1
    [ -s "$kept/history.jsonl" ]
    again=0
    "$BUILD/$checker" "$kept/history.jsonl" >again.out 2>&1 || again=$?
    head -n 3 again.out
    [ "$again" -eq 1 ]
'
if [ "$stage" -ge 1 ]; then
    export switch=READPATH_UNSAFE_NAIVE_STALENESS checker=check-staleness BUILD mix=write=40,read=10,follower_read=50
    test_expect_success "negative control: $switch=1 (staleness = time since the last heartbeat) fails the soak with the seed, and its replay finds the anomaly again" "$unsafe_control"
else
    test_count=$((test_count + 1))
    echo "ok $test_count # skip negative control with READPATH_UNSAFE_NAIVE_STALENESS (stage 01+; this is $name)"
fi
if [ "$stage" -ge 2 ]; then
    export switch=READPATH_UNSAFE_IGNORE_TOKEN checker=check-ryw BUILD mix=write=40,read=10,ryw_read=50
    test_expect_success "negative control: $switch=1 (followers serve ryw_read whatever the token) fails the soak with the seed, and its replay finds the anomaly again" "$unsafe_control"
else
    test_count=$((test_count + 1))
    echo "ok $test_count # skip negative control with READPATH_UNSAFE_IGNORE_TOKEN (stage 02+; this is $name)"
fi
test_done
