/*
 * rpc: pipelined calls over non-blocking sockets on a libevent loop
 * (DESIGN §3), for servers (rpc_server: a listener and the connections it
 * accepted) and clients (rpc_client: one connection, made on demand, remade
 * with back-off). The server side (listener, limits) is in rpc_server.c;
 * what both share is in rpc_int.h.
 *
 * Design. Each connection is an rpc_conn around one socket with an input
 * and an output evbuffer and its own events; there is no bufferevent,
 * because a metadata call is a few hundred bytes and the per-call system
 * calls are its cost: a bufferevent asks FIONREAD before every read and
 * arms and disarms EPOLLOUT around every write (two epoll_ctl and one more
 * epoll_wait per reply). Here a read is one readv(2) into space reserved on
 * the input, sized by the last read; a write is one writev(2) of everything
 * framed so far, made at once when the read callback that produced it ends
 * (so the replies to all the calls one read brought in go out together) or
 * from a flush event made active for output framed anywhere else (calls,
 * late replies: coalesced per connection per loop turn). Only a write that
 * would block arms EPOLLOUT, and only until the output has drained.
 *
 * Outgoing calls get a call_id from a per-connection counter (for a
 * client's connection, from the client's counter, so calls framed while
 * disconnected keep their id once sent) and wait in a hash table keyed by
 * that id. Deadlines are not one libevent timer per call (an allocation,
 * a heap insertion and a removal each): calls with a deadline sit on a
 * list sorted by deadline, with one timer armed no later than its head.
 * Completing a call only unlinks it; the timer, when it fires, fails what
 * is due and re-arms itself for the new head. A client's calls share the
 * client's list whether queued or sent. Insertion walks from the tail, so
 * it is O(1) when deadlines come in order (the usual same-timeout case).
 *
 * Incoming bytes are cut into frames by frame_decode(); a reply completes
 * its pending call, a request goes to ops->on_request. A client frames each
 * call as it is made; while it has no connection the frame waits in the
 * client's queue, and moves to the wire when the connection comes up.
 *
 * Fairness and memory: one read callback parses at most RPC_READ_FRAMES
 * frames or RPC_READ_BYTES bytes, then yields to the loop (a zero timer
 * resumes it); the socket is not read while the input holds RPC_IN_HIGH,
 * which is above the largest legal frame. Back-pressure: while a
 * connection's output exceeds RPC_OUT_HIGH it stops reading, and resumes
 * once the output is down to RPC_OUT_LOW. A connection with calls of its
 * own awaiting replies keeps reading, so two ends that both call each other
 * cannot deadlock with both paused.
 *
 * Limits (servers only: what a peer may make a server hold; struct
 * rpc_limits). An accept over max_conns is closed at once. A frame whose
 * header declares more than max_frame closes its connection as soon as
 * the header is in. Every server conn's buffered input is counted in the
 * server's total; while the total is at max_buffered, a conn holding input
 * does not read (it waits on the server's starved list, woken when the
 * total falls), and a conn with none reads RPC_READ_MIN at most, so the
 * total overshoots by at most that per connection. Such waits are bounded
 * by one sweep timer per server (not a timer per conn: the hot path only
 * stamps times), which closes a conn whose frame has stayed unfinished for
 * frame_timeout_ms (it frees its share of the total) and a conn that has
 * made no call within idle_timeout_ms of its accept. Each cause is logged
 * once per RPC_LOG_WINDOW_MS, then counted: a flood makes two lines, not
 * one per connection.
 *
 * Lifetime: a conn is reference-counted. Its owner (server or client, or
 * whoever called rpc_conn_new()) holds one; every callback into user code
 * runs with a temporary reference held, so user code may drop the last
 * outside reference, close the conn or make new calls from any callback.
 *
 * Invariants: a pending call is in exactly one place: a conn's table (sent)
 * or a client's queue (not yet sent), and, when it has a deadline, on the
 * deadline list of that conn or client; its callback runs exactly once,
 * after it has been removed from all of them. A deadline timer is armed
 * whenever its list is non-empty, no later than the head's deadline. A
 * closed conn (open == 0) has no socket, no pending calls, no armed events,
 * and is in no server's list. The read event is added iff the conn is open,
 * connected, not paused and its input is under RPC_IN_HIGH; the write event
 * iff a write would have blocked and output remains (or while connecting).
 * A server's buffered total is the sum of its conns' counted input; a conn
 * is on its server's starved list iff its starved bit is set.
 */
#include "rpc.h"
#include "rpc_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/listener.h>
#include <event2/util.h>

#include "errors.h"
#include "frame.h"
#include "log.h"
#include "util.h"

static void client_conn_up(struct rpc_client *cl);
static void client_conn_closed(struct rpc_client *cl, struct rpc_conn *c);

