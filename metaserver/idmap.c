/*
 * idmap: an open-addressing hash map from u64 to pointers (contract in
 * idmap.h).
 *
 * Slots hold {key, val}; val == NULL marks an empty slot. A key's home
 * slot is a Fibonacci hash of it; a lookup walks from there to the first
 * empty slot. Deleting shifts later members of the probe run back into
 * the hole when their home allows it, so every key stays reachable from
 * its home without tombstones.
 *
 * Invariants: count < 3/4 of the slots (so an empty slot always ends a
 * run); each key is in at most one slot, reachable from its home slot
 * through occupied slots only.
 */
#include "idmap.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>

#define IDMAP_MIN_BITS 4

struct idmap_slot {
	uint64_t key;
	void *val;
};

struct idmap {
	struct idmap_slot *slots;
	unsigned bits;
	size_t count;
};

static size_t home(const struct idmap *m, uint64_t key)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - m->bits));
}

struct idmap *idmap_new(void)
{
	struct idmap *m = xcalloc(1, sizeof(*m));
	m->bits = IDMAP_MIN_BITS;
	m->slots = xcalloc((size_t)1 << m->bits, sizeof(*m->slots));
	return m;
}

void idmap_free(struct idmap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

/* The slot holding key, or the empty slot that ends its run. */
static size_t find(const struct idmap *m, uint64_t key)
{
	size_t mask = ((size_t)1 << m->bits) - 1;
	size_t i = home(m, key);
	while (m->slots[i].val && m->slots[i].key != key)
		i = (i + 1) & mask;
	return i;
}

void *idmap_get(const struct idmap *m, uint64_t key)
{
	return m->slots[find(m, key)].val;
}

static void grow(struct idmap *m)
{
	size_t cap = (size_t)1 << m->bits;
	struct idmap_slot *old = m->slots;
	m->slots = xcalloc(cap * 2, sizeof(*m->slots));
	m->bits++;
	for (size_t i = 0; i < cap; i++)
		if (old[i].val)
			m->slots[find(m, old[i].key)] = old[i];
	free(old);
}

void idmap_put(struct idmap *m, uint64_t key, void *val)
{
	size_t i = find(m, key);
	if (m->slots[i].val) {
		m->slots[i].val = val;
		return;
	}
	if ((m->count + 1) * 4 > ((size_t)3 << m->bits)) {
		grow(m);
		i = find(m, key);
	}
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->count++;
}

void *idmap_del(struct idmap *m, uint64_t key)
{
	size_t mask = ((size_t)1 << m->bits) - 1;
	size_t i = find(m, key);
	void *val = m->slots[i].val;
	if (!val)
		return NULL;
	m->slots[i].val = NULL;
	m->count--;
	for (size_t j = (i + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
		size_t h = home(m, m->slots[j].key);
		int stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (stays)
			continue;
		m->slots[i] = m->slots[j];
		m->slots[j].val = NULL;
		i = j;
	}
	return val;
}

size_t idmap_count(const struct idmap *m)
{
	return m->count;
}

void *idmap_next(const struct idmap *m, size_t *pos, uint64_t *key)
{
	size_t cap = (size_t)1 << m->bits;
	while (*pos < cap) {
		const struct idmap_slot *s = &m->slots[(*pos)++];
		if (s->val) {
			if (key)
				*key = s->key;
			return s->val;
		}
	}
	return NULL;
}
