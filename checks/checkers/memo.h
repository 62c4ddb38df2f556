/* memo: the configurations a linearizability search has already explored.
 *
 * Lowe ("Testing for linearizability", 2017) observed that the Wing & Gong search reaches the
 * same configuration (which ops are linearized, and the object's state after them) along many
 * different orders, and that everything below a configuration is decided by it alone. So the
 * search stores each configuration it enters and never expands one twice. */
#ifndef MEMO_H
#define MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct memo_entry memo_entry;

typedef struct {
    size_t words; /* uint64_t words in one set of linearized ops */
    size_t count; /* configurations stored */
    /* private */
    memo_entry *entries;
    size_t entry_capacity;
    uint64_t *arena; /* encoded sets, back to back */
    size_t arena_used, arena_capacity;
    uint32_t *slots; /* open addressing: entry index + 1, 0 = empty */
    size_t slot_count;
    uint64_t *scratch; /* the encoding of the set being looked up */
} memo;

void memo_init(memo *m, size_t op_count);
void memo_free(memo *m);

/* Adds (linearized, state) and returns true, or returns false when it was already there.
 * set_hash must be a hash of `linearized` alone (the search keeps one incrementally). */
bool memo_insert(memo *m, const uint64_t *linearized, uint64_t set_hash, int32_t state);

#endif
