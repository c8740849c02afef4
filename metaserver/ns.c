/*
 * ns: the metaserver's namespace in memory (the contract is in ns.h): the
 * tree, paths and directory operations. Files' chunk lists and sizes are
 * in ns_file.c; both share ns_int.h.
 *
 * Layout. An inode is one allocation with its name at the end. A rename to
 * a name that does not fit the block moves the inode to a bigger one and
 * repoints what points to it: its id-table slot and its children's parent
 * links (it is out of its parent's tree at that moment, and the root, the
 * one inode struct ns points to, is never renamed). A directory keeps its
 * children in a red-black tree ordered bytewise by name: lookup is
 * O(log n) per component and readdir resumes after a name in
 * O(log n + page). A hash table by id (open addressing, linear probing,
 * backward-shift deletion) finds the inodes that log records name, in
 * O(1) expected. Nothing recurses on the C stack:
 * walks follow the trees' parent links, and a recursive remove unlinks and
 * frees one leaf at a time, so a 100k-deep tree costs no stack.
 *
 * Path length. Every path an operation makes is shorter than NS_PATH_MAX
 * bytes, renames included: moving a directory lengthens every path below
 * it. So each inode keeps `reach`, a bound on the length of the longest
 * path below it relative to it ("/a/b": 4), capped at NS_PATH_MAX (which
 * then means "this long or longer"). Linking an inode raises its
 * ancestors' bounds while they grow (O(depth) at worst, O(1) when a sibling
 * reaches as far, and at most NS_PATH_MAX / 2 levels, where the bound
 * saturates); removals leave bounds as they are, so a bound may be loose.
 * A rename of a directory whose bound says the move might be too long
 * walks the moved subtree (no recursion), stopping at the first path that
 * is: O(subtree) only near the limit, or after what made a tree deep was
 * removed. (Bounds are never lowered: a lowered one would no longer cover
 * its children's, which raising relies on to stop early.) Replay makes no
 * such check (old logs may hold deeper trees); it keeps the bounds.
 *
 * Operations check everything first, then build their record(s) and go
 * through ns_apply(), which checks again (it also serves replay, where the
 * input is the disk) and changes nothing when it fails.
 *
 * Invariants:
 *  - every inode but the root sits in exactly one directory's children
 *    tree (the one ->parent points to) under a unique valid name; every
 *    inode, the root included, is in the id table exactly once;
 *  - a directory's nentries is the size of its children tree; files have
 *    no children;
 *  - ids are unique, non-zero and below next_id; count is the number of
 *    inodes;
 *  - an inode's reach is at least the length of every path below it,
 *    relative to it, or NS_PATH_MAX; a file's is 0.
 */
#include "ns.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bsd/sys/tree.h>

#include "ns_int.h"
#include "util.h"

#define NS_SETATTR_ALL                                                                             \
	(CAIRN__SETATTR_BIT__SETATTR_MODE | CAIRN__SETATTR_BIT__SETATTR_UID |                      \
	 CAIRN__SETATTR_BIT__SETATTR_GID | CAIRN__SETATTR_BIT__SETATTR_ATIME |                     \
	 CAIRN__SETATTR_BIT__SETATTR_MTIME | CAIRN__SETATTR_BIT__SETATTR_REPLICATION)
#define NS_DEFAULT_REPLICATION 3
#define NS_ID_MIN_BITS	       6

static int child_cmp(const struct ns_inode *a, const struct ns_inode *b)
{
	return strcmp(a->name, b->name);
}

/* libbsd's tree.h marks its static functions __unused, which it leaves undefined. */
#define __unused __attribute__((unused))
RB_GENERATE_STATIC(ns_children, ns_inode, link, child_cmp)
#undef __unused

/* Bytes allocated for an inode with a name of len bytes. */
static size_t inode_size(size_t len)
{
	return (offsetof(struct ns_inode, name) + len + 1 + 15) & ~(size_t)15;
}

static int is_dir(const struct ns_inode *ino)
{
	return ino->type == CAIRN__FILE_TYPE__FILE_TYPE_DIR;
}

/* ---- id table ------------------------------------------------------------ */

static size_t id_home(const struct ns *ns, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> (64 - ns->id_bits));
}

static struct ns_inode *id_get(const struct ns *ns, uint64_t id)
{
	size_t mask = ((size_t)1 << ns->id_bits) - 1;
	for (size_t i = id_home(ns, id);; i = (i + 1) & mask) {
		struct ns_inode *ino = ns->ids[i];
		if (!ino || ino->id == id)
			return ino;
	}
}

/* Puts ino in the table, which must have room (id_reserve()). */
static void id_put(struct ns *ns, struct ns_inode *ino)
{
	size_t mask = ((size_t)1 << ns->id_bits) - 1;
	size_t i = id_home(ns, ino->id);
	while (ns->ids[i])
		i = (i + 1) & mask;
	ns->ids[i] = ino;
}

