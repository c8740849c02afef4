/*
 * cairn-s3: the S3 gateway process. Flags, the listener and the workers.
 *
 * Threads: the main thread accepts connections and queues them; a fixed
 * pool of --workers threads each takes one connection and serves its
 * requests one after another with blocking I/O until the client closes it
 * or it idles past --idle. libcairn's calls block the calling thread (the
 * library's own thread runs the protocol), so there is no event loop here
 * to keep from blocking: a slow client or a slow cluster ties up one worker,
 * never the others. Memory is bounded per worker: a 32 KiB head buffer and
 * one S3_IO_BUF buffer that bodies stream through. Connections beyond the
 * queue's size are closed at once.
 *
 * Stateless: everything lives in cairn (see s3.h), so several gateways can
 * serve the same --root behind a load balancer.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "config.h"
#include "log.h"
#include "s3.h"
#include "util.h"

#define S3_QUEUE_MAX 1024
#define S3_YIELD_MS  100 /* an idle keep-alive connection yields its worker after this */

struct s3_options {
	char *config;
	char *meta;
	char *listen;
	char *root;
	char *public_buckets;
	char *keys;
	char *tls_cert;
	char *tls_key;
	int64_t workers;
	uint64_t timeout_ms;
	uint64_t idle_ms;
	int log_level;
};

#define OPT(f) offsetof(struct s3_options, f)

static const struct config_opt s3_config[] = {
    {"config", CONFIG_STRING, NULL, 0, 0, 0, OPT(config), "read settings from FILE"},
    {"meta", CONFIG_STRING, NULL, 0, 0, 0, OPT(meta), "metaserver HOST:PORT[,HOST:PORT...] (libcairn's default: $CAIRN_META)"},
    {"listen", CONFIG_ADDR, "127.0.0.1:29000", 0, 0, 0, OPT(listen), "address for S3 clients"},
    {"root", CONFIG_STRING, "/s3", 0, 0, 0, OPT(root), "cairn directory whose subdirectories are the buckets"},
    {"public", CONFIG_STRING, NULL, 0, 0, 0, OPT(public_buckets), "BUCKET,... readable (GET/HEAD) without a signature"},
    {"keys", CONFIG_STRING, NULL, 0, 0, 0, OPT(keys), "file of \"ACCESS_KEY_ID SECRET\" lines (none: no authentication, loopback only)"},
    {"tls-cert", CONFIG_STRING, NULL, 0, 0, 0, OPT(tls_cert), "serve HTTPS with this certificate (PEM chain)"},
    {"tls-key", CONFIG_STRING, NULL, 0, 0, 0, OPT(tls_key), "private key of --tls-cert (PEM)"},
    {"workers", CONFIG_INT, "64", 0, 1, 4096, OPT(workers), "connections served at once (one thread each)"},
    {"timeout", CONFIG_DURATION, "60s", 0, 100, 86400000, OPT(timeout_ms), "bound on each cairn call, retries included"},
    {"idle", CONFIG_DURATION, "60s", 0, 100, 86400000, OPT(idle_ms), "close a connection silent this long"},
    {"log-level", CONFIG_LEVEL, "info", 0, 0, 0, OPT(log_level), "debug, info, warn or error"},
    CONFIG_END,
};

/* The accepted connections waiting for a worker. */
struct conn_queue {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	int fds[S3_QUEUE_MAX];
	size_t head, count;
	int stopping;
};

struct worker_arg {
	struct s3_gw *gw;
	struct conn_queue *queue;
	uint64_t idle_ms;
};

static volatile sig_atomic_t s3_stop;

static void on_signal(int sig)
{
	s3_stop = 1;
}

static void set_timeouts(int fd, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Serves one connection's requests until it closes. */
/* Whether connections wait for a worker. */
static int queue_waiting(struct conn_queue *cq)
{
	pthread_mutex_lock(&cq->lock);
	int waiting = cq->count > 0;
	pthread_mutex_unlock(&cq->lock);
	return waiting;
}

/*
 * Waits for the next request on an idle keep-alive connection: up to
 * idle_ms, or S3_YIELD_MS while other connections wait for a worker (an
 * idle client then loses its connection, as HTTP allows, rather than
 * holding a worker others need). Returns whether to read a request.
 */
static int next_request_ready(struct http_conn *c, struct conn_queue *cq, uint64_t idle_ms)
{
	if (c->off < c->len || (c->ssl && SSL_pending(c->ssl) > 0))
		return 1;
	for (uint64_t waited = 0; waited < idle_ms; waited += S3_YIELD_MS) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int rc = poll(&p, 1, S3_YIELD_MS);
		if (rc != 0)
			return rc > 0 || errno == EINTR;
		if (queue_waiting(cq) || s3_stop)
			return 0;
	}
	return 0;
}

