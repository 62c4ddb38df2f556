#!/usr/bin/env bash
# The HTML report of a run (build/run-report, build/cluster --report): one file that
# needs nothing from outside, whose embedded data holds every op of the history, the
# fault windows and the leaders the runner saw; on a history with a planted anomaly, the
# checker's verdict verbatim and the offending ops marked with the anomaly class. The
# page's script is exercised in a real browser by `make report-browser-check`, not here.
. "$(dirname "$0")/lib.sh"

BUILD_DIR=$READPATH_ROOT/${READPATH_BUILD:-build}
RUN_REPORT=$BUILD_DIR/run-report
TESTDATA=$READPATH_ROOT/checks/checkers/testdata
need_runner
[ -x "$RUN_REPORT" ] || skip_all "no $RUN_REPORT (build it with: make tools)"

# The JSON inside <script type="application/json" id="run-data">, on one line.
report_data() {
    sed -n 's|.*<script type="application/json" id="run-data">\(.*\)</script>.*|\1|p' "$1"
}

test_expect_success 'a run with a partition writes its report and says where' '
    k=$(time_stretch)
    cat >scenario.txt <<-SCENARIO
	at 0.6s partition leader | follower1 follower2
	at 1.2s heal
	SCENARIO
    stretch_scenario "$k" scenario.txt >stretched.txt
    timeout -k 2 "$(scaled 60)" "$CLUSTER" --bin "$NODE_BIN" --nodes 3 --latency-ms 1 \
        --concurrency 4 --rate 200 --time-limit "$((2 * k))" --timeout-ms "$(scaled 1000 | cut -d. -f1)" \
        --scenario stretched.txt --history h.jsonl --events e.jsonl --report "$PWD/run.html" --quiet \
        -- --heartbeat-ms 20 --election-timeout-ms 150 >out.txt
    grep -Fx "report: $PWD/run.html" out.txt
    cp run.html h.jsonl e.jsonl "$test_scratch/"
'

test_expect_success 'the report fetches nothing: no src, no link, no import, no URL but the SVG namespace' '
    html=$test_scratch/run.html
    test -s "$html"
    refute grep -Eiq "src=|<link|@import|url\\((https?:)?//" "$html"
    grep -Eo "https?://[^\"'"'"' )]*" "$html" | sort -u >urls
    printf "%s\n" "http://www.w3.org/2000/svg" >expected
    test_cmp expected urls
    test "$(grep -c "</script>" "$html")" -eq 2
'

test_expect_success 'its data holds every op of the history, the partition window and who led' '
    report_data "$test_scratch/run.html" >data.json
    jq -e . data.json >/dev/null
    invokes=$(json_count "{\"type\":\"invoke\"}" "$test_scratch/h.jsonl")
    test "$invokes" -gt 50
    test "$(jq ".ops | length" data.json)" -eq "$invokes"
    test "$(jq "[.ops[] | select(.t1 != null)] | length" data.json)" -eq "$(jq -s "[.[] | select(.type != \"invoke\")] | length" "$test_scratch/h.jsonl")"
    # the partition: one side of one node (the leader), one of two, closed by the heal
    jq -e ".faults | map(select(.kind == \"partition\")) | length == 1 and (.[0] | .open == false
        and .from_us < .to_us and (.groups | map(length) | sort) == [1, 2])" data.json
    # who led: the leader that was cut off, then a newer term on the majority side
    cut=$(jq -r ".faults[] | select(.kind == \"partition\") | .groups[] | select(length == 1) | .[0]" data.json)
    from=$(jq ".faults[] | select(.kind == \"partition\") | .from_us" data.json)
    jq -e --arg cut "$cut" --argjson from "$from" "any(.leaders[]; .node == \$cut and .from_us < \$from)" data.json
    jq -e --arg cut "$cut" --argjson from "$from" "([.leaders[] | select(.node == \$cut) | .term] | min) as \$old
        | any(.leaders[]; .node != \$cut and .from_us > \$from and .term > \$old)" data.json
    jq -e "[.checkers[] | select(.name == \"linearizable\") | .verdict] == [\"no anomaly\"]" data.json
