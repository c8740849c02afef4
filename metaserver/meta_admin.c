/*
 * meta_admin: the metaserver's admin calls (DESIGN §7): the chunkserver
 * list (`cairn admin nodes`) and fsck (`cairn admin fsck [PATH]`), and
 * the replication part of the status page.
 *
 * fsck looks at every chunk of every file under PATH as the metaserver
 * knows it now: live replicas against the file's replication, and the
 * bad replicas the replication monitor remembers (repl_health()). Each
 * chunk with a problem is one entry (path, chunk, index, kind), in
 * namespace order, with its worst kind: missing (no live replica) or
 * corrupt, then under_replicated, then stale. The status is CORRUPT when
 * some chunk has no live replica,
 * DEGRADED when another problem exists, HEALTHY otherwise. The reply
 * carries at most FSCK_PROBLEMS_MAX problems (and FSCK_PATH_BYTES of
 * paths) so it fits in a frame; the totals always count them all.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkmap.h"
#include "held.h"
#include "meta_int.h"
#include "meta_stats.h"
#include "nodes.h"
#include "ns.h"
#include "util.h"

#define FSCK_PROBLEMS_MAX 10000u
#define FSCK_PATH_BYTES	  (2u << 20)

/* ---- nodes ----------------------------------------------------------------------------- */

/*
 * up or dead; a node being decommissioned is decommissioning while it
 * holds replicas the chunk map records and decommissioned once it holds
 * none (then also when it is stopped).
 */
static Cairn__NodeState node_state(const struct meta_server *ms, const struct nodes_node *node,
				   uint64_t now)
{
	int drained = chunkmap_node_count(ms->cmap, node->id) == 0;
	if (node->decom && drained)
		return CAIRN__NODE_STATE__NODE_DECOMMISSIONED;
	if (!nodes_live(ms->nodes, node, now))
		return CAIRN__NODE_STATE__NODE_DEAD;
	return node->decom ? CAIRN__NODE_STATE__NODE_DECOMMISSIONING : CAIRN__NODE_STATE__NODE_UP;
}

static const char *state_name(Cairn__NodeState s)
{
	static const char *const names[] = {"up", "dead", "decommissioning", "decommissioned"};
	return (unsigned)s < 4 ? names[s] : "?";
}

void meta_admin_nodes(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	size_t n = nodes_count(ms->nodes);
	Cairn__NodeInfo *infos = xcalloc(n ? n : 1, sizeof(*infos));
	Cairn__NodeInfo **ptrs = xcalloc(n ? n : 1, sizeof(*ptrs));
	uint64_t now = time_mono_ms();
	for (size_t i = 0; i < n; i++) {
		const struct nodes_node *node = nodes_get(ms->nodes, (uint32_t)i);
		Cairn__NodeInfo *ni = &infos[i];
		cairn__node_info__init(ni);
		ni->addr = node->addr;
		ni->rack = node->rack;
		ni->state = node_state(ms, node, now);
		ni->used = node->used;
		ni->capacity = node->capacity;
		ni->chunks = chunkmap_node_count(ms->cmap, node->id);
		ni->last_heard_ms = now - node->last_ms;
		ni->load = node->load;
		ptrs[i] = ni;
	}
	Cairn__NodesResp resp = CAIRN__NODES_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	resp.nodes = ptrs;
	resp.n_nodes = n;
	body.body_case = CAIRN__ENVELOPE__BODY_NODE_LIST;
	body.node_list = &resp;
	meta_answer(ms, call, 0, &body, NULL);
	free(infos);
	free(ptrs);
}

/* ---- fsck ------------------------------------------------------------------------------- */

struct fsck {
	struct meta_server *ms;
	uint64_t root; /* the inode fsck was asked about */
	uint64_t now;
	Cairn__FsckResp resp;
	size_t cap;
	size_t path_bytes;
};

/* Whether ino is root or below it. */
static int under(const struct meta_server *ms, const struct ns_inode *ino, uint64_t root)
{
	while (ino) {
		if (ns_inode_id(ino) == root)
			return 1;
		Cairn__Attr a = CAIRN__ATTR__INIT;
		ns_fill_attr(ino, &a);
		ino = a.parent ? ns_get(ms->ns, a.parent) : NULL;
	}
	return 0;
}

/* ino's absolute path, as a new string. */
static char *path_of(const struct meta_server *ms, const struct ns_inode *ino)
{
	char buf[NS_PATH_MAX + 2];
	size_t at = sizeof(buf) - 1;
	buf[at] = '\0';
	while (ino) {
		Cairn__Attr a = CAIRN__ATTR__INIT;
		ns_fill_attr(ino, &a);
		if (!a.parent)
			break;
		size_t len = strlen(a.name);
		if (len + 1 > at)
			break; /* deeper than a path may be: keep the tail */
		at -= len;
		memcpy(buf + at, a.name, len);
		buf[--at] = '/';
		ino = ns_get(ms->ns, a.parent);
	}
	return xstrdup(at == sizeof(buf) - 1 ? "/" : buf + at);
}

