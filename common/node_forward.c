/* node_forward: a follower hands a client's request to the leader and relays the answer;
 * the leader serves what followers hand it.
 *
 * One hop only: a node that is not the leader refuses a forwarded request ("not the
 * leader"), and its origin tries again once it learns of a new leader, so a request
 * never circles between nodes with stale ideas of who leads. While no leader is known
 * a request waits (bounded by its deadline) and is retried every NODE_LEADER_RETRY_US.
 *
 * Whose answer is this? Forward ids start at 0 in every life of a process, so a forward
 * carries {forward_id, incarnation} (this life's random id) and its answer echoes both;
 * an answer for another life is dropped. The leader remembers each forward by (peer,
 * incarnation, id) in common/forwarded, so a duplicated forward is proposed once. */
#include "node_parts.h"

#include "clock.h"
#include "forwarded.h"
#include "loop.h"
#include "proto.h"
#include "trace.h"

/* While requests wait for a leader, how often to look for one. */
#define NODE_LEADER_RETRY_US 10000
/* How long the leader remembers its answer to a forward, in request timeouts: a
 * duplicate delivered later than this after the answer is dropped unanswered (its
 * forwarder gave up on it long before). See common/forwarded.h. */
#define NODE_FORWARD_MEMORY_TIMEOUTS 10

static struct {
    struct node_forward_config config;
    int64_t next_forward_id;
    int64_t last_retry_us;       /* the forward timer's last look for a leader */
    struct forwarded *forwarded; /* what peers forwarded to us, by (peer, life, id) */
} fwd;

void node_forward_start(const struct node_forward_config *config)
{
    fwd.config = *config;
    fwd.forwarded = forwarded_new(NODE_FORWARD_MEMORY_TIMEOUTS * config->request_timeout_us);
}

void node_forward_stop(void)
{
    forwarded_free(fwd.forwarded);
    fwd.forwarded = NULL;
}

/* ---- this node forwards ---- */

static void node_send_forward(struct node_request *req, int leader)
{
    req->forward_id = fwd.next_forward_id++;
    req->may_have_effect = fwd.config.changes_state(req->type);
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "type", "forward");
    cJSON_AddNumberToObject(msg, "forward_id", (double)req->forward_id);
    cJSON_AddNumberToObject(msg, "incarnation", (double)fwd.config.incarnation);
    /* The life of the leader it is meant for: a later life of that node must not answer
     * "not the leader" for a copy its earlier life may have served (see below). */
    int64_t leader_incarnation = raft_leader_incarnation(fwd.config.raft);
    if (leader_incarnation > 0)
        cJSON_AddNumberToObject(msg, "to_incarnation", (double)leader_incarnation);
    cJSON_AddItemReferenceToObject(msg, "request", req->body);
    proto_send(node_id(), node_peer_id(leader), -1, msg);
    node_wait_on(req, NODE_WAIT_FORWARD);
    trace_event("%s from %s while %s is leader -> forwarded", req->type, req->client,
                node_peer_id(leader));
}

void node_forward(struct node_request *req)
{
    if (req->from_peer >= 0) {
        /* One hop only (see above). */
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "type", "error");
        cJSON_AddNumberToObject(body, "code", PROTO_TEMPORARILY_UNAVAILABLE);
        cJSON_AddStringToObject(body, "text", "not the leader");
        cJSON_AddBoolToObject(body, "not_leader", true);
        node_reply(req, body);
        return;
    }
    int leader = raft_leader(fwd.config.raft);
    if (leader >= 0 && leader != node_self()) {
        node_send_forward(req, leader);
    } else {
        node_wait_on(req, NODE_WAIT_LEADER);
        loop_wake_timers();
    }
}

struct node_request *node_ask_leader(cJSON *body,
                                     void (*answered)(struct node_request *req, cJSON *body))
{
    struct node_request *req =
        node_request_new(body, node_id(), -1, clock_now_us(), fwd.config.request_timeout_us);
    req->relay = answered;
    node_forward(req);
    return req;
}