static void serve_conn(struct s3_gw *gw, struct conn_queue *cq, int fd, char *buf,
		       uint64_t idle_ms)
{
	struct http_conn *conn = xmalloc(sizeof(*conn));
	SSL *ssl = NULL;
	set_timeouts(fd, idle_ms);
	if (gw->tls) {
		ssl = SSL_new(gw->tls);
		if (!ssl || !SSL_set_fd(ssl, fd) || SSL_accept(ssl) <= 0) {
			log_debug("TLS handshake failed");
			SSL_free(ssl);
			close(fd);
			free(conn);
			return;
		}
	}
	http_conn_init(conn, fd, ssl);
	for (int n = 0;; n++) {
		struct http_req r;
		if (n > 0 && !next_request_ready(conn, cq, idle_ms))
			break;
		int rc = http_read_request(conn, &r);
		struct s3_req q = {.gw = gw, .conn = conn, .http = &r, .buf = buf};
		snprintf(r.id, sizeof(r.id), "%08llX%08llX", (unsigned long long)(gw->boot & 0xffffffff),
			 (unsigned long long)__atomic_add_fetch(&gw->requests, 1, __ATOMIC_RELAXED));
		if (rc == -EBADMSG) {
			r.keepalive = 0;
			s3_error(&q, 400, "BadRequest", "The HTTP request could not be parsed.");
		} else if (rc == 0) {
			s3_serve(&q);
			if (!q.responded)
				s3_error(&q, 500, "InternalError", "no response");
		}
		int again = rc == 0 && r.keepalive && !q.close && !s3_stop &&
			    http_body_finish(conn, &r) == 0;
		free(q.bucket);
		free(q.key);
		http_req_free(&r);
		if (!again)
			break;
	}
	http_conn_close(conn);
	free(conn);
}

static void *worker_main(void *p)
{
	struct worker_arg *w = p;
	struct conn_queue *cq = w->queue;
	char *buf = xmalloc(S3_IO_BUF);
	for (;;) {
		pthread_mutex_lock(&cq->lock);
		while (cq->count == 0 && !cq->stopping)
			pthread_cond_wait(&cq->ready, &cq->lock);
		if (cq->count == 0) {
			pthread_mutex_unlock(&cq->lock);
			break;
		}
		int fd = cq->fds[cq->head];
		cq->head = (cq->head + 1) % S3_QUEUE_MAX;
		cq->count--;
		pthread_mutex_unlock(&cq->lock);
		serve_conn(w->gw, cq, fd, buf, w->idle_ms);
	}
	free(buf);
	return NULL;
}

