#include "report_cluster.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *report_cluster_string(const cJSON *object, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) ? item->valuestring : "";
}

static double report_cluster_number(const cJSON *object, const char *name)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(object, name));
}

static cJSON *report_cluster_window(report_cluster *c, const char *kind, const char *label,
                                    double from_us)
{
    cJSON *w = cJSON_CreateObject();
    cJSON_AddStringToObject(w, "kind", kind);
    cJSON_AddStringToObject(w, "label", label);
    cJSON_AddNumberToObject(w, "from_us", from_us);
    cJSON_AddNullToObject(w, "to_us");
    cJSON_AddTrueToObject(w, "open");
    cJSON_AddItemToArray(c->faults, w);
    return w;
}

static void report_cluster_end_window(cJSON *w, double to_us)
{
    cJSON_ReplaceItemInObjectCaseSensitive(w, "to_us", cJSON_CreateNumber(to_us));
    cJSON_ReplaceItemInObjectCaseSensitive(w, "open", cJSON_CreateFalse());
}

/* Ends every open window of a kind that the match function picks. */
static void report_cluster_end_matching(report_cluster *c, const char *kind, const cJSON *fault,
                                        double to_us, bool (*match)(const cJSON *, const cJSON *))
{
    cJSON *w;
    cJSON_ArrayForEach(w, c->faults) {
        if (strcmp(report_cluster_string(w, "kind"), kind) != 0) continue;
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "open"))) continue;
        if (!match || match(w, fault)) report_cluster_end_window(w, to_us);
    }
}

static bool report_cluster_same_node(const cJSON *w, const cJSON *fault)
{
    return strcmp(report_cluster_string(w, "node"), report_cluster_string(fault, "node")) == 0;
}

static bool report_cluster_same_link(const cJSON *w, const cJSON *fault)
{
    return strcmp(report_cluster_string(w, "from"), report_cluster_string(fault, "from")) == 0 &&
           strcmp(report_cluster_string(w, "to"), report_cluster_string(fault, "to")) == 0;
}

/* "n1 | n2 n3" from [["n1"],["n2","n3"]]. */
static void report_cluster_groups_label(const cJSON *groups, char *label, size_t size)
{
    size_t used = 0;
    label[0] = '\0';
    const cJSON *group, *node;
    cJSON_ArrayForEach(group, groups) {
        if (used && used + 3 < size) used += (size_t)snprintf(label + used, size - used, " |");
        cJSON_ArrayForEach(node, group)
            if (cJSON_IsString(node) && used + strlen(node->valuestring) + 2 < size)
                used += (size_t)snprintf(label + used, size - used, "%s%s", used ? " " : "",
                                         node->valuestring);
    }
}

/* One fault line: a window opens (partition, cut, duplicate, pause, kill) or closes
 * (heal, uncut, resume, restart, a new partition, a new duplicate probability). */
static void report_cluster_fault(report_cluster *c, const cJSON *fault)
{
    const char *kind = report_cluster_string(fault, "fault");
    const char *node = report_cluster_string(fault, "node");
    double t = report_cluster_number(fault, "time_us");
    char label[256];
    if (strcmp(kind, "partition") == 0 || strcmp(kind, "heal") == 0) {
        report_cluster_end_matching(c, "partition", fault, t, NULL);
        if (strcmp(kind, "heal") == 0) {
            report_cluster_end_matching(c, "cut", fault, t, NULL);
            return;
        }
        const cJSON *groups = cJSON_GetObjectItemCaseSensitive(fault, "groups");
        report_cluster_groups_label(groups, label, sizeof label);
        cJSON *w = report_cluster_window(c, "partition", label, t);
        cJSON_AddItemToObject(w, "groups", cJSON_Duplicate(groups, true));
    } else if (strcmp(kind, "cut") == 0 || strcmp(kind, "uncut") == 0) {
        report_cluster_end_matching(c, "cut", fault, t, report_cluster_same_link);
        if (strcmp(kind, "uncut") == 0) return;
        snprintf(label, sizeof label, "cut %s -> %s", report_cluster_string(fault, "from"),
                 report_cluster_string(fault, "to"));
        cJSON *w = report_cluster_window(c, "cut", label, t);
        cJSON_AddStringToObject(w, "from", report_cluster_string(fault, "from"));
        cJSON_AddStringToObject(w, "to", report_cluster_string(fault, "to"));
    } else if (strcmp(kind, "duplicate") == 0) {
        report_cluster_end_matching(c, "duplicate", fault, t, NULL);
        double p = report_cluster_number(fault, "probability");
        if (p <= 0) return;
        snprintf(label, sizeof label, "duplicate p=%g", p);
        report_cluster_window(c, "duplicate", label, t);
    } else if (strcmp(kind, "pause") == 0 || strcmp(kind, "kill") == 0) {
        const cJSON *after = cJSON_GetObjectItemCaseSensitive(fault, "restart_after_ms");
        if (cJSON_IsNumber(after))
            snprintf(label, sizeof label, "kill %s (restart after %g ms)", node,
                     after->valuedouble);
        else
            snprintf(label, sizeof label, "%s %s", kind, node);
        cJSON *w = report_cluster_window(c, kind, label, t);
        cJSON_AddStringToObject(w, "node", node);
    } else if (strcmp(kind, "resume") == 0) {
        report_cluster_end_matching(c, "pause", fault, t, report_cluster_same_node);
    } else if (strcmp(kind, "restart") == 0) {
        report_cluster_end_matching(c, "kill", fault, t, report_cluster_same_node);
    }
}

