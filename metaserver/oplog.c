/*
 * oplog: segment files, replay with torn-tail cutting, and a group-commit
 * writer thread (the format and contract are in oplog.h).
 *
 * Design. The event loop packs each record straight into a pending batch
 * buffer under a mutex and signals the writer. The writer swaps the whole
 * batch for an empty spare buffer (so the loop only ever waits for a
 * pointer swap), write()s it with one call, fdatasync()s it, then stores
 * durable_seq and bumps an eventfd the loop watches. However many records
 * arrive during one sync ride on the next one: that is the group commit.
 * A new segment is created between batches once the current one is past
 * the segment size; its name and the directory entry are synced before
 * anything is acknowledged from it.
 *
 * Zeroed ahead: a batch that would grow the file is written followed by
 * OPLOG_ZERO_AHEAD bytes of zeros, synced with it, and the batches after
 * it overwrite those zeros in place. An fdatasync() of an append must also
 * write the inode (its size changed) as a second synchronous write before
 * the cache flush; an overwrite needs only the data, about a third less
 * time per commit on ext4. So a segment is records followed by zeros, and
 * replay takes a record boundary followed only by zeros as the clean end
 * (except at offset 0: a segment must start with a record).
 *
 * Replay reads segments through one buffer big enough for the largest
 * record, so a length is checked before any allocation and nothing beyond
 * that buffer is held. A bad record is a torn write only when it is the
 * last thing in the log: a crash can tear the unacknowledged last batch,
 * never an earlier one (each was synced before the next was written), so
 * a bad record with an intact one anywhere after it is damage, which is
 * refused (a cut would roll the namespace back past acknowledged
 * mutations). The search for an intact record after a bad one maps the
 * segment and tries every offset, which costs time only on this error
 * path. A cut copies the bytes onward to a .corrupt file (synced) before
 * the segment is truncated, and later segments are renamed aside, so a
 * crash in the middle of a cut leaves at worst a second copy, never a
 * loss.
 *
 * Invariants: only the writer thread touches the active segment's fd
 * after oplog_open(); pend_last is the seq of the last record in pend
 * (under mu); durable only grows; the active segment holds seg_bytes of
 * records, then zeros up to seg_zeroed.
 */
#include "oplog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "errors.h"
#include "log.h"
#include "util.h"

#define OPLOG_PREFIX	 "oplog."
#define OPLOG_NAME_MAX	 64
#define OPLOG_READ_BUF	 (OPLOG_MAX_RECORD + OPLOG_HEADER_SIZE + (256u << 10))
#define OPLOG_COPY_BUF	 (1u << 20)
#define OPLOG_ZERO_AHEAD (1u << 20) /* zeros past the records (at most a segment) */

struct oplog_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

struct oplog {
	char *dir;
	int dir_fd;
	int notify_fd;
	pthread_t thread;
	/* writer thread only */
	int fd;
	int seg_new;	     /* nothing synced into the segment yet: fsync, not fdatasync */
	uint64_t seg_bytes;  /* records in the active segment */
	uint64_t seg_zeroed; /* its size: zeros from seg_bytes up to here */
	uint8_t *zeros;	     /* OPLOG_ZERO_AHEAD zero bytes */
	/* loop thread only */
	uint64_t last_seq;
	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t wake;
	struct oplog_buf pend;
	struct oplog_buf spare;
	uint64_t pend_first; /* seq of the first record in pend */
	uint64_t pend_last;
	uint64_t seg_max;
	int stop;
	/* any thread */
	_Atomic uint64_t durable;
	_Atomic int error;
};

