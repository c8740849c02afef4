/*
 * meta_ns: the namespace calls of cairn-meta, one handler per call and one
 * dispatch table indexed by the envelope's body case.
 *
 * Handlers never touch bytes: they read the request message, call into
 * ns, and answer with meta_answer(), which holds a mutation's reply until
 * the op log has made it durable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta_int.h"
#include "ns.h"
#include "util.h"

static void h_stat(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	struct ns_inode *ino = NULL;
	int err = ns_lookup(ms->ns, req->stat->path, &ino);
	meta_answer(ms, call, err, NULL, ino);
}

static void h_mkdir(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__MkdirReq *m = req->mkdir;
	struct ns_inode *ino = NULL;
	int err = ns_mkdir(ms->ns, m->path, m->mode ? m->mode & 07777 : 0755, 0, 0, m->parents,
			   time_now_us(), &ino);
	meta_answer(ms, call, err, NULL, ino);
}

int meta_chunk_size_check(uint64_t chunk_size, char **why)
{
	if (chunk_size == 0 || (chunk_size >= META_CHUNK_SIZE_MIN &&
				chunk_size <= NS_CHUNK_SIZE_MAX && !(chunk_size & (chunk_size - 1))))
		return 0;
	*why = xasprintf("chunk size %llu is not a power of two from 1M to 256M",
			 (unsigned long long)chunk_size);
	return -EINVAL;
}

static void h_create(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__CreateReq *m = req->create;
	struct ns_inode *ino = NULL;
	char *why = NULL;
	int err = meta_chunk_size_check(m->chunk_size, &why);
	if (!err)
		err = ns_create_sized(ms->ns, m->path, m->mode ? m->mode & 07777 : 0644, 0, 0,
				      m->replication, m->chunk_size, m->exclusive, time_now_us(),
				      &ino);
	meta_answer_why(ms, call, err, why, NULL, ino);
	free(why);
}

static void h_symlink(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	struct ns_inode *ino = NULL;
	int err = ns_symlink(ms->ns, req->symlink->path, req->symlink->target, 0, 0, time_now_us(),
			     &ino);
	meta_answer(ms, call, err, NULL, ino);
}

static void h_xattr_set(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__XattrSetReq *m = req->xattr_set;
	int err = m->remove ? ns_removexattr(ms->ns, m->path, m->name, time_now_us())
			    : ns_setxattr(ms->ns, m->path, m->name, m->value.data, m->value.len,
					  m->flags, time_now_us());
	meta_answer(ms, call, err, NULL, NULL);
}

struct xattr_names {
	char **v;
	size_t n, cap;
};

static void collect_name(void *arg, const char *name)
{
	struct xattr_names *x = arg;
	if (x->n == x->cap) {
		char **v = xcalloc(x->cap ? x->cap * 2 : 16, sizeof(*v));
		if (x->n)
			memcpy(v, x->v, x->n * sizeof(*v));
		free(x->v);
		x->v = v;
		x->cap = x->cap ? x->cap * 2 : 16;
	}
	x->v[x->n++] = (char *)name; /* borrowed for the reply */
}

static void h_xattr_get(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__XattrGetReq *m = req->xattr_get;
	Cairn__XattrResp r = CAIRN__XATTR_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	struct xattr_names x = {0};
	int err;
	if (m->name[0]) {
		const uint8_t *v = NULL;
		size_t len = 0;
		err = ns_getxattr(ms->ns, m->path, m->name, &v, &len);
		r.value.data = (uint8_t *)v;
		r.value.len = len;
	} else {
		err = ns_listxattr(ms->ns, m->path, collect_name, &x);
		r.names = x.v;
		r.n_names = x.n;
	}
	body.body_case = CAIRN__ENVELOPE__BODY_XATTR;
	body.xattr = &r;
	meta_answer(ms, call, err, err ? NULL : &body, NULL);
	free(x.v);
}

struct readdir_page {
	const struct ns *ns;
	Cairn__DirEntry *entries;
	Cairn__DirEntry **ptrs;
	Cairn__Attr *attrs;
	size_t n;
};

static void collect_entry(void *arg, const char *name, const struct ns_inode *ino)
{
	struct readdir_page *p = arg;
	Cairn__DirEntry *e = &p->entries[p->n];
	Cairn__Attr *a = &p->attrs[p->n];
	cairn__dir_entry__init(e);
	cairn__attr__init(a);
	ns_fill_attr(ino, a);
	if (!ns_inode_is_dir(ino))
		a->chunk_size = ns_file_chunk_size(p->ns, ino);
	e->name = (char *)name;
	e->attr = a;
	p->ptrs[p->n++] = e;
}

