/*
 * ns: the metaserver's namespace, in memory.
 *
 * Inodes (directories and files) hang off the root (id NS_ROOT_ID) by
 * name; each directory keeps its children in name order, so readdir pages
 * are stable under concurrent changes (a page resumes after the last name
 * returned). Ids are never reused.
 *
 * Every mutation goes through one path: an operation (ns_mkdir, ...)
 * checks its arguments, builds the LogRecord(s) that describe the change
 * with ids and times resolved, applies each with ns_apply(), and hands it
 * to the emit hook (the op log). Replay calls ns_apply() with the same
 * records, so the state after replay equals the state before the crash.
 * A failed operation changes nothing and emits nothing.
 *
 * Files hold an ordered list of chunks (id, version) and a size. Chunk
 * ids come from one counter and are never reused, not even after a
 * restart (checkpoints store the counter; replay raises it). Whenever
 * chunks leave the namespace (a shrinking LogSetSize, a removed or
 * replaced file) the drop hook hears of them, live and during replay, so
 * the chunk map can forget them.
 *
 * Not thread-safe: one thread (the metaserver's event loop, or a test)
 * owns an ns. A fork()ed child may read it (checkpoints).
 */
#ifndef CAIRN_NS_H
#define CAIRN_NS_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.pb-c.h"

#define NS_ROOT_ID	      1
#define NS_NAME_MAX	      255
#define NS_PATH_MAX	      4096
#define NS_READDIR_MAX	      1000 /* entries per page at most */
#define NS_REPLICATION_MAX    16
#define NS_CHUNK_SIZE_DEFAULT (64ull << 20)
#define NS_CHUNK_SIZE_MAX     (256ull << 20) /* of one file: a replica holds at most that */
#define NS_ID_LEN	      16	     /* bytes of a file-system id */

struct ns;
struct ns_inode;

/* One chunk of a file. */
struct ns_chunk {
	uint64_t id;
	uint64_t version;
};

/*
 * Called for every record an operation applies, in order. rec is borrowed
 * for the call; the hook may set rec->seq before it encodes it.
 */
typedef void (*ns_emit_fn)(void *arg, Cairn__LogRecord *rec);

/*
 * Called with the chunks of file file_id that leave the namespace, before
 * they are gone; chunks is borrowed for the call, which must not mutate ns.
 */
typedef void (*ns_drop_fn)(void *arg, uint64_t file_id, const struct ns_chunk *chunks, size_t n);

/* Returns a new namespace holding only the root (free with ns_free()); never NULL. */
struct ns *ns_new(void);
void ns_free(struct ns *ns);

/* Sets the hook that receives each applied record (NULL: none). */
void ns_set_emit(struct ns *ns, ns_emit_fn fn, void *arg);

/* Sets the hook that hears of dropped chunks (NULL: none). ns_free() calls none. */
void ns_set_drop(struct ns *ns, ns_drop_fn fn, void *arg);

/*
 * Chunk sizes. Each file has its own, fixed at create and carried by its
 * LogMknod record and its checkpoint Attr; it maps the file's offsets to
 * chunk indexes (a shrinking size drops the chunks past it).
 * ns_set_chunk_size() sets the size new files get when their create names
 * none (default NS_CHUNK_SIZE_DEFAULT; 0 is ignored). Files whose records
 * carry none (made before per-file sizes) have the format chunk size:
 * ns_set_format_chunk_size(), set before replay and kept for the life of
 * the data dir (0, the default: the new files' size).
 */
void ns_set_chunk_size(struct ns *ns, uint64_t chunk_size);
uint64_t ns_chunk_size(const struct ns *ns);
void ns_set_format_chunk_size(struct ns *ns, uint64_t chunk_size);
uint64_t ns_format_chunk_size(const struct ns *ns);

/* The chunk size of file ino (see above). */
uint64_t ns_file_chunk_size(const struct ns *ns, const struct ns_inode *ino);

/*
 * The id of the file system (NS_ID_LEN bytes, all zeros until set), which
 * checkpoints carry. ns_fs_id() is borrowed for the life of ns.
 */
void ns_set_fs_id(struct ns *ns, const uint8_t *id);
const uint8_t *ns_fs_id(const struct ns *ns);

/* Default replication for files created with replication 0. */
void ns_set_default_replication(struct ns *ns, uint32_t replication);

/*
 * Applies one record (from an operation or from replay). Returns 0, or a
 * negative error when the record does not fit the current state (a
 * corrupt or out-of-order log): then nothing changed.
 */
int ns_apply(struct ns *ns, const Cairn__LogRecord *rec);

