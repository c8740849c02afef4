/*
 * checkpoint: writes and loads namespace snapshots (format in checkpoint.h).
 *
 * Design. Writing walks the namespace once: each Attr is packed into a
 * small input buffer behind its length, the CRC and length of the
 * uncompressed body are kept running, and the buffer is fed to
 * ZSTD_compressStream2() whenever it fills; compressed output goes to the
 * file as it comes. The header, whose fields are only known at the end,
 * is written last at offset 0, before the fsync and the rename that make
 * the file visible. Loading runs the same way backwards through a
 * decompression buffer that only needs to hold the largest record, so
 * neither side's memory grows with the namespace (beyond the namespace).
 *
 * Checks when loading, in order: header length, magic, version (1 to 3),
 * header CRC, seq against the file name; then per record the length limit,
 * the Attr parsing and ns_restore(); then the zstd frame being whole with
 * nothing after it, and the body's length, CRC and inode count against
 * the header.
 *
 * Invariant: a file named checkpoint.<seq> only ever appears by rename of
 * a complete, synced temp file.
 */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "crc32c.h"
#include "errors.h"
#include "log.h"
#include "util.h"

#define CKPT_PREFIX   "checkpoint."
#define CKPT_NAME_MAX 64
#define CKPT_LEVEL    1
#define CKPT_IN_BUF   (128u << 10)
#define CKPT_OUT_MIN  (64u << 10)

#define CKPT_V1_HEADER_SIZE 52u
#define CKPT_V2_HEADER_SIZE 60u

struct ckpt_header {
	uint64_t seq;
	uint64_t count;
	uint64_t ulen;
	uint64_t next_id;
	uint64_t next_chunk_id;	    /* 0 in a version 1 header */
	uint8_t fs_id[NS_ID_LEN];   /* zeros before version 3 */
	uint64_t format_chunk_size; /* 0 before version 3 */
	uint32_t body_crc;
	uint32_t size; /* of the header, by its version */
};

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void header_encode(uint8_t *p, const struct ckpt_header *h)
{
	memcpy(p, CHECKPOINT_MAGIC, 8);
	put_be32(p + 8, CHECKPOINT_VERSION);
	put_be64(p + 12, h->seq);
	put_be64(p + 20, h->count);
	put_be64(p + 28, h->ulen);
	put_be64(p + 36, h->next_id);
	put_be64(p + 44, h->next_chunk_id);
	memcpy(p + 52, h->fs_id, NS_ID_LEN);
	put_be64(p + 68, h->format_chunk_size);
	put_be32(p + 76, h->body_crc);
	put_be32(p + 80, crc32c(0, p, 80));
}

/* Returns NULL, or what is wrong with the header (len bytes read at p). */
static const char *header_decode(const uint8_t *p, size_t len, struct ckpt_header *h)
{
	static const uint32_t sizes[] = {0, CKPT_V1_HEADER_SIZE, CKPT_V2_HEADER_SIZE,
					 CHECKPOINT_HEADER_SIZE};
	if (len < 12)
		return "short header";
	if (memcmp(p, CHECKPOINT_MAGIC, 8) != 0)
		return "bad magic";
	uint32_t version = get_be32(p + 8);
	if (version == 0 || version > CHECKPOINT_VERSION)
		return "unknown format version";
	h->size = sizes[version];
	if (len < h->size)
		return "short header";
	if (crc32c(0, p, h->size - 4) != get_be32(p + h->size - 4))
		return "header CRC mismatch";
	h->seq = get_be64(p + 12);
	h->count = get_be64(p + 20);
	h->ulen = get_be64(p + 28);
	h->next_id = get_be64(p + 36);
	h->next_chunk_id = version == 1 ? 0 : get_be64(p + 44);
	memset(h->fs_id, 0, NS_ID_LEN);
	h->format_chunk_size = 0;
	if (version >= 3) {
		memcpy(h->fs_id, p + 52, NS_ID_LEN);
		h->format_chunk_size = get_be64(p + 68);
	}
	h->body_crc = get_be32(p + h->size - 8);
	if (h->count == 0)
		return "no inodes";
	return NULL;
}

