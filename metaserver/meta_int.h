/*
 * meta_int: what the metaserver's own files share; not for other modules.
 */
#ifndef CAIRN_META_INT_H
#define CAIRN_META_INT_H

#include <sys/queue.h>
#include <sys/types.h>

#include "meta.h"
#include "repl.h"
#include "rpc.h"

struct ns;
struct ns_inode;
struct oplog;
struct evhttp;
struct nodes;
struct chunkmap;
struct lease_table;
struct idmap;
struct nodes_node;

/* A reply held until the op log is durable up to seq: framed, never pointers into ns. */
struct meta_waiter {
	STAILQ_ENTRY(meta_waiter) link;
	struct rpc_conn *conn; /* one reference held */
	uint64_t call_id;
	uint64_t seq;
	struct evbuffer *frame; /* the reply, framed by rpc_reply_pack(); owned */
	uint64_t queued_us; /* when it was queued (monotonic), for the commit latency */
};

struct meta_server {
	const struct meta_options *opts;
	struct event_base *base;
	struct ns *ns;
	struct oplog *log;
	struct rpc_server *rpc;
	struct evhttp *http;
	struct meta_stats *stats; /* counters, events, history (meta_stats.c) */
	struct meta_audit *audit; /* the --audit-log, or NULL (meta_audit.c) */
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
	struct idmap *temps;  /* temporaries found at start, until the lease grace ends */
	uint64_t rng;	      /* placement's random state */
	uint64_t report_last; /* the last paged report's id */
	struct held *held;    /* replicas not deleted on a guess (held.h) */
	/* the replication monitor (repl_meta.c) */
	struct repl *repl;
	struct event *scan_ev;
	uint64_t scan_last_ms;	      /* when the last scan ran */
	uint64_t scan_next_ms;	      /* when the next one is due */
	uint64_t scan_log_ms;	      /* when a scan was last logged at info */
	uint64_t scan_cost_ms;	      /* how long the last scan took */
	uint64_t repl_from_ms;	      /* no planning before (chunkservers still reporting) */
	struct repl_stats scan_stats; /* what the last scan saw */
	uint64_t scans;		      /* scans done */
	int scan_last_moving;	      /* moves were in flight after the last scan */
	uint32_t rebalance_pct;	      /* an operator's rebalance threshold until reached; 0: none */
	/* identity (meta_ident.c): chunkservers of another file system, logged once each */
	char **refused;
	size_t nrefused;
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

#define META_NHANDLERS 100 /* request body cases are below 100, replies from 100 */
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

/* The smallest chunk size a client may ask for (the flag may go lower, for tests). */
#define META_CHUNK_SIZE_MIN (1ull << 20)

/*
 * Whether a create may ask for chunk_size (0: the default; else a power
 * of two, META_CHUNK_SIZE_MIN..NS_CHUNK_SIZE_MAX): 0, or -EINVAL with a
 * new *why (meta_ns.c).
 */
int meta_chunk_size_check(uint64_t chunk_size, char **why);

/*
 * Identity (meta_ident.c). meta_ident_load() reads the data dir's identity
 * file, or formats an empty data dir (a new random file-system id, the
 * --chunk-size flag as the format chunk size) or adopts one made before
 * identities; it checks the loaded checkpoint's id against it and sets the
 * id and format chunk size of ns (the checkpoint's namespace). Call it
 * after the checkpoint is loaded, before replay (recover_load()'s setup).
 * Returns 0 or -1 with a new *cause.
 */
int meta_ident_load(struct meta_server *ms, struct ns *ns, char **cause);
/*
 * Whether a chunkserver at addr claiming fs_id (len bytes; 0: none yet)
 * may register: 0, or -EACCES with a new *why, logged once
 * per address and id.
 */
int meta_ident_check(struct meta_server *ms, const char *addr, const uint8_t *fs_id, size_t len,
		     char **why);
/* Adds ", \"fs_id\": ..., \"format_chunk_size\": ..." to the status page's JSON object. */
void meta_ident_status(struct meta_server *ms, struct evbuffer *out);
/* Frees the refusal log. */
void meta_ident_free(struct meta_server *ms);

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

/*
 * Temporaries of copies whose writer is gone (meta_temp.c, design there).
 * meta_temp_start() notes those in the loaded namespace (always 0);
 * meta_temp_stop() forgets them (no-op when not started);
 * meta_temp_reclaimed(): file_id's writer reclaimed its lease after a
 * restart; meta_temp_expired(): file_id's write lease expired (removes it
 * if it is a temporary); meta_temp_tick(): once the lease grace is over,
 * removes the noted ones no lease holds.
 */
int meta_temp_start(struct meta_server *ms);
void meta_temp_stop(struct meta_server *ms);
void meta_temp_reclaimed(struct meta_server *ms, uint64_t file_id);
void meta_temp_expired(struct meta_server *ms, uint64_t file_id);
void meta_temp_tick(struct meta_server *ms, uint64_t now_ms);

/* The data-path handlers (meta_chunk.c), for the dispatch table. */
void meta_open(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_chunks(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_allocate(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_lease(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_truncate(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_report_bad(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_register(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_report(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_heartbeat(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);

/*
 * The replication monitor (repl_meta.c): a repl planner run every
 * --scan-interval, and its part of the chunkservers' calls.
 * meta_repl_start() returns 0 or -1 with a new *cause; meta_repl_stop()
 * is a no-op when not started.
 */
int meta_repl_start(struct meta_server *ms, char **cause);
void meta_repl_stop(struct meta_server *ms);
/* A heartbeat's corrupt, copied and copy_failed lists (after its lost list). */
void meta_repl_heartbeat(struct meta_server *ms, struct nodes_node *node,
			 const Cairn__HeartbeatReq *m);
/* A replica found bad by a client (why: its Status) or stale in a report. */
void meta_repl_bad(struct meta_server *ms, uint64_t chunk_id, struct nodes_node *node, int why);
/*
 * A replica just recorded from node's report: if it holds fewer bytes
 * than its file committed in that chunk (unsynced writes cut back when
 * the chunkserver restarted after a crash) and no writer holds the file,
 * it is dropped again and treated as corrupt: it must not count, nor
 * outlive a good copy at trimming. Returns 1 then, else 0.
 */
int meta_repl_short(struct meta_server *ms, struct nodes_node *node, uint64_t chunk_id,
		    uint64_t length);
/* node died or registered again: its copies in flight are forgotten. */
void meta_repl_node_gone(struct meta_server *ms, struct nodes_node *node);
/* Runs the next scan now (on the loop's next turn). */
void meta_repl_scan_now(struct meta_server *ms);

/* Copies handed to a node in one NodeResp, and the memory they point to. */
#define META_REPL_CMDS_MAX 8
struct meta_repl_cmds {
	Cairn__ReplicateCmd cmd[META_REPL_CMDS_MAX];
	Cairn__ReplicateCmd *ptr[META_REPL_CMDS_MAX];
	char *src[META_REPL_CMDS_MAX][REPL_SOURCES_MAX];
};
/* Puts node's new copies in resp->replicate, pointing into buf (borrowed until answered). */
void meta_repl_fill(struct meta_server *ms, struct nodes_node *node, Cairn__NodeResp *resp,
		    struct meta_repl_cmds *buf);

/* The admin calls (meta_admin.c), for the dispatch table. */
void meta_admin_nodes(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_admin_fsck(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
/* `cairn admin release-held`: every held replica is deleted (meta_chunk.c). */
void meta_admin_release_held(struct meta_server *ms, struct meta_call *call,
			     Cairn__Envelope *req);

/*
 * Rebalance and decommission (repl_admin.c): the admin calls, and the
 * decommission set kept in <data>/decommission across restarts.
 * meta_decom_load() reads it into ms->nodes at start-up: 0, or -1 with a
 * new *cause.
 */
void meta_admin_rebalance(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req);
void meta_admin_decommission(struct meta_server *ms, struct meta_call *call,
			     Cairn__Envelope *req);
int meta_decom_load(struct meta_server *ms, char **cause);
/* Appends the status page's replication and chunkserver fields (", ..." JSON members). */
struct evbuffer;
void meta_admin_status(struct meta_server *ms, struct evbuffer *out);

/* "up", "dead", "decommissioning" or "decommissioned" (static text). */
const char *meta_admin_node_state(const struct meta_server *ms, const struct nodes_node *node,
				  uint64_t now);
/*
 * fsck of the files with inode ids from from on, for a paged problem list:
 * looks at up to max_ids ids, stopping early once max_problems problems
 * were found, and calls fn for each problem (borrowed for the call).
 * Returns the next id to look at, or 0 when no id is left.
 */
typedef void (*meta_fsck_fn)(void *arg, const Cairn__FsckProblem *p);
uint64_t meta_admin_fsck_ids(struct meta_server *ms, uint64_t from, uint64_t max_ids,
			     size_t max_problems, meta_fsck_fn fn, void *arg);

/*
 * The audit log (meta_audit.c). meta_audit_start() opens --audit-log when
 * set: 0, or -1 with a new *cause. meta_audit_stop() is a no-op when not
 * started; meta_audit_reopen() returns 0 or a negative errno.
 * meta_audit_call() logs req from c when it is a namespace change or an
 * admin call (name: its dispatch name).
 */
int meta_audit_start(struct meta_server *ms, char **cause);
void meta_audit_stop(struct meta_server *ms);
int meta_audit_reopen(struct meta_server *ms);
void meta_audit_call(struct meta_server *ms, struct rpc_conn *c, const Cairn__Envelope *req,
		     const char *name);

/* The status page on --http. Returns 0 or -1 with a new *cause. */
int meta_http_start(struct meta_server *ms, char **cause);
void meta_http_stop(struct meta_server *ms);

#endif
