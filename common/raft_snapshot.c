/* Log compaction (§5.1) and InstallSnapshot (§5.3).
 *
 * The driver owns the state machine, so it makes the snapshot: after applying an index it
 * serializes its state and calls raft_compact, and the core drops the log through that
 * index, keeping the snapshot (opaque JSON) to send. A follower that needs an entry the
 * leader no longer has gets the snapshot instead of an append, in one raft_snapshot
 * message, and answers it with an ordinary raft_append_res. That reply echoes the
 * message's round and incarnation like an append's ack, and confirms rounds the same way:
 * it was sent by a follower that accepted this leader's term after the round began,
 * which is all a round's confirmation claims (ReadIndex, leases). */
#include "raft_parts.h"

#include "trace.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Drops the log through `index` (which has term `term`); the entries after it stay. */
static void raft_drop_prefix(struct raft *r, int64_t index, int64_t term)
{
    int64_t last = index < r->last_index ? index : r->last_index;
    for (int64_t i = r->snapshot_index + 1; i <= last; i++)
        cJSON_Delete(raft_log_entry(r, i)->command);
    int64_t kept = r->last_index > index ? r->last_index - index : 0;
    if (kept > 0) memmove(&r->log[1], raft_log_entry(r, index + 1), (size_t)kept * sizeof *r->log);
    r->snapshot_index = index;
    r->snapshot_term = term;
    r->log[0] = (struct raft_entry){.term = term};
    r->last_index = index + kept;
}

static void raft_keep_snapshot(struct raft *r, cJSON *snapshot)
{
    cJSON_Delete(r->snapshot);
    r->snapshot = snapshot;
    if (r->cb.persist_snapshot)
        r->cb.persist_snapshot(r->cb.ctx, r->snapshot_index, r->snapshot_term, snapshot);
}

void raft_compact(struct raft *r, int64_t index, cJSON *snapshot)
{
    assert(index <= r->applied_index);
    if (index <= r->snapshot_index) {
        cJSON_Delete(snapshot);
        return;
    }
    trace_event("applied %lld entries since the last snapshot -> log compacted through %lld (§5.1)",
                (long long)(index - r->snapshot_index), (long long)index);
    raft_drop_prefix(r, index, raft_term_at(r, index));
    raft_keep_snapshot(r, snapshot);
}

/* One message carries the whole state: no chunks (§5.3's offset and done fields). The
 * state here is a map of small JSON values, one line on a pipe that has no size limit,
 * and it is held in memory anyway; chunks matter for a state too large to hold twice or
 * to send within an election timeout. A lost snapshot costs nothing special: next_index
 * advances as if it arrived, the follower rejects the next append (its log ends below
 * it), and the rewind sends the snapshot again. */
void raft_send_snapshot(struct raft *r, int peer)
{
    assert(r->snapshot);
    cJSON *body = raft_message("raft_snapshot", r->term);
    cJSON_AddNumberToObject(body, "last_index", (double)r->snapshot_index);
    cJSON_AddNumberToObject(body, "last_term", (double)r->snapshot_term);
    cJSON_AddNumberToObject(body, "round", (double)r->round);
    cJSON_AddNumberToObject(body, "incarnation", (double)r->config.incarnation);
    /* A reference: the core keeps the snapshot, nothing is copied per send. */
    cJSON_AddItemReferenceToObject(body, "data", r->snapshot);
    trace_event("peer %d needs entry %lld, compacted away -> snapshot through %lld sent (§5.3)",
                peer, (long long)r->next_index[peer], (long long)r->snapshot_index);
    r->next_index[peer] = r->snapshot_index + 1;
    if (r->cb.sending_append) {
        cJSON *piggyback = cJSON_CreateObject();
        r->cb.sending_append(r->cb.ctx, peer, piggyback);
        raft_attach_piggyback(body, piggyback);
    }
    r->cb.send(r->cb.ctx, peer, body);
}

/* The state becomes the snapshot's. The log keeps what follows the snapshot's last entry
 * if it holds that entry (same index and term: by Log Matching everything before agrees);
 * otherwise all of it goes, since nothing in it can be committed beyond the snapshot. */
static int64_t raft_install(struct raft *r, int64_t index, int64_t term, cJSON *snapshot)
{
    if (index > r->snapshot_index && raft_term_at(r, index) == term) {
        raft_drop_prefix(r, index, term);
    } else {
        for (int64_t i = r->snapshot_index + 1; i <= r->last_index; i++)
            cJSON_Delete(raft_log_entry(r, i)->command);
        r->snapshot_index = r->last_index = index;
        r->snapshot_term = term;
        r->log[0] = (struct raft_entry){.term = term};
    }
    r->commit_index = r->applied_index = index;
    raft_keep_snapshot(r, snapshot);
    return r->last_index - index;
}

void raft_on_snapshot(struct raft *r, int from, const cJSON *body, int64_t now_us)
{
    bool ok = true;
    int64_t term = raft_int(body, "term", &ok);
    int64_t index = raft_int(body, "last_index", &ok);
    int64_t last_term = raft_int(body, "last_term", &ok);
    int64_t round = raft_int(body, "round", &ok);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "data");
    if (!ok || index < 1 || last_term < 1 || last_term > term || !data) {
        trace_warn("raft_snapshot from peer %d is malformed; ignored", from);
        return;
    }
    if (!raft_heed_leader(r, from, body, term, index, round, now_us)) return;
    const cJSON *incarnation = cJSON_GetObjectItemCaseSensitive(body, "incarnation");
    /* §5.3: a snapshot this node has already passed (a duplicate, a late one, one the
     * leader sent before an append caught it up) would roll its state back. Its ack is
     * still true: everything through the snapshot is here, committed. */
    if (index <= r->commit_index && !r->config.install_any_snapshot) {
        trace_event("snapshot through %lld from peer %d, committed here already (commit %lld) -> "
                    "acked, ignored",
                    (long long)index, from, (long long)r->commit_index);
        raft_reply_append(r, from, true, index, 0, index, round, incarnation, now_us);
        return;
    }
    if (!r->cb.load_snapshot(r->cb.ctx, index, last_term, data)) {
        trace_warn("raft_snapshot from peer %d: the state machine refused its data; ignored", from);
        return;
    }
    cJSON *copy = cJSON_Duplicate(data, true);
    if (!copy) {
        perror("raft: out of memory copying a snapshot");
        abort();
    }
    int64_t commit_before = r->commit_index;
    int64_t kept = raft_install(r, index, last_term, copy);
    trace_event("snapshot through %lld (term %lld) from peer %d, commit index was %lld -> install "
                "snapshot, %lld entries kept after it (§5.3)",
                (long long)index, (long long)last_term, from, (long long)commit_before,
                (long long)kept);
    raft_reply_append(r, from, true, index, 0, index, round, incarnation, now_us);
}
