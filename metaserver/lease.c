/*
 * lease: the write-lease table (contract in lease.h).
 *
 * One idmap from file id to a small struct. A lease is live while
 * now_ms < expires_ms. Acquiring over a dead lease replaces it in place.
 * Sweeping collects the dead keys first and deletes them after, since an
 * idmap must not change its keys while being iterated.
 *
 * Invariants: at most one lease per file; ids are unique within a table
 * (next_id only grows).
 */
#include "lease.h"

#include <errno.h>
#include <stdlib.h>

#include "errors.h"
#include "idmap.h"

struct lease {
	uint64_t file_id;
	uint64_t id;
	uint64_t expires_ms;
};

struct lease_table {
	struct idmap *by_file;
	uint64_t lease_ms;
	uint64_t next_id;
};

struct lease_table *lease_new(uint64_t lease_ms, uint64_t first_id)
{
	struct lease_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->by_file = idmap_new();
	if (!t->by_file) {
		free(t);
		return NULL;
	}
	t->lease_ms = lease_ms;
	t->next_id = first_id ? first_id : 1;
	return t;
}

void lease_free(struct lease_table *t)
{
	if (!t)
		return;
	size_t pos = 0;
	struct lease *l;
	while ((l = idmap_next(t->by_file, &pos, NULL)))
		free(l);
	idmap_free(t->by_file);
	free(t);
}

static struct lease *live(const struct lease_table *t, uint64_t file_id, uint64_t now_ms)
{
	struct lease *l = idmap_get(t->by_file, file_id);
	return l && now_ms < l->expires_ms ? l : NULL;
}

int lease_acquire(struct lease_table *t, uint64_t file_id, uint64_t now_ms, uint64_t *lease_id)
{
	struct lease *l = idmap_get(t->by_file, file_id);
	if (l && now_ms < l->expires_ms)
		return -CAIRN_ELEASE;
	if (!l) {
		l = malloc(sizeof(*l));
		if (!l)
			return -ENOMEM;
		if (idmap_put(t->by_file, file_id, l) < 0) {
			free(l);
			return -ENOMEM;
		}
	}
	l->file_id = file_id;
	l->id = t->next_id++;
	if (!t->next_id)
		t->next_id = 1;
	l->expires_ms = now_ms + t->lease_ms;
	*lease_id = l->id;
	return 0;
}

int lease_check(const struct lease_table *t, uint64_t file_id, uint64_t lease_id, uint64_t now_ms)
{
	struct lease *l = live(t, file_id, now_ms);
	return l && l->id == lease_id ? 0 : -CAIRN_ELEASE;
}

int lease_renew(struct lease_table *t, uint64_t file_id, uint64_t lease_id, uint64_t now_ms)
{
	struct lease *l = live(t, file_id, now_ms);
	if (!l || l->id != lease_id)
		return -CAIRN_ELEASE;
	l->expires_ms = now_ms + t->lease_ms;
	return 0;
}

int lease_release(struct lease_table *t, uint64_t file_id, uint64_t lease_id, uint64_t now_ms)
{
	struct lease *l = live(t, file_id, now_ms);
	if (!l || l->id != lease_id)
		return -CAIRN_ELEASE;
	free(idmap_del(t->by_file, file_id));
	return 0;
}

int lease_held(const struct lease_table *t, uint64_t file_id, uint64_t now_ms)
{
	return live(t, file_id, now_ms) != NULL;
}

size_t lease_expire(struct lease_table *t, uint64_t now_ms, lease_expired_fn fn, void *arg)
{
	size_t n = 0, cap = 0, pos = 0;
	uint64_t *dead = NULL;
	struct lease *l;
	while ((l = idmap_next(t->by_file, &pos, NULL))) {
		if (now_ms < l->expires_ms)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *v = realloc(dead, cap * sizeof(*v));
			if (!v)
				break; /* the rest go on a later sweep */
			dead = v;
		}
		dead[n++] = l->file_id;
	}
	for (size_t i = 0; i < n; i++) {
		l = idmap_del(t->by_file, dead[i]);
		if (fn)
			fn(arg, l->file_id, l->id);
		free(l);
	}
	free(dead);
	return n;
}

size_t lease_count(const struct lease_table *t)
{
	return idmap_count(t->by_file);
}

uint64_t lease_ms(const struct lease_table *t)
{
	return t->lease_ms;
}
