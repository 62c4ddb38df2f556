#!/usr/bin/env bash
# Runs, through prove, the suites of stages 00..$STAGE against $NODE_BIN, then the suites
# of the tools (checkers, runner) that do not depend on a stage.
set -eu
cd "$(dirname "$0")/.."
: "${STAGE:?STAGE is set by make}" "${NODE_BIN:?NODE_BIN is set by make}"
suites=()
for f in checks/t[0-9][0-9]-*.sh; do
    [ -e "$f" ] || continue
    n=${f#checks/t}; n=${n%%-*}
    [ "$((10#$n))" -le "$((10#$STAGE))" ] && suites+=("$f")
done
for f in checks/tools-*.sh; do [ -e "$f" ] && suites+=("$f"); done
echo "checks: stage $STAGE ($NODE_BIN): ${suites[*]##*/}"
export NODE_BIN STAGE READPATH_BUILD="${READPATH_BUILD:-build}"
exec prove --timer "${suites[@]}"
