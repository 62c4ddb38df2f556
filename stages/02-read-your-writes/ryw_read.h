/* ryw_read: read-your-writes from any node, with commit-index session tokens.
 *
 * Every acknowledged write names the log index it committed at (write_ok.commit_index).
 * A client keeps the largest index it has seen and sends it with each read as
 * last_write_index. A node whose applied index has reached that token holds every
 * write the client saw acknowledged, so it may answer from its own state; a node that
 * has not waits a little, then hands the read to the leader. NOTES.md, stage 02, has
 * the argument and the measurements. */
#ifndef READPATH_RYW_READ_H
#define READPATH_RYW_READ_H

#include "node.h"

/* The ryw_read message, and the plugin that adds commit_index to write_ok and cas_ok and
 * wakes parked reads as entries apply. */
extern const struct node_feature ryw_read_feature;

#endif
