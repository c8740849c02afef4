/*
 * rpc_server: the server side of rpc.c: a listener, the connections it
 * accepted, and the limits on them (--max-conns, --max-frame,
 * --max-buffered, --frame-timeout, --idle-timeout), each cause logged once
 * per window and then counted. The design and the invariants are at the top
 * of rpc.c.
 */
#include "rpc.h"
#include "rpc_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/util.h>

#include "errors.h"
#include "log.h"
#include "util.h"

static const char *const cause_text[N_CAUSES] = {
    "connection refused: --max-conns connections are open",
    "connection closed: its frame is over --max-frame",
    "connection closed: its frame stayed unfinished past --frame-timeout",
    "connection closed: no call within --idle-timeout of connecting",
    "reading paused: --max-buffered bytes of input are held",
    "connection closed: a bad frame",
};

/* Logs the events of why counted since its window's line, and closes the window. */
static void note_flush(struct rpc_server *s, enum rpc_cause why, uint64_t now)
{
	struct rpc_note *n = &s->notes[why];
	if (n->more)
		log_warn("rpc: port %d: %llu more in the last %llus: %s", s->port,
			 (unsigned long long)n->more,
			 (unsigned long long)((now - n->since + 999) / 1000), cause_text[why]);
	n->more = 0;
	n->since = 0;
}

/* One event of cause why: logged when no window is open for it, else counted. */
void rpc_server_note(struct rpc_server *s, enum rpc_cause why, const char *peer, const char *detail)
{
	struct rpc_note *n = &s->notes[why];
	uint64_t now = time_mono_ms();
	if (n->since && now - n->since < RPC_LOG_WINDOW_MS) {
		n->more++;
		return;
	}
	note_flush(s, why, now);
	log_warn("rpc: port %d: %s (%s%s%s); more like it are counted for %us", s->port,
		 cause_text[why], peer, detail ? ": " : "", detail ? detail : "",
		 RPC_LOG_WINDOW_MS / 1000);
	n->since = now;
}

/* Lets starved conns read again while the total is under the limit. */
void rpc_server_wake(struct rpc_server *s)
{
	struct rpc_conn *c;
	while (s->buffered < s->lim.max_buffered && (c = LIST_FIRST(&s->starved))) {
		LIST_REMOVE(c, starve_link);
		c->starved = 0;
		rpc_conn_update_read(c);
	}
}

/*
 * The sweep: closes conns past frame_timeout_ms with a frame unfinished
 * (not while paused for their own unread replies) or past idle_timeout_ms
 * without a call, then logs the counts of windows that have ended. The
 * victims are listed first, each with a reference, since closing one runs
 * user code that may close others.
 */
static void server_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_server *s = arg;
	struct rpc_conn *c, *doomed = NULL;
	uint64_t now = time_mono_ms();
	LIST_FOREACH(c, &s->conns, slink)
	{
		enum rpc_cause why = N_CAUSES;
		if (c->partial_ms && !c->paused && now - c->partial_ms >= s->lim.frame_timeout_ms)
			why = CAUSE_SLOW_FRAME;
		else if (!c->called && now - c->accepted_ms >= s->lim.idle_timeout_ms)
			why = CAUSE_IDLE;
		if (why == N_CAUSES)
			continue;
		rpc_server_note(s, why, c->peer, NULL);
		rpc_conn_ref(c);
		c->doomed = doomed;
		doomed = c;
	}
	while ((c = doomed)) {
		doomed = c->doomed;
		c->doomed = NULL;
		rpc_conn_close(c);
		rpc_conn_unref(c);
	}
	for (int why = 0; why < N_CAUSES; why++)
		if (s->notes[why].since && now - s->notes[why].since >= RPC_LOG_WINDOW_MS)
			note_flush(s, (enum rpc_cause)why, now);
}

static void server_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
			     int salen, void *arg)
{
	struct rpc_server *s = arg;
	if (s->nconns >= (uint64_t)s->lim.max_conns) {
		char peer[64];
		rpc_format_addr(sa, peer, sizeof(peer));
		evutil_closesocket(fd);
		rpc_server_note(s, CAUSE_CONNS, peer, NULL);
		return;
	}
	struct rpc_conn *c = rpc_conn_create(s->base, fd, s->ops, s->arg, 0);
	if (!c) {
		log_warn("rpc: out of memory for a connection on port %d", s->port);
		return;
	}
	rpc_format_addr(sa, c->peer, sizeof(c->peer));
	c->server = s;
	c->accepted_ms = time_mono_ms();
	LIST_INSERT_HEAD(&s->conns, c, slink);
	s->nconns++;
	log_debug("rpc: accepted %s", c->peer);
}

static void server_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct rpc_server *s = arg;
	struct timeval tv = {0, RPC_ACCEPT_PAUSE_MS * 1000};
	log_warn("rpc: accept on port %d: %s; pausing", s->port,
		 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(lev);
	evtimer_add(s->accept_resume, &tv);
}

static void server_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_server *s = arg;
	evconnlistener_enable(s->lev);
}

