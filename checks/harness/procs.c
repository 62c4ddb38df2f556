/* wait4 (the peak RSS of a reaped node) is BSD, not POSIX. */
#define _DEFAULT_SOURCE
#include "procs.h"

#include "monotime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { PROCS_READ_CHUNK = 65536 };

static void procs_reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return;
    size_t grown = *cap ? *cap : 4096;
    while (grown < need)
        grown *= 2;
    *buf = realloc(*buf, grown);
    *cap = grown;
}

/* The node inherits the runner's environment minus the variables we set per node, so a
 * READPATH_CLOCK_RATE left in the user's shell cannot leak into a node meant to run at
 * real speed. */
static char **procs_node_environment(double clock_rate, uint64_t seed, char *seed_var,
                                     size_t seed_size, char *rate_var, size_t rate_size)
{
    size_t count = 0;
    while (environ[count])
        count++;
    char **env = calloc(count + 3, sizeof *env);
    size_t used = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "READPATH_SEED=", 14) != 0 &&
            strncmp(environ[i], "READPATH_CLOCK_RATE=", 20) != 0)
            env[used++] = environ[i];
    snprintf(seed_var, seed_size, "READPATH_SEED=%llu", (unsigned long long)seed);
    env[used++] = seed_var;
    if (clock_rate > 0) {
        snprintf(rate_var, rate_size, "READPATH_CLOCK_RATE=%g", clock_rate);
        env[used++] = rate_var;
    }
    return env;
}

