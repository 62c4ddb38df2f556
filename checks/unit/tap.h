/* tap: the Test Anything Protocol, as `prove` reads it.
 *
 * Each check prints `ok N - what it shows` or `not ok N - ...`; a known bug is
 * reported as `not ok N - ... # TODO bug: ...` so the suite still passes while the
 * line stays visible. Diagnostics go out as `# ` lines: on stdout always (prove -v),
 * and for a failure also on stderr, so a plain `prove` run shows why. */
#ifndef READPATH_TAP_H
#define READPATH_TAP_H

#include <stdbool.h>

#if defined(__GNUC__)
#define TAP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TAP_PRINTF(a, b)
#endif

/* Queues a diagnostic line for the next result (printed with it, before it). */
void tap_diag(const char *fmt, ...) TAP_PRINTF(1, 2);
/* Prints an informational `# ` line at once (timings, bounds observed). */
void tap_note(const char *fmt, ...) TAP_PRINTF(1, 2);
/* Reports one check; returns `pass` so a test can stop early. */
bool tap_ok(bool pass, const char *fmt, ...) TAP_PRINTF(2, 3);
/* A check that exposes a known bug: failing is reported as TODO, not as a failure. */
bool tap_todo(bool pass, const char *bug, const char *fmt, ...) TAP_PRINTF(3, 4);
/* Prints the plan; returns the exit status (1 if any non-TODO check failed). */
int tap_done(void);

#endif
