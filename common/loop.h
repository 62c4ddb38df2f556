/* loop: one thread, poll(2) on stdin, and timers that say when they next fire.
 *
 * Each turn: run due timers, read what stdin has and hand over complete lines, let the
 * owner do its per-turn work, then block in poll() until input or the next timer
 * (flushing output first). The owner decides what a line is worth: the node handles
 * peer lines at once and queues client lines, so heartbeats are never stuck behind a
 * flood of client requests (see node_intake.c). */
#ifndef READPATH_LOOP_H
#define READPATH_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns the delay in microseconds (node clock) until it should run again. */
typedef int64_t (*loop_timer_fn)(void *ctx, int64_t now_us);

struct loop_handlers {
    void *ctx;
    /* A complete line (without its newline); the buffer is only valid during the call. */
    void (*on_line)(void *ctx, const char *line, size_t len);
    /* After timers and input: work with a per-turn budget. Returns true when work is
     * left over, so the loop polls without blocking. */
    bool (*on_turn)(void *ctx, int64_t now_us);
    /* stdin reached end of file; the loop stops after this returns. */
    void (*on_eof)(void *ctx);
    /* May be NULL (always). False while the owner has enough input waiting: stdin is
     * left unread, so a flood waits in the pipe (and its sender) instead of in memory. */
    bool (*wants_input)(void *ctx);
};

void loop_init(const struct loop_handlers *handlers);
/* Timers are few and fixed (raft, request deadlines); at most LOOP_MAX_TIMERS. */
#define LOOP_MAX_TIMERS 8
void loop_add_timer(loop_timer_fn fn, void *ctx, int64_t first_delay_us);
/* Makes every timer run on the next turn (state changed; deadlines may have moved). */
void loop_wake_timers(void);
/* Runs until stdin closes. Returns 0, or -1 on an I/O error reading stdin. */
int loop_run(void);

#endif
