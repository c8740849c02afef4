/*
 * repl: the replication planner (the rules are in repl.h).
 *
 * Copies in flight are one small array (at most total_copies entries:
 * linear scans), plus an idmap from chunk id to how many of them copy
 * that chunk, so a scan over millions of chunks asks in O(1). Bad
 * replicas are an idmap from chunk id to a small array of (node, kind).
 *
 * A scan is four passes: expire copies; walk the chunk map (count live
 * replicas, trim surplus, settle bad replicas, collect candidates, add up
 * each node's bytes and sample chunks it could move); sort the candidates
 * and plan copies until the throttle is reached; plan moves (repl_move.c).
 * Per-node counts of copies received and served are rebuilt from the
 * array at the start of each scan, so they never drift. Racks are
 * numbered per scan (rack_of), so rack tests on a chunk compare integers.
 *
 * Invariants: pend holds, for every chunk with copies in the array, their
 * number (and nothing else); no two copies share a (chunk, target); a
 * copy's target never holds a recorded replica of its chunk when it is
 * planned; nbad is the number of entries over all bad sets.
 */
#include "repl.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunkmap.h"
#include "idmap.h"
#include "nodes.h"
#include "placement.h"
#include "repl_int.h"
#include "util.h"

#define REPL_BLOCK 65536u /* a chunk file's header, and its block (chunkfile.h) */

struct bad_entry {
	uint32_t node;
	uint32_t kind; /* enum repl_bad_kind */
};

struct bad_set {
	struct bad_entry *v;
	uint32_t n, cap;
};

/* A chunk that wants copies. */
struct cand {
	uint64_t id;
	uint64_t length;
	uint32_t live;	 /* counting replicas */
	uint32_t need;	 /* copies */
	uint32_t spread; /* misplaced: the copy goes to another rack */
};

/* A chunk's replicas, as one scan sees them. */
struct tally {
	uint32_t count; /* on nodes that count */
	uint32_t decom; /* on live decommissioning nodes */
	uint32_t nracks;
	uint32_t racks[REPL_PICKS_MAX]; /* of those that count, distinct */
};

struct repl *repl_new(const struct repl_limits *lim)
{
	static const struct repl_limits def = {2, 2, 64, 120000, 16};
	struct repl *r = xcalloc(1, sizeof(*r));
	r->lim = lim ? *lim : def;
	r->pend = idmap_new();
	r->bad = idmap_new();
	r->moved = idmap_new();
	return r;
}

void repl_free(struct repl *r)
{
	if (!r)
		return;
	if (r->bad) {
		size_t pos = 0;
		struct bad_set *b;
		while ((b = idmap_next(r->bad, &pos, NULL))) {
			free(b->v);
			free(b);
		}
	}
	idmap_free(r->bad);
	idmap_free(r->pend);
	idmap_free(r->moved);
	free(r->copies);
	free(r);
}

size_t repl_inflight(const struct repl *r)
{
	return r->ncopies;
}

size_t repl_inflight_chunk(const struct repl *r, uint64_t chunk_id)
{
	return (size_t)(uintptr_t)idmap_get(r->pend, chunk_id);
}

size_t repl_nbad(const struct repl *r)
{
	return r->nbad;
}

void repl_set_threshold(struct repl *r, uint32_t pct)
{
	if (pct != r->threshold)
		r->balancing = 0; /* judged afresh at the next scan */
	r->threshold = pct;
}

uint32_t repl_threshold(const struct repl *r)
{
	return r->threshold;
}

void repl_balance(const struct repl *r, struct repl_balance *out)
{
	*out = r->bal;
	out->inflight = r->nmoves;
}

uint64_t repl_replica_bytes(uint64_t length)
{
	return REPL_BLOCK + (length + REPL_BLOCK - 1) / REPL_BLOCK * REPL_BLOCK;
}

/* ---- copies in flight ---------------------------------------------------------------- */

