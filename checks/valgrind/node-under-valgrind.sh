#!/usr/bin/env bash
# A node for build/cluster's --bin: runs $VALGRIND_NODE (the real node) under memcheck,
# logging to $VALGRIND_LOG_DIR/<pid>.vg. Every error fails the run, and so does a
# definitely lost block; leaks of memory still reachable at exit are not errors.
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=yes \
    --log-file="${VALGRIND_LOG_DIR:?}/%p.vg" "${VALGRIND_NODE:?}" "$@"
