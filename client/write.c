/*
 * write: libcairn's write path: cairn_write(), cairn_pwrite(), and the
 * flush and sync that fsync and close build on.
 *
 * Design. Bytes are copied once, from the caller's buffer into the
 * evbuffer of the piece being filled (f->w.cur): a run of contiguous bytes
 * within one chunk, at most FILE_PIECE_MAX. A piece goes out when it is
 * full, when it reaches the end of its chunk, or when the next write is
 * not contiguous with it (or at flush), so pieces are smaller than
 * FILE_PIECE_MAX only at the end of a run. Going out means: linked into
 * f->w.pieces and posted to the loop thread, which sends it as a WriteReq
 * to the chunk's primary with the rest of the chain; the chunkserver
 * answers once every member stored it. The frame takes the piece's bytes
 * by reference (evbuffer_add_buffer_reference), so the piece keeps them,
 * uncopied, until they are acknowledged, for a resend. Up to
 * FILE_WRITE_WINDOW pieces are in flight per file; the writer waits for
 * room. A piece never crosses a chunk boundary.
 *
 * Chunks. The first write into a chunk index in an open asks the
 * metaserver for it (AllocateReq): a new chunk at the end of the file, or
 * a new version of an existing one with the chain of its live replicas.
 * A new chunk's replicas are made by its first write; if the metaserver
 * connection was lost between the allocation and that write, the chunk is
 * allocated again first: a metaserver that restarted meanwhile knows the
 * chunk but not its chain (chunk locations are not logged, and its
 * chunkservers reported no replica of it), and this way it learns one.
 * Holes are written out: a write that starts past the end of the file
 * first writes zeros from the end up to its start, so every replica
 * covers the whole file (a chunkserver takes no write that starts past
 * its replica's end) and chunks are allocated in order. A new chunk whose
 * first piece does not start at offset 0 (only possible with a metaserver
 * that lists fewer chunks than the size needs) gets an empty write at 0
 * first, which makes its replicas. Partial blocks and writes over
 * existing bytes are the chunkserver's business.
 *
 * Failures. A failed piece stays in f->w.pieces. Before anything else is
 * sent (the next write, a flush) every piece in flight is waited for;
 * then, for each chunk where an error names a failing member (unreachable,
 * timed out, stale, corrupt, full), that member is reported to the
 * metaserver (ReportBadReq: it is stale from now on) and the chunk is
 * allocated again, which gives a new version on its live replicas; and
 * the failed pieces are resent in their order, up to FILE_WRITE_TRIES
 * sends each. A busy chunkserver's AGAIN is resent after a pause, on the
 * same chain; so is INVAL, which a chunkserver answers to a write that
 * starts past its replica's end, as one behind a failed piece does. A
 * piece never goes out while an unacknowledged piece it overlaps is
 * pending, so resends cannot reorder writes to the same bytes. An error
 * that stands is sticky: every later write, fsync and close returns it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "chunkconn.h"
#include "file_int.h"
#include "loc.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

enum { PIECE_WRITE, PIECE_SYNC };
enum { PIECE_POSTED = 1, PIECE_FAILED };

/* A chunk this open writes to. */
struct wchunk {
	uint64_t index;
	struct loc *loc; /* its current version and chain */
	int fresh;	 /* made by this open, nothing sent to it yet */
	uint64_t epoch;	 /* client_meta_epoch() before its allocation */
	int dirty;	 /* written since the last sync */
};

/* One WriteReq (or SyncReq) of a file. */
struct piece {
	struct cjob job;
	TAILQ_ENTRY(piece) link; /* f->w.pieces while posted or failed */
	struct cairn_file *f;
	struct wchunk *wc; /* user thread only */
	struct loc *loc;   /* the chain of the current send */
	int kind;
	uint64_t off; /* within the chunk */
	uint64_t len;
	struct evbuffer *data; /* PIECE_WRITE: the bytes, kept until acknowledged */
	uint64_t deadline;     /* monotonic ms, of the current send */
	unsigned tries;	       /* sends so far */
	/* lock-protected: */
	int state;
	int err;
	char why[CLIENT_WHY_MAX];
};

static void piece_send(struct piece *p);
static int check(struct cairn_file *f);
static int chunk_reannounce(struct cairn_file *f, struct wchunk *wc);

/* ---- pieces ---- */