/* Binds and listens on addr. Returns the socket or -1 with a new *cause. */
static int listen_on(const char *addr, char **cause)
{
	char *host;
	uint16_t port;
	if (addr_parse(addr, &host, &port) < 0)
		return -1;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char ports[8];
	snprintf(ports, sizeof(ports), "%u", port);
	int rc = getaddrinfo(host, ports, &hints, &ai);
	free(host);
	if (rc != 0) {
		*cause = xasprintf("--listen %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		*cause = xasprintf("cannot listen on %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "localhost:", 10) == 0 ||
	       strncmp(addr, "[::1]:", 6) == 0;
}

/* Sets up gw from opts. Returns 0 or -1 with a new *cause. */
static int gw_init(struct s3_gw *gw, const struct s3_options *o, char **cause)
{
	struct cairn_options co = {.timeout_ms = o->timeout_ms};
	int rc = cairn_connect(o->meta, &co, &gw->c);
	if (rc == -EINVAL && o->meta && strchr(o->meta, ',')) {
		char *first = xstrdup(o->meta);
		*strchr(first, ',') = '\0';
		log_warn("this libcairn takes one metaserver address: using %s", first);
		rc = cairn_connect(first, &co, &gw->c);
		free(first);
	}
	if (rc < 0) {
		*cause =
		    xasprintf("--meta %s: %s", o->meta ? o->meta : "(default)", cairn_strerror(rc));
		return -1;
	}
	gw->root = xstrdup(o->root);
	size_t n = strlen(gw->root);
	while (n > 1 && gw->root[n - 1] == '/')
		gw->root[--n] = '\0';
	if (gw->root[0] != '/' || strcmp(gw->root, "/") == 0) {
		*cause = xasprintf("--root %s: must be an absolute path below /", o->root);
		return -1;
	}
	if (o->public_buckets) {
		char *list = xstrdup(o->public_buckets), *save = NULL;
		for (char *b = strtok_r(list, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
			gw->public_buckets =
			    xrealloc(gw->public_buckets, (gw->npublic + 1) * sizeof(char *));
			gw->public_buckets[gw->npublic++] = xstrdup(b);
		}
		free(list);
	}
	if (o->keys && auth_load(o->keys, &gw->auth, cause) < 0)
		return -1;
	if (!o->keys && !is_loopback(o->listen)) {
		*cause = xasprintf("--listen %s is not loopback: give --keys", o->listen);
		return -1;
	}
	if (!o->keys)
		log_warn("no --keys: every request is allowed without a signature");
	if (!!o->tls_cert != !!o->tls_key) {
		*cause = xstrdup("--tls-cert and --tls-key go together");
		return -1;
	}
	if (o->tls_cert) {
		gw->tls = SSL_CTX_new(TLS_server_method());
		if (!gw->tls || !SSL_CTX_set_min_proto_version(gw->tls, TLS1_2_VERSION) ||
		    SSL_CTX_use_certificate_chain_file(gw->tls, o->tls_cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(gw->tls, o->tls_key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(gw->tls) != 1) {
			char err[256];
			ERR_error_string_n(ERR_get_error(), err, sizeof(err));
			*cause = xasprintf("TLS: %s", err);
			return -1;
		}
	}
	gw->cache = obj_cache_new();
	RAND_bytes((unsigned char *)&gw->boot, sizeof(gw->boot));
	return 0;
}

static void gw_free(struct s3_gw *gw)
{
	cairn_disconnect(gw->c);
	free(gw->root);
	for (size_t i = 0; i < gw->npublic; i++)
		free(gw->public_buckets[i]);
	free(gw->public_buckets);
	auth_free(gw->auth);
	if (gw->tls)
		SSL_CTX_free(gw->tls);
	obj_cache_free(gw->cache);
}

/* Accepts until a signal; queues each connection. */
static void accept_loop(int lfd, struct conn_queue *cq)
{
	while (!s3_stop) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			continue;
		}
		pthread_mutex_lock(&cq->lock);
		if (cq->count == S3_QUEUE_MAX) {
			pthread_mutex_unlock(&cq->lock);
			close(fd);
			continue;
		}
		cq->fds[(cq->head + cq->count) % S3_QUEUE_MAX] = fd;
		cq->count++;
		pthread_cond_signal(&cq->ready);
		pthread_mutex_unlock(&cq->lock);
	}
}

int main(int argc, char **argv)
{
	struct s3_options opts = {0};
	char *cause = NULL;
	int rc = config_parse(s3_config, &opts, argc, argv, "cairn-s3",
			      "The cairn S3 gateway: buckets and objects over HTTP.", &cause);
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "cairn-s3: %s\n", cause ? cause : "bad arguments");
		free(cause);
		config_free(s3_config, &opts);
		return rc < 0 ? 2 : 0;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Only the accepting thread takes the signals (threads inherit this mask). */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	struct s3_gw gw = {0};
	int lfd = -1;
	if (gw_init(&gw, &opts, &cause) < 0 || (lfd = listen_on(opts.listen, &cause)) < 0) {
		log_error("cairn-s3: %s", cause ? cause : "cannot start");
		free(cause);
		gw_free(&gw);
		config_free(s3_config, &opts);
		return 1;
	}
	struct conn_queue cq = {.lock = PTHREAD_MUTEX_INITIALIZER,
				.ready = PTHREAD_COND_INITIALIZER};
	struct worker_arg wa = {.gw = &gw, .queue = &cq, .idle_ms = opts.idle_ms};
	size_t nworkers = (size_t)opts.workers;
	pthread_t *threads = xcalloc(nworkers, sizeof(*threads));
	for (size_t i = 0; i < nworkers; i++)
		CAIRN_ASSERT(pthread_create(&threads[i], NULL, worker_main, &wa) == 0);
	log_info("cairn-s3 listening on %s%s, buckets under %s", opts.listen,
		 gw.tls ? " (TLS)" : "", gw.root);
	pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
	accept_loop(lfd, &cq);
	close(lfd);
	log_info("cairn-s3 stopping");
	pthread_mutex_lock(&cq.lock);
	cq.stopping = 1;
	pthread_cond_broadcast(&cq.ready);
	pthread_mutex_unlock(&cq.lock);
	/* Workers finish their request in flight; idle connections end at --idle, so do not wait. */
	_exit(0);
}
