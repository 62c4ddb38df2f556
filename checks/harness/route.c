#include "route.h"

#include <stdlib.h>
#include <string.h>

void route_init(route_net *net, int node_count, int64_t latency_us, int64_t jitter_us,
                uint64_t seed)
{
    memset(net, 0, sizeof *net);
    net->node_count = node_count;
    net->latency_us = latency_us;
    net->jitter_us = jitter_us;
    rng_seed(&net->jitter_rng, seed, RNG_STREAM_NETWORK);
    rng_seed(&net->duplicate_rng, seed, RNG_STREAM_DUPLICATE);
    size_t n = (size_t)node_count, links = n * n;
    net->group_by_node = calloc(n, sizeof *net->group_by_node);
    net->dead_by_node = calloc(n, sizeof *net->dead_by_node);
    net->cut_by_link = calloc(links, sizeof *net->cut_by_link);
    net->delivered_by_link = calloc(links, sizeof *net->delivered_by_link);
    net->dropped_by_link = calloc(links, sizeof *net->dropped_by_link);
    net->duplicated_by_link = calloc(links, sizeof *net->duplicated_by_link);
}

void route_free(route_net *net)
{
    for (size_t i = 0; i < net->heap_len; i++)
        free(net->heap[i].line);
    free(net->heap);
    free(net->group_by_node);
    free(net->dead_by_node);
    free(net->cut_by_link);
    free(net->delivered_by_link);
    free(net->dropped_by_link);
    free(net->duplicated_by_link);
    memset(net, 0, sizeof *net);
}

static bool route_before(const route_message *a, const route_message *b)
{
    if (a->deliver_at_us != b->deliver_at_us) return a->deliver_at_us < b->deliver_at_us;
    return a->send_seq < b->send_seq;
}

/* A binary min-heap: a cluster under load keeps thousands of messages in flight, and a
 * sorted list would make each send linear. */
static void route_heap_push(route_net *net, route_message msg)
{
    if (net->heap_len == net->heap_cap) {
        net->heap_cap = net->heap_cap ? 2 * net->heap_cap : 256;
        net->heap = realloc(net->heap, net->heap_cap * sizeof *net->heap);
    }
    size_t i = net->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!route_before(&msg, &net->heap[parent])) break;
        net->heap[i] = net->heap[parent];
        i = parent;
    }
    net->heap[i] = msg;
}

static route_message route_heap_pop(route_net *net)
{
    route_message top = net->heap[0], last = net->heap[--net->heap_len];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= net->heap_len) break;
        if (child + 1 < net->heap_len && route_before(&net->heap[child + 1], &net->heap[child]))
            child++;
        if (!route_before(&net->heap[child], &last)) break;
        net->heap[i] = net->heap[child];
        i = child;
    }
    if (net->heap_len > 0) net->heap[i] = last;
    return top;
}

static size_t route_link(const route_net *net, int from_index, int to_index)
{
    return (size_t)from_index * (size_t)net->node_count + (size_t)to_index;
}

bool route_connected(const route_net *net, int from_index, int to_index)
{
    return net->group_by_node[from_index] == net->group_by_node[to_index] &&
           !net->cut_by_link[route_link(net, from_index, to_index)];
}

/* A probability draw has 2^53 steps, a double's exact integers. */
#define ROUTE_DRAW_SCALE (UINT64_C(1) << 53)

/* Puts one copy of line on the wire, due after the latency plus a jitter draw from
 * jitter_rng. */
static void route_enqueue(route_net *net, int64_t now_us, rng_stream *jitter_rng, int from_index,
                          int to_index, const char *line, size_t line_len)
{
    int64_t jitter_us = (int64_t)rng_below(jitter_rng, (uint64_t)net->jitter_us + 1);
    route_message msg = {
        .deliver_at_us = now_us + net->latency_us + (net->jitter_us ? jitter_us : 0),
        .send_seq = net->next_seq++,
        .from_index = from_index,
        .to_index = to_index,
        .line = malloc(line_len + 1),
        .line_len = line_len,
    };
    memcpy(msg.line, line, line_len);
    msg.line[line_len] = '\0';
    route_heap_push(net, msg);
}

void route_send(route_net *net, int64_t now_us, int from_index, int to_index, const char *line,
                size_t line_len)
{
    net->routed_total++;
    if (net->dead_by_node[to_index] || net->dead_by_node[from_index]) {
        net->dropped_dead++;
        return;
    }
    if (!route_connected(net, from_index, to_index)) {
        net->dropped_at_send++;
        net->dropped_by_link[route_link(net, from_index, to_index)]++;
        return;
    }
    route_enqueue(net, now_us, &net->jitter_rng, from_index, to_index, line, line_len);
    if (net->duplicate_probability > 0 &&
        (double)rng_below(&net->duplicate_rng, ROUTE_DRAW_SCALE) <
            net->duplicate_probability * (double)ROUTE_DRAW_SCALE) {
        net->duplicated_total++;
        net->duplicated_by_link[route_link(net, from_index, to_index)]++;
        route_enqueue(net, now_us, &net->duplicate_rng, from_index, to_index, line, line_len);
    }
}

void route_deliver_due(route_net *net, int64_t now_us, route_deliver_fn deliver, void *ctx)
{
    while (net->heap_len > 0 && net->heap[0].deliver_at_us <= now_us) {
        route_message msg = route_heap_pop(net);
        size_t link = route_link(net, msg.from_index, msg.to_index);
        if (net->dead_by_node[msg.to_index]) {
            net->dropped_dead++;
        } else if (!route_connected(net, msg.from_index, msg.to_index)) {
            /* The partition or cut happened while the message was on the wire. */
            net->dropped_in_flight++;
            net->dropped_by_link[link]++;
        } else {
            net->delivered_total++;
            net->delivered_by_link[link]++;
            deliver(ctx, msg.to_index, msg.line, msg.line_len);
        }
        free(msg.line);
    }
}

int64_t route_next_due_us(const route_net *net)
{
    return net->heap_len > 0 ? net->heap[0].deliver_at_us : INT64_MAX;
}

void route_partition(route_net *net, const int *group_by_node)
{
    memcpy(net->group_by_node, group_by_node, (size_t)net->node_count * sizeof *group_by_node);
}

void route_cut(route_net *net, int from_index, int to_index, bool cut)
{
    net->cut_by_link[route_link(net, from_index, to_index)] = cut;
}

void route_heal(route_net *net)
{
    size_t n = (size_t)net->node_count;
    memset(net->group_by_node, 0, n * sizeof *net->group_by_node);
    memset(net->cut_by_link, 0, n * n * sizeof *net->cut_by_link);
}

void route_duplicate(route_net *net, double probability)
{
    net->duplicate_probability = probability;
}

void route_mark_dead(route_net *net, int node_index)
{
    net->dead_by_node[node_index] = true;
}

void route_mark_alive(route_net *net, int node_index)
{
    net->dead_by_node[node_index] = false;
}
