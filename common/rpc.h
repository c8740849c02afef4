/*
 * rpc: calls over one TCP connection on a libevent bufferevent.
 *
 * Either end may call the other. Calls are pipelined: each carries a
 * call_id unique on its connection, replies come back in any order and are
 * matched by it. Every call has a deadline; a call whose reply has not come
 * by then completes with -ETIMEDOUT (a late reply is dropped). When a
 * connection closes, every call still waiting on it completes with
 * -CAIRN_EUNAVAIL. Back-pressure: while a connection's output holds more
 * than RPC_OUT_HIGH bytes it stops reading requests, until its output
 * drains below RPC_OUT_LOW; a connection with calls of its own awaiting
 * replies keeps reading, so two ends calling each other cannot both stall.
 * A bad frame closes that connection with one log line and nothing else
 * (the replies already framed for the good frames before it are written
 * first, as far as the socket takes them without waiting).
 *
 * Everything here runs on the thread of the event_base it was made with,
 * which must not die of SIGPIPE: ignore it or block it on that thread.
 */
#ifndef CAIRN_RPC_H
#define CAIRN_RPC_H

#include <event2/event.h>
#include <event2/buffer.h>
#include <stdint.h>

#include "cairn.pb-c.h"
#include "frame.h"

#define RPC_OUT_HIGH (8u << 20)
#define RPC_OUT_LOW  (2u << 20)

struct rpc_conn;
struct rpc_server;
struct rpc_client;

struct rpc_conn_ops {
	/*
	 * A request arrived. req and payload (NULL when none) are borrowed
	 * until the callback returns: move payload bytes out with
	 * evbuffer_add_buffer() to keep them. Answer now or later with
	 * rpc_reply(); to answer later keep a reference (rpc_conn_ref()).
	 */
	void (*on_request)(struct rpc_conn *c, Cairn__Envelope *req, struct evbuffer *payload,
			   void *arg);
	/*
	 * The connection closed (peer, error, bad frame or rpc_conn_close()).
	 * Runs once, after every pending call on it has completed; not for a
	 * client connection that never got connected.
	 */
	void (*on_close)(struct rpc_conn *c, void *arg);
};

/*
 * A call completed. err is 0 on success, the reply's status as a negative
 * error (then reply->error may hold the server's words), -ETIMEDOUT, or
 * -CAIRN_EUNAVAIL when the connection was lost or could not be made.
 * reply (NULL unless a reply arrived) and payload (NULL when none) are
 * borrowed until the callback returns.
 */
typedef void (*rpc_reply_fn)(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg);

/*
 * Wraps a connected socket (takes ownership of fd). Returns a new conn with
 * one reference, or NULL (fd closed) when out of memory.
 */
struct rpc_conn *rpc_conn_new(struct event_base *base, evutil_socket_t fd,
			      const struct rpc_conn_ops *ops, void *arg);

void rpc_conn_ref(struct rpc_conn *c);
/* Drops a reference; the last one frees the conn (closing it first). */
void rpc_conn_unref(struct rpc_conn *c);

/*
 * Closes the socket now (unsent output is dropped); pending calls fail;
 * on_close runs once. Safe to call twice. The caller must hold a reference
 * or be inside one of this conn's callbacks.
 */
void rpc_conn_close(struct rpc_conn *c);

int rpc_conn_is_open(const struct rpc_conn *c);

/* "HOST:PORT" of the peer. Borrowed; valid while the conn lives. */
const char *rpc_conn_peer(const struct rpc_conn *c);

/*
 * Sends req (the body set by the caller; call_id is filled in here) with
 * payload moved onto the wire when non-NULL. cb runs exactly once, never
 * before rpc_call returns. timeout_ms 0 means no deadline.
 * Returns 0, or a negative error (then cb will not run).
 */
int rpc_call(struct rpc_conn *c, Cairn__Envelope *req, struct evbuffer *payload,
	     uint64_t timeout_ms, rpc_reply_fn cb, void *arg);

/*
 * Answers call call_id. err 0 sends body (may be NULL: an empty ok body)
 * and payload; a negative err sends its status and the text why (may be
 * NULL). Only body->body_case and its message are taken from body, plus,
 * when payload is non-NULL, body->payload_crc: block CRCs already known
 * (for instance stored with the chunk) are sent as they are, none means
 * computed here. payload is moved onto the wire as by rpc_call(). A no-op
 * once the connection has closed. Returns 0 or a negative error (a reply
 * that cannot be framed, e.g. over a limit, is answered with
 * STATUS_INTERNAL instead).
 */
int rpc_reply(struct rpc_conn *c, uint64_t call_id, int err, const char *why, Cairn__Envelope *body,
	      struct evbuffer *payload);

/*
 * Frames now the reply rpc_reply() would send (no payload), to be sent
 * later as it is with rpc_reply_packed(): a reply held until something
 * happens (the metaserver's durable replies) is packed once. Returns 0
 * and a new *frame (free with evbuffer_free()), or a negative error
 * (-E2BIG over a limit, -ENOMEM). Any thread.
 */
int rpc_reply_pack(uint64_t call_id, int err, const char *why, Cairn__Envelope *body,
		   struct evbuffer **frame);

/*
 * Sends a frame made by rpc_reply_pack() (its bytes are moved out: frame
 * is left empty, still the caller's). A no-op once the connection has
 * closed.
 */
