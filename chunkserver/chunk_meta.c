/*
 * chunk_meta: the chunkserver's link to the metaserver (DESIGN §5).
 *
 * One rpc_client to --meta, which reconnects by itself with back-off. A
 * timer ticks every heartbeat interval (CHUNK_HEARTBEAT_MS until a NodeResp
 * names another): it checks the data dirs, closes idle chain connections,
 * and sends one call to the metaserver unless one is still in flight:
 *
 *  - RegisterReq while not registered on the current connection: our
 *    address, rack, space and the full chunk report (every replica in
 *    service; corrupt ones are left out). A connection that closes
 *    (rpc_conn_ops.on_close) un-registers, so the first call on the next
 *    connection is a RegisterReq again. A frame holds at most
 *    FRAME_MAX_ENVELOPE (4 MiB, ~100,000 replicas), so the report goes in
 *    pages of CHUNK_REPORT_PAGE replicas: the RegisterReq carries the
 *    first (with more set), ChunkReportReq calls the rest, one after the
 *    other, the last with done. The replicas' ids are taken when the
 *    report begins; each page describes them as they are when it is sent.
 *    We are registered once the last page is answered; any failure on the
 *    way drops the report, and the next registration starts over.
 *  - HeartbeatReq otherwise: space, load (calls in progress), replica
 *    count, the chunks lost or found corrupt since the last acknowledged
 *    report (the corrupt ones, by the store's mark, also in a list of
 *    their own), and the copies ended (chunk_repl.c).
 *
 * The NodeResp answer sets the interval, names replicas to delete
 * (store_remove; a copy of one in progress is cancelled), copies to make
 * (chunk_repl.c), and may ask us to register again. A copy that ends
 * brings the next heartbeat forward (chunk_meta_kick()). Nothing here ever
 * blocks or delays client I/O: every call is asynchronous and at most
 * one is in flight. A metaserver that refuses RegisterReq (not written
 * yet: ENOTSUP; another file system: PERMISSION) is logged once and asked
 * again every interval. Every NodeResp names the metaserver's file system;
 * chunk_ident.c judges it before anything in it is acted on.
 *
 * CAIRN_CHUNK_REPORT_PAGE in the environment sets a smaller page, so
 * tests see several pages from a few replicas.
 *
 * Invariants: meta_busy is set exactly while a call of ours is in
 * flight; sent_nlost lost ids at the front of cs->lost are in that call;
 * report_at <= report_n <= report_cap; report_page is 0 until the
 * metaserver opens a paged report, then the number of the next page.
 */
#include "chunk_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "frame.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define CHUNK_REGISTER_TIMEOUT_MS 10000u
#define CHUNK_HEARTBEAT_MIN_MS	  10u
#define CHUNK_HEARTBEAT_MAX_MS	  3600000u
#define CHUNK_REPORT_PAGE	  20000u /* replicas per report page (~1 MiB framed) */

static void arm(struct chunk_server *cs, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(cs->hb_ev, &tv);
}

/* Total capacity (used + free of every dir in service) and used bytes. */
static void space(const struct chunk_server *cs, uint64_t *capacity, uint64_t *used)
{
	*capacity = *used = 0;
	for (int i = 0; i < store_ndirs(cs->store); i++) {
		struct store_dir_stats st;
		store_dir_stats(cs->store, i, &st);
		if (st.failed)
			continue;
		*capacity += st.used + st.free;
		*used += st.used;
	}
}

static void count_chunk(const struct store_chunk_info *info, void *arg)
{
	size_t *n = arg;
	*n += !info->corrupt;
}

/* store_foreach_fn: notes a replica for the report (room for all was made). */
static void add_id(const struct store_chunk_info *info, void *arg)
{
	struct chunk_server *cs = arg;
	if (!info->corrupt && cs->report_n < cs->report_cap)
		cs->report[cs->report_n++] = info->chunk_id;
}

/* Ends the report in progress, if any. */
static void report_drop(struct chunk_server *cs)
{
	free(cs->report);
	cs->report = NULL;
	cs->report_n = cs->report_cap = cs->report_at = 0;
	cs->report_id = 0;
	cs->report_page = 0;
}

/* The next page of the report. */
struct page {
	Cairn__ChunkReport *reps;
	Cairn__ChunkReport **ptrs;
	size_t n;
};

/*
 * Fills p with the replicas of the next report_page_max ids, as they are
 * now: one gone since the report began is left out (its loss is in the
 * lost list), and so is a copy in progress (not a replica yet). Free p's
 * arrays after.
 */
