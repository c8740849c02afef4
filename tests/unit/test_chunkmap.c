/*
 * test_chunkmap: the chunk map's rules. Replicas of the current version
 * are recorded once per node; older ones are stale and newer ones "ahead",
 * neither recorded; unknown chunks are orphans; a version bump drops every
 * replica (reporting each to the callback); forgetting a chunk reports its
 * replicas; dropping a node removes it everywhere; the replica total stays
 * right throughout. A seeded random run against a model (a version and a
 * node bitmask per chunk) checks the per-node lists through every change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "chunkmap.h"
#include "errors.h"

#include "check.h"

struct drops {
	uint64_t chunk[16];
	uint32_t node[16];
	size_t n;
};

static void on_drop(void *arg, uint64_t chunk_id, uint32_t node)
{
	struct drops *d = arg;
	if (d->n < 16) {
		d->chunk[d->n] = chunk_id;
		d->node[d->n] = node;
	}
	d->n++;
}

static int has_node(const struct chunkmap_chunk *c, uint32_t node)
{
	for (uint32_t i = 0; i < c->nreplicas; i++)
		if (c->replicas[i].node == node)
			return 1;
	return 0;
}

static void test_reports(void)
{
	struct chunkmap *cm = chunkmap_new();
	struct drops d = {0};
	CHECK(chunkmap_set(cm, 10, 5, 0, 3, NULL, NULL) == 0);
	CHECK(chunkmap_set(cm, 11, 5, 1, 1, NULL, NULL) == 0);
	CHECK(chunkmap_count(cm) == 2);
	/* current version: recorded, once per node; the length refreshes */
	CHECK(chunkmap_add_replica(cm, 10, 0, 3, 100) == 0);
	CHECK(chunkmap_add_replica(cm, 10, 1, 3, 100) == 0);
	CHECK(chunkmap_add_replica(cm, 10, 1, 3, 200) == 0);
	const struct chunkmap_chunk *c = chunkmap_get(cm, 10);
	CHECK(c && c->nreplicas == 2 && c->file_id == 5 && c->index == 0 && c->version == 3);
	CHECK(chunkmap_nreplicas(cm) == 2);
	/* stale, ahead, orphan: nothing recorded */
	CHECK(chunkmap_add_replica(cm, 10, 2, 2, 100) == -CAIRN_ESTALE);
	CHECK(chunkmap_add_replica(cm, 10, 2, 4, 100) == 1);
	CHECK(chunkmap_add_replica(cm, 99, 2, 1, 100) == -ENOENT);
	CHECK(chunkmap_get(cm, 10)->nreplicas == 2 && chunkmap_nreplicas(cm) == 2);
	/* a version bump drops every replica, each reported */
	CHECK(chunkmap_set(cm, 10, 5, 0, 4, on_drop, &d) == 0);
	CHECK(d.n == 2 && d.chunk[0] == 10 && d.chunk[1] == 10);
	CHECK((d.node[0] == 0 && d.node[1] == 1) || (d.node[0] == 1 && d.node[1] == 0));
	CHECK(chunkmap_get(cm, 10)->nreplicas == 0 && chunkmap_nreplicas(cm) == 0);
	/* the same version again changes nothing; a lower one is refused */
	CHECK(chunkmap_add_replica(cm, 10, 2, 4, 0) == 0);
	d.n = 0;
	CHECK(chunkmap_set(cm, 10, 5, 0, 4, on_drop, &d) == 0 && d.n == 0);
	CHECK(chunkmap_set(cm, 10, 5, 0, 3, on_drop, &d) == -EINVAL);
	CHECK(chunkmap_set(cm, 12, 5, 2, 0, NULL, NULL) == -EINVAL);
	CHECK(chunkmap_get(cm, 10)->nreplicas == 1 && chunkmap_get(cm, 10)->version == 4);
	/* dropping one replica */
	CHECK(chunkmap_drop_replica(cm, 10, 2) == 0);
	CHECK(chunkmap_drop_replica(cm, 10, 2) == -ENOENT);
	CHECK(chunkmap_drop_replica(cm, 77, 2) == -ENOENT);
	CHECK(chunkmap_nreplicas(cm) == 0);
	/* forgetting a chunk reports its replicas; then reports of it are orphans */
	CHECK(chunkmap_add_replica(cm, 11, 3, 1, 0) == 0);
	CHECK(chunkmap_add_replica(cm, 11, 4, 1, 0) == 0);
	d.n = 0;
	chunkmap_forget(cm, 11, on_drop, &d);
	CHECK(d.n == 2 && chunkmap_get(cm, 11) == NULL && chunkmap_count(cm) == 1);
	CHECK(chunkmap_add_replica(cm, 11, 3, 1, 0) == -ENOENT);
	chunkmap_forget(cm, 11, on_drop, &d); /* twice: a no-op */
	CHECK(d.n == 2 && chunkmap_nreplicas(cm) == 0);
	chunkmap_free(cm);
	chunkmap_free(NULL);
}

