/*
 * store_io: the worker thread of one data dir and the ops it runs.
 *
 * A worker takes ops from its dir's queue one at a time, in order, and
 * does all their disk I/O. It keeps up to STORE_HANDLES replica files
 * open in an LRU cache; a cached handle carries the replica's current
 * header (length, state, every block CRC), which is newer than the one on
 * disk while the replica is being written: headers are written only when
 * a write turns a CLEAN replica OPEN (fdatasync'd before any data), on
 * sync, on a version change, and when the handle is closed (evicted or at
 * shutdown, still OPEN). A read of an OPEN replica is verified against
 * those in-memory CRCs.
 *
 * A new replica is created OPEN and "fresh", with nothing made durable:
 * none of its bytes were promised durable before its first sync, which
 * makes the file, its directory entry and then a CLEAN header durable
 * (a handle reloaded in the OPEN state counts as fresh, to be sure). A
 * crash before then leaves no replica, one without a valid header (moved
 * aside by the scan, never served) or an OPEN one (verified and cut back
 * by the scan), so small files cost no disk flush until they are synced.
 *
 * Writes of STORE_WRITEBACK_MIN or more (streams) start their writeback
 * at once (sync_file_range), so the sync at the end of a big file waits
 * for little; smaller ones are left in the page cache until synced.
 *
 * Reads are read and verified STORE_READ_STEP at a time, so the CRC pass
 * finds the bytes still in the cache.
 *
 * Block CRCs of a write are computed from the new bytes, except that a
 * block the write fills exactly takes the CRC the sender checked the
 * bytes against (store_write_crc). A block that also keeps old bytes is
 * read back and verified against its old CRC first, except for an append
 * that starts exactly at the old length, whose CRC is extended from the
 * old one (crc32c is incremental), so no unverified disk byte ever enters
 * a CRC either way.
 *
 * Invariants: the handle's header is valid for chunkfile_encode() at all
 * times; CLEAN implies not dirty; a failed dir runs no more I/O (every op
 * fails -EIO) and has no open handles; used changes only here once the
 * store is open.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "crc32c.h"
#include "errors.h"
#include "log.h"
#include "util.h"

#define BS  ((uint64_t)CHUNKFILE_BLOCK_SIZE)
#define HDR ((uint64_t)CHUNKFILE_HEADER_SIZE)

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Bytes of block b in a replica of this length (0 past the end). */
static size_t block_len(uint64_t length, uint64_t b)
{
	uint64_t start = b * BS;
	return start >= length ? 0 : (size_t)min64(BS, length - start);
}

ssize_t store_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Writes all of iov[0..n) at off; consumes (modifies) the iov array. */
static int pwritev_full(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		if (iov->iov_len == 0) {
			iov++;
			n--;
			continue;
		}
		ssize_t w = pwritev(fd, iov, n < IOV_MAX ? n : IOV_MAX, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		while (w > 0) {
			size_t take = (size_t)w < iov->iov_len ? (size_t)w : iov->iov_len;
			iov->iov_base = (char *)iov->iov_base + take;
			iov->iov_len -= take;
			w -= (ssize_t)take;
			if (iov->iov_len == 0) {
				iov++;
				n--;
			}
		}
	}
	return 0;
}

int store_write_header(struct store_dir *d, int fd, const struct chunkfile_header *h)
{
	int rc = chunkfile_encode(h, d->hdrbuf);
	CAIRN_ASSERT(rc == 0);
	(void)rc;
	return pwrite_full(fd, d->hdrbuf, CHUNKFILE_SLOT_BYTES, chunkfile_slot_offset(h->seq));
}

/* ---- the handle cache ---- */

static unsigned hbucket(uint64_t id)
{
	return (unsigned)((id * 0x9E3779B97F4A7C15ull) >> 32) & (STORE_HANDLE_BUCKETS - 1);
}

static struct store_handle *handle_find(struct store_dir *d, uint64_t id)
{
	struct store_handle *h = d->buckets[hbucket(id)];
	while (h && h->h.chunk_id != id)
		h = h->hnext;
	return h;
}