/* ---- the call table ------------------------------------------------------ */

static void table_grow(struct rpc_conn *c)
{
	size_t n = c->nbuckets * 2;
	struct rpc_pending **t = calloc(n, sizeof(*t));
	if (!t)
		return; /* keep the old table: longer chains, still correct */
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct rpc_pending *p, *next;
		for (p = c->table[i]; p; p = next) {
			next = p->hnext;
			p->hnext = t[p->id & (n - 1)];
			t[p->id & (n - 1)] = p;
		}
	}
	free(c->table);
	c->table = t;
	c->nbuckets = n;
}

static void table_insert(struct rpc_conn *c, struct rpc_pending *p)
{
	if (c->ncalls >= c->nbuckets)
		table_grow(c);
	struct rpc_pending **slot = &c->table[p->id & (c->nbuckets - 1)];
	p->hnext = *slot;
	*slot = p;
	p->conn = c;
	c->ncalls++;
}

/* Unlinks and returns the call with this id, or NULL. */
static struct rpc_pending *table_remove(struct rpc_conn *c, uint64_t id)
{
	struct rpc_pending **pp = &c->table[id & (c->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->hnext) {
		struct rpc_pending *p = *pp;
		if (p->id == id) {
			*pp = p->hnext;
			c->ncalls--;
			return p;
		}
	}
	return NULL;
}

/* Moves every sent call onto list. */
static void table_take_all(struct rpc_conn *c, struct rpc_pending_list *list)
{
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct rpc_pending *p;
		while ((p = c->table[i])) {
			c->table[i] = p->hnext;
			TAILQ_INSERT_TAIL(list, p, qlink);
		}
	}
	c->ncalls = 0;
}

/* ---- deadlines ----------------------------------------------------------- */

static void deadlines_fire_cb(evutil_socket_t fd, short what, void *arg);

static int deadlines_init(struct rpc_deadlines *dl, struct event_base *base)
{
	TAILQ_INIT(&dl->list);
	dl->armed = 0;
	dl->timer = evtimer_new(base, deadlines_fire_cb, dl);
	return dl->timer ? 0 : -ENOMEM;
}

/* Frees the timer; the list must be empty. No-op when never made. */
static void deadlines_clear(struct rpc_deadlines *dl)
{
	if (!dl->timer)
		return;
	CAIRN_ASSERT(TAILQ_EMPTY(&dl->list));
	event_free(dl->timer);
	dl->timer = NULL;
}

/* Arms the timer for the head's deadline unless it fires no later already. */
static void deadlines_rearm(struct rpc_deadlines *dl)
{
	struct rpc_pending *head = TAILQ_FIRST(&dl->list);
	if (!head || (dl->armed && dl->armed <= head->deadline))
		return;
	uint64_t now = time_mono_ms();
	uint64_t ms = head->deadline > now ? head->deadline - now : 0;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(dl->timer, &tv);
	dl->armed = head->deadline;
}

/* Puts p, which has a deadline, on dl in deadline order. */
static void deadlines_insert(struct rpc_deadlines *dl, struct rpc_pending *p)
{
	struct rpc_pending *q = TAILQ_LAST(&dl->list, rpc_pending_list);
	while (q && q->deadline > p->deadline)
		q = TAILQ_PREV(q, rpc_pending_list, dlink);
	if (q)
		TAILQ_INSERT_AFTER(&dl->list, q, p, dlink);
	else
		TAILQ_INSERT_HEAD(&dl->list, p, dlink);
	p->dl = dl;
	if (!q)
		deadlines_rearm(dl);
}

/* Takes p off its deadline list, if on one. The timer is left to fire early. */
static void deadlines_remove(struct rpc_pending *p)
{
	if (!p->dl)
		return;
	TAILQ_REMOVE(&p->dl->list, p, dlink);
	p->dl = NULL;
}

/* ---- pending calls ------------------------------------------------------- */

static void pending_free(struct rpc_pending *p)
{
	deadlines_remove(p);
	if (p->frame)
		evbuffer_free(p->frame);
	free(p);
}

/* Frees p, then runs its callback. p must already be out of its table or queue. */
static void pending_complete(struct rpc_pending *p, int err, Cairn__Envelope *reply,
			     struct evbuffer *payload)
{
	rpc_reply_fn cb = p->cb;
	void *arg = p->arg;
	pending_free(p);
	cb(err, reply, payload, arg);
}

/*
 * The deadline timer: fails every call that is due (taken out of its table
 * or queue first, all of them before any callback runs, since a callback
 * may make calls or free the client), then re-arms for what is left.
 */
