/*
 * test_repl: the replication planner with an injected clock, over a real
 * registry and chunk map: the most endangered chunks get copies first
 * when the throttle binds; per-node and total limits hold; copies go to
 * live nodes without the chunk and name live sources; copies in flight
 * count (no second copy planned) until done, failed, timed out or their
 * target died; a chunk under a write lease is left alone; surplus
 * replicas are trimmed from the fullest node and queued for deletion;
 * a corrupt replica is reported by repl_health() and deleted only once
 * the chunk is whole again; a random run against a simple model heals
 * every chunk to its target within a bounded number of scans.
 * Decommissioning drains a node without a chunk below target; racks:
 * copies and trims keep a chunk on two racks; rebalancing brings two
 * empty nodes within the threshold by copy-then-trim moves, and reports
 * itself blocked when no chunk can move.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkmap.h"
#include "nodes.h"
#include "repl.h"

#include "check.h"

#define GIB	(1ull << 30)
#define NODES	8
#define DEAD_MS 1000

/* What every chunk wants in a test: target replicas, and files held by a writer. */
struct world {
	struct nodes *n;
	struct chunkmap *cm;
	struct nodes_node *node[NODES];
	uint32_t target;
	uint64_t held_file; /* 0: none */
	uint64_t now;
	uint64_t rng;
	uint64_t cap; /* every node's capacity */
};

static int want(void *arg, const struct chunkmap_chunk *c, struct repl_want *w)
{
	struct world *wd = arg;
	w->target = wd->target;
	w->length = 1 << 20;
	w->hold = c->file_id == wd->held_file;
	return 0;
}

static void world_init(struct world *w, int nnodes, uint32_t target)
{
	memset(w, 0, sizeof(*w));
	w->n = nodes_new(DEAD_MS);
	w->cm = chunkmap_new();
	w->target = target;
	w->rng = 42;
	w->cap = 10 * GIB;
	for (int i = 0; i < nnodes; i++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "10.0.0.%d:7000", i + 1);
		nodes_register(w->n, addr, "", 10 * GIB, (uint64_t)i * GIB, 0, &w->node[i]);
	}
}

static void world_free(struct world *w)
{
	chunkmap_free(w->cm);
	nodes_free(w->n);
}

/* Chunk id (file id, index 0) with replicas on the nodes listed (ending with -1). */
static void chunk(struct world *w, uint64_t id, uint64_t file, ...)
{
	va_list ap;
	va_start(ap, file);
	chunkmap_set(w->cm, id, file, 0, 1, NULL, NULL);
	for (int node = va_arg(ap, int); node >= 0; node = va_arg(ap, int))
		chunkmap_add_replica(w->cm, id, (uint32_t)node, 1, 1 << 20);
	va_end(ap);
}

/* Moves the clock to now, every node but those in dead_mask heartbeating each 500 ms. */
static void tick(struct world *w, uint64_t now, unsigned dead_mask)
{
	while (w->now < now) {
		w->now = w->now + 500 < now ? w->now + 500 : now;
		for (size_t i = 0; i < nodes_count(w->n); i++) {
			struct nodes_node *x;
			if (!(dead_mask & (1u << i)))
				nodes_heartbeat(w->n, w->node[i]->addr, w->cap, w->node[i]->used, 0,
						0, w->now, &x);
		}
	}
}

static int scan(struct repl *r, struct world *w, struct repl_stats *st)
{
	return repl_scan(r, w->n, w->cm, w->now, want, w, &w->rng, st);
}

/* Node reports cmd's copy done: recorded, then ended. */
static void finish(struct repl *r, struct world *w, uint32_t node, const struct repl_cmd *cmd)
{
	CHECK(chunkmap_add_replica(w->cm, cmd->chunk_id, node, cmd->version, cmd->length) == 0);
	CHECK(repl_done(r, cmd->chunk_id, node) == 0);
}