static struct piece *piece_new(struct cairn_file *f, struct wchunk *wc, int kind, uint64_t off)
{
	struct piece *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->f = f;
	p->wc = wc;
	p->kind = kind;
	p->off = off;
	if (kind == PIECE_WRITE) {
		if (!(p->data = evbuffer_new())) {
			free(p);
			return NULL;
		}
		uint64_t room = f->chunk_size - off;
		if (f->w.streaming)
			evbuffer_expand(p->data, room < FILE_PIECE_MAX ? room : FILE_PIECE_MAX);
	}
	return p;
}

static void piece_free(struct piece *p)
{
	if (!p)
		return;
	loc_unref(p->loc);
	if (p->data)
		evbuffer_free(p->data);
	free(p);
}

/* ---- the loop thread's side ---- */

/* Records a send's outcome (any thread; the loop's, but for posting failures). */
static void piece_complete(struct piece *p, int err, const char *why)
{
	struct cairn_file *f = p->f;
	int drop = 0;
	pthread_mutex_lock(&f->lock);
	/* file_int.h: inflight counts the pieces posted and not completed. */
	CAIRN_ASSERT(f->w.inflight > 0 && p->state == PIECE_POSTED);
	f->w.inflight--;
	if (err == 0) {
		uint64_t end = p->loc->index * f->chunk_size + p->off + p->len;
		if (p->kind == PIECE_WRITE && end > f->w.acked_size)
			f->w.acked_size = end;
		TAILQ_REMOVE(&f->w.pieces, p, link);
		drop = 1;
	} else if (f->closed) {
		TAILQ_REMOVE(&f->w.pieces, p, link);
		drop = 1;
	} else {
		p->state = PIECE_FAILED;
		p->err = err;
		snprintf(p->why, sizeof(p->why), "%s", why ? why : err_str(err));
		f->w.nfailed++;
	}
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (drop)
		piece_free(p);
	file_unref(f);
}

static void piece_done(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct piece *p = arg;
	char why[CLIENT_WHY_MAX];
	if (err == 0) {
		piece_complete(p, 0, NULL);
		return;
	}
	const char *text = reply && reply->error && *reply->error ? reply->error : err_str(err);
	if (err == -ETIMEDOUT && !reply)
		text = "no answer in time";
	snprintf(why, sizeof(why), "chunkserver %s: %s", p->loc->replicas[0], text);
	log_debug("libcairn: %s: chunk %llu v%llu, %llu bytes at %llu: %s", p->f->path,
		  (unsigned long long)p->loc->index, (unsigned long long)p->loc->version,
		  (unsigned long long)p->len, (unsigned long long)p->off, why);
	piece_complete(p, err, why);
}

/* The primary's connection is there (or not): send the piece on it. */
static void piece_on_conn(struct rpc_conn *conn, int err, const char *why, void *arg)
{
	struct piece *p = arg;
	struct cairn_file *f = p->f;
	if (!conn) {
		piece_complete(p, err, why);
		return;
	}
	uint64_t now = time_mono_ms();
	if (now >= p->deadline) {
		piece_done(-ETIMEDOUT, NULL, NULL, p);
		return;
	}
	Cairn__Envelope env = CAIRN__ENVELOPE__INIT;
	Cairn__WriteReq w = CAIRN__WRITE_REQ__INIT;
	Cairn__SyncReq s = CAIRN__SYNC_REQ__INIT;
	struct evbuffer *payload = NULL;
	if (p->kind == PIECE_SYNC) {
		s.chunk_id = p->loc->id;
		s.version = p->loc->version;
		s.chain = p->loc->replicas + 1;
		s.n_chain = p->loc->n - 1;
		env.body_case = CAIRN__ENVELOPE__BODY_SYNC;
		env.sync = &s;
	} else {
		w.chunk_id = p->loc->id;
		w.version = p->loc->version;
		w.file_id = f->id;
		w.offset = p->off;
		w.chain = p->loc->replicas + 1;
		w.n_chain = p->loc->n - 1;
		env.body_case = CAIRN__ENVELOPE__BODY_WRITE;
		env.write = &w;
		if (p->len) {
			payload = evbuffer_new();
			if (!payload || evbuffer_add_buffer_reference(payload, p->data) < 0) {
				if (payload)
					evbuffer_free(payload);
				piece_complete(p, -ENOMEM, NULL);
				return;
			}
		}
	}
	log_debug("libcairn: %s: %s chunk %llu v%llu, %llu bytes at %llu to %s (send %u)", f->path,
		  p->kind == PIECE_SYNC ? "sync" : "write", (unsigned long long)p->loc->index,
		  (unsigned long long)p->loc->version, (unsigned long long)p->len,
		  (unsigned long long)p->off, p->loc->replicas[0], p->tries);
	err = rpc_call(conn, &env, payload, p->deadline - now, piece_done, p);
	if (payload)
		evbuffer_free(payload);
	if (err)
		piece_done(err, NULL, NULL, p);
}