struct oplog_seg {
	uint64_t first;
	char name[OPLOG_NAME_MAX];
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void seg_name(char *buf, uint64_t first)
{
	snprintf(buf, OPLOG_NAME_MAX, OPLOG_PREFIX "%020" PRIu64, first);
}

/* "oplog." and exactly 20 digits: anything else (.corrupt-*, temp files) is not a segment. */
static int seg_parse(const char *name, uint64_t *first)
{
	size_t plen = strlen(OPLOG_PREFIX);
	if (strncmp(name, OPLOG_PREFIX, plen) != 0 || strlen(name) != plen + 20)
		return -1;
	uint64_t v = 0;
	for (const char *p = name + plen; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*first = v;
	return 0;
}

static int seg_cmp(const void *a, const void *b)
{
	const struct oplog_seg *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* The segments of dir in seq order: a new array (free with free()) or a negative error. */
static int seg_list(const char *dir, struct oplog_seg **out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct oplog_seg *v = NULL;
	size_t len = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t first;
		if (seg_parse(de->d_name, &first) < 0)
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[len].first = first;
		seg_name(v[len].name, first);
		len++;
	}
	closedir(d);
	if (len)
		qsort(v, len, sizeof(*v), seg_cmp);
	*out = v;
	*n = len;
	return 0;
}

static int pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		off += (uint64_t)w;
		len -= (size_t)w;
	}
	return 0;
}

/* ---- replay --------------------------------------------------------------------- */

struct oplog_reader {
	int fd;
	uint8_t *buf;
	size_t start; /* buf[start..end) holds file bytes from offset off */
	size_t end;
	uint64_t off;
};

/* Makes at least need bytes available if the file has them; returns how many are, or -errno. */
static ssize_t rd_fill(struct oplog_reader *r, size_t need)
{
	if (r->end - r->start >= need)
		return (ssize_t)(r->end - r->start);
	memmove(r->buf, r->buf + r->start, r->end - r->start);
	r->end -= r->start;
	r->start = 0;
	while (r->end < need) {
		ssize_t got = read(r->fd, r->buf + r->end, OPLOG_READ_BUF - r->end);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		r->end += (size_t)got;
	}
	return (ssize_t)r->end;
}

/*
 * 1 when every byte from the reader's position to the end of the file is
 * zero, else 0 (the reader is left where it was); or -errno.
 */
static int rest_is_zero(struct oplog_reader *r)
{
	uint8_t *buf = xmalloc(OPLOG_COPY_BUF);
	int ret = 1;
	for (size_t i = r->start; i < r->end && ret == 1; i++)
		if (r->buf[i])
			ret = 0;
	off_t pos = (off_t)(r->off + (r->end - r->start));
	while (ret == 1) {
		ssize_t got = pread(r->fd, buf, OPLOG_COPY_BUF, pos);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			ret = got < 0 ? -errno : 1;
			break;
		}
		for (ssize_t i = 0; i < got && ret == 1; i++)
			if (buf[i])
				ret = 0;
		pos += got;
		if (got < (ssize_t)OPLOG_COPY_BUF)
			break;
	}
	free(buf);
	return ret;
}

struct oplog_replay_state {
	uint64_t after;
	uint64_t upto; /* apply nothing past this seq (--recover-to), else UINT64_MAX */
	uint64_t prev; /* seq of the last good record read, 0 before the first */
	uint64_t last; /* seq of the last record applied, or after */
	oplog_apply_fn apply;
	void *arg;
	uint32_t bad_len; /* the bad record's length field, when in bounds, else 0 */
};

/* What replay_next() found. */
enum {
	RD_END,	  /* the segment's clean end */
	RD_GOOD,  /* a record, applied or skipped */
	RD_TORN,  /* a record cut short or failing its CRC: torn, if nothing follows it */
	RD_WRONG, /* an intact record that cannot be next (parse, seq, apply): damage */
	RD_UPTO,  /* the first record past st->upto */
};

/*
 * Checks one record's seq and applies it. Returns RD_GOOD, RD_WRONG
 * (*why set), RD_UPTO, or -CAIRN_EINTERNAL when the log starts too late.
 */
static int replay_one(struct oplog_replay_state *st, const Cairn__LogRecord *rec, char *why,
		      size_t whylen)
{
	uint64_t seq = rec->seq;
	if (seq > st->upto && seq > st->after)
		return RD_UPTO;
	if (seq <= st->after) {
		if (seq <= st->prev) {
			snprintf(why, whylen, "seq %" PRIu64 " after %" PRIu64, seq, st->prev);
			return RD_WRONG;
		}
		st->prev = seq;
		return RD_GOOD;
	}
	if (seq != st->last + 1) {
		if (st->prev == 0)
			return -CAIRN_EINTERNAL;
		snprintf(why, whylen, "seq %" PRIu64 " where %" PRIu64 " was due", seq,
			 st->last + 1);
		return RD_WRONG;
	}
	int err = st->apply(st->arg, rec);
	if (err) {
		snprintf(why, whylen, "record %" PRIu64 " does not apply: %s", seq, err_str(err));
		return RD_WRONG;
	}
	st->prev = st->last = seq;
	return RD_GOOD;
}

