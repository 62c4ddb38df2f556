/* history: the run as the checkers see it, one JSON object per line.
 *
 * Every client op is an "invoke" entry when its request is sent and exactly one
 * completion when it ends: "ok", "fail" (a definite error: the op did not happen) or
 * "info" (unknown: a timeout or an indefinite error, so it may or may not have taken
 * effect). Entries carry what a checker needs to judge the op without asking the
 * runner: the value written or read, the node contacted, the reply's own fields. */
#ifndef HISTORY_H
#define HISTORY_H

#include "op.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *file; /* NULL: no --history, entries are dropped */
} history_log;

typedef struct {
    int64_t time_us;
    int process;
    const op_request *op;  /* with the ryw token already resolved */
    const char *node_name; /* the node the request went to */
    double clock_rate;     /* that node's injected clock rate, 0 = none */
} history_op_context;

int history_open(history_log *log, const char *path);
void history_close(history_log *log);
void history_invoke(history_log *log, const history_op_context *ctx);
/* type is "ok", "fail" or "info". For ok, reply is the reply body whose extra fields are
 * copied; for fail and info, error_code (or -1) and error_text describe why. */
void history_complete(history_log *log, const history_op_context *ctx, const char *type,
                      const cJSON *reply, int error_code, const char *error_text);

#endif
