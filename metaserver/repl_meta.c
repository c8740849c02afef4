/*
 * repl_meta: the metaserver's replication monitor (DESIGN §4) around the
 * pure planner of repl.c.
 *
 * A timer runs repl_scan() every --scan-interval. What each chunk wants
 * comes from the namespace: its file's replication (or the default), its
 * bytes (the file's committed size within the chunk) and whether a write
 * lease holds the file. Copies reach chunkservers in the NodeResp of their
 * next heartbeat (meta_repl_fill()); a chunkserver reports each copy in a
 * later heartbeat once the replica is complete and durable (copied), or
 * its failure (copy_failed), and only then is the new replica recorded.
 * When copies end while the last scan left candidates waiting for the
 * throttle, the next scan is brought forward (to REPL_RESCAN_MS after the
 * last, or ten times the last scan's cost if more), so healing is paced
 * by the copies, not the timer.
 *
 * For --dead-after after the metaserver starts nothing is planned: the
 * chunkservers are still registering, and a chunk that looks short of
 * replicas then only waits for its holders' reports. So too while a
 * chunkserver's report is coming in pages (meta_chunk.c).
 *
 * Bad replicas: a replica a chunkserver found corrupt (heartbeat corrupt
 * list) or a client reported bad leaves the chunk map at once (no reader
 * is sent there again) and is remembered by the planner, which deletes it
 * once the chunk has a full set of good replicas again.
 *
 * Rebalancing is part of every scan (repl.h) at --rebalance-threshold, so
 * it starts by itself when a node joins or utilisation drifts; `cairn
 * admin rebalance --threshold PCT` (repl_admin.c) sets another threshold
 * until the cluster is within it, then the flag's applies again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunkmap.h"
#include "errors.h"
#include "lease.h"
#include "log.h"
#include "meta_int.h"
#include "meta_stats.h"
#include "nodes.h"
#include "ns.h"
#include "util.h"

#define REPL_RESCAN_MS 100u  /* earliest next scan after copies ended */
#define REPL_LOG_MS    5000u /* scans logged at info at most this often, unless news */
#define REPL_REPORT_WAIT_MS 200u /* next try while a chunkserver's report is coming */

static void arm_scan(struct meta_server *ms, uint64_t at_ms)
{
	uint64_t now = time_mono_ms(), in = at_ms > now ? at_ms - now : 0;
	struct timeval tv = {(time_t)(in / 1000), (suseconds_t)(in % 1000) * 1000};
	ms->scan_next_ms = at_ms;
	evtimer_add(ms->scan_ev, &tv);
}

/* Brings the next scan forward when the last one left copies waiting. */
static void rescan_soon(struct meta_server *ms)
{
	if (!ms->scan_stats.waiting && !ms->scan_stats.moves_waiting)
		return;
	uint64_t gap =
	    10 * ms->scan_cost_ms > REPL_RESCAN_MS ? 10 * ms->scan_cost_ms : REPL_RESCAN_MS;
	uint64_t at = ms->scan_last_ms + gap, now = time_mono_ms();
	if (at < now)
		at = now;
	if (at < ms->scan_next_ms)
		arm_scan(ms, at);
}

/* repl_want_fn: what a chunk's file asks of it. */
static int want(void *arg, const struct chunkmap_chunk *c, struct repl_want *w)
{
	struct meta_server *ms = arg;
	struct ns_inode *ino = ns_get(ms->ns, c->file_id);
	if (!ino || ns_inode_is_dir(ino))
		return -ENOENT;
	uint32_t repl = ns_inode_replication(ino);
	uint64_t size = ns_inode_size(ino), cs = ns_file_chunk_size(ms->ns, ino);
	uint64_t start = c->index * cs;
	w->target = repl ? repl : (uint32_t)ms->opts->replication;
	w->length = size > start ? (size - start < cs ? size - start : cs) : 0;
	w->hold = lease_held(ms->leases, c->file_id, time_mono_ms());
	return 0;
}

/* Logs the rebalancer's news; an operator's threshold ends once reached. */
static void log_balance(struct meta_server *ms, const struct repl_stats *st, uint64_t now)
{
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	if (st->moves)
		log_debug("rebalance: %zu moves started (%zu in flight); spread %.1f points around "
			  "%.1f%%",
			  st->moves, b.inflight, b.spread * 100, b.mean * 100);
	int was = ms->scan_stats.moves || ms->scan_last_moving;
	ms->scan_last_moving = b.inflight > 0;
	if (was && b.balanced)
		log_info("rebalance: within %u points of the mean utilisation %.1f%% (spread %.1f); "
			 "%llu chunks, %llu bytes moved in all",
			 repl_threshold(ms->repl), b.mean * 100, b.spread * 100,
			 (unsigned long long)b.moved, (unsigned long long)b.bytes);
	if (b.blocked && now - ms->scan_log_ms >= REPL_LOG_MS)
		log_warn("rebalance: spread %.1f points is over the threshold of %u, but no chunk "
			 "can move",
			 b.spread * 100, repl_threshold(ms->repl));
	if (ms->rebalance_pct && b.balanced) {
		ms->rebalance_pct = 0;
		repl_set_threshold(ms->repl, (uint32_t)ms->opts->rebalance_threshold);
	}
}

