/*
 * store_scan: the start-up scan of one data dir, on its worker thread.
 *
 * Every file under chunks/xx/ named like a replica is opened and its header
 * region decoded. A replica is kept only if its header is valid, names the
 * chunk of its file name, and its file holds all the data the header
 * claims. Anything else is moved to corrupt/ (never deleted: an operator
 * may want it) and logged. A replica left OPEN by a crash or power cut is
 * verified block by block against the CRCs of its newest valid header and
 * cut back to its longest verified prefix of whole blocks (its last block
 * may be partial), then marked CLEAN, durably: bytes that were never
 * verified are never served.
 *
 * Invariants: after the scan, every replica in d->found is CLEAN on disk
 * with file size HEADER + length; d->used is the sum of those sizes; no
 * file descriptor but d->root_fd stays open.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "util.h"

#define BS  ((uint64_t)CHUNKFILE_BLOCK_SIZE)
#define HDR ((uint64_t)CHUNKFILE_HEADER_SIZE)

static void scan_fail(struct store_dir *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void scan_fail(struct store_dir *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&d->scan_error, fmt, ap) < 0)
		d->scan_error = NULL;
	va_end(ap);
	atomic_store(&d->failed, 1);
	log_error("data dir %s: %s", d->path, d->scan_error ? d->scan_error : "unusable");
}

void store_move_aside(struct store_dir *d, const char *relpath, const char *why)
{
	const char *name = strrchr(relpath, '/');
	name = name ? name + 1 : relpath;
	char dst[512];
	int err = 0;
	for (int i = 0; i < 1000; i++) {
		if (i == 0)
			snprintf(dst, sizeof(dst), "corrupt/%s", name);
		else
			snprintf(dst, sizeof(dst), "corrupt/%s.%d", name, i);
		if (renameat2(d->root_fd, relpath, d->root_fd, dst, RENAME_NOREPLACE) == 0) {
			log_warn("%s/%s: %s; moved to %s/%s", d->path, relpath, why, d->path, dst);
			return;
		}
		err = errno;
		if (err != EEXIST)
			break;
	}
	log_error("%s/%s: %s; could not move it aside: %s", d->path, relpath, why, strerror(err));
}

static void found_add(struct store_dir *d, const struct chunkfile_header *h)
{
	if (d->nfound == d->found_cap) {
		d->found_cap = d->found_cap ? 2 * d->found_cap : 256;
		d->found = xrealloc(d->found, d->found_cap * sizeof(*d->found));
	}
	d->found[d->nfound++] =
	    (struct store_found){h->chunk_id, h->version, h->file_id, h->length};
}

/*
 * Verifies an OPEN replica and cuts it back to its verified blocks, then
 * marks it CLEAN durably. Returns 0 or -errno.
 */
static int repair(struct store_dir *d, int fd, const char *rel, struct chunkfile_header *h)
{
	uint64_t good = 0;
	uint32_t n = chunkfile_nblocks(h->length);
	uint32_t b;
	for (b = 0; b < n; b++) {
		size_t blen = (size_t)(h->length - b * BS < BS ? h->length - b * BS : BS);
		ssize_t got = store_pread_full(fd, d->scratch, blen, HDR + b * BS);
		if (got < 0)
			return (int)got;
		if ((size_t)got < blen || crc32c(0, d->scratch, blen) != h->crc[b])
			break;
		good += blen;
	}
	log_warn("%s/%s: unsynced writes (state OPEN): %u of %u blocks verified, length %llu "
		 "cut back to %llu",
		 d->path, rel, b, n, (unsigned long long)h->length, (unsigned long long)good);
	uint32_t keep = chunkfile_nblocks(good);
	memset(h->crc + keep, 0, sizeof(h->crc[0]) * (CHUNKFILE_MAX_BLOCKS - keep));
	h->length = good;
	h->state = CHUNKFILE_CLEAN;
	h->seq++;
	int rc = store_write_header(d, fd, h);
	if (rc == 0 && ftruncate(fd, (off_t)(HDR + good)) < 0)
		rc = -errno;
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	return rc;
}

