/*
 * test_rpc: rpc_server, rpc_client and rpc_conn over real sockets on
 * 127.0.0.1 (port 0), all in one event_base.
 *
 * The test server answers StatReq calls by path: "echo..." echoes body and
 * payload, "d..." echoes after a random delay (out-of-order replies),
 * "late" after 300 ms, "never" never, "err" with -ENOENT and a text,
 * "close" closes the connection, "big" with a 1 MiB payload. Prints
 * pipelined calls/s over one connection (not asserted).
 *
 * rpc_sync, which blocks its caller, is tested against a second server
 * running on its own thread and event_base.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "errors.h"
#include "frame.h"
#include "rpc.h"
#include "rpc_sync.h"
#include "util.h"

#include "check.h"

#define BIG_REPLY (1u << 20)

static struct event_base *base;
static unsigned char *pattern;
static const size_t pattern_len = 4u << 20;

/* ---- the test server ------------------------------------------------------ */

static struct rpc_server *srv;
static int srv_port;
static int srv_requests, srv_closes, srv_big, deferred_out;

struct deferred {
	struct rpc_conn *conn;
	uint64_t call_id;
	char *path;
};

static void reply_path(struct rpc_conn *c, uint64_t id, const char *path, struct evbuffer *pl)
{
	Cairn__StatReq st = CAIRN__STAT_REQ__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	st.path = (char *)path;
	body.body_case = CAIRN__ENVELOPE__BODY_STAT;
	body.stat = &st;
	rpc_reply(c, id, 0, NULL, &body, pl);
}

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deferred *d = arg;
	reply_path(d->conn, d->call_id, d->path, NULL);
	rpc_conn_unref(d->conn);
	free(d->path);
	free(d);
	deferred_out--;
}

static void defer_reply(struct rpc_conn *c, Cairn__Envelope *req, unsigned ms)
{
	struct deferred *d = calloc(1, sizeof(*d));
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	rpc_conn_ref(c);
	d->conn = c;
	d->call_id = req->call_id;
	d->path = strdup(req->stat->path);
	deferred_out++;
	event_base_once(base, -1, EV_TIMEOUT, deferred_cb, d, &tv);
}

static void srv_request(struct rpc_conn *c, Cairn__Envelope *req, struct evbuffer *payload,
			void *arg)
{
	srv_requests++;
	if (req->body_case != CAIRN__ENVELOPE__BODY_STAT) {
		rpc_reply(c, req->call_id, -EINVAL, "want a stat body", NULL, NULL);
		return;
	}
	const char *path = req->stat->path;
	if (strncmp(path, "echo", 4) == 0) {
		struct evbuffer *copy = NULL;
		if (payload) {
			copy = evbuffer_new();
			evbuffer_add_buffer(copy, payload);
		}
		rpc_reply(c, req->call_id, 0, NULL, req, copy);
		if (copy)
			evbuffer_free(copy);
	} else if (path[0] == 'd') {
		defer_reply(c, req, 1 + (unsigned)(req->call_id * 7919 % 20));
	} else if (strcmp(path, "late") == 0) {
		defer_reply(c, req, 300);
	} else if (strcmp(path, "err") == 0) {
		rpc_reply(c, req->call_id, -ENOENT, "no such thing", NULL, NULL);
	} else if (strcmp(path, "close") == 0) {
		rpc_conn_close(c);
	} else if (strcmp(path, "big") == 0) {
		struct evbuffer *pl = evbuffer_new();
		evbuffer_add_reference(pl, pattern, BIG_REPLY, NULL, NULL);
		srv_big++;
		reply_path(c, req->call_id, "big", pl);
		evbuffer_free(pl);
	} /* "never": no answer */
}

static void srv_close(struct rpc_conn *c, void *arg)
{
	srv_closes++;
}

static const struct rpc_conn_ops srv_ops = {srv_request, srv_close};

static int server_start(int port)
{
	char addr[32], *cause = NULL;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	srv = rpc_server_new(base, addr, &srv_ops, NULL, &cause);
	if (!srv) {
		fprintf(stderr, "rpc_server_new(%s): %s\n", addr, cause ? cause : "?");
		free(cause);
		return -1;
	}
	srv_port = rpc_server_port(srv);
	return 0;
}

