/* Stage 01: stage 00 + follower_read, reads from any node with a proven staleness bound
 * (follower_read.c; the proof is in NOTES.md). */
#include "follower_read.h"

int main(int argc, char **argv)
{
    static const struct node_handler handlers[] = {
        {"follower_read", follower_read_handle, false},
    };
    static const struct node_plugin *const plugins[] = {&follower_read_plugin};
    static const struct node_stage stage = {
        .name = "01-follower-reads",
        .summary = "stage 00 + follower_read with a proven staleness bound",
        .flags = follower_read_flags,
        .flag_count = FOLLOWER_READ_FLAG_COUNT,
        .check_flags = follower_read_check_flags,
        .handlers = handlers,
        .handler_count = 1,
        .plugins = plugins,
        .plugin_count = 1,
    };
    return node_main(argc, argv, &stage);
}
