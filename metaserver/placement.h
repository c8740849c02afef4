/*
 * placement: where a chunk's new replicas go (DESIGN §4). Pure: no
 * registry, no clock, a caller-held random state.
 *
 * Given candidate chunkservers (the caller passes only live ones with room
 * for a chunk, minus those to avoid), picks up to `want` distinct ones, one
 * at a time:
 *
 *  1. nodes whose load is over twice the mean plus PLACEMENT_BUSY_SLACK
 *     are busy: they are taken only when no other candidate is left;
 *  2. racks: the pick comes from the racks holding the fewest replicas
 *     so far, counting those the chunk already has (held, for copies of
 *     an existing chunk) and those chosen in this call (an empty rack
 *     name is one rack of its own), so two racks with room always both
 *     get a replica, and replicas spread evenly over racks when there
 *     are more;
 *  3. within those, a weighted random choice: weight free space (MiB + 1)
 *     divided by (1 + load).
 *
 * The order of the picks is the write chain's order (the first is the
 * primary).
 */
#ifndef CAIRN_PLACEMENT_H
#define CAIRN_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#define PLACEMENT_BUSY_SLACK 2u

struct placement_cand {
	const char *rack; /* "" or NULL: unknown */
	uint64_t free;	  /* bytes */
	uint32_t load;	  /* calls in progress */
};

/*
 * Chooses min(want, n) distinct candidates; out[0..k) gets their indexes
 * into cands, in chain order; returns k. rng is the caller's random state
 * (any non-zero value to start; placement_rand() advances it). Any thread,
 * on its own arguments.
 */
size_t placement_choose(const struct placement_cand *cands, size_t n, size_t want, uint64_t *rng,
			size_t *out);

/*
 * As placement_choose(), for more replicas of a chunk that has nheld
 * already, on the racks held[0..nheld) (borrowed; "" or NULL: unknown).
 */
size_t placement_choose_more(const struct placement_cand *cands, size_t n, const char *const *held,
			     size_t nheld, size_t want, uint64_t *rng, size_t *out);

/* The next number of a xorshift64* stream; *state must be non-zero. */
uint64_t placement_rand(uint64_t *state);

#endif
