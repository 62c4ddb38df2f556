#include "sim.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many events pass between two full log-matching checks, unless a test sets its own
 * (log_check_every): the check costs a scan of every pair of logs, and a violation that
 * appears persists (or is caught at the end). */
#define SIM_LOG_CHECK_EVERY 16

/* raft_draw_fn carries no context pointer, so election jitter is drawn from whichever
 * simulator last called into the core. Only one runs at a time. */
static struct sim *sim_drawing;

static void *sim_alloc(void *old, size_t count, size_t size)
{
    void *p = realloc(old, (count ? count : 1) * size);
    if (!p) {
        perror("sim: out of memory");
        abort();
    }
    return p;
}

/* splitmix64: each seed gives an independent, replayable stream. */
static uint64_t sim_next(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t sim_random(struct sim *s, int64_t lo, int64_t hi)
{
    if (hi <= lo) return lo;
    return lo + (int64_t)(sim_next(s) % (uint64_t)(hi - lo));
}

static int64_t sim_draw(int64_t lo, int64_t hi)
{
    assert(sim_drawing);
    if (sim_drawing->pin_election_timeout) return lo;
    return sim_random(sim_drawing, lo, hi);
}

int64_t sim_clock_us(const struct sim *s, int node)
{
    const struct sim_node *sn = &s->nodes[node];
    return sn->clock_base_us + (int64_t)(sn->clock_rate * (double)(s->now_us - sn->clock_since_us));
}

void sim_set_clock(struct sim *s, int node, double rate, int64_t origin_us)
{
    assert(rate > 0);
    s->nodes[node].clock_rate = rate;
    s->nodes[node].clock_since_us = origin_us;
    s->nodes[node].clock_base_us = 0;
}

void sim_set_clock_rate(struct sim *s, int node, double rate)
{
    assert(rate > 0);
    struct sim_node *sn = &s->nodes[node];
    sn->clock_base_us = sim_clock_us(s, node);
    sn->clock_since_us = s->now_us;
    sn->clock_rate = rate;
    /* Its next tick was scheduled at the old rate: let it ask again now. */
    sn->tick_due_us = s->now_us;
}

void sim_set_hooks(struct sim *s, const struct sim_hooks *hooks)
{
    s->hooks = *hooks;
}

/* A wait of wait_us on node i's clock, in virtual time, rounded up: when it is due the
 * node's clock has reached the time the core asked for. */
static int64_t sim_virtual_wait_us(const struct sim *s, int node, int64_t wait_us)
{
    double virtual_us = (double)wait_us / s->nodes[node].clock_rate;
    int64_t whole_us = (int64_t)virtual_us;
    return (double)whole_us < virtual_us ? whole_us + 1 : whole_us;
}

static void sim_fail(struct sim *s, const char *kind, const char *fmt, ...)
{
    if (s->failed) return; /* the first violation is the one worth reading */
    s->failed = true;
    s->failure_kind = kind;
    int n = snprintf(s->failure, sizeof s->failure, "t=%.3fms event %" PRIu64 ": ",
                     (double)s->now_us / 1000.0, s->events);
    va_list args;
    va_start(args, fmt);
    vsnprintf(s->failure + n, sizeof s->failure - (size_t)n, fmt, args);
    va_end(args);
}

int64_t sim_command_id(const cJSON *command)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(command, "id");
    return cJSON_IsNumber(id) ? (int64_t)id->valuedouble : 0;
}

/* ---- safety checks ---- */

