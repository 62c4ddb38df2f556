/* run-report: one self-contained HTML file that shows a cluster run on one time axis.
 *
 *   run-report --history H.jsonl [--events E.jsonl] --out RUN.html [--checkers DIR]
 *              [--title TEXT]
 *
 * build/cluster --report runs it after a run; run on a history alone (any history, e.g. a
 * checker's test fixture) it draws the ops and the verdicts without the cluster's rows.
 * It runs the applicable checkers itself (from DIR, by default the directory this program
 * is in) and relays their text verbatim. Exit: 0 when the report is written, whatever
 * the verdicts; 2 for bad usage or an input it cannot read. */
#include "report_cluster.h"
#include "report_ops.h"
#include "report_page.h"
#include "report_verdicts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { RUN_REPORT_OK = 0, RUN_REPORT_USAGE = 2 };

typedef struct {
    const char *history, *events, *out, *checkers, *title;
} run_report_options;

static int run_report_usage(const char *why)
{
    fprintf(stderr,
            "run-report: %s\n"
            "usage: run-report --history H.jsonl [--events E.jsonl] --out RUN.html "
            "[--checkers DIR] [--title TEXT]\n",
            why);
    return RUN_REPORT_USAGE;
}

static int run_report_parse(run_report_options *o, int argc, char **argv)
{
    const struct {
        const char *name;
        const char **field;
    } table[] = {{"--history", &o->history},
                 {"--events", &o->events},
                 {"--out", &o->out},
                 {"--checkers", &o->checkers},
                 {"--title", &o->title}};
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < sizeof table / sizeof table[0] && strcmp(argv[i], table[k].name) != 0)
            k++;
        if (k == sizeof table / sizeof table[0] || i + 1 >= argc) return -1;
        *table[k].field = argv[++i];
    }
    return o->history && o->out ? 0 : -1;
}

/* The checkers are built beside this program (build/ or build/sanitize/). */
static void run_report_own_dir(char *dir, size_t size)
{
    ssize_t len = readlink("/proc/self/exe", dir, size - 1);
    if (len < 0) len = 0;
    dir[len] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, size, ".");
}

int main(int argc, char **argv)
{
    run_report_options opt = {0};
    if (run_report_parse(&opt, argc, argv) < 0)
        return run_report_usage("--history and --out are required, each flag takes a value");
    char own_dir[PATH_MAX], err[512], title[PATH_MAX + 64];
    run_report_own_dir(own_dir, sizeof own_dir);

    report_ops ops;
    report_cluster cluster = {0};
    report_verdicts verdicts = {0};
    int rc = RUN_REPORT_USAGE;
    if (report_ops_read(&ops, opt.history, err, sizeof err) < 0) {
        fprintf(stderr, "run-report: %s\n", err);
        return rc;
    }
    if (report_cluster_read(&cluster, opt.events, ops.ops, ops.last_us, err, sizeof err) < 0 ||
        report_verdicts_run(&verdicts, opt.checkers ? opt.checkers : own_dir, opt.history, &ops,
                            err, sizeof err) < 0) {
        fprintf(stderr, "run-report: %s\n", err);
    } else {
        const cJSON *bin = cJSON_GetObjectItemCaseSensitive(cluster.run, "bin");
        snprintf(title, sizeof title, "readpath run: %s",
                 cJSON_IsString(bin) ? bin->valuestring : opt.history);
        report_page_input page = {.title = opt.title ? opt.title : title,
                                  .history_path = opt.history,
                                  .events_path = opt.events,
                                  .ops = &ops,
                                  .cluster = &cluster,
                                  .verdicts = &verdicts};
        if (report_page_write(&page, opt.out, err, sizeof err) < 0)
            fprintf(stderr, "run-report: %s\n", err);
        else
            rc = RUN_REPORT_OK;
    }
    report_verdicts_free(&verdicts);
    report_cluster_free(&cluster);
    report_ops_free(&ops);
    return rc;
}
