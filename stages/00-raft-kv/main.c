/* Stage 00: the baseline. A Raft-replicated key/value store speaking Maelstrom's lin-kv:
 * read, write and cas, all linearizable. Reads use ReadIndex (common/readindex.c): no
 * log entry per read, but one quorum round (shared by every read in flight) each.
 * Everything lives in common/, because every later stage builds on it. */
#include "node.h"

int main(int argc, char **argv)
{
    static const struct node_stage stage = {
        .name = "00-raft-kv",
        .summary = "linearizable read/write/cas on Raft (reads via ReadIndex)",
    };
    return node_main(argc, argv, &stage);
}
