/*
 * meta_int: what the metaserver's own files share; not for other modules.
 */
#ifndef CAIRN_META_INT_H
#define CAIRN_META_INT_H

#include <sys/queue.h>
#include <sys/types.h>

#include "meta.h"
#include "rpc.h"

struct ns;
struct ns_inode;
struct oplog;
struct evhttp;

/* A reply held until the op log is durable up to seq. */
struct meta_waiter {
	STAILQ_ENTRY(meta_waiter) link;
	struct rpc_conn *conn; /* one reference held */
	uint64_t call_id;
	uint64_t seq;
	int err;
	int has_attr;
	Cairn__Attr attr; /* attr.name owned here */
};

struct meta_server {
	const struct meta_options *opts;
	struct event_base *base;
	struct ns *ns;
	struct oplog *log;
	struct rpc_server *rpc;
	struct evhttp *http;
	struct event *durable_ev; /* the op log's notify fd */
	struct event *tick_ev;    /* reaps checkpoints, starts new ones */
	int lock_fd;
	STAILQ_HEAD(, meta_waiter) waiters; /* in seq order */
	uint64_t ckpt_seq;     /* newest checkpoint on disk */
	pid_t ckpt_pid;        /* a checkpoint child, or 0 */
	uint64_t ckpt_pending; /* the seq that child writes */
	uint64_t calls;
	int failed;
	int stopping;
};

/* One call being answered. */
struct meta_call {
	struct rpc_conn *conn;
	uint64_t call_id;
	unsigned flags;
};

#define META_MUTATES 1u

struct meta_handler {
	void (*fn)(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
	const char *name;
	unsigned flags;
};

#define META_NHANDLERS (CAIRN__ENVELOPE__BODY_READ + 1)
extern const struct meta_handler meta_handlers[META_NHANDLERS];

/*
 * Answers call: err, else body (may be NULL) or, when ino is non-NULL, an
 * AttrResp of ino. A mutation's answer waits until the op log is durable
 * up to its last record; others go now.
 */
void meta_answer(struct meta_server *ms, struct meta_call *call, int err, Cairn__Envelope *body,
		 const struct ns_inode *ino);

/* The status page on --http. Returns 0 or -1 with a new *cause. */
int meta_http_start(struct meta_server *ms, char **cause);
void meta_http_stop(struct meta_server *ms);

#endif
