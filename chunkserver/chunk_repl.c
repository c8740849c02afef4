/*
 * chunk_repl: copies of chunks from other chunkservers, as the metaserver
 * asks in NodeResp.replicate (DESIGN §4, §5: re-replication).
 *
 * A copy makes a fresh local replica (an old, stale or corrupt one of the
 * same chunk is removed first), then pulls the chunk's first `length`
 * bytes from the first source with ReadReq on the ordinary read path, a
 * piece of CHUNK_REPL_PIECE at a time with CHUNK_REPL_WINDOW pieces in
 * flight. The source verifies its blocks before it sends them and the
 * frame's block CRCs are checked on arrival (frame.c), so only verified
 * bytes are stored; the store computes the new replica's CRCs as it
 * writes. Pieces are written in offset order (one that arrives early
 * waits). The replica is made at version 0 (CHUNK_REPL_STAGING) and gets
 * its real version only once every byte is written and synced; only then
 * is the copy reported (HeartbeatReq.copied). So the metaserver never
 * counts a replica that is incomplete or not durable, not even one a
 * crash cut short: at the next registration it is a stale version and is
 * deleted.
 *
 * A source that fails or answers short is dropped for the next one; the
 * bytes already written stay. When every source failed, or the store
 * failed, the partial replica is removed and the failure reported
 * (copy_failed); the metaserver plans it again later.
 *
 * Throttling, so that client I/O keeps priority: at most CHUNK_REPL_MAX
 * copies run at once (later commands wait in order), and reads for copies
 * are paced to CHUNK_REPL_RATE bytes per second over all of them (on this
 * 2-core machine 48 MiB/s per node keeps client reads near their idle
 * rate while a lost node's 1.7 GiB heals onto three others in ~14 s;
 * 64 MiB/s healed in ~11 s but let reads drop to 70-85%; see bench/heal).
 *
 * A copy in progress is left out of the registration report
 * (chunk_repl_busy()), and a delete from the metaserver cancels it
 * (chunk_repl_cancel()): the copy stops and is reported failed.
 *
 * Reports: copied and failed chunks wait in two lists until a heartbeat
 * or registration carrying them is acknowledged (chunk_repl_sending() /
 * chunk_repl_acked()), like the lost list.
 *
 * Everything runs on the loop thread. A copy is freed once it is finished
 * and nothing of it is in flight (no read, no store op); an rpc_client is
 * never freed inside its own callback, so old ones go to a reap list
 * freed from a zero timer.
 *
 * Invariants: active counts the copies started and not finished; a
 * copy's write_at is the end of the bytes submitted to the store, all
 * contiguous from 0; held pieces lie above write_at; reads + ops is what
 * of a copy is in flight.
 */
#include "chunk_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "chunkfile.h"
#include "errors.h"
#include "frame.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define CHUNK_REPL_MAX	    4u	       /* copies running at once */
#define CHUNK_REPL_WAIT_MAX 1024u      /* commands waiting; more are refused */
#define CHUNK_REPL_PIECE    (4u << 20) /* bytes per ReadReq */
#define CHUNK_REPL_WINDOW   3u	       /* pieces in memory per copy */
#define CHUNK_REPL_READ_MS  8000u      /* deadline of one read */
#define CHUNK_REPL_ADDR_MAX 256u
#define CHUNK_REPL_STAGING  0u		  /* the version of a copy being made */
#define CHUNK_REPL_RATE	    (48ull << 20) /* bytes per second this node copies in, at most */

struct piece {
	uint64_t off;
	struct evbuffer *buf; /* NULL: slot free */
};

struct chunk_copy {
	struct chunk_copy *next;
	struct chunk_server *cs;
	uint64_t id, version, file_id, length;
	char **sources;
	size_t nsources, src;
	struct rpc_client *peer; /* to sources[src], or NULL */
	uint64_t gen;		 /* bumped when the source changes: older replies are dropped */
	uint64_t read_at;	 /* next offset to ask for */
	uint64_t write_at;	 /* bytes submitted to the store */
	struct piece held[CHUNK_REPL_WINDOW];
	unsigned reads, ops; /* in flight */
	uint64_t start_ms;
	int started;   /* counted in active */
	int created;   /* the local replica exists (remove it on failure) */
	int syncing;   /* the final sync (then the version) is in flight */
	int finished;  /* done, failed or cancelled: nothing more is started */
	int cancelled; /* shutdown: report nothing */
	int deleted;   /* the metaserver deletes the replica itself */
};