/* ---- driving the loop ----------------------------------------------------- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *n >= target or ms pass; returns whether it got there. */
static int wait_count(const int *n, int target, uint64_t ms)
{
	static const struct timeval tv = {0, 5000};
	uint64_t end = time_mono_ms() + ms;
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	while (*n < target && time_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return *n >= target;
}

static void run_for(uint64_t ms)
{
	static const int never = 0;
	wait_count(&never, 1, ms);
}

/* ---- calls ---------------------------------------------------------------- */

struct rec {
	int done, err, order;
	char path[64], error[64];
	size_t payload_len;
	int payload_ok;
};

static int completions;

static void rec_cb(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct rec *r = arg;
	r->done++;
	r->err = err;
	r->order = completions++;
	if (reply && reply->body_case == CAIRN__ENVELOPE__BODY_STAT)
		snprintf(r->path, sizeof(r->path), "%s", reply->stat->path);
	if (reply)
		snprintf(r->error, sizeof(r->error), "%s", reply->error);
	if (payload) {
		r->payload_len = evbuffer_get_length(payload);
		r->payload_ok = r->payload_len <= pattern_len &&
				memcmp(evbuffer_pullup(payload, -1), pattern, r->payload_len) == 0;
	}
}

static int client_call(struct rpc_client *cl, const char *path, struct evbuffer *pl,
		       uint64_t timeout_ms, struct rec *r)
{
	Cairn__StatReq st = CAIRN__STAT_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
	st.path = (char *)path;
	req.body_case = CAIRN__ENVELOPE__BODY_STAT;
	req.stat = &st;
	memset(r, 0, sizeof(*r));
	return rpc_client_call(cl, &req, pl, timeout_ms, rec_cb, r);
}

static struct rpc_client *client_new(int port)
{
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	return rpc_client_new(base, addr, NULL, NULL);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_echo_and_payload(struct rpc_client *cl)
{
	struct rec r[2];
	CHECKF(client_call(cl, "echo-1", NULL, 2000, &r[0]) == 0, "call");
	struct evbuffer *pl = evbuffer_new();
	evbuffer_add(pl, pattern, pattern_len);
	CHECKF(client_call(cl, "echo-big", pl, 5000, &r[1]) == 0, "call with payload");
	CHECKF(evbuffer_get_length(pl) == 0, "payload not moved");
	evbuffer_free(pl);
	CHECKF(r[0].done == 0, "callback ran inside rpc_client_call");
	wait_count(&r[1].done, 1, 5000);
	CHECKF(r[0].done == 1 && r[0].err == 0 && strcmp(r[0].path, "echo-1") == 0,
	       "echo: done %d err %d path '%s'", r[0].done, r[0].err, r[0].path);
	CHECKF(r[1].done == 1 && r[1].err == 0 && r[1].payload_len == pattern_len &&
		   r[1].payload_ok,
	       "4 MiB echo: done %d err %d len %zu ok %d", r[1].done, r[1].err, r[1].payload_len,
	       r[1].payload_ok);
}

static void test_pipelined(struct rpc_client *cl)
{
	enum { N = 1000 };
	struct rec *r = calloc(N, sizeof(*r));
	char path[32];
	int before = completions, inversions = 0, ok = 0;
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "%s%d", i % 3 ? "echo" : "d", i);
		CHECKF(client_call(cl, path, NULL, 5000, &r[i]) == 0, "call %d", i);
	}
	wait_count(&completions, before + N, 5000);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "%s%d", i % 3 ? "echo" : "d", i);
		if (r[i].done == 1 && r[i].err == 0 && strcmp(r[i].path, path) == 0)
			ok++;
		if (i && r[i].order < r[i - 1].order)
			inversions++;
	}
	CHECKF(ok == N, "%d of %d pipelined calls matched", ok, N);
	CHECKF(inversions > 0, "replies all came in order");
	free(r);
}

static int tp_sent, tp_done, tp_total;
static struct rpc_client *tp_client;

static void tp_cb(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg);

static void tp_send(void)
{
	Cairn__StatReq st = CAIRN__STAT_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
	st.path = "echo";
	req.body_case = CAIRN__ENVELOPE__BODY_STAT;
	req.stat = &st;
	if (rpc_client_call(tp_client, &req, NULL, 10000, tp_cb, NULL) == 0)
		tp_sent++;
}

static void tp_cb(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	if (err == 0)
		tp_done++;
	else
		tp_total = -1;
	if (tp_sent < tp_total)
		tp_send();
}

static void test_throughput(struct rpc_client *cl)
{
	tp_client = cl;
	tp_total = 100000;
	tp_sent = tp_done = 0;
	uint64_t t0 = time_mono_ms();
	for (int i = 0; i < 64; i++)
		tp_send();
	wait_count(&tp_done, tp_total, 20000);
	uint64_t ms = time_mono_ms() - t0;
	CHECKF(tp_done == tp_total, "throughput run: %d of %d", tp_done, tp_total);
	printf("rpc: %d pipelined calls (64 in flight, client and server on one thread) in %llu "
	       "ms: %.0f calls/s\n",
	       tp_done, (unsigned long long)ms, ms ? tp_done * 1000.0 / ms : 0.0);
}

