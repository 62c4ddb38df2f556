/* node_members: who is who in the cluster, as init said. Node ids are opaque strings;
 * everywhere else a peer is its index in init's node_ids. */
#include "node_parts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    char *self_id;
    char **ids;
    int n, self;
} members;

char *node_strdup(const char *s)
{
    char *copy = strdup(s);
    if (!copy) {
        perror("node: out of memory");
        abort();
    }
    return copy;
}

void node_members_set(const char *self_id, const char *const *ids, int n, int self)
{
    members.self_id = node_strdup(self_id);
    members.n = n;
    members.self = self;
    members.ids = calloc((size_t)n, sizeof *members.ids);
    if (!members.ids) {
        perror("node: out of memory");
        abort();
    }
    for (int i = 0; i < n; i++)
        members.ids[i] = node_strdup(ids[i]);
}

void node_members_free(void)
{
    for (int i = 0; i < members.n; i++)
        free(members.ids[i]);
    free(members.ids);
    free(members.self_id);
    members.ids = NULL;
    members.self_id = NULL;
    members.n = 0;
}

const char *node_id(void)
{
    return members.self_id;
}

const char *node_peer_id(int peer)
{
    return peer >= 0 && peer < members.n ? members.ids[peer] : "?";
}

int node_self(void)
{
    return members.self;
}

int node_cluster_size(void)
{
    return members.n;
}

int node_peer_index(const char *id)
{
    for (int i = 0; i < members.n; i++)
        if (strcmp(members.ids[i], id) == 0) return i;
    return -1;
}
