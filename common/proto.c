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
static bool proto_write_out(bool may_defer);
static bool (*proto_before_write)(bool may_defer);
static void (*proto_after_write)(bool deferred);
static int64_t proto_next_msg_id;

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

bool proto_int_in(const cJSON *item, int64_t min, int64_t max, int64_t *out)
{
    if (!cJSON_IsNumber(item)) return false;
    double value = item->valuedouble;
    /* Written so that NaN fails too. */
    if (!(value >= (double)min && value <= (double)max) || floor(value) != value) return false;
    *out = (int64_t)value;
    return true;
}

int proto_get_nonneg_int(const cJSON *body, const char *field, int64_t *out, char *why, size_t n)
{
    const cJSON *item;
    if (proto_get_any(body, field, &item, why, n) != PROTO_OK) return PROTO_MALFORMED_REQUEST;
    if (!proto_int_in(item, 0, PROTO_MAX_EXACT_INT, out)) {
        snprintf(why, n, "field \"%s\" must be a non-negative integer", field);
        return PROTO_MALFORMED_REQUEST;
    }
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
    int64_t msg_id;
    return proto_int_in(cJSON_GetObjectItemCaseSensitive(body, "msg_id"), 0, PROTO_MAX_EXACT_INT,
                        &msg_id)
               ? msg_id
               : -1;
}

static void proto_append_raw(const char *text, size_t len)
{
    if (proto_out_len + len > proto_out_cap) {
        size_t cap = proto_out_cap ? proto_out_cap : 64 * 1024;
        while (cap < proto_out_len + len)
            cap *= 2;
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
}

/* Appends text as a JSON string. Node and client ids are opaque strings, so they are
 * escaped like any other. */
static void proto_append_string(const char *text)
{
    char buf[256];
    size_t len = 0;
    buf[len++] = '"';
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (len > sizeof buf - 8) {
            proto_append_raw(buf, len);
            len = 0;
        }
        if (*c == '"' || *c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)*c;
        } else if (*c < 0x20) {
            len += (size_t)snprintf(buf + len, 8, "\\u%04x", *c);
        } else {
            buf[len++] = (char)*c;
        }
    }
    buf[len++] = '"';
    proto_append_raw(buf, len);
}

static void proto_append_int(int64_t value)
{
    char buf[24];
    int len = snprintf(buf, sizeof buf, "%lld", (long long)value);
    proto_append_raw(buf, (size_t)len);
}

/* Appends a double so that it reads back as exactly the same double: integers as
 * integers, anything else with the fewest of 15..17 significant digits that round-trips.
 * (cJSON accepts 15 digits when they are within a relative DBL_EPSILON, so it prints
 * 9007199254740992 as 9.00719925474099e+15: another number.) */
static void proto_append_number(double value)
{
    char buf[32];
    int len;
    if (!isfinite(value)) {
        len = snprintf(buf, sizeof buf, "null"); /* as cJSON: JSON has no NaN or infinity */
    } else if (value == floor(value) && fabs(value) < 9.2e18) {
        len = snprintf(buf, sizeof buf, "%lld", (long long)value);
    } else {
        for (int digits = 15;; digits++) {
            len = snprintf(buf, sizeof buf, "%.*g", digits, value);
            if (digits == 17 || strtod(buf, NULL) == value) break;
        }
    }
    proto_append_raw(buf, (size_t)len);
}

/* Appends any JSON value; replaces cJSON_Print for everything a node writes. */
static void proto_append_value(const cJSON *item)
{
    switch (item->type & 0xff) {
    case cJSON_NULL:
        proto_append_raw("null", 4);
        break;
    case cJSON_False:
        proto_append_raw("false", 5);
        break;
    case cJSON_True:
        proto_append_raw("true", 4);
        break;
    case cJSON_Number:
        proto_append_number(item->valuedouble);
        break;
    case cJSON_String:
        proto_append_string(item->valuestring);
        break;
    case cJSON_Raw:
        proto_append_raw(item->valuestring, strlen(item->valuestring));
        break;
    case cJSON_Array:
    case cJSON_Object: {
        bool object = cJSON_IsObject(item);
        proto_append_raw(object ? "{" : "[", 1);
        for (const cJSON *child = item->child; child; child = child->next) {
            if (child != item->child) proto_append_raw(",", 1);
            if (object) {
                proto_append_string(child->string);
                proto_append_raw(":", 1);
            }
            proto_append_value(child);
        }
        proto_append_raw(object ? "}" : "]", 1);
        break;
    }
    default:
        proto_append_raw("null", 4);
        break;
    }
}

/* The whole message is written here, not by cJSON: cJSON prints every number through
 * sprintf and sscanf (most of the cost of a short reply), and not always exactly (see
 * proto_append_number). The body's own fields come first, then in_reply_to and msg_id. */
void proto_send(const char *src, const char *dest, int64_t in_reply_to, cJSON *body)
{
    proto_append_raw("{\"src\":", 7);
    proto_append_string(src);
    proto_append_raw(",\"dest\":", 8);
    proto_append_string(dest);
    proto_append_raw(",\"body\":{", 9);
    bool empty = true;
    for (const cJSON *field = body->child; field; field = field->next) {
        if (!empty) proto_append_raw(",", 1);
        proto_append_string(field->string);
        proto_append_raw(":", 1);
        proto_append_value(field);
        empty = false;
    }
    if (in_reply_to >= 0) {
        proto_append_raw(empty ? "\"in_reply_to\":" : ",\"in_reply_to\":", empty ? 14 : 15);
        proto_append_int(in_reply_to);
        empty = false;
    }
    proto_append_raw(empty ? "\"msg_id\":" : ",\"msg_id\":", empty ? 9 : 10);
    proto_append_int(proto_next_msg_id++);
    proto_append_raw("}}\n", 3);
    cJSON_Delete(body);
    if (proto_out_len >= PROTO_FLUSH_AT_BYTES) proto_write_out(false);
}

void proto_send_error(const char *src, const char *dest, int64_t in_reply_to, int code,
                      const char *text)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", "error");
    cJSON_AddNumberToObject(body, "code", code);
    cJSON_AddStringToObject(body, "text", text);
    proto_send(src, dest, in_reply_to, body);
}

void proto_set_flush_hooks(bool (*before_write)(bool may_defer), void (*after_write)(bool deferred))
{
    proto_before_write = before_write;
    proto_after_write = after_write;
}

/* Writes the buffer; returns whether before_write put its sync off until after it. */
static bool proto_write_out(bool may_defer)
{
    bool deferred = proto_before_write && proto_before_write(may_defer);
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
    return deferred;
}

void proto_flush(void)
{
    do {
        bool deferred = proto_write_out(true);
        if (proto_after_write) proto_after_write(deferred);
    } while (proto_out_len > 0);
}
