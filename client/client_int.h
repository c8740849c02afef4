/*
 * client_int: what libcairn's own files share; not part of the public API.
 *
 * The handle (struct cairn) owns an event_base, one thread running it, and
 * an rpc_client to the metaserver that lives on that thread. A call
 * (struct call) is built by the API function on the caller's thread and
 * made there, blocking, over one of the handle's rpc_sync connections when
 * one is free; else it is put on the handle's queue and handed to the
 * rpc_client by the loop thread; the reply is copied into the call on the
 * loop thread and the caller, waiting on the call's condition variable,
 * takes it from there.
 *
 * The data path (file.c, write.c, read.c) hands its chunkserver calls to
 * the loop thread as jobs (struct cjob) on a second queue; they run there,
 * talk to chunkservers through the handle's connection pool (chunkconn.c)
 * and report back through the open file's own lock and condition variable.
 *
 * Invariants: a call's fields below `lock-protected` change only under
 * c->lock; a call is freed by whoever drops its last reference (the caller,
 * or the loop thread when the caller gave up waiting on it). c->pool and
 * c->rpc are touched only on the loop thread (and by cairn_connect() and
 * handle_free() while no loop thread runs).
 */
#ifndef CAIRN_CLIENT_INT_H
#define CAIRN_CLIENT_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>

#include "errors.h"
#include "cairn.h"
#include "cairn.pb-c.h"

#define CLIENT_DEFAULT_META    "127.0.0.1:20000"
#define CLIENT_DEFAULT_TIMEOUT 60000	    /* ms */
#define CLIENT_TIMEOUT_MAX     (1ull << 40) /* ms (35 years): keeps deadlines from overflowing */
#define CLIENT_PATH_MAX	       4096	    /* bytes of a path, as the metaserver's NS_PATH_MAX */
#define CLIENT_BACKOFF_MIN     50	    /* ms, first pause before a retry */
#define CLIENT_BACKOFF_MAX     1000	    /* ms */
#define CLIENT_WHY_MAX	       256	    /* bytes kept of a server's error text */
#define CLIENT_SYNC_CONNS      4	    /* caller-thread metaserver connections per handle */

struct rpc_client;
struct rpc_sync;
struct event_base;
struct event;
struct call;
struct chunkconn_pool;
struct loc;

/*
 * A piece of work for the loop thread. run is called there once, with
 * stopping set when the handle is being closed (then it must fail its
 * work, not start it).
 */
struct cjob {
	TAILQ_ENTRY(cjob) link;
	void (*run)(struct cjob *job, int stopping);
};

struct cairn {
	char *addr;
	uint64_t timeout_ms;
	uint32_t replication;
	struct event_base *base;
	struct event *wake; /* made active to hand queued calls to the loop */
	struct rpc_client *rpc;
	/* Metaserver connections for calls made on the caller's thread, each used under its lock. */
	struct rpc_sync *sync[CLIENT_SYNC_CONNS];
	pthread_mutex_t sync_lock[CLIENT_SYNC_CONNS];
	struct chunkconn_pool *pool; /* connections to chunkservers */
	pthread_t thread;
	pthread_mutex_t lock;
	/* lock-protected: */
	TAILQ_HEAD(, call) queue; /* calls not yet handed to rpc */
	TAILQ_HEAD(, cjob) jobs;  /* data-path work not yet run */
	int stopping;
	int reachable;	     /* a reply arrived since the connection was last lost */
	uint64_t meta_epoch; /* how many times the metaserver connection was lost */
};

/* One page of a directory listing: names point into the names block. */
struct call_page {
	struct cairn_dirent *ents;
	char *names;
	size_t n;
	int more;
};

