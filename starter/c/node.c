/* A starting point for the course, in C: a node that speaks the protocol and nothing
 * more. It links three modules of the workbook's common/ library and nothing else:
 *   proto  parse a line, read fields (naming the field when one is wrong), send
 *          replies and errors (every message takes the next msg_id, from 0)
 *   loop   poll(2) on stdin with timers (you will want one for heartbeats)
 *   clock  monotonic time and a seeded PRNG (election timeouts)
 * It answers init and gives every other request error 10 (not supported). Your work
 * starts in the dispatch table: add read, write and cas, then replicate. */
#include "clock.h"
#include "loop.h"
#include "proto.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static struct {
    char id[64];
    int cluster_size;
} me = {.id = "n?"};

/* A handler answers one request; errors are values from proto.h's table. */
typedef int (*handler_fn)(const char *client, int64_t msg_id, const cJSON *body, char *why,
                          size_t n);

static int on_init(const char *client, int64_t msg_id, const cJSON *body, char *why, size_t n)
{
    const char *id;
    const cJSON *ids;
    if (proto_get_string(body, "node_id", &id, why, n) != PROTO_OK) return PROTO_MALFORMED_REQUEST;
    if (proto_get_any(body, "node_ids", &ids, why, n) != PROTO_OK) return PROTO_MALFORMED_REQUEST;
    snprintf(me.id, sizeof me.id, "%s", id);
    me.cluster_size = cJSON_GetArraySize(ids);
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "type", "init_ok");
    proto_send(me.id, client, msg_id, reply);
    return PROTO_OK;
}

static const struct {
    const char *type;
    handler_fn handle;
} handlers[] = {
    {"init", on_init},
};

static void on_line(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    char why[200];
    cJSON *msg = proto_parse_line(line, len, why, sizeof why);
    if (!msg) {
        fprintf(stderr, "skipped a line: %s\n", why);
        return;
    }
    const char *client = cJSON_GetObjectItemCaseSensitive(msg, "src")->valuestring;
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
    int64_t msg_id = proto_msg_id(body);
    const char *type;
    int code = proto_get_string(body, "type", &type, why, sizeof why);
    if (code == PROTO_OK) {
        code = PROTO_NOT_SUPPORTED;
        snprintf(why, sizeof why, "type \"%s\" is not supported", type);
        for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
            if (strcmp(handlers[i].type, type) == 0)
                code = handlers[i].handle(client, msg_id, body, why, sizeof why);
    }
    if (code != PROTO_OK && msg_id >= 0) proto_send_error(me.id, client, msg_id, code, why);
    cJSON_Delete(msg);
}

static bool on_turn(void *ctx, int64_t now_us)
{
    (void)ctx, (void)now_us;
    return false;
}

static void on_eof(void *ctx)
{
    (void)ctx;
    proto_flush();
}

int main(void)
{
    if (clock_init() < 0) return 1;
    signal(SIGPIPE, SIG_IGN);
    struct loop_handlers loop = {.on_line = on_line, .on_turn = on_turn, .on_eof = on_eof};
    loop_init(&loop);
    return loop_run() == 0 ? 0 : 1;
}
