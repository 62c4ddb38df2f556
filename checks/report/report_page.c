#include "report_page.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { REPORT_PAGE_UNFOLDED_LINES = 8 };

/* report.html.in, made into a C array by report.mk. */
extern const unsigned char report_template[];
extern const size_t report_template_len;

static void report_page_escape(FILE *out, const char *text)
{
    for (; *text; text++) {
        switch (*text) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*text, out);
        }
    }
}

/* JSON inside <script type="application/json">: a "<" can only be inside a string, where
 * \u003c means the same, and without it no "</script>" or "<!--" in a node's reply can
 * end the script early. */
static void report_page_json(FILE *out, const cJSON *data)
{
    char *text = cJSON_PrintUnformatted(data);
    for (const char *c = text; *c; c++) {
        if (*c == '<')
            fputs("\\u003c", out);
        else
            fputc(*c, out);
    }
    cJSON_free(text);
}

static const char *report_page_string(const cJSON *object, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) ? item->valuestring : "";
}

static void report_page_summary(FILE *out, const report_page_input *in)
{
    int total = cJSON_GetArraySize(in->ops->ops), ok = 0, fail = 0, info = 0;
    const cJSON *op;
    cJSON_ArrayForEach(op, in->ops->ops) {
        const char *type = report_page_string(op, "type");
        ok += strcmp(type, "ok") == 0;
        fail += strcmp(type, "fail") == 0;
        info += strcmp(type, "info") == 0;
    }
    fprintf(out, "<p id=\"summary\">%d ops (%d ok, %d fail, %d info) over %.3f s; nodes", total, ok,
            fail, info,
            cJSON_GetObjectItemCaseSensitive(in->cluster->run, "end_us")->valuedouble / 1e6);
    const cJSON *node;
    cJSON_ArrayForEach(node, cJSON_GetObjectItemCaseSensitive(in->cluster->run, "nodes")) {
        fputc(' ', out);
        report_page_escape(out, cJSON_IsString(node) ? node->valuestring : "?");
    }
    int leaderships = cJSON_GetArraySize(in->cluster->leaders);
    fprintf(out, "; %d fault windows; ", cJSON_GetArraySize(in->cluster->faults));
    if (leaderships > 0 || !in->events_path)
        fprintf(out, "%d leaderships observed.", leaderships);
    else
        fputs("no node sent a raft_append, so leadership is not observed (the nodes speak "
              "another peer protocol than the reference's).",
              out);
    fputs("<br>history: <code>", out);
    report_page_escape(out, in->history_path);
    fputs("</code>", out);
    if (in->events_path) {
        fputs(", events: <code>", out);
        report_page_escape(out, in->events_path);
        fputs("</code>", out);
    } else {
        fputs(" (no events file: faults and leadership unknown)", out);
    }
    if (in->ops->bad_lines)
        fprintf(out, "; %ld history lines were not ops and are not drawn", in->ops->bad_lines);
    fputs("</p>\n", out);
}

/* A checker's text verbatim; a long one folded under its first line, so the timeline
 * stays near the top of the page. */
static void report_page_text(FILE *out, const char *text)
{
    int lines = 0;
    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    if (!text[0]) return;
    if (lines <= REPORT_PAGE_UNFOLDED_LINES) {
        fputs("<pre>", out);
        report_page_escape(out, text);
        fputs("</pre>", out);
        return;
    }
    const char *end = strchr(text, '\n');
    char *first = strndup(text, (size_t)(end - text));
    fputs("<details><summary><code>", out);
    report_page_escape(out, first);
    fprintf(out, "</code> (all %d lines)</summary><pre>", lines);
    report_page_escape(out, text);
    fputs("</pre></details>", out);
    free(first);
}

static void report_page_verdicts(FILE *out, const report_verdicts *v)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, v->checkers) {
        const cJSON *exit_status = cJSON_GetObjectItemCaseSensitive(c, "exit");
        const char *class = !cJSON_IsNumber(exit_status)    ? "v-skip"
                            : exit_status->valuedouble == 0 ? "v-ok"
                            : exit_status->valuedouble == 1 ? "v-anomaly"
                                                            : "v-other";
        fprintf(out, "<div class=\"verdict %s\" data-checker=\"%s\"><h3>%s: ", class,
                report_page_string(c, "name"), report_page_string(c, "program"));
        report_page_escape(out, report_page_string(c, "verdict"));
        fputs("</h3>", out);
        report_page_text(out, report_page_string(c, "text"));
        fputs("</div>\n", out);
    }
}

