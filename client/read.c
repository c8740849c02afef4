/*
 * read: libcairn's read path: cairn_read() and cairn_pread().
 *
 * Design. Bytes come from read blocks (struct rblock): one ReadReq each,
 * for at most FILE_READ_MAX bytes of one chunk, which the loop thread
 * sends to one replica at a time. The blocks issued and not yet consumed
 * form the file's window (f->r.window, ordered by offset). A read that
 * starts where the previous one ended is sequential: its blocks are
 * aligned (FILE_READ_MAX steps from the chunk's start) and the window is
 * kept FILE_READ_AHEAD blocks deep ahead of it, so that many reads are in
 * flight while the application consumes the first. Any other read asks
 * for exactly its own range (a big one in up to FILE_READ_AHEAD blocks at
 * once) and drops blocks it cannot use. A block's bytes arrive in an
 * evbuffer moved out of the frame without copying; they are copied once,
 * into the caller's buffer.
 *
 * Locations. Chunk locations come from the metaserver (ChunksReq) in
 * batches of FILE_LOC_BATCH and are cached for the open's life; a chunk
 * this open wrote is read at the writer's own version and chain. A chunk
 * the metaserver does not list, and the bytes past the end of a replica
 * (a short read) up to the file's size, are holes and read as zeros.
 *
 * Failures. Replicas are tried in the metaserver's order (best first),
 * but one that recently refused connections or did not answer goes last.
 * On an error from a replica (refused or lost connection, no answer
 * within its share of the time left, at most READ_TRY_MAX_MS while other
 * replicas remain, a stale version, a checksum
 * mismatch, no such replica) the loop thread moves to the next replica at
 * once, and reports checksum and version failures to the metaserver. When
 * every replica failed, the reader asks the metaserver for the chunk's
 * location again, once per read and chunk, and tries again if it changed;
 * otherwise the read fails with the most telling error (not "unavailable"
 * when some replica said more) and the words of every replica. But when
 * no replica could be reached at all, or none is known (every holder is
 * down, or a metaserver just restarted has not heard from them yet), the
 * reader keeps asking again, with back-off, until the block's deadline:
 * nodes that come back within the timeout cost a pause, not an error.
 *
 * Short replicas. Every replica covers the whole file (writers write
 * holes out), so a replica that ends before the file's size at open is
 * missing bytes (a copy still being made, a write it never got) unless
 * the file shrank since; its answer is kept, but the next replica is
 * asked too, and only when none has more do the missing bytes read as
 * zeros.
 *
 * Sizes: reads stop at f->size: the size at open (close-to-open), or for
 * a writer its own size, after its buffered writes are acknowledged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "chunkconn.h"
#include "file_int.h"
#include "loc.h"
#include "rpc.h"
#include "util.h"

struct rblock {
	struct cjob job;
	TAILQ_ENTRY(rblock) link; /* f->r.window */
	struct cairn_file *f;
	struct loc *loc;     /* NULL: a hole */
	uint64_t start, len; /* the bytes asked for, as file offsets */
	uint64_t pos;	     /* user thread: file offset of data's first byte */
	uint64_t deadline;   /* monotonic ms */
	/* loop thread, until done: */
	size_t next;	/* replica being tried */
	uint32_t tried; /* bit i: replica i was tried */
	int kept;	/* the error to report if every replica fails */
	int shortest;	/* data holds a short answer: the best if nothing longer comes */
	char why[CLIENT_WHY_MAX];
	/* lock-protected: */
	int done;
	int err;
	int abandoned;	       /* dropped from the window while in flight */
	struct evbuffer *data; /* the bytes from pos on (NULL: none) */
};

static void rblock_try(struct rblock *rb);

static void rblock_free(struct rblock *rb)
{
	loc_unref(rb->loc);
	if (rb->data)
		evbuffer_free(rb->data);
	free(rb);
}

/* ---- the loop thread's side ---- */

