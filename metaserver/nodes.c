/*
 * nodes: the chunkserver registry (contract in nodes.h).
 *
 * An array of node pointers indexed by id, grown by doubling; lookups by
 * address scan it, which for the hundreds to low thousands of nodes of a
 * cluster costs microseconds per call (a heartbeat every few seconds per
 * node). Delete queues are plain arrays: appends at the end, takes from
 * the front.
 *
 * The decommission set is a plain array of addresses (a handful).
 *
 * Invariants: nodes[i]->id == i; addresses are unique; 0 < strlen(addr)
 * <= NODES_ADDR_MAX; ndeletes <= deletes_cap; nreporting is the number of
 * nodes with a non-zero report_id, all of them up; a node's decom flag is set
 * exactly when its address is in the decommission set, which holds no
 * address twice.
 */
#include "nodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct nodes {
	struct nodes_node **v;
	size_t n;
	size_t cap;
	uint64_t dead_after_ms;
	char **decom; /* addresses being decommissioned */
	size_t ndecom;
	size_t nreporting; /* nodes with a paged report in progress */
};

struct nodes *nodes_new(uint64_t dead_after_ms)
{
	struct nodes *n = xcalloc(1, sizeof(*n));
	n->dead_after_ms = dead_after_ms;
	return n;
}

void nodes_free(struct nodes *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		free(n->v[i]->addr);
		free(n->v[i]->rack);
		free(n->v[i]->deletes);
		free(n->v[i]);
	}
	for (size_t i = 0; i < n->ndecom; i++)
		free(n->decom[i]);
	free(n->decom);
	free(n->v);
	free(n);
}

/* The index of addr in the decommission set, or -1. */
static long decom_find(const struct nodes *n, const char *addr)
{
	for (size_t i = 0; i < n->ndecom; i++)
		if (strcmp(n->decom[i], addr) == 0)
			return (long)i;
	return -1;
}

int nodes_decommission(struct nodes *n, const char *addr, int on)
{
	if (!addr || !*addr || strnlen(addr, NODES_ADDR_MAX + 1) > NODES_ADDR_MAX)
		return -EINVAL;
	long at = decom_find(n, addr);
	struct nodes_node *node = nodes_find(n, addr);
	if ((at >= 0) == !!on)
		return 0;
	if (on) {
		n->decom = xrealloc(n->decom, (n->ndecom + 1) * sizeof(*n->decom));
		n->decom[n->ndecom++] = xstrdup(addr);
	} else {
		free(n->decom[at]);
		n->decom[at] = n->decom[--n->ndecom];
	}
	if (node)
		node->decom = !!on;
	return 1;
}

size_t nodes_decommission_list(const struct nodes *n, char *const **out)
{
	*out = n->decom;
	return n->ndecom;
}

struct nodes_node *nodes_find(const struct nodes *n, const char *addr)
{
	for (size_t i = 0; i < n->n; i++)
		if (strcmp(n->v[i]->addr, addr) == 0)
			return n->v[i];
	return NULL;
}

struct nodes_node *nodes_get(const struct nodes *n, uint32_t id)
{
	return id < n->n ? n->v[id] : NULL;
}

size_t nodes_count(const struct nodes *n)
{
	return n->n;
}

static struct nodes_node *node_add(struct nodes *n, const char *addr)
{
	if (n->n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 16;
		n->v = xrealloc(n->v, cap * sizeof(*n->v));
		n->cap = cap;
	}
	struct nodes_node *node = xcalloc(1, sizeof(*node));
	node->addr = xstrdup(addr);
	node->rack = xstrdup("");
	node->id = (uint32_t)n->n;
	node->decom = decom_find(n, addr) >= 0;
	n->v[n->n++] = node;
	return node;
}

int nodes_register(struct nodes *n, const char *addr, const char *rack, uint64_t capacity,
		   uint64_t used, uint64_t now_ms, struct nodes_node **out)
{
	if (!rack)
		rack = "";
	if (!addr || !*addr || strnlen(addr, NODES_ADDR_MAX + 1) > NODES_ADDR_MAX ||
	    strnlen(rack, NODES_ADDR_MAX + 1) > NODES_ADDR_MAX)
		return -EINVAL;
	struct nodes_node *node = nodes_find(n, addr);
	int known = node != NULL;
	if (!node)
		node = node_add(n, addr);
	if (strcmp(node->rack, rack) != 0) {
		free(node->rack);
		node->rack = xstrdup(rack);
	}
	node->capacity = capacity;
	node->used = used;
	node->load = 0;
	node->last_ms = node->joined_ms = now_ms;
	node->up = 1;
	node->ndeletes = 0;
	nodes_report_end(n, node);
	*out = node;
	return known;
}

