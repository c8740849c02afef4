/*
 * cfuse_ops: cairn-fuse's low-level FUSE operations over libcairn.
 *
 * Every operation runs on one of libfuse's worker threads and calls
 * libcairn directly: the handle is thread-safe, so requests run in
 * parallel and no lock is held across a call, but an inode's wlock around
 * the calls on its shared writer (a cairn_file_t is used by one thread at
 * a time).
 *
 * Writers: cairn allows one writer per file (a lease), so every handle
 * that opens a file for writing on this mount shares one cairn_file_t,
 * opened read-write when the first such handle needs it and closed at
 * the flush (close(2)) of the last one: that close commits the size at
 * the metaserver, which is what close-to-open needs; fsync(2) goes down
 * to every replica's disk (cairn_fsync). A read through a handle of an
 * inode with a writer goes through the writer, so it sees this mount's
 * own writes; otherwise a handle reads through its own read-only file.
 *
 * Consistency between mounts (close-to-open): the kernel keeps a regular
 * file's attributes for 0 s (each stat, and each read past the size the
 * kernel knew, asks here), directories' attributes and entries for
 * attr_timeout (1 s by default); an open drops the kernel's cached pages
 * of the file (keep_cache 0), and a missing name is never cached. So an
 * open on mount B after a close on A returns sees A's bytes and size;
 * names made or removed on A are seen by B within attr_timeout.
 *
 * Unlinked while open: the file is renamed to CFUSE_ORPHAN_PREFIX<id> plus
 * the temporaries' suffix in its directory (hidden from listings), its
 * write lease held, and removed at its last release on this mount; if the
 * mount dies first, the lease expires and the metaserver removes it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "cfuse.h"
#include "tempname.h"

#define NAME_MAX_BYTES 255
#define CFUSE_BLKSIZE  (1u << 20)

/* One open of a file. */
struct cfuse_handle {
	struct cfuse_inode *ino;
	int write;			  /* shares ino->w */
	pthread_mutex_t lock;		  /* serialises calls on rd */
	cairn_file_t *rd;		  /* own read-only file, opened at the first read */
	struct cfuse_handle *prev, *next; /* in m->handles */
};

/* Links h into m's open handles. */
static void handle_link(struct cfuse *m, struct cfuse_handle *h)
{
	pthread_mutex_lock(&m->hlock);
	h->next = m->handles;
	if (h->next)
		h->next->prev = h;
	m->handles = h;
	pthread_mutex_unlock(&m->hlock);
}

/* Unlinks h from m's open handles. */
static void handle_unlink(struct cfuse *m, struct cfuse_handle *h)
{
	pthread_mutex_lock(&m->hlock);
	if (h->prev)
		h->prev->next = h->next;
	else
		m->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&m->hlock);
}

/* One open directory: its listing, fetched whole at opendir. */
struct cfuse_dir {
	size_t n;
	char **names;
	struct cairn_stat *st;
};

static struct cfuse *mount_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* A libcairn error as an errno for the kernel: cairn's own codes and time-outs are EIO. */
static int to_errno(struct cfuse *m, int err, const char *what)
{
	if (err >= 0)
		return 0;
	if (-err < CAIRN_EBASE && err != -ETIMEDOUT)
		return -err;
	fprintf(stderr, "cairn-fuse: %s: %s (%s)\n", what, cairn_strerror(err),
		cairn_last_error(m->fs));
	return err == -CAIRN_ELEASE ? EBUSY : EIO;
}

static void fill_stat(const struct cairn_stat *cs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = cs->id;
	st->st_mode = (cs->type == CAIRN_DIR	   ? S_IFDIR
		       : cs->type == CAIRN_SYMLINK ? S_IFLNK
						   : S_IFREG) |
		      (cs->mode & 07777);
	st->st_nlink = cs->type == CAIRN_DIR ? 2 : 1;
	st->st_uid = cs->uid;
	st->st_gid = cs->gid;
	st->st_size = (off_t)cs->size;
	st->st_blksize = CFUSE_BLKSIZE;
	st->st_blocks = (blkcnt_t)((cs->size + 511) / 512);
	st->st_atim.tv_sec = cs->atime_us / 1000000;
	st->st_atim.tv_nsec = cs->atime_us % 1000000 * 1000;
	st->st_mtim.tv_sec = cs->mtime_us / 1000000;
	st->st_mtim.tv_nsec = cs->mtime_us % 1000000 * 1000;
	st->st_ctim.tv_sec = cs->ctime_us / 1000000;
	st->st_ctim.tv_nsec = cs->ctime_us % 1000000 * 1000;
}

static double attr_timeout(struct cfuse *m, const struct cairn_stat *cs)
{
	return cs->type == CAIRN_FILE ? 0.0 : m->attr_timeout; /* a link never changes */
}

