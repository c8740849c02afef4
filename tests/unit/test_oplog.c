/*
 * test_oplog: the op log through real files in a temp dir: append, close,
 * replay; group commit with appends racing the writer; a torn last record
 * at every byte offset (cut); a flipped byte at every offset of a middle
 * record (refused, nothing cut; --recover-to cuts and keeps the rest
 * aside); a record apply() refuses; a torn-looking record at the end of a
 * middle segment and a missing segment (refused); several segments and
 * purging; a failing disk; and the durable append rate (printed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "oplog.h"

#include "check.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- temp dirs and files ------------------------------------------------------------ */

static char *tmpdir_new(void)
{
	char *d = strdup("/tmp/cairn-oplog-XXXXXX");
	if (!mkdtemp(d))
		abort();
	return d;
}

static void tmpdir_free(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
	free(dir);
}

/* Number of files in dir whose name contains s. */
static int count_files(const char *dir, const char *s)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.' && strstr(de->d_name, s) != NULL;
	if (d)
		closedir(d);
	return n;
}

static uint8_t *file_read(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	uint8_t *buf = malloc((size_t)st.st_size + 1);
	*len = (size_t)read(fd, buf, (size_t)st.st_size);
	close(fd);
	return buf;
}

static void file_write(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void seg_path(char *buf, size_t cap, const char *dir, uint64_t first)
{
	snprintf(buf, cap, "%s/oplog.%020" PRIu64, dir, first);
}

/* ---- records ------------------------------------------------------------------------- */

/* The k-th test record (seq unset); name and its storage come from buf. */
static void make_record(uint64_t k, Cairn__LogRecord *rec, Cairn__LogMknod *m, Cairn__LogRemove *r,
			char *buf, size_t namelen)
{
	cairn__log_record__init(rec);
	rec->time_us = (int64_t)(1700000000000000ll + (int64_t)k);
	memset(buf, 'a' + (int)(k % 26), namelen);
	buf[namelen] = '\0';
	if (k % 3) {
		cairn__log_mknod__init(m);
		m->parent = 1;
		m->id = k + 100;
		m->name = buf;
		m->type = CAIRN__FILE_TYPE__FILE_TYPE_FILE;
		rec->op_case = CAIRN__LOG_RECORD__OP_MKNOD;
		rec->mknod = m;
	} else {
		cairn__log_remove__init(r);
		r->parent = k;
		r->name = buf;
		rec->op_case = CAIRN__LOG_RECORD__OP_REMOVE;
		rec->remove = r;
	}
}

/* Packed copies of records, by position. */
struct recs {
	uint8_t **data;
	size_t *len;
	uint64_t *seq;
	size_t n, cap;
	int fail_at; /* apply fails for this seq (0: never) */
};

static void recs_add(struct recs *v, const Cairn__LogRecord *rec)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 1024;
		v->data = realloc(v->data, v->cap * sizeof(*v->data));
		v->len = realloc(v->len, v->cap * sizeof(*v->len));
		v->seq = realloc(v->seq, v->cap * sizeof(*v->seq));
	}
	size_t len = cairn__log_record__get_packed_size(rec);
	v->data[v->n] = malloc(len + 1);
	v->len[v->n] = cairn__log_record__pack(rec, v->data[v->n]);
	v->seq[v->n] = rec->seq;
	v->n++;
}

static void recs_free(struct recs *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->data[i]);
	free(v->data);
	free(v->len);
	free(v->seq);
	memset(v, 0, sizeof(*v));
}

static int collect(void *arg, const Cairn__LogRecord *rec)
{
	struct recs *v = arg;
	if (v->fail_at && rec->seq == (uint64_t)v->fail_at)
		return -EINVAL;
	recs_add(v, rec);
	return 0;
}