static void rblock_complete(struct rblock *rb, int err)
{
	struct cairn_file *f = rb->f;
	pthread_mutex_lock(&f->lock);
	rb->done = 1;
	rb->err = err;
	int gone = rb->abandoned;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (gone)
		rblock_free(rb);
	file_unref(f);
}

static int unavailable(int err)
{
	return err == -CAIRN_EUNAVAIL || err == -ETIMEDOUT;
}

/* The replica being tried failed with err (why names it): on to the next. */
static void rblock_failed(struct rblock *rb, int err, const char *why)
{
	if (err == -CAIRN_ECHECKSUM || err == -CAIRN_ESTALE)
		file_report_bad(rb->f->c, rb->loc->id, rb->loc->replicas[rb->next], err);
	if (!rb->kept || (unavailable(rb->kept) && !unavailable(err)))
		rb->kept = err;
	size_t used = strlen(rb->why);
	snprintf(rb->why + used, sizeof(rb->why) - used, "%s%s", used ? "; " : "", why);
	rblock_try(rb);
}

static void rblock_done(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct rblock *rb = arg;
	char why[CLIENT_WHY_MAX];
	const char *text = NULL;
	if (err == 0) {
		size_t plen = payload ? evbuffer_get_length(payload) : 0;
		if (reply->body_case != CAIRN__ENVELOPE__BODY_DATA || reply->data->length != plen ||
		    plen > rb->len) {
			err = -CAIRN_EPROTO;
			text = "a malformed read reply";
		} else if (plen && (!rb->data || plen > evbuffer_get_length(rb->data))) {
			if (!rb->data && !(rb->data = evbuffer_new()))
				err = -ENOMEM;
			else if (evbuffer_drain(rb->data, evbuffer_get_length(rb->data)) < 0 ||
				 evbuffer_add_buffer(rb->data, payload) < 0)
				err = -ENOMEM;
		}
		if (err == 0 && plen < rb->len) {
			rb->shortest = 1; /* see "Short replicas" */
			rblock_try(rb);
			return;
		}
		if (err == 0) {
			rblock_complete(rb, 0);
			return;
		}
	}
	if (!text && reply && reply->error && *reply->error)
		text = reply->error;
	if (!text)
		text = err == -ETIMEDOUT ? "no answer in time" : err_str(err);
	snprintf(why, sizeof(why), "chunkserver %s: %s", rb->loc->replicas[rb->next], text);
	if (err == -ETIMEDOUT && !reply)
		chunkconn_mark_slow(rb->f->c->pool, rb->loc->replicas[rb->next]);
	rblock_failed(rb, err, why);
}

static void rblock_on_conn(struct rpc_conn *conn, int err, const char *why, void *arg)
{
	struct rblock *rb = arg;
	if (!conn) {
		rblock_failed(rb, err, why);
		return;
	}
	uint64_t now = time_mono_ms();
	if (now >= rb->deadline) {
		rblock_done(-ETIMEDOUT, NULL, NULL, rb);
		return;
	}
	/* Leave time for the replicas not tried yet: a hung one costs a few seconds. */
	uint64_t left = rb->deadline - now;
	size_t untried = rb->loc->n - (size_t)__builtin_popcount(rb->tried);
	uint64_t timeout = left / (untried + 1);
	if (untried && timeout > READ_TRY_MAX_MS)
		timeout = READ_TRY_MAX_MS;
	if (timeout < READ_TRY_MIN_MS)
		timeout = left < READ_TRY_MIN_MS ? left : READ_TRY_MIN_MS;
	Cairn__ReadReq r = CAIRN__READ_REQ__INIT;
	Cairn__Envelope env = CAIRN__ENVELOPE__INIT;
	r.chunk_id = rb->loc->id;
	r.version = rb->loc->version;
	r.offset = rb->start - rb->loc->index * rb->f->chunk_size;
	r.length = rb->len;
	env.body_case = CAIRN__ENVELOPE__BODY_READ;
	env.read = &r;
	err = rpc_call(conn, &env, NULL, timeout, rblock_done, rb);
	if (err)
		rblock_done(err, NULL, NULL, rb);
}

