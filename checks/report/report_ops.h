/* report_ops: a history (checks/harness/README.md, "History format") as the ops a report
 * draws, each invoke paired with its completion. */
#ifndef REPORT_OPS_H
#define REPORT_OPS_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    /* One object per op, in invoke order: {p, f, node, by, t0, t1, type, lines: [A, B],
     * req, rep}. by is the node that served it (the reply's served_by, else the node
     * asked); t1 and rep are null for an op the history never completed (then type is
     * "info" and open is true, as a checker reads it). */
    cJSON *ops;
    long *op_by_line; /* history line (1-based) -> op index, or -1 */
    long line_count, line_cap;
    long bad_lines; /* not a JSON object with time_us, process and type: skipped */
    int64_t last_us;
    bool has_follower_read, has_ryw_read;
} report_ops;

/* Returns 0, or -1 with a message in err. */
int report_ops_read(report_ops *r, const char *path, char *err, size_t err_size);
void report_ops_free(report_ops *r);

#endif
