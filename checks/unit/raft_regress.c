/* Regressions from a review of common/raft.c. Each test drives one node with hand-made
 * messages and would fail on the behaviour the review found:
 *   - a follower lowered its commit index on a stale append;
 *   - a round confirmed after its memory slot was reused reported the newer round's
 *     send time;
 *   - a term beyond 2^52 was adopted (term + 1 no longer exact, or UB past int64);
 *   - a stale reject rewound next_index and re-sent entries the follower already had. */
#include "tap.h"
#include "unit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

static const char *role_name_of(const struct raft *r)
{
    return raft_role_name(raft_role(r));
}

/* An append from `leader_term`'s leader carrying entries prev+1 .. prev+count, each of
 * term entry_term and command id = its index. */
static cJSON *append_message(int64_t leader_term, int64_t prev, int64_t prev_term, int64_t count,
                             int64_t entry_term, int64_t leader_commit)
{
    cJSON *body = unit_message("raft_append", leader_term);
    cJSON_AddNumberToObject(body, "prev_log_index", (double)prev);
    cJSON_AddNumberToObject(body, "prev_log_term", (double)prev_term);
    cJSON_AddNumberToObject(body, "leader_commit", (double)leader_commit);
    cJSON_AddNumberToObject(body, "round", 1);
    cJSON *entries = cJSON_AddArrayToObject(body, "entries");
    for (int64_t i = prev + 1; i <= prev + count; i++) {
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddNumberToObject(entry, "term", (double)entry_term);
        cJSON *command = cJSON_AddObjectToObject(entry, "command");
        cJSON_AddStringToObject(command, "type", "put");
        cJSON_AddNumberToObject(command, "id", (double)i);
        cJSON_AddItemToArray(entries, entry);
    }
    return body;
}

static void inject_and_free(struct sim *s, int from, int to, cJSON *body)
{
    sim_inject(s, from, to, body);
    cJSON_Delete(body);
}

static void test_commit_never_decreases(void)
{
    struct raft_config config = unit_config();
    struct sim *s = sim_new(3, &config, 1);
    struct raft *follower = s->nodes[1].raft;
    inject_and_free(s, 0, 1, append_message(1, 0, 0, 100, 1, 50));
    int64_t first_commit = raft_commit_index(follower);
    /* Delayed from earlier in the same term: it proves only the log up to 20. */
    inject_and_free(s, 0, 1, append_message(1, 10, 1, 10, 1, 100));
    int64_t after_stale = raft_commit_index(follower);
    tap_diag("entries 1..100 with leader_commit 50 -> commit %" PRId64 "; then a stale append "
             "(prev 10, 10 entries, leader_commit 100) -> commit %" PRId64 ", applied %" PRId64
             ", last %" PRId64,
             first_commit, after_stale, raft_applied_index(follower), raft_last_index(follower));
    tap_ok(first_commit == 50 && after_stale == 50 && raft_applied_index(follower) == 50 &&
               raft_last_index(follower) == 100 && !s->failed,
           "regression: a stale append never lowers a follower's commit index");
    inject_and_free(s, 0, 1, append_message(1, 100, 1, 0, 1, 100));
    tap_ok(raft_commit_index(follower) == 100 && raft_applied_index(follower) == 100,
           "regression: a later append proving the whole log commits it all (commit %" PRId64 ")",
           raft_commit_index(follower));
    sim_free(s);
}

/* Acks and rejects by hand are addressed to the leader's current life (its incarnation,
 * which the simulator numbers by starts), as a follower's echo would be. */
static cJSON *ack_message(int64_t term, uint64_t round, int64_t incarnation)
{
    cJSON *ack = unit_message("raft_append_res", term);
    cJSON_AddBoolToObject(ack, "success", true);
    cJSON_AddNumberToObject(ack, "match_index", 0);
    cJSON_AddNumberToObject(ack, "conflict_index", 0);
    cJSON_AddNumberToObject(ack, "round", (double)round);
    cJSON_AddNumberToObject(ack, "incarnation", (double)incarnation);
    return ack;
}

