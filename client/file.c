/*
 * file: libcairn's open files: cairn_open(), cairn_close(), cairn_seek(),
 * cairn_fsync(), the write lease, and cairn_chunk_locations(). Writes are
 * in write.c, reads in read.c; what the three share is in file_int.h.
 *
 * Opening asks the metaserver (OpenReq), which creates, truncates and, for
 * a writer, grants the file's write lease (one writer per file) and, when
 * the file has no chunk yet, allocates chunk 0 for it in the same durable
 * step; a reader gets the locations of the first chunks with it. The
 * answer fixes what the open sees: the file's id, its size (reads stop
 * there: close-to-open consistency) and the chunk size. A writer's lease
 * is renewed by a timer on the loop thread every lease_ms / 3 with a
 * LeaseReq that also commits the size acknowledged so far; a renewal the
 * metaserver refuses means the lease is lost, which becomes the file's
 * standing error. fsync() commits the writer's size once its chunks are
 * durable; close() flushes, waits, and releases the lease with the final
 * size (or, after a write failed, the size acknowledged, trying for at
 * most FILE_RELEASE_MS, and not at all when the metaserver was just found
 * unreachable for a whole timeout: an unreleased lease expires anyway).
 *
 * Lease renewals and the bad replicas a reader or writer finds
 * (ReportBadReq, from any thread) are metaserver calls nobody waits for:
 * they run on the handle's background thread (client_post_bg()), as the
 * loop thread, where the renewal timer fires, must not block.
 *
 * Memory. The first open tunes glibc's malloc for the data path (see
 * malloc_tune()), unless the environment already tunes it.
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "file_int.h"
#include "loc.h"
#include "util.h"

#define FILE_ACCMODE	 (CAIRN_O_WRONLY | CAIRN_O_RDWR)
#define FILE_FLAGS	 (FILE_ACCMODE | CAIRN_O_CREAT | CAIRN_O_EXCL | CAIRN_O_TRUNC | CAIRN_O_APPEND)
#define FILE_LOCS_LISTED 1024u /* chunk locations per ChunksReq of cairn_chunk_locations() */

int file_readable(const struct cairn_file *f)
{
	return (f->flags & FILE_ACCMODE) != CAIRN_O_WRONLY;
}

int file_writable(const struct cairn_file *f)
{
	return (f->flags & FILE_ACCMODE) != CAIRN_O_RDONLY;
}

void file_ref(struct cairn_file *f)
{
	pthread_mutex_lock(&f->lock);
	f->refs++;
	pthread_mutex_unlock(&f->lock);
}

void file_unref(struct cairn_file *f)
{
	pthread_mutex_lock(&f->lock);
	CAIRN_ASSERT(f->refs > 0);
	int last = --f->refs == 0;
	pthread_mutex_unlock(&f->lock);
	if (!last)
		return;
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f->path);
	free(f);
}

void file_set_last_error(struct cairn_file *f)
{
	pthread_mutex_lock(&f->lock);
	call_set_last_error(f->c, f->w.err ? f->w.why : NULL);
	if (f->w.err && f->w.meta_gone)
		call_mark_gave_up(f->c);
	pthread_mutex_unlock(&f->lock);
}

uint64_t file_deadline(const struct cairn_file *f)
{
	return time_mono_ms() + f->c->timeout_ms;
}

int file_wait(struct cairn_file *f, uint64_t until_ms)
{
	uint64_t now = time_mono_ms();
	if (now >= until_ms)
		return -ETIMEDOUT;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ms = until_ms - now;
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	return 0;
}

/* ---- bad replicas ---- */

struct report_job {
	struct cjob job;
	struct cairn *c;
	uint64_t chunk_id;
	int err;
	char replica[LOC_MAX_ADDR + 1];
};

/* Sends one report (background thread); the answer does not matter. */
static void report_run(struct cjob *job, int stopping)
{
	struct report_job *r = (struct report_job *)job;
	if (!stopping) {
		Cairn__ReportBadReq m = CAIRN__REPORT_BAD_REQ__INIT;
		m.chunk_id = r->chunk_id;
		m.replica = r->replica;
		m.why = (Cairn__Status)err_to_status(r->err);
		Cairn__Envelope req;
		CALL_REQ(&req, REPORT_BAD, report_bad, &m);
		uint64_t ms =
		    r->c->timeout_ms < CLIENT_REPORT_MS ? r->c->timeout_ms : CLIENT_REPORT_MS;
		call_run_for(r->c, &req, CAIRN__ENVELOPE__BODY__NOT_SET, ms, NULL);
	}
	free(r);
}

