/* history: JSON-lines history -> paired operations, with keys/values/processes interned. */
#include "history.h"
#include "checker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON identity -------------------------------------------------------------------------
 * The checkers compare keys and values "by JSON value": 1 and 1.0 are the same number, and
 * {"a":1,"b":2} equals {"b":2,"a":1}. cJSON_Compare treats nearly-equal doubles as equal, which
 * no hash can agree with, so equality and hash are defined here together. */

static uint64_t mix64(uint64_t x)
{
    /* splitmix64's finaliser: every input bit affects every output bit. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t string_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static uint64_t json_hash(const cJSON *v)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble == 0 ? 0 : v->valuedouble; /* -0 == 0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        return mix64(bits ^ 0x1);
    }
    if (cJSON_IsString(v) || cJSON_IsRaw(v)) return mix64(string_hash(v->valuestring) ^ 0x2);
    if (cJSON_IsArray(v)) {
        uint64_t h = 0x3;
        for (const cJSON *item = v->child; item != NULL; item = item->next)
            h = mix64(h * 31 + json_hash(item));
        return h;
    }
    if (cJSON_IsObject(v)) {
        /* A sum is blind to member order, as object equality is. */
        uint64_t h = 0x4;
        for (const cJSON *item = v->child; item != NULL; item = item->next)
            h += mix64(string_hash(item->string) ^ json_hash(item));
        return mix64(h);
    }
    return mix64((uint64_t)(v->type & 0xff) + 0x10); /* true, false, null */
}

static bool json_equal(const cJSON *a, const cJSON *b)
{
    if ((a->type & 0xff) != (b->type & 0xff)) return false;
    if (cJSON_IsNumber(a)) return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a) || cJSON_IsRaw(a)) return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x != NULL && y != NULL; x = x->next, y = y->next)
            if (!json_equal(x, y)) return false;
        return x == NULL && y == NULL;
    }
    if (cJSON_IsObject(a)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return false;
        for (const cJSON *x = a->child; x != NULL; x = x->next) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            if (y == NULL || !json_equal(x, y)) return false;
        }
        return true;
    }
    return true; /* true, false, null: the type is the value */
}

/* ---- Interning: JSON value -> small dense id ----------------------------------------------- */

struct history_interner {
    const cJSON **items; /* id -> first occurrence */
    uint64_t *hashes;    /* id -> json_hash */
    size_t count, capacity;
    uint32_t *slots; /* open addressing, id + 1, 0 = empty */
    size_t slot_count;
};

static void interner_place(history_interner *in, uint32_t id)
{
    size_t mask = in->slot_count - 1;
    size_t i = in->hashes[id] & mask;
    while (in->slots[i] != 0)
        i = (i + 1) & mask;
    in->slots[i] = id + 1;
}

static int interner_id(history_interner *in, const cJSON *v)
{
    uint64_t hash = json_hash(v);
    if (in->slot_count != 0) {
        size_t mask = in->slot_count - 1;
        for (size_t i = hash & mask; in->slots[i] != 0; i = (i + 1) & mask) {
            uint32_t id = in->slots[i] - 1;
            if (in->hashes[id] == hash && json_equal(in->items[id], v)) return (int)id;
        }
    }
    if (in->count == in->capacity) {
        in->capacity = in->capacity == 0 ? 64 : in->capacity * 2;
        in->items = checker_realloc(in->items, in->capacity, sizeof *in->items);
        in->hashes = checker_realloc(in->hashes, in->capacity, sizeof *in->hashes);
    }
    uint32_t id = (uint32_t)in->count++;
    in->items[id] = v;
    in->hashes[id] = hash;
    if (2 * in->count > in->slot_count) { /* keep probes short: at most half full */
        free(in->slots);
        in->slot_count = in->slot_count == 0 ? 128 : in->slot_count * 2;
        in->slots = checker_realloc(NULL, in->slot_count, sizeof *in->slots);
        memset(in->slots, 0, in->slot_count * sizeof *in->slots);
        for (uint32_t old = 0; old < in->count; old++)
            interner_place(in, old);
    } else {
        interner_place(in, id);
    }
    return (int)id;
}

static history_interner *interner_new(void)
{
    history_interner *in = checker_realloc(NULL, 1, sizeof *in);
    memset(in, 0, sizeof *in);
    return in;
}

static void interner_free(history_interner *in)
{
    if (in == NULL) return;
    free(in->items);
    free(in->hashes);
    free(in->slots);
    free(in);
}

/* ---- Loading ------------------------------------------------------------------------------- */

