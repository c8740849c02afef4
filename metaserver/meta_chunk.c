/*
 * meta_chunk: the metaserver's side of the data path (DESIGN §4): opens
 * and write leases, chunk allocation and placement, chunk locations, and
 * the chunkservers' registrations and heartbeats.
 *
 * State: ms->nodes (chunkservers), ms->cmap (chunk -> replicas, mirrored
 * from ns plus what chunkservers report) and ms->leases (one writer per
 * file). The namespace is the truth for which chunks exist and at which
 * version; every change to it goes through ns (logged) first and is then
 * mirrored into the chunk map here: chunkmap_set() after each LogChunk
 * this file makes, and ns's drop hook (on_drop) for chunks a truncate,
 * shrink, remove or replacing rename takes away. The chunk map is built
 * from the namespace at start-up (after replay) and replica locations
 * from RegisterReq reports; neither is persisted.
 *
 * Replies: a call that logs (open that creates, truncates or allocates
 * chunk 0 for its writer, allocate, lease with a new size or a trimming
 * release) is answered
 * through meta_answer(), which holds the reply until the op log is
 * durable; a client never writes a chunk whose allocation could be lost.
 *
 * Deletes reach chunkservers in NodeResp: at registration for the stale
 * replicas of the report, and on heartbeats from each node's queue
 * (replicas of chunks the namespace dropped, or of versions passed over).
 * Replicas of chunks the namespace does not know, and versions it never
 * granted, are not deleted on a guess but held (held.h: for
 * --delete-grace, or until released). A queued delete whose reply is
 * lost is not resent; the orphan is found again at the node's next
 * registration. Copies to make, and the heartbeat's lists of copied and
 * corrupt replicas, belong to the replication monitor (repl_meta.c).
 *
 * Invariants: a chunk in the chunk map is in the namespace with the same
 * id, file, index and version; replicas recorded are of that version.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunkmap.h"
#include "errors.h"
#include "held.h"
#include "lease.h"
#include "log.h"
#include "meta_int.h"
#include "nodes.h"
#include "ns.h"
#include "placement.h"
#include "util.h"

#define META_CHUNKS_MAX	  4096u	 /* ChunkInfo per ChunksResp */
#define META_DELETES_MAX  65536u /* chunk ids per NodeResp */
#define META_REPLICAS_MAX NS_REPLICATION_MAX

/* ---- helpers ------------------------------------------------------------------------ */

/* The file with that id: 0, -ENOENT or -EISDIR. */
static int file_get(struct meta_server *ms, uint64_t id, struct ns_inode **out)
{
	struct ns_inode *ino = ns_get(ms->ns, id);
	if (!ino)
		return -ENOENT;
	if (ns_inode_is_dir(ino))
		return -EISDIR;
	*out = ino;
	return 0;
}

/* The live nodes holding chunk id's current version, least loaded first (at most max). */
static size_t live_replicas(struct meta_server *ms, uint64_t id, uint64_t now,
			    struct nodes_node **out, size_t max)
{
	const struct chunkmap_chunk *c = chunkmap_get(ms->cmap, id);
	size_t n = 0;
	for (uint32_t i = 0; c && i < c->nreplicas && n < max; i++) {
		struct nodes_node *node = nodes_get(ms->nodes, c->replicas[i].node);
		if (!node || !nodes_live(ms->nodes, node, now))
			continue;
		size_t j = n++;
		for (; j > 0 && out[j - 1]->load > node->load; j--)
			out[j] = out[j - 1];
		out[j] = node;
	}
	return n;
}

/* chunkmap_drop_fn: the node should delete the replica (dead ones re-register anyway). */
static void queue_delete(void *arg, uint64_t chunk_id, uint32_t node_id)
{
	struct meta_server *ms = arg;
	struct nodes_node *node = nodes_get(ms->nodes, node_id);
	if (node && node->up)
		nodes_queue_delete(node, chunk_id);
}

/* ns_drop_fn: chunks left the namespace; forget them and have their replicas deleted. */
static void on_drop(void *arg, uint64_t file_id, const struct ns_chunk *chunks, size_t n)
{
	struct meta_server *ms = arg;
	for (size_t i = 0; i < n; i++)
		chunkmap_forget(ms->cmap, chunks[i].id, queue_delete, ms);
}

/* Mirrors chunk k at (file_id, index) into the chunk map after a LogChunk. */
static void mirror_chunk(struct meta_server *ms, uint64_t file_id, uint64_t index,
			 const struct ns_chunk *k, chunkmap_drop_fn fn)
{
	int err = chunkmap_set(ms->cmap, k->id, file_id, index, k->version, fn, ms);
	if (err)
		log_error("chunk %llu of file %llu: the chunk map cannot follow (%s)",
			  (unsigned long long)k->id, (unsigned long long)file_id, err_str(err));
}

