/* node_intake: client lines, from stdin to a request.
 *
 * Peer messages are handled the moment they are read; client lines are parsed and
 * queued, and at most NODE_CLIENT_LINES_PER_TURN of them are handled per loop turn, so
 * a flood of clients cannot delay heartbeats by more than that. Before init every line
 * is held (init_ok must be the first line written). Beyond --max-inflight requests a new
 * one is refused at once with error 11, and beyond NODE_CLIENT_QUEUE_MAX queued lines
 * stdin is left unread until the queue drains, so memory stays bounded under a flood.
 * When stdin closes, every line already read is handled. */
#include "node_parts.h"

#include "proto.h"
#include "trace.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Client lines handled per loop turn: peer messages and timers go first, so a flood of
 * client requests cannot delay heartbeats by more than this many requests. */
#define NODE_CLIENT_LINES_PER_TURN 256
/* Client lines parsed and queued, at most (about; a read adds what it holds). Beyond it
 * stdin is left unread until the queue drains, so a flood cannot fill memory and a
 * peer's message waits behind at most this many client lines (a few milliseconds). */
#define NODE_CLIENT_QUEUE_MAX (4 * NODE_CLIENT_LINES_PER_TURN)
/* Messages that arrive before init are held, up to this many. */
#define NODE_PRE_INIT_BUFFER 1024

static struct {
    struct node_intake_handlers on;
    int64_t max_inflight;
    /* Client envelopes waiting for their turn: a ring. */
    cJSON **queue;
    size_t head, len, cap;
} intake;

void node_intake_start(const struct node_intake_handlers *handlers, int64_t max_inflight)
{
    intake.on = *handlers;
    intake.max_inflight = max_inflight;
}

void node_intake_stop(void)
{
    while (intake.len > 0) {
        cJSON_Delete(intake.queue[intake.head]);
        intake.head = (intake.head + 1) % intake.cap;
        intake.len--;
    }
    free(intake.queue);
    intake.queue = NULL;
}

static bool node_has_type(const cJSON *body)
{
    return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "type"));
}

static bool node_is_init(const cJSON *body)
{
    return node_has_type(body) &&
           strcmp(cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring, "init") == 0;
}

/* ---- the queue ---- */

static void node_queue_push(cJSON *envelope)
{
    if (intake.len == intake.cap) {
        size_t cap = intake.cap ? intake.cap * 2 : 1024;
        cJSON **grown = malloc(cap * sizeof *grown);
        if (!grown) {
            perror("node: out of memory queueing client messages");
            abort();
        }
        for (size_t i = 0; i < intake.len; i++)
            grown[i] = intake.queue[(intake.head + i) % intake.cap];
        free(intake.queue);
        intake.queue = grown;
        intake.cap = cap;
        intake.head = 0;
    }
    intake.queue[(intake.head + intake.len++) % intake.cap] = envelope;
}

static cJSON *node_queue_pop(void)
{
    cJSON *envelope = intake.queue[intake.head];
    intake.head = (intake.head + 1) % intake.cap;
    intake.len--;
    return envelope;
}

/* Overload (--max-inflight): what is queued plus what is being served. */
static bool node_overloaded(void)
{
    return (int64_t)intake.len + node_live_requests() >= intake.max_inflight;
}

static void node_refuse_overload(const char *src, int64_t msg_id)
{
    static int64_t refused;
    if (refused++ % 1000 == 0)
        trace_warn("%lld requests in flight (limit %lld) -> error 11 (%lld refused so far)",
                   (long long)intake.len + (long long)node_live_requests(),
                   (long long)intake.max_inflight, (long long)refused);
    if (msg_id < 0) return;
    char text[160];
    snprintf(text, sizeof text,
             "overloaded: %lld requests already in flight at %s (--max-inflight); nothing was "
             "done, retry later",
             (long long)intake.max_inflight, node_id());
    proto_send_error(node_id(), src, msg_id, PROTO_TEMPORARILY_UNAVAILABLE, text);
}

/* ---- one line ---- */