/* checkpoint.<20 digits>, with ".tmp" after it when tmp. */
static int name_parse(const char *name, uint64_t *seq, int *tmp)
{
	size_t plen = strlen(CKPT_PREFIX), len = strlen(name);
	if (strncmp(name, CKPT_PREFIX, plen) != 0 || len < plen + 20)
		return -1;
	*tmp = strcmp(name + plen + 20, ".tmp") == 0;
	if (len != plen + 20 && !*tmp)
		return -1;
	uint64_t v = 0;
	for (size_t i = plen; i < plen + 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*seq = v;
	return 0;
}

static int seq_cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Lists dir's checkpoints, newest first (a new array, free with free()).
 * With drop_tmp, removes the .tmp files it meets.
 */
static int ckpt_list(const char *dir, int drop_tmp, uint64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	uint64_t *v = NULL;
	size_t len = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t seq;
		int tmp;
		if (name_parse(de->d_name, &seq, &tmp) < 0)
			continue;
		if (tmp) {
			if (drop_tmp && unlinkat(dirfd(d), de->d_name, 0) == 0)
				log_info("checkpoint: removed stale %s/%s", dir, de->d_name);
			continue;
		}
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[len++] = seq;
	}
	closedir(d);
	if (len)
		qsort(v, len, sizeof(*v), seq_cmp_desc);
	*out = v;
	*n = len;
	return 0;
}

/* ---- writing ------------------------------------------------------------------- */

struct ckpt_writer {
	int fd;
	ZSTD_CCtx *cctx;
	uint8_t *in;
	size_t in_len;
	size_t in_cap;
	uint8_t *out;
	size_t out_cap;
	uint32_t crc;
	uint64_t ulen;
	uint64_t count;
	Cairn__ChunkRef *refs; /* a file's chunks, refs_cap of them */
	Cairn__ChunkRef **ref_ptrs;
	size_t refs_cap;
	const char *why; /* set with err */
	int err;
};

/* Compresses w->in (all of it) with mode, writing out what comes out. */
static int w_compress(struct ckpt_writer *w, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {w->in, w->in_len, 0};
	for (;;) {
		ZSTD_outBuffer out = {w->out, w->out_cap, 0};
		size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
		if (ZSTD_isError(left)) {
			w->why = ZSTD_getErrorName(left);
			return -EIO;
		}
		int err = write_full(w->fd, w->out, out.pos);
		if (err)
			return err;
		if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
			break;
	}
	w->in_len = 0;
	return 0;
}

/* Points attr->chunks at ino's chunks, in w's reused arrays. */
static void w_chunks(struct ckpt_writer *w, const struct ns_inode *ino, Cairn__Attr *attr)
{
	size_t n;
	const struct ns_chunk *k = ns_inode_chunks(ino, &n);
	if (n > w->refs_cap) {
		free(w->refs);
		free(w->ref_ptrs);
		w->refs = xmalloc(n * sizeof(*w->refs));
		w->ref_ptrs = xmalloc(n * sizeof(*w->ref_ptrs));
		w->refs_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		cairn__chunk_ref__init(&w->refs[i]);
		w->refs[i].id = k[i].id;
		w->refs[i].version = k[i].version;
		w->ref_ptrs[i] = &w->refs[i];
	}
	attr->chunks = w->ref_ptrs;
	attr->n_chunks = n;
}

static int w_pack(struct ckpt_writer *w, const Cairn__Attr *a);

static int w_put(void *arg, const struct ns_inode *ino)
{
	struct ckpt_writer *w = arg;
	Cairn__Attr attr = CAIRN__ATTR__INIT;
	ns_fill_attr(ino, &attr);
	w_chunks(w, ino, &attr);
	size_t nx = ns_xattr_count(ino);
	Cairn__Xattr *xbuf = nx ? xcalloc(nx, sizeof(*xbuf)) : NULL;
	Cairn__Xattr **xptrs = nx ? xcalloc(nx, sizeof(*xptrs)) : NULL;
	if (nx)
		ns_fill_xattrs(ino, &attr, xbuf, xptrs);
	int err = w_pack(w, &attr);
	free(xbuf);
	free(xptrs);
	return err;
}