static void pend_add(struct repl *r, uint64_t chunk_id, long delta)
{
	uintptr_t k = (uintptr_t)idmap_get(r->pend, chunk_id) + (uintptr_t)delta;
	if (k == 0)
		idmap_del(r->pend, chunk_id);
	else
		idmap_put(r->pend, chunk_id, (void *)k);
}

void repl_copy_add(struct repl *r, const struct repl_cmd *cmd, uint32_t target, uint32_t from,
		   uint64_t now)
{
	if (r->ncopies == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		r->copies = xrealloc(r->copies, cap * sizeof(*r->copies));
		r->cap = cap;
	}
	pend_add(r, cmd->chunk_id, 1);
	struct copy *k = &r->copies[r->ncopies++];
	k->cmd = *cmd;
	k->target = target;
	k->from = from;
	k->sent = 0;
	k->deadline_ms = now + r->lim.timeout_ms;
	r->nmoves += from != REPL_NONE;
}

static void copy_remove(struct repl *r, size_t i)
{
	pend_add(r, r->copies[i].cmd.chunk_id, -1);
	r->nmoves -= r->copies[i].from != REPL_NONE;
	r->copies[i] = r->copies[--r->ncopies];
}

int repl_copy_going(const struct repl *r, uint64_t chunk_id, uint32_t node)
{
	for (size_t i = 0; i < r->ncopies; i++)
		if (r->copies[i].cmd.chunk_id == chunk_id && r->copies[i].target == node)
			return 1;
	return 0;
}

size_t repl_take(struct repl *r, uint32_t node, struct repl_cmd *out, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < r->ncopies && k < max; i++) {
		if (r->copies[i].target != node || r->copies[i].sent)
			continue;
		r->copies[i].sent = 1;
		out[k++] = r->copies[i].cmd;
	}
	return k;
}

/* Ends the copy of chunk_id to node (ok: done). Returns 0 or -ENOENT. */
static int copy_end(struct repl *r, uint64_t chunk_id, uint32_t node, int ok)
{
	for (size_t i = 0; i < r->ncopies; i++) {
		const struct copy *k = &r->copies[i];
		if (k->cmd.chunk_id != chunk_id || k->target != node)
			continue;
		if (ok && k->from != REPL_NONE) {
			r->bal.moved++;
			r->bal.bytes += k->cmd.length;
			/* on failure the trim falls back to the fullest node */
			idmap_put(r->moved, chunk_id, (void *)(uintptr_t)(k->from + 1ull));
		}
		copy_remove(r, i);
		return 0;
	}
	return -ENOENT;
}

int repl_done(struct repl *r, uint64_t chunk_id, uint32_t node)
{
	return copy_end(r, chunk_id, node, 1);
}

int repl_failed(struct repl *r, uint64_t chunk_id, uint32_t node)
{
	return copy_end(r, chunk_id, node, 0);
}

size_t repl_node_reset(struct repl *r, uint32_t node)
{
	size_t n = 0;
	for (size_t i = r->ncopies; i-- > 0;) {
		if (r->copies[i].target == node) {
			copy_remove(r, i);
			n++;
		}
	}
	return n;
}

/* Forgets copies past their deadline or going to a node that is not live. */
static size_t expire(struct repl *r, const struct nodes *n, uint64_t now)
{
	size_t k = 0;
	for (size_t i = r->ncopies; i-- > 0;) {
		const struct nodes_node *t = nodes_get(n, r->copies[i].target);
		if (now >= r->copies[i].deadline_ms || !t || !nodes_live(n, t, now)) {
			copy_remove(r, i);
			k++;
		}
	}
	return k;
}

/* ---- bad replicas ---------------------------------------------------------------------- */