/* Makes room for one more inode (load factor at most 3/4). */
static void id_reserve(struct ns *ns)
{
	size_t cap = (size_t)1 << ns->id_bits;
	if ((ns->count + 1) * 4 <= cap * 3)
		return;
	struct ns_inode **old = ns->ids;
	ns->ids = xcalloc(cap * 2, sizeof(*ns->ids));
	ns->id_bits++;
	for (size_t i = 0; i < cap; i++)
		if (old[i])
			id_put(ns, old[i]);
	free(old);
}

static void id_del(struct ns *ns, const struct ns_inode *ino)
{
	size_t mask = ((size_t)1 << ns->id_bits) - 1;
	size_t i = id_home(ns, ino->id);
	while (ns->ids[i] != ino)
		i = (i + 1) & mask;
	ns->ids[i] = NULL;
	/* Backward shift: move up every later entry of the run that may. */
	for (size_t j = (i + 1) & mask; ns->ids[j]; j = (j + 1) & mask) {
		size_t home = id_home(ns, ns->ids[j]->id);
		int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (stays)
			continue;
		ns->ids[i] = ns->ids[j];
		ns->ids[j] = NULL;
		i = j;
	}
}

/* ---- names and paths ------------------------------------------------------ */

/* Compares the key k[0..klen) with ino's name, bytewise like strcmp. */
static int key_cmp(const char *k, size_t klen, const struct ns_inode *ino)
{
	int c = memcmp(k, ino->name, klen < ino->namelen ? klen : ino->namelen);
	if (c)
		return c;
	return klen < ino->namelen ? -1 : klen > ino->namelen;
}

static struct ns_inode *child_find(const struct ns_inode *dir, const char *k, size_t klen)
{
	struct ns_inode *n = RB_ROOT(&dir->children);
	while (n) {
		int c = key_cmp(k, klen, n);
		if (c < 0)
			n = RB_LEFT(n, link);
		else if (c > 0)
			n = RB_RIGHT(n, link);
		else
			return n;
	}
	return NULL;
}

/* The first child whose name sorts after `after` (NULL or "": the first). */
static struct ns_inode *child_after(struct ns_inode *dir, const char *after)
{
	if (!after || !*after)
		return RB_MIN(ns_children, &dir->children);
	struct ns_inode *n = RB_ROOT(&dir->children), *best = NULL;
	while (n) {
		if (strcmp(after, n->name) < 0) {
			best = n;
			n = RB_LEFT(n, link);
		} else {
			n = RB_RIGHT(n, link);
		}
	}
	return best;
}