/* Election safety, and leader completeness for each leader the first time it is seen. */
static void sim_check_leaders(struct sim *s)
{
    for (int i = 0; i < s->n; i++) {
        struct sim_node *node = &s->nodes[i];
        if (raft_role(node->raft) != RAFT_LEADER) continue;
        int64_t term = raft_term(node->raft);
        if (term == node->leader_checked_term) continue;
        node->leader_checked_term = term;
        if (term >= s->terms_cap) {
            int64_t cap = s->terms_cap;
            while (term >= s->terms_cap)
                s->terms_cap = s->terms_cap * 2 + 16;
            s->leader_of_term = sim_alloc(s->leader_of_term, (size_t)s->terms_cap, sizeof(int));
            for (int64_t t = cap; t < s->terms_cap; t++)
                s->leader_of_term[t] = -1;
        }
        int other = s->leader_of_term[term];
        if (other >= 0 && other != i) {
            sim_fail(s, SIM_ELECTION_SAFETY, "nodes %d and %d both leader in term %" PRId64, other,
                     i, term);
            return;
        }
        s->leader_of_term[term] = i;
        for (int64_t index = 1; index <= s->committed_len; index++) {
            const struct sim_commit *c = &s->committed[index - 1];
            /* In its snapshot: checked against every node's state when it was loaded. */
            if (c->seen_in_term >= term || index <= raft_snapshot_index(node->raft)) continue;
            const struct raft_entry *e = raft_entry_at(node->raft, index);
            if (!e || e->term != c->term || sim_command_id(e->command) != c->id) {
                sim_fail(s, SIM_LEADER_COMPLETENESS,
                         "node %d, leader of term %" PRId64 ", lacks committed entry %" PRId64
                         " (term %" PRId64 ", id %" PRId64 "); it has %s",
                         i, term, index, c->term, c->id, e ? "a different entry" : "no entry");
                return;
            }
        }
    }
}

bool sim_check_logs(struct sim *s)
{
    for (int a = 0; a < s->n; a++)
        for (int b = a + 1; b < s->n; b++) {
            const struct raft *ra = s->nodes[a].raft, *rb = s->nodes[b].raft;
            int64_t last = raft_last_index(ra) < raft_last_index(rb) ? raft_last_index(ra)
                                                                     : raft_last_index(rb);
            /* The highest index where the terms agree: everything up to it must match.
             * What either has compacted is state, checked by state machine safety. */
            int64_t floor = raft_snapshot_index(ra) > raft_snapshot_index(rb)
                                ? raft_snapshot_index(ra)
                                : raft_snapshot_index(rb);
            int64_t agree = last;
            while (agree > floor &&
                   raft_entry_at(ra, agree)->term != raft_entry_at(rb, agree)->term)
                agree--;
            for (int64_t i = floor + 1; i <= agree; i++) {
                const struct raft_entry *ea = raft_entry_at(ra, i), *eb = raft_entry_at(rb, i);
                if (ea->term != eb->term ||
                    sim_command_id(ea->command) != sim_command_id(eb->command)) {
                    sim_fail(s, SIM_LOG_MATCHING,
                             "nodes %d and %d agree on the term of index %" PRId64 " (%" PRId64
                             ") but differ at index %" PRId64 ": term %" PRId64 " id %" PRId64
                             " vs term %" PRId64 " id %" PRId64,
                             a, b, agree, raft_entry_at(ra, agree)->term, i, ea->term,
                             sim_command_id(ea->command), eb->term, sim_command_id(eb->command));
                    return false;
                }
            }
        }
    return true;
}

/* Terms and commit indexes only move forward (§3.3, §3.5): a commit index that went
 * back would let a node apply, or report, less than it already promised. */
static void sim_check_monotonic(struct sim *s)
{
    for (int i = 0; i < s->n; i++) {
        struct sim_node *node = &s->nodes[i];
        int64_t term = raft_term(node->raft), commit = raft_commit_index(node->raft);
        if (term < node->seen_term)
            sim_fail(s, SIM_MONOTONIC, "node %d's term went back from %" PRId64 " to %" PRId64, i,
                     node->seen_term, term);
        if (commit < node->seen_commit)
            sim_fail(s, SIM_MONOTONIC,
                     "node %d's commit index went back from %" PRId64 " to %" PRId64, i,
                     node->seen_commit, commit);
        node->seen_term = term;
        node->seen_commit = commit;
    }
}

static void sim_check(struct sim *s)
{
    sim_check_leaders(s);
    sim_check_monotonic(s);
    if (s->events % (s->log_check_every > 0 ? s->log_check_every : SIM_LOG_CHECK_EVERY) == 0)
        sim_check_logs(s);
}

/* ---- callbacks from the core ---- */

