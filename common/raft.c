#include "raft.h"

#include "proto.h"
#include "trace.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An ack for a round older than this still confirms leadership; only its send time is
 * forgotten (read paths then wait for a newer round). */
#define RAFT_ROUND_MEMORY 1024

struct raft {
    int self, n;
    struct raft_config config;
    struct raft_callbacks cb;
    raft_draw_fn draw;

    /* Persistent state (§3.8): every change is reported through the persist_* callbacks. */
    int64_t term;
    int voted_for; /* -1: none this term */
    struct raft_entry *log; /* log[0] is a sentinel of term 0; entries are 1..last_index */
    int64_t last_index, log_cap;

    int64_t commit_index, applied_index;
    enum raft_role role;
    int leader;
    int64_t election_due_us;
    /* Follower: when it last got an append from the leader of its term. Leader: the
     * latest time by which a majority had acknowledged it. Stickiness (§4.2.3) and
     * CheckQuorum (§6.2) both read this one number. */
    int64_t leader_contact_us;
    /* Follower: the incarnation the leader's latest append carried (0: none seen). */
    int64_t leader_incarnation;
    bool *votes;

    /* Leader state. */
    int64_t *next_index, *match_index, *last_ack_us;
    uint64_t *acked_round;
    int64_t noop_index;
    int64_t heartbeat_due_us;
    bool entries_pending;
    bool round_wanted;
    uint64_t round, confirmed_round;
    /* Send time and commit index of the last RAFT_ROUND_MEMORY rounds, by round id. */
    struct {
        uint64_t round;
        int64_t sent_us, commit_index;
    } rounds[RAFT_ROUND_MEMORY];
};

static const char *raft_role_names[] = {"follower", "pre-candidate", "candidate", "leader"};

static void *raft_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size);
    if (!p) {
        perror("raft: out of memory");
        abort();
    }
    return p;
}

struct raft *raft_new(int self, int cluster_size, const struct raft_config *config,
                      const struct raft_callbacks *callbacks, raft_draw_fn draw, int64_t now_us)
{
    struct raft *r = raft_calloc(1, sizeof *r);
    r->self = self;
    r->n = cluster_size;
    r->config = *config;
    r->cb = *callbacks;
    r->draw = draw;
    r->voted_for = -1;
    r->log_cap = 1024;
    r->log = raft_calloc((size_t)r->log_cap, sizeof *r->log);
    r->role = RAFT_FOLLOWER;
    r->leader = -1;
    r->leader_contact_us = INT64_MIN / 2;
    r->votes = raft_calloc((size_t)r->n, sizeof *r->votes);
    r->next_index = raft_calloc((size_t)r->n, sizeof *r->next_index);
    r->match_index = raft_calloc((size_t)r->n, sizeof *r->match_index);
    r->last_ack_us = raft_calloc((size_t)r->n, sizeof *r->last_ack_us);
    r->acked_round = raft_calloc((size_t)r->n, sizeof *r->acked_round);
    r->election_due_us = now_us + r->draw(config->election_timeout_us,
                                          config->election_timeout_us * 3 / 2);
    return r;
}

void raft_free(struct raft *r)
{
    if (!r) return;
    for (int64_t i = 1; i <= r->last_index; i++) cJSON_Delete(r->log[i].command);
    free(r->log);
    free(r->votes);
    free(r->next_index);
    free(r->match_index);
    free(r->last_ack_us);
    free(r->acked_round);
    free(r);
}

static void raft_persist_term_vote(struct raft *r)
{
    if (r->cb.persist_term_vote) r->cb.persist_term_vote(r->cb.ctx, r->term, r->voted_for);
}

void raft_restore(struct raft *r, int64_t term, int voted_for, struct raft_entry *entries,
                  int64_t count, int64_t now_us)
{
    r->term = term;
    r->voted_for = voted_for >= 0 && voted_for < r->n ? voted_for : -1;
    for (int64_t i = 0; i < count; i++) {
        if (r->last_index + 1 >= r->log_cap) {
            while (r->last_index + 1 + (count - i) >= r->log_cap) r->log_cap *= 2;
            struct raft_entry *grown = realloc(r->log, (size_t)r->log_cap * sizeof *r->log);
            if (!grown) {
                perror("raft: out of memory restoring the log");
                abort();
            }
            r->log = grown;
        }
        r->log[++r->last_index] = entries[i];
    }
    if (term > 0 || count > 0) {
        /* Stickiness (raft_sticky) does the refusing: as if a leader had just spoken. */
        r->leader_contact_us = now_us;
        trace_event("restored term %lld, vote %d, %lld entries -> no votes for %lld ms",
                    (long long)term, r->voted_for, (long long)count,
                    (long long)(r->config.election_timeout_us / 1000));
    }
}

