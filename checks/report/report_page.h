/* report_page: the HTML file. The page is report.html.in (CSS and the script that draws
 * the timeline and the plots as inline SVG), built into the program, with the run's data
 * put in as JSON and the checkers' verdicts and anomalies as static HTML, so the verdicts
 * read the same with scripts off. Nothing is fetched when the page is viewed. */
#ifndef REPORT_PAGE_H
#define REPORT_PAGE_H

#include "report_cluster.h"
#include "report_ops.h"
#include "report_verdicts.h"

#include <stddef.h>

typedef struct {
    const char *title;
    const char *history_path;
    const char *events_path; /* NULL: none */
    const report_ops *ops;
    const report_cluster *cluster;
    const report_verdicts *verdicts;
} report_page_input;

/* Returns 0, or -1 with a message in err. */
int report_page_write(const report_page_input *in, const char *out_path, char *err,
                      size_t err_size);

#endif