static void piece_send(struct piece *p)
{
	chunkconn_get(p->f->c->pool, p->loc->replicas[0], piece_on_conn, p);
}

static void piece_run(struct cjob *job, int stopping)
{
	struct piece *p = (struct piece *)job;
	if (stopping)
		piece_complete(p, -CAIRN_EUNAVAIL, "the client is closing");
	else
		piece_send(p);
}

/* ---- the user thread's side ---- */

/* Makes err (with why) the file's standing error, unless one stands already. */
static int write_fail(struct cairn_file *f, int err, const char *why)
{
	pthread_mutex_lock(&f->lock);
	if (!f->w.err) {
		f->w.err = err;
		snprintf(f->w.why, sizeof(f->w.why), "%s", why ? why : err_str(err));
	}
	err = f->w.err;
	pthread_mutex_unlock(&f->lock);
	return err;
}

/* Does p overlap a piece of its chunk that is still unacknowledged? f->lock held. */
static int overlaps_unacked(struct cairn_file *f, const struct piece *p)
{
	struct piece *q;
	if (p->len == 0)
		return 0;
	TAILQ_FOREACH(q, &f->w.pieces, link)
	{
		if (q->wc == p->wc && q->len && q->off < p->off + p->len &&
		    p->off < q->off + q->len)
			return 1;
	}
	return 0;
}

/*
 * Readies p for a send down its chunk's current chain: counted in flight,
 * holding a file reference. The caller links it (if new) and posts it.
 * f->lock held.
 */
static void piece_launch(struct cairn_file *f, struct piece *p)
{
	/* A piece never crosses a chunk boundary. */
	CAIRN_ASSERT(p->off + p->len <= f->chunk_size);
	loc_unref(p->loc);
	p->loc = loc_ref(p->wc->loc);
	p->state = PIECE_POSTED;
	p->tries++;
	p->deadline = file_deadline(f);
	p->job.run = piece_run;
	f->w.inflight++;
	f->refs++;
}

/*
 * Sends p on its chunk's current chain once the window has room and no
 * unacknowledged piece it overlaps remains. Takes ownership of p (freed
 * on error). Returns 0 or a negative error.
 */
static int piece_post(struct cairn_file *f, struct piece *p)
{
	struct wchunk *wc = p->wc;
	if (f->w.cur == p)
		f->w.cur = NULL;
	int err = wc->fresh ? chunk_reannounce(f, wc) : 0;
	if (err) {
		piece_free(p);
		return err;
	}
	if (p->kind == PIECE_WRITE && wc->fresh && p->off != 0) {
		/* The chunk's replicas must exist before a write into their middle. */
		struct piece *create = piece_new(f, wc, PIECE_WRITE, 0);
		wc->fresh = 0;
		err = create ? piece_post(f, create) : -ENOMEM;
		if (err) {
			piece_free(p);
			return err;
		}
	}
	wc->fresh = 0;
	if (p->kind == PIECE_WRITE)
		wc->dirty = 1;
	if (p->len == FILE_PIECE_MAX)
		f->w.streaming = 1;

	for (;;) {
		err = check(f);
		if (err) {
			piece_free(p);
			return err;
		}
		uint64_t until = file_deadline(f) + FILE_GRACE_MS;
		pthread_mutex_lock(&f->lock);
		while (!f->w.err && !f->w.nfailed &&
		       (f->w.inflight >= FILE_WRITE_WINDOW || overlaps_unacked(f, p)))
			if ((err = file_wait(f, until)) != 0)
				break;
		int go = !err && !f->w.err && !f->w.nfailed;
		if (go) {
			TAILQ_INSERT_TAIL(&f->w.pieces, p, link);
			piece_launch(f, p);
		}
		pthread_mutex_unlock(&f->lock);
		if (err) {
			piece_free(p);
			return write_fail(f, err, "the client's loop did not answer");
		}
		if (go)
			break;
		/* A piece failed meanwhile: check() resends it first. */
	}
	if (client_post(f->c, &p->job) < 0)
		piece_complete(p, -CAIRN_EUNAVAIL, "the client is closing");
	return 0;
}