static int raft_majority(const struct raft *r)
{
    return r->n / 2 + 1;
}

/* What a majority has reached: the majority-th highest of one value per node (an acked
 * round, a match index, an ack time). Sorts `values` (r->n of them) in place. */
static int64_t raft_quorum_value(const struct raft *r, int64_t *values)
{
    for (int i = 1; i < r->n; i++)
        for (int j = i; j > 0 && values[j] > values[j - 1]; j--) {
            int64_t t = values[j];
            values[j] = values[j - 1];
            values[j - 1] = t;
        }
    return values[raft_majority(r) - 1];
}

static int64_t raft_term_at(const struct raft *r, int64_t index)
{
    return index >= 1 && index <= r->last_index ? r->log[index].term : 0;
}

static int64_t raft_random_election_timeout(struct raft *r)
{
    return r->draw(r->config.election_timeout_us, r->config.election_timeout_us * 3 / 2);
}

static void raft_append_local(struct raft *r, int64_t term, cJSON *command)
{
    if (r->last_index + 1 >= r->log_cap) {
        r->log_cap *= 2;
        struct raft_entry *grown = realloc(r->log, (size_t)r->log_cap * sizeof *r->log);
        if (!grown) {
            perror("raft: out of memory growing the log");
            abort();
        }
        r->log = grown;
    }
    r->last_index++;
    r->log[r->last_index] = (struct raft_entry){.term = term, .command = command};
    if (r->cb.persist_append) r->cb.persist_append(r->cb.ctx, r->last_index, &r->log[r->last_index]);
}

/* Drops entries after `index`. Only uncommitted entries are ever dropped (§3.5). */
static void raft_truncate_after(struct raft *r, int64_t index)
{
    assert(index >= r->commit_index);
    for (int64_t i = index + 1; i <= r->last_index; i++) cJSON_Delete(r->log[i].command);
    r->last_index = index;
    if (r->cb.persist_truncate) r->cb.persist_truncate(r->cb.ctx, index);
}

static void raft_apply_committed(struct raft *r)
{
    while (r->applied_index < r->commit_index) {
        r->applied_index++;
        r->cb.apply(r->cb.ctx, r->applied_index, &r->log[r->applied_index]);
    }
}

static void raft_notify(struct raft *r)
{
    if (r->cb.leadership_changed) r->cb.leadership_changed(r->cb.ctx);
}

static void raft_become_follower(struct raft *r, int64_t term, int leader, int64_t now_us)
{
    bool changed = term != r->term || r->role != RAFT_FOLLOWER || leader != r->leader;
    if (term > r->term) {
        r->term = term;
        r->voted_for = -1;
        raft_persist_term_vote(r);
    }
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->election_due_us = now_us + raft_random_election_timeout(r);
    if (changed) raft_notify(r);
}

static cJSON *raft_message(const char *type, int64_t term)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", type);
    cJSON_AddNumberToObject(body, "term", (double)term);
    return body;
}

/* The driver's "piggyback" object (see raft.h): attached to an append or an ack only
 * when the driver put something in it. */
static void raft_attach_piggyback(cJSON *body, cJSON *piggyback)
{
    if (piggyback->child)
        cJSON_AddItemToObject(body, "piggyback", piggyback);
    else
        cJSON_Delete(piggyback);
}

static const cJSON *raft_piggyback_of(const cJSON *body)
{
    const cJSON *piggyback = cJSON_GetObjectItemCaseSensitive(body, "piggyback");
    return cJSON_IsObject(piggyback) ? piggyback : NULL;
}

