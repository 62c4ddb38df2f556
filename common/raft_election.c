/* Elections (§3.4): PreVote first (§9.6), so a node cut off from the cluster does not
 * inflate its term; then RequestVote. Leader stickiness (§4.2.3) refuses both while a live
 * leader is known: the promise stage 03's leases are built on. */
#include "raft_parts.h"

#include "trace.h"

#include <string.h>

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
    for (int i = 0; i < r->n; i++)
        granted += r->votes[i];
    return granted;
}

void raft_become_leader(struct raft *r, int64_t now_us)
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

void raft_become_precandidate(struct raft *r, int64_t now_us)
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

static bool raft_sticky(const struct raft *r, int64_t now_us)
{
    return now_us - r->leader_contact_us < r->config.election_timeout_us;
}

void raft_on_vote(struct raft *r, int from, const cJSON *body, int64_t now_us)
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

void raft_on_vote_res(struct raft *r, int from, const cJSON *body, int64_t now_us)
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
