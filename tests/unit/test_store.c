/*
 * test_store: the chunk store against an in-memory model of each replica's
 * bytes, on real temp dirs under /tmp, driven through a real event loop.
 * Covers round trips at the edge sizes, appends and overwrites across
 * blocks, reopen, damaged blocks and headers, torn writes (crafted, after
 * store_close() without sync, and after a crashed process), versions,
 * removal, a data dir vanishing under the running store, capacity, many
 * ops in flight, and prints (does not assert) sequential throughput.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "chunkfile.h"
#include "crc32c.h"
#include "errors.h"
#include "log.h"
#include "store.h"

#include "check.h"

#define BS  CHUNKFILE_BLOCK_SIZE
#define HDR CHUNKFILE_HEADER_SIZE

static struct event_base *base;
static struct store *st;
static char root[64];
static char dir0[128], dir1[128];

/* ---- plumbing ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static uint64_t lost_ids[64];
static size_t nlost;

static void on_lost(const uint64_t *ids, size_t n, void *arg)
{
	for (size_t i = 0; i < n; i++) {
		if (nlost < 64)
			lost_ids[nlost] = ids[i];
		nlost++;
	}
}

static struct store *open_dirs(const char *a, const char *b, uint64_t capacity)
{
	const char *dirs[2] = {a, b};
	char *cause = NULL;
	struct store *s = store_open(dirs, b ? 2 : 1, capacity, base, on_lost, NULL, &cause);
	if (!s)
		fprintf(stderr, "store_open: %s\n", cause ? cause : "?");
	free(cause);
	return s;
}

static void reopen(uint64_t capacity)
{
	store_close(st);
	st = open_dirs(dir0, NULL, capacity);
	CHECK(st != NULL);
}

struct waiter {
	int done;
	int err;
	struct evbuffer *out;
};

static void on_done(int err, struct evbuffer *data, void *arg)
{
	struct waiter *w = arg;
	w->done++;
	w->err = err;
	if (data && w->out)
		evbuffer_add_buffer(w->out, data);
}

static int wait_for(struct waiter *w)
{
	while (!w->done)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK(w->done == 1);
	return w->err;
}

static int t_create(uint64_t id, uint64_t version)
{
	struct waiter w = {0};
	store_create(st, id, version, id * 10, on_done, &w);
	CHECK(w.done == 0); /* never called back from inside */
	return wait_for(&w);
}

static int t_write(uint64_t id, uint64_t off, const void *p, size_t n)
{
	struct waiter w = {0};
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, p, n);
	store_write(st, id, off, b, on_done, &w);
	CHECK(evbuffer_get_length(b) == 0);
	evbuffer_free(b);
	return wait_for(&w);
}

/* Reads into a new *out (free with free()), *n bytes. */
static int t_read(uint64_t id, uint64_t off, uint64_t len, uint8_t **out, size_t *n)
{
	struct waiter w = {0};
	w.out = evbuffer_new();
	store_read(st, id, off, len, on_done, &w);
	int err = wait_for(&w);
	*n = evbuffer_get_length(w.out);
	*out = malloc(*n + 1);
	evbuffer_remove(w.out, *out, *n);
	evbuffer_free(w.out);
	return err;
}

#define T_OP(name, call)                                                                           \
	static int name(uint64_t id)                                                               \
	{                                                                                          \
		struct waiter w = {0};                                                             \
		call;                                                                              \
		return wait_for(&w);                                                               \
	}
T_OP(t_sync, store_sync(st, id, on_done, &w))
T_OP(t_remove, store_remove(st, id, on_done, &w))
T_OP(t_scrub, store_scrub(st, id, on_done, &w))

static int t_setver(uint64_t id, uint64_t v)
{
	struct waiter w = {0};
	store_set_version(st, id, v, on_done, &w);
	return wait_for(&w);
}

/* Reads [off, off+len) and compares with the model; returns 1 if equal. */
static int same_as(uint64_t id, const uint8_t *model, size_t mlen, uint64_t off, uint64_t len)
{
	uint8_t *got;
	size_t n;
	int err = t_read(id, off, len, &got, &n);
	size_t want = off >= mlen ? 0 : (mlen - off < len ? mlen - off : len);
	int ok = err == 0 && n == want && memcmp(got, model + off, n) == 0;
	if (!ok)
		fprintf(stderr, "chunk %llx read %llu+%llu: err %d, %zu bytes, want %zu\n",
			(unsigned long long)id, (unsigned long long)off, (unsigned long long)len,
			err, n, want);
	free(got);
	return ok;
}

