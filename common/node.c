/* node: init, the Raft core's callbacks, and main. The rest of the runtime is in the
 * node_*.c files beside this one (node_parts.h lists them and how they fit). */
#include "node.h"

#include "clock.h"
#include "loop.h"
#include "node_parts.h"
#include "proto.h"
#include "readindex.h"
#include "storage.h"
#include "trace.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    const struct node_stage *stage;
    struct node_flags flags;
    /* --data-dir: the open log, and what it held at start until init hands it to raft. */
    struct storage *storage;
    struct raft_persisted recovered;
    bool initialized;
    bool plugins_started;
    /* A snapshot from the leader replaced the state this turn (see node_after_install). */
    bool installed;
    struct raft *raft;
    struct kv *kv;
} node;

/* Calls one hook of every plugin: NODE_EACH_PLUGIN(applied, (index, entry)). */
/* clang-format off */
#define NODE_EACH_PLUGIN(hook, args)                                                   \
    for (int i_ = 0; i_ < node.stage->feature_count; i_++)                             \
        if (node.stage->features[i_]->plugin && node.stage->features[i_]->plugin->hook) \
            node.stage->features[i_]->plugin->hook args
/* clang-format on */

/* The same walk, naming the plugin: NODE_EACH_PLUGIN_WITH(applied, p) p->applied(...). */
#define NODE_EACH_PLUGIN_WITH(hook, plugin)                                                        \
    for (int i_ = 0; i_ < node.stage->feature_count; i_++)                                         \
        for (const struct node_plugin *plugin = node.stage->features[i_]->plugin;                  \
             plugin && plugin->hook; plugin = NULL)

/* ---- small accessors ---- */

