/*
 * test_ns_file: files' own namespace rules, apart from test_ns's model: each
 * file's chunk size (fixed at create; records from before per-file sizes take
 * the format's; a new default changes no existing file) and ns_remove_file,
 * which the metaserver uses to drop dead clients' temporaries.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ns.h"

#include "check.h"

/* Drop-hook tally: how many chunks were dropped. */
struct drops {
	uint64_t n;
};

static void on_drop(void *arg, uint64_t file_id, const struct ns_chunk *chunks, size_t n)
{
	struct drops *d = arg;
	d->n += n;
}

static void test_file_chunk_sizes(void)
{
	struct ns *ns = ns_new();
	struct drops d = {0};
	struct ns_inode *a, *b, *c;
	struct ns_chunk k;
	ns_set_drop(ns, on_drop, &d);
	ns_set_chunk_size(ns, 1 << 20);
	ns_set_format_chunk_size(ns, 8 << 20);
	CHECK(ns_format_chunk_size(ns) == 8 << 20);
	CHECK(ns_create(ns, "/a", 0644, 0, 0, 0, 1, 1, &a) == 0);
	CHECK(ns_create_sized(ns, "/b", 0644, 0, 0, 0, 4 << 20, 1, 1, &b) == 0);
	CHECK(ns_create_sized(ns, "/x", 0644, 0, 0, 0, NS_CHUNK_SIZE_MAX * 2, 1, 1, NULL) ==
	      -EINVAL);
	Cairn__LogMknod m = CAIRN__LOG_MKNOD__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	m.parent = NS_ROOT_ID, m.name = "c", m.id = ns_next_id(ns);
	m.type = CAIRN__FILE_TYPE__FILE_TYPE_FILE;
	rec.op_case = CAIRN__LOG_RECORD__OP_MKNOD, rec.mknod = &m;
	CHECK(ns_apply(ns, &rec) == 0); /* made before per-file sizes */
	m.name = "dir", m.id = ns_next_id(ns), m.type = CAIRN__FILE_TYPE__FILE_TYPE_DIR;
	m.chunk_size = 1 << 20;
	CHECK(ns_apply(ns, &rec) == -EINVAL);
	ns_set_chunk_size(ns, 2 << 20); /* a restart with another default */
	CHECK(ns_lookup(ns, "/a", &a) == 0 && ns_file_chunk_size(ns, a) == 1 << 20);
	CHECK(ns_lookup(ns, "/b", &b) == 0 && ns_file_chunk_size(ns, b) == 4 << 20);
	CHECK(ns_lookup(ns, "/c", &c) == 0 && ns_file_chunk_size(ns, c) == 8 << 20);
	Cairn__Attr attr = CAIRN__ATTR__INIT;
	ns_fill_attr(c, &attr);
	CHECK(attr.chunk_size == 0);
	ns_fill_attr(b, &attr);
	CHECK(attr.chunk_size == 4 << 20);
	/* Three chunks each; a size of 1.5 chunks of the file's own keeps two. */
	uint64_t ids[3] = {ns_inode_id(a), ns_inode_id(b), ns_inode_id(c)};
	uint64_t cs[3] = {1 << 20, 4 << 20, 8 << 20};
	for (int f = 0; f < 3; f++) {
		for (uint64_t i = 0; i < 3; i++)
			CHECK(ns_chunk_alloc(ns, ids[f], i, 2, &k) == 0);
		CHECK(ns_set_size(ns, ids[f], 3 * cs[f], 3) == 0);
		uint64_t before = d.n;
		size_t n;
		CHECK(ns_set_size(ns, ids[f], cs[f] + cs[f] / 2, 4) == 0 && d.n == before + 1);
		ns_inode_chunks(ns_get(ns, ids[f]), &n);
		CHECK(n == 2);
	}
	ns_free(ns);
}

static void test_remove_file(void)
{
	struct ns *ns = ns_new();
	struct drops d = {0};
	struct ns_inode *f, *dir;
	struct ns_chunk k;
	ns_set_drop(ns, on_drop, &d);
	CHECK(ns_mkdir(ns, "/d", 0755, 0, 0, 0, 1, &dir) == 0);
	CHECK(ns_create(ns, "/d/.f.0123456789abcdef._COPYING_", 0644, 0, 0, 2, 1, 1, &f) == 0);
	uint64_t fid = ns_inode_id(f), did = ns_inode_id(dir);
	CHECK(strcmp(ns_inode_name(f), ".f.0123456789abcdef._COPYING_") == 0);
	CHECK(strcmp(ns_inode_name(ns_get(ns, NS_ROOT_ID)), "") == 0);
	CHECK(ns_chunk_alloc(ns, fid, 0, 2, &k) == 0);
	CHECK(ns_remove_file(ns, did, 3) == -EISDIR);
	CHECK(ns_remove_file(ns, fid, 3) == 0);
	CHECK(ns_get(ns, fid) == NULL && d.n == 1);
	CHECK(ns_lookup(ns, "/d/.f.0123456789abcdef._COPYING_", &f) == -ENOENT);
	CHECK(ns_remove_file(ns, fid, 4) == -ENOENT);
	ns_free(ns);
}

int main(void)
{
	test_file_chunk_sizes();
	test_remove_file();
	if (failures) {
		printf("test_ns_file: %d failures\n", failures);
		return 1;
	}
	printf("test_ns_file: ok\n");
	return 0;
}
