/* naive-node: the negative control of `make grade`. It speaks the protocol well (init,
 * msg_id, replies, error codes, end of input) but keeps one map per process and never
 * talks to its peers: every node answers read, write and cas from its own copy. Piped
 * one at a time it looks right; in a cluster a write at n1 is invisible at n2, and
 * check-linearizable says so. Not a model of anything but that mistake. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole store: an object mapping the printed JSON of each key to its value. */
static cJSON *store;
static char node_id[64] = "n?";
static long next_msg_id;

static void reply(const cJSON *req, cJSON *body)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(req, "src");
    const cJSON *msg_id =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(req, "body"), "msg_id");
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "src", node_id);
    cJSON_AddStringToObject(out, "dest", cJSON_IsString(src) ? src->valuestring : "?");
    if (cJSON_IsNumber(msg_id)) cJSON_AddNumberToObject(body, "in_reply_to", msg_id->valuedouble);
    cJSON_AddNumberToObject(body, "msg_id", (double)next_msg_id++);
    cJSON_AddItemToObject(out, "body", body);
    char *line = cJSON_PrintUnformatted(out);
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    cJSON_Delete(out);
}

static cJSON *error(int code, const char *text)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", "error");
    cJSON_AddNumberToObject(body, "code", code);
    cJSON_AddStringToObject(body, "text", text);
    return body;
}

static cJSON *ok(const char *type)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", type);
    return body;
}

static cJSON *handle(const cJSON *body)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
    if (!cJSON_IsString(type)) return error(12, "missing field: type");
    const char *t = type->valuestring;
    if (strcmp(t, "init") == 0) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "node_id");
        if (!cJSON_IsString(id)) return error(12, "missing field: node_id");
        snprintf(node_id, sizeof node_id, "%s", id->valuestring);
        return ok("init_ok");
    }
    if (strcmp(t, "read") && strcmp(t, "write") && strcmp(t, "cas"))
        return error(10, "unknown type");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(body, "key");
    if (!key) return error(12, "missing field: key");
    char *name = cJSON_PrintUnformatted(key);
    cJSON *current = cJSON_GetObjectItemCaseSensitive(store, name);
    cJSON *answer;
    if (strcmp(t, "read") == 0) {
        answer = current ? ok("read_ok") : error(20, "key does not exist");
        if (current) cJSON_AddItemToObject(answer, "value", cJSON_Duplicate(current, 1));
    } else if (strcmp(t, "write") == 0) {
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(body, "value");
        answer = value ? ok("write_ok") : error(12, "missing field: value");
        if (value) {
            cJSON_DeleteItemFromObjectCaseSensitive(store, name);
            cJSON_AddItemToObject(store, name, cJSON_Duplicate(value, 1));
        }
    } else {
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(body, "from");
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(body, "to");
        if (!from || !to)
            answer = error(12, from ? "missing field: to" : "missing field: from");
        else if (!current)
            answer = error(20, "key does not exist");
        else if (!cJSON_Compare(current, from, 1))
            answer = error(22, "current value is not from");
        else {
            cJSON_ReplaceItemInObjectCaseSensitive(store, name, cJSON_Duplicate(to, 1));
            answer = ok("cas_ok");
        }
    }
    free(name);
    return answer;
}

int main(void)
{
    store = cJSON_CreateObject();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        cJSON *msg = cJSON_Parse(line);
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
        if (!cJSON_IsObject(body)) {
            fprintf(stderr, "naive-node: skipped a line that is not a message\n");
        } else if (!cJSON_GetObjectItemCaseSensitive(body, "in_reply_to")) {
            reply(msg, handle(body));
        }
        cJSON_Delete(msg);
    }
    free(line);
    cJSON_Delete(store);
    return 0;
}
