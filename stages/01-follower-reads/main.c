/* Stage 01: stage 00 + follower_read, reads from any node with a proven staleness bound
 * (follower_read.c; the proof is in NOTES.md). */
#include "follower_read.h"

int main(int argc, char **argv)
{
    static const struct node_feature *const features[] = {&follower_read_feature};
    static const struct node_stage stage = {
        .name = "01-follower-reads",
        .summary = "stage 00 + follower_read with a proven staleness bound",
        .features = features,
        .feature_count = NODE_COUNT(features),
    };
    return node_main(argc, argv, &stage);
}