static void add_problem(struct fsck *f, const struct ns_inode *ino, uint64_t chunk, uint64_t index,
			Cairn__FsckKind kind)
{
	Cairn__FsckResp *r = &f->resp;
	if (r->n_problems >= FSCK_PROBLEMS_MAX || f->path_bytes > FSCK_PATH_BYTES) {
		r->more = 1;
		return;
	}
	if (r->n_problems == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		r->problems = xrealloc(r->problems, f->cap * sizeof(*r->problems));
	}
	Cairn__FsckProblem *p = xmalloc(sizeof(*p));
	char *path = path_of(f->ms, ino);
	cairn__fsck_problem__init(p);
	p->path = path;
	p->chunk = chunk;
	p->index = index;
	p->kind = kind;
	f->path_bytes += strlen(path) + 32;
	r->problems[r->n_problems++] = p;
}

/* Checks one file's chunks. */
static void check_file(struct fsck *f, const struct ns_inode *ino)
{
	struct meta_server *ms = f->ms;
	uint32_t target = ns_inode_replication(ino);
	if (!target)
		target = (uint32_t)ms->opts->replication;
	size_t n;
	const struct ns_chunk *k = ns_inode_chunks(ino, &n);
	f->resp.files++;
	for (size_t i = 0; i < n; i++) {
		const struct chunkmap_chunk *c = chunkmap_get(ms->cmap, k[i].id);
		uint32_t live;
		enum repl_health h =
		    repl_health(ms->repl, ms->nodes, c, k[i].id, target, f->now, &live);
		Cairn__FsckKind kind;
		f->resp.chunks++;
		if (live == 0)
			f->resp.status = CAIRN__FSCK_STATUS__FSCK_STATUS_CORRUPT;
		switch (h) {
		case REPL_HEALTHY:
			continue;
		case REPL_MISSING:
			f->resp.missing++;
			kind = CAIRN__FSCK_KIND__FSCK_KIND_MISSING;
			break;
		case REPL_CORRUPT:
			f->resp.corrupt++;
			kind = CAIRN__FSCK_KIND__FSCK_KIND_CORRUPT;
			break;
		case REPL_UNDER:
			f->resp.under_replicated++;
			kind = CAIRN__FSCK_KIND__FSCK_KIND_UNDER_REPLICATED;
			break;
		default:
			f->resp.stale++;
			kind = CAIRN__FSCK_KIND__FSCK_KIND_STALE;
			break;
		}
		if (f->resp.status == CAIRN__FSCK_STATUS__FSCK_STATUS_HEALTHY)
			f->resp.status = CAIRN__FSCK_STATUS__FSCK_STATUS_DEGRADED;
		add_problem(f, ino, k[i].id, i, kind);
	}
}

/* ns_walk_fn: the files under f->root. */
static int visit(void *arg, const struct ns_inode *ino)
{
	struct fsck *f = arg;
	if (!ns_inode_is_dir(ino) && (f->root == NS_ROOT_ID || under(f->ms, ino, f->root)))
		check_file(f, ino);
	return 0;
}

static void fsck_free(struct fsck *f)
{
	for (size_t i = 0; i < f->resp.n_problems; i++) {
		free(f->resp.problems[i]->path);
		if (f->resp.problems[i]->node != protobuf_c_empty_string)
			free(f->resp.problems[i]->node);
		free(f->resp.problems[i]);
	}
	free(f->resp.problems);
}

/*
 * The held replicas (held.h) as problems of kind held: those of files
 * under f->root, and those of chunks no file has when f->root is "/".
 */
static void add_held(struct fsck *f)
{
	size_t n;
	const struct held_replica *v = held_list(f->ms->held, &n);
	for (size_t i = 0; i < n; i++) {
		const struct chunkmap_chunk *c = chunkmap_get(f->ms->cmap, v[i].chunk);
		struct ns_inode *ino = c ? ns_get(f->ms->ns, c->file_id) : NULL;
		if (ino ? !under(f->ms, ino, f->root) : f->root != NS_ROOT_ID)
			continue;
		f->resp.held++;
		size_t before = f->resp.n_problems;
		add_problem(f, ino, v[i].chunk, c ? c->index : 0, CAIRN__FSCK_KIND__FSCK_KIND_HELD);
		if (f->resp.n_problems == before)
			continue; /* over the limit: counted only */
		Cairn__FsckProblem *p = f->resp.problems[before];
		struct nodes_node *node = nodes_get(f->ms->nodes, v[i].node);
		if (!ino)
			p->path[0] = '\0';
		p->node = xstrdup(node ? node->addr : "");
		p->why = (char *)held_why_name(v[i].why);
		p->version = v[i].version;
	}
}

