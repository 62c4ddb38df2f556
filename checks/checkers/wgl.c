/* wgl: Wing & Gong's linearizability search with Lowe's memoization, for one register. */
#include "wgl.h"
#include "checker.h"
#include "memo.h"

#include <stdlib.h>
#include <string.h>

/* ---- The model: a register that starts absent -------------------------------------------- */

/* Maelstrom's lin-kv as a pure function (state, op) -> state', or "this op cannot happen now". */
static bool register_step(const lin_op *op, int state, int *next_state)
{
    switch (op->kind) {
    case LIN_READ:
        *next_state = state;
        return state == op->value_id;
    case LIN_WRITE:
        *next_state = op->value_id;
        return true;
    case LIN_CAS:
        *next_state = op->value_id;
        return state == op->cas_from_id;
    case LIN_CAS_REFUSED: /* error 22: the key was there, and not `from` (SPEC.md) */
        *next_state = state;
        return state != HISTORY_ABSENT && state != op->cas_from_id;
    }
    return false;
}

/* An op that observes the register without changing it, and may be placed in this state. */
static bool observes_now(const lin_op *op, int state)
{
    int unchanged;
    return (op->kind == LIN_READ || op->kind == LIN_CAS_REFUSED) &&
           register_step(op, state, &unchanged);
}

size_t lin_ops_from_history(const history *h, lin_op **ops, size_t *left_out)
{
    lin_op *kept = checker_realloc(NULL, h->op_count, sizeof *kept);
    size_t count = 0;
    for (size_t i = 0; i < h->op_count; i++) {
        const history_op *op = &h->ops[i];
        lin_op model = {
            .key_id = op->key_id,
            .value_id = op->value_id,
            .cas_from_id = op->cas_from_id,
            .invoke_us = op->invoke_us,
            .complete_us = op->complete_us,
            .source = op,
        };
        if (history_is_read(op->fn)) {
            bool observed_absent =
                op->outcome == HISTORY_FAIL && op->error_code == HISTORY_ERROR_KEY_ABSENT;
            if (!(op->outcome == HISTORY_OK || observed_absent)) continue;
            if (!history_claims_linearizable(op)) continue;
            model.kind = LIN_READ;
            if (observed_absent) model.value_id = HISTORY_ABSENT;
        } else if (op->fn == HISTORY_CAS && op->outcome == HISTORY_FAIL) {
            /* Knossos and Porcupine drop failed ops; a refusal is evidence, so it is judged. */
            if (op->error_code == HISTORY_ERROR_KEY_ABSENT) {
                model.kind = LIN_READ;
                model.value_id = HISTORY_ABSENT;
            } else if (op->error_code == HISTORY_ERROR_PRECONDITION_FAILED) {
                model.kind = LIN_CAS_REFUSED;
            } else {
                continue; /* not done, and nothing observed */
            }
        } else {
            if (op->outcome == HISTORY_FAIL) continue;
            model.kind = op->fn == HISTORY_WRITE ? LIN_WRITE : LIN_CAS;
            model.may_never_happen = op->outcome == HISTORY_INFO;
            if (model.may_never_happen) model.complete_us = INT64_MAX;
        }
        kept[count++] = model;
    }
    *left_out = h->op_count - count;
    *ops = kept;
    return count;
}

/* ---- Pruning ------------------------------------------------------------------------------
 * An info write whose value no op observes (no read returns it, no cas requires it) can be
 * left out: in any valid order, the ops after it up to the next write neither see its value
 * nor need it, so removing it keeps the order valid; and leaving it out is always allowed,
 * since it may never have happened. Timeouts during a partition produce many such writes, and
 * each one kept doubles the configurations a failing search must rule out. Leaving out an info
 * cas removes its requirement of `from`, which may free another info write: repeat.
 * A refused cas (22) breaks that argument: it needs "anything but `from`", which the info
 * write's value may be the only way to give it. So an info write is kept when a refusal could
 * come after it (the last refusal completed no earlier than the write was invoked). */