static void path_of(char *buf, size_t size, const char *dir, uint64_t id)
{
	char rel[CHUNKFILE_RELPATH_MAX];
	chunkfile_relpath(rel, id);
	snprintf(buf, size, "%s/%s", dir, rel);
}

static void flip_byte(const char *dir, uint64_t id, uint64_t file_off)
{
	char p[256];
	path_of(p, sizeof(p), dir, id);
	int fd = open(p, O_RDWR);
	uint8_t c = 0;
	CHECK(fd >= 0 && pread(fd, &c, 1, (off_t)file_off) == 1);
	c ^= 0x20;
	CHECK(pwrite(fd, &c, 1, (off_t)file_off) == 1);
	close(fd);
}

static int exists(const char *p)
{
	struct stat s;
	return stat(p, &s) == 0;
}

static int rm_one(const char *p, const struct stat *s, int flag, struct FTW *f)
{
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- tests ---- */

static void test_round_trips(void)
{
	const size_t sizes[] = {0, 1, BS - 1, BS, BS + 1, (1 << 20) + 3};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t id = 0x100 + i;
		size_t n = sizes[i];
		uint8_t *m = malloc(n + 1);
		fill(m, n);
		CHECK(t_create(id, 1) == 0);
		CHECK(t_write(id, 0, m, n) == 0);
		CHECK(same_as(id, m, n, 0, n + 100));
		CHECK(same_as(id, m, n, n / 3, n / 2 + 1));
		CHECK(same_as(id, m, n, n, 10)); /* at the end: empty */
		uint8_t *got;
		size_t k;
		CHECK(t_read(id, n + 1, 10, &got, &k) == -EINVAL);
		free(got);
		struct store_chunk_info info;
		CHECK(store_lookup(st, id, &info) == 0 && info.length == n && info.version == 1 &&
		      info.file_id == id * 10 &&
		      info.open); /* a new replica is OPEN until synced */
		CHECK(t_sync(id) == 0);
		CHECK(store_lookup(st, id, &info) == 0 && info.open == 0);
		free(m);
	}
	CHECK(t_create(0x100, 1) == -EEXIST);
	CHECK(t_write(0x999, 0, "x", 1) == -ENOENT);
	CHECK(t_sync(0x999) == -ENOENT);
	reopen(0);
	struct store_chunk_info info;
	CHECK(store_lookup(st, 0x105, &info) == 0 && info.length == (1 << 20) + 3 && !info.open);
}

/* One chunk built of odd-sized appends, then overwritten all over. */
static void test_appends_overwrites(void)
{
	const uint64_t id = 0x200;
	const size_t cap = 3 << 20;
	uint8_t *m = malloc(cap), *piece = malloc(cap);
	size_t len = 0;
	CHECK(t_create(id, 3) == 0);
	const size_t pieces[] = {1, 7, 4093, 65535, 65537, 100000, 3, 131072, 5000, 65536, 333333};
	for (unsigned i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		fill(m + len, pieces[i]);
		CHECK(t_write(id, len, m + len, pieces[i]) == 0);
		len += pieces[i];
		CHECK(same_as(id, m, len, len > 70000 ? len - 70000 : 0, 70000));
	}
	CHECK(same_as(id, m, len, 0, cap));
	const uint64_t ow[][2] = {{100, 10},	  {BS - 6, 20},	 {2 * BS - 1, BS + 2}, {0, 1},
				  {3 * BS, BS},	  {len - 5, 20}, {len + 15 - 1, 1},    {BS, 3 * BS},
				  {5, 5 * BS + 7}};
	for (unsigned i = 0; i < sizeof(ow) / sizeof(ow[0]); i++) {
		fill(piece, ow[i][1]);
		memcpy(m + ow[i][0], piece, ow[i][1]);
		CHECK(t_write(id, ow[i][0], piece, ow[i][1]) == 0);
		if (ow[i][0] + ow[i][1] > len)
			len = ow[i][0] + ow[i][1];
	}
	CHECK(same_as(id, m, len, 0, cap));
	for (int i = 0; i < 60; i++) {
		uint64_t off = rnd() % (len + 1), n = 1 + rnd() % (i % 3 ? 3000 : 200000);
		if (off + n > cap)
			n = cap - off;
		fill(piece, n);
		memcpy(m + off, piece, n);
		CHECK(t_write(id, off, piece, n) == 0);
		if (off + n > len)
			len = off + n;
		uint64_t roff = rnd() % len;
		CHECK(same_as(id, m, len, roff, 1 + rnd() % 300000));
	}
	CHECK(same_as(id, m, len, 0, cap));
	CHECK(t_write(id, len + 1, "x", 1) == -EINVAL); /* no holes */
	CHECK(t_write(id, CHUNKFILE_MAX_SIZE - 1, "xy", 2) == -EINVAL);
	CHECK(t_write(id, len, "", 0) == 0);
	CHECK(t_sync(id) == 0);
	reopen(0);
	CHECK(same_as(id, m, len, 0, cap));
	struct store_chunk_info info;
	CHECK(store_lookup(st, id, &info) == 0 && info.length == len && info.version == 3);
	CHECK(t_scrub(id) == 0);
	free(m);
	free(piece);
}

