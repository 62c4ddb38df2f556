/* Stage 03: stage 02 + lease reads. lease_read is answered by a leader holding a lease
 * with no network round trip, else by ReadIndex; lease_read_config checks a lease
 * configuration against the clock assumption and, if safe, puts it through the log
 * (lease.c, lease_config.c; the clock analysis is in NOTES.md). */
#include "../01-follower-reads/follower_read.h"
#include "../02-read-your-writes/ryw_read.h"
#include "lease.h"
#include "lease_config.h"

int main(int argc, char **argv)
{
    /* lease_config before lease: the lease reads the configuration it has set up. */
    static const struct node_feature *const features[] = {&follower_read_feature, &ryw_read_feature,
                                                          &lease_config_feature, &lease_feature};
    static const struct node_stage stage = {
        .name = "03-lease-reads",
        .summary = "stage 02 + lease_read (no round trip while the leader holds a lease) "
                   "and lease_read_config",
        .features = features,
        .feature_count = NODE_COUNT(features),
    };
    return node_main(argc, argv, &stage);
}
