#include "storage.h"

#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORAGE_FILE "raft.log"

struct storage {
    int fd;
    char *path;
    char *pending; /* records not yet written */
    size_t pending_len, pending_cap;
    bool pending_not_entries; /* a term/vote or truncation record among them */
};

static void *storage_alloc(void *old, size_t size)
{
    void *p = realloc(old, size ? size : 1);
    if (!p) {
        perror("storage: out of memory");
        abort();
    }
    return p;
}

uint32_t storage_crc32(const void *data, size_t len)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    const unsigned char *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

/* ---- recovery ---- */

/* Parses one line (without its newline) into a record; NULL when it is not one. */
static cJSON *storage_parse_record(const char *line, size_t len)
{
    if (len < 10 || line[8] != ' ') return NULL;
    char hex[9];
    memcpy(hex, line, 8);
    hex[8] = '\0';
    char *end;
    unsigned long crc = strtoul(hex, &end, 16);
    if (*end || crc != storage_crc32(line + 9, len - 9)) return NULL;
    cJSON *record = cJSON_ParseWithLength(line + 9, len - 9);
    if (record && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(record, "k"))) {
        cJSON_Delete(record);
        return NULL;
    }
    return record;
}

static bool storage_int(const cJSON *record, const char *field, int64_t *out)
{
    /* -1 is a vote for no one; terms and indexes obey the peers' limit. */
    return proto_int_in(cJSON_GetObjectItemCaseSensitive(record, field), -1, PROTO_MAX_PEER_INT,
                        out);
}

static void storage_drop_after(struct storage_state *st, int64_t after)
{
    while (st->count > after)
        cJSON_Delete(st->entries[--st->count].command);
}

/* Replays one good record into st. Returns false if it contradicts what came before
 * (an entry out of sequence): a checksum cannot catch a record written wrong. */
static bool storage_replay(struct storage_state *st, int64_t *cap, cJSON *record)
{
    const char *kind = cJSON_GetObjectItemCaseSensitive(record, "k")->valuestring;
    int64_t a, b;
    if (strcmp(kind, "tv") == 0) {
        if (!storage_int(record, "term", &a) || !storage_int(record, "vote", &b) || a < st->term)
            return false;
        st->term = a;
        st->voted_for = (int)b;
        return true;
    }
    if (strcmp(kind, "trunc") == 0) {
        if (!storage_int(record, "after", &a) || a < 0) return false;
        if (a < st->count) storage_drop_after(st, a);
        return true;
    }
    if (strcmp(kind, "e") == 0) {
        cJSON *command = cJSON_DetachItemFromObjectCaseSensitive(record, "c");
        bool ok = storage_int(record, "i", &a) && storage_int(record, "t", &b) &&
                  cJSON_IsObject(command) && a >= 1 && a <= st->count + 1;
        if (!ok) {
            cJSON_Delete(command);
            return false;
        }
        /* Re-appending index a replaces a and everything after it (§3.5's truncation,
         * when the record for it was the one lost). */
        storage_drop_after(st, a - 1);
        if (st->count == *cap) {
            *cap = *cap ? *cap * 2 : 1024;
            st->entries = storage_alloc(st->entries, (size_t)*cap * sizeof *st->entries);
        }
        st->entries[st->count++] = (struct raft_entry){.term = b, .command = command};
        return true;
    }
    return false;
}

static int storage_recover(struct storage *s, struct storage_state *st)
{
    struct stat info;
    if (fstat(s->fd, &info) < 0) {
        fprintf(stderr, "storage: %s: %s\n", s->path, strerror(errno));
        return -1;
    }
    size_t size = (size_t)info.st_size;
    char *data = storage_alloc(NULL, size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(s->fd, data + got, size - got, (off_t)got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            fprintf(stderr, "storage: reading %s: %s\n", s->path,
                    n < 0 ? strerror(errno) : "short read");
            free(data);
            return -1;
        }
        got += (size_t)n;
    }
    int64_t cap = 0;
    size_t good_end = 0;  /* the file up to here is good records */
    size_t bad_start = 0; /* the first bad record after good_end, if any */
    int64_t bad_line = 0, line_no = 0;
    bool bad_seen = false;
    for (size_t pos = 0; pos < size;) {
        char *newline = memchr(data + pos, '\n', size - pos);
        size_t len = newline ? (size_t)(newline - (data + pos)) : size - pos;
        line_no++;
        cJSON *record = newline ? storage_parse_record(data + pos, len) : NULL;
        if (!record) {
            if (!bad_seen) {
                bad_seen = true;
                bad_start = pos;
                bad_line = line_no;
            }
        } else if (bad_seen) {
            cJSON_Delete(record);
            fprintf(stderr,
                    "storage: %s is corrupt: record at line %" PRId64 " (byte %zu) fails its "
                    "checksum, yet good records follow it, so it is not a torn tail. Refusing "
                    "to start rather than lose acknowledged state; restore the file or remove "
                    "the node's data directory to rejoin as a new, empty node.\n",
                    s->path, bad_line, bad_start);
            free(data);
            return -1;
        } else {
            bool replayed = storage_replay(st, &cap, record);
            cJSON_Delete(record);
            if (!replayed) {
                fprintf(stderr,
                        "storage: %s is corrupt: record at line %" PRId64 " (byte %zu) has a "
                        "good checksum but contradicts the records before it. Refusing to start.\n",
                        s->path, line_no, pos);
                free(data);
                return -1;
            }
            good_end = pos + len + 1;
        }
        pos += len + (newline ? 1 : 0);
    }
    free(data);
    if (good_end < size) {
        fprintf(stderr,
                "storage: %s: torn tail after a crash: %zu bytes from line %" PRId64
                " (byte %zu) fail their checksum and no good record follows -> truncated\n",
                s->path, size - good_end, bad_line, good_end);
        if (ftruncate(s->fd, (off_t)good_end) < 0 || fsync(s->fd) < 0) {
            fprintf(stderr, "storage: truncating %s: %s\n", s->path, strerror(errno));
            return -1;
        }
    }
    if (lseek(s->fd, 0, SEEK_END) < 0) {
        fprintf(stderr, "storage: %s: %s\n", s->path, strerror(errno));
        return -1;
    }
    return 0;
}