/* A queued line's turn. Owns nothing: the envelope is freed by the caller. */
static void node_handle_client(cJSON *envelope)
{
    const char *src = cJSON_GetObjectItemCaseSensitive(envelope, "src")->valuestring;
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(envelope, "body");
    int peer = node_peer_index(src);
    if (peer >= 0 && peer != node_self()) {
        /* Held from before init: a peer's, after all. */
        if (node_has_type(body)) intake.on.peer(peer, body);
        return;
    }
    const cJSON *msg_id = cJSON_GetObjectItemCaseSensitive(body, "msg_id");
    int64_t reply_to = proto_msg_id(body);
    const char *problem = NULL;
    if (msg_id && reply_to < 0)
        problem = "field \"msg_id\" must be a non-negative integer";
    else if (!node_has_type(body))
        problem = "field \"type\" is missing or not a string";
    if (problem) {
        /* Without a msg_id there is nothing to reply to (Maelstrom's rule), only a log. */
        trace_warn("message from %s: %s -> %s", src, problem,
                   reply_to >= 0 || msg_id ? "error 12" : "logged");
        if (reply_to >= 0 || msg_id)
            proto_send_error(node_id(), src, reply_to, PROTO_MALFORMED_REQUEST, problem);
        return;
    }
    if (node_is_init(body)) {
        intake.on.init(envelope);
        return;
    }
    intake.on.request(cJSON_DetachItemFromObjectCaseSensitive(envelope, "body"), src);
}

void node_intake_line(void *ctx, const char *line, size_t len)
{
    (void)ctx;
    char why[128];
    cJSON *envelope = proto_parse_line(line, len, why, sizeof why);
    if (!envelope) {
        trace_warn("input line skipped: %s: %.*s%s", why, (int)(len > 80 ? 80 : len), line,
                   len > 80 ? "..." : "");
        return;
    }
    const char *src = cJSON_GetObjectItemCaseSensitive(envelope, "src")->valuestring;
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(envelope, "body");
    bool is_init = node_is_init(body);
    if (!intake.on.initialized() && !is_init) {
        /* init_ok must be the first line we write, so earlier messages wait for it. */
        if (intake.len >= NODE_PRE_INIT_BUFFER) {
            trace_warn("message from %s before init, buffer full -> dropped", src);
            cJSON_Delete(envelope);
        } else {
            trace_warn("message from %s before init -> held until init", src);
            node_queue_push(envelope);
        }
        return;
    }
    if (is_init) {
        intake.on.init(envelope);
        cJSON_Delete(envelope);
        return;
    }
    int peer = node_peer_index(src);
    if (peer >= 0 && peer != node_self()) {
        if (node_has_type(body))
            intake.on.peer(peer, body);
        else
            trace_warn("peer message from %s without type; ignored", src);
        cJSON_Delete(envelope);
        return;
    }
    if (node_overloaded()) {
        node_refuse_overload(src, cJSON_IsObject(body) ? proto_msg_id(body) : -1);
        cJSON_Delete(envelope);
        return;
    }
    node_queue_push(envelope);
}

bool node_intake_wants_input(void *ctx)
{
    (void)ctx;
    /* Before init everything is held anyway (up to NODE_PRE_INIT_BUFFER). */
    return !intake.on.initialized() || intake.len < NODE_CLIENT_QUEUE_MAX;
}

static bool node_intake_run(size_t budget)
{
    while (intake.len > 0 && budget-- > 0) {
        cJSON *envelope = node_queue_pop();
        node_handle_client(envelope);
        cJSON_Delete(envelope);
    }
    return intake.len > 0;
}

bool node_intake_turn(void)
{
    return node_intake_run(NODE_CLIENT_LINES_PER_TURN);
}

void node_intake_eof(void)
{
    if (!intake.on.initialized()) {
        /* Held messages wait for init, which will never come: without a node id there
         * is nobody to answer as, so they are dropped (and said so). */
        while (intake.len > 0) {
            cJSON *envelope = node_queue_pop();
            trace_warn("stdin closed before init -> message from %s dropped",
                       cJSON_GetObjectItemCaseSensitive(envelope, "src")->valuestring);
            cJSON_Delete(envelope);
        }
        return;
    }
    /* Every request already read is handled. */
    node_intake_run(SIZE_MAX);
}