static void sim_enqueue(struct sim *s, int from, int to, char *text)
{
    int64_t delay = sim_random(s, s->delay_min_us, s->delay_max_us + 1);
    int64_t at = s->now_us + delay;
    if (s->fifo && at < s->link_last_us[from][to]) at = s->link_last_us[from][to];
    s->link_last_us[from][to] = at;
    if (s->queue_len == s->queue_cap) {
        s->queue_cap = s->queue_cap * 2 + 64;
        s->queue = sim_alloc(s->queue, s->queue_cap, sizeof *s->queue);
    }
    s->queue[s->queue_len++] =
        (struct sim_msg){.from = from, .to = to, .deliver_us = at, .seq = s->seq++, .text = text};
}

static void sim_send(void *ctx, int peer, cJSON *body)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    assert(peer >= 0 && peer < s->n && peer != node->id);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    assert(text);
    if (s->cut[node->id][peer] || sim_random(s, 0, 100) < s->drop_percent) {
        free(text);
        return;
    }
    if (sim_random(s, 0, 100) < s->dup_percent) {
        char *copy = sim_alloc(NULL, strlen(text) + 1, 1);
        strcpy(copy, text);
        sim_enqueue(s, node->id, peer, copy);
    }
    sim_enqueue(s, node->id, peer, text);
}

static void sim_record_apply(struct sim_node *node, int64_t index, const struct raft_entry *entry)
{
    struct sim *s = node->sim;
    int64_t id = sim_command_id(entry->command);
    if (index != node->applied_count + 1) {
        sim_fail(s, SIM_STATE_MACHINE,
                 "node %d applied index %" PRId64 " after %" PRId64 " (not once, in order)",
                 node->id, index, node->applied_count);
        return;
    }
    if (node->applied_count == node->applied_cap) {
        node->applied_cap = node->applied_cap * 2 + 64;
        node->applied_term = sim_alloc(node->applied_term, (size_t)node->applied_cap, 8);
        node->applied_id = sim_alloc(node->applied_id, (size_t)node->applied_cap, 8);
    }
    node->applied_term[node->applied_count] = entry->term;
    node->applied_id[node->applied_count] = id;
    node->applied_count++;

    if (index <= s->committed_len) {
        const struct sim_commit *c = &s->committed[index - 1];
        if (c->term != entry->term || c->id != id)
            sim_fail(s, SIM_STATE_MACHINE,
                     "node %d applied term %" PRId64 " id %" PRId64 " at index %" PRId64
                     ", where another node applied term %" PRId64 " id %" PRId64,
                     node->id, entry->term, id, index, c->term, c->id);
        return;
    }
    assert(index == s->committed_len + 1); /* every node applies in order */
    if (s->committed_len == s->committed_cap) {
        s->committed_cap = s->committed_cap * 2 + 64;
        s->committed = sim_alloc(s->committed, (size_t)s->committed_cap, sizeof *s->committed);
    }
    s->committed[s->committed_len++] = (struct sim_commit){.term = entry->term,
                                                           .id = id,
                                                           .seen_in_term = raft_term(node->raft),
                                                           .applied_us = s->now_us};
}

static void sim_apply(void *ctx, int64_t index, const struct raft_entry *entry)
{
    struct sim_node *node = ctx;
    sim_record_apply(node, index, entry);
    const struct sim_hooks *h = &node->sim->hooks;
    if (h->applied) h->applied(h->ctx, node->id, index, entry);
}

static void sim_leadership_changed(void *ctx)
{
    struct sim_node *node = ctx;
    sim_check_leaders(node->sim);
    const struct sim_hooks *h = &node->sim->hooks;
    if (h->leadership_changed) h->leadership_changed(h->ctx, node->id);
}

static void sim_sending_append(void *ctx, int peer, cJSON *piggyback)
{
    struct sim_node *node = ctx;
    const struct sim_hooks *h = &node->sim->hooks;
    if (h->sending_append) h->sending_append(h->ctx, node->id, peer, piggyback);
}

static void sim_leader_contact(void *ctx, int leader, const cJSON *piggyback, int64_t now_us)
{
    struct sim_node *node = ctx;
    const struct sim_hooks *h = &node->sim->hooks;
    if (h->leader_contact) h->leader_contact(h->ctx, node->id, leader, piggyback, now_us);
}

static void sim_sending_ack(void *ctx, cJSON *piggyback, int64_t now_us)
{
    struct sim_node *node = ctx;
    const struct sim_hooks *h = &node->sim->hooks;
    if (h->sending_ack) h->sending_ack(h->ctx, node->id, piggyback, now_us);
}