void nodes_report_begin(struct nodes *n, struct nodes_node *node, uint64_t report_id)
{
	if (!node->report_id)
		n->nreporting++;
	node->report_id = report_id;
	node->report_page = 1;
}

int nodes_report_page(struct nodes *n, const char *addr, uint64_t report_id, uint32_t page,
		      uint64_t now_ms, struct nodes_node **out)
{
	struct nodes_node *node = addr ? nodes_find(n, addr) : NULL;
	if (!node || !nodes_live(n, node, now_ms))
		return -ENOENT;
	if (!report_id || node->report_id != report_id)
		return -ESRCH;
	if (page != node->report_page) {
		nodes_report_end(n, node);
		return -EPROTO;
	}
	node->report_page++;
	node->last_ms = now_ms;
	*out = node;
	return 0;
}

void nodes_report_end(struct nodes *n, struct nodes_node *node)
{
	if (!node->report_id)
		return;
	node->report_id = 0;
	node->report_page = 0;
	n->nreporting--;
}

size_t nodes_reporting(const struct nodes *n)
{
	return n->nreporting;
}

int nodes_live(const struct nodes *n, const struct nodes_node *node, uint64_t now_ms)
{
	return node->up && now_ms - node->last_ms <= n->dead_after_ms;
}

int nodes_heartbeat(struct nodes *n, const char *addr, uint64_t capacity, uint64_t used,
		    uint32_t load, uint64_t nchunks, uint64_t now_ms, struct nodes_node **out)
{
	struct nodes_node *node = addr ? nodes_find(n, addr) : NULL;
	if (!node || !nodes_live(n, node, now_ms))
		return -ENOENT;
	if (node->report_id)
		return -ESRCH;
	node->capacity = capacity;
	node->used = used;
	node->load = load;
	node->nchunks = nchunks;
	node->last_ms = now_ms;
	*out = node;
	return 0;
}

size_t nodes_nlive(const struct nodes *n, uint64_t now_ms)
{
	size_t live = 0;
	for (size_t i = 0; i < n->n; i++)
		live += nodes_live(n, n->v[i], now_ms);
	return live;
}

uint64_t nodes_free_bytes(const struct nodes_node *node)
{
	return node->capacity > node->used ? node->capacity - node->used : 0;
}

size_t nodes_expire(struct nodes *n, uint64_t now_ms, nodes_dead_fn fn, void *arg)
{
	size_t dead = 0;
	for (size_t i = 0; i < n->n; i++) {
		struct nodes_node *node = n->v[i];
		if (!node->up || nodes_live(n, node, now_ms))
			continue;
		node->up = 0;
		node->ndeletes = 0; /* it registers afresh when it comes back */
		nodes_report_end(n, node);
		dead++;
		if (fn)
			fn(arg, node);
	}
	return dead;
}

int nodes_queue_delete(struct nodes_node *node, uint64_t chunk_id)
{
	if (node->ndeletes == node->deletes_cap) {
		size_t cap = node->deletes_cap ? node->deletes_cap * 2 : 64;
		node->deletes = xrealloc(node->deletes, cap * sizeof(*node->deletes));
		node->deletes_cap = cap;
	}
	node->deletes[node->ndeletes++] = chunk_id;
	return 0;
}

void nodes_unqueue_delete(struct nodes_node *node, uint64_t chunk_id)
{
	size_t j = 0;
	for (size_t i = 0; i < node->ndeletes; i++)
		if (node->deletes[i] != chunk_id)
			node->deletes[j++] = node->deletes[i];
	node->ndeletes = j;
}

size_t nodes_take_deletes(struct nodes_node *node, uint64_t *out, size_t max)
{
	size_t k = node->ndeletes < max ? node->ndeletes : max;
	if (!k)
		return 0;
	memcpy(out, node->deletes, k * sizeof(*out));
	memmove(node->deletes, node->deletes + k, (node->ndeletes - k) * sizeof(*out));
	node->ndeletes -= k;
	return k;
}
