/*
 * client_int: what libcairn's own files share; not part of the public API.
 *
 * The handle (struct cairn) owns the metaserver call layer (call.c), an
 * event_base with one thread running it (the "loop thread", for the data
 * path), and one background thread for metaserver calls nobody waits for
 * (lease renewals, bad-replica reports).
 *
 * Metaserver calls (call.c) are made on the calling thread, blocking, over
 * one of the handle's pooled rpc_sync connections: one transport, no
 * hand-off to another thread. A call is an Envelope built where it is made
 * (the body a message on the caller's stack); call_run() returns the reply
 * as a new Envelope the caller frees. The loop thread never makes one: it
 * must not block, and hands such work to the background thread instead
 * (client_post_bg()).
 *
 * The data path (file.c, write.c, read.c) hands its chunkserver calls to
 * the loop thread as jobs (struct cjob) on a queue; they run there, talk
 * to chunkservers through the handle's connection pool (chunkconn.c) and
 * report back through the open file's own lock and condition variable.
 *
 * Invariants: fields below `lock-protected` change only under c->lock; a
 * pooled metaserver connection is used by the one thread that marked it
 * busy; c->pool is touched only on the loop thread (and by cairn_connect()
 * and handle_free() while no loop thread runs).
 */
#ifndef CAIRN_CLIENT_INT_H
#define CAIRN_CLIENT_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>

#include "errors.h"
#include "cairn.h"
#include "cairn.pb-c.h"

/* libcairn's defaults and caps: their one home (front ends pass 0 for "default"). */
#define CLIENT_DEFAULT_META    CAIRN_DEFAULT_META
#define CLIENT_DEFAULT_TIMEOUT (CAIRN_DEFAULT_TIMEOUT_S * 1000ull) /* ms */
#define CLIENT_TIMEOUT_MAX     (1ull << 40) /* ms (35 years): keeps deadlines from overflowing */
#define CLIENT_PATH_MAX	       4096	    /* bytes of a path, as the metaserver's NS_PATH_MAX */
#define CLIENT_BACKOFF_MIN     50	    /* ms, first pause before a retry */
#define CLIENT_BACKOFF_MAX     1000	    /* ms */
#define CLIENT_WHY_MAX	       256	    /* bytes kept of a server's error text */
#define CLIENT_META_CONNS      32 /* pooled metaserver connections per handle (made on first use) */
#define CLIENT_META_ADDRS      16 /* metaserver addresses in a list */
#define CLIENT_REDIRECTS       8  /* "not the leader" hops followed at once, per call */
#define CLIENT_REPORT_MS       2000 /* bound on a background bad-replica report */

/* Retries and time bounds of the data path, here with the rest (one home for each). */
#define READ_TRY_MIN_MS	     1000u  /* least time one replica gets while more remain */
#define READ_TRY_MAX_MS	     5000u  /* most time one replica gets while more remain */
#define CHUNKCONN_DOWN_MS    1000u  /* asks fail at once for this long after a failed connect */
#define CHUNKCONN_CONNECT_MS 5000u  /* longest connect */
#define CHUNKCONN_SLOW_MS    10000u /* a chunkserver that did not answer is tried last this long */
#define FILE_WRITE_TRIES     3u	    /* chains one piece is sent down before its error stands */
#define FILE_AGAIN_MS	     20u    /* pause before resending a piece a busy chunkserver refused */
#define FILE_GRACE_MS	     2000u  /* wait past a call's deadline before giving up on the loop */
#define FILE_LEASE_MS	     60000u /* assumed when the metaserver names no lease length */
#define FILE_LEASE_MIN	     30u    /* shortest renewal interval (ms) */
#define FILE_RELEASE_MS	     1000u  /* longest release of a lease after a failed write */

struct event_base;
struct event;
struct chunkconn_pool;
struct loc;
struct rpc_sync;

/*
 * A piece of work for the loop thread or the background thread. run is
 * called there once, with stopping set when the handle is being closed
 * (then it must fail its work, not start it).
 */
struct cjob {
	TAILQ_ENTRY(cjob) link;
	void (*run)(struct cjob *job, int stopping);
};

/* One pooled metaserver connection. */
struct meta_conn {
	struct rpc_sync *s; /* NULL until first used */
	uint64_t gen;	    /* the c->addr_gen it was made for */
	uint64_t epoch;	    /* c->meta_epoch when it was last (re)connected */
	int busy;	    /* held by a call (the only thread that touches s) */
};

