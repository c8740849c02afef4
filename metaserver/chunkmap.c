/*
 * chunkmap: chunk id -> file, index, version and replica nodes (contract
 * in chunkmap.h).
 *
 * One idmap from chunk id to a heap struct; each chunk's replicas are a
 * small array (a handful of entries: linear scans), grown by doubling.
 *
 * Each node's replicas are also threaded into a doubly-linked list (as
 * HDFS threads its block triplets): a replica entry holds the ids of the
 * previous and next chunks of its node's list, and heads[node] the first.
 * Links are chunk ids, not pointers, so replica arrays may move; a link is
 * followed with one idmap lookup and a scan of that chunk's few replicas.
 * So replacing a node's set when it registers again costs its own
 * replicas, not the whole map.
 *
 * Invariants: chunk ids and versions are non-zero (0 ends a list); a node
 * appears at most once in a chunk's replicas; node n's list, from
 * heads[n], holds exactly the chunks with a replica on n, and prev/next
 * agree, and counts[n] is its length; nreplicas_total is the sum of every
 * chunk's nreplicas.
 */
#include "chunkmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "idmap.h"
#include "util.h"

struct chunkmap {
	struct idmap *by_id;
	size_t nreplicas_total;
	uint64_t *heads; /* per node: the first chunk of its list, or 0 */
	size_t *counts;	 /* per node: the length of its list */
	size_t nheads;
};

struct chunkmap *chunkmap_new(void)
{
	struct chunkmap *cm = xcalloc(1, sizeof(*cm));
	cm->by_id = idmap_new();
	return cm;
}

void chunkmap_free(struct chunkmap *cm)
{
	if (!cm)
		return;
	size_t pos = 0;
	struct chunkmap_chunk *c;
	while ((c = idmap_next(cm->by_id, &pos, NULL))) {
		free(c->replicas);
		free(c);
	}
	idmap_free(cm->by_id);
	free(cm->heads);
	free(cm->counts);
	free(cm);
}

size_t chunkmap_count(const struct chunkmap *cm)
{
	return idmap_count(cm->by_id);
}

size_t chunkmap_nreplicas(const struct chunkmap *cm)
{
	return cm->nreplicas_total;
}

const struct chunkmap_chunk *chunkmap_get(const struct chunkmap *cm, uint64_t id)
{
	return idmap_get(cm->by_id, id);
}

static int find_node(const struct chunkmap_chunk *c, uint32_t node)
{
	for (uint32_t i = 0; i < c->nreplicas; i++)
		if (c->replicas[i].node == node)
			return (int)i;
	return -1;
}

int chunkmap_has(const struct chunkmap_chunk *c, uint32_t node)
{
	return find_node(c, node) >= 0;
}

size_t chunkmap_node_count(const struct chunkmap *cm, uint32_t node)
{
	return node < cm->nheads ? cm->counts[node] : 0;
}

const struct chunkmap_chunk *chunkmap_next(const struct chunkmap *cm, size_t *pos)
{
	return idmap_next(cm->by_id, pos, NULL);
}

/* node's replica entry in chunk id, which the lists say exists. */
static struct chunkmap_replica *entry(const struct chunkmap *cm, uint64_t id, uint32_t node)
{
	struct chunkmap_chunk *c = idmap_get(cm->by_id, id);
	CAIRN_ASSERT(c);
	int i = find_node(c, node);
	CAIRN_ASSERT(i >= 0);
	return &c->replicas[i];
}

/* Puts c->replicas[i] at the head of its node's list. */
static void link_replica(struct chunkmap *cm, struct chunkmap_chunk *c, uint32_t i)
{
	struct chunkmap_replica *r = &c->replicas[i];
	r->prev = 0;
	r->next = cm->heads[r->node];
	if (r->next)
		entry(cm, r->next, r->node)->prev = c->id;
	cm->heads[r->node] = c->id;
}

/* Takes c->replicas[i] out of its node's list. */
static void unlink_replica(struct chunkmap *cm, struct chunkmap_chunk *c, uint32_t i)
{
	struct chunkmap_replica *r = &c->replicas[i];
	if (r->prev)
		entry(cm, r->prev, r->node)->next = r->next;
	else
		cm->heads[r->node] = r->next;
	if (r->next)
		entry(cm, r->next, r->node)->prev = r->prev;
}