void file_report_bad(struct cairn *c, uint64_t chunk_id, const char *replica, int err)
{
	struct report_job *r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->job.run = report_run;
	r->c = c;
	r->chunk_id = chunk_id;
	r->err = err;
	snprintf(r->replica, sizeof(r->replica), "%s", replica);
	if (client_post_bg(c, &r->job) < 0)
		free(r);
}

/* ---- the write lease ---- */

/* A renewal ended with err and the metaserver's words why; drops its reference. */
static void lease_renewed(struct cairn_file *f, int err, const char *why)
{
	pthread_mutex_lock(&f->lock);
	CAIRN_ASSERT(f->lease_busy);
	f->lease_busy = 0;
	if ((err == -CAIRN_ELEASE || err == -ENOENT) && !f->w.err) {
		f->w.err = -CAIRN_ELEASE;
		snprintf(f->w.why, sizeof(f->w.why), "the write lease on %s was lost%s%s", f->path,
			 *why ? ": " : "", why);
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	file_unref(f);
}

/* One renewal (background thread): a LeaseReq committing the size acknowledged so far. */
static void lease_renew(struct cjob *job, int stopping)
{
	struct cairn_file *f =
	    (struct cairn_file *)((char *)job - offsetof(struct cairn_file, lease_job));
	if (stopping) {
		lease_renewed(f, -CAIRN_EUNAVAIL, "");
		return;
	}
	Cairn__LeaseReq m = CAIRN__LEASE_REQ__INIT;
	m.file_id = f->id;
	m.lease_id = f->lease_id;
	pthread_mutex_lock(&f->lock);
	m.size = f->w.acked_size;
	pthread_mutex_unlock(&f->lock);
	Cairn__Envelope req;
	CALL_REQ(&req, LEASE, lease, &m);
	uint64_t ms =
	    f->lease_ms / 3 + 1 < f->c->timeout_ms ? f->lease_ms / 3 + 1 : f->c->timeout_ms;
	int err = call_run_for(f->c, &req, CAIRN__ENVELOPE__BODY__NOT_SET, ms, NULL);
	lease_renewed(f, err, err ? cairn_last_error(f->c) : "");
}

/* The renewal timer (loop thread): one renewal unless one is in flight. */
static void lease_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cairn_file *f = arg;
	pthread_mutex_lock(&f->lock);
	int busy = f->lease_busy;
	if (!busy) {
		f->lease_busy = 1;
		f->refs++;
	}
	pthread_mutex_unlock(&f->lock);
	if (busy)
		return;
	f->lease_job.run = lease_renew;
	if (client_post_bg(f->c, &f->lease_job) < 0)
		lease_renewed(f, -CAIRN_EUNAVAIL, "");
}

static int lease_start(struct cairn_file *f)
{
	uint64_t ms = f->lease_ms / 3 > FILE_LEASE_MIN ? f->lease_ms / 3 : FILE_LEASE_MIN;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	f->lease_ev = event_new(f->c->base, -1, EV_PERSIST, lease_tick, f);
	if (!f->lease_ev || event_add(f->lease_ev, &tv) < 0)
		return -ENOMEM;
	return 0;
}

/* Stops the renewals; waits for a tick running on the loop thread. f->lock not held. */
static void lease_stop(struct cairn_file *f)
{
	if (!f->lease_ev)
		return;
	event_del(f->lease_ev);
	event_free(f->lease_ev);
	f->lease_ev = NULL;
}

/*
 * LeaseReq from the user thread: commits size, and with release ends the
 * lease (with trim, dropping chunks past size); retries for timeout_ms.
 */
static int lease_call_trim(struct cairn *c, uint64_t id, uint64_t lease_id, uint64_t size,
			   int release, int trim, uint64_t timeout_ms)
{
	Cairn__LeaseReq m = CAIRN__LEASE_REQ__INIT;
	m.file_id = id;
	m.lease_id = lease_id;
	m.size = size;
	m.release = release != 0;
	m.trim = trim != 0;
	Cairn__Envelope req;
	CALL_REQ(&req, LEASE, lease, &m);
	return call_run_for(c, &req, CAIRN__ENVELOPE__BODY__NOT_SET, timeout_ms, NULL);
}