static int procs_pipe(int fds[2])
{
    if (pipe(fds) < 0) return -1;
    /* Close-on-exec on every end: otherwise node 2 would inherit node 1's stdin write end
     * and node 1 would never see end of file at shutdown. dup2 in the child clears the
     * flag on the copies that become fds 0 and 1. */
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

int procs_spawn(procs_node *node, int node_index, const char *bin, char *const *node_args,
                int node_arg_count, const char *log_path, bool append_log, double clock_rate,
                uint64_t seed, char *err, size_t err_size)
{
    memset(node, 0, sizeof *node);
    ids_node_name(node_index, node->name);
    node->clock_rate = clock_rate;
    node->stdin_fd = node->stdout_fd = -1;
    int to_child[2], from_child[2];
    if (procs_pipe(to_child) < 0 || procs_pipe(from_child) < 0) {
        snprintf(err, err_size, "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path,
                                     O_WRONLY | O_CREAT | (append_log ? O_APPEND : O_TRUNC), 0644);

    char **argv = calloc((size_t)node_arg_count + 2, sizeof *argv);
    argv[0] = (char *)bin;
    for (int i = 0; i < node_arg_count; i++)
        argv[i + 1] = node_args[i];
    char seed_var[64], rate_var[64];
    char **env = procs_node_environment(clock_rate, seed, seed_var, sizeof seed_var, rate_var,
                                        sizeof rate_var);
    int rc = posix_spawn(&node->pid, bin, &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(argv);
    free(env);
    close(to_child[0]);
    close(from_child[1]);
    if (rc != 0) {
        close(to_child[1]);
        close(from_child[0]);
        snprintf(err, err_size, "cannot start %s: %s", bin, strerror(rc));
        return -1;
    }
    node->stdin_fd = to_child[1];
    node->stdout_fd = from_child[0];
    fcntl(node->stdin_fd, F_SETFL, O_NONBLOCK);
    fcntl(node->stdout_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

void procs_queue_line(procs_node *node, const char *line, size_t line_len)
{
    if (node->stdin_fd < 0) return;
    procs_reserve(&node->to_node, &node->to_node_cap, node->to_node_len + line_len + 1);
    memcpy(node->to_node + node->to_node_len, line, line_len);
    node->to_node[node->to_node_len + line_len] = '\n';
    node->to_node_len += line_len + 1;
}

bool procs_wants_write(const procs_node *node)
{
    return node->stdin_fd >= 0 && node->to_node_sent < node->to_node_len;
}

static void procs_close_stdin(procs_node *node)
{
    if (node->stdin_fd >= 0) close(node->stdin_fd);
    node->stdin_fd = -1;
    node->to_node_len = node->to_node_sent = 0;
}

void procs_flush(procs_node *node)
{
    while (procs_wants_write(node)) {
        ssize_t n = write(node->stdin_fd, node->to_node + node->to_node_sent,
                          node->to_node_len - node->to_node_sent);
        if (n > 0) {
            node->to_node_sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        /* EPIPE: the node is gone; what it did not read is lost, as on a crash. */
        procs_close_stdin(node);
        return;
    }
    node->to_node_len = node->to_node_sent = 0;
}

bool procs_read(procs_node *node, int node_index, procs_line_fn on_line, void *ctx)
{
    if (node->stdout_fd < 0) return false;
    procs_reserve(&node->from_node, &node->from_node_cap, node->from_node_len + PROCS_READ_CHUNK);
    ssize_t n = read(node->stdout_fd, node->from_node + node->from_node_len, PROCS_READ_CHUNK);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0) {
        close(node->stdout_fd);
        node->stdout_fd = -1;
        return false;
    }
    node->from_node_len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < node->from_node_len; i++) {
        if (node->from_node[i] != '\n') continue;
        node->from_node[i] = '\0';
        on_line(ctx, node_index, node->from_node + start, i - start);
        start = i + 1;
    }
    memmove(node->from_node, node->from_node + start, node->from_node_len - start);
    node->from_node_len -= start;
    return true;
}

void procs_pause(procs_node *node)
{
    if (node->reaped || node->killed_by_scenario) return;
    kill(node->pid, SIGSTOP);
    node->paused = true;
}

void procs_resume(procs_node *node)
{
    if (node->reaped || node->killed_by_scenario) return;
    kill(node->pid, SIGCONT);
    node->paused = false;
}

void procs_kill(procs_node *node)
{
    if (node->reaped || node->killed_by_scenario) return;
    kill(node->pid, SIGKILL);
    node->killed_by_scenario = true;
    procs_close_stdin(node);
}

static void procs_try_reap(procs_node *node, int options)
{
    if (node->reaped) return;
    pid_t r;
    struct rusage usage;
    do {
        r = wait4(node->pid, &node->wait_status, options, &usage);
    } while (r < 0 && errno == EINTR);
    if (r == node->pid) {
        node->reaped = true;
        node->max_rss_kb = usage.ru_maxrss;
    }
}

void procs_reap(procs_node *node)
{
    procs_try_reap(node, 0);
}

void procs_shutdown(procs_node *nodes, int node_count, int64_t grace_us)
{
    for (int i = 0; i < node_count; i++) {
        if (nodes[i].paused) procs_resume(&nodes[i]);
        procs_close_stdin(&nodes[i]);
    }
    int64_t give_up_us = monotime_raw_us() + grace_us;
    for (;;) {
        int alive = 0;
        for (int i = 0; i < node_count; i++) {
            procs_try_reap(&nodes[i], WNOHANG);
            alive += !nodes[i].reaped;
        }
        if (alive == 0 || monotime_raw_us() >= give_up_us) break;
        /* Drain stdout while waiting, so a node blocked writing its last replies into a
         * full pipe can finish and exit instead of being counted as hung. */
        struct pollfd *fds = calloc((size_t)node_count, sizeof *fds);
        for (int i = 0; i < node_count; i++)
            fds[i] = (struct pollfd){.fd = nodes[i].stdout_fd, .events = POLLIN};
        poll(fds, (nfds_t)node_count, 10);
        char sink[PROCS_READ_CHUNK];
        for (int i = 0; i < node_count; i++) {
            if (nodes[i].stdout_fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            if (read(nodes[i].stdout_fd, sink, sizeof sink) == 0) {
                close(nodes[i].stdout_fd);
                nodes[i].stdout_fd = -1;
            }
        }
        free(fds);
    }
    for (int i = 0; i < node_count; i++) {
        if (nodes[i].reaped) continue;
        kill(nodes[i].pid, SIGKILL);
        nodes[i].killed_at_shutdown = true;
        procs_try_reap(&nodes[i], 0);
    }
}

bool procs_describe_exit(const procs_node *node, char *out, size_t out_size)
{
    int status = node->wait_status;
    if (!node->reaped) {
        snprintf(out, out_size, "not reaped");
        return true;
    }
    if (node->killed_by_scenario) {
        snprintf(out, out_size, "killed by the scenario");
        return false;
    }
    if (node->killed_at_shutdown) {
        snprintf(out, out_size,
                 "did not exit within the grace period after stdin closed; "
                 "killed");
        return true;
    }
    if (WIFEXITED(status)) {
        snprintf(out, out_size, "exit %d", WEXITSTATUS(status));
        return WEXITSTATUS(status) != 0;
    }
    if (WIFSIGNALED(status)) {
        snprintf(out, out_size, "died of signal %d", WTERMSIG(status));
        return true;
    }
    snprintf(out, out_size, "status %d", status);
    return true;
}

void procs_free(procs_node *node)
{
    if (node->stdin_fd >= 0) close(node->stdin_fd);
    if (node->stdout_fd >= 0) close(node->stdout_fd);
    free(node->to_node);
    free(node->from_node);
    node->to_node = node->from_node = NULL;
    node->stdin_fd = node->stdout_fd = -1;
}

/* utime + stime from /proc/PID/stat (fields 14 and 15, in clock ticks). Linux only;
 * elsewhere, and for a node already reaped, 0. */
double procs_cpu_s(const procs_node *node)
{
    if (node->pid <= 0) return 0;
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)node->pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    /* The command name (field 2) may hold spaces; fields after it follow its ')'. */
    char *after_name = strrchr(text, ')');
    if (!after_name) return 0;
    unsigned long utime = 0, stime = 0;
    if (sscanf(after_name + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
               &stime) != 2)
        return 0;
    long ticks = sysconf(_SC_CLK_TCK);
    return ticks > 0 ? (double)(utime + stime) / (double)ticks : 0;
}
