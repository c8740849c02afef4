/*
 * store: the loop side of the chunk store: the index, submitting ops to
 * the dir workers, and delivering their completions.
 *
 * An op is allocated on submission and counted in s->inflight until its
 * callback has run. It goes to its chunk's dir queue (behind the chunk's
 * create, if that is in flight: the worker fails it with -ENOENT when the
 * create failed), or, when it fails up front, straight to the done list;
 * either way its callback runs from on_done(), never inside the
 * submitting call. Workers push finished ops to the done list and write
 * the eventfd when the list was empty; on_done() takes the whole list at
 * once.
 *
 * Index entries are reference counted (the index holds one, each op one)
 * so a completion can always look at its chunk, even after a remove took it
 * out of the index; a completion only changes an entry still linked.
 *
 * Invariants: every entry of a dir that failed stays in the index as lost
 * (lookup gives -EIO, foreach skips it) until a create of the same id
 * replaces it; d->nchunks counts the linked entries of d; store_close()
 * joins the workers only once inflight is 0.
 */
#include "store_int.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "errors.h"
#include "log.h"
#include "util.h"

#define HDR ((uint64_t)CHUNKFILE_HEADER_SIZE)

/* ---- the index ---- */

static size_t ibucket(const struct store *s, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (s->nbuckets - 1);
}

static struct store_chunk *index_find(const struct store *s, uint64_t id)
{
	struct store_chunk *c = s->buckets[ibucket(s, id)];
	while (c && c->info.chunk_id != id)
		c = c->hnext;
	return c;
}

static void index_grow(struct store *s)
{
	size_t old = s->nbuckets;
	struct store_chunk **ob = s->buckets;
	s->nbuckets = old * 2;
	s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
	for (size_t i = 0; i < old; i++) {
		struct store_chunk *c = ob[i], *next;
		for (; c; c = next) {
			next = c->hnext;
			size_t b = ibucket(s, c->info.chunk_id);
			c->hnext = s->buckets[b];
			s->buckets[b] = c;
		}
	}
	free(ob);
}

static struct store_chunk *index_add(struct store *s, uint64_t id, uint64_t version,
				     uint64_t file_id, uint64_t length, int dir)
{
	if (s->nchunks >= s->nbuckets)
		index_grow(s);
	struct store_chunk *c = xcalloc(1, sizeof(*c));
	c->info.chunk_id = id;
	c->info.version = version;
	c->info.file_id = file_id;
	c->info.length = length;
	c->info.dir = dir;
	c->refs = 1;
	c->linked = 1;
	size_t b = ibucket(s, id);
	c->hnext = s->buckets[b];
	s->buckets[b] = c;
	s->nchunks++;
	s->dirs[dir].nchunks++;
	return c;
}

static void chunk_unref(struct store_chunk *c)
{
	if (c && --c->refs == 0)
		free(c);
}

/* Takes c out of the index (it lives on while ops hold it). */
static void index_drop(struct store *s, struct store_chunk *c)
{
	if (!c->linked)
		return;
	struct store_chunk **pp = &s->buckets[ibucket(s, c->info.chunk_id)];
	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	c->hnext = NULL;
	c->linked = 0;
	s->nchunks--;
	s->dirs[c->info.dir].nchunks--;
	chunk_unref(c);
}

static int dir_usable(const struct store_dir *d)
{
	return !d->failed_seen && !atomic_load(&d->failed);
}

/* ---- ops: submission ---- */

static struct store_op *op_new(struct store *s, enum store_op_kind kind, uint64_t id,
			       store_done_fn cb, void *arg)
{
	struct store_op *op = xcalloc(1, sizeof(*op));
	op->kind = kind;
	op->chunk_id = id;
	op->cb = cb;
	op->arg = arg;
	s->inflight++;
	return op;
}

static void op_free(struct store_op *op)
{
	if (op->buf)
		evbuffer_free(op->buf);
	free(op->crcs);
	chunk_unref(op->chunk);
	free(op);
}

