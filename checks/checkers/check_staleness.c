/* check-staleness: did every follower_read honour the staleness it claimed?
 *
 *   check-staleness [FILE]
 *
 * A follower_read reply says how stale its state may be (actual_staleness_ms) and the bound
 * the client asked for (max_staleness_ms). The read is flagged iff
 *   - actual_staleness_ms > max_staleness_ms: the node broke the bound by its own account; or
 *   - it missed a write it had no excuse to miss: some write that began after the returned
 *     value's write completed had itself completed before invoke_time - actual_staleness.
 *     At that horizon the returned value was already overwritten, so the state served is
 *     older than claimed. The node takes its bound after the request arrives, so an honest
 *     node is never flagged.
 * The horizon is in real time, on the runner's clock (time_us), because the claim is a
 * bound in real time whatever the serving node's clock does. A node run with an injected
 * clock_rate gets no allowance here: it must make its own (stage 01's
 * --max-clock-drift-pct), and a slow clock that reports what it measured under-reports and
 * is flagged. The history's clock_rate is only printed.
 * A read that failed with error 20 (key absent) carries no reply fields in the runner's
 * history; it is held to max_staleness_ms, the bound it asked for, which an honest node's
 * actual staleness never exceeds. Also flagged, as a sanity check: a value that no write could have
 * produced before the read completed. Reads whose reply says linearizable:true are left to
 * check-linearizable. The verdict line says "judged N ops". Exit 0 no anomaly, 1 anomaly, 2 bad
 * input, 4 nothing to judge (no follower_read it could hold to a claim). */
#include "checker.h"
#include "history.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ANOMALIES_SHOWN 20

typedef enum {
    OVER_ITS_BOUND, /* actual_staleness_ms > max_staleness_ms */
    NEVER_WRITTEN,  /* no write of the value began before the read completed */
    MISSED_A_WRITE, /* a write completed before the horizon, after the value's write */
} staleness_anomaly_kind;

typedef struct {
    staleness_anomaly_kind kind;
    const history_op *read;
    const history_op *overwrite; /* MISSED_A_WRITE */
    double actual_ms, max_ms, bound_ms, clock_rate;
    bool bound_is_actual;
    int64_t horizon_us;
} staleness_anomaly;

typedef struct {
    size_t judged, left_to_linearizable, absent_without_bound;
    staleness_anomaly *anomalies;
    size_t anomaly_count;
} staleness_report;

/* 1 and the field's value in *out, 0 when the op has no such field, -1 when it is not a
 * number (bad input). */
static int number_field(const history_op *op, const char *name, double *out)
{
    const cJSON *field = history_field(op, name);
    if (field == NULL) return 0;
    if (!cJSON_IsNumber(field)) return -1;
    *out = field->valuedouble;
    return 1;
}

/* The earliest-completing ok write that began after `after_us` and completed before
 * `horizon_us`: proof the read's state is older than its horizon. NULL when there is none. */
static const history_op *overwrite_before(const history *h, int key_id, int64_t after_us,
                                          int64_t horizon_us)
{
    const history_op *const *writers;
    size_t count = history_writers(h, key_id, &writers);
    const history_op *earliest = NULL;
    for (size_t i = 0; i < count; i++) {
        const history_op *w = writers[i];
        /* An info write's completion is unknown, so it cannot prove anything was overwritten. */
        if (w->outcome != HISTORY_OK || w->invoke_us <= after_us || w->complete_us >= horizon_us)
            continue;
        if (earliest == NULL || w->complete_us < earliest->complete_us) earliest = w;
    }
    return earliest;
}

static void add_anomaly(staleness_report *r, staleness_anomaly a)
{
    r->anomalies = checker_realloc(r->anomalies, r->anomaly_count + 1, sizeof *r->anomalies);
    r->anomalies[r->anomaly_count++] = a;
}

/* Returns -1 on bad input (message printed), else 0. */
static int judge(staleness_report *r, const history *h, const history_op *read)
{
    bool found_absent =
        read->outcome == HISTORY_FAIL && read->error_code == HISTORY_ERROR_KEY_ABSENT;
    if (read->fn != HISTORY_FOLLOWER_READ) return 0;
    if (read->outcome != HISTORY_OK && !found_absent) return 0;
    if (history_claims_linearizable(read)) {
        r->left_to_linearizable++;
        return 0;
    }
    staleness_anomaly a = {.read = read, .clock_rate = 1};
    int has_actual = number_field(read, "actual_staleness_ms", &a.actual_ms);
    int has_max = number_field(read, "max_staleness_ms", &a.max_ms);
    int has_rate = number_field(read, "clock_rate", &a.clock_rate);
    long line = read->complete_line;
    if (has_actual < 0 || has_max < 0 || has_rate < 0 || a.clock_rate <= 0) {
        printf("bad input: line %ld: a staleness field or clock_rate is not a positive number\n",
               line);
        return -1;
    }
    if (read->outcome == HISTORY_OK && (!has_actual || !has_max)) {
        printf("bad input: line %ld: follower_read ok without actual_staleness_ms and "
               "max_staleness_ms\n",
               line);
        return -1;
    }
    if (!has_actual && !has_max) { /* an error reply may carry no bound: nothing to hold it to */
        r->absent_without_bound++;
        return 0;
    }
    r->judged++;
    a.bound_is_actual = has_actual;
    a.bound_ms = has_actual ? a.actual_ms : a.max_ms;
    if (has_actual && has_max && a.actual_ms > a.max_ms) {
        a.kind = OVER_ITS_BOUND;
        add_anomaly(r, a);
        return 0;
    }
    bool written;
    int64_t written_done_us =
        history_value_written_by(h, read->key_id, found_absent ? HISTORY_ABSENT : read->value_id,
                                 read->complete_us, &written);
    if (!written) {
        a.kind = NEVER_WRITTEN;
        add_anomaly(r, a);
        return 0;
    }
    a.horizon_us = read->invoke_us - (int64_t)(a.bound_ms * 1000.0);
    a.overwrite = overwrite_before(h, read->key_id, written_done_us, a.horizon_us);
    if (a.overwrite != NULL) {
        a.kind = MISSED_A_WRITE;
        add_anomaly(r, a);
    }
    return 0;
}