static void test_bad_block(void)
{
	const uint64_t id = 0x300;
	size_t n = 5 * BS + 1234;
	uint8_t *m = malloc(n), *got;
	size_t k;
	fill(m, n);
	CHECK(t_create(id, 1) == 0);
	CHECK(t_write(id, 0, m, n) == 0);
	CHECK(t_sync(id) == 0);
	reopen(0);
	flip_byte(dir0, id, HDR + 2 * BS + 100);
	CHECK(t_read(id, 2 * BS + 5000, 10, &got, &k) == -CAIRN_ECHECKSUM && k == 0);
	free(got);
	struct store_chunk_info info;
	CHECK(store_lookup(st, id, &info) == 0 && info.corrupt);
	CHECK(same_as(id, m, n, 0, 2 * BS));
	CHECK(same_as(id, m, n, 3 * BS, n));
	CHECK(t_read(id, 0, n, &got, &k) == -CAIRN_ECHECKSUM);
	free(got);
	CHECK(t_scrub(id) == -CAIRN_ECHECKSUM);
	/* A partial write into the bad block is refused and writes nothing. */
	CHECK(t_write(id, 2 * BS + 10, "abc", 3) == -CAIRN_ECHECKSUM);
	CHECK(same_as(id, m, n, 3 * BS, n));
	/* A whole-block overwrite replaces it. */
	fill(m + 2 * BS, BS);
	CHECK(t_write(id, 2 * BS, m + 2 * BS, BS) == 0);
	CHECK(same_as(id, m, n, 0, n));
	CHECK(t_scrub(id) == 0);
	/* Damage under the running store, to an unsynced (OPEN) replica. */
	flip_byte(dir0, id, HDR + n - 1);
	CHECK(t_read(id, n - 10, 10, &got, &k) == -CAIRN_ECHECKSUM);
	free(got);
	CHECK(t_read(id, n - 1234 - 10, 10, &got, &k) == 0 && k == 10);
	free(got);
	free(m);
}

static void test_bad_header(void)
{
	const uint64_t a = 0x400, b = 0x401;
	size_t n = 3 * BS + 77;
	uint8_t *m = malloc(2 * n);
	fill(m, 2 * n);
	CHECK(t_create(a, 1) == 0 && t_write(a, 0, m, n) == 0 && t_sync(a) == 0);
	/* b: two syncs, so the older slot still describes the first n bytes. */
	CHECK(t_create(b, 1) == 0 && t_write(b, 0, m, n) == 0 && t_sync(b) == 0);
	CHECK(t_write(b, n, m + n, n) == 0 && t_sync(b) == 0);
	store_close(st);
	st = NULL;
	flip_byte(dir0, a, 40);
	flip_byte(dir0, a, CHUNKFILE_SLOT_SIZE + 40);
	flip_byte(dir0, b, 40); /* the newest slot of b (seq 6) */
	reopen(0);
	struct store_chunk_info info;
	char p[256];
	CHECK(store_lookup(st, a, &info) == -ENOENT);
	snprintf(p, sizeof(p), "%s/corrupt/%016llx.chk", dir0, (unsigned long long)a);
	CHECK(exists(p));
	path_of(p, sizeof(p), dir0, a);
	CHECK(!exists(p));
	CHECK(store_lookup(st, b, &info) == 0 && info.length == n);
	CHECK(same_as(b, m, n, 0, 2 * n));
	/* Damage to the newest header under the running store: scrub rewrites it. */
	CHECK(t_write(b, n, m + n, n) == 0 && t_sync(b) == 0); /* seqs 7, 8: slot 0 newest */
	flip_byte(dir0, b, 30);
	CHECK(t_scrub(b) == 0);
	reopen(0);
	CHECK(store_lookup(st, b, &info) == 0 && info.length == 2 * n);
	CHECK(same_as(b, m, 2 * n, 0, 2 * n));
	free(m);
}