/*
 * Chooses up to want nodes for a new replica set. Returns how many (at
 * least 1), or -ENOSPC with a new *why.
 */
static int place(struct meta_server *ms, size_t want, uint64_t chunk_size, uint64_t now,
		 struct nodes_node **chain, char **why)
{
	size_t nn = nodes_count(ms->nodes), nc = 0, nlive = 0, idx[META_REPLICAS_MAX];
	struct placement_cand *cands = xcalloc(nn ? nn : 1, sizeof(*cands));
	struct nodes_node **map = xcalloc(nn ? nn : 1, sizeof(*map));
	for (size_t i = 0; i < nn; i++) {
		struct nodes_node *node = nodes_get(ms->nodes, (uint32_t)i);
		if (!nodes_live(ms->nodes, node, now))
			continue;
		nlive++;
		if (nodes_free_bytes(node) < chunk_size || node->decom)
			continue; /* full, or being decommissioned: no new chunks */
		cands[nc] = (struct placement_cand){node->rack, nodes_free_bytes(node), node->load};
		map[nc++] = node;
	}
	if (want > META_REPLICAS_MAX)
		want = META_REPLICAS_MAX;
	size_t k = placement_choose(cands, nc, want, &ms->rng, idx);
	for (size_t i = 0; i < k; i++)
		chain[i] = map[idx[i]];
	free(cands);
	free(map);
	if (k == 0) {
		*why = xstrdup(nlive ? "no chunkserver has room for a chunk" : "no chunkservers");
		return -ENOSPC;
	}
	return (int)k;
}

/* ChunkInfos of chunks [first, first + n) of a file, with their live replicas. */
struct chunk_infos {
	Cairn__ChunkInfo *infos;
	Cairn__ChunkInfo **ptrs;
	char **addrs;
	size_t n;
};

static void infos_free(struct chunk_infos *ci)
{
	free(ci->infos);
	free(ci->ptrs);
	free(ci->addrs);
}

/*
 * Fills ci with up to count (0: all, at most META_CHUNKS_MAX) chunks of ino
 * from first; free with infos_free(). The addresses are borrowed from the
 * nodes until the reply is framed.
 */
static void infos_make(struct meta_server *ms, struct ns_inode *ino, uint64_t first, size_t count,
		       struct chunk_infos *ci)
{
	size_t n;
	const struct ns_chunk *k = ns_inode_chunks(ino, &n);
	memset(ci, 0, sizeof(*ci));
	if (first >= n)
		count = 0;
	else if (!count || count > n - (size_t)first)
		count = n - (size_t)first;
	if (count > META_CHUNKS_MAX)
		count = META_CHUNKS_MAX;
	ci->infos = xcalloc(count ? count : 1, sizeof(*ci->infos));
	ci->ptrs = xcalloc(count ? count : 1, sizeof(*ci->ptrs));
	ci->addrs = xcalloc(count ? count * META_REPLICAS_MAX : 1, sizeof(*ci->addrs));
	uint64_t now = time_mono_ms();
	for (size_t i = 0; i < count; i++) {
		uint64_t index = first + i;
		struct nodes_node *live[META_REPLICAS_MAX];
		size_t nl = live_replicas(ms, k[index].id, now, live, META_REPLICAS_MAX);
		cairn__chunk_info__init(&ci->infos[i]);
		ci->infos[i].index = index;
		ci->infos[i].id = k[index].id;
		ci->infos[i].version = k[index].version;
		ci->infos[i].replicas = ci->addrs + i * META_REPLICAS_MAX;
		ci->infos[i].n_replicas = nl;
		for (size_t j = 0; j < nl; j++)
			ci->infos[i].replicas[j] = live[j]->addr;
		ci->ptrs[i] = &ci->infos[i];
	}
	ci->n = count;
}

/* ---- open ------------------------------------------------------------------------------ */

/* Replication for a file created under path: the parent directory's, if it has one. */
static uint32_t inherited_replication(struct meta_server *ms, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	char *parent = xasprintf("%.*s", (int)(slash - path), path);
	struct ns_inode *dir = NULL;
	uint32_t r = 0;
	if (ns_lookup(ms->ns, parent, &dir) == 0 && ns_inode_is_dir(dir))
		r = ns_inode_replication(dir);
	free(parent);
	return r;
}

/*
 * Takes file id's (at path) write lease; a refusal gets its reason in *why.
 * Returns 0, -CAIRN_ELEASE (another writer holds it), -EAGAIN (leases are
 * being reclaimed after a restart).
 */