static size_t prune_unobserved(const lin_op *ops, size_t count, bool *keep)
{
    int max_value = 0;
    int64_t last_refusal_us = INT64_MIN;
    for (size_t i = 0; i < count; i++) {
        if (ops[i].kind == LIN_CAS_REFUSED && ops[i].complete_us > last_refusal_us)
            last_refusal_us = ops[i].complete_us;
        if (ops[i].value_id > max_value) max_value = ops[i].value_id;
        if (ops[i].cas_from_id > max_value) max_value = ops[i].cas_from_id;
    }
    size_t *observers = checker_realloc(NULL, (size_t)max_value + 1, sizeof *observers);
    memset(observers, 0, ((size_t)max_value + 1) * sizeof *observers);
    for (size_t i = 0; i < count; i++) {
        keep[i] = true;
        if (ops[i].kind == LIN_READ && ops[i].value_id != HISTORY_ABSENT)
            observers[ops[i].value_id]++;
        if (ops[i].kind == LIN_CAS) observers[ops[i].cas_from_id]++;
    }
    size_t pruned = 0;
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < count; i++) {
            if (!keep[i] || !ops[i].may_never_happen || observers[ops[i].value_id] != 0) continue;
            if (last_refusal_us >= ops[i].invoke_us) continue;
            keep[i] = false;
            pruned++;
            changed = true;
            if (ops[i].kind == LIN_CAS) observers[ops[i].cas_from_id]--;
        }
    }
    free(observers);
    return pruned;
}

/* ---- The search ----------------------------------------------------------------------------
 * Wing & Gong walk a doubly linked list of call and return events in time order. Linearizing
 * an op "lifts" its call and return out of the list, so the list always holds the ops not yet
 * placed; unlifting puts them back exactly where they were (the list remembers, as in Knuth's
 * dancing links), which makes backtracking O(1). Only calls that come before the first
 * remaining return can go next: that return's op must take effect before it returns, so
 * ops invoked later cannot precede it. */

typedef struct event {
    struct event *prev, *next;
    struct event *match; /* call <-> return */
    uint32_t op;         /* bit index: ops are numbered in return order */
    bool is_return;
    int64_t time_us;
} event;

static int compare_events(const void *a, const void *b)
{
    const event *x = a, *y = b;
    if (x->time_us != y->time_us) return x->time_us < y->time_us ? -1 : 1;
    /* A call at the instant of another op's return counts as concurrent with it: real time
     * orders two ops only when one returned strictly before the other was invoked. */
    if (x->is_return != y->is_return) return x->is_return ? 1 : -1;
    return x->op < y->op ? -1 : x->op > y->op;
}

static int compare_by_return(const void *a, const void *b)
{
    const lin_op *x = *(const lin_op *const *)a, *y = *(const lin_op *const *)b;
    if (x->complete_us != y->complete_us) return x->complete_us < y->complete_us ? -1 : 1;
    if (x->invoke_us != y->invoke_us) return x->invoke_us < y->invoke_us ? -1 : 1;
    return x->source < y->source ? -1 : x->source > y->source;
}

static void lift(event *call)
{
    event *ret = call->match;
    call->prev->next = call->next;
    if (call->next != NULL) call->next->prev = call->prev;
    ret->prev->next = ret->next;
    if (ret->next != NULL) ret->next->prev = ret->prev;
}

static void unlift(event *call)
{
    event *ret = call->match; /* reverse order of lift */
    ret->prev->next = ret;
    if (ret->next != NULL) ret->next->prev = ret;
    call->prev->next = call;
    if (call->next != NULL) call->next->prev = call;
}

/* A configuration on the search stack: how we got here, and which next ops remain to try. */
typedef struct {
    size_t first_candidate, next_candidate, end_candidate; /* into search.candidates */
    int via_op;      /* the op linearized to reach it; -1 at the root */
    int prior_state; /* the register before via_op */
} frame;

