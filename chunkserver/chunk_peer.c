/*
 * chunk_peer: the connections from this chunkserver to the next members
 * of write chains, one per address, made on demand and shared by every
 * call forwarded there.
 *
 * Why not rpc_client: while it cannot connect, an rpc_client holds calls
 * until their deadline, so a dead chain member would stall every write
 * through it for the whole forward timeout. Here the connect is ours
 * (non-blocking, CHUNK_PEER_CONNECT_MS at most) and its failure fails the
 * waiting calls at once with the reason ("chain ADDR: connect: Connection
 * refused"), so the client can ask for a new chain right away. Once
 * connected the socket becomes an rpc_conn; calls on it fail with the
 * connection when it is lost, and the next call connects again.
 *
 * Chain members are named by numeric address only (as chunkservers listen
 * and register: see chunk_check_options()): a name would need a blocking
 * getaddrinfo() on the event loop, stalling every call of the process, so
 * a chain member that is not an IP address fails its calls with -EINVAL
 * and a clear reason instead.
 *
 * Calls made while the connect is in progress wait, in order, as packed
 * envelopes (plus their payload buffers), and are sent in that order
 * before any later call, so a chain's writes keep their order.
 *
 * Invariants: a peer has a connection, a connect in progress, or
 * neither, never both; its wait list is empty unless it is connecting;
 * a peer is freed only with nothing in flight or waiting.
 */
#include "chunk_int.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "errors.h"
#include "log.h"
#include "util.h"

#define CHUNK_PEER_CONNECT_MS 5000u
#define CHUNK_PEER_IDLE_MS    60000u

/* A call waiting for the connection. */
struct peer_wait {
	struct peer_wait *next;
	uint8_t *env; /* the packed envelope */
	size_t env_len;
	struct evbuffer *payload; /* NULL for none */
	uint64_t deadline_ms;
	chunk_fwd_fn cb;
	void *arg;
};

struct chunk_peer {
	struct chunk_peer *next;
	struct chunk_server *cs;
	char *addr;
	struct sockaddr_storage sa;
	socklen_t salen;       /* 0 until resolved */
	struct rpc_conn *conn; /* connected (our reference), or NULL */
	evutil_socket_t fd;    /* connect in progress, or -1 */
	struct event *conn_ev; /* its completion */
	struct peer_wait *wait, **wait_tail;
	unsigned inflight; /* calls sent, not answered */
	uint64_t last_used_ms;
};

/* A call sent on a peer's connection. */
struct peer_call {
	struct chunk_peer *p;
	chunk_fwd_fn cb;
	void *arg;
};

static void peer_on_close(struct rpc_conn *c, void *arg)
{
	struct chunk_peer *p = arg;
	if (p->conn == c) {
		p->conn = NULL;
		rpc_conn_unref(c);
	}
}

static const struct rpc_conn_ops peer_ops = {NULL, peer_on_close};

/* Calls cb with err and "chain ADDR: what". */
static void fail_call(struct chunk_peer *p, chunk_fwd_fn cb, void *arg, int err, const char *what)
{
	char why[512];
	if (strncmp(what, "chain ", 6) == 0)
		snprintf(why, sizeof(why), "%s", what); /* a member further down failed */
	else
		snprintf(why, sizeof(why), "chain %s: %s", p->addr, what);
	cb(err, why, arg);
}

static void on_reply(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct peer_call *pc = arg;
	struct chunk_peer *p = pc->p;
	p->inflight--;
	p->last_used_ms = time_mono_ms();
	if (err == 0)
		pc->cb(0, NULL, pc->arg);
	else if (reply && reply->error && *reply->error)
		fail_call(p, pc->cb, pc->arg, err, reply->error);
	else if (err == -CAIRN_EUNAVAIL)
		fail_call(p, pc->cb, pc->arg, err, "connection lost");
	else
		fail_call(p, pc->cb, pc->arg, err, err_str(err));
	free(pc);
}