void meta_admin_fsck(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	const char *path = req->fsck->path && *req->fsck->path ? req->fsck->path : "/";
	struct ns_inode *ino;
	int err = ns_lookup(ms->ns, path, &ino);
	if (err) {
		meta_answer(ms, call, err, NULL, NULL);
		return;
	}
	struct fsck f = {ms, ns_inode_id(ino), time_mono_ms(), CAIRN__FSCK_RESP__INIT, 0, 0};
	if (ns_inode_is_dir(ino))
		ns_walk(ms->ns, visit, &f);
	else
		check_file(&f, ino);
	add_held(&f);
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	body.body_case = CAIRN__ENVELOPE__BODY_FSCK_REPORT;
	body.fsck_report = &f.resp;
	meta_answer(ms, call, 0, &body, NULL);
	fsck_free(&f);
}

/* ---- status page -------------------------------------------------------------------------- */

/* "held_count" and "held_replicas": those not deleted on a guess, and why (the first 1000). */
static void held_status(struct meta_server *ms, struct evbuffer *out)
{
	size_t n;
	const struct held_replica *v = held_list(ms->held, &n);
	evbuffer_add_printf(out, ", \"held_count\": %zu, \"held_replicas\": [", n);
	for (size_t i = 0; i < n && i < 1000; i++) {
		const struct nodes_node *node = nodes_get(ms->nodes, v[i].node);
		evbuffer_add_printf(
		    out, "%s{\"chunk\": %llu, \"version\": %llu, \"node\": ", i ? ", " : "",
		    (unsigned long long)v[i].chunk, (unsigned long long)v[i].version);
		meta_http_json_str(out, node ? node->addr : "");
		evbuffer_add_printf(out, ", \"why\": \"%s\"}", held_why_name(v[i].why));
	}
	evbuffer_add_printf(out, "]");
}

void meta_admin_status(struct meta_server *ms, struct evbuffer *out)
{
	const struct repl_stats *st = &ms->scan_stats;
	uint64_t now = time_mono_ms();
	evbuffer_add_printf(out,
			    ", \"healing\": {\"under_replicated\": %zu, \"missing\": %zu, "
			    "\"over_replicated\": %zu, \"held\": %zu, \"copies_in_flight\": %zu, "
			    "\"copies_waiting\": %zu, \"bad_replicas\": %zu}",
			    st->under, st->missing, st->over, st->held, repl_inflight(ms->repl),
			    st->waiting, repl_nbad(ms->repl));
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	evbuffer_add_printf(out,
			    ", \"rebalance\": {\"threshold\": %u, \"mean\": %.2f, \"spread\": %.2f, "
			    "\"moves_in_flight\": %zu, \"chunks_moved\": %llu, \"bytes_moved\": %llu, "
			    "\"balanced\": %s, \"blocked\": %s, \"misplaced\": %zu}, \"chunkservers\": [",
			    repl_threshold(ms->repl), b.mean * 100, b.spread * 100, b.inflight,
			    (unsigned long long)b.moved, (unsigned long long)b.bytes,
			    b.balanced ? "true" : "false", b.blocked ? "true" : "false", st->misplaced);
	size_t n = nodes_count(ms->nodes);
	for (size_t i = 0; i < n; i++) {
		const struct nodes_node *node = nodes_get(ms->nodes, (uint32_t)i);
		evbuffer_add_printf(out, "%s{\"addr\": ", i ? ", " : "");
		meta_http_json_str(out, node->addr);
		evbuffer_add_printf(
		    out,
		    ", \"state\": \"%s\", \"replicas\": %zu, \"used\": %llu, "
		    "\"capacity\": %llu, \"load\": %u, \"last_heard_ms\": %llu}",
		    state_name(node_state(ms, node, now)),
		    chunkmap_node_count(ms->cmap, node->id), (unsigned long long)node->used,
		    (unsigned long long)node->capacity, node->load,
		    (unsigned long long)(now - node->last_ms));
	}
	evbuffer_add_printf(out, "]");
	held_status(ms, out);
}

/* ---- the console's views -------------------------------------------------------------------- */

const char *meta_admin_node_state(const struct meta_server *ms, const struct nodes_node *node,
				  uint64_t now)
{
	return state_name(node_state(ms, node, now));
}

uint64_t meta_admin_fsck_ids(struct meta_server *ms, uint64_t from, uint64_t max_ids,
			     size_t max_problems, meta_fsck_fn fn, void *arg)
{
	struct fsck f = {ms, NS_ROOT_ID, time_mono_ms(), CAIRN__FSCK_RESP__INIT, 0, 0};
	uint64_t end = ns_next_id(ms->ns), id = from;
	for (; id < end && id - from < max_ids && f.resp.n_problems < max_problems; id++) {
		const struct ns_inode *ino = ns_get(ms->ns, id);
		if (ino && !ns_inode_is_dir(ino))
			check_file(&f, ino);
	}
	for (size_t i = 0; i < f.resp.n_problems; i++)
		fn(arg, f.resp.problems[i]);
	fsck_free(&f);
	return id < end ? id : 0;
}
