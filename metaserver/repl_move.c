/*
 * repl_move: the rebalancer's part of a scan (the rules are in repl.h).
 *
 * After the walk has added up each node's bytes and sampled up to
 * REPL_MOVABLE healthy chunks per node, this pass projects every node's
 * bytes with the copies in flight (a copy adds its bytes to its target, a
 * move also takes them from its source), and then, while some node is
 * outside the band around the projected mean, takes the fullest node
 * that may give (over the band, or above the mean while some node is
 * under it) and moves one of its sampled chunks to the emptiest node that
 * may take it (under the band, or below the mean while some node is over
 * it), updating both projections. A node runs out for this scan when none
 * of its sampled chunks can go anywhere. So each scan plans at most the
 * throttle's worth of moves, fullest nodes first, and the next scan (soon
 * after copies end) goes on from the new picture.
 *
 * Nodes busier than twice the mean load (plus PLACEMENT_BUSY_SLACK)
 * neither give nor take in that scan: client calls keep priority.
 *
 * Blocked: a rebalance is on, the spread is over the threshold, no move
 * is in flight and none could be planned for a reason other than the
 * throttle or a busy node (every sampled chunk is on every node that
 * could take it, or would break its racks or overshoot the band).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "chunkmap.h"
#include "nodes.h"
#include "placement.h"
#include "repl_int.h"
#include "util.h"

/* One node as the rebalancer sees it in this scan. */
struct mnode {
	double cap;	/* capacity, bytes */
	double proj;	/* bytes, with the copies in flight */
	int counts;	/* live, not decommissioning, with a capacity */
	int busy;	/* too busy to give or take now */
	int done;	/* nothing more to give in this scan */
	uint32_t tried; /* sampled chunks tried */
};

/* What one planning pass works with. */
struct mpass {
	struct plan *p;
	struct mnode *m;
	double mean, hi, lo;
	int over, under; /* some node over hi, under lo */
	int throttled;	 /* a move was refused by the throttle or a busy node */
};

static double util(const struct mnode *m)
{
	return m->proj / m->cap;
}

/* Whether node i is over or under the band (refreshes x->over and x->under). */
static void outliers(struct mpass *x)
{
	x->over = x->under = 0;
	for (size_t i = 0; i < x->p->nn; i++) {
		if (!x->m[i].counts)
			continue;
		x->over |= util(&x->m[i]) > x->hi;
		x->under |= util(&x->m[i]) < x->lo;
	}
}

/* The emptiest node that may take chunk c (est bytes) from src, or SIZE_MAX. */
static size_t pick_target(struct mpass *x, const struct chunkmap_chunk *c, uint32_t target,
			  size_t src, double est)
{
	struct plan *p = x->p;
	uint32_t need = repl_racks(p, c, REPL_NONE, REPL_NONE);
	if (need > 2)
		need = 2;
	if (need > target)
		need = target;
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < p->nn; i++) {
		const struct mnode *m = &x->m[i];
		if (!m->counts || i == src)
			continue;
		double u = util(m);
		if (!(u < x->lo || (x->over && u < x->mean)) || (m->proj + est) / m->cap > x->hi)
			continue;
		const struct nodes_node *node = nodes_get(p->n, (uint32_t)i);
		if (chunkmap_has(c, (uint32_t)i) || repl_copy_going(p->r, c->id, (uint32_t)i) ||
		    (double)nodes_free_bytes(node) < est || m->cap - m->proj < est ||
		    repl_racks(p, c, (uint32_t)src, (uint32_t)i) < need)
			continue;
		if (m->busy || p->received[i] >= p->r->lim.node_copies) {
			x->throttled = 1;
			continue;
		}
		if (best == SIZE_MAX || u < util(&x->m[best]))
			best = i;
	}
	return best;
}

/* Plans the move of c from src to dst. */
static void plan_move(struct mpass *x, const struct chunkmap_chunk *c, const struct movable *mv,
		      size_t src, size_t dst, double est)
{
	struct plan *p = x->p;
	struct repl_cmd cmd = {c->id, c->version, c->file_id, mv->length, {(uint32_t)src}, 1};
	for (uint32_t i = 0; i < c->nreplicas && cmd.nsources < REPL_SOURCES_MAX; i++) {
		uint32_t id = c->replicas[i].node;
		if (id != src && repl_counts(p, nodes_get(p->n, id)))
			cmd.sources[cmd.nsources++] = id;
	}
	repl_copy_add(p->r, &cmd, (uint32_t)dst, (uint32_t)src, p->now);
	p->received[dst]++;
	p->served[src]++;
	x->m[dst].proj += est;
	x->m[src].proj -= est;
}