/*
 * Path operations. Paths are absolute; empty components, "." and ".." are
 * refused (-EINVAL); a component longer than NS_NAME_MAX gives
 * -ENAMETOOLONG. now_us stamps the times the change sets.
 * *out (when non-NULL) is borrowed until the next mutation.
 * Errors: -ENOENT, -EEXIST, -ENOTDIR, -EISDIR, -ENOTEMPTY, -EINVAL, -ENAMETOOLONG.
 */
int ns_lookup(struct ns *ns, const char *path, struct ns_inode **out);
/* With parents: creates missing ancestors and succeeds on an existing dir. */
int ns_mkdir(struct ns *ns, const char *path, uint32_t mode, uint32_t uid, uint32_t gid,
	     int parents, int64_t now_us, struct ns_inode **out);
/*
 * Without exclusive, an existing file is returned as it is. ns_create()
 * gives a new file the default chunk size, ns_create_sized() chunk_size
 * (0: the default; else at most NS_CHUNK_SIZE_MAX, which the caller has
 * checked further).
 */
int ns_create(struct ns *ns, const char *path, uint32_t mode, uint32_t uid, uint32_t gid,
	      uint32_t replication, int exclusive, int64_t now_us, struct ns_inode **out);
int ns_create_sized(struct ns *ns, const char *path, uint32_t mode, uint32_t uid, uint32_t gid,
		    uint32_t replication, uint64_t chunk_size, int exclusive, int64_t now_us,
		    struct ns_inode **out);
/*
 * Atomic. Replaces an existing file, or an empty directory when src is a
 * directory. Moving a directory under itself is -EINVAL. Renaming onto
 * itself succeeds and changes nothing. A move that would make any path
 * below dst NS_PATH_MAX bytes or longer is -ENAMETOOLONG (O(1) unless the
 * subtree comes near the limit, then O(subtree)).
 */
int ns_rename(struct ns *ns, const char *src, const char *dst, int64_t now_us);
/*
 * Makes a symbolic link at path holding target (1..NS_PATH_MAX bytes, kept
 * as given, never resolved here: clients and the kernel follow links).
 * An empty target is -ENOENT, a longer one -ENAMETOOLONG; an existing
 * path -EEXIST.
 */
int ns_symlink(struct ns *ns, const char *path, const char *target, uint32_t uid, uint32_t gid,
	       int64_t now_us, struct ns_inode **out);
int ns_inode_is_symlink(const struct ns_inode *ino);
/*
 * Extended attributes (ns_xattr.c). Names start with "user." and are at
 * most NS_XATTR_NAME_MAX bytes; a value is at most NS_XATTR_VALUE_MAX
 * bytes, and an inode's names and values together at most
 * NS_XATTR_TOTAL_MAX (else -E2BIG, -ENAMETOOLONG for a name; another
 * namespace is -ENOTSUP). flags: NS_XATTR_CREATE (-EEXIST when set),
 * NS_XATTR_REPLACE (-ENODATA when not). Setting or removing one changes
 * the inode's ctime. ns_getxattr()'s *value is borrowed until the next
 * mutation; -ENODATA when not set. ns_listxattr() calls fn for each name.
 */
#define NS_XATTR_NAME_MAX  255
#define NS_XATTR_VALUE_MAX 65536
#define NS_XATTR_TOTAL_MAX 65536
#define NS_XATTR_CREATE	   1
#define NS_XATTR_REPLACE   2
int ns_setxattr(struct ns *ns, const char *path, const char *name, const uint8_t *value,
		size_t len, unsigned flags, int64_t now_us);
int ns_removexattr(struct ns *ns, const char *path, const char *name, int64_t now_us);
int ns_getxattr(struct ns *ns, const char *path, const char *name, const uint8_t **value,
		size_t *len);
int ns_listxattr(struct ns *ns, const char *path, void (*fn)(void *arg, const char *name),
		 void *arg);
/* Points attr->xattrs at ino's attributes (for checkpoints): buf and ptrs hold n_xattrs. */
size_t ns_xattr_count(const struct ns_inode *ino);
void ns_fill_xattrs(const struct ns_inode *ino, Cairn__Attr *attr, Cairn__Xattr *buf,
		    Cairn__Xattr **ptrs);