int repl_mark_bad(struct repl *r, uint64_t chunk_id, uint32_t node, enum repl_bad_kind kind)
{
	struct bad_set *b = idmap_get(r->bad, chunk_id);
	if (!b) {
		b = xcalloc(1, sizeof(*b));
		idmap_put(r->bad, chunk_id, b);
	}
	for (uint32_t i = 0; i < b->n; i++) {
		if (b->v[i].node == node) {
			b->v[i].kind = kind;
			return 0;
		}
	}
	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 2;
		b->v = xrealloc(b->v, cap * sizeof(*b->v));
		b->cap = cap;
	}
	b->v[b->n++] = (struct bad_entry){node, kind};
	r->nbad++;
	return 0;
}

/*
 * The chunk is whole again, or gone (c NULL): deletes the corrupt
 * replicas on nodes that hold no good one, and forgets the set.
 * Returns how many entries it settled.
 */
static size_t settle(struct repl *r, struct nodes *n, uint64_t chunk_id,
		     const struct chunkmap_chunk *c)
{
	struct bad_set *b = idmap_del(r->bad, chunk_id);
	if (!b)
		return 0;
	size_t k = b->n;
	for (uint32_t i = 0; i < b->n; i++) {
		struct nodes_node *node = nodes_get(n, b->v[i].node);
		if (b->v[i].kind == REPL_BAD_CORRUPT && node && node->up &&
		    !(c && chunkmap_has(c, node->id)))
			nodes_queue_delete(node, chunk_id); /* on failure: found at registration */
	}
	r->nbad -= k;
	free(b->v);
	free(b);
	return k;
}

/* Settles the bad sets of chunks no longer in cm. */
static size_t settle_gone(struct repl *r, struct nodes *n, const struct chunkmap *cm)
{
	size_t pos = 0, ngone = 0, k = 0;
	uint64_t id, gone[64];
	do {
		ngone = 0;
		pos = 0;
		while (ngone < 64 && idmap_next(r->bad, &pos, &id))
			if (!chunkmap_get(cm, id))
				gone[ngone++] = id;
		for (size_t i = 0; i < ngone; i++)
			k += settle(r, n, gone[i], NULL);
	} while (ngone == 64);
	return k;
}

/* ---- health ------------------------------------------------------------------------------- */

static uint32_t count_live(const struct nodes *n, const struct chunkmap_chunk *c, uint64_t now)
{
	uint32_t live = 0;
	for (uint32_t i = 0; c && i < c->nreplicas; i++) {
		const struct nodes_node *node = nodes_get(n, c->replicas[i].node);
		live += node && nodes_live(n, node, now);
	}
	return live;
}

enum repl_health repl_health(const struct repl *r, const struct nodes *n,
			     const struct chunkmap_chunk *c, uint64_t chunk_id, uint32_t target,
			     uint64_t now_ms, uint32_t *live)
{
	uint32_t l = count_live(n, c, now_ms);
	const struct bad_set *b = idmap_get(r->bad, chunk_id);
	int corrupt = 0, stale = 0;
	for (uint32_t i = 0; b && i < b->n; i++) {
		corrupt |= b->v[i].kind == REPL_BAD_CORRUPT;
		stale |= b->v[i].kind == REPL_BAD_STALE;
	}
	if (live)
		*live = l;
	if (l == 0)
		return corrupt ? REPL_CORRUPT : REPL_MISSING;
	if (corrupt)
		return REPL_CORRUPT;
	if (l < target)
		return REPL_UNDER;
	return stale ? REPL_STALE : REPL_HEALTHY;
}

/* ---- racks and counting ------------------------------------------------------------------ */

int repl_counts(const struct plan *p, const struct nodes_node *node)
{
	return node && !node->decom && nodes_live(p->n, node, p->now);
}

/* Adds rack to the distinct set v[0..*n). */
static void rack_add(uint32_t *v, uint32_t *n, uint32_t rack)
{
	for (uint32_t i = 0; i < *n; i++)
		if (v[i] == rack)
			return;
	if (*n < REPL_PICKS_MAX)
		v[(*n)++] = rack;
}