static void test_timeout_and_errors(struct rpc_client *cl)
{
	struct rec never, late, err, after;
	uint64_t t0 = time_mono_ms();
	CHECKF(client_call(cl, "never", NULL, 100, &never) == 0, "call never");
	CHECKF(client_call(cl, "late", NULL, 100, &late) == 0, "call late");
	CHECKF(client_call(cl, "err", NULL, 2000, &err) == 0, "call err");
	wait_count(&never.done, 1, 2000);
	uint64_t took = time_mono_ms() - t0;
	CHECKF(never.done == 1 && never.err == -ETIMEDOUT, "never: done %d err %d", never.done,
	       never.err);
	CHECKF(took >= 95 && took < 3000, "timeout after %llu ms", (unsigned long long)took);
	run_for(400); /* the late reply arrives and must be dropped */
	CHECKF(late.done == 1 && late.err == -ETIMEDOUT, "late: done %d err %d", late.done,
	       late.err);
	CHECKF(err.done == 1 && err.err == -ENOENT && strcmp(err.error, "no such thing") == 0,
	       "err: done %d err %d text '%s'", err.done, err.err, err.error);
	CHECKF(client_call(cl, "echo-after", NULL, 2000, &after) == 0, "call after");
	wait_count(&after.done, 1, 2000);
	CHECKF(after.done == 1 && after.err == 0, "connection unusable after a late reply");
}

/* A reply callback that makes a new call from inside the failure. */
static struct rpc_client *reentry_client;
static struct rec reentry_rec;
static int reentry_rc = 1;

static void reentry_cb(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct rec *r = arg;
	rec_cb(err, reply, payload, r);
	reentry_rc = client_call(reentry_client, "echo-reentry", NULL, 5000, &reentry_rec);
}

static void test_server_closes(struct rpc_client *cl)
{
	struct rec never[5], closer, first;
	Cairn__StatReq st = CAIRN__STAT_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
	int closes = srv_closes;
	for (int i = 0; i < 5; i++)
		client_call(cl, "never", NULL, 0, &never[i]);
	memset(&first, 0, sizeof(first));
	st.path = "never";
	req.body_case = CAIRN__ENVELOPE__BODY_STAT;
	req.stat = &st;
	reentry_client = cl;
	CHECKF(rpc_client_call(cl, &req, NULL, 0, reentry_cb, &first) == 0, "call");
	client_call(cl, "close", NULL, 0, &closer);
	wait_count(&closer.done, 1, 2000);
	int ok = 0;
	for (int i = 0; i < 5; i++)
		ok += never[i].done == 1 && never[i].err == -CAIRN_EUNAVAIL;
	CHECKF(ok == 5, "%d of 5 pending calls failed with EUNAVAIL", ok);
	CHECKF(closer.done == 1 && closer.err == -CAIRN_EUNAVAIL, "closer: %d %d", closer.done,
	       closer.err);
	CHECKF(first.done == 1 && first.err == -CAIRN_EUNAVAIL, "reentrant: %d", first.err);
	CHECKF(reentry_rc == 0, "call from a failure callback: %d", reentry_rc);
	wait_count(&reentry_rec.done, 1, 3000);
	CHECKF(reentry_rec.done == 1 && reentry_rec.err == 0, "call made while closing: %d %d",
	       reentry_rec.done, reentry_rec.err);
	wait_count(&srv_closes, closes + 1, 1000);
	CHECKF(srv_closes == closes + 1, "on_close ran %d times", srv_closes - closes);
}

static int restart_done;

static void restart_cb(evutil_socket_t fd, short what, void *arg)
{
	restart_done = server_start(*(int *)arg) == 0 ? 1 : -1;
}

static void test_reconnect(struct rpc_client *cl)
{
	enum { N = 10 };
	struct rec inflight, r[N];
	int port = srv_port;
	client_call(cl, "never", NULL, 0, &inflight);
	run_for(50);
	rpc_server_free(srv);
	srv = NULL;
	wait_count(&inflight.done, 1, 2000);
	CHECKF(inflight.done == 1 && inflight.err == -CAIRN_EUNAVAIL,
	       "in flight at server free: %d", inflight.err);
	/* Calls made while the server is down wait for it. */
	for (int i = 0; i < N; i++)
		CHECKF(client_call(cl, "echo-down", NULL, 6000, &r[i]) == 0, "call while down");
	struct timeval tv = {0, 400000};
	restart_done = 0;
	event_base_once(base, -1, EV_TIMEOUT, restart_cb, &port, &tv);
	int before = completions;
	wait_count(&completions, before + N, 6000);
	CHECKF(restart_done == 1 && srv_port == port, "restart on port %d: %d", port, restart_done);
	int ok = 0;
	for (int i = 0; i < N; i++)
		ok += r[i].done == 1 && r[i].err == 0;
	CHECKF(ok == N, "%d of %d calls made while down succeeded", ok, N);
}

