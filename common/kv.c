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

/* A hash that agrees with cJSON_Compare: it follows the value's structure, and an
 * object's members are combined with a sum, so their order does not matter. */
static uint64_t kv_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t kv_hash_bytes(uint64_t seed, const char *text)
{
    uint64_t hash = 1469598103934665603ULL ^ seed;
    for (const char *c = text; *c; c++)
        hash = (hash ^ (unsigned char)*c) * 1099511628211ULL;
    return hash;
}

static uint64_t kv_hash(const cJSON *item)
{
    if (cJSON_IsNumber(item)) {
        double value = item->valuedouble == 0.0 ? 0.0 : item->valuedouble; /* -0 == 0 */
        uint64_t bits;
        memcpy(&bits, &value, sizeof bits);
        return kv_mix(bits ^ 0x6e756d);
    }
    if (cJSON_IsString(item)) return kv_mix(kv_hash_bytes(0x737472, item->valuestring));
    if (cJSON_IsArray(item)) {
        uint64_t hash = 0x617272;
        const cJSON *element;
        cJSON_ArrayForEach(element, item)
            hash = kv_mix(hash * 31 + kv_hash(element));
        return hash;
    }
    if (cJSON_IsObject(item)) {
        uint64_t sum = 0x6f626a;
        const cJSON *member;
        cJSON_ArrayForEach(member, item)
            sum += kv_mix(kv_hash_bytes(0, member->string) ^ kv_hash(member));
        return kv_mix(sum);
    }
    return kv_mix((uint64_t)(item->type & 0xff) + 0x6c6974); /* true, false, null */
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

/* ---- snapshots ---- */

cJSON *kv_save(const struct kv *kv)
{
    cJSON *saved = cJSON_CreateArray();
    for (size_t i = 0; i < kv->cap; i++) {
        if (!kv->slots[i].key) continue;
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, kv_copy(kv->slots[i].key));
        cJSON_AddItemToArray(pair, kv_copy(kv->slots[i].value));
        cJSON_AddItemToArray(saved, pair);
    }
    return saved;
}

bool kv_load(struct kv *kv, const cJSON *saved)
{
    const cJSON *pair;
    if (!cJSON_IsArray(saved)) return false;
    cJSON_ArrayForEach(pair, saved) {
        if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2) return false;
    }
    for (size_t i = 0; i < kv->cap; i++) {
        cJSON_Delete(kv->slots[i].key);
        cJSON_Delete(kv->slots[i].value);
    }
    memset(kv->slots, 0, kv->cap * sizeof *kv->slots);
    kv->used = 0;
    cJSON_ArrayForEach(pair, saved) {
        const cJSON *key = cJSON_GetArrayItem(pair, 0);
        if ((kv->used + 1) * 4 > kv->cap * 3) kv_grow(kv);
        uint64_t hash = kv_hash(key);
        struct kv_slot *slot = kv_find(kv, key, hash);
        if (slot->key) {
            cJSON_Delete(slot->value);
        } else {
            slot->key = kv_copy(key);
            slot->hash = hash;
            kv->used++;
        }
        slot->value = kv_copy(cJSON_GetArrayItem(pair, 1));
    }
    return true;
}