static int writer_lease(struct meta_server *ms, uint64_t id, const char *path, uint64_t now,
			uint64_t *lease_id, char **why)
{
	int err = lease_acquire(ms->leases, id, now, lease_id);
	if (err == -CAIRN_ELEASE)
		*why = xasprintf("%s is open for writing by another client", path);
	if (err == -EAGAIN)
		*why = xasprintf("%s: write leases are being reclaimed after a metaserver restart",
				 path);
	return err;
}

/* Resolves or creates the file, takes the lease, truncates. */
static int open_file(struct meta_server *ms, const Cairn__OpenReq *m, struct ns_inode **ino,
		     uint64_t *lease_id, char **why)
{
	int64_t now_us = time_now_us();
	if (m->truncate && !m->write) {
		*why = xstrdup("truncate needs write");
		return -EINVAL;
	}
	int err = meta_chunk_size_check(m->chunk_size, why);
	if (!err)
		err = ns_lookup(ms->ns, m->path, ino);
	if (err == -ENOENT && m->create) {
		uint32_t repl =
		    m->replication ? m->replication : inherited_replication(ms, m->path);
		err = ns_create_sized(ms->ns, m->path, m->mode ? m->mode & 07777 : 0644, 0, 0, repl,
				      m->chunk_size, 1, now_us, ino);
	} else if (!err && m->create && m->exclusive) {
		err = -EEXIST;
	} else if (!err && ns_inode_is_dir(*ino)) {
		err = -EISDIR;
	} else if (!err && ns_inode_is_symlink(*ino)) {
		err = -ELOOP; /* as open(O_NOFOLLOW): links are followed by clients */
	}
	if (err || !m->write)
		return err;
	uint64_t id = ns_inode_id(*ino);
	if ((err = writer_lease(ms, id, m->path, time_mono_ms(), lease_id, why)) != 0)
		return err;
	size_t n;
	ns_inode_chunks(*ino, &n);
	if (m->truncate && (ns_inode_size(*ino) || n)) {
		err = ns_set_size(ms->ns, id, 0, now_us);
		if (err) {
			lease_release(ms->leases, id, *lease_id, time_mono_ms());
			return err;
		}
		*ino = ns_get(ms->ns, id);
	}
	return 0;
}

static int allocate(struct meta_server *ms, const Cairn__AllocateReq *m, struct nodes_node **chain,
		    struct ns_chunk *k, char **why);

/*
 * OpenReq.allocate: chunk 0 of a writer's file that has none, placed and
 * logged with the open, into info (pointing into addrs). Returns 1 when
 * allocated, else 0: the writer asks again with its first write, and
 * hears then why it cannot have one.
 */
static int open_allocate(struct meta_server *ms, struct ns_inode *ino, uint64_t lease_id,
			 Cairn__ChunkInfo *info, char **addrs)
{
	size_t n;
	ns_inode_chunks(ino, &n);
	if (n)
		return 0;
	Cairn__AllocateReq a = CAIRN__ALLOCATE_REQ__INIT;
	struct nodes_node *chain[META_REPLICAS_MAX];
	struct ns_chunk k;
	char *why = NULL;
	a.file_id = ns_inode_id(ino);
	a.lease_id = lease_id;
	int nchain = allocate(ms, &a, chain, &k, &why);
	free(why);
	if (nchain <= 0)
		return 0;
	for (int i = 0; i < nchain; i++)
		addrs[i] = chain[i]->addr;
	info->index = 0;
	info->id = k.id;
	info->version = k.version;
	info->replicas = addrs;
	info->n_replicas = (size_t)nchain;
	return 1;
}

void meta_open(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__OpenReq *m = req->open;
	struct ns_inode *ino = NULL;
	uint64_t lease_id = 0;
	char *why = NULL;
	int err = open_file(ms, m, &ino, &lease_id, &why);
	if (err) {
		meta_answer_why(ms, call, err, why, NULL, NULL);
		free(why);
		return;
	}
	Cairn__Attr attr = CAIRN__ATTR__INIT;
	Cairn__OpenResp r = CAIRN__OPEN_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	Cairn__ChunkInfo first = CAIRN__CHUNK_INFO__INIT;
	char *addrs[META_REPLICAS_MAX];
	struct chunk_infos ci = {0};
	uint64_t id = ns_inode_id(ino);
	if (m->write && m->allocate && open_allocate(ms, ino, lease_id, &first, addrs))
		r.chunk = &first;
	if (!(ino = ns_get(ms->ns, id))) { /* allocate() changed the inode */
		meta_answer(ms, call, -CAIRN_EINTERNAL, NULL, NULL);
		return;
	}
	if (m->locations) {
		infos_make(ms, ino, 0, m->locations, &ci);
		r.chunks = ci.ptrs;
		r.n_chunks = ci.n;
	}
	ns_fill_attr(ino, &attr);
	r.attr = &attr;
	r.lease_id = lease_id;
	r.chunk_size = attr.chunk_size = ns_file_chunk_size(ms->ns, ino);
	r.lease_ms = ms->opts->lease_ms;
	body.body_case = CAIRN__ENVELOPE__BODY_OPENED;
	body.opened = &r;
	meta_answer(ms, call, 0, &body, NULL);
	infos_free(&ci);
}