static void deadlines_fire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_deadlines *dl = arg;
	struct rpc_pending_list due = TAILQ_HEAD_INITIALIZER(due);
	struct rpc_pending *p;
	uint64_t now = time_mono_ms();

	dl->armed = 0;
	while ((p = TAILQ_FIRST(&dl->list)) && p->deadline <= now) {
		TAILQ_REMOVE(&dl->list, p, dlink);
		p->dl = NULL;
		if (p->cl) {
			TAILQ_REMOVE(&p->cl->queue, p, qlink);
		} else {
			struct rpc_pending *q = table_remove(p->conn, p->id);
			CAIRN_ASSERT(q == p);
			(void)q;
		}
		TAILQ_INSERT_TAIL(&due, p, qlink);
	}
	deadlines_rearm(dl);
	while ((p = TAILQ_FIRST(&due))) {
		TAILQ_REMOVE(&due, p, qlink);
		pending_complete(p, -ETIMEDOUT, NULL, NULL);
	}
}

static struct rpc_pending *pending_new(uint64_t timeout_ms, rpc_reply_fn cb, void *arg)
{
	struct rpc_pending *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cb = cb;
	p->arg = arg;
	if (timeout_ms) {
		if (timeout_ms > RPC_MAX_TIMEOUT_MS)
			timeout_ms = RPC_MAX_TIMEOUT_MS;
		p->deadline = time_mono_ms() + timeout_ms;
	}
	return p;
}

/* Starts p's deadline on dl; call once p is linked where the timer can find it. */
static void pending_arm(struct rpc_pending *p, struct rpc_deadlines *dl)
{
	if (p->deadline)
		deadlines_insert(dl, p);
}

/* ---- connections: I/O ---------------------------------------------------- */

void rpc_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "local");
	}
}

static uint64_t conn_next_id(struct rpc_conn *c)
{
	return c->client ? c->client->next_id++ : c->next_id++;
}

static struct rpc_deadlines *conn_deadlines(struct rpc_conn *c)
{
	return c->client ? &c->client->dl : &c->own_dl;
}

/* Whether c's server holds max_buffered bytes of input (never for a client's conn). */
static int conn_server_full(const struct rpc_conn *c)
{
	return c->server && c->server->buffered >= c->server->lim.max_buffered;
}

/* Puts c on its server's starved list: it reads again once the total falls. */
static void conn_starve(struct rpc_conn *c)
{
	if (c->starved)
		return;
	LIST_INSERT_HEAD(&c->server->starved, c, starve_link);
	c->starved = 1;
	rpc_server_note(c->server, CAUSE_FULL, c->peer, NULL);
}

/* Brings the server's total up to date with c's input; wakes waiters when it fell. */
static void conn_account(struct rpc_conn *c)
{
	struct rpc_server *s = c->server;
	if (!s)
		return;
	size_t len = evbuffer_get_length(c->in);
	s->buffered = s->buffered - c->counted + len;
	int fell = len < c->counted;
	c->counted = len;
	if (fell && !LIST_EMPTY(&s->starved) && s->buffered < s->lim.max_buffered)
		rpc_server_wake(s);
}

/* Adds or deletes the read event to match the conn's state (see the invariants). */
void rpc_conn_update_read(struct rpc_conn *c)
{
	int want =
	    c->open && !c->connecting && !c->paused && evbuffer_get_length(c->in) < RPC_IN_HIGH;
	if (want && evbuffer_get_length(c->in) && conn_server_full(c)) {
		conn_starve(c);
		want = 0;
	}
	if (want && !c->reading)
		event_add(c->rev, NULL);
	else if (!want && c->reading)
		event_del(c->rev);
	c->reading = want;
}

static void conn_resume_soon(struct rpc_conn *c)
{
	static const struct timeval now = {0, 0};
	evtimer_add(c->resume, &now);
}

static void conn_pause(struct rpc_conn *c)
{
	c->paused = 1;
	rpc_conn_update_read(c);
}

static void conn_unpause(struct rpc_conn *c)
{
	c->paused = 0;
	rpc_conn_update_read(c);
	conn_resume_soon(c); /* frames may already be buffered */
}

static void conn_fail(struct rpc_conn *c, const char *doing, int err)
{
	if (err == EPIPE || err == ECONNRESET)
		log_debug("rpc: %s closed the connection (%s)", c->peer, strerror(err));
	else
		log_info("rpc: connection with %s failed %s: %s", c->peer, doing, strerror(err));
	rpc_conn_close(c); /* may free c, unless the caller holds a reference */
}

/*
 * Writes the output until it is empty, the socket is full or this turn's
 * share is written, then arms or disarms the write event to match. The
 * caller holds a reference: a write error closes the conn.
 */
