#include "mrules.h"

#include <stdio.h>
#include <string.h>

size_t mrules_stamp_id(const char *line, size_t len, uint64_t id, char *out, size_t out_size)
{
    if (len < 2 || line[0] != '{') return 0;
    int head = snprintf(out, out_size, "{\"id\":%llu%s", (unsigned long long)id,
                        line[1] == '}' ? "" : ",");
    if (head < 0 || (size_t)head + len > out_size) return 0;
    memcpy(out + head, line + 1, len - 1);
    return (size_t)head + len - 1;
}

/* One reply type's schema: the fields it must have and the ones it may have. */
struct mrules_schema {
    const char *type;
    const char *required[5];
    const char *optional[3];
};

/* Maelstrom's lin-kv workload and its protocol document: these are closed. */
static const struct mrules_schema mrules_schemas[] = {
    {"read_ok", {"type", "in_reply_to", "value", NULL}, {"msg_id", NULL}},
    {"write_ok", {"type", "in_reply_to", NULL}, {"msg_id", NULL}},
    {"cas_ok", {"type", "in_reply_to", NULL}, {"msg_id", NULL}},
    {"init_ok", {"type", "in_reply_to", NULL}, {"msg_id", NULL}},
    {"error", {"type", "in_reply_to", "code", NULL}, {"msg_id", "text", NULL}},
};

static bool mrules_listed(const char *const *names, const char *name)
{
    for (; *names; names++)
        if (strcmp(*names, name) == 0) return true;
    return false;
}

bool mrules_check_reply(const cJSON *body, char *why, size_t why_size)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
    if (!cJSON_IsString(type)) {
        snprintf(why, why_size, "reply has no string \"type\"");
        return false;
    }
    const struct mrules_schema *schema = NULL;
    for (size_t i = 0; i < sizeof mrules_schemas / sizeof mrules_schemas[0]; i++)
        if (strcmp(mrules_schemas[i].type, type->valuestring) == 0) schema = &mrules_schemas[i];
    if (!schema) {
        snprintf(why, why_size, "reply type \"%.40s\" is not part of lin-kv", type->valuestring);
        return false;
    }
    for (const char *const *field = schema->required; *field; field++)
        if (!cJSON_GetObjectItemCaseSensitive(body, *field)) {
            snprintf(why, why_size, "%s lacks the required field \"%s\"", schema->type, *field);
            return false;
        }
    const cJSON *member;
    cJSON_ArrayForEach(member, body) {
        if (!mrules_listed(schema->required, member->string) &&
            !mrules_listed(schema->optional, member->string)) {
            snprintf(why, why_size, "%s has a field lin-kv's schema does not allow: \"%.40s\"",
                     schema->type, member->string);
            return false;
        }
    }
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(body, "code");
    if (code && !cJSON_IsNumber(code)) {
        snprintf(why, why_size, "error's \"code\" is not a number");
        return false;
    }
    return true;
}