static void sim_ack_received(void *ctx, int peer, const cJSON *piggyback, int64_t now_us)
{
    struct sim_node *node = ctx;
    const struct sim_hooks *h = &node->sim->hooks;
    if (h->ack_received) h->ack_received(h->ctx, node->id, peer, piggyback, now_us);
}

static void sim_round_confirmed(void *ctx, uint64_t round, int64_t sent_us, int64_t commit_index)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    if (s->rounds_len == s->rounds_cap) {
        s->rounds_cap = s->rounds_cap * 2 + 64;
        s->rounds = sim_alloc(s->rounds, s->rounds_cap, sizeof *s->rounds);
    }
    s->rounds[s->rounds_len++] = (struct sim_round){.node = node->id,
                                                    .term = raft_term(node->raft),
                                                    .round = round,
                                                    .sent_us = sent_us,
                                                    .commit_index = commit_index};
    if (s->hooks.round_confirmed)
        s->hooks.round_confirmed(s->hooks.ctx, node->id, round, sent_us, commit_index);
}

/* ---- the disk: the persist_* callbacks ---- */

static void sim_persist_term_vote(void *ctx, int64_t term, int voted_for)
{
    struct sim_node *node = ctx;
    if (node->disk.forget_votes && term == node->disk.term) return;
    node->disk.term = term;
    node->disk.voted_for = node->disk.forget_votes ? -1 : voted_for;
}

static void sim_persist_truncate(void *ctx, int64_t after_index)
{
    struct sim_node *node = ctx;
    while (node->disk.count > after_index - node->disk.snapshot_index)
        cJSON_Delete(node->disk.entries[--node->disk.count].command);
}

static void sim_persist_append(void *ctx, int64_t index, const struct raft_entry *entry)
{
    struct sim_node *node = ctx;
    /* The core reports every truncation before it appends over it. */
    assert(index == node->disk.snapshot_index + node->disk.count + 1);
    if (node->disk.count == node->disk.cap) {
        node->disk.cap = node->disk.cap * 2 + 64;
        node->disk.entries =
            sim_alloc(node->disk.entries, (size_t)node->disk.cap, sizeof *node->disk.entries);
    }
    cJSON *copy = cJSON_Duplicate(entry->command, true);
    assert(copy);
    node->disk.entries[node->disk.count++] =
        (struct raft_entry){.term = entry->term, .command = copy};
    /* As in node.c: every entry the log takes goes to disk, then to the read path. */
    const struct sim_hooks *h = &node->sim->hooks;
    if (h->appended) h->appended(h->ctx, node->id, index, entry);
}

/* ---- snapshots: the applied list is the state ---- */

cJSON *sim_state(const struct sim *s, int node)
{
    const struct sim_node *sn = &s->nodes[node];
    cJSON *state = cJSON_CreateObject();
    cJSON *applied = cJSON_AddArrayToObject(state, "applied");
    for (int64_t k = 0; k < sn->applied_count; k++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)sn->applied_term[k]));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)sn->applied_id[k]));
        cJSON_AddItemToArray(applied, pair);
    }
    return state;
}

/* Loading a snapshot is applying every entry in it at once: each must be what the other
 * nodes applied at its index (state machine safety), and a state may never go back. */
static bool sim_load_snapshot(void *ctx, int64_t index, int64_t term, const cJSON *snapshot)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    const cJSON *applied = cJSON_GetObjectItemCaseSensitive(snapshot, "applied");
    if (!cJSON_IsArray(applied) || cJSON_GetArraySize(applied) != index) return false;
    if (index < node->applied_count)
        sim_fail(s, SIM_STATE_MACHINE,
                 "node %d loaded a snapshot through %" PRId64 " over its state through %" PRId64
                 ": rolled back",
                 node->id, index, node->applied_count);
    if (index > node->applied_cap) {
        node->applied_cap = index + 64;
        node->applied_term = sim_alloc(node->applied_term, (size_t)node->applied_cap, 8);
        node->applied_id = sim_alloc(node->applied_id, (size_t)node->applied_cap, 8);
    }
    int64_t k = 0;
    const cJSON *pair;
    cJSON_ArrayForEach(pair, applied) {
        int64_t t = (int64_t)cJSON_GetArrayItem(pair, 0)->valuedouble;
        int64_t id = (int64_t)cJSON_GetArrayItem(pair, 1)->valuedouble;
        const struct sim_commit *c = k < s->committed_len ? &s->committed[k] : NULL;
        if (!c || c->term != t || c->id != id)
            sim_fail(s, SIM_STATE_MACHINE,
                     "node %d loaded a snapshot with term %" PRId64 " id %" PRId64
                     " at index %" PRId64 ", where %s",
                     node->id, t, id, k + 1,
                     c ? "another node applied another entry" : "nobody applied one");
        node->applied_term[k] = t;
        node->applied_id[k] = id;
        k++;
    }
    if (index > 0 && node->applied_term[index - 1] != term)
        sim_fail(s, SIM_STATE_MACHINE,
                 "node %d loaded a snapshot through %" PRId64 " of term %" PRId64
                 " whose last entry has term %" PRId64,
                 node->id, index, term, node->applied_term[index - 1]);
    node->applied_count = index;
    node->snapshot_loads++;
    return true;
}