/* One read in flight. */
struct copy_read {
	struct chunk_copy *k;
	uint64_t gen, off, len;
};

struct chunk_repl {
	struct chunk_copy *copies; /* running and waiting, in arrival order */
	unsigned active, waiting;
	int starting;		  /* start_waiting() is running */
	struct rpc_client **reap; /* clients to free from the timer */
	size_t nreap, reap_cap;
	struct event *reap_ev;
	double pace_ms;	       /* when the next read may be asked for (CHUNK_REPL_RATE) */
	double rate;	       /* bytes per ms */
	struct event *pace_ev; /* pumps the copies once pace_ms comes */
	/* reports not yet acknowledged */
	Cairn__ChunkReport *copied;
	Cairn__ChunkReport **copied_ptrs;
	size_t ncopied, copied_cap, sent_ncopied;
	uint64_t *failed;
	size_t nfailed, failed_cap, sent_nfailed;
};

static void pump(struct chunk_copy *k);

/* ---- reports ---- */

static void report_copied(struct chunk_server *cs, const struct chunk_copy *k)
{
	struct chunk_repl *r = cs->repl;
	if (r->ncopied == r->copied_cap) {
		r->copied_cap = r->copied_cap ? 2 * r->copied_cap : 16;
		r->copied = xrealloc(r->copied, r->copied_cap * sizeof(*r->copied));
		r->copied_ptrs = xrealloc(r->copied_ptrs, r->copied_cap * sizeof(*r->copied_ptrs));
	}
	Cairn__ChunkReport *c = &r->copied[r->ncopied++];
	cairn__chunk_report__init(c);
	c->id = k->id;
	c->version = k->version;
	c->length = k->length;
	c->file_id = k->file_id;
}

static void report_failed(struct chunk_server *cs, uint64_t id)
{
	struct chunk_repl *r = cs->repl;
	if (r->nfailed == r->failed_cap) {
		r->failed_cap = r->failed_cap ? 2 * r->failed_cap : 16;
		r->failed = xrealloc(r->failed, r->failed_cap * sizeof(*r->failed));
	}
	r->failed[r->nfailed++] = id;
}

void chunk_repl_sending(struct chunk_server *cs, Cairn__HeartbeatReq *hb)
{
	struct chunk_repl *r = cs->repl;
	r->sent_ncopied = r->ncopied;
	r->sent_nfailed = r->nfailed;
	if (!hb)
		return;
	for (size_t i = 0; i < r->ncopied; i++)
		r->copied_ptrs[i] = &r->copied[i];
	hb->copied = r->copied_ptrs;
	hb->n_copied = r->ncopied;
	hb->copy_failed = r->failed;
	hb->n_copy_failed = r->nfailed;
}

void chunk_repl_acked(struct chunk_server *cs, int ok)
{
	struct chunk_repl *r = cs->repl;
	if (ok && r->sent_ncopied) {
		memmove(r->copied, r->copied + r->sent_ncopied,
			(r->ncopied - r->sent_ncopied) * sizeof(*r->copied));
		r->ncopied -= r->sent_ncopied;
	}
	if (ok && r->sent_nfailed) {
		memmove(r->failed, r->failed + r->sent_nfailed,
			(r->nfailed - r->sent_nfailed) * sizeof(*r->failed));
		r->nfailed -= r->sent_nfailed;
	}
	r->sent_ncopied = r->sent_nfailed = 0;
}

/* ---- peers ---- */

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct chunk_repl *r = arg;
	while (r->nreap > 0)
		rpc_client_free(r->reap[--r->nreap]); /* fails their reads: copy callbacks run */
}