static int lease_call(struct cairn *c, uint64_t id, uint64_t lease_id, uint64_t size, int release,
		      uint64_t timeout_ms)
{
	return lease_call_trim(c, id, lease_id, size, release, 0, timeout_ms);
}

/* ---- open and close ---- */

/* Checks an OpenResp. Returns 0, or an error with its words recorded. */
static int check_opened(struct cairn *c, const Cairn__OpenResp *r, int write)
{
	const char *bad = NULL;
	if (!r->attr)
		bad = "the metaserver's answer to open has no attributes";
	else if (r->attr->type != CAIRN__FILE_TYPE__FILE_TYPE_FILE)
		return -EISDIR;
	else if (r->chunk_size == 0 || r->chunk_size > FILE_CHUNK_MAX)
		bad = "the metaserver gave an impossible chunk size";
	else if (write && r->lease_id == 0)
		bad = "the metaserver granted no write lease";
	if (!bad)
		return 0;
	call_set_last_error(c, bad);
	return -CAIRN_EPROTO;
}

static struct cairn_file *file_new(struct cairn *c, char *path, const Cairn__OpenResp *r, int flags)
{
	struct cairn_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0 || !(f->path = strdup(path))) {
		if (rc == 0)
			pthread_cond_destroy(&f->cond);
		free(f);
		return NULL;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->c = c;
	f->refs = 1;
	f->flags = flags;
	f->id = r->attr->id;
	f->size = r->attr->size;
	f->chunk_size = r->chunk_size;
	f->lease_id = r->lease_id;
	f->lease_ms = r->lease_ms ? r->lease_ms : FILE_LEASE_MS;
	f->w.known = r->attr->nchunks;
	f->w.acked_size = r->attr->size;
	TAILQ_INIT(&f->w.pieces);
	TAILQ_INIT(&f->r.window);
	return f;
}

/*
 * Keeps what the open answered beyond the attributes: a writer's chunk 0
 * (allocated with the open), a reader's first chunk locations. On error
 * the file is closed.
 */
static int open_adopt(struct cairn_file *f, const Cairn__OpenResp *r, uint64_t epoch)
{
	int err = 0;
	if (r->chunk && file_writable(f) && r->chunk->index == 0 && r->chunk->n_replicas &&
	    f->w.known == 1) {
		struct loc *l = loc_from_pb(r->chunk, &err);
		if (l)
			err = write_adopt(f, l, epoch);
	}
	if (!err && r->n_chunks && !file_writable(f)) {
		struct loc **locs;
		if ((err = loc_list_from_pb(r->chunks, r->n_chunks, &locs)) == 0) {
			err = read_adopt(f, locs, r->n_chunks);
			loc_list_free(locs, r->n_chunks);
		}
	}
	if (err) {
		if (file_writable(f))
			lease_stop(f);
		read_free(f);
		write_free(f);
		file_unref(f);
	}
	return err;
}

#define FILE_MMAP_THRESHOLD (4 << 20)  /* served from the heap below this */
#define FILE_TRIM_THRESHOLD (32 << 20) /* free heap kept before giving it back */

static pthread_once_t malloc_once = PTHREAD_ONCE_INIT;

/*
 * Payload bytes arrive in buffers of a few hundred KiB, allocated on the
 * loop thread and freed on the reader's. Left to its defaults, glibc
 * gives freed heap back to the kernel as soon as about 1 MiB is free, so
 * every buffer's pages fault in again: three quarters of a reader's CPU
 * (2.0 against 0.5 CPU-seconds per GB). Keeping up to FILE_TRIM_THRESHOLD
 * of free heap ends it. Process-wide, so a choice made in the environment
 * wins.
 */
static void malloc_tune(void)
{
	const char *t = getenv("GLIBC_TUNABLES");
	if ((t && strstr(t, "glibc.malloc.")) || getenv("MALLOC_TRIM_THRESHOLD_") ||
	    getenv("MALLOC_MMAP_THRESHOLD_"))
		return;
	mallopt(M_MMAP_THRESHOLD, FILE_MMAP_THRESHOLD);
	mallopt(M_TRIM_THRESHOLD, FILE_TRIM_THRESHOLD);
}

int cairn_open(cairn_t *c, const char *path, int flags, uint32_t mode, cairn_file_t **out)
{
	return cairn_open_opts(c, path, flags, mode, NULL, out);
}

