/*
 * placement: picks distinct chunkservers for new replicas (the rules are
 * in placement.h).
 *
 * Each pick is a few passes over the candidates not yet chosen: narrow to
 * the non-busy ones (if any), then to those on the least-used racks, then
 * draw by weight. No memory is allocated: "chosen" and the rack counts
 * are recomputed from out, O(n * want) per pass, which for a handful of
 * replicas over a few thousand nodes is well under a millisecond.
 * Invariant: out never holds an index twice (an eligible candidate is
 * never in out, and there is one while k < want <= n).
 */
#include "placement.h"
#include "util.h"

#include <stdint.h>
#include <string.h>

uint64_t placement_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x ? x : 0x9E3779B97F4A7C15ull;
	return x * 0x2545F4914F6CDD1Dull;
}

static int same_rack(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static double weight(const struct placement_cand *c)
{
	return (double)((c->free >> 20) + 1) / (1.0 + (double)c->load);
}

/* The replicas the chunk already has, on their racks. */
struct held {
	const char *const *racks;
	size_t n;
};

/* How many of the held replicas and the k picks so far are on cand's rack. */
static size_t rack_count(const struct placement_cand *cands, const size_t *out, size_t k,
			 const struct held *h, const struct placement_cand *cand)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n; i++)
		n += same_rack(h->racks[i], cand->rack);
	for (size_t i = 0; i < k; i++)
		n += same_rack(cands[out[i]].rack, cand->rack);
	return n;
}

static int chosen(const size_t *out, size_t k, size_t i)
{
	for (size_t j = 0; j < k; j++)
		if (out[j] == i)
			return 1;
	return 0;
}

/*
 * Whether candidate i may be the next pick: not chosen yet, not busy
 * unless all open ones are (calm == 0), and on a least-used rack
 * (rack_min; SIZE_MAX: any rack).
 */
static int eligible(const struct placement_cand *cands, const size_t *out, size_t k,
		    const struct held *h, size_t i, int calm, uint64_t busy_above, size_t rack_min)
{
	if (chosen(out, k, i) || (calm && cands[i].load > busy_above))
		return 0;
	return rack_min == SIZE_MAX || rack_count(cands, out, k, h, &cands[i]) == rack_min;
}

/* The next pick after out[0..k). */
static size_t pick(const struct placement_cand *cands, size_t n, const size_t *out, size_t k,
		   const struct held *h, uint64_t busy_above, uint64_t *rng)
{
	int calm = 0;
	for (size_t i = 0; i < n; i++)
		calm |= !chosen(out, k, i) && cands[i].load <= busy_above;
	size_t rack_min = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		if (!eligible(cands, out, k, h, i, calm, busy_above, SIZE_MAX))
			continue;
		size_t r = rack_count(cands, out, k, h, &cands[i]);
		if (r < rack_min)
			rack_min = r;
	}
	double total = 0;
	for (size_t i = 0; i < n; i++)
		if (eligible(cands, out, k, h, i, calm, busy_above, rack_min))
			total += weight(&cands[i]);
	double x = (double)(placement_rand(rng) >> 11) / 9007199254740992.0 * total;
	size_t last = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		if (!eligible(cands, out, k, h, i, calm, busy_above, rack_min))
			continue;
		last = i;
		x -= weight(&cands[i]);
		if (x < 0)
			return i;
	}
	CAIRN_ASSERT(last != SIZE_MAX);
	return last; /* rounding left x at or just above 0 */
}

size_t placement_choose(const struct placement_cand *cands, size_t n, size_t want, uint64_t *rng,
			size_t *out)
{
	return placement_choose_more(cands, n, NULL, 0, want, rng, out);
}

size_t placement_choose_more(const struct placement_cand *cands, size_t n, const char *const *held,
			     size_t nheld, size_t want, uint64_t *rng, size_t *out)
{
	const struct held h = {held, nheld};
	if (want > n)
		want = n;
	if (!want)
		return 0;
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += cands[i].load;
	uint64_t busy_above = 2 * (sum / n) + PLACEMENT_BUSY_SLACK;
	for (size_t k = 0; k < want; k++)
		out[k] = pick(cands, n, out, k, &h, busy_above, rng);
	return want;
}
