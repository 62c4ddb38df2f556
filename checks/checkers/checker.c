/* checker: exit codes, input and allocation shared by the history checkers. */
#include "checker.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *checker_realloc(void *old, size_t count, size_t size)
{
    if (count != 0 && size > SIZE_MAX / count) {
        fprintf(stderr, "unknown: allocation of %zu x %zu bytes overflows\n", count, size);
        exit(CHECKER_UNKNOWN);
    }
    void *fresh = realloc(old, count * size == 0 ? 1 : count * size);
    if (fresh == NULL) {
        fprintf(stderr, "unknown: out of memory (%zu bytes)\n", count * size);
        exit(CHECKER_UNKNOWN);
    }
    return fresh;
}

FILE *checker_open_input(const char *path)
{
    if (path == NULL || strcmp(path, "-") == 0) return stdin;
    FILE *in = fopen(path, "r");
    if (in == NULL) printf("bad input: cannot open %s: %s\n", path, strerror(errno));
    return in;
}

bool checker_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
    return false;
}