/*
 * Reads one record at the reader's position. Returns RD_END, RD_GOOD,
 * RD_TORN or RD_WRONG (*why set), RD_UPTO, or a negative error
 * (-CAIRN_EINTERNAL: see replay_one()). The reader stays at a record it
 * did not take.
 */
static int replay_next(struct oplog_reader *r, struct oplog_replay_state *st, char *why,
		       size_t whylen)
{
	st->bad_len = 0;
	ssize_t avail = rd_fill(r, OPLOG_HEADER_SIZE);
	if (avail <= 0)
		return avail < 0 ? (int)avail : RD_END;
	/* A real record's length is never 0: zeros to the end are the zeroed-ahead tail. */
	if (r->off > 0 &&
	    (avail < (ssize_t)OPLOG_HEADER_SIZE || get_be32(r->buf + r->start) == 0)) {
		int zero = rest_is_zero(r);
		if (zero != 0)
			return zero < 0 ? zero : RD_END;
	}
	if (avail < (ssize_t)OPLOG_HEADER_SIZE) {
		snprintf(why, whylen, "short header (%zd bytes)", avail);
		return RD_TORN;
	}
	const uint8_t *h = r->buf + r->start;
	uint32_t len = get_be32(h), crc = get_be32(h + 4);
	if (len == 0 || len > OPLOG_MAX_RECORD) {
		snprintf(why, whylen, "record length %" PRIu32 " out of bounds", len);
		return RD_TORN;
	}
	st->bad_len = len;
	avail = rd_fill(r, OPLOG_HEADER_SIZE + len);
	if (avail < 0)
		return (int)avail;
	if (avail < (ssize_t)(OPLOG_HEADER_SIZE + len)) {
		snprintf(why, whylen, "short record (%zd of %" PRIu32 " payload bytes)",
			 avail - (ssize_t)OPLOG_HEADER_SIZE, len);
		return RD_TORN;
	}
	const uint8_t *payload = r->buf + r->start + OPLOG_HEADER_SIZE;
	if (crc32c(0, payload, len) != crc) {
		snprintf(why, whylen, "CRC mismatch");
		return RD_TORN;
	}
	Cairn__LogRecord *rec = cairn__log_record__unpack(NULL, len, payload);
	if (!rec) {
		snprintf(why, whylen, "record does not parse");
		return RD_WRONG;
	}
	int ret = replay_one(st, rec, why, whylen);
	cairn__log_record__free_unpacked(rec, NULL);
	if (ret != RD_GOOD)
		return ret;
	r->start += OPLOG_HEADER_SIZE + len;
	r->off += OPLOG_HEADER_SIZE + len;
	return RD_GOOD;
}

