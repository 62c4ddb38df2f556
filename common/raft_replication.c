/* Log replication (§3.5): batched, pipelined appends, the commit rule, and the broadcast
 * rounds whose acks echo a round id, which ReadIndex (§6.4) and leases count on. */
#include "raft_parts.h"

#include "proto.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>

/* The driver's "piggyback" object (see raft.h): attached to an append or an ack only
 * when the driver put something in it. */
void raft_attach_piggyback(cJSON *body, cJSON *piggyback)
{
    if (piggyback && piggyback->child)
        cJSON_AddItemToObject(body, "piggyback", piggyback);
    else
        cJSON_Delete(piggyback);
}

const cJSON *raft_piggyback_of(const cJSON *body, int from)
{
    const cJSON *piggyback = cJSON_GetObjectItemCaseSensitive(body, "piggyback");
    if (piggyback && !cJSON_IsObject(piggyback)) {
        trace_warn("piggyback from peer %d is not an object; ignored", from);
        return NULL;
    }
    return piggyback;
}

/* ---- leader: sending appends, rounds, commit ---- */

void raft_send_append(struct raft *r, int peer)
{
    if (r->next_index[peer] <= r->match_index[peer]) r->next_index[peer] = r->match_index[peer] + 1;
    /* §5.3: what this peer needs next was compacted away; only the snapshot has it. */
    if (r->next_index[peer] <= r->snapshot_index) {
        raft_send_snapshot(r, peer);
        return;
    }
    int64_t prev = r->next_index[peer] - 1;
    if (prev > r->last_index) prev = r->last_index;
    int64_t count = r->last_index - prev;
    if (count > r->config.max_entries_per_append) count = r->config.max_entries_per_append;

    cJSON *body = raft_message("raft_append", r->term);
    cJSON_AddNumberToObject(body, "prev_log_index", (double)prev);
    cJSON_AddNumberToObject(body, "prev_log_term", (double)raft_term_at(r, prev));
    cJSON_AddNumberToObject(body, "leader_commit", (double)r->commit_index);
    cJSON_AddNumberToObject(body, "round", (double)r->round);
    cJSON_AddNumberToObject(body, "incarnation", (double)r->config.incarnation);
    cJSON *entries = cJSON_AddArrayToObject(body, "entries");
    for (int64_t i = prev + 1; i <= prev + count; i++) {
        cJSON *entry = cJSON_CreateObject();
        const struct raft_entry *e = raft_log_entry(r, i);
        cJSON_AddNumberToObject(entry, "term", (double)e->term);
        /* A reference: the log keeps ownership, nothing is copied per send. */
        cJSON_AddItemReferenceToObject(entry, "command", e->command);
        cJSON_AddItemToArray(entries, entry);
    }
    /* Pipelining: assume it arrives; a rejection rewinds next_index. */
    r->next_index[peer] = prev + count + 1;
    if (r->cb.sending_append) {
        cJSON *piggyback = cJSON_CreateObject();
        r->cb.sending_append(r->cb.ctx, peer, piggyback);
        raft_attach_piggyback(body, piggyback);
    }
    r->cb.send(r->cb.ctx, peer, body);
}

static void raft_confirm_rounds(struct raft *r)
{
    /* The majority-th highest acked round: every round up to it was acknowledged by a
     * majority with acks sent after that round began (self counts with its latest). */
    int64_t rounds[r->n];
    for (int i = 0; i < r->n; i++)
        rounds[i] = (int64_t)(i == r->self ? r->round : r->acked_round[i]);
    uint64_t confirmed = (uint64_t)raft_quorum_value(r, rounds);
    if (confirmed <= r->confirmed_round) return;
    r->confirmed_round = confirmed;
    /* A round so old that its slot was reused: its send time is unknown, and a read
     * path must not mistake a newer round's time for it. */
    int64_t sent_us = RAFT_UNKNOWN_TIME, commit_index = -1;
    if (r->rounds[confirmed % RAFT_ROUND_MEMORY].round == confirmed) {
        sent_us = r->rounds[confirmed % RAFT_ROUND_MEMORY].sent_us;
        commit_index = r->rounds[confirmed % RAFT_ROUND_MEMORY].commit_index;
        if (sent_us > r->leader_contact_us) r->leader_contact_us = sent_us;
    }
    if (r->cb.round_confirmed) r->cb.round_confirmed(r->cb.ctx, confirmed, sent_us, commit_index);
}