/* ---- truncate ---------------------------------------------------------------------- */

/*
 * Cuts a file under a write lease taken for the moment (so a writer, or
 * one that may reclaim its lease after a restart, is refused as open()
 * refuses it). ns_set_size() drops the chunks wholly past the size; the
 * last chunk keeps its bytes past it on the replicas, never read (reads
 * stop at the size) and overwritten by a later append.
 */
static int truncate_file(struct meta_server *ms, const Cairn__TruncateReq *m,
			 struct ns_inode **ino, char **why)
{
	int err = ns_lookup(ms->ns, m->path, ino);
	if (!err && ns_inode_is_dir(*ino))
		err = -EISDIR;
	if (err)
		return err;
	if (m->size > ns_inode_size(*ino)) {
		*why = xstrdup(
		    "the metaserver only shortens files (libcairn writes zeros to grow one)");
		return -EINVAL;
	}
	uint64_t id = ns_inode_id(*ino), lease_id, now = time_mono_ms();
	if ((err = writer_lease(ms, id, m->path, now, &lease_id, why)) != 0)
		return err;
	if (m->size < ns_inode_size(*ino))
		err = ns_set_size(ms->ns, id, m->size, time_now_us());
	lease_release(ms->leases, id, lease_id, now);
	*ino = ns_get(ms->ns, id);
	return err ? err : *ino ? 0 : -CAIRN_EINTERNAL;
}

void meta_truncate(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	struct ns_inode *ino = NULL;
	char *why = NULL;
	int err = truncate_file(ms, req->truncate, &ino, &why);
	meta_answer_why(ms, call, err, why, NULL, ino);
	free(why);
}

/* ---- chunk locations --------------------------------------------------------------- */

void meta_chunks(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__ChunksReq *m = req->chunks;
	struct ns_inode *ino;
	struct chunk_infos ci;
	int err = file_get(ms, m->file_id, &ino);
	if (err) {
		meta_answer(ms, call, err, NULL, NULL);
		return;
	}
	infos_make(ms, ino, m->first, m->count, &ci);
	Cairn__ChunksResp resp = CAIRN__CHUNKS_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	resp.chunks = ci.ptrs;
	resp.n_chunks = ci.n;
	resp.size = ns_inode_size(ino);
	body.body_case = CAIRN__ENVELOPE__BODY_CHUNK_LIST;
	body.chunk_list = &resp;
	meta_answer(ms, call, 0, &body, NULL);
	infos_free(&ci);
}

/* ---- allocate ------------------------------------------------------------------------ */

/*
 * Checks that lease_id is file_id's live lease, reclaiming it when the
 * metaserver restarted since it was granted (lease.h). Returns 0 or
 * -CAIRN_ELEASE.
 */
static int lease_valid(struct meta_server *ms, uint64_t file_id, uint64_t lease_id, uint64_t now)
{
	int rc = lease_reclaim(ms->leases, file_id, lease_id, now);
	if (rc == 1) {
		log_info("write lease %llu on file %llu reclaimed by its holder after a restart",
			 (unsigned long long)lease_id, (unsigned long long)file_id);
		meta_temp_reclaimed(ms, file_id);
	}
	return rc < 0 ? -CAIRN_ELEASE : 0;
}

static int lease_refused(const Cairn__AllocateReq *m, char **why)
{
	*why = xasprintf("no write lease %llu on file %llu (expired, released or never granted)",
			 (unsigned long long)m->lease_id, (unsigned long long)m->file_id);
	return -CAIRN_ELEASE;
}

/*
 * The write chain for chunk index of the file, and its logged new id or
 * version in *k. Returns the chain's length, or a negative error with
 * (maybe) a new *why.
 */
