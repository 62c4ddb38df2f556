/* Stage 02: stage 01 + read-your-writes. write_ok and cas_ok carry the entry's
 * commit_index, and ryw_read is served by any node that has applied the client's
 * token (ryw_read.c; the argument is in NOTES.md). */
#include "../01-follower-reads/follower_read.h"
#include "ryw_read.h"

int main(int argc, char **argv)
{
    static const struct node_feature *const features[] = {&follower_read_feature,
                                                          &ryw_read_feature};
    static const struct node_stage stage = {
        .name = "02-read-your-writes",
        .summary = "stage 01 + write_ok.commit_index and ryw_read with session tokens",
        .features = features,
        .feature_count = NODE_COUNT(features),
    };
    return node_main(argc, argv, &stage);
}
