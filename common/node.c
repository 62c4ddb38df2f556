#include "node.h"

#include "clock.h"
#include "forwarded.h"
#include "loop.h"
#include "proto.h"
#include "readindex.h"
#include "storage.h"
#include "trace.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Timing defaults: the Maelstrom profile. Maelstrom's clients give up after about 1 s,
 * so every internal wait stays at or under 500 ms. */
#define NODE_DEFAULT_HEARTBEAT_MS 50
#define NODE_DEFAULT_ELECTION_TIMEOUT_MS 300
#define NODE_DEFAULT_REQUEST_TIMEOUT_MS 500
/* Client lines handled per loop turn: peer messages and timers go first, so a flood of
 * client requests cannot delay heartbeats by more than this many requests. */
#define NODE_CLIENT_LINES_PER_TURN 256
/* Client lines parsed and queued, at most (about; a read adds what it holds). Beyond it
 * stdin is left unread until the queue drains, so a flood cannot fill memory and a
 * peer's message waits behind at most this many client lines (a few milliseconds). */
#define NODE_CLIENT_QUEUE_MAX (4 * NODE_CLIENT_LINES_PER_TURN)
/* Client requests in flight (queued, waiting or being served, forwarded ones from peers
 * included) beyond which a new one is refused at once with error 11. Memory stays
 * bounded under a flood; Maelstrom's lin-kv runs keep a few dozen in flight, far below. */
#define NODE_DEFAULT_MAX_INFLIGHT 10000
/* While requests wait for a leader, how often to look for one. */
#define NODE_LEADER_RETRY_US 10000
/* How long the leader remembers its answer to a forward, in request timeouts: a
 * duplicate delivered later than this after the answer is dropped unanswered (its
 * forwarder gave up on it long before). See common/forwarded.h. */
#define NODE_FORWARD_MEMORY_TIMEOUTS 10
/* Messages that arrive before init are held, up to this many. */
#define NODE_PRE_INIT_BUFFER 1024

struct node_list {
    struct node_request *head, *tail;
};

static struct {
    const struct node_stage *stage;
    struct {
        int64_t heartbeat_ms, election_timeout_ms, request_timeout_ms, max_inflight;
        bool maelstrom;
        const char *data_dir; /* NULL: in memory only, as Maelstrom expects */
    } flags;
    /* --data-dir: the open log, and what it held at start until init hands it to raft. */
    struct storage *storage;
    struct storage_state recovered;
    int64_t live_requests; /* allocated node_requests */
    bool initialized;
    char *self_id;
    char **ids;
    int n, self;
    struct raft *raft;
    struct kv *kv;
    struct node_list all;              /* every live request, by arrival (= by deadline) */
    struct node_list waits[NODE_WAIT_STAGE + 1];
    /* This life of the process: a random id, so a reply meant for an earlier life (whose
     * forward ids started at 0 too) is never taken for one of ours. */
    int64_t incarnation;
    int64_t next_forward_id;
    struct forwarded *forwarded; /* what peers forwarded to us, by (peer, life, id) */
    int last_apply_result; /* kv_apply's result for the latest applied entry */
    /* Client envelopes waiting for their turn (see NODE_CLIENT_LINES_PER_TURN). */
    cJSON **client_queue;
    size_t client_head, client_len, client_cap;
} node;

static node_handler_fn node_find_handler(const char *type);
static bool node_changes_state(const char *type);

/* Calls one hook of every plugin: NODE_EACH_PLUGIN(applied, (index, entry)). */
#define NODE_EACH_PLUGIN(hook, args)                                                               \
    for (int i_ = 0; i_ < node.stage->plugin_count; i_++)                                          \
        if (node.stage->plugins[i_]->hook) node.stage->plugins[i_]->hook args


/* ---- small accessors ---- */

struct raft *node_raft(void)
{
    return node.raft;
}
struct kv *node_kv(void)
{
    return node.kv;
}
const char *node_id(void)
{
    return node.self_id;
}
const char *node_peer_id(int peer)
{
    return peer >= 0 && peer < node.n ? node.ids[peer] : "?";
}
bool node_is_leader(void)
{
    return node.raft && raft_role(node.raft) == RAFT_LEADER;
}
bool node_maelstrom_mode(void)
{
    return node.flags.maelstrom;
}
int64_t node_request_timeout_us(void)
{
    return node.flags.request_timeout_ms * 1000;
}
int64_t node_heartbeat_us(void)
{
    return node.flags.heartbeat_ms * 1000;
}
int64_t node_stage_wait_us(int heartbeats)
{
    int64_t wait_us = heartbeats * node_heartbeat_us();
    int64_t cap_us = node_request_timeout_us() / 3;
    return wait_us < cap_us ? wait_us : cap_us;
}
int64_t node_election_timeout_us(void)
{
    return node.flags.election_timeout_ms * 1000;
}

static char *node_strdup(const char *s)
{
    char *copy = strdup(s);
    if (!copy) {
        perror("node: out of memory");
        abort();
    }
    return copy;
}

bool node_unsafe_test_switch(const char *name)
{
    const char *value = getenv(name);
    bool on = value && strcmp(value, "1") == 0;
    if (on) trace_warn("%s=1: an UNSAFE test-only behaviour is on", name);
    return on;
}

static int node_peer_index(const char *id)
{
    for (int i = 0; i < node.n; i++)
        if (strcmp(node.ids[i], id) == 0) return i;
    return -1;
}

/* ---- request lists ---- */

#define NODE_LIST_LINK(list, req, prev, next)                                                      \
    do {                                                                                           \
        (req)->prev = (list)->tail;                                                                \
        (req)->next = NULL;                                                                        \
        if ((list)->tail) (list)->tail->next = (req);                                              \
        else (list)->head = (req);                                                                 \
        (list)->tail = (req);                                                                      \
    } while (0)
