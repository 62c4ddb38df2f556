#include "scenario.h"

#include "ids.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SCENARIO_MAX_WORDS = 64 };

/* What the parser of one line needs: the words, where we are, where errors go. */
typedef struct {
    const char *path;
    int line;
    int node_count;
    char *words[SCENARIO_MAX_WORDS];
    int word_count;
    char *err;
    size_t err_size;
} scenario_line;

static int scenario_fail(scenario_line *ln, const char *fmt, ...)
{
    int used = snprintf(ln->err, ln->err_size, "%s:%d: ", ln->path, ln->line);
    if (used < 0 || (size_t)used >= ln->err_size) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ln->err + used, ln->err_size - (size_t)used, fmt, ap);
    va_end(ap);
    return -1;
}

/* "250ms", "2s", "3.5s": a unit is required, because a bare "2" is exactly the
 * ambiguity that makes a student's partition start 1000x too early. */
static int scenario_parse_time(scenario_line *ln, const char *word, int64_t *out_us)
{
    char *end;
    errno = 0;
    double amount = strtod(word, &end);
    double scale_us;
    if (strcmp(end, "ms") == 0)
        scale_us = 1e3;
    else if (strcmp(end, "s") == 0)
        scale_us = 1e6;
    else
        return scenario_fail(ln, "time '%s' needs a unit, ms or s (e.g. 2s, 250ms)", word);
    if (end == word || errno != 0 || !isfinite(amount) || amount < 0 || amount > 1e6)
        return scenario_fail(ln, "time '%s' is not a non-negative number of %s", word, end);
    *out_us = (int64_t)llround(amount * scale_us);
    return 0;
}

static int scenario_parse_node(scenario_line *ln, const char *word, int *out_index)
{
    *out_index = ids_node_or_role(word, ln->node_count);
    if (*out_index == -1)
        return scenario_fail(ln,
                             "'%s' is not a node of this cluster (n1..n%d, leader, "
                             "follower1..follower%d)",
                             word, ln->node_count, ln->node_count - 1);
    return 0;
}

/* Keys and values are JSON (5, "5", [1,2]); a bare word that is not JSON (x) is taken
 * as a string, so the common case needs no quoting. Words cannot contain spaces. */
static cJSON *scenario_parse_json_word(const char *word)
{
    cJSON *parsed = cJSON_Parse(word);
    return parsed ? parsed : cJSON_CreateString(word);
}

static int scenario_parse_long(scenario_line *ln, const char *word, const char *what, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(word, &end, 10);
    if (end == word || *end != '\0' || errno != 0 || value < 0)
        return scenario_fail(ln, "%s '%s' is not a non-negative integer", what, word);
    *out = value;
    return 0;
}

/* group_by_node has room for the roles too: slot node_count + 0 is "leader", slot
 * node_count + K is "followerK"; the runner folds them in when the partition starts. */
static int scenario_parse_partition(scenario_line *ln, int first, scenario_event *ev)
{
    ev->group_by_node = calloc(2 * (size_t)ln->node_count, sizeof *ev->group_by_node);
    ev->names_roles = false;
    int group = 1, members_in_group = 0, listed = 0;
    for (int w = first; w < ln->word_count; w++) {
        if (strcmp(ln->words[w], "|") == 0) {
            if (members_in_group == 0) return scenario_fail(ln, "empty group before '|'");
            group++;
            members_in_group = 0;
            continue;
        }
        int who;
        if (scenario_parse_node(ln, ln->words[w], &who) < 0) return -1;
        int slot = who >= 0 ? who : ln->node_count + (IDS_ROLE_LEADER - who);
        if (who < 0) ev->names_roles = true;
        if (ev->group_by_node[slot] != 0)
            return scenario_fail(ln, "%s appears twice in the partition", ln->words[w]);
        ev->group_by_node[slot] = group;
        members_in_group++;
        listed++;
    }
    if (members_in_group == 0)
        return scenario_fail(ln, "partition needs groups of nodes, e.g. 'partition n1 | n2 n3'");
    if (listed == ln->node_count && group == 1)
        return scenario_fail(ln, "a partition with every node in one group cuts nothing");
    return 0;
}

static int scenario_expect_words(scenario_line *ln, int first, int min, int max, const char *usage)
{
    int have = ln->word_count - first;
    if (have < min || have > max) return scenario_fail(ln, "usage: %s", usage);
    return 0;
}