'

test_expect_success 'the events file is in time order and has the faults and leaders the report drew' '
    json_lines "$test_scratch/e.jsonl"
    jq -se "[.[].time_us] as \$t | all(range(1; \$t | length); \$t[.] >= \$t[. - 1])" "$test_scratch/e.jsonl"
    json_subset "{\"event\":\"fault\",\"fault\":\"partition\"}" "$test_scratch/e.jsonl"
    json_subset "{\"event\":\"fault\",\"fault\":\"heal\"}" "$test_scratch/e.jsonl"
    report_data "$test_scratch/run.html" | jq ".leaders | length" >drawn
    json_count "{\"event\":\"leader\"}" "$test_scratch/e.jsonl" >seen
    test_cmp seen drawn
'

test_expect_success 'a node that sends no raft_append: no leaders, and the report says why' '
    timeout -k 2 "$(scaled 30)" "$CLUSTER" --bin "$BUILD_DIR/naive-node" --nodes 3 --concurrency 2 \
        --ops 20 --report "$PWD/naive.html" --quiet >out.txt
    report_data naive.html | jq -e "(.leaders == []) and (.ops | length == 20)"
    grep -q "no node sent a raft_append, so leadership is not observed" naive.html
'

test_expect_success 'every kind of fault becomes a window from the line that starts it to the one that ends it' '
    cat >e.jsonl <<-\EOF
	{"time_us":0,"event":"run","nodes":["n1","n2","n3"],"clock_rate":{"n2":0.8},"seed":1,"bin":"node"}
	{"time_us":100,"event":"fault","fault":"cut","from":"n1","to":"n2"}
	{"time_us":200,"event":"fault","fault":"duplicate","probability":0.5}
	{"time_us":300,"event":"fault","fault":"pause","node":"n3"}
	{"time_us":400,"event":"fault","fault":"uncut","from":"n1","to":"n2"}
	{"time_us":500,"event":"fault","fault":"resume","node":"n3"}
	{"time_us":600,"event":"fault","fault":"kill","node":"n1","restart_after_ms":0.02}
	{"time_us":620,"event":"fault","fault":"restart","node":"n1"}
	{"time_us":700,"event":"fault","fault":"duplicate","probability":0}
	{"time_us":800,"event":"fault","fault":"partition","groups":[["n1"],["n2","n3"]]}
	{"time_us":900,"event":"fault","fault":"cut","from":"n2","to":"n3"}
	{"time_us":1000,"event":"fault","fault":"heal"}
	{"time_us":1100,"event":"fault","fault":"kill","node":"n2"}
	{"time_us":5000,"event":"end"}
	EOF
    "$RUN_REPORT" --history "$TESTDATA/lin-good-sequential.jsonl" --events e.jsonl --out f.html
    report_data f.html | jq -r ".faults | sort_by(.kind, .from_us)[] | [.kind, .label, .from_us, .to_us, .open] | @tsv" >windows
    printf "%s\t%s\t%s\t%s\t%s\n" \
        clock "clock n2 x0.8" 0 5000 true \
        cut "cut n1 -> n2" 100 400 false \
        cut "cut n2 -> n3" 900 1000 false \
        duplicate "duplicate p=0.5" 200 700 false \
        kill "kill n1 (restart after 0.02 ms)" 600 620 false \
        kill "kill n2" 1100 5000 true \
        partition "n1 | n2 n3" 800 1000 false \
        pause "pause n3" 300 500 false >expected
    test_cmp expected windows
    report_data f.html | jq -e ".leaders == [] and .run.nodes == [\"n1\", \"n2\", \"n3\"] and .run.end_us == 5000"
'