void meta_repl_scan_now(struct meta_server *ms)
{
	if (ms->scan_ev && time_mono_ms() >= ms->repl_from_ms)
		arm_scan(ms, time_mono_ms());
}

static void on_scan(evutil_socket_t fd, short what, void *arg)
{
	struct meta_server *ms = arg;
	uint64_t now = time_mono_ms();
	struct repl_stats st;
	if (now < ms->repl_from_ms) {
		arm_scan(ms, ms->repl_from_ms);
		return;
	}
	if (nodes_reporting(ms->nodes)) { /* a partial report makes chunks look short */
		arm_scan(ms, now + REPL_REPORT_WAIT_MS);
		return;
	}
	int err = repl_scan(ms->repl, ms->nodes, ms->cmap, now, want, ms, &ms->rng, &st);
	if (err)
		log_warn("replication scan: %s", err_str(err));
	ms->scan_cost_ms = time_mono_ms() - now;
	ms->scans++;
	log_balance(ms, &st, now);
	const struct repl_stats *old = &ms->scan_stats;
	int acted = st.started || st.trimmed || st.expired || st.cleared || st.misplaced;
	int news = (st.under || st.missing) != (old->under || old->missing);
	if (news || ((acted || st.under != old->under || st.missing != old->missing) &&
		     now - ms->scan_log_ms >= REPL_LOG_MS)) {
		log_info("replication: %zu chunks under-replicated, %zu missing, %zu over; %zu "
			 "copies started (%zu in flight, %zu waiting), %zu surplus replicas "
			 "trimmed, %zu copies expired, %zu bad replicas settled",
			 st.under, st.missing, st.over, st.started, repl_inflight(ms->repl),
			 st.waiting, st.trimmed, st.expired, st.cleared);
		ms->scan_log_ms = now;
	} else if (acted) {
		log_debug("replication: %zu under-replicated; %zu copies started, %zu trimmed",
			  st.under, st.started, st.trimmed);
	}
	ms->scan_stats = st;
	ms->scan_last_ms = now;
	arm_scan(ms, now + ms->opts->scan_interval_ms);
}

int meta_repl_start(struct meta_server *ms, char **cause)
{
	ms->repl = repl_new(NULL);
	ms->scan_ev = evtimer_new(ms->base, on_scan, ms);
	if (!ms->scan_ev) {
		*cause = xstrdup("cannot make the replication monitor's timer");
		return -1;
	}
	repl_set_threshold(ms->repl, (uint32_t)ms->opts->rebalance_threshold);
	if (meta_decom_load(ms, cause) < 0)
		return -1;
	ms->scan_last_ms = time_mono_ms();
	ms->repl_from_ms = ms->scan_last_ms + ms->opts->dead_after_ms;
	arm_scan(ms, ms->scan_last_ms + ms->opts->scan_interval_ms);
	return 0;
}

void meta_repl_stop(struct meta_server *ms)
{
	if (ms->scan_ev)
		event_free(ms->scan_ev);
	ms->scan_ev = NULL;
	repl_free(ms->repl);
	ms->repl = NULL;
}

void meta_repl_node_gone(struct meta_server *ms, struct nodes_node *node)
{
	size_t n = repl_node_reset(ms->repl, node->id);
	if (n)
		log_info("chunkserver %s: %zu copies to it forgotten", node->addr, n);
}

void meta_repl_bad(struct meta_server *ms, uint64_t chunk_id, struct nodes_node *node, int why)
{
	/* A checksum failure is corrupt data; any other failure leaves an outdated replica. */
	int err = err_from_status(why);
	enum repl_bad_kind kind = err == -CAIRN_ECHECKSUM ? REPL_BAD_CORRUPT : REPL_BAD_STALE;
	meta_stats_bad(ms->stats, chunk_id, node, kind == REPL_BAD_CORRUPT);
	if (repl_mark_bad(ms->repl, chunk_id, node->id, kind) < 0)
		log_warn("chunk %llu: out of memory remembering the bad replica on %s",
			 (unsigned long long)chunk_id, node->addr);
}

