/* check-linearizable: is a client history of the KV store linearizable?
 *
 *   check-linearizable [--budget N] [--brute-force] [FILE]
 *
 * Judges read, write, cas (refused ones too) and every read whose reply says linearizable:true
 * (wgl.h explains the search). Prints one verdict line, which says "judged N ops"; on an
 * anomaly, the ops where the search got stuck. Exit 0 linearizable, 1 not, 2 bad input,
 * 3 unknown (a key's search exceeded --budget), 4 nothing to judge. */
#include "checker.h"
#include "history.h"
#include "wgl.h"

#include <stdlib.h>
#include <string.h>

/* Configurations per key. A correct 10,000-op history needs about one per op; this leaves room
 * for heavy concurrency and info ops while bounding memory to a few hundred MB. */
#define DEFAULT_BUDGET 4000000

static void explain_violation(const history *h, const lin_op *key_ops, const lin_key_result *r)
{
    char *key = cJSON_PrintUnformatted(history_key(h, key_ops[0].key_id));
    printf("  key %s: the longest valid order places %zu ops; the register then holds ", key,
           r->best_depth);
    free(key);
    history_print_value(stdout, h, r->best_state);
    printf(",\n  and this op, which must take effect before it returns, cannot come next:\n");
    history_print_op(stdout, h, r->stuck_op);
    if (r->stuck_op->fn == HISTORY_CAS && r->stuck_op->outcome == HISTORY_FAIL)
        printf("  (a refused cas observed the register: error 22 says it held a value other than "
               "`from`, error 20 that the key was absent, at some moment inside its interval)\n");
    if (r->pending_count == 0) return;
    printf("  nor can any of the ops that could have gone before it help:\n");
    for (size_t i = 0; i < r->pending_count; i++)
        history_print_op(stdout, h, r->pending[i]);
}

#define USAGE "usage: check-linearizable [--budget N] [--brute-force] [FILE]\n"

static int usage(void)
{
    printf("bad input: " USAGE);
    return CHECKER_BAD_INPUT;
}

static int help(void)
{
    printf(USAGE "Is the history (FILE, or stdin) linearizable? Judges read, write, cas (a cas\n"
                 "refused with 20 or 22 too) and every read whose reply says linearizable:true.\n"
                 "  --budget N     configurations explored per key before giving up (%d)\n"
                 "  --brute-force  try every order instead (at most %d judged ops)\n"
                 "Prints a verdict line that says \"judged N ops\". Exit 0 linearizable, 1 not,\n"
                 "2 bad input, 3 unknown (out of budget), 4 nothing to judge.\n",
           DEFAULT_BUDGET, LIN_BRUTE_FORCE_MAX_OPS);
    return CHECKER_OK;
}

/* A history with no op to judge proves nothing: saying "linearizable" would pass it. */
static int nothing_judged(const history *h)
{
    printf("nothing to judge: " CHECKER_JUDGED " of %zu (no read, write or cas that completed or "
           "may have taken effect, and no read that says linearizable:true)\n",
           (size_t)0, h->op_count);
    return CHECKER_NOTHING_JUDGED;
}

/* Reference mode for the randomized test: the same history, judged by trying every order. */
static int brute_force(const history *h, const lin_op *ops, size_t count)
{
    if (count > LIN_BRUTE_FORCE_MAX_OPS) {
        printf("bad input: --brute-force takes at most %d judged ops; this history has %zu\n",
               LIN_BRUTE_FORCE_MAX_OPS, count);
        return CHECKER_BAD_INPUT;
    }
    if (lin_brute_force(ops, count, h->key_count) == LIN_LINEARIZABLE) {
        printf("linearizable (brute force): " CHECKER_JUDGED "\n", count);
        return CHECKER_OK;
    }
    printf("NOT linearizable (brute force: no order works): " CHECKER_JUDGED "\n", count);
    return CHECKER_ANOMALY;
}

