/* leaky-node: the negative control of checks/valgrind.sh. It answers init like a node
 * (so the runner and the piped runs accept it), ignores everything else, and loses
 * every line it reads: a block per line that no pointer reaches at exit ("definitely
 * lost"). checks/valgrind.sh runs it first and must call it a failure; if it did not,
 * its "0 errors, 0 bytes definitely lost" about the real nodes would mean nothing. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Volatile, so the compiler cannot drop the malloc; each line's block overwrites the
 * last one's only pointer, which makes that one definitely lost. */
static char *volatile last_line;

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        char *lost = malloc((size_t)len + 1);
        if (!lost) return 1;
        memcpy(lost, line, (size_t)len + 1);
        last_line = lost; /* the previous block is lost now */
        cJSON *msg = cJSON_Parse(line);
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(body, "type");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "node_id");
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(msg, "src");
        const cJSON *msg_id = cJSON_GetObjectItemCaseSensitive(body, "msg_id");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "init") == 0 && cJSON_IsString(id) &&
            cJSON_IsString(src) && cJSON_IsNumber(msg_id)) {
            printf("{\"src\":\"%s\",\"dest\":\"%s\",\"body\":{\"type\":\"init_ok\","
                   "\"in_reply_to\":%.0f}}\n",
                   id->valuestring, src->valuestring, msg_id->valuedouble);
            fflush(stdout);
        }
        cJSON_Delete(msg);
    }
    free(line);
    return 0;
}