/* Lets go of k's connection (freed from the reap timer, never inside its callback). */
static void drop_peer(struct chunk_copy *k)
{
	struct chunk_repl *r = k->cs->repl;
	if (!k->peer)
		return;
	if (r->nreap == r->reap_cap) {
		r->reap_cap = r->reap_cap ? 2 * r->reap_cap : 8;
		r->reap = xrealloc(r->reap, r->reap_cap * sizeof(*r->reap));
	}
	r->reap[r->nreap++] = k->peer;
	k->peer = NULL;
	k->gen++;
	static const struct timeval now = {0, 0};
	evtimer_add(r->reap_ev, &now);
}

/* ---- life of a copy ---- */

static void copy_free(struct chunk_copy *k)
{
	for (size_t i = 0; i < k->nsources; i++)
		free(k->sources[i]);
	free(k->sources);
	for (size_t i = 0; i < CHUNK_REPL_WINDOW; i++)
		if (k->held[i].buf)
			evbuffer_free(k->held[i].buf);
	free(k);
}

/* Frees k when it is finished and nothing of it is in flight. */
static void maybe_free(struct chunk_copy *k)
{
	if (!k->finished || k->reads || k->ops)
		return;
	struct chunk_repl *r = k->cs->repl;
	struct chunk_copy **pp = &r->copies;
	while (*pp && *pp != k)
		pp = &(*pp)->next;
	if (*pp)
		*pp = k->next;
	copy_free(k);
}

static void start(struct chunk_copy *k);

/* Starts waiting copies, oldest first, while there is room. Not re-entered. */
static void start_waiting(struct chunk_server *cs)
{
	struct chunk_repl *r = cs->repl;
	if (r->starting)
		return;
	r->starting = 1;
	while (r->active < CHUNK_REPL_MAX) {
		struct chunk_copy *k = r->copies;
		while (k && (k->started || k->finished))
			k = k->next;
		if (!k)
			break;
		r->waiting--;
		start(k); /* may finish k at once */
		maybe_free(k);
	}
	r->starting = 0;
}

static void on_removed(int err, struct evbuffer *data, void *arg)
{
	struct chunk_copy *k = arg;
	k->ops--;
	if (err && err != -ENOENT && err != -ESHUTDOWN)
		log_warn("chunk %016llx: removing the partial copy: %s", (unsigned long long)k->id,
			 err_str(err));
	maybe_free(k);
}

/*
 * Ends k: reported copied (err 0) or failed, unless shutting down; a failed
 * replica is removed. Never frees k: the caller calls maybe_free() after.
 */
static void finish(struct chunk_copy *k, int err, const char *why)
{
	struct chunk_server *cs = k->cs;
	if (k->finished)
		return;
	k->finished = 1;
	drop_peer(k);
	if (k->started)
		cs->repl->active--;
	else
		cs->repl->waiting--;
	if (!k->cancelled && !cs->stopping) {
		chunk_stats_copy(cs, err, k->length);
		if (err == 0) {
			log_info("chunk %016llx: copied %llu bytes from %s in %llu ms",
				 (unsigned long long)k->id, (unsigned long long)k->length,
				 k->nsources ? k->sources[k->src < k->nsources ? k->src : 0] : "-",
				 (unsigned long long)(time_mono_ms() - k->start_ms));
			report_copied(cs, k);
		} else {
			log_warn("chunk %016llx: copy failed: %s", (unsigned long long)k->id,
				 why ? why : err_str(err));
			report_failed(cs, k->id);
		}
		chunk_meta_kick(cs);
	}
	if (err && k->created && !k->deleted) {
		k->ops++;
		store_remove(cs->store, k->id, on_removed, k);
	}
	if (!cs->stopping)
		start_waiting(cs);
}

static void on_versioned(int err, struct evbuffer *data, void *arg)
{
	struct chunk_copy *k = arg;
	k->ops--;
	if (!k->finished)
		finish(k, err, err ? "setting the new replica's version failed" : NULL);
	maybe_free(k);
}