/* Removes c->replicas[i] (already out of its list, or its list is going). */
static void remove_at(struct chunkmap *cm, struct chunkmap_chunk *c, uint32_t i)
{
	cm->counts[c->replicas[i].node]--;
	c->replicas[i] = c->replicas[--c->nreplicas];
	cm->nreplicas_total--;
}

/* Empties c's replica list, calling fn for each. */
static void drop_all(struct chunkmap *cm, struct chunkmap_chunk *c, chunkmap_drop_fn fn, void *arg)
{
	while (c->nreplicas) {
		uint32_t node = c->replicas[c->nreplicas - 1].node;
		unlink_replica(cm, c, c->nreplicas - 1);
		remove_at(cm, c, c->nreplicas - 1);
		if (fn)
			fn(arg, c->id, node);
	}
}

int chunkmap_set(struct chunkmap *cm, uint64_t id, uint64_t file_id, uint64_t index,
		 uint64_t version, chunkmap_drop_fn fn, void *arg)
{
	if (!id || !version)
		return -EINVAL;
	struct chunkmap_chunk *c = idmap_get(cm->by_id, id);
	if (!c) {
		c = xcalloc(1, sizeof(*c));
		idmap_put(cm->by_id, id, c);
		c->id = id;
	} else if (version < c->version) {
		return -EINVAL;
	} else if (version > c->version) {
		drop_all(cm, c, fn, arg);
	}
	c->file_id = file_id;
	c->index = index;
	c->version = version;
	return 0;
}

void chunkmap_forget(struct chunkmap *cm, uint64_t id, chunkmap_drop_fn fn, void *arg)
{
	struct chunkmap_chunk *c = idmap_del(cm->by_id, id);
	if (!c)
		return;
	drop_all(cm, c, fn, arg);
	free(c->replicas);
	free(c);
}

/* Makes heads[] cover node. */
static void heads_reserve(struct chunkmap *cm, uint32_t node)
{
	if (node < cm->nheads)
		return;
	size_t n = cm->nheads ? cm->nheads : 16;
	while (n <= node)
		n *= 2;
	cm->heads = xrealloc(cm->heads, n * sizeof(*cm->heads));
	cm->counts = xrealloc(cm->counts, n * sizeof(*cm->counts));
	memset(cm->heads + cm->nheads, 0, (n - cm->nheads) * sizeof(*cm->heads));
	memset(cm->counts + cm->nheads, 0, (n - cm->nheads) * sizeof(*cm->counts));
	cm->nheads = n;
}

int chunkmap_add_replica(struct chunkmap *cm, uint64_t id, uint32_t node, uint64_t version,
			 uint64_t length)
{
	struct chunkmap_chunk *c = idmap_get(cm->by_id, id);
	if (!c)
		return -ENOENT;
	if (version < c->version)
		return -CAIRN_ESTALE;
	if (version > c->version)
		return 1;
	int i = find_node(c, node);
	if (i >= 0) {
		c->replicas[i].length = length;
		return 0;
	}
	heads_reserve(cm, node);
	if (c->nreplicas == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 3;
		c->replicas = xrealloc(c->replicas, c->cap * sizeof(*c->replicas));
	}
	c->replicas[c->nreplicas].node = node;
	c->replicas[c->nreplicas].length = length;
	link_replica(cm, c, c->nreplicas);
	cm->counts[node]++;
	c->nreplicas++;
	cm->nreplicas_total++;
	return 0;
}

int chunkmap_drop_replica(struct chunkmap *cm, uint64_t id, uint32_t node)
{
	struct chunkmap_chunk *c = idmap_get(cm->by_id, id);
	int i = c ? find_node(c, node) : -1;
	if (i < 0)
		return -ENOENT;
	unlink_replica(cm, c, (uint32_t)i);
	remove_at(cm, c, (uint32_t)i);
	return 0;
}

size_t chunkmap_drop_node(struct chunkmap *cm, uint32_t node)
{
	size_t n = 0;
	uint64_t id = node < cm->nheads ? cm->heads[node] : 0;
	while (id) {
		struct chunkmap_chunk *c = idmap_get(cm->by_id, id);
		CAIRN_ASSERT(c);
		int i = find_node(c, node);
		CAIRN_ASSERT(i >= 0);
		id = c->replicas[i].next;
		remove_at(cm, c, (uint32_t)i);
		n++;
	}
	if (node < cm->nheads) {
		cm->heads[node] = 0;
		CAIRN_ASSERT(cm->counts[node] == 0);
	}
	return n;
}
