/* memo: a hash set of (set of linearized ops, register state).
 *
 * Memory is the limit on long histories, so sets are stored compressed. The search numbers ops
 * in the order they returned, and at any moment nearly every op that returned long ago is
 * linearized and nearly every later one is not: the set is a run of all-ones words, then a few
 * mixed words. The encoding keeps the length of that run and the (index, word) pairs of the
 * non-zero words after it; it is canonical, so equal encodings mean equal sets. */
#include "memo.h"
#include "checker.h"

#include <stdlib.h>
#include <string.h>

struct memo_entry {
    uint64_t hash;
    size_t offset; /* into arena */
    int32_t state;
};

void memo_init(memo *m, size_t op_count)
{
    memset(m, 0, sizeof *m);
    m->words = op_count / 64 + 1;
    m->scratch = checker_realloc(NULL, 1 + 2 * m->words, sizeof *m->scratch);
}

void memo_free(memo *m)
{
    free(m->entries);
    free(m->arena);
    free(m->slots);
    free(m->scratch);
    memset(m, 0, sizeof *m);
}

/* Encodes `set` into m->scratch; returns its length in words. */
static size_t encode(memo *m, const uint64_t *set)
{
    size_t full = 0;
    while (full < m->words && set[full] == UINT64_MAX)
        full++;
    size_t used = 1;
    for (size_t i = full; i < m->words; i++) {
        if (set[i] == 0) continue;
        m->scratch[used++] = i;
        m->scratch[used++] = set[i];
    }
    m->scratch[0] = (uint64_t)full | (uint64_t)((used - 1) / 2) << 32;
    return used;
}

static size_t encoded_length(const uint64_t *encoded)
{
    return 1 + 2 * (size_t)(encoded[0] >> 32);
}

static void place(memo *m, uint32_t index)
{
    size_t mask = m->slot_count - 1;
    size_t i = m->entries[index].hash & mask;
    while (m->slots[i] != 0)
        i = (i + 1) & mask;
    m->slots[i] = index + 1;
}

bool memo_insert(memo *m, const uint64_t *linearized, uint64_t set_hash, int32_t state)
{
    uint64_t hash = set_hash ^ ((uint64_t)(uint32_t)state * 0x9e3779b97f4a7c15ULL);
    hash ^= hash >> 29;
    size_t length = encode(m, linearized);
    if (m->slot_count != 0) {
        size_t mask = m->slot_count - 1;
        for (size_t i = hash & mask; m->slots[i] != 0; i = (i + 1) & mask) {
            const memo_entry *e = &m->entries[m->slots[i] - 1];
            const uint64_t *stored = m->arena + e->offset;
            if (e->hash == hash && e->state == state && encoded_length(stored) == length &&
                memcmp(stored, m->scratch, length * sizeof *stored) == 0)
                return false;
        }
    }
    if (m->arena_used + length > m->arena_capacity) {
        m->arena_capacity = 2 * (m->arena_capacity + length);
        m->arena = checker_realloc(m->arena, m->arena_capacity, sizeof *m->arena);
    }
    memcpy(m->arena + m->arena_used, m->scratch, length * sizeof *m->arena);
    if (m->count == m->entry_capacity) {
        m->entry_capacity = m->entry_capacity == 0 ? 1024 : 2 * m->entry_capacity;
        m->entries = checker_realloc(m->entries, m->entry_capacity, sizeof *m->entries);
    }
    m->entries[m->count] = (memo_entry){.hash = hash, .offset = m->arena_used, .state = state};
    m->arena_used += length;
    m->count++;
    if (2 * m->count > m->slot_count) { /* at most half full keeps probe chains short */
        free(m->slots);
        m->slot_count = m->slot_count == 0 ? 2048 : 2 * m->slot_count;
        m->slots = checker_realloc(NULL, m->slot_count, sizeof *m->slots);
        memset(m->slots, 0, m->slot_count * sizeof *m->slots);
        for (uint32_t i = 0; i < m->count; i++)
            place(m, i);
    } else {
        place(m, (uint32_t)(m->count - 1));
    }
    return true;
}
