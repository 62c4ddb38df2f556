/* history: reads a client history (JSON lines; checks/harness/README.md, "History format") into
 * paired operations.
 *
 * Each line is an event: an invoke, or the ok/fail/info that completes it. The checkers
 * reason about operations, so the loader pairs every invoke with its completion (same
 * process, which has at most one operation outstanding) and rejects anything else as bad
 * input, naming the line. Keys, values and processes are arbitrary JSON; the loader interns
 * them, so "same value" is an integer comparison for the checkers and means equal as JSON. */
#ifndef HISTORY_H
#define HISTORY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

/* A read that found no key: the register's initial state, which no write produces. */
#define HISTORY_ABSENT (-1)
/* Maelstrom's key-does-not-exist error: a read or cas that fails with it observed "absent". */
#define HISTORY_ERROR_KEY_ABSENT 20
/* Maelstrom's precondition-failed error: a cas that fails with it found a value other than its
 * `from`. */
#define HISTORY_ERROR_PRECONDITION_FAILED 22

typedef enum {
    HISTORY_READ,
    HISTORY_WRITE,
    HISTORY_CAS,
    HISTORY_FOLLOWER_READ,
    HISTORY_RYW_READ,
    HISTORY_LEASE_READ,
} history_fn;

typedef enum {
    HISTORY_OK,   /* took effect, once, between invoke and completion */
    HISTORY_FAIL, /* definitely did not take effect */
    HISTORY_INFO, /* unknown: may take effect at any time after invoke, or never; an invoke
                     that never completed is one too */
} history_outcome;

typedef struct {
    history_fn fn;
    history_outcome outcome;
    int process_id;
    int key_id;
    /* write: the value written; cas: the value it sets; a read that completed ok: the value it
     * returned; a read that failed with error 20: HISTORY_ABSENT; otherwise HISTORY_ABSENT. */
    int value_id;
    int cas_from_id; /* cas only */
    int error_code;  /* fail only; 0 when the entry has none */
    int64_t invoke_us;
    int64_t complete_us; /* as recorded; meaningless for an info op's effect */
    long invoke_line;
    long complete_line; /* 0 when the history ended before the op completed */
    const cJSON *invoke_entry;
    const cJSON *complete_entry; /* NULL when the history ended first */
} history_op;

typedef struct history_interner history_interner;

typedef struct {
    history_op *ops; /* in invoke order */
    size_t op_count;
    size_t key_count, value_count, process_count;
    char error[256]; /* why history_load failed */
    /* private */
    cJSON **entries;
    size_t entry_count, entry_capacity, op_capacity;
    const history_op **writers; /* ok and info writes and cas, grouped by key, invoke order */
    size_t *writers_start;      /* key id -> first index in writers; key_count + 1 entries */
    history_interner *keys, *values, *processes;
} history;

/* Reads every line of `in`. Returns 0, or -1 with h->error naming the bad line. Either way the
 * history must be released with history_free. */
int history_load(FILE *in, history *h);
void history_free(history *h);

const cJSON *history_key(const history *h, int key_id);
const cJSON *history_value(const history *h, int value_id); /* NULL for HISTORY_ABSENT */

bool history_is_read(history_fn fn);
const char *history_fn_name(history_fn fn);

/* A field of the op's completion entry (the node's reply fields live there), falling back to
 * its invoke entry; NULL when neither has it. */
const cJSON *history_field(const history_op *op, const char *name);

/* True when the op's reply says it was served linearizably (`read` always is). */
bool history_claims_linearizable(const history_op *op);

/* The writes and cas ops of a key that may have set a value (ok or info), in invoke order. */
size_t history_writers(const history *h, int key_id, const history_op *const **writers);

/* When the last of the ops that may have written `value_id` to the key, invoked no later than
 * `by_us`, completed: INT64_MAX if one of them is info (it may still take effect), INT64_MIN
 * for HISTORY_ABSENT (the initial state is there from the start). Sets *found to false, and
 * returns INT64_MIN, when no op wrote that value. Taking the latest writer makes the
 * checkers safe when values repeat: a read is only blamed if every write it could have seen
 * is too old. */
int64_t history_value_written_by(const history *h, int key_id, int value_id, int64_t by_us,
                                 bool *found);

bool history_sets_value(const history_op *op); /* an ok or info write or cas */

/* The value as compact JSON, or "absent". */
void history_print_value(FILE *out, const history *h, int value_id);

/* One line, indented, that lets a reader find the op in the history file. */
void history_print_op(FILE *out, const history *h, const history_op *op);

#endif