/* Every byte is written and durable: the replica takes its real version. */
static void on_synced(int err, struct evbuffer *data, void *arg)
{
	struct chunk_copy *k = arg;
	k->ops--;
	if (err && !k->finished) {
		finish(k, err, "syncing the new replica failed");
	} else if (!k->finished) {
		k->ops++;
		store_set_version(k->cs->store, k->id, k->version, on_versioned, k);
	}
	maybe_free(k);
}

static void on_written(int err, struct evbuffer *data, void *arg)
{
	struct chunk_copy *k = arg;
	k->ops--;
	if (err && !k->finished)
		finish(k, err, NULL);
	else if (!k->finished)
		pump(k);
	maybe_free(k);
}

/* Submits the held pieces that continue the bytes written. */
static void write_held(struct chunk_copy *k)
{
	for (int again = 1; again;) {
		again = 0;
		for (size_t i = 0; i < CHUNK_REPL_WINDOW; i++) {
			struct piece *p = &k->held[i];
			if (!p->buf || p->off != k->write_at)
				continue;
			k->write_at += evbuffer_get_length(p->buf);
			k->ops++;
			store_write(k->cs->store, k->id, p->off, p->buf, on_written, k);
			evbuffer_free(p->buf);
			p->buf = NULL;
			again = 1;
		}
	}
}

/* Moves to the next source, from the bytes written so far. Returns 0, or -1 when none is left. */
static int next_source(struct chunk_copy *k, const char *why)
{
	log_info("chunk %016llx: copying from %s failed (%s)%s", (unsigned long long)k->id,
		 k->sources[k->src], why,
		 k->src + 1 < k->nsources ? "; trying the next source" : "");
	drop_peer(k);
	k->gen++; /* replies still coming from it are dropped */
	for (size_t i = 0; i < CHUNK_REPL_WINDOW; i++) {
		if (k->held[i].buf)
			evbuffer_free(k->held[i].buf);
		k->held[i].buf = NULL;
	}
	k->read_at = k->write_at;
	return ++k->src < k->nsources ? 0 : -1;
}

static void on_read(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct copy_read *rd = arg;
	struct chunk_copy *k = rd->k;
	k->reads--;
	size_t got = payload ? evbuffer_get_length(payload) : 0;
	if (k->finished || rd->gen != k->gen) {
		free(rd);
		maybe_free(k);
		return;
	}
	if (err || got != rd->len) {
		char why[300];
		snprintf(
		    why, sizeof(why), "%s",
		    err ? (reply && reply->error && *reply->error ? reply->error : err_str(err))
			: "a short read");
		free(rd);
		if (next_source(k, why) < 0)
			finish(k, err ? err : -EIO, "no source could be read");
		else
			pump(k);
		maybe_free(k);
		return;
	}
	for (size_t i = 0; i < CHUNK_REPL_WINDOW; i++) {
		if (!k->held[i].buf) {
			k->held[i].off = rd->off;
			k->held[i].buf = evbuffer_new();
			if (!k->held[i].buf) {
				log_error("out of memory");
				abort();
			}
			evbuffer_add_buffer(k->held[i].buf, payload);
			break;
		}
	}
	free(rd);
	write_held(k);
	pump(k);
	maybe_free(k);
}

/*
 * Pieces of k in memory: being read, held, or being written (ops counts
 * the writes then; the create is done before the first read).
 */
static unsigned in_memory(const struct chunk_copy *k)
{
	unsigned n = k->reads + k->ops;
	for (size_t i = 0; i < CHUNK_REPL_WINDOW; i++)
		n += k->held[i].buf != NULL;
	return n;
}

/*
 * Whether a read of len bytes may be asked for now (CHUNK_REPL_RATE over
 * every copy of this node); when not, the pace timer pumps again later.
 */
static int paced(struct chunk_repl *r, uint64_t len)
{
	double now = (double)time_mono_ms();
	if (r->pace_ms > now) {
		if (!evtimer_pending(r->pace_ev, NULL)) {
			double wait = r->pace_ms - now;
			struct timeval tv = {(time_t)(wait / 1000),
					     (suseconds_t)((uint64_t)wait % 1000) * 1000};
			evtimer_add(r->pace_ev, &tv);
		}
		return 0;
	}
	r->pace_ms = (r->pace_ms > now - 100 ? r->pace_ms : now) + (double)len / r->rate;
	return 1;
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
	struct chunk_repl *r = arg;
	for (struct chunk_copy *k = r->copies, *next; k; k = next) {
		next = k->next;
		if (k->started && !k->finished) {
			pump(k);
			maybe_free(k);
		}
	}
}