#define NODE_LIST_UNLINK(list, req, prev, next)                                                    \
    do {                                                                                           \
        if ((req)->prev) (req)->prev->next = (req)->next;                                          \
        else (list)->head = (req)->next;                                                           \
        if ((req)->next) (req)->next->prev = (req)->prev;                                          \
        else (list)->tail = (req)->prev;                                                           \
        (req)->prev = (req)->next = NULL;                                                          \
    } while (0)

static void node_unwait(struct node_request *req)
{
    if (req->wait == NODE_WAIT_NONE) return;
    NODE_LIST_UNLINK(&node.waits[req->wait], req, wait_prev, wait_next);
    req->wait = NODE_WAIT_NONE;
}

void node_wait_on(struct node_request *req, enum node_wait wait)
{
    node_unwait(req);
    req->wait = wait;
    NODE_LIST_LINK(&node.waits[wait], req, wait_prev, wait_next);
}

struct node_request *node_first_waiting(enum node_wait wait)
{
    return node.waits[wait].head;
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
        struct node_request *req = node.waits[NODE_WAIT_STAGE].head;
        while (req && req->visit_epoch == this_walk) req = req->wait_next;
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

static struct node_request *node_request_new(cJSON *body, const char *client, int from_peer,
                                             int64_t now_us)
{
    struct node_request *req = calloc(1, sizeof *req);
    if (!req) {
        perror("node: out of memory");
        abort();
    }
    node.live_requests++;
    req->body = body;
    req->type = cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring;
    req->client = node_strdup(client);
    req->client_msg_id = proto_msg_id(body);
    req->from_peer = from_peer;
    req->received_us = now_us;
    req->deadline_us = now_us + node_request_timeout_us();
    req->read_index = -1;
    if (!node.all.head) loop_wake_timers();
    NODE_LIST_LINK(&node.all, req, all_prev, all_next);
    return req;
}

static void node_request_free(struct node_request *req)
{
    node_unwait(req);
    NODE_LIST_UNLINK(&node.all, req, all_prev, all_next);
    node.live_requests--;
    cJSON_Delete(req->body);
    free(req->client);
    free(req);
}

/* ---- replies ---- */

/* Takes ownership of reply. The incarnation is echoed so the forwarder can tell an
 * answer meant for an earlier life of itself. */
static void node_send_forward_res(struct forwarded_key key, cJSON *reply)
{
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "type", "forward_res");
    cJSON_AddNumberToObject(res, "forward_id", (double)key.forward_id);
    cJSON_AddNumberToObject(res, "incarnation", (double)key.incarnation);
    cJSON_AddItemToObject(res, "reply", reply);
    proto_send(node.self_id, node.ids[key.peer], -1, res);
}

static struct forwarded_key node_forward_key(const struct node_request *req)
{
    return (struct forwarded_key){
        .peer = req->from_peer, .incarnation = req->forward_incarnation, .forward_id = req->forward_id};
}

void node_reply(struct node_request *req, cJSON *body)
{
    if (req->from_peer >= 0) {
        /* The peer that forwarded it relays this to its client. */
        forwarded_answer(node.forwarded, node_forward_key(req), body, clock_now_us());
        node_send_forward_res(node_forward_key(req), body);
    } else if (req->client_msg_id >= 0) {
        proto_send(node.self_id, req->client, req->client_msg_id, body);
    } else {
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

static cJSON *node_ok_body(const char *request_type)
{
    char type[64];
    snprintf(type, sizeof type, "%s_ok", request_type);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", type);
    return body;
}

void node_reply_value(struct node_request *req, void (*extend)(struct node_request *, cJSON *))
{
    const cJSON *value;
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(req->body, "key");
    if (kv_read(node.kv, key, &value) != PROTO_OK) {
        node_reply_error(req, PROTO_KEY_DOES_NOT_EXIST, "key does not exist");
        return;
    }
    cJSON *body = node_ok_body(req->type);
    /* A reference, not a copy: the reply is printed before anything can change the map. */
    cJSON_AddItemReferenceToObject(body, "value", (cJSON *)value);
    if (extend) extend(req, body);
    node_reply(req, body);
}

/* ---- forwarding to the leader ---- */

static void node_send_forward(struct node_request *req, int leader)
{
    req->forward_id = node.next_forward_id++;
    req->may_have_effect = node_changes_state(req->type);
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "type", "forward");
    cJSON_AddNumberToObject(msg, "forward_id", (double)req->forward_id);
    cJSON_AddNumberToObject(msg, "incarnation", (double)node.incarnation);
    cJSON_AddItemReferenceToObject(msg, "request", req->body);
    proto_send(node.self_id, node.ids[leader], -1, msg);
    node_wait_on(req, NODE_WAIT_FORWARD);
    trace_event("%s from %s while %s is leader -> forwarded", req->type, req->client,
                node.ids[leader]);
}

void node_forward(struct node_request *req)
{
    if (req->from_peer >= 0) {
        /* One hop only: the origin retries once it learns the real leader, so a request
         * never circles between nodes with stale ideas of who leads. */
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "type", "error");
        cJSON_AddNumberToObject(body, "code", PROTO_TEMPORARILY_UNAVAILABLE);
        cJSON_AddStringToObject(body, "text", "not the leader");
        cJSON_AddBoolToObject(body, "not_leader", true);
        node_reply(req, body);
        return;
    }
    int leader = raft_leader(node.raft);
    if (leader >= 0 && leader != node.self) {
        node_send_forward(req, leader);
    } else {
        node_wait_on(req, NODE_WAIT_LEADER);
    }
}

