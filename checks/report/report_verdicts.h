/* report_verdicts: the checkers' verdicts on a history, verbatim, and the anomalies they
 * name, tied to the ops of the report.
 *
 * A checker prints a verdict line, then per anomaly a few explanation lines (indented
 * two spaces), each followed by the ops it means as "lines A..B: ..." (four spaces),
 * A and B being the history lines of the op's invoke and completion
 * (checks/checkers/README.md). That text is the interface: nothing else is assumed. */
#ifndef REPORT_VERDICTS_H
#define REPORT_VERDICTS_H

#include "report_ops.h"

#include <cJSON.h>

typedef struct {
    /* [{name, program, exit, verdict, text}]: verdict is "no anomaly", "ANOMALY", "bad
     * input", "unknown" or "not run: ..." */
    cJSON *checkers;
    /* [{checker, text, ops: [op index], lines: [[A, B]], from_us, to_us}], one per anomaly;
     * each op named also gets "anomaly": [anomaly index] in ops. */
    cJSON *anomalies;
} report_verdicts;

/* Runs checks/checkers' programs from checkers_dir on history_path: check-linearizable
 * always, check-staleness when there are follower_reads, check-ryw when there are
 * ryw_reads. Returns 0, or -1 with a message in err when a checker cannot be run. */
int report_verdicts_run(report_verdicts *v, const char *checkers_dir, const char *history_path,
                        report_ops *ops, char *err, size_t err_size);
void report_verdicts_free(report_verdicts *v);

#endif