static void report_page_anomalies(FILE *out, const report_verdicts *v)
{
    if (cJSON_GetArraySize(v->anomalies) == 0) {
        fputs("<p class=\"none\">No checker named an anomaly.</p>\n", out);
        return;
    }
    fputs("<ol id=\"anomaly-list\">\n", out);
    int k = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, v->anomalies) {
        fprintf(out, "<li class=\"anomaly\" data-anomaly=\"%d\" data-checker=\"%s\" data-lines=\"",
                k++, report_page_string(a, "checker"));
        const cJSON *pair, *index;
        const char *sep = "";
        cJSON_ArrayForEach(pair, cJSON_GetObjectItemCaseSensitive(a, "lines")) {
            fprintf(out, "%s%.0f..%.0f", sep, cJSON_GetArrayItem(pair, 0)->valuedouble,
                    cJSON_GetArrayItem(pair, 1)->valuedouble);
            sep = " ";
        }
        fputs("\" data-ops=\"", out);
        sep = "";
        cJSON_ArrayForEach(index, cJSON_GetObjectItemCaseSensitive(a, "ops")) {
            fprintf(out, "%s%.0f", sep, index->valuedouble);
            sep = " ";
        }
        fprintf(out, "\"><b>check-%s</b><pre>", report_page_string(a, "checker"));
        report_page_escape(out, report_page_string(a, "text"));
        fputs("</pre></li>\n", out);
    }
    fputs("</ol>\n", out);
}

static void report_page_data(FILE *out, const report_page_input *in)
{
    cJSON *data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "version", 1);
    cJSON_AddStringToObject(data, "title", in->title);
    cJSON_AddStringToObject(data, "history", in->history_path);
    if (in->events_path)
        cJSON_AddStringToObject(data, "events", in->events_path);
    else
        cJSON_AddNullToObject(data, "events");
    cJSON_AddItemReferenceToObject(data, "run", in->cluster->run);
    cJSON_AddItemReferenceToObject(data, "leaders", in->cluster->leaders);
    cJSON_AddItemReferenceToObject(data, "faults", in->cluster->faults);
    cJSON_AddItemReferenceToObject(data, "checkers", in->verdicts->checkers);
    cJSON_AddItemReferenceToObject(data, "anomalies", in->verdicts->anomalies);
    cJSON_AddItemReferenceToObject(data, "ops", in->ops->ops);
    report_page_json(out, data);
    cJSON_Delete(data);
}

int report_page_write(const report_page_input *in, const char *out_path, char *err, size_t err_size)
{
    FILE *out = fopen(out_path, "w");
    if (!out) {
        snprintf(err, err_size, "--out %s: %s", out_path, strerror(errno));
        return -1;
    }
    /* The template's @@NAME@@ markers, each replaced by its part. */
    const char *page = (const char *)report_template;
    const char *end = page + report_template_len;
    while (page < end) {
        const char *mark = strstr(page, "@@");
        if (!mark) mark = end;
        fwrite(page, 1, (size_t)(mark - page), out);
        if (mark == end) break;
        const char *close = strstr(mark + 2, "@@");
        if (!close) close = end - 2;
        size_t name_len = (size_t)(close - mark - 2);
        if (name_len == 5 && strncmp(mark + 2, "TITLE", 5) == 0)
            report_page_escape(out, in->title);
        else if (name_len == 7 && strncmp(mark + 2, "SUMMARY", 7) == 0)
            report_page_summary(out, in);
        else if (name_len == 8 && strncmp(mark + 2, "VERDICTS", 8) == 0)
            report_page_verdicts(out, in->verdicts);
        else if (name_len == 9 && strncmp(mark + 2, "ANOMALIES", 9) == 0)
            report_page_anomalies(out, in->verdicts);
        else if (name_len == 4 && strncmp(mark + 2, "DATA", 4) == 0)
            report_page_data(out, in);
        else
            fwrite(mark, 1, (size_t)(close + 2 - mark), out);
        page = close + 2;
    }
    if (fclose(out) != 0) {
        snprintf(err, err_size, "--out %s: %s", out_path, strerror(errno));
        return -1;
    }
    return 0;
}