static int allocate(struct meta_server *ms, const Cairn__AllocateReq *m, struct nodes_node **chain,
		    struct ns_chunk *k, char **why)
{
	uint64_t now = time_mono_ms();
	struct ns_inode *ino;
	if (lease_valid(ms, m->file_id, m->lease_id, now) < 0)
		return lease_refused(m, why);
	int err = file_get(ms, m->file_id, &ino);
	if (err)
		return err;
	size_t n;
	const struct ns_chunk *chunks = ns_inode_chunks(ino, &n);
	if (m->index > n) {
		*why = xasprintf("chunk index %llu is past the file's %zu chunks",
				 (unsigned long long)m->index, n);
		return -EINVAL;
	}
	int nchain = 0;
	if (m->index < n)
		nchain = (int)live_replicas(ms, chunks[m->index].id, now, chain, META_REPLICAS_MAX);
	if (nchain == 0) {
		uint32_t repl = ns_inode_replication(ino);
		nchain = place(ms, repl ? repl : (size_t)ms->opts->replication,
			       ns_file_chunk_size(ms->ns, ino), now, chain, why);
		if (nchain == -ENOSPC && nodes_count(ms->nodes) == 0 &&
		    lease_in_grace(ms->leases, now)) {
			/* Just restarted: the chunkservers have not registered yet. */
			free(*why);
			*why = xstrdup("waiting for chunkservers to register after a restart");
			return -EAGAIN;
		}
		if (nchain < 0)
			return nchain;
	}
	/* Never grant a version a held replica claims: it would pass for the new data. */
	uint64_t claimed = m->index < n ? held_max_version(ms->held, chunks[m->index].id) : 0;
	if (m->index < n && claimed > chunks[m->index].version &&
	    (err = ns_chunk_set_version(ms->ns, m->file_id, m->index, claimed, time_now_us())))
		return err;
	err = ns_chunk_alloc(ms->ns, m->file_id, m->index, time_now_us(), k);
	if (err)
		return err;
	/* Replicas not in the chain are on dead nodes: they re-register and are told then. */
	mirror_chunk(ms, m->file_id, m->index, k, NULL);
	for (int i = 0; i < nchain; i++) {
		chunkmap_add_replica(ms->cmap, k->id, chain[i]->id, k->version, 0);
		nodes_unqueue_delete(chain[i], k->id);
	}
	return nchain;
}

void meta_allocate(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__AllocateReq *m = req->allocate;
	struct nodes_node *chain[META_REPLICAS_MAX];
	struct ns_chunk k;
	char *why = NULL, *addrs[META_REPLICAS_MAX];
	int n = allocate(ms, m, chain, &k, &why);
	if (n < 0) {
		meta_answer_why(ms, call, n, why, NULL, NULL);
		free(why);
		return;
	}
	Cairn__ChunkInfo info = CAIRN__CHUNK_INFO__INIT;
	Cairn__ChunkResp resp = CAIRN__CHUNK_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	for (int i = 0; i < n; i++)
		addrs[i] = chain[i]->addr;
	info.index = m->index;
	info.id = k.id;
	info.version = k.version;
	info.replicas = addrs;
	info.n_replicas = (size_t)n;
	resp.chunk = &info;
	body.body_case = CAIRN__ENVELOPE__BODY_CHUNK;
	body.chunk = &resp;
	log_debug("file %llu chunk %llu: id %llu version %llu on %d nodes, primary %s",
		  (unsigned long long)m->file_id, (unsigned long long)m->index,
		  (unsigned long long)k.id, (unsigned long long)k.version, n, addrs[0]);
	meta_answer(ms, call, 0, &body, NULL);
}

/* ---- lease: renew, commit the size, release -------------------------------------------- */

static int lease_call(struct meta_server *ms, const Cairn__LeaseReq *m, char **why)
{
	uint64_t now = time_mono_ms();
	struct ns_inode *ino;
	if (lease_valid(ms, m->file_id, m->lease_id, now) < 0) {
		*why = xasprintf("no write lease %llu on file %llu (expired or released)",
				 (unsigned long long)m->lease_id, (unsigned long long)m->file_id);
		return -CAIRN_ELEASE;
	}
	int err = file_get(ms, m->file_id, &ino);
	if (err) {
		lease_release(ms->leases, m->file_id, m->lease_id, now);
		return err;
	}
	uint64_t size = ns_inode_size(ino), cs = ns_file_chunk_size(ms->ns, ino);
	size_t n;
	ns_inode_chunks(ino, &n);
	/* A trimming release drops chunks past the final size (allocated, never written). */
	int trim = m->release && m->trim && n > m->size / cs + (m->size % cs != 0);
	if (m->release ? m->size != size || trim : m->size > size) {
		if (m->size > (uint64_t)n * cs) {
			*why = xasprintf("size %llu is past the file's %zu chunks",
					 (unsigned long long)m->size, n);
			return -EINVAL;
		}
		err = ns_set_size(ms->ns, m->file_id, m->size, time_now_us());
		if (err)
			return err;
	}
	if (m->release)
		return lease_release(ms->leases, m->file_id, m->lease_id, now);
	return lease_renew(ms->leases, m->file_id, m->lease_id, now);
}