/* Fails op without running it; its callback runs from on_done(). */
static void op_fail(struct store *s, struct store_op *op, int err)
{
	op->err = err;
	store_done_push(s, op);
}

static void op_queue(struct store_dir *d, struct store_op *op)
{
	op->next = NULL;
	pthread_mutex_lock(&d->mu);
	*d->qtail = op;
	d->qtail = &op->next;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/*
 * Attaches op to its chunk and sends it to the chunk's dir, or fails it:
 * -ESHUTDOWN, -ENOENT, -EIO.
 */
static void op_submit(struct store *s, struct store_op *op)
{
	if (s->closing) {
		op_fail(s, op, -ESHUTDOWN);
		return;
	}
	struct store_chunk *c = index_find(s, op->chunk_id);
	if (!c) {
		op_fail(s, op, -ENOENT);
		return;
	}
	struct store_dir *d = &s->dirs[c->info.dir];
	if (d->failed_seen) {
		op_fail(s, op, -EIO);
		return;
	}
	op->chunk = c;
	c->refs++;
	op->dir = d;
	if (op->kind == STORE_OP_REMOVE)
		index_drop(s, c);
	op->after_create = c->creating;
	op_queue(d, op);
}

/* Whether free space a and b differ by under 1% (dirs sharing a file system
 * see its free space sampled at different moments). */
static int about_equal(uint64_t a, uint64_t b)
{
	uint64_t hi = a > b ? a : b, lo = a > b ? b : a;
	return hi - lo <= hi / 100;
}

/* The usable dir with the most free space; of about equal ones, the one with fewest chunks. */
static struct store_dir *pick_dir(struct store *s, int *err)
{
	struct store_dir *best = NULL;
	uint64_t best_free = 0;
	struct store_dir_stats st;
	for (int i = 0; i < s->ndirs; i++) {
		struct store_dir *d = &s->dirs[i];
		if (!dir_usable(d))
			continue;
		store_dir_stats(s, i, &st);
		int tie = best && about_equal(st.free, best_free);
		if (!best || (tie && d->nchunks < best->nchunks) || (!tie && st.free > best_free)) {
			best = d;
			best_free = st.free;
		}
	}
	*err = !best ? -EIO : best_free < HDR ? -ENOSPC : 0;
	return *err ? NULL : best;
}

void store_create(struct store *s, uint64_t chunk_id, uint64_t version, uint64_t file_id,
		  store_done_fn cb, void *arg)
{
	struct store_op *op = op_new(s, STORE_OP_CREATE, chunk_id, cb, arg);
	op->version = version;
	op->file_id = file_id;
	if (s->closing) {
		op_fail(s, op, -ESHUTDOWN);
		return;
	}
	struct store_chunk *c = index_find(s, chunk_id);
	if (c && !s->dirs[c->info.dir].failed_seen) {
		op_fail(s, op, -EEXIST);
		return;
	}
	if (c)
		index_drop(s, c); /* lost with its dir: a new replica replaces it */
	int err;
	struct store_dir *d = pick_dir(s, &err);
	if (!d) {
		op_fail(s, op, err);
		return;
	}
	c = index_add(s, chunk_id, version, file_id, 0, d->index);
	c->creating = 1;
	op->chunk = c;
	c->refs++;
	op->dir = d;
	op_queue(d, op);
}

void store_write(struct store *s, uint64_t chunk_id, uint64_t offset, struct evbuffer *data,
		 store_done_fn cb, void *arg)
{
	store_write_crc(s, chunk_id, offset, data, NULL, 0, cb, arg);
}

void store_write_crc(struct store *s, uint64_t chunk_id, uint64_t offset, struct evbuffer *data,
		     const uint32_t *crcs, size_t n, store_done_fn cb, void *arg)
{
	struct store_op *op = op_new(s, STORE_OP_WRITE, chunk_id, cb, arg);
	op->offset = offset;
	op->buf = evbuffer_new();
	if (!op->buf) {
		log_error("store: out of memory");
		abort();
	}
	evbuffer_add_buffer(op->buf, data);
	uint64_t len = evbuffer_get_length(op->buf);
	if (n && n == (len + CHUNKFILE_BLOCK_SIZE - 1) / CHUNKFILE_BLOCK_SIZE) {
		op->crcs = xcalloc(n, sizeof(*crcs));
		memcpy(op->crcs, crcs, n * sizeof(*crcs));
		op->ncrcs = n;
	}
	if (offset > CHUNKFILE_MAX_SIZE || len > CHUNKFILE_MAX_SIZE - offset)
		op_fail(s, op, -EINVAL);
	else
		op_submit(s, op);
}

void store_sync(struct store *s, uint64_t chunk_id, store_done_fn cb, void *arg)
{
	op_submit(s, op_new(s, STORE_OP_SYNC, chunk_id, cb, arg));
}

void store_read(struct store *s, uint64_t chunk_id, uint64_t offset, uint64_t len, store_done_fn cb,
		void *arg)
{
	struct store_op *op = op_new(s, STORE_OP_READ, chunk_id, cb, arg);
	op->offset = offset;
	op->len = len;
	if (offset > CHUNKFILE_MAX_SIZE)
		op_fail(s, op, -EINVAL);
	else
		op_submit(s, op);
}

void store_crcs(struct store *s, uint64_t chunk_id, uint64_t offset, uint64_t len,
		store_read_fn cb, void *arg)
{
	struct store_op *op = op_new(s, STORE_OP_CRCS, chunk_id, NULL, arg);
	op->rcb = cb;
	op->offset = offset;
	op->len = len;
	if (offset > CHUNKFILE_MAX_SIZE || offset % CHUNKFILE_BLOCK_SIZE)
		op_fail(s, op, -EINVAL);
	else
		op_submit(s, op);
}

void store_read_crc(struct store *s, uint64_t chunk_id, uint64_t offset, uint64_t len,
		    store_read_fn cb, void *arg)
{
	struct store_op *op = op_new(s, STORE_OP_READ, chunk_id, NULL, arg);
	op->rcb = cb;
	op->offset = offset;
	op->len = len;
	if (offset > CHUNKFILE_MAX_SIZE)
		op_fail(s, op, -EINVAL);
	else
		op_submit(s, op);
}

void store_set_version(struct store *s, uint64_t chunk_id, uint64_t version, store_done_fn cb,
		       void *arg)
{
	struct store_op *op = op_new(s, STORE_OP_SETVER, chunk_id, cb, arg);
	op->version = version;
	op_submit(s, op);
}

void store_remove(struct store *s, uint64_t chunk_id, store_done_fn cb, void *arg)
{
	op_submit(s, op_new(s, STORE_OP_REMOVE, chunk_id, cb, arg));
}

void store_scrub(struct store *s, uint64_t chunk_id, store_done_fn cb, void *arg)
{
	op_submit(s, op_new(s, STORE_OP_SCRUB, chunk_id, cb, arg));
}

void store_check_dirs(struct store *s)
{
	for (int i = 0; i < s->ndirs && !s->closing; i++) {
		struct store_dir *d = &s->dirs[i];
		if (d->failed_seen)
			continue;
		struct store_op *op = op_new(s, STORE_OP_CHECK, 0, NULL, NULL);
		op->dir = d;
		op_queue(d, op);
	}
}

/* ---- ops: completion ---- */

void store_done_push(struct store *s, struct store_op *op)
{
	op->next = NULL;
	pthread_mutex_lock(&s->done_mu);
	int was_empty = s->done_head == NULL;
	*s->done_tail = op;
	s->done_tail = &op->next;
	pthread_mutex_unlock(&s->done_mu);
	if (was_empty) {
		uint64_t one = 1;
		ssize_t n = write(s->efd, &one, sizeof(one));
		(void)n; /* only fails when the counter is already non-zero */
	}
}

static void report_lost(struct store *s, const uint64_t *ids, size_t n)
{
	if (s->lost && n > 0)
		s->lost(ids, n, s->lost_arg);
}

/* A dir failed: report all its replicas lost; they stay in the index as lost. */
static void dir_lost(struct store *s, struct store_dir *d)
{
	d->failed_seen = 1;
	size_t n = 0;
	uint64_t *ids = xcalloc(d->nchunks + 1, sizeof(*ids));
	for (size_t b = 0; b < s->nbuckets; b++) {
		for (struct store_chunk *c = s->buckets[b]; c; c = c->hnext) {
			if (c->info.dir == d->index && !c->creating && n < d->nchunks)
				ids[n++] = c->info.chunk_id;
		}
	}
	log_error("data dir %s is out of service: %zu replicas lost", d->path, n);
	report_lost(s, ids, n);
	free(ids);
}

static void apply(struct store *s, struct store_op *op)
{
	struct store_chunk *c = op->chunk;
	if (op->kind == STORE_OP_CREATE) {
		c->creating = 0;
		if (op->err < 0)
			index_drop(s, c);
	}
	if (!c->linked)
		return;
	if (op->corrupt)
		c->info.corrupt = 1;
	if (op->have_result) {
		c->info.length = op->length;
		c->info.version = op->version;
		c->info.open = op->open;
	}
	if (op->lost) {
		uint64_t id = c->info.chunk_id;
		index_drop(s, c);
		report_lost(s, &id, 1);
	}
}

static void complete(struct store *s, struct store_op *op)
{
	struct store_dir *d = op->dir;
	if (d && !d->failed_seen && atomic_load(&d->failed))
		dir_lost(s, d);
	if (op->chunk)
		apply(s, op);
	s->inflight--;
	int read_ok = op->err == 0 && op->kind == STORE_OP_READ;
	int crcs_ok = op->err == 0 && op->kind == STORE_OP_CRCS;
	if (op->rcb)
		op->rcb(op->err, read_ok ? op->buf : NULL, read_ok || crcs_ok ? op->crcs : NULL,
			read_ok || crcs_ok ? op->ncrcs : 0, op->arg);
	else if (op->cb)
		op->cb(op->err, read_ok ? op->buf : NULL, op->arg);
	op_free(op);
}

static void drain_done(struct store *s)
{
	uint64_t v;
	ssize_t n = read(s->efd, &v, sizeof(v));
	(void)n;
	pthread_mutex_lock(&s->done_mu);
	struct store_op *op = s->done_head;
	s->done_head = NULL;
	s->done_tail = &s->done_head;
	pthread_mutex_unlock(&s->done_mu);
	while (op) {
		struct store_op *next = op->next;
		complete(s, op);
		op = next;
	}
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	drain_done(arg);
}

/* ---- getters ---- */

int store_lookup(const struct store *s, uint64_t chunk_id, struct store_chunk_info *info)
{
	const struct store_chunk *c = index_find(s, chunk_id);
	if (!c)
		return -ENOENT;
	if (s->dirs[c->info.dir].failed_seen)
		return -EIO;
	*info = c->info;
	return 0;
}

void store_foreach(const struct store *s, store_foreach_fn fn, void *arg)
{
	for (size_t b = 0; b < s->nbuckets; b++) {
		for (const struct store_chunk *c = s->buckets[b]; c; c = c->hnext) {
			if (!c->creating && !s->dirs[c->info.dir].failed_seen)
				fn(&c->info, arg);
		}
	}
}

int store_ndirs(const struct store *s)
{
	return s->ndirs;
}

void store_dir_stats(const struct store *s, int i, struct store_dir_stats *st)
{
	const struct store_dir *d = &s->dirs[i];
	st->path = d->path;
	st->used = atomic_load(&d->used);
	st->capacity = d->capacity;
	st->failed = !dir_usable(d);
	st->chunks = st->failed ? 0 : d->nchunks;
	uint64_t room = st->capacity > st->used ? st->capacity - st->used : 0;
	uint64_t avail = atomic_load(&d->fs_avail);
	st->free = st->failed ? 0 : room < avail ? room : avail;
}

/* ---- open and close ---- */

static void teardown(struct store *s)
{
	for (int i = 0; i < s->ndirs; i++) {
		struct store_dir *d = &s->dirs[i];
		if (d->started) {
			pthread_mutex_lock(&d->mu);
			d->stop = 1;
			pthread_cond_broadcast(&d->cv);
			pthread_mutex_unlock(&d->mu);
			pthread_join(d->thread, NULL);
		}
		if (d->root_fd >= 0)
			close(d->root_fd);
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		free(d->scratch);
		free(d->bigbuf);
		free(d->crcs);
		free(d->hdrbuf);
		free(d->iov);
		free(d->eviov);
		free(d->found);
		free(d->scan_error);
		free(d->path);
	}
	for (size_t b = 0; s->buckets && b < s->nbuckets; b++) {
		struct store_chunk *c = s->buckets[b], *next;
		for (; c; c = next) {
			next = c->hnext;
			free(c);
		}
	}
	free(s->buckets);
	free(s->dirs);
	if (s->done_ev)
		event_free(s->done_ev);
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->done_mu);
	free(s);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	s->closing = 1;
	while (s->inflight > 0) {
		struct pollfd p = {.fd = s->efd, .events = POLLIN};
		poll(&p, 1, 1000);
		drain_done(s);
	}
	teardown(s);
}

