/* route: the simulated network between nodes.
 *
 * Every node->node line goes into one queue ordered by delivery time (send time +
 * --latency-ms + a seeded draw in [0, --jitter-ms]); ties keep send order, so with no
 * jitter each link is FIFO, and with jitter messages may overtake each other as on a
 * real network. A partition assigns each node a group; a message is dropped when its
 * endpoints are in different groups at send time *or* at delivery time, so a partition
 * also swallows what was already on the wire, as a cut cable would. A one-way cut
 * drops one direction of one link only (n1 -> n2 while n2 -> n1 flows), by the same two
 * tests: the asymmetric failures (a leader that can send but not hear) that symmetric
 * partitions never produce. Duplication delivers a peer message twice, with some
 * probability: the copy gets its own latency and jitter draw, so it may arrive before
 * the original or after later messages (a retransmission, a replayed packet). Clients
 * are not on this network: they reach every node at all times (as in Maelstrom), and
 * their requests are never duplicated. */
#ifndef ROUTE_H
#define ROUTE_H

#include "rng.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t deliver_at_us;
    uint64_t send_seq; /* tie-break: equal times deliver in send order */
    int from_index, to_index;
    char *line; /* owned, without the newline */
    size_t line_len;
} route_message;

typedef struct {
    int node_count;
    int64_t latency_us, jitter_us;
    rng_stream jitter_rng;
    double duplicate_probability; /* 0: no duplication */
    rng_stream duplicate_rng;     /* its own stream: duplication never shifts the jitter */
    int *group_by_node;           /* all equal = no partition */
    bool *dead_by_node;           /* killed nodes neither send nor receive */
    bool *cut_by_link;            /* [from][to]: one-way cuts */
    route_message *heap;
    size_t heap_len, heap_cap;
    uint64_t next_seq;
    /* Counters for the summary; per-link arrays are node_count * node_count, [from][to]. */
    uint64_t routed_total, delivered_total;
    uint64_t dropped_at_send, dropped_in_flight, dropped_dead, duplicated_total;
    uint64_t *delivered_by_link, *dropped_by_link, *duplicated_by_link;
} route_net;

typedef void (*route_deliver_fn)(void *ctx, int to_index, const char *line, size_t line_len);

void route_init(route_net *net, int node_count, int64_t latency_us, int64_t jitter_us,
                uint64_t seed);
void route_free(route_net *net);
/* Queues a copy of line (no trailing newline) from one node to another. */
void route_send(route_net *net, int64_t now_us, int from_index, int to_index, const char *line,
                size_t line_len);
/* Hands every message due by now_us to deliver, dropping those a cut now separates. */
void route_deliver_due(route_net *net, int64_t now_us, route_deliver_fn deliver, void *ctx);
/* When the next message is due, or INT64_MAX with nothing queued. */
int64_t route_next_due_us(const route_net *net);
void route_partition(route_net *net, const int *group_by_node);
/* Drops (cut) or restores (!cut) the messages from one node to another; the reverse
 * direction is untouched. */
void route_cut(route_net *net, int from_index, int to_index, bool cut);
/* No partition and no cut: every node reaches every other. */
void route_heal(route_net *net);
/* From now on each peer message is also sent a second time with this probability
 * (0 turns duplication off). */
void route_duplicate(route_net *net, double probability);
void route_mark_dead(route_net *net, int node_index);
/* A killed node restarted: it sends and receives again. */
void route_mark_alive(route_net *net, int node_index);
bool route_connected(const route_net *net, int from_index, int to_index);

#endif
