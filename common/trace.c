#include "trace.h"

#include "clock.h"

#include <stdarg.h>
#include <stdio.h>

bool trace_verbose;
static const char *trace_name = "node";

void trace_set_name(const char *node_name)
{
    trace_name = node_name;
}

static void trace_line(const char *fmt, va_list args)
{
    fprintf(stderr, "%s %8.3fs ", trace_name, (double)clock_now_us() / 1e6);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
}

void trace_event(const char *fmt, ...)
{
    if (!trace_verbose) return;
    va_list args;
    va_start(args, fmt);
    trace_line(fmt, args);
    va_end(args);
}

void trace_warn(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    trace_line(fmt, args);
    va_end(args);
}
