/*
 * lease: the write-lease table (contract in lease.h).
 *
 * One idmap from file id to a small struct. A lease is live while
 * now_ms < expires_ms. Acquiring over a dead lease replaces it in place.
 * Sweeping collects the dead keys first and deletes them after, since an
 * idmap must not change its keys while being iterated.
 *
 * Leases across a metaserver restart: a grace period, as NFSv4 recovers
 * its locks, rather than a record of every grant and release in the op
 * log (two more fdatasyncs per write-open, for state that lives a minute).
 * At start the metaserver puts the new table in grace for lease_ms and
 * names the files that existed (ids below ns_next_id()). During the grace:
 *  - a writer presenting a lease id from before the restart (below
 *    first_id: ids are wall-clock microseconds at start, counting up) for
 *    a file no live lease holds gets that lease again, same id, on its
 *    next allocate, renewal or release (lease_reclaim()); it goes on
 *    writing as if nothing happened;
 *  - a new writer of a file that existed is refused with -EAGAIN, which
 *    clients retry with back-off, since its old writer may be on its way
 *    back; files created after the restart are not affected.
 * Why it is sound: a lease granted before the restart was last renewed
 * before it and so has expired by the end of the grace, exactly as it
 * would have without a restart; until then no one but its holder can get
 * the file. A lease reclaimed and then released or expired cannot be
 * reclaimed again (its id stays in reclaimed). What it costs: writers of
 * existing files wait up to lease_ms after a metaserver restart.
 *
 * Invariants: at most one lease per file; ids granted by a table are unique
 * and at least first_id (next_id only grows), so a reclaimed id (below
 * first_id) never collides with one granted here.
 */
#include "lease.h"

#include <errno.h>
#include <stdlib.h>

#include "errors.h"
#include "idmap.h"
#include "util.h"

struct lease {
	uint64_t file_id;
	uint64_t id;
	uint64_t expires_ms;
};

struct lease_table {
	struct idmap *by_file;
	struct idmap *reclaimed; /* lease ids reclaimed during the grace (values: the table) */
	uint64_t lease_ms;
	uint64_t first_id;
	uint64_t next_id;
	uint64_t grace_until; /* monotonic ms; 0: no grace */
	uint64_t files_below; /* files in grace: id < files_below */
};

struct lease_table *lease_new(uint64_t lease_ms, uint64_t first_id)
{
	struct lease_table *t = xcalloc(1, sizeof(*t));
	t->by_file = idmap_new();
	t->reclaimed = idmap_new();
	t->lease_ms = lease_ms;
	t->first_id = t->next_id = first_id ? first_id : 1;
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
	idmap_free(t->reclaimed);
	free(t);
}

static struct lease *live(const struct lease_table *t, uint64_t file_id, uint64_t now_ms)
{
	struct lease *l = idmap_get(t->by_file, file_id);
	return l && now_ms < l->expires_ms ? l : NULL;
}

static int in_grace(const struct lease_table *t, uint64_t file_id, uint64_t now_ms)
{
	return now_ms < t->grace_until && file_id < t->files_below;
}

/* Makes id file_id's lease, over a dead one if there is one. */
static int grant(struct lease_table *t, uint64_t file_id, uint64_t id, uint64_t now_ms)
{
	struct lease *l = idmap_get(t->by_file, file_id);
	if (!l) {
		l = xmalloc(sizeof(*l));
		idmap_put(t->by_file, file_id, l);
	}
	l->file_id = file_id;
	l->id = id;
	l->expires_ms = now_ms + t->lease_ms;
	return 0;
}

int lease_acquire(struct lease_table *t, uint64_t file_id, uint64_t now_ms, uint64_t *lease_id)
{
	if (live(t, file_id, now_ms))
		return -CAIRN_ELEASE;
	if (in_grace(t, file_id, now_ms))
		return -EAGAIN;
	int err = grant(t, file_id, t->next_id, now_ms);
	if (err)
		return err;
	*lease_id = t->next_id++;
	if (!t->next_id)
		t->next_id = 1;
	return 0;
}

void lease_grace(struct lease_table *t, uint64_t until_ms, uint64_t files_below)
{
	t->grace_until = until_ms;
	t->files_below = files_below;
}

int lease_in_grace(const struct lease_table *t, uint64_t now_ms)
{
	return now_ms < t->grace_until;
}

int lease_reclaim(struct lease_table *t, uint64_t file_id, uint64_t lease_id, uint64_t now_ms)
{
	struct lease *l = live(t, file_id, now_ms);
	if (l)
		return l->id == lease_id ? 0 : -CAIRN_ELEASE;
	if (!in_grace(t, file_id, now_ms) || lease_id == 0 || lease_id >= t->first_id ||
	    idmap_get(t->reclaimed, lease_id))
		return -CAIRN_ELEASE;
	idmap_put(t->reclaimed, lease_id, t);
	int err = grant(t, file_id, lease_id, now_ms);
	if (err)
		idmap_del(t->reclaimed, lease_id);
	return err ? err : 1;
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
			dead = xrealloc(dead, cap * sizeof(*dead));
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
