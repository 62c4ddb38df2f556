/* kv: the replicated state machine, a map from JSON keys to JSON values.
 *
 * kv_apply is the pure step of the state machine (Maelstrom's Raft demo calls it
 * `apply`): given the state and one committed command it changes the state and returns
 * the outcome, and nothing else. Every replica applies the same commands in the same
 * order and so holds the same map. Keys and values are any JSON; equal means equal as
 * JSON values (cJSON_Compare), so 1 and 1.0 are the same key.
 *
 * Allocation: the map owns copies of its keys and values; kv_free releases them. */
#ifndef READPATH_KV_H
#define READPATH_KV_H

#include <cJSON.h>
#include <stdbool.h>

struct kv;

struct kv *kv_new(void);
void kv_free(struct kv *kv);

/* PROTO_OK with *value set (owned by the map, valid until the next apply), or
 * PROTO_KEY_DOES_NOT_EXIST. */
int kv_read(const struct kv *kv, const cJSON *key, const cJSON **value);

/* Applies a committed command {"type":"write","key","value"} or
 * {"type":"cas","key","from","to"}; anything else is a no-op. Returns PROTO_OK,
 * PROTO_KEY_DOES_NOT_EXIST or PROTO_PRECONDITION_FAILED. */
int kv_apply(struct kv *kv, const cJSON *command);

/* Snapshots (§5.1): the whole map as [[key, value], ...] (keys are any JSON, so not an
 * object's names), and back. kv_load replaces the map with a saved one; false, with the
 * map unchanged, when `saved` is not such an array. */
cJSON *kv_save(const struct kv *kv);
bool kv_load(struct kv *kv, const cJSON *saved);

#endif