/* The path of name under parent in a new string, or NULL with *err set. */
static char *child_path(struct cfuse *m, fuse_ino_t parent, const char *name, int *err)
{
	if (strlen(name) > NAME_MAX_BYTES) {
		*err = ENAMETOOLONG;
		return NULL;
	}
	struct cfuse_inode *p = cfuse_table_find(&m->table, parent);
	if (!p) {
		*err = ESTALE;
		return NULL;
	}
	char *pp = cfuse_table_path(&m->table, p);
	char *out = NULL;
	if (!pp || asprintf(&out, "%s/%s", strcmp(pp, "/") == 0 ? "" : pp, name) < 0)
		out = NULL;
	free(pp);
	if (!out)
		*err = ENOMEM;
	return out;
}

/* ino's path in a new string, or NULL with *err set. */
static char *ino_path(struct cfuse *m, fuse_ino_t ino, int *err)
{
	struct cfuse_inode *e = cfuse_table_find(&m->table, ino);
	if (!e) {
		*err = ESTALE;
		return NULL;
	}
	char *p = cfuse_table_path(&m->table, e);
	if (!p)
		*err = ENOMEM;
	return p;
}

/* The size this mount's writer of cs's file sees, when it has one (may be past the committed one).
 */
static void writer_size(struct cfuse *m, struct cairn_stat *cs)
{
	struct cfuse_inode *e = cfuse_table_find(&m->table, cs->id);
	if (!e)
		return;
	pthread_mutex_lock(&e->wlock);
	if (e->w) {
		int64_t pos = cairn_seek(e->w, 0, SEEK_CUR);
		int64_t end = cairn_seek(e->w, 0, SEEK_END);
		if (end >= 0)
			cs->size = (uint64_t)end;
		if (pos >= 0)
			cairn_seek(e->w, pos, SEEK_SET);
	}
	pthread_mutex_unlock(&e->wlock);
}

/* Stats path, with this mount's writer's size; 0, or answers req with the error (-1). */
static int stat_or_reply(fuse_req_t req, const char *path, struct cairn_stat *cs)
{
	struct cfuse *m = mount_of(req);
	int err = cairn_stat(m->fs, path, cs);
	if (err) {
		fuse_reply_err(req, to_errno(m, err, path));
		return -1;
	}
	writer_size(m, cs);
	return 0;
}

