/* node_flags: the command line every stage's node shares, plus the stage's own flags.
 * Every flag is checked before any input is read: a bad one exits 2 naming the rule. */
#include "node_parts.h"

#include "proto.h"
#include "trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Timing defaults: the Maelstrom profile. Maelstrom's clients give up after about 1 s,
 * so every internal wait stays at or under 500 ms. */
#define NODE_DEFAULT_HEARTBEAT_MS 50
#define NODE_DEFAULT_ELECTION_TIMEOUT_MS 300
#define NODE_DEFAULT_REQUEST_TIMEOUT_MS 500
/* Client requests in flight (queued, waiting or being served, forwarded ones from peers
 * included) beyond which a new one is refused at once with error 11. Memory stays
 * bounded under a flood; Maelstrom's lin-kv runs keep a few dozen in flight, far below. */
#define NODE_DEFAULT_MAX_INFLIGHT 10000
/* Entries applied between two snapshots (§5.1): the log in memory and on disk holds about
 * this many entries at most, and a snapshot costs a copy of the key/value map (and, with
 * --data-dir, writing it and two fsyncs), so compacting every 10 000 writes costs little
 * per write. */
#define NODE_DEFAULT_SNAPSHOT_EVERY 10000

static void node_usage(FILE *out, const char *argv0, const struct node_stage *stage)
{
    fprintf(
        out,
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
        "  --snapshot-every N        after N entries applied, snapshot the state and drop\n"
        "                            the log before it, in memory and in DIR (0: never;\n"
        "                            default %d)\n"
        "  -v                        trace elections, redirects, ... on stderr\n"
        "  --help                    this text\n\n"
        "environment: READPATH_CLOCK_RATE (this node's clock rate, default 1.0),\n"
        "             READPATH_SEED (seed for election jitter)\n\n"
        "client messages (SPEC.md):",
        argv0, stage->name, stage->summary, NODE_DEFAULT_HEARTBEAT_MS,
        NODE_DEFAULT_ELECTION_TIMEOUT_MS, NODE_DEFAULT_REQUEST_TIMEOUT_MS,
        NODE_DEFAULT_MAX_INFLIGHT, NODE_DEFAULT_SNAPSHOT_EVERY);
    for (int i = 0; i < node_linkv_handler_count; i++)
        fprintf(out, " %s", node_linkv_handlers[i].type);
    for (int f = 0; f < stage->feature_count; f++)
        for (int i = 0; i < stage->features[f]->handler_count; i++)
            fprintf(out, " %s", stage->features[f]->handlers[i].type);
    fputc('\n', out);
    for (int f = 0; f < stage->feature_count; f++) {
        const struct node_feature *feature = stage->features[f];
        if (feature->flag_count > 0) fprintf(out, "\n%s adds:\n", feature->name);
        for (int i = 0; i < feature->flag_count; i++)
            fprintf(out, "  %-25s %s (default %lld)\n", feature->flags[i].name,
                    feature->flags[i].help, (long long)*feature->flags[i].value);
    }
}

static int node_parse_number(const char *flag, const char *text, int64_t min, int64_t *out)
{
    char *end;
    errno = 0;
    long long value = text ? strtoll(text, &end, 10) : 0;
    if (!text || errno || *end || value < min || value > PROTO_MAX_MS) {
        fprintf(stderr, "%s wants a whole number in %lld..%d\n", flag, (long long)min,
                PROTO_MAX_MS);
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
static int node_parse_stage_flag(const struct node_stage *stage, const char *arg, const char *next)
{
    for (int f = 0; f < stage->feature_count; f++) {
        const struct node_feature *feature = stage->features[f];
        for (int i = 0; i < feature->flag_count; i++)
            if (strcmp(arg, feature->flags[i].name) == 0)
                return node_parse_number(arg, next, 0, feature->flags[i].value) ? -1 : 1;
    }
    return 0;
}

int node_flags_parse(int argc, char **argv, const struct node_stage *stage,
                     struct node_flags *flags)
{
    flags->heartbeat_ms = NODE_DEFAULT_HEARTBEAT_MS;
    flags->election_timeout_ms = NODE_DEFAULT_ELECTION_TIMEOUT_MS;
    flags->request_timeout_ms = NODE_DEFAULT_REQUEST_TIMEOUT_MS;
    flags->max_inflight = NODE_DEFAULT_MAX_INFLIGHT;
    flags->snapshot_every = NODE_DEFAULT_SNAPSHOT_EVERY;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            node_usage(stdout, argv[0], stage);
            exit(0);
        } else if (strcmp(arg, "-v") == 0) {
            trace_verbose = true;
        } else if (strcmp(arg, "--maelstrom") == 0) {
            flags->maelstrom = true;
        } else if (strcmp(arg, "--heartbeat-ms") == 0) {
            if (node_parse_ms(arg, next, &flags->heartbeat_ms)) return -1;
            i++;
        } else if (strcmp(arg, "--election-timeout-ms") == 0) {
            if (node_parse_ms(arg, next, &flags->election_timeout_ms)) return -1;
            i++;
        } else if (strcmp(arg, "--data-dir") == 0) {
            if (!next || !*next) {
                fprintf(stderr, "--data-dir wants a directory\n");
                return -1;
            }
            flags->data_dir = next;
            i++;
        } else if (strcmp(arg, "--max-inflight") == 0) {
            if (node_parse_number(arg, next, 1, &flags->max_inflight)) return -1;
            i++;
        } else if (strcmp(arg, "--snapshot-every") == 0) {
            if (node_parse_number(arg, next, 0, &flags->snapshot_every)) return -1;
            i++;
        } else if (strcmp(arg, "--request-timeout-ms") == 0) {
            if (node_parse_ms(arg, next, &flags->request_timeout_ms)) return -1;
            i++;
        } else {
            int stage_flag = node_parse_stage_flag(stage, arg, next);
            if (stage_flag < 0) return -1;
            if (stage_flag > 0) {
                i++;
                continue;
            }
            fprintf(stderr, "%s: unknown option %s (try --help)\n", argv[0], arg);
            return -1;
        }
    }
    if (flags->heartbeat_ms * 2 > flags->election_timeout_ms) {
        fprintf(stderr, "%s: --heartbeat-ms must be at most half of --election-timeout-ms\n",
                argv[0]);
        return -1;
    }
    for (int f = 0; f < stage->feature_count; f++) {
        const char *unusable =
            stage->features[f]->check_flags ? stage->features[f]->check_flags() : NULL;
        if (unusable) {
            fprintf(stderr, "%s: %s\n", argv[0], unusable);
            return -1;
        }
    }
    return 0;
}