static void test_forgotten_round(void)
{
    int leader;
    struct sim *s = unit_cluster(3, 41, &leader);
    if (!tap_ok(s != NULL, "regression setup: a 3-node cluster elects a leader")) return;
    struct raft *r = s->nodes[leader].raft;
    int follower = (leader + 1) % 3;
    int64_t term = raft_term(r);
    /* Nothing reaches the followers; every round stays in flight until acked by hand.
     * No virtual time passes, so CheckQuorum never fires. */
    sim_isolate(s, leader, true);

    /* Control: a round 10 rounds back is still remembered, with its time and commit. */
    s->now_us += 1 * MS;
    sim_propose(s, leader);
    uint64_t recent = raft_round(r);
    int64_t recent_us = s->now_us;
    for (int i = 0; i < 10; i++)
        sim_propose(s, leader);
    size_t mark = s->rounds_len;
    inject_and_free(s, follower, leader, ack_message(term, recent, s->nodes[leader].lives));
    const struct sim_round *rep = s->rounds_len > mark ? &s->rounds[s->rounds_len - 1] : NULL;
    tap_ok(rep && rep->round == recent && rep->sent_us == recent_us && rep->commit_index >= 0,
           "regression control: a round 10 rounds old is confirmed with its own send time");

    s->now_us += 1 * MS;
    sim_propose(s, leader);
    uint64_t old = raft_round(r);
    /* More than RAFT_ROUND_MEMORY (1024) newer rounds reuse old's slot. */
    for (int i = 0; i < 1100; i++)
        sim_propose(s, leader);
    mark = s->rounds_len;
    inject_and_free(s, follower, leader, ack_message(term, old, s->nodes[leader].lives));
    rep = s->rounds_len > mark ? &s->rounds[s->rounds_len - 1] : NULL;
    tap_diag("round %" PRIu64 " confirmed with %" PRIu64
             " newer rounds sent: reported round %" PRIu64 ", sent_us %" PRId64
             ", commit_index %" PRId64,
             old, raft_round(r) - old, rep ? rep->round : 0, rep ? rep->sent_us : 0,
             rep ? rep->commit_index : 0);
    tap_ok(rep && rep->round == old && rep->sent_us == RAFT_UNKNOWN_TIME && rep->commit_index == -1,
           "regression: a round confirmed after more than 1024 newer rounds reports "
           "RAFT_UNKNOWN_TIME, not a newer round's send time");
    sim_free(s);
}

int unit_quiet_stderr(void)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) {
        dup2(null_fd, STDERR_FILENO);
        close(null_fd);
    }
    return saved;
}

void unit_restore_stderr(int saved)
{
    fflush(stderr);
    if (saved < 0) return;
    dup2(saved, STDERR_FILENO);
    close(saved);
}

static void test_huge_terms(void)
{
    int saved_stderr = unit_quiet_stderr();
    struct raft_config config = unit_config();
    struct sim *s = sim_new(3, &config, 1);
    struct raft *node = s->nodes[1].raft;
    /* 2^52 + 2 is exactly representable, so nothing but the range check can refuse it. */
    const double huge_terms[] = {4503599627370498.0, 1e300};
    bool unchanged = true;
    for (int k = 0; k < 2; k++) {
        cJSON *vote = unit_message("raft_vote", 0);
        cJSON_ReplaceItemInObjectCaseSensitive(vote, "term", cJSON_CreateNumber(huge_terms[k]));
        cJSON_AddBoolToObject(vote, "pre_vote", false);
        cJSON_AddNumberToObject(vote, "last_log_index", 0);
        cJSON_AddNumberToObject(vote, "last_log_term", 0);
        inject_and_free(s, 0, 1, vote);
        cJSON *append = append_message(0, 0, 0, 0, 0, 0);
        cJSON_ReplaceItemInObjectCaseSensitive(append, "term", cJSON_CreateNumber(huge_terms[k]));
        inject_and_free(s, 0, 1, append);
        cJSON *res = ack_message(0, 0, s->nodes[1].lives);
        cJSON_ReplaceItemInObjectCaseSensitive(res, "term", cJSON_CreateNumber(huge_terms[k]));
        inject_and_free(s, 2, 1, res);
        tap_diag("after a vote, an append and an append reply of term %.17g: term %" PRId64
                 ", leader %d, %zu replies queued",
                 huge_terms[k], raft_term(node), raft_leader(node), s->queue_len);
        if (raft_term(node) != 0 || raft_leader(node) != -1 || s->queue_len != 0) unchanged = false;
    }
    unit_restore_stderr(saved_stderr);
    tap_ok(unchanged, "regression: raft messages whose term is above 2^52 are ignored (term "
                      "stays 0, no reply)");

    /* Control: the same vote with an ordinary term is honoured. */
    cJSON *vote = unit_message("raft_vote", 7);
    cJSON_AddBoolToObject(vote, "pre_vote", false);
    cJSON_AddNumberToObject(vote, "last_log_index", 0);
    cJSON_AddNumberToObject(vote, "last_log_term", 0);
    inject_and_free(s, 0, 1, vote);
    tap_ok(raft_term(node) == 7 && sim_count(s, 1, 0, "raft_vote_res", NULL) == 1,
           "regression control: the same vote with term 7 moves the node to term 7 and is "
           "answered");
    sim_free(s);
}

/* The queued appends from -> to: how many, how many carry entries, and the smallest
 * prev_log_index among those that do. */
