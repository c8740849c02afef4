/*
 * rpc_sync: blocking calls on the caller's thread (contract in rpc_sync.h).
 *
 * Design. The socket is blocking once connected, so waiting for a reply is
 * the read(2) itself: no poll(2) before it. Deadlines ride on SO_RCVTIMEO
 * and SO_SNDTIMEO, which are set only when the value in place could
 * overshoot the call's deadline: a deadline more than RPC_SYNC_TIMEO_EXACT
 * away gets half the time left, so the common case of calls with the same
 * long timeout sets the option once, and a blocked read merely wakes up
 * early a few times before a distant deadline. Frames go out with
 * sendmsg(MSG_NOSIGNAL) straight from the output evbuffer's chains, and
 * come in through readv(2) into space reserved on the input evbuffer, where
 * frame_decode() cuts them as it does for rpc.
 *
 * Invariants: fd < 0 means not connected, and then both buffers are empty;
 * a reply is matched to its call by call_id, anything else is dropped (a
 * late reply) or refused (a request: this end serves no calls).
 */
#include "rpc_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "errors.h"
#include "frame.h"
#include "log.h"
#include "util.h"

#define RPC_SYNC_READ	     (16u << 10) /* bytes asked of one read(2) */
#define RPC_SYNC_IOV	     16		 /* chains per sendmsg(2) */
#define RPC_SYNC_TIMEO_EXACT 2000u	 /* ms: closer deadlines are set exactly */
#define RPC_SYNC_MAX_TIMEOUT (1ull << 40)

struct rpc_sync {
	char *addr;
	int fd; /* -1 when not connected */
	struct evbuffer *in, *out;
	uint64_t next_id;
	uint64_t rcv_ms, snd_ms; /* SO_RCVTIMEO, SO_SNDTIMEO in place; 0: none */
	struct sockaddr_storage sa;
	socklen_t salen; /* 0 until resolved */
};

struct rpc_sync *rpc_sync_new(const char *addr)
{
	char *host;
	uint16_t port;
	if (addr_parse(addr, &host, &port) < 0)
		return NULL;
	free(host);
	struct rpc_sync *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fd = -1;
	s->next_id = 1;
	s->addr = strdup(addr);
	s->in = evbuffer_new();
	s->out = evbuffer_new();
	if (!s->addr || !s->in || !s->out) {
		rpc_sync_free(s);
		return NULL;
	}
	return s;
}

void rpc_sync_close(struct rpc_sync *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->rcv_ms = s->snd_ms = 0;
	evbuffer_drain(s->in, evbuffer_get_length(s->in));
	evbuffer_drain(s->out, evbuffer_get_length(s->out));
}