void rpc_reply_packed(struct rpc_conn *c, struct evbuffer *frame);

/*
 * Listens on addr ("HOST:PORT"), making an rpc_conn with ops/arg for each
 * accepted connection (the server holds that reference and drops it when
 * the connection closes). PORT 0 picks a free port (see rpc_server_port());
 * HOST is resolved with getaddrinfo(), which may block: call at start-up.
 * Returns a new server (free with rpc_server_free()) or NULL with a new
 * *cause.
 */
struct rpc_server *rpc_server_new(struct event_base *base, const char *addr,
				  const struct rpc_conn_ops *ops, void *arg, char **cause);
/*
 * What a server grants the connections it accepts, so that no peer can
 * make it hold memory or sockets for nothing. Field types match the config
 * table types (CONFIG_INT, CONFIG_SIZE, CONFIG_DURATION) of RPC_LIMIT_ROWS.
 */
struct rpc_limits {
	int64_t max_conns;	   /* accepted connections open at once; more are closed */
	uint64_t max_frame;	   /* bytes of one frame's envelope and payload */
	uint64_t max_buffered;	   /* input held across the connections; reading waits past it */
	uint64_t frame_timeout_ms; /* a frame begun must be whole within this, or the conn closes */
	uint64_t idle_timeout_ms;  /* a conn that has made no call this long after accept closes */
};

#define RPC_FRAME_MAX	  (FRAME_MAX_ENVELOPE + FRAME_MAX_PAYLOAD)
#define RPC_LOG_WINDOW_MS 10000u /* one line per cause per window, then a count */

/*
 * The rows of a daemon's config table (common/config.h) for its server's
 * limits, in an options struct `st` holding `struct rpc_limits limits`.
 * frame_def and buffered_def are the defaults of --max-frame and
 * --max-buffered as text (a metaserver takes no payloads, a chunkserver does).
 */
/* clang-format off */
#define RPC_LIMIT_ROWS(st, frame_def, buffered_def)                                                \
	{"max-conns", CONFIG_INT, "4096", 0, 1, 1000000, offsetof(st, limits.max_conns),           \
	 "connections open at once; more are closed as they come"},                                \
	{"max-frame", CONFIG_SIZE, frame_def, 0, 65536, RPC_FRAME_MAX,                             \
	 offsetof(st, limits.max_frame),                                                           \
	 "largest frame (envelope and payload) a peer may send"},                                  \
	{"max-buffered", CONFIG_SIZE, buffered_def, 0, 1ll << 20, 0,                               \
	 offsetof(st, limits.max_buffered),                                                        \
	 "input held across all connections; past it, reading waits"},                             \
	{"frame-timeout", CONFIG_DURATION, "30s", 0, 100, 86400000,                                \
	 offsetof(st, limits.frame_timeout_ms),                                                    \
	 "a connection whose frame stays unfinished this long is closed"},                         \
	{"idle-timeout", CONFIG_DURATION, "30s", 0, 100, 86400000,                                 \
	 offsetof(st, limits.idle_timeout_ms),                                                     \
	 "a connection that makes no call this long after it is accepted is closed"}
/* clang-format on */

/*
 * Sets s's limits (all fields; 0 for a field keeps its default: 4096
 * connections, RPC_FRAME_MAX, 256 MiB, 30 s, 30 s). Applies to what comes
 * next: connections already open over a new max_conns stay. Each cause of
 * a closed or stalled connection is logged once per RPC_LOG_WINDOW_MS, then
 * counted.
 */
void rpc_server_set_limits(struct rpc_server *s, const struct rpc_limits *l);

/* Stops listening, closes every connection it accepted and frees s. No-op for NULL. */
void rpc_server_free(struct rpc_server *s);
/* Number of open accepted connections. */
unsigned rpc_server_nconns(const struct rpc_server *s);
/* The port the server listens on (the one picked by the kernel for port 0). */
int rpc_server_port(const struct rpc_server *s);

/*
 * A client end that connects to addr on demand and reconnects with back-off
 * (50 ms doubling to 2 s) after the connection is lost. Calls made while
 * not connected wait (until their deadline) and are sent once connected;
 * calls in flight when the connection is lost fail with -CAIRN_EUNAVAIL
 * (the caller decides whether to retry). ops may be NULL for a client that
 * never receives requests; with ops the client connects at once and
 * reconnects even when it has no calls to send. HOST is resolved with
 * getaddrinfo() on the first connect (blocking: give an IP address or a
 * name /etc/hosts knows); a connect pending for 5 s fails. Returns a new
 * client (free with rpc_client_free()), or NULL when addr is not HOST:PORT
 * or memory is short.
 */
struct rpc_client *rpc_client_new(struct event_base *base, const char *addr,
				  const struct rpc_conn_ops *ops, void *arg);
/*
 * Fails every pending call with -CAIRN_EUNAVAIL, closes the connection and
 * frees the client. No-op for NULL. A callback it runs may still call
 * rpc_client_call(cl), which then fails with -CAIRN_EUNAVAIL.
 */
void rpc_client_free(struct rpc_client *cl);
/* As rpc_call(). */
int rpc_client_call(struct rpc_client *cl, Cairn__Envelope *req, struct evbuffer *payload,
		    uint64_t timeout_ms, rpc_reply_fn cb, void *arg);

#endif
