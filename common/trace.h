/* trace: what the node tells a person on stderr, never stdout.
 * trace_event lines read "cause -> action" and are printed only with -v;
 * trace_warn lines (bad input, I/O trouble) are always printed. */
#ifndef READPATH_TRACE_H
#define READPATH_TRACE_H

#include <stdbool.h>

extern bool trace_verbose;
void trace_set_name(const char *node_name);

#if defined(__GNUC__)
#define TRACE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TRACE_PRINTF(a, b)
#endif

void trace_event(const char *fmt, ...) TRACE_PRINTF(1, 2);
void trace_warn(const char *fmt, ...) TRACE_PRINTF(1, 2);

#endif
