/*
 * ns_file: the namespace's files as data: each file's ordered chunk list
 * and committed size (the contract is in ns.h; the tree is in ns.c).
 *
 * A file's chunks are one array in index order, grown by doubling. Two
 * records change them: LogChunk appends a chunk at index == count or
 * raises the version of an existing one; LogSetSize sets the size and,
 * when it does not grow the file, cuts the chunks wholly past the new size
 * (after handing them to the drop hook). Removing or replacing a file goes
 * through ns_file_release(), which hands its chunks to the same hook.
 *
 * Invariants:
 *  - directories have no chunks; a file's nchunks <= chunks_cap;
 *  - every chunk id and version is non-zero, every id is below
 *    ns->next_chunk_id, and a version only ever grows;
 *  - a new chunk's id is at or above next_chunk_id when it is applied
 *    (ids are handed out in increasing order and never again);
 *  - a file's chunk size never changes (ns_file_chunk_size()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ns_int.h"
#include "util.h"

void ns_set_chunk_size(struct ns *ns, uint64_t chunk_size)
{
	if (chunk_size)
		ns->chunk_size = chunk_size;
}

uint64_t ns_chunk_size(const struct ns *ns)
{
	return ns->chunk_size;
}

void ns_set_format_chunk_size(struct ns *ns, uint64_t chunk_size)
{
	ns->format_chunk_size = chunk_size;
}

uint64_t ns_format_chunk_size(const struct ns *ns)
{
	return ns->format_chunk_size ? ns->format_chunk_size : ns->chunk_size;
}

uint64_t ns_file_chunk_size(const struct ns *ns, const struct ns_inode *ino)
{
	return ino->chunk_size ? ino->chunk_size : ns_format_chunk_size(ns);
}

void ns_set_fs_id(struct ns *ns, const uint8_t *id)
{
	memcpy(ns->fs_id, id, NS_ID_LEN);
}

const uint8_t *ns_fs_id(const struct ns *ns)
{
	return ns->fs_id;
}

uint64_t ns_next_chunk_id(const struct ns *ns)
{
	return ns->next_chunk_id;
}

void ns_set_next_chunk_id(struct ns *ns, uint64_t next_chunk_id)
{
	if (next_chunk_id > ns->next_chunk_id)
		ns->next_chunk_id = next_chunk_id;
}

uint64_t ns_inode_size(const struct ns_inode *ino)
{
	return ino->size;
}

uint32_t ns_inode_replication(const struct ns_inode *ino)
{
	return ino->replication;
}

const struct ns_chunk *ns_inode_chunks(const struct ns_inode *ino, size_t *n)
{
	*n = (size_t)ino->nchunks;
	return ino->chunks;
}

/* The file with that id: 0, -ENOENT or -EISDIR. */
static int file_get(const struct ns *ns, uint64_t id, struct ns_inode **out)
{
	struct ns_inode *ino = ns_get(ns, id);
	if (!ino)
		return -ENOENT;
	if (ino->type != CAIRN__FILE_TYPE__FILE_TYPE_FILE)
		return -EISDIR;
	*out = ino;
	return 0;
}

static int chunk_ok(uint64_t id, uint64_t version)
{
	return id != 0 && id != UINT64_MAX && version != 0;
}

/* ---- records --------------------------------------------------------------------- */

int ns_apply_chunk(struct ns *ns, const Cairn__LogChunk *c)
{
	struct ns_inode *ino;
	int err = file_get(ns, c->file_id, &ino);
	if (err)
		return err;
	if (!chunk_ok(c->chunk_id, c->version) || c->index > ino->nchunks)
		return -EINVAL;
	if (c->index < ino->nchunks) {
		struct ns_chunk *k = &ino->chunks[c->index];
		if (k->id != c->chunk_id || c->version <= k->version)
			return -EINVAL;
		k->version = c->version;
		return 0;
	}
	if (c->chunk_id < ns->next_chunk_id)
		return -EEXIST;
	if (ino->nchunks == ino->chunks_cap) {
		uint64_t cap = ino->chunks_cap ? ino->chunks_cap * 2 : 4;
		ino->chunks = xrealloc(ino->chunks, (size_t)cap * sizeof(*ino->chunks));
		ino->chunks_cap = cap;
	}
	ino->chunks[ino->nchunks].id = c->chunk_id;
	ino->chunks[ino->nchunks].version = c->version;
	ino->nchunks++;
	ns->next_chunk_id = c->chunk_id + 1;
	return 0;
}