/* The next replica to try: the first untried one that is not slow, else the first untried. */
static int pick_replica(struct rblock *rb)
{
	int fallback = -1;
	for (size_t i = 0; i < rb->loc->n; i++) {
		if (rb->tried & (1u << i))
			continue;
		if (!chunkconn_is_slow(rb->f->c->pool, rb->loc->replicas[i]))
			return (int)i;
		if (fallback < 0)
			fallback = (int)i;
	}
	return fallback;
}

static void rblock_try(struct rblock *rb)
{
	int i = pick_replica(rb);
	if (rb->shortest && (i < 0 || time_mono_ms() >= rb->deadline)) {
		rblock_complete(rb, 0); /* the longest answer; zeros after it */
		return;
	}
	if (i < 0) {
		if (rb->loc->n == 0) {
			snprintf(rb->why, sizeof(rb->why), "no replica is known");
			rb->kept = -EIO;
		}
		rblock_complete(rb, rb->kept);
		return;
	}
	if (time_mono_ms() >= rb->deadline) {
		rblock_complete(rb, rb->kept && !unavailable(rb->kept) ? rb->kept : -ETIMEDOUT);
		return;
	}
	rb->next = (size_t)i;
	rb->tried |= 1u << i;
	chunkconn_get(rb->f->c->pool, rb->loc->replicas[i], rblock_on_conn, rb);
}

static void rblock_run(struct cjob *job, int stopping)
{
	struct rblock *rb = (struct rblock *)job;
	if (stopping) {
		snprintf(rb->why, sizeof(rb->why), "the client is closing");
		rblock_complete(rb, -CAIRN_EUNAVAIL);
	} else {
		rblock_try(rb);
	}
}

/* ---- locations ---- */

/* Caches chunks [index, index + count) as known: those of locs (n) listed, holes the rest. */
static int loc_cache(struct cairn_file *f, uint64_t index, uint64_t count, struct loc **locs,
		     size_t n)
{
	if (index + count > f->r.nlocs) {
		size_t want = index + count;
		struct file_rloc *a = realloc(f->r.locs, want * sizeof(*a));
		if (!a)
			return -ENOMEM;
		memset(a + f->r.nlocs, 0, (want - f->r.nlocs) * sizeof(*a));
		f->r.locs = a;
		f->r.nlocs = want;
	}
	for (uint64_t i = index; i < index + count; i++) {
		loc_unref(f->r.locs[i].loc);
		f->r.locs[i].loc = NULL; /* a hole unless listed */
		f->r.locs[i].known = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct loc *l = locs[i];
		if (l->index < index || l->index >= index + count)
			continue;
		loc_unref(f->r.locs[l->index].loc);
		f->r.locs[l->index].loc = loc_ref(l);
	}
	return 0;
}

int read_adopt(struct cairn_file *f, struct loc **locs, size_t n)
{
	uint64_t nchunks = (f->size + f->chunk_size - 1) / f->chunk_size;
	return loc_cache(f, 0, n < nchunks ? n : nchunks, locs, n);
}

/* Asks the metaserver where chunks [index, index + count) are, and caches it. */
static int loc_fetch(struct cairn_file *f, uint64_t index, uint32_t count)
{
	Cairn__ChunksReq m = CAIRN__CHUNKS_REQ__INIT;
	m.file_id = f->id;
	m.first = index;
	m.count = count;
	Cairn__Envelope req, *reply;
	CALL_REQ(&req, CHUNKS, chunks, &m);
	int err = call_run(f->c, &req, CAIRN__ENVELOPE__BODY_CHUNK_LIST, &reply);
	if (err)
		return err;
	struct loc **locs;
	size_t n = reply->chunk_list->n_chunks;
	err = loc_list_from_pb(reply->chunk_list->chunks, n, &locs);
	cairn__envelope__free_unpacked(reply, NULL);
	if (err == 0)
		err = loc_cache(f, index, count, locs, n);
	loc_list_free(locs, n);
	return err;
}

