/* gen-history: a random history of a linearizable KV store, optionally corrupted.
 *
 *   gen-history [--seed N] [--ops N] [--keys N] [--processes N] [--info-percent P]
 *               [--corrupt-percent P] [--dup-values] [--read-types]
 *               [--max-gap-us N] [--max-duration-us N]
 *
 * The checkers' test bench, not part of the store. Each process runs one op at a time; every
 * op that takes effect does so at one random instant inside its interval (an info op's instant
 * may fall after the client gave up), and the ops are applied to a map in instant order, so
 * the uncorrupted history is linearizable by construction. --corrupt-percent then edits that
 * share of read results and failed cas ops (claimed to succeed, or refused with the other of
 * errors 20 and 22), which usually (not always) breaks it: the checkers
 * must tell which. --dup-values draws written values from {1,2,3} to exercise repeated values;
 * --read-types adds follower/ryw/lease reads, whose linearizable:false replies may be stale. */
#include "checker.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { SIM_READ, SIM_WRITE, SIM_CAS } sim_kind;

typedef struct {
    sim_kind kind;
    const char *fn; /* the history's "f" */
    bool claims_linearizable;
    int process, key;
    int64_t invoke_us, effect_us, complete_us;
    int value;    /* write: written; cas: to; read: observed */
    int cas_from; /* cas */
    bool is_info, takes_effect, never_completes;
    bool ok;        /* reads: found the key; cas: precondition held */
    int error_code; /* when !ok */
} sim_op;

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t rng_below(int64_t bound)
{
    return bound <= 0 ? 0 : (int64_t)(rng_next() % (uint64_t)bound);
}

static bool rng_percent(int percent)
{
    return rng_below(100) < percent;
}

typedef struct {
    uint64_t seed;
    int op_count, key_count, process_count;
    int info_percent, corrupt_percent;
    bool dup_values, read_types;
    int64_t max_gap_us, max_duration_us;
} gen_options;

static const sim_op *sort_ops;

