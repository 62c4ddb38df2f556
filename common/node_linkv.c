/* node_linkv: Maelstrom's lin-kv on the replicated log. write and cas are proposed to
 * the log and answered when their entry applies; read goes through ReadIndex (§6.4,
 * readindex.c). A follower forwards all three to the leader (node_forward.c). */
#include "node_parts.h"

#include "clock.h"
#include "proto.h"
#include "readindex.h"
#include "trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct {
    struct raft *raft;
    struct kv *kv;
    bool maelstrom;
    const struct node_stage *stage;
    int last_apply_result;  /* kv_apply's result for the latest applied entry */
    bool leader_local_read; /* READPATH_UNSAFE_LEADER_LOCAL_READ: the lab's broken read */
    bool refuse_cas;        /* READPATH_UNSAFE_REFUSE_CAS */
    long matching_cas;      /* cas ops seen whose `from` matched, under refuse_cas */
} linkv;

void node_linkv_start(struct raft *raft, struct kv *kv, bool maelstrom,
                      const struct node_stage *stage)
{
    linkv.raft = raft;
    linkv.kv = kv;
    linkv.maelstrom = maelstrom;
    linkv.stage = stage;
    linkv.leader_local_read = node_unsafe_test_switch("READPATH_UNSAFE_LEADER_LOCAL_READ");
    linkv.refuse_cas = node_unsafe_test_switch("READPATH_UNSAFE_REFUSE_CAS");
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
    if (kv_read(linkv.kv, key, &value) != PROTO_OK) {
        node_reply_error(req, PROTO_KEY_DOES_NOT_EXIST, "key does not exist");
        return;
    }
    cJSON *body = node_ok_body(req->type);
    /* A reference, not a copy: the reply is printed before anything can change the map. */
    cJSON_AddItemReferenceToObject(body, "value", (cJSON *)value);
    if (extend) extend(req, body);
    node_reply(req, body);
}

/* ---- writes ---- */

static void node_answer_commit(int64_t index, const struct raft_entry *entry, int result)
{
    /* Every waiter at this index is answered: there can be two, an old term's write
     * whose slot was overwritten and the write that took the slot. */
    struct node_request *req;
    while ((req = node_first_waiting(NODE_WAIT_COMMIT)) && req->log_index <= index) {
        if (req->log_index < index) {
            /* Its index applied before it started waiting; its outcome is not known here. */
            node_reply_error(req, PROTO_TIMEOUT, "entry %lld applied unobserved",
                             (long long)req->log_index);
        } else if (entry->term != req->log_term) {
            /* Another leader's entry took this slot, so ours is lost. Code 0 anyway: the
             * protocol keeps 11 (SPEC.md) for ops that never reached a log. */
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
            bool linkv_reply = strcmp(req->type, "write") == 0 || strcmp(req->type, "cas") == 0;
            if (!(linkv.maelstrom && linkv_reply))
                for (int f = 0; f < linkv.stage->feature_count; f++) {
                    const struct node_plugin *plugin = linkv.stage->features[f]->plugin;
                    if (plugin && plugin->write_reply_extend)
                        plugin->write_reply_extend(body, index);
                }
            node_reply(req, body);
        }
    }
}

void node_linkv_applied(int64_t index, const struct raft_entry *entry, int result)
{
    linkv.last_apply_result = result;
    node_answer_commit(index, entry, result);
}

void node_linkv_installed(int64_t index)
{
    struct node_request *req;
    while ((req = node_first_waiting(NODE_WAIT_COMMIT)) && req->log_index <= index)
        node_reply_error(req, PROTO_TIMEOUT,
                         "entry %lld was covered by a snapshot from the "
                         "leader before it applied here; its outcome is unknown",
                         (long long)req->log_index);
}

void node_propose(struct node_request *req, cJSON *command)
{
    int64_t index = raft_propose(linkv.raft, command);
    if (index < 0) {
        cJSON_Delete(command);
        node_forward(req);
        return;
    }
    req->log_index = index;
    req->log_term = raft_term(linkv.raft);
    req->may_have_effect = true;
    node_wait_commit(req);
    /* A single-member cluster commits inside raft_propose, before the request is on the
     * waiting list; answer it from the applied entry now. */
    if (raft_applied_index(linkv.raft) >= index)
        node_answer_commit(index, raft_entry_at(linkv.raft, index), linkv.last_apply_result);
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
    if (!raft_is_leader(linkv.raft)) {
        node_forward(req);
        return;
    }
    node_propose(req, node_command(req, "write", "key", "value", NULL));
}

/* READPATH_UNSAFE_REFUSE_CAS=1, a negative control for check-linearizable: every third cas
 * whose `from` matches the leader's state is refused with 22 and never proposed. A refusal is
 * an observation ("the value was not `from`"), and this one is false; a checker that drops
 * failed ops, as Knossos and Porcupine do, cannot see it. */
static bool node_refuses_matching_cas(const cJSON *key, const cJSON *from)
{
    const cJSON *value;
    if (!linkv.refuse_cas || kv_read(linkv.kv, key, &value) != PROTO_OK) return false;
    if (!cJSON_Compare(value, from, true)) return false;
    return ++linkv.matching_cas % 3 == 0;
}

static void node_handle_cas(struct node_request *req)
{
    const cJSON *key, *from, *to;
    if (!node_require_any(req, "key", &key) || !node_require_any(req, "from", &from) ||
        !node_require_any(req, "to", &to))
        return;
    if (!raft_is_leader(linkv.raft)) {
        node_forward(req);
        return;
    }
    if (node_refuses_matching_cas(key, from)) {
        trace_warn("READPATH_UNSAFE_REFUSE_CAS: cas from %s matches -> error 22, not proposed",
                   req->client);
        node_reply_error(req, PROTO_PRECONDITION_FAILED,
                         "current value is not `from` (a lie: READPATH_UNSAFE_REFUSE_CAS=1)");
        return;
    }
    node_propose(req, node_command(req, "cas", "key", "from", "to", NULL));
}

/* ---- reads ---- */

static void node_serve_read(struct node_request *req)
{
    node_reply_value(req, NULL);
}

static void node_handle_read(struct node_request *req)
{
    const cJSON *key;
    if (!node_require_any(req, "key", &key)) return;
    /* Unsafe, for the exercise: a node that believes it leads is not proven to lead. A
     * leader cut off from the majority keeps believing it (without CheckQuorum, forever)
     * while a new leader commits writes it never sees; ReadIndex's round is the proof. */
    if (linkv.leader_local_read && raft_is_leader(linkv.raft)) {
        node_serve_read(req);
        return;
    }
    readindex_submit(req, node_serve_read, clock_now_us());
}

const struct node_handler node_linkv_handlers[] = {
    {"read", node_handle_read, false},
    {"write", node_handle_write, true},
    {"cas", node_handle_cas, true},
};
const int node_linkv_handler_count = sizeof node_linkv_handlers / sizeof node_linkv_handlers[0];