/* Hands out and completes every copy planned and not handed out yet. */
static size_t complete_all(struct repl *r, struct world *w)
{
	size_t done = 0;
	for (size_t i = 0; i < nodes_count(w->n); i++) {
		struct repl_cmd cmds[64];
		size_t k = repl_take(r, (uint32_t)i, cmds, 64);
		for (size_t j = 0; j < k; j++)
			finish(r, w, (uint32_t)i, &cmds[j]);
		done += k;
	}
	return done;
}

/* Replicas of id on live nodes. */
static uint32_t live(struct world *w, uint64_t id)
{
	const struct chunkmap_chunk *c = chunkmap_get(w->cm, id);
	uint32_t l = 0;
	for (uint32_t i = 0; c && i < c->nreplicas; i++)
		l += nodes_live(w->n, nodes_get(w->n, c->replicas[i].node), w->now);
	return l;
}

static void test_order_and_throttle(void)
{
	struct world w;
	struct repl_limits lim = {1, 8, 2, 60000};
	struct repl *r = repl_new(&lim);
	struct repl_stats st;
	world_init(&w, 5, 3);
	/* node 4 died: chunk 10 keeps two replicas, chunk 20 one, chunk 30 all three */
	chunk(&w, 10, 1, 0, 1, 4, -1);
	chunk(&w, 20, 2, 2, 4, -1);
	chunk(&w, 30, 3, 0, 1, 2, -1);
	tick(&w, 2000, 1u << 4);
	CHECK(scan(r, &w, &st) == 0);
	CHECK(st.chunks == 3 && st.under == 2 && st.missing == 0 && st.over == 0);
	/* total limit 2: both copies go to chunk 20 (one live replica) first */
	CHECK(repl_inflight(r) == 2 && repl_inflight_chunk(r, 20) == 2 &&
	      repl_inflight_chunk(r, 10) == 0);
	CHECK(st.started == 2 && st.waiting == 1);
	/* one copy per target node, never onto the dead node or a holder */
	size_t per[5] = {0};
	struct repl_cmd cmds[5][8];
	for (uint32_t i = 0; i < 5; i++) {
		size_t k = repl_take(r, i, cmds[i], 8);
		per[i] = k;
		for (size_t j = 0; j < k; j++) {
			const struct repl_cmd *c = &cmds[i][j];
			CHECK(c->chunk_id == 20 && c->version == 1 && c->file_id == 2);
			CHECK(c->nsources == 1 && c->sources[0] == 2 && c->length == 1 << 20);
		}
		CHECK(repl_take(r, i, cmds[i] + k, 1) == 0); /* handed out once */
	}
	CHECK(per[4] == 0 && per[2] == 0 && per[0] + per[1] + per[3] == 2);
	CHECK(per[0] <= 1 && per[1] <= 1 && per[3] <= 1);
	/* in flight: not planned again */
	CHECK(scan(r, &w, &st) == 0 && st.started == 0 && repl_inflight(r) == 2);
	for (uint32_t i = 0; i < 5; i++)
		for (size_t j = 0; j < per[i]; j++)
			finish(r, &w, i, &cmds[i][j]);
	CHECK(live(&w, 20) == 3 && repl_inflight(r) == 0);
	CHECK(scan(r, &w, &st) == 0 && st.under == 1 && st.started == 1);
	complete_all(r, &w);
	CHECK(live(&w, 10) == 3);
	CHECK(scan(r, &w, &st) == 0 && st.under == 0 && st.started == 0 && st.waiting == 0);
	repl_free(r);
	world_free(&w);
}

static void test_source_limit(void)
{
	struct world w;
	struct repl_limits lim = {4, 1, 64, 60000};
	struct repl *r = repl_new(&lim);
	struct repl_stats st;
	world_init(&w, 4, 2);
	/* all three chunks have their only replica on node 0: one copy at a time from it */
	chunk(&w, 1, 1, 0, -1);
	chunk(&w, 2, 1, 0, -1);
	chunk(&w, 3, 1, 0, -1);
	tick(&w, 10, 0);
	CHECK(scan(r, &w, &st) == 0 && st.started == 1 && repl_inflight(r) == 1);
	CHECK(repl_inflight_chunk(r, 1) == 1);
	repl_free(r);
	world_free(&w);
}