static const char *const fn_names[] = {
    [HISTORY_READ] = "read",         [HISTORY_WRITE] = "write",
    [HISTORY_CAS] = "cas",           [HISTORY_FOLLOWER_READ] = "follower_read",
    [HISTORY_RYW_READ] = "ryw_read", [HISTORY_LEASE_READ] = "lease_read",
};
#define FN_COUNT (sizeof fn_names / sizeof fn_names[0])

/* Ops a history may hold that read and write no register, so no checker judges them:
 * stage 03's lease_read_config changes the cluster's timing, not its data. Their lines
 * are skipped whole, invoke and completion alike. */
static const char *const fn_ignored[] = {"lease_read_config"};
enum { FN_IGNORED = -2 };

const char *history_fn_name(history_fn fn)
{
    return fn_names[fn];
}

bool history_is_read(history_fn fn)
{
    return fn != HISTORY_WRITE && fn != HISTORY_CAS;
}

static int bad_line(history *h, long line, const char *fmt, ...)
{
    int used = snprintf(h->error, sizeof h->error, "line %ld: ", line);
    va_list args;
    va_start(args, fmt);
    vsnprintf(h->error + used, sizeof h->error - (size_t)used, fmt, args);
    va_end(args);
    return -1;
}

/* The fields every event has. */
typedef struct {
    int64_t time_us;
    int process_id;
    const char *type;
    int fn; /* -1 when absent, FN_IGNORED for an op no checker judges */
    const cJSON *key;
} event_header;

static int read_header(history *h, long line, const cJSON *entry, event_header *out)
{
    const cJSON *time_us = cJSON_GetObjectItemCaseSensitive(entry, "time_us");
    const cJSON *process = cJSON_GetObjectItemCaseSensitive(entry, "process");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(entry, "type");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(entry, "f");
    if (!cJSON_IsNumber(time_us)) return bad_line(h, line, "missing or non-numeric \"time_us\"");
    if (process == NULL) return bad_line(h, line, "missing \"process\"");
    if (!cJSON_IsString(type)) return bad_line(h, line, "missing \"type\"");
    out->time_us = (int64_t)time_us->valuedouble;
    out->process_id = interner_id(h->processes, process);
    out->type = type->valuestring;
    out->fn = -1;
    if (fn != NULL) {
        for (size_t i = 0; i < FN_COUNT && cJSON_IsString(fn); i++)
            if (strcmp(fn->valuestring, fn_names[i]) == 0) out->fn = (int)i;
        for (size_t i = 0; i < sizeof fn_ignored / sizeof fn_ignored[0] && cJSON_IsString(fn); i++)
            if (strcmp(fn->valuestring, fn_ignored[i]) == 0) out->fn = FN_IGNORED;
        if (out->fn == -1) return bad_line(h, line, "unknown \"f\" (want read, write, cas, ...)");
    }
    out->key = cJSON_GetObjectItemCaseSensitive(entry, "key");
    return 0;
}

static int add_invoke(history *h, long line, const cJSON *entry, const event_header *ev)
{
    if (ev->fn < 0) return bad_line(h, line, "invoke without \"f\"");
    if (ev->key == NULL) return bad_line(h, line, "invoke without \"key\"");
    history_op op = {
        .fn = (history_fn)ev->fn,
        .outcome = HISTORY_INFO, /* until a completion says otherwise */
        .process_id = ev->process_id,
        .key_id = interner_id(h->keys, ev->key),
        .value_id = HISTORY_ABSENT,
        .cas_from_id = HISTORY_ABSENT,
        .invoke_us = ev->time_us,
        .complete_us = INT64_MAX,
        .invoke_line = line,
        .invoke_entry = entry,
    };
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(entry, "value");
    if (op.fn == HISTORY_WRITE) {
        if (value == NULL) return bad_line(h, line, "write invoke without \"value\"");
        op.value_id = interner_id(h->values, value);
    } else if (op.fn == HISTORY_CAS) {
        if (!cJSON_IsArray(value) || cJSON_GetArraySize(value) != 2)
            return bad_line(h, line, "cas invoke without \"value\": [from, to]");
        op.cas_from_id = interner_id(h->values, cJSON_GetArrayItem(value, 0));
        op.value_id = interner_id(h->values, cJSON_GetArrayItem(value, 1));
    }
    if (h->op_count == h->op_capacity) {
        h->op_capacity = h->op_capacity == 0 ? 512 : 2 * h->op_capacity;
        h->ops = checker_realloc(h->ops, h->op_capacity, sizeof *h->ops);
    }
    h->ops[h->op_count++] = op;
    return 0;
}

