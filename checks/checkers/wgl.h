/* wgl: is a history of one register linearizable?
 *
 * Wing & Gong's search ("Testing and verifying concurrent objects", JPDC 1993) with Lowe's
 * memoization of configurations ("Testing for linearizability", CCPE 2017), run key by key:
 * a history of a map of independent registers is linearizable iff each key's sub-history is
 * (Herlihy & Wing's locality; Horn & Kroening, "Faster linearizability checking via
 * P-compositionality", 2015). A brute-force checker over permutations, for tiny histories,
 * is the reference the search is tested against. */
#ifndef WGL_H
#define WGL_H

#include "history.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The register model's view of an op: what it observed or did, and when it may have done it.
 * A cas refused with a definite error observed the register without changing it, as a read
 * does: error 20 says the key was absent (a LIN_READ of HISTORY_ABSENT), error 22 that it held
 * a value other than `from` (LIN_CAS_REFUSED), at one point inside the op's interval. */
typedef enum { LIN_READ, LIN_WRITE, LIN_CAS, LIN_CAS_REFUSED } lin_kind;

typedef struct {
    lin_kind kind;
    int key_id;
    int value_id;    /* read: the value it saw (HISTORY_ABSENT too); write, cas: the value set */
    int cas_from_id; /* cas: the value it required; refused cas: the value it did not find */
    /* An info write or cas: it may take effect at any point after its invoke, or never, so its
     * response time is +infinity. Every other op must take effect within its interval. */
    bool may_never_happen;
    int64_t invoke_us;
    int64_t complete_us; /* INT64_MAX when may_never_happen */
    const history_op *source;
} lin_op;

/* The ops the register model judges: every write and cas that may have happened, every `read`,
 * every other read whose reply says linearizable:true, and every cas refused with error 20 or
 * 22. A failed op did not happen, but a read failing with error 20 observed "absent", and a
 * refused cas observed what its error says. An info read constrains nothing. Returns how many
 * ops it keeps; *left_out counts the rest. The caller frees *ops. */
size_t lin_ops_from_history(const history *h, lin_op **ops, size_t *left_out);

typedef enum { LIN_LINEARIZABLE, LIN_VIOLATION, LIN_OUT_OF_BUDGET } lin_verdict;

typedef struct {
    lin_verdict verdict;
    size_t configurations; /* explored: the cost the budget bounds */
    size_t pruned;         /* info writes nobody observed, left out as irrelevant */
    /* LIN_VIOLATION: the deepest point the search reached, to show where it got stuck. */
    size_t best_depth;          /* ops in the longest valid order found */
    int best_state;             /* the register's value after it */
    const history_op *stuck_op; /* the op that had to come next and could not */
    const history_op **pending; /* the other ops that could have come next */
    size_t pending_count;
} lin_key_result;

/* Checks the ops of one key. `budget` caps the configurations explored. */
void lin_check_key(const lin_op *ops, size_t count, size_t budget, lin_key_result *result);
void lin_key_result_free(lin_key_result *result);

/* Tries every subset of the info ops and every order of the chosen ops, all keys at once:
 * slow beyond ten ops, and obviously right, which is its purpose. */
#define LIN_BRUTE_FORCE_MAX_OPS 9
lin_verdict lin_brute_force(const lin_op *ops, size_t count, size_t key_count);

#endif