static void node_retry_leaderless(void)
{
    int leader = raft_leader(node.raft);
    if (leader < 0) return;
    struct node_request *req;
    while ((req = node.waits[NODE_WAIT_LEADER].head)) {
        node_unwait(req);
        if (leader == node.self) {
            /* We became leader: handle it here, from the top. */
            node_find_handler(req->type)(req);
        } else {
            node_send_forward(req, leader);
        }
    }
}

static void node_on_forward_res(const cJSON *body)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "forward_id");
    const cJSON *incarnation = cJSON_GetObjectItemCaseSensitive(body, "incarnation");
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(body, "reply");
    if (!cJSON_IsNumber(id) || !cJSON_IsNumber(incarnation) || !cJSON_IsObject(reply)) {
        trace_warn("forward_res without forward_id, incarnation or reply; ignored");
        return;
    }
    if (incarnation->valuedouble != (double)node.incarnation) {
        /* Forwarded by an earlier life of this process: its client went with it, and the
         * same id now names another request of ours. */
        trace_event("forward_res for an earlier life of %s -> dropped", node.self_id);
        return;
    }
    for (struct node_request *req = node.waits[NODE_WAIT_FORWARD].head; req; req = req->wait_next) {
        if ((double)req->forward_id != id->valuedouble) continue;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "not_leader"))) {
            /* It never touched a log there, so trying again is safe. */
            req->may_have_effect = false;
            node_wait_on(req, NODE_WAIT_LEADER);
            return;
        }
        cJSON *relayed = cJSON_Duplicate(reply, true);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(relayed, "type");
        /* A redirect reason belongs on a linearizable reply: the redirect was to read
         * at the leader. */
        if (req->reason && cJSON_IsString(type) && strcmp(type->valuestring, "error") != 0 &&
            !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(relayed, "linearizable"))) {
            cJSON_DeleteItemFromObjectCaseSensitive(relayed, "reason");
            cJSON_AddStringToObject(relayed, "reason", req->reason);
        }
        node_reply(req, relayed);
        return;
    }
    /* Already answered (timed out) here: the late reply has no one to go to. */
}

/* ---- writes ---- */

/* Keeps the commit waiters sorted by log index. Usually that is the tail, but a leader
 * re-elected with writes of its old term still waiting (at indexes a newer leader has
 * since overwritten) appends new ones below them. */
static void node_wait_commit(struct node_request *req)
{
    node_unwait(req);
    struct node_list *list = &node.waits[NODE_WAIT_COMMIT];
    struct node_request *before = list->tail;
    while (before && before->log_index > req->log_index) before = before->wait_prev;
    req->wait = NODE_WAIT_COMMIT;
    req->wait_prev = before;
    req->wait_next = before ? before->wait_next : list->head;
    if (req->wait_next) req->wait_next->wait_prev = req;
    else list->tail = req;
    if (before) before->wait_next = req;
    else list->head = req;
}

static void node_answer_commit(int64_t index, const struct raft_entry *entry, int result)
{
    /* Every waiter at this index is answered: there can be two, an old term's write
     * whose slot was overwritten and the write that took the slot. */
    struct node_request *req;
    while ((req = node.waits[NODE_WAIT_COMMIT].head) && req->log_index <= index) {
        if (req->log_index < index) {
            /* Its index applied before it started waiting; its outcome is not known here. */
            node_reply_error(req, PROTO_TIMEOUT, "entry %lld applied unobserved",
                             (long long)req->log_index);
        } else if (entry->term != req->log_term) {
            /* Another leader's entry took this slot, so ours is lost. Code 0 anyway: the
             * contract keeps 11 for ops that never reached a log. */
            node_reply_error(req, PROTO_TIMEOUT, "entry %lld of term %lld was overwritten",
                             (long long)index, (long long)req->log_term);
        } else if (result != PROTO_OK) {
            node_reply_error(req, result,
                             result == PROTO_KEY_DOES_NOT_EXIST ? "key does not exist"
                                                                : "current value is not `from`");
        } else {
            cJSON *body = node_ok_body(req->type);
            /* Maelstrom's schemas are closed for lin-kv's own replies only; a stage's
             * own ops (lease_read_config) keep their fields. */
            bool linkv = strcmp(req->type, "write") == 0 || strcmp(req->type, "cas") == 0;
            if (!(node.flags.maelstrom && linkv))
                NODE_EACH_PLUGIN(write_reply_extend, (body, index));
            node_reply(req, body);
        }
    }
}

void node_propose(struct node_request *req, cJSON *command)
{
    int64_t index = raft_propose(node.raft, command);
    if (index < 0) {
        cJSON_Delete(command);
        node_forward(req);
        return;
    }
    req->log_index = index;
    req->log_term = raft_term(node.raft);
    req->may_have_effect = true;
    node_wait_commit(req);
    /* A single-member cluster commits inside raft_propose, before the request is on the
     * waiting list; answer it from the applied entry now. */
    if (raft_applied_index(node.raft) >= index)
        node_answer_commit(index, raft_entry_at(node.raft, index), node.last_apply_result);
}

/* A log command {type, fields...}. The fields move out of the request body rather than
 * being copied: once proposed, the request needs only its type and msg_id. */
static cJSON *node_command(struct node_request *req, const char *type, ...)
{
    cJSON *command = cJSON_CreateObject();
    cJSON_AddStringToObject(command, "type", type);
    va_list fields;
    va_start(fields, type);
    for (const char *field; (field = va_arg(fields, const char *));)
        cJSON_AddItemToObject(command, field,
                              cJSON_DetachItemFromObjectCaseSensitive(req->body, field));
    va_end(fields);
    return command;
}