/* Appends one packed Attr to the writer's input (compressing when full). */
static int w_pack(struct ckpt_writer *w, const Cairn__Attr *a)
{
	Cairn__Attr attr = *a;
	size_t len = cairn__attr__get_packed_size(&attr);
	if (len > CHECKPOINT_MAX_RECORD) {
		w->why = "an inode's attributes are over the record limit";
		return w->err = -E2BIG;
	}
	if (w->in_cap - w->in_len < 4 + len && w->in_len &&
	    (w->err = w_compress(w, ZSTD_e_continue)))
		return w->err;
	if (w->in_cap < 4 + len) {
		w->in = xrealloc(w->in, 4 + len);
		w->in_cap = 4 + len;
	}
	uint8_t *p = w->in + w->in_len;
	put_be32(p, (uint32_t)len);
	cairn__attr__pack(&attr, p + 4);
	w->crc = crc32c(w->crc, p, 4 + len);
	w->ulen += 4 + len;
	w->in_len += 4 + len;
	w->count++;
	return 0;
}

/* Streams the header placeholder, the body and then the real header into w->fd. */
static int w_body(struct ckpt_writer *w, const struct ns *ns, uint64_t seq)
{
	uint8_t hdr[CHECKPOINT_HEADER_SIZE] = {0};
	w->cctx = ZSTD_createCCtx();
	w->in_cap = CKPT_IN_BUF;
	w->in = xmalloc(w->in_cap);
	w->out_cap = ZSTD_CStreamOutSize();
	w->out = xmalloc(w->out_cap);
	if (!w->cctx)
		return -ENOMEM; /* zstd's own allocation */
	ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, CKPT_LEVEL);
	int err = write_full(w->fd, hdr, sizeof(hdr));
	if (err)
		return err;
	if (ns_walk(ns, w_put, w))
		return w->err;
	err = w_compress(w, ZSTD_e_end);
	if (err)
		return err;
	struct ckpt_header h = {.seq = seq,
				.count = w->count,
				.ulen = w->ulen,
				.next_id = ns_next_id(ns),
				.next_chunk_id = ns_next_chunk_id(ns),
				.format_chunk_size = ns_format_chunk_size(ns),
				.body_crc = w->crc,
				.size = CHECKPOINT_HEADER_SIZE};
	memcpy(h.fs_id, ns_fs_id(ns), NS_ID_LEN);
	header_encode(hdr, &h);
	if (pwrite(w->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return errno ? -errno : -EIO;
	return fsync(w->fd) < 0 ? -errno : 0;
}

/* Removes the checkpoints older than the newest one before seq. */
static void prune(const char *dir, uint64_t seq)
{
	uint64_t *v;
	size_t n, kept_older = 0;
	if (ckpt_list(dir, 0, &v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (v[i] >= seq || kept_older++ == 0)
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/" CKPT_PREFIX "%020" PRIu64, dir, v[i]);
		if (unlink(path) < 0)
			log_warn("checkpoint: removing %s: %s", path, strerror(errno));
	}
	free(v);
}

static int dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return err;
}

int checkpoint_write(const char *dir, const struct ns *ns, uint64_t seq, char **cause)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	if (snprintf(path, sizeof(path), "%s/" CKPT_PREFIX "%020" PRIu64, dir, seq) >=
	    (int)sizeof(path)) {
		*cause = xasprintf("checkpoint directory %s: name too long", dir);
		return -ENAMETOOLONG;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	struct ckpt_writer w = {.fd = -1};
	w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err = w.fd < 0 ? -errno : w_body(&w, ns, seq);
	if (w.fd >= 0 && close(w.fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (!err)
		err = dir_sync(dir);
	ZSTD_freeCCtx(w.cctx);
	free(w.in);
	free(w.out);
	free(w.refs);
	free(w.ref_ptrs);
	if (err) {
		*cause = xasprintf("checkpoint %s: %s", path, w.why ? w.why : strerror(-err));
		unlink(tmp);
		return err;
	}
	prune(dir, seq);
	return 0;
}

pid_t checkpoint_fork(const char *dir, const struct ns *ns, uint64_t seq)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	char *cause = NULL;
	int err = checkpoint_write(dir, ns, seq, &cause);
	if (err)
		log_warn("%s", cause ? cause : "checkpoint failed");
	_exit(err ? 1 : 0);
}

/* ---- loading ------------------------------------------------------------------- */

struct ckpt_reader {
	int fd;
	ZSTD_DCtx *dctx;
	uint8_t *in;
	size_t in_cap;
	ZSTD_inBuffer zin;
	int in_eof;
	uint8_t *out; /* decompressed bytes out[start..end) not yet parsed */
	size_t out_cap;
	size_t start;
	size_t end;
	uint32_t crc;
	uint64_t ulen;
	uint64_t count;
	int frame_done;
};

/* Parses and restores every whole record in r->out. Returns NULL or what is wrong. */
static const char *r_parse(struct ckpt_reader *r, struct ns *ns, const struct ckpt_header *h,
			   char *why, size_t whylen)
{
	while (r->end - r->start >= 4) {
		uint32_t len = get_be32(r->out + r->start);
		if (len > CHECKPOINT_MAX_RECORD)
			return "record length over the limit";
		if (r->end - r->start < 4 + (size_t)len)
			return NULL;
		if (r->count == h->count)
			return "more inodes than the header says";
		Cairn__Attr *a = cairn__attr__unpack(NULL, len, r->out + r->start + 4);
		if (!a)
			return "a record does not parse";
		int err = ns_restore(ns, a);
		if (err) {
			snprintf(why, whylen, "inode %" PRIu64 " (%s) does not restore: %s", a->id,
				 a->name, err_str(err));
			cairn__attr__free_unpacked(a, NULL);
			return why;
		}
		cairn__attr__free_unpacked(a, NULL);
		r->start += 4 + len;
		r->count++;
	}
	return NULL;
}

/* Decompresses more into r->out. Returns NULL or what is wrong. */
static const char *r_more(struct ckpt_reader *r, const struct ckpt_header *h, int *io_err)
{
	if (r->zin.pos == r->zin.size && !r->in_eof) {
		ssize_t got = read(r->fd, r->in, r->in_cap);
		if (got < 0) {
			*io_err = -errno;
			return strerror(errno);
		}
		r->in_eof = got == 0;
		r->zin = (ZSTD_inBuffer){r->in, (size_t)got, 0};
	}
	/* Room for the record in progress and a good slice more. */
	if (r->start) {
		memmove(r->out, r->out + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	size_t need = r->end + CKPT_OUT_MIN;
	if (r->end >= 4)
		need += get_be32(r->out);
	if (need > r->out_cap) {
		r->out = xrealloc(r->out, need);
		r->out_cap = need;
	}
	ZSTD_outBuffer zout = {r->out, r->out_cap, r->end};
	size_t in_before = r->zin.pos;
	size_t ret = ZSTD_decompressStream(r->dctx, &zout, &r->zin);
	if (ZSTD_isError(ret))
		return ZSTD_getErrorName(ret);
	size_t got = zout.pos - r->end;
	if (got == 0 && r->zin.pos == in_before && r->in_eof)
		return "the compressed body is truncated";
	r->crc = crc32c(r->crc, r->out + r->end, got);
	r->ulen += got;
	r->end = zout.pos;
	if (r->ulen > h->ulen)
		return "the body is longer than the header says";
	r->frame_done = ret == 0;
	return NULL;
}

/* After the frame: checks that nothing follows and the totals. Returns NULL or what is wrong. */
static const char *r_finish(struct ckpt_reader *r, const struct ns *ns, const struct ckpt_header *h)
{
	uint8_t extra;
	if (r->zin.pos < r->zin.size || read(r->fd, &extra, 1) > 0)
		return "trailing bytes after the compressed body";
	if (r->end != r->start)
		return "a partial record at the end of the body";
	if (r->ulen != h->ulen)
		return "the body is shorter than the header says";
	if (r->crc != h->body_crc)
		return "body CRC mismatch";
	if (r->count != h->count || ns_count(ns) != h->count)
		return "fewer inodes than the header says";
	return NULL;
}

/* Loads one checkpoint file. Returns NULL, or what is wrong with it (in why or static). */
static const char *load_one(int dir_fd, uint64_t seq, struct ns **out, char *why, size_t whylen)
{
	char name[CKPT_NAME_MAX];
	uint8_t hdr[CHECKPOINT_HEADER_SIZE];
	struct ckpt_header h = {0};
	struct ckpt_reader r = {.fd = -1};
	const char *bad = NULL;
	int io_err = 0;
	struct ns *ns = NULL;
	snprintf(name, sizeof(name), CKPT_PREFIX "%020" PRIu64, seq);
	r.fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (r.fd < 0) {
		bad = strerror(errno);
		goto out;
	}
	ssize_t got = read(r.fd, hdr, sizeof(hdr));
	if (got < 0)
		bad = strerror(errno);
	else if (!(bad = header_decode(hdr, (size_t)got, &h)) && h.seq != seq)
		bad = "the header's seq does not match the file name";
	else if (!bad && lseek(r.fd, h.size, SEEK_SET) < 0)
		bad = strerror(errno);
	if (bad)
		goto out;
	ns = ns_new();
	r.dctx = ZSTD_createDCtx();
	r.in_cap = ZSTD_DStreamInSize();
	r.in = xmalloc(r.in_cap);
	if (!r.dctx) {
		bad = "out of memory"; /* zstd's own allocation */
		goto out;
	}
	while (!(bad = r_parse(&r, ns, &h, why, whylen)) && !r.frame_done)
		if ((bad = r_more(&r, &h, &io_err)))
			break;
	if (!bad)
		bad = r_finish(&r, ns, &h);
	if (!bad) {
		ns_set_next_id(ns, h.next_id);
		ns_set_next_chunk_id(ns, h.next_chunk_id);
		ns_set_fs_id(ns, h.fs_id);
		ns_set_format_chunk_size(ns, h.format_chunk_size);
	}
out:
	if (r.fd >= 0)
		close(r.fd);
	ZSTD_freeDCtx(r.dctx);
	free(r.in);
	free(r.out);
	if (bad) {
		ns_free(ns);
		return bad;
	}
	*out = ns;
	return NULL;
}

int checkpoint_load(const char *dir, struct ns **out, uint64_t *seq, char **cause)
{
	uint64_t newest;
	int err = checkpoint_load_upto(dir, UINT64_MAX, out, seq, &newest, cause);
	if (!err && newest && !*seq) { /* checkpoints have seqs above 0 */
		ns_free(*out);
		*out = NULL;
		*cause = xasprintf("no usable checkpoint in %s (the newest has seq %" PRIu64 ")",
				   dir, newest);
		err = -CAIRN_ECHECKSUM;
	}
	return err;
}

int checkpoint_load_upto(const char *dir, uint64_t max_seq, struct ns **out, uint64_t *seq,
			 uint64_t *newest, char **cause)
{
	uint64_t *v = NULL;
	size_t n = 0;
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = dir_fd < 0 ? -errno : ckpt_list(dir, 1, &v, &n);
	*newest = 0;
	if (err) {
		*cause = xasprintf("checkpoints in %s: %s", dir, strerror(-err));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char why[256];
		if (v[i] > max_seq)
			continue;
		if (!*newest)
			*newest = v[i];
		const char *bad = load_one(dir_fd, v[i], out, why, sizeof(why));
		if (!bad) {
			*seq = v[i];
			goto out;
		}
		log_warn("checkpoint %s/" CKPT_PREFIX "%020" PRIu64 " is not usable (%s); %s", dir,
			 v[i], bad, i + 1 < n ? "trying the one before it" : "none left");
	}
	*out = ns_new();
	*seq = 0;
out:
	free(v);
	if (dir_fd >= 0)
		close(dir_fd);
	return err;
}

int checkpoint_set_aside(const char *dir, uint64_t after_seq, const char *suffix)
{
	uint64_t *v = NULL;
	size_t n = 0;
	int err = ckpt_list(dir, 0, &v, &n), moved = 0;
	for (size_t i = 0; !err && i < n && v[i] > after_seq; i++) {
		char from[PATH_MAX], to[PATH_MAX + 64];
		snprintf(from, sizeof(from), "%s/" CKPT_PREFIX "%020" PRIu64, dir, v[i]);
		err = -EEXIST;
		for (int k = 0; k < 1000 && err == -EEXIST; k++) { /* never over an earlier one */
			if (k)
				snprintf(to, sizeof(to), "%s.%s.%d", from, suffix, k);
			else
				snprintf(to, sizeof(to), "%s.%s", from, suffix);
			err = 0;
			if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0)
				err = -errno;
		}
		if (!err)
			log_warn("checkpoint: %s set aside as %s", from, to);
		moved++;
	}
	free(v);
	if (!err && moved)
		err = dir_sync(dir);
	return err ? err : moved;
}