typedef struct {
    const lin_op **ops; /* bit index -> op */
    size_t count;
    event head;      /* sentinel */
    event **call_of; /* bit index -> its call event */
    uint64_t *linearized;
    uint64_t *zobrist; /* bit index -> random word; XOR over the set = the set's hash */
    uint64_t set_hash;
    uint32_t *candidates;
    size_t candidate_count, candidate_capacity;
    frame *frames;
    size_t depth; /* frames in use - 1 = ops linearized */
} search;

static void push_candidate(search *s, uint32_t op)
{
    if (s->candidate_count == s->candidate_capacity) {
        s->candidate_capacity = 2 * s->candidate_capacity + 64;
        s->candidates =
            checker_realloc(s->candidates, s->candidate_capacity, sizeof *s->candidates);
    }
    s->candidates[s->candidate_count++] = op;
}

typedef enum {
    NOTHING_LEFT, /* every op left may never happen: the order found is complete */
    BRANCH,       /* several ops may go next: try each */
    FORCED,       /* one op may go first without loss of generality: try only it */
} next_ops;

/* Pushes the ops that may go next onto the candidate stack, the op of the first return first:
 * it must be placed before anything invoked after that return, and trying it first finds the
 * order a correct system produced almost without backtracking (in the spirit of Lowe's
 * just-in-time linearization: place nothing before something needs it).
 *
 * One reduction specific to registers: a pending read that returned the current value can go
 * first. Moving a read earlier changes no state; every op it jumps over is unplaced, so its
 * return comes after this read's call and real time still holds. So if any order completes
 * this configuration, one starting with that read does, and it need not branch. Without this,
 * the search tries every subset of the concurrent reads of the current value before the write
 * the first return needs: exponential in the concurrency on one key. The same holds for a
 * refused cas whose observation is true of the current value. */
static next_ops push_candidates(search *s, int state)
{
    size_t first = s->candidate_count;
    const event *e = s->head.next;
    for (; e != NULL && !e->is_return; e = e->next) {
        const lin_op *op = s->ops[e->op];
        if (observes_now(op, state)) {
            s->candidate_count = first;
            push_candidate(s, e->op);
            return FORCED;
        }
        push_candidate(s, e->op);
    }
    if (e == NULL || s->ops[e->op]->may_never_happen) return NOTHING_LEFT;
    /* Order: the first return's op, then (if it is a read) the ops that set the value it
     * read, then the rest. Any order is complete; this one is usually right first time. */
    const lin_op *needed = s->ops[e->op];
    size_t placed = first;
    for (size_t i = first; i < s->candidate_count; i++) {
        if (s->candidates[i] != e->op) continue;
        s->candidates[i] = s->candidates[placed];
        s->candidates[placed++] = e->op;
        break;
    }
    for (size_t i = placed; i < s->candidate_count && needed->kind == LIN_READ; i++) {
        const lin_op *op = s->ops[s->candidates[i]];
        if (!(op->kind == LIN_WRITE || op->kind == LIN_CAS) || op->value_id != needed->value_id)
            continue;
        uint32_t swap = s->candidates[i];
        s->candidates[i] = s->candidates[placed];
        s->candidates[placed++] = swap;
    }
    return BRANCH;
}

static void flip(search *s, uint32_t op)
{
    s->linearized[op / 64] ^= (uint64_t)1 << (op % 64);
    s->set_hash ^= s->zobrist[op];
}

static void remember_deepest(search *s, int state, lin_key_result *r)
{
    if (r->stuck_op != NULL && s->depth <= r->best_depth) return;
    const frame *f = &s->frames[s->depth];
    r->best_depth = s->depth;
    r->best_state = state;
    r->stuck_op = s->ops[s->candidates[f->first_candidate]]->source;
    r->pending_count = f->end_candidate - f->first_candidate - 1;
    r->pending = checker_realloc(r->pending, r->pending_count + 1, sizeof *r->pending);
    for (size_t i = 0; i < r->pending_count; i++)
        r->pending[i] = s->ops[s->candidates[f->first_candidate + 1 + i]]->source;
}