static void node_handle_write(struct node_request *req)
{
    const cJSON *key, *value;
    if (!node_require_any(req, "key", &key) || !node_require_any(req, "value", &value)) return;
    if (!node_is_leader()) {
        node_forward(req);
        return;
    }
    node_propose(req, node_command(req, "write", "key", "value", NULL));
}

static void node_handle_cas(struct node_request *req)
{
    const cJSON *key, *from, *to;
    if (!node_require_any(req, "key", &key) || !node_require_any(req, "from", &from) ||
        !node_require_any(req, "to", &to))
        return;
    if (!node_is_leader()) {
        node_forward(req);
        return;
    }
    node_propose(req, node_command(req, "cas", "key", "from", "to", NULL));
}

static void node_serve_read(struct node_request *req)
{
    node_reply_value(req, NULL);
}

static void node_handle_read(struct node_request *req)
{
    const cJSON *key;
    if (!node_require_any(req, "key", &key)) return;
    readindex_submit(req, node_serve_read, clock_now_us());
}

static const struct node_handler node_base_handlers[] = {
    {"read", node_handle_read, false},
    {"write", node_handle_write, true},
    {"cas", node_handle_cas, true},
};

/* ---- raft callbacks, fanned out to plugins ---- */

static void node_raft_send(void *ctx, int peer, cJSON *body)
{
    (void)ctx;
    proto_send(node.self_id, node.ids[peer], -1, body);
}

static void node_persist_term_vote(void *ctx, int64_t term, int voted_for)
{
    (void)ctx;
    storage_term_vote(node.storage, term, voted_for);
}

static void node_persist_append(void *ctx, int64_t index, const struct raft_entry *entry)
{
    (void)ctx;
    storage_append(node.storage, index, entry);
}

static void node_persist_truncate(void *ctx, int64_t after_index)
{
    (void)ctx;
    storage_truncate(node.storage, after_index);
}

/* proto's flush barrier: one fsync per batch of output, whatever the turn recorded. */
static void node_sync_storage(void)
{
    storage_sync(node.storage);
}

static void node_raft_apply(void *ctx, int64_t index, const struct raft_entry *entry)
{
    (void)ctx;
    int result = kv_apply(node.kv, entry->command);
    node.last_apply_result = result;
    node_answer_commit(index, entry, result);
    NODE_EACH_PLUGIN(applied, (index, entry));
    readindex_progress(clock_now_us());
}

static void node_raft_leadership_changed(void *ctx)
{
    (void)ctx;
    loop_wake_timers();
    NODE_EACH_PLUGIN(leadership_changed, ());
    readindex_progress(clock_now_us());
    node_retry_leaderless();
}

static void node_raft_round_confirmed(void *ctx, uint64_t round, int64_t sent_us,
                                      int64_t commit_index)
{
    (void)ctx;
    NODE_EACH_PLUGIN(round_confirmed, (round, sent_us, commit_index));
    readindex_progress(clock_now_us());
}

static void node_raft_append_extend(void *ctx, int peer, cJSON *append)
{
    (void)ctx;
    NODE_EACH_PLUGIN(append_extend, (peer, append));
}

static void node_raft_append_seen(void *ctx, int leader, const cJSON *append, int64_t now_us)
{
    (void)ctx;
    NODE_EACH_PLUGIN(append_seen, (leader, append, now_us));
}

static void node_raft_append_res_extend(void *ctx, cJSON *res, int64_t now_us)
{
    (void)ctx;
    NODE_EACH_PLUGIN(append_res_extend, (res, now_us));
}

static void node_raft_append_res_seen(void *ctx, int peer, const cJSON *res, int64_t now_us)
{
    (void)ctx;
    NODE_EACH_PLUGIN(append_res_seen, (peer, res, now_us));
}

/* READPATH_PIN_ELECTION_TIMEOUT=1 (tests only) makes every election timeout exactly the
 * minimum, so an experiment's timeline does not depend on the dice. Still safe: the
 * minimum is what stickiness and leases rely on. */
static bool node_pin_election_timeout;

static int64_t node_draw(int64_t lo, int64_t hi)
{
    return node_pin_election_timeout ? lo : clock_random_between(lo, hi);
}

/* ---- timers ---- */

static int64_t node_raft_timer(void *ctx, int64_t now_us)
{
    (void)ctx;
    if (!node.raft) return 1000000;
    return raft_tick(node.raft, now_us);
}

/* Answers a request whose time is up: code 0 if the op may have happened, else 11. */
static void node_expire(struct node_request *req, const char *why)
{
    if (req->may_have_effect) {
        node_reply_error(req, PROTO_TIMEOUT, "%s; the %s may or may not have taken effect", why,
                         req->type);
    } else {
        node_reply_error(req, PROTO_TEMPORARILY_UNAVAILABLE, "%s; nothing was done", why);
    }
}

static const char *node_wait_reason(const struct node_request *req)
{
    switch (req->wait) {
    case NODE_WAIT_LEADER: return "no leader known";
    case NODE_WAIT_FORWARD: return "the leader did not answer";
    case NODE_WAIT_COMMIT: return "not committed in time";
    case NODE_WAIT_READ_INDEX: return "leadership not confirmed in time";
    case NODE_WAIT_STAGE: return "condition not met in time";
    case NODE_WAIT_NONE: break;
    }
    return "timed out";
}

static void node_stage_deadline_one(struct node_request *req)
{
    if (req->stage_deadline_us <= clock_now_us()) req->on_stage_deadline(req);
}

