#include "proto.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Replies are appended here; flushed before the loop blocks or past this size. */
#define PROTO_FLUSH_AT_BYTES (256 * 1024)

static char *proto_out;
static size_t proto_out_len, proto_out_cap;
static int64_t proto_next_msg_id;

const char *proto_error_name(int code)
{
    switch (code) {
#define PROTO_ERROR_NAME(c, name, text, definite)                                                  \
    case c:                                                                                        \
        return text;
        PROTO_ERRORS(PROTO_ERROR_NAME)
#undef PROTO_ERROR_NAME
    }
    return "unknown-error";
}

bool proto_error_is_definite(int code)
{
    switch (code) {
#define PROTO_ERROR_DEFINITE(c, name, text, definite)                                              \
    case c:                                                                                        \
        return definite;
        PROTO_ERRORS(PROTO_ERROR_DEFINITE)
#undef PROTO_ERROR_DEFINITE
    }
    return false;
}

cJSON *proto_parse_line(const char *line, size_t len, char *why, size_t why_len)
{
    cJSON *msg = cJSON_ParseWithLength(line, len);
    if (!msg) {
        snprintf(why, why_len, "not JSON");
        return NULL;
    }
    if (!cJSON_IsObject(msg)) {
        snprintf(why, why_len, "not a JSON object");
    } else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "src"))) {
        snprintf(why, why_len, "envelope has no string \"src\"");
    } else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "dest"))) {
        snprintf(why, why_len, "envelope has no string \"dest\"");
    } else if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(msg, "body"))) {
        snprintf(why, why_len, "envelope has no object \"body\"");
    } else {
        return msg;
    }
    cJSON_Delete(msg);
    return NULL;
}

int proto_get_any(const cJSON *body, const char *field, const cJSON **out, char *why, size_t n)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, field);
    if (!item) {
        snprintf(why, n, "field \"%s\" is missing", field);
        return PROTO_MALFORMED_REQUEST;
    }
    *out = item;
    return PROTO_OK;
}

int proto_get_string(const cJSON *body, const char *field, const char **out, char *why, size_t n)
{
    const cJSON *item;
    if (proto_get_any(body, field, &item, why, n) != PROTO_OK) return PROTO_MALFORMED_REQUEST;
    if (!cJSON_IsString(item)) {
        snprintf(why, n, "field \"%s\" must be a string", field);
        return PROTO_MALFORMED_REQUEST;
    }
    *out = item->valuestring;
    return PROTO_OK;
}

/* Integers travel as JSON numbers (doubles); accept only exact non-negative integers
 * below 2^53, beyond which a double no longer counts every integer. */
int proto_get_nonneg_int(const cJSON *body, const char *field, int64_t *out, char *why, size_t n)
{
    const cJSON *item;
    if (proto_get_any(body, field, &item, why, n) != PROTO_OK) return PROTO_MALFORMED_REQUEST;
    double value = cJSON_IsNumber(item) ? item->valuedouble : -1.0;
    if (!cJSON_IsNumber(item) || value < 0.0 || value > 9007199254740992.0 ||
        floor(value) != value) {
        snprintf(why, n, "field \"%s\" must be a non-negative integer", field);
        return PROTO_MALFORMED_REQUEST;
    }
    *out = (int64_t)value;
    return PROTO_OK;
}

int proto_get_bool(const cJSON *body, const char *field, bool *out, char *why, size_t n)
{
    const cJSON *item;
    if (proto_get_any(body, field, &item, why, n) != PROTO_OK) return PROTO_MALFORMED_REQUEST;
    if (!cJSON_IsBool(item)) {
        snprintf(why, n, "field \"%s\" must be true or false", field);
        return PROTO_MALFORMED_REQUEST;
    }
    *out = cJSON_IsTrue(item);
    return PROTO_OK;
}

int64_t proto_msg_id(const cJSON *body)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, "msg_id");
    if (!cJSON_IsNumber(item) || item->valuedouble < 0 || floor(item->valuedouble) != item->valuedouble)
        return -1;
    return (int64_t)item->valuedouble;
}

static void proto_append(const char *text, size_t len)
{
    if (proto_out_len + len + 1 > proto_out_cap) {
        size_t cap = proto_out_cap ? proto_out_cap : 64 * 1024;
        while (cap < proto_out_len + len + 1) cap *= 2;
        char *grown = realloc(proto_out, cap);
        if (!grown) {
            perror("proto: out of memory for output");
            abort();
        }
        proto_out = grown;
        proto_out_cap = cap;
    }
    memcpy(proto_out + proto_out_len, text, len);
    proto_out_len += len;
    proto_out[proto_out_len++] = '\n';
}

void proto_send(const char *src, const char *dest, cJSON *body)
{
    cJSON_AddNumberToObject(body, "msg_id", (double)proto_next_msg_id++);
    cJSON *envelope = cJSON_CreateObject();
    cJSON_AddItemToObject(envelope, "src", cJSON_CreateStringReference(src));
    cJSON_AddItemToObject(envelope, "dest", cJSON_CreateStringReference(dest));
    cJSON_AddItemToObject(envelope, "body", body);
    /* Small messages are printed into a stack buffer to skip a malloc per line. */
    char small[4096];
    if (cJSON_PrintPreallocated(envelope, small, sizeof small, false)) {
        proto_append(small, strlen(small));
    } else {
        char *text = cJSON_PrintUnformatted(envelope);
        if (!text) {
            perror("proto: out of memory printing a message");
            abort();
        }
        proto_append(text, strlen(text));
        free(text);
    }
    cJSON_Delete(envelope);
    if (proto_out_len >= PROTO_FLUSH_AT_BYTES) proto_flush();
}

void proto_send_error(const char *src, const char *dest, int64_t in_reply_to, int code,
                      const char *text)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", "error");
    if (in_reply_to >= 0) cJSON_AddNumberToObject(body, "in_reply_to", (double)in_reply_to);
    cJSON_AddNumberToObject(body, "code", code);
    cJSON_AddStringToObject(body, "text", text);
    proto_send(src, dest, body);
}

void proto_flush(void)
{
    size_t done = 0;
    while (done < proto_out_len) {
        ssize_t n = write(STDOUT_FILENO, proto_out + done, proto_out_len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            /* Nobody is reading our replies any more; nothing useful can be said. */
            perror("proto: write to stdout");
            break;
        }
        done += (size_t)n;
    }
    proto_out_len = 0;
}

bool proto_has_buffered(void)
{
    return proto_out_len > 0;
}

int64_t proto_messages_sent(void)
{
    return proto_next_msg_id;
}
