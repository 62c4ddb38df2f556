#include "fr_read_index.h"

#include "clock.h"
#include "proto.h"
#include "readindex.h"
#include "trace.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* How long a read may take to get its index asked, answered and applied before it falls
 * back to the leader: as long as follower_read gives a fresh pair (capped by
 * node_stage_wait_us, so the redirect still fits in the request's time). */
#define FR_READ_INDEX_WAIT_HEARTBEATS 3

/* Reads ride numbered batches, one read-index request per batch. A batch's request is
 * sent after every one of its reads arrived: that is what makes the leader's answer, an
 * index it recorded when the request reached it, cover writes that completed before each
 * of those reads began. A read that arrives while a request is in flight rides the next
 * batch, never the one in flight. */
static struct {
    const struct fr_read_index_reader *reader;
    /* Negative control: read at once, as if this node's own commit index were a read
     * index, without asking the leader. */
    bool unsafe_own_commit;
    uint64_t next_batch; /* the batch a read arriving now rides; not asked for yet */
    int64_t next_riders; /* reads parked on it (none: it is not asked for) */
    /* The request in flight (NULL: none), for which batch, and whom it asked: the answer
     * must come from that life of the leader, in that term. */
    struct node_request *asking;
    uint64_t asking_batch;
    int64_t asked_us, asked_term, asked_incarnation;
    /* Every batch up to answered_batch has been answered; answered_index is the latest
     * index (indexes only grow), good for any of them. */
    uint64_t answered_batch;
    int64_t answered_index;
    /* Batches after answered_batch, up to failed_batch, got no usable answer. */
    uint64_t failed_batch;
} ri = {.next_batch = 1, .answered_index = -1};

void fr_read_index_start(const struct fr_read_index_reader *reader)
{
    ri.reader = reader;
    ri.unsafe_own_commit =
        node_unsafe_test_switch("READPATH_UNSAFE_FOLLOWER_READ_INDEX_OWN_COMMIT");
}

/* ---- a read's life at the follower ---- */

/* Parked reads are retried after every answer and every apply (node_retry_stage_waiters);
 * each one looks at its own batch. */
static void ri_retry(struct node_request *req)
{
    if (req->read_index < 0 && req->read_round <= ri.answered_batch)
        req->read_index = ri.answered_index;
    if (req->read_index < 0) {
        /* Its batch has no answer yet, but an earlier batch's answer (or a heartbeat's
         * pair) may prove its bound already: then it need not wait. */
        bool rides_next = req->read_round == ri.next_batch;
        if (ri.reader->serve_if_proven(req)) {
            if (rides_next) ri.next_riders--;
        } else if (req->read_round <= ri.failed_batch) {
            ri.reader->fall_back(req);
        }
        return;
    }
    /* The index may be ahead of what this node has applied (the leader tells followers of
     * a commit one append later): reading before applying it would miss writes that
     * completed before the read began. */
    if (raft_applied_index(node_raft()) < req->read_index) return;
    ri.reader->serve(req);
}

static void ri_fail(uint64_t batch)
{
    ri.failed_batch = batch;
    node_retry_stage_waiters();
}

/* Returns NULL if the leader's answer is a read index this node may use (*index set),
 * else why not; *is_error tells an error (no answer in time, the leader changed) from an
 * answer that should not have come (malformed, or from another term or life). */
static const char *ri_check_answer(const cJSON *body, int64_t *index, bool *is_error, char *why,
                                   size_t size)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
    *is_error = cJSON_IsString(type) && strcmp(type->valuestring, "error") == 0;
    if (!cJSON_IsString(type)) return "an answer without a type";
    if (strcmp(type->valuestring, "read_index_ok") != 0) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(body, "text");
        snprintf(why, size, "%s (%s)", type->valuestring,
                 cJSON_IsString(text) ? text->valuestring : "no text");
        return why;
    }
    int64_t term, incarnation;
    if (proto_get_nonneg_int(body, "read_index", index, why, size) != PROTO_OK ||
        proto_get_nonneg_int(body, "term", &term, why, size) != PROTO_OK ||
        proto_get_nonneg_int(body, "incarnation", &incarnation, why, size) != PROTO_OK)
        return why;
    /* Only the life of the leader that was asked, in the term it was asked in, ran the
     * ReadIndex this answer stands for. */
    if (term != ri.asked_term || incarnation != ri.asked_incarnation ||
        raft_term(node_raft()) != ri.asked_term) {
        snprintf(why, size, "term %lld, life %lld, but asked term %lld, life %lld", (long long)term,
                 (long long)incarnation, (long long)ri.asked_term, (long long)ri.asked_incarnation);
        return why;
    }
    return NULL;
}

static void ri_ask(void);

/* The one answer to the request in flight: the leader's, or an error (no answer in time,
 * cancelled because the leader changed, input closed). */