void meta_lease(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	char *why = NULL;
	int err = lease_call(ms, req->lease, &why);
	meta_answer_why(ms, call, err, why, NULL, NULL);
	free(why);
}

/* ---- report_bad ----------------------------------------------------------------------- */

void meta_report_bad(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__ReportBadReq *m = req->report_bad;
	struct nodes_node *node = m->replica ? nodes_find(ms->nodes, m->replica) : NULL;
	if (node && chunkmap_drop_replica(ms->cmap, m->chunk_id, node->id) == 0) {
		log_warn("chunk %llu: a client found the replica on %s bad (%s); it is no longer "
			 "served",
			 (unsigned long long)m->chunk_id, node->addr,
			 err_str(err_from_status(m->why)));
		meta_repl_bad(ms, m->chunk_id, node, m->why);
	}
	meta_answer(ms, call, 0, NULL, NULL);
}

/* ---- chunkservers ---------------------------------------------------------------------- */

/* Holds node's replica instead of deleting it (held.h); 2, as take_report() returns. */
static int hold(struct meta_server *ms, const struct nodes_node *node, const Cairn__ChunkReport *r,
		enum held_why why, uint64_t now)
{
	if (why == HELD_NEWER)
		log_warn(
		    "chunk %llu: %s claims version %llu, newer than the namespace ever granted "
		    "(%llu); held, not served, and the other replicas stay",
		    (unsigned long long)r->id, node->addr, (unsigned long long)r->version,
		    (unsigned long long)chunkmap_get(ms->cmap, r->id)->version);
	held_add(ms->held, node->id, r->id, r->version, why, now);
	return 2;
}

/*
 * Records one reported replica. Returns 0 when recorded, 1 when the node
 * should delete it (stale), 2 when it is held (unknown chunk, or a
 * version the namespace never granted).
 */
static int take_report(struct meta_server *ms, struct nodes_node *node, const Cairn__ChunkReport *r,
		       uint64_t now)
{
	int rc = chunkmap_add_replica(ms->cmap, r->id, node->id, r->version, r->length);
	if (rc == 1)
		return hold(ms, node, r, HELD_NEWER, now);
	if (rc == -ENOENT) {
		ns_set_next_chunk_id(ms->ns, r->id + 1); /* never hand out an id that exists */
		return ms->opts->delete_grace_ms ? hold(ms, node, r, HELD_UNKNOWN, now) : 1;
	}
	if (rc == -CAIRN_ESTALE) {
		/*
		 * During a write the chain may not have the new version yet: leave
		 * it; so too during the lease grace, when its writer may be back.
		 */
		const struct chunkmap_chunk *c = chunkmap_get(ms->cmap, r->id);
		return !lease_held(ms->leases, c->file_id, now) && !lease_in_grace(ms->leases, now);
	}
	return 0;
}

/*
 * Sends NodeResp: ids (n of them) first, then what the node's queue holds,
 * up to the cap; report_id names a paged report just opened (else 0).
 */
static void answer_node(struct meta_server *ms, struct meta_call *call, struct nodes_node *node,
			uint64_t *ids, size_t n, size_t cap, int reregister, uint64_t report_id)
{
	if (node)
		n += nodes_take_deletes(node, ids + n, cap - n);
	Cairn__NodeResp resp = CAIRN__NODE_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	struct meta_repl_cmds copies;
	if (node)
		meta_repl_fill(ms, node, &resp, &copies);
	resp.heartbeat_ms = ms->opts->heartbeat_ms;
	resp.delete_ = ids;
	resp.n_delete_ = n;
	resp.reregister = reregister;
	resp.report_id = report_id;
	resp.fs_id.data = (uint8_t *)ns_fs_id(ms->ns);
	resp.fs_id.len = NS_ID_LEN;
	body.body_case = CAIRN__ENVELOPE__BODY_NODE;
	body.node = &resp;
	meta_answer(ms, call, 0, &body, NULL);
}

/*
 * Records one page of node's report and answers it: the page's stale and
 * orphaned replicas to delete (past META_DELETES_MAX, queued for the
 * heartbeats), and report_id for a RegisterReq that opens a paged report.
 * Each replica is judged on its own, so a page needs none of the others.
 */
