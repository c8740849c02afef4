/*
 * chunk_int: what the chunkserver's own files share; not for other modules.
 *
 *   chunk.c        life cycle, call dispatch, the lost-chunk list
 *   chunk_io.c     the client calls: write (with its chain), sync, read
 *   chunk_peer.c   connections to the next members of write chains
 *   chunk_meta.c   the metaserver link: register, heartbeats, commands
 *   chunk_scrub.c  the background scrubber
 *   chunk_stats.c  counters for /metrics, and the --http page serving them
 *   chunk_repl.c   copies of chunks from other chunkservers (re-replication)
 *   chunk_ident.c  the file system the data dirs belong to
 *
 * Everything here runs on the loop thread.
 */
#ifndef CAIRN_CHUNK_INT_H
#define CAIRN_CHUNK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "rpc.h"

struct store;
struct chunk_peer;
struct chunk_vpend;
struct chunk_client;
struct chunk_repl;
struct chunk_stats;

/* Buckets of the small hash tables of chunk_io.c (powers of 2). */
#define CHUNK_VPEND_BUCKETS  256u
#define CHUNK_CLIENT_BUCKETS 1024u

/* Most data dirs in --data. */
#define CHUNK_MAX_DIRS 64

/* How long a shutdown waits for calls in progress (ms). */
#define CHUNK_DRAIN_MS 3000u

/* Heartbeat interval until the metaserver names one (ms). */
#define CHUNK_HEARTBEAT_MS 2000u

struct chunk_server {
	const struct chunk_options *opts;
	struct event_base *base;
	char **dirs; /* the --data list */
	int ndirs;
	struct store *store;
	struct rpc_server *rpc;
	struct event *drain_ev; /* shutdown: polls for calls in progress */
	uint64_t drain_deadline_ms;
	int stopping;
	unsigned ncalls; /* calls in progress: the heartbeat's load */

	/* Chunks lost or found corrupt and not yet reported (chunk.c). */
	uint64_t *lost;
	size_t nlost, lost_cap;

	/* The metaserver link (chunk_meta.c). */
	struct rpc_client *meta;
	struct event *hb_ev;
	uint64_t heartbeat_ms;
	int registered;	   /* the metaserver acknowledged our RegisterReq on this connection */
	int meta_busy;	   /* a register or heartbeat is in flight */
	int meta_down;	   /* the last call failed: logged once per outage */
	int meta_notsup;   /* the metaserver refused register: logged once */
	size_t sent_nlost; /* lost ids at the front of lost carried by the call in flight */
	uint64_t *report;  /* a paged chunk report: the replicas' ids when it began */
	size_t report_n, report_cap; /* how many, and room for */
	size_t report_at;	     /* those sent so far */
	size_t report_page_max;	     /* replicas per page */
	uint64_t report_id;	     /* the metaserver's name for it */
	uint32_t report_page;	     /* the next page's number */

	/* Identity (chunk_ident.c). */
	uint8_t fs_id[16]; /* the file system our data dirs belong to, when has_id */
	int has_id;
	int ident_refused;	 /* a metaserver of another file system: logged once */
	unsigned char *dir_ided; /* per data dir: its identity file is written (or was tried) */

	/* Write path (chunk_io.c). */
	struct chunk_vpend *vpend[CHUNK_VPEND_BUCKETS];
	struct chunk_client *clients[CHUNK_CLIENT_BUCKETS];

	/* Chain peers (chunk_peer.c). */
	struct chunk_peer *peers;

	/* The scrubber (chunk_scrub.c). */
	struct event *scrub_ev;
	uint64_t *scrub_ids;
	size_t scrub_n, scrub_at;
	uint64_t scrub_pass_ms; /* when the current pass started */
	uint64_t scrub_cur;	/* the chunk being scrubbed */
	int scrub_busy;		/* a store_scrub() is in flight */
	int scrub_in_pass;	/* scrub_ids holds the current pass */
	uint64_t scrub_found;	/* corrupt replicas found, for the log */

	/* Copies for re-replication (chunk_repl.c). */
	struct chunk_repl *repl;

	/* Counters and the --http page (chunk_stats.c). */
	struct chunk_stats *stats;
};

/* One row of the dispatch table, indexed by the envelope's body case. */
struct chunk_handler {
	void (*fn)(struct chunk_server *cs, struct rpc_conn *c, Cairn__Envelope *req,
		   struct evbuffer *payload);
	const char *name;
	unsigned flags;
};

#define CHUNK_PAYLOAD 1u /* the call carries a payload; others must not */

#define CHUNK_NHANDLERS 100 /* request body cases are below 100, replies from 100 */
extern const struct chunk_handler chunk_handlers[CHUNK_NHANDLERS];

/* chunk.c: serves one request from a client, a chain peer or the metaserver. */
void chunk_on_request(struct rpc_conn *c, Cairn__Envelope *req, struct evbuffer *payload,
		      void *arg);

/*
 * chunk.c: queues chunk id for the next heartbeat's lost list (a replica
 * lost with its disk, vanished, or found corrupt). Duplicates are fine.
 */
void chunk_report_lost(struct chunk_server *cs, uint64_t id);

/*
 * chunk.c: whether addr is HOST:PORT with HOST an IP address (v4, or v6 in
 * brackets): how chunkservers listen and name chain members, so that no
 * name is ever resolved on the event loop.
 */
int chunk_addr_numeric(const char *addr);