struct call {
	TAILQ_ENTRY(call) link;
	struct cairn *c;
	pthread_cond_t cond;
	Cairn__Envelope req;
	union {
		Cairn__StatReq stat;
		Cairn__MkdirReq mkdir;
		Cairn__CreateReq create;
		Cairn__ReaddirReq readdir;
		Cairn__RenameReq rename;
		Cairn__RemoveReq remove;
		Cairn__SetattrReq setattr;
		Cairn__Empty ping;
		Cairn__OpenReq open;
		Cairn__ChunksReq chunks;
		Cairn__AllocateReq allocate;
		Cairn__LeaseReq lease;
		Cairn__ReportBadReq report_bad;
		Cairn__Empty admin_nodes;
		Cairn__FsckReq fsck;
		Cairn__RebalanceReq rebalance;
		Cairn__DecommissionReq decommission;
		Cairn__TruncateReq truncate;
	} body;
	char *owned[2];	     /* strings the request points to, freed with the call */
	uint64_t attempt_ms; /* the rpc deadline of the attempt being made */
	/* lock-protected: */
	int refs; /* the caller's, and the loop's while an attempt is in flight */
	int done;
	int err;
	/* results, written by the loop thread before done is set: */
	int has_attr;
	struct cairn_stat attr;
	int has_page;
	struct call_page page;
	int has_open; /* an OpenResp: attr, lease_id, chunk_size, lease_ms */
	uint64_t lease_id, chunk_size, lease_ms;
	struct loc *loc;   /* a ChunkResp's or OpenResp's chunk (call_free() drops it) */
	int has_locs;	   /* a ChunksResp (locs, nlocs, size) or OpenResp's chunks (locs, nlocs) */
	struct loc **locs; /* call_free() drops them */
	size_t nlocs;
	uint64_t size;
	uint8_t *raw; /* an admin reply (NodesResp, FsckResp, RebalanceResp), packed; call_free() drops it */
	size_t raw_len;
	char why[CLIENT_WHY_MAX];
};

/*
 * Returns a new call for a request with body kind (the body's fields are
 * set by the caller in call->body), or NULL when out of memory. Free with
 * call_free(). Any thread.
 */
struct call *call_new(struct cairn *c, Cairn__Envelope__BodyCase kind);

/*
 * Sends the call and waits for its answer, retrying after a lost
 * connection with back-off, all within the handle's timeout. Returns 0 or
 * a negative error; the results are in call->attr / call->page. Records
 * the server's error text for cairn_last_error(). Once per call. Any thread.
 */
int call_run(struct call *call);

/* As call_run(), retrying for timeout_ms instead of the handle's timeout. */
int call_run_for(struct call *call, uint64_t timeout_ms);

/* Drops the caller's reference. call_free(NULL) is a no-op. */
void call_free(struct call *call);

/* Frees what a page holds and empties it. */
void call_page_clear(struct call_page *p);

/* Fills *st from a wire Attr. */
void call_attr_to_stat(const Cairn__Attr *a, struct cairn_stat *st);

/*
 * The loop side, for cairn.c: hands the queued calls to rpc (or fails them
 * when the handle is stopping). Runs on the loop thread.
 */
void call_dispatch(struct cairn *c);

/*
 * How many times c's metaserver connection was lost: what the metaserver
 * was told before a change of it may have been forgotten (it restarted).
 * Any thread.
 */
uint64_t client_meta_epoch(struct cairn *c);

/* Records text (NULL: none) as the calling thread's last error on c. */
void call_set_last_error(struct cairn *c, const char *text);

/*
 * Queues job to run on c's loop thread. Returns 0, or -CAIRN_EUNAVAIL when
 * the handle is stopping (then job is not queued and will not run). Any
 * thread.
 */
int client_post(struct cairn *c, struct cjob *job);

/*
 * Copies path with repeated and trailing slashes dropped. Returns 0 and a
 * new *out (free with free()), or -EINVAL (not absolute, or a "." or ".."
 * component), -ENAMETOOLONG or -ENOMEM. Any thread.
 */
int client_path_norm(const char *path, char **out);

#endif
