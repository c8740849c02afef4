/*
 * namespace: libcairn's metaserver namespace calls (stat, mkdir, create,
 * rename, remove, setattr) and the paged directory iterator.
 *
 * Each call checks and normalises its paths here (absolute, no empty
 * components, at most CLIENT_PATH_MAX bytes), fills one request and runs it
 * through call.c. A directory listing holds one page at a time and asks
 * for the next one after the last name it returned, so a listing resumes
 * correctly after a lost connection and never repeats a name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

struct cairn_dir {
	struct cairn *c;
	char *path;
	struct call_page page;
	size_t next; /* index of the next entry of page to return */
	char *after; /* the last name returned, to resume after */
};

int client_path_norm(const char *path, char **out)
{
	*out = NULL;
	if (!path || path[0] != '/')
		return -EINVAL;
	size_t len = strnlen(path, CLIENT_PATH_MAX + 1);
	if (len > CLIENT_PATH_MAX)
		return -ENAMETOOLONG;
	char *p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	size_t n = 0;
	for (const char *s = path; *s;) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		size_t clen = strcspn(s, "/");
		if ((clen == 1 && s[0] == '.') || (clen == 2 && s[0] == '.' && s[1] == '.')) {
			free(p);
			return -EINVAL;
		}
		p[n++] = '/';
		memcpy(p + n, s, clen);
		n += clen;
		s += clen;
	}
	if (n == 0)
		p[n++] = '/';
	p[n] = 0;
	*out = p;
	return 0;
}

/*
 * Makes a call of kind for path and, when path2 is non-NULL, a second
 * path: the normalised copies are owned by the call (call->owned[0] and
 * [1]). Returns a new call (free with call_free()) or NULL with *err set.
 */
static struct call *start(struct cairn *c, Cairn__Envelope__BodyCase kind, const char *path,
			  const char *path2, int *err)
{
	char *p = NULL, *p2 = NULL;
	*err = client_path_norm(path, &p);
	if (*err == 0 && path2)
		*err = client_path_norm(path2, &p2);
	struct call *call = *err ? NULL : call_new(c, kind);
	if (!call) {
		if (*err == 0)
			*err = -ENOMEM;
		free(p);
		free(p2);
		return NULL;
	}
	call->owned[0] = p;
	call->owned[1] = p2;
	return call;
}

/* Runs call and frees it; returns its error. */
static int finish(struct call *call)
{
	int err = call_run(call);
	call_free(call);
	return err;
}

int cairn_stat(cairn_t *c, const char *path, struct cairn_stat *st)
{
	int err;
	struct call *call = start(c, CAIRN__ENVELOPE__BODY_STAT, path, NULL, &err);
	if (!call)
		return err;
	call->body.stat.path = call->owned[0];
	err = call_run(call);
	if (err == 0 && !call->has_attr)
		err = -CAIRN_EPROTO;
	if (err == 0)
		*st = call->attr;
	call_free(call);
	return err;
}

static int do_mkdir(cairn_t *c, const char *path, uint32_t mode, int parents)
{
	int err;
	struct call *call = start(c, CAIRN__ENVELOPE__BODY_MKDIR, path, NULL, &err);
	if (!call)
		return err;
	call->body.mkdir.path = call->owned[0];
	call->body.mkdir.mode = mode & 07777;
	call->body.mkdir.parents = parents;
	return finish(call);
}

int cairn_mkdir(cairn_t *c, const char *path, uint32_t mode)
{
	return do_mkdir(c, path, mode, 0);
}

int cairn_mkdirs(cairn_t *c, const char *path, uint32_t mode)
{
	return do_mkdir(c, path, mode, 1);
}

int cairn_create(cairn_t *c, const char *path, uint32_t mode, uint32_t replication, int excl)
{
	int err;
	struct call *call = start(c, CAIRN__ENVELOPE__BODY_CREATE, path, NULL, &err);
	if (!call)
		return err;
	call->body.create.path = call->owned[0];
	call->body.create.mode = mode & 07777;
	call->body.create.replication = replication ? replication : c->replication;
	call->body.create.exclusive = excl != 0;
	return finish(call);
}

int cairn_remove(cairn_t *c, const char *path, int recursive)
{
	int err;
	struct call *call = start(c, CAIRN__ENVELOPE__BODY_REMOVE, path, NULL, &err);
	if (!call)
		return err;
	call->body.remove.path = call->owned[0];
	call->body.remove.recursive = recursive != 0;
	return finish(call);
}

int cairn_rename(cairn_t *c, const char *src, const char *dst)
{
	return cairn_rename2(c, src, dst, 0);
}

