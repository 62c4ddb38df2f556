/* node_durable: with --data-dir, what leaves before the fsync and what waits for it
 * (NOTES.md, stage 00, "Durable writes in parallel"; §10.2.1 of the dissertation).
 *
 * A message that promises what is on this node's disk waits for the fsync that puts it
 * there; nothing else does. The promises are acks ("I have these entries") and votes
 * ("I am in this term and voted so"): they are held here and sent after the fsync.
 * Everything else leaves first: a leader's appends (its followers then write in
 * parallel with it), a follower's forwards, replies to clients (only ever for committed
 * entries, which a majority already holds on disk). So when a turn recorded only log
 * entries, proto's flush writes the output, then storage fsyncs once (group commit),
 * then the held acks and votes go. The leader counts its own copy of an entry toward
 * the commit only from then on (raft's await_own_fsync): counted earlier, an entry could
 * be acknowledged with one other copy, which a crash of the leader before its fsync
 * would leave alone in a minority.
 *
 * Sync first, before any output, in three cases: a term, vote or truncation record in
 * the turn (rare: elections, conflicts; belt and braces, since what leaves early
 * promises nothing about this disk, but it keeps the argument to entries alone); output
 * written mid-turn because the buffer grew large; a cluster of one, whose own copy is
 * the majority and whose fsync nothing can overlap. READPATH_SERIAL_FSYNC=1 syncs first always
 * (safe, slower: `make bench-durable` compares). */
#include "node_parts.h"
#include "proto.h"
#include "storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct node_durable {
    struct storage *storage;
    bool parallel; /* output other than acks and votes may leave before the fsync */
    /* READPATH_UNSAFE_ACK_BEFORE_FSYNC=1, test only (checks/t00-parallel-fsync.sh's
     * negative control): acks and votes leave with the rest, before their fsync. */
    bool unsafe_ack_before_fsync;
    void (*commit_moved)(void);
    struct node_held {
        int peer;
        cJSON *body;
    } * held; /* in the order they were sent */
    int held_count, held_cap;
} durable;

/* An ack and a vote promise what is on disk. */
static bool node_promises_disk(const cJSON *body)
{
    const char *type = cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring;
    return strcmp(type, "raft_append_res") == 0 || strcmp(type, "raft_vote_res") == 0;
}

bool node_durable_hold(int peer, cJSON *body)
{
    if (!durable.parallel || durable.unsafe_ack_before_fsync || !node_promises_disk(body))
        return false;
    if (durable.held_count == durable.held_cap) {
        durable.held_cap = durable.held_cap ? 2 * durable.held_cap : 16;
        durable.held = realloc(durable.held, (size_t)durable.held_cap * sizeof *durable.held);
        if (!durable.held) {
            perror("node: out of memory holding a message");
            abort();
        }
    }
    durable.held[durable.held_count++] = (struct node_held){.peer = peer, .body = body};
    return true;
}

void node_durable_log_synced(void)
{
    if (node_raft()) raft_set_durable_index(node_raft(), raft_last_index(node_raft()));
}

/* One fsync for everything recorded so far; the log is then on disk as it is now. */
static void node_durable_sync(void)
{
    if (!storage_pending(durable.storage)) return;
    storage_sync(durable.storage);
    node_durable_log_synced();
}

/* proto's before_write: returns true to put the fsync off until after the write. */
static bool node_durable_before_output(bool may_defer)
{
    if (may_defer && durable.parallel && storage_pending_only_entries(durable.storage)) return true;
    node_durable_sync();
    return false;
}

/* proto's after_write, once the loop's flush wrote everything. */
static void node_durable_after_output(bool deferred)
{
    if (deferred) node_durable_sync();
    /* Everything recorded is on disk now (synced before the write, mid-turn, or here). */
    for (int i = 0; i < durable.held_count; i++)
        proto_send(node_id(), node_peer_id(durable.held[i].peer), -1, durable.held[i].body);
    durable.held_count = 0;
    if (node_raft() && raft_commit_durable(node_raft()) && durable.commit_moved)
        durable.commit_moved();
}

void node_durable_open(struct storage *storage)
{
    durable.storage = storage;
    proto_set_flush_hooks(node_durable_before_output, node_durable_after_output);
}

bool node_durable_start(int cluster_size, void (*commit_moved)(void))
{
    if (!durable.storage) return false;
    const char *serial = getenv("READPATH_SERIAL_FSYNC");
    durable.commit_moved = commit_moved;
    durable.parallel = cluster_size > 1 && !(serial && strcmp(serial, "1") == 0);
    durable.unsafe_ack_before_fsync =
        durable.parallel && node_unsafe_test_switch("READPATH_UNSAFE_ACK_BEFORE_FSYNC");
    return durable.parallel;
}

void node_durable_stop(void)
{
    for (int i = 0; i < durable.held_count; i++)
        cJSON_Delete(durable.held[i].body);
    free(durable.held);
    durable = (struct node_durable){0};
}