static void test_end_of_copies(void)
{
	struct world w;
	struct repl_limits lim = {4, 4, 64, 5000};
	struct repl *r = repl_new(&lim);
	struct repl_stats st;
	struct repl_cmd cmds[8];
	world_init(&w, 3, 3);
	chunk(&w, 7, 1, 0, -1);
	tick(&w, 10, 0);
	CHECK(scan(r, &w, &st) == 0 && st.started == 2);
	/* a failed copy ends; the next scan plans it again */
	CHECK(repl_take(r, 1, cmds, 8) == 1 && repl_done(r, 7, 1) == 0);
	CHECK(repl_done(r, 7, 1) == -ENOENT && repl_inflight(r) == 1);
	CHECK(scan(r, &w, &st) == 0 && st.started == 1 && repl_inflight(r) == 2);
	/* a target that registers again loses its copies */
	CHECK(repl_node_reset(r, 2) == 1 && repl_inflight(r) == 1);
	/* a target that dies: forgotten at the next scan (then planned elsewhere: none left) */
	tick(&w, 1500, 1u << 1);
	CHECK(scan(r, &w, &st) == 0 && st.expired == 1);
	CHECK(repl_inflight_chunk(r, 7) == 1); /* node 2 again */
	/* a copy past its timeout is forgotten */
	tick(&w, 7000, 1u << 1);
	CHECK(scan(r, &w, &st) == 0 && st.expired == 1 && st.started == 1);
	repl_free(r);
	world_free(&w);
}

static void test_hold_missing_trim(void)
{
	struct world w;
	struct repl *r = repl_new(NULL);
	struct repl_stats st;
	uint64_t ids[8];
	world_init(&w, 5, 2);
	chunk(&w, 1, 9, 0, -1);		 /* under a writer's lease */
	chunk(&w, 2, 2, -1);		 /* no replica at all */
	chunk(&w, 3, 3, 0, 1, 2, 3, -1); /* four: two too many */
	w.held_file = 9;
	tick(&w, 10, 0);
	CHECK(scan(r, &w, &st) == 0);
	CHECK(st.held == 1 && st.missing == 1 && st.over == 1 && st.trimmed == 2);
	CHECK(repl_inflight(r) == 0 && live(&w, 3) == 2);
	/* the fullest nodes (used 3 GiB and 2 GiB) lose theirs */
	CHECK(nodes_take_deletes(w.node[3], ids, 8) == 1 && ids[0] == 3);
	CHECK(nodes_take_deletes(w.node[2], ids, 8) == 1 && ids[0] == 3);
	CHECK(nodes_take_deletes(w.node[0], ids, 8) == 0);
	const struct chunkmap_chunk *c = chunkmap_get(w.cm, 3);
	CHECK(chunkmap_has(c, 0) && chunkmap_has(c, 1));
	CHECK(repl_health(r, w.n, chunkmap_get(w.cm, 2), 2, 2, w.now, NULL) == REPL_MISSING);
	CHECK(repl_health(r, w.n, NULL, 99, 2, w.now, NULL) == REPL_MISSING);
	CHECK(repl_health(r, w.n, chunkmap_get(w.cm, 1), 1, 2, w.now, NULL) == REPL_UNDER);
	/* the writer closes: the chunk gets its copy */
	w.held_file = 0;
	CHECK(scan(r, &w, &st) == 0 && st.started == 1);
	repl_free(r);
	world_free(&w);
}