/* Stats path and answers req with an entry (one lookup more), or an error. */
static void reply_entry_path(fuse_req_t req, const char *path)
{
	struct cfuse *m = mount_of(req);
	struct cairn_stat cs;
	if (stat_or_reply(req, path, &cs) != 0)
		return;
	if (!cfuse_table_get(&m->table, cs.id, path, 1)) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	struct fuse_entry_param e = {.ino = cs.id, .generation = 1};
	fill_stat(&cs, &e.attr);
	e.attr_timeout = attr_timeout(m, &cs);
	e.entry_timeout = m->attr_timeout;
	if (fuse_reply_entry(req, &e) != 0)
		cfuse_table_forget(&m->table, cs.id, 1);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
	conn->want |= conn->capable &
		      (FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_ATOMIC_O_TRUNC |
		       FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	/*
	 * No writeback cache: with it the kernel trusts its own size over a close
	 * elsewhere. No lock capabilities: flock and POSIX locks stay the kernel's,
	 * per mount.
	 */
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_FLOCK_LOCKS |
			FUSE_CAP_POSIX_LOCKS);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int err = 0;
	char *path = child_path(mount_of(req), parent, name, &err);
	if (!path) {
		fuse_reply_err(req, err);
		return;
	}
	reply_entry_path(req, path);
	free(path);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	cfuse_table_forget(&mount_of(req)->table, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		cfuse_table_forget(&mount_of(req)->table, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void reply_attr_path(fuse_req_t req, const char *path)
{
	struct cfuse *m = mount_of(req);
	struct cairn_stat cs;
	if (stat_or_reply(req, path, &cs) != 0)
		return;
	struct stat st;
	fill_stat(&cs, &st);
	fuse_reply_attr(req, &st, attr_timeout(m, &cs));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int err = 0;
	char *path = ino_path(mount_of(req), ino, &err);
	if (!path) {
		fuse_reply_err(req, err);
		return;
	}
	reply_attr_path(req, path);
	free(path);
}

/* Opens ino's shared writer if it has none. wlock held. Returns 0 or a negative error. */
static int writer_open(struct cfuse *m, struct cfuse_inode *e, int flags)
{
	if (e->w)
		return 0;
	char *path = cfuse_table_path(&m->table, e);
	if (!path)
		return -ENOMEM;
	int err = cairn_open(m->fs, path, CAIRN_O_RDWR | flags, 0, &e->w);
	free(path);
	return err;
}

/*
 * Commits and closes ino's shared writer, then sets again the times set
 * while it was open (cp -a, tar and rsync set them before they close).
 * wlock held. Returns 0 or a negative error.
 */
static int writer_close(struct cfuse *m, struct cfuse_inode *e)
{
	int err = cairn_close(e->w);
	e->w = NULL;
	if (!err && e->pend_times) {
		char *path = cfuse_table_path(&m->table, e);
		err =
		    path ? cairn_utimes(m->fs, path, e->pend_atime_us, e->pend_mtime_us) : -ENOMEM;
		free(path);
	}
	e->pend_times = 0;
	return err;
}

/*
 * Under e's write lock, when e has a writer: closes it (writer_close())
 * when may_close and this is the only write handle and nothing holds it
 * open, else commits it (cairn_fsync). Returns 0 or a negative error.
 */
static int writer_commit(struct cfuse *m, struct cfuse_inode *e, int may_close)
{
	int err = 0;
	pthread_mutex_lock(&e->wlock);
	if (e->w)
		err = may_close && e->nwrite == 1 && !e->held ? writer_close(m, e)
							      : cairn_fsync(e->w);
	pthread_mutex_unlock(&e->wlock);
	return err;
}

/*
 * Cuts e's file to size > 0 with the metaserver's truncate (cairn_truncate,
 * from the datasets work): the writer is closed first (committing what was
 * written) and opened again after. Without that call: -EOPNOTSUPP. wlock held.
 */
static int shrink(struct cfuse *m, struct cfuse_inode *e, uint64_t size)
{
#ifdef CAIRN_RENAME_NOREPLACE
	int err = writer_close(m, e);
	char *path = err ? NULL : cfuse_table_path(&m->table, e);
	if (!err)
		err = path ? cairn_truncate(m->fs, path, size) : -ENOMEM;
	free(path);
	if (!err)
		err = writer_open(m, e, 0);
	return err;
#else
	(void)m, (void)e, (void)size;
	return -EOPNOTSUPP;
#endif
}

/* Sets a file's size: 0 by reopening with O_TRUNC, larger by writing a zero at its end. */
static int set_size(struct cfuse *m, struct cfuse_inode *e, uint64_t size)
{
	pthread_mutex_lock(&e->wlock);
	int err = 0;
	if (size == 0) {
		if (e->w)
			err = writer_close(m, e);
		if (!err)
			err = writer_open(m, e, CAIRN_O_TRUNC);
	} else {
		err = writer_open(m, e, 0);
		int64_t end = err ? 0 : cairn_seek(e->w, 0, SEEK_END);
		if (!err && (uint64_t)end < size) {
			ssize_t n = cairn_pwrite(e->w, "", 1, size - 1);
			err = n < 0 ? (int)n : 0;
		} else if (!err && (uint64_t)end > size) {
			err = shrink(m, e, size);
		}
	}
	if (e->w && e->nwrite == 0) {
		int cerr = writer_close(m, e);
		err = err ? err : cerr;
	}
	pthread_mutex_unlock(&e->wlock);
	return err;
}

static int set_times(struct cfuse *m, struct cfuse_inode *e, const char *path,
		     const struct stat *attr, int to_set)
{
	int64_t now = 0, at = CAIRN_TIME_OMIT, mt = CAIRN_TIME_OMIT;
	if (to_set & (FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		at = now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		at = (int64_t)attr->st_atim.tv_sec * 1000000 + attr->st_atim.tv_nsec / 1000;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		mt = now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		mt = (int64_t)attr->st_mtim.tv_sec * 1000000 + attr->st_mtim.tv_nsec / 1000;
	pthread_mutex_lock(&e->wlock);
	if (e->w) {
		e->pend_atime_us = at != CAIRN_TIME_OMIT ? at
				   : e->pend_times	 ? e->pend_atime_us
							 : at;
		e->pend_mtime_us = mt != CAIRN_TIME_OMIT ? mt
				   : e->pend_times	 ? e->pend_mtime_us
							 : mt;
		e->pend_times = 1;
	}
	pthread_mutex_unlock(&e->wlock);
	return cairn_utimes(m->fs, path, at, mt);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	struct cfuse_inode *e = cfuse_table_find(&m->table, ino);
	char *path = ino_path(m, ino, &err);
	if (!path || !e) {
		fuse_reply_err(req, err ? err : ESTALE);
		free(path);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE)
		err = set_size(m, e, (uint64_t)attr->st_size);
	if (!err && (to_set & FUSE_SET_ATTR_MODE))
		err = cairn_chmod(m->fs, path, attr->st_mode & 07777);
	if (!err && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		err = cairn_chown(m->fs, path,
				  to_set & FUSE_SET_ATTR_UID ? attr->st_uid : CAIRN_ID_OMIT,
				  to_set & FUSE_SET_ATTR_GID ? attr->st_gid : CAIRN_ID_OMIT);
	if (!err && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			       FUSE_SET_ATTR_MTIME_NOW)))
		err = set_times(m, e, path, attr, to_set);
	if (err)
		fuse_reply_err(req, to_errno(m, err, path));
	else
		reply_attr_path(req, path);
	free(path);
}

/*
 * Gives a new file or directory the caller as owner, when that differs from
 * cairn's default, and fills *cs with its attributes.
 */
static int own(fuse_req_t req, const char *path, struct cairn_stat *cs)
{
	struct cfuse *m = mount_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int err = cairn_stat(m->fs, path, cs);
	if (err || (cs->uid == ctx->uid && cs->gid == ctx->gid))
		return err;
	cs->uid = ctx->uid;
	cs->gid = ctx->gid;
	return cairn_chown(m->fs, path, ctx->uid, ctx->gid);
}

/*
 * After path was made (mkdir, mknod, symlink) with result err: gives it the
 * caller as owner, answers with its entry or the error, and frees path.
 */
static void reply_made(fuse_req_t req, char *path, int err)
{
	struct cairn_stat cs;
	if (!err)
		err = own(req, path, &cs);
	if (err)
		fuse_reply_err(req, to_errno(mount_of(req), err, path));
	else
		reply_entry_path(req, path);
	free(path);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = child_path(m, parent, name, &err);
	if (!path) {
		fuse_reply_err(req, err);
		return;
	}
	reply_made(req, path, cairn_mkdir(m->fs, path, (mode & 07777) ? (mode & 07777) : 0700));
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct cfuse *m = mount_of(req);
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM); /* cairn holds files and directories only */
		return;
	}
	int err = 0;
	char *path = child_path(m, parent, name, &err);
	if (!path) {
		fuse_reply_err(req, err);
		return;
	}
	reply_made(req, path,
		   cairn_create(m->fs, path, (mode & 07777) ? (mode & 07777) : 0600, 0, 1));
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = child_path(m, parent, name, &err);
	if (!path) {
		fuse_reply_err(req, err);
		return;
	}
	reply_made(req, path, cairn_symlink(m->fs, link, path));
}

/* Only "user." attributes live in cairn; others are answered here, without a call. */
static int user_xattr(const char *name)
{
	return strncmp(name, "user.", 5) == 0;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = user_xattr(name) ? ino_path(m, ino, &err) : NULL;
	if (!user_xattr(name))
		err = EOPNOTSUPP;
	else if (path)
		err = to_errno(m, cairn_setxattr(m->fs, path, name, value, size, flags), path);
	fuse_reply_err(req, err);
	free(path);
}

/* Answers a get or list of n bytes into buf (size 0: only the length). */
static void reply_xattr(fuse_req_t req, ssize_t n, const char *buf, size_t size, const char *path)
{
	if (n < 0)
		fuse_reply_err(req, to_errno(mount_of(req), (int)n, path));
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = user_xattr(name) ? ino_path(m, ino, &err) : NULL;
	char *buf = path && size ? malloc(size) : NULL;
	if (!user_xattr(name) || !path || (size && !buf)) {
		fuse_reply_err(req, !user_xattr(name) ? ENODATA : err ? err : ENOMEM);
		free(path);
		return;
	}
	reply_xattr(req, cairn_getxattr(m->fs, path, name, buf, size), buf, size, path);
	free(buf);
	free(path);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = ino_path(m, ino, &err);
	char *buf = path && size ? malloc(size) : NULL;
	if (!path || (size && !buf)) {
		fuse_reply_err(req, err ? err : ENOMEM);
		free(path);
		return;
	}
	reply_xattr(req, cairn_listxattr(m->fs, path, buf, size), buf, size, path);
	free(buf);
	free(path);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = user_xattr(name) ? ino_path(m, ino, &err) : NULL;
	if (!user_xattr(name))
		err = ENODATA;
	else if (path)
		err = to_errno(m, cairn_removexattr(m->fs, path, name), path);
	fuse_reply_err(req, err);
	free(path);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EPERM); /* no hard links yet: as on file systems without them */
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = ino_path(m, ino, &err);
	char *buf = path ? malloc(PATH_MAX + 1) : NULL;
	if (!buf) {
		fuse_reply_err(req, err ? err : ENOMEM);
		free(path);
		return;
	}
	ssize_t n = cairn_readlink(m->fs, path, buf, PATH_MAX + 1);
	if (n < 0 || n > PATH_MAX)
		fuse_reply_err(req, n < 0 ? to_errno(m, (int)n, path) : ENAMETOOLONG);
	else
		fuse_reply_readlink(req, buf);
	free(buf);
	free(path);
}

/* The hidden name of file id in path's directory, in a new string (NULL: out of memory). */
static char *orphan_name(const char *path, uint64_t id)
{
	const char *slash = strrchr(path, '/');
	char *out = NULL;
	if (asprintf(&out, "%.*s/" CFUSE_ORPHAN_PREFIX "%llu" TEMPNAME_SUFFIX, (int)(slash - path),
		     path, (unsigned long long)id) < 0)
		return NULL;
	return out;
}

static void handle_drop(struct cfuse *m, struct cfuse_inode *e);

/*
 * Keeps an orphan's write lease while this mount has it open: its name is
 * a temporary's (common/tempname.h), so if this mount dies the lease
 * expires and the metaserver removes the file. Best effort: when another
 * client writes the file, the orphan is only removed at the last release.
 */
static void orphan_hold(struct cfuse *m, uint64_t id)
{
	struct cfuse_inode *e = cfuse_table_pin(&m->table, id);
	if (!e)
		return;
	pthread_mutex_lock(&e->wlock);
	if (writer_open(m, e, 0) == 0)
		e->held = 1;
	pthread_mutex_unlock(&e->wlock);
	handle_drop(m, e);
}

/*
 * The name path of file cs goes (unlink, or a rename over it): a file this
 * mount has open is renamed to its hidden orphan name (removed at its last
 * release) and 1 returned; else 0, and its entry, if the kernel still holds
 * one, gets the hidden name, which names nothing, so that nothing done
 * through it reaches a new file at path. Returns 1, 0 or a negative error.
 */
static int orphan_if_open(struct cfuse *m, const char *path, const struct cairn_stat *cs)
{
	char *hidden = orphan_name(path, cs->id);
	if (!hidden)
		return -ENOMEM;
	int open = cfuse_table_is_open(&m->table, cs->id);
	int err = open ? cairn_rename(m->fs, path, hidden) : 0;
	if (!err)
		err = cfuse_table_set_path(&m->table, cs->id, hidden, open);
	free(hidden);
	if (!err && open)
		orphan_hold(m, cs->id);
	return err ? err : open;
}

/* Removes path, or hides it as an orphan when this mount has it open. */
static int unlink_path(struct cfuse *m, const char *path)
{
	struct cairn_stat cs;
	int err = cairn_stat(m->fs, path, &cs);
	if (err)
		return err;
	if (cs.type == CAIRN_DIR)
		return -EISDIR;
	err = orphan_if_open(m, path, &cs);
	return err == 0 ? cairn_remove(m->fs, path, 0) : err < 0 ? err : 0;
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = child_path(m, parent, name, &err);
	if (path)
		err = to_errno(m, unlink_path(m, path), path);
	fuse_reply_err(req, err);
	free(path);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = child_path(m, parent, name, &err);
	if (path) {
		struct cairn_stat cs;
		err = cairn_stat(m->fs, path, &cs);
		if (!err && cs.type != CAIRN_DIR)
			err = -ENOTDIR;
		if (!err)
			err = cairn_remove(m->fs, path, 0);
		err = to_errno(m, err, path);
	}
	fuse_reply_err(req, err);
	free(path);
}

/*
 * Renames; RENAME_NOREPLACE is atomic with cairn_rename2() (the datasets
 * work), else checked just before by rename_check() (a race with another
 * mount may then replace a file).
 */
static int rename_call(struct cfuse *m, const char *from, const char *to, unsigned int flags)
{
#ifdef CAIRN_RENAME_NOREPLACE
	if (flags & RENAME_NOREPLACE)
		return cairn_rename2(m->fs, from, to, CAIRN_RENAME_NOREPLACE);
#endif
	return cairn_rename(m->fs, from, to);
}

/*
 * Checks that a rename may replace what is at to (local rules: types,
 * emptiness); a file this mount has open there becomes an orphan first
 * (see orphan_if_open()).
 */
static int rename_check(struct cfuse *m, const char *from, const char *to, unsigned int flags)
{
	struct cairn_stat a, b;
	int err = cairn_stat(m->fs, from, &a);
	if (err)
		return err;
	err = cairn_stat(m->fs, to, &b);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	if (!(flags & RENAME_NOREPLACE) && a.type != CAIRN_DIR && b.type != CAIRN_DIR &&
	    a.id != b.id)
		return (err = orphan_if_open(m, to, &b)) < 0 ? err : 0;
	if (flags & RENAME_NOREPLACE)
		return -EEXIST;
	if (a.type == CAIRN_DIR && b.type != CAIRN_DIR)
		return -ENOTDIR;
	if (a.type != CAIRN_DIR && b.type == CAIRN_DIR)
		return -EISDIR;
	if (b.type == CAIRN_DIR && b.nentries > 0 && a.id != b.id)
		return -ENOTEMPTY;
	return 0;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct cfuse *m = mount_of(req);
	if (flags & ~RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL); /* RENAME_EXCHANGE, RENAME_WHITEOUT */
		return;
	}
	int err = 0;
	char *from = child_path(m, parent, name, &err);
	char *to = from ? child_path(m, newparent, newname, &err) : NULL;
	if (to) {
		err = rename_check(m, from, to, flags);
		if (!err && strcmp(from, to) != 0)
			err = rename_call(m, from, to, flags);
		if (!err)
			err = cfuse_table_rename(&m->table, from, to);
		err = to_errno(m, err, from);
	}
	fuse_reply_err(req, err);
	free(from);
	free(to);
}