/* Unsynced writes, then damage, then a restart: cut back to verified blocks. */
static void test_torn_after_close(void)
{
	const uint64_t a = 0x500, b = 0x501;
	uint8_t *m = malloc(500000);
	fill(m, 500000);
	for (uint64_t id = a; id <= b; id++) {
		CHECK(t_create(id, 1) == 0 && t_write(id, 0, m, 300000) == 0 && t_sync(id) == 0);
		CHECK(t_write(id, 300000, m + 300000, 200000) == 0);
	}
	store_close(st); /* no sync: both stay OPEN, with their current CRCs */
	st = NULL;
	flip_byte(dir0, a, HDR + 5 * BS + 10);
	char p[256];
	path_of(p, sizeof(p), dir0, b);
	CHECK(truncate(p, HDR + 400000) == 0);
	reopen(0);
	struct store_chunk_info info;
	CHECK(store_lookup(st, a, &info) == 0 && info.length == 5 * BS && !info.open);
	CHECK(same_as(a, m, 5 * BS, 0, 500000));
	CHECK(store_lookup(st, b, &info) == 0 && info.length == 6 * BS);
	CHECK(same_as(b, m, 6 * BS, 0, 500000));
	reopen(0); /* repaired for good */
	CHECK(store_lookup(st, a, &info) == 0 && info.length == 5 * BS);
	CHECK(t_scrub(a) == 0 && t_scrub(b) == 0);
	free(m);
}

/* A replica crafted OPEN on disk, plus stray files, before the store opens. */
static void test_torn_crafted(void)
{
	store_close(st);
	st = NULL;
	const uint64_t id = 0x5a5;
	size_t n = 4 * BS - 100;
	uint8_t *m = malloc(n);
	fill(m, n);
	struct chunkfile_header *h = calloc(1, sizeof(*h));
	uint8_t *slot = calloc(1, CHUNKFILE_SLOT_BYTES);
	h->seq = 9;
	h->chunk_id = id;
	h->version = 4;
	h->length = n;
	h->state = CHUNKFILE_OPEN;
	for (int b = 0; b < 4; b++)
		h->crc[b] = crc32c(0, m + b * BS, b == 3 ? BS - 100 : BS);
	h->crc[2] ^= 1;
	CHECK(chunkfile_encode(h, slot) == 0);
	char p[256];
	path_of(p, sizeof(p), dir0, id);
	int fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, slot, CHUNKFILE_SLOT_BYTES, (off_t)chunkfile_slot_offset(h->seq)) ==
	      (ssize_t)CHUNKFILE_SLOT_BYTES);
	CHECK(pwrite(fd, m, n, HDR) == (ssize_t)n);
	close(fd);
	snprintf(p, sizeof(p), "%s/chunks/00/notes.txt", dir0);
	fd = open(p, O_RDWR | O_CREAT, 0644);
	close(fd);
	snprintf(p, sizeof(p), "%s/chunks/01/0000000000000002.chk", dir0);
	fd = open(p, O_RDWR | O_CREAT, 0644);
	close(fd);
	reopen(0);
	struct store_chunk_info info;
	CHECK(store_lookup(st, id, &info) == 0 && info.length == 2 * BS && info.version == 4);
	CHECK(same_as(id, m, 2 * BS, 0, n));
	snprintf(p, sizeof(p), "%s/chunks/00/notes.txt", dir0);
	CHECK(exists(p));
	snprintf(p, sizeof(p), "%s/corrupt/0000000000000002.chk", dir0);
	CHECK(exists(p));
	free(h);
	free(slot);
	free(m);
}

/* A process that dies mid-write (no close at all): what was synced survives. */
static void test_torn_crash(void)
{
	const uint64_t a = 0x600, b = 0x601;
	uint8_t *m = malloc(300000), *m2 = malloc(BS);
	fill(m, 300000);
	fill(m2, BS);
	store_close(st);
	st = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		event_base_free(base);
		base = event_base_new();
		st = open_dirs(dir0, NULL, 0);
		int ok = st && t_create(a, 1) == 0 && t_write(a, 0, m, 200000) == 0 &&
			 t_sync(a) == 0 && t_write(a, 200000, m + 200000, 100000) == 0 &&
			 t_create(b, 1) == 0 && t_write(b, 0, m, 300000) == 0 && t_sync(b) == 0 &&
			 t_write(b, BS + 5, m2, 1000) == 0;
		_exit(ok ? 0 : 1);
	}
	int status = -1;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	reopen(0);
	struct store_chunk_info info;
	CHECK(store_lookup(st, a, &info) == 0 && info.length == 200000);
	CHECK(same_as(a, m, 200000, 0, 300000));
	CHECK(store_lookup(st, b, &info) == 0 && info.length == BS);
	CHECK(same_as(b, m, BS, 0, 300000));
	free(m);
	free(m2);
}