static size_t queued_appends(struct sim *s, int from, int to, size_t *with_entries,
                             int64_t *first_prev)
{
    cJSON *bodies[256];
    size_t count = sim_collect(s, from, to, "raft_append", bodies, 256);
    *with_entries = 0;
    *first_prev = -1;
    for (size_t i = 0; i < count; i++) {
        const cJSON *entries = cJSON_GetObjectItemCaseSensitive(bodies[i], "entries");
        int64_t prev =
            (int64_t)cJSON_GetObjectItemCaseSensitive(bodies[i], "prev_log_index")->valuedouble;
        if (cJSON_GetArraySize(entries) > 0) {
            ++*with_entries;
            if (*first_prev < 0 || prev < *first_prev) *first_prev = prev;
        }
        cJSON_Delete(bodies[i]);
    }
    return count;
}

/* A reject as a follower sends it, answering the append at prev_log_index. */
static cJSON *reject_message(int64_t term, int64_t conflict_index, int64_t prev_log_index,
                             int64_t incarnation)
{
    cJSON *res = unit_message("raft_append_res", term);
    cJSON_AddBoolToObject(res, "success", false);
    cJSON_AddNumberToObject(res, "match_index", 0);
    cJSON_AddNumberToObject(res, "conflict_index", (double)conflict_index);
    cJSON_AddNumberToObject(res, "prev_log_index", (double)prev_log_index);
    cJSON_AddNumberToObject(res, "round", 0);
    cJSON_AddNumberToObject(res, "incarnation", (double)incarnation);
    return res;
}

static void test_stale_reject(void)
{
    int leader;
    struct sim *s = unit_cluster(3, 51, &leader);
    if (!tap_ok(s != NULL, "regression setup: a 3-node cluster elects a leader")) return;
    struct raft *r = s->nodes[leader].raft;
    int follower = (leader + 1) % 3;
    int64_t term = raft_term(r);
    for (int i = 0; i < 5; i++)
        sim_propose(s, leader);
    sim_run_until(s, s->now_us + 5 * UNIT_HEARTBEAT_US);
    /* The follower has everything: the leader's match_index for it is its last index. */
    int64_t matched = raft_last_index(s->nodes[follower].raft);
    bool caught_up = matched == raft_last_index(r) && raft_commit_index(r) == matched;

    /* Three entries in flight to the follower (held): next_index is past them. */
    sim_hold(s, leader, follower, true);
    sim_discard(s, leader, follower, NULL);
    for (int i = 0; i < 3; i++)
        sim_propose(s, leader);
    size_t with_entries;
    int64_t first_prev;
    size_t before = queued_appends(s, leader, follower, &with_entries, &first_prev);

    /* Rejects from long ago (of appends at prevs the follower has since matched past)
     * arrive now. */
    inject_and_free(s, follower, leader, reject_message(term, 1, 0, s->nodes[leader].lives));
    inject_and_free(s, follower, leader,
                    reject_message(term, matched, matched, s->nodes[leader].lives));
    size_t after = queued_appends(s, leader, follower, &with_entries, &first_prev);
    tap_diag("follower %d matched %" PRId64 ", leader last %" PRId64 "; appends queued to it: %zu "
             "before two stale rejects (conflict 1 and %" PRId64 "), %zu after",
             follower, matched, raft_last_index(r), before, matched, after);
    tap_ok(caught_up && before == 3 && after == before,
           "regression: a stale reject (of an append at prev <= match_index) does not rewind "
           "next_index: nothing is re-sent");

    /* Control: a reject the follower could really send now (it lacks matched + 1) does
     * rewind, and the entries from there go out again. */
    inject_and_free(s, follower, leader,
                    reject_message(term, matched + 1, raft_last_index(r), s->nodes[leader].lives));
    after = queued_appends(s, leader, follower, &with_entries, &first_prev);
    tap_diag("after a fresh reject (conflict %" PRId64 "): %zu appends queued, %zu with entries, "
             "the lowest prev_log_index %" PRId64,
             matched + 1, after, with_entries, first_prev);
    tap_ok(after == before + 1 && first_prev == matched,
           "regression control: a reject with conflict_index just past match_index re-sends "
           "from there");
    sim_free(s);
}

static bool node_leads(struct sim *s, void *arg)
{
    return raft_role(s->nodes[*(int *)arg].raft) == RAFT_LEADER;
}

/* F's log equals L's and F has committed as far as L. */
static bool caught_up(struct sim *s, int leader, int f)
{
    const struct raft *l = s->nodes[leader].raft, *r = s->nodes[f].raft;
    if (raft_last_index(r) != raft_last_index(l) || raft_commit_index(r) != raft_commit_index(l))
        return false;
    for (int64_t i = 1; i <= raft_last_index(l); i++)
        if (raft_entry_at(r, i)->term != raft_entry_at(l, i)->term) return false;
    return true;
}