/*
 * Where chunk index is read from: *out borrowed until the next lookup, or
 * NULL for a hole. refresh asks the metaserver again.
 */
static int loc_lookup(struct cairn_file *f, uint64_t index, int refresh, struct loc **out)
{
	struct loc *wl = file_writable(f) ? write_loc(f, index) : NULL;
	if (wl) {
		*out = wl;
		return 0;
	}
	if (refresh || index >= f->r.nlocs || !f->r.locs[index].known) {
		uint64_t nchunks = (f->size + f->chunk_size - 1) / f->chunk_size;
		uint64_t count = index < nchunks ? nchunks - index : 1;
		if (refresh || count > FILE_LOC_BATCH)
			count = refresh ? 1 : FILE_LOC_BATCH;
		int err = loc_fetch(f, index, (uint32_t)count);
		if (err)
			return err;
	}
	*out = f->r.locs[index].loc;
	return 0;
}

/* ---- the window ---- */

/* Removes rb from the window; it is freed now, or by the loop when it completes. */
static void rblock_drop(struct cairn_file *f, struct rblock *rb)
{
	TAILQ_REMOVE(&f->r.window, rb, link);
	f->r.nwindow--;
	pthread_mutex_lock(&f->lock);
	int done = rb->done;
	rb->abandoned = !done;
	pthread_mutex_unlock(&f->lock);
	if (done)
		rblock_free(rb);
}

/* The block of the window that can serve the byte at o, or NULL. */
static struct rblock *window_find(struct cairn_file *f, uint64_t o)
{
	struct rblock *rb;
	TAILQ_FOREACH(rb, &f->r.window, link)
	{
		if (rb->pos <= o && o < rb->start + rb->len)
			return rb;
	}
	return NULL;
}

/* Drops the blocks a read of [off, off + n) and (when seq) its successors cannot use. */
static void window_trim(struct cairn_file *f, uint64_t off, uint64_t n, int seq)
{
	struct rblock *rb, *next;
	for (rb = TAILQ_FIRST(&f->r.window); rb; rb = next) {
		next = TAILQ_NEXT(rb, link);
		uint64_t end = rb->start + rb->len, from = rb->pos > off ? rb->pos : off;
		int useful = seq ? end > off : from < off + n && from < end;
		if (!useful || f->r.nwindow > 2 * FILE_READ_AHEAD)
			rblock_drop(f, rb);
	}
}

/* Drops every block of chunk index (its location changed). */
static void window_drop_chunk(struct cairn_file *f, uint64_t index)
{
	struct rblock *rb, *next;
	for (rb = TAILQ_FIRST(&f->r.window); rb; rb = next) {
		next = TAILQ_NEXT(rb, link);
		if (rb->start / f->chunk_size == index)
			rblock_drop(f, rb);
	}
}

/*
 * The block to ask for at o: aligned (sequential readers) or from o for
 * at most want bytes; never past its chunk, FILE_READ_MAX or the size.
 */
static void extent(const struct cairn_file *f, uint64_t o, uint64_t want, int aligned,
		   uint64_t *start, uint64_t *len)
{
	uint64_t cstart = o - o % f->chunk_size, cend = cstart + f->chunk_size;
	uint64_t s = aligned ? cstart + (o - cstart) / FILE_READ_MAX * FILE_READ_MAX : o;
	uint64_t e = s + FILE_READ_MAX;
	if (!aligned && want < e - o)
		e = o + want;
	if (e > cend)
		e = cend;
	if (e > f->size)
		e = f->size;
	*start = s;
	*len = e - s;
}

