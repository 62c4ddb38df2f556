/* ids: the names the runner gives to nodes (n1..nN, as in the seeds) and to client
 * processes (c1, c2, ...; the number is the history's "process"). One place parses and
 * prints them so a typo in a scenario file gets the same message everywhere. */
#ifndef IDS_H
#define IDS_H

#include <stddef.h>

enum { IDS_NAME_MAX = 24 };

/* n1..nN (1, the default) or n0..n(N-1) (0, --maelstrom-rules). Set before parsing. */
void ids_set_first_node_number(int first);
/* "n3" with 3 nodes -> index 2; anything else -> -1. */
int ids_node_index(const char *name, int node_count);
void ids_node_name(int node_index, char out[IDS_NAME_MAX]);
/* Roles a scenario may name instead of a node: "leader" (the node that most recently
 * sent a raft_append in the highest term the runner has routed) and "followerK" (the
 * K-th other node, in id order). They are bound when a role is first used and then
 * keep naming the same nodes for the rest of the run. */
enum { IDS_ROLE_LEADER = -100 };
#define IDS_ROLE_FOLLOWER(k) (IDS_ROLE_LEADER - (k))
/* A node index, a role code (<= IDS_ROLE_LEADER), or -1. */
int ids_node_or_role(const char *name, int node_count);
/* Resolves a node index or role code given the current leader (-1: none known). */
int ids_resolve(int who, int leader_index, int node_count);

/* "c12" -> 12; anything else (c0 is the runner's own init client) -> -1. */
int ids_client_process(const char *name);
void ids_client_name(int process, char out[IDS_NAME_MAX]);

#endif