/* Enters the configuration just reached: lists what may come next. False when the order is
 * complete. */
static bool enter(search *s, int state, lin_key_result *r)
{
    next_ops next = push_candidates(s, state);
    s->frames[s->depth].end_candidate = s->candidate_count;
    if (next == BRANCH) remember_deepest(s, state, r);
    return next != NOTHING_LEFT;
}

static lin_verdict run_search(search *s, size_t budget, lin_key_result *r)
{
    memo seen;
    memo_init(&seen, s->count);
    int state = HISTORY_ABSENT;
    lin_verdict verdict = LIN_LINEARIZABLE;
    s->depth = 0;
    s->frames[0] = (frame){.via_op = -1};
    bool open = enter(s, state, r);
    while (open) {
        frame *f = &s->frames[s->depth];
        if (f->next_candidate == f->end_candidate) {
            /* Nothing can follow this configuration: undo the step that led to it. */
            if (f->via_op < 0) { /* the root: no order exists */
                verdict = LIN_VIOLATION;
                break;
            }
            s->candidate_count = f->first_candidate;
            unlift(s->call_of[f->via_op]);
            flip(s, (uint32_t)f->via_op);
            state = f->prior_state;
            s->depth--;
            continue;
        }
        uint32_t op = s->candidates[f->next_candidate++];
        int next_state;
        if (!register_step(s->ops[op], state, &next_state)) continue;
        flip(s, op);
        if (!memo_insert(&seen, s->linearized, s->set_hash, next_state)) {
            flip(s, op); /* explored before, from another order: it led nowhere */
            continue;
        }
        if (seen.count > budget) {
            verdict = LIN_OUT_OF_BUDGET;
            break;
        }
        lift(s->call_of[op]);
        s->depth++;
        s->frames[s->depth] = (frame){
            .first_candidate = s->candidate_count,
            .next_candidate = s->candidate_count,
            .via_op = (int)op,
            .prior_state = state,
        };
        state = next_state;
        open = enter(s, state, r);
    }
    r->configurations = seen.count;
    memo_free(&seen);
    return verdict;
}

void lin_check_key(const lin_op *ops, size_t count, size_t budget, lin_key_result *r)
{
    memset(r, 0, sizeof *r);
    bool *keep = checker_realloc(NULL, count, sizeof *keep);
    r->pruned = prune_unobserved(ops, count, keep);

    search s = {0};
    s.ops = checker_realloc(NULL, count, sizeof *s.ops);
    for (size_t i = 0; i < count; i++)
        if (keep[i]) s.ops[s.count++] = &ops[i];
    free(keep);
    /* Numbering ops in return order (info ops last) keeps linearized sets compressible. */
    qsort(s.ops, s.count, sizeof *s.ops, compare_by_return);

    event *events = checker_realloc(NULL, 2 * s.count, sizeof *events);
    for (uint32_t i = 0; i < s.count; i++) {
        events[2 * i] = (event){.op = i, .time_us = s.ops[i]->invoke_us};
        events[2 * i + 1] = (event){.op = i, .is_return = true, .time_us = s.ops[i]->complete_us};
    }
    qsort(events, 2 * s.count, sizeof *events, compare_events);
    s.call_of = checker_realloc(NULL, s.count, sizeof *s.call_of);
    event **return_of = checker_realloc(NULL, s.count, sizeof *return_of);
    event *prev = &s.head;
    for (size_t i = 0; i < 2 * s.count; i++) {
        event *e = &events[i];
        e->prev = prev;
        prev->next = e;
        prev = e;
        if (e->is_return)
            return_of[e->op] = e;
        else
            s.call_of[e->op] = e;
    }
    for (size_t i = 0; i < s.count; i++) {
        s.call_of[i]->match = return_of[i];
        return_of[i]->match = s.call_of[i];
    }
    free(return_of);

    size_t words = s.count / 64 + 1;
    s.linearized = checker_realloc(NULL, words, sizeof *s.linearized);
    memset(s.linearized, 0, words * sizeof *s.linearized);
    s.zobrist = checker_realloc(NULL, s.count + 1, sizeof *s.zobrist);
    uint64_t seed = 0x2545f4914f6cdd1dULL;
    for (size_t i = 0; i < s.count; i++) {
        seed += 0x9e3779b97f4a7c15ULL; /* splitmix64: fixed seed, so runs are reproducible */
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        s.zobrist[i] = z ^ (z >> 31);
    }
    s.frames = checker_realloc(NULL, s.count + 1, sizeof *s.frames);

    r->verdict = run_search(&s, budget, r);

    free(s.frames);
    free(s.zobrist);
    free(s.linearized);
    free(s.candidates);
    free(s.call_of);
    free(events);
    free(s.ops);
}

