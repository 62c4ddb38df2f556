#include "storage.h"

#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORAGE_FILE "raft.log"
#define STORAGE_SNAPSHOT_FILE "snapshot.json"
#define STORAGE_TEMP_SUFFIX ".tmp"

struct storage {
    int fd;
    char *dir;
    char *path;
    char *pending; /* records not yet written */
    size_t pending_len, pending_cap;
    bool pending_not_entries; /* a term/vote or truncation record among them */
    /* The latest term and vote recorded: the first records of a rewritten log. */
    int64_t term;
    int voted_for;
    /* READPATH_TEST_CRASH_IN_SNAPSHOT: die at this point of the crash_at-th compaction. */
    char crash_point[32];
    int64_t crash_at, compactions;
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

/* Keeps the first `kept` entries after the snapshot. */
static void storage_drop_after(struct raft_persisted *st, int64_t kept)
{
    while (st->count > kept)
        cJSON_Delete(st->entries[--st->count].command);
}

void storage_forget(struct raft_persisted *st)
{
    storage_drop_after(st, 0);
    free(st->entries);
    cJSON_Delete(st->snapshot);
    *st = (struct raft_persisted){.voted_for = -1};
}

/* Replays one good record into st, whose snapshot (if any) is loaded: entries at or
 * below it are skipped, and *base_term follows what the log says the entry at the
 * snapshot's index is (0: nothing). Returns false if a record contradicts what came
 * before (an entry out of sequence): a checksum cannot catch a record written wrong. */
static bool storage_replay(struct raft_persisted *st, int64_t *cap, int64_t *base_term,
                           cJSON *record)
{
    const char *kind = cJSON_GetObjectItemCaseSensitive(record, "k")->valuestring;
    int64_t base = st->snapshot_index;
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
        if (a < base) *base_term = 0;
        storage_drop_after(st, a < base ? 0 : a - base);
        return true;
    }
    if (strcmp(kind, "snap") == 0) {
        if (!storage_int(record, "i", &a) || !storage_int(record, "t", &b)) return false;
        /* A rewritten log starts here: it follows the snapshot it was written after. */
        if (a == base) *base_term = b;
        return true;
    }
    if (strcmp(kind, "e") == 0) {
        cJSON *command = cJSON_DetachItemFromObjectCaseSensitive(record, "c");
        bool ok = storage_int(record, "i", &a) && storage_int(record, "t", &b) &&
                  cJSON_IsObject(command) && a >= 1 && a <= base + st->count + 1;
        if (!ok) {
            cJSON_Delete(command);
            return false;
        }
        /* Re-appending index a replaces a and everything after it (§3.5's truncation,
         * when the record for it was the one lost). At or below the snapshot only the
         * term of its last entry matters. */
        storage_drop_after(st, a - 1 < base ? 0 : a - 1 - base);
        if (a <= base) {
            if (a == base) *base_term = b;
            if (a < base) *base_term = 0;
            cJSON_Delete(command);
            return true;
        }
        if (st->count == *cap) {
            *cap = *cap ? *cap * 2 : 1024;
            st->entries = storage_alloc(st->entries, (size_t)*cap * sizeof *st->entries);
        }
        st->entries[st->count++] = (struct raft_entry){.term = b, .command = command};
        return true;
    }
    return false;
}

static int storage_recover(struct storage *s, struct raft_persisted *st)
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
    int64_t base_term = 0;
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
            bool replayed = storage_replay(st, &cap, &base_term, record);
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
    if (st->count > 0 && base_term != st->snapshot_term) {
        /* The crash came between a snapshot's rename and the log's: this log went on
         * from another entry at the snapshot's index (see storage.h). */
        fprintf(stderr,
                "storage: %s: %" PRId64 " entries after the snapshot through %" PRId64
                " do not follow it (a crash between writing the snapshot and rewriting the "
                "log) -> dropped\n",
                s->path, st->count, st->snapshot_index);
        storage_drop_after(st, 0);
    }
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

/* DIR/NAME[SUFFIX], allocated. */
static char *storage_path(const struct storage *s, const char *name, const char *suffix)
{
    size_t len = strlen(s->dir) + strlen(name) + strlen(suffix) + 2;
    char *path = storage_alloc(NULL, len);
    snprintf(path, len, "%s/%s%s", s->dir, name, suffix);
    return path;
}

/* A temporary file left by a crash inside a compaction: never the state (see storage.h). */
static void storage_remove_temp(const struct storage *s, const char *name)
{
    char *path = storage_path(s, name, STORAGE_TEMP_SUFFIX);
    if (unlink(path) == 0)
        fprintf(stderr, "storage: %s left by a crash during a snapshot -> removed\n", path);
    free(path);
}