/* Issues a block for [start, start + len) into the window. Returns 0 and *out, or an error. */
static int rblock_issue(struct cairn_file *f, uint64_t start, uint64_t len, struct rblock **out)
{
	struct loc *l;
	int err = loc_lookup(f, start / f->chunk_size, 0, &l);
	if (err)
		return err;
	struct rblock *rb = calloc(1, sizeof(*rb));
	if (!rb)
		return -ENOMEM;
	rb->f = f;
	rb->start = rb->pos = start;
	rb->len = len;
	rb->deadline = file_deadline(f);
	rb->job.run = rblock_run;
	struct rblock *after = TAILQ_LAST(&f->r.window, file_rwindow);
	while (after && after->start > start)
		after = TAILQ_PREV(after, file_rwindow, link);
	if (after)
		TAILQ_INSERT_AFTER(&f->r.window, after, rb, link);
	else
		TAILQ_INSERT_HEAD(&f->r.window, rb, link);
	f->r.nwindow++;
	*out = rb;
	if (!l) {
		rb->done = 1; /* a hole: zeros */
		return 0;
	}
	rb->loc = loc_ref(l);
	file_ref(f);
	if (client_post(f->c, &rb->job) < 0) {
		snprintf(rb->why, sizeof(rb->why), "the client is closing");
		rblock_complete(rb, -CAIRN_EUNAVAIL);
	}
	return 0;
}

/*
 * Fills the window with blocks after its last one, up to FILE_READ_AHEAD
 * blocks, as far as limit. Errors are left for the read that needs the
 * bytes.
 */
static void window_fill(struct cairn_file *f, uint64_t limit, int aligned)
{
	struct rblock *last = TAILQ_LAST(&f->r.window, file_rwindow), *rb;
	while (last && f->r.nwindow < FILE_READ_AHEAD) {
		uint64_t next = last->start + last->len, start, len;
		if (next >= limit)
			return;
		extent(f, next, limit - next, aligned, &start, &len);
		if (rblock_issue(f, start, len, &rb) != 0)
			return;
		last = rb;
	}
}

/* Waits for rb. Returns 0 (then see rb->err) or -ETIMEDOUT when the loop never answered. */
static int rblock_wait(struct cairn_file *f, struct rblock *rb)
{
	uint64_t until = rb->deadline + FILE_GRACE_MS;
	int err = 0;
	pthread_mutex_lock(&f->lock);
	while (!rb->done && err == 0)
		err = file_wait(f, until);
	pthread_mutex_unlock(&f->lock);
	return err;
}

/* Copies the block's bytes for [o, o + want) into dst (zeros past its data). */
static size_t copy_out(struct rblock *rb, char *dst, uint64_t o, size_t want)
{
	size_t have = rb->data ? evbuffer_get_length(rb->data) : 0;
	size_t skip = (size_t)(o - rb->pos);
	if (skip) {
		size_t d = skip < have ? skip : have;
		if (d)
			evbuffer_drain(rb->data, d);
		have -= d;
		rb->pos = o;
	}
	size_t take = (size_t)(rb->start + rb->len - o);
	if (take > want)
		take = want;
	size_t from = take < have ? take : have;
	if (from)
		evbuffer_remove(rb->data, dst, from);
	if (from < take)
		memset(dst + from, 0, take - from);
	rb->pos += take;
	return take;
}

/* The error of a block whose replicas all failed, with its words for cairn_last_error(). */
static int rblock_error(struct cairn_file *f, struct rblock *rb)
{
	char why[2 * CLIENT_WHY_MAX];
	snprintf(why, sizeof(why), "chunk %llu of %s: %s",
		 (unsigned long long)(rb->start / f->chunk_size), f->path, rb->why);
	call_set_last_error(f->c, why);
	return rb->err;
}

/* Did every replica of rb fail to answer at all, or is none known? */
static int unreachable(const struct rblock *rb)
{
	return rb->loc->n == 0 || unavailable(rb->err);
}

/*
 * Waits (back-off, doubled each time) and asks the metaserver where rb's
 * chunk is now, for a block that found no replica. Returns 0 to try
 * again, 1 when rb's deadline is too near to wait, or the metaserver's
 * error.
 */
