/*
 * namespace: libcairn's metaserver namespace calls (stat, mkdir, create,
 * rename, remove, setattr) and the paged directory iterator.
 *
 * Each call checks and normalises its paths here (absolute, no empty
 * components, at most CLIENT_PATH_MAX bytes), builds its request on the
 * stack and runs it through call.c. A directory listing holds one page at a time and asks
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

/* Runs req, which must be answered with an empty ok. Frees path (may be NULL). */
static int run_ok(struct cairn *c, Cairn__Envelope *req, char *path)
{
	int err = call_run(c, req, CAIRN__ENVELOPE__BODY__NOT_SET, NULL);
	free(path);
	return err;
}

int client_stat_reply(struct cairn *c, const char *path, Cairn__Envelope **reply)
{
	Cairn__StatReq m = CAIRN__STAT_REQ__INIT;
	int err = client_path_norm(path, &m.path);
	if (err)
		return err;
	Cairn__Envelope req;
	CALL_REQ(&req, STAT, stat, &m);
	err = call_run(c, &req, CAIRN__ENVELOPE__BODY_ATTR, reply);
	free(m.path);
	return err;
}

int client_stat_nondir(struct cairn *c, const char *path, struct cairn_stat *st)
{
	int err = cairn_stat(c, path, st);
	if (!err && st->type == CAIRN_DIR)
		err = -EISDIR;
	return err;
}

int cairn_stat(cairn_t *c, const char *path, struct cairn_stat *st)
{
	Cairn__Envelope *reply;
	int err = client_stat_reply(c, path, &reply);
	if (err)
		return err;
	if (reply->attr->attr)
		call_attr_to_stat(reply->attr->attr, st);
	else
		err = -CAIRN_EPROTO;
	cairn__envelope__free_unpacked(reply, NULL);
	return err;
}

static int do_mkdir(cairn_t *c, const char *path, uint32_t mode, int parents)
{
	Cairn__MkdirReq m = CAIRN__MKDIR_REQ__INIT;
	int err = client_path_norm(path, &m.path);
	if (err)
		return err;
	m.mode = mode & 07777;
	m.parents = parents;
	Cairn__Envelope req;
	CALL_REQ(&req, MKDIR, mkdir, &m);
	return run_ok(c, &req, m.path);
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
	Cairn__CreateReq m = CAIRN__CREATE_REQ__INIT;
	int err = client_path_norm(path, &m.path);
	if (err)
		return err;
	m.mode = mode & 07777;
	m.replication = replication ? replication : c->replication;
	m.exclusive = excl != 0;
	Cairn__Envelope req;
	CALL_REQ(&req, CREATE, create, &m);
	return run_ok(c, &req, m.path);
}

int cairn_remove(cairn_t *c, const char *path, int recursive)
{
	Cairn__RemoveReq m = CAIRN__REMOVE_REQ__INIT;
	int err = client_path_norm(path, &m.path);
	if (err)
		return err;
	m.recursive = recursive != 0;
	Cairn__Envelope req;
	CALL_REQ(&req, REMOVE, remove, &m);
	return run_ok(c, &req, m.path);
}

int cairn_rename(cairn_t *c, const char *src, const char *dst)
{
	return cairn_rename2(c, src, dst, 0);
}

int cairn_rename2(cairn_t *c, const char *src, const char *dst, int flags)
{
	if (flags & ~CAIRN_RENAME_NOREPLACE)
		return -EINVAL;
	Cairn__RenameReq m = CAIRN__RENAME_REQ__INIT;
	int err = client_path_norm(src, &m.src);
	if (err)
		return err;
	if ((err = client_path_norm(dst, &m.dst)) != 0) {
		free(m.src);
		return err;
	}
	m.noreplace = (flags & CAIRN_RENAME_NOREPLACE) != 0;
	Cairn__Envelope req;
	CALL_REQ(&req, RENAME, rename, &m);
	err = run_ok(c, &req, m.src);
	free(m.dst);
	return err;
}

/* One setattr call; the fields not in attr->mask are ignored by the metaserver. */
static int do_setattr(cairn_t *c, const char *path, Cairn__SetattrReq *attr)
{
	int err = client_path_norm(path, &attr->path);
	if (err)
		return err;
	Cairn__Envelope req;
	CALL_REQ(&req, SETATTR, setattr, attr);
	return run_ok(c, &req, attr->path);
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

/* Copies a page of entries out of a reply. */
static int take_page(struct call_page *p, const Cairn__ReaddirResp *r)
{
	size_t bytes = 0;
	for (size_t i = 0; i < r->n_entries; i++) {
		const char *name = r->entries[i]->name;
		if (!name || !*name || strchr(name, '/'))
			return -CAIRN_EPROTO;
		bytes += strlen(name) + 1;
	}
	/* A page that says more but holds nothing would never end. */
	if (r->n_entries == 0 && r->more)
		return -CAIRN_EPROTO;
	p->ents = calloc(r->n_entries ? r->n_entries : 1, sizeof(*p->ents));
	p->names = malloc(bytes ? bytes : 1);
	if (!p->ents || !p->names) {
		call_page_clear(p);
		return -ENOMEM;
	}
	char *at = p->names;
	for (size_t i = 0; i < r->n_entries; i++) {
		size_t len = strlen(r->entries[i]->name) + 1;
		memcpy(at, r->entries[i]->name, len);
		p->ents[i].name = at;
		call_attr_to_stat(r->entries[i]->attr, &p->ents[i].st);
		at += len;
	}
	p->n = r->n_entries;
	p->more = r->more;
	return 0;
}

/* Replaces d's page with the one after d->after (or the first). */
static int dir_fetch(struct cairn_dir *d)
{
	Cairn__ReaddirReq m = CAIRN__READDIR_REQ__INIT;
	m.path = d->path;
	m.after = d->after ? d->after : "";
	Cairn__Envelope req, *reply;
	CALL_REQ(&req, READDIR, readdir, &m);
	int err = call_run(d->c, &req, CAIRN__ENVELOPE__BODY_ENTRIES, &reply);
	if (err)
		return err;
	struct call_page page = {0};
	err = take_page(&page, reply->entries);
	cairn__envelope__free_unpacked(reply, NULL);
	if (err == 0) {
		call_page_clear(&d->page);
		d->page = page;
		d->next = 0;
	}
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