/* Whether got holds exactly want's records first..last (1-based positions). */
static int same_recs(const struct recs *got, const struct recs *want, size_t first, size_t last)
{
	if (got->n != last - first + 1)
		return 0;
	for (size_t i = 0; i < got->n; i++) {
		size_t j = first - 1 + i;
		if (got->len[i] != want->len[j] || got->seq[i] != want->seq[j] ||
		    memcmp(got->data[i], want->data[j], got->len[i]) != 0)
			return 0;
	}
	return 1;
}

/* Waits until the log is durable up to seq (or failed) using the notify fd. */
static int wait_durable(struct oplog *log, uint64_t seq)
{
	while (oplog_durable_seq(log) < seq && !oplog_error(log)) {
		struct pollfd p = {oplog_notify_fd(log), POLLIN, 0};
		if (poll(&p, 1, 10000) != 1)
			return -ETIMEDOUT;
		uint64_t v;
		while (read(p.fd, &v, sizeof(v)) > 0)
			;
	}
	return oplog_error(log);
}

/* Appends n records (names of namelen bytes, from k0) and remembers them in want. */
static void append_n(struct oplog *log, uint64_t k0, size_t n, size_t namelen, struct recs *want)
{
	char *buf = malloc(namelen + 1);
	for (size_t i = 0; i < n; i++) {
		Cairn__LogRecord rec;
		Cairn__LogMknod m;
		Cairn__LogRemove r;
		make_record(k0 + i, &rec, &m, &r, buf, namelen);
		uint64_t seq = oplog_append(log, &rec);
		CHECK(seq == rec.seq && seq == oplog_last_seq(log));
		if (want)
			recs_add(want, &rec);
	}
	free(buf);
}

/* Writes a closed log of n records (the last one with a long name) into a new dir. */
static char *make_log(size_t n, struct recs *want)
{
	char *cause = NULL, *dir = tmpdir_new();
	struct oplog *log = oplog_open(dir, 0, &cause);
	CHECK(log != NULL);
	append_n(log, 1, n - 1, 10, want);
	append_n(log, n, 1, 120, want);
	CHECK(wait_durable(log, n) == 0);
	oplog_close(log);
	return dir;
}

/* Bytes of records 1..n of want on disk (a segment then holds zeros up to its size). */
static size_t recs_bytes(const struct recs *want, size_t n)
{
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += 8 + want->len[i];
	return bytes;
}

