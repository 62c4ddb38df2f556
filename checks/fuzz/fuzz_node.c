/* fuzz_node: a libFuzzer target that feeds arbitrary bytes to a node as its stdin.
 *
 * The node is the real thing: common/ plus a stage's read paths and its main.c (built
 * with main renamed to readpath_stage_main), so every line goes through the same
 * parsing, dispatch, Raft and KV code a cluster runs. The node keeps its state in
 * file-scope statics and runs until end of input, so it cannot be restarted inside one
 * process. Each input therefore runs in a fork()ed child:
 *
 *   parent (libFuzzer)                       child
 *   input -> memfd "stdin" ------------------> fd 0
 *                                              readpath_stage_main(argv)  (runs to EOF)
 *                                              checks its stdout (the oracle below),
 *                                              LeakSanitizer, copies its coverage
 *   counters <- shared page <----------------- counters
 *   exit 0? else print the child's stderr and abort(), so libFuzzer saves the input.
 *
 * Coverage: the inline 8-bit counters libFuzzer reads live in the __sancov_cntrs
 * section. A child's counters are its own copy-on-write pages, so the child copies the
 * section into a MAP_SHARED buffer before exiting and the parent copies it back over
 * its own before returning: libFuzzer then sees the child's coverage as if the input
 * had run in-process.
 *
 * Input format: the first byte picks the cluster the node is initialised into (the
 * init line is written for the fuzzer, so its effort goes into what follows init);
 * the remaining bytes are the node's input lines, verbatim. With READPATH_FUZZ_RAW=1
 * no init is added and every byte is input (how "messages before init" are fuzzed).
 * READPATH_FUZZ_LEAKS=1 adds a LeakSanitizer pass to every run: it costs ~70 ms, ten times
 * the run itself, so checks/fuzz/run.sh fuzzes without it and then replays the whole
 * corpus once with it. READPATH_FUZZ_DUMP=FILE writes the exact stdin of the last input run to
 * FILE, so a crash file becomes a plain line file to pipe into a node (checks/fuzz/regressions/).
 *
 * The oracle, beyond sanitizers: the node exits 0 at end of input, writes only whole
 * JSON objects {src, dest, body:{type}} on stdout, one per line, init_ok first (SPEC.md
 * "The wire"), and (READPATH_FUZZ_LEAKS=1) leaks nothing. */
#define _GNU_SOURCE
#include <cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int readpath_stage_main(int argc, char **argv);

/* Defined by the linker around the counters section (-fsanitize=fuzzer's inline 8-bit
 * counters); weak so that a build without them still links. */
extern uint8_t __start___sancov_cntrs[] __attribute__((weak));
extern uint8_t __stop___sancov_cntrs[] __attribute__((weak));
/* LeakSanitizer's, present when the build has ASan (the fast build has only UBSan). */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

/* Longest a child may run; a node that does not exit at end of input is a hang. */
#define FUZZ_CHILD_SECONDS 10

static const char *const fuzz_inits[] = {
    /* a single-member cluster: leader at once, serves everything itself */
    "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,"
    "\"node_id\":\"n1\",\"node_ids\":[\"n1\"]}}\n",
    /* a follower of three: forwards, waits for a leader, obeys n2's and n3's appends */
    "{\"src\":\"c0\",\"dest\":\"n1\",\"body\":{\"type\":\"init\",\"msg_id\":1,"
    "\"node_id\":\"n1\",\"node_ids\":[\"n1\",\"n2\",\"n3\"]}}\n",
    /* the middle of five */
    "{\"src\":\"c0\",\"dest\":\"n3\",\"body\":{\"type\":\"init\",\"msg_id\":1,"
    "\"node_id\":\"n3\",\"node_ids\":[\"n1\",\"n2\",\"n3\",\"n4\",\"n5\"]}}\n",
};
#define FUZZ_INIT_COUNT (sizeof fuzz_inits / sizeof fuzz_inits[0])

static struct {
    bool ready, raw, leaks;
    int in_fd, out_fd, err_fd;
    uint8_t *shared_counters;
    size_t counter_len;
    const char *dump_path;
} fuzz;

static void fuzz_die(const char *what)
{
    perror(what);
    abort();
}

static int fuzz_memfd(const char *name)
{
    int fd = memfd_create(name, 0);
    if (fd < 0) fuzz_die("fuzz_node: memfd_create");
    return fd;
}

static void fuzz_setup(void)
{
    fuzz.in_fd = fuzz_memfd("fuzz-stdin");
    fuzz.out_fd = fuzz_memfd("fuzz-stdout");
    fuzz.err_fd = fuzz_memfd("fuzz-stderr");
    const char *raw = getenv("READPATH_FUZZ_RAW");
    fuzz.raw = raw && strcmp(raw, "1") == 0;
    fuzz.dump_path = getenv("READPATH_FUZZ_DUMP");
    const char *leaks = getenv("READPATH_FUZZ_LEAKS");
    fuzz.leaks = leaks && strcmp(leaks, "1") == 0;
    if (__start___sancov_cntrs && __stop___sancov_cntrs > __start___sancov_cntrs) {
        fuzz.counter_len = (size_t)(__stop___sancov_cntrs - __start___sancov_cntrs);
        fuzz.shared_counters =
            mmap(NULL, fuzz.counter_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (fuzz.shared_counters == MAP_FAILED) fuzz_die("fuzz_node: mmap");
    }
    fuzz.ready = true;
}

static void fuzz_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) fuzz_die("fuzz_node: write");
        p += n;
        len -= (size_t)n;
    }
}

static void fuzz_rewind(int fd)
{
    if (lseek(fd, 0, SEEK_SET) < 0) fuzz_die("fuzz_node: lseek");
}