/* Moves one sampled chunk off src. Returns 1 (planned) or 0 (none can go). */
static int move_from(struct mpass *x, size_t src)
{
	struct plan *p = x->p;
	struct mnode *s = &x->m[src];
	while (s->tried < p->nmv[src]) {
		const struct movable *mv = &p->mv[src * REPL_MOVABLE + s->tried++];
		const struct chunkmap_chunk *c = chunkmap_get(p->cm, mv->id);
		if (!c || !chunkmap_has(c, (uint32_t)src) || repl_inflight_chunk(p->r, mv->id))
			continue;
		double est = (double)repl_replica_bytes(mv->length);
		if ((s->proj - est) / s->cap < x->lo)
			continue; /* it would leave src under the band */
		size_t dst = pick_target(x, c, mv->target, src, est);
		if (dst == SIZE_MAX)
			continue;
		plan_move(x, c, mv, src, dst, est);
		return 1;
	}
	return 0;
}

/* Plans moves until the band is reached, the throttle binds or nothing can go. */
static void plan_loop(struct mpass *x, struct repl_stats *st)
{
	struct plan *p = x->p;
	struct repl *r = p->r;
	for (;;) {
		if (r->nmoves >= r->lim.move_copies || r->ncopies >= r->lim.total_copies) {
			x->throttled = 1;
			return;
		}
		outliers(x);
		if (!x->over && !x->under)
			return;
		size_t src = SIZE_MAX;
		for (size_t i = 0; i < p->nn; i++) {
			const struct mnode *m = &x->m[i];
			double u = m->counts ? util(m) : 0;
			if (!m->counts || m->done || !(u > x->hi || (x->under && u > x->mean)))
				continue;
			if (src == SIZE_MAX || u > util(&x->m[src]))
				src = i;
		}
		if (src == SIZE_MAX)
			return;
		if (x->m[src].busy || p->served[src] >= r->lim.source_copies) {
			x->throttled = 1;
			x->m[src].done = 1;
			continue;
		}
		int rc = move_from(x, src);
		if (rc == 0)
			x->m[src].done = 1;
		st->moves += (size_t)rc;
	}
}

/* Fills x->m from the walk's bytes; returns the nodes that count. */
static size_t gather(struct mpass *x, double *cap, double *bytes)
{
	struct plan *p = x->p;
	uint64_t load = 0;
	size_t k = 0;
	*cap = *bytes = 0;
	for (size_t i = 0; i < p->nn; i++) {
		const struct nodes_node *node = nodes_get(p->n, (uint32_t)i);
		if (!repl_counts(p, node) || !node->capacity)
			continue;
		x->m[i] = (struct mnode){(double)node->capacity, (double)p->bytes[i], 1, 0, 0, 0};
		*cap += (double)node->capacity;
		*bytes += (double)p->bytes[i];
		load += node->load;
		k++;
	}
	uint64_t busy = k ? 2 * (load / k) + PLACEMENT_BUSY_SLACK : 0;
	for (size_t i = 0; i < p->nn; i++)
		if (x->m[i].counts)
			x->m[i].busy = nodes_get(p->n, (uint32_t)i)->load > busy;
	return k;
}

/* The largest distance of a counting node's utilisation from mean. */
static double spread(const struct mpass *x, double mean)
{
	double s = 0;
	for (size_t i = 0; i < x->p->nn; i++) {
		if (!x->m[i].counts)
			continue;
		double d = util(&x->m[i]) - mean;
		if (d < 0)
			d = -d;
		if (d > s)
			s = d;
	}
	return s;
}

void repl_plan_moves(struct plan *p, struct repl_stats *st)
{
	struct repl *r = p->r;
	struct repl_balance *b = &r->bal;
	struct mpass x = {p, xcalloc(p->nn + 1, sizeof(struct mnode)), 0, 0, 0, 0, 0, 0};
	double cap, bytes, t = r->threshold / 100.0;
	b->blocked = 0;
	b->nodes = gather(&x, &cap, &bytes);
	b->mean = cap > 0 ? bytes / cap : 0;
	b->spread = spread(&x, b->mean);
	for (size_t i = 0; i < r->ncopies; i++) {
		const struct copy *k = &r->copies[i];
		double est = (double)repl_replica_bytes(k->cmd.length);
		if (x.m[k->target].counts)
			x.m[k->target].proj += est;
		if (k->from != REPL_NONE && x.m[k->from].counts)
			x.m[k->from].proj -= est;
	}
	for (size_t i = 0; i < p->nn; i++)
		bytes += x.m[i].counts ? x.m[i].proj - (double)p->bytes[i] : 0;
	x.mean = cap > 0 ? bytes / cap : 0;
	double pspread = spread(&x, x.mean);
	if (!r->threshold || b->nodes < 2)
		r->balancing = 0;
	else if (pspread > t)
		r->balancing = 1;
	if (r->balancing) {
		size_t before = st->moves;
		x.hi = x.mean + t / 2;
		x.lo = x.mean - t / 2;
		plan_loop(&x, st);
		if (st->moves == before && r->nmoves == 0) {
			if (pspread <= t)
				r->balancing = 0; /* as close as the samples allow */
			else if (!x.throttled)
				b->blocked = 1;
		}
		st->moves_waiting = x.throttled;
	}
	b->balanced = (!r->threshold || b->spread <= t) && r->nmoves == 0;
	free(x.m);
}
