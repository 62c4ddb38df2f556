/* storage: Raft's persistent state (§3.8) in two files: DIR/raft.log and, once the log
 * has been compacted (§5.1), DIR/snapshot.json.
 *
 * raft.log: one record per line: eight hex digits of CRC-32 over the JSON that follows,
 * a space, the JSON, a newline. Records:
 *   {"k":"tv","term":T,"vote":V}              term and vote (peer index, -1 none)
 *   {"k":"e","i":I,"t":T,"c":{...}}           log entry I of term T with command c
 *   {"k":"trunc","after":I}                   entries after I were dropped
 *   {"k":"snap","i":I,"t":T}                  this file continues the snapshot through I
 * Between two snapshots nothing is rewritten in place, so a crash can only leave a bad
 * *tail*: the records of the last write(2), torn or half there. Recovery replays the
 * file; bad records with no good record after them are that tail, and are cut off
 * (said on stderr). A bad record with a good one after it cannot come from a crash:
 * that is corruption, and recovery refuses (stderr, non-zero exit) rather than guess.
 *
 * snapshot.json: a header line "CRC LENGTH" (eight hex digits of CRC-32, the decimal
 * length) over the JSON on the next line, {"index":I,"term":T,"state":{...}}.
 *
 * Compaction replaces both files, each by the same dance: write a temporary file, fsync
 * it, rename it over the old one, fsync the directory. Snapshot first, then the log,
 * rewritten whole as a "snap" record, the term and vote, and the entries the core kept
 * after the snapshot (one file rather than segments: what follows a snapshot is a few
 * turns' worth of entries, so the rewrite is small, and recovery stays one replay). The
 * crash points, and what recovery finds at each:
 *   - before the snapshot's rename (a torn or whole temporary file): the old snapshot
 *     and the old log, which holds every entry since that snapshot. Nothing lost; the
 *     temporary file is removed at start (said on stderr).
 *   - after the snapshot's rename, before the log's: the new snapshot and the old log.
 *     Entries at or below the snapshot are skipped. The entries after it are kept only
 *     if the log shows them following the snapshot's last entry (an entry of its index
 *     and term, or a "snap" record for it): a follower that installed a snapshot over a
 *     log that disagreed with it had already dropped that log's suffix in memory, and
 *     such a suffix can hold nothing committed (§5.3), so it is dropped here too.
 *   - after the log's rename: the new pair. Either rename not yet on disk when the
 *     directory's fsync did not happen counts as "before" it: rename is atomic.
 * A snapshot is written only after every entry it covers was applied, so committed, and
 * acknowledged only after both files are durable: nothing acknowledged is lost.
 *
 * Writes are batched: records collect in memory and storage_sync writes them and
 * fsyncs once. The node calls it before any output leaves (proto's flush hooks), so
 * every vote, ack or reply is sent only after what it promises is on disk; when only log
 * entries are pending, other output may leave first (common/node_durable.c, §10.2.1).
 *
 * Test-only: READPATH_TEST_CRASH_IN_SNAPSHOT=POINT:N kills the process (SIGKILL, as
 * kill -9) inside its Nth compaction, at POINT: torn-snapshot (half the temporary
 * snapshot written), before-rename (temporary snapshot complete and synced), before-log
 * (snapshot renamed, log not yet rewritten) or torn-log (half the temporary log). */
#ifndef READPATH_STORAGE_H
#define READPATH_STORAGE_H

#include "raft.h"

#include <stdbool.h>
#include <stdint.h>

struct storage;

/* Opens (creating DIR and the log if needed) and recovers into `recovered`, whose
 * snapshot and commands are the caller's to hand to raft_restore. Returns NULL after
 * printing why on stderr when a file is corrupt or cannot be used. */
struct storage *storage_open(const char *dir, struct raft_persisted *recovered);
/* Frees what `recovered` still owns. */
void storage_forget(struct raft_persisted *recovered);
void storage_close(struct storage *s);

void storage_term_vote(struct storage *s, int64_t term, int voted_for);
void storage_append(struct storage *s, int64_t index, const struct raft_entry *entry);
void storage_truncate(struct storage *s, int64_t after_index);
/* Whether anything was recorded since the last sync, and whether all of it is log
 * entries (no term, vote or truncation): then output other than acks and votes may
 * leave before the fsync (common/node_durable.c, §10.2.1). */
bool storage_pending(const struct storage *s);
bool storage_pending_only_entries(const struct storage *s);
/* The log now starts after `index`: writes `state` as the snapshot through it (of term
 * `term`), then rewrites the log as the entries `r` holds after it. Both durable when it
 * returns (see the crash points above); nothing stays pending. */
void storage_snapshot(struct storage *s, int64_t index, int64_t term, const cJSON *state,
                      const struct raft *r);
/* Writes and fsyncs what was recorded since the last sync; nothing to do costs nothing.
 * An I/O error here is fatal (the process exits): promising what is not on disk is
 * the one thing a durable node must never do. */
void storage_sync(struct storage *s);

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32). */
uint32_t storage_crc32(const void *data, size_t len);

#endif