/* Whether a chunk size may be asked for: 0 (the default) or a power of two in range. */
static int chunk_size_ok(uint64_t cs)
{
	return cs == 0 ||
	       (cs >= CAIRN_CHUNK_SIZE_MIN && cs <= CAIRN_CHUNK_SIZE_MAX && !(cs & (cs - 1)));
}

int cairn_open_opts(cairn_t *c, const char *path, int flags, uint32_t mode,
		    const struct cairn_open_options *opt, cairn_file_t **out)
{
	*out = NULL;
	pthread_once(&malloc_once, malloc_tune);
	int write = (flags & FILE_ACCMODE) != CAIRN_O_RDONLY;
	uint64_t chunk_size = opt ? opt->chunk_size : 0;
	if (!chunk_size_ok(chunk_size)) {
		call_set_last_error(c, "a chunk size is a power of two from 1M to 256M");
		return -EINVAL;
	}
	if ((flags & ~FILE_FLAGS) || (flags & FILE_ACCMODE) == FILE_ACCMODE ||
	    ((flags & CAIRN_O_EXCL) && !(flags & CAIRN_O_CREAT)) ||
	    ((flags & CAIRN_O_TRUNC) && !write))
		return -EINVAL;
	char *p;
	int err = client_path_norm(path, &p);
	if (err)
		return err;
	Cairn__OpenReq m = CAIRN__OPEN_REQ__INIT;
	m.path = p;
	m.write = write;
	m.create = (flags & CAIRN_O_CREAT) != 0;
	m.exclusive = (flags & CAIRN_O_EXCL) != 0;
	m.truncate = (flags & CAIRN_O_TRUNC) != 0;
	m.mode = mode & 07777 ? mode & 07777 : 0644;
	m.replication = opt && opt->replication ? opt->replication : c->replication;
	m.chunk_size = chunk_size;
	m.allocate = write;
	m.locations = write ? 0 : FILE_LOC_BATCH;
	Cairn__Envelope req, *reply = NULL;
	CALL_REQ(&req, OPEN, open, &m);
	uint64_t epoch = write ? client_meta_epoch(c) : 0; /* only a writer needs it */
	err = call_run(c, &req, CAIRN__ENVELOPE__BODY_OPENED, &reply);
	const Cairn__OpenResp *r = err ? NULL : reply->opened;
	if (err == 0)
		err = check_opened(c, r, write);
	struct cairn_file *f = NULL;
	if (err == 0 && !(f = file_new(c, p, r, flags)))
		err = -ENOMEM;
	if (err == 0 && write && (err = lease_start(f)) != 0) {
		lease_stop(f);
		file_unref(f);
	}
	if (err == 0)
		err = open_adopt(f, r, epoch);
	/* A lease granted to an open that failed here is given back (with chunk 0 if it came). */
	if (err && r && r->lease_id && r->attr)
		lease_call_trim(c, r->attr->id, r->lease_id, r->attr->size, 1, r->chunk != NULL,
				FILE_RELEASE_MS);
	cairn__envelope__free_unpacked(reply, NULL);
	free(p);
	if (err == 0)
		*out = f;
	return err;
}

int cairn_close(cairn_file_t *f)
{
	if (!f)
		return 0;
	int err = 0, gave_up = 0;
	char why[CLIENT_WHY_MAX] = "";
	if (file_writable(f)) {
		err = write_flush(f);
		lease_stop(f);
		pthread_mutex_lock(&f->lock);
		uint64_t size = err ? f->w.acked_size : f->size;
		snprintf(why, sizeof(why), "%s", err ? f->w.why : "");
		pthread_mutex_unlock(&f->lock);
		uint64_t ms = f->c->timeout_ms;
		if (err && ms > FILE_RELEASE_MS)
			ms = FILE_RELEASE_MS;
		int lerr = f->w.meta_gone ? 0
					  : lease_call_trim(f->c, f->id, f->lease_id, size, 1,
							    f->w.adopted, ms);
		gave_up = err ? f->w.meta_gone : lerr && cairn_meta_gave_up(f->c);
		if (!err && lerr) {
			err = lerr;
			snprintf(why, sizeof(why), "%s", cairn_last_error(f->c));
		}
	}
	pthread_mutex_lock(&f->lock);
	f->closed = 1;
	pthread_mutex_unlock(&f->lock);
	read_free(f);
	write_free(f);
	call_set_last_error(f->c, err ? why : NULL);
	if (gave_up)
		call_mark_gave_up(f->c);
	file_unref(f);
	return err;
}