static void take_page(struct meta_server *ms, struct meta_call *call, struct nodes_node *node,
		      Cairn__ChunkReport **chunks, size_t n, uint64_t report_id, uint64_t now)
{
	size_t cap = n < META_DELETES_MAX ? n : META_DELETES_MAX, ndel = 0;
	uint64_t *del = xmalloc((cap ? cap : 1) * sizeof(*del));
	node->nchunks += n;
	for (size_t i = 0; i < n; i++) {
		int rc = take_report(ms, node, chunks[i], now);
		if (rc == 2)
			continue;
		if (!rc) {
			meta_repl_short(ms, node, chunks[i]->id, chunks[i]->length);
			continue;
		}
		if (chunkmap_get(ms->cmap, chunks[i]->id)) /* stale, not an orphan */
			meta_repl_bad(ms, chunks[i]->id, node, CAIRN__STATUS__STATUS_STALE);
		if (ndel < cap)
			del[ndel++] = chunks[i]->id;
		else
			nodes_queue_delete(node, chunks[i]->id);
	}
	answer_node(ms, call, NULL, del, ndel, cap, 0, report_id);
	free(del);
}

/* A new id for a paged report: never 0, never one given before (wall-clock based). */
static uint64_t report_id_new(struct meta_server *ms)
{
	uint64_t id = (uint64_t)time_now_us();
	ms->report_last = id > ms->report_last ? id : ms->report_last + 1;
	return ms->report_last;
}

/*
 * Registration replaces the node's replica set: its old replicas leave the
 * chunk map and the report's come in, all at once or page by page. While
 * pages are coming the node serves what it reported so far, and the
 * replication scan waits (repl_meta.c), since chunks it has not reported
 * yet look short of replicas.
 */
void meta_register(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__RegisterReq *m = req->register_;
	uint64_t now = time_mono_ms();
	struct nodes_node *node;
	char *why = NULL;
	if (meta_ident_check(ms, m->addr ? m->addr : "", m->fs_id.data, m->fs_id.len, &why) < 0) {
		meta_answer_why(ms, call, -EACCES, why, NULL, NULL);
		free(why);
		return;
	}
	int known = nodes_register(ms->nodes, m->addr, m->rack, m->capacity, m->used, now, &node);
	if (known < 0) {
		meta_answer_why(ms, call, known,
				known == -EINVAL ? "a chunkserver needs an address (and a rack "
						   "name) of at most 255 bytes"
						 : NULL,
				NULL, NULL);
		return;
	}
	size_t dropped = known ? chunkmap_drop_node(ms->cmap, node->id) : 0;
	held_drop_node(ms->held, node->id);
	node->nchunks = 0;
	if (known)
		meta_repl_node_gone(ms, node);
	uint64_t report_id = m->more ? report_id_new(ms) : 0;
	if (report_id)
		nodes_report_begin(ms->nodes, node, report_id);
	take_page(ms, call, node, m->chunks, m->n_chunks, report_id, now);
	log_info("chunkserver %s %s (rack '%s', %llu of %llu bytes used): %zu replicas%s%s",
		 node->addr, known ? "registered again" : "registered", node->rack,
		 (unsigned long long)node->used, (unsigned long long)node->capacity, m->n_chunks,
		 report_id ? " in the first page of its report" : "",
		 dropped ? " (its previous report replaced)" : "");
}

void meta_report(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__ChunkReportReq *m = req->report;
	uint64_t now = time_mono_ms();
	struct nodes_node *node;
	int err = nodes_report_page(ms->nodes, m->addr, m->report_id, m->page, now, &node);
	if (err) {
		char *why =
		    xasprintf("chunk report %llu page %u from %s: %s; register again",
			      (unsigned long long)m->report_id, m->page, m->addr ? m->addr : "",
			      err == -ENOENT  ? "not a registered chunkserver"
			      : err == -ESRCH ? "no such report in progress"
					      : "page out of order");
		log_warn("%s", why);
		meta_answer_why(ms, call, err == -ENOENT ? -ENOENT : -CAIRN_EPROTO, why, NULL,
				NULL);
		free(why);
		return;
	}
	if (m->done)
		nodes_report_end(ms->nodes, node);
	take_page(ms, call, node, m->chunks, m->n_chunks, m->done ? 0 : m->report_id, now);
	if (m->done)
		log_info("chunkserver %s reported: %llu replicas in %u pages", node->addr,
			 (unsigned long long)node->nchunks, m->page + 1);
}