/* Asks for more bytes while the window has room; syncs once everything is written. */
static void pump(struct chunk_copy *k)
{
	if (k->finished)
		return;
	if (!k->peer && k->read_at < k->length) {
		k->peer = rpc_client_new(k->cs->base, k->sources[k->src], NULL, NULL);
		if (!k->peer) {
			finish(k, -ENOMEM, "cannot connect to the source");
			return;
		}
	}
	while (in_memory(k) < CHUNK_REPL_WINDOW && k->read_at < k->length) {
		struct copy_read *rd = xmalloc(sizeof(*rd));
		uint64_t left = k->length - k->read_at;
		*rd = (struct copy_read){k, k->gen, k->read_at,
					 left < CHUNK_REPL_PIECE ? left : CHUNK_REPL_PIECE};
		if (!paced(k->cs->repl, rd->len)) {
			free(rd);
			return;
		}
		Cairn__ReadReq m = CAIRN__READ_REQ__INIT;
		Cairn__Envelope env = CAIRN__ENVELOPE__INIT;
		m.chunk_id = k->id;
		m.version = k->version;
		m.offset = rd->off;
		m.length = rd->len;
		env.body_case = CAIRN__ENVELOPE__BODY_READ;
		env.read = &m;
		int rc = rpc_client_call(k->peer, &env, NULL, CHUNK_REPL_READ_MS, on_read, rd);
		if (rc < 0) {
			free(rd);
			finish(k, rc, "cannot send a read to the source");
			return;
		}
		k->reads++;
		k->read_at += rd->len;
	}
	if (k->write_at == k->length && k->reads == 0 && k->ops == 0 && !k->syncing) {
		drop_peer(k);
		k->syncing = 1;
		k->ops++;
		store_sync(k->cs->store, k->id, on_synced, k);
	}
}

static void on_created(int err, struct evbuffer *data, void *arg)
{
	struct chunk_copy *k = arg;
	k->ops--;
	if (!k->finished) {
		if (err)
			finish(k, err, NULL);
		else
			pump(k);
	}
	maybe_free(k);
}

/* Starts k: checks what is here already, then creates the replica and starts reading. */
static void start(struct chunk_copy *k)
{
	struct chunk_server *cs = k->cs;
	struct store_chunk_info info;
	k->started = 1;
	k->start_ms = time_mono_ms();
	cs->repl->active++;
	int rc = store_lookup(cs->store, k->id, &info);
	if (rc == 0 && info.version == k->version && !info.corrupt && !info.open &&
	    info.length >= k->length) {
		log_info("chunk %016llx: the replica asked for is here already",
			 (unsigned long long)k->id);
		finish(k, 0, NULL);
		return;
	}
	if (rc == 0 && info.version > k->version) {
		finish(k, -CAIRN_ESTALE, "the replica here is newer than the one asked for");
		return;
	}
	if (rc == 0) {
		/* stale, corrupt or short: replaced */
		k->ops++;
		store_remove(cs->store, k->id, on_removed, k);
	}
	k->created = 1;
	k->ops++;
	store_create(cs->store, k->id, CHUNK_REPL_STAGING, k->file_id, on_created, k);
}

/* Checks a command. Returns NULL or what is wrong with it (static text). */
static const char *check_cmd(const struct chunk_server *cs, const Cairn__ReplicateCmd *m)
{
	if (m->chunk_id == 0 || m->version == 0)
		return "no chunk id or version";
	if (m->length > CHUNKFILE_MAX_SIZE)
		return "longer than a chunk can be";
	if (m->n_sources == 0 || m->n_sources > CHUNK_REPL_ADDR_MAX)
		return "no sources, or too many";
	for (size_t i = 0; i < m->n_sources; i++) {
		char *host;
		uint16_t port;
		if (strlen(m->sources[i]) >= CHUNK_REPL_ADDR_MAX ||
		    addr_parse(m->sources[i], &host, &port) < 0)
			return "a source address is not HOST:PORT";
		free(host);
		if (strcmp(m->sources[i], cs->opts->listen) == 0)
			return "a source is this chunkserver";
	}
	return NULL;
}