/* Waits until no piece is in flight. Returns 0 or -ETIMEDOUT. */
static int wait_idle(struct cairn_file *f)
{
	uint64_t until = file_deadline(f) + FILE_GRACE_MS;
	int err = 0;
	pthread_mutex_lock(&f->lock);
	while (f->w.inflight > 0 && err == 0)
		err = file_wait(f, until);
	pthread_mutex_unlock(&f->lock);
	return err;
}

/* Does this error of a piece name a failing chain member, which a new chain leaves out? */
static int member_failed(int err)
{
	switch (err) {
	case -CAIRN_EUNAVAIL:
	case -ETIMEDOUT:
	case -EIO:
	case -ENOSPC:
	case -ENOENT:
	case -CAIRN_ECHECKSUM:
	case -CAIRN_ESTALE:
		return 1;
	}
	return 0;
}

/*
 * Can a resend cure this error of a piece? Besides a failed member: a
 * busy chunkserver (AGAIN), and a write that arrived while an earlier one
 * of its chunk had failed, past the replica's end (INVAL): resent in
 * order, behind the earlier one, it fits.
 */
static int curable(int err)
{
	return member_failed(err) || err == -EAGAIN || err == -EINVAL;
}

/*
 * The chain member a piece's error names: "chain ADDR: ..." from the
 * chunkserver for a member down the chain, else the primary. Fills addr.
 */
static void failed_member(const struct piece *p, char *addr, size_t size)
{
	const char *s = strstr(p->why, "chain ");
	snprintf(addr, size, "%s", p->loc->replicas[0]);
	if (!s)
		return;
	s += 6;
	size_t n = strcspn(s, " ");
	if (n > 1 && s[n - 1] == ':' && n - 1 < size) {
		memcpy(addr, s, n - 1);
		addr[n - 1] = 0;
	}
}

/* Asks the metaserver for chunk index (AllocateReq); returns 0 and a new *out. */
static int allocate(struct cairn_file *f, uint64_t index, struct loc **out)
{
	Cairn__AllocateReq m = CAIRN__ALLOCATE_REQ__INIT;
	m.file_id = f->id;
	m.lease_id = f->lease_id;
	m.index = index;
	Cairn__Envelope req, *reply;
	CALL_REQ(&req, ALLOCATE, allocate, &m);
	int err = call_run(f->c, &req, CAIRN__ENVELOPE__BODY_CHUNK, &reply);
	if (err == 0) {
		const Cairn__ChunkInfo *ci = reply->chunk->chunk;
		if (ci && ci->index == index && ci->n_replicas)
			*out = loc_from_pb(ci, &err);
		else
			err = -CAIRN_EPROTO;
		if (err == -CAIRN_EPROTO)
			call_set_last_error(f->c,
					    "the metaserver allocated a chunk without a chain");
		cairn__envelope__free_unpacked(reply, NULL);
	}
	if (err == 0)
		return 0;
	if (cairn_meta_gave_up(f->c)) {
		/* The metaserver did not answer: call.c's words, as for any call to it. */
		f->w.meta_gone = 1;
		write_fail(f, err, cairn_last_error(f->c));
		return err;
	}
	char why[CLIENT_WHY_MAX];
	snprintf(why, sizeof(why), "allocating chunk %llu: %s", (unsigned long long)index,
		 *cairn_last_error(f->c) ? cairn_last_error(f->c) : err_str(err));
	write_fail(f, err, why);
	return err;
}

/*
 * Tells the metaserver, before asking it for a new chain, which member
 * failed: it is stale from now on. The answer does not matter.
 */
static void report_member(struct cairn_file *f, uint64_t chunk_id, const char *member, int err)
{
	Cairn__ReportBadReq m = CAIRN__REPORT_BAD_REQ__INIT;
	m.chunk_id = chunk_id;
	m.replica = (char *)member;
	m.why = (Cairn__Status)err_to_status(err);
	Cairn__Envelope req;
	CALL_REQ(&req, REPORT_BAD, report_bad, &m);
	call_run(f->c, &req, CAIRN__ENVELOPE__BODY__NOT_SET, NULL);
}