int rpc_sync_lost(struct rpc_sync *s)
{
	if (s->fd < 0)
		return 0;
	char b;
	ssize_t n = recv(s->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
		return 0;
	rpc_sync_close(s);
	return 1;
}

void rpc_sync_free(struct rpc_sync *s)
{
	if (!s)
		return;
	if (s->in && s->out)
		rpc_sync_close(s);
	if (s->in)
		evbuffer_free(s->in);
	if (s->out)
		evbuffer_free(s->out);
	free(s->addr);
	free(s);
}

/* Milliseconds left until deadline (0: none), at least 1 while not past; 0 when past. */
static uint64_t ms_left(uint64_t deadline, int *past)
{
	uint64_t now = time_mono_ms();
	*past = deadline && now >= deadline;
	return deadline && !*past ? deadline - now : 0;
}

/*
 * Makes the socket's opt (SO_RCVTIMEO or SO_SNDTIMEO, *cur its value) end a
 * blocked call no later than left ms from now (0: may block for ever).
 */
static int set_timeo(struct rpc_sync *s, int opt, uint64_t *cur, uint64_t left)
{
	uint64_t want;
	if (!left) {
		if (!*cur)
			return 0;
		want = 0;
	} else {
		if (*cur && *cur <= left)
			return 0;
		want = left > RPC_SYNC_TIMEO_EXACT ? left / 2 : left;
	}
	struct timeval tv = {(time_t)(want / 1000), (suseconds_t)(want % 1000) * 1000};
	if (setsockopt(s->fd, SOL_SOCKET, opt, &tv, sizeof(tv)) < 0)
		return -errno;
	*cur = want;
	return 0;
}

static int sync_resolve(struct rpc_sync *s)
{
	struct addrinfo hints = {0}, *res;
	char *host, portstr[8];
	uint16_t port;
	if (addr_parse(s->addr, &host, &port) < 0)
		return -EINVAL;
	snprintf(portstr, sizeof(portstr), "%u", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int gai = getaddrinfo(host, portstr, &hints, &res);
	free(host);
	if (gai) {
		log_info("rpc: cannot resolve %s: %s", s->addr, gai_strerror(gai));
		return -EINVAL;
	}
	memcpy(&s->sa, res->ai_addr, res->ai_addrlen);
	s->salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Connects within the deadline; leaves a blocking socket. 0 or -CAIRN_EUNAVAIL. */
static int sync_connect(struct rpc_sync *s, uint64_t deadline)
{
	int one = 1, past, err = 0;
	if (!s->salen && sync_resolve(s) < 0)
		return -CAIRN_EUNAVAIL;
	int fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("rpc: cannot make a socket for %s: %s", s->addr, strerror(errno));
		return -CAIRN_EUNAVAIL;
	}
	if (connect(fd, (struct sockaddr *)&s->sa, s->salen) < 0) {
		err = errno;
		while (err == EINPROGRESS || err == EINTR) {
			struct pollfd pfd = {fd, POLLOUT, 0};
			uint64_t left = ms_left(deadline, &past);
			if (past) {
				err = ETIMEDOUT;
				break;
			}
			int n = poll(&pfd, 1, !deadline ? -1 : left > 60000 ? 60000 : (int)left);
			if (n < 0 && errno != EINTR) {
				err = errno;
			} else if (n > 0) {
				socklen_t len = sizeof(err);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
					err = errno;
			}
		}
	}
	if (err) {
		log_debug("rpc: cannot connect to %s: %s", s->addr, strerror(err));
		close(fd);
		return -CAIRN_EUNAVAIL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	s->fd = fd;
	s->rcv_ms = s->snd_ms = 0;
	return 0;
}

/* Sends the whole output. 0, -ETIMEDOUT or -CAIRN_EUNAVAIL (then the connection is closed). */
static int sync_send(struct rpc_sync *s, uint64_t deadline)
{
	struct evbuffer_iovec vec[RPC_SYNC_IOV];
	struct iovec iov[RPC_SYNC_IOV];
	int past;
	while (evbuffer_get_length(s->out)) {
		uint64_t left = ms_left(deadline, &past);
		if (past) {
			rpc_sync_close(s); /* a frame cut short: the stream is unusable */
			return -ETIMEDOUT;
		}
		int err = set_timeo(s, SO_SNDTIMEO, &s->snd_ms, left);
		int n = err ? 0 : evbuffer_peek(s->out, -1, NULL, vec, RPC_SYNC_IOV);
		if (n > RPC_SYNC_IOV)
			n = RPC_SYNC_IOV;
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = vec[i].iov_base;
			iov[i].iov_len = vec[i].iov_len;
		}
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = err ? -1 : sendmsg(s->fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && !err)
			err = errno;
		if (w >= 0) {
			evbuffer_drain(s->out, (size_t)w);
		} else if (err != EINTR && err != EAGAIN && err != EWOULDBLOCK) {
			log_info("rpc: connection with %s failed writing: %s", s->addr,
				 strerror(err < 0 ? -err : err));
			rpc_sync_close(s);
			return -CAIRN_EUNAVAIL;
		}
	}
	return 0;
}

/* Reads once: 1 when bytes came, 0 on a timeout or signal, -CAIRN_EUNAVAIL when the link is gone.
 */
static int sync_fill(struct rpc_sync *s, uint64_t left)
{
	struct evbuffer_iovec vec[2];
	struct iovec iov[2];
	int err = set_timeo(s, SO_RCVTIMEO, &s->rcv_ms, left);
	int nvec = err ? 0 : evbuffer_reserve_space(s->in, RPC_SYNC_READ, vec, 2);
	if (nvec <= 0) {
		log_warn("rpc: cannot wait for %s: %s", s->addr,
			 err ? strerror(-err) : "out of memory");
		rpc_sync_close(s);
		return -CAIRN_EUNAVAIL;
	}
	for (int i = 0; i < nvec; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
	}
	ssize_t n = readv(s->fd, iov, nvec);
	if (n <= 0) {
		err = errno;
		evbuffer_commit_space(s->in, vec, 0);
		if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
			return 0;
		if (n == 0)
			log_debug("rpc: %s closed the connection", s->addr);
		else
			log_info("rpc: connection with %s failed reading: %s", s->addr,
				 strerror(err));
		rpc_sync_close(s);
		return -CAIRN_EUNAVAIL;
	}
	size_t rest = (size_t)n;
	for (int i = 0; i < nvec; i++) {
		if (vec[i].iov_len > rest)
			vec[i].iov_len = rest;
		rest -= vec[i].iov_len;
	}
	evbuffer_commit_space(s->in, vec, nvec);
	return 1;
}

/* Refuses a request from the server, as an rpc end with no ops does. */
static void sync_refuse(struct rpc_sync *s, uint64_t call_id)
{
	Cairn__Envelope r = CAIRN__ENVELOPE__INIT;
	Cairn__Empty empty = CAIRN__EMPTY__INIT;
	r.call_id = call_id;
	r.is_reply = 1;
	r.status = err_to_status(-ENOTSUP);
	r.error = (char *)"this end serves no calls";
	r.body_case = CAIRN__ENVELOPE__BODY_OK;
	r.ok = &empty;
	frame_encode(s->out, &r, NULL);
}

/* Waits for the reply to call id. 0 with *reply set, or a negative error. */
static int sync_wait(struct rpc_sync *s, uint64_t id, uint64_t deadline, Cairn__Envelope **reply,
		     struct evbuffer **reply_payload)
{
	int past;
	for (;;) {
		Cairn__Envelope *env;
		struct evbuffer *pl;
		char *cause;
		int rc = frame_decode(s->in, &env, &pl, &cause);
		if (rc < 0) {
			log_warn("rpc: bad frame from %s: %s; closing the connection", s->addr,
				 cause ? cause : err_str(rc));
			free(cause);
			rpc_sync_close(s);
			return -CAIRN_EUNAVAIL;
		}
		if (rc > 0 && env->is_reply && env->call_id == id) {
			*reply = env;
			*reply_payload = pl;
			return 0;
		}
		if (rc > 0) {
			if (!env->is_reply)
				sync_refuse(s, env->call_id);
			cairn__envelope__free_unpacked(env, NULL); /* else a late reply: dropped */
			if (pl)
				evbuffer_free(pl);
			if (evbuffer_get_length(s->out) && (rc = sync_send(s, deadline)) < 0)
				return rc;
			continue;
		}
		uint64_t left = ms_left(deadline, &past);
		if (past)
			return -ETIMEDOUT; /* the request went out whole: the stream stays usable */
		rc = sync_fill(s, left);
		if (rc < 0)
			return rc;
	}
}

int rpc_sync_call(struct rpc_sync *s, Cairn__Envelope *req, struct evbuffer *payload,
		  uint64_t timeout_ms, Cairn__Envelope **reply, struct evbuffer **reply_payload)
{
	*reply = NULL;
	*reply_payload = NULL;
	if (timeout_ms > RPC_SYNC_MAX_TIMEOUT)
		timeout_ms = RPC_SYNC_MAX_TIMEOUT;
	uint64_t deadline = timeout_ms ? time_mono_ms() + timeout_ms : 0;
	uint64_t id = s->next_id++;
	req->call_id = id;
	req->is_reply = 0;
	size_t before = evbuffer_get_length(s->out);
	int rc = frame_encode(s->out, req, payload);
	if (rc < 0)
		return rc;
	if (s->fd < 0) {
		/* Only this frame is kept: whatever was queued belonged to the lost connection. */
		evbuffer_drain(s->out, before);
		if (sync_connect(s, deadline) < 0) {
			evbuffer_drain(s->out, evbuffer_get_length(s->out));
			return -CAIRN_EUNAVAIL;
		}
	}
	rc = sync_send(s, deadline);
	if (rc == 0)
		rc = sync_wait(s, id, deadline, reply, reply_payload);
	if (rc < 0)
		return rc;
	return err_from_status((*reply)->status);
}