uint32_t repl_racks(const struct plan *p, const struct chunkmap_chunk *c, uint32_t drop,
		    uint32_t add)
{
	uint32_t v[REPL_PICKS_MAX], n = 0;
	for (uint32_t i = 0; i < c->nreplicas; i++) {
		uint32_t id = c->replicas[i].node;
		if (id != drop && repl_counts(p, nodes_get(p->n, id)))
			rack_add(v, &n, p->rack_of[id]);
	}
	if (add != REPL_NONE)
		rack_add(v, &n, p->rack_of[add]);
	return n;
}

static void tally(const struct plan *p, const struct chunkmap_chunk *c, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < c->nreplicas; i++) {
		const struct nodes_node *node = nodes_get(p->n, c->replicas[i].node);
		if (!node || !nodes_live(p->n, node, p->now))
			continue;
		if (node->decom) {
			t->decom++;
			continue;
		}
		t->count++;
		rack_add(t->racks, &t->nracks, p->rack_of[node->id]);
	}
}

/*
 * Numbers the racks of the nodes (p->rack_of) and notes, per rack, the
 * most bytes free on one of its nodes that count (p->rack_room).
 */
static void number_racks(struct plan *p)
{
	p->nracks = 0;
	for (size_t i = 0; i < p->nn; i++) {
		const struct nodes_node *node = nodes_get(p->n, (uint32_t)i);
		size_t r = 0;
		for (; r < i; r++)
			if (strcmp(nodes_get(p->n, (uint32_t)r)->rack, node->rack) == 0)
				break;
		p->rack_of[i] = r < i ? p->rack_of[r] : (uint32_t)p->nracks++;
		uint64_t room = repl_counts(p, node) ? nodes_free_bytes(node) : 0;
		if (room > p->rack_room[p->rack_of[i]])
			p->rack_room[p->rack_of[i]] = room;
	}
}

/*
 * Whether a chunk wanting target replicas, whose counting ones are all on
 * one rack, could have one on another: some other rack has a node with
 * room for length bytes.
 */
static int misplaced(const struct plan *p, const struct tally *t, uint32_t target, uint64_t length)
{
	if (target < 2 || t->count == 0 || t->nracks != 1)
		return 0;
	for (size_t r = 0; r < p->nracks; r++)
		if (r != t->racks[0] && p->rack_room[r] >= length && p->rack_room[r] > 0)
			return 1;
	return 0;
}

/* ---- trimming ------------------------------------------------------------------------------ */

/*
 * How much a replica should go first: recorded shorter than the file's
 * bytes in the chunk (it may lack some), then on a decommissioning node,
 * then on the node a finished move copied it from, then by its node's
 * used / capacity (1 for a node that reports no capacity).
 */
static double trim_rank(const struct nodes_node *node, const struct chunkmap_replica *rep,
			uint64_t length, uint32_t moved_from)
{
	double full = node->capacity ? (double)node->used / (double)node->capacity : 1.0;
	if (full > 1.0)
		full = 1.0;
	return full + (rep->length < length ? 8.0 : 0.0) + (node->decom ? 4.0 : 0.0) +
	       (node->id == moved_from ? 2.0 : 0.0);
}

/*
 * Drops the surplus of c's live replicas over target (length: the chunk's
 * bytes) in trim_rank() order, skipping one whose loss would leave the
 * counting replicas on fewer than min(2, target, racks now) racks.
 * Returns how many.
 */
