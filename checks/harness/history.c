#include "history.h"

#include <stdlib.h>
#include <string.h>

int history_open(history_log *log, const char *path)
{
    log->file = NULL;
    if (!path) return 0;
    log->file = fopen(path, "w");
    return log->file ? 0 : -1;
}

void history_close(history_log *log)
{
    if (log->file) fclose(log->file);
    log->file = NULL;
}

/* The fields every entry of one op shares, invoke and completion alike, so a checker
 * can read any single line without pairing it first. */
static cJSON *history_entry(const history_op_context *ctx, const char *type)
{
    const op_request *op = ctx->op;
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddNumberToObject(entry, "time_us", (double)ctx->time_us);
    cJSON_AddNumberToObject(entry, "process", ctx->process);
    cJSON_AddStringToObject(entry, "type", type);
    cJSON_AddStringToObject(entry, "f", op_kind_name(op->kind));
    if (op->key) cJSON_AddItemToObject(entry, "key", cJSON_Duplicate(op->key, true));
    cJSON *value = op_request_history_value(op);
    if (value) cJSON_AddItemToObject(entry, "value", value);
    cJSON_AddStringToObject(entry, "node", ctx->node_name);
    op_request_history_fields(op, entry);
    if (ctx->clock_rate > 0) cJSON_AddNumberToObject(entry, "clock_rate", ctx->clock_rate);
    return entry;
}

static void history_emit(history_log *log, cJSON *entry)
{
    if (log->file) {
        char *line = cJSON_PrintUnformatted(entry);
        fputs(line, log->file);
        fputc('\n', log->file);
        cJSON_free(line);
    }
    cJSON_Delete(entry);
}

void history_invoke(history_log *log, const history_op_context *ctx)
{
    if (log->file) history_emit(log, history_entry(ctx, "invoke"));
}

/* Reply fields the envelope already answers, or that would overwrite the history's
 * own meaning of a field. */
static bool history_is_reserved(const char *field)
{
    static const char *const reserved[] = {"type", "in_reply_to", "msg_id"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(field, reserved[i]) == 0) return true;
    return false;
}

void history_complete(history_log *log, const history_op_context *ctx, const char *type,
                      const cJSON *reply, int error_code, const char *error_text)
{
    if (!log->file) return;
    cJSON *entry = history_entry(ctx, type);
    if (reply && strcmp(type, "ok") == 0) {
        /* A read's value is what the node returned; for write and cas the entry
         * already holds what was asked, which is what the checkers model. */
        const cJSON *read_value = cJSON_GetObjectItemCaseSensitive(reply, "value");
        if (op_kind_is_read(ctx->op->kind) && read_value)
            cJSON_AddItemToObject(entry, "value", cJSON_Duplicate(read_value, true));
        for (const cJSON *field = reply->child; field; field = field->next)
            if (!history_is_reserved(field->string) &&
                !cJSON_GetObjectItemCaseSensitive(entry, field->string))
                cJSON_AddItemToObject(entry, field->string, cJSON_Duplicate(field, true));
    }
    if (error_code >= 0) cJSON_AddNumberToObject(entry, "error", error_code);
    if (error_text) cJSON_AddStringToObject(entry, "text", error_text);
    history_emit(log, entry);
}
