/* node_request: the life of a client request, from arrival to its one reply.
 *
 * Every live request is on one list in arrival order, which is also deadline order
 * (every request gets the same timeout), so the deadline timer looks only at the head.
 * A waiting request is also on exactly one wait list, by what it waits for (enum
 * node_wait). A reply frees the request; nothing may touch it afterwards.
 *
 * Allocation: a request owns its body and a copy of its client id; node_reply and
 * node_expire free it. */
#include "node_parts.h"

#include "clock.h"
#include "loop.h"
#include "proto.h"
#include "trace.h"

#include <stdarg.h>
#include <stdlib.h>

struct node_list {
    struct node_request *head, *tail;
};

static struct {
    struct node_list all; /* every live request, by arrival (= by deadline) */
    struct node_list waits[NODE_WAIT_STAGE + 1];
    int64_t live;
} requests;

#define NODE_LIST_LINK(list, req, prev, next)                                                      \
    do {                                                                                           \
        (req)->prev = (list)->tail;                                                                \
        (req)->next = NULL;                                                                        \
        if ((list)->tail)                                                                          \
            (list)->tail->next = (req);                                                            \
        else                                                                                       \
            (list)->head = (req);                                                                  \
        (list)->tail = (req);                                                                      \
    } while (0)
#define NODE_LIST_UNLINK(list, req, prev, next)                                                    \
    do {                                                                                           \
        if ((req)->prev)                                                                           \
            (req)->prev->next = (req)->next;                                                       \
        else                                                                                       \
            (list)->head = (req)->next;                                                            \
        if ((req)->next)                                                                           \
            (req)->next->prev = (req)->prev;                                                       \
        else                                                                                       \
            (list)->tail = (req)->prev;                                                            \
        (req)->prev = (req)->next = NULL;                                                          \
    } while (0)

/* ---- arrival and departure ---- */

struct node_request *node_request_new(cJSON *body, const char *client, int from_peer,
                                      int64_t now_us, int64_t timeout_us)
{
    struct node_request *req = calloc(1, sizeof *req);
    if (!req) {
        perror("node: out of memory");
        abort();
    }
    requests.live++;
    req->body = body;
    req->type = cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring;
    req->client = node_strdup(client);
    req->client_msg_id = proto_msg_id(body);
    req->from_peer = from_peer;
    req->received_us = now_us;
    req->deadline_us = now_us + timeout_us;
    req->read_index = -1;
    req->refused_by = -1;
    if (!requests.all.head) loop_wake_timers();
    NODE_LIST_LINK(&requests.all, req, all_prev, all_next);
    return req;
}

int64_t node_live_requests(void)
{
    return requests.live;
}

void node_unwait(struct node_request *req)
{
    if (req->wait == NODE_WAIT_NONE) return;
    NODE_LIST_UNLINK(&requests.waits[req->wait], req, wait_prev, wait_next);
    req->wait = NODE_WAIT_NONE;
}

static void node_request_free(struct node_request *req)
{
    node_unwait(req);
    NODE_LIST_UNLINK(&requests.all, req, all_prev, all_next);
    requests.live--;
    cJSON_Delete(req->body);
    free(req->client);
    free(req);
}

/* ---- waiting ---- */

void node_wait_on(struct node_request *req, enum node_wait wait)
{
    node_unwait(req);
    req->wait = wait;
    NODE_LIST_LINK(&requests.waits[wait], req, wait_prev, wait_next);
}

/* Keeps the commit waiters sorted by log index. Usually that is the tail, but a leader
 * re-elected with writes of its old term still waiting (at indexes a newer leader has
 * since overwritten) appends new ones below them. */
void node_wait_commit(struct node_request *req)
{
    node_unwait(req);
    struct node_list *list = &requests.waits[NODE_WAIT_COMMIT];
    struct node_request *before = list->tail;
    while (before && before->log_index > req->log_index)
        before = before->wait_prev;
    req->wait = NODE_WAIT_COMMIT;
    req->wait_prev = before;
    req->wait_next = before ? before->wait_next : list->head;
    if (req->wait_next)
        req->wait_next->wait_prev = req;
    else
        list->tail = req;
    if (before)
        before->wait_next = req;
    else
        list->head = req;
}

struct node_request *node_first_waiting(enum node_wait wait)
{
    return requests.waits[wait].head;
}

struct node_request *node_next_waiting(struct node_request *req)
{
    return req->wait_next;
}

void node_wait_stage(struct node_request *req, node_serve_fn retry, int64_t deadline_us,
                     node_serve_fn on_deadline)
{
    req->serve = retry;
    req->stage_deadline_us = deadline_us;
    req->on_stage_deadline = on_deadline;
    node_wait_on(req, NODE_WAIT_STAGE);
    loop_wake_timers();
}

