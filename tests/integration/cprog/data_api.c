/*
 * data_api: drives libcairn's data path (cairn.h only) against a running
 * cluster and checks every byte against a local model: a plain in-memory
 * copy of what each file should hold.
 *
 *   data_api META_ADDR [CHUNK_SIZE]     (CHUNK_SIZE: the metaserver's, default 1M)
 *
 * Covers: round trips of sizes around 64 KiB blocks and chunk boundaries
 * and of several chunks; pwrite over existing bytes and across a chunk
 * boundary; append; holes; reads of odd sizes, seeks and a reader after
 * close; O_EXCL / O_TRUNC; a second writer refused with -CAIRN_ELEASE;
 * chunk locations; threads writing their own files at once. Prints "ok"
 * and exits 0, or prints the first failure and exits 1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"

#define NTHREADS 4

static uint64_t chunk_size = 1u << 20;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "data_api:%d: ", __LINE__);                                \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CALL(c, expr)                                                                              \
	do {                                                                                       \
		long long rc_ = (long long)(expr);                                                 \
		CHECK(rc_ >= 0, "%s: %s (%s)", #expr, cairn_strerror((int)rc_),                    \
		      cairn_last_error(c));                                                        \
	} while (0)

/* What a file should hold. */
struct model {
	unsigned char *buf;
	size_t size, cap;
};

static void model_pwrite(struct model *m, const void *data, size_t n, size_t off)
{
	if (n == 0)
		return;
	if (off + n > m->cap) {
		size_t cap = (off + n) * 2;
		m->buf = realloc(m->buf, cap);
		CHECK(m->buf, "out of memory");
		memset(m->buf + m->cap, 0, cap - m->cap);
		m->cap = cap;
	}
	memcpy(m->buf + off, data, n);
	if (off + n > m->size)
		m->size = off + n;
}

static void model_free(struct model *m)
{
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

/* n pseudo-random bytes from seed (xorshift64). */
static unsigned char *pattern(size_t n, uint64_t seed)
{
	unsigned char *p = malloc(n ? n : 1);
	CHECK(p, "out of memory");
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
	return p;
}

/* Reads path whole in reads of step bytes and compares with m. */
static void verify(cairn_t *c, const char *path, const struct model *m, size_t step)
{
	struct cairn_stat st;
	CALL(c, cairn_stat(c, path, &st));
	CHECK(st.size == m->size, "%s: size %llu, want %zu", path, (unsigned long long)st.size,
	      m->size);
	cairn_file_t *f;
	CALL(c, cairn_open(c, path, CAIRN_O_RDONLY, 0, &f));
	unsigned char *got = malloc(m->size + step + 1);
	CHECK(got, "out of memory");
	size_t have = 0;
	for (;;) {
		ssize_t r = cairn_read(f, got + have, step);
		CALL(c, r);
		if (r == 0)
			break;
		have += (size_t)r;
		CHECK(have <= m->size, "%s: read past the end (%zu > %zu)", path, have, m->size);
	}
	CHECK(have == m->size, "%s: read %zu bytes, want %zu", path, have, m->size);
	for (size_t i = 0; i < have; i++)
		CHECK(got[i] == m->buf[i], "%s: byte %zu is %u, want %u (step %zu)", path, i,
		      got[i], m->buf[i], step);
	CALL(c, cairn_close(f));
	free(got);
}

/* Random-offset preads checked against the model. */
static void verify_preads(cairn_t *c, const char *path, const struct model *m, uint64_t seed)
{
	cairn_file_t *f;
	CALL(c, cairn_open(c, path, CAIRN_O_RDONLY, 0, &f));
	unsigned char buf[200000];
	uint64_t x = seed | 1;
	for (int i = 0; i < 40; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t off = m->size ? (size_t)(x % (m->size + 10)) : 0;
		size_t n = (size_t)((x >> 32) % sizeof(buf));
		ssize_t r = cairn_pread(f, buf, n, off);
		CALL(c, r);
		size_t want = off >= m->size ? 0 : m->size - off < n ? m->size - off : n;
		CHECK((size_t)r == want, "%s: pread(%zu, %zu) gave %zd, want %zu", path, n, off, r,
		      want);
		CHECK(memcmp(buf, m->buf + (off < m->size ? off : 0), want) == 0,
		      "%s: pread(%zu, %zu) bytes differ", path, n, off);
	}
	CALL(c, cairn_close(f));
}

/* Writes a new file of n bytes in writes of step bytes and checks it back. */
static void round_trip(cairn_t *c, const char *path, size_t n, size_t step, uint64_t seed)
{
	struct model m = {0};
	unsigned char *data = pattern(n, seed);
	cairn_file_t *f;
	CALL(c, cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_TRUNC, 0, &f));
	for (size_t off = 0; off < n; off += step) {
		size_t k = n - off < step ? n - off : step;
		ssize_t w = cairn_write(f, data + off, k);
		CALL(c, w);
		CHECK((size_t)w == k, "%s: short write %zd of %zu", path, w, k);
	}
	CALL(c, cairn_close(f));
	model_pwrite(&m, data, n, 0);
	verify(c, path, &m, 65536);
	verify(c, path, &m, 7777);
	verify(c, path, &m, 3u << 20);
	free(data);
	model_free(&m);
}