/* The disk becomes the snapshot and the entries the core kept after it. */
static void sim_persist_snapshot(void *ctx, int64_t index, int64_t term, const cJSON *snapshot)
{
    struct sim_node *node = ctx;
    sim_persist_truncate(node, node->disk.snapshot_index);
    cJSON_Delete(node->disk.snapshot);
    node->disk.snapshot = cJSON_Duplicate(snapshot, true);
    node->disk.snapshot_index = index;
    node->disk.snapshot_term = term;
    for (int64_t i = index + 1; i <= raft_last_index(node->raft); i++) {
        const struct raft_entry *entry = raft_entry_at(node->raft, i);
        if (node->disk.count == node->disk.cap) {
            node->disk.cap = node->disk.cap * 2 + 64;
            node->disk.entries =
                sim_alloc(node->disk.entries, (size_t)node->disk.cap, sizeof *node->disk.entries);
        }
        node->disk.entries[node->disk.count++] = (struct raft_entry){
            .term = entry->term, .command = cJSON_Duplicate(entry->command, true)};
    }
}

static void sim_maybe_compact(struct sim *s, int node)
{
    struct raft *r = s->nodes[node].raft;
    if (s->snapshot_every <= 0 || s->failed) return;
    if (raft_applied_index(r) - raft_snapshot_index(r) < s->snapshot_every) return;
    assert(s->nodes[node].applied_count == raft_applied_index(r));
    raft_compact(r, raft_applied_index(r), sim_state(s, node));
}

static struct raft *sim_start_node(struct sim *s, struct sim_node *node)
{
    struct raft_callbacks cb = {.ctx = node,
                                .send = sim_send,
                                .apply = sim_apply,
                                .leadership_changed = sim_leadership_changed,
                                .round_confirmed = sim_round_confirmed,
                                .persist_term_vote = sim_persist_term_vote,
                                .persist_append = sim_persist_append,
                                .persist_truncate = sim_persist_truncate,
                                .load_snapshot = sim_load_snapshot,
                                .persist_snapshot = sim_persist_snapshot,
                                .sending_append = sim_sending_append,
                                .leader_contact = sim_leader_contact,
                                .sending_ack = sim_sending_ack,
                                .ack_received = sim_ack_received};
    sim_drawing = s;
    /* Each start is a new life, as each run of a process draws a new incarnation. */
    struct raft_config config = s->config;
    config.incarnation = ++node->lives;
    return raft_new(node->id, s->n, &config, &cb, sim_draw, sim_clock_us(s, node->id));
}

static void sim_restart_as(struct sim *s, int i, int64_t restarted_us)
{
    struct sim_node *node = &s->nodes[i];
    raft_free(node->raft);
    node->raft = sim_start_node(s, node);
    /* The state machine is the snapshot's, then rebuilt as entries commit again. */
    node->applied_count = 0;
    /* raft_restore takes the commands and the snapshot; the disk keeps its own copies. */
    struct raft_entry *copies = sim_alloc(NULL, (size_t)node->disk.count, sizeof *copies);
    for (int64_t k = 0; k < node->disk.count; k++) {
        copies[k].term = node->disk.entries[k].term;
        copies[k].command = cJSON_Duplicate(node->disk.entries[k].command, true);
    }
    struct raft_persisted saved = {
        .term = node->disk.term,
        .voted_for = node->disk.voted_for,
        .snapshot_index = node->disk.snapshot_index,
        .snapshot_term = node->disk.snapshot_term,
        .snapshot = node->disk.snapshot ? cJSON_Duplicate(node->disk.snapshot, true) : NULL,
        .entries = copies,
        .count = node->disk.count,
    };
    bool restored = raft_restore(node->raft, &saved, restarted_us);
    assert(restored);
    (void)restored;
    free(copies);
    node->seen_commit = 0;
    node->leader_checked_term = 0;
    node->tick_due_us = s->now_us;
}