/* Checks one replica file; keeps it in d->found or moves it aside. */
static void scan_one(struct store_dir *d, const char *rel, uint64_t id, struct chunkfile_header *h)
{
	int fd = openat(d->root_fd, rel, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		log_error("%s/%s: open: %s; skipped", d->path, rel, strerror(errno));
		return;
	}
	char why[512];
	char *cause = NULL;
	struct stat st;
	int rc = 0;
	ssize_t n = store_pread_full(fd, d->scratch, CHUNKFILE_REGION_BYTES, 0);
	if (n < 0 || fstat(fd, &st) < 0) {
		log_error("%s/%s: read: %s; skipped", d->path, rel,
			  strerror(n < 0 ? (int)-n : errno));
		goto out;
	}
	if (chunkfile_decode_region(d->scratch, (size_t)n, h, NULL, NULL, &cause) < 0) {
		snprintf(why, sizeof(why), "bad header (%s)", cause ? cause : "?");
		goto aside;
	}
	if (h->chunk_id != id) {
		snprintf(why, sizeof(why), "its header names chunk %016llx",
			 (unsigned long long)h->chunk_id);
		goto aside;
	}
	if (h->state == CHUNKFILE_OPEN) {
		rc = repair(d, fd, rel, h);
	} else if ((uint64_t)st.st_size < HDR + h->length) {
		snprintf(why, sizeof(why), "%lld bytes of data missing",
			 (long long)(HDR + h->length - (uint64_t)st.st_size));
		goto aside;
	} else if ((uint64_t)st.st_size > HDR + h->length) {
		log_warn("%s/%s: %lld bytes past the end of its data cut off", d->path, rel,
			 (long long)((uint64_t)st.st_size - HDR - h->length));
		if (ftruncate(fd, (off_t)(HDR + h->length)) < 0)
			rc = -errno;
	}
	if (rc < 0) {
		log_error("%s/%s: repair: %s; skipped", d->path, rel, strerror(-rc));
		goto out;
	}
	found_add(d, h);
	atomic_fetch_add(&d->used, HDR + h->length);
	goto out;
aside:
	store_move_aside(d, rel, why);
out:
	free(cause);
	close(fd);
}

static int make_dir(int at, const char *rel)
{
	return mkdirat(at, rel, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Scans chunks/xx. Returns 0, or -errno when the directory cannot be read. */
static int scan_subdir(struct store_dir *d, unsigned x, struct chunkfile_header *h)
{
	char sub[16];
	snprintf(sub, sizeof(sub), "chunks/%02x", x);
	int rc = make_dir(d->root_fd, sub);
	if (rc < 0)
		return rc;
	int fd = openat(d->root_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);
	if (!dir) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		return rc;
	}
	struct dirent *e;
	for (errno = 0; (e = readdir(dir)) != NULL; errno = 0) {
		if (e->d_name[0] == '.')
			continue;
		char rel[300];
		uint64_t id;
		snprintf(rel, sizeof(rel), "%s/%s", sub, e->d_name);
		if (chunkfile_parse_name(e->d_name, &id) < 0)
			log_warn("%s/%s: not a replica file; left alone", d->path, rel);
		else if ((id & 0xff) != x)
			store_move_aside(d, rel, "in the wrong subdirectory");
		else
			scan_one(d, rel, id, h);
	}
	rc = errno ? -errno : 0;
	closedir(dir);
	return rc;
}

void store_scan_dir(struct store_dir *d)
{
	struct chunkfile_header *h = xmalloc(sizeof(*h));
	d->scratch = xmalloc(2 * BS);
	d->crcs = xmalloc(sizeof(uint32_t) * CHUNKFILE_MAX_BLOCKS);
	d->hdrbuf = xmalloc(CHUNKFILE_SLOT_BYTES);
	struct stat st;
	struct statfs sf;
	d->root_fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->root_fd < 0 || fstat(d->root_fd, &st) < 0) {
		scan_fail(d, "%s", strerror(errno));
		goto out;
	}
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	int rc = make_dir(d->root_fd, "chunks");
	if (rc == 0)
		rc = make_dir(d->root_fd, "corrupt");
	for (unsigned x = 0; rc == 0 && x < 256; x++)
		rc = scan_subdir(d, x, h);
	if (rc == 0 && fstatfs(d->root_fd, &sf) < 0)
		rc = -errno;
	if (rc < 0) {
		scan_fail(d, "scan: %s", strerror(-rc));
		goto out;
	}
	atomic_store(&d->fs_avail, (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize);
	d->last_check_ms = time_mono_ms();
	log_info("data dir %s: %zu replicas, %llu bytes", d->path, d->nfound,
		 (unsigned long long)atomic_load(&d->used));
out:
	free(h);
}