/* Sends req on p's connection. */
static void send_call(struct chunk_peer *p, Cairn__Envelope *req, struct evbuffer *payload,
		      uint64_t timeout_ms, chunk_fwd_fn cb, void *arg)
{
	struct peer_call *pc = xmalloc(sizeof(*pc));
	pc->p = p;
	pc->cb = cb;
	pc->arg = arg;
	int rc = rpc_call(p->conn, req, payload, timeout_ms, on_reply, pc);
	if (rc < 0) {
		free(pc);
		fail_call(p, cb, arg, rc, err_str(rc));
		return;
	}
	p->inflight++;
	p->last_used_ms = time_mono_ms();
}

static void wait_free(struct peer_wait *w)
{
	if (w->payload)
		evbuffer_free(w->payload);
	free(w->env);
	free(w);
}

/* The connect failed: every waiting call fails with why. */
static void fail_waiting(struct chunk_peer *p, int err, const char *why)
{
	struct peer_wait *w = p->wait;
	p->wait = NULL;
	p->wait_tail = &p->wait;
	while (w) {
		struct peer_wait *next = w->next;
		fail_call(p, w->cb, w->arg, err, why);
		wait_free(w);
		w = next;
	}
}

/* The connection is up: send what waited, oldest first. */
static void send_waiting(struct chunk_peer *p)
{
	struct peer_wait *w = p->wait;
	p->wait = NULL;
	p->wait_tail = &p->wait;
	uint64_t now = time_mono_ms();
	while (w) {
		struct peer_wait *next = w->next;
		Cairn__Envelope *env = cairn__envelope__unpack(NULL, w->env_len, w->env);
		if (!env)
			fail_call(p, w->cb, w->arg, -ENOMEM, "out of memory");
		else if (!p->conn)
			fail_call(p, w->cb, w->arg, -CAIRN_EUNAVAIL, "connection lost");
		else
			send_call(p, env, w->payload,
				  w->deadline_ms > now ? w->deadline_ms - now : 1, w->cb, w->arg);
		if (env)
			cairn__envelope__free_unpacked(env, NULL);
		wait_free(w);
		w = next;
	}
}

static void connect_done(struct chunk_peer *p, int err)
{
	char why[300];
	evutil_socket_t fd = p->fd;
	event_free(p->conn_ev);
	p->conn_ev = NULL;
	p->fd = -1;
	if (err) {
		close(fd);
		log_info("chain peer %s: connect: %s", p->addr, strerror(err));
		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		fail_waiting(p, -CAIRN_EUNAVAIL, why);
		return;
	}
	p->conn = rpc_conn_new(p->cs->base, fd, &peer_ops, p); /* takes fd */
	if (!p->conn) {
		fail_waiting(p, -ENOMEM, "out of memory");
		return;
	}
	log_debug("chain peer %s: connected", p->addr);
	send_waiting(p);
}