static int by_effect(const void *a, const void *b)
{
    const sim_op *x = &sort_ops[*(const int *)a], *y = &sort_ops[*(const int *)b];
    if (x->effect_us != y->effect_us) return x->effect_us < y->effect_us ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

/* Every op gets an interval per process, one after another, processes interleaved. */
static sim_op *schedule(const gen_options *o)
{
    sim_op *ops = checker_realloc(NULL, (size_t)o->op_count, sizeof *ops);
    int64_t *free_at_us = checker_realloc(NULL, (size_t)o->process_count, sizeof *free_at_us);
    for (int p = 0; p < o->process_count; p++)
        free_at_us[p] = 1000000 + rng_below(o->max_gap_us);
    int next_value = 1;
    for (int i = 0; i < o->op_count; i++) {
        int p = 0;
        for (int q = 1; q < o->process_count; q++)
            if (free_at_us[q] < free_at_us[p]) p = q;
        sim_op *op = &ops[i];
        memset(op, 0, sizeof *op);
        int64_t roll = rng_below(10);
        op->kind = roll < 5 ? SIM_READ : roll < 8 ? SIM_WRITE : SIM_CAS;
        op->fn = op->kind == SIM_READ ? "read" : op->kind == SIM_WRITE ? "write" : "cas";
        op->claims_linearizable = true;
        if (op->kind == SIM_READ && o->read_types && rng_percent(50)) {
            static const char *const read_fns[] = {"follower_read", "ryw_read", "lease_read"};
            op->fn = read_fns[rng_below(3)];
            op->claims_linearizable = rng_percent(50);
        }
        op->process = p;
        op->key = (int)rng_below(o->key_count);
        op->invoke_us = free_at_us[p];
        int64_t duration_us = 1 + rng_below(o->max_duration_us);
        op->complete_us = op->invoke_us + duration_us;
        op->effect_us = op->invoke_us + rng_below(duration_us + 1);
        op->takes_effect = true;
        if (rng_percent(o->info_percent)) {
            op->is_info = true;
            op->takes_effect = op->kind != SIM_READ && rng_percent(50);
            op->effect_us = op->invoke_us + rng_below(3 * duration_us + 1);
        }
        if (op->kind != SIM_READ) op->value = o->dup_values ? 1 + (int)rng_below(3) : next_value++;
        free_at_us[p] = op->complete_us + 1 + rng_below(o->max_gap_us);
    }
    free(free_at_us);
    return ops;
}

/* Applies the ops that take effect to a map, in effect order: the linearization. */
static void apply_in_effect_order(sim_op *ops, const gen_options *o)
{
    int *order = checker_realloc(NULL, (size_t)o->op_count, sizeof *order);
    for (int i = 0; i < o->op_count; i++)
        order[i] = i;
    sort_ops = ops;
    qsort(order, (size_t)o->op_count, sizeof *order, by_effect);
    int *map = checker_realloc(NULL, (size_t)o->key_count, sizeof *map);
    for (int k = 0; k < o->key_count; k++)
        map[k] = 0; /* 0 = absent; values start at 1 */
    for (int i = 0; i < o->op_count; i++) {
        sim_op *op = &ops[order[i]];
        int *current = &map[op->key];
        if (op->kind == SIM_CAS) /* usually the right precondition, so some cas succeed */
            op->cas_from = *current != 0 && rng_percent(70) ? *current : 1 + (int)rng_below(4);
        if (!op->takes_effect) continue;
        switch (op->kind) {
        case SIM_READ:
            op->value = *current;
            /* A read not claiming linearizability may be served from anything older. */
            if (!op->claims_linearizable && rng_percent(50))
                op->value = (int)rng_below(op->value + 1);
            op->ok = op->value != 0;
            op->error_code = 20;
            break;
        case SIM_WRITE:
            *current = op->value;
            break;
        case SIM_CAS:
            op->ok = *current == op->cas_from;
            op->error_code = *current == 0 ? 20 : 22;
            if (op->ok) *current = op->value;
            break;
        }
    }
    free(map);
    free(order);
}

static void corrupt(sim_op *ops, const gen_options *o)
{
    for (int i = 0; i < o->op_count; i++) {
        sim_op *op = &ops[i];
        if (op->is_info || !rng_percent(o->corrupt_percent)) continue;
        if (op->kind == SIM_READ) {
            op->value = (int)rng_below(op->value + 3); /* often an older value, or absent */
            op->ok = op->value != 0;
            op->error_code = 20;
        } else if (op->kind == SIM_CAS && !op->ok && rng_percent(50)) {
            op->ok = true; /* a cas that "succeeded" against the wrong value */
        } else if (op->kind == SIM_CAS && !op->ok) {
            op->error_code = op->error_code == 20 ? 22 : 20; /* refused for the wrong reason */
        }
    }
}

static int by_time(const void *a, const void *b)
{
    /* events are encoded as op * 2 + is_completion */
    const int x = *(const int *)a, y = *(const int *)b;
    const sim_op *ox = &sort_ops[x / 2], *oy = &sort_ops[y / 2];
    int64_t tx = x % 2 ? ox->complete_us : ox->invoke_us;
    int64_t ty = y % 2 ? oy->complete_us : oy->invoke_us;
    if (tx != ty) return tx < ty ? -1 : 1;
    return x - y;
}

static void print_event(const sim_op *op, bool is_completion)
{
    const char *type = !is_completion                    ? "invoke"
                       : op->is_info                     ? "info"
                       : op->kind == SIM_WRITE || op->ok ? "ok"
                                                         : "fail";
    printf("{\"time_us\":%" PRId64 ",\"process\":%d,\"type\":\"%s\",\"f\":\"%s\",\"key\":%d",
           is_completion ? op->complete_us : op->invoke_us, op->process, type, op->fn, op->key);
    if (op->kind == SIM_WRITE) printf(",\"value\":%d", op->value);
    if (op->kind == SIM_CAS) printf(",\"value\":[%d,%d]", op->cas_from, op->value);
    if (is_completion && strcmp(type, "ok") == 0 && op->kind == SIM_READ)
        printf(",\"value\":%d", op->value);
    if (strcmp(type, "fail") == 0) printf(",\"error\":%d", op->error_code);
    if (is_completion && op->kind == SIM_READ && strcmp(op->fn, "read") != 0)
        printf(",\"linearizable\":%s", op->claims_linearizable ? "true" : "false");
    printf(",\"node\":\"n%d\"}\n", 1 + op->process % 3);
}

static void print_history(sim_op *ops, const gen_options *o)
{
    /* A process's last op, if info, sometimes never completes: the run ended first. */
    for (int p = 0; p < o->process_count; p++)
        for (int i = o->op_count - 1; i >= 0; i--)
            if (ops[i].process == p) {
                ops[i].never_completes = ops[i].is_info && rng_percent(50);
                break;
            }
    int *events = checker_realloc(NULL, 2 * (size_t)o->op_count, sizeof *events);
    int count = 0;
    for (int i = 0; i < o->op_count; i++) {
        events[count++] = 2 * i;
        if (!ops[i].never_completes) events[count++] = 2 * i + 1;
    }
    sort_ops = ops;
    qsort(events, (size_t)count, sizeof *events, by_time);
    for (int i = 0; i < count; i++)
        print_event(&ops[events[i] / 2], events[i] % 2);
    free(events);
}

#define USAGE                                                                                      \
    "usage: gen-history [--seed N] [--ops N] [--keys N] [--processes N]\n"                         \
    "  [--info-percent P] [--corrupt-percent P] [--dup-values] [--read-types]\n"                   \
    "  [--max-gap-us N] [--max-duration-us N]\n"

static int usage(void)
{
    fprintf(stderr, USAGE);
    return 2;
}

int main(int argc, char **argv)
{
    gen_options o = {.seed = 1,
                     .op_count = 10000,
                     .key_count = 5,
                     .process_count = 10,
                     .info_percent = 1,
                     .max_gap_us = 2000,
                     .max_duration_us = 5000};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            printf(USAGE
                   "Prints a random linearizable history of a KV store (the checkers' test\n"
                   "bench), optionally corrupted; checks/checkers/README.md has the flags.\n");
            return 0;
        }
        if (strcmp(flag, "--dup-values") == 0) {
            o.dup_values = true;
            continue;
        }
        if (strcmp(flag, "--read-types") == 0) {
            o.read_types = true;
            continue;
        }
        if (i + 1 >= argc) return usage();
        long long n = strtoll(argv[++i], NULL, 10);
        if (strcmp(flag, "--seed") == 0)
            o.seed = (uint64_t)n;
        else if (strcmp(flag, "--ops") == 0)
            o.op_count = (int)n;
        else if (strcmp(flag, "--keys") == 0)
            o.key_count = (int)n;
        else if (strcmp(flag, "--processes") == 0)
            o.process_count = (int)n;
        else if (strcmp(flag, "--info-percent") == 0)
            o.info_percent = (int)n;
        else if (strcmp(flag, "--corrupt-percent") == 0)
            o.corrupt_percent = (int)n;
        else if (strcmp(flag, "--max-gap-us") == 0)
            o.max_gap_us = n;
        else if (strcmp(flag, "--max-duration-us") == 0)
            o.max_duration_us = n;
        else
            return usage();
    }
    if (o.op_count < 1 || o.key_count < 1 || o.process_count < 1 || o.max_duration_us < 1)
        return usage();
    rng_state = o.seed * 0x2545f4914f6cdd1dULL + 1;
    sim_op *ops = schedule(&o);
    apply_in_effect_order(ops, &o);
    corrupt(ops, &o);
    print_history(ops, &o);
    free(ops);
    return 0;
}