static int64_t node_deadline_timer(void *ctx, int64_t now_us)
{
    (void)ctx;
    struct node_request *req;
    while ((req = node.all.head) && req->deadline_us <= now_us) {
        trace_event("%s from %s waited %lld ms (%s) -> error", req->type, req->client,
                    (long long)((now_us - req->received_us) / 1000), node_wait_reason(req));
        node_expire(req, node_wait_reason(req));
    }
    if (node.raft) node_retry_leaderless();
    int64_t next_us = node.all.head ? node.all.head->deadline_us - now_us : 1000000;
    node_visit_stage_waiters(node_stage_deadline_one);
    for (req = node.waits[NODE_WAIT_STAGE].head; req; req = req->wait_next)
        if (req->stage_deadline_us - now_us < next_us) next_us = req->stage_deadline_us - now_us;
    if (node.waits[NODE_WAIT_LEADER].head && next_us > NODE_LEADER_RETRY_US)
        next_us = NODE_LEADER_RETRY_US;
    return next_us;
}

/* ---- messages ---- */

static const struct node_handler *node_find_entry(const char *type)
{
    for (int i = 0; i < node.stage->handler_count; i++)
        if (strcmp(node.stage->handlers[i].type, type) == 0) return &node.stage->handlers[i];
    for (size_t i = 0; i < sizeof node_base_handlers / sizeof node_base_handlers[0]; i++)
        if (strcmp(node_base_handlers[i].type, type) == 0) return &node_base_handlers[i];
    return NULL;
}

static node_handler_fn node_find_handler(const char *type)
{
    const struct node_handler *entry = node_find_entry(type);
    return entry ? entry->handle : NULL;
}

static bool node_changes_state(const char *type)
{
    const struct node_handler *entry = node_find_entry(type);
    return entry && entry->changes_state;
}

static void node_dispatch(struct node_request *req)
{
    node_handler_fn handle = node_find_handler(req->type);
    if (handle) {
        handle(req);
        return;
    }
    trace_warn("%s from %s: unknown type -> error 10", req->type, req->client);
    node_reply_error(req, PROTO_NOT_SUPPORTED, "message type \"%s\" is not supported by stage %s",
                     req->type, node.stage->name);
}

static bool node_has_type(const cJSON *body)
{
    return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(body, "type"));
}

static void node_handle_init(const cJSON *envelope)
{
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(envelope, "body");
    const char *src = cJSON_GetObjectItemCaseSensitive(envelope, "src")->valuestring;
    const char *dest = cJSON_GetObjectItemCaseSensitive(envelope, "dest")->valuestring;
    int64_t msg_id = proto_msg_id(body);
    char why[128];
    const char *self_id;
    const cJSON *ids;
    if (node.initialized) {
        proto_send_error(node.self_id, src, msg_id, PROTO_MALFORMED_REQUEST,
                         "init: this node is already initialized");
        return;
    }
    if (proto_get_string(body, "node_id", &self_id, why, sizeof why) != PROTO_OK ||
        proto_get_any(body, "node_ids", &ids, why, sizeof why) != PROTO_OK) {
        trace_warn("init from %s: %s -> error 12", src, why);
        proto_send_error(dest, src, msg_id, PROTO_MALFORMED_REQUEST, why);
        return;
    }
    int n = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : 0;
    bool ok = n > 0;
    const cJSON *id;
    cJSON_ArrayForEach(id, ids) ok = ok && cJSON_IsString(id);
    int self = -1;
    for (int i = 0; ok && i < n; i++)
        if (strcmp(cJSON_GetArrayItem(ids, i)->valuestring, self_id) == 0) self = i;
    if (!ok || self < 0) {
        trace_warn("init from %s: node_ids must be strings including node_id -> error 12", src);
        proto_send_error(dest, src, msg_id, PROTO_MALFORMED_REQUEST,
                         "init: field \"node_ids\" must be a non-empty array of strings that "
                         "includes node_id");
        return;
    }
    node.self_id = node_strdup(self_id);
    node.n = n;
    node.self = self;
    node.ids = calloc((size_t)n, sizeof *node.ids);
    if (!node.ids) abort();
    for (int i = 0; i < n; i++) node.ids[i] = node_strdup(cJSON_GetArrayItem(ids, i)->valuestring);
    trace_set_name(node.self_id);

    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "type", "init_ok");
    proto_send(node.self_id, src, msg_id, reply);

    struct raft_config config = {
        .heartbeat_us = node.flags.heartbeat_ms * 1000,
        .election_timeout_us = node.flags.election_timeout_ms * 1000,
        .max_entries_per_append = 64,
        .without_check_quorum = node_unsafe_test_switch("READPATH_UNSAFE_NO_CHECK_QUORUM"),
        .incarnation = node.incarnation,
    };
    struct raft_callbacks callbacks = {
        .send = node_raft_send,
        .apply = node_raft_apply,
        .leadership_changed = node_raft_leadership_changed,
        .round_confirmed = node_raft_round_confirmed,
        .append_extend = node_raft_append_extend,
        .append_seen = node_raft_append_seen,
        .append_res_extend = node_raft_append_res_extend,
        .append_res_seen = node_raft_append_res_seen,
    };
    if (node.storage) {
        callbacks.persist_term_vote = node_persist_term_vote;
        callbacks.persist_append = node_persist_append;
        callbacks.persist_truncate = node_persist_truncate;
    }
    const char *pin = getenv("READPATH_PIN_ELECTION_TIMEOUT");
    node_pin_election_timeout = pin && strcmp(pin, "1") == 0;
    node.kv = kv_new();
    node.initialized = true;
    node.raft = raft_new(self, n, &config, &callbacks, node_draw, clock_now_us());
    if (node.storage) {
        /* The KV is rebuilt as these entries commit again: the commit index is not
         * persisted, a leader's append tells it (or, alone, the node's own no-op). */
        /* Always said (not only with -v): a restart is rare and worth a line in any log. */
        if (node.recovered.term > 0 || node.recovered.count > 0)
            trace_warn("restored term %lld, vote %d, %lld entries from %s -> no votes for %lld ms",
                       (long long)node.recovered.term, node.recovered.voted_for,
                       (long long)node.recovered.count, node.flags.data_dir,
                       (long long)node.flags.election_timeout_ms);
        raft_restore(node.raft, node.recovered.term, node.recovered.voted_for,
                     node.recovered.entries, node.recovered.count, clock_now_us());
        free(node.recovered.entries);
        node.recovered = (struct storage_state){.voted_for = -1};
    }
    trace_event("init as %s of %d -> follower, waiting for a leader", node.self_id, n);
    NODE_EACH_PLUGIN(started, ());
    /* A single-member cluster elects itself right away. */
    if (n == 1) raft_tick(node.raft, clock_now_us());
    loop_wake_timers();
}