/*
 * Waits for every piece in flight and resends the failed ones over new
 * chains until none is left failed. Returns 0 or the error that stands.
 */
static int recover(struct cairn_file *f)
{
	for (;;) {
		int err = wait_idle(f);
		if (err)
			return write_fail(f, err, "the client's loop did not answer");
		struct piece *p, *bad = NULL;
		pthread_mutex_lock(&f->lock);
		err = f->w.err;
		TAILQ_FOREACH(p, &f->w.pieces, link)
		{
			if (!bad && (!curable(p->err) || p->tries >= FILE_WRITE_TRIES))
				bad = p;
		}
		int nfailed = (int)f->w.nfailed;
		pthread_mutex_unlock(&f->lock);
		if (err)
			return err;
		if (nfailed == 0)
			return 0;
		if (bad) {
			log_info(
			    "libcairn: %s: chunk %llu (id %llu version %llu), %llu bytes at %llu: "
			    "%s; giving up after %u sends",
			    f->path, (unsigned long long)bad->wc->index,
			    (unsigned long long)bad->loc->id, (unsigned long long)bad->loc->version,
			    (unsigned long long)bad->len, (unsigned long long)bad->off, bad->why,
			    bad->tries);
			return write_fail(f, bad->err, bad->why);
		}

		/* A new version and chain for every chunk that lost a member, once. */
		int busy = 0;
		TAILQ_FOREACH(p, &f->w.pieces, link)
		{
			busy |= p->err == -EAGAIN;
			if (!member_failed(p->err) || p->loc != p->wc->loc)
				continue; /* no member to leave out, or a new chain already */
			char member[LOC_MAX_ADDR + 1];
			failed_member(p, member, sizeof(member));
			log_info("libcairn: %s: chunk %llu: %s; asking for a new chain without %s",
				 f->path, (unsigned long long)p->wc->index, p->why, member);
			report_member(f, p->loc->id, member, p->err);
			struct loc *nl;
			if ((err = allocate(f, p->wc->index, &nl)) != 0)
				return err;
			loc_unref(p->wc->loc);
			p->wc->loc = nl;
		}
		if (busy) {
			struct timespec ts = {0, FILE_AGAIN_MS * 1000000L};
			nanosleep(&ts, NULL);
		}
		struct piece **resend = calloc((size_t)nfailed, sizeof(*resend));
		if (!resend)
			return write_fail(f, -ENOMEM, NULL);
		size_t n = 0;
		pthread_mutex_lock(&f->lock);
		TAILQ_FOREACH(p, &f->w.pieces, link)
		{
			/* Nothing in flight now: every piece left is a failed one. */
			CAIRN_ASSERT(n < (size_t)nfailed && p->state == PIECE_FAILED);
			piece_launch(f, p);
			resend[n++] = p;
		}
		f->w.nfailed = 0;
		pthread_mutex_unlock(&f->lock);
		/* Acknowledged pieces leave the list at once: post from our own array. */
		for (size_t i = 0; i < n; i++)
			if (client_post(f->c, &resend[i]->job) < 0)
				piece_complete(resend[i], -CAIRN_EUNAVAIL, "the client is closing");
		free(resend);
	}
}

/* The file's standing error, after resending what failed. */
static int check(struct cairn_file *f)
{
	pthread_mutex_lock(&f->lock);
	int err = f->w.err, nfailed = (int)f->w.nfailed;
	pthread_mutex_unlock(&f->lock);
	if (err)
		return err;
	return nfailed ? recover(f) : 0;
}

