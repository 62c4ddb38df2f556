#include "loop.h"

#include "clock.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How much of stdin one turn reads before going back to timers and peer work. */
#define LOOP_READ_PER_TURN (1 << 20)

struct loop_timer {
    loop_timer_fn fn;
    void *ctx;
    int64_t due_us;
};

static struct loop_handlers loop_owner;
static struct loop_timer loop_timers[LOOP_MAX_TIMERS];
static int loop_timer_count;
static char *loop_in;
static size_t loop_in_len, loop_in_cap;

void loop_init(const struct loop_handlers *handlers)
{
    loop_owner = *handlers;
}

void loop_add_timer(loop_timer_fn fn, void *ctx, int64_t first_delay_us)
{
    if (loop_timer_count == LOOP_MAX_TIMERS) {
        fprintf(stderr, "loop: more than %d timers\n", LOOP_MAX_TIMERS);
        abort();
    }
    loop_timers[loop_timer_count++] =
        (struct loop_timer){.fn = fn, .ctx = ctx, .due_us = clock_now_us() + first_delay_us};
}

void loop_wake_timers(void)
{
    for (int i = 0; i < loop_timer_count; i++)
        loop_timers[i].due_us = 0;
}

static int64_t loop_run_timers(void)
{
    int64_t now_us = clock_now_us();
    int64_t next_due_us = INT64_MAX;
    for (int i = 0; i < loop_timer_count; i++) {
        struct loop_timer *t = &loop_timers[i];
        if (t->due_us <= now_us) {
            int64_t delay_us = t->fn(t->ctx, now_us);
            t->due_us = now_us + (delay_us > 0 ? delay_us : 1);
        }
        if (t->due_us < next_due_us) next_due_us = t->due_us;
    }
    return next_due_us;
}

static void loop_deliver_lines(void)
{
    size_t start = 0;
    for (;;) {
        char *newline = memchr(loop_in + start, '\n', loop_in_len - start);
        if (!newline) break;
        size_t len = (size_t)(newline - (loop_in + start));
        if (len > 0) loop_owner.on_line(loop_owner.ctx, loop_in + start, len);
        start += len + 1;
    }
    memmove(loop_in, loop_in + start, loop_in_len - start);
    loop_in_len -= start;
}

static bool loop_wants_input(void)
{
    return !loop_owner.wants_input || loop_owner.wants_input(loop_owner.ctx);
}

/* Reads what is available now; returns 0 at end of file, 1 otherwise, -1 on error. */
static int loop_read_stdin(void)
{
    size_t read_this_turn = 0;
    while (read_this_turn < LOOP_READ_PER_TURN && loop_wants_input()) {
        if (loop_in_cap - loop_in_len < 64 * 1024) {
            size_t cap = loop_in_cap ? loop_in_cap * 2 : 256 * 1024;
            char *grown = realloc(loop_in, cap);
            if (!grown) {
                perror("loop: out of memory for input");
                abort();
            }
            loop_in = grown;
            loop_in_cap = cap;
        }
        ssize_t n = read(STDIN_FILENO, loop_in + loop_in_len, loop_in_cap - loop_in_len);
        if (n > 0) {
            loop_in_len += (size_t)n;
            read_this_turn += (size_t)n;
            loop_deliver_lines();
            continue;
        }
        if (n == 0) {
            /* A last line without a newline still counts. */
            if (loop_in_len > 0) {
                loop_owner.on_line(loop_owner.ctx, loop_in, loop_in_len);
                loop_in_len = 0;
            }
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
        perror("loop: read stdin");
        return -1;
    }
    return 1;
}

int loop_run(void)
{
    int flags = fcntl(STDIN_FILENO, F_GETFL);
    if (flags >= 0) fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
    bool work_left = false;
    for (;;) {
        int64_t next_due_us = loop_run_timers();
        int timeout_ms = 0;
        if (!work_left) {
            int64_t now_us = clock_now_us();
            timeout_ms = next_due_us == INT64_MAX ? -1 : clock_real_ms(next_due_us - now_us);
        }
        if (timeout_ms != 0) proto_flush();
        /* poll(2) skips a negative fd: with input unwanted, only timers wake us. */
        struct pollfd pfd = {.fd = loop_wants_input() ? STDIN_FILENO : -1, .events = POLLIN};
        int ready = poll(&pfd, 1, timeout_ms);
        if (ready < 0 && errno != EINTR) {
            perror("loop: poll");
            return -1;
        }
        if (ready > 0) {
            int status = loop_read_stdin();
            if (status <= 0) {
                loop_owner.on_eof(loop_owner.ctx);
                proto_flush();
                return status;
            }
        }
        loop_run_timers();
        work_left = loop_owner.on_turn(loop_owner.ctx, clock_now_us());
    }
}