int ns_apply_set_size(struct ns *ns, int64_t time_us, const Cairn__LogSetSize *s)
{
	struct ns_inode *ino;
	int err = file_get(ns, s->file_id, &ino);
	if (err)
		return err;
	if (s->size <= ino->size) {
		uint64_t cs = ns_file_chunk_size(ns, ino);
		uint64_t keep = s->size / cs + (s->size % cs != 0);
		if (keep < ino->nchunks) {
			if (ns->drop)
				ns->drop(ns->drop_arg, ino->id, ino->chunks + keep,
					 (size_t)(ino->nchunks - keep));
			ino->nchunks = keep;
		}
		if (keep == 0) {
			free(ino->chunks);
			ino->chunks = NULL;
			ino->chunks_cap = 0;
		}
	}
	ino->size = s->size;
	ino->mtime_us = s->mtime_us;
	ino->ctime_us = time_us;
	return 0;
}

void ns_file_release(struct ns *ns, struct ns_inode *ino)
{
	if (ino->nchunks && ns->drop)
		ns->drop(ns->drop_arg, ino->id, ino->chunks, (size_t)ino->nchunks);
	free(ino->chunks);
	ino->chunks = NULL;
	ino->nchunks = ino->chunks_cap = 0;
}

int ns_file_restore(struct ns *ns, struct ns_inode *ino, const Cairn__Attr *attr)
{
	size_t n = attr->n_chunks;
	uint64_t max = 0;
	if (attr->nchunks != n)
		return -EINVAL;
	struct ns_chunk *v = NULL;
	if (n)
		v = xmalloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const Cairn__ChunkRef *r = attr->chunks[i];
		if (!r || !chunk_ok(r->id, r->version)) {
			free(v);
			return -EINVAL;
		}
		v[i].id = r->id;
		v[i].version = r->version;
		if (r->id > max)
			max = r->id;
	}
	if (attr->chunk_size > NS_CHUNK_SIZE_MAX) {
		free(v);
		return -EINVAL;
	}
	ino->chunks = v;
	ino->nchunks = ino->chunks_cap = n;
	ino->size = attr->size;
	ino->chunk_size = attr->chunk_size;
	ns_set_next_chunk_id(ns, max + 1);
	return 0;
}

/* ---- operations ------------------------------------------------------------------- */

static int commit_chunk(struct ns *ns, uint64_t file_id, uint64_t index, const struct ns_chunk *k,
			int64_t now_us)
{
	Cairn__LogChunk c = CAIRN__LOG_CHUNK__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	c.file_id = file_id;
	c.index = index;
	c.chunk_id = k->id;
	c.version = k->version;
	rec.time_us = now_us;
	rec.op_case = CAIRN__LOG_RECORD__OP_CHUNK;
	rec.chunk = &c;
	return ns_commit(ns, &rec);
}

int ns_chunk_alloc(struct ns *ns, uint64_t file_id, uint64_t index, int64_t now_us,
		   struct ns_chunk *out)
{
	struct ns_inode *ino;
	int err = file_get(ns, file_id, &ino);
	if (err)
		return err;
	if (index > ino->nchunks)
		return -EINVAL;
	struct ns_chunk k = {ns->next_chunk_id, 1};
	if (index < ino->nchunks) {
		k = ino->chunks[index];
		k.version++;
	}
	err = commit_chunk(ns, file_id, index, &k, now_us);
	if (!err)
		*out = k;
	return err;
}

int ns_chunk_set_version(struct ns *ns, uint64_t file_id, uint64_t index, uint64_t version,
			 int64_t now_us)
{
	struct ns_inode *ino;
	int err = file_get(ns, file_id, &ino);
	if (err)
		return err;
	if (index >= ino->nchunks || version <= ino->chunks[index].version)
		return -EINVAL;
	struct ns_chunk k = {ino->chunks[index].id, version};
	return commit_chunk(ns, file_id, index, &k, now_us);
}

int ns_set_size(struct ns *ns, uint64_t file_id, uint64_t size, int64_t now_us)
{
	struct ns_inode *ino;
	int err = file_get(ns, file_id, &ino);
	if (err)
		return err;
	Cairn__LogSetSize s = CAIRN__LOG_SET_SIZE__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	s.file_id = file_id;
	s.size = size;
	s.mtime_us = now_us;
	rec.time_us = now_us;
	rec.op_case = CAIRN__LOG_RECORD__OP_SET_SIZE;
	rec.set_size = &s;
	return ns_commit(ns, &rec);
}