static size_t trim(struct plan *p, const struct chunkmap_chunk *c, uint32_t live, uint32_t target,
		   uint64_t length)
{
	struct nodes_node *v[REPL_PICKS_MAX];
	double rank[REPL_PICKS_MAX];
	size_t k = 0;
	uintptr_t hint = (uintptr_t)idmap_del(p->r->moved, c->id);
	uint32_t from = hint ? (uint32_t)(hint - 1) : REPL_NONE;
	for (uint32_t i = 0; i < c->nreplicas && k < REPL_PICKS_MAX; i++) {
		struct nodes_node *node = nodes_get(p->n, c->replicas[i].node);
		if (!node || !nodes_live(p->n, node, p->now))
			continue;
		double r = trim_rank(node, &c->replicas[i], length, from);
		size_t j = k++;
		for (; j > 0 && rank[j - 1] < r; j--) {
			v[j] = v[j - 1];
			rank[j] = rank[j - 1];
		}
		v[j] = node;
		rank[j] = r;
	}
	uint64_t id = c->id; /* c changes as replicas go */
	uint32_t need = repl_racks(p, c, REPL_NONE, REPL_NONE);
	if (need > 2)
		need = 2;
	if (need > target)
		need = target;
	size_t drop = live - target < k ? live - target : k, done = 0;
	for (size_t i = 0; i < k && done < drop; i++) {
		c = chunkmap_get(p->cm, id);
		if (!v[i]->decom && repl_racks(p, c, v[i]->id, REPL_NONE) < need)
			continue;
		chunkmap_drop_replica(p->cm, id, v[i]->id);
		nodes_queue_delete(v[i], id); /* on failure: found at registration */
		done++;
	}
	return done;
}

/* ---- planning ------------------------------------------------------------------------------- */

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->live != y->live)
		return x->live < y->live ? -1 : 1;
	if (x->need != y->need)
		return x->need > y->need ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* c's live replicas into cmd->sources, least busy first. */
static void pick_sources(const struct plan *p, const struct chunkmap_chunk *c, struct repl_cmd *cmd)
{
	const struct nodes_node *v[REPL_PICKS_MAX];
	size_t k = 0;
	for (uint32_t i = 0; i < c->nreplicas && k < REPL_PICKS_MAX; i++) {
		const struct nodes_node *node = nodes_get(p->n, c->replicas[i].node);
		if (!node || !nodes_live(p->n, node, p->now))
			continue;
		size_t j = k++;
		for (; j > 0 && (p->served[v[j - 1]->id] > p->served[node->id] ||
				 (p->served[v[j - 1]->id] == p->served[node->id] &&
				  v[j - 1]->load > node->load));
		     j--)
			v[j] = v[j - 1];
		v[j] = node;
	}
	cmd->nsources = 0;
	for (size_t i = 0; i < k && i < REPL_SOURCES_MAX; i++)
		cmd->sources[cmd->nsources++] = v[i]->id;
}

/*
 * Fills p->pc with the nodes that may receive a copy of c now (for a
 * misplaced chunk, only those on racks it is not on). Returns how many.
 */
static size_t targets(const struct plan *p, const struct chunkmap_chunk *c, const struct cand *k)
{
	size_t nc = 0;
	struct tally t;
	tally(p, c, &t);
	for (size_t i = 0; i < p->nn; i++) {
		const struct nodes_node *node = nodes_get(p->n, (uint32_t)i);
		if (!repl_counts(p, node) || p->received[i] >= p->r->lim.node_copies ||
		    nodes_free_bytes(node) < k->length || chunkmap_has(c, node->id) ||
		    repl_copy_going(p->r, c->id, node->id))
			continue;
		int same = 0;
		for (uint32_t j = 0; k->spread && j < t.nracks; j++)
			same |= t.racks[j] == p->rack_of[i];
		if (same)
			continue;
		p->pc[nc] = (struct placement_cand){node->rack, nodes_free_bytes(node), node->load};
		p->pc_node[nc++] = node->id;
	}
	return nc;
}

/* The racks of c's counting replicas into held (REPL_PICKS_MAX). Returns how many. */
static size_t held_racks(const struct plan *p, const struct chunkmap_chunk *c, const char **held)
{
	size_t n = 0;
	for (uint32_t i = 0; i < c->nreplicas && n < REPL_PICKS_MAX; i++) {
		const struct nodes_node *node = nodes_get(p->n, c->replicas[i].node);
		if (repl_counts(p, node))
			held[n++] = node->rack;
	}
	return n;
}

