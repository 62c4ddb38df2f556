#include "ids.h"

#include <string.h>

#include <stdio.h>
#include <stdlib.h>

/* n1..nN by default, like the seeds; n0..n(N-1) under --maelstrom-rules. */
static int ids_first_node_number = 1;

void ids_set_first_node_number(int first)
{
    ids_first_node_number = first;
}

/* Parses the decimal suffix after a one-letter prefix; -1 unless it is all digits and
 * has no leading zero, so "n01" is not silently taken to mean n1 ("n0" is itself). */
static long ids_suffix(const char *name, char prefix)
{
    if (name[0] == prefix && name[1] == '0' && name[2] == '\0') return 0;
    if (name[0] != prefix || name[1] < '1' || name[1] > '9') return -1;
    char *end;
    long number = strtol(name + 1, &end, 10);
    if (*end != '\0' || number > 1000000) return -1;
    return number;
}

int ids_node_index(const char *name, int node_count)
{
    long number = ids_suffix(name, 'n') - ids_first_node_number;
    return (number >= 0 && number < node_count) ? (int)number : -1;
}

void ids_node_name(int node_index, char out[IDS_NAME_MAX])
{
    snprintf(out, IDS_NAME_MAX, "n%d", node_index + ids_first_node_number);
}

int ids_client_process(const char *name)
{
    long number = ids_suffix(name, 'c');
    if (number == 0) return -1; /* c0 is the runner's own init client */
    return number >= 1 ? (int)number : -1;
}

void ids_client_name(int process, char out[IDS_NAME_MAX])
{
    snprintf(out, IDS_NAME_MAX, "c%d", process);
}

int ids_node_or_role(const char *name, int node_count)
{
    if (strcmp(name, "leader") == 0) return IDS_ROLE_LEADER;
    if (strncmp(name, "follower", 8) == 0) {
        char *end;
        long k = strtol(name + 8, &end, 10);
        if (end != name + 8 && *end == '\0' && k >= 1 && k < node_count)
            return IDS_ROLE_FOLLOWER((int)k);
        return -1;
    }
    return ids_node_index(name, node_count);
}

int ids_resolve(int who, int leader_index, int node_count)
{
    if (who >= 0) return who;
    /* No leader seen yet: n1 stands in, and the trace says so. */
    int leader = leader_index >= 0 ? leader_index : 0;
    if (who == IDS_ROLE_LEADER) return leader;
    int k = IDS_ROLE_LEADER - who;
    for (int i = 0; i < node_count; i++)
        if (i != leader && --k == 0) return i;
    return -1;
}
