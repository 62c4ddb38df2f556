#include "report_verdicts.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Runs program on the history with stdout and stderr into a pipe; returns its output
 * (malloc'd) and exit status, or NULL when it could not be started. */
static char *report_verdicts_capture(const char *program, const char *history_path, int *status)
{
    int fds[2];
    if (pipe(fds) < 0) return NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    char *argv[] = {(char *)program, (char *)history_path, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, program, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        errno = err;
        return NULL;
    }
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    ssize_t got;
    while ((got = read(fds[0], out + len, cap - len - 1)) > 0 || (got < 0 && errno == EINTR)) {
        if (got < 0) continue;
        len += (size_t)got;
        if (cap - len < 1024) out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    close(fds[0]);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    *status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return out;
}

static const char *report_verdicts_word(int status)
{
    switch (status) {
    case 0:
        return "no anomaly";
    case 1:
        return "ANOMALY";
    case 2:
        return "bad input";
    case 3:
        return "unknown";
    }
    return "failed";
}

/* An explanation line that opens a new anomaly rather than continuing the current one
 * ("and this op ...", "but by then ...", "the session's last write ..."). */
static int report_verdicts_continues(const char *text)
{
    const char *words[] = {"and ", "nor ", "but ", "the ", "... "};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (strncmp(text, words[k], strlen(words[k])) == 0) return 1;
    return 0;
}

static cJSON *report_verdicts_new_anomaly(report_verdicts *v, const char *checker)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "checker", checker);
    cJSON_AddStringToObject(a, "text", "");
    cJSON_AddArrayToObject(a, "ops");
    cJSON_AddArrayToObject(a, "lines");
    cJSON_AddItemToArray(v->anomalies, a);
    return a;
}

static void report_verdicts_append_text(cJSON *a, const char *line, size_t len)
{
    const char *old = cJSON_GetObjectItemCaseSensitive(a, "text")->valuestring;
    size_t old_len = strlen(old);
    char *text = malloc(old_len + len + 2);
    memcpy(text, old, old_len);
    memcpy(text + old_len, line, len);
    text[old_len + len] = '\n';
    text[old_len + len + 1] = '\0';
    cJSON_ReplaceItemInObjectCaseSensitive(a, "text", cJSON_CreateString(text));
    free(text);
}

/* Ties "lines A..B" to the op whose invoke is line A, and widens the anomaly's window. */
static void report_verdicts_name_op(report_verdicts *v, cJSON *a, report_ops *ops, long first,
                                    long last)
{
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)first));
    cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)last));
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(a, "lines"), pair);
    if (first < 1 || first > ops->line_count || ops->op_by_line[first] < 0) return;
    long index = ops->op_by_line[first];
    cJSON *op = cJSON_GetArrayItem(ops->ops, (int)index);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(a, "ops"),
                         cJSON_CreateNumber((double)index));
    cJSON *marks = cJSON_GetObjectItemCaseSensitive(op, "anomaly");
    if (!marks) marks = cJSON_AddArrayToObject(op, "anomaly");
    cJSON_AddItemToArray(marks, cJSON_CreateNumber(cJSON_GetArraySize(v->anomalies) - 1));
    double from = cJSON_GetObjectItemCaseSensitive(op, "t0")->valuedouble;
    const cJSON *t1 = cJSON_GetObjectItemCaseSensitive(op, "t1");
    double to = cJSON_IsNumber(t1) ? t1->valuedouble : from;
    const cJSON *old_from = cJSON_GetObjectItemCaseSensitive(a, "from_us");
    const cJSON *old_to = cJSON_GetObjectItemCaseSensitive(a, "to_us");
    if (!old_from) {
        cJSON_AddNumberToObject(a, "from_us", from);
        cJSON_AddNumberToObject(a, "to_us", to);
        return;
    }
    if (from < old_from->valuedouble) cJSON_SetNumberValue((cJSON *)old_from, from);
    if (to > old_to->valuedouble) cJSON_SetNumberValue((cJSON *)old_to, to);
}

/* Splits a checker's anomaly text (everything after the verdict line) into anomalies. */
static void report_verdicts_parse(report_verdicts *v, const char *checker, const char *out,
                                  report_ops *ops)
{
    const char *line = strchr(out, '\n');
    cJSON *current = NULL;
    int current_has_op = 0;
    while (line && *++line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        long first, last;
        if (strncmp(line, "    ", 4) == 0 && sscanf(line, " lines %ld..%ld", &first, &last) == 2) {
            if (!current) current = report_verdicts_new_anomaly(v, checker);
            report_verdicts_append_text(current, line, len);
            report_verdicts_name_op(v, current, ops, first, last);
            current_has_op = 1;
        } else if (strncmp(line, "  ", 2) == 0 && line[2] != ' ') {
            if (!current || (current_has_op && !report_verdicts_continues(line + 2))) {
                current = report_verdicts_new_anomaly(v, checker);
                current_has_op = 0;
            }
            report_verdicts_append_text(current, line, len);
        } else if (current) {
            report_verdicts_append_text(current, line, len);
        }
        line = end;
    }
}

static void report_verdicts_add(report_verdicts *v, const char *name, const char *program,
                                int status, const char *verdict, const char *text)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddStringToObject(c, "program", program);
    if (status >= 0)
        cJSON_AddNumberToObject(c, "exit", status);
    else
        cJSON_AddNullToObject(c, "exit");
    cJSON_AddStringToObject(c, "verdict", verdict);
    cJSON_AddStringToObject(c, "text", text);
    cJSON_AddItemToArray(v->checkers, c);
}

int report_verdicts_run(report_verdicts *v, const char *checkers_dir, const char *history_path,
                        report_ops *ops, char *err, size_t err_size)
{
    v->checkers = cJSON_CreateArray();
    v->anomalies = cJSON_CreateArray();
    const struct {
        const char *name, *why_not;
        int applies;
    } table[] = {
        {"linearizable", "", 1},
        {"staleness", "not run: the history has no follower_read", ops->has_follower_read},
        {"ryw", "not run: the history has no ryw_read", ops->has_ryw_read},
    };
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
        char program[PATH_MAX], short_name[64];
        snprintf(short_name, sizeof short_name, "check-%s", table[k].name);
        snprintf(program, sizeof program, "%s/%s", checkers_dir, short_name);
        if (!table[k].applies) {
            report_verdicts_add(v, table[k].name, short_name, -1, table[k].why_not, "");
            continue;
        }
        int status = 0;
        char *out = report_verdicts_capture(program, history_path, &status);
        if (!out) {
            snprintf(err, err_size, "cannot run %s: %s (make tools builds the checkers)", program,
                     strerror(errno));
            return -1;
        }
        report_verdicts_add(v, table[k].name, short_name, status, report_verdicts_word(status),
                            out);
        if (status == 1) report_verdicts_parse(v, table[k].name, out, ops);
        free(out);
    }
    return 0;
}

void report_verdicts_free(report_verdicts *v)
{
    cJSON_Delete(v->checkers);
    cJSON_Delete(v->anomalies);
    memset(v, 0, sizeof *v);
}