int64_t node_incarnation(void)
{
    return fwd.config.incarnation;
}

void node_retry_leaderless(void)
{
    int leader = raft_leader(fwd.config.raft);
    if (leader < 0) return;
    struct node_request *req;
    if (leader == node_self()) {
        /* We became leader: handle them here, from the top. (A handler may answer other
         * requests, so the walk always starts again from the head.) */
        while ((req = node_first_waiting(NODE_WAIT_LEADER))) {
            node_unwait(req);
            fwd.config.dispatch(req);
        }
        return;
    }
    int64_t term = raft_term(fwd.config.raft);
    for (req = node_first_waiting(NODE_WAIT_LEADER); req;) {
        struct node_request *next = node_next_waiting(req);
        /* Asking again the node that just said it does not lead would only hear it
         * again, once per loop turn: wait until we learn of another leader or term. */
        if (req->refused_by != leader || req->refused_in_term != term)
            node_send_forward(req, leader);
        req = next;
    }
}

int64_t node_forward_timer(void *ctx, int64_t now_us)
{
    (void)ctx;
    if (!fwd.config.raft) return 1000000;
    /* Woken with every other timer, it still asks at most every NODE_LEADER_RETRY_US. */
    if (now_us - fwd.last_retry_us < NODE_LEADER_RETRY_US)
        return fwd.last_retry_us + NODE_LEADER_RETRY_US - now_us;
    fwd.last_retry_us = now_us;
    node_retry_leaderless();
    /* Answers kept for duplicates are forgotten on time even when no forward arrives. */
    forwarded_expire(fwd.forwarded, now_us);
    return node_first_waiting(NODE_WAIT_LEADER) ? NODE_LEADER_RETRY_US : 1000000;
}

void node_forward_receive_res(int peer, const cJSON *body)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "forward_id");
    const cJSON *incarnation = cJSON_GetObjectItemCaseSensitive(body, "incarnation");
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(body, "reply");
    if (!cJSON_IsNumber(id) || !cJSON_IsNumber(incarnation) || !cJSON_IsObject(reply)) {
        trace_warn("forward_res without forward_id, incarnation or reply; ignored");
        return;
    }
    if (incarnation->valuedouble != (double)fwd.config.incarnation) {
        /* Forwarded by an earlier life of this process: its client went with it, and the
         * same id now names another request of ours. */
        trace_event("forward_res for an earlier life of %s -> dropped", node_id());
        return;
    }
    for (struct node_request *req = node_first_waiting(NODE_WAIT_FORWARD); req;
         req = node_next_waiting(req)) {
        if ((double)req->forward_id != id->valuedouble) continue;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "not_leader"))) {
            /* It never touched a log there (the life that answers is the life it was
             * meant for, or it would have been dropped), so trying again is safe. */
            req->may_have_effect = false;
            req->refused_by = peer;
            req->refused_in_term = raft_term(fwd.config.raft);
            node_wait_on(req, NODE_WAIT_LEADER);
            loop_wake_timers();
            return;
        }
        cJSON *relayed = cJSON_Duplicate(reply, true);
        if (req->extend_relayed) req->extend_relayed(req, relayed);
        node_reply(req, relayed);
        return;
    }
    /* Already answered (timed out) here: the late reply has no one to go to. */
}

/* ---- peers forward to this node ---- */

/* Takes ownership of reply. The incarnation is echoed so the forwarder can tell an
 * answer meant for an earlier life of itself. */
static void node_send_forward_res(struct forwarded_key key, cJSON *reply)
{
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "type", "forward_res");
    cJSON_AddNumberToObject(res, "forward_id", (double)key.forward_id);
    cJSON_AddNumberToObject(res, "incarnation", (double)key.incarnation);
    cJSON_AddItemToObject(res, "reply", reply);
    proto_send(node_id(), node_peer_id(key.peer), -1, res);
}