static void raft_begin_round(struct raft *r, int64_t now_us)
{
    r->round++;
    r->rounds[r->round % RAFT_ROUND_MEMORY].round = r->round;
    r->rounds[r->round % RAFT_ROUND_MEMORY].sent_us = now_us;
    r->rounds[r->round % RAFT_ROUND_MEMORY].commit_index = r->commit_index;
}

void raft_broadcast(struct raft *r, int64_t now_us)
{
    raft_begin_round(r, now_us);
    r->entries_pending = false;
    r->round_wanted = false;
    r->heartbeat_due_us = now_us + r->config.heartbeat_us;
    for (int peer = 0; peer < r->n; peer++)
        if (peer != r->self) raft_send_append(r, peer);
    /* Alone, this leader is its own majority. */
    if (r->n == 1) raft_confirm_rounds(r);
}

/* The leader's own copy counts as far as it is durable (see await_own_fsync). */
static int64_t raft_self_match(const struct raft *r)
{
    if (!r->config.await_own_fsync || r->durable_index > r->last_index) return r->last_index;
    return r->durable_index;
}

void raft_advance_commit(struct raft *r)
{
    int64_t matches[r->n];
    for (int i = 0; i < r->n; i++)
        matches[i] = i == r->self ? raft_self_match(r) : r->match_index[i];
    int64_t replicated = raft_quorum_value(r, matches);
    /* §3.6.2: only an entry of the current term is committed by counting replicas. */
    if (replicated > r->commit_index && raft_term_at(r, replicated) == r->term) {
        r->commit_index = replicated;
        raft_apply_committed(r);
    }
}

int64_t raft_propose(struct raft *r, cJSON *command)
{
    if (r->role != RAFT_LEADER) return -1;
    raft_append_local(r, r->term, command);
    r->match_index[r->self] = r->last_index;
    r->entries_pending = true;
    if (r->n == 1) {
        raft_advance_commit(r);
        r->entries_pending = false;
    }
    return r->last_index;
}

void raft_set_durable_index(struct raft *r, int64_t index)
{
    r->durable_index = index;
}

bool raft_commit_durable(struct raft *r)
{
    if (!r->config.await_own_fsync || r->role != RAFT_LEADER) return false;
    int64_t commit_before = r->commit_index;
    raft_advance_commit(r);
    return r->commit_index > commit_before;
}

void raft_want_round(struct raft *r, int64_t now_us)
{
    if (r->role != RAFT_LEADER) return;
    if (r->n == 1) {
        /* Alone, a round is confirmed the moment it begins: reads are served in order. */
        raft_begin_round(r, now_us);
        raft_confirm_rounds(r);
        return;
    }
    r->round_wanted = true;
}

void raft_flush(struct raft *r, int64_t now_us)
{
    if (r->role != RAFT_LEADER) return;
    /* Batching reads: while a round is in flight, reads wait for the next one, which
     * starts when this one is confirmed (or at the next heartbeat). */
    bool round_in_flight = r->confirmed_round < r->round;
    if (r->entries_pending || (r->round_wanted && !round_in_flight)) raft_broadcast(r, now_us);
}

/* ---- follower: receiving appends; leader: receiving acks ---- */

/* A reply echoes the prev_log_index of the append it answers, so the leader can tell a
 * current reject from one that predates a success (see raft_on_append_res), and its
 * round and incarnation, which name the round it acknowledges. */