static void raft_send_votes(struct raft *r, bool pre_vote)
{
    for (int peer = 0; peer < r->n; peer++) {
        if (peer == r->self) continue;
        cJSON *body = raft_message("raft_vote", pre_vote ? r->term + 1 : r->term);
        cJSON_AddBoolToObject(body, "pre_vote", pre_vote);
        cJSON_AddNumberToObject(body, "last_log_index", (double)r->last_index);
        cJSON_AddNumberToObject(body, "last_log_term", (double)raft_term_at(r, r->last_index));
        r->cb.send(r->cb.ctx, peer, body);
    }
}

static int raft_count_votes(const struct raft *r)
{
    int granted = 0;
    for (int i = 0; i < r->n; i++) granted += r->votes[i];
    return granted;
}

static void raft_broadcast(struct raft *r, int64_t now_us);
static void raft_advance_commit(struct raft *r);

static void raft_become_leader(struct raft *r, int64_t now_us)
{
    r->role = RAFT_LEADER;
    r->leader = r->self;
    r->leader_contact_us = now_us; /* the votes just in are a majority's word */
    for (int peer = 0; peer < r->n; peer++) {
        r->next_index[peer] = r->last_index + 1;
        r->match_index[peer] = 0;
        r->last_ack_us[peer] = now_us;
        r->acked_round[peer] = 0;
    }
    /* §6.4: the no-op commits everything earlier leaders committed, so from the moment
     * it is applied this leader's state machine is current. */
    cJSON *noop = cJSON_CreateObject();
    cJSON_AddStringToObject(noop, "type", "noop");
    raft_append_local(r, r->term, noop);
    r->noop_index = r->last_index;
    r->match_index[r->self] = r->last_index;
    r->confirmed_round = r->round;
    raft_advance_commit(r); /* a single-member cluster commits it right here */
    trace_event("won election with %d of %d votes -> leader of term %lld, no-op at %lld",
                raft_count_votes(r), r->n, (long long)r->term, (long long)r->noop_index);
    raft_notify(r);
    raft_broadcast(r, now_us);
}

static void raft_become_candidate(struct raft *r, int64_t now_us)
{
    r->term++;
    r->role = RAFT_CANDIDATE;
    r->voted_for = r->self;
    raft_persist_term_vote(r);
    r->leader = -1;
    memset(r->votes, 0, (size_t)r->n * sizeof *r->votes);
    r->votes[r->self] = true;
    r->election_due_us = now_us + raft_random_election_timeout(r);
    trace_event("pre-vote won -> candidate for term %lld", (long long)r->term);
    raft_notify(r);
    if (raft_count_votes(r) >= raft_majority(r)) {
        raft_become_leader(r, now_us);
        return;
    }
    raft_send_votes(r, false);
}

static void raft_become_precandidate(struct raft *r, int64_t now_us)
{
    bool had_leader = r->leader >= 0;
    r->role = RAFT_PRECANDIDATE;
    r->leader = -1;
    memset(r->votes, 0, (size_t)r->n * sizeof *r->votes);
    r->votes[r->self] = true;
    r->election_due_us = now_us + raft_random_election_timeout(r);
    trace_event("no leader heard for an election timeout -> pre-vote for term %lld",
                (long long)r->term + 1);
    if (had_leader) raft_notify(r);
    if (raft_count_votes(r) >= raft_majority(r)) {
        raft_become_candidate(r, now_us);
        return;
    }
    raft_send_votes(r, true);
}

/* ---- leader: replication and rounds ---- */