static void test_version_remove(void)
{
	const uint64_t id = 0x700;
	CHECK(t_create(id, 1) == 0 && t_write(id, 0, "hello", 5) == 0);
	CHECK(t_setver(id, 5) == 0);
	struct store_chunk_info info;
	CHECK(store_lookup(st, id, &info) == 0 && info.version == 5);
	CHECK(t_sync(id) == 0);
	reopen(0);
	CHECK(store_lookup(st, id, &info) == 0 && info.version == 5 && info.length == 5);
	CHECK(t_setver(id, 6) == 0);
	reopen(0);
	CHECK(store_lookup(st, id, &info) == 0 && info.version == 6);
	CHECK(t_remove(id) == 0);
	CHECK(store_lookup(st, id, &info) == -ENOENT);
	char p[256];
	path_of(p, sizeof(p), dir0, id);
	CHECK(!exists(p));
	uint8_t *got;
	size_t k;
	CHECK(t_read(id, 0, 5, &got, &k) == -ENOENT);
	free(got);
	CHECK(t_remove(id) == -ENOENT);
	CHECK(t_create(id, 7) == 0);
	CHECK(store_lookup(st, id, &info) == 0 && info.length == 0 && info.version == 7);
	CHECK(t_remove(id) == 0);
	/* A file deleted behind the store's back is reported lost at the next sync. */
	CHECK(t_create(id, 1) == 0 && t_write(id, 0, "x", 1) == 0);
	CHECK(unlink(p) == 0);
	nlost = 0;
	CHECK(t_sync(id) == -ENOENT);
	CHECK(nlost == 1 && lost_ids[0] == id);
	CHECK(store_lookup(st, id, &info) == -ENOENT);
}

/* Replicas written and left unsynced in more files than the handle cache holds. */
static void test_many_handles(void)
{
	enum { N = 300 };
	uint8_t m[1000];
	fill(m, sizeof(m));
	for (uint64_t i = 0; i < N; i++) {
		CHECK(t_create(0x1000 + i, 1) == 0);
		CHECK(t_write(0x1000 + i, 0, m, 500 + i) == 0);
	}
	int bad = 0;
	for (uint64_t i = 0; i < N; i++)
		bad += !same_as(0x1000 + i, m, 500 + i, 0, 1000);
	reopen(0); /* all OPEN: verified at open, all intact */
	for (uint64_t i = 0; i < N; i++) {
		struct store_chunk_info info;
		bad += store_lookup(st, 0x1000 + i, &info) != 0 || info.length != 500 + i;
		bad += !same_as(0x1000 + i, m, 500 + i, 0, 1000);
	}
	CHECK(bad == 0);
	for (uint64_t i = 0; i < N; i++)
		bad += t_remove(0x1000 + i) != 0;
	CHECK(bad == 0);
}

static void count_chunk(const struct store_chunk_info *info, void *arg)
{
	(*(int *)arg)++;
}

