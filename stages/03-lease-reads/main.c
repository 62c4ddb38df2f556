/* Stage 03: stage 02 + lease reads. lease_read is answered by a leader holding a lease
 * with no network round trip, else by ReadIndex; lease_read_config checks a lease
 * configuration against the clock assumption and, if safe, puts it through the log
 * (lease.c; the clock analysis is in NOTES.md). */
#include "../01-follower-reads/follower_read.h"
#include "../02-read-your-writes/ryw_read.h"
#include "lease.h"

int main(int argc, char **argv)
{
    static const struct node_handler handlers[] = {
        {"follower_read", follower_read_handle, false},
        {"ryw_read", ryw_read_handle, false},
        {"lease_read", lease_read_handle, false},
        /* Goes through the log: a forwarded one whose answer never came may have
         * changed the cluster's timing. */
        {"lease_read_config", lease_read_config_handle, true},
    };
    static const struct node_plugin *const plugins[] = {&follower_read_plugin, &ryw_read_plugin,
                                                        &lease_plugin};
    /* Stage 01's flag and the lease's. (Not static: the table copies them.) */
    const struct node_flag flags[] = {follower_read_flags[0], lease_flags[0], lease_flags[1]};
    const struct node_stage stage = {
        .name = "03-lease-reads",
        .summary = "stage 02 + lease_read (no round trip while the leader holds a lease) "
                   "and lease_read_config",
        .flags = flags,
        .flag_count = FOLLOWER_READ_FLAG_COUNT + LEASE_FLAG_COUNT,
        .check_flags = follower_read_check_flags,
        .handlers = handlers,
        .handler_count = 4,
        .plugins = plugins,
        .plugin_count = 3,
    };
    return node_main(argc, argv, &stage);
}