/* Reads the whole file at path into a NUL-terminated buffer; NULL with *missing when it
 * does not exist, NULL with a message when it cannot be read. */
static char *storage_slurp(const char *path, size_t *size, bool *missing)
{
    *missing = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *missing = errno == ENOENT;
        if (!*missing) fprintf(stderr, "storage: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *data = storage_alloc(NULL, cap);
    size_t n;
    while ((n = fread(data + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) data = storage_alloc(data, cap *= 2);
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "storage: reading %s failed\n", path);
        free(data);
        return NULL;
    }
    data[len] = '\0';
    *size = len;
    return data;
}

/* Loads DIR/snapshot.json into st, if there is one. It is only ever replaced by a
 * rename of a complete, synced file, so a bad one is corruption, not a crash. */
static int storage_load_snapshot(const struct storage *s, struct raft_persisted *st)
{
    char *path = storage_path(s, STORAGE_SNAPSHOT_FILE, "");
    size_t size = 0;
    bool missing;
    char *data = storage_slurp(path, &size, &missing);
    if (!data) {
        free(path);
        return missing ? 0 : -1;
    }
    unsigned crc = 0;
    size_t len = 0;
    int header = 0;
    cJSON *snapshot = NULL;
    if (sscanf(data, "%8x %zu\n%n", &crc, &len, &header) == 2 && header > 0 &&
        (size_t)header + len <= size && storage_crc32(data + header, len) == crc)
        snapshot = cJSON_ParseWithLength(data + header, len);
    cJSON *state = snapshot ? cJSON_DetachItemFromObjectCaseSensitive(snapshot, "state") : NULL;
    bool ok = cJSON_IsObject(state) && storage_int(snapshot, "index", &st->snapshot_index) &&
              storage_int(snapshot, "term", &st->snapshot_term) && st->snapshot_index >= 1 &&
              st->snapshot_term >= 1;
    cJSON_Delete(snapshot);
    free(data);
    if (!ok) {
        cJSON_Delete(state);
        st->snapshot_index = st->snapshot_term = 0;
        fprintf(stderr,
                "storage: %s is corrupt (its checksum or fields do not hold). A snapshot "
                "replaces another only once it is complete on disk, so this is not a crash. "
                "Refusing to start; remove the node's data directory to rejoin as a new, "
                "empty node.\n",
                path);
        free(path);
        return -1;
    }
    free(path);
    st->snapshot = state;
    return 0;
}

/* READPATH_TEST_CRASH_IN_SNAPSHOT=POINT:N (see storage.h). */
static void storage_read_crash_switch(struct storage *s)
{
    const char *value = getenv("READPATH_TEST_CRASH_IN_SNAPSHOT");
    const char *colon = value ? strchr(value, ':') : NULL;
    if (!colon || (size_t)(colon - value) >= sizeof s->crash_point) return;
    memcpy(s->crash_point, value, (size_t)(colon - value));
    s->crash_point[colon - value] = '\0';
    s->crash_at = strtoll(colon + 1, NULL, 10);
    fprintf(stderr,
            "storage: READPATH_TEST_CRASH_IN_SNAPSHOT=%s: a test-only kill inside "
            "compaction %lld\n",
            value, (long long)s->crash_at);
}

static bool storage_crash_here(const struct storage *s, const char *point)
{
    return s->compactions == s->crash_at && strcmp(s->crash_point, point) == 0;
}

static void storage_test_crash(const struct storage *s, const char *point)
{
    if (!storage_crash_here(s, point)) return;
    fprintf(stderr,
            "storage: READPATH_TEST_CRASH_IN_SNAPSHOT: killed at %s of compaction "
            "%lld\n",
            point, (long long)s->compactions);
    raise(SIGKILL);
}

struct storage *storage_open(const char *dir, struct raft_persisted *recovered)
{
    *recovered = (struct raft_persisted){.voted_for = -1};
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "storage: cannot create %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    struct storage *s = storage_alloc(NULL, sizeof *s);
    *s = (struct storage){.fd = -1, .voted_for = -1};
    s->dir = storage_alloc(NULL, strlen(dir) + 1);
    strcpy(s->dir, dir);
    s->path = storage_path(s, STORAGE_FILE, "");
    storage_read_crash_switch(s);
    storage_remove_temp(s, STORAGE_SNAPSHOT_FILE);
    storage_remove_temp(s, STORAGE_FILE);
    if (storage_load_snapshot(s, recovered) < 0) {
        storage_close(s);
        return NULL;
    }
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
        storage_forget(recovered);
        storage_close(s);
        return NULL;
    }
    s->term = recovered->term;
    s->voted_for = recovered->voted_for;
    return s;
}