/* "<name>.corrupt-<off>", with ".<k>" added for k > 0. */
static int aside_name(char *out, size_t outlen, const char *name, uint64_t off, int k)
{
	int n = k ? snprintf(out, outlen, "%s.corrupt-%" PRIu64 ".%d", name, off, k)
		  : snprintf(out, outlen, "%s.corrupt-%" PRIu64, name, off);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/* Creates "<name>.corrupt-<off>" (or with ".N" added if taken), open for writing. */
static int corrupt_create(int dir_fd, const char *name, uint64_t off, char *out, size_t outlen)
{
	for (int k = 0; k < 1000; k++) {
		if (aside_name(out, outlen, name, off, k) < 0)
			return -ENAMETOOLONG;
		int fd = openat(dir_fd, out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/* Copies fd's bytes from off to its end into a new .corrupt file and syncs it. */
static int tail_save(int dir_fd, int fd, const char *name, uint64_t off, uint64_t size, char *saved,
		     size_t savedlen)
{
	int out = corrupt_create(dir_fd, name, off, saved, savedlen);
	if (out < 0)
		return out;
	uint8_t *buf = xmalloc(OPLOG_COPY_BUF);
	int err = 0;
	for (uint64_t pos = off; !err && pos < size;) {
		ssize_t got = pread(fd, buf, OPLOG_COPY_BUF, (off_t)pos);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			err = got < 0 ? -errno : -EIO;
			break;
		}
		err = write_full(out, buf, (size_t)got);
		pos += (uint64_t)got;
	}
	free(buf);
	if (!err && fsync(out) < 0)
		err = -errno;
	close(out);
	return err;
}

/* Moves a whole later segment aside; returns its size or a negative error. */
static int64_t seg_move_aside(int dir_fd, const char *name)
{
	struct stat st;
	char aside[OPLOG_NAME_MAX + 32];
	if (fstatat(dir_fd, name, &st, 0) < 0)
		return -errno;
	for (int k = 0; k < 1000; k++) {
		if (aside_name(aside, sizeof(aside), name, 0, k) < 0)
			return -ENAMETOOLONG;
		if (renameat2(dir_fd, name, dir_fd, aside, RENAME_NOREPLACE) == 0)
			return st.st_size;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Copies segment name's bytes from off on aside, then truncates it there; 0 or -errno. */
static int seg_cut_tail(int dir_fd, const char *name, uint64_t off, uint64_t *cut, char *saved,
			size_t savedlen)
{
	struct stat st;
	int err = 0;
	int fd = openat(dir_fd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		err = -errno;
	*cut = !err && (uint64_t)st.st_size > off ? (uint64_t)st.st_size - off : 0;
	if (!err && *cut)
		err = tail_save(dir_fd, fd, name, off, (uint64_t)st.st_size, saved, savedlen);
	if (!err && *cut && fsync(dir_fd) < 0)
		err = -errno;
	if (!err && (ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0))
		err = -errno;
	if (fd >= 0)
		close(fd);
	return err;
}

/*
 * Cuts the log at segs[i] offset off; see oplog_replay(). A cut at offset 0
 * moves the whole segment aside, so no empty segment is left whose name
 * claims a seq it does not hold (oplog_purge() trusts the names).
 */
static int replay_cut(const char *dir, int dir_fd, const struct oplog_seg *segs, size_t n, size_t i,
		      uint64_t off, const char *why, char **cause)
{
	const char *name = segs[i].name;
	char saved[OPLOG_NAME_MAX + 32] = "";
	uint64_t cut = 0;
	int err = off ? seg_cut_tail(dir_fd, name, off, &cut, saved, sizeof(saved)) : 0;
	size_t moved = 0;
	for (size_t j = off ? i + 1 : i; !err && j < n; j++, moved++) {
		int64_t size = seg_move_aside(dir_fd, segs[j].name);
		if (size < 0)
			err = (int)size;
		else
			cut += (uint64_t)size;
	}
	if (!err && fsync(dir_fd) < 0)
		err = -errno;
	if (err) {
		*cause = xasprintf("cutting the op log at %s/%s offset %" PRIu64 ": %s", dir, name,
				   off, strerror(-err));
		return err;
	}
	log_warn("op log %s/%s: cut at offset %" PRIu64 ", %" PRIu64
		 " bytes moved aside (%s%s%zu whole segments): %s",
		 dir, name, off, cut, saved, *saved ? " and " : "", moved, why);
	return 0;
}

/* 1 when every byte of fd from off to its end is zero, else 0; or -errno. */
static int zero_from(int fd, uint64_t off)
{
	struct oplog_reader r = {.fd = fd, .off = off};
	return rest_is_zero(&r);
}

/*
 * The seq of the first intact record (length in bounds, CRC, parses)
 * starting anywhere after offset off of fd, or 0 when there is none
 * (or the file cannot be mapped: then *err is set). Used only once a bad
 * record is met, to tell a torn last record from damage in the middle.
 */
static uint64_t intact_after(int fd, uint64_t off, int *err)
{
	struct stat sb;
	*err = 0;
	if (fstat(fd, &sb) < 0) {
		*err = -errno;
		return 0;
	}
	uint64_t size = (uint64_t)sb.st_size;
	if (size < off + 1 + OPLOG_HEADER_SIZE)
		return 0;
	const uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		*err = -errno;
		return 0;
	}
	uint64_t seq = 0;
	for (uint64_t p = off + 1; !seq && p + OPLOG_HEADER_SIZE <= size; p++) {
		uint32_t len = get_be32(m + p);
		if (len == 0 || len > OPLOG_MAX_RECORD || len > size - p - OPLOG_HEADER_SIZE ||
		    crc32c(0, m + p + OPLOG_HEADER_SIZE, len) != get_be32(m + p + 4))
			continue;
		Cairn__LogRecord *rec =
		    cairn__log_record__unpack(NULL, len, m + p + OPLOG_HEADER_SIZE);
		seq = rec && rec->seq ? rec->seq : 0;
		cairn__log_record__free_unpacked(rec, NULL);
	}
	munmap((void *)m, size);
	return seq;
}

/*
 * A bad record at r->off of segment i is a torn write, which may be cut,
 * only in the last segment, only when it failed as a write does (cut
 * short, CRC), when zeros alone follow its length (when in bounds) and
 * when no intact record follows it anywhere. Returns 1 (torn), 0
 * (damage; *next gets the seq of an intact record after it, if any) or
 * -errno.
 */
static int bad_is_torn(struct oplog_reader *r, const struct oplog_replay_state *st, int kind,
		       int last_seg, uint64_t *next)
{
	int err;
	*next = intact_after(r->fd, r->off, &err);
	if (err)
		return err;
	if (kind != RD_TORN || !last_seg || *next)
		return 0;
	return zero_from(r->fd, r->off + OPLOG_HEADER_SIZE + st->bad_len);
}

/* The refusal of damage at segs[i] offset off: one message in *cause, -EUCLEAN. */
static int replay_refuse(const char *dir, const struct oplog_reader *r,
			 const struct oplog_seg *segs, size_t n, size_t i,
			 const struct oplog_replay_state *st, uint64_t next, const char *why,
			 char **cause)
{
	char after[160] = "";
	if (next)
		snprintf(after, sizeof(after), "; an intact record after it holds seq %" PRIu64,
			 next);
	if (i + 1 < n)
		snprintf(after + strlen(after), sizeof(after) - strlen(after),
			 "; %zu later segments follow, the last from seq %" PRIu64, n - i - 1,
			 segs[n - 1].first);
	if (!*after) /* the last thing in the log, yet not torn */
		snprintf(after, sizeof(after),
			 "; not a torn write: bytes other than zeros follow it, or it is intact");
	*cause = xasprintf(
	    "op log %s/%s is damaged at offset %" PRIu64 " (%s)%s. The namespace is intact "
	    "up to seq %" PRIu64 "; records from seq %" PRIu64
	    " on are at stake. Refusing to start: restore the data dir, or start with "
	    "--recover-to %" PRIu64 " to keep the state at seq %" PRIu64
	    " (the rest of the log is moved aside, not deleted; see docs/operations.md)",
	    dir, segs[i].name, r->off, why, after, st->last, st->last + 1, st->last, st->last);
	return -EUCLEAN;
}

/*
 * Replays one segment: 0 at its clean end, 1 when the log ends in it
 * (cut there), or a negative error.
 */
static int replay_seg(const char *dir, int dir_fd, const struct oplog_seg *segs, size_t n, size_t i,
		      struct oplog_replay_state *st, uint8_t *buf, char **cause)
{
	struct oplog_reader r = {.buf = buf};
	char why[160];
	r.fd = openat(dir_fd, segs[i].name, O_RDONLY | O_CLOEXEC);
	if (r.fd < 0) {
		int err = -errno;
		*cause = xasprintf("%s/%s: %s", dir, segs[i].name, strerror(errno));
		return err;
	}
	int ret;
	while ((ret = replay_next(&r, st, why, sizeof(why))) == RD_GOOD)
		;
	/* What was read may sit only in the page cache of a crashed process. */
	if (ret >= 0 && fsync(r.fd) < 0)
		ret = -errno;
	if (ret == RD_TORN || ret == RD_WRONG) {
		uint64_t next;
		int torn = bad_is_torn(&r, st, ret, i + 1 == n, &next);
		if (torn < 0)
			ret = torn;
		else if (!torn && st->last < st->upto)
			ret = replay_refuse(dir, &r, segs, n, i, st, next, why, cause);
		else if (!torn) { /* damage past the operator's --recover-to */
			char damage[sizeof(why)];
			snprintf(damage, sizeof(damage), "%s", why);
			snprintf(why, sizeof(why),
				 "--recover-to %" PRIu64 ", a damaged record (%.100s)", st->upto,
				 damage);
		}
	}
	if (ret == RD_UPTO)
		snprintf(why, sizeof(why),
			 "--recover-to %" PRIu64 ": records from seq %" PRIu64 " on dropped",
			 st->upto, st->upto + 1);
	close(r.fd);
	if (ret == RD_TORN || ret == RD_WRONG || ret == RD_UPTO) {
		int err = replay_cut(dir, dir_fd, segs, n, i, r.off, why, cause);
		return err < 0 ? err : 1;
	}
	if (ret == -CAIRN_EINTERNAL)
		*cause = xasprintf("op log %s starts past seq %" PRIu64
				   ": the records after the checkpoint are missing",
				   dir, st->after + 1);
	else if (ret < 0 && ret != -EUCLEAN)
		*cause = xasprintf("%s/%s: %s", dir, segs[i].name, strerror(-ret));
	return ret;
}

int oplog_replay(const char *dir, uint64_t after_seq, uint64_t upto_seq, oplog_apply_fn apply,
		 void *arg, uint64_t *last_seq, char **cause)
{
	struct oplog_replay_state st = {after_seq, upto_seq, 0, after_seq, apply, arg, 0};
	struct oplog_seg *segs = NULL;
	size_t n = 0;
	uint8_t *buf = NULL;
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = dir_fd < 0 ? -errno : seg_list(dir, &segs, &n);
	if (err) {
		*cause = xasprintf("op log %s: %s", dir, strerror(-err));
		goto out;
	}
	buf = xmalloc(OPLOG_READ_BUF);
	for (size_t i = 0; i < n; i++) {
		int ret = replay_seg(dir, dir_fd, segs, n, i, &st, buf, cause);
		if (ret < 0)
			err = ret;
		if (ret != 0)
			break;
	}
out:
	*last_seq = st.last;
	free(buf);
	free(segs);
	if (dir_fd >= 0)
		close(dir_fd);
	return err;
}

/* ---- appending ---------------------------------------------------------------------- */

static void notify(struct oplog *log)
{
	uint64_t one = 1;
	ssize_t w = write(log->notify_fd, &one, sizeof(one));
	(void)w; /* EAGAIN: the counter is already non-zero, which is all that matters */
}

static void set_error(struct oplog *log, int err)
{
	int zero = 0;
	atomic_compare_exchange_strong(&log->error, &zero, err);
	notify(log);
}

/* Creates and opens segment oplog.<first>; reuses it when it exists empty. */
static int seg_create(int dir_fd, uint64_t first, char **cause)
{
	char name[OPLOG_NAME_MAX];
	seg_name(name, first);
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST) {
		struct stat st;
		fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC);
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
			close(fd);
			if (cause)
				*cause = xasprintf("op log segment %s already holds records", name);
			return -EEXIST;
		}
	}
	if (fd < 0) {
		int err = -errno;
		if (cause)
			*cause = xasprintf("op log segment %s: %s", name, strerror(errno));
		return err;
	}
	if (fsync(dir_fd) < 0) {
		int err = -errno;
		close(fd);
		if (cause)
			*cause = xasprintf("op log directory sync: %s", strerror(-err));
		return err;
	}
	return fd;
}

/* Writer thread: writes and syncs one batch whose first record is first. */
static int write_batch(struct oplog *log, const struct oplog_buf *b, uint64_t first,
		       uint64_t seg_max)
{
	if (log->seg_bytes >= seg_max) {
		int fd = seg_create(log->dir_fd, first, NULL);
		if (fd < 0)
			return fd;
		close(log->fd);
		log->fd = fd;
		log->seg_bytes = log->seg_zeroed = 0;
		log->seg_new = 1;
	}
	int err = pwrite_full(log->fd, b->data, b->len, log->seg_bytes);
	if (err)
		return err;
	log->seg_bytes += b->len;
	if (log->seg_bytes > log->seg_zeroed) {
		size_t ahead = seg_max < OPLOG_ZERO_AHEAD ? (size_t)seg_max : OPLOG_ZERO_AHEAD;
		err = pwrite_full(log->fd, log->zeros, ahead, log->seg_bytes);
		if (err)
			return err;
		log->seg_zeroed = log->seg_bytes + ahead;
	}
	if ((log->seg_new ? fsync(log->fd) : fdatasync(log->fd)) < 0)
		return -errno;
	log->seg_new = 0;
	return 0;
}

static void *writer_main(void *arg)
{
	struct oplog *log = arg;
	pthread_mutex_lock(&log->mu);
	for (;;) {
		while (!log->pend.len && !log->stop)
			pthread_cond_wait(&log->wake, &log->mu);
		if (!log->pend.len)
			break;
		struct oplog_buf batch = log->pend;
		uint64_t first = log->pend_first, last = log->pend_last, seg_max = log->seg_max;
		log->pend = log->spare;
		log->pend.len = 0;
		log->spare = (struct oplog_buf){0};
		pthread_mutex_unlock(&log->mu);

		if (!atomic_load(&log->error)) {
			int err = write_batch(log, &batch, first, seg_max);
			if (err) {
				log_error("op log %s: writing records %" PRIu64 "..%" PRIu64 ": %s",
					  log->dir, first, last, strerror(-err));
				set_error(log, err);
			} else {
				atomic_store(&log->durable, last);
				notify(log);
			}
		}

		pthread_mutex_lock(&log->mu);
		batch.len = 0;
		log->spare = batch;
	}
	pthread_mutex_unlock(&log->mu);
	return NULL;
}

static void oplog_free(struct oplog *log)
{
	if (log->fd >= 0)
		close(log->fd);
	if (log->dir_fd >= 0)
		close(log->dir_fd);
	if (log->notify_fd >= 0)
		close(log->notify_fd);
	pthread_mutex_destroy(&log->mu);
	pthread_cond_destroy(&log->wake);
	free(log->pend.data);
	free(log->spare.data);
	free(log->zeros);
	free(log->dir);
	free(log);
}

/*
 * Segments named past last_seq + 1 can only be empty ones a crash left
 * between creating and writing them; they go, or a later purge would trust
 * their names. A non-empty one means the log was not replayed: refuse.
 */
static int drop_empty_after(int dir_fd, const char *dir, uint64_t last_seq, char **cause)
{
	struct oplog_seg *segs = NULL;
	size_t n = 0;
	int err = seg_list(dir, &segs, &n);
	if (err)
		*cause = xasprintf("op log %s: %s", dir, strerror(-err));
	for (size_t i = 0; !err && i < n; i++) {
		struct stat st;
		if (segs[i].first <= last_seq + 1)
			continue;
		if (fstatat(dir_fd, segs[i].name, &st, 0) < 0)
			err = -errno;
		else if (st.st_size > 0)
			err = -EEXIST;
		else if (unlinkat(dir_fd, segs[i].name, 0) < 0)
			err = -errno;
		if (err)
			*cause = xasprintf("op log %s/%s: %s", dir, segs[i].name,
					   err == -EEXIST ? "holds records past the replayed end"
							  : strerror(-err));
	}
	free(segs);
	return err;
}

struct oplog *oplog_open(const char *dir, uint64_t last_seq, char **cause)
{
	struct oplog *log = xcalloc(1, sizeof(*log));
	log->fd = log->dir_fd = log->notify_fd = -1;
	pthread_mutex_init(&log->mu, NULL);
	pthread_cond_init(&log->wake, NULL);
	log->last_seq = last_seq;
	log->seg_max = OPLOG_SEGMENT_SIZE;
	log->seg_new = 1;
	atomic_init(&log->durable, last_seq);
	atomic_init(&log->error, 0);
	log->dir = xstrdup(dir);
	log->zeros = xcalloc(1, OPLOG_ZERO_AHEAD);
	log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dir_fd < 0) {
		*cause = xasprintf("op log %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (drop_empty_after(log->dir_fd, dir, last_seq, cause) < 0)
		goto fail;
	log->fd = seg_create(log->dir_fd, last_seq + 1, cause);
	if (log->fd < 0)
		goto fail;
	log->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (log->notify_fd < 0) {
		*cause = xasprintf("op log eventfd: %s", strerror(errno));
		goto fail;
	}
	int err = pthread_create(&log->thread, NULL, writer_main, log);
	if (err) {
		*cause = xasprintf("op log writer thread: %s", strerror(err));
		goto fail;
	}
	return log;
fail:
	oplog_free(log);
	return NULL;
}

void oplog_set_segment_size(struct oplog *log, uint64_t bytes)
{
	pthread_mutex_lock(&log->mu);
	log->seg_max = bytes;
	pthread_mutex_unlock(&log->mu);
}

/* Makes room for need more bytes in b. */
static void buf_reserve(struct oplog_buf *b, size_t need)
{
	if (b->cap - b->len >= need)
		return;
	size_t cap = b->cap ? b->cap : 64 << 10;
	while (cap - b->len < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

uint64_t oplog_append(struct oplog *log, Cairn__LogRecord *rec)
{
	if (atomic_load(&log->error))
		return 0;
	uint64_t seq = log->last_seq + 1;
	rec->seq = seq;
	size_t len = cairn__log_record__get_packed_size(rec);
	if (len > OPLOG_MAX_RECORD) {
		log_error("op log: record %" PRIu64 " of %zu bytes is over the limit", seq, len);
		set_error(log, -E2BIG);
		return 0;
	}
	pthread_mutex_lock(&log->mu);
	buf_reserve(&log->pend, OPLOG_HEADER_SIZE + len);
	uint8_t *p = log->pend.data + log->pend.len;
	cairn__log_record__pack(rec, p + OPLOG_HEADER_SIZE);
	put_be32(p, (uint32_t)len);
	put_be32(p + 4, crc32c(0, p + OPLOG_HEADER_SIZE, len));
	if (!log->pend.len)
		log->pend_first = seq;
	log->pend.len += OPLOG_HEADER_SIZE + len;
	log->pend_last = seq;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->mu);
	log->last_seq = seq;
	return seq;
}

uint64_t oplog_last_seq(const struct oplog *log)
{
	return log->last_seq;
}

uint64_t oplog_durable_seq(const struct oplog *log)
{
	return atomic_load(&((struct oplog *)log)->durable);
}

int oplog_error(const struct oplog *log)
{
	return atomic_load(&((struct oplog *)log)->error);
}

int oplog_notify_fd(const struct oplog *log)
{
	return log->notify_fd;
}

void oplog_close(struct oplog *log)
{
	if (!log)
		return;
	pthread_mutex_lock(&log->mu);
	log->stop = 1;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->mu);
	pthread_join(log->thread, NULL);
	oplog_free(log);
}

/* ---- purge ------------------------------------------------------------------------- */

int oplog_purge(const char *dir, uint64_t upto_seq)
{
	struct oplog_seg *segs;
	size_t n;
	int err = seg_list(dir, &segs, &n);
	if (err)
		return err;
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		err = -errno;
		free(segs);
		return err;
	}
	int removed = 0;
	for (size_t i = 0; i + 1 < n && segs[i + 1].first <= upto_seq + 1; i++) {
		if (unlinkat(dir_fd, segs[i].name, 0) < 0) {
			err = -errno;
			break;
		}
		removed++;
	}
	if (removed && fsync(dir_fd) < 0 && !err)
		err = -errno;
	close(dir_fd);
	free(segs);
	if (err)
		log_warn("op log %s: purge up to seq %" PRIu64 ": %s", dir, upto_seq,
			 strerror(-err));
	return err ? err : removed;
}