static void ri_answered(struct node_request *req, cJSON *body)
{
    assert(req == ri.asking);
    (void)req;
    ri.asking = NULL;
    char why[160];
    int64_t index;
    bool is_error;
    const char *unusable = ri_check_answer(body, &index, &is_error, why, sizeof why);
    cJSON_Delete(body);
    if (unusable) {
        if (is_error)
            trace_event("read index for batch %llu: %s -> its reads go to the leader",
                        (unsigned long long)ri.asking_batch, unusable);
        else
            trace_warn("read index for batch %llu: %s; ignored -> its reads go to the leader",
                       (unsigned long long)ri.asking_batch, unusable);
        ri_fail(ri.asking_batch);
    } else {
        trace_event("read index %lld for batch %llu -> its reads wait to apply it",
                    (long long)index, (unsigned long long)ri.asking_batch);
        ri.answered_batch = ri.asking_batch;
        if (index > ri.answered_index) ri.answered_index = index;
        ri.reader->confirmed(ri.asked_us, index);
        node_retry_stage_waiters();
    }
    ri_ask();
}

/* Sends the next batch's request, unless one is in flight or nobody rides it. */
static void ri_ask(void)
{
    if (ri.asking || ri.next_riders == 0) return;
    struct raft *r = node_raft();
    uint64_t batch = ri.next_batch++;
    ri.next_riders = 0;
    int leader = raft_leader(r);
    int64_t leader_incarnation = raft_leader_incarnation(r);
    if (leader < 0 || leader == raft_self(r) || leader_incarnation <= 0) {
        trace_event("read index for batch %llu: no leader to ask -> its reads go to the leader",
                    (unsigned long long)batch);
        ri_fail(batch);
        return;
    }
    ri.asking_batch = batch;
    ri.asked_us = clock_now_us();
    ri.asked_term = raft_term(r);
    ri.asked_incarnation = leader_incarnation;
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", "read_index");
    ri.asking = node_ask_leader(body, ri_answered);
}

/* A read still waiting when its time is up: if its batch's request is the one in flight,
 * the leader is slow or gone, and every read of that batch goes to the leader now. */
static void ri_deadline(struct node_request *req)
{
    if (ri.asking && req->read_index < 0 && req->read_round == ri.asking_batch) {
        trace_event("read index for batch %llu: no answer within %lld ms -> cancelled",
                    (unsigned long long)ri.asking_batch,
                    (long long)((clock_now_us() - req->received_us) / 1000));
        node_reply_error(ri.asking, PROTO_TEMPORARILY_UNAVAILABLE, "no answer in time");
        return; /* ri_answered sent this read to the leader with the rest of its batch */
    }
    if (req->read_round == ri.next_batch) ri.next_riders--;
    trace_event("%s from %s: no read index applied in time (index %lld, applied %lld) -> leader",
                req->type, req->client, (long long)req->read_index,
                (long long)raft_applied_index(node_raft()));
    ri.reader->fall_back(req);
}

void fr_read_index_read(struct node_request *req)
{
    if (ri.unsafe_own_commit) {
        ri.reader->serve(req);
        return;
    }
    req->read_round = ri.next_batch;
    req->read_index = -1;
    ri.next_riders++;
    node_wait_stage(req, ri_retry,
                    clock_now_us() + node_stage_wait_us(FR_READ_INDEX_WAIT_HEARTBEATS),
                    ri_deadline);
    ri_ask();
}

void fr_read_index_applied(int64_t index)
{
    /* Reads wait for indexes up to answered_index; an apply beyond it frees none. */
    if (index <= ri.answered_index) node_retry_stage_waiters();
}

void fr_read_index_leadership_changed(void)
{
    /* An answer from the leader asked would still be safe (its ReadIndex confirmed it led
     * when the request arrived), but it may never come: the reads go to the new leader
     * now rather than at their deadline. */
    if (!ri.asking) return;
    trace_event("leader or term changed with read index batch %llu asked -> cancelled",
                (unsigned long long)ri.asking_batch);
    node_reply_error(ri.asking, PROTO_TEMPORARILY_UNAVAILABLE, "the leader changed");
}

/* ---- the leader's side ---- */

static void ri_send_index(struct node_request *req)
{
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "type", "read_index_ok");
    cJSON_AddNumberToObject(reply, "read_index", (double)req->read_index);
    cJSON_AddNumberToObject(reply, "term", (double)raft_term(node_raft()));
    cJSON_AddNumberToObject(reply, "incarnation", (double)node_incarnation());
    node_reply(req, reply);
}

void fr_read_index_handle(struct node_request *req)
{
    /* Only ever forwarded by a peer (node_ask_leader): a client has no use for an index. */
    if (!req->relay) {
        node_reply_error(req, PROTO_NOT_SUPPORTED,
                         "read_index is asked by a follower of its leader; clients read with "
                         "read or follower_read");
        return;
    }
    /* ReadIndex as for the leader's own reads, sharing their rounds; the answer goes out
     * once a round begun after this request arrived confirms this node still leads (and
     * it has applied the index, which costs the leader nothing to wait for). */
    readindex_submit(req, ri_send_index, clock_now_us());
}
