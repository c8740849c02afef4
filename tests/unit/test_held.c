/*
 * test_held: the held-replica set against a plain model: unknown chunks
 * come due after the grace from their own report (never a newer
 * version), a node's registration drops its entries, release takes all,
 * and the highest held version of a chunk.
 */
#include <stdio.h>

#include "held.h"

#include "check.h"

struct seen {
	uint64_t chunks[64];
	size_t n;
};

static void collect(void *arg, const struct held_replica *r)
{
	struct seen *s = arg;
	if (s->n < 64)
		s->chunks[s->n++] = r->chunk;
}

int main(void)
{
	struct held *h = held_new();
	struct seen s = {0};
	size_t n;
	CHECK(h && held_list(h, &n) == NULL && n == 0);
	CHECK(held_add(h, 1, 100, 1, HELD_UNKNOWN, 1000) == 0);
	CHECK(held_add(h, 2, 100, 1, HELD_UNKNOWN, 1500) == 0);
	CHECK(held_add(h, 1, 200, 9, HELD_NEWER, 1000) == 0);
	CHECK(held_add(h, 2, 200, 7, HELD_NEWER, 1000) == 0);
	CHECK(held_max_version(h, 200) == 9 && held_max_version(h, 300) == 0);

	/* The grace counts from each replica's own report; newer versions never come due. */
	CHECK(held_due(h, 1999, 1000, collect, &s) == 0 && s.n == 0);
	CHECK(held_due(h, 2000, 1000, collect, &s) == 1 && s.chunks[0] == 100);
	CHECK(held_due(h, 1000000, 1000, collect, &s) == 1 && s.n == 2);
	const struct held_replica *v = held_list(h, &n);
	CHECK(n == 2 && v[0].chunk == 200 && v[0].node == 1 && v[1].node == 2);

	/* A registration replaces the node's report: its entries go. */
	CHECK(held_drop_node(h, 1) == 1);
	v = held_list(h, &n);
	CHECK(n == 1 && v[0].node == 2 && v[0].version == 7);

	/* Release takes everything, in order. */
	CHECK(held_add(h, 3, 300, 1, HELD_UNKNOWN, 5) == 0);
	s.n = 0;
	CHECK(held_release(h, collect, &s) == 2 && s.chunks[0] == 200 && s.chunks[1] == 300);
	held_list(h, &n);
	CHECK(n == 0);
	CHECK(held_why_name(HELD_NEWER)[0] != '\0');
	held_free(h);
	held_free(NULL);
	if (failures) {
		printf("test_held: %d failures\n", failures);
		return 1;
	}
	printf("test_held: ok\n");
	return 0;
}
