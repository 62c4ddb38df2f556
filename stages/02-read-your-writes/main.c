/* Stage 02: stage 01 + read-your-writes. write_ok and cas_ok carry the entry's
 * commit_index, and ryw_read is served by any node that has applied the client's
 * token (ryw_read.c; the argument is in NOTES.md). */
#include "../01-follower-reads/follower_read.h"
#include "ryw_read.h"

int main(int argc, char **argv)
{
    static const struct node_handler handlers[] = {
        {"follower_read", follower_read_handle, false},
        {"ryw_read", ryw_read_handle, false},
    };
    static const struct node_plugin *const plugins[] = {&follower_read_plugin, &ryw_read_plugin};
    static const struct node_stage stage = {
        .name = "02-read-your-writes",
        .summary = "stage 01 + write_ok.commit_index and ryw_read with session tokens",
        .flags = follower_read_flags,
        .flag_count = FOLLOWER_READ_FLAG_COUNT,
        .check_flags = follower_read_check_flags,
        .handlers = handlers,
        .handler_count = 2,
        .plugins = plugins,
        .plugin_count = 2,
    };
    return node_main(argc, argv, &stage);
}
