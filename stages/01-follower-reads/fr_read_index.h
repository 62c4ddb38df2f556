/* fr_read_index: a follower serves a linearizable read itself, with a read index it asks
 * the leader for (the follower read of §6.4's last paragraph, as etcd and TiKV do it).
 *
 * For a bound tighter than heartbeats can prove. The follower asks the leader for a
 * read index (one round trip: the `read_index` request, forwarded like a client's); the
 * leader runs its ReadIndex (its term's no-op applied, its commit index recorded, a
 * quorum round begun after that confirms it still leads) and answers with the index,
 * its term and its life; the follower waits until it has applied that index and reads
 * its own state. Reads share round trips: one request in flight at a time, and every
 * read that arrives meanwhile rides the next one. Why that is linearizable, and what
 * each check below prevents, is in NOTES.md (stage 01, "Tight bounds: a read index from
 * the leader"). */
#ifndef READPATH_FR_READ_INDEX_H
#define READPATH_FR_READ_INDEX_H

#include "node.h"

/* What the follower does with a read once it may (`serve`: it has applied an index the
 * leader confirmed after the read arrived) or may not (`fall_back`: no leader, the leader
 * changed, no usable answer in time) read its own state, and with every answer:
 * `confirmed` hears that the leader confirmed `index` for a request this node sent at
 * asked_us on its own clock (a freshness pair, as good as a heartbeat's; every parked
 * request is retried right after). A read still waiting for its batch's answer is
 * offered to `serve_if_proven` (true if it served it: the proof meets its bound). */
struct fr_read_index_reader {
    node_serve_fn serve;
    node_serve_fn fall_back;
    void (*confirmed)(int64_t asked_us, int64_t index);
    bool (*serve_if_proven)(struct node_request *req);
};
/* Called once, from fr_started; the reader is not copied. */
void fr_read_index_start(const struct fr_read_index_reader *reader);
/* A follower's read: rides the next read-index request, then is served or falls back. */
void fr_read_index_read(struct node_request *req);
/* The leader's side: a peer's `read_index` request, answered once ReadIndex confirms. */
void fr_read_index_handle(struct node_request *req);
/* Raft's events that move reads along. */
void fr_read_index_applied(int64_t index);
void fr_read_index_leadership_changed(void);

#endif
