/*
 * chunk: the chunkserver's root (struct chunk_server): its flags, its life
 * cycle, and the RPC service on --listen (DESIGN §5).
 *
 * One event loop owns everything: the chunk store's index (its disk I/O
 * runs on one worker per data dir), the client connections on --listen,
 * the link to the metaserver (registration, heartbeats, commands), the
 * connections to the next members of write chains, and the scrubber. No
 * call ever waits on the metaserver, so a metaserver that is down or slow
 * never stalls client I/O.
 */
#ifndef CAIRN_CHUNK_H
#define CAIRN_CHUNK_H

#include <event2/event.h>
#include <stdint.h>

#include "config.h"
#include "rpc.h"

struct chunk_options {
	char *config;
	char *meta;
	char *listen;
	int insecure; /* --insecure: may listen beyond loopback without TLS */
	char *data; /* DIR[,DIR...] */
	char *rack; /* NULL: none */
	char *http;	/* the /metrics page's address; NULL: none */
	char *log_file; /* NULL: stderr */
	uint64_t capacity;
	uint64_t scrub_interval_ms;
	int log_level;
	struct rpc_limits limits; /* what the clients' and peers' connections may hold */
};

/* The flag/config table of cairn-chunk (DESIGN §2). */
extern const struct config_opt chunk_config[];

struct chunk_server;

/*
 * Checks what the table cannot (the --data list). Returns 0, or -EINVAL
 * with a new *cause (free with free()): a bad value, exit status 2.
 */
int chunk_check_options(const struct chunk_options *opts, char **cause);

/*
 * Opens the chunk store over the --data dirs (scanning them: blocks until
 * done), starts listening and starts the metaserver link. Returns a new
 * server (free with chunk_free()) or NULL with a new *cause. opts and base
 * are borrowed for the server's life. Loop thread.
 */
struct chunk_server *chunk_new(struct event_base *base, const struct chunk_options *opts,
			       char **cause);

/*
 * Starts a clean shutdown: new calls are refused, calls in progress get
 * a few seconds to finish, then connections close, the store completes
 * its queued I/O and closes, and the loop is told to exit. Safe to call
 * twice. Loop thread.
 */
void chunk_shutdown(struct chunk_server *cs);

/* Frees the server (closing whatever is still open). No-op for NULL. */
void chunk_free(struct chunk_server *cs);

#endif