static void lru_unlink(struct store_dir *d, struct store_handle *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		d->lru_head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	else
		d->lru_tail = h->prev;
	h->prev = h->next = NULL;
}

static void lru_push(struct store_dir *d, struct store_handle *h)
{
	h->prev = NULL;
	h->next = d->lru_head;
	if (d->lru_head)
		d->lru_head->prev = h;
	d->lru_head = h;
	if (!d->lru_tail)
		d->lru_tail = h;
}

static void handle_insert(struct store_dir *d, struct store_handle *h)
{
	unsigned b = hbucket(h->h.chunk_id);
	h->hnext = d->buckets[b];
	d->buckets[b] = h;
	lru_push(d, h);
	d->nhandles++;
}

/*
 * Closes h, first writing its header if dirty and flush is set (the
 * replica stays OPEN, so it is verified at the next start). Returns 0 or
 * the header write's error.
 */
static int handle_close(struct store_dir *d, struct store_handle *h, int flush)
{
	int rc = 0;
	if (flush && h->dirty) {
		h->h.seq++;
		rc = store_write_header(d, h->fd, &h->h);
		if (rc < 0)
			log_error("%s: chunk %016llx: writing its header: %s", d->path,
				  (unsigned long long)h->h.chunk_id, strerror(-rc));
	}
	struct store_handle **pp = &d->buckets[hbucket(h->h.chunk_id)];
	while (*pp != h)
		pp = &(*pp)->hnext;
	*pp = h->hnext;
	lru_unlink(d, h);
	close(h->fd);
	free(h);
	d->nhandles--;
	return rc;
}

static void handles_close_all(struct store_dir *d, int flush)
{
	while (d->lru_head)
		handle_close(d, d->lru_head, flush);
}

/* ---- failures ---- */

static void dir_fail(struct store_dir *d, const char *what, int err)
{
	if (atomic_exchange(&d->failed, 1))
		return;
	log_error("data dir %s failed (%s: %s); taking it out of service", d->path, what,
		  strerror(err));
}

static int is_disk_error(int err)
{
	return err == EIO || err == EROFS || err == ENODEV || err == ENXIO || err == ENOTDIR ||
	       err == ESTALE || err == EUCLEAN;
}

/* The result of a failed call (err > 0): disk errors take the dir out of service. */
static int io_err(struct store_dir *d, const char *what, uint64_t id, int err)
{
	if (is_disk_error(err)) {
		dir_fail(d, what, err);
		return -EIO;
	}
	log_warn("%s: chunk %016llx: %s: %s", d->path, (unsigned long long)id, what, strerror(err));
	return -err;
}

/*
 * Checks that the dir is still the one we opened (not removed or replaced)
 * and refreshes its free space. Returns 0, or -EIO after failing the dir.
 */
