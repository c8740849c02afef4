/*
 * chunkconn: the connections of one libcairn handle to chunkservers.
 *
 * Design. Each address has one entry in a small hash table, made on first
 * use and kept for the handle's life (a client talks to a bounded set of
 * chunkservers). The connect is our own non-blocking connect(2); once it
 * succeeds the socket is wrapped with rpc_conn_new(), and from then on
 * calls are pipelined on it by rpc.c. A connection that closes fails its
 * calls in flight (rpc.c) and is made again on the next ask. A connect
 * that fails (refused, unreachable, timed out) fails every ask waiting
 * for it and marks the address down for CHUNKCONN_DOWN_MS, so the readers
 * and writers that ask meanwhile move on at once instead of knocking on a
 * dead node again and again. A chunkserver whose calls time out (a hung
 * node keeps its connections open) is marked slow by the caller, and
 * readers try it last for a while.
 *
 * Invariants: an entry is idle (no conn, no connect), connecting (fd and
 * ev set, asks queued in waiting) or up (conn set, waiting empty). Each
 * ask's callback runs exactly once. Loop thread only.
 */
#include "chunkconn.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"
#include "errors.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

#define CHUNKCONN_BUCKETS 64u /* power of 2 */
#define CHUNKCONN_WHY_MAX 160u

struct chunkconn_wait {
	TAILQ_ENTRY(chunkconn_wait) link;
	chunkconn_ready_fn fn;
	void *arg;
};

TAILQ_HEAD(chunkconn_waitq, chunkconn_wait);

struct chunkconn {
	struct chunkconn *hnext;
	struct chunkconn_pool *pool;
	char *addr;
	struct rpc_conn *conn; /* up: one reference */
	evutil_socket_t fd;    /* connecting: the socket, else -1 */
	struct event *ev;      /* connecting: writable or timed out */
	struct chunkconn_waitq waiting;
	uint64_t down_until; /* monotonic ms */
	uint64_t slow_until; /* monotonic ms */
	char why[CHUNKCONN_WHY_MAX];
};

struct chunkconn_pool {
	struct event_base *base;
	uint64_t connect_ms;
	int closing;
	struct chunkconn *table[CHUNKCONN_BUCKETS];
};

static void conn_closed(struct rpc_conn *conn, void *arg);

static const struct rpc_conn_ops chunkconn_ops = {NULL, conn_closed};

static size_t addr_hash(const char *s)
{
	size_t h = 5381;
	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h & (CHUNKCONN_BUCKETS - 1);
}

struct chunkconn_pool *chunkconn_pool_new(struct event_base *base, uint64_t connect_ms)
{
	struct chunkconn_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->base = base;
	p->connect_ms =
	    connect_ms && connect_ms < CHUNKCONN_CONNECT_MS ? connect_ms : CHUNKCONN_CONNECT_MS;
	return p;
}

/* Runs the queued asks' callbacks with conn (or NULL and err). */
static void run_waiters(struct chunkconn *cc, struct rpc_conn *conn, int err)
{
	struct chunkconn_waitq todo = TAILQ_HEAD_INITIALIZER(todo);
	struct chunkconn_wait *w;
	TAILQ_CONCAT(&todo, &cc->waiting, link);
	while ((w = TAILQ_FIRST(&todo))) {
		TAILQ_REMOVE(&todo, w, link);
		w->fn(conn, err, cc->why, w->arg);
		free(w);
	}
}

/* Ends a connect in progress: frees its event and, unless kept, its socket. */
static void connect_end(struct chunkconn *cc, int keep_fd)
{
	if (cc->ev) {
		event_free(cc->ev);
		cc->ev = NULL;
	}
	if (cc->fd >= 0 && !keep_fd)
		close(cc->fd);
	cc->fd = -1;
}

/* The connect failed with cause: the address is down for a while. */
static void connect_failed(struct chunkconn *cc, const char *cause)
{
	connect_end(cc, 0);
	snprintf(cc->why, sizeof(cc->why), "chunkserver %s: %s", cc->addr, cause);
	cc->down_until = time_mono_ms() + CHUNKCONN_DOWN_MS;
	log_info("libcairn: %s", cc->why);
	run_waiters(cc, NULL, -CAIRN_EUNAVAIL);
}

/* The socket is connected: wrap it and serve the waiting asks. */
static void connect_done(struct chunkconn *cc)
{
	evutil_socket_t fd = cc->fd;
	connect_end(cc, 1);
	cc->conn = rpc_conn_new(cc->pool->base, fd, &chunkconn_ops, cc); /* closes fd on failure */
	if (!cc->conn) {
		snprintf(cc->why, sizeof(cc->why), "chunkserver %s: out of memory", cc->addr);
		run_waiters(cc, NULL, -ENOMEM);
		return;
	}
	log_debug("libcairn: connected to chunkserver %s", cc->addr);
	run_waiters(cc, cc->conn, 0);
}

static void on_connect(evutil_socket_t fd, short what, void *arg)
{
	struct chunkconn *cc = arg;
	if (what & EV_TIMEOUT) {
		connect_failed(cc, "connect timed out");
		return;
	}
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr)
		connect_failed(cc, strerror(soerr));
	else
		connect_done(cc);
}