/* Moves aside the replica of a chunk found in two dirs that loses. */
static void drop_duplicate(struct store_dir *d, uint64_t id, uint64_t length, uint64_t keep_ver,
			   const char *keep_dir)
{
	char rel[CHUNKFILE_RELPATH_MAX], why[600];
	chunkfile_relpath(rel, id);
	snprintf(why, sizeof(why), "also in %s with version %llu", keep_dir,
		 (unsigned long long)keep_ver);
	store_move_aside(d, rel, why);
	uint64_t used = atomic_load(&d->used);
	atomic_store(&d->used, used > HDR + length ? used - HDR - length : 0);
}

/* Builds the index from the scans; of duplicates the higher version wins. */
static void merge(struct store *s)
{
	for (int i = 0; i < s->ndirs; i++) {
		struct store_dir *d = &s->dirs[i];
		if (atomic_load(&d->failed))
			d->failed_seen = 1;
		for (size_t k = 0; !d->failed_seen && k < d->nfound; k++) {
			const struct store_found *f = &d->found[k];
			struct store_chunk *c = index_find(s, f->chunk_id);
			if (!c) {
				index_add(s, f->chunk_id, f->version, f->file_id, f->length, i);
				continue;
			}
			struct store_dir *od = &s->dirs[c->info.dir];
			if (f->version <= c->info.version) {
				drop_duplicate(d, f->chunk_id, f->length, c->info.version,
					       od->path);
				continue;
			}
			drop_duplicate(od, f->chunk_id, c->info.length, f->version, d->path);
			od->nchunks--;
			d->nchunks++;
			c->info.dir = i;
			c->info.version = f->version;
			c->info.file_id = f->file_id;
			c->info.length = f->length;
		}
		free(d->found);
		d->found = NULL;
		d->nfound = 0;
	}
}