static int garbage_closed;

static void garbage_read_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN))
		garbage_closed = 1;
}

static int raw_connect(int port)
{
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void test_garbage(struct rpc_client *cl)
{
	unsigned char junk[4096];
	struct rec r[20];
	int fd = raw_connect(srv_port);
	CHECKF(fd >= 0, "raw connect");
	if (fd < 0)
		return;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	CHECKF(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk), "write garbage");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, garbage_read_cb, NULL);
	event_add(ev, NULL);
	garbage_closed = 0;
	int before = completions;
	for (int i = 0; i < 20; i++)
		client_call(cl, "echo-g", NULL, 3000, &r[i]);
	wait_count(&completions, before + 20, 3000);
	wait_count(&garbage_closed, 1, 3000);
	CHECKF(garbage_closed, "garbage connection not closed");
	int ok = 0;
	for (int i = 0; i < 20; i++)
		ok += r[i].done == 1 && r[i].err == 0;
	CHECKF(ok == 20, "%d of 20 calls on the good connection succeeded", ok);
	event_free(ev);
	close(fd);
}

/* Frames an echo request with call_id id onto out. */
static void raw_frame(struct evbuffer *out, uint64_t id)
{
	Cairn__StatReq st = CAIRN__STAT_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
	st.path = "echo-raw";
	req.call_id = id;
	req.body_case = CAIRN__ENVELOPE__BODY_STAT;
	req.stat = &st;
	frame_encode(out, &req, NULL);
}

/*
 * Runs the loop and reads replies from the raw socket fd for up to ms or
 * until *want replies or the server closed it; counts each good reply
 * once by call id in seen[1..n]. Returns 1 when the server closed fd.
 */
static int raw_replies(int fd, int *seen, int n, int want, uint64_t ms)
{
	struct evbuffer *in = evbuffer_new();
	uint64_t end = time_mono_ms() + ms;
	int got = 0, closed = 0;
	while (!closed && got < want && time_mono_ms() < end) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		char buf[4096];
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			closed = 1;
		if (r > 0)
			evbuffer_add(in, buf, (size_t)r);
		Cairn__Envelope *env;
		struct evbuffer *pl;
		char *cause = NULL;
		while (frame_decode(in, &env, &pl, &cause) == 1) {
			if (env->is_reply && env->status == CAIRN__STATUS__STATUS_OK &&
			    env->call_id >= 1 && env->call_id <= (uint64_t)n)
				seen[env->call_id]++;
			got++;
			cairn__envelope__free_unpacked(env, NULL);
			if (pl)
				evbuffer_free(pl);
		}
		free(cause);
		if (r < 0)
			usleep(200);
	}
	evbuffer_free(in);
	return closed;
}

/*
 * The server's read batching, from a raw socket: more pipelined frames in
 * one write than one read callback parses, then garbage after them (every
 * good frame is answered, then the connection closes); frames that arrive
 * a byte at a time and split across reads mid-header.
 */
static void test_raw_frames(void)
{
	enum { N = 600 };
	int *seen = calloc(N + 1, sizeof(*seen));
	int fd = raw_connect(srv_port);
	CHECKF(fd >= 0, "raw connect");
	if (fd < 0) {
		free(seen);
		return;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	struct evbuffer *out = evbuffer_new();
	for (int i = 1; i <= N; i++)
		raw_frame(out, (uint64_t)i);
	evbuffer_add(out, "garbage after the good frames", 29);
	size_t len = evbuffer_get_length(out);
	CHECKF(write(fd, evbuffer_pullup(out, -1), len) == (ssize_t)len, "write %zu bytes", len);
	int closed = raw_replies(fd, seen, N, N + 1, 5000);
	int once = 0;
	for (int i = 1; i <= N; i++)
		once += seen[i] == 1;
	CHECKF(once == N, "%d of %d pipelined frames answered once", once, N);
	CHECKF(closed || raw_replies(fd, seen, N, 1, 3000), "garbage did not close the connection");
	close(fd);

	/* Three frames a byte at a time, the loop running between the bytes. */
	memset(seen, 0, (N + 1) * sizeof(*seen));
	fd = raw_connect(srv_port);
	CHECKF(fd >= 0, "raw connect");
	if (fd >= 0) {
		fcntl(fd, F_SETFL, O_NONBLOCK);
		evbuffer_drain(out, evbuffer_get_length(out));
		for (int i = 1; i <= 3; i++)
			raw_frame(out, (uint64_t)i);
		len = evbuffer_get_length(out);
		const unsigned char *bytes = evbuffer_pullup(out, -1);
		for (size_t i = 0; i < len; i++) {
			CHECKF(write(fd, bytes + i, 1) == 1, "write byte %zu", i);
			event_base_loop(base, EVLOOP_NONBLOCK);
			if (i % 7 == 0)
				usleep(100); /* let some bytes arrive alone */
		}
		closed = raw_replies(fd, seen, N, 3, 3000);
		CHECKF(!closed && seen[1] == 1 && seen[2] == 1 && seen[3] == 1,
		       "split frames: closed %d, seen %d %d %d", closed, seen[1], seen[2], seen[3]);
		close(fd);
	}
	evbuffer_free(out);
	free(seen);
}

static size_t bp_read;

static void bp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static char buf[1 << 16];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		bp_read += n;
}