/* A forward delivered twice is served once (§6.3's sessions, with the forwarder's
 * life as the session): a copy of one still being served is dropped, since its one
 * answer will go out; a copy of one answered gets that answer again. */
static bool node_forward_first_copy(struct forwarded_key key, int64_t now_us)
{
    const cJSON *answer = NULL;
    switch (forwarded_arrive(node.forwarded, key, now_us, &answer)) {
    case FORWARDED_NEW:
        return true;
    case FORWARDED_IN_PROGRESS:
        trace_event("forward %lld from %s again while serving it -> dropped",
                    (long long)key.forward_id, node.ids[key.peer]);
        return false;
    case FORWARDED_ANSWERED: {
        trace_event("forward %lld from %s again -> its answer again", (long long)key.forward_id,
                    node.ids[key.peer]);
        node_send_forward_res(key, cJSON_Duplicate(answer, true));
        return false;
    }
    case FORWARDED_FORGOTTEN:
        trace_warn("forward %lld from %s arrived after its answer was forgotten -> dropped",
                   (long long)key.forward_id, node.ids[key.peer]);
        return false;
    }
    return false;
}

static void node_handle_peer(int peer, const cJSON *body)
{
    const char *type = cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring;
    int64_t now_us = clock_now_us();
    if (raft_handles(type)) {
        raft_receive(node.raft, peer, body, now_us);
    } else if (strcmp(type, "forward") == 0) {
        const cJSON *request = cJSON_GetObjectItemCaseSensitive(body, "request");
        struct forwarded_key key = {.peer = peer};
        char why[128];
        if (proto_get_nonneg_int(body, "forward_id", &key.forward_id, why, sizeof why) != PROTO_OK ||
            proto_get_nonneg_int(body, "incarnation", &key.incarnation, why, sizeof why) != PROTO_OK ||
            !cJSON_IsObject(request) || !node_has_type(request)) {
            trace_warn("forward from %s is malformed; ignored", node.ids[peer]);
            return;
        }
        if (!node_forward_first_copy(key, now_us)) return;
        struct node_request *req =
            node_request_new(cJSON_Duplicate(request, true), node.ids[peer], peer, now_us);
        req->forward_id = key.forward_id;
        req->forward_incarnation = key.incarnation;
        if (node.live_requests > node.flags.max_inflight) {
            node_reply_error(req, PROTO_TEMPORARILY_UNAVAILABLE,
                             "overloaded: %lld requests already in flight at %s "
                             "(--max-inflight); nothing was done, retry later",
                             (long long)node.flags.max_inflight, node.self_id);
            return;
        }
        node_dispatch(req);
    } else if (strcmp(type, "forward_res") == 0) {
        node_on_forward_res(body);
    } else {
        trace_warn("unknown peer message %s from %s; ignored", type, node.ids[peer]);
    }
}

static void node_handle_client(cJSON *envelope)
{
    const char *src = cJSON_GetObjectItemCaseSensitive(envelope, "src")->valuestring;
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(envelope, "body");
    int peer = node_peer_index(src);
    if (peer >= 0 && peer != node.self) {
        /* Held from before init: a peer's, after all. */
        if (node_has_type(body)) node_handle_peer(peer, body);
        return;
    }
    const cJSON *msg_id = cJSON_GetObjectItemCaseSensitive(body, "msg_id");
    int64_t reply_to = proto_msg_id(body);
    const char *problem = NULL;
    if (msg_id && reply_to < 0) problem = "field \"msg_id\" must be a non-negative integer";
    else if (!node_has_type(body)) problem = "field \"type\" is missing or not a string";
    if (problem) {
        /* Without a msg_id there is nothing to reply to (Maelstrom's rule), only a log. */
        trace_warn("message from %s: %s -> %s", src, problem, reply_to >= 0 || msg_id ? "error 12" : "logged");
        if (reply_to >= 0 || msg_id) proto_send_error(node.self_id, src, reply_to, PROTO_MALFORMED_REQUEST, problem);
        return;
    }
    if (strcmp(cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring, "init") == 0) {
        node_handle_init(envelope);
        return;
    }
    node_dispatch(node_request_new(cJSON_DetachItemFromObjectCaseSensitive(envelope, "body"), src, -1, clock_now_us()));
}

/* Overload (--max-inflight): what is queued plus what is being served. */
static bool node_overloaded(void)
{
    return (int64_t)node.client_len + node.live_requests >= node.flags.max_inflight;
}

static void node_refuse_overload(const char *src, int64_t msg_id)
{
    static int64_t refused;
    if (refused++ % 1000 == 0)
        trace_warn("%lld requests in flight (limit %lld) -> error 11 (%lld refused so far)",
                   (long long)node.client_len + (long long)node.live_requests,
                   (long long)node.flags.max_inflight, (long long)refused);
    if (msg_id < 0) return;
    char text[160];
    snprintf(text, sizeof text,
             "overloaded: %lld requests already in flight at %s (--max-inflight); nothing was "
             "done, retry later",
             (long long)node.flags.max_inflight, node.self_id);
    proto_send_error(node.self_id, src, msg_id, PROTO_TEMPORARILY_UNAVAILABLE, text);
}