static int add_completion(history *h, long line, const cJSON *entry, const event_header *ev,
                          history_outcome outcome, history_op *op)
{
    if (ev->fn >= 0 && (history_fn)ev->fn != op->fn)
        return bad_line(h, line, "completion's \"f\" differs from its invoke's (line %ld)",
                        op->invoke_line);
    if (ev->key != NULL && !json_equal(ev->key, history_key(h, op->key_id)))
        return bad_line(h, line, "completion's \"key\" differs from its invoke's (line %ld)",
                        op->invoke_line);
    if (ev->time_us < op->invoke_us)
        return bad_line(h, line, "completes before its invoke (line %ld)", op->invoke_line);
    op->outcome = outcome;
    op->complete_us = ev->time_us;
    op->complete_line = line;
    op->complete_entry = entry;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(entry, "error");
    if (outcome == HISTORY_FAIL && cJSON_IsNumber(error)) op->error_code = error->valueint;
    if (!history_is_read(op->fn)) return 0;
    if (outcome == HISTORY_OK) {
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(entry, "value");
        if (value == NULL) return bad_line(h, line, "%s ok without \"value\"", fn_names[op->fn]);
        op->value_id = interner_id(h->values, value);
    }
    return 0;
}

/* The process table maps process id -> index of its op awaiting completion, or -1. Processes
 * are discovered as the lines go by, so it grows here. */
typedef struct {
    long *pending_op;
    size_t size;
} process_table;

static void process_table_cover(process_table *t, size_t process_count)
{
    if (t->size >= process_count) return;
    size_t grown = 2 * process_count;
    t->pending_op = checker_realloc(t->pending_op, grown, sizeof *t->pending_op);
    for (size_t i = t->size; i < grown; i++)
        t->pending_op[i] = -1;
    t->size = grown;
}

static int add_event(history *h, long line, const cJSON *entry, process_table *processes)
{
    event_header ev = {0};
    if (read_header(h, line, entry, &ev) != 0) return -1;
    if (ev.fn == FN_IGNORED) return 0;
    process_table_cover(processes, h->processes->count);
    long *pending = &processes->pending_op[ev.process_id];
    if (strcmp(ev.type, "invoke") == 0) {
        if (*pending >= 0)
            return bad_line(h, line, "process invokes while its op from line %ld is outstanding",
                            h->ops[*pending].invoke_line);
        *pending = (long)h->op_count;
        return add_invoke(h, line, entry, &ev);
    }
    history_outcome outcome;
    if (strcmp(ev.type, "ok") == 0)
        outcome = HISTORY_OK;
    else if (strcmp(ev.type, "fail") == 0)
        outcome = HISTORY_FAIL;
    else if (strcmp(ev.type, "info") == 0)
        outcome = HISTORY_INFO;
    else
        return bad_line(h, line, "unknown \"type\" \"%s\"", ev.type);
    if (*pending < 0) return bad_line(h, line, "%s with no outstanding invoke", ev.type);
    history_op *op = &h->ops[*pending];
    *pending = -1;
    return add_completion(h, line, entry, &ev, outcome, op);
}

bool history_sets_value(const history_op *op)
{
    return !history_is_read(op->fn) && op->outcome != HISTORY_FAIL;
}

/* A counting sort of the value-setting ops by key: the checkers ask "who wrote v to k?". */
static void index_writers(history *h)
{
    h->writers_start = checker_realloc(NULL, h->key_count + 1, sizeof *h->writers_start);
    memset(h->writers_start, 0, (h->key_count + 1) * sizeof *h->writers_start);
    for (size_t i = 0; i < h->op_count; i++)
        if (history_sets_value(&h->ops[i])) h->writers_start[h->ops[i].key_id + 1]++;
    for (size_t k = 0; k < h->key_count; k++)
        h->writers_start[k + 1] += h->writers_start[k];
    h->writers = checker_realloc(NULL, h->writers_start[h->key_count] + 1, sizeof *h->writers);
    size_t *fill = checker_realloc(NULL, h->key_count + 1, sizeof *fill);
    memcpy(fill, h->writers_start, (h->key_count + 1) * sizeof *fill);
    for (size_t i = 0; i < h->op_count; i++)
        if (history_sets_value(&h->ops[i])) h->writers[fill[h->ops[i].key_id]++] = &h->ops[i];
    free(fill);
}

int history_load(FILE *in, history *h)
{
    memset(h, 0, sizeof *h);
    h->keys = interner_new();
    h->values = interner_new();
    h->processes = interner_new();
    process_table processes = {0};
    char *text = NULL;
    size_t text_capacity = 0;
    long line = 0;
    int status = 0;
    while (status == 0 && getline(&text, &text_capacity, in) != -1) {
        line++;
        if (text[strspn(text, " \t\r\n")] == '\0') continue;
        cJSON *entry = cJSON_ParseWithOpts(text, NULL, 1);
        if (!cJSON_IsObject(entry)) {
            cJSON_Delete(entry);
            status = bad_line(h, line, "unparsable, or not a JSON object");
            break;
        }
        if (h->entry_count == h->entry_capacity) {
            h->entry_capacity = h->entry_capacity == 0 ? 1024 : 2 * h->entry_capacity;
            h->entries = checker_realloc(h->entries, h->entry_capacity, sizeof *h->entries);
        }
        h->entries[h->entry_count++] = entry;
        status = add_event(h, line, entry, &processes);
    }
    free(text);
    free(processes.pending_op);
    h->key_count = h->keys->count;
    h->value_count = h->values->count;
    h->process_count = h->processes->count;
    index_writers(h);
    if (status == 0 && h->op_count == 0) {
        snprintf(h->error, sizeof h->error, "no operations in the history");
        status = -1;
    }
    return status;
}