/* A peer that sends many requests and reads no replies is paused, then resumed. */
static void test_backpressure(void)
{
	enum { N = 60 };
	struct evbuffer *out = evbuffer_new();
	for (int i = 0; i < N; i++) {
		Cairn__StatReq st = CAIRN__STAT_REQ__INIT;
		Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
		st.path = "big";
		req.call_id = i + 1;
		req.body_case = CAIRN__ENVELOPE__BODY_STAT;
		req.stat = &st;
		frame_encode(out, &req, NULL);
	}
	int fd = raw_connect(srv_port);
	CHECKF(fd >= 0, "raw connect");
	if (fd < 0) {
		evbuffer_free(out);
		return;
	}
	size_t len = evbuffer_get_length(out);
	CHECKF(write(fd, evbuffer_pullup(out, -1), len) == (ssize_t)len, "write requests");
	evbuffer_free(out);
	int start = srv_big;
	run_for(500);
	int served = srv_big - start;
	printf("rpc: back-pressure: %d of %d 1 MiB replies served to a peer that reads none\n",
	       served, N);
	CHECKF(served > 0 && served < N * 2 / 3, "served %d of %d without the peer reading", served,
	       N);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	struct event *ev = event_new(base, fd, EV_READ | EV_PERSIST, bp_read_cb, NULL);
	event_add(ev, NULL);
	bp_read = 0;
	int want = start + N;
	wait_count(&srv_big, want, 5000);
	CHECKF(srv_big == want, "served %d of %d once the peer reads", srv_big - start, N);
	run_for(200);
	CHECKF(bp_read >= (size_t)N * BIG_REPLY, "read %zu bytes", bp_read);
	event_free(ev);
	close(fd);
}

static void test_socketpair_conns(void)
{
	int sv[2];
	struct rec r1, r2;
	Cairn__StatReq st = CAIRN__STAT_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		CHECKF(0, "socketpair");
		return;
	}
	struct rpc_conn *a = rpc_conn_new(base, sv[0], NULL, NULL);
	struct rpc_conn *b = rpc_conn_new(base, sv[1], &srv_ops, NULL);
	st.path = "echo";
	req.body_case = CAIRN__ENVELOPE__BODY_STAT;
	req.stat = &st;
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	CHECKF(rpc_call(b, &req, NULL, 1000, rec_cb, &r1) == 0, "call to a conn without ops");
	wait_count(&r1.done, 1, 2000);
	CHECKF(r1.done == 1 && r1.err == -ENOTSUP, "no ops: %d", r1.err);
	st.path = "never";
	CHECKF(rpc_call(a, &req, NULL, 0, rec_cb, &r2) == 0, "call never");
	int closes = srv_closes;
	rpc_conn_close(b);
	rpc_conn_close(b);
	CHECKF(!rpc_conn_is_open(b) && srv_closes == closes + 1, "on_close once on close");
	wait_count(&r2.done, 1, 2000);
	CHECKF(r2.done == 1 && r2.err == -CAIRN_EUNAVAIL, "peer closed: %d", r2.err);
	CHECKF(rpc_call(b, &req, NULL, 0, rec_cb, &r2) == -CAIRN_EUNAVAIL, "call on closed conn");
	CHECKF(rpc_reply(b, 1, 0, NULL, NULL, NULL) == 0, "reply on closed conn");
	rpc_conn_unref(a);
	rpc_conn_unref(b);
}