static void test_dir_fails(void)
{
	store_close(st);
	rm_rf(dir0); /* both dirs empty: new replicas alternate */
	mkdir(dir0, 0755);
	st = open_dirs(dir0, dir1, 0);
	CHECK(st != NULL);
	uint8_t m[5000];
	fill(m, sizeof(m));
	int on1 = 0;
	uint64_t ids1[10];
	for (uint64_t i = 0; i < 10; i++) {
		CHECK(t_create(0x800 + i, 1) == 0 && t_write(0x800 + i, 0, m, 5000) == 0);
		CHECK(t_sync(0x800 + i) == 0);
		struct store_chunk_info info;
		CHECK(store_lookup(st, 0x800 + i, &info) == 0);
		if (info.dir == 1)
			ids1[on1++] = 0x800 + i;
	}
	CHECK(on1 == 5); /* new replicas spread over equal dirs */
	int before = 0;
	store_foreach(st, count_chunk, &before);
	/* The dir vanishes and a file takes its name. */
	rm_rf(dir1);
	int fd = open(dir1, O_RDWR | O_CREAT, 0644);
	close(fd);
	nlost = 0;
	store_check_dirs(st);
	while (nlost == 0)
		event_base_loop(base, EVLOOP_ONCE);
	uint8_t *got;
	size_t k;
	CHECK(t_read(ids1[0], 0, 10, &got, &k) == -EIO);
	free(got);
	CHECK(nlost == 5);
	for (size_t i = 0; i < nlost && i < 5; i++) {
		int found = 0;
		for (int j = 0; j < 5; j++)
			found |= lost_ids[i] == ids1[j];
		CHECK(found);
	}
	struct store_chunk_info info;
	CHECK(store_lookup(st, ids1[1], &info) == -EIO);
	CHECK(t_write(ids1[1], 5000, "x", 1) == -EIO);
	int after = 0;
	store_foreach(st, count_chunk, &after);
	CHECK(after == before - 5);
	struct store_dir_stats ds;
	store_dir_stats(st, 1, &ds);
	CHECK(ds.failed && ds.chunks == 0);
	store_dir_stats(st, 0, &ds);
	CHECK(!ds.failed && ds.chunks > 0 && ds.free > 0 && ds.used > 0);
	for (uint64_t i = 0; i < 10; i++) {
		if (store_lookup(st, 0x800 + i, &info) == 0)
			CHECK(same_as(0x800 + i, m, 5000, 0, 5000));
	}
	CHECK(t_create(0x8ff, 1) == 0 && store_lookup(st, 0x8ff, &info) == 0 && info.dir == 0);
	CHECK(t_create(ids1[2], 2) == 0); /* a lost replica can be created anew */
	store_close(st);
	/* At start: a bad dir is left out, and with none usable open fails. */
	st = open_dirs(dir0, dir1, 0);
	CHECK(st != NULL);
	store_dir_stats(st, 1, &ds);
	CHECK(ds.failed);
	CHECK(store_lookup(st, 0x8ff, &info) == 0);
	store_close(st);
	const char *bad[1] = {dir1};
	char *cause = NULL;
	st = store_open(bad, 1, 0, base, NULL, NULL, &cause);
	CHECK(st == NULL && cause && strstr(cause, dir1));
	free(cause);
	unlink(dir1);
	mkdir(dir1, 0755);
	st = open_dirs(dir0, NULL, 0);
}

/* The same chunk in two dirs (say, a disk moved between servers). */
static void test_duplicates(void)
{
	uint8_t m[3000];
	fill(m, sizeof(m));
	store_close(st);
	st = open_dirs(dir1, NULL, 0);
	CHECK(t_create(0xd0, 2) == 0 && t_write(0xd0, 0, m, 1000) == 0 && t_sync(0xd0) == 0);
	CHECK(t_create(0xd1, 1) == 0 && t_write(0xd1, 0, m, 1000) == 0 && t_sync(0xd1) == 0);
	store_close(st);
	st = open_dirs(dir0, NULL, 0);
	CHECK(t_create(0xd0, 1) == 0 && t_write(0xd0, 0, m + 1000, 500) == 0 && t_sync(0xd0) == 0);
	CHECK(t_create(0xd1, 3) == 0 && t_write(0xd1, 0, m + 2000, 700) == 0 && t_sync(0xd1) == 0);
	store_close(st);
	st = open_dirs(dir0, dir1, 0);
	struct store_chunk_info info;
	CHECK(store_lookup(st, 0xd0, &info) == 0 && info.version == 2 && info.dir == 1);
	CHECK(same_as(0xd0, m, 1000, 0, 5000));
	CHECK(store_lookup(st, 0xd1, &info) == 0 && info.version == 3 && info.dir == 0);
	CHECK(same_as(0xd1, m + 2000, 700, 0, 5000));
	char p[256];
	snprintf(p, sizeof(p), "%s/corrupt/%016llx.chk", dir0, 0xd0ull);
	CHECK(exists(p));
	snprintf(p, sizeof(p), "%s/corrupt/%016llx.chk", dir1, 0xd1ull);
	CHECK(exists(p));
	struct store_dir_stats ds;
	store_dir_stats(st, 0, &ds);
	uint64_t used0 = ds.used;
	store_dir_stats(st, 1, &ds);
	CHECK(ds.chunks == 1 && ds.used == HDR + 1000);
	CHECK(t_remove(0xd0) == 0 && t_remove(0xd1) == 0);
	store_dir_stats(st, 0, &ds);
	CHECK(ds.used == used0 - HDR - 700);
	store_close(st);
	st = open_dirs(dir0, NULL, 0);
}

