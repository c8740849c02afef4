/*
 * ns_xattr: extended attributes of the namespace's inodes ("user.*" only).
 *
 * Each inode keeps a small array of (name, value) pairs, each pair in one
 * allocation, in the order they were first set; lookups are linear (an
 * inode holds at most NS_XATTR_TOTAL_MAX bytes of them, so few). A change
 * is one LogXattr record by inode id, applied here both live and on
 * replay; checkpoints carry the pairs in Attr.xattrs.
 *
 * Invariant: the names and values of an inode add up to at most
 * NS_XATTR_TOTAL_MAX bytes, and every name is a valid "user." name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "ns_int.h"
#include "util.h"

#define USER_PREFIX "user."

static int name_ok(const char *name)
{
	size_t len = strnlen(name, NS_XATTR_NAME_MAX + 1);
	if (len > NS_XATTR_NAME_MAX)
		return -ENAMETOOLONG;
	if (strncmp(name, USER_PREFIX, strlen(USER_PREFIX)) != 0)
		return -ENOTSUP;
	return len > strlen(USER_PREFIX) ? 0 : -EINVAL;
}

static struct ns_xattr *find(const struct ns_inode *ino, const char *name)
{
	for (uint32_t i = 0; i < ino->nxattrs; i++)
		if (strcmp(ino->xattrs[i].name, name) == 0)
			return &ino->xattrs[i];
	return NULL;
}

static size_t total(const struct ns_inode *ino, const struct ns_xattr *except)
{
	size_t n = 0;
	for (uint32_t i = 0; i < ino->nxattrs; i++)
		if (&ino->xattrs[i] != except)
			n += strlen(ino->xattrs[i].name) + ino->xattrs[i].len;
	return n;
}

/* Sets name to value on ino (checked already). */
static void put(struct ns_inode *ino, const char *name, const uint8_t *value, size_t len)
{
	size_t nlen = strlen(name);
	char *mem = xmalloc(nlen + 1 + len + 1);
	memcpy(mem, name, nlen + 1);
	if (len)
		memcpy(mem + nlen + 1, value, len);
	struct ns_xattr *x = find(ino, name);
	if (!x) {
		struct ns_xattr *v = xrealloc(ino->xattrs, (ino->nxattrs + 1) * sizeof(*v));
		ino->xattrs = v;
		x = &v[ino->nxattrs++];
	} else {
		free(x->name);
	}
	x->name = mem;
	x->value = (uint8_t *)mem + nlen + 1;
	x->len = len;
}

/* Checks a change of name on ino against the bounds and flags. */
static int check(const struct ns_inode *ino, const char *name, size_t len, int remove,
		 unsigned flags)
{
	int err = name_ok(name);
	if (err)
		return err;
	const struct ns_xattr *x = find(ino, name);
	if (remove)
		return x ? 0 : -ENODATA;
	if ((flags & NS_XATTR_CREATE) && x)
		return -EEXIST;
	if ((flags & NS_XATTR_REPLACE) && !x)
		return -ENODATA;
	if (len > NS_XATTR_VALUE_MAX || total(ino, x) + strlen(name) + len > NS_XATTR_TOTAL_MAX)
		return -E2BIG;
	return 0;
}

int ns_apply_xattr(struct ns *ns, int64_t time_us, const Cairn__LogXattr *r)
{
	struct ns_inode *ino = ns_get(ns, r->id);
	if (!ino || !r->name)
		return ino ? -EINVAL : -ENOENT;
	int err = check(ino, r->name, r->value.len, r->remove, 0);
	if (err)
		return err;
	if (r->remove) {
		struct ns_xattr *x = find(ino, r->name);
		free(x->name);
		*x = ino->xattrs[--ino->nxattrs];
	} else {
		put(ino, r->name, r->value.data, r->value.len);
	}
	ino->ctime_us = time_us;
	return 0;
}

/* Logs and applies one change. */
static int change(struct ns *ns, const char *path, const char *name, const uint8_t *value,
		  size_t len, int remove, unsigned flags, int64_t now_us)
{
	struct ns_inode *ino;
	int err = ns_lookup(ns, path, &ino);
	if (!err)
		err = check(ino, name, len, remove, flags);
	if (err)
		return err;
	Cairn__LogXattr x = CAIRN__LOG_XATTR__INIT;
	Cairn__LogRecord rec = CAIRN__LOG_RECORD__INIT;
	x.id = ns_inode_id(ino);
	x.name = (char *)name; /* borrowed: the record has no const */
	x.value.data = (uint8_t *)value;
	x.value.len = len;
	x.remove = remove;
	rec.time_us = now_us;
	rec.op_case = CAIRN__LOG_RECORD__OP_XATTR;
	rec.xattr = &x;
	return ns_commit(ns, &rec);
}

int ns_setxattr(struct ns *ns, const char *path, const char *name, const uint8_t *value, size_t len,
		unsigned flags, int64_t now_us)
{
	return change(ns, path, name, value, len, 0, flags, now_us);
}

int ns_removexattr(struct ns *ns, const char *path, const char *name, int64_t now_us)
{
	return change(ns, path, name, NULL, 0, 1, 0, now_us);
}

int ns_getxattr(struct ns *ns, const char *path, const char *name, const uint8_t **value,
		size_t *len)
{
	struct ns_inode *ino;
	int err = ns_lookup(ns, path, &ino);
	if (err)
		return err;
	if ((err = name_ok(name)) != 0)
		return err == -ENOTSUP ? -ENODATA : err;
	const struct ns_xattr *x = find(ino, name);
	if (!x)
		return -ENODATA;
	*value = x->value;
	*len = x->len;
	return 0;
}

int ns_listxattr(struct ns *ns, const char *path, void (*fn)(void *arg, const char *name),
		 void *arg)
{
	struct ns_inode *ino;
	int err = ns_lookup(ns, path, &ino);
	if (err)
		return err;
	for (uint32_t i = 0; i < ino->nxattrs; i++)
		fn(arg, ino->xattrs[i].name);
	return 0;
}

void ns_xattr_release(struct ns_inode *ino)
{
	for (uint32_t i = 0; i < ino->nxattrs; i++)
		free(ino->xattrs[i].name);
	free(ino->xattrs);
	ino->xattrs = NULL;
	ino->nxattrs = 0;
}

int ns_xattr_restore(struct ns_inode *ino, const Cairn__Attr *attr)
{
	for (size_t i = 0; i < attr->n_xattrs; i++) {
		const Cairn__Xattr *x = attr->xattrs[i];
		int err = check(ino, x->name ? x->name : "", x->value.len, 0, NS_XATTR_CREATE);
		if (err)
			return -EINVAL;
		put(ino, x->name, x->value.data, x->value.len);
	}
	return 0;
}

size_t ns_xattr_count(const struct ns_inode *ino)
{
	return ino->nxattrs;
}

void ns_fill_xattrs(const struct ns_inode *ino, Cairn__Attr *attr, Cairn__Xattr *buf,
		    Cairn__Xattr **ptrs)
{
	for (uint32_t i = 0; i < ino->nxattrs; i++) {
		cairn__xattr__init(&buf[i]);
		buf[i].name = ino->xattrs[i].name;
		buf[i].value.data = ino->xattrs[i].value;
		buf[i].value.len = ino->xattrs[i].len;
		ptrs[i] = &buf[i];
	}
	attr->xattrs = ptrs;
	attr->n_xattrs = ino->nxattrs;
}