static void test_bad(void)
{
	struct world w;
	struct repl *r = repl_new(NULL);
	struct repl_stats st;
	uint64_t ids[8];
	world_init(&w, 4, 3);
	chunk(&w, 5, 1, 0, 1, 2, -1);
	tick(&w, 10, 0);
	/* node 1's replica is found corrupt: out of the map, remembered */
	CHECK(chunkmap_drop_replica(w.cm, 5, 1) == 0);
	CHECK(repl_mark_bad(r, 5, 1, REPL_BAD_CORRUPT) == 0 && repl_nbad(r) == 1);
	CHECK(repl_health(r, w.n, chunkmap_get(w.cm, 5), 5, 3, w.now, NULL) == REPL_CORRUPT);
	CHECK(scan(r, &w, &st) == 0 && st.started == 1 && st.cleared == 0);
	/* not deleted before the chunk is whole */
	CHECK(nodes_take_deletes(w.node[1], ids, 8) == 0);
	complete_all(r, &w);
	CHECK(scan(r, &w, &st) == 0 && st.cleared == 1 && repl_nbad(r) == 0);
	if (chunkmap_has(chunkmap_get(w.cm, 5), 1))
		CHECK(nodes_take_deletes(w.node[1], ids, 8) == 0); /* re-made in place */
	else
		CHECK(nodes_take_deletes(w.node[1], ids, 8) == 1 && ids[0] == 5);
	CHECK(repl_health(r, w.n, chunkmap_get(w.cm, 5), 5, 3, w.now, NULL) == REPL_HEALTHY);
	/* stale: reported until settled; a bad replica of a chunk that is gone is deleted */
	CHECK(repl_mark_bad(r, 5, 3, REPL_BAD_STALE) == 0);
	CHECK(repl_health(r, w.n, chunkmap_get(w.cm, 5), 5, 3, w.now, NULL) == REPL_STALE);
	CHECK(repl_mark_bad(r, 77, 2, REPL_BAD_CORRUPT) == 0);
	CHECK(scan(r, &w, &st) == 0 && st.cleared == 2 && repl_nbad(r) == 0);
	CHECK(nodes_take_deletes(w.node[2], ids, 8) == 1 && ids[0] == 77);
	CHECK(nodes_take_deletes(w.node[3], ids, 8) == 0); /* stale ones were deleted already */
	/* the only replica corrupt: corrupt, not missing */
	chunk(&w, 6, 1, 0, -1);
	chunkmap_drop_replica(w.cm, 6, 0);
	repl_mark_bad(r, 6, 0, REPL_BAD_CORRUPT);
	CHECK(repl_health(r, w.n, chunkmap_get(w.cm, 6), 6, 3, w.now, NULL) == REPL_CORRUPT);
	repl_free(r);
	world_free(&w);
}

/* Random clusters lose nodes; every chunk with a live replica heals to its target. */
static void test_random_heal(void)
{
	srand(7);
	for (int round = 0; round < 50; round++) {
		struct world w;
		struct repl_limits lim = {2, 2, 8, 60000};
		struct repl *r = repl_new(&lim);
		struct repl_stats st;
		int nn = 3 + rand() % 6;
		uint32_t target = 1 + (uint32_t)(rand() % 3);
		world_init(&w, nn, target);
		for (uint64_t id = 1; id <= 40; id++) {
			chunkmap_set(w.cm, id, id, 0, 1, NULL, NULL);
			int k = 1 + rand() % nn;
			for (int j = 0; j < k; j++)
				chunkmap_add_replica(w.cm, id, (uint32_t)(rand() % nn), 1, 1);
		}
		unsigned dead = (unsigned)(rand() % nn) == 0 ? 0 : 1u << (rand() % nn);
		int alive = nn - (dead != 0);
		tick(&w, 2000, dead);
		for (int s = 0; s < 200; s++) {
			CHECK(scan(r, &w, &st) == 0);
			complete_all(r, &w);
			if (!st.started && !st.trimmed && !st.waiting)
				break;
		}
		for (uint64_t id = 1; id <= 40; id++) {
			uint32_t l = live(&w, id);
			uint32_t want_l = target < (uint32_t)alive ? target : (uint32_t)alive;
			CHECK(l == 0 || l == want_l);
		}
		repl_free(r);
		world_free(&w);
	}
}

