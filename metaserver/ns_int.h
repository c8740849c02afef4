/*
 * ns_int: what the namespace's two files share (ns.c: the tree, paths and
 * directory operations; ns_file.c: files' chunk lists and sizes); not for
 * other modules, which see only ns.h.
 */
#ifndef CAIRN_NS_INT_H
#define CAIRN_NS_INT_H

#include <bsd/sys/tree.h>

#include "ns.h"

RB_HEAD(ns_children, ns_inode);

struct ns_inode {
	RB_ENTRY(ns_inode) link;     /* in parent->children */
	struct ns_inode *parent;     /* NULL for the root */
	struct ns_children children; /* directories only */
	struct ns_chunk *chunks;     /* files only: nchunks used of chunks_cap */
	uint64_t chunks_cap;
	uint64_t id;
	uint64_t nentries;
	uint64_t size;
	uint64_t nchunks;
	uint64_t chunk_size; /* files only; 0: the format chunk size */
	char *symlink;	     /* symbolic links only: the target, owned */
	struct ns_xattr *xattrs; /* nxattrs extended attributes, owned (ns_xattr.c) */
	uint32_t nxattrs;
	int64_t atime_us;
	int64_t mtime_us;
	int64_t ctime_us;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t replication;
	uint16_t namelen;
	uint16_t reach; /* longest path below, relative ("/a/b": 4): a bound, see ns.c */
	uint8_t type;	/* a Cairn__FileType */
	char name[];	/* namelen bytes and a NUL; "" for the root */
};

struct ns {
	struct ns_inode *root;
	struct ns_inode **ids; /* hash table by id, 1 << id_bits slots */
	unsigned id_bits;
	size_t count;
	uint64_t next_id;
	uint64_t next_chunk_id;	    /* above every chunk id ever handed out */
	uint64_t chunk_size;	    /* of new files */
	uint64_t format_chunk_size; /* of files whose records carry none; 0: chunk_size */
	uint8_t fs_id[NS_ID_LEN];
	uint32_t def_replication;
	ns_emit_fn emit;
	void *emit_arg;
	ns_drop_fn drop;
	void *drop_arg;
};

/* ns.c: applies rec and hands it to the emit hook. Returns 0 or a negative error. */
int ns_commit(struct ns *ns, Cairn__LogRecord *rec);

/* ns_file.c: the LogChunk and LogSetSize records (see ns_apply()). */
int ns_apply_chunk(struct ns *ns, const Cairn__LogChunk *c);
int ns_apply_set_size(struct ns *ns, int64_t time_us, const Cairn__LogSetSize *s);

/*
 * ns_file.c: an inode is going away: hands its chunks to the drop hook and
 * frees its chunk list.
 */
void ns_file_release(struct ns *ns, struct ns_inode *ino);

/* One extended attribute: name and value in one allocation. */
struct ns_xattr {
	char *name; /* NUL-terminated; value follows it */
	uint8_t *value;
	size_t len;
};

/* ns_xattr.c: the LogXattr record (see ns_apply()). */
int ns_apply_xattr(struct ns *ns, int64_t time_us, const Cairn__LogXattr *x);
/* ns_xattr.c: frees ino's extended attributes. */
void ns_xattr_release(struct ns_inode *ino);
/* ns_xattr.c: a restored inode's extended attributes from its checkpoint Attr. */
int ns_xattr_restore(struct ns_inode *ino, const Cairn__Attr *attr);

/* ns_file.c: a restored file's size and chunk list from its checkpoint Attr. */
int ns_file_restore(struct ns *ns, struct ns_inode *ino, const Cairn__Attr *attr);

#endif