void raft_reply_append(struct raft *r, int to, bool success, int64_t match_index,
                       int64_t conflict_index, int64_t prev, int64_t round,
                       const cJSON *incarnation, int64_t now_us)
{
    cJSON *res = raft_message("raft_append_res", r->term);
    cJSON_AddBoolToObject(res, "success", success);
    cJSON_AddNumberToObject(res, "match_index", (double)match_index);
    cJSON_AddNumberToObject(res, "conflict_index", (double)conflict_index);
    cJSON_AddNumberToObject(res, "prev_log_index", (double)prev);
    cJSON_AddNumberToObject(res, "round", round);
    if (cJSON_IsNumber(incarnation))
        cJSON_AddNumberToObject(res, "incarnation", incarnation->valuedouble);
    if (r->cb.sending_ack) {
        cJSON *piggyback = cJSON_CreateObject();
        r->cb.sending_ack(r->cb.ctx, piggyback, now_us);
        raft_attach_piggyback(res, piggyback);
    }
    r->cb.send(r->cb.ctx, to, res);
}

/* The checks an append and a snapshot share: an older term is answered with this node's
 * (a deposed leader learns it), a newer or current one makes this node its follower and
 * counts as contact with a live leader (stickiness, the election timer, the read paths'
 * leader_contact). False when the message goes no further. */
bool raft_heed_leader(struct raft *r, int from, const cJSON *body, int64_t term, int64_t prev,
                      int64_t round, int64_t now_us)
{
    const cJSON *incarnation = cJSON_GetObjectItemCaseSensitive(body, "incarnation");
    const char *type = cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring;
    if (term < r->term) {
        /* A deposed leader: the reply's term tells it so. */
        raft_reply_append(r, from, false, 0, 0, prev, round, incarnation, now_us);
        return false;
    }
    if (r->role == RAFT_LEADER && term == r->term) {
        trace_warn("two leaders in term %lld (peer %d and me): a safety bug", (long long)term,
                   from);
        return false;
    }
    /* Before the change of leader is announced: whoever reacts to it (a request waiting
     * for a leader) names this life of the new one. */
    if (!proto_int_in(incarnation, 0, PROTO_MAX_EXACT_INT, &r->leader_incarnation))
        r->leader_incarnation = 0;
    if (term > r->term || r->role != RAFT_FOLLOWER || r->leader != from) {
        trace_event("%s from peer %d in term %lld -> follower of it", type, from, (long long)term);
        raft_become_follower(r, term, from, now_us);
    }
    r->leader_contact_us = now_us;
    r->election_due_us = now_us + raft_random_election_timeout(r);
    if (r->cb.leader_contact)
        r->cb.leader_contact(r->cb.ctx, from, raft_piggyback_of(body, from), now_us);
    return true;
}

void raft_on_append(struct raft *r, int from, const cJSON *body, int64_t now_us)
{
    bool ok = true;
    int64_t term = raft_int(body, "term", &ok);
    int64_t prev = raft_int(body, "prev_log_index", &ok);
    int64_t prev_term = raft_int(body, "prev_log_term", &ok);
    int64_t leader_commit = raft_int(body, "leader_commit", &ok);
    int64_t round = raft_int(body, "round", &ok);
    const cJSON *incarnation = cJSON_GetObjectItemCaseSensitive(body, "incarnation");
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(body, "entries");
    if (!ok || !cJSON_IsArray(entries) || prev < 0) {
        trace_warn("raft_append from peer %d is malformed; ignored", from);
        return;
    }
    if (!raft_heed_leader(r, from, body, term, prev, round, now_us)) return;

    if (prev > r->last_index) {
        raft_reply_append(r, from, false, 0, r->last_index + 1, prev, round, incarnation, now_us);
        return;
    }
    /* Entries at or below the snapshot are committed, so they are the leader's too
     * (Leader Completeness, §3.6.3): nothing to compare there. */
    if (prev >= r->snapshot_index && raft_term_at(r, prev) != prev_term) {
        /* Skip back over the whole conflicting term in one step. */
        int64_t conflict = prev;
        int64_t bad_term = raft_term_at(r, prev);
        while (conflict - 1 > r->commit_index && raft_term_at(r, conflict - 1) == bad_term)
            conflict--;
        raft_reply_append(r, from, false, 0, conflict, prev, round, incarnation, now_us);
        return;
    }
    int64_t index = prev;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, entries) {
        bool entry_ok = true;
        int64_t entry_term = raft_int(entry, "term", &entry_ok);
        const cJSON *command = cJSON_GetObjectItemCaseSensitive(entry, "command");
        if (!entry_ok || !cJSON_IsObject(command)) {
            trace_warn("raft_append from peer %d has a malformed entry; rest ignored", from);
            break;
        }
        index++;
        if (index <= r->snapshot_index) continue;
        if (index <= r->last_index) {
            if (raft_log_entry(r, index)->term == entry_term) continue;
            if (index <= r->commit_index) {
                trace_warn("append from peer %d contradicts committed entry %lld; ignored", from,
                           (long long)index);
                return;
            }
            raft_truncate_after(r, index - 1);
        }
        cJSON *copy = cJSON_Duplicate(command, true);
        if (!copy) {
            perror("raft: out of memory copying an entry");
            abort();
        }
        raft_append_local(r, entry_term, copy);
    }
    /* Commit only what this message proved we share with the leader (§3.5, Figure 3.1). */
    int64_t proven_commit = leader_commit < index ? leader_commit : index;
    if (proven_commit > r->commit_index) {
        r->commit_index = proven_commit;
        raft_apply_committed(r);
    }
    raft_reply_append(r, from, true, index, 0, prev, round, incarnation, now_us);
}