void storage_close(struct storage *s)
{
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    free(s->dir);
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
    s->term = term;
    s->voted_for = voted_for;
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

/* Any I/O error while writing is fatal: promising what is not on disk is the one thing a
 * durable node must never do. */
static void storage_fail(const char *what, const char *path)
{
    fprintf(stderr, "storage: %s %s: %s -> exiting (cannot promise durability)\n", what, path,
            strerror(errno));
    exit(1);
}

static void storage_write_all(int fd, const char *data, size_t len, const char *path)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO;
            storage_fail("writing", path);
        }
        done += (size_t)n;
    }
}

void storage_sync(struct storage *s)
{
    if (!s || s->pending_len == 0) return;
    storage_write_all(s->fd, s->pending, s->pending_len, s->path);
    if (fdatasync(s->fd) < 0) storage_fail("fdatasync", s->path);
    s->pending_len = 0;
    s->pending_not_entries = false;
}

/* ---- compaction: replace a file whole ---- */

static void storage_sync_dir(const struct storage *s)
{
    int dir_fd = open(s->dir, O_RDONLY);
    if (dir_fd < 0 || fsync(dir_fd) < 0) storage_fail("fsync of directory", s->dir);
    close(dir_fd);
}

/* Writes data to NAME.tmp, syncs it and renames it over NAME (then syncs the directory).
 * `torn` and `before_rename` name the test crash points inside. Returns the new file,
 * open for appending, if keep_open; else -1. */
static int storage_replace(struct storage *s, const char *name, const char *data, size_t len,
                           const char *torn, const char *before_rename, bool keep_open)
{
    char *temp = storage_path(s, name, STORAGE_TEMP_SUFFIX);
    char *path = storage_path(s, name, "");
    int fd = open(temp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) storage_fail("creating", temp);
    if (storage_crash_here(s, torn)) {
        storage_write_all(fd, data, len / 2, temp);
        fdatasync(fd);
        storage_test_crash(s, torn);
    }
    storage_write_all(fd, data, len, temp);
    if (fsync(fd) < 0) storage_fail("fsync", temp);
    if (before_rename) storage_test_crash(s, before_rename);
    if (rename(temp, path) < 0) storage_fail("renaming", temp);
    storage_sync_dir(s);
    free(temp);
    free(path);
    if (keep_open) return fd;
    close(fd);
    return -1;
}

void storage_snapshot(struct storage *s, int64_t index, int64_t term, const cJSON *state,
                      const struct raft *r)
{
    s->compactions++;
    cJSON *snapshot = cJSON_CreateObject();
    cJSON_AddNumberToObject(snapshot, "index", (double)index);
    cJSON_AddNumberToObject(snapshot, "term", (double)term);
    /* A reference: the core owns the state. */
    cJSON_AddItemReferenceToObject(snapshot, "state", (cJSON *)state);
    char *json = cJSON_PrintUnformatted(snapshot);
    cJSON_Delete(snapshot);
    if (!json) {
        perror("storage: out of memory printing a snapshot");
        abort();
    }
    size_t json_len = strlen(json);
    char header[32];
    int header_len = snprintf(header, sizeof header, "%08" PRIx32 " %zu\n",
                              storage_crc32(json, json_len), json_len);
    char *file = storage_alloc(NULL, (size_t)header_len + json_len + 2);
    memcpy(file, header, (size_t)header_len);
    memcpy(file + header_len, json, json_len);
    file[header_len + json_len] = '\n';
    free(json);
    storage_replace(s, STORAGE_SNAPSHOT_FILE, file, (size_t)header_len + json_len + 1,
                    "torn-snapshot", "before-rename", false);
    free(file);
    storage_test_crash(s, "before-log");

    /* The new log, built in `pending` like any write. Whatever was pending is in it: the
     * core's log and the latest term and vote already hold every record recorded. */
    s->pending_len = 0;
    cJSON *base = storage_new_record("snap");
    cJSON_AddNumberToObject(base, "i", (double)index);
    cJSON_AddNumberToObject(base, "t", (double)term);
    storage_record(s, base);
    if (s->term > 0) storage_term_vote(s, s->term, s->voted_for);
    for (int64_t i = index + 1; i <= raft_last_index(r); i++)
        storage_append(s, i, raft_entry_at(r, i));
    int fd = storage_replace(s, STORAGE_FILE, s->pending, s->pending_len, "torn-log", NULL, true);
    s->pending_len = 0;
    s->pending_not_entries = false;
    close(s->fd);
    s->fd = fd;
}