void lin_key_result_free(lin_key_result *r)
{
    free(r->pending);
    r->pending = NULL;
}

/* ---- Brute force ---------------------------------------------------------------------------
 * The definition of linearizability, executed literally: some subset of the info ops together
 * with every other op, in some total order that respects real time (an op that returned before
 * another was invoked comes first), is a valid sequential run of the map. No pruning, no
 * memo, no per-key split, so it shares none of the search's shortcuts. */

static bool next_permutation(size_t *items, size_t count)
{
    if (count < 2) return false;
    size_t i = count - 1;
    while (i > 0 && items[i - 1] >= items[i])
        i--;
    if (i == 0) return false;
    size_t j = count - 1;
    while (items[j] <= items[i - 1])
        j--;
    size_t swap = items[i - 1];
    items[i - 1] = items[j];
    items[j] = swap;
    for (size_t a = i, b = count - 1; a < b; a++, b--) {
        swap = items[a];
        items[a] = items[b];
        items[b] = swap;
    }
    return true;
}

static bool order_is_valid(const lin_op *ops, const size_t *order, size_t count, int *map,
                           size_t key_count)
{
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (ops[order[j]].complete_us < ops[order[i]].invoke_us) return false;
    for (size_t k = 0; k < key_count; k++)
        map[k] = HISTORY_ABSENT;
    for (size_t i = 0; i < count; i++) {
        const lin_op *op = &ops[order[i]];
        if (!register_step(op, map[op->key_id], &map[op->key_id])) return false;
    }
    return true;
}

lin_verdict lin_brute_force(const lin_op *ops, size_t count, size_t key_count)
{
    size_t info_ops[LIN_BRUTE_FORCE_MAX_OPS], info_count = 0;
    for (size_t i = 0; i < count; i++)
        if (ops[i].may_never_happen) info_ops[info_count++] = i;
    int *map = checker_realloc(NULL, key_count + 1, sizeof *map);
    lin_verdict verdict = LIN_VIOLATION;
    for (size_t subset = 0; subset < ((size_t)1 << info_count) && verdict == LIN_VIOLATION;
         subset++) {
        size_t order[LIN_BRUTE_FORCE_MAX_OPS], chosen = 0;
        for (size_t i = 0, next_info = 0; i < count; i++) {
            if (next_info < info_count && info_ops[next_info] == i) {
                if (subset & ((size_t)1 << next_info++)) order[chosen++] = i;
                continue;
            }
            order[chosen++] = i;
        }
        do {
            if (order_is_valid(ops, order, chosen, map, key_count)) verdict = LIN_LINEARIZABLE;
        } while (verdict == LIN_VIOLATION && next_permutation(order, chosen));
    }
    free(map);
    return verdict;
}
