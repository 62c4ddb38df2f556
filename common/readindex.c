#include "readindex.h"

#include "node_parts.h"
#include "trace.h"

#include <string.h>

static struct raft *readindex_raft;

void readindex_start(struct raft *r)
{
    readindex_raft = r;
}

void readindex_submit(struct node_request *req, node_serve_fn serve, int64_t now_us)
{
    if (!raft_is_leader(readindex_raft)) {
        node_forward(req);
        return;
    }
    req->serve = serve;
    req->read_index = -1;
    req->read_round = 0;
    node_wait_on(req, NODE_WAIT_READ_INDEX);
    readindex_progress(now_us);
}

/* The leader that served a redirected read does not know why it was redirected: the
 * node the client asked adds the reason as it relays the answer. It belongs on a
 * linearizable reply only (the redirect was to read at the leader), never on an error. */
static void readindex_add_reason(struct node_request *req, cJSON *reply)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(reply, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "error") == 0 ||
        cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(reply, "linearizable")))
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(reply, "reason");
    cJSON_AddStringToObject(reply, "reason", req->reason);
}

void readindex_redirect(struct node_request *req, const char *reason, node_serve_fn serve,
                        int64_t now_us)
{
    if (!req->reason) req->reason = reason;
    req->extend_relayed = readindex_add_reason;
    readindex_submit(req, serve, now_us);
}

/* Assigns read indexes to reads that have none, in arrival order. Returns true when a
 * new round is needed for them. */
static bool readindex_assign(struct raft *r)
{
    /* Step 1: nothing before this term's no-op is applied. */
    if (raft_applied_index(r) < raft_noop_index(r)) return false;
    bool assigned = false;
    for (struct node_request *req = node_first_waiting(NODE_WAIT_READ_INDEX); req;
         req = node_next_waiting(req)) {
        if (req->read_index >= 0) continue;
        req->read_index = raft_commit_index(r); /* step 2 */
        req->read_round = raft_round(r) + 1;    /* step 3: a round not yet begun */
        assigned = true;
    }
    return assigned;
}

void readindex_progress(int64_t now_us)
{
    /* Serving a read can confirm a round on a single-member cluster, which calls back in
     * here; the outer call finishes the job instead of recursing. */
    static bool running, again;
    if (running) {
        again = true;
        return;
    }
    running = true;
    do {
        again = false;
        struct raft *r = readindex_raft;
        if (!raft_is_leader(readindex_raft)) {
            struct node_request *req;
            while ((req = node_first_waiting(NODE_WAIT_READ_INDEX))) {
                trace_event("lost leadership with a read waiting -> forward it");
                node_forward(req);
            }
            break;
        }
        if (readindex_assign(r)) raft_want_round(r, now_us);
        /* Reads were queued with non-decreasing rounds and indexes, so the first that
         * cannot be served yet stops the walk. */
        struct node_request *req;
        while ((req = node_first_waiting(NODE_WAIT_READ_INDEX))) {
            if (req->read_index < 0 || raft_confirmed_round(r) < req->read_round ||
                raft_applied_index(r) < req->read_index)
                break;
            req->serve(req); /* step 4 */
        }
    } while (again);
    running = false;
}