/* Calls fn once on each request parked on a stage wait. fn may answer other requests
 * too (a serve can confirm a round, which retries every waiter), so no pointer is held
 * across the call: the walk restarts from the head, skipping what it already visited. */
static void node_visit_stage_waiters(void (*fn)(struct node_request *req))
{
    static uint64_t epoch;
    uint64_t this_walk = ++epoch;
    for (;;) {
        struct node_request *req = requests.waits[NODE_WAIT_STAGE].head;
        while (req && req->visit_epoch == this_walk)
            req = req->wait_next;
        if (!req) return;
        req->visit_epoch = this_walk;
        fn(req);
    }
}

static void node_retry_one(struct node_request *req)
{
    req->serve(req);
}

void node_retry_stage_waiters(void)
{
    node_visit_stage_waiters(node_retry_one);
}

/* ---- replies ---- */

void node_reply(struct node_request *req, cJSON *body)
{
    if (req->relay) {
        req->relay(req, body); /* a peer forwarded it: the answer goes back through it */
    } else if (req->client_msg_id >= 0) {
        proto_send(node_id(), req->client, req->client_msg_id, body);
    } else {
        /* Maelstrom's rule: no msg_id, nothing to reply to. Said, so the silence is explained. */
        trace_warn("%s from %s has no msg_id -> served, no reply sent", req->type, req->client);
        cJSON_Delete(body);
    }
    node_request_free(req);
}

void node_reply_error(struct node_request *req, int code, const char *fmt, ...)
{
    char text[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof text, fmt, args);
    va_end(args);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", "error");
    cJSON_AddNumberToObject(body, "code", code);
    cJSON_AddStringToObject(body, "text", text);
    node_reply(req, body);
}

/* Turns a proto_get_* result into an error 12 that names the field. */
static bool node_field_ok(struct node_request *req, int status, const char *why)
{
    if (status == PROTO_OK) return true;
    trace_warn("%s from %s: %s -> error 12", req->type, req->client, why);
    node_reply_error(req, PROTO_MALFORMED_REQUEST, "%s: %s", req->type, why);
    return false;
}

bool node_require_any(struct node_request *req, const char *field, const cJSON **out)
{
    char why[128];
    return node_field_ok(req, proto_get_any(req->body, field, out, why, sizeof why), why);
}

bool node_require_nonneg_int(struct node_request *req, const char *field, int64_t *out)
{
    char why[128];
    return node_field_ok(req, proto_get_nonneg_int(req->body, field, out, why, sizeof why), why);
}

bool node_require_bool(struct node_request *req, const char *field, bool *out)
{
    char why[128];
    return node_field_ok(req, proto_get_bool(req->body, field, out, why, sizeof why), why);
}

/* ---- deadlines ---- */

void node_expire(struct node_request *req, const char *why)
{
    if (req->may_have_effect) {
        node_reply_error(req, PROTO_TIMEOUT, "%s; the %s may or may not have taken effect", why,
                         req->type);
    } else {
        node_reply_error(req, PROTO_TEMPORARILY_UNAVAILABLE, "%s; nothing was done", why);
    }
}

void node_expire_all(const char *why)
{
    struct node_request *req;
    while ((req = requests.all.head))
        node_expire(req, why);
}

static const char *node_wait_reason(const struct node_request *req)
{
    switch (req->wait) {
    case NODE_WAIT_LEADER:
        return "no leader known";
    case NODE_WAIT_FORWARD:
        return "the leader did not answer";
    case NODE_WAIT_COMMIT:
        return "not committed in time";
    case NODE_WAIT_READ_INDEX:
        return "leadership not confirmed in time";
    case NODE_WAIT_STAGE:
        return "condition not met in time";
    case NODE_WAIT_NONE:
        break;
    }
    return "timed out";
}

static void node_stage_deadline_one(struct node_request *req)
{
    if (req->stage_deadline_us <= clock_now_us()) req->on_stage_deadline(req);
}

int64_t node_requests_timer(int64_t now_us)
{
    struct node_request *req;
    while ((req = requests.all.head) && req->deadline_us <= now_us) {
        trace_event("%s from %s waited %lld ms (%s) -> error", req->type, req->client,
                    (long long)((now_us - req->received_us) / 1000), node_wait_reason(req));
        node_expire(req, node_wait_reason(req));
    }
    int64_t next_us = requests.all.head ? requests.all.head->deadline_us - now_us : 1000000;
    node_visit_stage_waiters(node_stage_deadline_one);
    for (req = requests.waits[NODE_WAIT_STAGE].head; req; req = req->wait_next)
        if (req->stage_deadline_us - now_us < next_us) next_us = req->stage_deadline_us - now_us;
    return next_us;
}
