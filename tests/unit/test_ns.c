/*
 * test_ns: the namespace against a reference model, a flat array of full
 * paths searched linearly, over a long seeded random sequence of
 * operations (files' chunk lists and sizes included, and the chunks each
 * operation drops); replay of every emitted record into a fresh namespace
 * (dropping the same chunks); chunk records that do not fit; a
 * 100,000-entry directory listed by pages; a 100,000-deep tree walked and
 * removed without recursion; bad paths; and a rough speed measurement.
 * Files' own chunk sizes and ns_remove_file are in test_ns_file.
 *
 * Usage: test_ns [SEED] (the seed in use is printed; CAIRN_TEST_SEED works too).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ns.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1
#else
#define SLOW_BUILD 0
#endif

#define RANDOM_OPS	 250000
#define FULL_CHECK_EVERY 2000
#define BIG_DIR		 100000
#define DEEP		 100000
#define CHUNK		 1000 /* the chunk size of the random test */

#include "check.h"

#define CHECK_ERR(op, got, want, path)                                                             \
	do {                                                                                       \
		if ((got) != (want)) {                                                             \
			fprintf(stderr, "%s:%d: op %" PRIu64 " %s(%s): got %d, model says %d\n",   \
				__FILE__, __LINE__, op_no, op, path, got, want);                   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static uint64_t rng_state;
static uint64_t op_no;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static uint32_t rnd_n(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- byte buffers: emitted records, dumps ------------------------------------------ */

struct bytes {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t n;
};

static void bytes_put(struct bytes *b, const void *p, size_t len)
{
	if (b->cap - b->len < len) {
		while (b->cap - b->len < len)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->data = realloc(b->data, b->cap);
		if (!b->data)
			abort();
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

static void put_msg(struct bytes *b, const ProtobufCMessage *m)
{
	uint32_t len = (uint32_t)protobuf_c_message_get_packed_size(m);
	uint8_t *tmp = malloc(len ? len : 1);
	protobuf_c_message_pack(m, tmp);
	bytes_put(b, &len, sizeof(len));
	bytes_put(b, tmp, len);
	b->n++;
	free(tmp);
}

static void on_emit(void *arg, Cairn__LogRecord *rec)
{
	put_msg(arg, &rec->base);
}

/* Drop-hook tallies: how many chunks, and a hash of their ids and versions. */
struct drops {
	uint64_t n;
	uint64_t hash;
};

static uint64_t drop_hash(uint64_t file_id, const struct ns_chunk *k)
{
	return (k->id * 0x9E3779B97F4A7C15ull) ^ (k->version << 17) ^ file_id;
}

static void on_drop(void *arg, uint64_t file_id, const struct ns_chunk *chunks, size_t n)
{
	struct drops *d = arg;
	for (size_t i = 0; i < n; i++) {
		d->n++;
		d->hash += drop_hash(file_id, &chunks[i]);
	}
}

static int dump_one(void *arg, const struct ns_inode *ino)
{
	Cairn__Attr a = CAIRN__ATTR__INIT;
	ns_fill_attr(ino, &a);
	size_t n;
	const struct ns_chunk *k = ns_inode_chunks(ino, &n);
	Cairn__ChunkRef *refs = calloc(n + 1, sizeof(*refs));
	Cairn__ChunkRef **ptrs = calloc(n + 1, sizeof(*ptrs));
	for (size_t i = 0; i < n; i++) {
		cairn__chunk_ref__init(&refs[i]);
		refs[i].id = k[i].id;
		refs[i].version = k[i].version;
		ptrs[i] = &refs[i];
	}
	a.chunks = ptrs;
	a.n_chunks = n;
	put_msg(arg, &a.base);
	free(refs);
	free(ptrs);
	return 0;
}

static void dump(struct ns *ns, struct bytes *out)
{
	free(out->data);
	memset(out, 0, sizeof(*out));
	CHECK(ns_walk(ns, dump_one, out) == 0);
	CHECK(out->n == ns_count(ns));
}

static int same_dump(struct ns *a, struct ns *b)
{
	struct bytes da = {0}, db = {0};
	dump(a, &da);
	dump(b, &db);
	int same = da.len == db.len && memcmp(da.data, db.data, da.len) == 0;
	free(da.data);
	free(db.data);
	return same;
}

/* Applies every record in recs to ns; returns the number that failed. */
static int replay_into(struct ns *ns, const struct bytes *recs)
{
	int bad = 0;
	for (size_t off = 0; off < recs->len;) {
		uint32_t len;
		memcpy(&len, recs->data + off, sizeof(len));
		Cairn__LogRecord *rec =
		    cairn__log_record__unpack(NULL, len, recs->data + off + sizeof(len));
		if (!rec || ns_apply(ns, rec) != 0)
			bad++;
		cairn__log_record__free_unpacked(rec, NULL);
		off += sizeof(len) + len;
	}
	return bad;
}

/* ---- the reference model --------------------------------------------------------- */

struct m_ent {
	char *path;
	int dir;
	uint64_t id;
	uint32_t mode, uid, gid, repl;
	int64_t atime, mtime, ctime;
	uint64_t size, nchunks;
	struct ns_chunk *chunks; /* files: nchunks of them */
};

struct model {
	struct m_ent *v;
	size_t n, cap;
	uint64_t next_id;
	uint64_t next_chunk_id;
	uint32_t def_repl;
	struct drops dropped; /* what the model expects the drop hook to have heard */
};

static struct model M;

static long m_find(const char *path)
{
	for (size_t i = 0; i < M.n; i++)
		if (strcmp(M.v[i].path, path) == 0)
			return (long)i;
	return -1;
}

static int m_syntax(const char *p)
{
	if (!p || p[0] != '/')
		return -EINVAL;
	if (strlen(p) >= NS_PATH_MAX)
		return -ENAMETOOLONG;
	if (strcmp(p, "/") == 0)
		return 0;
	for (const char *s = p + 1;;) {
		size_t len = strcspn(s, "/");
		if (len == 0 || (len == 1 && s[0] == '.') ||
		    (len == 2 && s[0] == '.' && s[1] == '.'))
			return -EINVAL;
		if (len > NS_NAME_MAX)
			return -ENAMETOOLONG;
		if (!s[len])
			return 0;
		s += len + 1;
	}
}

/* Checks every proper ancestor of p exists and is a directory. */
static int m_walk(const char *p)
{
	char buf[NS_PATH_MAX + 1];
	for (size_t k = 1; p[k]; k++) {
		if (p[k] != '/')
			continue;
		memcpy(buf, p, k);
		buf[k] = '\0';
		long i = m_find(buf);
		if (i < 0)
			return -ENOENT;
		if (!M.v[i].dir)
			return -ENOTDIR;
	}
	return 0;
}

static void m_parent(const char *p, char *out)
{
	const char *slash = strrchr(p, '/');
	size_t len = slash == p ? 1 : (size_t)(slash - p);
	memcpy(out, p, len);
	out[len] = '\0';
}

static int is_below(const char *p, const char *top)
{
	size_t n = strlen(top);
	return strncmp(p, top, n) == 0 && (p[n] == '/' || (n == 1 && p[1]));
}

static size_t m_nchildren(const char *dir)
{
	char par[NS_PATH_MAX + 1];
	size_t c = 0;
	for (size_t i = 0; i < M.n; i++) {
		if (strcmp(M.v[i].path, "/") == 0)
			continue;
		m_parent(M.v[i].path, par);
		c += strcmp(par, dir) == 0;
	}
	return c;
}

static void m_touch_parent(const char *p, int64_t now)
{
	char par[NS_PATH_MAX + 1];
	m_parent(p, par);
	long i = m_find(par);
	M.v[i].mtime = M.v[i].ctime = now;
}

static struct m_ent *m_add(const char *p, int dir, uint32_t mode, uint32_t repl, int64_t now)
{
	if (M.n == M.cap) {
		M.cap = M.cap ? M.cap * 2 : 256;
		M.v = realloc(M.v, M.cap * sizeof(*M.v));
	}
	struct m_ent *e = &M.v[M.n++];
	memset(e, 0, sizeof(*e));
	e->path = strdup(p);
	e->dir = dir;
	e->id = M.next_id++;
	e->mode = mode & 07777;
	e->uid = 7;
	e->gid = 8;
	e->repl = repl;
	e->atime = e->mtime = e->ctime = now;
	m_touch_parent(p, now);
	return e;
}

static void m_drop(const struct m_ent *e, uint64_t from)
{
	for (uint64_t k = from; k < e->nchunks; k++) {
		M.dropped.n++;
		M.dropped.hash += drop_hash(e->id, &e->chunks[k]);
	}
}

static void m_del(size_t i)
{
	m_drop(&M.v[i], 0);
	free(M.v[i].path);
	free(M.v[i].chunks);
	M.v[i] = M.v[--M.n];
}

static void m_init(void)
{
	for (size_t i = 0; i < M.n; i++) {
		free(M.v[i].path);
		free(M.v[i].chunks);
	}
	M.n = 0;
	M.next_id = NS_ROOT_ID;
	M.next_chunk_id = 1;
	M.dropped = (struct drops){0, 0};
	M.def_repl = 3;
	if (M.cap == 0) {
		M.cap = 256;
		M.v = malloc(M.cap * sizeof(*M.v));
	}
	struct m_ent *e = &M.v[M.n++];
	memset(e, 0, sizeof(*e));
	e->path = strdup("/");
	e->dir = 1;
	e->id = M.next_id++;
	e->mode = 0755;
}

static int m_mkdir(const char *p, uint32_t mode, int parents, int64_t now, uint64_t *id)
{
	int err = m_syntax(p);
	if (err)
		return err;
	if (parents) {
		char buf[NS_PATH_MAX + 1];
		size_t len = strlen(p);
		for (size_t k = 1; k <= len; k++) {
			if (p[k] != '/' && p[k] != '\0')
				continue;
			memcpy(buf, p, k);
			buf[k] = '\0';
			long i = m_find(buf);
			if (i >= 0 && !M.v[i].dir)
				return k == len ? -EEXIST : -ENOTDIR;
			if (i < 0)
				*id = m_add(buf, 1, mode, 0, now)->id;
			else
				*id = M.v[i].id;
		}
		if (len == 1)
			*id = NS_ROOT_ID;
		return 0;
	}
	if (strcmp(p, "/") == 0)
		return -EEXIST;
	if ((err = m_walk(p)) < 0)
		return err;
	if (m_find(p) >= 0)
		return -EEXIST;
	*id = m_add(p, 1, mode, 0, now)->id;
	return 0;
}

static int m_create(const char *p, uint32_t mode, uint32_t repl, int excl, int64_t now,
		    uint64_t *id)
{
	int err = m_syntax(p);
	if (!err && repl > NS_REPLICATION_MAX)
		err = -EINVAL;
	if (!err)
		err = m_walk(p);
	if (err)
		return err;
	long i = m_find(p);
	if (i >= 0) {
		if (excl)
			return -EEXIST;
		if (M.v[i].dir)
			return -EISDIR;
		*id = M.v[i].id;
		return 0;
	}
	*id = m_add(p, 0, mode, repl ? repl : M.def_repl, now)->id;
	return 0;
}

static int m_rename(const char *s, const char *d, int64_t now)
{
	int err = m_syntax(s);
	if (!err)
		err = m_syntax(d);
	if (err)
		return err;
	if (strcmp(s, "/") == 0 || strcmp(d, "/") == 0)
		return -EBUSY;
	if ((err = m_walk(s)) < 0)
		return err;
	long si = m_find(s);
	if (si < 0)
		return -ENOENT;
	if ((err = m_walk(d)) < 0)
		return err;
	char dpar[NS_PATH_MAX + 1];
	m_parent(d, dpar);
	if (M.v[si].dir && (strcmp(dpar, s) == 0 || is_below(dpar, s)))
		return -EINVAL;
	long di = m_find(d);
	if (di == si)
		return 0;
	if (di >= 0) {
		if (!M.v[si].dir && M.v[di].dir)
			return -EISDIR;
		if (M.v[si].dir && !M.v[di].dir)
			return -ENOTDIR;
		if (m_nchildren(d))
			return -ENOTEMPTY;
	}
	size_t slen = strlen(s);
	for (size_t i = 0; i < M.n; i++)
		if (is_below(M.v[i].path, s) &&
		    strlen(d) + strlen(M.v[i].path + slen) >= NS_PATH_MAX)
			return -ENAMETOOLONG;
	if (di >= 0)
		m_del((size_t)di);
	for (size_t i = 0; i < M.n; i++) {
		char *p = M.v[i].path;
		if (strcmp(p, s) != 0 && !is_below(p, s))
			continue;
		char *np = malloc(strlen(d) + strlen(p + slen) + 1);
		sprintf(np, "%s%s", d, p + slen);
		free(p);
		M.v[i].path = np;
		if (strcmp(np, d) == 0)
			M.v[i].ctime = now;
	}
	char spar[NS_PATH_MAX + 1];
	m_parent(s, spar);
	M.v[m_find(spar)].mtime = M.v[m_find(spar)].ctime = now;
	M.v[m_find(dpar)].mtime = M.v[m_find(dpar)].ctime = now;
	return 0;
}

static int m_remove(const char *p, int recursive, int64_t now)
{
	int err = m_syntax(p);
	if (err)
		return err;
	if (strcmp(p, "/") == 0)
		return -EBUSY;
	if ((err = m_walk(p)) < 0)
		return err;
	if (m_find(p) < 0)
		return -ENOENT;
	if (m_nchildren(p) && !recursive)
		return -ENOTEMPTY;
	m_touch_parent(p, now);
	for (size_t i = 0; i < M.n;) {
		if (strcmp(M.v[i].path, p) == 0 || is_below(M.v[i].path, p))
			m_del(i);
		else
			i++;
	}
	return 0;
}

static int m_lookup(const char *p, long *idx)
{
	int err = m_syntax(p);
	if (!err)
		err = m_walk(p);
	if (err)
		return err;
	*idx = m_find(p);
	return *idx < 0 ? -ENOENT : 0;
}

#define SA_ALL 63u

static int m_setattr(const char *p, uint32_t mask, uint32_t mode, uint32_t uid, int64_t mtime,
		     uint32_t repl, int64_t now)
{
	int err = m_syntax(p);
	if (!err && ((mask & ~SA_ALL) ||
		     ((mask & CAIRN__SETATTR_BIT__SETATTR_REPLICATION) && (repl < 1 || repl > 16))))
		err = -EINVAL;
	long i;
	if (!err)
		err = m_lookup(p, &i);
	if (err || !mask)
		return err;
	struct m_ent *e = &M.v[i];
	if (mask & CAIRN__SETATTR_BIT__SETATTR_MODE)
		e->mode = mode & 07777;
	if (mask & CAIRN__SETATTR_BIT__SETATTR_UID)
		e->uid = uid;
	if (mask & CAIRN__SETATTR_BIT__SETATTR_MTIME)
		e->mtime = mtime;
	if (mask & CAIRN__SETATTR_BIT__SETATTR_REPLICATION)
		e->repl = repl;
	e->ctime = now;
	return 0;
}

/* The file with that id, as ns_chunk_alloc() and ns_set_size() look it up. */
static int m_file(uint64_t id, struct m_ent **out)
{
	for (size_t i = 0; i < M.n; i++) {
		if (M.v[i].id != id)
			continue;
		*out = &M.v[i];
		return M.v[i].dir ? -EISDIR : 0;
	}
	return -ENOENT;
}

static int m_alloc(uint64_t id, uint64_t index, struct ns_chunk *out)
{
	struct m_ent *e;
	int err = m_file(id, &e);
	if (err)
		return err;
	if (index > e->nchunks)
		return -EINVAL;
	if (index == e->nchunks) {
		e->chunks = realloc(e->chunks, (e->nchunks + 1) * sizeof(*e->chunks));
		e->chunks[e->nchunks++] = (struct ns_chunk){M.next_chunk_id++, 1};
	} else {
		e->chunks[index].version++;
	}
	*out = e->chunks[index];
	return 0;
}

static int m_set_size(uint64_t id, uint64_t size, int64_t now)
{
	struct m_ent *e;
	int err = m_file(id, &e);
	if (err)
		return err;
	uint64_t keep = (size + CHUNK - 1) / CHUNK;
	if (size <= e->size && keep < e->nchunks) {
		m_drop(e, keep);
		e->nchunks = keep;
	}
	e->size = size;
	e->mtime = e->ctime = now;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of dir's children (an array of borrowed pointers; free it). */
static char **m_children(const char *dir, size_t *n)
{
	char par[NS_PATH_MAX + 1];
	char **names = malloc((M.n + 1) * sizeof(*names));
	*n = 0;
	for (size_t i = 0; i < M.n; i++) {
		if (strcmp(M.v[i].path, "/") == 0)
			continue;
		m_parent(M.v[i].path, par);
		if (strcmp(par, dir) == 0)
			names[(*n)++] = strrchr(M.v[i].path, '/') + 1;
	}
	qsort(names, *n, sizeof(*names), name_cmp);
	return names;
}

/* ---- comparing ns and model -------------------------------------------------------- */

static int attr_matches(const struct ns_inode *ino, const struct m_ent *e)
{
	Cairn__Attr a = CAIRN__ATTR__INIT;
	ns_fill_attr(ino, &a);
	int dir = a.type == CAIRN__FILE_TYPE__FILE_TYPE_DIR;
	size_t n;
	const struct ns_chunk *k = ns_inode_chunks(ino, &n);
	if (n != e->nchunks || (n && memcmp(k, e->chunks, n * sizeof(*k)) != 0))
		return 0;
	return a.id == e->id && dir == e->dir && a.mode == e->mode && a.uid == e->uid &&
	       a.gid == e->gid && a.replication == e->repl && a.mtime_us == e->mtime &&
	       a.ctime_us == e->ctime && a.atime_us == e->atime &&
	       a.nentries == (dir ? m_nchildren(e->path) : 0) && a.size == e->size &&
	       a.nchunks == e->nchunks && ns_inode_size(ino) == e->size;
}

struct walk_paths {
	char **by_id;
	size_t n;
	int bad;
};

static int check_one(void *arg, const struct ns_inode *ino)
{
	struct walk_paths *w = arg;
	Cairn__Attr a = CAIRN__ATTR__INIT;
	ns_fill_attr(ino, &a);
	char *path;
	if (a.id == NS_ROOT_ID) {
		path = strdup("/");
	} else {
		const char *pp = a.parent < w->n ? w->by_id[a.parent] : NULL;
		if (!pp) {
			w->bad++;
			return 0;
		}
		path = malloc(strlen(pp) + strlen(a.name) + 2);
		sprintf(path, "%s%s%s", pp, strcmp(pp, "/") ? "/" : "", a.name);
	}
	long i = m_find(path);
	if (i < 0 || !attr_matches(ino, &M.v[i])) {
		fprintf(stderr, "op %" PRIu64 ": %s differs from the model (%s)\n", op_no, path,
			i < 0 ? "missing there" : "attributes");
		w->bad++;
	}
	if (a.id < w->n && !w->by_id[a.id])
		w->by_id[a.id] = path;
	else
		free(path);
	return 0;
}

/* Walks the whole namespace against the model. */
static void full_check(struct ns *ns)
{
	struct walk_paths w = {0};
	w.n = ns_next_id(ns);
	w.by_id = calloc(w.n, sizeof(*w.by_id));
	CHECK(ns_walk(ns, check_one, &w) == 0);
	CHECK(w.bad == 0);
	CHECK(ns_count(ns) == M.n);
	CHECK(ns_next_id(ns) == M.next_id);
	CHECK(ns_next_chunk_id(ns) == M.next_chunk_id);
	for (size_t i = 0; i < w.n; i++)
		free(w.by_id[i]);
	free(w.by_id);
}

struct page {
	char *names[NS_READDIR_MAX];
	size_t n;
};

static void collect(void *arg, const char *name, const struct ns_inode *ino)
{
	struct page *p = arg;
	p->names[p->n++] = strdup(name);
}

static void page_free(struct page *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->names[i]);
	p->n = 0;
}

/* One readdir page against the model. */
static void check_readdir(struct ns *ns, const char *dir, const char *after, uint32_t limit)
{
	struct page pg = {.n = 0};
	int more = -1;
	int err = ns_readdir(ns, dir, after, limit, collect, &pg, &more);
	long i;
	int want = m_lookup(dir, &i);
	if (!want && !M.v[i].dir)
		want = -ENOTDIR;
	CHECK_ERR("readdir", err, want, dir);
	if (!err && !want) {
		size_t n, k = 0;
		char **names = m_children(dir, &n);
		while (k < n && after && strcmp(names[k], after) <= 0)
			k++;
		size_t lim = limit ? limit : NS_READDIR_MAX, got = 0;
		for (; k < n && got < lim; k++, got++)
			CHECK(got < pg.n && strcmp(pg.names[got], names[k]) == 0);
		CHECK(pg.n == got);
		CHECK(more == (k < n));
		free(names);
	}
	page_free(&pg);
}

/* Lists dir completely through pages of limit entries and compares with the model. */
static void check_listing(struct ns *ns, const char *dir, uint32_t limit)
{
	size_t n, k = 0;
	char **names = m_children(dir, &n);
	char after[NS_NAME_MAX + 1] = "";
	int more = 1;
	while (more) {
		struct page pg = {.n = 0};
		CHECK(ns_readdir(ns, dir, after, limit, collect, &pg, &more) == 0);
		for (size_t j = 0; j < pg.n; j++, k++)
			CHECK(k < n && strcmp(pg.names[j], names[k]) == 0);
		if (pg.n)
			snprintf(after, sizeof(after), "%s", pg.names[pg.n - 1]);
		else
			more = 0;
		page_free(&pg);
	}
	CHECK(k == n);
	free(names);
}

/* ---- random operations ------------------------------------------------------------- */

#define L25 "LLLLLLLLLLLLLLLLLLLLLLLLL"
/* The long name makes paths near NS_PATH_MAX, where renames must be refused. */
static const char *const pool[] = {
    "a", "b", "ab", "B", "c", "\xc3\xa9t\xc3\xa9", "a b", L25 L25 L25 L25 L25 L25 L25 L25 L25 L25};
static uint64_t renames_too_long; /* renames the model refused for length */
#define POOL_N (sizeof(pool) / sizeof(pool[0]))

static void rand_path(char *buf, size_t cap)
{
	uint32_t r = rnd_n(100);
	if (r < 3) {
		static const char *const bad[] = {"",	   "a/b", "//", "/a//b", "/./a",
						  "/a/..", "/a/", "/.", "/..",	 "/a/./b"};
		snprintf(buf, cap, "%s", bad[rnd_n(sizeof(bad) / sizeof(bad[0]))]);
		return;
	}
	if (r < 5) {
		char name[NS_NAME_MAX + 2];
		size_t len = rnd_n(2) ? NS_NAME_MAX : NS_NAME_MAX + 1;
		memset(name, 'x', len);
		name[len] = '\0';
		snprintf(buf, cap, "/%s", name);
		return;
	}
	if (r < 60 && M.n > 1) {
		const char *base = M.v[rnd_n((uint32_t)M.n)].path;
		if (rnd_n(2))
			snprintf(buf, cap, "%s", base);
		else
			snprintf(buf, cap, "%s/%s", strcmp(base, "/") ? base : "",
				 pool[rnd_n(POOL_N)]);
		return;
	}
	size_t len = 0;
	uint32_t depth = 1 + rnd_n(4);
	for (uint32_t i = 0; i < depth && len + 8 < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "/%s", pool[rnd_n(POOL_N)]);
	if (r == 99)
		snprintf(buf, cap, "/");
}

/* A file id for a chunk operation: mostly a file of the model, sometimes not. */
static uint64_t rand_file_id(void)
{
	if (rnd_n(10) == 0)
		return rnd_n(10) == 0 ? NS_ROOT_ID : M.next_id + rnd_n(3);
	for (int tries = 0; tries < 8; tries++) {
		const struct m_ent *e = &M.v[rnd_n((uint32_t)M.n)];
		if (!e->dir)
			return e->id;
	}
	return M.v[rnd_n((uint32_t)M.n)].id;
}

/* One random chunk operation: allocate (new or bump) or set a size. */
static void random_chunk_op(struct ns *ns, struct bytes *recs, int64_t now)
{
	uint64_t id = rand_file_id();
	size_t before = recs->n;
	struct m_ent *e = NULL;
	uint64_t n = m_file(id, &e) == 0 ? e->nchunks : 0;
	char what[32];
	snprintf(what, sizeof(what), "file %" PRIu64, id);
	int err, want;
	if (rnd_n(3)) {
		uint64_t index = rnd_n(4) ? n : rnd_n((uint32_t)n + 2);
		struct ns_chunk got = {0, 0}, exp = {0, 0};
		want = m_alloc(id, index, &exp);
		err = ns_chunk_alloc(ns, id, index, now, &got);
		CHECK_ERR("chunk_alloc", err, want, what);
		CHECK(err || (got.id == exp.id && got.version == exp.version));
	} else {
		uint64_t size = rnd_n(2) ? rnd_n((uint32_t)(n + 1) * CHUNK + 1) : n * CHUNK;
		want = m_set_size(id, size, now);
		err = ns_set_size(ns, id, size, now);
		CHECK_ERR("set_size", err, want, what);
	}
	CHECK(recs->n - before == (err == 0));
}

/* One random operation on ns and the model; compares results and records emitted. */
static void random_op(struct ns *ns, struct bytes *recs, int64_t now)
{
	char p[NS_PATH_MAX + 64], q[NS_PATH_MAX + 64];
	rand_path(p, sizeof(p));
	size_t before = recs->n;
	struct ns_inode *ino = NULL;
	uint64_t id = 0;
	long i;
	int err, want, r = (int)rnd_n(115);
	if (r >= 100) {
		random_chunk_op(ns, recs, now);
		return;
	}
	if (r < 14) {
		uint32_t mode = rnd_n(010000);
		size_t n0 = M.n;
		want = m_mkdir(p, mode, 0, now, &id);
		err = ns_mkdir(ns, p, mode, 7, 8, 0, now, &ino);
		CHECK_ERR("mkdir", err, want, p);
		CHECK(recs->n - before == M.n - n0);
	} else if (r < 22) {
		size_t n0 = M.n;
		want = m_mkdir(p, 0700, 1, now, &id);
		err = ns_mkdir(ns, p, 0700, 7, 8, 1, now, &ino);
		CHECK_ERR("mkdir -p", err, want, p);
		CHECK(recs->n - before == M.n - n0);
	} else if (r < 38) {
		int excl = (int)rnd_n(2);
		uint32_t repl = rnd_n(20) == 0 ? 17 : rnd_n(5);
		size_t n0 = M.n;
		want = m_create(p, 0644, repl, excl, now, &id);
		err = ns_create(ns, p, 0644, 7, 8, repl, excl, now, &ino);
		CHECK_ERR("create", err, want, p);
		CHECK(recs->n - before == M.n - n0);
	} else if (r < 54) {
		rand_path(q, sizeof(q));
		if (rnd_n(3) == 0 && M.n > 1) /* often into a directory that exists */
			snprintf(q, sizeof(q), "%s/%s", M.v[rnd_n((uint32_t)M.n)].path,
				 pool[rnd_n(POOL_N)]);
		want = m_rename(p, q, now);
		err = ns_rename(ns, p, q, now);
		CHECK_ERR("rename", err, want, p);
		renames_too_long += want == -ENAMETOOLONG && m_syntax(q) == 0;
		CHECK(recs->n - before == (!err && strcmp(p, q) != 0));
	} else if (r < 66) {
		int rec = rnd_n(4) == 0;
		want = m_remove(p, rec, now);
		err = ns_remove(ns, p, rec, now);
		CHECK_ERR(rec ? "rm -r" : "rm", err, want, p);
		CHECK(recs->n - before == !err);
	} else if (r < 76) {
		uint32_t mask = rnd_n(50) == 0 ? 64 : rnd_n(64);
		mask &= ~(uint32_t)(CAIRN__SETATTR_BIT__SETATTR_GID |
				    CAIRN__SETATTR_BIT__SETATTR_ATIME);
		uint32_t mode = rnd_n(010000), repl = rnd_n(18);
		want = m_setattr(p, mask, mode, 42, now - 5, repl, now);
		err = ns_setattr(ns, p, mask, mode, 42, 0, 0, now - 5, repl, now, &ino);
		CHECK_ERR("setattr", err, want, p);
		CHECK(recs->n - before == (!err && mask));
		if (!err && !want)
			id = M.v[m_find(p)].id;
	} else if (r < 88) {
		want = m_lookup(p, &i);
		err = ns_lookup(ns, p, &ino);
		CHECK_ERR("lookup", err, want, p);
		if (!err && !want) {
			id = M.v[i].id;
			CHECK(attr_matches(ino, &M.v[i]));
		}
	} else {
		char after[NS_NAME_MAX + 1] = "";
		if (rnd_n(2))
			snprintf(after, sizeof(after), "%s", pool[rnd_n(POOL_N)]);
		check_readdir(ns, p, after, 1 + rnd_n(4));
		CHECK(recs->n == before);
		return;
	}
	if (!err && !want && ino)
		CHECK(ns_inode_id(ino) == id);
	if (err)
		CHECK(recs->n == before);
}

static void test_random(uint64_t seed)
{
	struct bytes recs = {0};
	struct drops live = {0, 0}, replayed = {0, 0};
	struct ns *ns = ns_new();
	ns_set_emit(ns, on_emit, &recs);
	ns_set_chunk_size(ns, CHUNK);
	ns_set_drop(ns, on_drop, &live);
	m_init();
	size_t ops = SLOW_BUILD ? RANDOM_OPS / 2 : RANDOM_OPS, max_n = 0;
	int64_t now = 1000000;
	double t0 = now_s();
	for (op_no = 1; op_no <= ops && failures < 20; op_no++) {
		now += 10;
		random_op(ns, &recs, now);
		if (live.n != M.dropped.n || live.hash != M.dropped.hash) {
			fprintf(stderr,
				"op %" PRIu64 ": dropped %" PRIu64 " chunks, model %" PRIu64 "\n",
				op_no, live.n, M.dropped.n);
			failures++;
			live = M.dropped;
		}
		if (M.n > max_n)
			max_n = M.n;
		if (op_no % FULL_CHECK_EVERY == 0) {
			full_check(ns);
			check_listing(ns, "/", 1 + rnd_n(3));
			const struct m_ent *e = &M.v[rnd_n((uint32_t)M.n)];
			if (e->dir && strlen(e->path) < NS_PATH_MAX)
				check_listing(ns, e->path, 2);
		}
	}
	full_check(ns);
	printf("random: %" PRIu64 " ops (seed %" PRIu64 "), %zu records, up to %zu inodes, %" PRIu64
	       " chunks made, %" PRIu64 " dropped, %" PRIu64 " renames too long, %.2f s\n",
	       op_no - 1, seed, recs.n, max_n, M.next_chunk_id - 1, M.dropped.n, renames_too_long,
	       now_s() - t0);
	CHECK(M.dropped.n > 1000 && M.next_chunk_id > 2000);

	/*
	 * Every emitted record, replayed into a fresh namespace, gives the same
	 * tree and drops the same chunks.
	 */
	struct ns *again = ns_new();
	ns_set_chunk_size(again, CHUNK);
	ns_set_drop(again, on_drop, &replayed);
	CHECK(replay_into(again, &recs) == 0);
	CHECK(same_dump(ns, again));
	CHECK(ns_next_id(again) == ns_next_id(ns));
	CHECK(ns_next_chunk_id(again) == ns_next_chunk_id(ns));
	CHECK(replayed.n == live.n && replayed.hash == live.hash);
	/* Freeing a namespace is not dropping its chunks. */
	ns_free(again);
	ns_free(ns);
	CHECK(replayed.n == live.n && live.n == M.dropped.n);
	free(recs.data);
}

/* ---- fixed cases --------------------------------------------------------------------- */

static void test_bad_paths(void)
{
	struct bytes recs = {0}, before = {0}, after = {0};
	struct ns *ns = ns_new();
	struct ns_inode *ino;
	CHECK(ns_mkdir(ns, "/d", 0755, 0, 0, 0, 1, NULL) == 0);
	CHECK(ns_create(ns, "/d/f", 0644, 0, 0, 0, 1, 1, NULL) == 0);
	ns_set_emit(ns, on_emit, &recs);
	dump(ns, &before);
	char long_name[NS_NAME_MAX + 3], long_path[NS_PATH_MAX + 2];
	long_name[0] = '/';
	memset(long_name + 1, 'n', NS_NAME_MAX + 1);
	long_name[NS_NAME_MAX + 2] = '\0';
	memset(long_path, 'p', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	for (size_t k = 1; k < sizeof(long_path) - 1; k += 200)
		long_path[k] = '/';
	static const char *const inval[] = {"",	  "d",	 "d/f",	 "//",	  "/d//f", "/d/",
					    "/.", "/..", "/d/.", "/d/..", "/./d",  "/d/../d"};
	for (size_t k = 0; k < sizeof(inval) / sizeof(inval[0]); k++) {
		const char *p = inval[k];
		CHECK(ns_lookup(ns, p, &ino) == -EINVAL);
		CHECK(ns_mkdir(ns, p, 0755, 0, 0, 1, 2, &ino) == -EINVAL);
		CHECK(ns_mkdir(ns, p, 0755, 0, 0, 0, 2, &ino) == -EINVAL);
		CHECK(ns_create(ns, p, 0644, 0, 0, 0, 0, 2, &ino) == -EINVAL);
		CHECK(ns_rename(ns, p, "/x", 2) == -EINVAL);
		CHECK(ns_rename(ns, "/d", p, 2) == -EINVAL);
		CHECK(ns_remove(ns, p, 1, 2) == -EINVAL);
		CHECK(ns_setattr(ns, p, 1, 0, 0, 0, 0, 0, 0, 2, &ino) == -EINVAL);
		CHECK(ns_readdir(ns, p, NULL, 0, collect, NULL, NULL) == -EINVAL);
	}
	CHECK(ns_lookup(ns, NULL, &ino) == -EINVAL);
	const char *toolong[] = {long_name, long_path};
	for (size_t k = 0; k < 2; k++) {
		CHECK(ns_lookup(ns, toolong[k], &ino) == -ENAMETOOLONG);
		CHECK(ns_mkdir(ns, toolong[k], 0755, 0, 0, 1, 2, &ino) == -ENAMETOOLONG);
		CHECK(ns_create(ns, toolong[k], 0644, 0, 0, 0, 0, 2, &ino) == -ENAMETOOLONG);
		CHECK(ns_rename(ns, "/d", toolong[k], 2) == -ENAMETOOLONG);
	}
	long_name[NS_NAME_MAX + 1] = '\0'; /* exactly NS_NAME_MAX bytes: fine */
	CHECK(ns_lookup(ns, long_name, &ino) == -ENOENT);
	CHECK(ns_remove(ns, "/", 1, 2) == -EBUSY);
	CHECK(ns_rename(ns, "/", "/x", 2) == -EBUSY);
	CHECK(ns_rename(ns, "/d", "/d/x", 2) == -EINVAL);
	CHECK(ns_rename(ns, "/d", "/d", 2) == 0);
	CHECK(ns_create(ns, "/d/f", 0644, 0, 0, 17, 0, 2, &ino) == -EINVAL);
	CHECK(ns_create(ns, "/d/f/g", 0644, 0, 0, 0, 0, 2, &ino) == -ENOTDIR);
	CHECK(ns_mkdir(ns, "/d/f/g", 0755, 0, 0, 1, 2, &ino) == -ENOTDIR);
	CHECK(ns_mkdir(ns, "/d/f", 0755, 0, 0, 1, 2, &ino) == -EEXIST);
	CHECK(ns_setattr(ns, "/d", 128, 0, 0, 0, 0, 0, 0, 2, &ino) == -EINVAL);
	CHECK(ns_setattr(ns, "/d", CAIRN__SETATTR_BIT__SETATTR_REPLICATION, 0, 0, 0, 0, 0, 0, 2,
			 &ino) == -EINVAL);
	CHECK(ns_readdir(ns, "/d/f", NULL, 0, collect, NULL, NULL) == -ENOTDIR);
	dump(ns, &after);
	CHECK(recs.n == 0);
	CHECK(before.len == after.len && memcmp(before.data, after.data, before.len) == 0);
	free(before.data);
	free(after.data);
	free(recs.data);
	ns_free(ns);
}

static int name_strcmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* A 100,000-entry directory lists completely, in order, in pages of 1000. */
static void test_big_dir(void)
{
	struct ns *ns = ns_new();
	char(*names)[16] = malloc(BIG_DIR * sizeof(*names));
	char path[64];
	CHECK(ns_mkdir(ns, "/big", 0755, 0, 0, 0, 1, NULL) == 0);
	for (uint32_t k = 0; k < BIG_DIR; k++) {
		snprintf(names[k], sizeof(names[k]), "f%08x", (uint32_t)(rnd() & 0x7fffffff));
		snprintf(path, sizeof(path), "/big/%s", names[k]);
		CHECK(ns_create(ns, path, 0644, 0, 0, 0, 0, 2, NULL) == 0);
	}
	qsort(names, BIG_DIR, sizeof(*names), name_strcmp);
	size_t uniq = 0;
	for (size_t k = 0; k < BIG_DIR; k++)
		if (k == 0 || strcmp(names[k], names[uniq - 1]) != 0)
			memcpy(names[uniq++], names[k], sizeof(names[k]));
	char after[32] = "";
	size_t got = 0, pages = 0;
	int more = 1;
	while (more) {
		struct page pg = {.n = 0};
		CHECK(ns_readdir(ns, "/big", after, 1000, collect, &pg, &more) == 0);
		CHECK(pg.n == 1000 || !more);
		for (size_t j = 0; j < pg.n; j++, got++)
			CHECK(got < uniq && strcmp(pg.names[j], names[got]) == 0);
		if (pg.n)
			snprintf(after, sizeof(after), "%s", pg.names[pg.n - 1]);
		pages++;
		page_free(&pg);
	}
	CHECK(got == uniq);
	CHECK(pages == (uniq + 999) / 1000);
	struct ns_inode *ino;
	CHECK(ns_lookup(ns, "/big", &ino) == 0);
	Cairn__Attr a = CAIRN__ATTR__INIT;
	ns_fill_attr(ino, &a);
	CHECK(a.nentries == uniq);
	CHECK(ns_remove(ns, "/big", 0, 3) == -ENOTEMPTY);
	CHECK(ns_remove(ns, "/big", 1, 3) == 0);
	CHECK(ns_count(ns) == 1);
	free(names);
	ns_free(ns);
}

static int count_one(void *arg, const struct ns_inode *ino)
{
	(*(size_t *)arg)++;
	return 0;
}

/* Appends "/" and a 250-byte name of letter ch to path. */
static void add_long(char *path, char ch)
{
	size_t len = strlen(path);
	path[len] = '/';
	memset(path + len + 1, ch, 250);
	path[len + 251] = '\0';
}

/*
 * A rename that would put a path below its target at NS_PATH_MAX bytes or
 * more is refused and changes nothing, also when the subtree's bound is
 * stale (what made it deep was removed: the move is then allowed).
 */
static void test_rename_path_limit(void)
{
	struct bytes recs = {0}, before = {0}, after = {0};
	struct ns *ns = ns_new();
	char deep[NS_PATH_MAX + 300] = "", s[NS_PATH_MAX] = "/s", cut[NS_PATH_MAX] = "";
	for (int k = 0; k < 8; k++) { /* /d.../d: 8 x 251 = 2008 bytes */
		add_long(deep, 'd');
		CHECK(ns_mkdir(ns, deep, 0755, 0, 0, 0, 1, NULL) == 0);
	}
	CHECK(ns_mkdir(ns, "/s", 0755, 0, 0, 0, 1, NULL) == 0);
	for (int k = 0; k < 9; k++) { /* /s/e.../e: 2 + 9 x 251 = 2261 bytes */
		add_long(s, 'e');
		CHECK(ns_mkdir(ns, s, 0755, 0, 0, 0, 1, NULL) == 0);
		if (k == 1)
			snprintf(cut, sizeof(cut), "%s", s);
	}
	CHECK(ns_create(ns, "/s/f", 0644, 0, 0, 0, 1, 1, NULL) == 0);
	ns_set_emit(ns, on_emit, &recs);
	dump(ns, &before);
	size_t len = strlen(deep);
	snprintf(deep + len, sizeof(deep) - len, "/moved");
	CHECK(ns_rename(ns, "/s", deep, 2) == -ENAMETOOLONG);
	dump(ns, &after);
	CHECK(before.len == after.len && memcmp(before.data, after.data, before.len) == 0);
	CHECK(recs.n == 0);
	CHECK(ns_rename(ns, "/s/f", deep, 2) == 0); /* a file: only its own path counts */
	CHECK(ns_rename(ns, deep, "/s/f", 2) == 0);
	/* Shorter below: the stale bound is walked and the move goes. */
	CHECK(ns_remove(ns, cut, 1, 3) == 0);
	CHECK(ns_rename(ns, "/s", deep, 4) == 0);
	CHECK(ns_rename(ns, deep, "/s", 5) == 0);
	/* Deep again by mkdir under the moved tree: refused again. */
	CHECK(ns_mkdir(ns, cut, 0755, 0, 0, 0, 6, NULL) == 0);
	for (int k = 0; k < 7; k++) {
		add_long(cut, 'g');
		CHECK(ns_mkdir(ns, cut, 0755, 0, 0, 0, 6, NULL) == 0);
	}
	CHECK(ns_rename(ns, "/s", deep, 7) == -ENAMETOOLONG);
	ns_free(ns);
	free(recs.data);
	free(before.data);
	free(after.data);
}

/* A 100,000-deep chain (built through records: paths could not reach it). */
static void test_deep_tree(void)
{
	struct ns *ns = ns_new();
	Cairn__LogMknod m = CAIRN__LOG_MKNOD__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	rec.op_case = CAIRN__LOG_RECORD__OP_MKNOD;
	rec.mknod = &m;
	m.type = CAIRN__FILE_TYPE__FILE_TYPE_DIR;
	m.name = "d";
	m.mode = 0755;
	int bad = 0;
	for (uint64_t k = 0; k < DEEP; k++) {
		m.parent = k ? 100 + k - 1 : NS_ROOT_ID;
		m.id = 100 + k;
		bad += ns_apply(ns, &rec) != 0;
	}
	CHECK(bad == 0);
	CHECK(ns_count(ns) == DEEP + 1);
	CHECK(ns_next_id(ns) == 100 + DEEP);
	size_t n = 0;
	CHECK(ns_walk(ns, count_one, &n) == 0 && n == DEEP + 1);
	/* Half of it is removed through a record, the rest by ns_free(). */
	Cairn__LogRemove r = CAIRN__LOG_REMOVE__INIT;
	rec.op_case = CAIRN__LOG_RECORD__OP_REMOVE;
	rec.remove = &r;
	r.parent = 100 + DEEP / 2;
	r.name = "d";
	CHECK(ns_apply(ns, &rec) == -ENOTEMPTY);
	r.recursive = 1;
	CHECK(ns_apply(ns, &rec) == 0);
	CHECK(ns_count(ns) == DEEP / 2 + 2);
	/* A directory cannot move below itself, however deep. */
	Cairn__LogRename mv = CAIRN__LOG_RENAME__INIT;
	rec.op_case = CAIRN__LOG_RECORD__OP_RENAME;
	rec.rename = &mv;
	mv.src_parent = NS_ROOT_ID;
	mv.src_name = "d";
	mv.dst_parent = 100 + DEEP / 2;
	mv.dst_name = "loop";
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	ns_free(ns);
}

/* Records that do not fit the state are refused and change nothing. */
static void test_apply_refuses(void)
{
	struct ns *ns = ns_new(), *ref;
	CHECK(ns_mkdir(ns, "/a", 0755, 0, 0, 0, 1, NULL) == 0);
	CHECK(ns_create(ns, "/a/f", 0644, 0, 0, 0, 0, 1, NULL) == 0);
	ref = ns_new();
	CHECK(ns_mkdir(ref, "/a", 0755, 0, 0, 0, 1, NULL) == 0);
	CHECK(ns_create(ref, "/a/f", 0644, 0, 0, 0, 0, 1, NULL) == 0);
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	Cairn__LogMknod m = CAIRN__LOG_MKNOD__INIT;
	rec.op_case = CAIRN__LOG_RECORD__OP_MKNOD;
	rec.mknod = &m;
	m.type = CAIRN__FILE_TYPE__FILE_TYPE_FILE;
	m.parent = 99, m.name = "x", m.id = 50;
	CHECK(ns_apply(ns, &rec) < 0); /* no parent */
	m.parent = 3, m.id = 51;
	CHECK(ns_apply(ns, &rec) < 0); /* parent is a file */
	m.parent = 2, m.name = "f";
	CHECK(ns_apply(ns, &rec) == -EEXIST);
	m.name = "g", m.id = 3;
	CHECK(ns_apply(ns, &rec) == -EEXIST); /* id taken */
	m.name = "..", m.id = 52;
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	m.name = "a/b";
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	m.name = "g", m.type = 7;
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	rec.op_case = CAIRN__LOG_RECORD__OP__NOT_SET;
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	Cairn__LogSetattr s = CAIRN__LOG_SETATTR__INIT;
	rec.op_case = CAIRN__LOG_RECORD__OP_SETATTR;
	rec.setattr = &s;
	s.id = 77, s.mask = 1;
	CHECK(ns_apply(ns, &rec) == -ENOENT);
	s.id = 3, s.mask = CAIRN__SETATTR_BIT__SETATTR_REPLICATION, s.replication = 0;
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	CHECK(same_dump(ns, ref));
	CHECK(ns_next_id(ns) == ns_next_id(ref));
	ns_free(ns);
	ns_free(ref);
}

/* Chunk records that do not fit; restoring files with chunks; drops on truncate. */
static void test_chunk_records(void)
{
	struct ns *ns = ns_new();
	struct drops d = {0, 0};
	struct ns_inode *f, *g;
	struct ns_chunk k;
	ns_set_chunk_size(ns, 100);
	ns_set_drop(ns, on_drop, &d);
	CHECK(ns_mkdir(ns, "/d", 0755, 0, 0, 0, 1, NULL) == 0);
	CHECK(ns_create(ns, "/d/f", 0644, 0, 0, 2, 1, 1, &f) == 0);
	uint64_t fid = ns_inode_id(f);
	CHECK(ns_chunk_alloc(ns, fid, 0, 2, &k) == 0 && k.id == 1 && k.version == 1);
	CHECK(ns_chunk_alloc(ns, fid, 1, 2, &k) == 0 && k.id == 2 && k.version == 1);
	CHECK(ns_chunk_alloc(ns, fid, 0, 3, &k) == 0 && k.id == 1 && k.version == 2);
	CHECK(ns_chunk_alloc(ns, fid, 3, 3, &k) == -EINVAL);
	CHECK(ns_chunk_alloc(ns, 2, 0, 3, &k) == -EISDIR);
	CHECK(ns_chunk_set_version(ns, fid, 1, 5, 4) == 0);
	CHECK(ns_chunk_set_version(ns, fid, 1, 5, 4) == -EINVAL);
	CHECK(ns_chunk_set_version(ns, fid, 2, 9, 4) == -EINVAL);
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	Cairn__LogChunk c = CAIRN__LOG_CHUNK__INIT;
	rec.op_case = CAIRN__LOG_RECORD__OP_CHUNK;
	rec.chunk = &c;
	c.file_id = fid, c.index = 2, c.chunk_id = 2, c.version = 1;
	CHECK(ns_apply(ns, &rec) == -EEXIST); /* a new chunk with a used id */
	c.chunk_id = 0;
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	c.chunk_id = 50, c.version = 0;
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	c.index = 1, c.chunk_id = 2, c.version = 4; /* not above the current 5 */
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	c.chunk_id = 3, c.version = 6; /* not that index's chunk */
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	c.file_id = 999;
	CHECK(ns_apply(ns, &rec) == -ENOENT);
	rec.chunk = NULL;
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	rec.op_case = CAIRN__LOG_RECORD__OP_SET_SIZE;
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	CHECK(ns_set_size(ns, 2, 0, 5) == -EISDIR && ns_set_size(ns, 999, 0, 5) == -ENOENT);
	size_t n;
	ns_inode_chunks(ns_get(ns, fid), &n);
	CHECK(n == 2 && ns_next_chunk_id(ns) == 3 && d.n == 0);

	/* Restoring: chunks and size come back, the next chunk id goes above them. */
	struct ns *copy = ns_new();
	Cairn__Attr a = CAIRN__ATTR__INIT;
	Cairn__ChunkRef r[2] = {CAIRN__CHUNK_REF__INIT, CAIRN__CHUNK_REF__INIT},
			*rp[2] = {&r[0], &r[1]};
	r[0].id = 40, r[0].version = 3, r[1].id = 41, r[1].version = 1;
	a.id = 5, a.parent = NS_ROOT_ID, a.name = "x", a.type = CAIRN__FILE_TYPE__FILE_TYPE_FILE;
	a.size = 150, a.chunks = rp, a.n_chunks = 2, a.nchunks = 1;
	CHECK(ns_restore(copy, &a) == -EINVAL); /* nchunks disagrees */
	r[1].version = 0, a.nchunks = 2;
	CHECK(ns_restore(copy, &a) == -EINVAL); /* a zero version */
	a.type = CAIRN__FILE_TYPE__FILE_TYPE_DIR, r[1].version = 1;
	CHECK(ns_restore(copy, &a) == -EINVAL); /* a directory with chunks */
	a.type = CAIRN__FILE_TYPE__FILE_TYPE_FILE;
	CHECK(ns_restore(copy, &a) == 0 && ns_count(copy) == 2);
	g = ns_get(copy, 5);
	const struct ns_chunk *gk = ns_inode_chunks(g, &n);
	CHECK(n == 2 && gk[0].id == 40 && gk[0].version == 3 && ns_inode_size(g) == 150);
	CHECK(ns_next_chunk_id(copy) == 42);
	ns_set_next_chunk_id(copy, 10); /* only ever raised */
	CHECK(ns_next_chunk_id(copy) == 42);
	ns_free(copy);

	/* Truncating to 0 drops every chunk, even uncommitted ones past the size. */
	CHECK(ns_set_size(ns, fid, 150, 6) == 0 && d.n == 0);
	CHECK(ns_set_size(ns, fid, 0, 7) == 0 && d.n == 2);
	ns_inode_chunks(ns_get(ns, fid), &n);
	CHECK(n == 0 && ns_inode_size(ns_get(ns, fid)) == 0);
	/* A new chunk after that gets a fresh id. */
	CHECK(ns_chunk_alloc(ns, fid, 0, 8, &k) == 0 && k.id == 3);
	/* Removing the directory drops the file's chunks. */
	CHECK(ns_remove(ns, "/d", 1, 9) == 0 && d.n == 3);
	ns_free(ns);
}

/*
 * Each file keeps the chunk size it was made with: new files take the
 * default at their create (or the one asked for), files whose records carry
 * none take the format chunk size, and changing the default later changes
 * neither (truncation drops chunks by the file's own size); sizes past
 * NS_CHUNK_SIZE_MAX and sizes on directories are refused.
 */
/* ns_restore rebuilds a tree from its walk, with ids and attributes. */
static int restore_one(void *arg, const struct ns_inode *ino)
{
	Cairn__Attr a = CAIRN__ATTR__INIT;
	ns_fill_attr(ino, &a);
	return ns_restore(arg, &a);
}

static void test_restore(void)
{
	struct ns *ns = ns_new(), *copy = ns_new();
	CHECK(ns_mkdir(ns, "/a/b/c", 0700, 1, 2, 1, 10, NULL) == 0);
	CHECK(ns_create(ns, "/a/b/f", 0600, 1, 2, 5, 1, 11, NULL) == 0);
	CHECK(ns_setattr(ns, "/", CAIRN__SETATTR_BIT__SETATTR_MODE, 0711, 0, 0, 0, 0, 0, 12,
			 NULL) == 0);
	CHECK(ns_walk(ns, restore_one, copy) == 0);
	CHECK(same_dump(ns, copy));
	Cairn__Attr a = CAIRN__ATTR__INIT;
	a.id = 2, a.parent = NS_ROOT_ID, a.name = "dup", a.type = CAIRN__FILE_TYPE__FILE_TYPE_FILE;
	CHECK(ns_restore(copy, &a) == -EEXIST);
	a.id = 99, a.parent = 98;
	CHECK(ns_restore(copy, &a) == -ENOENT);
	ns_free(ns);
	ns_free(copy);
}

/* Symbolic links: made, refused, replayed from their records and restored from a dump. */
static void test_symlinks(void)
{
	struct ns *ns = ns_new(), *again = ns_new(), *copy = ns_new();
	struct bytes recs = {0};
	struct ns_inode *ino;
	char longer[NS_PATH_MAX + 2];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = 0;
	ns_set_emit(ns, on_emit, &recs);
	CHECK(ns_mkdir(ns, "/d", 0755, 0, 0, 0, 1, NULL) == 0);
	CHECK(ns_symlink(ns, "/d/l", "../somewhere/else", 3, 4, 2, &ino) == 0);
	CHECK(ns_inode_is_symlink(ino) && !ns_inode_is_dir(ino));
	Cairn__Attr a = CAIRN__ATTR__INIT;
	ns_fill_attr(ino, &a);
	CHECK(a.type == CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK && a.size == 17 && a.uid == 3);
	CHECK(strcmp(a.symlink, "../somewhere/else") == 0);
	CHECK(ns_symlink(ns, "/d/l", "x", 0, 0, 3, NULL) == -EEXIST);
	CHECK(ns_symlink(ns, "/d/e", "", 0, 0, 3, NULL) == -ENOENT);
	CHECK(ns_symlink(ns, "/d/e", longer, 0, 0, 3, NULL) == -ENAMETOOLONG);
	CHECK(ns_symlink(ns, "/nope/e", "x", 0, 0, 3, NULL) == -ENOENT);
	CHECK(ns_symlink(ns, "/d/l/e", "x", 0, 0, 3, NULL) == -ENOTDIR);
	CHECK(ns_create(ns, "/d/l", 0644, 0, 0, 0, 0, 4, NULL) == -EEXIST);
	CHECK(ns_lookup(ns, "/d/l/x", NULL) == -ENOTDIR);
	CHECK(ns_rename(ns, "/d/l", "/l2", 5) == 0);
	CHECK(ns_symlink(ns, "/d/gone", "y", 0, 0, 6, NULL) == 0);
	CHECK(ns_remove(ns, "/d/gone", 0, 7) == 0);
	CHECK(replay_into(again, &recs) == 0);
	CHECK(same_dump(ns, again));
	CHECK(ns_walk(ns, restore_one, copy) == 0);
	CHECK(same_dump(ns, copy));
	CHECK(ns_lookup(copy, "/l2", &ino) == 0 && ns_inode_is_symlink(ino));
	Cairn__Attr b = CAIRN__ATTR__INIT;
	b.id = 50, b.parent = NS_ROOT_ID, b.name = "bad",
	b.type = CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK;
	CHECK(ns_restore(copy, &b) == -EINVAL); /* a link without a target */
	free(recs.data);
	ns_free(ns);
	ns_free(again);
	ns_free(copy);
}

static void count_name(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
}

/* As restore_one, with the extended attributes a checkpoint carries. */
static int restore_xattrs_one(void *arg, const struct ns_inode *ino)
{
	Cairn__Attr a = CAIRN__ATTR__INIT;
	ns_fill_attr(ino, &a);
	size_t n = ns_xattr_count(ino);
	Cairn__Xattr *buf = calloc(n + 1, sizeof(*buf));
	Cairn__Xattr **ptrs = calloc(n + 1, sizeof(*ptrs));
	ns_fill_xattrs(ino, &a, buf, ptrs);
	int err = ns_restore(arg, &a);
	free(buf);
	free(ptrs);
	return err;
}

/* Extended attributes: bounds, flags, replay, and a dump restored. */
static void test_xattrs(void)
{
	struct ns *ns = ns_new(), *again = ns_new(), *copy = ns_new();
	struct bytes recs = {0};
	static uint8_t big[NS_XATTR_VALUE_MAX + 1];
	const uint8_t *v;
	size_t len;
	int n = 0;
	char longname[NS_XATTR_NAME_MAX + 2] = "user.";
	memset(longname + 5, 'n', sizeof(longname) - 6);
	ns_set_emit(ns, on_emit, &recs);
	CHECK(ns_create(ns, "/f", 0644, 0, 0, 0, 1, 1, NULL) == 0);
	CHECK(ns_setxattr(ns, "/f", "user.a", (const uint8_t *)"one", 3, 0, 2) == 0);
	CHECK(ns_setxattr(ns, "/f", "user.a", (const uint8_t *)"two!", 4, NS_XATTR_REPLACE, 3) ==
	      0);
	CHECK(ns_setxattr(ns, "/f", "user.b", NULL, 0, NS_XATTR_CREATE, 4) == 0);
	CHECK(ns_setxattr(ns, "/", "user.root", (const uint8_t *)"r", 1, 0, 4) == 0);
	CHECK(ns_setxattr(ns, "/f", "user.b", NULL, 0, NS_XATTR_CREATE, 5) == -EEXIST);
	CHECK(ns_setxattr(ns, "/f", "user.c", NULL, 0, NS_XATTR_REPLACE, 5) == -ENODATA);
	CHECK(ns_setxattr(ns, "/f", "trusted.a", NULL, 0, 0, 5) == -ENOTSUP);
	CHECK(ns_setxattr(ns, "/f", "user.", NULL, 0, 0, 5) == -EINVAL);
	CHECK(ns_setxattr(ns, "/f", longname, NULL, 0, 0, 5) == -ENAMETOOLONG);
	CHECK(ns_setxattr(ns, "/f", "user.big", big, sizeof(big), 0, 5) == -E2BIG);
	CHECK(ns_setxattr(ns, "/f", "user.big", big, sizeof(big) - 10, 0, 5) == -E2BIG); /* total */
	CHECK(ns_setxattr(ns, "/nope", "user.a", NULL, 0, 0, 5) == -ENOENT);
	CHECK(ns_removexattr(ns, "/f", "user.nope", 5) == -ENODATA);
	CHECK(ns_getxattr(ns, "/f", "user.a", &v, &len) == 0 && len == 4 && !memcmp(v, "two!", 4));
	CHECK(ns_getxattr(ns, "/f", "user.nope", &v, &len) == -ENODATA);
	CHECK(ns_listxattr(ns, "/f", count_name, &n) == 0 && n == 2);
	CHECK(ns_setxattr(ns, "/f", "user.gone", (const uint8_t *)"g", 1, 0, 6) == 0);
	CHECK(ns_removexattr(ns, "/f", "user.gone", 7) == 0);
	CHECK(replay_into(again, &recs) == 0);
	CHECK(ns_walk(ns, restore_xattrs_one, copy) == 0);
	CHECK(ns_getxattr(again, "/f", "user.b", &v, &len) == 0 && len == 0);
	CHECK(ns_getxattr(copy, "/f", "user.a", &v, &len) == 0 && len == 4 &&
	      !memcmp(v, "two!", 4));
	CHECK(ns_getxattr(copy, "/", "user.root", &v, &len) == 0 && len == 1);
	CHECK(ns_getxattr(copy, "/f", "user.gone", &v, &len) == -ENODATA);
	free(recs.data);
	ns_free(ns);
	ns_free(again);
	ns_free(copy);
}

/* ---- speed (printed, not asserted) ----------------------------------------------------- */

static void bench(void)
{
	size_t dirs = SLOW_BUILD ? 100 : 1000, files = 1000, n = dirs * files;
	char path[64];
	struct ns *ns = ns_new();
	struct ns_inode *ino;
	for (size_t d = 0; d < dirs; d++) {
		snprintf(path, sizeof(path), "/dir%05zu", d);
		CHECK(ns_mkdir(ns, path, 0755, 0, 0, 0, 1, NULL) == 0);
	}
	double t0 = now_s();
	for (size_t k = 0; k < n; k++) {
		snprintf(path, sizeof(path), "/dir%05zu/file%07zu", k % dirs, k);
		if (ns_create(ns, path, 0644, 0, 0, 0, 1, 2, &ino) != 0)
			failures++;
	}
	double t1 = now_s();
	for (size_t k = 0; k < n; k++) {
		snprintf(path, sizeof(path), "/dir%05zu/file%07zu", (k * 7919) % n % dirs,
			 (k * 7919) % n);
		if (ns_lookup(ns, path, &ino) != 0)
			failures++;
	}
	double t2 = now_s();
	printf("bench: %zu files: create %.0f ops/s, stat %.0f ops/s\n", n, (double)n / (t1 - t0),
	       (double)n / (t2 - t1));
	ns_free(ns);
}

/* ns_remove_file(): a file by id goes (its chunks to the drop hook); a directory stays. */
int main(int argc, char **argv)
{
	uint64_t seed = 0x5eed2024cafeull;
	const char *s = argc > 1 ? argv[1] : getenv("CAIRN_TEST_SEED");
	if (s)
		seed = strtoull(s, NULL, 0);
	printf("test_ns: seed %" PRIu64 "\n", seed);
	rng_state = seed ? seed : 1;
	test_bad_paths();
	test_apply_refuses();
	test_restore();
	test_symlinks();
	test_xattrs();
	test_chunk_records();
	test_random(seed);
	test_big_dir();
	test_deep_tree();
	test_rename_path_limit();
	bench();
	for (size_t i = 0; i < M.n; i++) {
		free(M.v[i].path);
		free(M.v[i].chunks);
	}
	free(M.v);
	if (failures) {
		printf("test_ns: %d failures (seed %" PRIu64 ")\n", failures, seed);
		return 1;
	}
	printf("test_ns: ok\n");
	return 0;
}