static int comp_check(const char *s, size_t len)
{
	if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return -EINVAL;
	if (len > NS_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* A name from a log record or checkpoint: one valid component. */
static int name_check(const char *name)
{
	if (!name)
		return -EINVAL;
	size_t len = strnlen(name, NS_NAME_MAX + 1);
	if (memchr(name, '/', len))
		return -EINVAL;
	return comp_check(name, len);
}

/* Checks a whole path's syntax, before anything is looked up. */
static int path_check(const char *path)
{
	if (!path || path[0] != '/')
		return -EINVAL;
	if (strnlen(path, NS_PATH_MAX) >= NS_PATH_MAX)
		return -ENAMETOOLONG;
	if (path[1] == '\0')
		return 0;
	const char *s = path + 1;
	for (;;) {
		const char *e = strchrnul(s, '/');
		int err = comp_check(s, (size_t)(e - s));
		if (err)
			return err;
		if (!*e)
			return 0;
		s = e + 1;
	}
}

/*
 * Walks a checked path to the directory holding its last component, which
 * is returned in *name and *len (len 0 for "/": *dir is then the root).
 * Errors: -ENOENT, -ENOTDIR.
 */
static int resolve_parent(const struct ns *ns, const char *path, struct ns_inode **dir,
			  const char **name, size_t *len)
{
	struct ns_inode *cur = ns->root;
	const char *s = path + 1;
	*dir = cur;
	*name = s;
	*len = 0;
	if (!*s)
		return 0;
	for (;;) {
		const char *e = strchrnul(s, '/');
		if (!*e) {
			*dir = cur;
			*name = s;
			*len = (size_t)(e - s);
			return 0;
		}
		cur = child_find(cur, s, (size_t)(e - s));
		if (!cur)
			return -ENOENT;
		if (!is_dir(cur))
			return -ENOTDIR;
		s = e + 1;
	}
}

/* Checks and walks a whole path. */
static int resolve(const struct ns *ns, const char *path, struct ns_inode **out)
{
	struct ns_inode *dir;
	const char *name;
	size_t len;
	int err = path_check(path);
	if (!err)
		err = resolve_parent(ns, path, &dir, &name, &len);
	if (err)
		return err;
	*out = len ? child_find(dir, name, len) : ns->root;
	return *out ? 0 : -ENOENT;
}

/* ---- life cycle ------------------------------------------------------------ */

static struct ns_inode *inode_new(const char *name, size_t len)
{
	struct ns_inode *ino = xcalloc(1, inode_size(len));
	memcpy(ino->name, name, len);
	ino->namelen = (uint16_t)len;
	RB_INIT(&ino->children);
	return ino;
}

static void inode_free(struct ns *ns, struct ns_inode *ino)
{
	ns_file_release(ns, ino);
	id_del(ns, ino);
	ns->count--;
	ns_xattr_release(ino);
	free(ino->symlink);
	free(ino);
}

/*
 * Frees top and everything below it, one leaf at a time (no recursion).
 * top must already be unlinked from its parent's children.
 */
static void subtree_free(struct ns *ns, struct ns_inode *top)
{
	struct ns_inode *cur = top;
	for (;;) {
		struct ns_inode *child = RB_ROOT(&cur->children);
		if (child) {
			RB_REMOVE(ns_children, &cur->children, child);
			cur->nentries--;
			cur = child;
			continue;
		}
		struct ns_inode *up = cur->parent;
		int done = cur == top;
		inode_free(ns, cur);
		if (done)
			return;
		cur = up;
	}
}

struct ns *ns_new(void)
{
	struct ns *ns = xcalloc(1, sizeof(*ns));
	ns->id_bits = NS_ID_MIN_BITS;
	ns->ids = xcalloc((size_t)1 << ns->id_bits, sizeof(*ns->ids));
	ns->root = inode_new("", 0);
	ns->root->id = NS_ROOT_ID;
	ns->root->type = CAIRN__FILE_TYPE__FILE_TYPE_DIR;
	ns->root->mode = 0755;
	id_put(ns, ns->root);
	ns->count = 1;
	ns->next_id = NS_ROOT_ID + 1;
	ns->next_chunk_id = 1;
	ns->chunk_size = NS_CHUNK_SIZE_DEFAULT;
	ns->def_replication = NS_DEFAULT_REPLICATION;
	return ns;
}

void ns_free(struct ns *ns)
{
	if (!ns)
		return;
	ns->drop = NULL; /* going away is not dropping chunks */
	subtree_free(ns, ns->root);
	CAIRN_ASSERT(ns->count == 0);
	free(ns->ids);
	free(ns);
}

void ns_set_emit(struct ns *ns, ns_emit_fn fn, void *arg)
{
	ns->emit = fn;
	ns->emit_arg = arg;
}

void ns_set_drop(struct ns *ns, ns_drop_fn fn, void *arg)
{
	ns->drop = fn;
	ns->drop_arg = arg;
}

void ns_set_default_replication(struct ns *ns, uint32_t replication)
{
	if (replication >= 1 && replication <= NS_REPLICATION_MAX)
		ns->def_replication = replication;
}

size_t ns_count(const struct ns *ns)
{
	return ns->count;
}

uint64_t ns_next_id(const struct ns *ns)
{
	return ns->next_id;
}

void ns_set_next_id(struct ns *ns, uint64_t next_id)
{
	if (next_id > ns->next_id)
		ns->next_id = next_id;
}

/* ---- applying records ------------------------------------------------------ */

static struct ns_inode *dir_get(const struct ns *ns, uint64_t id)
{
	struct ns_inode *ino = id_get(ns, id);
	return ino && is_dir(ino) ? ino : NULL;
}

static void touch_dir(struct ns_inode *dir, int64_t time_us)
{
	dir->mtime_us = time_us;
	dir->ctime_us = time_us;
}

/* ---- path length below a directory ----------------------------------------- */

/* ino has just been linked under its parent: raises the ancestors' bounds. */
static void reach_raise(struct ns_inode *ino)
{
	size_t r = ino->reach;
	for (struct ns_inode *d = ino; d->parent; d = d->parent) {
		r += 1 + d->namelen;
		if (r > NS_PATH_MAX)
			r = NS_PATH_MAX;
		if (d->parent->reach >= r)
			return;
		d->parent->reach = (uint16_t)r;
	}
}

/*
 * Whether a path below top, relative to it, is longer than limit bytes.
 * Walks top's subtree in order without recursion, stopping at the first
 * such path.
 */
static int reach_exceeds(const struct ns_inode *top, size_t limit)
{
	size_t rel = 0;
	struct ns_inode *cur = (struct ns_inode *)top;
	for (;;) {
		struct ns_inode *next = RB_MIN(ns_children, &cur->children);
		while (!next && cur != top) {
			next = RB_NEXT(ns_children, &cur->parent->children, cur);
			rel -= 1 + cur->namelen;
			if (!next)
				cur = cur->parent;
		}
		if (!next)
			break;
		cur = next;
		rel += 1 + cur->namelen;
		if (rel > limit)
			return 1;
	}
	return 0;
}

/* Links a new inode (id, name and attributes set) under parent. */
static void inode_link(struct ns *ns, struct ns_inode *parent, struct ns_inode *ino)
{
	ino->parent = parent;
	struct ns_inode *dup = RB_INSERT(ns_children, &parent->children, ino);
	CAIRN_ASSERT(!dup);
	(void)dup;
	parent->nentries++;
	reach_raise(ino);
	id_put(ns, ino);
	ns->count++;
	if (ino->id >= ns->next_id)
		ns->next_id = ino->id + 1;
}

/* Whether an inode of type with target (symbolic links: 1..NS_PATH_MAX bytes) may be made. */
static int type_ok(Cairn__FileType type, const char *target)
{
	if (type == CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK)
		return target && target[0] && strnlen(target, NS_PATH_MAX + 1) <= NS_PATH_MAX;
	return type == CAIRN__FILE_TYPE__FILE_TYPE_DIR || type == CAIRN__FILE_TYPE__FILE_TYPE_FILE;
}

static int apply_mknod(struct ns *ns, int64_t time_us, const Cairn__LogMknod *m)
{
	struct ns_inode *parent = dir_get(ns, m->parent);
	if (!parent)
		return -ENOENT;
	int err = name_check(m->name);
	if (err)
		return err;
	if (child_find(parent, m->name, strlen(m->name)))
		return -EEXIST;
	if (m->id == 0 || id_get(ns, m->id))
		return -EEXIST;
	if (!type_ok(m->type, m->symlink) || m->replication > NS_REPLICATION_MAX ||
	    m->chunk_size > NS_CHUNK_SIZE_MAX ||
	    (m->chunk_size && m->type != CAIRN__FILE_TYPE__FILE_TYPE_FILE))
		return -EINVAL;
	id_reserve(ns);
	struct ns_inode *ino = inode_new(m->name, strlen(m->name));
	if (m->type == CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK)
		ino->symlink = xstrdup(m->symlink);
	ino->id = m->id;
	ino->type = m->type;
	ino->mode = m->mode & 07777;
	ino->uid = m->uid;
	ino->gid = m->gid;
	ino->replication = m->replication;
	ino->chunk_size = m->chunk_size;
	ino->atime_us = ino->mtime_us = ino->ctime_us = time_us;
	inode_link(ns, parent, ino);
	touch_dir(parent, time_us);
	return 0;
}

/* Whether dir is ino or lies below it. */
static int in_subtree(const struct ns_inode *dir, const struct ns_inode *ino)
{
	for (const struct ns_inode *p = dir; p; p = p->parent)
		if (p == ino)
			return 1;
	return 0;
}

/* Whether src may replace dst (both exist, src != dst): 0 or an error. */
static int replace_check(const struct ns_inode *src, const struct ns_inode *dst)
{
	if (!is_dir(src) && is_dir(dst))
		return -EISDIR;
	if (is_dir(src) && !is_dir(dst))
		return -ENOTDIR;
	if (dst->nentries)
		return -ENOTEMPTY;
	return 0;
}

/*
 * Moves ino (out of its parent's tree, not the root) into the bigger block
 * to, repointing the id table and its children; frees ino, returns to.
 */
static struct ns_inode *inode_move(struct ns *ns, struct ns_inode *ino, struct ns_inode *to)
{
	memcpy(to, ino, offsetof(struct ns_inode, name));
	size_t mask = ((size_t)1 << ns->id_bits) - 1;
	size_t i = id_home(ns, ino->id);
	while (ns->ids[i] != ino)
		i = (i + 1) & mask;
	ns->ids[i] = to;
	for (struct ns_inode *c = RB_MIN(ns_children, &to->children); c;
	     c = RB_NEXT(ns_children, &to->children, c))
		c->parent = to;
	free(ino);
	return to;
}

static int apply_rename(struct ns *ns, int64_t time_us, const Cairn__LogRename *r)
{
	struct ns_inode *sp = dir_get(ns, r->src_parent), *dp = dir_get(ns, r->dst_parent);
	if (!sp || !dp)
		return -ENOENT;
	int err = name_check(r->src_name);
	if (!err)
		err = name_check(r->dst_name);
	if (err)
		return err;
	struct ns_inode *src = child_find(sp, r->src_name, strlen(r->src_name));
	if (!src)
		return -ENOENT;
	if (is_dir(src) && in_subtree(dp, src))
		return -EINVAL;
	struct ns_inode *dst = child_find(dp, r->dst_name, strlen(r->dst_name));
	if (dst == src)
		return 0;
	if (dst && (err = replace_check(src, dst)) < 0)
		return err;
	size_t len = strlen(r->dst_name);
	struct ns_inode *moved = NULL;
	if (inode_size(len) > inode_size(src->namelen))
		moved = xmalloc(inode_size(len));
	if (dst) {
		RB_REMOVE(ns_children, &dp->children, dst);
		dp->nentries--;
		inode_free(ns, dst);
	}
	RB_REMOVE(ns_children, &sp->children, src);
	sp->nentries--;
	if (moved)
		src = inode_move(ns, src, moved);
	memcpy(src->name, r->dst_name, len + 1);
	src->namelen = (uint16_t)len;
	src->parent = dp;
	RB_INSERT(ns_children, &dp->children, src);
	dp->nentries++;
	reach_raise(src);
	touch_dir(sp, time_us);
	touch_dir(dp, time_us);
	src->ctime_us = time_us;
	return 0;
}

static int apply_remove(struct ns *ns, int64_t time_us, const Cairn__LogRemove *r)
{
	struct ns_inode *parent = dir_get(ns, r->parent);
	if (!parent)
		return -ENOENT;
	int err = name_check(r->name);
	if (err)
		return err;
	struct ns_inode *ino = child_find(parent, r->name, strlen(r->name));
	if (!ino)
		return -ENOENT;
	if (ino->nentries && !r->recursive)
		return -ENOTEMPTY;
	RB_REMOVE(ns_children, &parent->children, ino);
	parent->nentries--;
	touch_dir(parent, time_us);
	subtree_free(ns, ino);
	return 0;
}

static int apply_setattr(struct ns *ns, int64_t time_us, const Cairn__LogSetattr *s)
{
	struct ns_inode *ino = id_get(ns, s->id);
	if (!ino)
		return -ENOENT;
	if ((s->mask & ~(uint32_t)NS_SETATTR_ALL) ||
	    ((s->mask & CAIRN__SETATTR_BIT__SETATTR_REPLICATION) &&
	     (s->replication < 1 || s->replication > NS_REPLICATION_MAX)))
		return -EINVAL;
	if (s->mask & CAIRN__SETATTR_BIT__SETATTR_MODE)
		ino->mode = s->mode & 07777;
	if (s->mask & CAIRN__SETATTR_BIT__SETATTR_UID)
		ino->uid = s->uid;
	if (s->mask & CAIRN__SETATTR_BIT__SETATTR_GID)
		ino->gid = s->gid;
	if (s->mask & CAIRN__SETATTR_BIT__SETATTR_ATIME)
		ino->atime_us = s->atime_us;
	if (s->mask & CAIRN__SETATTR_BIT__SETATTR_MTIME)
		ino->mtime_us = s->mtime_us;
	if (s->mask & CAIRN__SETATTR_BIT__SETATTR_REPLICATION)
		ino->replication = s->replication;
	ino->ctime_us = time_us;
	return 0;
}

int ns_apply(struct ns *ns, const Cairn__LogRecord *rec)
{
	switch (rec->op_case) {
	case CAIRN__LOG_RECORD__OP_MKNOD:
		return rec->mknod ? apply_mknod(ns, rec->time_us, rec->mknod) : -EINVAL;
	case CAIRN__LOG_RECORD__OP_RENAME:
		return rec->rename ? apply_rename(ns, rec->time_us, rec->rename) : -EINVAL;
	case CAIRN__LOG_RECORD__OP_REMOVE:
		return rec->remove ? apply_remove(ns, rec->time_us, rec->remove) : -EINVAL;
	case CAIRN__LOG_RECORD__OP_SETATTR:
		return rec->setattr ? apply_setattr(ns, rec->time_us, rec->setattr) : -EINVAL;
	case CAIRN__LOG_RECORD__OP_CHUNK:
		return rec->chunk ? ns_apply_chunk(ns, rec->chunk) : -EINVAL;
	case CAIRN__LOG_RECORD__OP_SET_SIZE:
		return rec->set_size ? ns_apply_set_size(ns, rec->time_us, rec->set_size) : -EINVAL;
	case CAIRN__LOG_RECORD__OP_XATTR:
		return rec->xattr ? ns_apply_xattr(ns, rec->time_us, rec->xattr) : -EINVAL;
	default:
		return -EINVAL;
	}
}

int ns_commit(struct ns *ns, Cairn__LogRecord *rec)
{
	int err = ns_apply(ns, rec);
	if (err)
		return err;
	if (ns->emit)
		ns->emit(ns->emit_arg, rec);
	return 0;
}

/* ---- operations --------------------------------------------------------------- */

int ns_lookup(struct ns *ns, const char *path, struct ns_inode **out)
{
	struct ns_inode *ino = NULL;
	int err = resolve(ns, path, &ino);
	if (out)
		*out = err ? NULL : ino;
	return err;
}

/* Creates name[0..len) under parent and returns the new inode. */
static int make_node(struct ns *ns, struct ns_inode *parent, const char *name, size_t len,
		     Cairn__FileType type, uint32_t mode, uint32_t uid, uint32_t gid,
		     uint32_t replication, uint64_t chunk_size, int64_t now_us,
		     struct ns_inode **out)
{
	char buf[NS_NAME_MAX + 1];
	CAIRN_ASSERT(len > 0 && len <= NS_NAME_MAX);
	memcpy(buf, name, len);
	buf[len] = '\0';
	Cairn__LogMknod m = CAIRN__LOG_MKNOD__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	m.parent = parent->id;
	m.name = buf;
	m.id = ns->next_id;
	m.type = type;
	m.mode = mode & 07777;
	m.uid = uid;
	m.gid = gid;
	m.replication = replication;
	m.chunk_size = chunk_size;
	rec.time_us = now_us;
	rec.op_case = CAIRN__LOG_RECORD__OP_MKNOD;
	rec.mknod = &m;
	int err = ns_commit(ns, &rec);
	if (err)
		return err;
	*out = id_get(ns, m.id);
	return 0;
}

/* mkdir -p: walks what exists, then creates each missing directory. */
static int mkdir_parents(struct ns *ns, const char *path, uint32_t mode, uint32_t uid, uint32_t gid,
			 int64_t now_us, struct ns_inode **out)
{
	struct ns_inode *cur = ns->root;
	const char *s = path + 1;
	while (*s) {
		const char *e = strchrnul(s, '/');
		if (!is_dir(cur))
			return -ENOTDIR;
		struct ns_inode *child = child_find(cur, s, (size_t)(e - s));
		if (!child)
			break;
		cur = child;
		s = *e ? e + 1 : e;
	}
	if (!*s) {
		if (!is_dir(cur))
			return -EEXIST;
		*out = cur;
		return 0;
	}
	while (*s) {
		const char *e = strchrnul(s, '/');
		int err = make_node(ns, cur, s, (size_t)(e - s), CAIRN__FILE_TYPE__FILE_TYPE_DIR,
				    mode, uid, gid, 0, 0, now_us, &cur);
		if (err)
			return err;
		s = *e ? e + 1 : e;
	}
	*out = cur;
	return 0;
}

int ns_mkdir(struct ns *ns, const char *path, uint32_t mode, uint32_t uid, uint32_t gid,
	     int parents, int64_t now_us, struct ns_inode **out)
{
	struct ns_inode *dir, *ino = NULL;
	const char *name;
	size_t len;
	int err = path_check(path);
	if (out)
		*out = NULL;
	if (err)
		return err;
	if (parents) {
		err = mkdir_parents(ns, path, mode, uid, gid, now_us, &ino);
	} else {
		err = resolve_parent(ns, path, &dir, &name, &len);
		if (!err && (len == 0 || child_find(dir, name, len)))
			err = -EEXIST;
		if (!err)
			err = make_node(ns, dir, name, len, CAIRN__FILE_TYPE__FILE_TYPE_DIR, mode,
					uid, gid, 0, 0, now_us, &ino);
	}
	if (!err && out)
		*out = ino;
	return err;
}

int ns_create(struct ns *ns, const char *path, uint32_t mode, uint32_t uid, uint32_t gid,
	      uint32_t replication, int exclusive, int64_t now_us, struct ns_inode **out)
{
	return ns_create_sized(ns, path, mode, uid, gid, replication, 0, exclusive, now_us, out);
}

int ns_create_sized(struct ns *ns, const char *path, uint32_t mode, uint32_t uid, uint32_t gid,
		    uint32_t replication, uint64_t chunk_size, int exclusive, int64_t now_us,
		    struct ns_inode **out)
{
	struct ns_inode *dir, *ino;
	const char *name;
	size_t len;
	int err = path_check(path);
	if (out)
		*out = NULL;
	if (!err && (replication > NS_REPLICATION_MAX || chunk_size > NS_CHUNK_SIZE_MAX))
		err = -EINVAL;
	if (!err)
		err = resolve_parent(ns, path, &dir, &name, &len);
	if (err)
		return err;
	ino = len ? child_find(dir, name, len) : ns->root;
	if (ino) {
		if (exclusive)
			return -EEXIST;
		if (is_dir(ino))
			return -EISDIR;
		if (ino->symlink)
			return -EEXIST;
	} else {
		err = make_node(ns, dir, name, len, CAIRN__FILE_TYPE__FILE_TYPE_FILE, mode, uid,
				gid, replication ? replication : ns->def_replication,
				chunk_size ? chunk_size : ns->chunk_size, now_us, &ino);
		if (err)
			return err;
	}
	if (out)
		*out = ino;
	return 0;
}

int ns_symlink(struct ns *ns, const char *path, const char *target, uint32_t uid, uint32_t gid,
	       int64_t now_us, struct ns_inode **out)
{
	struct ns_inode *dir;
	const char *name;
	size_t len;
	int err = path_check(path);
	if (out)
		*out = NULL;
	if (!err && !type_ok(CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK, target))
		err = target && !target[0] ? -ENOENT : -ENAMETOOLONG;
	if (!err)
		err = resolve_parent(ns, path, &dir, &name, &len);
	if (err)
		return err;
	if (!len || child_find(dir, name, len))
		return -EEXIST;
	char buf[NS_NAME_MAX + 1];
	memcpy(buf, name, len);
	buf[len] = '\0';
	Cairn__LogMknod m = CAIRN__LOG_MKNOD__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	m.parent = dir->id;
	m.name = buf;
	m.id = ns->next_id;
	m.type = CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK;
	m.mode = 0777;
	m.uid = uid;
	m.gid = gid;
	m.symlink = (char *)target; /* borrowed: the record has no const */
	rec.time_us = now_us;
	rec.op_case = CAIRN__LOG_RECORD__OP_MKNOD;
	rec.mknod = &m;
	if ((err = ns_commit(ns, &rec)) != 0)
		return err;
	if (out)
		*out = id_get(ns, m.id);
	return 0;
}

int ns_inode_is_symlink(const struct ns_inode *ino)
{
	return ino->type == CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK;
}

int ns_rename(struct ns *ns, const char *src, const char *dst, int64_t now_us)
{
	struct ns_inode *sdir, *ddir, *sino, *dino;
	const char *sname, *dname;
	size_t slen, dlen;
	int err = path_check(src);
	if (!err)
		err = path_check(dst);
	if (err)
		return err;
	if (src[1] == '\0' || dst[1] == '\0')
		return -EBUSY;
	err = resolve_parent(ns, src, &sdir, &sname, &slen);
	if (!err && !(sino = child_find(sdir, sname, slen)))
		err = -ENOENT;
	if (!err)
		err = resolve_parent(ns, dst, &ddir, &dname, &dlen);
	if (err)
		return err;
	if (is_dir(sino) && in_subtree(ddir, sino))
		return -EINVAL;
	dino = child_find(ddir, dname, dlen);
	if (dino == sino)
		return 0;
	if (dino && (err = replace_check(sino, dino)) < 0)
		return err;
	size_t room = NS_PATH_MAX - 1 - strlen(dst); /* bytes the paths below may add */
	if (sino->reach > room && reach_exceeds(sino, room))
		return -ENAMETOOLONG;
	char sbuf[NS_NAME_MAX + 1], dbuf[NS_NAME_MAX + 1];
	memcpy(sbuf, sname, slen); /* applying may move sino */
	sbuf[slen] = '\0';
	memcpy(dbuf, dname, dlen);
	dbuf[dlen] = '\0';
	Cairn__LogRename r = CAIRN__LOG_RENAME__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	r.src_parent = sdir->id;
	r.src_name = sbuf;
	r.dst_parent = ddir->id;
	r.dst_name = dbuf;
	rec.time_us = now_us;
	rec.op_case = CAIRN__LOG_RECORD__OP_RENAME;
	rec.rename = &r;
	return ns_commit(ns, &rec);
}

/* Logs and applies the removal of ino (not the root). */
static int remove_inode(struct ns *ns, struct ns_inode *ino, int recursive, int64_t now_us)
{
	if (ino->nentries && !recursive)
		return -ENOTEMPTY;
	Cairn__LogRemove r = CAIRN__LOG_REMOVE__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	char name[NS_NAME_MAX + 1];
	memcpy(name, ino->name, ino->namelen + 1); /* the record outlives the inode */
	r.parent = ino->parent->id;
	r.name = name;
	r.recursive = recursive != 0;
	rec.time_us = now_us;
	rec.op_case = CAIRN__LOG_RECORD__OP_REMOVE;
	rec.remove = &r;
	return ns_commit(ns, &rec);
}

int ns_remove(struct ns *ns, const char *path, int recursive, int64_t now_us)
{
	struct ns_inode *ino;
	int err = path_check(path);
	if (err)
		return err;
	if (path[1] == '\0')
		return -EBUSY;
	err = resolve(ns, path, &ino);
	if (err)
		return err;
	return remove_inode(ns, ino, recursive, now_us);
}

int ns_remove_file(struct ns *ns, uint64_t id, int64_t now_us)
{
	struct ns_inode *ino = ns_get(ns, id);
	if (!ino)
		return -ENOENT;
	if (is_dir(ino))
		return -EISDIR;
	return remove_inode(ns, ino, 0, now_us);
}

int ns_setattr(struct ns *ns, const char *path, uint32_t mask, uint32_t mode, uint32_t uid,
	       uint32_t gid, int64_t atime_us, int64_t mtime_us, uint32_t replication,
	       int64_t now_us, struct ns_inode **out)
{
	struct ns_inode *ino = NULL;
	int err = path_check(path);
	if (out)
		*out = NULL;
	if (!err && ((mask & ~(uint32_t)NS_SETATTR_ALL) ||
		     ((mask & CAIRN__SETATTR_BIT__SETATTR_REPLICATION) &&
		      (replication < 1 || replication > NS_REPLICATION_MAX))))
		err = -EINVAL;
	if (!err)
		err = resolve(ns, path, &ino);
	if (err)
		return err;
	if (mask) {
		Cairn__LogSetattr s = CAIRN__LOG_SETATTR__INIT;
		Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
		s.id = ino->id;
		s.mask = mask;
		s.mode = mode & 07777;
		s.uid = uid;
		s.gid = gid;
		s.atime_us = atime_us;
		s.mtime_us = mtime_us;
		s.replication = replication;
		rec.time_us = now_us;
		rec.op_case = CAIRN__LOG_RECORD__OP_SETATTR;
		rec.setattr = &s;
		err = ns_commit(ns, &rec);
		if (err)
			return err;
	}
	if (out)
		*out = ino;
	return 0;
}

int ns_readdir(struct ns *ns, const char *dir, const char *after, uint32_t limit, ns_readdir_fn fn,
	       void *arg, int *more)
{
	struct ns_inode *d;
	int err = resolve(ns, dir, &d);
	if (more)
		*more = 0;
	if (err)
		return err;
	if (!is_dir(d))
		return -ENOTDIR;
	if (limit == 0 || limit > NS_READDIR_MAX)
		limit = NS_READDIR_MAX;
	struct ns_inode *c = child_after(d, after);
	for (uint32_t n = 0; c && n < limit; n++) {
		fn(arg, c->name, c);
		c = RB_NEXT(ns_children, &d->children, c);
	}
	if (more)
		*more = c != NULL;
	return 0;
}

/* ---- attributes, walks and checkpoints ------------------------------------------ */

void ns_fill_attr(const struct ns_inode *ino, Cairn__Attr *attr)
{
	attr->id = ino->id;
	attr->parent = ino->parent ? ino->parent->id : 0;
	attr->name = (char *)ino->name; /* borrowed: Attr has no const */
	attr->type = (Cairn__FileType)ino->type;
	attr->mode = ino->mode;
	attr->uid = ino->uid;
	attr->gid = ino->gid;
	attr->atime_us = ino->atime_us;
	attr->mtime_us = ino->mtime_us;
	attr->ctime_us = ino->ctime_us;
	attr->size = ino->size;
	attr->replication = ino->replication;
	attr->nchunks = ino->nchunks;
	attr->nentries = ino->nentries;
	attr->chunk_size = ino->chunk_size;
	if (ino->symlink) {
		attr->symlink = ino->symlink; /* borrowed */
		attr->size = strlen(ino->symlink);
	}
	attr->n_chunks = 0;
	attr->chunks = NULL;
}

struct ns_inode *ns_get(const struct ns *ns, uint64_t id)
{
	return id_get(ns, id);
}

uint64_t ns_inode_id(const struct ns_inode *ino)
{
	return ino->id;
}

int ns_inode_is_dir(const struct ns_inode *ino)
{
	return is_dir(ino);
}

const char *ns_inode_name(const struct ns_inode *ino)
{
	return ino->name;
}

int ns_walk(const struct ns *ns, ns_walk_fn fn, void *arg)
{
	struct ns_inode *cur = ns->root;
	int ret = fn(arg, cur);
	while (!ret) {
		struct ns_inode *next = RB_MIN(ns_children, &cur->children);
		/* No children: the next sibling of cur or of its nearest ancestor. */
		while (!next && cur != ns->root) {
			next = RB_NEXT(ns_children, &cur->parent->children, cur);
			if (!next)
				cur = cur->parent;
		}
		if (!next)
			break;
		cur = next;
		ret = fn(arg, cur);
	}
	return ret;
}

static void restore_attrs(struct ns_inode *ino, const Cairn__Attr *a)
{
	ino->mode = a->mode & 07777;
	ino->uid = a->uid;
	ino->gid = a->gid;
	ino->atime_us = a->atime_us;
	ino->mtime_us = a->mtime_us;
	ino->ctime_us = a->ctime_us;
	ino->replication = a->replication;
}

int ns_restore(struct ns *ns, const Cairn__Attr *attr)
{
	if (attr->replication > NS_REPLICATION_MAX)
		return -EINVAL;
	if (attr->type == CAIRN__FILE_TYPE__FILE_TYPE_DIR && (attr->n_chunks || attr->nchunks))
		return -EINVAL;
	if (attr->id == NS_ROOT_ID) {
		if (attr->type != CAIRN__FILE_TYPE__FILE_TYPE_DIR || attr->parent != 0)
			return -EINVAL;
		restore_attrs(ns->root, attr);
		return ns_xattr_restore(ns->root, attr);
	}
	struct ns_inode *parent = dir_get(ns, attr->parent);
	if (!parent)
		return -ENOENT;
	int err = name_check(attr->name);
	if (err)
		return err;
	if (attr->id == 0 || id_get(ns, attr->id) ||
	    child_find(parent, attr->name, strlen(attr->name)))
		return -EEXIST;
	if (!type_ok(attr->type, attr->symlink))
		return -EINVAL;
	id_reserve(ns);
	struct ns_inode *ino = inode_new(attr->name, strlen(attr->name));
	if (attr->type == CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK)
		ino->symlink = xstrdup(attr->symlink);
	ino->id = attr->id;
	ino->type = attr->type;
	restore_attrs(ino, attr);
	if ((attr->type == CAIRN__FILE_TYPE__FILE_TYPE_FILE &&
	     (err = ns_file_restore(ns, ino, attr)) < 0) ||
	    (err = ns_xattr_restore(ino, attr)) < 0) {
		ns_xattr_release(ino);
		free(ino->symlink);
		free(ino);
		return err;
	}
	inode_link(ns, parent, ino);
	return 0;
}
