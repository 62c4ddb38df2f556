/* soak-spike: latency spikes on one node's inbound messages, for build/cluster's --bin.
 *
 *   SPIKE_NODE=build/02-read-your-writes/node build/cluster --bin build/soak-spike ...
 *
 * The runner has no latency-spike fault of its own, so this wrapper adds one without
 * touching it. It forks a proxy and then execs the real node ($SPIKE_NODE, with every
 * argument it was given), so the pid the runner holds is the node itself: the runner's
 * pause (SIGSTOP) and kill (SIGKILL) still hit the node, and its stdout and stderr are
 * the runner's pipes as before. Only the node's stdin goes through the proxy:
 *
 *   runner --stdin--> proxy (delays lines) --pipe--> node --stdout--> runner
 *
 * The proxy passes lines on at once, except in spikes: windows of 100..1000 ms in which
 * every line arriving (peer messages and client requests alike) is held for an extra
 * 1..$READPATH_SPIKE_MS ms, one draw per spike. Lines keep their order (as on one TCP
 * connection). Between spikes the node gets a quiet spell of 0.5..2 times
 * $READPATH_SPIKE_EVERY_MS. Every draw comes from $READPATH_SEED (the runner sets it per
 * node, from --seed), so a seed replays the same schedule. Each spike is logged to
 * stderr (the node's log) as "soak-spike: ...". At end of input the proxy hands over
 * everything it still holds at once and closes the node's stdin, so the node exits
 * as promptly as it would without the proxy. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct held {
    struct held *next;
    int64_t due_ms;
    size_t len;
    char text[];
} held;

static struct {
    uint64_t rng;
    int64_t max_extra_ms, every_ms;
    int64_t spike_start_ms, spike_end_ms, extra_ms; /* the current or next spike */
    held *head, *tail;
    int64_t last_due_ms;
    int out;
} spike;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: small, seedable, good enough for a fault schedule. */
static uint64_t rng_next(void)
{
    uint64_t z = (spike.rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int64_t rng_between(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

static int64_t env_int(const char *name, int64_t fallback)
{
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 0) {
        fprintf(stderr, "soak-spike: %s=%s is not a non-negative integer\n", name, v);
        exit(2);
    }
    return (int64_t)n;
}

static void plan_next_spike(int64_t after_ms)
{
    spike.spike_start_ms = after_ms + rng_between(spike.every_ms / 2, spike.every_ms * 2);
    spike.spike_end_ms = spike.spike_start_ms + rng_between(100, 1000);
    spike.extra_ms = rng_between(1, spike.max_extra_ms > 0 ? spike.max_extra_ms : 1);
}

/* The extra delay of a line arriving now; moves on to the next spike when one ends. */
static int64_t extra_now(int64_t now)
{
    while (now >= spike.spike_end_ms)
        plan_next_spike(spike.spike_end_ms);
    return now >= spike.spike_start_ms && spike.max_extra_ms > 0 ? spike.extra_ms : 0;
}

static void write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(spike.out, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) _exit(errno == EPIPE ? 0 : 1); /* the node is gone: so are we */
        p += n;
        len -= (size_t)n;
    }
}

static void hold(const char *line, size_t len, int64_t now)
{
    int64_t due = now + extra_now(now);
    if (due < spike.last_due_ms) due = spike.last_due_ms; /* keep the order */
    spike.last_due_ms = due;
    if (due <= now && !spike.head) {
        write_all(line, len);
        return;
    }
    held *h = malloc(sizeof *h + len);
    if (!h) abort();
    h->next = NULL;
    h->due_ms = due;
    h->len = len;
    memcpy(h->text, line, len);
    if (spike.tail)
        spike.tail->next = h;
    else
        spike.head = h;
    spike.tail = h;
}

static void release(int64_t now, bool all)
{
    while (spike.head && (all || spike.head->due_ms <= now)) {
        held *h = spike.head;
        write_all(h->text, h->len);
        spike.head = h->next;
        if (!spike.head) spike.tail = NULL;
        free(h);
    }
}

static void proxy(void)
{
    signal(SIGPIPE, SIG_IGN);
    int64_t logged_start = -1;
    char *buf = NULL;
    size_t used = 0, cap = 0;
    for (;;) {
        int64_t now = now_ms();
        extra_now(now);
        if (spike.max_extra_ms > 0 && now >= spike.spike_start_ms &&
            logged_start != spike.spike_start_ms) {
            logged_start = spike.spike_start_ms;
            fprintf(stderr, "soak-spike: inbound +%" PRId64 " ms for %" PRId64 " ms\n",
                    spike.extra_ms, spike.spike_end_ms - spike.spike_start_ms);
        }
        release(now, false);
        int64_t wait = spike.head ? spike.head->due_ms - now : -1;
        int64_t to_change =
            (now < spike.spike_start_ms ? spike.spike_start_ms : spike.spike_end_ms) - now;
        if (spike.max_extra_ms > 0 && (wait < 0 || to_change < wait)) wait = to_change;
        if (wait < 0 && spike.max_extra_ms > 0) wait = 0;
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int ready = poll(&pfd, 1, wait > 1000 ? 1000 : (int)wait);
        if (ready < 0 && errno != EINTR) _exit(1);
        if (ready <= 0) continue;
        if (cap - used < 65536) {
            cap = cap ? cap * 2 : 131072;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
        ssize_t n = read(STDIN_FILENO, buf + used, cap - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* end of input (or an error: the same for the node) */
        used += (size_t)n;
        now = now_ms();
        size_t start = 0;
        for (size_t i = used - (size_t)n; i < used; i++) {
            if (buf[i] != '\n') continue;
            hold(buf + start, i + 1 - start, now);
            start = i + 1;
        }
        memmove(buf, buf + start, used - start);
        used -= start;
    }
    release(0, true);
    if (used > 0) write_all(buf, used); /* a last line without a newline */
    free(buf);
    _exit(0);
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *node = getenv("SPIKE_NODE");
    if (!node || !*node) {
        fprintf(stderr,
                "soak-spike: set SPIKE_NODE to the node executable (see checks/soak/spike.c)\n");
        return 2;
    }
    spike.max_extra_ms = env_int("READPATH_SPIKE_MS", 300);
    spike.every_ms = env_int("READPATH_SPIKE_EVERY_MS", 1500);
    if (spike.every_ms < 2) spike.every_ms = 2;
    spike.rng = (uint64_t)env_int("READPATH_SEED", 1) * 0x2545f4914f6cdd1du + 0x5ca1ab1e;
    int p[2];
    if (pipe(p) < 0) {
        perror("soak-spike: pipe");
        return 1;
    }
    /* Fork twice, so the proxy is nobody's child to reap: not the node's after exec. */
    pid_t mid = fork();
    if (mid < 0) {
        perror("soak-spike: fork");
        return 1;
    }
    if (mid == 0) {
        pid_t pid = fork();
        if (pid != 0) _exit(pid < 0 ? 1 : 0);
        close(p[0]);
        /* The proxy must not hold the node's stdout open: the runner waits for its EOF. */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
        if (devnull > STDOUT_FILENO) close(devnull);
        spike.out = p[1];
        plan_next_spike(now_ms());
        proxy();
    }
    waitpid(mid, NULL, 0);
    if (dup2(p[0], STDIN_FILENO) < 0) {
        perror("soak-spike: dup2");
        return 1;
    }
    close(p[0]);
    close(p[1]);
    argv[0] = (char *)node;
    execv(node, argv);
    fprintf(stderr, "soak-spike: cannot run %s: %s\n", node, strerror(errno));
    return 127;
}