static void test_capacity(void)
{
	char d[160];
	snprintf(d, sizeof(d), "%s/cap", root);
	mkdir(d, 0755);
	store_close(st);
	st = open_dirs(d, NULL, 512 * 1024);
	CHECK(st != NULL);
	uint8_t *m = calloc(1, 300 * 1024);
	CHECK(t_create(1, 1) == 0);
	CHECK(t_write(1, 0, m, 300 * 1024) == 0);
	CHECK(t_write(1, 300 * 1024, m, 100 * 1024) == 0);
	CHECK(t_write(1, 400 * 1024, m, 100 * 1024) == -ENOSPC);
	CHECK(t_write(1, 10, m, 100 * 1024) == 0); /* overwrites need no room */
	CHECK(t_create(2, 1) == -ENOSPC);
	/* ops queued behind a create that fails fail with it, a write and a remove alike */
	struct waiter wc = {0}, ww = {0}, wr = {0};
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, m, 1000);
	store_create(st, 3, 1, 30, on_done, &wc);
	store_write(st, 3, 0, b, on_done, &ww);
	store_remove(st, 3, on_done, &wr);
	evbuffer_free(b);
	CHECK(wait_for(&wc) == -ENOSPC && wait_for(&ww) == -ENOENT && wait_for(&wr) == -ENOENT);
	struct store_chunk_info info;
	CHECK(store_lookup(st, 3, &info) == -ENOENT);
	struct store_dir_stats ds;
	store_dir_stats(st, 0, &ds);
	CHECK(ds.capacity == 512 * 1024 && ds.used == 464 * 1024 && ds.free == 48 * 1024);
	CHECK(t_remove(1) == 0);
	/* and with room, a write queued behind the create lands */
	wc = ww = (struct waiter){0};
	b = evbuffer_new();
	evbuffer_add(b, m, 1000);
	store_create(st, 2, 1, 20, on_done, &wc);
	store_write(st, 2, 0, b, on_done, &ww);
	evbuffer_free(b);
	CHECK(wait_for(&wc) == 0 && wait_for(&ww) == 0);
	CHECK(store_lookup(st, 2, &info) == 0 && info.length == 1000);
	store_close(st);
	free(m);
	st = open_dirs(dir0, NULL, 0);
}

struct flight {
	int done;
	int errors;
	int reads_ok;
	const uint8_t *model;
	size_t want;
	struct evbuffer *out;
};

static void on_flight(int err, struct evbuffer *data, void *arg)
{
	struct flight *f = arg;
	f->done++;
	f->errors += err != 0;
}

struct flight_read {
	struct flight *f;
	const uint8_t *model;
	size_t want;
};

static void on_flight_read(int err, struct evbuffer *data, void *arg)
{
	struct flight_read *r = arg;
	r->f->done++;
	r->f->errors += err != 0;
	if (err == 0 && evbuffer_get_length(data) == r->want) {
		uint8_t *p = evbuffer_pullup(data, -1);
		r->f->reads_ok += memcmp(p, r->model, r->want) == 0;
	}
}