void sim_restart(struct sim *s, int node)
{
    sim_restart_as(s, node, sim_clock_us(s, node));
}

void sim_restart_without_window(struct sim *s, int node)
{
    sim_restart_as(s, node, sim_clock_us(s, node) - s->config.election_timeout_us);
}

/* ---- life cycle ---- */

struct sim *sim_new(int n, const struct raft_config *config, uint64_t seed)
{
    assert(n >= 1 && n <= SIM_MAX_NODES);
    struct sim *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->n = n;
    s->rng = seed * 0x2545f4914f6cdd1dULL + 1;
    s->config = *config;
    s->delay_min_us = 1000;
    s->delay_max_us = 5000;
    s->fifo = true;
    s->next_command_id = 1;
    sim_drawing = s;
    for (int i = 0; i < n; i++) {
        struct sim_node *node = &s->nodes[i];
        node->sim = s;
        node->id = i;
        node->clock_rate = 1.0;
        node->disk.voted_for = -1;
        node->raft = sim_start_node(s, node);
        node->tick_due_us = 0;
    }
    return s;
}

void sim_free(struct sim *s)
{
    if (!s) return;
    if (sim_drawing == s) sim_drawing = NULL;
    for (int i = 0; i < s->n; i++) {
        raft_free(s->nodes[i].raft);
        free(s->nodes[i].applied_term);
        free(s->nodes[i].applied_id);
        sim_persist_truncate(&s->nodes[i], s->nodes[i].disk.snapshot_index);
        free(s->nodes[i].disk.entries);
        cJSON_Delete(s->nodes[i].disk.snapshot);
    }
    for (size_t i = 0; i < s->queue_len; i++)
        free(s->queue[i].text);
    free(s->queue);
    free(s->leader_of_term);
    free(s->committed);
    free(s->rounds);
    free(s);
}

/* ---- running ---- */

void sim_poke(struct sim *s, int node)
{
    sim_drawing = s;
    struct sim_node *sn = &s->nodes[node];
    int64_t wait_us = raft_tick(sn->raft, sim_clock_us(s, node));
    sn->tick_due_us = s->now_us + sim_virtual_wait_us(s, node, wait_us > 0 ? wait_us : 1);
    raft_flush(sn->raft, sim_clock_us(s, node));
    sim_maybe_compact(s, node);
    s->events++;
    sim_check(s);
}

static void sim_deliver(struct sim *s, size_t at)
{
    struct sim_msg msg = s->queue[at];
    s->queue[at] = s->queue[--s->queue_len];
    /* A link cut while the message was in flight loses it, as a partition would. */
    if (!s->cut[msg.from][msg.to]) {
        cJSON *body = cJSON_Parse(msg.text);
        assert(body);
        sim_drawing = s;
        raft_receive(s->nodes[msg.to].raft, msg.from, body, sim_clock_us(s, msg.to));
        cJSON_Delete(body);
        s->messages_delivered++;
        /* The node's event loop re-runs its timers after input: deadlines may have moved
         * (a new leader must start heartbeating), then flushes the turn's work. A paused
         * node does that when it resumes. */
        if (!s->paused[msg.to]) sim_poke(s, msg.to);
    }
    free(msg.text);
}

/* The next event at or before until_us: a message (index into the queue) or a tick
 * (-1 - node). Returns false if there is none. */