/*
 * Opens a handle of e for fi's flags; a writer is shared. made: a writer
 * create just opened (or NULL), which this takes ownership of. Returns 0
 * or a negative error.
 */
static int handle_open(struct cfuse *m, struct cfuse_inode *e, struct fuse_file_info *fi,
		       cairn_file_t *made)
{
	struct cfuse_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		cairn_close(made);
		return -ENOMEM;
	}
	h->ino = e;
	pthread_mutex_init(&h->lock, NULL);
	int acc = fi->flags & O_ACCMODE;
	int err = 0;
	if (acc != O_RDONLY) {
		if (m->read_only) {
			err = -EROFS;
		} else {
			pthread_mutex_lock(&e->wlock);
			int adopted = made && !e->w;
			if (adopted) {
				e->w = made;
				made = NULL;
			}
			if ((fi->flags & O_TRUNC) && e->w && !adopted)
				err = writer_close(m, e);
			if (!err)
				err = writer_open(m, e, (fi->flags & O_TRUNC) ? CAIRN_O_TRUNC : 0);
			if (!err) {
				e->nwrite++;
				h->write = 1;
			}
			pthread_mutex_unlock(&e->wlock);
		}
	}
	cairn_close(made); /* a read-only create's, which commits the new file */
	if (err) {
		pthread_mutex_destroy(&h->lock);
		free(h);
		return err;
	}
	cfuse_table_open(&m->table, e, 1);
	handle_link(m, h);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = 0;
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfuse *m = mount_of(req);
	struct cfuse_inode *e = cfuse_table_find(&m->table, ino);
	if (!e) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	int err = 0;
	char *path = ino_path(m, ino, &err);
	if (path) {
		struct cairn_stat cs;
		err = cairn_stat(m->fs, path, &cs);
		if (!err && cs.type == CAIRN_DIR)
			err = -EISDIR;
		if (!err)
			err = handle_open(m, e, fi, NULL);
		err = to_errno(m, err, path);
	}
	free(path);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = child_path(m, parent, name, &err);
	if (!path) {
		fuse_reply_err(req, err);
		return;
	}
	if (m->read_only) {
		fuse_reply_err(req, EROFS);
		free(path);
		return;
	}
	/* One call makes the file and its writer (the writer's lease and the create share a log
	 * sync). */
	cairn_file_t *made = NULL;
	int cflags = CAIRN_O_RDWR | CAIRN_O_CREAT | ((fi->flags & O_EXCL) ? CAIRN_O_EXCL : 0);
	err = cairn_open(m->fs, path, cflags, (mode & 07777) ? (mode & 07777) : 0600, &made);
	if (err == -CAIRN_ELEASE) /* an existing file another handle writes: share that writer */
		err = cairn_create(m->fs, path, 0600, 0, 0);
	struct cairn_stat cs;
	if (!err)
		err = own(req, path, &cs);
	struct cfuse_inode *e = NULL;
	if (!err && !(e = cfuse_table_get(&m->table, cs.id, path, 1)))
		err = -ENOMEM;
	if (err)
		cairn_close(made);
	else if ((err = handle_open(m, e, fi, made)) != 0)
		cfuse_table_forget(&m->table, cs.id, 1);
	if (err) {
		fuse_reply_err(req, to_errno(m, err, path));
		free(path);
		return;
	}
	struct fuse_entry_param ep = {.ino = cs.id, .generation = 1};
	fill_stat(&cs, &ep.attr);
	ep.attr_timeout = 0.0;
	ep.entry_timeout = m->attr_timeout;
	fuse_reply_create(req, &ep, fi);
	free(path);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct cfuse *m = mount_of(req);
	struct cfuse_handle *h = (struct cfuse_handle *)(uintptr_t)fi->fh;
	struct cfuse_inode *e = h->ino;
	char *buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = -EAGAIN;
	pthread_mutex_lock(&e->wlock);
	if (e->w)
		n = cairn_pread(e->w, buf, size, (uint64_t)off);
	pthread_mutex_unlock(&e->wlock);
	if (n == -EAGAIN) {
		pthread_mutex_lock(&h->lock);
		n = 0;
		if (!h->rd) {
			char *path = cfuse_table_path(&m->table, e);
			n = path ? cairn_open(m->fs, path, CAIRN_O_RDONLY, 0, &h->rd) : -ENOMEM;
			free(path);
		}
		if (n == 0)
			n = cairn_pread(h->rd, buf, size, (uint64_t)off);
		pthread_mutex_unlock(&h->lock);
	}
	if (n < 0)
		fuse_reply_err(req, to_errno(m, (int)n, "read"));
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct cfuse *m = mount_of(req);
	struct cfuse_handle *h = (struct cfuse_handle *)(uintptr_t)fi->fh;
	struct cfuse_inode *e = h->ino;
	if (!h->write) {
		fuse_reply_err(req, EBADF);
		return;
	}
	pthread_mutex_lock(&e->wlock);
	ssize_t n = writer_open(m, e, 0);
	if (n == 0)
		n = cairn_pwrite(e->w, buf, size, (uint64_t)off);
	pthread_mutex_unlock(&e->wlock);
	if (n < 0)
		fuse_reply_err(req, to_errno(m, (int)n, "write"));
	else
		fuse_reply_write(req, (size_t)n);
}