static void test_sizes(cairn_t *c)
{
	const size_t sizes[] = {0,
				1,
				65535,
				65536,
				65537,
				chunk_size - 1,
				chunk_size,
				chunk_size + 1,
				3 * chunk_size + 12345,
				5 * chunk_size};
	char path[64];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(path, sizeof(path), "/sizes/f%zu", sizes[i]);
		round_trip(c, path, sizes[i], 1u << 20, i + 1);
	}
	round_trip(c, "/sizes/small-writes", 2 * chunk_size + 999, 4096 + 17, 99);
	round_trip(c, "/sizes/big-writes", 4 * chunk_size + 3, 3 * chunk_size + 5, 98);
}

/* pwrite over existing bytes, across a chunk boundary, past the end; then append. */
static void test_pwrite_append(cairn_t *c)
{
	const char *path = "/rw/model";
	struct model m = {0};
	size_t base = 2 * chunk_size + 5000;
	unsigned char *data = pattern(base, 7);
	cairn_file_t *f;
	CALL(c, cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_EXCL, 0640, &f));
	CALL(c, cairn_write(f, data, base));
	model_pwrite(&m, data, base, 0);
	CALL(c, cairn_close(f));
	free(data);
	verify(c, path, &m, 65536);

	/*
	 * A new open rewrites the middle, straddles a boundary, extends; and
	 * from a block boundary: a whole block (its CRC is the frame's), one
	 * block and a bit of the next, a bit of one block (old bytes kept).
	 */
	struct {
		size_t off, n;
	} edits[] = {
	    {100, 10},		 {70000, 65536},	  {chunk_size - 3000, 6000},
	    {chunk_size / 2, 1}, {2 * chunk_size - 1, 2}, {base - 10, 20000},
	    {262144, 65536},	 {393216, 65536 + 100},	  {589824, 1000},
	};
	CALL(c, cairn_open(c, path, CAIRN_O_RDWR, 0, &f));
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		unsigned char *d = pattern(edits[i].n, 100 + i);
		ssize_t w = cairn_pwrite(f, d, edits[i].n, edits[i].off);
		CHECK(w == (ssize_t)edits[i].n, "pwrite %zu at %zu: %zd (%s)", edits[i].n,
		      edits[i].off, w, w < 0 ? cairn_strerror((int)w) : "");
		model_pwrite(&m, d, edits[i].n, edits[i].off);
		free(d);
	}
	/* Read our own writes through the same handle, also over bytes read before. */
	unsigned char buf[8192];
	ssize_t r = cairn_pread(f, buf, sizeof(buf), chunk_size - 4000);
	CHECK(r == (ssize_t)sizeof(buf) && memcmp(buf, m.buf + chunk_size - 4000, sizeof(buf)) == 0,
	      "read-your-writes across the boundary: %zd", r);
	for (size_t off = 0; off < 200; off += 100) { /* sequential: a read-ahead window */
		r = cairn_pread(f, buf, 100, off);
		CHECK(r == 100 && memcmp(buf, m.buf + off, 100) == 0, "read at %zu: %zd", off, r);
	}
	CALL(c, cairn_pwrite(f, "again", 5, 250));
	model_pwrite(&m, "again", 5, 250);
	r = cairn_pread(f, buf, sizeof(buf), 200);
	CHECK(r == (ssize_t)sizeof(buf) && memcmp(buf, m.buf + 200, sizeof(buf)) == 0,
	      "a read after a write over bytes read ahead: %zd", r);
	CALL(c, cairn_fsync(f));
	CALL(c, cairn_close(f));
	verify(c, path, &m, 65536);
	verify_preads(c, path, &m, 5);

	/* Append goes to the end whatever the position. */
	CALL(c, cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_APPEND, 0, &f));
	CALL(c, cairn_seek(f, 0, SEEK_SET));
	for (int i = 0; i < 3; i++) {
		size_t n = 40000 + (size_t)i * 300000;
		unsigned char *d = pattern(n, 200 + (uint64_t)i);
		CALL(c, cairn_write(f, d, n));
		model_pwrite(&m, d, n, m.size);
		free(d);
	}
	CHECK(cairn_seek(f, 0, SEEK_CUR) == (int64_t)m.size, "position after appends");
	CALL(c, cairn_close(f));
	verify(c, path, &m, 100000);

	/* A hole: writing past the end leaves zeros, also in whole skipped chunks. */
	CALL(c, cairn_open(c, path, CAIRN_O_WRONLY, 0, &f));
	size_t far = m.size + 2 * chunk_size + 777;
	CALL(c, cairn_pwrite(f, "tail", 4, far));
	model_pwrite(&m, "tail", 4, far);
	CALL(c, cairn_close(f));
	verify(c, path, &m, 65536);
	verify_preads(c, path, &m, 6);

	/* O_TRUNC empties it. */
	CALL(c, cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_TRUNC, 0, &f));
	CALL(c, cairn_close(f));
	model_free(&m);
	verify(c, path, &m, 4096);
}

