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
struct nodes;
struct chunkmap;
struct lease_table;

/* A reply held until the op log is durable up to seq: a copy, never pointers into ns. */
struct meta_waiter {
	STAILQ_ENTRY(meta_waiter) link;
	struct rpc_conn *conn; /* one reference held */
	uint64_t call_id;
	uint64_t seq;
	int err;
	char *why;     /* owned, or NULL */
	uint8_t *body; /* an Envelope holding the reply body, packed; NULL: none */
	size_t body_len;
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
	/* the data path (meta_chunk.c) */
	struct nodes *nodes;   /* chunkservers */
	struct chunkmap *cmap; /* chunk -> replicas, rebuilt from reports */
	struct lease_table *leases;
	uint64_t rng; /* placement's random state */
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
/* As meta_answer(), with why (may be NULL; copied) as the error's text. */
void meta_answer_why(struct meta_server *ms, struct meta_call *call, int err, const char *why,
		     Cairn__Envelope *body, const struct ns_inode *ino);

/*
 * The data path (meta_chunk.c). meta_chunk_start() sets up the registry,
 * the chunk map (from the loaded namespace) and the lease table: 0 or -1
 * with a new *cause. meta_chunk_stop() frees them (no-op when not
 * started). meta_chunk_tick() declares silent chunkservers dead and
 * sweeps expired leases; the loop calls it every second.
 */
int meta_chunk_start(struct meta_server *ms, char **cause);
void meta_chunk_stop(struct meta_server *ms);
void meta_chunk_tick(struct meta_server *ms);

/* The data-path handlers (meta_chunk.c), for the dispatch table. */
void meta_open(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_chunks(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_allocate(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_lease(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_report_bad(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_register(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_heartbeat(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);

/* The status page on --http. Returns 0 or -1 with a new *cause. */
int meta_http_start(struct meta_server *ms, char **cause);
void meta_http_stop(struct meta_server *ms);

#endif