static int check_by_key(const history *h, lin_op *ops, size_t count, size_t left_out, size_t budget)
{
    /* Group the ops by key, keeping each key's ops in invoke order (a counting sort). */
    size_t *key_start = checker_realloc(NULL, h->key_count + 1, sizeof *key_start);
    memset(key_start, 0, (h->key_count + 1) * sizeof *key_start);
    for (size_t i = 0; i < count; i++)
        key_start[ops[i].key_id + 1]++;
    for (size_t k = 0; k < h->key_count; k++)
        key_start[k + 1] += key_start[k];
    lin_op *by_key = checker_realloc(NULL, count + 1, sizeof *by_key);
    size_t *fill = checker_realloc(NULL, h->key_count + 1, sizeof *fill);
    memcpy(fill, key_start, (h->key_count + 1) * sizeof *fill);
    for (size_t i = 0; i < count; i++)
        by_key[fill[ops[i].key_id]++] = ops[i];
    free(fill);

    lin_key_result *results = checker_realloc(NULL, h->key_count + 1, sizeof *results);
    size_t violations = 0, out_of_budget = 0, configurations = 0, pruned = 0;
    for (size_t k = 0; k < h->key_count; k++) {
        lin_key_result *r = &results[k];
        lin_check_key(by_key + key_start[k], key_start[k + 1] - key_start[k], budget, r);
        configurations += r->configurations;
        pruned += r->pruned;
        violations += r->verdict == LIN_VIOLATION;
        out_of_budget += r->verdict == LIN_OUT_OF_BUDGET;
    }

    int status;
    if (violations > 0) {
        printf("NOT linearizable: %zu of %zu keys have no valid order; " CHECKER_JUDGED "\n",
               violations, h->key_count, count);
        for (size_t k = 0; k < h->key_count; k++)
            if (results[k].verdict == LIN_VIOLATION)
                explain_violation(h, by_key + key_start[k], &results[k]);
        status = CHECKER_ANOMALY;
    } else if (out_of_budget > 0) {
        printf("unknown: %zu of %zu keys exceeded the budget of %zu configurations "
               "each; " CHECKER_JUDGED "\n",
               out_of_budget, h->key_count, budget, count);
        status = CHECKER_UNKNOWN;
    } else {
        printf("linearizable: " CHECKER_JUDGED " on %zu keys (set aside %zu info writes nobody "
               "saw); skipped %zu of the %zu (failed, info reads, linearizable:false reads); "
               "%zu configurations explored\n",
               count, h->key_count, pruned, left_out, h->op_count, configurations);
        status = CHECKER_OK;
    }
    for (size_t k = 0; k < h->key_count; k++)
        lin_key_result_free(&results[k]);
    free(results);
    free(by_key);
    free(key_start);
    return status;
}

int main(int argc, char **argv)
{
    size_t budget = DEFAULT_BUDGET;
    bool use_brute_force = false;
    const char *path = NULL;
    if (checker_wants_help(argc, argv)) return help();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--budget") == 0 && i + 1 < argc) {
            char *end;
            unsigned long long parsed = strtoull(argv[++i], &end, 10);
            if (*end != '\0' || parsed == 0) return usage();
            budget = (size_t)parsed;
        } else if (strcmp(argv[i], "--brute-force") == 0) {
            use_brute_force = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage();
        } else if (path == NULL) {
            path = argv[i];
        } else {
            return usage();
        }
    }
    FILE *in = checker_open_input(path);
    if (in == NULL) return CHECKER_BAD_INPUT;
    history h;
    int status;
    if (history_load(in, &h) != 0) {
        printf("bad input: %s\n", h.error);
        status = CHECKER_BAD_INPUT;
    } else {
        lin_op *ops;
        size_t left_out;
        size_t count = lin_ops_from_history(&h, &ops, &left_out);
        status = count == 0        ? nothing_judged(&h)
                 : use_brute_force ? brute_force(&h, ops, count)
                                   : check_by_key(&h, ops, count, left_out, budget);
        free(ops);
    }
    history_free(&h);
    if (in != stdin) fclose(in);
    return status;
}