static void init_dirs(struct store *s, const char *const *dirs)
{
	for (int i = 0; i < s->ndirs; i++) {
		struct store_dir *d = &s->dirs[i];
		d->s = s;
		d->index = i;
		d->root_fd = -1;
		d->qtail = &d->qhead;
		d->path = strdup(dirs[i]);
		if (!d->path) {
			log_error("store: out of memory");
			abort();
		}
		pthread_mutex_init(&d->mu, NULL);
		pthread_cond_init(&d->cv, NULL);
	}
}

/* Starts the workers and waits for their scans. */
static int start_dirs(struct store *s, char **cause)
{
	for (int i = 0; i < s->ndirs; i++) {
		struct store_dir *d = &s->dirs[i];
		int rc = pthread_create(&d->thread, NULL, store_worker_main, d);
		if (rc != 0) {
			if (asprintf(cause, "cannot start a worker: %s", strerror(rc)) < 0)
				*cause = NULL;
			return -rc;
		}
		d->started = 1;
	}
	for (int i = 0; i < s->ndirs; i++) {
		struct store_dir *d = &s->dirs[i];
		pthread_mutex_lock(&d->mu);
		while (!d->scanned)
			pthread_cond_wait(&d->cv, &d->mu);
		pthread_mutex_unlock(&d->mu);
	}
	return 0;
}