/* close(2): the last write handle's close commits (and closes) the writer; others commit it. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfuse *m = mount_of(req);
	struct cfuse_handle *h = (struct cfuse_handle *)(uintptr_t)fi->fh;
	int err = h->write ? writer_commit(m, h->ino, 1) : 0;
	fuse_reply_err(req, to_errno(m, err, "close"));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct cfuse *m = mount_of(req);
	struct cfuse_handle *h = (struct cfuse_handle *)(uintptr_t)fi->fh;
	int err = writer_commit(m, h->ino, 0);
	fuse_reply_err(req, to_errno(m, err, "fsync"));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfuse *m = mount_of(req);
	struct cfuse_handle *h = (struct cfuse_handle *)(uintptr_t)fi->fh;
	struct cfuse_inode *e = h->ino;
	int err = 0;
	if (h->write) {
		pthread_mutex_lock(&e->wlock);
		if (--e->nwrite == 0 && e->w && !e->held)
			err = writer_close(m, e);
		pthread_mutex_unlock(&e->wlock);
	}
	handle_unlink(m, h);
	cairn_close(h->rd);
	pthread_mutex_destroy(&h->lock);
	free(h);
	handle_drop(m, e);
	fuse_reply_err(req, to_errno(m, err, "close"));
}

/*
 * One open of e less; at the last, an orphan's held writer is closed and
 * the orphan removed, and the entry freed if the kernel forgot it.
 */
