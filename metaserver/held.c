/*
 * held: the set of held replicas (contract in held.h).
 *
 * A plain array in the order reported, appended to in O(1): a foreign
 * data dir may report a million unknown chunks at once. No look-up per
 * add: a registration replaces the node's report, so its entries are
 * dropped first (held_drop_node()) and a report never repeats a replica.
 */
#include "held.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>

struct held {
	struct held_replica *v;
	size_t n, cap;
};

struct held *held_new(void)
{
	return xcalloc(1, sizeof(struct held));
}

void held_free(struct held *h)
{
	if (!h)
		return;
	free(h->v);
	free(h);
}

int held_add(struct held *h, uint32_t node, uint64_t chunk, uint64_t version, enum held_why why,
	     uint64_t now_ms)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		h->v = xrealloc(h->v, cap * sizeof(*h->v));
		h->cap = cap;
	}
	h->v[h->n++] = (struct held_replica){node, chunk, version, why, now_ms};
	return 0;
}

/* Takes out the replicas pick() accepts, in order, calling fn for each. */
static size_t take(struct held *h, int (*pick)(const struct held_replica *, uint64_t, uint64_t),
		   uint64_t now_ms, uint64_t grace_ms, held_fn fn, void *arg)
{
	size_t j = 0, taken = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (!pick(&h->v[i], now_ms, grace_ms)) {
			h->v[j++] = h->v[i];
			continue;
		}
		fn(arg, &h->v[i]);
		taken++;
	}
	h->n = j;
	return taken;
}

static int pick_due(const struct held_replica *r, uint64_t now_ms, uint64_t grace_ms)
{
	return r->why == HELD_UNKNOWN && now_ms - r->since_ms >= grace_ms;
}

static int pick_node(const struct held_replica *r, uint64_t node, uint64_t unused)
{
	(void)unused;
	return r->node == node;
}

static void ignore(void *arg, const struct held_replica *r)
{
	(void)arg;
	(void)r;
}

size_t held_drop_node(struct held *h, uint32_t node)
{
	return take(h, pick_node, node, 0, ignore, NULL);
}

static int pick_all(const struct held_replica *r, uint64_t now_ms, uint64_t grace_ms)
{
	(void)r;
	(void)now_ms;
	(void)grace_ms;
	return 1;
}

size_t held_due(struct held *h, uint64_t now_ms, uint64_t grace_ms, held_fn fn, void *arg)
{
	return take(h, pick_due, now_ms, grace_ms, fn, arg);
}

size_t held_release(struct held *h, held_fn fn, void *arg)
{
	return take(h, pick_all, 0, 0, fn, arg);
}

uint64_t held_max_version(const struct held *h, uint64_t chunk)
{
	uint64_t max = 0;
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].chunk == chunk && h->v[i].version > max)
			max = h->v[i].version;
	return max;
}

const struct held_replica *held_list(const struct held *h, size_t *n)
{
	*n = h->n;
	return h->v;
}

const char *held_why_name(enum held_why why)
{
	return why == HELD_NEWER ? "newer version than the namespace granted"
				 : "chunk unknown to the namespace";
}