static bool sim_next_event(const struct sim *s, int64_t until_us, long *event)
{
    int64_t best_us = until_us + 1;
    uint64_t best_seq = UINT64_MAX;
    bool found = false;
    for (size_t i = 0; i < s->queue_len; i++) {
        const struct sim_msg *m = &s->queue[i];
        if (s->held[m->from][m->to] || s->paused[m->to]) continue;
        if (m->deliver_us < best_us || (m->deliver_us == best_us && m->seq < best_seq)) {
            best_us = m->deliver_us;
            best_seq = m->seq;
            *event = (long)i;
            found = true;
        }
    }
    for (int i = 0; i < s->n; i++)
        if (!s->paused[i] && s->nodes[i].tick_due_us < best_us) {
            best_us = s->nodes[i].tick_due_us;
            *event = -1 - i;
            found = true;
        }
    return found;
}

static bool sim_step(struct sim *s, int64_t until_us)
{
    long event;
    if (!sim_next_event(s, until_us, &event)) return false;
    if (event >= 0) {
        if (s->queue[event].deliver_us > s->now_us) s->now_us = s->queue[event].deliver_us;
        sim_deliver(s, (size_t)event);
    } else {
        int node = (int)(-1 - event);
        if (s->nodes[node].tick_due_us > s->now_us) s->now_us = s->nodes[node].tick_due_us;
        sim_poke(s, node);
    }
    return true;
}

void sim_run_until(struct sim *s, int64_t until_us)
{
    while (!s->failed && sim_step(s, until_us)) {
    }
    if (s->now_us < until_us) s->now_us = until_us;
}

bool sim_run_while_not(struct sim *s, int64_t until_us, bool (*pred)(struct sim *s, void *arg),
                       void *arg)
{
    if (pred(s, arg)) return true;
    while (!s->failed && sim_step(s, until_us))
        if (pred(s, arg)) return true;
    if (s->now_us < until_us) s->now_us = until_us;
    return pred(s, arg);
}

/* ---- the network ---- */

void sim_cut(struct sim *s, int from, int to, bool cut)
{
    s->cut[from][to] = cut;
}

void sim_isolate(struct sim *s, int node, bool isolated)
{
    for (int i = 0; i < s->n; i++)
        if (i != node) {
            s->cut[node][i] = isolated;
            s->cut[i][node] = isolated;
        }
}

void sim_partition(struct sim *s, const int *group)
{
    for (int a = 0; a < s->n; a++)
        for (int b = 0; b < s->n; b++)
            s->cut[a][b] = a != b && group[a] != group[b];
}

void sim_heal(struct sim *s)
{
    memset(s->cut, 0, sizeof s->cut);
}

void sim_pause(struct sim *s, int node, bool paused)
{
    s->paused[node] = paused;
    if (!paused) sim_poke(s, node);
}

void sim_hold(struct sim *s, int from, int to, bool held)
{
    s->held[from][to] = held;
}

static bool sim_matches(const struct sim_msg *m, int from, int to, const char *type, int64_t round,
                        cJSON **body_out)
{
    if (m->from != from || m->to != to) return false;
    cJSON *body = cJSON_Parse(m->text);
    assert(body);
    bool match = true;
    if (type)
        match = strcmp(cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring, type) == 0;
    if (match && round >= 0) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(body, "round");
        match = cJSON_IsNumber(r) && (int64_t)r->valuedouble == round;
    }
    if (match && body_out) {
        cJSON_Delete(*body_out);
        *body_out = body;
    } else {
        cJSON_Delete(body);
    }
    return match;
}

bool sim_deliver_one(struct sim *s, int from, int to, const char *type, int64_t round)
{
    /* In send order, so "the first" is the oldest. */
    size_t best = s->queue_len;
    for (size_t i = 0; i < s->queue_len; i++)
        if (sim_matches(&s->queue[i], from, to, type, round, NULL) &&
            (best == s->queue_len || s->queue[i].seq < s->queue[best].seq))
            best = i;
    if (best == s->queue_len) return false;
    sim_deliver(s, best);
    return true;
}

bool sim_drop_one(struct sim *s, int from, int to, const char *type)
{
    size_t best = s->queue_len;
    for (size_t i = 0; i < s->queue_len; i++)
        if (sim_matches(&s->queue[i], from, to, type, -1, NULL) &&
            (best == s->queue_len || s->queue[i].seq < s->queue[best].seq))
            best = i;
    if (best == s->queue_len) return false;
    free(s->queue[best].text);
    s->queue[best] = s->queue[--s->queue_len];
    return true;
}

