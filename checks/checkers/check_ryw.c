/* check-ryw: does every session read its own writes?
 *
 *   check-ryw [FILE]
 *
 * A process's ryw_read must not return a state older than that process's last acknowledged
 * (ok) write or cas to the key. "Older" needs care when the value came from someone else's
 * write: any write that could be ordered after our own is fine, and a write W2 can be ordered
 * after our write W unless W2 completed before W was invoked. So the read is flagged iff
 *   - it returned absent although the process has an acknowledged write to the key; or
 *   - it returned neither our value nor the value of any write that had not completed before
 *     our write began (an info write may take effect at any time, so it always qualifies).
 * This is sound: a correct store never flags. It cannot see a read that returned a value
 * the process overwrote itself when another process wrote the same value again later; unique
 * values (which the runner uses) rule that out. Also flagged, as a sanity check: a value that
 * no write could have produced before the read completed.
 * The verdict line says "judged N ops". Exit 0 no anomaly, 1 anomaly, 2 bad input, 4 nothing
 * to judge (no ryw_read after an acknowledged write of its session). */
#include "checker.h"
#include "history.h"

#include <stdlib.h>
#include <string.h>

#define ANOMALIES_SHOWN 20

typedef struct {
    bool never_written; /* else: older than the session's own write */
    const history_op *read, *own_write;
} ryw_anomaly;

typedef struct {
    size_t judged, before_any_own_write;
    ryw_anomaly *anomalies;
    size_t anomaly_count;
} ryw_report;

static void judge(ryw_report *r, const history *h, const history_op *read,
                  const history_op *own_write)
{
    bool found_absent =
        read->outcome == HISTORY_FAIL && read->error_code == HISTORY_ERROR_KEY_ABSENT;
    if (read->outcome != HISTORY_OK && !found_absent) return;
    if (own_write == NULL) {
        r->before_any_own_write++;
        return;
    }
    r->judged++;
    int value_id = found_absent ? HISTORY_ABSENT : read->value_id;
    if (value_id == own_write->value_id) return;
    ryw_anomaly a = {.read = read, .own_write = own_write};
    bool written;
    int64_t written_done_us =
        history_value_written_by(h, read->key_id, value_id, read->complete_us, &written);
    if (!written && value_id != HISTORY_ABSENT) {
        a.never_written = true;
    } else if (written_done_us >= own_write->invoke_us) {
        return; /* some write of that value may be ordered after ours */
    }
    r->anomalies = checker_realloc(r->anomalies, r->anomaly_count + 1, sizeof *r->anomalies);
    r->anomalies[r->anomaly_count++] = a;
}

/* Walks each process's ops in order, remembering its last acknowledged write per key. */
static void check_sessions(ryw_report *r, const history *h)
{
    size_t *start = checker_realloc(NULL, h->process_count + 1, sizeof *start);
    memset(start, 0, (h->process_count + 1) * sizeof *start);
    for (size_t i = 0; i < h->op_count; i++)
        start[h->ops[i].process_id + 1]++;
    for (size_t p = 0; p < h->process_count; p++)
        start[p + 1] += start[p];
    const history_op **by_process = checker_realloc(NULL, h->op_count, sizeof *by_process);
    size_t *fill = checker_realloc(NULL, h->process_count + 1, sizeof *fill);
    memcpy(fill, start, (h->process_count + 1) * sizeof *fill);
    for (size_t i = 0; i < h->op_count; i++)
        by_process[fill[h->ops[i].process_id]++] = &h->ops[i];
    free(fill);

    const history_op **last_ack = checker_realloc(NULL, h->key_count, sizeof *last_ack);
    memset(last_ack, 0, h->key_count * sizeof *last_ack);
    for (size_t p = 0; p < h->process_count; p++) {
        for (size_t i = start[p]; i < start[p + 1]; i++) {
            const history_op *op = by_process[i];
            if (op->fn == HISTORY_RYW_READ) judge(r, h, op, last_ack[op->key_id]);
            if (!history_is_read(op->fn) && op->outcome == HISTORY_OK) last_ack[op->key_id] = op;
        }
        for (size_t i = start[p]; i < start[p + 1]; i++)
            last_ack[by_process[i]->key_id] = NULL;
    }
    free(last_ack);
    free(by_process);
    free(start);
}

/* The write of the returned value that completed last: all of them were too early. */
static const history_op *newest_writer_of(const history *h, const history_op *read)
{
    const history_op *const *writers;
    size_t count = history_writers(h, read->key_id, &writers);
    const history_op *newest = NULL;
    for (size_t i = 0; i < count; i++)
        if (writers[i]->value_id == read->value_id &&
            (newest == NULL || writers[i]->complete_us > newest->complete_us))
            newest = writers[i];
    return newest;
}

static void explain(const history *h, const ryw_anomaly *a)
{
    bool found_absent = a->read->outcome != HISTORY_OK;
    char *key = cJSON_PrintUnformatted(history_key(h, a->read->key_id));
    printf("  ryw_read of key %s returned ", key);
    free(key);
    history_print_value(stdout, h, found_absent ? HISTORY_ABSENT : a->read->value_id);
    if (a->never_written)
        printf(", a value no write had begun to write by the time the read completed:\n");
    else
        printf(", older than the session's own acknowledged write:\n");
    history_print_op(stdout, h, a->read);
    printf("  the session's last acknowledged write to the key:\n");
    history_print_op(stdout, h, a->own_write);
    const history_op *source = found_absent ? NULL : newest_writer_of(h, a->read);
    if (source != NULL && !a->never_written) {
        printf("  the latest write of the returned value, completed before that one began:\n");
        history_print_op(stdout, h, source);
    }
}

#define USAGE "usage: check-ryw [FILE]\n"

int main(int argc, char **argv)
{
    if (checker_wants_help(argc, argv)) {
        printf(USAGE "Does every ryw_read return a state no older than its session's last\n"
                     "acknowledged write to the key? Reads FILE, or stdin.\n"
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
    int status;
    ryw_report r = {0};
    if (history_load(in, &h) != 0) {
        printf("bad input: %s\n", h.error);
        status = CHECKER_BAD_INPUT;
    } else {
        check_sessions(&r, &h);
        printf("%s: " CHECKER_JUDGED " (ryw_reads after an acknowledged write of their "
               "session), %zu return a state older than the session's own write (%zu came before "
               "any acknowledged write of theirs)\n",
               r.anomaly_count ? "read-your-writes VIOLATED"
               : r.judged      ? "read-your-writes holds"
                               : "nothing to judge",
               r.judged, r.anomaly_count, r.before_any_own_write);
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