/* Binary search of the chunks this open wrote: the slot of index. */
static size_t chunk_slot(const struct cairn_file *f, uint64_t index)
{
	size_t lo = 0, hi = f->w.nchunks;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->w.chunks[mid]->index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct wchunk *chunk_find(const struct cairn_file *f, uint64_t index)
{
	size_t i = chunk_slot(f, index);
	return i < f->w.nchunks && f->w.chunks[i]->index == index ? f->w.chunks[i] : NULL;
}

/*
 * Allocates the fresh chunk wc again when the metaserver connection was
 * lost since its allocation (see the top). Returns 0 or an error.
 */
static int chunk_reannounce(struct cairn_file *f, struct wchunk *wc)
{
	uint64_t epoch;
	while (wc->epoch != (epoch = client_meta_epoch(f->c))) {
		struct loc *nl;
		log_info("libcairn: %s: chunk %llu: the metaserver connection was lost since it "
			 "was allocated; allocating it again",
			 f->path, (unsigned long long)wc->index);
		int err = allocate(f, wc->index, &nl);
		if (err)
			return err;
		loc_unref(wc->loc);
		wc->loc = nl;
		wc->epoch = epoch;
	}
	return 0;
}

/* Records chunk index at loc (taken over). Returns 0 and *out, or an error (loc dropped). */
static int chunk_insert(struct cairn_file *f, uint64_t index, struct loc *loc, uint64_t epoch,
			struct wchunk **out)
{
	struct wchunk *wc = NULL;
	if (f->w.nchunks == f->w.cap) {
		size_t cap = f->w.cap ? f->w.cap * 2 : 16;
		struct wchunk **a = realloc(f->w.chunks, cap * sizeof(*a));
		if (!a)
			goto nomem;
		f->w.chunks = a;
		f->w.cap = cap;
	}
	if (!(wc = calloc(1, sizeof(*wc))))
		goto nomem;
	wc->loc = loc;
	wc->epoch = epoch;
	wc->index = index;
	wc->fresh = index >= f->w.known;
	if (index >= f->w.known)
		f->w.known = index + 1;
	size_t i = chunk_slot(f, index);
	memmove(&f->w.chunks[i + 1], &f->w.chunks[i], (f->w.nchunks - i) * sizeof(*f->w.chunks));
	f->w.chunks[i] = wc;
	f->w.nchunks++;
	if (out)
		*out = wc;
	return 0;
nomem:
	loc_unref(loc);
	return write_fail(f, -ENOMEM, NULL);
}

/* Allocates chunk index and records it. Returns 0 and *out, or an error. */
static int chunk_add(struct cairn_file *f, uint64_t index, struct wchunk **out)
{
	uint64_t epoch = client_meta_epoch(f->c);
	struct loc *loc;
	int err = allocate(f, index, &loc);
	return err ? err : chunk_insert(f, index, loc, epoch, out);
}

int write_adopt(struct cairn_file *f, struct loc *loc, uint64_t epoch)
{
	f->w.known = 0; /* the chunk is new: open found the file without one */
	f->w.adopted = 1;
	return chunk_insert(f, 0, loc, epoch, NULL);
}

/*
 * The chunk at index, allocated on first use in this open. Chunks are
 * allocated in order: any the metaserver lacks below index come first.
 */
static int chunk_get(struct cairn_file *f, uint64_t index, struct wchunk **out)
{
	if ((*out = chunk_find(f, index)))
		return 0;
	while (f->w.known < index) {
		struct wchunk *gap;
		int err = chunk_add(f, f->w.known, &gap);
		if (err)
			return err;
	}
	return chunk_add(f, index, out);
}

/* Appends k bytes of src (NULL: zeros) to p's buffer. */
static int piece_fill(struct piece *p, const char *src, size_t k)
{
	if (src)
		return evbuffer_add(p->data, src, k) < 0 ? -ENOMEM : 0;
	struct evbuffer_iovec v[2];
	int nv = evbuffer_reserve_space(p->data, (ev_ssize_t)k, v, 2);
	if (nv < 0)
		return -ENOMEM;
	size_t left = k;
	for (int i = 0; i < nv; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		memset(v[i].iov_base, 0, v[i].iov_len);
		left -= v[i].iov_len;
	}
	return evbuffer_commit_space(p->data, v, nv) < 0 ? -ENOMEM : 0;
}

/*
 * Buffers n bytes of buf (NULL: zeros) at off, posting pieces as they
 * fill. Returns 0 or an error; *done says how many bytes were taken.
 */
static int buffer_at(struct cairn_file *f, const char *buf, size_t n, uint64_t off, size_t *done)
{
	int err = 0;
	*done = 0;
	while (err == 0 && *done < n) {
		uint64_t at = off + *done, index = at / f->chunk_size, coff = at % f->chunk_size;
		struct piece *p = f->w.cur;
		if (p && (p->wc->index != index || p->off + p->len != coff)) {
			if ((err = piece_post(f, p)) != 0)
				break;
			p = NULL;
		}
		if (!p) {
			struct wchunk *wc;
			if ((err = chunk_get(f, index, &wc)) != 0)
				break;
			if (!(p = f->w.cur = piece_new(f, wc, PIECE_WRITE, coff))) {
				err = write_fail(f, -ENOMEM, NULL);
				break;
			}
		}
		size_t k = n - *done;
		if (k > FILE_PIECE_MAX - p->len)
			k = FILE_PIECE_MAX - p->len;
		if (k > f->chunk_size - coff)
			k = f->chunk_size - coff;
		if (piece_fill(p, buf ? buf + *done : NULL, k) < 0) {
			err = write_fail(f, -ENOMEM, NULL);
			break;
		}
		p->len += k;
		*done += k;
		if (p->len == FILE_PIECE_MAX || p->off + p->len == f->chunk_size)
			err = piece_post(f, p);
	}
	if (*done && off + *done > f->size)
		f->size = off + *done;
	return err;
}

/*
 * Writes n bytes at off. A write that starts past the end of the file
 * first writes zeros from the end up to off: replicas always cover the
 * whole file (a chunkserver takes no write past a replica's end).
 */
static ssize_t write_at(struct cairn_file *f, const char *buf, size_t n, uint64_t off)
{
	if (!file_writable(f))
		return -EBADF;
	if (n == 0)
		return 0;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (off > FILE_SIZE_MAX || n > FILE_SIZE_MAX - off)
		return -EFBIG;
	size_t done = 0;
	read_forget(f); /* bytes read ahead may be about to change */
	int err = check(f);
	if (err == 0 && off > f->size)
		err = buffer_at(f, NULL, off - f->size, f->size, &done);
	if (err == 0)
		err = buffer_at(f, buf, n, off, &done);
	if (err) {
		file_set_last_error(f);
		return err;
	}
	return (ssize_t)done;
}

ssize_t cairn_pwrite(cairn_file_t *f, const void *buf, size_t n, uint64_t off)
{
	return write_at(f, buf, n, off);
}

ssize_t cairn_write(cairn_file_t *f, const void *buf, size_t n)
{
	uint64_t off = f->flags & CAIRN_O_APPEND ? f->size : f->pos;
	ssize_t r = write_at(f, buf, n, off);
	if (r > 0)
		f->pos = off + (uint64_t)r;
	return r;
}

int write_flush(struct cairn_file *f)
{
	int err = check(f);
	if (err == 0 && f->w.cur)
		err = piece_post(f, f->w.cur);
	if (err == 0)
		err = recover(f);
	return err;
}

int write_sync(struct cairn_file *f)
{
	int err = write_flush(f);
	for (size_t i = 0; err == 0 && i < f->w.nchunks; i++) {
		struct wchunk *wc = f->w.chunks[i];
		if (!wc->dirty)
			continue;
		struct piece *p = piece_new(f, wc, PIECE_SYNC, 0);
		err = p ? piece_post(f, p) : write_fail(f, -ENOMEM, NULL);
		wc->dirty = 0;
	}
	if (err == 0)
		err = recover(f);
	return err;
}

struct loc *write_loc(struct cairn_file *f, uint64_t index)
{
	struct wchunk *wc = chunk_find(f, index);
	return wc ? wc->loc : NULL;
}

void write_free(struct cairn_file *f)
{
	struct piece *p, *next;
	piece_free(f->w.cur);
	f->w.cur = NULL;
	TAILQ_HEAD(, piece) failed = TAILQ_HEAD_INITIALIZER(failed);
	pthread_mutex_lock(&f->lock);
	for (p = TAILQ_FIRST(&f->w.pieces); p; p = next) {
		next = TAILQ_NEXT(p, link);
		if (p->state == PIECE_FAILED) {
			TAILQ_REMOVE(&f->w.pieces, p, link);
			TAILQ_INSERT_TAIL(&failed, p, link);
		}
	}
	f->w.nfailed = 0;
	pthread_mutex_unlock(&f->lock);
	while ((p = TAILQ_FIRST(&failed))) {
		TAILQ_REMOVE(&failed, p, link);
		piece_free(p);
	}
	for (size_t i = 0; i < f->w.nchunks; i++) {
		loc_unref(f->w.chunks[i]->loc);
		free(f->w.chunks[i]);
	}
	free(f->w.chunks);
	f->w.chunks = NULL;
	f->w.nchunks = f->w.cap = 0;
}