static void page_fill(struct chunk_server *cs, struct page *p)
{
	size_t k = cs->report_n - cs->report_at;
	if (k > cs->report_page_max)
		k = cs->report_page_max;
	p->n = 0;
	p->reps = xcalloc(k ? k : 1, sizeof(*p->reps));
	p->ptrs = xcalloc(k ? k : 1, sizeof(*p->ptrs));
	for (size_t i = 0; i < k; i++) {
		uint64_t id = cs->report[cs->report_at + i];
		struct store_chunk_info info;
		if (store_lookup(cs->store, id, &info) != 0 || info.corrupt ||
		    chunk_repl_busy(cs, id))
			continue;
		Cairn__ChunkReport *c = &p->reps[p->n];
		cairn__chunk_report__init(c);
		c->id = id;
		c->version = info.version;
		c->length = info.length;
		c->file_id = info.file_id;
		p->ptrs[p->n++] = c;
	}
	cs->report_at += k;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorts the lost list and drops duplicates. */
static void lost_compact(struct chunk_server *cs)
{
	if (cs->nlost < 2)
		return;
	qsort(cs->lost, cs->nlost, sizeof(*cs->lost), cmp_u64);
	size_t n = 1;
	for (size_t i = 1; i < cs->nlost; i++)
		if (cs->lost[i] != cs->lost[n - 1])
			cs->lost[n++] = cs->lost[i];
	cs->nlost = n;
}

/* Drops the lost ids the acknowledged call carried. */
static void lost_acked(struct chunk_server *cs)
{
	size_t k = cs->sent_nlost;
	cs->sent_nlost = 0;
	if (k == 0)
		return;
	memmove(cs->lost, cs->lost + k, (cs->nlost - k) * sizeof(*cs->lost));
	cs->nlost -= k;
}

static void on_removed(int err, struct evbuffer *data, void *arg)
{
	uint64_t *id = arg;
	if (err && err != -ENOENT)
		log_warn("chunk %016llx: removing the replica: %s", (unsigned long long)*id,
			 err_str(err));
	free(id);
}

/* Carries out what the metaserver answered. */
static void apply_node(struct chunk_server *cs, const Cairn__NodeResp *n, int heartbeat)
{
	uint64_t ms = n->heartbeat_ms;
	if (ms) {
		ms = ms < CHUNK_HEARTBEAT_MIN_MS   ? CHUNK_HEARTBEAT_MIN_MS
		     : ms > CHUNK_HEARTBEAT_MAX_MS ? CHUNK_HEARTBEAT_MAX_MS
						   : ms;
		if (ms != cs->heartbeat_ms) {
			log_info("heartbeat interval now %llu ms", (unsigned long long)ms);
			cs->heartbeat_ms = ms;
			arm(cs, ms);
		}
	}
	for (size_t i = 0; i < n->n_delete_; i++) {
		uint64_t *id = xmalloc(sizeof(*id));
		*id = n->delete_[i];
		log_info("chunk %016llx: removing the replica (metaserver)",
			 (unsigned long long)*id);
		chunk_repl_cancel(cs, *id);
		store_remove(cs->store, *id, on_removed, id);
	}
	for (size_t i = 0; i < n->n_replicate; i++)
		if (n->replicate[i])
			chunk_repl_command(cs, n->replicate[i]);
	if (heartbeat && n->reregister) {
		log_info("the metaserver asks us to register again");
		cs->registered = 0;
		arm(cs, 0);
	}
}

/* A register or heartbeat failed. */
static void meta_failed(struct chunk_server *cs, int err, const Cairn__Envelope *reply,
			const char *what)
{
	const char *why = reply && reply->error && *reply->error ? reply->error : err_str(err);
	if (cs->ident_refused && (err == -EACCES || err == -CAIRN_EPROTO)) {
		/* said once already (here or by chunk_ident_accept()) */
	} else if (err == -EACCES) {
		log_error("metaserver %s refused us: %s; our data dirs are kept as they are; "
			  "asking again every few seconds",
			  cs->opts->meta, why);
		cs->ident_refused = 1;
	} else if (err == -ENOTSUP) {
		if (!cs->meta_notsup)
			log_warn("metaserver %s does not take %s calls (%s); asking again every "
				 "heartbeat",
				 cs->opts->meta, what, why);
		cs->meta_notsup = 1;
	} else if (!cs->meta_down) {
		log_warn("metaserver %s: %s failed: %s; retrying", cs->opts->meta, what, why);
		cs->meta_down = 1;
	}
	if (err != -ETIMEDOUT)
		cs->registered = 0;
}

static void meta_ok(struct chunk_server *cs)
{
	if (cs->meta_down || cs->meta_notsup)
		log_info("metaserver %s answers again", cs->opts->meta);
	cs->meta_down = 0;
	cs->meta_notsup = 0;
}

/* The metaserver has our whole report: we are registered. */
static void reported(struct chunk_server *cs)
{
	size_t n = cs->report_n;
	uint32_t pages = cs->report_page ? cs->report_page : 1;
	report_drop(cs);
	cs->registered = 1;
	lost_acked(cs); /* the full report supersedes them */
	chunk_repl_acked(cs, 1);
	log_info("registered with metaserver %s (%zu replicas in %u pages)", cs->opts->meta, n,
		 pages);
}

/* A register or report page failed: the next registration starts over. */
static void report_failed(struct chunk_server *cs, int err, const Cairn__Envelope *reply,
			  const char *what)
{
	report_drop(cs);
	cs->sent_nlost = 0;
	chunk_repl_acked(cs, 0);
	meta_failed(cs, err, reply, what);
	cs->registered = 0;
}

static void send_page(struct chunk_server *cs);

/* The answer to a RegisterReq or a report page: the next page, or done. */
static void on_register(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct chunk_server *cs = arg;
	cs->meta_busy = 0;
	if (cs->stopping)
		return;
	if (err == 0 && reply->body_case != CAIRN__ENVELOPE__BODY_NODE)
		err = -CAIRN_EPROTO;
	if (err == 0 && !cs->report_page && cs->report_at < cs->report_n && !reply->node->report_id)
		err = -CAIRN_EPROTO; /* a paged report the metaserver did not open */
	if (err == 0)
		err = chunk_ident_accept(cs, reply->node->fs_id.data, reply->node->fs_id.len);
	if (err) {
		report_failed(cs, err, reply, cs->report_page ? "chunk report" : "register");
		return;
	}
	meta_ok(cs);
	if (!cs->report_page && reply->node->report_id) {
		cs->report_id = reply->node->report_id;
		cs->report_page = 1;
	}
	apply_node(cs, reply->node, 0);
	if (cs->report_at < cs->report_n)
		send_page(cs);
	else
		reported(cs);
}

/*
 * Calls the metaserver with the next page of the report: in a RegisterReq
 * when it is the first (no page sent yet), else in a ChunkReportReq.
 * Returns 0 or a negative error.
 */
static int call_page(struct chunk_server *cs)
{
	struct page p;
	Cairn__RegisterReq reg = CAIRN__REGISTER_REQ__INIT;
	Cairn__ChunkReportReq m = CAIRN__CHUNK_REPORT_REQ__INIT;
	Cairn__Envelope env = CAIRN__ENVELOPE__INIT;
	int first = cs->report_page == 0;
	page_fill(cs, &p);
	if (first) {
		reg.addr = cs->opts->listen;
		reg.rack = cs->opts->rack ? cs->opts->rack : "";
		space(cs, &reg.capacity, &reg.used);
		reg.chunks = p.ptrs;
		reg.n_chunks = p.n;
		reg.more = cs->report_at < cs->report_n;
		reg.fs_id.data = cs->fs_id;
		reg.fs_id.len = cs->has_id ? sizeof(cs->fs_id) : 0;
		env.body_case = CAIRN__ENVELOPE__BODY_REGISTER;
		env.register_ = &reg;
	} else {
		m.addr = cs->opts->listen;
		m.report_id = cs->report_id;
		m.page = cs->report_page;
		m.chunks = p.ptrs;
		m.n_chunks = p.n;
		m.done = cs->report_at == cs->report_n;
		env.body_case = CAIRN__ENVELOPE__BODY_REPORT;
		env.report = &m;
	}
	int rc = rpc_client_call(cs->meta, &env, NULL, CHUNK_REGISTER_TIMEOUT_MS, on_register, cs);
	free(p.reps);
	free(p.ptrs);
	return rc;
}

/* Sends the next ChunkReportReq page of the report. */
static void send_page(struct chunk_server *cs)
{
	int rc = call_page(cs);
	if (rc < 0) {
		report_failed(cs, rc, NULL, "chunk report");
		return;
	}
	cs->meta_busy = 1;
	cs->report_page++;
}

/*
 * Sends RegisterReq with the first page of the report: every replica in
 * service now, their ids kept for the ChunkReportReq pages that follow
 * when there are more than a page holds.
 */
static void send_register(struct chunk_server *cs)
{
	size_t n = 0;
	report_drop(cs);
	store_foreach(cs->store, count_chunk, &n);
	cs->report = xmalloc((n ? n : 1) * sizeof(*cs->report));
	cs->report_cap = n;
	store_foreach(cs->store, add_id, cs);
	int rc = call_page(cs);
	if (rc < 0) {
		log_warn("register: %s", err_str(rc));
		report_drop(cs);
		return;
	}
	cs->meta_busy = 1;
	cs->sent_nlost = cs->nlost;
	chunk_repl_sending(cs, NULL);
}

static void on_heartbeat(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct chunk_server *cs = arg;
	cs->meta_busy = 0;
	if (cs->stopping)
		return;
	if (err == 0 && reply->body_case != CAIRN__ENVELOPE__BODY_NODE)
		err = -CAIRN_EPROTO;
	if (err == 0)
		err = chunk_ident_accept(cs, reply->node->fs_id.data, reply->node->fs_id.len);
	if (err) {
		cs->sent_nlost = 0;
		chunk_repl_acked(cs, 0);
		meta_failed(cs, err, reply, "heartbeat");
		if (!cs->registered)
			arm(cs, 0);
		return;
	}
	meta_ok(cs);
	lost_acked(cs);
	chunk_repl_acked(cs, 1);
	apply_node(cs, reply->node, 1);
}

static void send_heartbeat(struct chunk_server *cs)
{
	Cairn__HeartbeatReq hb = CAIRN__HEARTBEAT_REQ__INIT;
	Cairn__Envelope env = CAIRN__ENVELOPE__INIT;
	size_t nchunks = 0;
	store_foreach(cs->store, count_chunk, &nchunks);
	lost_compact(cs);
	uint64_t *corrupt = xmalloc((cs->nlost ? cs->nlost : 1) * sizeof(*corrupt));
	for (size_t i = 0; i < cs->nlost; i++) {
		struct store_chunk_info info;
		if (store_lookup(cs->store, cs->lost[i], &info) == 0 && info.corrupt)
			corrupt[hb.n_corrupt++] = cs->lost[i];
	}
	hb.addr = cs->opts->listen;
	space(cs, &hb.capacity, &hb.used);
	hb.load = cs->ncalls;
	hb.nchunks = nchunks;
	chunk_stats_totals(cs, &hb.bytes_read, &hb.bytes_written);
	hb.lost = cs->lost;
	hb.n_lost = cs->nlost;
	hb.corrupt = corrupt;
	chunk_repl_sending(cs, &hb);
	env.body_case = CAIRN__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	uint64_t timeout = cs->heartbeat_ms * 2 < 2000 ? 2000 : cs->heartbeat_ms * 2;
	int rc = rpc_client_call(cs->meta, &env, NULL, timeout, on_heartbeat, cs);
	free(corrupt);
	if (rc < 0) {
		log_warn("heartbeat: %s", err_str(rc));
		chunk_repl_acked(cs, 0);
		return;
	}
	cs->meta_busy = 1;
	cs->sent_nlost = cs->nlost;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct chunk_server *cs = arg;
	/* Refused as another file system's: ask again, but not at a short heartbeat's pace. */
	arm(cs, cs->ident_refused && cs->heartbeat_ms < CHUNK_HEARTBEAT_MS ? CHUNK_HEARTBEAT_MS
									   : cs->heartbeat_ms);
	store_check_dirs(cs->store);
	chunk_peer_expire(cs);
	if (cs->meta_busy)
		return;
	if (cs->registered)
		send_heartbeat(cs);
	else
		send_register(cs);
}

void chunk_meta_kick(struct chunk_server *cs)
{
	if (cs->hb_ev && cs->registered && !cs->meta_busy)
		arm(cs, 0);
}

static void on_meta_close(struct rpc_conn *c, void *arg)
{
	struct chunk_server *cs = arg;
	if (cs->registered)
		log_info("lost the connection to metaserver %s", cs->opts->meta);
	cs->registered = 0;
	chunk_io_conn_closed(cs, c);
}

static const struct rpc_conn_ops meta_ops = {chunk_on_request, on_meta_close};

int chunk_meta_start(struct chunk_server *cs)
{
	const char *page = getenv("CAIRN_CHUNK_REPORT_PAGE");
	cs->heartbeat_ms = CHUNK_HEARTBEAT_MS;
	cs->report_page_max = page && atol(page) > 0 ? (size_t)atol(page) : CHUNK_REPORT_PAGE;
	if (cs->report_page_max > CHUNK_REPORT_PAGE)
		cs->report_page_max = CHUNK_REPORT_PAGE;
	cs->hb_ev = evtimer_new(cs->base, on_tick, cs);
	cs->meta = rpc_client_new(cs->base, cs->opts->meta, &meta_ops, cs);
	if (!cs->hb_ev || !cs->meta)
		return -ENOMEM;
	arm(cs, 0);
	return 0;
}

void chunk_meta_stop(struct chunk_server *cs)
{
	if (cs->hb_ev)
		event_free(cs->hb_ev);
	cs->hb_ev = NULL;
	cs->registered = 0;	   /* no "lost the connection" line for our own close */
	rpc_client_free(cs->meta); /* an in-flight call completes here, seeing stopping */
	cs->meta = NULL;
	report_drop(cs);
}