struct storage *storage_open(const char *dir, struct storage_state *recovered)
{
    *recovered = (struct storage_state){.voted_for = -1};
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "storage: cannot create %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    struct storage *s = storage_alloc(NULL, sizeof *s);
    *s = (struct storage){.fd = -1};
    size_t path_len = strlen(dir) + sizeof "/" STORAGE_FILE;
    s->path = storage_alloc(NULL, path_len);
    snprintf(s->path, path_len, "%s/%s", dir, STORAGE_FILE);
    bool existed = access(s->path, F_OK) == 0;
    s->fd = open(s->path, O_RDWR | O_CREAT, 0644);
    if (s->fd < 0) {
        fprintf(stderr, "storage: cannot open %s: %s\n", s->path, strerror(errno));
        storage_close(s);
        return NULL;
    }
    if (!existed) {
        /* A new file's name is durable only once its directory is synced. */
        int dir_fd = open(dir, O_RDONLY);
        if (dir_fd >= 0) {
            fsync(dir_fd);
            close(dir_fd);
        }
    }
    if (storage_recover(s, recovered) < 0) {
        storage_drop_after(recovered, 0);
        free(recovered->entries);
        *recovered = (struct storage_state){.voted_for = -1};
        storage_close(s);
        return NULL;
    }
    return s;
}

void storage_close(struct storage *s)
{
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    free(s->path);
    free(s->pending);
    free(s);
}

/* ---- writing ---- */

static void storage_record(struct storage *s, cJSON *record)
{
    char *json = cJSON_PrintUnformatted(record);
    cJSON_Delete(record);
    if (!json) {
        perror("storage: out of memory printing a record");
        abort();
    }
    size_t len = strlen(json);
    size_t need = s->pending_len + len + 10;
    if (need > s->pending_cap) {
        s->pending_cap = need > 2 * s->pending_cap ? need : 2 * s->pending_cap;
        s->pending = storage_alloc(s->pending, s->pending_cap);
    }
    snprintf(s->pending + s->pending_len, 10, "%08" PRIx32 " ", storage_crc32(json, len));
    memcpy(s->pending + s->pending_len + 9, json, len);
    s->pending[s->pending_len + 9 + len] = '\n';
    s->pending_len += len + 10;
    free(json);
}

static cJSON *storage_new_record(const char *kind)
{
    cJSON *record = cJSON_CreateObject();
    cJSON_AddStringToObject(record, "k", kind);
    return record;
}

void storage_term_vote(struct storage *s, int64_t term, int voted_for)
{
    cJSON *record = storage_new_record("tv");
    cJSON_AddNumberToObject(record, "term", (double)term);
    cJSON_AddNumberToObject(record, "vote", voted_for);
    storage_record(s, record);
    s->pending_not_entries = true;
}

void storage_append(struct storage *s, int64_t index, const struct raft_entry *entry)
{
    cJSON *record = storage_new_record("e");
    cJSON_AddNumberToObject(record, "i", (double)index);
    cJSON_AddNumberToObject(record, "t", (double)entry->term);
    /* A reference, not a copy: the log owns the command and outlives this call. */
    cJSON_AddItemReferenceToObject(record, "c", entry->command);
    storage_record(s, record);
}

void storage_truncate(struct storage *s, int64_t after_index)
{
    cJSON *record = storage_new_record("trunc");
    cJSON_AddNumberToObject(record, "after", (double)after_index);
    storage_record(s, record);
    s->pending_not_entries = true;
}

bool storage_pending(const struct storage *s)
{
    return s && s->pending_len > 0;
}

bool storage_pending_only_entries(const struct storage *s)
{
    return storage_pending(s) && !s->pending_not_entries;
}

void storage_sync(struct storage *s)
{
    if (!s || s->pending_len == 0) return;
    size_t done = 0;
    while (done < s->pending_len) {
        ssize_t n = write(s->fd, s->pending + done, s->pending_len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fprintf(stderr, "storage: writing %s: %s -> exiting (cannot promise durability)\n",
                    s->path, n < 0 ? strerror(errno) : "no progress");
            exit(1);
        }
        done += (size_t)n;
    }
    if (fdatasync(s->fd) < 0) {
        fprintf(stderr, "storage: fdatasync %s: %s -> exiting (cannot promise durability)\n",
                s->path, strerror(errno));
        exit(1);
    }
    s->pending_len = 0;
    s->pending_not_entries = false;
}
