#include "ids.h"

#include <stdio.h>
#include <stdlib.h>

/* Parses the decimal suffix after a one-letter prefix; -1 unless it is all digits and
 * has no leading zero, so "n01" is not silently taken to mean n1. */
static long ids_suffix(const char *name, char prefix)
{
    if (name[0] != prefix || name[1] < '1' || name[1] > '9') return -1;
    char *end;
    long number = strtol(name + 1, &end, 10);
    if (*end != '\0' || number > 1000000) return -1;
    return number;
}

int ids_node_index(const char *name, int node_count)
{
    long number = ids_suffix(name, 'n');
    return (number >= 1 && number <= node_count) ? (int)number - 1 : -1;
}

void ids_node_name(int node_index, char out[IDS_NAME_MAX])
{
    snprintf(out, IDS_NAME_MAX, "n%d", node_index + 1);
}

int ids_client_process(const char *name)
{
    long number = ids_suffix(name, 'c');
    return number >= 1 ? (int)number : -1;
}

void ids_client_name(int process, char out[IDS_NAME_MAX])
{
    snprintf(out, IDS_NAME_MAX, "c%d", process);
}
