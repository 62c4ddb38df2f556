#include "op.h"

#include <string.h>

#define OP_NAME(id, name) name,
static const char *const op_names[OP_KIND_COUNT] = {OP_KINDS(OP_NAME)};
#undef OP_NAME

const char *op_kind_name(op_kind kind)
{
    return op_names[kind];
}

int op_kind_from_name(const char *name)
{
    for (int kind = 0; kind < OP_KIND_COUNT; kind++)
        if (strcmp(op_names[kind], name) == 0) return kind;
    return -1;
}

bool op_kind_is_read(op_kind kind)
{
    return kind != OP_WRITE && kind != OP_CAS && kind != OP_LEASE_READ_CONFIG;
}

bool op_kind_is_generated(op_kind kind)
{
    return kind != OP_LEASE_READ_CONFIG;
}

static void op_add_lease_config(cJSON *object, const op_lease_config *config)
{
    cJSON_AddNumberToObject(object, "lease_duration_ms", (double)config->lease_duration_ms);
    cJSON_AddNumberToObject(object, "election_timeout_ms", (double)config->election_timeout_ms);
    cJSON_AddNumberToObject(object, "max_clock_skew_ms", (double)config->max_clock_skew_ms);
}

cJSON *op_request_body(const op_request *op, long msg_id, long session_index)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", op_kind_name(op->kind));
    cJSON_AddNumberToObject(body, "msg_id", (double)msg_id);
    if (op->key) cJSON_AddItemToObject(body, "key", cJSON_Duplicate(op->key, true));
    switch (op->kind) {
    case OP_WRITE:
        cJSON_AddItemToObject(body, "value", cJSON_Duplicate(op->value, true));
        break;
    case OP_CAS:
        cJSON_AddItemToObject(body, "from", cJSON_Duplicate(op->value, true));
        cJSON_AddItemToObject(body, "to", cJSON_Duplicate(op->cas_to, true));
        break;
    case OP_FOLLOWER_READ:
        cJSON_AddNumberToObject(body, "max_staleness_ms", (double)op->max_staleness_ms);
        break;
    case OP_RYW_READ: {
        long token =
            op->last_write_index == OP_TOKEN_FROM_SESSION ? session_index : op->last_write_index;
        cJSON_AddNumberToObject(body, "last_write_index", (double)token);
        cJSON_AddBoolToObject(body, "prefer_follower", op->prefer_follower);
        break;
    }
    case OP_LEASE_READ_CONFIG:
        op_add_lease_config(body, &op->lease_config);
        break;
    case OP_READ:
    case OP_LEASE_READ:
    case OP_KIND_COUNT:
        break;
    }
    return body;
}

void op_request_history_fields(const op_request *op, cJSON *entry)
{
    if (op->kind == OP_FOLLOWER_READ)
        cJSON_AddNumberToObject(entry, "max_staleness_ms", (double)op->max_staleness_ms);
    if (op->kind == OP_RYW_READ) {
        cJSON_AddNumberToObject(entry, "last_write_index", (double)op->last_write_index);
        cJSON_AddBoolToObject(entry, "prefer_follower", op->prefer_follower);
    }
    if (op->kind == OP_LEASE_READ_CONFIG) op_add_lease_config(entry, &op->lease_config);
}

cJSON *op_request_history_value(const op_request *op)
{
    if (op->kind == OP_WRITE) return cJSON_Duplicate(op->value, true);
    if (op->kind != OP_CAS) return NULL;
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_Duplicate(op->value, true));
    cJSON_AddItemToArray(pair, cJSON_Duplicate(op->cas_to, true));
    return pair;
}

void op_request_free(op_request *op)
{
    cJSON_Delete(op->key);
    cJSON_Delete(op->value);
    cJSON_Delete(op->cas_to);
    op->key = op->value = op->cas_to = NULL;
}

bool op_error_is_definite(int code)
{
    switch (code) {
    case 1:  /* node not found */
    case 10: /* not supported */
    case 11: /* temporarily unavailable: never reached a log */
    case 12: /* malformed request */
    case 14: /* abort */
    case 20: /* key does not exist */
    case 21: /* key already exists */
    case 22: /* precondition failed */
        return true;
    default:
        return false;
    }
}