int64_t cairn_seek(cairn_file_t *f, int64_t off, int whence)
{
	uint64_t base;
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = f->pos;
		break;
	case SEEK_END:
		base = f->size;
		break;
	default:
		return -EINVAL;
	}
	uint64_t mag = off < 0 ? (uint64_t)0 - (uint64_t)off : (uint64_t)off;
	if (off < 0 ? mag > base : mag > FILE_SIZE_MAX - base)
		return -EINVAL;
	f->pos = off < 0 ? base - mag : base + mag;
	return (int64_t)f->pos;
}

int cairn_fsync(cairn_file_t *f)
{
	if (!file_writable(f))
		return 0;
	int err = write_sync(f);
	if (err) {
		file_set_last_error(f);
		return err;
	}
	return lease_call(f->c, f->id, f->lease_id, f->size, 0, f->c->timeout_ms);
}

/* ---- chunk locations ---- */

/* Appends the chunks of locs that overlap [off, end) of a file of size bytes to *out. */
static int add_locs(struct loc **locs, size_t nlocs, uint64_t chunk_size, uint64_t size,
		    uint64_t off, uint64_t end, struct cairn_chunk_loc **out, size_t *n,
		    size_t *cap)
{
	for (size_t i = 0; i < nlocs; i++) {
		const struct loc *l = locs[i];
		if (l->index > (end - 1) / chunk_size || l->index < off / chunk_size)
			continue;
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 16;
			struct cairn_chunk_loc *a = realloc(*out, ncap * sizeof(*a));
			if (!a)
				return -ENOMEM;
			*out = a;
			*cap = ncap;
		}
		struct cairn_chunk_loc *cl = &(*out)[*n];
		memset(cl, 0, sizeof(*cl));
		cl->index = l->index;
		cl->offset = l->index * chunk_size;
		cl->length = size - cl->offset < chunk_size ? size - cl->offset : chunk_size;
		cl->chunk_id = l->id;
		cl->version = l->version;
		(*n)++;
		if (!(cl->replicas = calloc(l->n ? l->n : 1, sizeof(*cl->replicas))))
			return -ENOMEM;
		for (; cl->nreplicas < l->n; cl->nreplicas++)
			if (!(cl->replicas[cl->nreplicas] = strdup(l->replicas[cl->nreplicas])))
				return -ENOMEM;
	}
	return 0;
}

int cairn_chunk_locations(cairn_t *c, const char *path, uint64_t off, uint64_t len,
			  struct cairn_chunk_loc **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	cairn_file_t *f;
	int err = cairn_open(c, path, CAIRN_O_RDONLY, 0, &f);
	if (err)
		return err;
	uint64_t id = f->id, size = f->size, chunk_size = f->chunk_size;
	cairn_close(f);
	uint64_t end = len && len < size - (off < size ? off : size) ? off + len : size;
	size_t cap = 0;
	for (uint64_t first = off / chunk_size; err == 0 && off < end;) {
		uint64_t last = (end - 1) / chunk_size;
		if (first > last)
			break;
		uint64_t count =
		    last - first + 1 < FILE_LOCS_LISTED ? last - first + 1 : FILE_LOCS_LISTED;
		Cairn__ChunksReq m = CAIRN__CHUNKS_REQ__INIT;
		m.file_id = id;
		m.first = first;
		m.count = (uint32_t)count;
		Cairn__Envelope req, *reply;
		CALL_REQ(&req, CHUNKS, chunks, &m);
		struct loc **locs = NULL;
		size_t nlocs = 0;
		err = call_run(c, &req, CAIRN__ENVELOPE__BODY_CHUNK_LIST, &reply);
		if (err == 0) {
			nlocs = reply->chunk_list->n_chunks;
			err = loc_list_from_pb(reply->chunk_list->chunks, nlocs, &locs);
			cairn__envelope__free_unpacked(reply, NULL);
		}
		if (err == 0)
			err = add_locs(locs, nlocs, chunk_size, size, off, end, out, n, &cap);
		loc_list_free(locs, nlocs);
		first += count;
	}
	if (err) {
		cairn_chunk_locations_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return err;
}

void cairn_chunk_locations_free(struct cairn_chunk_loc *locs, size_t n)
{
	if (!locs)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < locs[i].nreplicas; j++)
			free(locs[i].replicas[j]);
		free(locs[i].replicas);
	}
	free(locs);
}