/* Called by rpc_conn_close(): drops the server's reference to c and its input's count. */
void rpc_server_conn_closed(struct rpc_server *s, struct rpc_conn *c)
{
	LIST_REMOVE(c, slink);
	s->nconns--;
	if (c->starved)
		LIST_REMOVE(c, starve_link);
	c->starved = 0;
	s->buffered -= c->counted;
	c->counted = 0;
	c->server = NULL;
	rpc_conn_unref(c);
	if (!LIST_EMPTY(&s->starved))
		rpc_server_wake(s);
}

/* addr_parse() with port 0 (any free port) allowed. */
static int listen_addr_parse(const char *addr, char **host, uint16_t *port)
{
	size_t len = strlen(addr);
	if (len < 2 || strcmp(addr + len - 2, ":0") != 0)
		return addr_parse(addr, host, port);
	char *tmp = strdup(addr);
	if (!tmp)
		return -ENOMEM;
	tmp[len - 1] = '1';
	int rc = addr_parse(tmp, host, port);
	free(tmp);
	*port = 0;
	return rc;
}

/* Binds s->lev to the first address of host:port that works. */
static int server_bind(struct rpc_server *s, const char *host, uint16_t port, char **cause)
{
	struct addrinfo hints = {0}, *res, *ai;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai) {
		if (asprintf(cause, "cannot resolve %s: %s", host, gai_strerror(gai)) < 0)
			*cause = NULL;
		return -EINVAL;
	}
	int err = 0;
	for (ai = res; ai && !s->lev; ai = ai->ai_next) {
		s->lev = evconnlistener_new_bind(s->base, server_accept_cb, s,
						 LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
						     LEV_OPT_CLOSE_ON_EXEC,
						 -1, ai->ai_addr, (int)ai->ai_addrlen);
		if (!s->lev)
			err = errno;
	}
	freeaddrinfo(res);
	if (!s->lev) {
		if (asprintf(cause, "cannot listen on %s:%u: %s", host, port, strerror(err)) < 0)
			*cause = NULL;
		return -err;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evconnlistener_get_fd(s->lev);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	evconnlistener_set_error_cb(s->lev, server_accept_error_cb);
	return 0;
}

struct rpc_server *rpc_server_new(struct event_base *base, const char *addr,
				  const struct rpc_conn_ops *ops, void *arg, char **cause)
{
	char *host = NULL;
	uint16_t port;
	*cause = NULL;
	if (listen_addr_parse(addr, &host, &port) < 0) {
		if (asprintf(cause, "bad listen address '%s': want HOST:PORT", addr) < 0)
			*cause = NULL;
		return NULL;
	}
	struct rpc_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->accept_resume = evtimer_new(base, server_accept_resume_cb, s)) ||
	    !(s->sweep = event_new(base, -1, EV_PERSIST, server_sweep_cb, s))) {
		if (asprintf(cause, "out of memory") < 0)
			*cause = NULL;
		goto fail;
	}
	s->base = base;
	s->ops = ops;
	s->arg = arg;
	LIST_INIT(&s->conns);
	LIST_INIT(&s->starved);
	if (server_bind(s, host, port, cause) < 0)
		goto fail;
	static const struct rpc_limits defaults = {0};
	rpc_server_set_limits(s, &defaults);
	free(host);
	return s;
fail:
	free(host);
	if (s && s->accept_resume)
		event_free(s->accept_resume);
	if (s && s->sweep)
		event_free(s->sweep);
	free(s);
	return NULL;
}

void rpc_server_set_limits(struct rpc_server *s, const struct rpc_limits *l)
{
	s->lim.max_conns = l->max_conns > 0 ? l->max_conns : RPC_DEF_CONNS;
	s->lim.max_frame = l->max_frame ? l->max_frame : RPC_FRAME_MAX;
	s->lim.max_buffered = l->max_buffered ? l->max_buffered : RPC_DEF_BUFFERED;
	s->lim.frame_timeout_ms = l->frame_timeout_ms ? l->frame_timeout_ms : RPC_DEF_TIMEOUT_MS;
	s->lim.idle_timeout_ms = l->idle_timeout_ms ? l->idle_timeout_ms : RPC_DEF_TIMEOUT_MS;
	uint64_t ms = s->lim.frame_timeout_ms < s->lim.idle_timeout_ms ? s->lim.frame_timeout_ms
								       : s->lim.idle_timeout_ms;
	ms /= 4;
	ms = ms < RPC_SWEEP_MIN_MS   ? RPC_SWEEP_MIN_MS
	     : ms > RPC_SWEEP_MAX_MS ? RPC_SWEEP_MAX_MS
				     : ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	event_add(s->sweep, &tv);
	rpc_server_wake(s);
}

void rpc_server_free(struct rpc_server *s)
{
	struct rpc_conn *c;
	if (!s)
		return;
	evconnlistener_free(s->lev);
	event_free(s->accept_resume);
	event_free(s->sweep);
	while ((c = LIST_FIRST(&s->conns)))
		rpc_conn_close(c); /* unlinks c */
	free(s);
}

unsigned rpc_server_nconns(const struct rpc_server *s)
{
	return s->nconns;
}

int rpc_server_port(const struct rpc_server *s)
{
	return s->port;
}