/* Fills ss from "HOST:PORT": numerically, else with getaddrinfo(). */
static int resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen)
{
	int len = (int)sizeof(*ss);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)ss, &len) == 0) {
		*sslen = (socklen_t)len;
		return 0;
	}
	char *host, portstr[8];
	uint16_t port;
	if (addr_parse(addr, &host, &port) < 0)
		return -EINVAL;
	struct addrinfo hints = {0}, *res;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	int gai = getaddrinfo(host, portstr, &hints, &res);
	free(host);
	if (gai)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Starts a connect; the asks queued on cc are served when it ends. */
static void connect_start(struct chunkconn *cc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (resolve(cc->addr, &ss, &sslen) < 0) {
		connect_failed(cc, "cannot resolve the address");
		return;
	}
	cc->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cc->fd < 0) {
		connect_failed(cc, strerror(errno));
		return;
	}
	if (connect(cc->fd, (struct sockaddr *)&ss, sslen) == 0) {
		connect_done(cc);
		return;
	}
	if (errno != EINPROGRESS) {
		connect_failed(cc, strerror(errno));
		return;
	}
	struct timeval tv = {(time_t)(cc->pool->connect_ms / 1000),
			     (suseconds_t)(cc->pool->connect_ms % 1000) * 1000};
	cc->ev = event_new(cc->pool->base, cc->fd, EV_WRITE, on_connect, cc);
	if (!cc->ev || event_add(cc->ev, &tv) < 0)
		connect_failed(cc, "out of memory");
}

/* rpc_conn_ops.on_close: the connection is gone; the next ask makes another. */
static void conn_closed(struct rpc_conn *conn, void *arg)
{
	struct chunkconn *cc = arg;
	if (cc->conn != conn)
		return;
	cc->conn = NULL;
	log_debug("libcairn: connection to chunkserver %s closed", cc->addr);
	rpc_conn_unref(conn); /* rpc_conn_close() holds its own reference meanwhile */
}

static struct chunkconn *lookup(struct chunkconn_pool *p, const char *addr, int make)
{
	size_t h = addr_hash(addr);
	struct chunkconn *cc;
	for (cc = p->table[h]; cc; cc = cc->hnext)
		if (strcmp(cc->addr, addr) == 0)
			return cc;
	if (!make || !(cc = calloc(1, sizeof(*cc))))
		return NULL;
	if (!(cc->addr = strdup(addr))) {
		free(cc);
		return NULL;
	}
	cc->pool = p;
	cc->fd = -1;
	TAILQ_INIT(&cc->waiting);
	cc->hnext = p->table[h];
	p->table[h] = cc;
	return cc;
}

void chunkconn_get(struct chunkconn_pool *p, const char *addr, chunkconn_ready_fn fn, void *arg)
{
	char why[CHUNKCONN_WHY_MAX];
	if (p->closing) {
		snprintf(why, sizeof(why), "chunkserver %s: the client is closing", addr);
		fn(NULL, -CAIRN_EUNAVAIL, why, arg);
		return;
	}
	struct chunkconn *cc = lookup(p, addr, 1);
	if (!cc) {
		snprintf(why, sizeof(why), "chunkserver %s: out of memory", addr);
		fn(NULL, -ENOMEM, why, arg);
		return;
	}
	if (cc->conn && rpc_conn_is_open(cc->conn)) {
		fn(cc->conn, 0, NULL, arg);
		return;
	}
	if (cc->fd < 0 && time_mono_ms() < cc->down_until) {
		fn(NULL, -CAIRN_EUNAVAIL, cc->why, arg);
		return;
	}
	struct chunkconn_wait *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(why, sizeof(why), "chunkserver %s: out of memory", addr);
		fn(NULL, -ENOMEM, why, arg);
		return;
	}
	w->fn = fn;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&cc->waiting, w, link);
	if (cc->fd < 0)
		connect_start(cc); /* may serve the ask before returning */
}

void chunkconn_mark_slow(struct chunkconn_pool *p, const char *addr)
{
	struct chunkconn *cc = p->closing ? NULL : lookup(p, addr, 1);
	if (cc)
		cc->slow_until = time_mono_ms() + CHUNKCONN_SLOW_MS;
}

int chunkconn_is_slow(struct chunkconn_pool *p, const char *addr)
{
	struct chunkconn *cc = p->closing ? NULL : lookup(p, addr, 0);
	if (!cc)
		return 0;
	uint64_t now = time_mono_ms();
	return now < cc->slow_until || (cc->fd < 0 && !cc->conn && now < cc->down_until);
}

void chunkconn_pool_free(struct chunkconn_pool *p)
{
	if (!p)
		return;
	p->closing = 1;
	for (size_t i = 0; i < CHUNKCONN_BUCKETS; i++) {
		struct chunkconn *cc;
		while ((cc = p->table[i])) {
			p->table[i] = cc->hnext;
			/* Fails its calls; conn_closed() drops our reference. */
			if (cc->conn)
				rpc_conn_close(cc->conn);
			if (cc->fd >= 0) {
				connect_end(cc, 0);
				snprintf(cc->why, sizeof(cc->why),
					 "chunkserver %s: the client is closing", cc->addr);
				run_waiters(cc, NULL, -CAIRN_EUNAVAIL);
			}
			free(cc->addr);
			free(cc);
		}
	}
	free(p);
}
