/*
 * test_placement: placement_choose() with a seeded random state: picks
 * are distinct and as many as asked (or as there are); free space and load
 * weight the choice in about the expected ratios; busy nodes are avoided
 * while others are left; racks: two racks with room both get a replica,
 * three replicas over three racks take one each, unknown racks are one
 * rack; the same seed gives the same picks.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "placement.h"

#include "check.h"

#define GIB    (1ull << 30)
#define TRIALS 20000

static int distinct(const size_t *out, size_t k, size_t n)
{
	for (size_t i = 0; i < k; i++) {
		if (out[i] >= n)
			return 0;
		for (size_t j = 0; j < i; j++)
			if (out[i] == out[j])
				return 0;
	}
	return 1;
}

static void test_distinct(void)
{
	struct placement_cand c[7];
	size_t out[8];
	uint64_t rng = 42;
	for (size_t i = 0; i < 7; i++)
		c[i] = (struct placement_cand){"", (i + 1) * GIB, (uint32_t)i};
	for (int t = 0; t < 2000; t++) {
		size_t want = 1 + (size_t)t % 8, k = placement_choose(c, 7, want, &rng, out);
		CHECK(k == (want < 7 ? want : 7));
		CHECK(distinct(out, k, 7));
	}
	CHECK(placement_choose(c, 0, 3, &rng, out) == 0);
	CHECK(placement_choose(c, 7, 0, &rng, out) == 0);
}

/* Fraction of TRIALS single picks that chose candidate 0. */
static double share_of_first(const struct placement_cand *c, size_t n, uint64_t seed)
{
	size_t out[1], hits = 0;
	uint64_t rng = seed;
	for (int t = 0; t < TRIALS; t++)
		if (placement_choose(c, n, 1, &rng, out) == 1 && out[0] == 0)
			hits++;
	return (double)hits / TRIALS;
}

static void test_weights(void)
{
	/* 9:1 free space: about 90% to the emptier node. */
	struct placement_cand c[2] = {{"", 9 * GIB, 0}, {"", 1 * GIB, 0}};
	double s = share_of_first(c, 2, 7);
	printf("free 9:1 -> %.3f\n", s);
	CHECK(s > 0.87 && s < 0.93);
	/* Equal space, loads 0 and 3 (not busy: mean 1, busy above 4): 4:1. */
	c[0] = (struct placement_cand){"", GIB, 0};
	c[1] = (struct placement_cand){"", GIB, 3};
	s = share_of_first(c, 2, 8);
	printf("load 0 vs 3 -> %.3f\n", s);
	CHECK(s > 0.77 && s < 0.83);
	/* A busy node (load far over twice the mean) is not chosen while others have room. */
	struct placement_cand b[4] = {
	    {"", 100 * GIB, 400}, {"", GIB, 0}, {"", GIB, 1}, {"", GIB, 0}};
	size_t out[4];
	uint64_t rng = 9;
	int busy_picked = 0;
	for (int t = 0; t < 2000; t++) {
		size_t k = placement_choose(b, 4, 3, &rng, out);
		for (size_t i = 0; i < k; i++)
			busy_picked |= out[i] == 0;
	}
	CHECK(!busy_picked);
	/* ... but when all of them are needed, it is the last one taken. */
	CHECK(placement_choose(b, 4, 4, &rng, out) == 4 && out[3] == 0);
	/* Only busy nodes: they are still used. */
	CHECK(placement_choose(b, 1, 1, &rng, out) == 1 && out[0] == 0);
}

static size_t racks_used(const struct placement_cand *c, const size_t *out, size_t k)
{
	size_t n = 0;
	for (size_t i = 0; i < k; i++) {
		int seen = 0;
		for (size_t j = 0; j < i; j++)
			seen |= strcmp(c[out[i]].rack ? c[out[i]].rack : "",
				       c[out[j]].rack ? c[out[j]].rack : "") == 0;
		n += !seen;
	}
	return n;
}