/* Found by the randomized runs (5 nodes, seed 42, one entry per append): a follower whose
 * log runs on, in the term of an entry the leader already counts as matched, past the
 * point where it diverges from the leader. Its reject skips back over that whole term, to
 * an index <= match_index, so the leader takes it for stale and ignores it; each new
 * append mismatches again the same way. One lost append that would have repaired the
 * follower is enough to wedge it for good.
 *
 * The follower F holds `f_len` entries of term 1 (from an old leader), the leader-to-be L
 * only the first `shared`; L wins term 2 with node 0's vote, and node 0 is cut off at
 * once, so L's commit index stays behind while F, reconnecting, matches up to a point.
 * The one append that carries index shared + 1 to F is lost. {L, F} is a majority: it
 * must repair F and commit. */
static void test_wedged_follower(int batch, int64_t shared, int64_t f_len, bool lose)
{
    struct raft_config config = unit_config();
    config.max_entries_per_append = batch;
    struct sim *s = sim_new(3, &config, 61);
    const int old = 0, leader = 1, f = 2;
    inject_and_free(s, old, f, append_message(1, 0, 0, f_len, 1, 1));
    inject_and_free(s, old, leader, append_message(1, 0, 0, shared, 1, 1));
    sim_isolate(s, f, true);
    /* Node 0's log is empty, so only node 1 can win, with node 0's vote. */
    bool elected = sim_run_while_not(s, 20 * UNIT_ELECTION_US, node_leads, (void *)&leader);
    sim_isolate(s, old, true);
    for (int i = 0; i < 3; i++)
        sim_propose(s, leader);

    /* F back, with its incoming link under the test's control. */
    sim_isolate(s, f, false);
    sim_cut(s, f, old, true);
    sim_cut(s, old, f, true);
    sim_hold(s, leader, f, true);
    bool dropped = false;
    int64_t healed_us = s->now_us, deadline = healed_us + 20 * UNIT_ELECTION_US;
    while (s->now_us < deadline && !s->failed && !caught_up(s, leader, f)) {
        cJSON *next = NULL;
        if (sim_collect(s, leader, f, NULL, &next, 1) == 0) {
            sim_run_until(s, s->now_us + 1 * MS);
            continue;
        }
        int64_t prev = 0, count = 0;
        if (strcmp(cJSON_GetObjectItemCaseSensitive(next, "type")->valuestring, "raft_append") ==
            0) {
            prev = (int64_t)cJSON_GetObjectItemCaseSensitive(next, "prev_log_index")->valuedouble;
            count = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(next, "entries"));
        }
        cJSON_Delete(next);
        if (lose && !dropped && prev < shared + 1 && prev + count >= shared + 1) {
            dropped = sim_drop_one(s, leader, f, NULL);
        } else {
            sim_deliver_one(s, leader, f, NULL, -1);
        }
    }
    const struct raft *l = s->nodes[leader].raft, *r = s->nodes[f].raft;
    tap_diag("batch %d: F had %" PRId64 " entries of term 1, L shares %" PRId64
             "; the append carrying %" PRId64 " %s",
             batch, f_len, shared, shared + 1, dropped ? "was lost" : "was delivered");
    tap_diag("%.0f ms after F reconnected: L %s term %" PRId64 " last %" PRId64 " commit %" PRId64
             "; F last %" PRId64 " (term %" PRId64 " at %" PRId64 " vs L's %" PRId64
             ") commit %" PRId64 "%s%s",
             (double)(s->now_us - healed_us) / MS, role_name_of(l), raft_term(l),
             raft_last_index(l), raft_commit_index(l), raft_last_index(r),
             raft_entry_at(r, shared + 1) ? raft_entry_at(r, shared + 1)->term : -1, shared + 1,
             raft_entry_at(l, shared + 1)->term, raft_commit_index(r), s->failed ? "; " : "",
             s->failed ? s->failure : "");
    if (!lose) {
        tap_ok(elected && caught_up(s, leader, f),
               "control: with no append lost, the same follower is repaired (%d per append)",
               batch);
    } else {
        tap_ok(elected && dropped && caught_up(s, leader, f),
               "regression: one lost append (%d per append) does not wedge a follower whose "
               "divergent suffix shares the term of its matched prefix",
               batch);
    }
    sim_free(s);
}

void test_regressions(void)
{
    test_commit_never_decreases();
    test_forgotten_round();
    test_huge_terms();
    test_stale_reject();
    test_wedged_follower(1, 3, 6, false);
    test_wedged_follower(1, 3, 6, true);
    test_wedged_follower(64, 100, 200, false);
    test_wedged_follower(64, 100, 200, true);
}