static void conn_write(struct rpc_conn *c)
{
	size_t turn = 0;
	for (;;) {
		size_t len = evbuffer_get_length(c->out);
		if (!len || turn >= RPC_WRITE_TURN)
			break;
		size_t want = len < RPC_MAX_WRITE ? len : RPC_MAX_WRITE;
		int n = evbuffer_write_atmost(c->out, c->fd, (ev_ssize_t)want);
		if (n < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			if (err == EAGAIN || err == EWOULDBLOCK)
				break;
			conn_fail(c, "writing", err);
			return;
		}
		turn += (size_t)n;
		if ((size_t)n < want)
			break; /* the socket is full: do not ask again just to hear EAGAIN */
	}
	size_t left = evbuffer_get_length(c->out);
	if (left && !c->writing) {
		event_add(c->wev, NULL);
		c->writing = 1;
	} else if (!left && c->writing) {
		event_del(c->wev);
		c->writing = 0;
	}
	if (c->paused && left <= RPC_OUT_LOW)
		conn_unpause(c);
}

/* Output was framed: have it written this loop turn, coalesced with the rest. */
static void conn_output_added(struct rpc_conn *c)
{
	if (c->in_input || c->writing || c->flushing || c->connecting)
		return; /* written at the end of the read, on EPOLLOUT, or once connected */
	c->flushing = 1;
	event_active(c->flush, EV_WRITE, 1);
}

static void conn_dispatch(struct rpc_conn *c, Cairn__Envelope *env, struct evbuffer *payload)
{
	if (env->is_reply) {
		struct rpc_pending *p = table_remove(c, env->call_id);
		if (p) /* else the call timed out: drop its late reply */
			pending_complete(p, err_from_status(env->status), env, payload);
		return;
	}
	c->called = 1;
	if (c->ops && c->ops->on_request)
		c->ops->on_request(c, env, payload, c->arg);
	else
		rpc_reply(c, env->call_id, -ENOTSUP, "this end serves no calls", NULL, NULL);
}

/* Whether the frame at the front of c's input declares more than c's server takes. */
static int conn_frame_too_big(struct rpc_conn *c)
{
	unsigned char h[FRAME_HEADER_SIZE];
	if (!c->server || evbuffer_copyout(c->in, h, sizeof(h)) != (ev_ssize_t)sizeof(h))
		return 0;
	uint64_t hlen = (uint64_t)h[4] << 24 | (uint64_t)h[5] << 16 | (uint64_t)h[6] << 8 | h[7];
	uint64_t plen = (uint64_t)h[8] << 24 | (uint64_t)h[9] << 16 | (uint64_t)h[10] << 8 | h[11];
	return hlen + plen > c->server->lim.max_frame;
}

/*
 * Notes when c's unfinished frame began: now when a frame completed in
 * this pass (the rest is a new one) or none was pending; none when the
 * input is empty.
 */
static void conn_stamp_partial(struct rpc_conn *c, unsigned frames)
{
	if (!c->server)
		return;
	if (!evbuffer_get_length(c->in))
		c->partial_ms = 0;
	else if (frames || !c->partial_ms)
		c->partial_ms = time_mono_ms();
}

/*
 * Parses and dispatches buffered frames, within this callback's budget,
 * then writes what they produced. The caller holds a reference.
 */
static void conn_process_input(struct rpc_conn *c)
{
	size_t bytes = 0;
	unsigned frames = 0;

	c->in_input = 1;
	while (c->open && !c->paused) {
		if (evbuffer_get_length(c->out) > RPC_OUT_HIGH && c->ncalls == 0) {
			conn_pause(c);
			break;
		}
		if (frames >= RPC_READ_FRAMES || bytes >= RPC_READ_BYTES) {
			conn_resume_soon(c);
			break;
		}
		Cairn__Envelope *env;
		struct evbuffer *payload;
		char *cause;
		size_t before = evbuffer_get_length(c->in);
		int rc = frame_decode(c->in, &env, &payload, &cause);
		if (rc == 0 && conn_frame_too_big(c)) {
			rpc_server_note(c->server, CAUSE_BIG_FRAME, c->peer, NULL);
			rpc_conn_close(c);
			break;
		}
		if (rc == 0)
			break;
		if (rc < 0) {
			if (c->server)
				rpc_server_note(c->server, CAUSE_BAD_FRAME, c->peer,
						cause ? cause : err_str(rc));
			else
				log_warn("rpc: bad frame from %s: %s; closing the connection",
					 c->peer, cause ? cause : err_str(rc));
			free(cause);
			/* Replies to the good frames before it go if the socket takes them. */
			if (evbuffer_get_length(c->out))
				evbuffer_write_atmost(c->out, c->fd, RPC_MAX_WRITE);
			rpc_conn_close(c);
			break;
		}
		bytes += before - evbuffer_get_length(c->in);
		frames++;
		if (rc == FRAME_NUL_STRING)
			rpc_reply(c, env->call_id, -EINVAL,
				  "a string holds a NUL byte (names and paths may not)", NULL,
				  NULL);
		else
			conn_dispatch(c, env, payload);
		cairn__envelope__free_unpacked(env, NULL);
		if (payload)
			evbuffer_free(payload);
	}
	c->in_input = 0;
	if (!c->open)
		return;
	conn_stamp_partial(c, frames);
	conn_account(c);
	if (evbuffer_get_length(c->out) && !c->writing)
		conn_write(c);
	if (c->open)
		rpc_conn_update_read(c);
}

