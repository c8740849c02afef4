/*
 * meta: the metaserver's root (struct meta_server) and its RPC service.
 *
 * One event loop owns everything: the namespace, the op log's loop side,
 * client connections and the status page. A mutating call is applied to
 * the namespace at once, its records go to the op log, and its reply is
 * held until the op log reports those records durable (group commit), so
 * no acknowledged mutation is lost by kill -9. Reads answer at once.
 * Checkpoints are written by a fork()ed child; the loop reaps it and then
 * removes the log segments it covers.
 */
#ifndef CAIRN_META_H
#define CAIRN_META_H

#include <event2/event.h>
#include <stdint.h>

#include "config.h"
#include "rpc.h"

struct meta_options {
	char *listen;
	int insecure; /* --insecure: may listen beyond loopback without TLS */
	char *data;
	char *http;
	char *log_file;	 /* NULL: stderr */
	char *audit_log; /* NULL: no audit log */
	uint64_t chunk_size;
	int64_t replication;
	uint64_t heartbeat_ms;
	uint64_t dead_after_ms;
	uint64_t lease_ms;
	uint64_t scan_interval_ms;
	int64_t rebalance_threshold;
	int64_t checkpoint_records;
	int log_level;
	char *config;
	int64_t recover_to; /* 0, or start from the state at this seq (metaserver/recover.c) */
	uint64_t delete_grace_ms; /* unknown and newer replicas are held this long */
	struct rpc_limits limits; /* what the clients' and chunkservers' connections may hold */
};

/* The flag/config table of cairn-meta (DESIGN §2). */
extern const struct config_opt meta_config[];

struct meta_server;

/*
 * Loads the newest valid checkpoint from opts->data, replays the op log,
 * opens it for appending and starts listening. Returns a new server (free
 * with meta_free()) or NULL with a new *cause. opts is borrowed for the
 * server's life.
 */
struct meta_server *meta_new(struct event_base *base, const struct meta_options *opts,
			     char **cause);

/*
 * Stops accepting calls, makes every logged record durable, answers what
 * was waiting, writes a final checkpoint and breaks the loop.
 */
void meta_shutdown(struct meta_server *ms);

/* Non-zero when the server stopped because its op log failed. */
int meta_failed(const struct meta_server *ms);

/* The port it serves calls on (the one the kernel picked for --listen HOST:0). */
int meta_port(const struct meta_server *ms);

void meta_free(struct meta_server *ms);

/* Opens the audit log file again under its name (SIGHUP, after logrotate). */
void meta_reopen_logs(struct meta_server *ms);

#endif