struct cairn {
	char *addr;   /* the address list as given */
	char **addrs; /* its members */
	size_t naddrs;
	uint64_t timeout_ms;
	uint32_t replication;
	cairn_wait_fn wait_fn; /* cairn_set_wait_notice()'s, set before the handle is shared */
	void *wait_arg;
	struct event_base *base;
	struct event *wake;	     /* made active to run queued jobs */
	struct chunkconn_pool *pool; /* connections to chunkservers */
	pthread_t thread;	     /* the loop thread */
	pthread_t bg_thread;	     /* the background caller */
	int bg_started;
	pthread_mutex_t lock;
	pthread_cond_t conn_cond; /* a pooled connection was freed (CLOCK_MONOTONIC) */
	pthread_cond_t bg_cond;	  /* background work was queued, or stopping */
	/* lock-protected: */
	struct meta_conn conns[CLIENT_META_CONNS];
	char *cur;	   /* the metaserver now asked: a list member or a leader named by one */
	size_t cur_index;  /* the list member tried last */
	uint64_t addr_gen; /* bumped whenever cur changes */
	TAILQ_HEAD(, cjob) jobs;    /* loop work not yet run */
	TAILQ_HEAD(, cjob) bg_jobs; /* background work not yet run */
	int stopping;
	int reachable;	     /* a reply arrived since a connection was last lost */
	uint64_t meta_epoch; /* how many times a metaserver connection was lost */
};

/* One page of a directory listing: names point into the names block. */
struct call_page {
	struct cairn_dirent *ents;
	char *names;
	size_t n;
	int more;
};

/* Sets env to an envelope carrying the request msg in its body field (kind: STAT, OPEN, ...). */
#define CALL_REQ(env, kind, field, msg)                                                            \
	do {                                                                                       \
		cairn__envelope__init(env);                                                        \
		(env)->body_case = CAIRN__ENVELOPE__BODY_##kind;                                   \
		(env)->field = (msg);                                                              \
	} while (0)

/*
 * Sends req (body set by the caller, borrowed; call_id is filled in here)
 * to the metaserver and waits for the answer, retrying with back-off
 * (CLIENT_BACKOFF_MIN doubling to CLIENT_BACKOFF_MAX) after a lost
 * connection, an unreachable metaserver or -EAGAIN, moving to the next
 * address of the list after a failed connection and to the leader named
 * by a "not the leader" answer, all within the handle's timeout. want is
 * the body the reply must carry (CAIRN__ENVELOPE__BODY__NOT_SET: any;
 * another gives -CAIRN_EPROTO). Returns 0 and, when reply is non-NULL, a
 * new *reply (free with cairn__envelope__free_unpacked(*reply, NULL)); or
 * a negative error. Records the server's words (or libcairn's "metaserver
 * ADDR unavailable (gave up after Ns)") as the thread's last error. Any
 * thread but the loop thread.
 */
int call_run(struct cairn *c, Cairn__Envelope *req, Cairn__Envelope__BodyCase want,
	     Cairn__Envelope **reply);

/* As call_run(), retrying for timeout_ms instead of the handle's timeout. */
int call_run_for(struct cairn *c, Cairn__Envelope *req, Cairn__Envelope__BodyCase want,
		 uint64_t timeout_ms, Cairn__Envelope **reply);

/* Closes the pooled metaserver connections (handle_free()). No call may be in progress. */
void call_close_all(struct cairn *c);

/* Frees what a page holds and empties it. */
void call_page_clear(struct call_page *p);

/* Fills *st from a wire Attr. */
void call_attr_to_stat(const Cairn__Attr *a, struct cairn_stat *st);

/*
 * How many times one of c's metaserver connections was found lost: what
 * the metaserver was told before a change of it may have been forgotten
 * (it restarted, or another one answers now). Looks at the idle pooled
 * connections for a close first. Any thread.
 */
uint64_t client_meta_epoch(struct cairn *c);

/* Records text (NULL: none) as the calling thread's last error on c. */
void call_set_last_error(struct cairn *c, const char *text);

/* Marks the calling thread's last error on c as giving up on the metaserver (cairn_meta_gave_up()).
 */
void call_mark_gave_up(struct cairn *c);

/*
 * Queues job to run on c's loop thread. Returns 0, or -CAIRN_EUNAVAIL when
 * the handle is stopping (then job is not queued and will not run). Any
 * thread.
 */
int client_post(struct cairn *c, struct cjob *job);

/* As client_post(), for the background thread (which may make metaserver calls). */
int client_post_bg(struct cairn *c, struct cjob *job);

/*
 * Copies path with repeated and trailing slashes dropped. Returns 0 and a
 * new *out (free with free()), or -EINVAL (not absolute, or a "." or ".."
 * component), -ENAMETOOLONG or -ENOMEM. Any thread.
 */
int client_path_norm(const char *path, char **out);

/*
 * Runs a STAT of path. Returns 0 and a new *reply carrying the attr body
 * (free with cairn__envelope__free_unpacked(*reply, NULL)), or a negative
 * error. Any thread but the loop thread.
 */
int client_stat_reply(struct cairn *c, const char *path, Cairn__Envelope **reply);

/* As cairn_stat(), and -EISDIR when path is a directory. */
int client_stat_nondir(struct cairn *c, const char *path, struct cairn_stat *st);

#endif