test_expect_success 'a planted stale read: the verdict verbatim and the read marked as the anomaly' '
    "$RUN_REPORT" --history "$TESTDATA/lin-stale-read.jsonl" --out stale.html
    status=0
    "$BUILD_DIR/check-linearizable" "$TESTDATA/lin-stale-read.jsonl" >verdict.txt || status=$?
    test "$status" -eq 1
    report_data stale.html >data.json
    jq -r ".checkers[] | select(.name == \"linearizable\") | .text" data.json >relayed.txt
    printf "\n" >>verdict.txt
    test_cmp verdict.txt relayed.txt
    grep -q "<h3>check-linearizable: ANOMALY</h3>" stale.html
    jq -e ".anomalies == [.anomalies[0]] and .anomalies[0].lines == [[5, 6]] and .anomalies[0].ops == [2]" data.json
    jq -e "[.ops[] | .anomaly] == [null, null, [0]] and .ops[2].lines == [5, 6]" data.json
    grep -q "<li class=\"anomaly\" data-anomaly=\"0\" data-checker=\"linearizable\" data-lines=\"5..6\" data-ops=\"2\">" stale.html
'

test_expect_success 'a staleness anomaly marks the read and the write that overwrote it, as one anomaly' '
    "$RUN_REPORT" --history "$TESTDATA/stale-older-than-claim.jsonl" --out stale.html
    report_data stale.html >data.json
    jq -e ".anomalies | length == 1 and .[0].checker == \"staleness\" and .[0].lines == [[5, 6], [3, 4]]" data.json
    jq -e "[.ops[] | .anomaly] == [null, [0], [0]]" data.json
    jq -e ".anomalies[0] | .from_us == 200000 and .to_us == 350400" data.json
'

test_expect_success 'a clean history: no anomaly anywhere in the report' '
    "$RUN_REPORT" --history "$TESTDATA/lin-good-sequential.jsonl" --out good.html
    report_data good.html >data.json
    jq -e ".anomalies == [] and all(.ops[]; .anomaly == null)" data.json
    grep -q "No checker named an anomaly." good.html
    refute grep -q "class=\"anomaly\"" good.html
'

test_expect_success 'a reply holding </script> cannot end the embedded data early' '
    cat >h.jsonl <<-\EOF
	{"time_us":1000,"process":1,"type":"invoke","f":"write","key":1,"value":1,"node":"n1"}
	{"time_us":2000,"process":1,"type":"fail","f":"write","key":1,"value":1,"node":"n1","error":11,"text":"</script><script>alert(1)</script><!--"}
	EOF
    "$RUN_REPORT" --history h.jsonl --out x.html
    test "$(grep -c "</script>" x.html)" -eq 2
    report_data x.html | jq -er ".ops[0].rep.text" >text
    printf "%s\n" "</script><script>alert(1)</script><!--" >expected
    test_cmp expected text
'

test_expect_success 'make demo writes the report and prints its path last' '
    stage=${STAGE:-$(basename "$(dirname "$NODE_BIN")" | cut -d- -f1)}
    status=0
    timeout -k 2 "$(scaled 60)" env READPATH_BUILD="${READPATH_BUILD:-build}" STAGE="$stage" \
        DEMO_SECONDS=2 DEMO_DIR="$PWD/demo" "$READPATH_ROOT/checks/demo.sh" >demo.txt 2>&1 || status=$?
    tail -n 3 demo.txt
    test "$status" -eq 0
    test "$(tail -n 1 demo.txt)" = "report: $PWD/demo/report.html (open it in a browser: the run on one time axis)"
    report_data demo/report.html | jq -e "(.ops | length > 0) and any(.faults[]; .kind == \"partition\")"
'

test_expect_success 'run-report without --out or with an unreadable history exits 2' '
    status=0
    "$RUN_REPORT" --history "$TESTDATA/lin-stale-read.jsonl" 2>err || status=$?
    test "$status" -eq 2
    grep -q "usage:" err
    status=0
    "$RUN_REPORT" --history nowhere.jsonl --out x.html 2>err || status=$?
    test "$status" -eq 2
    grep -q "nowhere.jsonl" err
    test ! -e x.html
'

test_done