static int dir_check(struct store_dir *d)
{
	struct stat st;
	struct statfs sf;
	const char *what = NULL;
	int err = ENOENT;
	if (fstat(d->root_fd, &st) < 0)
		what = "fstat", err = errno;
	else if (st.st_nlink == 0)
		what = "directory removed";
	else if (stat(d->path, &st) < 0)
		what = "stat", err = errno;
	else if (st.st_dev != d->dev || st.st_ino != d->ino)
		what = "directory replaced";
	else if (fstatfs(d->root_fd, &sf) < 0)
		what = "statfs", err = errno;
	if (what) {
		dir_fail(d, what, err);
		return -EIO;
	}
	atomic_store(&d->fs_avail, (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize);
	d->last_check_ms = time_mono_ms();
	return 0;
}

/* A replica file that should exist is gone: a dead dir, or just that file. */
static int vanished(struct store_dir *d, struct store_op *op)
{
	if (dir_check(d) < 0)
		return -EIO;
	log_error("%s: the replica of chunk %016llx vanished", d->path,
		  (unsigned long long)op->chunk_id);
	op->lost = 1;
	return -ENOENT;
}

static int handle_make_room(struct store_dir *d)
{
	if (d->nhandles < STORE_HANDLES)
		return 0;
	struct store_handle *h = d->lru_tail;
	uint64_t id = h->h.chunk_id;
	int rc = handle_close(d, h, 1);
	return rc < 0 ? io_err(d, "write header", id, -rc) : 0;
}

/* Reads and validates the header of an existing replica into a new handle. */
static int handle_load(struct store_dir *d, struct store_op *op, int fd, struct store_handle **out)
{
	uint64_t id = op->chunk_id;
	ssize_t n = store_pread_full(fd, d->scratch, CHUNKFILE_REGION_BYTES, 0);
	if (n < 0)
		return io_err(d, "read header", id, (int)-n);
	struct store_handle *h = xmalloc(sizeof(*h));
	char *cause = NULL;
	int rc = chunkfile_decode_region(d->scratch, (size_t)n, &h->h, NULL, NULL, &cause);
	if (rc == 0 && h->h.chunk_id != id) {
		rc = -CAIRN_EPROTO;
		cause = xstrdup("the header names another chunk");
	}
	if (rc < 0) {
		log_error("%s: chunk %016llx: bad header: %s", d->path, (unsigned long long)id,
			  cause ? cause : "?");
		free(cause);
		free(h);
		op->corrupt = 1;
		return -CAIRN_ECHECKSUM;
	}
	h->fd = fd;
	h->dirty = 0;
	h->fresh = h->h.state == CHUNKFILE_OPEN; /* it may have been: sync its name too */
	handle_insert(d, h);
	*out = h;
	return 0;
}

/* The handle of an existing replica, from the cache or opened now. */
static int handle_get(struct store_dir *d, struct store_op *op, struct store_handle **out)
{
	struct store_handle *h = handle_find(d, op->chunk_id);
	if (h) {
		lru_unlink(d, h);
		lru_push(d, h);
		*out = h;
		return 0;
	}
	int rc = handle_make_room(d);
	if (rc < 0)
		return rc;
	char rel[CHUNKFILE_RELPATH_MAX];
	chunkfile_relpath(rel, op->chunk_id);
	int fd = openat(d->root_fd, rel, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return vanished(d, op);
	if (fd < 0)
		return io_err(d, "open", op->chunk_id, errno);
	rc = handle_load(d, op, fd, out);
	if (rc < 0)
		close(fd);
	return rc;
}

static void result(struct store_op *op, const struct store_handle *h)
{
	op->have_result = 1;
	op->length = h->h.length;
	op->version = h->h.version;
	op->open = h->h.state == CHUNKFILE_OPEN;
}

/* Writes h's header (seq + 1) and fdatasyncs; on failure h is unchanged. */
static int header_commit(struct store_dir *d, struct store_handle *h, const char *what)
{
	h->h.seq++;
	int rc = store_write_header(d, h->fd, &h->h);
	if (rc == 0 && fdatasync(h->fd) < 0)
		rc = -errno;
	if (rc < 0) {
		/* The slot of seq may be torn now: keep writing there, never over the other. */
		h->h.seq--;
		return io_err(d, what, h->h.chunk_id, -rc);
	}
	h->dirty = 0;
	return 0;
}

/* ---- create ---- */

static int sync_subdir(struct store_dir *d, const char *rel)
{
	char sub[16];
	memcpy(sub, rel, 9); /* "chunks/xx" */
	sub[9] = '\0';
	int fd = openat(d->root_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int op_create(struct store_dir *d, struct store_op *op)
{
	int rc = dir_check(d);
	if (rc < 0)
		return rc;
	if (atomic_load(&d->used) + HDR > d->capacity || atomic_load(&d->fs_avail) < HDR)
		return -ENOSPC;
	rc = handle_make_room(d);
	if (rc < 0)
		return rc;
	struct store_handle *h = xcalloc(1, sizeof(*h));
	char rel[CHUNKFILE_RELPATH_MAX];
	chunkfile_relpath(rel, op->chunk_id);
	int fd = openat(d->root_fd, rel, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = errno;
		free(h);
		if (err == EEXIST)
			return -EEXIST;
		return io_err(d, "create", op->chunk_id, err == ENOENT ? EIO : err);
	}
	h->fd = fd;
	h->fresh = 1;
	h->h.seq = 3; /* slot 1: the first sync's CLEAN header lands in slot 0, as it always did */
	h->h.chunk_id = op->chunk_id;
	h->h.version = op->version;
	h->h.file_id = op->file_id;
	h->h.state = CHUNKFILE_OPEN;
	rc = store_write_header(d, fd, &h->h);
	if (rc == 0 && ftruncate(fd, (off_t)HDR) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		unlinkat(d->root_fd, rel, 0);
		free(h);
		return io_err(d, "create", op->chunk_id, -rc);
	}
	handle_insert(d, h);
	atomic_fetch_add(&d->used, HDR);
	result(op, h);
	return 0;
}

/* ---- write ---- */

struct iov_cursor {
	const struct iovec *iov;
	size_t off;
};

/* Extends crc over the next len bytes of the cursor. */
static uint32_t cursor_crc(struct iov_cursor *c, uint32_t crc, size_t len)
{
	while (len > 0) {
		size_t avail = c->iov->iov_len - c->off;
		size_t take = avail < len ? avail : len;
		crc = crc32c(crc, (const char *)c->iov->iov_base + c->off, take);
		len -= take;
		c->off += take;
		if (c->off == c->iov->iov_len) {
			c->iov++;
			c->off = 0;
		}
	}
	return crc;
}

/* Moves the cursor over len bytes. */
static void cursor_skip(struct iov_cursor *c, size_t len)
{
	while (len > 0) {
		size_t avail = c->iov->iov_len - c->off;
		size_t take = avail < len ? avail : len;
		len -= take;
		c->off += take;
		if (c->off == c->iov->iov_len) {
			c->iov++;
			c->off = 0;
		}
	}
}

/* Reads block b's current bytes into buf and checks them against its CRC. */
static int read_block(struct store_dir *d, struct store_handle *h, struct store_op *op, uint64_t b,
		      uint8_t *buf)
{
	size_t blen = block_len(h->h.length, b);
	ssize_t n = store_pread_full(h->fd, buf, blen, HDR + b * BS);
	if (n < 0)
		return io_err(d, "read", op->chunk_id, (int)-n);
	if ((size_t)n < blen || crc32c(0, buf, blen) != h->h.crc[b]) {
		log_error("%s: chunk %016llx: block %llu fails its CRC", d->path,
			  (unsigned long long)op->chunk_id, (unsigned long long)b);
		op->corrupt = 1;
		return -CAIRN_ECHECKSUM;
	}
	return 0;
}

/*
 * Computes into d->crcs the CRCs of blocks fb..lb after writing the bytes
 * of d->iov at [off, end), reading and verifying the old bytes that a
 * partial first or last block keeps. Writes nothing.
 */
static int write_crcs(struct store_dir *d, struct store_handle *h, struct store_op *op,
		      uint64_t off, uint64_t end)
{
	uint64_t old = h->h.length, newlen = max64(old, end);
	uint64_t fb = off / BS, lb = (end - 1) / BS;
	uint8_t *first = d->scratch, *last = d->scratch + BS;
	int need_first = off > fb * BS && off < old;
	int need_last = end < min64(lb * BS + BS, old);
	int rc = 0;
	if (need_first)
		rc = read_block(d, h, op, fb, first);
	if (rc == 0 && need_last) {
		if (lb == fb && need_first)
			last = first;
		else
			rc = read_block(d, h, op, lb, last);
	}
	if (rc < 0)
		return rc;
	struct iov_cursor c = {d->iov, 0};
	int given = op->crcs && off % BS == 0; /* the sender's CRCs line up with our blocks */
	for (uint64_t b = fb; b <= lb; b++) {
		uint64_t bs = b * BS, be = min64(bs + BS, newlen);
		uint64_t ds = max64(bs, off), de = min64(be, end);
		uint32_t crc = 0;
		if (given && de == be && b - fb < op->ncrcs) {
			/* The write fills the block: its CRC came checked with the bytes. */
			cursor_skip(&c, de - ds);
			d->crcs[b] = op->crcs[b - fb];
			continue;
		}
		if (ds > bs) /* old bytes before the write: all of them when appending */
			crc = need_first ? crc32c(0, first, ds - bs) : h->h.crc[b];
		crc = cursor_crc(&c, crc, de - ds);
		if (de < be)
			crc = crc32c(crc, last + (de - bs), be - de);
		d->crcs[b] = crc;
	}
	return 0;
}

/* Points d->iov at the bytes of buf (no copy); returns their count. */
static int gather_iov(struct store_dir *d, struct evbuffer *buf)
{
	int n = evbuffer_peek(buf, -1, NULL, NULL, 0);
	if (n > d->iov_cap) {
		free(d->iov);
		free(d->eviov);
		d->iov = xmalloc(sizeof(*d->iov) * (size_t)n);
		d->eviov = xmalloc(sizeof(*d->eviov) * (size_t)n);
		d->iov_cap = n;
	}
	n = evbuffer_peek(buf, -1, NULL, d->eviov, n);
	for (int i = 0; i < n; i++) {
		d->iov[i].iov_base = d->eviov[i].iov_base;
		d->iov[i].iov_len = d->eviov[i].iov_len;
	}
	return n;
}

static int check_space(struct store_dir *d, uint64_t ext)
{
	if (atomic_load(&d->used) + ext > d->capacity)
		return -ENOSPC;
	if (ext > atomic_load(&d->fs_avail)) {
		/* The file system may have changed since the last look. */
		if (dir_check(d) < 0)
			return -EIO;
		if (ext > atomic_load(&d->fs_avail))
			return -ENOSPC;
	}
	return 0;
}

static int op_write(struct store_dir *d, struct store_op *op)
{
	struct store_handle *h;
	int rc = handle_get(d, op, &h);
	if (rc < 0)
		return rc;
	result(op, h);
	uint64_t len = evbuffer_get_length(op->buf);
	uint64_t off = op->offset, end = off + len, old = h->h.length;
	if (off > old || end > CHUNKFILE_MAX_SIZE)
		return -EINVAL;
	if (len == 0)
		return 0;
	uint64_t ext = end > old ? end - old : 0;
	if (ext && (rc = check_space(d, ext)) < 0)
		return rc;
	int niov = gather_iov(d, op->buf);
	rc = write_crcs(d, h, op, off, end);
	if (rc < 0)
		return rc;
	if (h->h.state == CHUNKFILE_CLEAN) {
		h->h.state = CHUNKFILE_OPEN;
		rc = header_commit(d, h, "mark open");
		if (rc < 0) {
			h->h.state = CHUNKFILE_CLEAN;
			return rc;
		}
	}
	rc = pwritev_full(h->fd, d->iov, niov, HDR + off);
	if (rc < 0)
		return io_err(d, "write", op->chunk_id, -rc);
	/*
	 * A stream: start its writeback now, so that a sync finds little left
	 * to write. Only a hint: an I/O error shows at the sync.
	 */
	if (len >= STORE_WRITEBACK_MIN)
		(void)sync_file_range(h->fd, (off_t)(HDR + off), (off_t)len, SYNC_FILE_RANGE_WRITE);
	uint64_t fb = off / BS, lb = (end - 1) / BS;
	memcpy(h->h.crc + fb, d->crcs + fb, sizeof(uint32_t) * (lb - fb + 1));
	h->h.length = max64(old, end);
	h->dirty = 1;
	if (ext) {
		atomic_fetch_add(&d->used, ext);
		uint64_t avail = atomic_load(&d->fs_avail);
		atomic_store(&d->fs_avail, avail > ext ? avail - ext : 0);
	}
	result(op, h);
	return 0;
}

/* ---- sync, set_version, remove ---- */

/* Fails the op when the open file was unlinked behind our back. */
static int check_linked(struct store_dir *d, struct store_handle *h, struct store_op *op)
{
	struct stat st;
	if (fstat(h->fd, &st) < 0)
		return io_err(d, "fstat", op->chunk_id, errno);
	return st.st_nlink == 0 ? vanished(d, op) : 0;
}

static int op_sync(struct store_dir *d, struct store_op *op)
{
	struct store_handle *h;
	int rc = handle_get(d, op, &h);
	if (rc < 0)
		return rc;
	result(op, h);
	if (h->h.state == CHUNKFILE_CLEAN)
		return dir_check(d) < 0 ? -EIO : check_linked(d, h, op);
	if (fdatasync(h->fd) < 0)
		return io_err(d, "fdatasync", op->chunk_id, errno);
	if (h->fresh) {
		char rel[CHUNKFILE_RELPATH_MAX];
		chunkfile_relpath(rel, op->chunk_id);
		if ((rc = sync_subdir(d, rel)) < 0)
			return io_err(d, "sync directory", op->chunk_id, -rc);
		h->fresh = 0;
	}
	if (dir_check(d) < 0)
		return -EIO;
	if ((rc = check_linked(d, h, op)) < 0)
		return rc;
	h->h.state = CHUNKFILE_CLEAN;
	rc = header_commit(d, h, "write header");
	if (rc < 0) {
		h->h.state = CHUNKFILE_OPEN;
		return rc;
	}
	result(op, h);
	return 0;
}

static int op_set_version(struct store_dir *d, struct store_op *op)
{
	struct store_handle *h;
	int rc = handle_get(d, op, &h);
	if (rc < 0)
		return rc;
	uint64_t old = h->h.version;
	h->h.version = op->version;
	rc = header_commit(d, h, "write header");
	if (rc < 0)
		h->h.version = old;
	result(op, h);
	return rc;
}

static int op_remove(struct store_dir *d, struct store_op *op)
{
	char rel[CHUNKFILE_RELPATH_MAX];
	chunkfile_relpath(rel, op->chunk_id);
	uint64_t size = 0;
	struct store_handle *h;
	int rc = handle_get(d, op, &h);
	if (rc == -ENOENT && op->lost) {
		op->lost = 0; /* already gone, and the dir is fine */
		return 0;
	}
	if (rc == 0) {
		size = HDR + h->h.length;
		handle_close(d, h, 0);
	} else if (rc == -CAIRN_ECHECKSUM) {
		struct stat st;
		op->corrupt = 0;
		if (fstatat(d->root_fd, rel, &st, 0) == 0)
			size = (uint64_t)st.st_size;
	} else {
		return rc;
	}
	if (unlinkat(d->root_fd, rel, 0) < 0)
		return io_err(d, "unlink", op->chunk_id, errno);
	uint64_t used = atomic_load(&d->used);
	atomic_store(&d->used, used > size ? used - size : 0);
	return 0;
}

/* ---- read, scrub ---- */

/*
 * Checks the blocks of buf, which holds got of the want bytes at data
 * offset pos (block-aligned). Missing bytes count as a mismatch.
 */
static int verify(struct store_dir *d, struct store_handle *h, struct store_op *op,
		  const uint8_t *buf, uint64_t pos, size_t got, size_t want)
{
	for (size_t at = 0; at < want; at += BS) {
		uint64_t b = (pos + at) / BS;
		size_t blen = block_len(h->h.length, b);
		if (at + blen > got || crc32c(0, buf + at, blen) != h->h.crc[b]) {
			log_error("%s: chunk %016llx: block %llu fails its CRC", d->path,
				  (unsigned long long)op->chunk_id, (unsigned long long)b);
			op->corrupt = 1;
			return -CAIRN_ECHECKSUM;
		}
	}
	return 0;
}

/* The replica's handle and the end of op's range cut at its length. Returns 0 or an error. */
static int op_range(struct store_dir *d, struct store_op *op, struct store_handle **h,
		    uint64_t *end)
{
	int rc = handle_get(d, op, h);
	if (rc < 0)
		return rc;
	result(op, *h);
	uint64_t length = (*h)->h.length;
	if (op->offset > length)
		return -EINVAL;
	*end = op->offset + min64(op->len, length - op->offset);
	return 0;
}

/* Copies the stored CRCs of the blocks from op->offset (block-aligned) to end into op->crcs. */
static void take_crcs(struct store_op *op, const struct store_handle *h, uint64_t end)
{
	size_t n = (size_t)((end - op->offset + BS - 1) / BS);
	op->crcs = xmalloc(n * sizeof(*op->crcs));
	memcpy(op->crcs, h->h.crc + op->offset / BS, n * sizeof(*op->crcs));
	op->ncrcs = n;
}

static int op_read(struct store_dir *d, struct store_op *op)
{
	struct store_handle *h;
	uint64_t end;
	int rc = op_range(d, op, &h, &end);
	if (rc < 0)
		return rc;
	uint64_t length = h->h.length, off = op->offset;
	op->buf = evbuffer_new();
	if (!op->buf)
		return -ENOMEM;
	uint64_t start = off / BS * BS;
	uint64_t stop = min64((end + BS - 1) / BS * BS, length);
	for (uint64_t pos = start; pos < stop && off < end;) {
		size_t want = (size_t)min64(stop - pos, STORE_EXTENT);
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(op->buf, (ev_ssize_t)want, &v, 1) != 1)
			return -ENOMEM;
		/* Verify each step right after reading it, while it is in the cache. */
		for (size_t at = 0; at < want; at += STORE_READ_STEP) {
			uint8_t *p = (uint8_t *)v.iov_base + at;
			size_t step = (size_t)min64(want - at, STORE_READ_STEP);
			ssize_t got = store_pread_full(h->fd, p, step, HDR + pos + at);
			if (got < 0)
				return io_err(d, "read", op->chunk_id, (int)-got);
			if ((rc = verify(d, h, op, p, pos + at, (size_t)got, step)) < 0)
				return rc;
		}
		v.iov_len = (size_t)(min64(pos + want, end) - pos);
		if (evbuffer_commit_space(op->buf, &v, 1) < 0)
			return -ENOMEM;
		pos += want;
	}
	evbuffer_drain(op->buf, (size_t)(off - start));
	if (op->rcb && off == start && off < end && (end % BS == 0 || end == length))
		take_crcs(op, h, end); /* whole blocks: their CRCs travel with them */
	return 0;
}

static int op_crcs(struct store_dir *d, struct store_op *op)
{
	struct store_handle *h;
	uint64_t end;
	int rc = op_range(d, op, &h, &end);
	if (rc < 0)
		return rc;
	uint64_t length = h->h.length;
	take_crcs(op, h, end);
	if (end % BS == 0 || end == length)
		return 0;
	/* The range ends inside a block that goes on: read it, check it, CRC its head. */
	uint64_t last = end / BS * BS;
	size_t blen = block_len(length, last / BS);
	ssize_t got = store_pread_full(h->fd, d->scratch, blen, HDR + last);
	if (got < 0)
		return io_err(d, "read", op->chunk_id, (int)-got);
	if ((rc = verify(d, h, op, d->scratch, last, (size_t)got, blen)) < 0)
		return rc;
	op->crcs[op->ncrcs - 1] = crc32c(0, d->scratch, (size_t)(end - last));
	return 0;
}

/*
 * Checks that the header on disk still says what the handle says (unless
 * the handle is ahead of it on purpose); rewrites it from the handle,
 * which was validated when loaded, if not.
 */
static int scrub_header(struct store_dir *d, struct store_handle *h, struct store_op *op)
{
	if (h->dirty)
		return 0;
	ssize_t n = store_pread_full(h->fd, d->scratch, CHUNKFILE_REGION_BYTES, 0);
	if (n < 0)
		return io_err(d, "read header", op->chunk_id, (int)-n);
	struct chunkfile_header *disk = xmalloc(sizeof(*disk));
	char *cause = NULL;
	int rc = chunkfile_decode_region(d->scratch, (size_t)n, disk, NULL, NULL, &cause);
	const struct chunkfile_header *m = &h->h;
	int same = rc == 0 && disk->seq == m->seq && disk->state == m->state &&
		   disk->version == m->version && disk->file_id == m->file_id &&
		   disk->length == m->length && memcmp(disk->crc, m->crc, sizeof(m->crc)) == 0;
	free(disk);
	if (same)
		return 0;
	log_error("%s: chunk %016llx: header on disk damaged (%s); rewriting it", d->path,
		  (unsigned long long)op->chunk_id, cause ? cause : "differs");
	free(cause);
	return header_commit(d, h, "write header");
}

static int op_scrub(struct store_dir *d, struct store_op *op)
{
	struct store_handle *h;
	int rc = handle_get(d, op, &h);
	if (rc < 0)
		return rc;
	result(op, h);
	if ((rc = scrub_header(d, h, op)) < 0)
		return rc;
	if (!d->bigbuf)
		d->bigbuf = xmalloc(STORE_SCRUB_BUF);
	for (uint64_t pos = 0; pos < h->h.length; pos += STORE_SCRUB_BUF) {
		size_t want = (size_t)min64(h->h.length - pos, STORE_SCRUB_BUF);
		ssize_t got = store_pread_full(h->fd, d->bigbuf, want, HDR + pos);
		if (got < 0)
			return io_err(d, "read", op->chunk_id, (int)-got);
		if ((rc = verify(d, h, op, d->bigbuf, pos, (size_t)got, want)) < 0)
			return rc;
	}
	return 0;
}

/* ---- the thread ---- */

static void run_op(struct store_dir *d, struct store_op *op)
{
	int rc;
	if (op->after_create && op->chunk->create_failed)
		rc = -ENOENT; /* queued behind a create that failed */
	else if (atomic_load(&d->failed))
		rc = -EIO;
	else if (time_mono_ms() - d->last_check_ms >= STORE_CHECK_MS && dir_check(d) < 0)
		rc = -EIO;
	else if (op->kind == STORE_OP_CREATE)
		rc = op_create(d, op);
	else if (op->kind == STORE_OP_WRITE)
		rc = op_write(d, op);
	else if (op->kind == STORE_OP_SYNC)
		rc = op_sync(d, op);
	else if (op->kind == STORE_OP_READ)
		rc = op_read(d, op);
	else if (op->kind == STORE_OP_SETVER)
		rc = op_set_version(d, op);
	else if (op->kind == STORE_OP_REMOVE)
		rc = op_remove(d, op);
	else if (op->kind == STORE_OP_SCRUB)
		rc = op_scrub(d, op);
	else if (op->kind == STORE_OP_CRCS)
		rc = op_crcs(d, op);
	else
		rc = dir_check(d);
	/* Handles go only here, never under an op that may still hold one. */
	if (atomic_load(&d->failed)) {
		handles_close_all(d, 0);
		rc = -EIO;
	} else if (op->lost) {
		struct store_handle *h = handle_find(d, op->chunk_id);
		if (h)
			handle_close(d, h, 0);
	}
	if (op->kind == STORE_OP_CREATE && rc < 0)
		op->chunk->create_failed = 1;
	op->err = rc;
}

void *store_worker_main(void *arg)
{
	struct store_dir *d = arg;
	store_scan_dir(d);
	pthread_mutex_lock(&d->mu);
	d->scanned = 1;
	pthread_cond_broadcast(&d->cv);
	for (;;) {
		while (!d->qhead && !d->stop)
			pthread_cond_wait(&d->cv, &d->mu);
		struct store_op *op = d->qhead;
		if (!op)
			break;
		d->qhead = op->next;
		if (!d->qhead)
			d->qtail = &d->qhead;
		pthread_mutex_unlock(&d->mu);
		op->next = NULL;
		run_op(d, op);
		store_done_push(d->s, op);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	handles_close_all(d, !atomic_load(&d->failed));
	return NULL;
}
