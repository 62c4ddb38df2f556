/* procs: the node processes the runner drives.
 *
 * Each node is a child with its stdin and stdout on pipes and its stderr in a log file.
 * Pipes to the runner are non-blocking and buffered here: a paused (SIGSTOPped) node
 * stops reading, its pipe fills, and the runner must keep serving the other nodes
 * rather than block in write(). Lines a node writes are handed out whole; a partial line
 * waits for its newline. */
#ifndef PROCS_H
#define PROCS_H

#include "ids.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    char name[IDS_NAME_MAX];
    pid_t pid;
    int stdin_fd;  /* -1 once closed */
    int stdout_fd; /* -1 after end of file */
    char *to_node; /* bytes queued for the node's stdin */
    size_t to_node_len, to_node_cap, to_node_sent;
    char *from_node; /* an incomplete line from the node's stdout */
    size_t from_node_len, from_node_cap;
    double clock_rate; /* 0 = real time; else READPATH_CLOCK_RATE */
    bool paused, killed_by_scenario, killed_at_shutdown, reaped;
    int wait_status;
    long max_rss_kb; /* peak resident set, known once reaped (0 before) */
} procs_node;

typedef void (*procs_line_fn)(void *ctx, int node_index, char *line, size_t line_len);

/* Starts bin with node_args; sets READPATH_SEED (and READPATH_CLOCK_RATE when
 * clock_rate > 0) in its environment. A restart appends to the node's log rather than
 * truncating it, so one file tells the node's whole story. Returns -1 with a message
 * in err on failure. */
int procs_spawn(procs_node *node, int node_index, const char *bin, char *const *node_args,
                int node_arg_count, const char *log_path, bool append_log, double clock_rate,
                uint64_t seed, char *err, size_t err_size);
void procs_queue_line(procs_node *node, const char *line, size_t line_len);
bool procs_wants_write(const procs_node *node);
/* Writes what the pipe takes now; a broken pipe (dead node) discards the rest. */
void procs_flush(procs_node *node);
/* Reads what is available and calls on_line per complete line; at end of file it closes
 * stdout_fd and returns false. */
bool procs_read(procs_node *node, int node_index, procs_line_fn on_line, void *ctx);
void procs_pause(procs_node *node);
void procs_resume(procs_node *node);
void procs_kill(procs_node *node);
/* Waits for a node killed by the scenario to be gone (before it is restarted). */
void procs_reap(procs_node *node);
/* Resumes paused nodes, closes every stdin, gives the nodes grace_us to exit on their
 * own (SPEC.md asks for 200 ms), then SIGKILLs the rest and reaps all. */
void procs_shutdown(procs_node *nodes, int node_count, int64_t grace_us);
/* How a node ended, for the summary; true when that was not a clean exit or our kill. */
bool procs_describe_exit(const procs_node *node, char *out, size_t out_size);
void procs_free(procs_node *node);
/* CPU seconds the node has used so far (Linux /proc; 0 where unknown). */
double procs_cpu_s(const procs_node *node);

#endif