static void test_drop_node(void)
{
	struct chunkmap *cm = chunkmap_new();
	for (uint64_t id = 1; id <= 1000; id++) {
		CHECK(chunkmap_set(cm, id, id / 10, id % 10, 1, NULL, NULL) == 0);
		for (uint32_t node = 0; node < 4; node++)
			if ((id + node) % 3 != 0)
				CHECK(chunkmap_add_replica(cm, id, node, 1, id) == 0);
	}
	size_t before = chunkmap_nreplicas(cm), on2 = 0;
	for (uint64_t id = 1; id <= 1000; id++)
		on2 += (id + 2) % 3 != 0;
	CHECK(chunkmap_drop_node(cm, 2) == on2);
	CHECK(chunkmap_nreplicas(cm) == before - on2);
	int ok = 1;
	for (uint64_t id = 1; id <= 1000; id++) {
		const struct chunkmap_chunk *c = chunkmap_get(cm, id);
		ok &= c && !has_node(c, 2) && has_node(c, 0) == ((id + 0) % 3 != 0) &&
		      has_node(c, 1) == ((id + 1) % 3 != 0);
	}
	CHECK(ok);
	CHECK(chunkmap_drop_node(cm, 2) == 0);
	chunkmap_free(cm);
}

/* ---- random run against a model ----------------------------------------------------- */

#define R_CHUNKS 300
#define R_NODES	 8

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd_n(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

struct m_chunk {
	uint64_t version; /* 0: not in the map */
	unsigned nodes;	  /* bit n: node n holds it */
};

static int matches(const struct chunkmap *cm, const struct m_chunk *m)
{
	size_t total = 0, count = 0;
	for (uint64_t id = 1; id <= R_CHUNKS; id++) {
		const struct chunkmap_chunk *c = chunkmap_get(cm, id);
		if (!m[id].version) {
			if (c)
				return 0;
			continue;
		}
		if (!c || c->version != m[id].version)
			return 0;
		unsigned got = 0;
		for (uint32_t i = 0; i < c->nreplicas; i++)
			got |= 1u << c->replicas[i].node;
		if (got != m[id].nodes || c->nreplicas != (uint32_t)__builtin_popcount(got))
			return 0;
		total += c->nreplicas;
		count++;
	}
	return total == chunkmap_nreplicas(cm) && count == chunkmap_count(cm);
}

static void test_random(void)
{
	struct chunkmap *cm = chunkmap_new();
	static struct m_chunk m[R_CHUNKS + 1];
	int ok = 1;
	for (int op = 0; op < 200000 && ok; op++) {
		uint64_t id = 1 + rnd_n(R_CHUNKS);
		uint32_t node = rnd_n(R_NODES);
		struct m_chunk *e = &m[id];
		switch (rnd_n(8)) {
		case 0: /* the namespace adds it, or bumps it */
			if (!e->version || rnd_n(2)) {
				uint64_t v = e->version + 1;
				ok &= chunkmap_set(cm, id, 1, 0, v, NULL, NULL) == 0;
				if (v > 1)
					e->nodes = 0;
				e->version = v;
			}
			break;
		case 1:
			if (rnd_n(4) == 0) {
				chunkmap_forget(cm, id, NULL, NULL);
				*e = (struct m_chunk){0, 0};
			}
			break;
		case 2:
		case 3:
		case 4: {
			uint64_t v = e->version ? e->version - 1 + rnd_n(3) : 1;
			int want = !e->version	    ? -ENOENT
				   : v < e->version ? -CAIRN_ESTALE
				   : v > e->version ? 1
						    : 0;
			ok &= chunkmap_add_replica(cm, id, node, v, 0) == want;
			if (want == 0)
				e->nodes |= 1u << node;
			break;
		}
		case 5:
		case 6: {
			int want = e->version && (e->nodes >> node & 1) ? 0 : -ENOENT;
			ok &= chunkmap_drop_replica(cm, id, node) == want;
			e->nodes &= ~(1u << node);
			break;
		}
		default:
			if (rnd_n(20) == 0) {
				size_t want = 0;
				for (uint64_t k = 1; k <= R_CHUNKS; k++) {
					want += m[k].nodes >> node & 1;
					m[k].nodes &= ~(1u << node);
				}
				ok &= chunkmap_drop_node(cm, node) == want;
			}
			break;
		}
		if (op % 1000 == 0)
			ok &= matches(cm, m);
	}
	CHECK(ok && matches(cm, m));
	/* Dropping every node empties every chunk. */
	for (uint32_t node = 0; node < R_NODES; node++)
		chunkmap_drop_node(cm, node);
	CHECK(chunkmap_nreplicas(cm) == 0);
	chunkmap_free(cm);
}

int main(void)
{
	test_reports();
	test_drop_node();
	test_random();
	if (failures) {
		printf("test_chunkmap: %d failures\n", failures);
		return 1;
	}
	printf("test_chunkmap: ok\n");
	return 0;
}