static void handle_drop(struct cfuse *m, struct cfuse_inode *e)
{
	uint64_t id = e->id;
	char *orphan = NULL;
	pthread_mutex_lock(&m->table.lock);
	int last = e->nopen == 1;
	pthread_mutex_unlock(&m->table.lock);
	if (last) { /* e cannot go while this open is counted */
		pthread_mutex_lock(&e->wlock);
		if (e->held && e->w && e->nwrite == 0)
			writer_close(m, e);
		e->held = 0;
		pthread_mutex_unlock(&e->wlock);
	}
	pthread_mutex_lock(&m->table.lock);
	if (--e->nopen == 0 && e->orphan)
		orphan = strdup(e->path);
	pthread_mutex_unlock(&m->table.lock);
	if (orphan)
		cairn_remove(m->fs, orphan, 0);
	free(orphan);
	cfuse_table_forget(&m->table, id, 0); /* frees the entry if the kernel forgot it */
}

static void dir_free(struct cfuse_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d->st);
	free(d);
}

/* Appends one entry to d. Returns 0 or -ENOMEM. */
static int dir_add(struct cfuse_dir *d, size_t *cap, const char *name, const struct cairn_stat *st)
{
	if (d->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		char **names = realloc(d->names, ncap * sizeof(*names));
		if (!names)
			return -ENOMEM;
		d->names = names;
		struct cairn_stat *sts = realloc(d->st, ncap * sizeof(*sts));
		if (!sts)
			return -ENOMEM;
		d->st = sts;
		*cap = ncap;
	}
	if (!(d->names[d->n] = strdup(name)))
		return -ENOMEM;
	d->st[d->n++] = *st;
	return 0;
}