static void test_client_free_and_down(void)
{
	/* A port with nothing behind it. */
	char *cause = NULL;
	struct rpc_server *tmp = rpc_server_new(base, "127.0.0.1:0", &srv_ops, NULL, &cause);
	CHECKF(tmp, "server: %s", cause ? cause : "");
	if (!tmp) {
		free(cause);
		return;
	}
	int port = rpc_server_port(tmp);
	rpc_server_free(tmp);

	struct rpc_client *cl = client_new(port);
	struct rec timed, queued;
	CHECKF(client_call(cl, "echo", NULL, 200, &timed) == 0, "call");
	CHECKF(client_call(cl, "echo", NULL, 0, &queued) == 0, "call");
	wait_count(&timed.done, 1, 2000);
	CHECKF(timed.done == 1 && timed.err == -ETIMEDOUT, "queued past deadline: %d", timed.err);
	rpc_client_free(cl);
	CHECKF(queued.done == 1 && queued.err == -CAIRN_EUNAVAIL, "queued at free: %d %d",
	       queued.done, queued.err);

	cl = client_new(srv_port);
	struct rec inflight, ok;
	client_call(cl, "echo", NULL, 2000, &ok);
	wait_count(&ok.done, 1, 2000);
	client_call(cl, "never", NULL, 0, &inflight);
	run_for(20);
	rpc_client_free(cl);
	CHECKF(ok.err == 0 && inflight.done == 1 && inflight.err == -CAIRN_EUNAVAIL,
	       "in flight at free: %d", inflight.err);
	CHECKF(client_new(0) == NULL && rpc_client_new(base, "nocolon", NULL, NULL) == NULL,
	       "bad client address accepted");
	CHECKF(rpc_server_new(base, "127.0.0.1:x", &srv_ops, NULL, &cause) == NULL && cause,
	       "bad server address accepted");
	free(cause);
}

/* Deadlines out of order on one connection fire each at its own time, in order. */
static void test_deadline_order(struct rpc_client *cl)
{
	static const unsigned ms[] = {300, 100, 200, 0, 150};
	enum { N = sizeof(ms) / sizeof(ms[0]) };
	static struct rec r[N]; /* the call with no deadline fails later, when the server closes */
	struct rec quick;
	uint64_t t0 = time_mono_ms(), took[N] = {0};
	int before = completions;
	for (int i = 0; i < N; i++)
		CHECKF(client_call(cl, "never", NULL, ms[i], &r[i]) == 0, "call %d", i);
	/* A short-deadline call answered in time leaves the others' deadlines alone. */
	CHECKF(client_call(cl, "echo-quick", NULL, 50, &quick) == 0, "quick call");
	while (completions < before + N && time_mono_ms() - t0 < 3000) {
		int done = completions;
		wait_count(&completions, done + 1, 3000);
		for (int i = 0; i < N; i++)
			if (r[i].done && !took[i])
				took[i] = time_mono_ms() - t0;
	}
	CHECKF(quick.done == 1 && quick.err == 0, "quick: %d %d", quick.done, quick.err);
	for (int i = 0; i < N; i++) {
		if (!ms[i]) {
			CHECKF(r[i].done == 0, "call without a deadline completed: %d", r[i].err);
			continue;
		}
		CHECKF(r[i].done == 1 && r[i].err == -ETIMEDOUT, "call %d: %d %d", i, r[i].done,
		       r[i].err);
		CHECKF(took[i] >= ms[i] - 5 && took[i] < ms[i] + 250,
		       "%u ms deadline after %llu ms", ms[i], (unsigned long long)took[i]);
	}
	CHECKF(r[1].order < r[4].order && r[4].order < r[2].order && r[2].order < r[0].order,
	       "deadlines out of order");
}

/* ---- rpc_sync ------------------------------------------------------------- */

static struct event_base *sync_base;
static volatile int sync_stop;
static int sync_refused = 1;

static void sync_late_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deferred *d = arg;
	reply_path(d->conn, d->call_id, d->path, NULL);
	rpc_conn_unref(d->conn);
	free(d->path);
	free(d);
}

static void sync_call_cb(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	sync_refused = err;
}