static void raft_send_append(struct raft *r, int peer)
{
    if (r->next_index[peer] <= r->match_index[peer]) r->next_index[peer] = r->match_index[peer] + 1;
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
        cJSON_AddNumberToObject(entry, "term", (double)r->log[i].term);
        /* A reference: the log keeps ownership, nothing is copied per send. */
        cJSON_AddItemReferenceToObject(entry, "command", r->log[i].command);
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

static void raft_broadcast(struct raft *r, int64_t now_us)
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

static void raft_advance_commit(struct raft *r)
{
    int64_t matches[r->n];
    for (int i = 0; i < r->n; i++) matches[i] = i == r->self ? r->last_index : r->match_index[i];
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

/* ---- receiving ---- */

/* Peer messages are checked like client ones: a number out of range would make the
 * conversion to int64_t undefined behaviour, so it makes the message malformed. The
 * limit is PROTO_MAX_PEER_INT (2^52), so term + 1 is still exact and an election can
 * follow. */
static int64_t raft_int(const cJSON *body, const char *field, bool *ok)
{
    int64_t value;
    if (!proto_int_in(cJSON_GetObjectItemCaseSensitive(body, field), -PROTO_MAX_PEER_INT,
                      PROTO_MAX_PEER_INT, &value)) {
        *ok = false;
        return 0;
    }
    return value;
}

static bool raft_sticky(const struct raft *r, int64_t now_us)
{
    return now_us - r->leader_contact_us < r->config.election_timeout_us;
}

static void raft_on_vote(struct raft *r, int from, const cJSON *body, int64_t now_us)
{
    bool ok = true;
    int64_t term = raft_int(body, "term", &ok);
    int64_t last_log_index = raft_int(body, "last_log_index", &ok);
    int64_t last_log_term = raft_int(body, "last_log_term", &ok);
    bool pre_vote = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "pre_vote"));
    if (!ok) {
        trace_warn("raft_vote from peer %d lacks a numeric field; ignored", from);
        return;
    }
    bool granted = false;
    if (raft_sticky(r, now_us)) {
        /* §4.2.3: a live leader exists; do not even update the term. */
        trace_event("%s for term %lld from peer %d within the stickiness window -> refused",
                    pre_vote ? "pre-vote" : "vote", (long long)term, from);
    } else {
        if (!pre_vote && term > r->term) raft_become_follower(r, term, -1, now_us);
        int64_t my_last_term = raft_term_at(r, r->last_index);
        bool log_ok = last_log_term > my_last_term ||
                      (last_log_term == my_last_term && last_log_index >= r->last_index);
        if (pre_vote) {
            granted = term > r->term && log_ok;
        } else {
            granted = term == r->term && log_ok && (r->voted_for < 0 || r->voted_for == from);
            if (granted) {
                r->voted_for = from;
                raft_persist_term_vote(r);
                r->election_due_us = now_us + raft_random_election_timeout(r);
            }
        }
        trace_event("%s for term %lld from peer %d (log %s) -> %s", pre_vote ? "pre-vote" : "vote",
                    (long long)term, from, log_ok ? "up to date" : "behind",
                    granted ? "granted" : "refused");
    }
    cJSON *res = raft_message("raft_vote_res", r->term);
    cJSON_AddNumberToObject(res, "for_term", (double)term);
    cJSON_AddBoolToObject(res, "pre_vote", pre_vote);
    cJSON_AddBoolToObject(res, "granted", granted);
    r->cb.send(r->cb.ctx, from, res);
}

static void raft_on_vote_res(struct raft *r, int from, const cJSON *body, int64_t now_us)
{
    bool ok = true;
    int64_t term = raft_int(body, "term", &ok);
    int64_t for_term = raft_int(body, "for_term", &ok);
    if (!ok) return;
    bool pre_vote = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "pre_vote"));
    bool granted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "granted"));
    if (term > r->term) {
        trace_event("vote reply from peer %d carries term %lld -> follower", from, (long long)term);
        raft_become_follower(r, term, -1, now_us);
        return;
    }
    if (!granted) return;
    /* A grant counts only for the campaign it answered. */
    if (pre_vote && r->role == RAFT_PRECANDIDATE && for_term == r->term + 1) {
        r->votes[from] = true;
        if (raft_count_votes(r) >= raft_majority(r)) raft_become_candidate(r, now_us);
    } else if (!pre_vote && r->role == RAFT_CANDIDATE && for_term == r->term) {
        r->votes[from] = true;
        if (raft_count_votes(r) >= raft_majority(r)) raft_become_leader(r, now_us);
    }
}

/* A reply echoes the prev_log_index of the append it answers, so the leader can tell a
 * current reject from one that predates a success (see raft_on_append_res), and its
 * round and incarnation, which name the round it acknowledges. */
