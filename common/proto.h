/* proto: the Maelstrom wire protocol.
 *
 * One JSON object per line in, one per line out. This module is the only writer of
 * stdout: messages are printed into a buffer and written when the event loop is about
 * to block (or the buffer is large), so a burst of replies costs one write(2). Every
 * message the node sends takes the next msg_id from one counter that starts at 0. */
#ifndef READPATH_PROTO_H
#define READPATH_PROTO_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Maelstrom's error codes (doc/protocol.md). Definite codes mean nothing happened;
 * a client may retry. Indefinite ones (timeout, crash) mean the op may have happened. */
#define PROTO_ERRORS(X)                                                                            \
    X(0, TIMEOUT, "timeout", false)                                                                \
    X(1, NODE_NOT_FOUND, "node-not-found", true)                                                   \
    X(10, NOT_SUPPORTED, "not-supported", true)                                                    \
    X(11, TEMPORARILY_UNAVAILABLE, "temporarily-unavailable", true)                                \
    X(12, MALFORMED_REQUEST, "malformed-request", true)                                            \
    X(13, CRASH, "crash", false)                                                                   \
    X(14, ABORT, "abort", true)                                                                    \
    X(20, KEY_DOES_NOT_EXIST, "key-does-not-exist", true)                                          \
    X(21, KEY_ALREADY_EXISTS, "key-already-exists", true)                                          \
    X(22, PRECONDITION_FAILED, "precondition-failed", true)

enum proto_error {
#define PROTO_ERROR_ENUM(code, name, text, definite) PROTO_##name = code,
    PROTO_ERRORS(PROTO_ERROR_ENUM)
#undef PROTO_ERROR_ENUM
};
/* Not a Maelstrom code: what functions return when all went well. */
#define PROTO_OK (-1)

/* Integers travel as JSON numbers, which are doubles: every integer up to 2^53 is exact,
 * and past it a double no longer counts every integer. */
#define PROTO_MAX_EXACT_INT (INT64_C(1) << 53)
/* Terms and log indexes from peers stay below 2^52, so term + 1 is still exact. */
#define PROTO_MAX_PEER_INT (INT64_C(1) << 52)
/* The longest duration a flag or a configuration may ask for: an hour, in ms. */
#define PROTO_MAX_MS 3600000

/* An integer in [min, max] (both within +-2^53), or false: missing, not a number,
 * fractional, or out of range (checked before any conversion, which out of range
 * would be undefined behaviour). */
bool proto_int_in(const cJSON *item, int64_t min, int64_t max, int64_t *out);

/* Parses one input line into an envelope {src, dest, body:{type,...}}. On failure
 * returns NULL and writes a human sentence to why. A body without a usable `type`
 * still parses (the caller answers it with error 12 if it can). */
cJSON *proto_parse_line(const char *line, size_t len, char *why, size_t why_len);

/* Field access that names the field in its complaint. Each returns PROTO_OK or
 * PROTO_MALFORMED_REQUEST and, on failure, a sentence in why. */
int proto_get_any(const cJSON *body, const char *field, const cJSON **out, char *why, size_t n);
int proto_get_string(const cJSON *body, const char *field, const char **out, char *why, size_t n);
int proto_get_nonneg_int(const cJSON *body, const char *field, int64_t *out, char *why, size_t n);
int proto_get_bool(const cJSON *body, const char *field, bool *out, char *why, size_t n);
/* msg_id is optional on input (a message without one gets no reply); -1 when absent. */
int64_t proto_msg_id(const cJSON *body);

/* Sends body from src to dest, adding in_reply_to (when >= 0) and the next msg_id.
 * Takes ownership of body, which must be an object. */
void proto_send(const char *src, const char *dest, int64_t in_reply_to, cJSON *body);
/* An error reply: {"type":"error","in_reply_to","code","text"}. */
void proto_send_error(const char *src, const char *dest, int64_t in_reply_to, int code,
                      const char *text);
/* The event loop's flush, before it blocks: writes whatever is buffered, and whatever
 * the flush hooks' after_write adds, until nothing is left. (Mid-turn, output is also
 * written when the buffer grows large; then before_write may not defer.) */
void proto_flush(void);
/* Where a node's durable storage meets its output (NULL: no hooks).
 * - before_write(may_defer) runs before every write of buffered output and makes
 *   durable what that output promises, so no vote, ack or reply leaves before the state
 *   it promises is on disk. When may_defer, it may answer true instead: nothing in the
 *   output needs the sync, which runs after the write (a leader's new entries, §10.2.1).
 * - after_write(deferred) runs once the loop's flush has written everything: the
 *   deferred sync, and whatever that sync unblocks (it may send). */
void proto_set_flush_hooks(bool (*before_write)(bool may_defer),
                           void (*after_write)(bool deferred));

#endif