/* lease_read_config L E S: three non-negative integers, sent as they are (the node, not
 * the runner, judges whether the config is safe). */
static int scenario_parse_lease_config(scenario_line *ln, int args, op_lease_config *config)
{
    if (ln->word_count - args != 3)
        return scenario_fail(ln, "usage: lease_read_config LEASE_DURATION_MS ELECTION_TIMEOUT_MS "
                                 "MAX_CLOCK_SKEW_MS");
    if (scenario_parse_long(ln, ln->words[args], "lease_duration_ms", &config->lease_duration_ms) <
            0 ||
        scenario_parse_long(ln, ln->words[args + 1], "election_timeout_ms",
                            &config->election_timeout_ms) < 0 ||
        scenario_parse_long(ln, ln->words[args + 2], "max_clock_skew_ms",
                            &config->max_clock_skew_ms) < 0)
        return -1;
    return 0;
}

/* client cP nK OP KEY [ARGS], or client cP nK lease_read_config L E S */
static int scenario_parse_client(scenario_line *ln, int first, scenario_event *ev)
{
    static const char usage[] =
        "client cP nK read|lease_read KEY | write KEY VALUE | cas KEY FROM TO | "
        "follower_read KEY MAX_STALENESS_MS | ryw_read KEY [TOKEN|session] [true|false] | "
        "lease_read_config L E S";
    if (ln->word_count - first < 3) return scenario_fail(ln, "usage: %s", usage);
    ev->process = ids_client_process(ln->words[first]);
    if (ev->process < 0)
        return scenario_fail(ln, "'%s' is not a client name (c1, c2, ...)", ln->words[first]);
    op_request *op = &ev->op;
    if (scenario_parse_node(ln, ln->words[first + 1], &op->node_index) < 0) return -1;
    int kind = op_kind_from_name(ln->words[first + 2]);
    if (kind < 0)
        return scenario_fail(ln,
                             "unknown op '%s' (read, write, cas, follower_read, ryw_read, "
                             "lease_read, lease_read_config)",
                             ln->words[first + 2]);
    op->kind = (op_kind)kind;
    if (op->kind == OP_LEASE_READ_CONFIG)
        return scenario_parse_lease_config(ln, first + 3, &op->lease_config);
    if (ln->word_count - first < 4) return scenario_fail(ln, "usage: %s", usage);
    op->key = scenario_parse_json_word(ln->words[first + 3]);
    op->last_write_index = OP_TOKEN_FROM_SESSION;
    op->prefer_follower = true;
    int args = first + 4, extra = ln->word_count - args;
    switch (op->kind) {
    case OP_READ:
    case OP_LEASE_READ:
        if (extra != 0) return scenario_fail(ln, "%s takes only a key", op_kind_name(op->kind));
        return 0;
    case OP_WRITE:
        if (extra != 1) return scenario_fail(ln, "usage: write KEY VALUE");
        op->value = scenario_parse_json_word(ln->words[args]);
        return 0;
    case OP_CAS:
        if (extra != 2) return scenario_fail(ln, "usage: cas KEY FROM TO");
        op->value = scenario_parse_json_word(ln->words[args]);
        op->cas_to = scenario_parse_json_word(ln->words[args + 1]);
        return 0;
    case OP_FOLLOWER_READ:
        if (extra != 1) return scenario_fail(ln, "usage: follower_read KEY MAX_STALENESS_MS");
        return scenario_parse_long(ln, ln->words[args], "max_staleness_ms", &op->max_staleness_ms);
    case OP_RYW_READ:
        if (extra > 2) return scenario_fail(ln, "usage: ryw_read KEY [TOKEN|session] [true|false]");
        if (extra >= 1 && strcmp(ln->words[args], "session") != 0 &&
            scenario_parse_long(ln, ln->words[args], "last_write_index", &op->last_write_index) < 0)
            return -1;
        if (extra == 2) {
            if (strcmp(ln->words[args + 1], "true") != 0 &&
                strcmp(ln->words[args + 1], "false") != 0)
                return scenario_fail(ln, "prefer_follower must be true or false");
            op->prefer_follower = strcmp(ln->words[args + 1], "true") == 0;
        }
        return 0;
    case OP_LEASE_READ_CONFIG:
    case OP_KIND_COUNT:
        break;
    }
    return scenario_fail(ln, "unknown op");
}