static void raft_reply_append(struct raft *r, int to, bool success, int64_t match_index,
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

static void raft_on_append(struct raft *r, int from, const cJSON *body, int64_t now_us)
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
    if (term < r->term) {
        /* A deposed leader: the reply's term tells it so. */
        raft_reply_append(r, from, false, 0, 0, prev, round, incarnation, now_us);
        return;
    }
    if (r->role == RAFT_LEADER && term == r->term) {
        trace_warn("two leaders in term %lld (peer %d and me): a safety bug", (long long)term, from);
        return;
    }
    /* Before the change of leader is announced: whoever reacts to it (a request waiting
     * for a leader) names this life of the new one. */
    if (!proto_int_in(incarnation, 0, PROTO_MAX_EXACT_INT, &r->leader_incarnation))
        r->leader_incarnation = 0;
    if (term > r->term || r->role != RAFT_FOLLOWER || r->leader != from) {
        trace_event("append from peer %d in term %lld -> follower of it", from, (long long)term);
        raft_become_follower(r, term, from, now_us);
    }
    r->leader_contact_us = now_us;
    r->election_due_us = now_us + raft_random_election_timeout(r);
    if (r->cb.leader_contact) r->cb.leader_contact(r->cb.ctx, from, raft_piggyback_of(body), now_us);

    if (prev > r->last_index) {
        raft_reply_append(r, from, false, 0, r->last_index + 1, prev, round, incarnation, now_us);
        return;
    }
    if (raft_term_at(r, prev) != prev_term) {
        /* Skip back over the whole conflicting term in one step. */
        int64_t conflict = prev;
        int64_t bad_term = raft_term_at(r, prev);
        while (conflict - 1 > r->commit_index && raft_term_at(r, conflict - 1) == bad_term) conflict--;
        raft_reply_append(r, from, false, 0, conflict, prev, round, incarnation, now_us);
        return;
    }
    int64_t index = prev;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, entries)
    {
        bool entry_ok = true;
        int64_t entry_term = raft_int(entry, "term", &entry_ok);
        const cJSON *command = cJSON_GetObjectItemCaseSensitive(entry, "command");
        if (!entry_ok || !cJSON_IsObject(command)) {
            trace_warn("raft_append from peer %d has a malformed entry; rest ignored", from);
            break;
        }
        index++;
        if (index <= r->last_index) {
            if (r->log[index].term == entry_term) continue;
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

static void raft_on_append_res(struct raft *r, int from, const cJSON *body, int64_t now_us)
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
    if (r->cb.ack_received) r->cb.ack_received(r->cb.ctx, from, raft_piggyback_of(body), now_us);
    if (success) {
        if (match_index > r->last_index) match_index = r->last_index;
        if (match_index > r->match_index[from]) r->match_index[from] = match_index;
        if (r->next_index[from] < r->match_index[from] + 1)
            r->next_index[from] = r->match_index[from] + 1;
        /* A follower catching up gets its next batch now, not at the next heartbeat. */
        if (r->next_index[from] <= r->last_index) raft_send_append(r, from);
        raft_advance_commit(r);
    } else if (raft_rejects_current(r, from, body)) {
        /* Rewind to the follower's hint, but never below what it is known to have. The hint may well lie below match_index: a follower skips back
         * over a whole conflicting term, and its stale suffix can share a term with the
         * prefix it matched. */
        int64_t rewind_to = conflict_index < r->next_index[from] ? conflict_index : r->next_index[from];
        if (rewind_to < r->match_index[from] + 1) rewind_to = r->match_index[from] + 1;
        if (rewind_to < r->next_index[from]) {
            r->next_index[from] = rewind_to;
            raft_send_append(r, from);
        }
    }
    if (r->role == RAFT_LEADER) raft_confirm_rounds(r);
}

bool raft_handles(const char *type)
{
    return strncmp(type, "raft_", 5) == 0;
}

void raft_receive(struct raft *r, int from, const cJSON *body, int64_t now_us)
{
    const char *type = cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring;
    if (from < 0 || from >= r->n || from == r->self) return;
    if (strcmp(type, "raft_vote") == 0) {
        raft_on_vote(r, from, body, now_us);
    } else if (strcmp(type, "raft_vote_res") == 0) {
        raft_on_vote_res(r, from, body, now_us);
    } else if (strcmp(type, "raft_append") == 0) {
        raft_on_append(r, from, body, now_us);
    } else if (strcmp(type, "raft_append_res") == 0) {
        raft_on_append_res(r, from, body, now_us);
    } else {
        trace_warn("unknown raft message %s from peer %d; ignored", type, from);
    }
}

/* The latest moment by which a majority (this leader included) had acked it. */
static int64_t raft_quorum_contact_us(const struct raft *r, int64_t now_us)
{
    int64_t acks[r->n];
    for (int i = 0; i < r->n; i++) acks[i] = i == r->self ? now_us : r->last_ack_us[i];
    return raft_quorum_value(r, acks);
}

int64_t raft_tick(struct raft *r, int64_t now_us)
{
    if (r->role == RAFT_LEADER) {
        if (r->n > 1 && !r->config.without_check_quorum) {
            int64_t contact_us = raft_quorum_contact_us(r, now_us);
            if (contact_us > r->leader_contact_us) r->leader_contact_us = contact_us;
            if (now_us - contact_us >= r->config.election_timeout_us) {
                trace_event("no majority heard for %lld ms -> step down (CheckQuorum)",
                            (long long)((now_us - contact_us) / 1000));
                r->leader_contact_us = contact_us;
                raft_become_follower(r, r->term, -1, now_us);
                return r->election_due_us - now_us;
            }
        }
        if (now_us >= r->heartbeat_due_us) raft_broadcast(r, now_us);
        int64_t next_us = r->heartbeat_due_us;
        if (r->n > 1) {
            int64_t check_us = r->leader_contact_us + r->config.election_timeout_us;
            if (check_us < next_us) next_us = check_us;
        }
        return next_us > now_us ? next_us - now_us : 1;
    }
    if (r->n == 1) {
        /* Alone: leader at once, no vote to ask anyone for. */
        raft_become_precandidate(r, now_us);
        return r->config.heartbeat_us;
    }
    if (now_us >= r->election_due_us) raft_become_precandidate(r, now_us);
    return r->election_due_us - now_us;
}

enum raft_role raft_role(const struct raft *r)
{
    return r->role;
}
bool raft_is_leader(const struct raft *r)
{
    return r->role == RAFT_LEADER;
}
int64_t raft_term(const struct raft *r)
{
    return r->term;
}
int raft_leader(const struct raft *r)
{
    return r->leader;
}
int64_t raft_leader_incarnation(const struct raft *r)
{
    return r->leader == r->self ? r->config.incarnation : r->leader_incarnation;
}
int raft_self(const struct raft *r)
{
    return r->self;
}
int raft_cluster_size(const struct raft *r)
{
    return r->n;
}
int64_t raft_last_index(const struct raft *r)
{
    return r->last_index;
}
int64_t raft_commit_index(const struct raft *r)
{
    return r->commit_index;
}
int64_t raft_applied_index(const struct raft *r)
{
    return r->applied_index;
}
const struct raft_entry *raft_entry_at(const struct raft *r, int64_t index)
{
    return index >= 1 && index <= r->last_index ? &r->log[index] : NULL;
}
int64_t raft_noop_index(const struct raft *r)
{
    return r->role == RAFT_LEADER ? r->noop_index : -1;
}
uint64_t raft_round(const struct raft *r)
{
    return r->round;
}
uint64_t raft_confirmed_round(const struct raft *r)
{
    return r->confirmed_round;
}
int64_t raft_match_index(const struct raft *r, int peer)
{
    if (peer == r->self) return r->last_index;
    return peer >= 0 && peer < r->n ? r->match_index[peer] : 0;
}
uint64_t raft_acked_round(const struct raft *r, int peer)
{
    if (peer == r->self) return r->round;
    return peer >= 0 && peer < r->n ? r->acked_round[peer] : 0;
}
int64_t raft_election_timeout_us(const struct raft *r)
{
    return r->config.election_timeout_us;
}
void raft_set_election_timeout_us(struct raft *r, int64_t election_timeout_us)
{
    bool grown = election_timeout_us > r->config.election_timeout_us;
    r->config.election_timeout_us = election_timeout_us;
    /* A window that grows binds this node's own campaign too, not only the votes it
     * refuses: a leader's lease (stage 03) counts on nobody being elected within the
     * window of their last contact with it, and a timer drawn from the old, shorter
     * window would start an election inside the new one (as a restarted node adopting
     * a longer configured window did). */
    if (grown && r->role != RAFT_LEADER) {
        int64_t due_us = r->leader_contact_us + raft_random_election_timeout(r);
        if (due_us > r->election_due_us) r->election_due_us = due_us;
    }
}

const char *raft_role_name(enum raft_role role)
{
    return raft_role_names[role];
}
