#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;
/* Diagnostics wait here until the result they explain is known. */
static char tap_pending[16384];
static size_t tap_pending_len;

void tap_diag(const char *fmt, ...)
{
    if (tap_pending_len + 4 >= sizeof tap_pending) return;
    size_t room = sizeof tap_pending - tap_pending_len;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(tap_pending + tap_pending_len, room - 1, fmt, args);
    va_end(args);
    if (n < 0) return;
    tap_pending_len += (size_t)n < room - 2 ? (size_t)n : room - 2;
    tap_pending[tap_pending_len++] = '\n';
    tap_pending[tap_pending_len] = '\0';
}

void tap_note(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("# ", stdout);
    vprintf(fmt, args);
    fputc('\n', stdout);
    va_end(args);
    fflush(stdout);
}

static void tap_flush_diag(FILE *out)
{
    const char *line = tap_pending;
    while (*line) {
        const char *end = strchr(line, '\n');
        fprintf(out, "#   %.*s\n", (int)(end - line), line);
        line = end + 1;
    }
}

static void tap_result(bool pass, const char *directive, const char *fmt, va_list args)
{
    tap_count++;
    if (!pass) {
        tap_flush_diag(stdout);
        if (!directive) tap_flush_diag(stderr);
    }
    printf("%sok %d - ", pass ? "" : "not ", tap_count);
    vprintf(fmt, args);
    if (directive) printf(" # TODO %s", directive);
    putchar('\n');
    fflush(stdout);
    tap_pending_len = 0;
    tap_pending[0] = '\0';
}

bool tap_ok(bool pass, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    tap_result(pass, NULL, fmt, args);
    va_end(args);
    if (!pass) tap_failed++;
    return pass;
}

bool tap_todo(bool pass, const char *bug, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    tap_result(pass, bug, fmt, args);
    va_end(args);
    return pass;
}

int tap_done(void)
{
    printf("1..%d\n", tap_count);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}