static void set_capacity(struct store *s, uint64_t capacity)
{
	for (int i = 0; i < s->ndirs; i++) {
		struct store_dir *d = &s->dirs[i];
		if (d->failed_seen)
			continue;
		d->capacity = capacity ? capacity / (uint64_t)s->ndirs
				       : atomic_load(&d->used) + atomic_load(&d->fs_avail);
		log_info("data dir %s: %llu replicas, %llu of %llu bytes used", d->path,
			 (unsigned long long)d->nchunks, (unsigned long long)atomic_load(&d->used),
			 (unsigned long long)d->capacity);
	}
}

/* The cause when no dir is usable: every dir's error. */
static char *no_dir_cause(const struct store *s)
{
	size_t len = 64;
	for (int i = 0; i < s->ndirs; i++)
		len += strlen(s->dirs[i].path) + 8 +
		       (s->dirs[i].scan_error ? strlen(s->dirs[i].scan_error) : 8);
	char *c = malloc(len);
	if (!c)
		return NULL;
	size_t at = (size_t)snprintf(c, len, "no usable data dir");
	for (int i = 0; i < s->ndirs; i++) {
		const struct store_dir *d = &s->dirs[i];
		at += (size_t)snprintf(c + at, len - at, "%s %s: %s", i ? ";" : ":", d->path,
				       d->scan_error ? d->scan_error : "failed");
	}
	return c;
}