int cairn_rename2(cairn_t *c, const char *src, const char *dst, int flags)
{
	int err;
	if (flags & ~CAIRN_RENAME_NOREPLACE)
		return -EINVAL;
	struct call *call = start(c, CAIRN__ENVELOPE__BODY_RENAME, src, dst, &err);
	if (!call)
		return err;
	call->body.rename.src = call->owned[0];
	call->body.rename.dst = call->owned[1];
	call->body.rename.noreplace = (flags & CAIRN_RENAME_NOREPLACE) != 0;
	return finish(call);
}

/* One setattr call; the fields not in mask are ignored by the metaserver. */
static int do_setattr(cairn_t *c, const char *path, const Cairn__SetattrReq *attr)
{
	int err;
	struct call *call = start(c, CAIRN__ENVELOPE__BODY_SETATTR, path, NULL, &err);
	if (!call)
		return err;
	call->body.setattr = *attr;
	call->body.setattr.path = call->owned[0];
	return finish(call);
}

int cairn_set_replication(cairn_t *c, const char *path, uint32_t replication)
{
	Cairn__SetattrReq a = CAIRN__SETATTR_REQ__INIT;
	a.mask = CAIRN__SETATTR_BIT__SETATTR_REPLICATION;
	a.replication = replication;
	return do_setattr(c, path, &a);
}

int cairn_chmod(cairn_t *c, const char *path, uint32_t mode)
{
	Cairn__SetattrReq a = CAIRN__SETATTR_REQ__INIT;
	a.mask = CAIRN__SETATTR_BIT__SETATTR_MODE;
	a.mode = mode & 07777;
	return do_setattr(c, path, &a);
}

int cairn_chown(cairn_t *c, const char *path, uint32_t uid, uint32_t gid)
{
	Cairn__SetattrReq a = CAIRN__SETATTR_REQ__INIT;
	if (uid != CAIRN_ID_OMIT) {
		a.mask |= CAIRN__SETATTR_BIT__SETATTR_UID;
		a.uid = uid;
	}
	if (gid != CAIRN_ID_OMIT) {
		a.mask |= CAIRN__SETATTR_BIT__SETATTR_GID;
		a.gid = gid;
	}
	return do_setattr(c, path, &a);
}

int cairn_utimes(cairn_t *c, const char *path, int64_t atime_us, int64_t mtime_us)
{
	Cairn__SetattrReq a = CAIRN__SETATTR_REQ__INIT;
	if (atime_us != CAIRN_TIME_OMIT) {
		a.mask |= CAIRN__SETATTR_BIT__SETATTR_ATIME;
		a.atime_us = atime_us;
	}
	if (mtime_us != CAIRN_TIME_OMIT) {
		a.mask |= CAIRN__SETATTR_BIT__SETATTR_MTIME;
		a.mtime_us = mtime_us;
	}
	return do_setattr(c, path, &a);
}

/* Replaces d's page with the one after d->after (or the first). */
static int dir_fetch(struct cairn_dir *d)
{
	int err;
	struct call *call = start(d->c, CAIRN__ENVELOPE__BODY_READDIR, d->path, NULL, &err);
	if (!call)
		return err;
	call->owned[1] = strdup(d->after ? d->after : "");
	if (!call->owned[1]) {
		call_free(call);
		return -ENOMEM;
	}
	call->body.readdir.path = call->owned[0];
	call->body.readdir.after = call->owned[1];
	err = call_run(call);
	if (err == 0 && !call->has_page)
		err = -CAIRN_EPROTO;
	/* A page that says more but holds nothing would never end. */
	if (err == 0 && call->page.n == 0 && call->page.more)
		err = -CAIRN_EPROTO;
	if (err == 0) {
		call_page_clear(&d->page);
		d->page = call->page;
		memset(&call->page, 0, sizeof(call->page));
		d->next = 0;
	}
	call_free(call);
	return err;
}

int cairn_opendir(cairn_t *c, const char *path, cairn_dir_t **out)
{
	*out = NULL;
	struct cairn_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->c = c;
	int err = client_path_norm(path, &d->path);
	if (err == 0)
		err = dir_fetch(d);
	if (err) {
		cairn_closedir(d);
		return err;
	}
	*out = d;
	return 0;
}

int cairn_readdir_next(cairn_dir_t *d, struct cairn_dirent *ent)
{
	if (d->next == d->page.n) {
		if (!d->page.more)
			return 0;
		char *after = strdup(d->page.ents[d->page.n - 1].name);
		if (!after)
			return -ENOMEM;
		free(d->after);
		d->after = after;
		int err = dir_fetch(d);
		if (err)
			return err;
		if (d->page.n == 0)
			return 0;
	}
	*ent = d->page.ents[d->next++];
	return 1;
}

void cairn_closedir(cairn_dir_t *d)
{
	if (!d)
		return;
	call_page_clear(&d->page);
	free(d->path);
	free(d->after);
	free(d);
}