static int replay(const char *dir, uint64_t after, struct recs *got, uint64_t *last)
{
	char *cause = NULL;
	int err = oplog_replay(dir, after, UINT64_MAX, collect, got, last, &cause);
	if (err)
		fprintf(stderr, "replay %s: %s\n", dir, cause ? cause : "?");
	free(cause);
	return err;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_roundtrip(void)
{
	struct recs want = {0}, got = {0};
	char *dir = make_log(5000, &want);
	uint64_t last = 0;
	CHECK(replay(dir, 0, &got, &last) == 0);
	CHECK(last == 5000);
	CHECK(same_recs(&got, &want, 1, 5000));
	recs_free(&got);
	CHECK(replay(dir, 4000, &got, &last) == 0);
	CHECK(last == 5000 && same_recs(&got, &want, 4001, 5000));
	recs_free(&got);
	CHECK(replay(dir, 5000, &got, &last) == 0);
	CHECK(last == 5000 && got.n == 0);
	/* A checkpoint past the log's end (written while records were in flight). */
	CHECK(replay(dir, 5007, &got, &last) == 0);
	CHECK(last == 5007 && got.n == 0);
	CHECK(count_files(dir, "corrupt") == 0);
	/* Reopening appends consecutive seqs in a new segment. */
	char *cause = NULL;
	struct oplog *log = oplog_open(dir, 5000, &cause);
	CHECK(log && oplog_last_seq(log) == 5000 && oplog_durable_seq(log) == 5000);
	append_n(log, 5001, 10, 10, &want);
	oplog_close(log);
	CHECK(count_files(dir, "oplog.") == 2);
	CHECK(replay(dir, 0, &got, &last) == 0);
	CHECK(last == 5010 && same_recs(&got, &want, 1, 5010));
	recs_free(&got);
	recs_free(&want);
	/* An empty dir replays to nothing; a missing one is an error. */
	char *empty = tmpdir_new();
	CHECK(replay(empty, 3, &got, &last) == 0 && last == 3 && got.n == 0);
	tmpdir_free(empty);
	CHECK(oplog_replay("/nonexistent/cairn", 0, UINT64_MAX, collect, &got, &last, &cause) ==
	      -ENOENT);
	CHECK(cause != NULL);
	free(cause);
	cause = NULL;
	CHECK(oplog_open("/nonexistent/cairn", 0, &cause) == NULL && cause != NULL);
	free(cause);
	tmpdir_free(dir);
}

/* Appends race the writer; durable_seq only grows, never passes last, and reaches it. */
static void test_group_commit(void)
{
	char *cause = NULL, *dir = tmpdir_new();
	struct oplog *log = oplog_open(dir, 0, &cause);
	struct recs want = {0}, got = {0};
	size_t n = 200000, wakeups = 0;
	uint64_t seen = 0;
	int monotonic = 1;
	double t0 = now_s();
	for (size_t i = 0; i < n; i += 100) {
		append_n(log, i + 1, 100, 24, &want);
		uint64_t v;
		if (read(oplog_notify_fd(log), &v, sizeof(v)) > 0)
			wakeups++;
		uint64_t d = oplog_durable_seq(log);
		monotonic &= d >= seen && d <= oplog_last_seq(log);
		seen = d;
	}
	CHECK(wait_durable(log, n) == 0);
	double t1 = now_s();
	CHECK(monotonic);
	CHECK(oplog_durable_seq(log) == n && oplog_error(log) == 0);
	printf("group commit: %zu records durable in %.3f s: %.0f appends/s (%zu wake-ups seen)\n",
	       n, t1 - t0, (double)n / (t1 - t0), wakeups);
	oplog_close(log);
	uint64_t last;
	CHECK(replay(dir, 0, &got, &last) == 0 && last == n && same_recs(&got, &want, 1, n));
	recs_free(&got);
	recs_free(&want);
	tmpdir_free(dir);

	/* One record per commit, for comparison: every append waits for its sync. */
	dir = tmpdir_new();
	log = oplog_open(dir, 0, &cause);
	size_t m = 300;
	t0 = now_s();
	for (size_t i = 0; i < m; i++) {
		append_n(log, i + 1, 1, 24, NULL);
		wait_durable(log, i + 1);
	}
	t1 = now_s();
	printf("serial commit: %.0f appends/s (one record per fdatasync)\n", (double)m / (t1 - t0));
	oplog_close(log);
	tmpdir_free(dir);
}

/* 1 when p[0..len) are all zero. */
static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/*
 * The last record torn at every byte offset: the earlier ones replay, the
 * rest is cut; unless what was written of it is zeros only (the leading
 * bytes of its length), which is a zeroed tail: nothing to cut.
 */
static void test_torn_tail(void)
{
	struct recs want = {0}, got = {0};
	size_t n = 20;
	char *src = make_log(n, &want);
	char seg[256], path[512];
	seg_path(seg, sizeof(seg), src, 1);
	size_t len;
	uint8_t *orig = file_read(seg, &len);
	CHECK(len >= recs_bytes(&want, n));
	len = recs_bytes(&want, n); /* the records alone, no zeroed-ahead tail */
	size_t last_len = 8 + want.len[n - 1], start = len - last_len;
	CHECK(len > last_len);
	int bad = 0;
	for (size_t t = start; t < len; t++) {
		char *dir = tmpdir_new();
		seg_path(path, sizeof(path), dir, 1);
		file_write(path, orig, t);
		int zeros = all_zero(orig + start, t - start);
		uint64_t last = 0;
		int ok = replay(dir, 0, &got, &last) == 0 && last == n - 1 &&
			 same_recs(&got, &want, 1, n - 1);
		recs_free(&got);
		size_t cut_len;
		uint8_t *cut = file_read(path, &cut_len);
		ok &= cut_len == (zeros ? t : start);
		free(cut);
		char aside[600];
		snprintf(aside, sizeof(aside), "%s.corrupt-%zu", path, start);
		uint8_t *tail = file_read(aside, &cut_len);
		ok &= zeros ? tail == NULL
			    : tail && cut_len == t - start &&
				  memcmp(tail, orig + start, cut_len) == 0;
		free(tail);
		/* A second replay is clean; appending continues after the cut. */
		ok &= replay(dir, 0, &got, &last) == 0 && last == n - 1 && got.n == n - 1;
		ok &= count_files(dir, "corrupt") == !zeros;
		recs_free(&got);
		char *cause = NULL;
		struct oplog *log = oplog_open(dir, n - 1, &cause);
		ok &= log != NULL;
		append_n(log, 500, 3, 5, NULL);
		oplog_close(log);
		ok &= replay(dir, 0, &got, &last) == 0 && last == n + 2 && got.n == n + 2;
		recs_free(&got);
		if (!ok) {
			fprintf(stderr, "torn tail at offset %zu of %zu: wrong replay\n", t, len);
			bad++;
		}
		tmpdir_free(dir);
	}
	CHECK(bad == 0);
	printf("torn tail: %zu offsets checked\n", len - start);
	free(orig);
	recs_free(&want);
	tmpdir_free(src);
}

/* Replays dir up to upto, quietly; returns the error and the cause (free it). */
static int replay_upto(const char *dir, uint64_t upto, struct recs *got, uint64_t *last,
		       char **cause)
{
	*cause = NULL;
	return oplog_replay(dir, 0, upto, collect, got, last, cause);
}

/*
 * A flipped byte anywhere in a middle record (its length field too, which
 * can point its end into the zeros): damage, not a torn tail. Replay
 * refuses with -EUCLEAN, names the segment, the offset and the seqs at
 * stake, and cuts nothing; replay up to the last good seq (--recover-to)
 * cuts and keeps the rest aside, byte for byte.
 */
static void test_flipped_byte(void)
{
	struct recs want = {0}, got = {0};
	size_t n = 40, mid = 20;
	char *src = make_log(n, &want);
	char seg[256], path[512], aside[600], expect[128];
	seg_path(seg, sizeof(seg), src, 1);
	size_t len, off = 0;
	uint8_t *orig = file_read(seg, &len);
	CHECK(len >= recs_bytes(&want, n));
	for (size_t i = 0; i < mid - 1; i++)
		off += 8 + want.len[i];
	size_t rec_len = 8 + want.len[mid - 1];
	int bad = 0;
	for (size_t b = off; b < off + rec_len; b++) {
		char *dir = tmpdir_new(), *cause;
		seg_path(path, sizeof(path), dir, 1);
		orig[b] ^= 0x20;
		file_write(path, orig, len);
		uint64_t last = 0;
		int ret = replay_upto(dir, UINT64_MAX, &got, &last, &cause);
		int ok = ret == -EUCLEAN && cause && count_files(dir, "corrupt") == 0;
		snprintf(expect, sizeof(expect),
			 "oplog.00000000000000000001 is damaged at offset %zu", off);
		ok &= cause && strstr(cause, expect) != NULL;
		snprintf(expect, sizeof(expect), "--recover-to %zu", mid - 1);
		ok &= cause && strstr(cause, expect) != NULL;
		size_t now_len;
		uint8_t *now = file_read(path, &now_len);
		ok &= now_len == len && memcmp(now, orig, len) == 0; /* untouched */
		free(now);
		recs_free(&got);
		if (!ok)
			fprintf(stderr, "flipped byte at %zu (record at %zu): ret %d: %s\n", b, off,
				ret, cause ? cause : "");
		free(cause);
		/* The operator's choice: the state at mid - 1, the rest kept aside. */
		ret = replay_upto(dir, mid - 1, &got, &last, &cause);
		ok &= ret == 0 && last == mid - 1 && same_recs(&got, &want, 1, mid - 1);
		snprintf(aside, sizeof(aside), "%s.corrupt-%zu", path, off);
		size_t alen;
		uint8_t *tail = file_read(aside, &alen);
		ok &= tail && alen == len - off && memcmp(tail, orig + off, alen) == 0;
		free(tail);
		free(cause);
		recs_free(&got);
		orig[b] ^= 0x20;
		if (!ok) {
			fprintf(stderr, "flipped byte at %zu (record at %zu): wrong replay\n", b,
				off);
			bad++;
		}
		tmpdir_free(dir);
	}
	CHECK(bad == 0);
	printf("flipped byte: %zu offsets checked\n", rec_len);

	/* An intact record that apply() refuses is damage too; past it is still refused. */
	char *dir = tmpdir_new(), *cause;
	seg_path(path, sizeof(path), dir, 1);
	file_write(path, orig, len);
	got.fail_at = (int)mid;
	uint64_t last;
	CHECK(replay_upto(dir, UINT64_MAX, &got, &last, &cause) == -EUCLEAN);
	CHECK(count_files(dir, "corrupt") == 0 && strstr(cause, "does not apply"));
	free(cause);
	recs_free(&got);
	got.fail_at = (int)mid;
	CHECK(replay_upto(dir, mid + 5, &got, &last, &cause) == -EUCLEAN);
	free(cause);
	recs_free(&got);
	CHECK(replay_upto(dir, mid - 1, &got, &last, &cause) == 0 && last == mid - 1);
	CHECK(count_files(dir, "corrupt") == 1);
	recs_free(&got);
	tmpdir_free(dir);

	/* --recover-to on an intact log: the records past it go aside, nothing else. */
	dir = tmpdir_new();
	seg_path(path, sizeof(path), dir, 1);
	file_write(path, orig, len);
	CHECK(replay_upto(dir, 5, &got, &last, &cause) == 0 && last == 5 &&
	      same_recs(&got, &want, 1, 5));
	recs_free(&got);
	CHECK(replay(dir, 0, &got, &last) == 0 && last == 5);
	recs_free(&got);
	tmpdir_free(dir);
	free(orig);
	recs_free(&want);
	tmpdir_free(src);
}

/*
 * The zeroed-ahead tail: records then zeros replay clean (nothing cut); a
 * torn last record followed by zeros is cut at its start; a segment of
 * zeros only is not a segment (moved aside, and the log opens after it).
 */
static void test_zero_tail(void)
{
	struct recs want = {0}, got = {0};
	size_t n = 20;
	char *src = make_log(n, &want);
	char seg[256], path[512];
	seg_path(seg, sizeof(seg), src, 1);
	size_t len, recs = recs_bytes(&want, n);
	uint8_t *orig = file_read(seg, &len);
	CHECK(len > recs + 4096); /* the writer zeroed ahead */
	for (size_t i = recs; i < len; i++)
		CHECK(orig[i] == 0);
	uint64_t last = 0;
	CHECK(replay(src, 0, &got, &last) == 0 && last == n && same_recs(&got, &want, 1, n));
	CHECK(count_files(src, "corrupt") == 0);
	recs_free(&got);

	/* The last record half-written over the zeros, at a few offsets. */
	size_t start = recs - (8 + want.len[n - 1]);
	size_t torn[] = {start, start + 1, start + 4, start + 8, start + 9, recs - 1};
	for (size_t k = 0; k < sizeof(torn) / sizeof(torn[0]); k++) {
		char *dir = tmpdir_new();
		uint8_t *img = calloc(1, len);
		memcpy(img, orig, torn[k]);
		seg_path(path, sizeof(path), dir, 1);
		file_write(path, img, len);
		int ok = replay(dir, 0, &got, &last) == 0 && last == n - 1 &&
			 same_recs(&got, &want, 1, n - 1);
		recs_free(&got);
		ok &= count_files(dir, "corrupt") == !all_zero(orig + start, torn[k] - start);
		char *cause = NULL;
		struct oplog *log = oplog_open(dir, n - 1, &cause);
		ok &= log != NULL;
		append_n(log, 500, 3, 5, NULL);
		oplog_close(log);
		ok &= replay(dir, 0, &got, &last) == 0 && last == n + 2 && got.n == n + 2;
		recs_free(&got);
		if (!ok)
			fprintf(stderr, "zero tail, torn at %zu (record at %zu): wrong replay\n",
				torn[k], start);
		CHECK(ok);
		free(img);
		tmpdir_free(dir);
	}

	/* A segment of zeros alone, after the real one: moved aside, the log goes on. */
	char *dir = tmpdir_new();
	seg_path(path, sizeof(path), dir, 1);
	file_write(path, orig, len);
	uint8_t *zeros = calloc(1, 8192);
	seg_path(path, sizeof(path), dir, n + 1);
	file_write(path, zeros, 8192);
	CHECK(replay(dir, 0, &got, &last) == 0 && last == n && got.n == n);
	recs_free(&got);
	CHECK(count_files(dir, "corrupt") == 1);
	char *cause = NULL;
	struct oplog *log = oplog_open(dir, n, &cause);
	CHECK(log != NULL);
	append_n(log, 600, 2, 5, NULL);
	oplog_close(log);
	CHECK(replay(dir, 0, &got, &last) == 0 && last == n + 2);
	recs_free(&got);
	free(zeros);
	tmpdir_free(dir);
	free(orig);
	recs_free(&want);
	tmpdir_free(src);
}

static int count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		n += strncmp(de->d_name, "oplog.", 6) == 0 && strlen(de->d_name) == 26;
	if (d)
		closedir(d);
	return n;
}