/*
 * Reads once into space reserved on the input: as much as the last read
 * brought, doubled when it filled its space (no FIONREAD round trip).
 * Returns 1 when bytes came, 0 when none (EAGAIN), -1 when the conn closed.
 */
static int conn_fill(struct rpc_conn *c)
{
	struct evbuffer_iovec vec[2];
	struct iovec iov[2];
	size_t ask = c->rdsize;
	if (c->server && c->server->buffered + ask > c->server->lim.max_buffered)
		ask = RPC_READ_MIN; /* near the server's limit: overshoot it by little */
	int nvec = evbuffer_reserve_space(c->in, (ev_ssize_t)ask, vec, 2);
	if (nvec <= 0) {
		log_warn("rpc: out of memory reading from %s; closing the connection", c->peer);
		rpc_conn_close(c);
		return -1;
	}
	size_t room = 0;
	for (int i = 0; i < nvec; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
		room += vec[i].iov_len;
	}
	ssize_t n;
	do
		n = readv(c->fd, iov, nvec);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		int err = errno;
		evbuffer_commit_space(c->in, vec, 0);
		if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK))
			return 0;
		if (n == 0) {
			log_debug("rpc: %s closed the connection", c->peer);
			rpc_conn_close(c);
		} else {
			conn_fail(c, "reading", err);
		}
		return -1;
	}
	size_t left = (size_t)n;
	for (int i = 0; i < nvec; i++) {
		if (vec[i].iov_len > left)
			vec[i].iov_len = left;
		left -= vec[i].iov_len;
	}
	evbuffer_commit_space(c->in, vec, nvec);
	conn_account(c);
	if ((size_t)n >= room && ask == c->rdsize && c->rdsize < RPC_MAX_READ)
		c->rdsize *= 2;
	else if ((size_t)n < room / 8 && c->rdsize > RPC_READ_MIN)
		c->rdsize /= 2;
	return 1;
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_conn *c = arg;
	rpc_conn_ref(c);
	if (conn_fill(c) > 0)
		conn_process_input(c);
	rpc_conn_unref(c);
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_conn *c = arg;
	rpc_conn_ref(c);
	if (c->open && !c->paused)
		conn_process_input(c);
	rpc_conn_unref(c);
}

static void conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_conn *c = arg;
	c->flushing = 0;
	if (!c->open || c->writing || c->connecting)
		return;
	rpc_conn_ref(c);
	conn_write(c);
	rpc_conn_unref(c);
}

/* A client's connect(2) finished (writable) or timed out. */
static void conn_connected(struct rpc_conn *c, short what)
{
	int err = ETIMEDOUT;
	socklen_t len = sizeof(err);
	if (!(what & EV_TIMEOUT) && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		log_debug("rpc: cannot connect to %s: %s", c->peer,
			  err == ETIMEDOUT ? "timed out" : strerror(err));
		rpc_conn_close(c);
		return;
	}
	c->connecting = 0;
	event_del(c->wev);
	c->writing = 0;
	log_debug("rpc: connected to %s", c->peer);
	if (c->client)
		client_conn_up(c->client);
	rpc_conn_update_read(c);
	conn_write(c);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_conn *c = arg;
	rpc_conn_ref(c);
	if (c->open && c->connecting)
		conn_connected(c, what);
	else if (c->open)
		conn_write(c);
	rpc_conn_unref(c);
}

/* Frees what rpc_conn_create() made; the conn is closed (or never opened). */
static void conn_free_parts(struct rpc_conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->flush)
		event_free(c->flush);
	if (c->resume)
		event_free(c->resume);
	if (c->in)
		evbuffer_free(c->in);
	if (c->out)
		evbuffer_free(c->out);
	deadlines_clear(&c->own_dl);
	free(c->table);
	free(c);
}

/*
 * Wraps fd (taken over: closed on failure) in a new conn with one
 * reference. A connecting conn waits for the connect on its write event
 * instead of reading.
 */
