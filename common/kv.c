#include "kv.h"

#include "proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open addressing with linear probing over a power-of-two table. A slot is found by the
 * hash of the key's printed JSON and confirmed with cJSON_Compare. */
struct kv_slot {
    uint64_t hash;
    cJSON *key;
    cJSON *value;
};

struct kv {
    struct kv_slot *slots;
    size_t cap, used;
};

static void *kv_alloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p) {
        perror("kv: out of memory");
        abort();
    }
    return p;
}

struct kv *kv_new(void)
{
    struct kv *kv = kv_alloc(sizeof *kv);
    kv->cap = 64;
    kv->slots = kv_alloc(kv->cap * sizeof *kv->slots);
    return kv;
}

void kv_free(struct kv *kv)
{
    if (!kv) return;
    for (size_t i = 0; i < kv->cap; i++) {
        cJSON_Delete(kv->slots[i].key);
        cJSON_Delete(kv->slots[i].value);
    }
    free(kv->slots);
    free(kv);
}

size_t kv_size(const struct kv *kv)
{
    return kv->used;
}

/* FNV-1a over the key printed as JSON. Numbers print in one canonical form, so keys that
 * compare equal hash equal (objects with reordered members are the exception; Maelstrom
 * and the seeds use ints and strings). */
static uint64_t kv_hash(const cJSON *key)
{
    char small[512];
    char *text = small;
    if (!cJSON_PrintPreallocated((cJSON *)key, small, sizeof small, false)) {
        text = cJSON_PrintUnformatted(key);
        if (!text) {
            perror("kv: out of memory hashing a key");
            abort();
        }
    }
    uint64_t hash = 1469598103934665603ULL;
    for (const char *c = text; *c; c++) hash = (hash ^ (unsigned char)*c) * 1099511628211ULL;
    if (text != small) free(text);
    return hash;
}

static struct kv_slot *kv_find(const struct kv *kv, const cJSON *key, uint64_t hash)
{
    size_t mask = kv->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct kv_slot *slot = &kv->slots[i];
        if (!slot->key) return slot;
        if (slot->hash == hash && cJSON_Compare(slot->key, key, true)) return slot;
    }
}

static void kv_grow(struct kv *kv)
{
    struct kv_slot *old = kv->slots;
    size_t old_cap = kv->cap;
    kv->cap *= 2;
    kv->slots = kv_alloc(kv->cap * sizeof *kv->slots);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].key) continue;
        *kv_find(kv, old[i].key, old[i].hash) = old[i];
    }
    free(old);
}

int kv_read(const struct kv *kv, const cJSON *key, const cJSON **value)
{
    struct kv_slot *slot = kv_find(kv, key, kv_hash(key));
    if (!slot->key) return PROTO_KEY_DOES_NOT_EXIST;
    *value = slot->value;
    return PROTO_OK;
}

static cJSON *kv_copy(const cJSON *item)
{
    cJSON *copy = cJSON_Duplicate(item, true);
    if (!copy) {
        perror("kv: out of memory copying a value");
        abort();
    }
    return copy;
}

int kv_apply(struct kv *kv, const cJSON *command)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(command, "type");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(command, "key");
    if (!cJSON_IsString(type) || !key) return PROTO_OK;
    bool is_write = strcmp(type->valuestring, "write") == 0;
    bool is_cas = strcmp(type->valuestring, "cas") == 0;
    if (!is_write && !is_cas) return PROTO_OK;

    if ((kv->used + 1) * 4 > kv->cap * 3) kv_grow(kv);
    uint64_t hash = kv_hash(key);
    struct kv_slot *slot = kv_find(kv, key, hash);
    const cJSON *new_value;
    if (is_write) {
        new_value = cJSON_GetObjectItemCaseSensitive(command, "value");
    } else {
        if (!slot->key) return PROTO_KEY_DOES_NOT_EXIST;
        if (!cJSON_Compare(slot->value, cJSON_GetObjectItemCaseSensitive(command, "from"), true))
            return PROTO_PRECONDITION_FAILED;
        new_value = cJSON_GetObjectItemCaseSensitive(command, "to");
    }
    if (!new_value) return PROTO_OK;
    if (!slot->key) {
        slot->key = kv_copy(key);
        slot->hash = hash;
        kv->used++;
    } else {
        cJSON_Delete(slot->value);
    }
    slot->value = kv_copy(new_value);
    return PROTO_OK;
}