/* Dispatch table: action word -> parser of the rest of the line. */
static int scenario_parse_heal(scenario_line *ln, int first, scenario_event *ev)
{
    (void)ev;
    return scenario_expect_words(ln, first, 0, 0, "heal");
}

static int scenario_parse_one_node(scenario_line *ln, int first, scenario_event *ev)
{
    if (scenario_expect_words(ln, first, 1, 1, "pause|resume|restart nK") < 0) return -1;
    return scenario_parse_node(ln, ln->words[first], &ev->node_index);
}

/* kill nK [restart-after TIME]: a crash and a reboot in one line, so a script can reach
 * the sub-second windows a reboot opens (a vote forgotten, a log half flushed) without
 * guessing the absolute time of the kill. */
static int scenario_parse_kill(scenario_line *ln, int first, scenario_event *ev)
{
    static const char usage[] = "kill nK [restart-after TIME]";
    int extra = ln->word_count - first;
    if (extra != 1 && extra != 3) return scenario_fail(ln, "usage: %s", usage);
    if (scenario_parse_node(ln, ln->words[first], &ev->node_index) < 0) return -1;
    if (extra == 1) return 0;
    if (strcmp(ln->words[first + 1], "restart-after") != 0)
        return scenario_fail(ln, "usage: %s (not '%s')", usage, ln->words[first + 1]);
    ev->restarts = true;
    return scenario_parse_time(ln, ln->words[first + 2], &ev->restart_after_us);
}

/* cut|uncut X -> Y: one direction of one link. */
static int scenario_parse_cut(scenario_line *ln, int first, scenario_event *ev)
{
    static const char usage[] = "cut|uncut FROM -> TO (one direction, e.g. cut n1 -> n2)";
    if (ln->word_count - first != 3 || strcmp(ln->words[first + 1], "->") != 0)
        return scenario_fail(ln, "usage: %s", usage);
    if (scenario_parse_node(ln, ln->words[first], &ev->node_index) < 0 ||
        scenario_parse_node(ln, ln->words[first + 2], &ev->to_index) < 0)
        return -1;
    if (ev->node_index == ev->to_index)
        return scenario_fail(ln, "%s -> %s: a node's messages to itself never cross the network",
                             ln->words[first], ln->words[first + 2]);
    return 0;
}

/* duplicate P | duplicate off */
static int scenario_parse_duplicate(scenario_line *ln, int first, scenario_event *ev)
{
    if (scenario_expect_words(ln, first, 1, 1,
                              "duplicate P (a probability in [0, 1]) | duplicate off") < 0)
        return -1;
    const char *word = ln->words[first];
    if (strcmp(word, "off") == 0) {
        ev->duplicate_probability = 0;
        return 0;
    }
    char *end;
    double probability = strtod(word, &end);
    if (end == word || *end != '\0' || !isfinite(probability) || probability < 0 || probability > 1)
        return scenario_fail(ln, "duplicate '%s': not a probability in [0, 1] (or off)", word);
    ev->duplicate_probability = probability;
    return 0;
}

static const struct {
    const char *word;
    scenario_action action;
    int (*parse)(scenario_line *ln, int first, scenario_event *ev);
} scenario_actions[] = {
    {"partition", SCENARIO_PARTITION, scenario_parse_partition},
    {"heal", SCENARIO_HEAL, scenario_parse_heal},
    {"pause", SCENARIO_PAUSE, scenario_parse_one_node},
    {"resume", SCENARIO_RESUME, scenario_parse_one_node},
    {"kill", SCENARIO_KILL, scenario_parse_kill},
    {"restart", SCENARIO_RESTART, scenario_parse_one_node},
    {"cut", SCENARIO_CUT, scenario_parse_cut},
    {"uncut", SCENARIO_UNCUT, scenario_parse_cut},
    {"duplicate", SCENARIO_DUPLICATE, scenario_parse_duplicate},
    {"client", SCENARIO_CLIENT, scenario_parse_client},
};

static void scenario_event_free(scenario_event *ev)
{
    free(ev->group_by_node);
    op_request_free(&ev->op);
}