int meta_repl_short(struct meta_server *ms, struct nodes_node *node, uint64_t chunk_id,
		    uint64_t length)
{
	const struct chunkmap_chunk *c = chunkmap_get(ms->cmap, chunk_id);
	struct repl_want w;
	if (!c || !chunkmap_has(c, node->id) || want(ms, c, &w) != 0 || w.hold ||
	    length >= w.length)
		return 0;
	log_warn("chunk %llu: the replica on %s holds %llu bytes, fewer than the file's %llu; "
		 "re-making it from a good copy",
		 (unsigned long long)chunk_id, node->addr, (unsigned long long)length,
		 (unsigned long long)w.length);
	chunkmap_drop_replica(ms->cmap, chunk_id, node->id);
	meta_repl_bad(ms, chunk_id, node, CAIRN__STATUS__STATUS_CHECKSUM);
	return 1;
}

/* A replica the node found corrupt: out of service now, deleted once the chunk is whole. */
static void take_corrupt(struct meta_server *ms, struct nodes_node *node, uint64_t id)
{
	if (!chunkmap_get(ms->cmap, id)) {
		nodes_queue_delete(node, id);
		return;
	}
	chunkmap_drop_replica(ms->cmap, id, node->id);
	log_warn("chunk %llu: the replica on %s is corrupt; re-making it from a good copy",
		 (unsigned long long)id, node->addr);
	meta_repl_bad(ms, id, node, CAIRN__STATUS__STATUS_CHECKSUM);
}

/* A copy the node completed: its replica counts from now on. */
static void take_copied(struct meta_server *ms, struct nodes_node *node,
			const Cairn__ChunkReport *r)
{
	int rc = chunkmap_add_replica(ms->cmap, r->id, node->id, r->version, r->length);
	repl_done(ms->repl, r->id, node->id);
	if (rc == 0) {
		meta_stats_copied(ms->stats, r->length);
		nodes_unqueue_delete(node, r->id);
		log_debug("chunk %llu: copied to %s (%llu bytes)", (unsigned long long)r->id,
			  node->addr, (unsigned long long)r->length);
		return;
	}
	log_info("chunk %llu: the copy on %s is not wanted any more (%s); deleting it",
		 (unsigned long long)r->id, node->addr,
		 rc == -ENOENT ? "the chunk is gone" : "its version changed");
	nodes_queue_delete(node, r->id);
}

void meta_repl_heartbeat(struct meta_server *ms, struct nodes_node *node,
			 const Cairn__HeartbeatReq *m)
{
	meta_stats_heartbeat(ms->stats, node, m->bytes_read, m->bytes_written);
	for (size_t i = 0; i < m->n_corrupt; i++)
		take_corrupt(ms, node, m->corrupt[i]);
	for (size_t i = 0; i < m->n_copied; i++)
		if (m->copied[i])
			take_copied(ms, node, m->copied[i]);
	for (size_t i = 0; i < m->n_copy_failed; i++) {
		if (repl_failed(ms->repl, m->copy_failed[i], node->id) == 0)
			log_info("chunk %llu: the copy to %s failed; it will be tried again",
				 (unsigned long long)m->copy_failed[i], node->addr);
	}
	if (m->n_copied || m->n_copy_failed)
		rescan_soon(ms);
}

void meta_repl_fill(struct meta_server *ms, struct nodes_node *node, Cairn__NodeResp *resp,
		    struct meta_repl_cmds *buf)
{
	struct repl_cmd cmds[META_REPL_CMDS_MAX];
	size_t n = repl_take(ms->repl, node->id, cmds, META_REPL_CMDS_MAX);
	for (size_t i = 0; i < n; i++) {
		Cairn__ReplicateCmd *c = &buf->cmd[i];
		cairn__replicate_cmd__init(c);
		c->chunk_id = cmds[i].chunk_id;
		c->version = cmds[i].version;
		c->file_id = cmds[i].file_id;
		c->length = cmds[i].length;
		c->sources = buf->src[i];
		for (uint32_t j = 0; j < cmds[i].nsources; j++) {
			struct nodes_node *src = nodes_get(ms->nodes, cmds[i].sources[j]);
			if (src)
				c->sources[c->n_sources++] = src->addr;
		}
		buf->ptr[i] = c;
		log_debug("chunk %llu: copy to %s from %s", (unsigned long long)c->chunk_id,
			  node->addr, c->n_sources ? c->sources[0] : "nowhere");
	}
	resp->replicate = buf->ptr;
	resp->n_replicate = n;
}