size_t sim_discard(struct sim *s, int from, int to, const char *type)
{
    size_t removed = 0;
    for (size_t i = 0; i < s->queue_len;) {
        if (sim_matches(&s->queue[i], from, to, type, -1, NULL)) {
            free(s->queue[i].text);
            s->queue[i] = s->queue[--s->queue_len];
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

size_t sim_count(struct sim *s, int from, int to, const char *type, cJSON **body_out)
{
    size_t count = 0;
    uint64_t last_seq = 0;
    for (size_t i = 0; i < s->queue_len; i++) {
        cJSON *body = NULL;
        if (!sim_matches(&s->queue[i], from, to, type, -1, &body)) continue;
        count++;
        if (body_out && (!*body_out || s->queue[i].seq >= last_seq)) {
            cJSON_Delete(*body_out);
            *body_out = body;
            last_seq = s->queue[i].seq;
        } else {
            cJSON_Delete(body);
        }
    }
    return count;
}

static int sim_by_seq(const void *a, const void *b)
{
    uint64_t x = (*(const struct sim_msg *const *)a)->seq,
             y = (*(const struct sim_msg *const *)b)->seq;
    return x < y ? -1 : x > y;
}

size_t sim_collect(struct sim *s, int from, int to, const char *type, cJSON **bodies, size_t max)
{
    const struct sim_msg **found = sim_alloc(NULL, s->queue_len, sizeof *found);
    size_t count = 0;
    for (size_t i = 0; i < s->queue_len; i++)
        if (sim_matches(&s->queue[i], from, to, type, -1, NULL)) found[count++] = &s->queue[i];
    qsort(found, count, sizeof *found, sim_by_seq);
    if (count > max) count = max;
    for (size_t i = 0; i < count; i++) {
        bodies[i] = cJSON_Parse(found[i]->text);
        assert(bodies[i]);
    }
    free(found);
    return count;
}

void sim_inject(struct sim *s, int from, int to, const cJSON *body)
{
    sim_drawing = s;
    raft_receive(s->nodes[to].raft, from, body, sim_clock_us(s, to));
    sim_poke(s, to);
}

int64_t sim_propose(struct sim *s, int node)
{
    cJSON *command = cJSON_CreateObject();
    cJSON_AddStringToObject(command, "type", "put");
    return sim_propose_command(s, node, command);
}

int64_t sim_propose_command(struct sim *s, int node, cJSON *command)
{
    cJSON_AddNumberToObject(command, "id", (double)s->next_command_id);
    sim_drawing = s;
    int64_t index = raft_propose(s->nodes[node].raft, command);
    if (index < 0) {
        cJSON_Delete(command);
        return -1;
    }
    s->next_command_id++;
    sim_poke(s, node);
    return index;
}

/* ---- queries ---- */

int sim_leader(const struct sim *s)
{
    int leader = -1;
    for (int i = 0; i < s->n; i++)
        if (raft_role(s->nodes[i].raft) == RAFT_LEADER &&
            (leader < 0 || raft_term(s->nodes[i].raft) > raft_term(s->nodes[leader].raft)))
            leader = i;
    return leader;
}

static bool sim_has_stable_leader(struct sim *s, void *arg)
{
    (void)arg;
    int leader = sim_leader(s);
    if (leader < 0 || sim_leader_count(s) != 1) return false;
    int64_t term = raft_term(s->nodes[leader].raft);
    for (int i = 0; i < s->n; i++)
        if (raft_leader(s->nodes[i].raft) != leader || raft_term(s->nodes[i].raft) != term)
            return false;
    return true;
}

int sim_wait_leader(struct sim *s, int64_t until_us)
{
    return sim_run_while_not(s, until_us, sim_has_stable_leader, NULL) ? sim_leader(s) : -1;
}

int sim_leader_count(const struct sim *s)
{
    int count = 0;
    for (int i = 0; i < s->n; i++)
        count += raft_role(s->nodes[i].raft) == RAFT_LEADER;
    return count;
}

bool sim_round_sent(const struct sim *s, int node, uint64_t round, int64_t *sent_us)
{
    for (size_t i = 0; i < s->rounds_len; i++)
        if (s->rounds[i].node == node && s->rounds[i].round == round) {
            if (sent_us) *sent_us = s->rounds[i].sent_us;
            return true;
        }
    return false;
}
