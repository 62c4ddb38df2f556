/* ids: the names the runner gives to nodes (n1..nN, as in the seeds) and to client
 * processes (c1, c2, ...; the number is the history's "process"). One place parses and
 * prints them so a typo in a scenario file gets the same message everywhere. */
#ifndef IDS_H
#define IDS_H

#include <stddef.h>

enum { IDS_NAME_MAX = 24 };

/* "n3" with 3 nodes -> index 2; anything else -> -1. */
int ids_node_index(const char *name, int node_count);
void ids_node_name(int node_index, char out[IDS_NAME_MAX]);
/* "c12" -> 12; anything else (c0 is the runner's own init client) -> -1. */
int ids_client_process(const char *name);
void ids_client_name(int process, char out[IDS_NAME_MAX]);

#endif
