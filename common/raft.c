/* The Raft core: its state and lifecycle, persistence and restart, receiving, the clock
 * and the accessors. raft_parts.h maps the three files; raft.h is the interface. */
#include "raft_parts.h"

#include "proto.h"
#include "trace.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    r->election_due_us =
        now_us + r->draw(config->election_timeout_us, config->election_timeout_us * 3 / 2);
    return r;
}

void raft_free(struct raft *r)
{
    if (!r) return;
    for (int64_t i = r->snapshot_index + 1; i <= r->last_index; i++)
        cJSON_Delete(raft_log_entry(r, i)->command);
    cJSON_Delete(r->snapshot);
    free(r->log);
    free(r->votes);
    free(r->next_index);
    free(r->match_index);
    free(r->last_ack_us);
    free(r->acked_round);
    free(r);
}

void raft_persist_term_vote(struct raft *r)
{
    if (r->cb.persist_term_vote) r->cb.persist_term_vote(r->cb.ctx, r->term, r->voted_for);
}

/* Room in the log for `more` entries after last_index. */
static void raft_reserve(struct raft *r, int64_t more)
{
    int64_t need = r->last_index - r->snapshot_index + 1 + more;
    if (need <= r->log_cap) return;
    while (need > r->log_cap)
        r->log_cap *= 2;
    struct raft_entry *grown = realloc(r->log, (size_t)r->log_cap * sizeof *r->log);
    if (!grown) {
        perror("raft: out of memory growing the log");
        abort();
    }
    r->log = grown;
}

bool raft_restore(struct raft *r, struct raft_persisted *saved, int64_t now_us)
{
    r->term = saved->term;
    r->voted_for = saved->voted_for >= 0 && saved->voted_for < r->n ? saved->voted_for : -1;
    if (saved->snapshot) {
        /* The state machine first: the entries after the snapshot apply on top of it. */
        if (!r->cb.load_snapshot(r->cb.ctx, saved->snapshot_index, saved->snapshot_term,
                                 saved->snapshot))
            return false;
        r->snapshot = saved->snapshot;
        saved->snapshot = NULL;
        r->snapshot_index = r->last_index = saved->snapshot_index;
        r->snapshot_term = r->log[0].term = saved->snapshot_term;
        /* A snapshot holds only committed entries (§5.1). */
        r->commit_index = r->applied_index = saved->snapshot_index;
    }
    raft_reserve(r, saved->count);
    for (int64_t i = 0; i < saved->count; i++) {
        r->last_index++;
        *raft_log_entry(r, r->last_index) = saved->entries[i];
    }
    r->durable_index = r->last_index; /* read back from the disk */
    if (saved->term > 0 || saved->count > 0 || r->snapshot_index > 0) {
        /* Stickiness (raft_sticky) does the refusing: as if a leader had just spoken. */
        r->leader_contact_us = now_us;
        trace_event("restored term %lld, vote %d, %lld entries after the snapshot through %lld "
                    "-> no votes for %lld ms",
                    (long long)saved->term, r->voted_for, (long long)saved->count,
                    (long long)r->snapshot_index,
                    (long long)(r->config.election_timeout_us / 1000));
    }
    return true;
}

int raft_majority(const struct raft *r)
{
    return r->n / 2 + 1;
}

/* What a majority has reached: the majority-th highest of one value per node (an acked
 * round, a match index, an ack time). Sorts `values` (r->n of them) in place. */
int64_t raft_quorum_value(const struct raft *r, int64_t *values)
{
    for (int i = 1; i < r->n; i++)
        for (int j = i; j > 0 && values[j] > values[j - 1]; j--) {
            int64_t t = values[j];
            values[j] = values[j - 1];
            values[j - 1] = t;
        }
    return values[raft_majority(r) - 1];
}

struct raft_entry *raft_log_entry(const struct raft *r, int64_t index)
{
    assert(index >= r->snapshot_index && index <= r->last_index);
    return &r->log[index - r->snapshot_index];
}

int64_t raft_term_at(const struct raft *r, int64_t index)
{
    if (index < r->snapshot_index) return -1;
    return index <= r->last_index ? raft_log_entry(r, index)->term : 0;
}

int64_t raft_random_election_timeout(struct raft *r)
{
    return r->draw(r->config.election_timeout_us, r->config.election_timeout_us * 3 / 2);
}

void raft_append_local(struct raft *r, int64_t term, cJSON *command)
{
    raft_reserve(r, 1);
    r->last_index++;
    struct raft_entry *entry = raft_log_entry(r, r->last_index);
    *entry = (struct raft_entry){.term = term, .command = command};
    if (r->cb.persist_append) r->cb.persist_append(r->cb.ctx, r->last_index, entry);
}

/* Drops entries after `index`. Only uncommitted entries are ever dropped (§3.5). */
void raft_truncate_after(struct raft *r, int64_t index)
{
    assert(index >= r->commit_index);
    for (int64_t i = index + 1; i <= r->last_index; i++)
        cJSON_Delete(raft_log_entry(r, i)->command);
    r->last_index = index;
    /* What replaces the dropped entries is not on disk until the next fsync says so. */
    if (r->durable_index > index) r->durable_index = index;
    if (r->cb.persist_truncate) r->cb.persist_truncate(r->cb.ctx, index);
}

void raft_apply_committed(struct raft *r)
{
    while (r->applied_index < r->commit_index) {
        r->applied_index++;
        r->cb.apply(r->cb.ctx, r->applied_index, raft_log_entry(r, r->applied_index));
    }
}

void raft_notify(struct raft *r)
{
    if (r->cb.leadership_changed) r->cb.leadership_changed(r->cb.ctx);
}

void raft_become_follower(struct raft *r, int64_t term, int leader, int64_t now_us)
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

cJSON *raft_message(const char *type, int64_t term)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", type);
    cJSON_AddNumberToObject(body, "term", (double)term);
    return body;
}

/* Peer messages are checked like client ones: a number out of range would make the
 * conversion to int64_t undefined behaviour, so it makes the message malformed. The
 * limit is PROTO_MAX_PEER_INT (2^52), so term + 1 is still exact and an election can
 * follow. */
int64_t raft_int(const cJSON *body, const char *field, bool *ok)
{
    int64_t value;
    if (!proto_int_in(cJSON_GetObjectItemCaseSensitive(body, field), -PROTO_MAX_PEER_INT,
                      PROTO_MAX_PEER_INT, &value)) {
        *ok = false;
        return 0;
    }
    return value;
}

/* ---- receiving ---- */

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
    } else if (strcmp(type, "raft_snapshot") == 0) {
        raft_on_snapshot(r, from, body, now_us);
    } else {
        trace_warn("unknown raft message %s from peer %d; ignored", type, from);
    }
}

/* ---- the clock: CheckQuorum (§6.2) and the election timer ---- */

/* The latest moment by which a majority (this leader included) had acked it. */
static int64_t raft_quorum_contact_us(const struct raft *r, int64_t now_us)
{
    int64_t acks[r->n];
    for (int i = 0; i < r->n; i++)
        acks[i] = i == r->self ? now_us : r->last_ack_us[i];
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

/* ---- accessors ---- */

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
    return index > r->snapshot_index && index <= r->last_index ? raft_log_entry(r, index) : NULL;
}

int64_t raft_snapshot_index(const struct raft *r)
{
    return r->snapshot_index;
}

int64_t raft_snapshot_term(const struct raft *r)
{
    return r->snapshot_term;
}

const cJSON *raft_snapshot(const struct raft *r)
{
    return r->snapshot;
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