struct raft *node_raft(void)
{
    return node.raft;
}
struct kv *node_kv(void)
{
    return node.kv;
}
bool node_is_leader(void)
{
    return node.raft && raft_is_leader(node.raft);
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

bool node_unsafe_test_switch(const char *name)
{
    const char *value = getenv(name);
    bool on = value && strcmp(value, "1") == 0;
    if (on) trace_warn("%s=1: an UNSAFE test-only behaviour is on", name);
    return on;
}

/* ---- which handler serves a type ---- */

static const struct node_handler *node_find_entry(const char *type)
{
    for (int f = 0; f < node.stage->feature_count; f++) {
        const struct node_feature *feature = node.stage->features[f];
        for (int i = 0; i < feature->handler_count; i++)
            if (strcmp(feature->handlers[i].type, type) == 0) return &feature->handlers[i];
    }
    for (int i = 0; i < node_linkv_handler_count; i++)
        if (strcmp(node_linkv_handlers[i].type, type) == 0) return &node_linkv_handlers[i];
    return NULL;
}

static bool node_changes_state(const char *type)
{
    const struct node_handler *entry = node_find_entry(type);
    return entry && entry->changes_state;
}

static void node_dispatch(struct node_request *req)
{
    const struct node_handler *entry = node_find_entry(req->type);
    if (entry) {
        entry->handle(req);
        return;
    }
    trace_warn("%s from %s: unknown type -> error 10", req->type, req->client);
    node_reply_error(req, PROTO_NOT_SUPPORTED, "message type \"%s\" is not supported by stage %s",
                     req->type, node.stage->name);
}

/* ---- raft callbacks, fanned out to the runtime and the plugins ---- */

static void node_raft_send(void *ctx, int peer, cJSON *body)
{
    (void)ctx;
    if (node_durable_hold(peer, body)) return; /* an ack or a vote, until its fsync */
    proto_send(node_id(), node_peer_id(peer), -1, body);
}

static void node_persist_term_vote(void *ctx, int64_t term, int voted_for)
{
    (void)ctx;
    storage_term_vote(node.storage, term, voted_for);
}

/* Every entry the log takes: to disk (with --data-dir), then to the plugins. */
static void node_raft_appended(void *ctx, int64_t index, const struct raft_entry *entry)
{
    (void)ctx;
    if (node.storage) storage_append(node.storage, index, entry);
    NODE_EACH_PLUGIN(appended, (index, entry));
}

static void node_persist_truncate(void *ctx, int64_t after_index)
{
    (void)ctx;
    storage_truncate(node.storage, after_index);
}

/* An fsync let the leader commit: the end of a turn for what that unblocked (the
 * replies it applied, reads and rounds waiting on them). Not node_on_turn's whole
 * tail: no install can have happened since, and compaction waits for the next turn,
 * out of proto's flush. */
static void node_commit_moved(void)
{
    int64_t now_us = clock_now_us();
    NODE_EACH_PLUGIN(turn, (now_us));
    raft_flush(node.raft, now_us);
}

static void node_raft_apply(void *ctx, int64_t index, const struct raft_entry *entry)
{
    (void)ctx;
    node_linkv_applied(index, entry, kv_apply(node.kv, entry->command));
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

/* Raft's piggyback object holds one object per plugin, under the plugin's name, so each
 * plugin reads and writes only its own (an empty one is not sent). */
static void node_attach_mine(cJSON *piggyback, const struct node_plugin *plugin, cJSON *mine)
{
    if (mine && mine->child)
        cJSON_AddItemToObject(piggyback, plugin->name, mine);
    else
        cJSON_Delete(mine);
}

static const cJSON *node_piggyback_for(const cJSON *piggyback, const struct node_plugin *plugin)
{
    const cJSON *mine =
        piggyback ? cJSON_GetObjectItemCaseSensitive(piggyback, plugin->name) : NULL;
    if (mine && !cJSON_IsObject(mine)) {
        trace_warn("piggyback.%s is not an object; ignored", plugin->name);
        return NULL;
    }
    return mine;
}

static void node_raft_sending_append(void *ctx, int peer, cJSON *piggyback)
{
    (void)ctx;
    NODE_EACH_PLUGIN_WITH(sending_append, plugin)
    {
        cJSON *mine = cJSON_CreateObject();
        plugin->sending_append(peer, mine);
        node_attach_mine(piggyback, plugin, mine);
    }
}

static void node_raft_leader_contact(void *ctx, int leader, const cJSON *piggyback, int64_t now_us)
{
    (void)ctx;
    NODE_EACH_PLUGIN_WITH(leader_contact, plugin)
    plugin->leader_contact(leader, node_piggyback_for(piggyback, plugin), now_us);
}

static void node_raft_sending_ack(void *ctx, cJSON *piggyback, int64_t now_us)
{
    (void)ctx;
    NODE_EACH_PLUGIN_WITH(sending_ack, plugin)
    {
        cJSON *mine = cJSON_CreateObject();
        plugin->sending_ack(mine, now_us);
        node_attach_mine(piggyback, plugin, mine);
    }
}

static void node_raft_ack_received(void *ctx, int peer, const cJSON *piggyback, int64_t now_us)
{
    (void)ctx;
    NODE_EACH_PLUGIN_WITH(ack_received, plugin)
    plugin->ack_received(peer, node_piggyback_for(piggyback, plugin), now_us);
}

/* ---- snapshots (§5.1-5.4) ---- */

/* A snapshot is {"kv": the map, "plugins": {name: that plugin's own state}}. */
static void node_load_plugins(int64_t index, const cJSON *plugins)
{
    NODE_EACH_PLUGIN_WITH(snapshot_load, plugin)
    plugin->snapshot_load(index, node_piggyback_for(plugins, plugin));
}

static bool node_load_snapshot(void *ctx, int64_t index, int64_t term, const cJSON *snapshot)
{
    (void)ctx;
    (void)term;
    const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(snapshot, "plugins");
    if ((plugins && !cJSON_IsObject(plugins)) ||
        !kv_load(node.kv, cJSON_GetObjectItemCaseSensitive(snapshot, "kv")))
        return false;
    /* At restart the plugins start after raft_restore: node_handle_init loads them then. */
    if (node.plugins_started) {
        node_load_plugins(index, plugins);
        node.installed = true;
    }
    return true;
}

static void node_persist_snapshot(void *ctx, int64_t index, int64_t term, const cJSON *snapshot)
{
    (void)ctx;
    storage_snapshot(node.storage, index, term, snapshot, node.raft);
    node_durable_log_synced(); /* the rewritten log is the core's whole log, synced */
}

/* After the turn that installed a snapshot, once the core's indexes moved: what waited on
 * an index it covers is answered or retried. */
static void node_after_install(int64_t now_us)
{
    if (!node.installed) return;
    node.installed = false;
    int64_t index = raft_snapshot_index(node.raft);
    node_linkv_installed(index);
    NODE_EACH_PLUGIN(installed, (index));
    node_retry_stage_waiters();
    readindex_progress(now_us);
}

/* --snapshot-every: once that many entries were applied since the last snapshot, the
 * state as of the applied index replaces the log before it (§5.1). At the end of a turn,
 * so every entry of the turn is applied and no callback is in flight. */
static void node_maybe_compact(void)
{
    struct raft *r = node.raft;
    int64_t applied = raft_applied_index(r);
    if (node.flags.snapshot_every == 0 ||
        applied - raft_snapshot_index(r) < node.flags.snapshot_every)
        return;
    cJSON *snapshot = cJSON_CreateObject();
    cJSON_AddItemToObject(snapshot, "kv", kv_save(node.kv));
    cJSON *plugins = cJSON_AddObjectToObject(snapshot, "plugins");
    NODE_EACH_PLUGIN_WITH(snapshot_save, plugin)
    {
        cJSON *mine = cJSON_CreateObject();
        plugin->snapshot_save(mine);
        node_attach_mine(plugins, plugin, mine);
    }
    raft_compact(r, applied, snapshot);
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

static int64_t node_deadline_timer(void *ctx, int64_t now_us)
{
    (void)ctx;
    return node_requests_timer(now_us);
}

/* ---- messages ---- */

/* READPATH_INCARNATION=N (tests only) pins this life's id, so a suite that plays the
 * followers of a node from a script can echo it without reading the node's output. Two
 * lives that share one are no longer told apart: never set it for a restart. */
static int64_t node_draw_incarnation(void)
{
    const char *pinned = getenv("READPATH_INCARNATION");
    if (pinned && *pinned) return strtoll(pinned, NULL, 10);
    return (int64_t)clock_unique_id();
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
        proto_send_error(node_id(), src, msg_id, PROTO_MALFORMED_REQUEST,
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
    cJSON_ArrayForEach(id, ids)
        ok = ok && cJSON_IsString(id);
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
    const char *names[n];
    for (int i = 0; i < n; i++)
        names[i] = cJSON_GetArrayItem(ids, i)->valuestring;
    node_members_set(self_id, names, n, self);
    trace_set_name(node_id());

    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "type", "init_ok");
    proto_send(node_id(), src, msg_id, reply);

    bool parallel_fsync = node_durable_start(n, node_commit_moved);
    int64_t incarnation = node_draw_incarnation();
    struct raft_config config = {
        .heartbeat_us = node.flags.heartbeat_ms * 1000,
        .election_timeout_us = node.flags.election_timeout_ms * 1000,
        .max_entries_per_append = 64,
        .without_check_quorum = node_unsafe_test_switch("READPATH_UNSAFE_NO_CHECK_QUORUM"),
        .await_own_fsync = parallel_fsync,
        .incarnation = incarnation,
    };
    struct raft_callbacks callbacks = {
        .send = node_raft_send,
        .apply = node_raft_apply,
        .leadership_changed = node_raft_leadership_changed,
        .round_confirmed = node_raft_round_confirmed,
        .persist_append = node_raft_appended,
        .sending_append = node_raft_sending_append,
        .leader_contact = node_raft_leader_contact,
        .sending_ack = node_raft_sending_ack,
        .ack_received = node_raft_ack_received,
        .load_snapshot = node_load_snapshot,
    };
    if (node.storage) {
        callbacks.persist_term_vote = node_persist_term_vote;
        callbacks.persist_truncate = node_persist_truncate;
        callbacks.persist_snapshot = node_persist_snapshot;
    }
    const char *pin = getenv("READPATH_PIN_ELECTION_TIMEOUT");
    node_pin_election_timeout = pin && strcmp(pin, "1") == 0;
    node.kv = kv_new();
    node.initialized = true;
    node.raft = raft_new(self, n, &config, &callbacks, node_draw, clock_now_us());
    node_forward_start(
        &(struct node_forward_config){.raft = node.raft,
                                      .incarnation = incarnation,
                                      .request_timeout_us = node_request_timeout_us(),
                                      .max_inflight = node.flags.max_inflight,
                                      .dispatch = node_dispatch,
                                      .changes_state = node_changes_state});
    readindex_start(node.raft);
    node_linkv_start(node.raft, node.kv, node.flags.maelstrom, node.stage);
    if (node.storage) {
        /* The KV is rebuilt as these entries commit again: the commit index is not
         * persisted, a leader's append tells it (or, alone, the node's own no-op). */
        /* Always said (not only with -v): a restart is rare and worth a line in any log. */
        if (node.recovered.term > 0 || node.recovered.count > 0 || node.recovered.snapshot)
            trace_warn("restored term %lld, vote %d, %lld entries after the snapshot through %lld "
                       "from %s -> no votes for %lld ms",
                       (long long)node.recovered.term, node.recovered.voted_for,
                       (long long)node.recovered.count, (long long)node.recovered.snapshot_index,
                       node.flags.data_dir, (long long)node.flags.election_timeout_ms);
        if (!raft_restore(node.raft, &node.recovered, clock_now_us())) {
            fprintf(stderr,
                    "storage: the snapshot in %s does not load (its state is not "
                    "this node's format). Refusing to start.\n",
                    node.flags.data_dir);
            exit(1);
        }
        /* The core took the commands and the snapshot; the array is ours. */
        free(node.recovered.entries);
        node.recovered = (struct raft_persisted){.voted_for = -1};
    }
    trace_event("init as %s of %d -> follower, waiting for a leader", node_id(), n);
    NODE_EACH_PLUGIN(started, ());
    node.plugins_started = true;
    /* A restored snapshot's plugin state, now that the plugins have started. */
    if (raft_snapshot(node.raft))
        node_load_plugins(raft_snapshot_index(node.raft),
                          cJSON_GetObjectItemCaseSensitive(raft_snapshot(node.raft), "plugins"));
    /* A single-member cluster elects itself right away. */
    if (n == 1) raft_tick(node.raft, clock_now_us());
    loop_wake_timers();
}

static void node_handle_peer(int peer, const cJSON *body)
{
    const char *type = cJSON_GetObjectItemCaseSensitive(body, "type")->valuestring;
    int64_t now_us = clock_now_us();
    if (raft_handles(type)) {
        raft_receive(node.raft, peer, body, now_us);
    } else if (strcmp(type, "forward") == 0) {
        node_forward_receive(peer, body, now_us);
    } else if (strcmp(type, "forward_res") == 0) {
        node_forward_receive_res(peer, body);
    } else {
        trace_warn("unknown peer message %s from %s; ignored", type, node_peer_id(peer));
    }
}

static void node_handle_request(cJSON *body, const char *src)
{
    int64_t now_us = clock_now_us();
    node_dispatch(node_request_new(body, src, -1, now_us, node_request_timeout_us()));
}

static bool node_initialized(void)
{
    return node.initialized;
}

/* ---- the event loop's turn and end ---- */

static bool node_on_turn(void *ctx, int64_t now_us)
{
    (void)ctx;
    bool more = node_intake_turn();
    if (node.raft) {
        node_after_install(now_us);
        NODE_EACH_PLUGIN(turn, (now_us));
        node_maybe_compact();
        raft_flush(node.raft, now_us);
    }
    return more;
}

static void node_on_eof(void *ctx)
{
    (void)ctx;
    node_intake_eof();
    if (!node.initialized) return;
    /* Whatever still waits is answered at once: nobody is left to wait for. */
    raft_flush(node.raft, clock_now_us());
    node_expire_all("input closed");
    trace_event("stdin closed -> answered everything pending, exiting");
}

/* ---- main ---- */

static void node_free_all(void)
{
    raft_free(node.raft);
    kv_free(node.kv);
    node_forward_stop();
    node_intake_stop();
    node_members_free();
    storage_close(node.storage);
    node_durable_stop();
    storage_forget(&node.recovered);
}

int node_main(int argc, char **argv, const struct node_stage *stage)
{
    node.stage = stage;
    if (node_flags_parse(argc, argv, stage, &node.flags)) return 2;
    if (clock_init()) return 2;
    if (node.flags.data_dir) {
        /* Before init, so a corrupt log stops the node before it says anything. */
        node.storage = storage_open(node.flags.data_dir, &node.recovered);
        if (!node.storage) return 1;
        node_durable_open(node.storage);
    }
    /* A reader that went away must not kill us with SIGPIPE mid-reply. */
    signal(SIGPIPE, SIG_IGN);
    node_intake_start(&(struct node_intake_handlers){.init = node_handle_init,
                                                     .peer = node_handle_peer,
                                                     .request = node_handle_request,
                                                     .initialized = node_initialized},
                      node.flags.max_inflight);
    struct loop_handlers handlers = {.on_line = node_intake_line,
                                     .on_turn = node_on_turn,
                                     .on_eof = node_on_eof,
                                     .wants_input = node_intake_wants_input};
    loop_init(&handlers);
    loop_add_timer(node_raft_timer, NULL, 0);
    loop_add_timer(node_deadline_timer, NULL, 0);
    loop_add_timer(node_forward_timer, NULL, 0);
    int status = loop_run();
    node_free_all();
    return status == 0 ? 0 : 1;
}
