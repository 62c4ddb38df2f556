#include "report_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report_ops_map_line(report_ops *r, long line, long op_index)
{
    if (line >= r->line_cap) {
        r->line_cap = 2 * line + 1024;
        r->op_by_line = realloc(r->op_by_line, (size_t)r->line_cap * sizeof *r->op_by_line);
    }
    for (long k = r->line_count + 1; k <= line; k++)
        r->op_by_line[k] = -1;
    r->op_by_line[line] = op_index;
    r->line_count = line;
}

static const char *report_ops_string(const cJSON *entry, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(entry, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static cJSON *report_ops_open(const cJSON *invoke, long line)
{
    const char *f = report_ops_string(invoke, "f");
    const char *node = report_ops_string(invoke, "node");
    cJSON *op = cJSON_CreateObject();
    cJSON_AddNumberToObject(op, "p",
                            cJSON_GetObjectItemCaseSensitive(invoke, "process")->valuedouble);
    cJSON_AddStringToObject(op, "f", f ? f : "?");
    cJSON_AddStringToObject(op, "node", node ? node : "?");
    cJSON_AddStringToObject(op, "by", node ? node : "?");
    cJSON_AddNumberToObject(op, "t0",
                            cJSON_GetObjectItemCaseSensitive(invoke, "time_us")->valuedouble);
    cJSON_AddNullToObject(op, "t1");
    cJSON_AddStringToObject(op, "type", "info");
    cJSON_AddTrueToObject(op, "open");
    cJSON *lines = cJSON_AddArrayToObject(op, "lines");
    cJSON_AddItemToArray(lines, cJSON_CreateNumber((double)line));
    cJSON_AddItemToObject(op, "req", cJSON_Duplicate(invoke, true));
    cJSON_AddNullToObject(op, "rep");
    return op;
}

static void report_ops_close(cJSON *op, const cJSON *completion, long line)
{
    const char *type = report_ops_string(completion, "type");
    const char *served_by = report_ops_string(completion, "served_by");
    cJSON_ReplaceItemInObjectCaseSensitive(
        op, "t1",
        cJSON_CreateNumber(cJSON_GetObjectItemCaseSensitive(completion, "time_us")->valuedouble));
    cJSON_ReplaceItemInObjectCaseSensitive(op, "type", cJSON_CreateString(type));
    if (served_by) cJSON_ReplaceItemInObjectCaseSensitive(op, "by", cJSON_CreateString(served_by));
    cJSON_DeleteItemFromObjectCaseSensitive(op, "open");
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(op, "lines"),
                         cJSON_CreateNumber((double)line));
    cJSON_ReplaceItemInObjectCaseSensitive(op, "rep", cJSON_Duplicate(completion, true));
}

/* A line the checkers would accept as an entry: an object with a numeric time_us and
 * process and a string type. Anything else is counted and skipped (the checkers, which
 * report bad input, are the judges of a malformed history). */
static bool report_ops_entry(const cJSON *entry)
{
    return cJSON_IsObject(entry) &&
           cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(entry, "time_us")) &&
           cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(entry, "process")) &&
           report_ops_string(entry, "type") != NULL;
}

int report_ops_read(report_ops *r, const char *path, char *err, size_t err_size)
{
    memset(r, 0, sizeof *r);
    FILE *in = fopen(path, "r");
    if (!in) {
        snprintf(err, err_size, "--history %s: %s", path, strerror(errno));
        return -1;
    }
    r->ops = cJSON_CreateArray();
    /* A process has at most one op in flight: its open op, found by process number. */
    cJSON **open_by_process = NULL;
    size_t process_cap = 0;
    char *text = NULL;
    size_t text_cap = 0;
    long line = 0;
    ssize_t len;
    while ((len = getline(&text, &text_cap, in)) >= 0) {
        line++;
        report_ops_map_line(r, line, -1);
        cJSON *entry = cJSON_ParseWithLength(text, (size_t)len);
        if (!report_ops_entry(entry)) {
            if (strspn(text, " \t\r\n") != (size_t)len) r->bad_lines++;
            cJSON_Delete(entry);
            continue;
        }
        double process = cJSON_GetObjectItemCaseSensitive(entry, "process")->valuedouble;
        double time_us = cJSON_GetObjectItemCaseSensitive(entry, "time_us")->valuedouble;
        if (process < 0 || process > 1e7) {
            r->bad_lines++;
            cJSON_Delete(entry);
            continue;
        }
        size_t p = (size_t)process;
        if (p >= process_cap) {
            size_t cap = p + 64;
            open_by_process = realloc(open_by_process, cap * sizeof *open_by_process);
            memset(open_by_process + process_cap, 0, (cap - process_cap) * sizeof *open_by_process);
            process_cap = cap;
        }
        if ((int64_t)time_us > r->last_us) r->last_us = (int64_t)time_us;
        const char *type = report_ops_string(entry, "type");
        if (strcmp(type, "invoke") == 0) {
            const char *f = report_ops_string(entry, "f");
            if (f && strcmp(f, "follower_read") == 0) r->has_follower_read = true;
            if (f && strcmp(f, "ryw_read") == 0) r->has_ryw_read = true;
            open_by_process[p] = report_ops_open(entry, line);
            r->op_by_line[line] = cJSON_GetArraySize(r->ops);
            cJSON_AddItemToArray(r->ops, open_by_process[p]);
        } else if (open_by_process[p]) {
            report_ops_close(open_by_process[p], entry, line);
            const cJSON *lines = cJSON_GetObjectItemCaseSensitive(open_by_process[p], "lines");
            r->op_by_line[line] = r->op_by_line[(long)cJSON_GetArrayItem(lines, 0)->valuedouble];
            open_by_process[p] = NULL;
        } else {
            r->bad_lines++;
        }
        cJSON_Delete(entry);
    }
    free(text);
    free(open_by_process);
    fclose(in);
    return 0;
}

void report_ops_free(report_ops *r)
{
    cJSON_Delete(r->ops);
    free(r->op_by_line);
    memset(r, 0, sizeof *r);
}