static void node_queue_client(cJSON *envelope)
{
    if (node.client_len == node.client_cap) {
        size_t cap = node.client_cap ? node.client_cap * 2 : 1024;
        cJSON **grown = malloc(cap * sizeof *grown);
        if (!grown) {
            perror("node: out of memory queueing client messages");
            abort();
        }
        for (size_t i = 0; i < node.client_len; i++)
            grown[i] = node.client_queue[(node.client_head + i) % node.client_cap];
        free(node.client_queue);
        node.client_queue = grown;
        node.client_cap = cap;
        node.client_head = 0;
    }
    node.client_queue[(node.client_head + node.client_len++) % node.client_cap] = envelope;
}

static void node_on_line(void *ctx, const char *line, size_t len)
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
    bool is_init = node_has_type(body) &&
                   strcmp(cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring, "init") == 0;
    if (!node.initialized && !is_init) {
        /* init_ok must be the first line we write, so earlier messages wait for it. */
        if (node.client_len >= NODE_PRE_INIT_BUFFER) {
            trace_warn("message from %s before init, buffer full -> dropped", src);
            cJSON_Delete(envelope);
        } else {
            trace_warn("message from %s before init -> held until init", src);
            node_queue_client(envelope);
        }
        return;
    }
    if (is_init) {
        node_handle_init(envelope);
        cJSON_Delete(envelope);
        return;
    }
    int peer = node_peer_index(src);
    if (peer >= 0 && peer != node.self) {
        if (node_has_type(body)) node_handle_peer(peer, body);
        else trace_warn("peer message from %s without type; ignored", src);
        cJSON_Delete(envelope);
        return;
    }
    if (node_overloaded()) {
        node_refuse_overload(src, cJSON_IsObject(body) ? proto_msg_id(body) : -1);
        cJSON_Delete(envelope);
        return;
    }
    node_queue_client(envelope);
}

static bool node_wants_input(void *ctx)
{
    (void)ctx;
    /* Before init everything is held anyway (up to NODE_PRE_INIT_BUFFER). */
    return !node.initialized || node.client_len < NODE_CLIENT_QUEUE_MAX;
}

static void node_run_client_queue(size_t budget)
{
    while (node.client_len > 0 && budget-- > 0) {
        cJSON *envelope = node.client_queue[node.client_head];
        node.client_head = (node.client_head + 1) % node.client_cap;
        node.client_len--;
        node_handle_client(envelope);
        cJSON_Delete(envelope);
    }
}

static bool node_on_turn(void *ctx, int64_t now_us)
{
    (void)ctx;
    node_run_client_queue(NODE_CLIENT_LINES_PER_TURN);
    if (node.raft) {
        NODE_EACH_PLUGIN(turn, (now_us));
        raft_flush(node.raft, now_us);
    }
    return node.client_len > 0;
}

static void node_on_eof(void *ctx)
{
    (void)ctx;
    if (!node.initialized) {
        /* Held messages wait for init, which will never come: without a node id there
         * is nobody to answer as, so they are dropped (and said so). */
        while (node.client_len > 0) {
            cJSON *envelope = node.client_queue[node.client_head];
            node.client_head = (node.client_head + 1) % node.client_cap;
            node.client_len--;
            trace_warn("stdin closed before init -> message from %s dropped",
                       cJSON_GetObjectItemCaseSensitive(envelope, "src")->valuestring);
            cJSON_Delete(envelope);
        }
        return;
    }
    /* Every request already read is handled, then whatever still waits is answered at
     * once: nobody is left to wait for. */
    node_run_client_queue(SIZE_MAX);
    if (node.raft) raft_flush(node.raft, clock_now_us());
    struct node_request *req;
    while ((req = node.all.head)) node_expire(req, "input closed");
    trace_event("stdin closed -> answered everything pending, exiting");
}

/* ---- flags and main ---- */

static void node_usage(FILE *out, const char *argv0)
{
    fprintf(out,
            "usage: %s [options]\n"
            "readpath stage %s: %s\n"
            "A Maelstrom node: JSON lines on stdin, replies and peer messages on stdout,\n"
            "logs on stderr. Send init first.\n\n"
            "  --heartbeat-ms N          leader heartbeat interval (default %d)\n"
            "  --election-timeout-ms N   minimum election timeout; drawn from [N, 1.5N) (default %d)\n"
            "  --request-timeout-ms N    longest a client request waits (default %d)\n"
            "  --maelstrom               lin-kv replies carry exactly Maelstrom's fields\n"
            "  --data-dir DIR            persist term, vote and log in DIR/raft.log (fsync before\n"
            "                            replying); recover them on restart (default: in memory)\n"
            "  --max-inflight N          requests in flight beyond N get error 11 (default %d)\n"
            "  -v                        trace elections, redirects, ... on stderr\n"
            "  --help                    this text\n\n"
            "environment: READPATH_CLOCK_RATE (this node's clock rate, default 1.0),\n"
            "             READPATH_SEED (seed for election jitter)\n",
            argv0, node.stage->name, node.stage->summary, NODE_DEFAULT_HEARTBEAT_MS,
            NODE_DEFAULT_ELECTION_TIMEOUT_MS, NODE_DEFAULT_REQUEST_TIMEOUT_MS,
            NODE_DEFAULT_MAX_INFLIGHT);
    if (node.stage->flag_count > 0) fprintf(out, "\nstage %s adds:\n", node.stage->name);
    for (int i = 0; i < node.stage->flag_count; i++)
        fprintf(out, "  %-25s %s (default %lld)\n", node.stage->flags[i].name,
                node.stage->flags[i].help, (long long)*node.stage->flags[i].value);
}