static void test_racks(void)
{
	size_t out[4];
	uint64_t rng = 11;
	/* Rack a is much emptier, but rack b still gets one of every set. */
	struct placement_cand two[5] = {{"a", 50 * GIB, 0},
					{"a", 50 * GIB, 0},
					{"a", 50 * GIB, 0},
					{"b", 1 * GIB, 0},
					{"b", 1 * GIB, 0}};
	int ok = 1;
	for (int t = 0; t < 2000; t++) {
		size_t k = placement_choose(two, 5, 3, &rng, out);
		ok &= k == 3 && racks_used(two, out, k) == 2;
		k = placement_choose(two, 5, 2, &rng, out);
		ok &= k == 2 && racks_used(two, out, k) == 2;
	}
	CHECK(ok);
	/* Three racks, three replicas: one on each. */
	struct placement_cand three[6] = {{"r1", GIB, 0}, {"r1", GIB, 0}, {"r2", GIB, 0},
					  {"r2", GIB, 0}, {"r3", GIB, 0}, {"r3", GIB, 0}};
	ok = 1;
	for (int t = 0; t < 2000; t++)
		ok &= placement_choose(three, 6, 3, &rng, out) == 3 &&
		      racks_used(three, out, 3) == 3 && distinct(out, 3, 6);
	CHECK(ok);
	/* Unknown racks (NULL or "") are one rack: plain weighting among them. */
	struct placement_cand unk[3] = {{NULL, GIB, 0}, {"", GIB, 0}, {"x", GIB, 0}};
	int x_first = 0;
	for (int t = 0; t < 3000; t++) {
		CHECK(placement_choose(unk, 3, 2, &rng, out) == 2);
		x_first += out[0] == 2;
		/* The second pick is from the other rack than the first. */
		CHECK((out[0] == 2) != (out[1] == 2));
	}
	printf("rack x first in %d of 3000\n", x_first);
	CHECK(x_first > 800 && x_first < 1200); /* the first pick: 1 in 3 */
}

/* Copies of an existing chunk go to the racks it is not on yet. */
static void test_held(void)
{
	struct placement_cand c[4] = {{"a", 100ull << 30, 0},
				      {"a", 100ull << 30, 0},
				      {"b", 1ull << 20, 0},
				      {"c", 1ull << 20, 0}};
	const char *held_a[] = {"a"}, *held_ab[] = {"a", "b", "a"};
	uint64_t rng = 5;
	size_t out[4];
	int ok = 1;
	for (int i = 0; i < 500; i++) {
		/* rack a is far emptier, but the chunk is there already */
		ok &= placement_choose_more(c, 4, held_a, 1, 1, &rng, out) == 1 && out[0] >= 2;
		ok &= placement_choose_more(c, 4, held_ab, 3, 1, &rng, out) == 1 && out[0] == 3;
		/* two more: b and c first, one each */
		ok &= placement_choose_more(c, 4, held_a, 1, 2, &rng, out) == 2 &&
		      out[0] + out[1] == 5 && out[0] != out[1];
	}
	CHECK(ok);
}

static void test_seeded(void)
{
	struct placement_cand c[5];
	for (size_t i = 0; i < 5; i++)
		c[i] = (struct placement_cand){"", (i + 1) * GIB, 0};
	size_t a[3], b[3];
	uint64_t r1 = 1234, r2 = 1234;
	int same = 1;
	for (int t = 0; t < 100; t++) {
		placement_choose(c, 5, 3, &r1, a);
		placement_choose(c, 5, 3, &r2, b);
		same &= memcmp(a, b, sizeof(a)) == 0;
	}
	CHECK(same);
}

int main(void)
{
	test_distinct();
	test_weights();
	test_racks();
	test_held();
	test_seeded();
	if (failures) {
		printf("test_placement: %d failures\n", failures);
		return 1;
	}
	printf("test_placement: ok\n");
	return 0;
}