/* Puts node i on rack (registering it again, now). */
static void set_rack(struct world *w, int i, const char *rack)
{
	nodes_register(w->n, w->node[i]->addr, rack, w->cap, w->node[i]->used, w->now, &w->node[i]);
}

/* Distinct racks of id's live replicas. */
static int racks_of(struct world *w, uint64_t id)
{
	const struct chunkmap_chunk *c = chunkmap_get(w->cm, id);
	const char *seen[8];
	int n = 0;
	for (uint32_t i = 0; c && i < c->nreplicas; i++) {
		const struct nodes_node *node = nodes_get(w->n, c->replicas[i].node);
		if (!nodes_live(w->n, node, w->now))
			continue;
		int dup = 0;
		for (int j = 0; j < n; j++)
			dup |= strcmp(seen[j], node->rack) == 0;
		if (!dup && n < 8)
			seen[n++] = node->rack;
	}
	return n;
}

static void test_decommission(void)
{
	struct world w;
	struct repl *r = repl_new(NULL);
	struct repl_stats st;
	world_init(&w, 4, 2);
	for (uint64_t id = 1; id <= 6; id++)
		chunk(&w, id, id, 0, 1, -1);
	tick(&w, 10, 0);
	CHECK(nodes_decommission(w.n, w.node[0]->addr, 1) == 1);
	for (int s = 0; s < 20; s++) {
		CHECK(scan(r, &w, &st) == 0);
		/* never a copy onto it; every chunk stays healthy (its replicas still serve) */
		struct repl_cmd cmds[8];
		CHECK(repl_take(r, 0, cmds, 8) == 0);
		for (uint64_t id = 1; id <= 6; id++)
			CHECK(repl_health(r, w.n, chunkmap_get(w.cm, id), id, 2, w.now, NULL) ==
			      REPL_HEALTHY);
		complete_all(r, &w);
	}
	CHECK(chunkmap_node_count(w.cm, 0) == 0);
	for (uint64_t id = 1; id <= 6; id++)
		CHECK(live(&w, id) == 2 && !chunkmap_has(chunkmap_get(w.cm, id), 0));
	uint64_t ids[16];
	CHECK(nodes_take_deletes(w.node[0], ids, 16) == 6);
	repl_free(r);
	world_free(&w);
}

static void test_racks(void)
{
	struct world w;
	struct repl *r = repl_new(NULL);
	struct repl_stats st;
	uint64_t ids[8];
	world_init(&w, 4, 2);
	tick(&w, 10, 0);
	set_rack(&w, 0, "A");
	set_rack(&w, 1, "A");
	set_rack(&w, 2, "B");
	set_rack(&w, 3, "B");
	chunk(&w, 1, 1, 0, 1, -1);    /* both on rack A: misplaced */
	chunk(&w, 2, 2, 0, 1, 2, -1); /* one over; node 2 is the fullest but alone on B */
	chunk(&w, 3, 3, 0, 2, -1);    /* fine, until node 2 dies */
	CHECK(scan(r, &w, &st) == 0 && st.misplaced == 1 && st.trimmed == 1);
	CHECK(chunkmap_has(chunkmap_get(w.cm, 2), 2) && racks_of(&w, 2) == 2);
	CHECK(nodes_take_deletes(w.node[1], ids, 8) == 1 && ids[0] == 2);
	complete_all(r, &w);
	CHECK(live(&w, 1) == 3 && racks_of(&w, 1) == 2);
	CHECK(scan(r, &w, &st) == 0 && st.trimmed == 1 && st.misplaced == 0);
	CHECK(live(&w, 1) == 2 && racks_of(&w, 1) == 2);
	/* node 2 (rack B) dies: chunk 3's copy goes to node 3, the other B node */
	tick(&w, 2000, 1u << 2);
	for (int i = 0; i < 4; i++) {
		CHECK(scan(r, &w, &st) == 0);
		complete_all(r, &w);
	}
	CHECK(chunkmap_has(chunkmap_get(w.cm, 3), 3) && !chunkmap_has(chunkmap_get(w.cm, 3), 1));
	for (uint64_t id = 1; id <= 3; id++)
		CHECK(racks_of(&w, id) == 2);
	repl_free(r);
	world_free(&w);
}

