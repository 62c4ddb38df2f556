#!/usr/bin/env bash
# make report-browser-check: the report's own script, run by a real browser (headless
# Chromium, installed with apt-get when missing and run as root). Not part of make check:
# Chromium is ~290 MB.
#   1. a negative control: a report whose data the script cannot read must be caught
#      (its error is written into the page, and the check fails on it);
#   2. a report of a history with a planted stale read: after the script ran, the read is
#      drawn with the anomaly class, the checker's explanation beside it, the list entry
#      marked as in view;
#   3. make demo's run (a partition of the leader): leaders, the partition and the ops are
#      drawn; its screenshot is saved as build/report.png (REPORT_SCREENSHOT=docs/report.png
#      refreshes the README's picture);
#   4. 10,000 simulated ops from 60 processes with anomalies: drawn, lanes collapsed, the
#      view zoomed to the first anomaly; the time to write and to render it is printed.
# Every page must render with no console error and no error written into the page.
set -eu
cd "$(dirname "$0")/../.."
build=${READPATH_BUILD:-build}
node_bin=${NODE_BIN:?NODE_BIN is set by make}
stage=${STAGE:?STAGE is set by make}
shot=${REPORT_SCREENSHOT:-$build/report.png}
work=$(mktemp -d "${TMPDIR:-/tmp}/readpath-browser.XXXXXX")
trap 'rm -rf "$work"' EXIT

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "report-browser-check: installing chromium (~290 MB) with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null
        browser=$(command -v chromium)
    else
        echo "report-browser-check: no chromium; install it with: sudo apt-get install chromium"
        exit 1
    fi
fi

failures=0
ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; failures=$((failures + 1)); }

# browse HTML NAME [flags]: the DOM after the page's script ran, to $work/NAME.dom, and
# the browser's log (console messages included) to $work/NAME.log.
browse() {
    local html=$1 name=$2
    shift 2
    timeout 180 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --enable-logging=stderr --v=0 --window-size=1400,1400 "$@" \
        --dump-dom "file://$(realpath "$html")" >"$work/$name.dom" 2>"$work/$name.log"
}

# rendered NAME: the script finished, wrote no error into the page, logged nothing.
rendered() {
    local name=$1
    grep -q 'data-rendered="ok"' "$work/$name.dom" || { echo "  $name: the script did not finish"; return 1; }
    if grep -o '<div class="js-error">[^<]*' "$work/$name.dom"; then return 1; fi
    # The page logs nothing, and Chromium logs console.log and console.error alike
    # (INFO:CONSOLE), so any console line is a failure.
    if grep -E 'Uncaught|:CONSOLE' "$work/$name.log"; then return 1; fi
}

report_data() {
    sed -n 's|.*<script type="application/json" id="run-data">\(.*\)</script>.*|\1|p' "$1"
}

# 1. negative control: a run that is null makes the script throw.
"$build/run-report" --history checks/checkers/testdata/lin-stale-read.jsonl --out "$work/stale.html"
sed 's/"run":{/"run":null,"unread":{/' "$work/stale.html" >"$work/broken.html"
browse "$work/broken.html" broken
if ! rendered broken >/dev/null && grep -q 'class="js-error"' "$work/broken.dom"; then
    ok "a page whose script fails is caught (its error is in the page)"
else
    not_ok "a page whose script fails is caught (its error is in the page)"
fi

# 2. the planted stale read, marked after the script ran.
browse "$work/stale.html" stale
if rendered stale &&
    grep -q '<g class="op op-read op-ok anomaly" data-op="2">' "$work/stale.dom" &&
    [ "$(grep -o 'class="op [^"]*anomaly"' "$work/stale.dom" | wc -l)" -eq 1 ] &&
    grep -q '<g class="anomaly-note" data-anomaly="0">' "$work/stale.dom" &&
    grep -q 'and this op, which must take effect before it returns' "$work/stale.dom" &&
    grep -q '<li class="anomaly in-view" data-anomaly="0"' "$work/stale.dom"; then
    ok "a planted stale read is drawn with the anomaly class and the checker's explanation beside it"
else
    not_ok "a planted stale read is drawn with the anomaly class and the checker's explanation beside it"
fi

# 3. make demo's run, and its picture.
if ! DEMO_SECONDS=4 DEMO_DIR="$work/demo" READPATH_BUILD="$build" NODE_BIN="$node_bin" STAGE="$stage" \
    checks/demo.sh >"$work/demo.txt" 2>&1; then
    cat "$work/demo.txt"
    not_ok "make demo's run"
else
    browse "$work/demo/report.html" demo
    ops=$(report_data "$work/demo/report.html" | jq '.ops | length')
    drawn=$(grep -o '<g class="op ' "$work/demo.dom" | wc -l)
    if rendered demo && [ "$drawn" -eq "$ops" ] &&
        grep -q '<g class="leader">' "$work/demo.dom" &&
        grep -q '<g class="fault fault-partition">' "$work/demo.dom"; then
        ok "make demo's run: all $ops ops, the leaders and the partition drawn"
    else
        not_ok "make demo's run: all $ops ops ($drawn drawn), the leaders and the partition drawn"
    fi
    mkdir -p "$(dirname "$shot")"
    browse "$work/demo/report.html" shot --window-size=1400,1250 --screenshot="$(realpath "$(dirname "$shot")")/$(basename "$shot")"
    echo "  screenshot: $shot"
fi

# 4. 10,000 ops.
"$build/gen-history" --seed 3 --ops 10000 --processes 60 --read-types --corrupt-percent 1 >"$work/10k.jsonl"
start=$(date +%s%N)
"$build/run-report" --history "$work/10k.jsonl" --out "$work/10k.html"
written=$(date +%s%N)
browse "$work/10k.html" 10k
shown=$(date +%s%N)
if rendered 10k && grep -q '>c0-c1</text>' "$work/10k.dom" &&
    grep -q 'class="op [^"]*anomaly"' "$work/10k.dom" &&
    grep -q '<li class="anomaly in-view" data-anomaly="0"' "$work/10k.dom"; then
    ok "10,000 ops: lanes collapsed, zoomed to the first anomaly"
else
    not_ok "10,000 ops: lanes collapsed, zoomed to the first anomaly"
fi
echo "  10,000 ops: $(du -k "$work/10k.html" | cut -f1) KB; written in $(((written - start) / 1000000)) ms (checkers included), loaded and drawn by headless Chromium in $(((shown - written) / 1000000)) ms"

[ "$failures" -eq 0 ] || { echo "report-browser-check: $failures failed (logs: kept in $work)"; trap - EXIT; exit 1; }
echo "report-browser-check: all passed"