/* The rpc_sync server: like srv_request, on sync_base's thread. */
static void sync_srv_request(struct rpc_conn *c, Cairn__Envelope *req, struct evbuffer *payload,
			     void *arg)
{
	const char *path = req->body_case == CAIRN__ENVELOPE__BODY_STAT ? req->stat->path : "";
	if (strncmp(path, "echo", 4) == 0) {
		struct evbuffer *copy = NULL;
		if (payload) {
			copy = evbuffer_new();
			evbuffer_add_buffer(copy, payload);
		}
		rpc_reply(c, req->call_id, 0, NULL, req, copy);
		if (copy)
			evbuffer_free(copy);
	} else if (strcmp(path, "err") == 0) {
		rpc_reply(c, req->call_id, -ENOENT, "no such thing", NULL, NULL);
	} else if (strcmp(path, "late") == 0) {
		struct deferred *d = calloc(1, sizeof(*d));
		struct timeval tv = {0, 300000};
		rpc_conn_ref(c);
		d->conn = c;
		d->call_id = req->call_id;
		d->path = strdup(path);
		event_base_once(sync_base, -1, EV_TIMEOUT, sync_late_cb, d, &tv);
	} else if (strcmp(path, "close") == 0) {
		rpc_conn_close(c);
	} else if (strcmp(path, "reply-close") == 0) {
		reply_path(c, req->call_id, path, NULL);
		rpc_conn_close(c); /* unsent output is dropped: the client sees EOF */
	} else if (strcmp(path, "call-back") == 0) {
		Cairn__Envelope back = CAIRN__ENVELOPE__INIT;
		Cairn__Empty empty = CAIRN__EMPTY__INIT;
		back.body_case = CAIRN__ENVELOPE__BODY_PING;
		back.ping = &empty;
		rpc_call(c, &back, NULL, 2000, sync_call_cb, NULL);
		reply_path(c, req->call_id, path, NULL);
	} /* "never": no answer */
}

static const struct rpc_conn_ops sync_srv_ops = {sync_srv_request, NULL};

static void sync_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	if (sync_stop)
		event_base_loopbreak(sync_base);
}

static void *sync_server_main(void *arg)
{
	static const struct timeval tv = {0, 10000};
	struct event *tick = event_new(sync_base, -1, EV_PERSIST, sync_tick_cb, NULL);
	event_add(tick, &tv);
	event_base_loop(sync_base, 0);
	event_free(tick);
	return NULL;
}

static int sync_call(struct rpc_sync *s, const char *path, struct evbuffer *pl, uint64_t ms,
		     char *got, size_t gotlen, struct evbuffer **reply_pl)
{
	Cairn__StatReq st = CAIRN__STAT_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT, *reply;
	struct evbuffer *rpl;
	st.path = (char *)path;
	req.body_case = CAIRN__ENVELOPE__BODY_STAT;
	req.stat = &st;
	int rc = rpc_sync_call(s, &req, pl, ms, &reply, &rpl);
	const char *text = "(none)";
	if (reply)
		text = reply->body_case == CAIRN__ENVELOPE__BODY_STAT ? reply->stat->path
								      : reply->error;
	if (got)
		snprintf(got, gotlen, "%s", text);
	if (reply)
		cairn__envelope__free_unpacked(reply, NULL);
	if (reply_pl)
		*reply_pl = rpl;
	else if (rpl)
		evbuffer_free(rpl);
	return rc;
}

