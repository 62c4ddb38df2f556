/* forwarded: what the leader remembers of the requests other nodes forwarded to it, so
 * a forward delivered twice is answered twice with the same reply and proposed once.
 *
 * A network may duplicate a message (Maelstrom's can, and the harness's `duplicate`
 * fault does). Raft's own messages are idempotent; a forwarded `write` is not: applied
 * twice, the second copy can overwrite a later write with an older value. So each
 * forward is named by (forwarding peer, that peer's incarnation, its forward id): ids
 * start again at 0 in every life of a process, and the incarnation (a random id drawn
 * at start) keeps two lives apart. The Raft dissertation's §6.3 does this for clients
 * with sessions; here the forwarders are the only "clients" the leader has, and their
 * sessions are their incarnations.
 *
 * An entry is kept for `keep_us` after it was answered, then forgotten; below the
 * lowest id forgotten from an incarnation, a forward is refused as FORWARDED_FORGOTTEN
 * (its forwarder gave up on it long ago: dropping it is safe, proposing it is not).
 * What a leader's own restart forgets is said in NOTES.md ("Duplicated messages").
 *
 * Allocation: the table owns its entries and a copy of every cached reply; forwarded_free
 * releases them. No I/O, no clock: time comes in as now_us. */
#ifndef READPATH_FORWARDED_H
#define READPATH_FORWARDED_H

#include <cJSON.h>
#include <stdint.h>

enum forwarded_status {
    FORWARDED_NEW,         /* first sight: recorded as in progress; serve it */
    FORWARDED_IN_PROGRESS, /* a copy is being served; its one answer will go out */
    FORWARDED_ANSWERED,    /* answered already: *reply is that answer (owned by the table) */
    FORWARDED_FORGOTTEN,   /* too old to tell: drop it */
};

struct forwarded_key {
    int peer;
    int64_t incarnation;
    int64_t forward_id;
};

struct forwarded;

struct forwarded *forwarded_new(int64_t keep_us);
void forwarded_free(struct forwarded *table);

enum forwarded_status forwarded_arrive(struct forwarded *table, struct forwarded_key key,
                                       int64_t now_us, const cJSON **reply);
/* The answer to a forward that arrived as FORWARDED_NEW; the table keeps a copy. */
void forwarded_answer(struct forwarded *table, struct forwarded_key key, const cJSON *reply,
                      int64_t now_us);
/* Forgets answers older than keep_us. */
void forwarded_expire(struct forwarded *table, int64_t now_us);
size_t forwarded_count(const struct forwarded *table);

#endif