static int node_parse_number(const char *flag, const char *text, int64_t min, int64_t *out)
{
    char *end;
    errno = 0;
    long long value = text ? strtoll(text, &end, 10) : 0;
    if (!text || errno || *end || value < min || value > 3600000) {
        fprintf(stderr, "%s wants a whole number in %lld..3600000\n", flag, (long long)min);
        return -1;
    }
    *out = value;
    return 0;
}

static int node_parse_ms(const char *flag, const char *text, int64_t *out)
{
    return node_parse_number(flag, text, 1, out);
}

/* A stage's own flag? Returns 1 if it was one (and consumed its value), -1 on error. */
static int node_parse_stage_flag(const char *arg, const char *next)
{
    for (int i = 0; i < node.stage->flag_count; i++)
        if (strcmp(arg, node.stage->flags[i].name) == 0)
            return node_parse_number(arg, next, 0, node.stage->flags[i].value) ? -1 : 1;
    return 0;
}

static int node_parse_flags(int argc, char **argv)
{
    node.flags.heartbeat_ms = NODE_DEFAULT_HEARTBEAT_MS;
    node.flags.election_timeout_ms = NODE_DEFAULT_ELECTION_TIMEOUT_MS;
    node.flags.request_timeout_ms = NODE_DEFAULT_REQUEST_TIMEOUT_MS;
    node.flags.max_inflight = NODE_DEFAULT_MAX_INFLIGHT;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            node_usage(stdout, argv[0]);
            exit(0);
        } else if (strcmp(arg, "-v") == 0) {
            trace_verbose = true;
        } else if (strcmp(arg, "--maelstrom") == 0) {
            node.flags.maelstrom = true;
        } else if (strcmp(arg, "--heartbeat-ms") == 0) {
            if (node_parse_ms(arg, next, &node.flags.heartbeat_ms)) return -1;
            i++;
        } else if (strcmp(arg, "--election-timeout-ms") == 0) {
            if (node_parse_ms(arg, next, &node.flags.election_timeout_ms)) return -1;
            i++;
        } else if (strcmp(arg, "--data-dir") == 0) {
            if (!next || !*next) {
                fprintf(stderr, "--data-dir wants a directory\n");
                return -1;
            }
            node.flags.data_dir = next;
            i++;
        } else if (strcmp(arg, "--max-inflight") == 0) {
            if (node_parse_number(arg, next, 1, &node.flags.max_inflight)) return -1;
            i++;
        } else if (strcmp(arg, "--request-timeout-ms") == 0) {
            if (node_parse_ms(arg, next, &node.flags.request_timeout_ms)) return -1;
            i++;
        } else {
            int stage_flag = node_parse_stage_flag(arg, next);
            if (stage_flag < 0) return -1;
            if (stage_flag > 0) {
                i++;
                continue;
            }
            fprintf(stderr, "%s: unknown option %s (try --help)\n", argv[0], arg);
            return -1;
        }
    }
    if (node.flags.heartbeat_ms * 2 > node.flags.election_timeout_ms) {
        fprintf(stderr, "%s: --heartbeat-ms must be at most half of --election-timeout-ms\n",
                argv[0]);
        return -1;
    }
    const char *unusable = node.stage->check_flags ? node.stage->check_flags() : NULL;
    if (unusable) {
        fprintf(stderr, "%s: %s\n", argv[0], unusable);
        return -1;
    }
    return 0;
}

/* READPATH_INCARNATION=N (tests only) pins this life's id, so a suite that plays the
 * followers of a node from a script can echo it without reading the node's output. Two
 * lives that share one are no longer told apart: never set it for a restart. */
static int64_t node_draw_incarnation(void)
{
    const char *pinned = getenv("READPATH_INCARNATION");
    if (pinned && *pinned) return strtoll(pinned, NULL, 10);
    return (int64_t)clock_unique_id();
}

static void node_free_all(void)
{
    raft_free(node.raft);
    kv_free(node.kv);
    forwarded_free(node.forwarded);
    for (int i = 0; i < node.n; i++) free(node.ids[i]);
    free(node.ids);
    free(node.self_id);
    free(node.client_queue);
    storage_close(node.storage);
    for (int64_t i = 0; i < node.recovered.count; i++) cJSON_Delete(node.recovered.entries[i].command);
    free(node.recovered.entries);
}

int node_main(int argc, char **argv, const struct node_stage *stage)
{
    node.stage = stage;
    if (node_parse_flags(argc, argv)) return 2;
    if (clock_init()) return 2;
    node.incarnation = node_draw_incarnation();
    node.forwarded = forwarded_new(NODE_FORWARD_MEMORY_TIMEOUTS * node_request_timeout_us());
    if (node.flags.data_dir) {
        /* Before init, so a corrupt log stops the node before it says anything. */
        node.storage = storage_open(node.flags.data_dir, &node.recovered);
        if (!node.storage) return 1;
        proto_set_flush_barrier(node_sync_storage);
    }
    /* A reader that went away must not kill us with SIGPIPE mid-reply. */
    signal(SIGPIPE, SIG_IGN);
    struct loop_handlers handlers = {
        .on_line = node_on_line,
        .on_turn = node_on_turn,
        .on_eof = node_on_eof,
        .wants_input = node_wants_input};
    loop_init(&handlers);
    loop_add_timer(node_raft_timer, NULL, 0);
    loop_add_timer(node_deadline_timer, NULL, 0);
    int status = loop_run();
    node_free_all();
    return status == 0 ? 0 : 1;
}