static void test_sync(void)
{
	char addr[32], got[64], *cause = NULL;
	pthread_t thread;
	sigset_t pipe_set, old;
	struct evbuffer *rpl = NULL;

	sync_base = event_base_new();
	struct rpc_server *s =
	    rpc_server_new(sync_base, "127.0.0.1:0", &sync_srv_ops, NULL, &cause);
	CHECKF(s, "sync server: %s", cause ? cause : "");
	if (!s) {
		free(cause);
		event_base_free(sync_base);
		return;
	}
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rpc_server_port(s));
	/* rpc_sync must not raise SIGPIPE: it would kill us (the server thread blocks it). */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	pthread_create(&thread, NULL, sync_server_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	signal(SIGPIPE, SIG_DFL);

	CHECKF(rpc_sync_new("nocolon") == NULL, "bad address accepted");
	struct rpc_sync *c = rpc_sync_new(addr);
	CHECKF(c, "rpc_sync_new");

	struct evbuffer *pl = evbuffer_new();
	evbuffer_add(pl, pattern, pattern_len);
	int rc = sync_call(c, "echo-big", pl, 5000, got, sizeof(got), &rpl);
	CHECKF(rc == 0 && strcmp(got, "echo-big") == 0, "echo: %d '%s'", rc, got);
	CHECKF(evbuffer_get_length(pl) == 0, "payload not moved");
	CHECKF(rpl && evbuffer_get_length(rpl) == pattern_len &&
		   memcmp(evbuffer_pullup(rpl, -1), pattern, pattern_len) == 0,
	       "payload echo differs");
	if (rpl)
		evbuffer_free(rpl);
	evbuffer_free(pl);

	rc = sync_call(c, "err", NULL, 2000, got, sizeof(got), NULL);
	CHECKF(rc == -ENOENT && strcmp(got, "no such thing") == 0, "err: %d '%s'", rc, got);

	uint64_t t0 = time_mono_ms();
	rc = sync_call(c, "never", NULL, 100, got, sizeof(got), NULL);
	uint64_t took = time_mono_ms() - t0;
	CHECKF(rc == -ETIMEDOUT && strcmp(got, "(none)") == 0, "never: %d '%s'", rc, got);
	CHECKF(took >= 95 && took < 1000, "timeout after %llu ms", (unsigned long long)took);
	rc = sync_call(c, "late", NULL, 100, got, sizeof(got), NULL);
	CHECKF(rc == -ETIMEDOUT, "late: %d", rc);
	usleep(400000); /* the late reply arrives and must be dropped by id */
	rc = sync_call(c, "echo-after-late", NULL, 2000, got, sizeof(got), NULL);
	CHECKF(rc == 0 && strcmp(got, "echo-after-late") == 0, "after late: %d '%s'", rc, got);

	rc = sync_call(c, "close", NULL, 2000, got, sizeof(got), NULL);
	CHECKF(rc == -CAIRN_EUNAVAIL, "closed: %d", rc);
	rc = sync_call(c, "echo-reconnected", NULL, 2000, got, sizeof(got), NULL);
	CHECKF(rc == 0 && strcmp(got, "echo-reconnected") == 0, "reconnect: %d '%s'", rc, got);
	rc = sync_call(c, "reply-close", NULL, 2000, got, sizeof(got), NULL);
	CHECKF(rc == 0 || rc == -CAIRN_EUNAVAIL, "reply-close: %d", rc);
	for (int i = 0; i < 3; i++) {
		rc = sync_call(c, "echo-x", NULL, 2000, got, sizeof(got), NULL);
		if (rc == 0)
			break; /* a send into the closed connection may fail once */
	}
	CHECKF(rc == 0 && strcmp(got, "echo-x") == 0, "after the server closed: %d", rc);

	sync_refused = 1;
	rc = sync_call(c, "call-back", NULL, 2000, got, sizeof(got), NULL);
	CHECKF(rc == 0, "call-back: %d", rc);
	rc = sync_call(c, "echo-flush", NULL, 2000, got, sizeof(got), NULL);
	for (int i = 0; i < 200 && sync_refused == 1; i++)
		usleep(5000);
	CHECKF(sync_refused == -ENOTSUP, "the server's call to an rpc_sync end: %d", sync_refused);

	enum { N = 20000 };
	int ok = 0;
	t0 = time_mono_ms();
	for (int i = 0; i < N; i++)
		ok += sync_call(c, "echo", NULL, 60000, NULL, 0, NULL) == 0;
	took = time_mono_ms() - t0;
	CHECKF(ok == N, "%d of %d sequential calls", ok, N);
	printf("rpc_sync: %d calls one at a time, server on another thread: %.0f calls/s\n", N,
	       took ? N * 1000.0 / took : 0.0);
	rpc_sync_free(c);

	sync_stop = 1;
	pthread_join(thread, NULL);
	signal(SIGPIPE, SIG_IGN);
	rpc_server_free(s);
	/* A port with nothing behind it: unavailable, at once. */
	c = rpc_sync_new(addr);
	t0 = time_mono_ms();
	rc = sync_call(c, "echo", NULL, 2000, got, sizeof(got), NULL);
	CHECKF(rc == -CAIRN_EUNAVAIL && time_mono_ms() - t0 < 1500, "server down: %d", rc);
	rpc_sync_free(c);
	rpc_sync_free(NULL);
	event_base_free(sync_base);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	pattern = malloc(pattern_len);
	for (size_t i = 0; i < pattern_len; i++)
		pattern[i] = (unsigned char)(i * 2654435761u >> 13);
	if (!base || server_start(0) < 0)
		return 1;
	CHECKF(srv_port > 0, "port %d", srv_port);
	struct rpc_client *cl = client_new(srv_port);

	test_echo_and_payload(cl);
	test_pipelined(cl);
	test_throughput(cl);
	test_timeout_and_errors(cl);
	test_deadline_order(cl);
	test_server_closes(cl);
	test_reconnect(cl);
	test_garbage(cl);
	test_raw_frames();
	test_backpressure();
	test_socketpair_conns();
	test_client_free_and_down();
	test_sync();

	rpc_client_free(cl);
	for (uint64_t end = time_mono_ms() + 1000; deferred_out && time_mono_ms() < end;)
		run_for(10);
	CHECKF(deferred_out == 0, "%d deferred replies left", deferred_out);
	rpc_server_free(srv);
	event_base_free(base);
	free(pattern);
	if (failures) {
		fprintf(stderr, "test_rpc: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_rpc: ok\n");
	return 0;
}