/* chunk_io.c: a client connection closed; forget its accounting. */
void chunk_io_conn_closed(struct chunk_server *cs, struct rpc_conn *c);
/* chunk_io.c: frees the write path's tables (no calls in progress). */
void chunk_io_free(struct chunk_server *cs);

/*
 * chunk_peer.c: a forwarded call completed. err is 0 or a negative
 * error; why (borrowed for the call, NULL on success) names the chain
 * member that failed: "chain ADDR: what happened".
 */
typedef void (*chunk_fwd_fn)(int err, const char *why, void *arg);

/*
 * chunk_peer.c: sends req (with payload, moved; may be NULL) to the
 * chunkserver at addr over the pooled connection to it, connecting first
 * if needed. cb runs exactly once, maybe before this returns. req is
 * borrowed for the call.
 */
void chunk_peer_call(struct chunk_server *cs, const char *addr, Cairn__Envelope *req,
		     struct evbuffer *payload, uint64_t timeout_ms, chunk_fwd_fn cb, void *arg);

/* chunk_peer.c: closes peer connections idle for long. Heartbeat tick. */
void chunk_peer_expire(struct chunk_server *cs);

/* chunk_peer.c: fails what is waiting and closes every peer connection. */
void chunk_peer_free_all(struct chunk_server *cs);

/* chunk_meta.c: starts the metaserver link. Returns 0 or -ENOMEM. */
int chunk_meta_start(struct chunk_server *cs);
void chunk_meta_stop(struct chunk_server *cs);

/* chunk_meta.c: sends the next heartbeat soon (a copy ended: report it). */
void chunk_meta_kick(struct chunk_server *cs);

/*
 * chunk_repl.c: copies asked for by the metaserver. chunk_repl_start()
 * returns 0 or -ENOMEM; chunk_repl_stop() ends every copy (partial
 * replicas are removed; call before the store closes); chunk_repl_free()
 * frees what is left (after the store closed). No-ops when not started.
 */
int chunk_repl_start(struct chunk_server *cs);
void chunk_repl_stop(struct chunk_server *cs);
void chunk_repl_free(struct chunk_server *cs);
/* Starts (or queues) the copy m asks for; a bad command is reported failed. */
void chunk_repl_command(struct chunk_server *cs, const Cairn__ReplicateCmd *m);
/* The metaserver deletes chunk id: a copy of it in progress stops (reported failed). */
void chunk_repl_cancel(struct chunk_server *cs, uint64_t id);
/* Whether a copy of chunk id is in progress or waiting (its replica is not complete). */
int chunk_repl_busy(const struct chunk_server *cs, uint64_t id);
/*
 * A heartbeat (hb) or registration (hb NULL) is being sent: it carries
 * the copies ended so far (hb's copied and copy_failed point into the
 * lists, borrowed until chunk_repl_acked()). chunk_repl_acked(cs, ok)
 * drops what it carried when ok, else keeps it for the next call.
 */
void chunk_repl_sending(struct chunk_server *cs, Cairn__HeartbeatReq *hb);
void chunk_repl_acked(struct chunk_server *cs, int ok);

/*
 * chunk_stats.c: what the chunkserver counts, served as /metrics on --http
 * (when set). chunk_stats_start() returns 0 or -1 with a new *cause (the
 * --http address is bad or taken); chunk_stats_stop() closes the page and
 * frees the counters (a no-op when not started). The counting calls below
 * are one call site each.
 */
int chunk_stats_start(struct chunk_server *cs, char **cause);
void chunk_stats_stop(struct chunk_server *cs);
/* Closes the --http page only (shutdown: before the store closes). */
void chunk_stats_http_stop(struct chunk_server *cs);
/* A call of dispatch row op arrived. */
void chunk_stats_call(struct chunk_server *cs, unsigned op);
/* A call of dispatch row op that reached the store was answered; it began at start_us. */
void chunk_stats_done(struct chunk_server *cs, unsigned op, uint64_t start_us);
/* Bytes a client read or wrote here (written: this replica's bytes, chain members count too). */
void chunk_stats_read(struct chunk_server *cs, uint64_t bytes);
void chunk_stats_written(struct chunk_server *cs, uint64_t bytes);
/* A replica here failed its checksum (a read, a write or the scrubber found it). */
void chunk_stats_checksum(struct chunk_server *cs);
/* A replication copy to here ended: err 0 (length bytes copied) or failed. */
void chunk_stats_copy(struct chunk_server *cs, int err, uint64_t length);
/* The bytes clients read and wrote since the start, for the heartbeat. */
void chunk_stats_totals(const struct chunk_server *cs, uint64_t *read, uint64_t *written);

/* chunk_scrub.c: starts the scrubber (a no-op for --scrub-interval 0). */
int chunk_scrub_start(struct chunk_server *cs);
void chunk_scrub_stop(struct chunk_server *cs);

/*
 * Identity (chunk_ident.c). chunk_ident_load() reads the data dirs'
 * identity files at start-up: 0, or -1 with a new *cause when they name
 * two file systems or one cannot be read. chunk_ident_accept() judges the
 * file-system id (len bytes) a NodeResp carries: 0 when it is ours (or
 * joined now: recorded in the data dirs), else -EACCES or -CAIRN_EPROTO,
 * logged once, and the answer must not be acted on.
 */
int chunk_ident_load(struct chunk_server *cs, char **cause);
int chunk_ident_accept(struct chunk_server *cs, const uint8_t *fs_id, size_t len);
void chunk_ident_free(struct chunk_server *cs);

#endif