static struct chunk_copy *find(const struct chunk_server *cs, uint64_t id)
{
	for (struct chunk_copy *k = cs->repl->copies; k; k = k->next)
		if (k->id == id && !k->finished)
			return k;
	return NULL;
}

void chunk_repl_command(struct chunk_server *cs, const Cairn__ReplicateCmd *m)
{
	struct chunk_repl *r = cs->repl;
	const char *bad = check_cmd(cs, m);
	if (bad || r->waiting >= CHUNK_REPL_WAIT_MAX) {
		log_warn("chunk %016llx: copy refused: %s", (unsigned long long)m->chunk_id,
			 bad ? bad : "too many copies waiting");
		report_failed(cs, m->chunk_id);
		return;
	}
	if (find(cs, m->chunk_id))
		return; /* asked again while copying (a metaserver restart): one is enough */
	struct chunk_copy *k = xcalloc(1, sizeof(*k));
	char **src = xcalloc(m->n_sources, sizeof(*src));
	k->cs = cs;
	k->id = m->chunk_id;
	k->version = m->version;
	k->file_id = m->file_id;
	k->length = m->length;
	k->sources = src;
	for (size_t i = 0; i < m->n_sources; i++)
		k->sources[k->nsources++] = xstrdup(m->sources[i]);
	struct chunk_copy **pp = &r->copies;
	while (*pp)
		pp = &(*pp)->next;
	*pp = k;
	r->waiting++;
	log_debug("chunk %016llx: copy of %llu bytes from %s queued", (unsigned long long)k->id,
		  (unsigned long long)k->length, k->sources[0]);
	start_waiting(cs);
}

void chunk_repl_cancel(struct chunk_server *cs, uint64_t id)
{
	struct chunk_copy *k = find(cs, id);
	if (!k)
		return;
	log_info("chunk %016llx: copy cancelled (the metaserver deletes the chunk)",
		 (unsigned long long)id);
	k->deleted = 1;
	finish(k, -ECANCELED, NULL);
	maybe_free(k);
}

int chunk_repl_busy(const struct chunk_server *cs, uint64_t id)
{
	return cs->repl && find(cs, id) != NULL;
}

/* ---- life cycle ---- */

int chunk_repl_start(struct chunk_server *cs)
{
	cs->repl = xcalloc(1, sizeof(*cs->repl));
	struct chunk_repl *r = cs->repl;
	r->rate = (double)CHUNK_REPL_RATE / 1000.0;
	r->reap_ev = evtimer_new(cs->base, on_reap, r);
	r->pace_ev = evtimer_new(cs->base, on_pace, r);
	return r->reap_ev && r->pace_ev ? 0 : -ENOMEM;
}

void chunk_repl_stop(struct chunk_server *cs)
{
	struct chunk_repl *r = cs->repl;
	if (!r)
		return;
	for (struct chunk_copy *k = r->copies, *next; k; k = next) {
		next = k->next;
		k->cancelled = 1;
		finish(k, -ESHUTDOWN, NULL); /* removes a partial replica */
		maybe_free(k);
	}
	on_reap(-1, 0, r); /* their reads fail now; store ops complete in store_close() */
}

void chunk_repl_free(struct chunk_server *cs)
{
	struct chunk_repl *r = cs->repl;
	if (!r)
		return;
	on_reap(-1, 0, r);
	while (r->copies) {
		struct chunk_copy *k = r->copies;
		r->copies = k->next;
		copy_free(k);
	}
	if (r->reap_ev)
		event_free(r->reap_ev);
	if (r->pace_ev)
		event_free(r->pace_ev);
	free(r->reap);
	free(r->copied);
	free(r->copied_ptrs);
	free(r->failed);
	free(r);
	cs->repl = NULL;
}