/* Plans copies of one candidate. Returns how many. */
static size_t plan_one(struct plan *p, const struct cand *k)
{
	struct repl *r = p->r;
	const struct chunkmap_chunk *c = chunkmap_get(p->cm, k->id);
	struct repl_cmd cmd = {k->id, c->version, c->file_id, k->length, {0}, 0};
	pick_sources(p, c, &cmd);
	if (cmd.nsources == 0 || p->served[cmd.sources[0]] >= r->lim.source_copies)
		return 0;
	const char *held[REPL_PICKS_MAX];
	size_t nc = targets(p, c, k), idx[REPL_PICKS_MAX], nheld = held_racks(p, c, held);
	size_t want = k->need;
	if (want > REPL_PICKS_MAX)
		want = REPL_PICKS_MAX;
	if (want > r->lim.total_copies - r->ncopies)
		want = r->lim.total_copies - r->ncopies;
	if (want > r->lim.source_copies - p->served[cmd.sources[0]])
		want = r->lim.source_copies - p->served[cmd.sources[0]];
	size_t got = placement_choose_more(p->pc, nc, held, nheld, want, p->rng, idx);
	for (size_t i = 0; i < got; i++) {
		uint32_t t = p->pc_node[idx[i]];
		repl_copy_add(r, &cmd, t, REPL_NONE, p->now);
		p->received[t]++;
		p->served[cmd.sources[0]]++;
	}
	return got;
}

/* Whether some node that counts may still receive a copy. */
static int room_left(const struct plan *p)
{
	for (size_t i = 0; i < p->nn; i++)
		if (p->received[i] < p->r->lim.node_copies &&
		    repl_counts(p, nodes_get(p->n, (uint32_t)i)))
			return 1;
	return 0;
}

static void plan_all(struct plan *p, struct cand *cands, size_t nc, struct repl_stats *st)
{
	if (nc)
		qsort(cands, nc, sizeof(*cands), cand_cmp);
	for (size_t i = 0; i < nc; i++) {
		if (p->r->ncopies >= p->r->lim.total_copies || !room_left(p)) {
			st->waiting += nc - i;
			return;
		}
		size_t got = plan_one(p, &cands[i]);
		st->started += got;
		st->waiting += got < cands[i].need;
	}
}

/* ---- the scan -------------------------------------------------------------------------------- */

static void cand_push(struct cand **v, size_t *n, size_t *cap, struct cand k)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = k;
}

/* Adds c's bytes to its nodes and, when it may move, samples it for each (reservoir). */
static void account(struct plan *p, const struct chunkmap_chunk *c, const struct repl_want *w,
		    int may_move)
{
	uint64_t bytes = repl_replica_bytes(w->length);
	for (uint32_t i = 0; i < c->nreplicas; i++) {
		uint32_t node = c->replicas[i].node;
		if (node >= p->nn)
			continue;
		p->bytes[node] += bytes;
		if (!may_move)
			continue;
		uint64_t seen = ++p->seen[node], slot = p->nmv[node];
		if (slot >= REPL_MOVABLE && (slot = placement_rand(p->rng) % seen) >= REPL_MOVABLE)
			continue;
		p->mv[(size_t)node * REPL_MOVABLE + slot] =
		    (struct movable){c->id, w->length, w->target};
		if (p->nmv[node] < REPL_MOVABLE)
			p->nmv[node]++;
	}
}

