#include "events.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void events_init(events_log *ev, int node_count)
{
    memset(ev, 0, sizeof *ev);
    ev->node_count = node_count;
    ev->latest_by_node = malloc((size_t)node_count * sizeof *ev->latest_by_node);
    for (int i = 0; i < node_count; i++)
        ev->latest_by_node[i] = -1;
}

void events_free(events_log *ev)
{
    free(ev->leaderships);
    free(ev->latest_by_node);
    memset(ev, 0, sizeof *ev);
}

void events_note_append(events_log *ev, int64_t now_us, int node_index, double term)
{
    long latest = ev->latest_by_node[node_index];
    if (latest >= 0 && ev->leaderships[latest].term == term) {
        ev->leaderships[latest].last_append_us = now_us;
        ev->leaderships[latest].appends++;
        return;
    }
    if (ev->leadership_len == ev->leadership_cap) {
        ev->leadership_cap = ev->leadership_cap ? 2 * ev->leadership_cap : 16;
        ev->leaderships = realloc(ev->leaderships, ev->leadership_cap * sizeof *ev->leaderships);
    }
    ev->leaderships[ev->leadership_len] = (events_leadership){.node_index = node_index,
                                                              .term = term,
                                                              .first_append_us = now_us,
                                                              .last_append_us = now_us,
                                                              .appends = 1};
    ev->latest_by_node[node_index] = (long)ev->leadership_len++;
}

typedef struct {
    int64_t time_us;
    size_t seq; /* equal times keep the order they were added in */
    cJSON *line;
} events_line;

static int events_compare(const void *a, const void *b)
{
    const events_line *x = a, *y = b;
    if (x->time_us != y->time_us) return x->time_us < y->time_us ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static cJSON *events_line_json(events_line *lines, size_t *len, int64_t time_us, const char *event)
{
    cJSON *line = cJSON_CreateObject();
    cJSON_AddNumberToObject(line, "time_us", (double)time_us);
    cJSON_AddStringToObject(line, "event", event);
    lines[*len] = (events_line){.time_us = time_us, .seq = *len, .line = line};
    (*len)++;
    return line;
}

int events_write(const events_log *ev, const events_context *ctx, const char *path)
{
    size_t fault_count = (size_t)cJSON_GetArraySize(ctx->faults);
    events_line *lines = calloc(ev->leadership_len + fault_count + 4, sizeof *lines);
    size_t len = 0;

    cJSON *run = events_line_json(lines, &len, 0, "run");
    cJSON *nodes = cJSON_AddArrayToObject(run, "nodes");
    cJSON *rates = cJSON_AddObjectToObject(run, "clock_rate");
    for (int i = 0; i < ev->node_count; i++) {
        cJSON_AddItemToArray(nodes, cJSON_CreateString(ctx->node_names[i]));
        if (ctx->clock_rate_by_node[i] > 0)
            cJSON_AddNumberToObject(rates, ctx->node_names[i], ctx->clock_rate_by_node[i]);
    }
    cJSON_AddNumberToObject(run, "seed", (double)ctx->seed);
    cJSON_AddStringToObject(run, "bin", ctx->bin);
    events_line_json(lines, &len, ctx->clients_start_us, "clients_start");
    events_line_json(lines, &len, ctx->clients_stop_us, "clients_stop");

    const cJSON *fault;
    cJSON_ArrayForEach(fault, ctx->faults) {
        const cJSON *time = cJSON_GetObjectItemCaseSensitive(fault, "time_us");
        cJSON *line = events_line_json(lines, &len, (int64_t)cJSON_GetNumberValue(time), "fault");
        const cJSON *field;
        cJSON_ArrayForEach(field, fault)
            if (strcmp(field->string, "time_us") != 0)
                cJSON_AddItemToObject(line, field->string, cJSON_Duplicate(field, true));
    }
    for (size_t k = 0; k < ev->leadership_len; k++) {
        const events_leadership *l = &ev->leaderships[k];
        cJSON *line = events_line_json(lines, &len, l->first_append_us, "leader");
        cJSON_AddStringToObject(line, "node", ctx->node_names[l->node_index]);
        cJSON_AddNumberToObject(line, "term", l->term);
        cJSON_AddNumberToObject(line, "last_append_us", (double)l->last_append_us);
        cJSON_AddNumberToObject(line, "appends", (double)l->appends);
    }
    events_line_json(lines, &len, ctx->end_us, "end");

    qsort(lines, len, sizeof *lines, events_compare);
    FILE *file = fopen(path, "w");
    for (size_t k = 0; k < len; k++) {
        if (file) {
            char *text = cJSON_PrintUnformatted(lines[k].line);
            fprintf(file, "%s\n", text);
            cJSON_free(text);
        }
        cJSON_Delete(lines[k].line);
    }
    free(lines);
    if (!file) return -1;
    return fclose(file) == 0 ? 0 : -1;
}