/* Estimated utilisation of node i (1 MiB chunks). */
static double util(struct world *w, uint32_t i)
{
	return (double)chunkmap_node_count(w->cm, i) * (double)repl_replica_bytes(1 << 20) /
	       (double)w->cap;
}

static void test_rebalance(void)
{
	struct world w;
	struct repl *r = repl_new(NULL);
	struct repl_stats st;
	struct repl_balance b;
	world_init(&w, 5, 3);
	w.cap = 64ull << 20;
	for (uint64_t id = 1; id <= 30; id++)
		chunk(&w, id, id, 0, 1, 2, -1);
	for (int i = 0; i < 5; i++)
		w.node[i]->used = 0; /* tick() reports it */
	tick(&w, 10, 0);
	repl_set_threshold(r, 10);
	int scans = 0;
	for (; scans < 100; scans++) {
		CHECK(scan(r, &w, &st) == 0);
		repl_balance(r, &b);
		for (uint64_t id = 1; id <= 30; id++)
			CHECK(live(&w, id) >= 3); /* never below target */
		if (b.balanced && !st.moves && !st.trimmed)
			break;
		complete_all(r, &w);
	}
	CHECK(scans < 100 && b.balanced && !b.blocked && b.moved > 0 && b.nodes == 5);
	double mean = 0;
	for (uint32_t i = 0; i < 5; i++)
		mean += util(&w, i) / 5;
	for (uint32_t i = 0; i < 5; i++)
		CHECK(util(&w, i) - mean < 0.10 && mean - util(&w, i) < 0.10);
	CHECK(util(&w, 3) > 0.15 && util(&w, 4) > 0.15);
	for (uint64_t id = 1; id <= 30; id++)
		CHECK(live(&w, id) == 3);
	CHECK(b.moved == (uint64_t)(chunkmap_node_count(w.cm, 3) + chunkmap_node_count(w.cm, 4)));
	/* no threshold: nothing moves */
	repl_set_threshold(r, 0);
	chunk(&w, 99, 99, 0, 1, 2, -1);
	CHECK(scan(r, &w, &st) == 0 && st.moves == 0);
	repl_free(r);
	world_free(&w);
}

static void test_blocked(void)
{
	struct world w;
	struct repl *r = repl_new(NULL);
	struct repl_stats st;
	struct repl_balance b;
	world_init(&w, 2, 2);
	w.cap = 64ull << 20;
	for (uint64_t id = 1; id <= 20; id++)
		chunk(&w, id, id, 0, 1, -1);
	tick(&w, 10, 0);
	/* node 1 reports four times the capacity: out of balance, but both hold everything */
	struct nodes_node *x;
	nodes_heartbeat(w.n, w.node[1]->addr, 4 * w.cap, 0, 0, 0, w.now, &x);
	repl_set_threshold(r, 5);
	CHECK(scan(r, &w, &st) == 0 && st.moves == 0);
	repl_balance(r, &b);
	CHECK(b.blocked && !b.balanced && b.spread > 0.05);
	repl_free(r);
	world_free(&w);
}

int main(void)
{
	test_order_and_throttle();
	test_source_limit();
	test_end_of_copies();
	test_hold_missing_trim();
	test_bad();
	test_random_heal();
	test_decommission();
	test_racks();
	test_rebalance();
	test_blocked();
	if (failures) {
		printf("test_repl: %d failures\n", failures);
		return 1;
	}
	printf("test_repl: ok\n");
	return 0;
}
