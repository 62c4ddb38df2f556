/* storage: Raft's persistent state (§3.8) in one append-only file, DIR/raft.log.
 *
 * One record per line: eight hex digits of CRC-32 over the JSON that follows, a space,
 * the JSON, a newline. Records:
 *   {"k":"tv","term":T,"vote":V}              term and vote (peer index, -1 none)
 *   {"k":"e","i":I,"t":T,"c":{...}}           log entry I of term T with command c
 *   {"k":"trunc","after":I}                   entries after I were dropped
 * Nothing is rewritten in place, so a crash can only leave a bad *tail*: the records
 * of the last write(2), torn or half there. Recovery replays the file; bad records
 * with no good record after them are that tail, and are cut off (said on stderr). A
 * bad record with a good one after it cannot come from a crash: that is corruption,
 * and recovery refuses (stderr, non-zero exit) rather than guess.
 *
 * Writes are batched: records collect in memory and storage_sync writes them and
 * fsyncs once. The node calls it before any output leaves (proto's flush hooks), so
 * every vote, ack or reply is sent only after what it promises is on disk; only a
 * leader's new entries may leave first (node.c, §10.2.1). */
#ifndef READPATH_STORAGE_H
#define READPATH_STORAGE_H

#include "raft.h"

#include <stdbool.h>
#include <stdint.h>

struct storage;

/* What the file held. entries[0..count) own their commands until handed to
 * raft_restore (then free only the array). */
struct storage_state {
    int64_t term;
    int voted_for;
    struct raft_entry *entries;
    int64_t count;
};

/* Opens (creating DIR and the file if needed) and recovers. Returns NULL after
 * printing why on stderr when the file is corrupt or cannot be used. */
struct storage *storage_open(const char *dir, struct storage_state *recovered);
void storage_close(struct storage *s);

void storage_term_vote(struct storage *s, int64_t term, int voted_for);
void storage_append(struct storage *s, int64_t index, const struct raft_entry *entry);
void storage_truncate(struct storage *s, int64_t after_index);
/* Whether anything was recorded since the last sync, and whether all of it is log
 * entries (no term, vote or truncation): a leader may send such entries before its
 * own fsync (§10.2.1), since its commit rule waits for the fsync anyway. */
bool storage_pending(const struct storage *s);
bool storage_pending_only_entries(const struct storage *s);
/* Writes and fsyncs what was recorded since the last sync; nothing to do costs nothing.
 * An I/O error here is fatal (the process exits): promising what is not on disk is
 * the one thing a durable node must never do. */
void storage_sync(struct storage *s);

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32). */
uint32_t storage_crc32(const void *data, size_t len);

#endif