struct store *store_open(const char *const *dirs, int ndirs, uint64_t capacity,
			 struct event_base *base, store_lost_fn lost, void *lost_arg, char **cause)
{
	*cause = NULL;
	if (ndirs < 1) {
		*cause = strdup("no data dir given");
		return NULL;
	}
	struct store *s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->lost = lost;
	s->lost_arg = lost_arg;
	s->done_tail = &s->done_head;
	pthread_mutex_init(&s->done_mu, NULL);
	s->nbuckets = 1024;
	s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
	s->dirs = xcalloc((size_t)ndirs, sizeof(*s->dirs));
	s->ndirs = ndirs;
	init_dirs(s, dirs);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0 ||
	    !(s->done_ev = event_new(base, s->efd, EV_READ | EV_PERSIST, on_done, s)) ||
	    event_add(s->done_ev, NULL) < 0) {
		if (asprintf(cause, "cannot set up completions: %s", strerror(errno)) < 0)
			*cause = NULL;
		teardown(s);
		return NULL;
	}
	if (start_dirs(s, cause) < 0) {
		teardown(s);
		return NULL;
	}
	merge(s);
	int usable = 0;
	for (int i = 0; i < ndirs; i++)
		usable += !s->dirs[i].failed_seen;
	if (!usable) {
		*cause = no_dir_cause(s);
		teardown(s);
		return NULL;
	}
	set_capacity(s, capacity);
	return s;
}