/* Returns a malloc'd copy of what fd (a memfd) holds, NUL-terminated. */
static char *fuzz_slurp(int fd, size_t *len_out)
{
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) fuzz_die("fuzz_node: lseek");
    char *text = malloc((size_t)end + 1);
    if (!text) fuzz_die("fuzz_node: malloc");
    size_t got = 0;
    while (got < (size_t)end) {
        ssize_t n = pread(fd, text + got, (size_t)end - got, (off_t)got);
        if (n <= 0) fuzz_die("fuzz_node: pread");
        got += (size_t)n;
    }
    text[got] = '\0';
    *len_out = got;
    return text;
}

/* The node's stdout must be Maelstrom-readable: one envelope per line, init_ok first. */
static const char *fuzz_check_output(bool expect_init_ok)
{
    size_t len;
    char *out = fuzz_slurp(fuzz.out_fd, &len);
    const char *problem = NULL;
    if (len > 0 && out[len - 1] != '\n') problem = "stdout does not end with a newline";
    size_t line_no = 0;
    for (char *line = out; !problem && line < out + len; line_no++) {
        char *newline = memchr(line, '\n', (size_t)(out + len - line));
        size_t line_len = newline ? (size_t)(newline - line) : (size_t)(out + len - line);
        cJSON *msg = cJSON_ParseWithLength(line, line_len);
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
        if (!cJSON_IsObject(msg))
            problem = "a stdout line is not a JSON object";
        else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "src")) ||
                 !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "dest")))
            problem = "a stdout line lacks a string src or dest";
        else if (!cJSON_IsObject(body) || !cJSON_IsString(type))
            problem = "a stdout line lacks a body with a string type";
        else if (line_no == 0 && expect_init_ok && strcmp(type->valuestring, "init_ok") != 0)
            problem = "the first stdout line is not init_ok";
        if (problem)
            fprintf(stderr, "fuzz_node: %s (line %zu): %.*s\n", problem, line_no + 1,
                    (int)(line_len > 300 ? 300 : line_len), line);
        cJSON_Delete(msg);
        line += line_len + 1;
    }
    if (!problem && expect_init_ok && len == 0) problem = "nothing on stdout, not even init_ok";
    if (problem && len == 0) fprintf(stderr, "fuzz_node: %s\n", problem);
    free(out);
    return problem;
}

static void fuzz_child(bool expect_init_ok)
{
    signal(SIGALRM, SIG_DFL);
    alarm(FUZZ_CHILD_SECONDS);
    if (dup2(fuzz.in_fd, STDIN_FILENO) < 0 || dup2(fuzz.out_fd, STDOUT_FILENO) < 0 ||
        dup2(fuzz.err_fd, STDERR_FILENO) < 0)
        fuzz_die("fuzz_node: dup2");
    static char *argv[] = {"node", "--heartbeat-ms",       "1",  "--election-timeout-ms",
                           "3",    "--request-timeout-ms", "20", NULL};
    setenv("READPATH_SEED", "1", 1);
    int status = readpath_stage_main((int)(sizeof argv / sizeof argv[0]) - 1, argv);
    if (status != 0)
        fprintf(stderr, "fuzz_node: the node exited %d at end of input\n", status);
    else if (fuzz_check_output(expect_init_ok))
        status = 3;
    /* Coverage first: the leak check below exits the child if it finds a leak. */
    if (fuzz.shared_counters)
        memcpy(fuzz.shared_counters, __start___sancov_cntrs, fuzz.counter_len);
    if (status == 0 && fuzz.leaks && __lsan_do_recoverable_leak_check &&
        __lsan_do_recoverable_leak_check())
        status = 4;
    _exit(status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz.ready) fuzz_setup();
    if (ftruncate(fuzz.in_fd, 0) || ftruncate(fuzz.out_fd, 0) || ftruncate(fuzz.err_fd, 0))
        fuzz_die("fuzz_node: ftruncate");
    fuzz_rewind(fuzz.in_fd);
    fuzz_rewind(fuzz.out_fd);
    fuzz_rewind(fuzz.err_fd);
    bool with_init = !fuzz.raw;
    if (with_init) {
        if (size == 0) return 0;
        const char *init = fuzz_inits[data[0] % FUZZ_INIT_COUNT];
        fuzz_write_all(fuzz.in_fd, init, strlen(init));
        data++;
        size--;
    }
    fuzz_write_all(fuzz.in_fd, data, size);
    fuzz_rewind(fuzz.in_fd);
    if (fuzz.dump_path) {
        size_t len;
        char *input = fuzz_slurp(fuzz.in_fd, &len);
        FILE *f = fopen(fuzz.dump_path, "wb");
        if (!f || fwrite(input, 1, len, f) != len || fclose(f)) fuzz_die(fuzz.dump_path);
        free(input);
    }
    if (fuzz.shared_counters) memset(fuzz.shared_counters, 0, fuzz.counter_len);

    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fuzz_die("fuzz_node: fork");
    if (pid == 0) fuzz_child(with_init);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) fuzz_die("fuzz_node: waitpid");
    if (fuzz.shared_counters)
        memcpy(__start___sancov_cntrs, fuzz.shared_counters, fuzz.counter_len);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;

    size_t len;
    char *err = fuzz_slurp(fuzz.err_fd, &len);
    const size_t tail = 16000;
    fprintf(stderr, "---- node stderr (%s%zu bytes) ----\n%s\n----\n", len > tail ? "last of " : "",
            len, len > tail ? err + len - tail : err);
    free(err);
    if (WIFSIGNALED(status))
        fprintf(stderr, "fuzz_node: the node was killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (still running after the time limit: a hang)" : "");
    else
        fprintf(stderr, "fuzz_node: the node's run failed (child status %d)\n",
                WEXITSTATUS(status));
    abort();
}