/* Is this reject about the follower's log as it is now? A reject of an append at
 * prev <= match_index predates the success that set match_index. A reject without the
 * prev it answers is malformed and ignored. */
static bool raft_rejects_current(const struct raft *r, int from, const cJSON *body)
{
    bool ok = true;
    int64_t rejected_prev = raft_int(body, "prev_log_index", &ok);
    return ok && rejected_prev > r->match_index[from];
}

void raft_on_append_res(struct raft *r, int from, const cJSON *body, int64_t now_us)
{
    bool ok = true;
    int64_t term = raft_int(body, "term", &ok);
    bool success = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "success"));
    int64_t match_index = raft_int(body, "match_index", &ok);
    int64_t conflict_index = raft_int(body, "conflict_index", &ok);
    int64_t round = raft_int(body, "round", &ok);
    if (!ok) {
        trace_warn("raft_append_res from peer %d is malformed; ignored", from);
        return;
    }
    if (term > r->term) {
        trace_event("append reply from peer %d carries term %lld -> step down", from,
                    (long long)term);
        raft_become_follower(r, term, -1, now_us);
        return;
    }
    if (r->role != RAFT_LEADER || term != r->term) return;
    bool this_life = true;
    if (raft_int(body, "incarnation", &this_life) != r->config.incarnation || !this_life) {
        trace_event("append reply from peer %d names another life of this leader -> ignored", from);
        return;
    }

    r->last_ack_us[from] = now_us;
    if (round > 0 && (uint64_t)round > r->acked_round[from] && (uint64_t)round <= r->round)
        r->acked_round[from] = (uint64_t)round;
    if (r->cb.ack_received)
        r->cb.ack_received(r->cb.ctx, from, raft_piggyback_of(body, from), now_us);
    if (success) {
        if (match_index > r->last_index) match_index = r->last_index;
        if (match_index > r->match_index[from]) r->match_index[from] = match_index;
        if (r->next_index[from] < r->match_index[from] + 1)
            r->next_index[from] = r->match_index[from] + 1;
        /* A follower catching up gets its next batch now, not at the next heartbeat. */
        if (r->next_index[from] <= r->last_index) raft_send_append(r, from);
        raft_advance_commit(r);
    } else if (raft_rejects_current(r, from, body)) {
        /* Rewind to the follower's hint, but never below what it is known to have. The hint may
         * well lie below match_index: a follower skips back over a whole conflicting term, and its
         * stale suffix can share a term with the prefix it matched. */
        int64_t rewind_to =
            conflict_index < r->next_index[from] ? conflict_index : r->next_index[from];
        if (rewind_to < r->match_index[from] + 1) rewind_to = r->match_index[from] + 1;
        if (rewind_to < r->next_index[from]) {
            r->next_index[from] = rewind_to;
            raft_send_append(r, from);
        }
    }
    if (r->role == RAFT_LEADER) raft_confirm_rounds(r);
}