/* 20 creates, 200 appends, 20 reads, 20 syncs, all in flight at once. */
static void test_in_flight(void)
{
	enum { NC = 20, NW = 10 };
	static uint8_t model[NC][NW * 20000];
	static size_t cut[NC][NW + 1];
	struct flight f = {0};
	struct flight_read r[NC];
	int expect = 0;
	for (int c = 0; c < NC; c++) {
		fill(model[c], sizeof(model[c]));
		for (int w = 1; w <= NW; w++)
			cut[c][w] = cut[c][w - 1] + 1 + rnd() % 19999;
		store_create(st, 0x900 + c, 1, 1, on_flight, &f);
		expect++;
	}
	for (int w = 0; w < NW; w++) {
		for (int c = 0; c < NC; c++) {
			struct evbuffer *b = evbuffer_new();
			evbuffer_add(b, model[c] + cut[c][w], cut[c][w + 1] - cut[c][w]);
			store_write(st, 0x900 + c, cut[c][w], b, on_flight, &f);
			evbuffer_free(b);
			expect++;
			if (w == NW / 2) {
				r[c] = (struct flight_read){&f, model[c], cut[c][w + 1]};
				store_read(st, 0x900 + c, 0, 1 << 20, on_flight_read, &r[c]);
				expect++;
			}
		}
	}
	for (int c = 0; c < NC; c++) {
		store_sync(st, 0x900 + c, on_flight, &f);
		expect++;
	}
	while (f.done < expect)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK(f.errors == 0 && f.reads_ok == NC);
	for (int c = 0; c < NC; c++)
		CHECK(same_as(0x900 + c, model[c], cut[c][NW], 0, 1 << 20));
	/* Closing with ops queued completes them all. */
	f.done = 0;
	for (int c = 0; c < NC; c++)
		store_remove(st, 0x900 + c, on_flight, &f);
	store_close(st);
	CHECK(f.done == NC && f.errors == 0);
	st = open_dirs(dir0, NULL, 0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One 256 MiB chunk: 1 MiB writes (16 in flight) + sync, then 4 MiB reads. */
static void bench_once(const uint8_t *pat, double *wo, double *wr, double *rd)
{
	const uint64_t id = 0xbe7c, total = CHUNKFILE_MAX_SIZE, piece = 1 << 20;
	struct flight f = {0};
	CHECK(t_create(id, 1) == 0);
	double t0 = now_s();
	uint64_t sent = 0;
	while (f.done < (int)(total / piece)) {
		while (sent < total && sent - (uint64_t)f.done * piece < 16 * piece) {
			struct evbuffer *b = evbuffer_new();
			evbuffer_add_reference(b, pat, piece, NULL, NULL);
			store_write(st, id, sent, b, on_flight, &f);
			evbuffer_free(b);
			sent += piece;
		}
		event_base_loop(base, EVLOOP_ONCE);
	}
	*wo = (double)total / (now_s() - t0) / 1e6;
	CHECK(t_sync(id) == 0);
	*wr = (double)total / (now_s() - t0) / 1e6;
	CHECK(f.errors == 0);
	struct flight g = {0};
	struct flight_read r[64];
	t0 = now_s();
	for (int i = 0; i < 64; i++) {
		r[i] = (struct flight_read){&g, pat, 4 << 20};
		store_read(st, id, (uint64_t)i << 22, 4 << 20, on_flight_read, &r[i]);
		while (g.done < i - 7)
			event_base_loop(base, EVLOOP_ONCE);
	}
	while (g.done < 64)
		event_base_loop(base, EVLOOP_ONCE);
	*rd = (double)total / (now_s() - t0) / 1e6;
	CHECK(g.errors == 0 && g.reads_ok == 64);
	CHECK(t_remove(id) == 0);
}

static void bench(void)
{
	uint8_t *pat = malloc(4 << 20);
	fill(pat, 1 << 20);
	for (int i = 1; i < 4; i++)
		memcpy(pat + (i << 20), pat, 1 << 20);
	double wo[3], wr[3], rd[3];
	for (int i = 0; i < 3; i++)
		bench_once(pat, &wo[i], &wr[i], &rd[i]);
	qsort(wo, 3, sizeof(double), cmp_double);
	qsort(wr, 3, sizeof(double), cmp_double);
	qsort(rd, 3, sizeof(double), cmp_double);
	printf("test_store: 256 MiB chunk, 1 MiB writes, median of 3: writes %.0f MB/s "
	       "(%.0f..%.0f), write+sync %.0f MB/s (%.0f..%.0f), cached 4 MiB reads %.0f MB/s "
	       "(%.0f..%.0f)\n",
	       wo[1], wo[0], wo[2], wr[1], wr[0], wr[2], rd[1], rd[0], rd[2]);
	free(pat);
}

int main(void)
{
	alarm(120);
	log_set_level(LOGL_ERROR);
	snprintf(root, sizeof(root), "/tmp/cairn-test-store-XXXXXX");
	if (!mkdtemp(root))
		return 1;
	snprintf(dir0, sizeof(dir0), "%s/d0", root);
	snprintf(dir1, sizeof(dir1), "%s/d1", root);
	mkdir(dir0, 0755);
	mkdir(dir1, 0755);
	base = event_base_new();
	st = open_dirs(dir0, NULL, 0);
	CHECK(st != NULL);
	if (st) {
		test_round_trips();
		test_appends_overwrites();
		test_bad_block();
		test_bad_header();
		test_torn_after_close();
		test_torn_crafted();
		test_torn_crash();
		test_version_remove();
		test_many_handles();
		test_duplicates();
		test_dir_fails();
		test_capacity();
		test_in_flight();
		if (!getenv("CAIRN_NO_BENCH"))
			bench();
	}
	store_close(st);
	event_base_free(base);
	rm_rf(root);
	if (failures) {
		fprintf(stderr, "test_store: %d failures\n", failures);
		return 1;
	}
	printf("test_store: ok\n");
	return 0;
}
