/*
 * repl: the replication planner (the rules are in repl.h).
 *
 * Copies in flight are one small array (at most total_copies entries:
 * linear scans), plus an idmap from chunk id to how many of them copy
 * that chunk, so a scan over millions of chunks asks in O(1). Bad
 * replicas are an idmap from chunk id to a small array of (node, kind).
 *
 * A scan is three passes: expire copies; walk the chunk map (count live
 * replicas, trim surplus, settle bad replicas, collect candidates); sort
 * the candidates and plan copies until the throttle is reached. Per-node
 * counts of copies received and served are rebuilt from the array at the
 * start of each scan, so they never drift.
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

#define REPL_PICKS_MAX 16 /* copies of one chunk planned in one scan */

struct copy {
	struct repl_cmd cmd;
	uint32_t target;
	int sent;
	uint64_t deadline_ms;
};

struct bad_entry {
	uint32_t node;
	uint32_t kind; /* enum repl_bad_kind */
};

struct bad_set {
	struct bad_entry *v;
	uint32_t n, cap;
};

struct repl {
	struct repl_limits lim;
	struct copy *copies;
	size_t ncopies, cap;
	struct idmap *pend; /* chunk id -> copies in flight, as a uintptr_t */
	struct idmap *bad;  /* chunk id -> struct bad_set */
	size_t nbad;
};

/* A chunk that wants copies. */
struct cand {
	uint64_t id;
	uint64_t length;
	uint32_t live;
	uint32_t need;
};

/* What a scan's planning pass works with. */
struct plan {
	struct repl *r;
	struct nodes *n;
	struct chunkmap *cm;
	uint64_t now;
	uint64_t *rng;
	uint32_t *received; /* per node: copies it is receiving */
	uint32_t *served;   /* per node: copies it is the first source of */
	struct placement_cand *pc;
	uint32_t *pc_node; /* pc[i] is node pc_node[i] */
};