static void on_connect(evutil_socket_t fd, short what, void *arg)
{
	struct chunk_peer *p = arg;
	int err = 0;
	socklen_t len = sizeof(err);
	if (what & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	connect_done(p, err);
}

/*
 * Turns p->addr into a socket address, once. Numeric hosts only (this
 * never blocks). Returns 0, or EINVAL for a name or a bad address.
 */
static int peer_resolve(struct chunk_peer *p)
{
	char *host, portstr[8];
	uint16_t port;
	struct addrinfo hints = {0}, *res = NULL;
	if (p->salen)
		return 0;
	if (addr_parse(p->addr, &host, &port) < 0)
		return EINVAL;
	snprintf(portstr, sizeof(portstr), "%u", port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	int gai = getaddrinfo(host, portstr, &hints, &res);
	free(host);
	if (gai)
		return EINVAL;
	memcpy(&p->sa, res->ai_addr, res->ai_addrlen);
	p->salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Starts connecting; the waiting calls learn the outcome. */
static void peer_connect(struct chunk_peer *p)
{
	static const struct timeval limit = {CHUNK_PEER_CONNECT_MS / 1000,
					     CHUNK_PEER_CONNECT_MS % 1000 * 1000};
	int err = peer_resolve(p);
	if (err) {
		log_info("chain peer %s: not an IP address: refused", p->addr);
		fail_waiting(
		    p, -EINVAL,
		    "not an IP address (chain members are named by IP address, not resolved)");
		return;
	}
	if (!err) {
		p->fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (p->fd < 0)
			err = errno;
	}
	if (!err && connect(p->fd, (struct sockaddr *)&p->sa, p->salen) < 0 && errno != EINPROGRESS)
		err = errno;
	if (!err && !(p->conn_ev = event_new(p->cs->base, p->fd, EV_WRITE, on_connect, p)))
		err = ENOMEM;
	if (err) {
		if (p->fd >= 0)
			close(p->fd);
		p->fd = -1;
		char why[300];
		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		log_info("chain peer %s: %s", p->addr, why);
		fail_waiting(p, -CAIRN_EUNAVAIL, why);
		return;
	}
	event_add(p->conn_ev, &limit);
}

static struct chunk_peer *peer_get(struct chunk_server *cs, const char *addr)
{
	struct chunk_peer *p;
	for (p = cs->peers; p; p = p->next)
		if (strcmp(p->addr, addr) == 0)
			return p;
	p = xcalloc(1, sizeof(*p));
	p->addr = xstrdup(addr);
	p->cs = cs;
	p->fd = -1;
	p->wait_tail = &p->wait;
	p->next = cs->peers;
	cs->peers = p;
	return p;
}

/* Queues req until the connection is up (starting it if needed). */
static void peer_wait(struct chunk_peer *p, Cairn__Envelope *req, struct evbuffer *payload,
		      uint64_t timeout_ms, chunk_fwd_fn cb, void *arg)
{
	struct peer_wait *w = xcalloc(1, sizeof(*w));
	w->env_len = cairn__envelope__get_packed_size(req);
	w->env = xmalloc(w->env_len ? w->env_len : 1);
	w->payload = payload ? evbuffer_new() : NULL;
	if (payload && !w->payload) {
		wait_free(w);
		fail_call(p, cb, arg, -ENOMEM, "out of memory");
		return;
	}
	cairn__envelope__pack(req, w->env);
	if (payload)
		evbuffer_add_buffer(w->payload, payload);
	w->deadline_ms = time_mono_ms() + timeout_ms;
	w->cb = cb;
	w->arg = arg;
	*p->wait_tail = w;
	p->wait_tail = &w->next;
	if (p->fd < 0)
		peer_connect(p); /* may fail the waiting calls at once */
}

void chunk_peer_call(struct chunk_server *cs, const char *addr, Cairn__Envelope *req,
		     struct evbuffer *payload, uint64_t timeout_ms, chunk_fwd_fn cb, void *arg)
{
	struct chunk_peer *p = peer_get(cs, addr);
	p->last_used_ms = time_mono_ms();
	if (p->conn && rpc_conn_is_open(p->conn) && !p->wait)
		send_call(p, req, payload, timeout_ms, cb, arg);
	else
		peer_wait(p, req, payload, timeout_ms, cb, arg);
}

/* Closes p (failing what waits; calls in flight fail with the connection) and frees it. */
static void peer_free(struct chunk_peer *p)
{
	if (p->fd >= 0) {
		event_free(p->conn_ev);
		close(p->fd);
		p->fd = -1;
	}
	fail_waiting(p, -CAIRN_EUNAVAIL, "the chunkserver is shutting down");
	if (p->conn)
		rpc_conn_close(p->conn); /* its calls fail now; peer_on_close drops it */
	free(p->addr);
	free(p);
}

void chunk_peer_expire(struct chunk_server *cs)
{
	uint64_t now = time_mono_ms();
	struct chunk_peer **pp = &cs->peers;
	while (*pp) {
		struct chunk_peer *p = *pp;
		if (p->inflight == 0 && !p->wait && p->fd < 0 &&
		    now - p->last_used_ms > CHUNK_PEER_IDLE_MS) {
			*pp = p->next;
			log_debug("chain peer %s: idle, closing", p->addr);
			peer_free(p);
		} else {
			pp = &p->next;
		}
	}
}

void chunk_peer_free_all(struct chunk_server *cs)
{
	while (cs->peers) {
		struct chunk_peer *p = cs->peers;
		cs->peers = p->next;
		peer_free(p);
	}
}