static void h_readdir(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__ReaddirReq *m = req->readdir;
	uint32_t limit = m->limit == 0 || m->limit > NS_READDIR_MAX ? NS_READDIR_MAX : m->limit;
	struct readdir_page p = {
	    .ns = ms->ns,
	    .entries = xcalloc(limit, sizeof(*p.entries)),
	    .ptrs = xcalloc(limit, sizeof(*p.ptrs)),
	    .attrs = xcalloc(limit, sizeof(*p.attrs)),
	};
	int more = 0;
	int err = ns_readdir(ms->ns, m->path, m->after, limit, collect_entry, &p, &more);
	Cairn__ReaddirResp resp = CAIRN__READDIR_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	resp.entries = p.ptrs;
	resp.n_entries = p.n;
	resp.more = more;
	body.body_case = CAIRN__ENVELOPE__BODY_ENTRIES;
	body.entries = &resp;
	meta_answer(ms, call, err, err ? NULL : &body, NULL);
	free(p.entries);
	free(p.ptrs);
	free(p.attrs);
}

static void h_rename(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__RenameReq *m = req->rename;
	struct ns_inode *dst;
	int err = 0;
	if (m->noreplace && ns_lookup(ms->ns, m->dst, &dst) == 0 && strcmp(m->src, m->dst) != 0)
		err = -EEXIST;
	if (!err)
		err = ns_rename(ms->ns, m->src, m->dst, time_now_us());
	meta_answer(ms, call, err, NULL, NULL);
}

static void h_remove(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	int err = ns_remove(ms->ns, req->remove->path, req->remove->recursive, time_now_us());
	meta_answer(ms, call, err, NULL, NULL);
}

static void h_setattr(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	Cairn__SetattrReq *m = req->setattr;
	struct ns_inode *ino = NULL;
	int err = ns_setattr(ms->ns, m->path, m->mask, m->mode & 07777, m->uid, m->gid,
			     m->atime_us, m->mtime_us, m->replication, time_now_us(), &ino);
	meta_answer(ms, call, err, NULL, ino);
}

static void h_ping(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	meta_answer(ms, call, 0, NULL, NULL);
}

const struct meta_handler meta_handlers[META_NHANDLERS] = {
	[CAIRN__ENVELOPE__BODY_STAT] = {h_stat, "stat", 0},
	[CAIRN__ENVELOPE__BODY_MKDIR] = {h_mkdir, "mkdir", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_CREATE] = {h_create, "create", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_SYMLINK] = {h_symlink, "symlink", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_XATTR_SET] = {h_xattr_set, "xattr_set", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_XATTR_GET] = {h_xattr_get, "xattr_get", 0},
	[CAIRN__ENVELOPE__BODY_READDIR] = {h_readdir, "readdir", 0},
	[CAIRN__ENVELOPE__BODY_RENAME] = {h_rename, "rename", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_REMOVE] = {h_remove, "remove", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_SETATTR] = {h_setattr, "setattr", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_PING] = {h_ping, "ping", 0},
	/* the data path: meta_chunk.c */
	[CAIRN__ENVELOPE__BODY_OPEN] = {meta_open, "open", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_CHUNKS] = {meta_chunks, "chunks", 0},
	[CAIRN__ENVELOPE__BODY_ALLOCATE] = {meta_allocate, "allocate", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_LEASE] = {meta_lease, "lease", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_TRUNCATE] = {meta_truncate, "truncate", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_REPORT_BAD] = {meta_report_bad, "report_bad", 0},
	[CAIRN__ENVELOPE__BODY_REGISTER] = {meta_register, "register", META_MUTATES},
	[CAIRN__ENVELOPE__BODY_HEARTBEAT] = {meta_heartbeat, "heartbeat", 0},
	[CAIRN__ENVELOPE__BODY_REPORT] = {meta_report, "report", META_MUTATES},
	/* admin: meta_admin.c */
	[CAIRN__ENVELOPE__BODY_ADMIN_NODES] = {meta_admin_nodes, "admin_nodes", 0},
	[CAIRN__ENVELOPE__BODY_FSCK] = {meta_admin_fsck, "fsck", 0},
	[CAIRN__ENVELOPE__BODY_RELEASE_HELD] = {meta_admin_release_held, "release_held", 0},
	/* rebalance and decommission: repl_admin.c */
	[CAIRN__ENVELOPE__BODY_REBALANCE] = {meta_admin_rebalance, "rebalance", 0},
	[CAIRN__ENVELOPE__BODY_DECOMMISSION] = {meta_admin_decommission, "decommission", 0},
};