static int scenario_parse_clock(scenario_line *ln, scenario *sc)
{
    if (scenario_expect_words(ln, 1, 2, 2, "clock nK RATE") < 0) return -1;
    int node;
    if (scenario_parse_node(ln, ln->words[1], &node) < 0) return -1;
    /* Rates are set when the nodes start, before anyone leads. */
    if (node < 0)
        return scenario_fail(ln, "clock needs a node name (n1..n%d): roles are not known at start",
                             ln->node_count);
    char *end;
    double rate = strtod(ln->words[2], &end);
    if (end == ln->words[2] || *end != '\0' || !isfinite(rate) || rate <= 0 || rate > 100)
        return scenario_fail(ln, "clock rate '%s' is not a number in (0, 100]", ln->words[2]);
    sc->clock_rate_by_node[node] = rate;
    return 0;
}

static int scenario_parse_at(scenario_line *ln, scenario *sc)
{
    if (ln->word_count < 3) return scenario_fail(ln, "usage: at TIME ACTION ...");
    scenario_event ev;
    memset(&ev, 0, sizeof ev);
    ev.line = ln->line;
    if (scenario_parse_time(ln, ln->words[1], &ev.at_us) < 0) return -1;
    size_t a = 0, n = sizeof scenario_actions / sizeof scenario_actions[0];
    while (a < n && strcmp(scenario_actions[a].word, ln->words[2]) != 0)
        a++;
    if (a == n)
        return scenario_fail(ln,
                             "unknown action '%s' (partition, heal, cut, uncut, duplicate, "
                             "pause, resume, kill, restart, client)",
                             ln->words[2]);
    ev.action = scenario_actions[a].action;
    if (scenario_actions[a].parse(ln, 3, &ev) < 0) {
        scenario_event_free(&ev);
        return -1;
    }
    sc->events = realloc(sc->events, (sc->event_count + 1) * sizeof *sc->events);
    sc->events[sc->event_count++] = ev;
    return 0;
}

/* Splits on blanks after cutting a '#' comment; returns the word count or -1. */
static int scenario_split(scenario_line *ln, char *text)
{
    char *comment = strchr(text, '#');
    if (comment) *comment = '\0';
    ln->word_count = 0;
    for (char *save = NULL, *w = strtok_r(text, " \t\r\n", &save); w;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        if (ln->word_count == SCENARIO_MAX_WORDS)
            return scenario_fail(ln, "more than %d words on one line", SCENARIO_MAX_WORDS);
        ln->words[ln->word_count++] = w;
    }
    return ln->word_count;
}

static int scenario_compare(const void *a, const void *b)
{
    const scenario_event *x = a, *y = b;
    if (x->at_us != y->at_us) return x->at_us < y->at_us ? -1 : 1;
    return x->line - y->line;
}

void scenario_init_empty(scenario *sc, int node_count)
{
    sc->events = NULL;
    sc->event_count = 0;
    sc->clock_rate_by_node = calloc((size_t)node_count, sizeof *sc->clock_rate_by_node);
}

int scenario_parse_file(const char *path, int node_count, scenario *out, char *err, size_t err_size)
{
    scenario_init_empty(out, node_count);
    scenario_line ln = {.path = path, .node_count = node_count, .err = err, .err_size = err_size};
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t text_size = 0;
    int status = 0;
    while (status == 0 && getline(&text, &text_size, file) >= 0) {
        ln.line++;
        int words = scenario_split(&ln, text);
        if (words < 0)
            status = -1;
        else if (words == 0)
            continue;
        else if (strcmp(ln.words[0], "at") == 0)
            status = scenario_parse_at(&ln, out);
        else if (strcmp(ln.words[0], "clock") == 0)
            status = scenario_parse_clock(&ln, out);
        else
            status = scenario_fail(&ln, "a line starts with 'at TIME' or 'clock', not '%s'",
                                   ln.words[0]);
    }
    free(text);
    fclose(file);
    if (status < 0) {
        scenario_free(out);
        return -1;
    }
    /* qsort's first argument must not be NULL, even for zero elements (C11 7.22.5). */
    if (out->event_count > 0)
        qsort(out->events, out->event_count, sizeof *out->events, scenario_compare);
    return 0;
}

void scenario_free(scenario *sc)
{
    for (size_t i = 0; i < sc->event_count; i++)
        scenario_event_free(&sc->events[i]);
    free(sc->events);
    free(sc->clock_rate_by_node);
    sc->events = NULL;
    sc->clock_rate_by_node = NULL;
    sc->event_count = 0;
}

int64_t scenario_last_event_us(const scenario *sc)
{
    return sc->event_count ? sc->events[sc->event_count - 1].at_us : 0;
}