struct rpc_conn *rpc_conn_create(struct event_base *base, evutil_socket_t fd,
				 const struct rpc_conn_ops *ops, void *arg, int connecting)
{
	int one = 1;
	evutil_make_socket_nonblocking(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on non-TCP: fine */

	struct rpc_conn *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->fd = fd;
	c->table = calloc(RPC_TABLE_MIN, sizeof(*c->table));
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	c->flush = event_new(base, -1, 0, conn_flush_cb, c);
	c->resume = evtimer_new(base, conn_resume_cb, c);
	if (!c->table || !c->in || !c->out || !c->rev || !c->wev || !c->flush || !c->resume ||
	    deadlines_init(&c->own_dl, base) < 0)
		goto fail;
	c->base = base;
	c->ops = ops;
	c->arg = arg;
	c->refs = 1;
	c->open = 1;
	c->connecting = connecting != 0;
	c->next_id = 1;
	c->nbuckets = RPC_TABLE_MIN;
	c->rdsize = RPC_READ_MIN;
	snprintf(c->peer, sizeof(c->peer), "?");
	rpc_conn_update_read(c);
	return c;
fail:
	evutil_closesocket(fd);
	if (c) {
		c->open = 0;
		c->fd = -1;
		conn_free_parts(c);
	}
	return NULL;
}

static void conn_free(struct rpc_conn *c)
{
	CAIRN_ASSERT(!c->open && c->ncalls == 0 && !c->server && !c->client);
	conn_free_parts(c);
}

/* Frames req as call id onto out. */
static int conn_frame_call(struct evbuffer *out, uint64_t id, Cairn__Envelope *req,
			   struct evbuffer *payload)
{
	req->call_id = id;
	req->is_reply = 0;
	return frame_encode(out, req, payload);
}

/* ---- connections: API ---------------------------------------------------- */

struct rpc_conn *rpc_conn_new(struct event_base *base, evutil_socket_t fd,
			      const struct rpc_conn_ops *ops, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct rpc_conn *c = rpc_conn_create(base, fd, ops, arg, 0);
	if (c && getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		rpc_format_addr((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
	return c;
}

void rpc_conn_ref(struct rpc_conn *c)
{
	CAIRN_ASSERT(c->refs > 0);
	c->refs++;
}

void rpc_conn_unref(struct rpc_conn *c)
{
	if (!c)
		return;
	CAIRN_ASSERT(c->refs > 0);
	if (c->refs == 1 && c->open)
		rpc_conn_close(c); /* callbacks may take and drop references meanwhile */
	if (--c->refs == 0)
		conn_free(c);
}

void rpc_conn_close(struct rpc_conn *c)
{
	struct rpc_pending_list failed = TAILQ_HEAD_INITIALIZER(failed);
	struct rpc_pending *p;

	if (!c || !c->open)
		return;
	int was_up = !c->connecting;
	c->open = 0;
	c->refs++;
	event_del(c->rev);
	event_del(c->wev);
	event_del(c->flush);
	event_del(c->resume);
	c->reading = c->writing = c->flushing = 0;
	evutil_closesocket(c->fd);
	c->fd = -1;
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	if (c->server)
		rpc_server_conn_closed(c->server, c); /* its input leaves the server's total */
	if (c->client)
		client_conn_closed(c->client, c);
	table_take_all(c, &failed);
	TAILQ_FOREACH(p, &failed, qlink)
	deadlines_remove(p); /* before any callback: one may free the client and its list */
	while ((p = TAILQ_FIRST(&failed))) {
		TAILQ_REMOVE(&failed, p, qlink);
		pending_complete(p, -CAIRN_EUNAVAIL, NULL, NULL);
	}
	if (was_up && c->ops && c->ops->on_close)
		c->ops->on_close(c, c->arg);
	rpc_conn_unref(c);
}

int rpc_conn_is_open(const struct rpc_conn *c)
{
	return c->open;
}

const char *rpc_conn_peer(const struct rpc_conn *c)
{
	return c->peer;
}

int rpc_call(struct rpc_conn *c, Cairn__Envelope *req, struct evbuffer *payload,
	     uint64_t timeout_ms, rpc_reply_fn cb, void *arg)
{
	if (!c->open)
		return -CAIRN_EUNAVAIL;
	struct rpc_pending *p = pending_new(timeout_ms, cb, arg);
	if (!p)
		return -ENOMEM;
	p->id = conn_next_id(c);
	int rc = conn_frame_call(c->out, p->id, req, payload);
	if (rc < 0) {
		pending_free(p);
		return rc;
	}
	table_insert(c, p);
	pending_arm(p, conn_deadlines(c));
	conn_output_added(c);
	if (c->paused)
		conn_unpause(c); /* read on while a call of ours awaits its reply */
	return 0;
}

/* Frames the reply to call_id onto out (the envelope as rpc_reply() documents it). */
static int reply_frame(struct evbuffer *out, uint64_t call_id, int err, const char *why,
		       Cairn__Envelope *body, struct evbuffer *payload)
{
	Cairn__Envelope r = CAIRN__ENVELOPE__INIT;
	Cairn__Empty empty = CAIRN__EMPTY__INIT;

	r.call_id = call_id;
	r.is_reply = 1;
	r.status = err_to_status(err);
	if (why)
		r.error = (char *)why;
	if (body && body->body_case != CAIRN__ENVELOPE__BODY__NOT_SET) {
		r.body_case = body->body_case;
		r.ok = body->ok; /* the body union is one pointer: this copies any member */
		if (payload) {
			r.n_payload_crc = body->n_payload_crc;
			r.payload_crc = body->payload_crc;
		}
	} else {
		r.body_case = CAIRN__ENVELOPE__BODY_OK;
		r.ok = &empty;
	}
	return frame_encode(out, &r, payload);
}

int rpc_reply(struct rpc_conn *c, uint64_t call_id, int err, const char *why, Cairn__Envelope *body,
	      struct evbuffer *payload)
{
	if (!c->open)
		return 0;
	int rc = reply_frame(c->out, call_id, err, why, body, payload);
	if (rc < 0) {
		log_warn("rpc: reply %llu to %s cannot be framed: %s", (unsigned long long)call_id,
			 c->peer, err_str(rc));
		reply_frame(c->out, call_id, -CAIRN_EINTERNAL, "the reply could not be framed",
			    NULL, NULL);
	}
	conn_output_added(c);
	return rc;
}

int rpc_reply_pack(uint64_t call_id, int err, const char *why, Cairn__Envelope *body,
		   struct evbuffer **frame)
{
	*frame = evbuffer_new();
	if (!*frame)
		return -ENOMEM;
	int rc = reply_frame(*frame, call_id, err, why, body, NULL);
	if (rc < 0) {
		evbuffer_free(*frame);
		*frame = NULL;
	}
	return rc;
}

void rpc_reply_packed(struct rpc_conn *c, struct evbuffer *frame)
{
	if (!c->open)
		return;
	evbuffer_add_buffer(c->out, frame);
	conn_output_added(c);
}

/* ---- client -------------------------------------------------------------- */

static int client_resolve(struct rpc_client *cl)
{
	struct addrinfo hints = {0}, *res;
	char *host, portstr[8];
	uint16_t port;
	if (addr_parse(cl->addr, &host, &port) < 0)
		return -EINVAL;
	snprintf(portstr, sizeof(portstr), "%u", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int gai = getaddrinfo(host, portstr, &hints, &res);
	free(host);
	if (gai) {
		log_info("rpc: cannot resolve %s: %s", cl->addr, gai_strerror(gai));
		return -EINVAL;
	}
	memcpy(&cl->sa, res->ai_addr, res->ai_addrlen);
	cl->salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * Arms the reconnect timer after a failed or lost connection. Calls made
 * meanwhile wait for it, so even a caller that retries from its callback
 * cannot make the client reconnect faster than the back-off.
 */
static void client_schedule_retry(struct rpc_client *cl)
{
	if (cl->freeing)
		return;
	struct timeval tv = {(time_t)(cl->backoff_ms / 1000),
			     (suseconds_t)(cl->backoff_ms % 1000) * 1000};
	evtimer_add(cl->retry, &tv);
	cl->backoff_ms *= 2;
	if (cl->backoff_ms > RPC_BACKOFF_MAX_MS)
		cl->backoff_ms = RPC_BACKOFF_MAX_MS;
}

static void client_connect(struct rpc_client *cl)
{
	static const struct timeval limit = {RPC_CONNECT_TIMEOUT_S, 0};
	CAIRN_ASSERT(!cl->conn);
	if (!cl->salen && client_resolve(cl) < 0) {
		client_schedule_retry(cl);
		return;
	}
	evutil_socket_t fd =
	    socket(cl->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct rpc_conn *c = fd < 0 ? NULL : rpc_conn_create(cl->base, fd, cl->ops, cl->arg, 1);
	if (!c) {
		log_warn("rpc: cannot make a socket for %s: %s", cl->addr,
			 fd < 0 ? strerror(errno) : "out of memory");
		client_schedule_retry(cl);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", cl->addr);
	c->client = cl;
	cl->conn = c;
	/* Done at once or not, the write event reports it (a loopback connect may be). */
	if (connect(fd, (struct sockaddr *)&cl->sa, cl->salen) < 0 && errno != EINPROGRESS) {
		log_debug("rpc: cannot connect to %s: %s", cl->addr, strerror(errno));
		rpc_conn_close(c); /* schedules the retry */
		return;
	}
	event_add(c->wev, &limit);
	c->writing = 1;
}

static void client_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_client *cl = arg;
	if (!cl->conn && (!TAILQ_EMPTY(&cl->queue) || cl->ops))
		client_connect(cl); /* else connect on the next call */
}

/* The hello's reply, or its failure with the connection: nothing to do. */
static void client_hello_done(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
}

/*
 * The connection is up: send every queued call, oldest first. A client
 * that stays connected without calls of its own (one with ops) and has
 * none queued says hello with a ping, since servers close connections
 * that make no call (rpc_limits.idle_timeout_ms).
 */
static void client_conn_up(struct rpc_client *cl)
{
	struct rpc_conn *c = cl->conn;
	struct rpc_pending *p;
	cl->backoff_ms = RPC_BACKOFF_MIN_MS;
	if (cl->ops && TAILQ_EMPTY(&cl->queue)) {
		Cairn__Envelope env = CAIRN__ENVELOPE__INIT;
		Cairn__Empty ping = CAIRN__EMPTY__INIT;
		env.body_case = CAIRN__ENVELOPE__BODY_PING;
		env.ping = &ping;
		rpc_call(c, &env, NULL, 0, client_hello_done, NULL); /* a failure: no hello */
	}
	while ((p = TAILQ_FIRST(&cl->queue))) {
		TAILQ_REMOVE(&cl->queue, p, qlink);
		p->cl = NULL;
		evbuffer_add_buffer(c->out, p->frame);
		evbuffer_free(p->frame);
		p->frame = NULL;
		table_insert(c, p);
	}
}

/* Called by rpc_conn_close(): forget c, and come back later if needed. */
static void client_conn_closed(struct rpc_client *cl, struct rpc_conn *c)
{
	CAIRN_ASSERT(cl->conn == c);
	cl->conn = NULL;
	c->client = NULL;
	rpc_conn_unref(c);
	client_schedule_retry(cl);
}

struct rpc_client *rpc_client_new(struct event_base *base, const char *addr,
				  const struct rpc_conn_ops *ops, void *arg)
{
	char *host;
	uint16_t port;
	if (addr_parse(addr, &host, &port) < 0)
		return NULL;
	free(host);
	struct rpc_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return NULL;
	cl->addr = strdup(addr);
	cl->retry = evtimer_new(base, client_retry_cb, cl);
	if (!cl->addr || !cl->retry || deadlines_init(&cl->dl, base) < 0) {
		if (cl->retry)
			event_free(cl->retry);
		deadlines_clear(&cl->dl);
		free(cl->addr);
		free(cl);
		return NULL;
	}
	cl->base = base;
	cl->ops = ops;
	cl->arg = arg;
	cl->backoff_ms = RPC_BACKOFF_MIN_MS;
	cl->next_id = 1;
	TAILQ_INIT(&cl->queue);
	if (ops)
		client_connect(cl);
	return cl;
}

void rpc_client_free(struct rpc_client *cl)
{
	struct rpc_pending *p;
	if (!cl)
		return;
	cl->freeing = 1;
	event_free(cl->retry);
	cl->retry = NULL;
	if (cl->conn)
		rpc_conn_close(cl->conn);
	while ((p = TAILQ_FIRST(&cl->queue))) {
		TAILQ_REMOVE(&cl->queue, p, qlink);
		p->cl = NULL;
		pending_complete(p, -CAIRN_EUNAVAIL, NULL, NULL);
	}
	deadlines_clear(&cl->dl);
	free(cl->addr);
	free(cl);
}

int rpc_client_call(struct rpc_client *cl, Cairn__Envelope *req, struct evbuffer *payload,
		    uint64_t timeout_ms, rpc_reply_fn cb, void *arg)
{
	if (cl->freeing)
		return -CAIRN_EUNAVAIL;
	if (cl->conn && cl->conn->open && !cl->conn->connecting)
		return rpc_call(cl->conn, req, payload, timeout_ms, cb, arg);
	struct rpc_pending *p = pending_new(timeout_ms, cb, arg);
	if (!p)
		return -ENOMEM;
	p->id = cl->next_id++;
	p->frame = evbuffer_new();
	int rc = p->frame ? conn_frame_call(p->frame, p->id, req, payload) : -ENOMEM;
	if (rc < 0) {
		pending_free(p);
		return rc;
	}
	p->cl = cl;
	TAILQ_INSERT_TAIL(&cl->queue, p, qlink);
	pending_arm(p, &cl->dl);
	if (!cl->conn && !evtimer_pending(cl->retry, NULL))
		client_connect(cl);
	return 0;
}