static struct forwarded_key node_forward_key(const struct node_request *req)
{
    return (struct forwarded_key){.peer = req->from_peer,
                                  .incarnation = req->forward_incarnation,
                                  .forward_id = req->forward_id};
}

/* node_reply's way back for a request a peer forwarded: its forwarder relays it. */
static void node_relay_to_forwarder(struct node_request *req, cJSON *body)
{
    forwarded_answer(fwd.forwarded, node_forward_key(req), body, clock_now_us());
    node_send_forward_res(node_forward_key(req), body);
}

/* A forward delivered twice is served once (§6.3's sessions, with the forwarder's
 * life as the session): a copy of one still being served is dropped, since its one
 * answer will go out; a copy of one answered gets that answer again. */
static bool node_forward_first_copy(struct forwarded_key key, int64_t now_us)
{
    const cJSON *answer = NULL;
    switch (forwarded_arrive(fwd.forwarded, key, now_us, &answer)) {
    case FORWARDED_NEW:
        return true;
    case FORWARDED_IN_PROGRESS:
        trace_event("forward %lld from %s again while serving it -> dropped",
                    (long long)key.forward_id, node_peer_id(key.peer));
        return false;
    case FORWARDED_ANSWERED:
        trace_event("forward %lld from %s again -> its answer again", (long long)key.forward_id,
                    node_peer_id(key.peer));
        node_send_forward_res(key, cJSON_Duplicate(answer, true));
        return false;
    case FORWARDED_FORGOTTEN:
        trace_warn("forward %lld from %s arrived after its answer was forgotten -> dropped",
                   (long long)key.forward_id, node_peer_id(key.peer));
        return false;
    }
    return false;
}

void node_forward_receive(int peer, const cJSON *body, int64_t now_us)
{
    const cJSON *request = cJSON_GetObjectItemCaseSensitive(body, "request");
    struct forwarded_key key = {.peer = peer};
    char why[128];
    if (proto_get_nonneg_int(body, "forward_id", &key.forward_id, why, sizeof why) != PROTO_OK ||
        proto_get_nonneg_int(body, "incarnation", &key.incarnation, why, sizeof why) != PROTO_OK ||
        !cJSON_IsObject(request) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(request, "type"))) {
        trace_warn("forward from %s is malformed; ignored", node_peer_id(peer));
        return;
    }
    const cJSON *to_incarnation = cJSON_GetObjectItemCaseSensitive(body, "to_incarnation");
    if (to_incarnation && (!cJSON_IsNumber(to_incarnation) ||
                           to_incarnation->valuedouble != (double)fwd.config.incarnation)) {
        /* Meant for an earlier life of this node, which may have proposed it and died
         * before answering: this life knows nothing of it, and "not the leader" would
         * tell the forwarder that nothing happened, so it would propose it again
         * elsewhere. No answer: the forwarder's deadline says the outcome is unknown. */
        trace_event("forward %lld from %s meant for an earlier life of %s -> dropped",
                    (long long)key.forward_id, node_peer_id(peer), node_id());
        return;
    }
    if (!node_forward_first_copy(key, now_us)) return;
    struct node_request *req = node_request_new(cJSON_Duplicate(request, true), node_peer_id(peer),
                                                peer, now_us, fwd.config.request_timeout_us);
    req->forward_id = key.forward_id;
    req->forward_incarnation = key.incarnation;
    req->relay = node_relay_to_forwarder;
    if (node_live_requests() > fwd.config.max_inflight) {
        node_reply_error(req, PROTO_TEMPORARILY_UNAVAILABLE,
                         "overloaded: %lld requests already in flight at %s "
                         "(--max-inflight); nothing was done, retry later",
                         (long long)fwd.config.max_inflight, node_id());
        return;
    }
    fwd.config.dispatch(req);
}