/* Reads path's whole listing into a new *out (orphans left out). Returns 0 or a negative error. */
static int dir_load(struct cfuse *m, const char *path, struct cfuse_dir **out)
{
	struct cfuse_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	cairn_dir_t *it = NULL;
	int err = cairn_opendir(m->fs, path, &it);
	size_t cap = 0;
	while (!err) {
		struct cairn_dirent ent;
		int r = cairn_readdir_next(it, &ent);
		if (r <= 0) {
			err = r;
			break;
		}
		if (strncmp(ent.name, CFUSE_ORPHAN_PREFIX, strlen(CFUSE_ORPHAN_PREFIX)) == 0)
			continue;
		err = dir_add(d, &cap, ent.name, &ent.st);
	}
	cairn_closedir(it);
	if (err) {
		dir_free(d);
		return err;
	}
	*out = d;
	return 0;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfuse *m = mount_of(req);
	int err = 0;
	char *path = ino_path(m, ino, &err);
	struct cfuse_dir *d = NULL;
	if (path)
		err = to_errno(m, dir_load(m, path, &d), path);
	free(path);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) != 0)
		dir_free(d);
}

/* Entries from off on (0 and 1 are "." and ".."), as plain or plus entries. */
static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, int plus)
{
	struct cfuse *m = mount_of(req);
	struct cfuse_dir *d = (struct cfuse_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	char *dirpath = plus ? ino_path(m, ino, &(int){0}) : NULL;
	if (!buf || (plus && !dirpath)) {
		free(buf);
		free(dirpath);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (size_t i = (size_t)off; i < d->n + 2; i++) {
		const char *name = i == 0 ? "." : i == 1 ? ".." : d->names[i - 2];
		struct stat st = {.st_ino = i == 0 ? ino : FUSE_ROOT_ID, .st_mode = S_IFDIR};
		size_t need;
		if (i >= 2)
			fill_stat(&d->st[i - 2], &st);
		if (!plus) {
			need = fuse_add_direntry(req, buf + used, size - used, name, &st,
						 (off_t)i + 1);
		} else {
			struct fuse_entry_param e = {.attr = st};
			if (i >= 2) {
				e.ino = st.st_ino;
				e.generation = 1;
				e.attr_timeout = attr_timeout(m, &d->st[i - 2]);
				e.entry_timeout = m->attr_timeout;
			}
			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      (off_t)i + 1);
			if (need <= size - used && i >= 2) {
				char *p = NULL;
				if (asprintf(&p, "%s/%s", strcmp(dirpath, "/") ? dirpath : "",
					     name) < 0 ||
				    !cfuse_table_get(&m->table, st.st_ino, p, 1)) {
					free(p);
					break; /* out of memory: the entry is not counted, stop
						  before it */
				}
				free(p);
			}
		}
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
	free(dirpath);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dir_free((struct cfuse_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0); /* namespace changes are durable when they return */
}

/* The cluster's capacity: the chunkservers up, as the metaserver last heard them. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cfuse *m = mount_of(req);
	struct cairn_node *v;
	size_t n;
	int err = cairn_admin_nodes(m->fs, &v, &n);
	if (err) {
		fuse_reply_err(req, to_errno(m, err, "statfs"));
		return;
	}
	uint64_t cap = 0, used = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].state != CAIRN_NODE_UP && v[i].state != CAIRN_NODE_DECOMMISSIONING)
			continue;
		cap += v[i].capacity;
		used += v[i].used;
	}
	cairn_admin_nodes_free(v, n);
	struct statvfs sv = {0};
	sv.f_bsize = CFUSE_BLKSIZE;
	sv.f_frsize = 4096;
	sv.f_blocks = cap / sv.f_frsize;
	sv.f_bfree = cap > used ? (cap - used) / sv.f_frsize : 0;
	sv.f_bavail = sv.f_bfree;
	sv.f_files = 1ull << 32;
	sv.f_ffree = 1ull << 31;
	sv.f_favail = sv.f_ffree;
	sv.f_namemax = NAME_MAX_BYTES;
	fuse_reply_statfs(req, &sv);
}

void cfuse_close_all(struct cfuse *m)
{
	struct cfuse_table *t = &m->table;
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (struct cfuse_inode *e = t->buckets[i]; e; e = e->next) {
			pthread_mutex_lock(&e->wlock);
			if (e->w && writer_close(m, e) != 0)
				fprintf(stderr, "cairn-fuse: closing %s at unmount: %s\n", e->path,
					cairn_last_error(m->fs));
			pthread_mutex_unlock(&e->wlock);
		}
	}
	/* Handles the kernel never released (files still open at unmount). */
	struct cfuse_handle *h;
	while ((h = m->handles)) {
		m->handles = h->next;
		cairn_close(h->rd);
		pthread_mutex_destroy(&h->lock);
		free(h);
	}
}

const struct fuse_lowlevel_ops cfuse_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .mkdir = op_mkdir,
    .mknod = op_mknod,
    .symlink = op_symlink,
    .readlink = op_readlink,
    .link = op_link,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .fsync = op_fsync,
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
};
