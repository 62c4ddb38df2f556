#!/usr/bin/env bash
# Unit tests of common/forwarded (reference internals): the leader remembers each
# forward by (forwarding peer, its incarnation, forward id), so a duplicated forward is
# proposed once and answered with the same reply, two lives of one follower never share
# an answer, and a copy arriving after its answer was forgotten is refused.
cd "$(dirname "$0")/.." || exit 1
bin=${READPATH_BUILD:-build}/forwarded-test
if [ ! -x "$bin" ]; then
    echo "Bail out! $bin not built (make $bin)"
    exit 1
fi
exec "$bin"
