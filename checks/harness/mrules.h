/* mrules: Maelstrom's rules, enforced without Maelstrom (--maelstrom-rules).
 *
 * Maelstrom needs a JVM and a release download; many students (and CI) have neither.
 * What it enforces on a node, the runner can too:
 *   - node ids n0..n(N-1) (ids.c), and a top-level "id" on every message it delivers;
 *   - lin-kv's closed reply schemas: read_ok, write_ok, cas_ok, init_ok and error carry
 *     exactly their fields, so an extra field (a later stage's commit_index) is an error;
 *   - a stdout line that is not a JSON envelope fails the run;
 *   - only lin-kv's ops (read, write, cas), and its ~1 s client timeout (the default). */
#ifndef MRULES_H
#define MRULES_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes line with "id":id inserted as its first member into out (size >= len + 32).
 * Returns the new length, or 0 if the line is not a JSON object. */
size_t mrules_stamp_id(const char *line, size_t len, uint64_t id, char *out, size_t out_size);

/* Checks a reply body against lin-kv's schema for its type. Returns false and a
 * sentence in why when a field is missing, extra, or of the wrong type. */
bool mrules_check_reply(const cJSON *body, char *why, size_t why_size);

#endif
