/* Unit tests of common/forwarded: the leader's memory of forwarded requests, which makes
 * a forward delivered twice proposed once and answered twice with the same reply. */
#include "forwarded.h"
#include "tap.h"

#include <string.h>

#define KEEP_US 5000000

static struct forwarded_key key(int peer, int64_t incarnation, int64_t id)
{
    return (struct forwarded_key){.peer = peer, .incarnation = incarnation, .forward_id = id};
}

static cJSON *reply(const char *type)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "type", type);
    return body;
}

static bool is_reply(const cJSON *body, const char *type)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "type");
    return cJSON_IsString(t) && strcmp(t->valuestring, type) == 0;
}

static void test_duplicate_while_serving_and_after(void)
{
    struct forwarded *table = forwarded_new(KEEP_US);
    const cJSON *answer = NULL;
    tap_ok(forwarded_arrive(table, key(1, 77, 0), 0, &answer) == FORWARDED_NEW,
           "a forward seen for the first time is new: serve it");
    tap_ok(forwarded_arrive(table, key(1, 77, 0), 10, &answer) == FORWARDED_IN_PROGRESS,
           "a copy arriving while the first is served is in progress: drop it");
    cJSON *ok = reply("cas_ok");
    forwarded_answer(table, key(1, 77, 0), ok, 20);
    cJSON_Delete(ok);
    tap_ok(forwarded_arrive(table, key(1, 77, 0), 30, &answer) == FORWARDED_ANSWERED &&
               is_reply(answer, "cas_ok"),
           "a copy arriving after the answer gets that answer (a copy the table owns)");
    forwarded_free(table);
}

static void test_lives_and_peers_are_apart(void)
{
    struct forwarded *table = forwarded_new(KEEP_US);
    const cJSON *answer = NULL;
    forwarded_arrive(table, key(1, 77, 0), 0, &answer);
    cJSON *ok = reply("cas_ok");
    forwarded_answer(table, key(1, 77, 0), ok, 1);
    cJSON_Delete(ok);
    tap_ok(forwarded_arrive(table, key(1, 78, 0), 2, &answer) == FORWARDED_NEW,
           "forward 0 of another life of the same peer is a different request");
    tap_ok(forwarded_arrive(table, key(2, 77, 0), 3, &answer) == FORWARDED_NEW,
           "forward 0 of another peer is a different request");
    tap_ok(forwarded_count(table) == 3, "three requests remembered (%zu)", forwarded_count(table));
    forwarded_free(table);
}

static void test_forgotten_are_refused(void)
{
    struct forwarded *table = forwarded_new(KEEP_US);
    const cJSON *answer = NULL;
    for (int64_t id = 0; id < 1000; id++) {
        forwarded_arrive(table, key(1, 5, id), id, &answer);
        cJSON *ok = reply("write_ok");
        forwarded_answer(table, key(1, 5, id), ok, id);
        cJSON_Delete(ok);
    }
    /* Id 999 was answered at t = 999 us: at KEEP_US + 999 it is just kept, past it not. */
    tap_ok(forwarded_arrive(table, key(1, 5, 999), KEEP_US + 999, &answer) == FORWARDED_ANSWERED,
           "an answer is kept for keep_us");
    tap_ok(forwarded_count(table) == 1, "older ones are forgotten (%zu left)",
           forwarded_count(table));
    tap_ok(forwarded_arrive(table, key(1, 5, 17), KEEP_US + 999, &answer) == FORWARDED_FORGOTTEN,
           "a late copy of a forgotten forward is refused, never served again");
    tap_ok(forwarded_arrive(table, key(1, 5, 998), KEEP_US + 999, &answer) == FORWARDED_FORGOTTEN,
           "so is any lower id of that life that never came (its forwarder gave up long ago)");
    tap_ok(forwarded_arrive(table, key(1, 5, 1000), KEEP_US + 999, &answer) == FORWARDED_NEW,
           "a higher id of that life is new");
    tap_ok(forwarded_arrive(table, key(1, 6, 3), KEEP_US + 999, &answer) == FORWARDED_NEW,
           "and another life starts with nothing forgotten");
    forwarded_free(table);
}

int main(void)
{
    test_duplicate_while_serving_and_after();
    test_lives_and_peers_are_apart();
    test_forgotten_are_refused();
    return tap_done();
}
