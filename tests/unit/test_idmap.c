/*
 * test_idmap: the hash map against a reference model (a flat array of
 * keys searched linearly) over a long seeded random run of puts, gets and
 * deletes on clustered keys (so probe runs collide and wrap), with full
 * iterations compared now and then.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "idmap.h"

#include "check.h"

#define OPS	 400000
#define KEYSPACE 3000

static uint64_t rng = 0x1234567887654321ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

/* The model: val[k] for key k (0: absent). Keys are spread over a few clusters. */
static uintptr_t model[KEYSPACE];

static uint64_t key_of(size_t k)
{
	static const uint64_t base[3] = {0, 1ull << 40, UINT64_MAX - KEYSPACE};
	return base[k % 3] + k;
}

static void full_compare(const struct idmap *m)
{
	size_t n = 0, seen = 0, pos = 0;
	for (size_t k = 0; k < KEYSPACE; k++)
		n += model[k] != 0;
	CHECK(idmap_count(m) == n);
	uint64_t key;
	void *v;
	while ((v = idmap_next(m, &pos, &key))) {
		size_t k = (size_t)(v ? (uintptr_t)v >> 20 : 0);
		CHECK(k < KEYSPACE && key == key_of(k) && (uintptr_t)v == model[k]);
		seen++;
	}
	CHECK(seen == n);
}

int main(void)
{
	struct idmap *m = idmap_new();
	uintptr_t serial = 1;
	for (int op = 0; op < OPS && failures < 20; op++) {
		size_t k = (size_t)(rnd() % KEYSPACE);
		uint64_t key = key_of(k);
		switch (rnd() % 4) {
		case 0:
		case 1: {
			uintptr_t v = ((uintptr_t)k << 20) | (serial++ & 0xfffff);
			if (!(v & 0xfffff))
				v |= 1;
			idmap_put(m, key, (void *)v);
			model[k] = v;
			break;
		}
		case 2:
			CHECK((uintptr_t)idmap_del(m, key) == model[k]);
			model[k] = 0;
			break;
		default:
			CHECK((uintptr_t)idmap_get(m, key) == model[k]);
			break;
		}
		if (op % 20000 == 0)
			full_compare(m);
	}
	full_compare(m);
	/* Emptying it leaves nothing behind. */
	for (size_t k = 0; k < KEYSPACE; k++)
		idmap_del(m, key_of(k));
	CHECK(idmap_count(m) == 0);
	size_t pos = 0;
	CHECK(idmap_next(m, &pos, NULL) == NULL);
	CHECK(idmap_get(m, 0) == NULL && idmap_del(m, 12345) == NULL);
	idmap_free(m);
	idmap_free(NULL);
	if (failures) {
		printf("test_idmap: %d failures\n", failures);
		return 1;
	}
	printf("test_idmap: ok\n");
	return 0;
}