/* A non-empty directory needs recursive. The root cannot be removed (-EBUSY). */
int ns_remove(struct ns *ns, const char *path, int recursive, int64_t now_us);
/* Removes the file with that id: -ENOENT when there is none, -EISDIR for a directory. */
int ns_remove_file(struct ns *ns, uint64_t id, int64_t now_us);
/* mask: CAIRN__SETATTR_BIT__SETATTR_* bits. Replication 1..NS_REPLICATION_MAX. */
int ns_setattr(struct ns *ns, const char *path, uint32_t mask, uint32_t mode, uint32_t uid,
	       uint32_t gid, int64_t atime_us, int64_t mtime_us, uint32_t replication,
	       int64_t now_us, struct ns_inode **out);

/*
 * Lists dir (a directory path) in name order, starting after the name
 * `after` ("" or NULL: from the start), at most limit entries (0 or over
 * NS_READDIR_MAX: NS_READDIR_MAX). fn is called for each; *more is set
 * when entries remain after the last one given. Returns 0 or a negative error.
 */
typedef void (*ns_readdir_fn)(void *arg, const char *name, const struct ns_inode *ino);
int ns_readdir(struct ns *ns, const char *dir, const char *after, uint32_t limit, ns_readdir_fn fn,
	       void *arg, int *more);

/*
 * Fills attr from ino (attr must have been initialised with
 * CAIRN__ATTR__INIT). attr->name points into ino: borrowed until the next
 * mutation. attr->chunks is left empty (see ns_inode_chunks()).
 * attr->chunk_size is the file's recorded one: 0 for a file made before
 * per-file sizes (ns_file_chunk_size() resolves it).
 */
void ns_fill_attr(const struct ns_inode *ino, Cairn__Attr *attr);

/* The inode with that id, or NULL. Borrowed until the next mutation. */
struct ns_inode *ns_get(const struct ns *ns, uint64_t id);

uint64_t ns_inode_id(const struct ns_inode *ino);
int ns_inode_is_dir(const struct ns_inode *ino);
/* The inode's name in its directory ("" for the root). Borrowed until the next mutation. */
const char *ns_inode_name(const struct ns_inode *ino);
uint64_t ns_inode_size(const struct ns_inode *ino);
/* 0 for directories that never had one set. */
uint32_t ns_inode_replication(const struct ns_inode *ino);
/* A file's chunks in index order (*n of them). Borrowed until the next mutation. */
const struct ns_chunk *ns_inode_chunks(const struct ns_inode *ino, size_t *n);

/*
 * File operations, on a file by id (one LogChunk or LogSetSize each).
 * Errors: -ENOENT (no such inode), -EISDIR, -EINVAL.
 *
 * ns_chunk_alloc: index == the file's chunk count appends a new chunk
 * (a fresh id, version 1); a smaller index gives that chunk the next
 * version; a larger one is -EINVAL. *out gets the chunk as it now is.
 */
int ns_chunk_alloc(struct ns *ns, uint64_t file_id, uint64_t index, int64_t now_us,
		   struct ns_chunk *out);
/* Raises chunk index's version to version (> its current one, else -EINVAL). */
int ns_chunk_set_version(struct ns *ns, uint64_t file_id, uint64_t index, uint64_t version,
			 int64_t now_us);
/*
 * Sets the file's size and mtime. A size that does not grow the file drops
 * every chunk wholly past it (index >= ceil(size / chunk size)); a growing
 * one drops nothing.
 */
int ns_set_size(struct ns *ns, uint64_t file_id, uint64_t size, int64_t now_us);

/* Number of inodes, the root included. */
size_t ns_count(const struct ns *ns);

/*
 * The id the next created inode gets. Checkpoints store it so that ids of
 * removed inodes are not handed out again after a restart;
 * ns_set_next_id() only ever raises it (a lower value is ignored).
 */
uint64_t ns_next_id(const struct ns *ns);
void ns_set_next_id(struct ns *ns, uint64_t next_id);

/* The same for chunk ids. */
uint64_t ns_next_chunk_id(const struct ns *ns);
void ns_set_next_chunk_id(struct ns *ns, uint64_t next_chunk_id);

/*
 * Visits every inode, each parent before its children (the root first),
 * for checkpoints. Stops and returns the first non-zero value fn returns.
 */
typedef int (*ns_walk_fn)(void *arg, const struct ns_inode *ino);
int ns_walk(const struct ns *ns, ns_walk_fn fn, void *arg);

/*
 * Re-creates one inode from a checkpoint Attr (its parent must already be
 * there; the root's attributes replace the root's), a file with its size
 * and chunks (attr->chunks, as many as attr->nchunks; this raises the
 * next chunk id above them) and chunk size (attr->chunk_size, 0: the format's). Returns 0 or a
 * negative error for an Attr that does not fit.
 */
int ns_restore(struct ns *ns, const Cairn__Attr *attr);

#endif