void meta_heartbeat(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__HeartbeatReq *m = req->heartbeat;
	uint64_t now = time_mono_ms();
	struct nodes_node *node;
	if (nodes_heartbeat(ms->nodes, m->addr, m->capacity, m->used, m->load, m->nchunks, now,
			    &node) < 0) {
		answer_node(ms, call, NULL, NULL, 0, 0, 1, 0);
		return;
	}
	size_t lost = 0;
	for (size_t i = 0; i < m->n_lost; i++)
		lost += chunkmap_drop_replica(ms->cmap, m->lost[i], node->id) == 0;
	if (lost)
		log_warn("chunkserver %s lost %zu replicas", node->addr, lost);
	meta_repl_heartbeat(ms, node, m);
	size_t cap = node->ndeletes < META_DELETES_MAX ? node->ndeletes : META_DELETES_MAX;
	uint64_t *del = xmalloc((cap ? cap : 1) * sizeof(*del));
	answer_node(ms, call, node, del, 0, cap, 0, 0);
	free(del);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static int mirror_file(void *arg, const struct ns_inode *ino)
{
	struct meta_server *ms = arg;
	size_t n;
	const struct ns_chunk *k = ns_inode_chunks(ino, &n);
	for (size_t i = 0; i < n; i++) {
		if (chunkmap_get(ms->cmap, k[i].id))
			log_error("chunk %llu is in two places of the namespace (file %llu index "
				  "%zu and file %llu)",
				  (unsigned long long)k[i].id,
				  (unsigned long long)chunkmap_get(ms->cmap, k[i].id)->file_id, i,
				  (unsigned long long)ns_inode_id(ino));
		if (chunkmap_set(ms->cmap, k[i].id, ns_inode_id(ino), i, k[i].version, NULL, NULL) <
		    0)
			return -EINVAL; /* a chunk id or version of 0 */
	}
	return 0;
}

int meta_chunk_start(struct meta_server *ms, char **cause)
{
	ms->nodes = nodes_new(ms->opts->dead_after_ms);
	ms->cmap = chunkmap_new();
	ms->held = held_new();
	ms->leases = lease_new(ms->opts->lease_ms, (uint64_t)time_now_us());
	lease_grace(ms->leases, time_mono_ms() + ms->opts->lease_ms, ns_next_id(ms->ns));
	ms->rng = ((uint64_t)time_now_us() ^ ((uint64_t)getpid() << 32)) | 1;
	if (ns_walk(ms->ns, mirror_file, ms) != 0) {
		*cause = xstrdup("the namespace has a chunk of id or version 0");
		return -1;
	}
	meta_temp_start(ms);
	ns_set_drop(ms->ns, on_drop, ms);
	log_info("chunk map: %zu chunks; waiting for chunkservers to report",
		 chunkmap_count(ms->cmap));
	return 0;
}

void meta_chunk_stop(struct meta_server *ms)
{
	if (ms->ns)
		ns_set_drop(ms->ns, NULL, NULL);
	nodes_free(ms->nodes);
	chunkmap_free(ms->cmap);
	held_free(ms->held);
	lease_free(ms->leases);
	meta_temp_stop(ms);
	ms->nodes = NULL;
	ms->cmap = NULL;
	ms->held = NULL;
	ms->leases = NULL;
}

static void on_dead(void *arg, struct nodes_node *node)
{
	struct meta_server *ms = arg;
	log_warn("chunkserver %s is dead (silent for over %llu ms); its replicas are not served "
		 "until it registers again",
		 node->addr, (unsigned long long)ms->opts->dead_after_ms);
	meta_repl_node_gone(ms, node);
}

static void on_expired(void *arg, uint64_t file_id, uint64_t lease_id)
{
	struct meta_server *ms = arg;
	struct ns_inode *ino = ns_get(ms->ns, file_id);
	log_info("write lease %llu on file %llu expired; its size stays at the last committed %llu",
		 (unsigned long long)lease_id, (unsigned long long)file_id,
		 (unsigned long long)(ino ? ns_inode_size(ino) : 0));
	meta_temp_expired(ms, file_id);
}

/* held_fn: a held replica leaves the set; its node deletes it (if up: else found again). */
static void delete_held(void *arg, const struct held_replica *r)
{
	struct meta_server *ms = arg;
	struct nodes_node *node = nodes_get(ms->nodes, r->node);
	if (node && node->up && nodes_queue_delete(node, r->chunk) == 0)
		log_info("chunk %llu version %llu on %s: held replica deleted (%s)",
			 (unsigned long long)r->chunk, (unsigned long long)r->version, node->addr,
			 held_why_name(r->why));
}

void meta_admin_release_held(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	(void)req;
	Cairn__ReleaseHeldResp resp = CAIRN__RELEASE_HELD_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	resp.released = held_release(ms->held, delete_held, ms);
	log_warn("release-held: %llu held replicas released for deletion by an operator",
		 (unsigned long long)resp.released);
	body.body_case = CAIRN__ENVELOPE__BODY_RELEASED;
	body.released = &resp;
	meta_answer(ms, call, 0, &body, NULL);
}

void meta_chunk_tick(struct meta_server *ms)
{
	uint64_t now = time_mono_ms();
	held_due(ms->held, now, ms->opts->delete_grace_ms, delete_held, ms);
	nodes_expire(ms->nodes, now, on_dead, ms);
	lease_expire(ms->leases, now, on_expired, ms);
	meta_temp_tick(ms, now);
}
