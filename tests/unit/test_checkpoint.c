/*
 * test_checkpoint: checkpoints through real files: write then load gives
 * the same tree (files' sizes and chunk lists included) and the same next
 * inode and chunk ids; a version 1 checkpoint still loads; version 3's file-system id,
 * format chunk size and per-file chunk sizes round-trip and version 2 still loads; only two
 * are kept; a corrupt or truncated newest one falls back to the older one with a warning;
 * only corrupt ones is an error; checkpoint + op-log replay gives the final state;
 * checkpoint_fork() while the parent keeps mutating; recover_load() past a damaged newest
 * checkpoint the log covers (started, set aside), one it does not cover (refused) and
 * --recover-to (once); and the time and size for about a million inodes (printed).
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "errors.h"
#include "ns.h"
#include "oplog.h"
#include "recover.h"

#if defined(__SANITIZE_ADDRESS__)
#define BIG_DIRS 100
#else
#define BIG_DIRS 1000
#endif

#include "check.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd_n(uint32_t n)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull >> 33) % n);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- files ------------------------------------------------------------------------- */

static char *tmpdir_new(void)
{
	char *d = strdup("/tmp/cairn-ckpt-XXXXXX");
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

static void ckpt_path(char *buf, size_t cap, const char *dir, uint64_t seq)
{
	snprintf(buf, cap, "%s/checkpoint.%020" PRIu64, dir, seq);
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

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

/* ---- namespaces ---------------------------------------------------------------------- */

struct bytes {
	uint8_t *data;
	size_t len, cap;
};

static int dump_one(void *arg, const struct ns_inode *ino)
{
	struct bytes *b = arg;
	Cairn__Attr a = CAIRN__ATTR__INIT;
	ns_fill_attr(ino, &a);
	size_t n;
	const struct ns_chunk *k = ns_inode_chunks(ino, &n);
	Cairn__ChunkRef refs[64], *ptrs[64];
	for (size_t i = 0; i < n && i < 64; i++) {
		cairn__chunk_ref__init(&refs[i]);
		refs[i].id = k[i].id;
		refs[i].version = k[i].version;
		ptrs[i] = &refs[i];
	}
	a.chunks = ptrs;
	a.n_chunks = n < 64 ? n : 64;
	size_t len = cairn__attr__get_packed_size(&a);
	if (b->cap - b->len < len + 4) {
		while (b->cap - b->len < len + 4)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->data = realloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, &len, 4);
	b->len += 4 + cairn__attr__pack(&a, b->data + b->len + 4);
	return 0;
}

static struct bytes dump(const struct ns *ns)
{
	struct bytes b = {0};
	ns_walk(ns, dump_one, &b);
	return b;
}

static int same(const struct ns *a, const struct ns *b)
{
	struct bytes x = dump(a), y = dump(b);
	int eq = x.len == y.len && memcmp(x.data, y.data, x.len) == 0 &&
		 ns_next_id(a) == ns_next_id(b) && ns_count(a) == ns_count(b) &&
		 ns_next_chunk_id(a) == ns_next_chunk_id(b);
	free(x.data);
	free(y.data);
	return eq;
}

static int same_as_dump(const struct ns *a, const struct bytes *d)
{
	struct bytes x = dump(a);
	int eq = x.len == d->len && memcmp(x.data, d->data, x.len) == 0;
	free(x.data);
	return eq;
}

static const char *const names[] = {"a", "b", "c",  "dd", "e\xc3\xa9", "f f",
				    "g", "h", "ii", "j",  "k",	       "L"};
#define NAMES_N (sizeof(names) / sizeof(names[0]))

static void rand_path(char *buf, size_t cap)
{
	size_t len = 0, depth = 1 + rnd_n(4);
	for (size_t i = 0; i < depth; i++)
		len += (size_t)snprintf(buf + len, cap - len, "/%s", names[rnd_n(NAMES_N)]);
}

/* A chunk operation on the file at p, if it is one: allocate or set the size. */
static void mutate_file(struct ns *ns, const char *p, int64_t t)
{
	struct ns_inode *ino;
	struct ns_chunk k;
	if (ns_lookup(ns, p, &ino) < 0 || ns_inode_is_dir(ino))
		return;
	size_t n;
	ns_inode_chunks(ino, &n);
	uint64_t id = ns_inode_id(ino), cs = ns_chunk_size(ns);
	if (rnd_n(4))
		ns_chunk_alloc(ns, id, n < 40 && rnd_n(2) ? n : rnd_n((uint32_t)n + 1), t, &k);
	else
		ns_set_size(ns, id, rnd_n((uint32_t)(n * cs + 1)), t);
}

/* Random mutations: mkdir -p, create, setattr, rename, remove, chunks and sizes. */
static void mutate(struct ns *ns, size_t ops, int64_t *now)
{
	char p[256], q[256];
	ns_set_chunk_size(ns, 1000);
	for (size_t i = 0; i < ops; i++) {
		rand_path(p, sizeof(p));
		int64_t t = ++*now;
		switch (rnd_n(14)) {
		case 0:
		case 1:
			ns_mkdir(ns, p, 0755, 1, 2, 1, t, NULL);
			break;
		case 2:
		case 3:
		case 4:
			ns_create(ns, p, 0640, 3, 4, rnd_n(4), 0, t, NULL);
			break;
		case 5:
			ns_setattr(ns, p, 0x3f, rnd_n(01000), 5, 6, t - 7, t - 9, 1 + rnd_n(16), t,
				   NULL);
			break;
		case 6:
		case 7:
			rand_path(q, sizeof(q));
			ns_rename(ns, p, q, t);
			break;
		case 8:
			ns_remove(ns, p, rnd_n(20) == 0, t);
			break;
		case 12:
		case 13:
			mutate_file(ns, p, t);
			break;
		default:
			ns_create(ns, p, 0600, 3, 4, 2, 1, t, NULL);
			break;
		}
	}
}

/* ---- tests --------------------------------------------------------------------------- */

/* Creates a file with a chunk and removes it: the next chunk id is above every id left. */
static void drop_newest_chunk(struct ns *ns, int64_t *now)
{
	struct ns_inode *ino;
	struct ns_chunk k;
	CHECK(ns_create(ns, "/zz-chunk", 0644, 0, 0, 0, 1, ++*now, &ino) == 0);
	CHECK(ns_chunk_alloc(ns, ns_inode_id(ino), 0, ++*now, &k) == 0);
	CHECK(ns_remove(ns, "/zz-chunk", 0, ++*now) == 0);
}

static void test_roundtrip(void)
{
	char *dir = tmpdir_new(), *cause = NULL, path[512];
	struct ns *ns = ns_new(), *got = NULL;
	uint64_t seq = 99;
	int64_t now = 1000;
	/* No checkpoint yet: a fresh namespace at seq 0. */
	CHECK(checkpoint_load(dir, &got, &seq, &cause) == 0 && seq == 0 && ns_count(got) == 1);
	ns_free(got);
	got = NULL;
	mutate(ns, 20000, &now);
	/* The newest inode goes, so next id is above every id left. */
	CHECK(ns_create(ns, "/zz-last", 0644, 0, 0, 0, 1, ++now, NULL) == 0);
	CHECK(ns_remove(ns, "/zz-last", 0, ++now) == 0);
	drop_newest_chunk(ns, &now);
	uint64_t next = ns_next_id(ns);
	CHECK(checkpoint_write(dir, ns, 10, &cause) == 0);
	CHECK(checkpoint_load(dir, &got, &seq, &cause) == 0);
	CHECK(seq == 10 && got && same(ns, got));
	struct ns_inode *ino;
	CHECK(ns_create(got, "/fresh", 0644, 0, 0, 0, 1, ++now, &ino) == 0);
	CHECK(ino && ns_inode_id(ino) == next);
	printf("roundtrip: %zu inodes, next id %" PRIu64 "\n", ns_count(ns), next);
	ns_free(got);

	/* Two are kept; a stale temp file is removed by the next load. */
	CHECK(checkpoint_write(dir, ns, 20, &cause) == 0);
	CHECK(checkpoint_write(dir, ns, 30, &cause) == 0);
	ckpt_path(path, sizeof(path), dir, 10);
	CHECK(!exists(path));
	CHECK(count_files(dir, "checkpoint.") == 2);
	ckpt_path(path, sizeof(path), dir, 40);
	strcat(path, ".tmp");
	file_write(path, (const uint8_t *)"junk", 4);
	CHECK(checkpoint_load(dir, &got, &seq, &cause) == 0 && seq == 30 && same(ns, got));
	CHECK(!exists(path));
	ns_free(got);
	ns_free(ns);
	tmpdir_free(dir);
}

/*
 * Rewrites the checkpoint at path (as written now) with an older header:
 * version 1 (52 bytes: no next chunk id, file-system id or format chunk
 * size) or 2 (60 bytes: no file-system id or format chunk size). The body
 * stays as it is.
 */
static void downgrade(const char *path, uint8_t version)
{
	size_t len, keep = version == 1 ? 44 : 52, size = keep + 8;
	uint8_t *cur = file_read(path, &len), *old = malloc(len);
	memcpy(old, cur, keep); /* magic .. next inode id (1) or next chunk id (2) */
	old[11] = version;	/* big-endian */
	memcpy(old + keep, cur + CHECKPOINT_HEADER_SIZE - 8, 4); /* body CRC */
	uint32_t crc = crc32c(0, old, size - 4);
	for (int i = 0; i < 4; i++)
		old[size - 4 + i] = (uint8_t)(crc >> (24 - 8 * i));
	memcpy(old + size, cur + CHECKPOINT_HEADER_SIZE, len - CHECKPOINT_HEADER_SIZE);
	file_write(path, old, len - (CHECKPOINT_HEADER_SIZE - size));
	free(old);
	free(cur);
}

/*
 * A version 1 checkpoint (52-byte header, no next chunk id) still loads;
 * the next chunk id then comes from the chunks restored.
 */
static void test_v1(void)
{
	char *dir = tmpdir_new(), *cause = NULL, path[512];
	struct ns *ns = ns_new(), *got = NULL;
	int64_t now = 1;
	mutate(ns, 3000, &now);
	drop_newest_chunk(ns, &now);
	CHECK(checkpoint_write(dir, ns, 5, &cause) == 0);
	ckpt_path(path, sizeof(path), dir, 5);
	downgrade(path, 1);
	uint64_t seq = 0, max = 0;
	CHECK(checkpoint_load(dir, &got, &seq, &cause) == 0 && seq == 5);
	struct bytes d = dump(ns);
	CHECK(got && same_as_dump(got, &d));
	free(d.data);
	/* The highest chunk id left in the tree, found by walking it. */
	struct ns_inode *ino;
	for (uint64_t id = 1; id < ns_next_id(ns); id++) {
		size_t n;
		const struct ns_chunk *k;
		if (!(ino = ns_get(ns, id)))
			continue;
		k = ns_inode_chunks(ino, &n);
		for (size_t i = 0; i < n; i++)
			max = k[i].id > max ? k[i].id : max;
	}
	CHECK(max > 0 && got && ns_next_chunk_id(got) == max + 1);
	CHECK(ns_next_chunk_id(ns) > max + 1);
	printf("version 1: loads, next chunk id %" PRIu64 " (written with %" PRIu64 ")\n",
	       got ? ns_next_chunk_id(got) : 0, ns_next_chunk_id(ns));
	ns_free(got);
	ns_free(ns);
	tmpdir_free(dir);
}

/*
 * Version 3: the file-system id and the format chunk size come back from
 * the header, each file's own chunk size from its Attr (a file made before
 * per-file sizes keeps 0 and resolves to the format size); a version 2
 * header (60 bytes, no id) still loads, with a zero id and no format size.
 */
static void test_identity(void)
{
	char *dir = tmpdir_new(), *cause = NULL, path[512];
	struct ns *ns = ns_new(), *got = NULL;
	uint8_t id[NS_ID_LEN], zero[NS_ID_LEN] = {0};
	struct ns_inode *ino;
	uint64_t seq = 0;
	for (int i = 0; i < NS_ID_LEN; i++)
		id[i] = (uint8_t)(0xa0 + i);
	ns_set_fs_id(ns, id);
	ns_set_format_chunk_size(ns, 2 << 20);
	ns_set_chunk_size(ns, 8 << 20);
	CHECK(ns_create_sized(ns, "/big", 0644, 0, 0, 0, 256 << 20, 1, 1, NULL) == 0);
	CHECK(ns_create(ns, "/dflt", 0644, 0, 0, 0, 1, 2, NULL) == 0);
	Cairn__LogMknod m = CAIRN__LOG_MKNOD__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	m.parent = NS_ROOT_ID, m.name = "old", m.id = ns_next_id(ns);
	m.type = CAIRN__FILE_TYPE__FILE_TYPE_FILE;
	rec.op_case = CAIRN__LOG_RECORD__OP_MKNOD, rec.mknod = &m;
	CHECK(ns_apply(ns, &rec) == 0); /* a round-1 record: no chunk size */
	CHECK(checkpoint_write(dir, ns, 7, &cause) == 0);
	CHECK(checkpoint_load(dir, &got, &seq, &cause) == 0 && seq == 7 && same(ns, got));
	CHECK(got && memcmp(ns_fs_id(got), id, NS_ID_LEN) == 0);
	CHECK(got && ns_format_chunk_size(got) == 2 << 20);
	CHECK(got && ns_lookup(got, "/big", &ino) == 0 && ns_file_chunk_size(got, ino) == 256 << 20);
	CHECK(got && ns_lookup(got, "/dflt", &ino) == 0 && ns_file_chunk_size(got, ino) == 8 << 20);
	CHECK(got && ns_lookup(got, "/old", &ino) == 0 && ns_file_chunk_size(got, ino) == 2 << 20);
	ns_free(got);
	got = NULL;

	ckpt_path(path, sizeof(path), dir, 7);
	downgrade(path, 2);
	CHECK(checkpoint_load(dir, &got, &seq, &cause) == 0 && seq == 7 && same(ns, got));
	CHECK(got && memcmp(ns_fs_id(got), zero, NS_ID_LEN) == 0);
	ns_set_format_chunk_size(got, 4 << 20); /* the metaserver's identity file says */
	CHECK(got && ns_lookup(got, "/old", &ino) == 0 && ns_file_chunk_size(got, ino) == 4 << 20);
	CHECK(got && ns_lookup(got, "/big", &ino) == 0 && ns_file_chunk_size(got, ino) == 256 << 20);
	printf("identity: id and format chunk size round-trip; version 2 loads without them\n");
	ns_free(got);
	ns_free(ns);
	tmpdir_free(dir);
}

/* Redirects stderr to a file while loading; returns what was logged (free it). */
static char *load_quiet(const char *dir, struct ns **out, uint64_t *seq, int *ret, char **cause)
{
	char path[] = "/tmp/cairn-ckpt-err-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	dup2(fd, 2);
	*ret = checkpoint_load(dir, out, seq, cause);
	dup2(saved, 2);
	close(saved);
	size_t len;
	uint8_t *text = file_read(path, &len);
	text[len] = '\0';
	close(fd);
	unlink(path);
	return (char *)text;
}

/* Corrupting the newest checkpoint, one way at a time; the older one must load. */
static void test_corrupt(void)
{
	char *dir = tmpdir_new(), *cause = NULL, newest[512], older[512];
	struct ns *ns = ns_new(), *old = NULL, *got;
	int64_t now = 1;
	mutate(ns, 3000, &now);
	CHECK(checkpoint_write(dir, ns, 100, &cause) == 0);
	struct bytes old_dump = dump(ns);
	mutate(ns, 3000, &now);
	CHECK(checkpoint_write(dir, ns, 200, &cause) == 0);
	ckpt_path(newest, sizeof(newest), dir, 200);
	ckpt_path(older, sizeof(older), dir, 100);
	size_t len;
	uint8_t *orig = file_read(newest, &len);
	size_t positions[160], npos = 0;
	for (size_t b = 0; b < CHECKPOINT_HEADER_SIZE; b++)
		positions[npos++] = b;
	while (npos < 140)
		positions[npos++] =
		    CHECKPOINT_HEADER_SIZE + rnd_n((uint32_t)(len - CHECKPOINT_HEADER_SIZE));
	positions[npos++] = len - 1;
	int bad = 0;
	for (size_t k = 0; k < npos + 4; k++) {
		if (k < npos) {
			orig[positions[k]] ^= 0x04;
			file_write(newest, orig, len);
			orig[positions[k]] ^= 0x04;
		} else {
			/* truncations, and one byte too many */
			size_t cut[] = {0, CHECKPOINT_HEADER_SIZE - 1, len / 2};
			if (k - npos < 3) {
				file_write(newest, orig, cut[k - npos]);
			} else {
				uint8_t *more = malloc(len + 1);
				memcpy(more, orig, len);
				more[len] = 0;
				file_write(newest, more, len + 1);
				free(more);
			}
		}
		uint64_t seq = 0;
		int ret;
		got = NULL;
		char *log = load_quiet(dir, &got, &seq, &ret, &cause);
		int ok = ret == 0 && seq == 100 && got && same_as_dump(got, &old_dump) &&
			 strstr(log, "not usable") && exists(newest);
		if (!ok) {
			fprintf(stderr,
				"corrupt case %zu (byte %zu): ret %d seq %" PRIu64 " log: %s\n", k,
				k < npos ? positions[k] : 0, ret, seq, log);
			bad++;
		}
		free(log);
		ns_free(got);
	}
	CHECK(bad == 0);
	printf("corrupt newest: %zu cases fall back\n", npos + 4);

	/* Only corrupt checkpoints: an error, not an empty namespace. */
	uint8_t *o = file_read(older, &len);
	o[len / 2] ^= 0x10;
	file_write(older, o, len);
	free(o);
	file_write(newest, orig, CHECKPOINT_HEADER_SIZE + 3);
	got = NULL;
	uint64_t seq = 0;
	int ret;
	char *log = load_quiet(dir, &got, &seq, &ret, &cause);
	CHECK(ret < 0 && got == NULL && cause && strstr(cause, "no usable checkpoint"));
	CHECK(exists(newest) && exists(older));
	free(log);
	free(cause);
	free(orig);
	free(old_dump.data);
	ns_free(old);
	ns_free(ns);
	tmpdir_free(dir);
}

static void emit_to_log(void *arg, Cairn__LogRecord *rec)
{
	oplog_append(arg, rec);
}

static int apply_rec(void *arg, const Cairn__LogRecord *rec)
{
	return ns_apply(arg, rec);
}

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

/*
 * The metaserver's cycle: mutate through the op log, checkpoint (in a
 * child, while the parent goes on), purge, mutate more, "crash"; then
 * checkpoint + replay must give the final state.
 */
static void test_with_oplog(void)
{
	char *dir = tmpdir_new(), *cause = NULL;
	struct ns *ns = ns_new(), *got = NULL;
	struct oplog *log = oplog_open(dir, 0, &cause);
	oplog_set_segment_size(log, 16 << 10);
	ns_set_emit(ns, emit_to_log, log);
	int64_t now = 1;
	/* In small durable steps: a segment ends only between batches. */
	for (int i = 0; i < 50; i++) {
		mutate(ns, 100, &now);
		CHECK(wait_durable(log, oplog_last_seq(log)) == 0);
	}
	uint64_t ck = oplog_last_seq(log);
	struct bytes at_fork = dump(ns);
	pid_t pid = checkpoint_fork(dir, ns, ck);
	CHECK(pid > 0);
	mutate(ns, 5000, &now); /* the parent keeps going while the child writes */
	int status = -1;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(wait_durable(log, oplog_last_seq(log)) == 0);
	CHECK(oplog_purge(dir, ck) > 0);
	mutate(ns, 3000, &now);
	uint64_t last = oplog_last_seq(log);
	CHECK(wait_durable(log, last) == 0);
	oplog_close(log);

	uint64_t seq = 0, replayed = 0;
	CHECK(checkpoint_load(dir, &got, &seq, &cause) == 0 && seq == ck);
	CHECK(got && same_as_dump(got, &at_fork));
	CHECK(oplog_replay(dir, seq, UINT64_MAX, apply_rec, got, &replayed, &cause) == 0);
	CHECK(replayed == last);
	CHECK(same(ns, got));
	CHECK(count_files(dir, "corrupt") == 0);
	printf("checkpoint at %" PRIu64 " + replay to %" PRIu64 ": %zu inodes, same tree\n", ck,
	       last, ns_count(got));
	free(at_fork.data);
	ns_free(got);
	ns_free(ns);
	tmpdir_free(dir);
}

static int no_setup(void *arg, struct ns *ns, char **cause)
{
	(void)arg;
	(void)ns;
	(void)cause;
	return 0;
}

/* Flips one byte in the middle of the checkpoint for seq. */
static void damage(const char *dir, uint64_t seq)
{
	char path[512];
	size_t len;
	ckpt_path(path, sizeof(path), dir, seq);
	uint8_t *b = file_read(path, &len);
	b[len / 2] ^= 0x10;
	file_write(path, b, len);
	free(b);
}

/*
 * recover_load(): a damaged newest checkpoint falls back to the older one
 * plus the log, which the purge kept (it is set aside as .damaged); when
 * the log no longer covers it the start is refused with the seqs at
 * stake; --recover-to gives the state at its seq, sets the rest aside,
 * moves chunk ids on and is not repeated by a second start.
 */
/* Mutations in small durable steps (a segment ends only between batches). */
static void mutate_durably(struct ns *ns, struct oplog *log, int64_t *now)
{
	for (int i = 0; i < 20; i++) {
		mutate(ns, 100, now);
		CHECK(wait_durable(log, oplog_last_seq(log)) == 0);
	}
}

static void test_recover(void)
{
	char *dir = tmpdir_new(), *cause = NULL, path[600];
	struct ns *ns = ns_new(), *got = NULL;
	struct oplog *log = oplog_open(dir, 0, &cause);
	oplog_set_segment_size(log, 16 << 10);
	ns_set_emit(ns, emit_to_log, log);
	int64_t now = 1;
	mutate_durably(ns, log, &now);
	uint64_t ck1 = oplog_last_seq(log);
	struct bytes at_ck1 = dump(ns);
	CHECK(checkpoint_write(dir, ns, ck1, &cause) == 0);
	mutate_durably(ns, log, &now);
	uint64_t ck2 = oplog_last_seq(log);
	CHECK(checkpoint_write(dir, ns, ck2, &cause) == 0);
	CHECK(oplog_purge(dir, ck1) >= 0); /* as meta.c: keep the log since the previous one */
	mutate_durably(ns, log, &now);
	uint64_t last = oplog_last_seq(log);
	oplog_close(log);

	damage(dir, ck2);
	uint64_t seq = 0, got_last = 0;
	CHECK(recover_load(dir, 0, no_setup, NULL, &got, &seq, &got_last, &cause) == 0);
	CHECK(seq == ck1 && got_last == last && same(ns, got));
	ckpt_path(path, sizeof(path), dir, ck2);
	strcat(path, ".damaged");
	CHECK(exists(path) && count_files(dir, "corrupt") == 0);
	ns_free(got);
	got = NULL;

	/* The newest checkpoint damaged and the log before it purged: refused. */
	CHECK(checkpoint_write(dir, ns, last, &cause) == 0);
	CHECK(oplog_purge(dir, last) > 0);
	damage(dir, last);
	CHECK(recover_load(dir, 0, no_setup, NULL, &got, &seq, &got_last, &cause) == -EUCLEAN);
	CHECK(cause && strstr(cause, "is not usable") && strstr(cause, "starts past"));
	free(cause);
	cause = NULL;
	CHECK(count_files(dir, "damaged") == 1 && count_files(dir, "corrupt") == 0);

	/* --recover-to ck1: the state at ck1, the rest aside, ids moved on; once only. */
	uint64_t ids = ns_next_chunk_id(ns);
	CHECK(recover_load(dir, ck1, no_setup, NULL, &got, &seq, &got_last, &cause) == 0);
	CHECK(got_last == ck1 && seq == ck1 && same_as_dump(got, &at_ck1));
	CHECK(ns_next_chunk_id(got) >= RECOVER_CHUNK_ID_GAP);
	CHECK(count_files(dir, "after-recover-to") == 1 && count_files(dir, "recovered-to") == 1);
	(void)ids;
	ns_free(got);
	got = NULL;
	CHECK(recover_load(dir, ck1, no_setup, NULL, &got, &seq, &got_last, &cause) == 0);
	CHECK(got_last == ck1 && same_as_dump(got, &at_ck1));
	ns_free(got);
	got = NULL;
	/* Past what the log holds: refused. */
	CHECK(recover_load(dir, last + 10, no_setup, NULL, &got, &seq, &got_last, &cause) ==
	      -EUCLEAN);
	CHECK(cause && strstr(cause, "holds the state only up to"));
	free(cause);
	free(at_ck1.data);
	ns_free(ns);
	tmpdir_free(dir);
}

/* About a million inodes: time and size (printed), and the load gives them back. */
static void bench(void)
{
	char *dir = tmpdir_new(), *cause = NULL, path[512];
	struct ns *ns = ns_new(), *got = NULL;
	for (int d = 0; d < BIG_DIRS; d++) {
		snprintf(path, sizeof(path), "/user%04d", d);
		ns_mkdir(ns, path, 0755, (uint32_t)d, 100, 0, 1700000000000000 + d, NULL);
		for (int f = 0; f < 1000; f++) {
			snprintf(path, sizeof(path), "/user%04d/part-%05d-%08x.parquet", d, f,
				 rnd_n(1u << 31));
			ns_create(ns, path, 0644, (uint32_t)d, 100, 0, 1,
				  1700000000000000 + (int64_t)rnd_n(1u << 31) * 1000, NULL);
		}
	}
	double t0 = now_s();
	CHECK(checkpoint_write(dir, ns, 1, &cause) == 0);
	double t1 = now_s();
	uint64_t seq;
	CHECK(checkpoint_load(dir, &got, &seq, &cause) == 0);
	double t2 = now_s();
	ckpt_path(path, sizeof(path), dir, 1);
	struct stat st;
	stat(path, &st);
	printf("checkpoint of %zu inodes: write %.2f s, load %.2f s, %.1f MB (%.1f bytes/inode)\n",
	       ns_count(ns), t1 - t0, t2 - t1, (double)st.st_size / 1e6,
	       (double)st.st_size / (double)ns_count(ns));
	CHECK(got && same(ns, got));
	ns_free(got);
	ns_free(ns);
	tmpdir_free(dir);
}

int main(void)
{
	test_roundtrip();
	test_v1();
	test_identity();
	test_corrupt();
	test_with_oplog();
	test_recover();
	bench();
	if (failures) {
		printf("test_checkpoint: %d failures\n", failures);
		return 1;
	}
	printf("test_checkpoint: ok\n");
	return 0;
}
