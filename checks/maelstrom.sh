#!/usr/bin/env bash
# make maelstrom STAGE=NN: Jepsen Maelstrom's lin-kv workload against one stage's node,
# when a maelstrom executable is on PATH or in $MAELSTROM. Maelstrom's reply schemas are
# closed, so the node runs with --maelstrom (replies carry exactly lin-kv's fields).
set -eu
cd "$(dirname "$0")/.."
node_bin=${NODE_BIN:?NODE_BIN is set by make}
maelstrom=${MAELSTROM:-$(command -v maelstrom || true)}
if [ -z "$maelstrom" ] || [ ! -x "$maelstrom" ]; then
    cat <<'HOW'
maelstrom: not found (neither $MAELSTROM nor `maelstrom` on PATH), so nothing was run.
To get it: Maelstrom needs a JVM (Debian: apt-get install default-jre-headless) and a
release archive from https://github.com/jepsen-io/maelstrom/releases (maelstrom.tar.bz2);
unpack it and run, e.g.:
    make maelstrom STAGE=00 MAELSTROM=/path/to/maelstrom/maelstrom
Without Maelstrom, `make demo` and `make check` exercise the same protocol with the
workbook's own runner (build/cluster) and checkers.
HOW
    exit 0
fi
wrapper=$(mktemp "${TMPDIR:-/tmp}/readpath-maelstrom-node.XXXXXX")
trap 'rm -f "$wrapper"' EXIT
printf '#!/bin/sh\nexec %q --maelstrom "$@"\n' "$(realpath "$node_bin")" >"$wrapper"
chmod +x "$wrapper"
echo "maelstrom: lin-kv against $node_bin (with --maelstrom)"
"$maelstrom" test -w lin-kv --bin "$wrapper" --node-count 3 --concurrency 2n \
    --time-limit "${MAELSTROM_SECONDS:-30}" --rate 50 --nemesis partition