struct repl *repl_new(const struct repl_limits *lim)
{
	static const struct repl_limits def = {2, 2, 64, 120000};
	struct repl *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->lim = lim ? *lim : def;
	r->pend = idmap_new();
	r->bad = idmap_new();
	if (!r->pend || !r->bad) {
		repl_free(r);
		return NULL;
	}
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

/* ---- copies in flight ---------------------------------------------------------------- */

static int pend_add(struct repl *r, uint64_t chunk_id, long delta)
{
	uintptr_t k = (uintptr_t)idmap_get(r->pend, chunk_id) + (uintptr_t)delta;
	if (k == 0) {
		idmap_del(r->pend, chunk_id);
		return 0;
	}
	return idmap_put(r->pend, chunk_id, (void *)k);
}

static int copy_add(struct repl *r, const struct repl_cmd *cmd, uint32_t target, uint64_t now)
{
	if (r->ncopies == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct copy *v = realloc(r->copies, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->copies = v;
		r->cap = cap;
	}
	if (pend_add(r, cmd->chunk_id, 1) < 0)
		return -ENOMEM;
	struct copy *k = &r->copies[r->ncopies++];
	k->cmd = *cmd;
	k->target = target;
	k->sent = 0;
	k->deadline_ms = now + r->lim.timeout_ms;
	return 0;
}

static void copy_remove(struct repl *r, size_t i)
{
	pend_add(r, r->copies[i].cmd.chunk_id, -1); /* shrinking never allocates */
	r->copies[i] = r->copies[--r->ncopies];
}

static int copy_going(const struct repl *r, uint64_t chunk_id, uint32_t node)
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

int repl_done(struct repl *r, uint64_t chunk_id, uint32_t node)
{
	for (size_t i = 0; i < r->ncopies; i++) {
		if (r->copies[i].cmd.chunk_id == chunk_id && r->copies[i].target == node) {
			copy_remove(r, i);
			return 0;
		}
	}
	return -ENOENT;
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
		b = calloc(1, sizeof(*b));
		if (!b || idmap_put(r->bad, chunk_id, b) < 0) {
			free(b);
			return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < b->n; i++) {
		if (b->v[i].node == node) {
			b->v[i].kind = kind;
			return 0;
		}
	}
	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 2;
		struct bad_entry *v = realloc(b->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM; /* b may stay empty: settled at the next scan */
		b->v = v;
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

/* ---- trimming ------------------------------------------------------------------------------ */

/*
 * How much a replica should go first: recorded shorter than the file's
 * bytes in the chunk (it may lack some), then by its node's used /
 * capacity (1 for a node that reports no capacity).
 */
static double trim_rank(const struct nodes_node *node, const struct chunkmap_replica *rep,
			uint64_t length)
{
	double full = node->capacity ? (double)node->used / (double)node->capacity : 1.0;
	return full + (rep->length < length ? 2.0 : 0.0);
}

/*
 * Drops the surplus of c's live replicas over target (length: the chunk's
 * bytes), short ones first, then those on the fullest nodes. Returns how many.
 */
static size_t trim(struct nodes *n, struct chunkmap *cm, const struct chunkmap_chunk *c,
		   uint32_t live, uint32_t target, uint64_t length, uint64_t now)
{
	struct nodes_node *v[REPL_PICKS_MAX];
	double rank[REPL_PICKS_MAX];
	size_t k = 0;
	for (uint32_t i = 0; i < c->nreplicas && k < REPL_PICKS_MAX; i++) {
		struct nodes_node *node = nodes_get(n, c->replicas[i].node);
		if (!node || !nodes_live(n, node, now))
			continue;
		double r = trim_rank(node, &c->replicas[i], length);
		size_t j = k++;
		for (; j > 0 && rank[j - 1] < r; j--) {
			v[j] = v[j - 1];
			rank[j] = rank[j - 1];
		}
		v[j] = node;
		rank[j] = r;
	}
	uint64_t id = c->id; /* c changes as replicas go */
	size_t drop = live - target < k ? live - target : k;
	for (size_t i = 0; i < drop; i++) {
		chunkmap_drop_replica(cm, id, v[i]->id);
		nodes_queue_delete(v[i], id); /* on failure: found at registration */
	}
	return drop;
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

/* Fills p->pc with the nodes that may receive a copy of c now. Returns how many. */
static size_t targets(const struct plan *p, const struct chunkmap_chunk *c, uint64_t length)
{
	size_t nc = 0, nn = nodes_count(p->n);
	for (size_t i = 0; i < nn; i++) {
		const struct nodes_node *node = nodes_get(p->n, (uint32_t)i);
		if (!nodes_live(p->n, node, p->now) || p->received[i] >= p->r->lim.node_copies ||
		    nodes_free_bytes(node) < length || chunkmap_has(c, node->id) ||
		    copy_going(p->r, c->id, node->id))
			continue;
		p->pc[nc] = (struct placement_cand){node->rack, nodes_free_bytes(node), node->load};
		p->pc_node[nc++] = node->id;
	}
	return nc;
}

/* Plans copies of one candidate. Returns how many, or -ENOMEM. */
static int plan_one(struct plan *p, const struct cand *k)
{
	struct repl *r = p->r;
	const struct chunkmap_chunk *c = chunkmap_get(p->cm, k->id);
	struct repl_cmd cmd = {k->id, c->version, c->file_id, k->length, {0}, 0};
	pick_sources(p, c, &cmd);
	if (cmd.nsources == 0 || p->served[cmd.sources[0]] >= r->lim.source_copies)
		return 0;
	size_t nc = targets(p, c, k->length), idx[REPL_PICKS_MAX];
	size_t want = k->need;
	if (want > REPL_PICKS_MAX)
		want = REPL_PICKS_MAX;
	if (want > r->lim.total_copies - r->ncopies)
		want = r->lim.total_copies - r->ncopies;
	if (want > r->lim.source_copies - p->served[cmd.sources[0]])
		want = r->lim.source_copies - p->served[cmd.sources[0]];
	size_t got = placement_choose(p->pc, nc, want, p->rng, idx);
	for (size_t i = 0; i < got; i++) {
		uint32_t t = p->pc_node[idx[i]];
		if (copy_add(r, &cmd, t, p->now) < 0)
			return -ENOMEM;
		p->received[t]++;
		p->served[cmd.sources[0]]++;
	}
	return (int)got;
}

/* Whether some live node may still receive a copy. */
static int room_left(const struct plan *p)
{
	size_t nn = nodes_count(p->n);
	for (size_t i = 0; i < nn; i++)
		if (p->received[i] < p->r->lim.node_copies &&
		    nodes_live(p->n, nodes_get(p->n, (uint32_t)i), p->now))
			return 1;
	return 0;
}

static int plan_all(struct plan *p, struct cand *cands, size_t nc, struct repl_stats *st)
{
	if (nc)
		qsort(cands, nc, sizeof(*cands), cand_cmp);
	for (size_t i = 0; i < nc; i++) {
		if (p->r->ncopies >= p->r->lim.total_copies || !room_left(p)) {
			st->waiting += nc - i;
			return 0;
		}
		int got = plan_one(p, &cands[i]);
		if (got < 0)
			return got;
		st->started += (size_t)got;
		st->waiting += (uint32_t)got < cands[i].need;
	}
	return 0;
}

/* ---- the scan -------------------------------------------------------------------------------- */

static int cand_push(struct cand **v, size_t *n, size_t *cap, struct cand k)
{
	if (*n == *cap) {
		size_t c2 = *cap ? *cap * 2 : 256;
		struct cand *nv = realloc(*v, c2 * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c2;
	}
	(*v)[(*n)++] = k;
	return 0;
}

/* Walks the chunk map: trims, settles, collects candidates. */
static int walk(struct repl *r, struct nodes *n, struct chunkmap *cm, uint64_t now,
		repl_want_fn want, void *arg, struct cand **cands, size_t *nc,
		struct repl_stats *st)
{
	size_t pos = 0, cap = 0;
	const struct chunkmap_chunk *c;
	while ((c = chunkmap_next(cm, &pos))) {
		struct repl_want w = {0};
		st->chunks++;
		if (want(arg, c, &w) != 0)
			continue;
		if (w.hold) {
			st->held++;
			continue;
		}
		uint32_t live = count_live(n, c, now);
		uint32_t going = (uint32_t)repl_inflight_chunk(r, c->id);
		if (live == 0) {
			st->missing++;
			continue;
		}
		if (live < w.target)
			st->under++;
		if (live + going < w.target) {
			struct cand k = {c->id, w.length, live, w.target - live - going};
			if (cand_push(cands, nc, &cap, k) < 0)
				return -ENOMEM;
		} else if (live > w.target && going == 0) {
			uint64_t id = c->id;
			st->over++;
			st->trimmed += trim(n, cm, c, live, w.target, w.length, now);
			c = chunkmap_get(cm, id);
			live = w.target;
		}
		if (live >= w.target && going == 0 && idmap_get(r->bad, c->id))
			st->cleared += settle(r, n, c->id, c);
	}
	return 0;
}

int repl_scan(struct repl *r, struct nodes *n, struct chunkmap *cm, uint64_t now_ms,
	      repl_want_fn want, void *arg, uint64_t *rng, struct repl_stats *st)
{
	struct repl_stats s = {0};
	size_t nn = nodes_count(n), nc = 0;
	struct cand *cands = NULL;
	struct plan p = {r, n, cm, now_ms, rng, NULL, NULL, NULL, NULL};
	int err = -ENOMEM;
	s.expired = expire(r, n, now_ms);
	p.received = calloc(nn + 1, sizeof(*p.received));
	p.served = calloc(nn + 1, sizeof(*p.served));
	p.pc = calloc(nn + 1, sizeof(*p.pc));
	p.pc_node = calloc(nn + 1, sizeof(*p.pc_node));
	if (!p.received || !p.served || !p.pc || !p.pc_node)
		goto out;
	for (size_t i = 0; i < r->ncopies; i++) {
		p.received[r->copies[i].target]++;
		if (r->copies[i].cmd.nsources)
			p.served[r->copies[i].cmd.sources[0]]++;
	}
	err = walk(r, n, cm, now_ms, want, arg, &cands, &nc, &s);
	s.cleared += settle_gone(r, n, cm);
	if (!err)
		err = plan_all(&p, cands, nc, &s);
out:
	free(cands);
	free(p.received);
	free(p.served);
	free(p.pc);
	free(p.pc_node);
	if (st)
		*st = s;
	return err;
}