/* Many segments (small segment size), replay across them, purge, a lost segment. */
static void test_segments(void)
{
	char *cause = NULL, *dir = tmpdir_new();
	struct oplog *log = oplog_open(dir, 0, &cause);
	struct recs want = {0}, got = {0};
	oplog_set_segment_size(log, 4096);
	size_t n = 5000;
	for (size_t i = 0; i < n; i += 50) {
		append_n(log, i + 1, 50, 20, &want);
		CHECK(wait_durable(log, i + 50) == 0);
	}
	oplog_close(log);
	int nseg = count_segments(dir);
	CHECK(nseg > 20);
	uint64_t last;
	CHECK(replay(dir, 0, &got, &last) == 0 && last == n && same_recs(&got, &want, 1, n));
	recs_free(&got);

	CHECK(oplog_purge(dir, 0) == 0);
	int removed = oplog_purge(dir, 2500);
	CHECK(removed > 5 && count_segments(dir) == nseg - removed);
	CHECK(replay(dir, 2500, &got, &last) == 0 && last == n && same_recs(&got, &want, 2501, n));
	recs_free(&got);
	/* The log now starts after seq 1: replaying from 0 must refuse, not cut. */
	CHECK(oplog_replay(dir, 0, UINT64_MAX, collect, &got, &last, &cause) == -CAIRN_EINTERNAL);
	CHECK(got.n == 0 && count_files(dir, "corrupt") == 0);
	free(cause);
	cause = NULL;

	/* A middle segment's last record cut short: torn-looking, but not last: refused. */
	char mid_path[512];
	uint64_t mid_first = 0;
	DIR *md = opendir(dir);
	struct dirent *mde;
	while ((mde = readdir(md)))
		if (strncmp(mde->d_name, "oplog.", 6) == 0 && strlen(mde->d_name) == 26) {
			uint64_t f = strtoull(mde->d_name + 6, NULL, 10);
			if (f > 3000 && f < 3500 && (!mid_first || f < mid_first))
				mid_first = f;
		}
	closedir(md);
	seg_path(mid_path, sizeof(mid_path), dir, mid_first);
	size_t mlen, end = 0;
	uint8_t *mimg = file_read(mid_path, &mlen);
	while (end + 8 <= mlen) {
		uint32_t l = (uint32_t)mimg[end] << 24 | (uint32_t)mimg[end + 1] << 16 |
			     (uint32_t)mimg[end + 2] << 8 | mimg[end + 3];
		if (!l)
			break;
		end += 8 + l;
	}
	file_write(mid_path, mimg, end - 3);
	CHECK(oplog_replay(dir, 2500, UINT64_MAX, collect, &got, &last, &cause) == -EUCLEAN);
	CHECK(cause && strstr(cause, "short record") && strstr(cause, "later segments follow"));
	CHECK(count_files(dir, "corrupt") == 0);
	free(cause);
	cause = NULL;
	recs_free(&got);
	file_write(mid_path, mimg, mlen);
	free(mimg);

	/* A lost segment in the middle: a seq gap, refused; --recover-to cuts at the gap. */
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t firsts[4096];
	size_t k = 0;
	while ((de = readdir(d)) && k < 4096)
		if (strncmp(de->d_name, "oplog.", 6) == 0 && strlen(de->d_name) == 26)
			firsts[k++] = strtoull(de->d_name + 6, NULL, 10);
	closedir(d);
	uint64_t victim = 0, after_victim = UINT64_MAX;
	for (size_t i = 0; i < k; i++)
		if (firsts[i] > 3500 && firsts[i] < 4000 && firsts[i] > victim)
			victim = firsts[i];
	for (size_t i = 0; i < k; i++)
		if (firsts[i] > victim && firsts[i] < after_victim)
			after_victim = firsts[i];
	char path[512];
	seg_path(path, sizeof(path), dir, victim);
	CHECK(unlink(path) == 0);
	int before = count_segments(dir);
	CHECK(oplog_replay(dir, 2500, UINT64_MAX, collect, &got, &last, &cause) == -EUCLEAN);
	CHECK(strstr(cause, "where") && count_segments(dir) == before &&
	      count_files(dir, "corrupt") == 0);
	free(cause);
	cause = NULL;
	recs_free(&got);
	CHECK(oplog_replay(dir, 2500, victim - 1, collect, &got, &last, &cause) == 0 &&
	      last == victim - 1 && same_recs(&got, &want, 2501, victim - 1));
	recs_free(&got);
	int later = 0;
	for (size_t i = 0; i < k; i++)
		later += firsts[i] > victim;
	CHECK(count_segments(dir) == before - later);
	CHECK(count_files(dir, "corrupt-0") == later);
	CHECK(after_victim != UINT64_MAX);

	/* The newest segment always stays. */
	CHECK(oplog_purge(dir, UINT64_MAX - 1) >= 0 && count_segments(dir) == 1);
	recs_free(&want);
	tmpdir_free(dir);
}

