/* checker: what every history checker shares: its exit codes, its input, its memory policy. */
#ifndef CHECKER_H
#define CHECKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The verdict is the exit status (checks/checkers/README.md), so scripts can branch on it. */
enum checker_exit {
    CHECKER_OK = 0,        /* no anomaly */
    CHECKER_ANOMALY = 1,   /* an anomaly, printed with the ops that show it */
    CHECKER_BAD_INPUT = 2, /* the history could not be read; the line is named */
    CHECKER_UNKNOWN = 3,   /* the search ran out of budget (or memory) before deciding */
    /* The history holds no op this checker judges: it proves nothing, so it is not a pass. */
    CHECKER_NOTHING_JUDGED = 4,
};

/* Every verdict line says "judged N ops", so a script can tell a pass from a pass over
 * nothing, and assert the number it expects. */
#define CHECKER_JUDGED "judged %zu ops"

/* True when argv[1] asks for --help (or -h): the checker prints its usage to stdout and
 * exits 0. */
bool checker_wants_help(int argc, char **argv);

/* Like realloc, but a checker that runs out of memory has no verdict to give: it says so and
 * exits CHECKER_UNKNOWN instead of returning NULL to every caller. */
void *checker_realloc(void *old, size_t count, size_t size);

/* The history named by the one positional argument, or stdin when there is none.
 * On failure prints why and returns NULL. */
FILE *checker_open_input(const char *path);

#endif