/* Seeks and odd reads on one open. */
static void test_seek(cairn_t *c)
{
	const char *path = "/rw/seek";
	size_t n = chunk_size + 100000;
	unsigned char *d = pattern(n, 31);
	cairn_file_t *f;
	CALL(c, cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_CREAT, 0, &f));
	CALL(c, cairn_write(f, d, n));
	CALL(c, cairn_close(f));
	CALL(c, cairn_open(c, path, CAIRN_O_RDONLY, 0, &f));
	CHECK(cairn_seek(f, 0, SEEK_END) == (int64_t)n, "SEEK_END");
	CHECK(cairn_seek(f, -10, SEEK_END) == (int64_t)n - 10, "SEEK_END -10");
	unsigned char buf[64];
	CHECK(cairn_read(f, buf, sizeof(buf)) == 10 && memcmp(buf, d + n - 10, 10) == 0,
	      "read at the end");
	CHECK(cairn_read(f, buf, sizeof(buf)) == 0, "read at EOF");
	CHECK(cairn_seek(f, -1, SEEK_SET) == -EINVAL, "negative seek");
	CHECK(cairn_seek(f, (int64_t)chunk_size - 5, SEEK_SET) == (int64_t)chunk_size - 5,
	      "SEEK_SET");
	CHECK(cairn_read(f, buf, 20) == 20 && memcmp(buf, d + chunk_size - 5, 20) == 0,
	      "read across the boundary");
	CHECK(cairn_write(f, "x", 1) == -EBADF, "write on a reader");
	CALL(c, cairn_close(f));
	CALL(c, cairn_open(c, path, CAIRN_O_WRONLY, 0, &f));
	CHECK(cairn_read(f, buf, 1) == -EBADF, "read on a write-only open");
	CALL(c, cairn_close(f));
	free(d);
}

