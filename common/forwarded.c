#include "forwarded.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* A chained hash over (peer, incarnation, id), and a queue of answered entries in the
 * order they were answered (so oldest first) from which expiry takes. */
struct forwarded_entry {
    struct forwarded_key key;
    cJSON *reply; /* NULL while in progress */
    int64_t answered_us;
    struct forwarded_entry *bucket_next, *answered_next;
};

/* One life of one forwarder: ids below forgotten_below were forgotten (or never came). */
struct forwarded_life {
    int peer;
    int64_t incarnation, forgotten_below;
};

struct forwarded {
    int64_t keep_us;
    struct forwarded_entry **buckets;
    size_t bucket_count, count;
    struct forwarded_entry *answered_head, *answered_tail;
    struct forwarded_life *lives;
    size_t life_count, life_cap;
};

static void *forwarded_alloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p) {
        perror("forwarded: out of memory");
        abort();
    }
    return p;
}

struct forwarded *forwarded_new(int64_t keep_us)
{
    struct forwarded *table = forwarded_alloc(sizeof *table);
    table->keep_us = keep_us;
    table->bucket_count = 64;
    table->buckets = forwarded_alloc(table->bucket_count * sizeof *table->buckets);
    return table;
}

void forwarded_free(struct forwarded *table)
{
    if (!table) return;
    for (size_t i = 0; i < table->bucket_count; i++) {
        struct forwarded_entry *e = table->buckets[i];
        while (e) {
            struct forwarded_entry *next = e->bucket_next;
            cJSON_Delete(e->reply);
            free(e);
            e = next;
        }
    }
    free(table->buckets);
    free(table->lives);
    free(table);
}

size_t forwarded_count(const struct forwarded *table)
{
    return table->count;
}

static size_t forwarded_bucket(const struct forwarded *table, struct forwarded_key key)
{
    uint64_t h = (uint64_t)key.forward_id * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t)key.incarnation + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
    h ^= (uint64_t)key.peer * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    return (size_t)(h & (table->bucket_count - 1));
}

static bool forwarded_same(struct forwarded_key a, struct forwarded_key b)
{
    return a.peer == b.peer && a.incarnation == b.incarnation && a.forward_id == b.forward_id;
}

static struct forwarded_entry **forwarded_slot(struct forwarded *table, struct forwarded_key key)
{
    struct forwarded_entry **slot = &table->buckets[forwarded_bucket(table, key)];
    while (*slot && !forwarded_same((*slot)->key, key))
        slot = &(*slot)->bucket_next;
    return slot;
}

static void forwarded_grow(struct forwarded *table)
{
    struct forwarded_entry **old = table->buckets;
    size_t old_count = table->bucket_count;
    table->bucket_count *= 2;
    table->buckets = forwarded_alloc(table->bucket_count * sizeof *table->buckets);
    for (size_t i = 0; i < old_count; i++) {
        struct forwarded_entry *e = old[i];
        while (e) {
            struct forwarded_entry *next = e->bucket_next;
            size_t b = forwarded_bucket(table, e->key);
            e->bucket_next = table->buckets[b];
            table->buckets[b] = e;
            e = next;
        }
    }
    free(old);
}

static struct forwarded_life *forwarded_life(struct forwarded *table, int peer, int64_t incarnation)
{
    for (size_t i = 0; i < table->life_count; i++)
        if (table->lives[i].peer == peer && table->lives[i].incarnation == incarnation)
            return &table->lives[i];
    if (table->life_count == table->life_cap) {
        table->life_cap = table->life_cap ? 2 * table->life_cap : 8;
        struct forwarded_life *grown = realloc(table->lives, table->life_cap * sizeof *grown);
        if (!grown) {
            perror("forwarded: out of memory");
            abort();
        }
        table->lives = grown;
    }
    struct forwarded_life *life = &table->lives[table->life_count++];
    *life = (struct forwarded_life){.peer = peer, .incarnation = incarnation};
    return life;
}

enum forwarded_status forwarded_arrive(struct forwarded *table, struct forwarded_key key,
                                       int64_t now_us, const cJSON **reply)
{
    forwarded_expire(table, now_us);
    struct forwarded_entry **slot = forwarded_slot(table, key);
    if (*slot) {
        *reply = (*slot)->reply;
        return (*slot)->reply ? FORWARDED_ANSWERED : FORWARDED_IN_PROGRESS;
    }
    if (key.forward_id < forwarded_life(table, key.peer, key.incarnation)->forgotten_below)
        return FORWARDED_FORGOTTEN;
    struct forwarded_entry *e = forwarded_alloc(sizeof *e);
    e->key = key;
    e->bucket_next = NULL;
    *slot = e;
    if (++table->count > 2 * table->bucket_count) forwarded_grow(table);
    return FORWARDED_NEW;
}

void forwarded_answer(struct forwarded *table, struct forwarded_key key, const cJSON *reply,
                      int64_t now_us)
{
    struct forwarded_entry *e = *forwarded_slot(table, key);
    /* Only a forward that arrived as NEW is waiting for its answer, and it gets one. */
    if (!e || e->reply) return;
    e->reply = cJSON_Duplicate(reply, true);
    e->answered_us = now_us;
    if (table->answered_tail)
        table->answered_tail->answered_next = e;
    else
        table->answered_head = e;
    table->answered_tail = e;
}

void forwarded_expire(struct forwarded *table, int64_t now_us)
{
    struct forwarded_entry *e;
    while ((e = table->answered_head) && now_us - e->answered_us > table->keep_us) {
        table->answered_head = e->answered_next;
        if (!table->answered_head) table->answered_tail = NULL;
        struct forwarded_life *life = forwarded_life(table, e->key.peer, e->key.incarnation);
        if (e->key.forward_id >= life->forgotten_below)
            life->forgotten_below = e->key.forward_id + 1;
        struct forwarded_entry **slot = forwarded_slot(table, e->key);
        *slot = e->bucket_next;
        table->count--;
        cJSON_Delete(e->reply);
        free(e);
    }
}