/* Walks the chunk map: trims, settles, collects candidates, accounts bytes. */
static void walk(struct plan *p, repl_want_fn want, void *arg, struct cand **cands, size_t *nc,
		 struct repl_stats *st)
{
	struct repl *r = p->r;
	size_t pos = 0, cap = 0;
	const struct chunkmap_chunk *c;
	while ((c = chunkmap_next(p->cm, &pos))) {
		struct repl_want w = {0};
		struct tally t;
		st->chunks++;
		if (want(arg, c, &w) != 0)
			continue;
		if (w.hold) {
			st->held++;
			account(p, c, &w, 0);
			continue;
		}
		tally(p, c, &t);
		uint32_t live = t.count + t.decom;
		uint32_t going = (uint32_t)repl_inflight_chunk(r, c->id);
		int bad = idmap_get(r->bad, c->id) != NULL, moved = 0;
		if (live == 0) {
			st->missing++;
			account(p, c, &w, 0);
			continue;
		}
		if (live < w.target)
			st->under++;
		if (t.count + going < w.target) {
			struct cand k = {c->id, w.length, t.count, w.target - t.count - going, 0};
			cand_push(cands, nc, &cap, k);
		} else if (going == 0 && misplaced(p, &t, w.target, w.length)) {
			struct cand k = {c->id, w.length, t.count, 1, 1};
			st->misplaced++;
			cand_push(cands, nc, &cap, k);
		} else if (live > w.target && going == 0) {
			uint64_t id = c->id;
			st->over += t.count > w.target;
			st->trimmed += trim(p, c, live, w.target, w.length);
			c = chunkmap_get(p->cm, id);
			tally(p, c, &t);
			moved = 1;
		}
		if (t.count >= w.target && going == 0 && bad)
			st->cleared += settle(r, p->n, c->id, c);
		if (!moved && idmap_count(r->moved))
			idmap_del(r->moved, c->id); /* a hint no trim used */
		account(p, c, &w,
			r->threshold && going == 0 && !bad && t.decom == 0 && t.count == w.target &&
			    c->nreplicas == w.target && w.length > 0);
	}
}

static void plan_free(struct plan *p)
{
	free(p->received);
	free(p->served);
	free(p->pc);
	free(p->pc_node);
	free(p->rack_of);
	free(p->rack_room);
	free(p->bytes);
	free(p->mv);
	free(p->nmv);
	free(p->seen);
}

static void plan_alloc(struct plan *p)
{
	size_t nn = p->nn + 1, nmv = p->r->threshold ? nn * REPL_MOVABLE : 1;
	p->received = xcalloc(nn, sizeof(*p->received));
	p->served = xcalloc(nn, sizeof(*p->served));
	p->pc = xcalloc(nn, sizeof(*p->pc));
	p->pc_node = xcalloc(nn, sizeof(*p->pc_node));
	p->rack_of = xcalloc(nn, sizeof(*p->rack_of));
	p->rack_room = xcalloc(nn, sizeof(*p->rack_room));
	p->bytes = xcalloc(nn, sizeof(*p->bytes));
	p->mv = xcalloc(nmv, sizeof(*p->mv));
	p->nmv = xcalloc(nn, sizeof(*p->nmv));
	p->seen = xcalloc(nn, sizeof(*p->seen));
}

int repl_scan(struct repl *r, struct nodes *n, struct chunkmap *cm, uint64_t now_ms,
	      repl_want_fn want, void *arg, uint64_t *rng, struct repl_stats *st)
{
	struct repl_stats s = {0};
	size_t nc = 0;
	struct cand *cands = NULL;
	struct plan p = {.r = r, .n = n, .cm = cm, .now = now_ms, .rng = rng, .nn = nodes_count(n)};
	s.expired = expire(r, n, now_ms);
	plan_alloc(&p);
	for (size_t i = 0; i < r->ncopies; i++) {
		p.received[r->copies[i].target]++;
		if (r->copies[i].cmd.nsources)
			p.served[r->copies[i].cmd.sources[0]]++;
	}
	number_racks(&p);
	walk(&p, want, arg, &cands, &nc, &s);
	s.cleared += settle_gone(r, n, cm);
	plan_all(&p, cands, nc, &s);
	repl_plan_moves(&p, &s);
	free(cands);
	plan_free(&p);
	if (st)
		*st = s;
	return 0;
}