/* A disk that fails: the error is sticky, the fd wakes the loop, nothing more is accepted. */
static void test_write_error(void)
{
	char *cause = NULL, *dir = tmpdir_new(), path[512];
	seg_path(path, sizeof(path), dir, 1);
	if (symlink("/dev/full", path) < 0) {
		tmpdir_free(dir);
		return;
	}
	struct oplog *log = oplog_open(dir, 0, &cause);
	CHECK(log != NULL);
	if (!log) {
		free(cause);
		tmpdir_free(dir);
		return;
	}
	append_n(log, 1, 10, 10, NULL);
	CHECK(wait_durable(log, 10) == -ENOSPC);
	CHECK(oplog_error(log) == -ENOSPC && oplog_durable_seq(log) == 0);
	Cairn__LogRecord rec;
	Cairn__LogMknod m;
	Cairn__LogRemove r;
	char name[8];
	make_record(11, &rec, &m, &r, name, 3);
	CHECK(oplog_append(log, &rec) == 0);
	oplog_close(log);
	tmpdir_free(dir);
}

int main(void)
{
	test_roundtrip();
	test_group_commit();
	test_torn_tail();
	test_flipped_byte();
	test_zero_tail();
	test_segments();
	test_write_error();
	if (failures) {
		printf("test_oplog: %d failures\n", failures);
		return 1;
	}
	printf("test_oplog: ok\n");
	return 0;
}