static void explain(const history *h, const staleness_anomaly *a)
{
    char *key = cJSON_PrintUnformatted(history_key(h, a->read->key_id));
    printf("  follower_read of key %s returned ", key);
    free(key);
    history_print_value(stdout, h,
                        a->read->outcome == HISTORY_OK ? a->read->value_id : HISTORY_ABSENT);
    switch (a->kind) {
    case OVER_ITS_BOUND:
        printf(", and its reply says actual_staleness_ms %g > max_staleness_ms %g:\n", a->actual_ms,
               a->max_ms);
        history_print_op(stdout, h, a->read);
        break;
    case NEVER_WRITTEN:
        printf(", a value no write had begun to write by the time the read completed:\n");
        history_print_op(stdout, h, a->read);
        break;
    case MISSED_A_WRITE:
        printf(", claiming to be fresh as of %" PRId64 " us = invoke %" PRId64 " us - %s %g ms",
               a->horizon_us, a->read->invoke_us,
               a->bound_is_actual ? "actual_staleness" : "max_staleness", a->bound_ms);
        if (a->clock_rate != 1)
            printf(" (real time; the serving node's clock runs at rate %g)", a->clock_rate);
        printf(":\n");
        history_print_op(stdout, h, a->read);
        if (a->read->outcome == HISTORY_OK)
            printf("  but by then this write, begun after every write of that value had "
                   "completed, had completed:\n");
        else
            printf("  but by then this write had completed:\n");
        history_print_op(stdout, h, a->overwrite);
        break;
    }
}

#define USAGE "usage: check-staleness [FILE]\n"

int main(int argc, char **argv)
{
    if (checker_wants_help(argc, argv)) {
        printf(USAGE
               "Did every follower_read that says linearizable:false honour the staleness it\n"
               "claimed (actual_staleness_ms, max_staleness_ms)? Reads FILE, or stdin.\n"
               "Prints a verdict line that says \"judged N ops\". Exit 0 no anomaly,\n"
               "1 anomaly, 2 bad input, 4 nothing to judge.\n");
        return CHECKER_OK;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-' && argv[1][1] != '\0')) {
        printf("bad input: " USAGE);
        return CHECKER_BAD_INPUT;
    }
    FILE *in = checker_open_input(argc == 2 ? argv[1] : NULL);
    if (in == NULL) return CHECKER_BAD_INPUT;
    history h;
    int status = CHECKER_OK;
    staleness_report r = {0};
    if (history_load(in, &h) != 0) {
        printf("bad input: %s\n", h.error);
        status = CHECKER_BAD_INPUT;
    }
    for (size_t i = 0; status == CHECKER_OK && i < h.op_count; i++)
        if (judge(&r, &h, &h.ops[i]) != 0) status = CHECKER_BAD_INPUT;
    if (status == CHECKER_OK) {
        printf("%s: " CHECKER_JUDGED " (follower_reads that say linearizable:false), %zu break "
               "their staleness claim (%zu linearizable:true left to check-linearizable, %zu "
               "absent reads with no bound not judged)\n",
               r.anomaly_count ? "bounded staleness VIOLATED"
               : r.judged      ? "bounded staleness holds"
                               : "nothing to judge",
               r.judged, r.anomaly_count, r.left_to_linearizable, r.absent_without_bound);
        for (size_t i = 0; i < r.anomaly_count && i < ANOMALIES_SHOWN; i++)
            explain(&h, &r.anomalies[i]);
        if (r.anomaly_count > ANOMALIES_SHOWN)
            printf("  ... and %zu more\n", r.anomaly_count - ANOMALIES_SHOWN);
        status = r.anomaly_count ? CHECKER_ANOMALY : r.judged ? CHECKER_OK : CHECKER_NOTHING_JUDGED;
    }
    free(r.anomalies);
    history_free(&h);
    if (in != stdin) fclose(in);
    return status;
}
