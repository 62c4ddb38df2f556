/* bench-echo: the cost of reading and writing Maelstrom messages and nothing else.
 *
 * The baseline `make bench` holds a node against: for every line on stdin it parses the
 * envelope with cJSON, turns the body into a reply (type "X" becomes "X_ok", msg_id
 * becomes in_reply_to, a fresh msg_id), swaps src and dest, and prints it with cJSON.
 * Like a node, it reads stdin without blocking and writes its buffered replies only
 * when it is about to wait for more input, so both pay the same system calls per
 * burst. A node that reaches half of this rate spends at most as much on its own work
 * (Raft, the store, bookkeeping) as on the JSON it cannot avoid. */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *echo_out;
static size_t echo_out_len, echo_out_cap;
static long long echo_next_msg_id;

static void echo_append(const char *text, size_t len)
{
    if (echo_out_len + len > echo_out_cap) {
        echo_out_cap = (echo_out_len + len) * 2;
        echo_out = realloc(echo_out, echo_out_cap);
        if (!echo_out) {
            perror("bench-echo: out of memory");
            exit(1);
        }
    }
    memcpy(echo_out + echo_out_len, text, len);
    echo_out_len += len;
}

static void echo_flush(void)
{
    size_t done = 0;
    while (done < echo_out_len) {
        ssize_t n = write(STDOUT_FILENO, echo_out + done, echo_out_len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            perror("bench-echo: write to stdout");
            exit(1);
        }
        done += (size_t)n;
    }
    echo_out_len = 0;
}

/* One request line -> one reply line; a line that is not an envelope is skipped. */
static void echo_line(const char *line, size_t len)
{
    cJSON *msg = cJSON_ParseWithLength(line, len);
    cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
    cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
    cJSON *src = cJSON_DetachItemFromObjectCaseSensitive(msg, "src");
    cJSON *dest = cJSON_DetachItemFromObjectCaseSensitive(msg, "dest");
    if (!cJSON_IsString(type) || !src || !dest) {
        fprintf(stderr, "bench-echo: not a message: %.*s\n", (int)len, line);
        cJSON_Delete(src);
        cJSON_Delete(dest);
        cJSON_Delete(msg);
        return;
    }
    char reply_type[64];
    snprintf(reply_type, sizeof reply_type, "%s_ok", type->valuestring);
    cJSON_ReplaceItemInObjectCaseSensitive(body, "type", cJSON_CreateString(reply_type));
    cJSON *msg_id = cJSON_DetachItemFromObjectCaseSensitive(body, "msg_id");
    if (msg_id) cJSON_AddItemToObject(body, "in_reply_to", msg_id);
    cJSON_AddNumberToObject(body, "msg_id", (double)echo_next_msg_id++);
    cJSON_AddItemToObject(msg, "src", dest);
    cJSON_AddItemToObject(msg, "dest", src);
    char *text = cJSON_PrintUnformatted(msg);
    if (!text) {
        perror("bench-echo: out of memory printing");
        exit(1);
    }
    echo_append(text, strlen(text));
    echo_append("\n", 1);
    free(text);
    cJSON_Delete(msg);
}

int main(void)
{
    int flags = fcntl(STDIN_FILENO, F_GETFL);
    if (flags >= 0) fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
    size_t cap = 1 << 16, len = 0;
    char *in = malloc(cap);
    if (!in) return 1;
    for (;;) {
        if (len == cap) {
            cap *= 2;
            in = realloc(in, cap);
            if (!in) return 1;
        }
        ssize_t n = read(STDIN_FILENO, in + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* About to block: the replies so far go out first, as a node's do. */
            echo_flush();
            struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
            poll(&pfd, 1, -1);
            continue;
        }
        if (n < 0) {
            perror("bench-echo: read stdin");
            return 1;
        }
        if (n == 0) break;
        len += (size_t)n;
        size_t start = 0;
        for (char *nl; (nl = memchr(in + start, '\n', len - start)); start = (size_t)(nl - in) + 1)
            echo_line(in + start, (size_t)(nl - in) - start);
        memmove(in, in + start, len - start);
        len -= start;
    }
    if (len > 0) echo_line(in, len);
    echo_flush();
    free(in);
    free(echo_out);
    return 0;
}