static int wait_for_replicas(struct cairn_file *f, struct rblock *rb, uint64_t *backoff)
{
	uint64_t now = time_mono_ms();
	if (now + *backoff >= rb->deadline)
		return 1;
	struct timespec ts = {(time_t)(*backoff / 1000), (long)(*backoff % 1000) * 1000000};
	nanosleep(&ts, NULL);
	*backoff = *backoff * 2 < CLIENT_BACKOFF_MAX ? *backoff * 2 : CLIENT_BACKOFF_MAX;
	struct loc *l;
	return loc_lookup(f, rb->start / f->chunk_size, 1, &l);
}

static ssize_t read_at(struct cairn_file *f, char *buf, size_t n, uint64_t off)
{
	if (!file_readable(f))
		return -EBADF;
	if (file_writable(f)) {
		int err = write_flush(f); /* read our own writes */
		if (err) {
			file_set_last_error(f);
			return err;
		}
	}
	if (off >= f->size || n == 0)
		return 0;
	if (n > f->size - off)
		n = (size_t)(f->size - off);
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	int seq = off == f->r.next, err = 0;
	uint64_t refreshed = UINT64_MAX, waiting = UINT64_MAX, backoff = CLIENT_BACKOFF_MIN;
	uint64_t waiting_until = 0;
	window_trim(f, off, n, seq);
	size_t got = 0;
	while (got < n) {
		uint64_t o = off + got, start, len;
		struct rblock *rb = window_find(f, o);
		if (!rb) {
			extent(f, o, n - got, seq, &start, &len);
			if ((err = rblock_issue(f, start, len, &rb)) != 0)
				break;
		}
		window_fill(f, seq ? f->size : off + n, seq);
		if ((err = rblock_wait(f, rb)) != 0) {
			call_set_last_error(f->c, "the client's loop did not answer");
			rblock_drop(f, rb);
			break;
		}
		if (rb->err) {
			/* Every replica failed: the chunk may have moved since we asked. */
			uint64_t index = rb->start / f->chunk_size;
			struct loc *now;
			if (unreachable(rb)) {
				/* Nobody answered: wait, within the first block's time. */
				if (index != waiting) {
					waiting = index;
					waiting_until = rb->deadline;
					backoff = CLIENT_BACKOFF_MIN;
				}
				rb->deadline = waiting_until;
				int rc = wait_for_replicas(f, rb, &backoff);
				if (rc == 0) {
					window_drop_chunk(f, index);
					continue;
				}
				if (rc < 0) /* the metaserver failed too: do not ask it again */
					refreshed = index;
			}
			if (index != refreshed && loc_lookup(f, index, 1, &now) == 0) {
				refreshed = index;
				if (now && now->n && !loc_same(now, rb->loc)) {
					window_drop_chunk(f, index);
					continue;
				}
			}
			err = rblock_error(f, rb);
			rblock_drop(f, rb);
			break;
		}
		got += copy_out(rb, buf + got, o, n - got);
		if (rb->pos == rb->start + rb->len)
			rblock_drop(f, rb);
	}
	f->r.next = off + got;
	return got ? (ssize_t)got : err;
}

ssize_t cairn_pread(cairn_file_t *f, void *buf, size_t n, uint64_t off)
{
	return read_at(f, buf, n, off);
}

ssize_t cairn_read(cairn_file_t *f, void *buf, size_t n)
{
	ssize_t r = read_at(f, buf, n, f->pos);
	if (r > 0)
		f->pos += (uint64_t)r;
	return r;
}

void read_forget(struct cairn_file *f)
{
	struct rblock *rb;
	while ((rb = TAILQ_FIRST(&f->r.window)))
		rblock_drop(f, rb);
}

void read_free(struct cairn_file *f)
{
	read_forget(f);
	for (size_t i = 0; i < f->r.nlocs; i++)
		loc_unref(f->r.locs[i].loc);
	free(f->r.locs);
	f->r.locs = NULL;
	f->r.nlocs = 0;
}