static void test_errors(cairn_t *c)
{
	cairn_file_t *f, *g;
	CHECK(cairn_open(c, "/nothing/here", CAIRN_O_RDONLY, 0, &f) == -ENOENT, "open missing");
	CHECK(cairn_open(c, "/rw/x", CAIRN_O_RDONLY | CAIRN_O_TRUNC, 0, &f) == -EINVAL,
	      "O_TRUNC on a reader");
	CHECK(cairn_open(c, "/rw", CAIRN_O_RDONLY, 0, &f) == -EISDIR, "open a directory");
	CALL(c, cairn_open(c, "/rw/lease", CAIRN_O_WRONLY | CAIRN_O_CREAT, 0, &f));
	CHECK(cairn_open(c, "/rw/lease", CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_EXCL, 0, &g) ==
		  -EEXIST,
	      "O_EXCL on an existing file");
	int rc = cairn_open(c, "/rw/lease", CAIRN_O_WRONLY, 0, &g);
	CHECK(rc == -CAIRN_ELEASE, "second writer: %s, want -CAIRN_ELEASE", cairn_strerror(rc));
	CALL(c, cairn_write(f, "abc", 3));
	/* A reader may open meanwhile; it sees the size of the last close (0). */
	CALL(c, cairn_open(c, "/rw/lease", CAIRN_O_RDONLY, 0, &g));
	char buf[4];
	CHECK(cairn_read(g, buf, sizeof(buf)) == 0, "reader before the writer's close");
	CALL(c, cairn_close(g));
	CALL(c, cairn_close(f));
	/* Close-to-open: an open after the close sees the bytes. */
	CALL(c, cairn_open(c, "/rw/lease", CAIRN_O_RDONLY, 0, &g));
	CHECK(cairn_read(g, buf, sizeof(buf)) == 3 && memcmp(buf, "abc", 3) == 0,
	      "reader after the writer's close");
	CALL(c, cairn_close(g));
	/* The lease is free again. */
	CALL(c, cairn_open(c, "/rw/lease", CAIRN_O_WRONLY | CAIRN_O_APPEND, 0, &f));
	CALL(c, cairn_write(f, "d", 1));
	CALL(c, cairn_close(f));
}

static void test_locations(cairn_t *c)
{
	const char *path = "/rw/locs";
	size_t n = 3 * chunk_size + 10;
	unsigned char *d = pattern(n, 41);
	cairn_file_t *f;
	CALL(c, cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_TRUNC, 0, &f));
	CALL(c, cairn_write(f, d, n));
	CALL(c, cairn_close(f));
	free(d);
	struct cairn_chunk_loc *locs;
	size_t nl;
	CALL(c, cairn_chunk_locations(c, path, 0, 0, &locs, &nl));
	CHECK(nl == 4, "%zu chunks, want 4", nl);
	for (size_t i = 0; i < nl; i++) {
		CHECK(locs[i].index == i && locs[i].offset == i * chunk_size, "chunk %zu offset",
		      i);
		CHECK(locs[i].length == (i < 3 ? chunk_size : 10), "chunk %zu length %llu", i,
		      (unsigned long long)locs[i].length);
		CHECK(locs[i].nreplicas >= 1 && locs[i].chunk_id, "chunk %zu replicas", i);
	}
	cairn_chunk_locations_free(locs, nl);
	CALL(c, cairn_chunk_locations(c, path, chunk_size + 1, 10, &locs, &nl));
	CHECK(nl == 1 && locs[0].index == 1, "one chunk in range: %zu", nl);
	cairn_chunk_locations_free(locs, nl);
	CALL(c, cairn_chunk_locations(c, path, chunk_size - 1, 2, &locs, &nl));
	CHECK(nl == 2, "two chunks across a boundary: %zu", nl);
	cairn_chunk_locations_free(locs, nl);
}

struct worker {
	cairn_t *c;
	int id;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char path[64];
	snprintf(path, sizeof(path), "/threads/t%d", w->id);
	round_trip(w->c, path, 2 * chunk_size + 1000 * (size_t)w->id, 300000,
		   500 + (uint64_t)w->id);
	return NULL;
}

static void test_threads(cairn_t *c)
{
	pthread_t t[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i].c = c;
		w[i].id = i;
		CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: data_api META_ADDR [CHUNK_SIZE]\n");
		return 2;
	}
	if (argc == 3)
		chunk_size = strtoull(argv[2], NULL, 0);
	struct cairn_options opt = {0};
	opt.timeout_ms = 20000;
	cairn_t *c;
	CHECK(cairn_connect(argv[1], &opt, &c) == 0, "connect %s", argv[1]);
	CALL(c, cairn_mkdirs(c, "/sizes", 0));
	CALL(c, cairn_mkdirs(c, "/rw", 0));
	CALL(c, cairn_mkdirs(c, "/threads", 0));
	test_sizes(c);
	test_pwrite_append(c);
	test_seek(c);
	test_errors(c);
	test_locations(c);
	test_threads(c);
	cairn_disconnect(c);
	printf("ok\n");
	return 0;
}
