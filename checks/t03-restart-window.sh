#!/usr/bin/env bash
# Stage 03: a restarted follower under a long lease configuration neither votes nor
# campaigns within the configured window E, counted from its restart. The leader's lease
# (L - S on its clock, from the send time of a round that follower acknowledged before
# it was killed) relies on both. Scenario: checks/scenarios/t03-restart-window.txt (the
# arithmetic is printed below). Judged by build/check-linearizable, which counts every
# lease_read (linearizable:true); and no write through the restarted follower may be
# acknowledged before restart + E: it would need an election the window forbids.
. "$(dirname "$0")/lib.sh"
need_runner
k=$(time_stretch)

cat <<EOF2 | sed 's/^/# /'
arithmetic (times and the config x$k): config 2900/3000/100, so E = 3000 ms and the
lease is 2800 ms.
follower1 acknowledges rounds until it is killed at 2.0 s, so the leader's lease can
last until 2.0 + 2.8 = 4.8 s; the last lease_read is sent at 4.7 s. follower1 restarts
at 2.1 s and must not campaign before 2.1 + 3.0 = 5.1 s > 4.8 s, so no leader but the old
one exists while its lease holds. On a timer drawn from the flags' 300 ms it would be
elected (with follower2, cut off before the config and so on a 300 ms window) by about
2.5 s, and writes of 2 from 2.3 s on would be acknowledged while lease reads answer 1.
EOF2

test_expect_success 'a restarted follower does not campaign within the configured window' '
    # The config stretches with the timeline (its E and lease are the windows at stake).
    stretch_scenario "$k" "$SCENARIOS/t03-restart-window.txt" |
        sed "s/lease_read_config 2900 3000 100/lease_read_config $((2900 * k)) $((3000 * k)) $((100 * k))/" >scenario.txt
    grep -q "lease_read_config $((2900 * k)) " scenario.txt
    "$CLUSTER" --bin "$NODE_BIN" --nodes 3 --scenario scenario.txt --data-dir data \
        --history history.jsonl --quiet \
        -- --heartbeat-ms $((50 * k)) --election-timeout-ms $((300 * k)) >summary.txt
    jq -c "select(.type != \"invoke\")" history.jsonl
    # The config was accepted and lease reads were served on the lease (the window was hit).
    jq -s -e "any(.[]; .f == \"lease_read_config\" and .type == \"ok\" and .safe == true)" history.jsonl
    jq -s -e "any(.[]; .f == \"lease_read\" and .type == \"ok\" and .lease_valid == true)" history.jsonl
    # No write through follower1 acknowledged before its restart + E.
    jq -s -e --argjson before "$((5100000 * k))" \
        "[.[] | select(.f == \"write\" and .value == 2 and .type == \"ok\" and .time_us < \$before)] | length == 0" history.jsonl
    "$CHECK_LIN" history.jsonl | tee verdict
    grep -Eq "judged [1-9][0-9]* ops" verdict
'

test_done