static void report_cluster_leader(report_cluster *c, const cJSON *line)
{
    cJSON *l = cJSON_CreateObject();
    const char *node = report_cluster_string(line, "node");
    cJSON_AddStringToObject(l, "node", node);
    cJSON_AddNumberToObject(l, "term", report_cluster_number(line, "term"));
    cJSON_AddNumberToObject(l, "from_us", report_cluster_number(line, "time_us"));
    cJSON_AddNumberToObject(l, "to_us", report_cluster_number(line, "last_append_us"));
    cJSON_AddNumberToObject(l, "appends", report_cluster_number(line, "appends"));
    cJSON_AddItemToArray(c->leaders, l);
}

/* n2 before n10: by length, then by spelling. */
static int report_cluster_node_order(const cJSON *a, const cJSON *b)
{
    size_t la = strlen(a->valuestring), lb = strlen(b->valuestring);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a->valuestring, b->valuestring);
}

/* The nodes a history names, in id order, when there are no events. */
static void report_cluster_nodes_from_ops(report_cluster *c, const cJSON *ops)
{
    cJSON *nodes = cJSON_AddArrayToObject(c->run, "nodes");
    const cJSON *op;
    cJSON_ArrayForEach(op, ops) {
        const char *names[] = {report_cluster_string(op, "node"), report_cluster_string(op, "by")};
        for (int k = 0; k < 2; k++) {
            bool seen = false;
            const cJSON *n;
            cJSON_ArrayForEach(n, nodes)
                seen |= strcmp(n->valuestring, names[k]) == 0;
            if (!seen && names[k][0]) cJSON_AddItemToArray(nodes, cJSON_CreateString(names[k]));
        }
    }
    /* Few nodes: an insertion sort of the array's items, by swapping their strings. */
    for (cJSON *i = nodes->child; i; i = i->next)
        for (cJSON *j = i->next; j; j = j->next)
            if (report_cluster_node_order(j, i) < 0) {
                char *swap = i->valuestring;
                i->valuestring = j->valuestring;
                j->valuestring = swap;
            }
}

int report_cluster_read(report_cluster *c, const char *events_path, const cJSON *ops,
                        int64_t last_us, char *err, size_t err_size)
{
    memset(c, 0, sizeof *c);
    c->run = cJSON_CreateObject();
    c->leaders = cJSON_CreateArray();
    c->faults = cJSON_CreateArray();
    double end_us = (double)last_us;
    if (!events_path) {
        report_cluster_nodes_from_ops(c, ops);
        cJSON_AddNumberToObject(c->run, "end_us", end_us);
        return 0;
    }
    FILE *in = fopen(events_path, "r");
    if (!in) {
        snprintf(err, err_size, "--events %s: %s", events_path, strerror(errno));
        return -1;
    }
    c->has_events = 1;
    char *text = NULL;
    size_t text_cap = 0;
    ssize_t len;
    long line_number = 0;
    int rc = 0;
    while ((len = getline(&text, &text_cap, in)) >= 0) {
        line_number++;
        cJSON *line = cJSON_ParseWithLength(text, (size_t)len);
        const char *event = report_cluster_string(line, "event");
        double t = report_cluster_number(line, "time_us");
        if (!cJSON_IsObject(line) || !event[0]) {
            snprintf(err, err_size, "--events %s: line %ld is not an event", events_path,
                     line_number);
            rc = -1;
        } else if (strcmp(event, "run") == 0) {
            const char *keep[] = {"nodes", "clock_rate", "seed", "bin"};
            for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
                const cJSON *item = cJSON_GetObjectItemCaseSensitive(line, keep[k]);
                if (item) cJSON_AddItemToObject(c->run, keep[k], cJSON_Duplicate(item, true));
            }
        } else if (strcmp(event, "clients_start") == 0 || strcmp(event, "clients_stop") == 0) {
            char name[32];
            snprintf(name, sizeof name, "%s_us", event);
            cJSON_AddNumberToObject(c->run, name, t);
        } else if (strcmp(event, "fault") == 0) {
            report_cluster_fault(c, line);
        } else if (strcmp(event, "leader") == 0) {
            report_cluster_leader(c, line);
        } else if (strcmp(event, "end") == 0 && t > end_us) {
            end_us = t;
        }
        cJSON_Delete(line);
        if (rc < 0) break;
    }
    free(text);
    fclose(in);
    if (!cJSON_HasObjectItem(c->run, "nodes")) report_cluster_nodes_from_ops(c, ops);
    cJSON_AddNumberToObject(c->run, "end_us", end_us);
    /* A clock rate holds for the whole run: the runner sets it when it starts the node. */
    const cJSON *rate;
    cJSON_ArrayForEach(rate, cJSON_GetObjectItemCaseSensitive(c->run, "clock_rate")) {
        char label[96];
        snprintf(label, sizeof label, "clock %s x%g", rate->string, rate->valuedouble);
        cJSON *w = report_cluster_window(c, "clock", label, 0);
        cJSON_AddStringToObject(w, "node", rate->string);
    }
    cJSON *w;
    cJSON_ArrayForEach(w, c->faults)
        if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(w, "to_us")))
            cJSON_ReplaceItemInObjectCaseSensitive(w, "to_us", cJSON_CreateNumber(end_us));
    return rc;
}

void report_cluster_free(report_cluster *c)
{
    cJSON_Delete(c->run);
    cJSON_Delete(c->leaders);
    cJSON_Delete(c->faults);
    memset(c, 0, sizeof *c);
}