void history_free(history *h)
{
    for (size_t i = 0; i < h->entry_count; i++)
        cJSON_Delete(h->entries[i]);
    free(h->entries);
    free(h->ops);
    free(h->writers);
    free(h->writers_start);
    interner_free(h->keys);
    interner_free(h->values);
    interner_free(h->processes);
    memset(h, 0, sizeof *h);
}

/* ---- Queries ------------------------------------------------------------------------------- */

const cJSON *history_key(const history *h, int key_id)
{
    return h->keys->items[key_id];
}

const cJSON *history_value(const history *h, int value_id)
{
    return value_id == HISTORY_ABSENT ? NULL : h->values->items[value_id];
}

const cJSON *history_field(const history_op *op, const char *name)
{
    const cJSON *field = NULL;
    if (op->complete_entry != NULL)
        field = cJSON_GetObjectItemCaseSensitive(op->complete_entry, name);
    if (field == NULL) field = cJSON_GetObjectItemCaseSensitive(op->invoke_entry, name);
    return field;
}

size_t history_writers(const history *h, int key_id, const history_op *const **writers)
{
    *writers = h->writers + h->writers_start[key_id];
    return h->writers_start[key_id + 1] - h->writers_start[key_id];
}

int64_t history_value_written_by(const history *h, int key_id, int value_id, int64_t by_us,
                                 bool *found)
{
    *found = value_id == HISTORY_ABSENT;
    if (*found) return INT64_MIN;
    const history_op *const *writers;
    size_t count = history_writers(h, key_id, &writers);
    int64_t latest_us = INT64_MIN;
    for (size_t i = 0; i < count; i++) {
        const history_op *w = writers[i];
        if (w->value_id != value_id || w->invoke_us > by_us) continue;
        *found = true;
        int64_t done_us = w->outcome == HISTORY_INFO ? INT64_MAX : w->complete_us;
        if (done_us > latest_us) latest_us = done_us;
    }
    return latest_us;
}

bool history_claims_linearizable(const history_op *op)
{
    if (op->fn == HISTORY_READ) return true;
    return op->complete_entry != NULL &&
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(op->complete_entry, "linearizable"));
}

static void print_json(FILE *out, const cJSON *v)
{
    if (v == NULL) {
        fputs("absent", out);
        return;
    }
    char *text = cJSON_PrintUnformatted(v);
    fputs(text != NULL ? text : "?", out);
    free(text);
}

void history_print_value(FILE *out, const history *h, int value_id)
{
    print_json(out, history_value(h, value_id));
}

void history_print_op(FILE *out, const history *h, const history_op *op)
{
    if (op->complete_line != 0)
        fprintf(out, "    lines %ld..%ld: process ", op->invoke_line, op->complete_line);
    else
        fprintf(out, "    line %ld: process ", op->invoke_line);
    print_json(out, h->processes->items[op->process_id]);
    fprintf(out, " %s key ", fn_names[op->fn]);
    print_json(out, history_key(h, op->key_id));
    if (op->fn == HISTORY_WRITE) {
        fputs(" value ", out);
        print_json(out, history_value(h, op->value_id));
    } else if (op->fn == HISTORY_CAS) {
        fputs(" from ", out);
        print_json(out, history_value(h, op->cas_from_id));
        fputs(" to ", out);
        print_json(out, history_value(h, op->value_id));
    }
    if (op->complete_entry == NULL) {
        fprintf(out, " -> never completed, invoked %" PRId64 " us\n", op->invoke_us);
        return;
    }
    static const char *const outcome_names[] = {"ok", "fail", "info"};
    fprintf(out, " -> %s", outcome_names[op->outcome]);
    if (op->outcome == HISTORY_OK && history_is_read(op->fn)) {
        fputc(' ', out);
        print_json(out, history_value(h, op->value_id));
    }
    if (op->outcome == HISTORY_FAIL) fprintf(out, " (error %d)", op->error_code);
    fprintf(out, ", %" PRId64 "..%" PRId64 " us\n", op->invoke_us, op->complete_us);
}
