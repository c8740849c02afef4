/*
 * bench/s3: cairn-s3 throughput side by side with the native client.
 *
 *   s3 --meta ADDR --s3 HOST:PORT [--root /s3] [--clients 8] [--objects 4000]
 *      [--seconds 5] [--large 1G] [--runs 3]
 *
 * Needs a cluster (tools/cairn-cluster up) and a gateway on it started
 * without --keys (cairn-s3 --meta ADDR --listen HOST:PORT): requests are
 * plain unsigned HTTP/1.1 on keep-alive connections, one per client thread.
 * Phases: PUT of --objects 64 KiB objects by --clients threads; GETs of
 * them at random for --seconds; then one --large object PUT once and read
 * --runs times both through the gateway (one stream) and natively
 * (libcairn, sequential 1 MiB reads, as bench/throughput's warm read),
 * alternating; medians printed. Everything is printed, nothing asserted;
 * the bucket is removed at the end.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

#define MIB	   (1024 * 1024)
#define SMALL_SIZE (64 * 1024)
#define BUCKET	   "bench-s3"

static const char *s3_host = "127.0.0.1";
static const char *s3_port = "29000";

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "s3 bench: %s\n", what);
	exit(1);
}

struct conn {
	int fd;
	char buf[65536];
	size_t len, off;
};

static void conn_open(struct conn *c)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo(s3_host, s3_port, &hints, &ai) != 0)
		die("cannot resolve --s3");
	c->fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("cannot connect to the gateway");
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->len = c->off = 0;
}

static void send_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			die("send failed");
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

/* Reads one response; the body goes to sink (may be NULL). Returns the status. */
static int read_response(struct conn *c, void (*sink)(const char *, size_t, void *), void *arg)
{
	char *end;
	for (;;) {
		c->buf[c->len] = '\0';
		end = c->off < c->len ? strstr(c->buf + c->off, "\r\n\r\n") : NULL;
		if (end)
			break;
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		ssize_t got = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
		if (got <= 0)
			die("the gateway closed the connection");
		c->len += (size_t)got;
	}
	int status = atoi(c->buf + c->off + 9);
	char *cl = strcasestr(c->buf + c->off, "\r\nContent-Length:");
	uint64_t left = cl && cl < end ? strtoull(cl + 17, NULL, 10) : 0;
	if (status == 304 || status == 204)
		left = 0;
	c->off = (size_t)(end + 4 - c->buf);
	while (left > 0) {
		if (c->off == c->len) {
			c->off = c->len = 0;
			ssize_t got = recv(c->fd, c->buf, sizeof(c->buf) - 1, 0);
			if (got <= 0)
				die("the gateway closed the connection mid-body");
			c->len = (size_t)got;
		}
		size_t k = c->len - c->off < left ? c->len - c->off : (size_t)left;
		if (sink)
			sink(c->buf + c->off, k, arg);
		c->off += k;
		left -= k;
	}
	return status;
}

static int request(struct conn *c, const char *method, const char *path, const void *body,
		   uint64_t len)
{
	char head[512];
	int n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %llu\r\n\r\n",
			 method, path, s3_host, (unsigned long long)len);
	send_all(c->fd, head, (size_t)n);
	if (body && len)
		send_all(c->fd, body, (size_t)len);
	return read_response(c, NULL, NULL);
}

struct worker {
	pthread_t t;
	int id, clients, objects;
	double seconds;
	long done;
	const char *payload;
	int get;
};

static void *small_worker(void *p)
{
	struct worker *w = p;
	struct conn *c = malloc(sizeof(*c));
	conn_open(c);
	char path[128];
	unsigned seed = (unsigned)w->id * 7919u + 1;
	double end = now() + w->seconds;
	for (int i = w->id; w->get ? now() < end : i < w->objects; i += w->clients) {
		int k = w->get ? (int)(rand_r(&seed) % (unsigned)w->objects) : i;
		snprintf(path, sizeof(path), "/" BUCKET "/obj/%d/%d", k % 64, k);
		int st = w->get ? request(c, "GET", path, NULL, 0)
				: request(c, "PUT", path, w->payload, SMALL_SIZE);
		if (st != 200)
			die(w->get ? "GET failed" : "PUT failed");
		w->done++;
	}
	close(c->fd);
	free(c);
	return NULL;
}

static double run_small(int get, int clients, int objects, double seconds, const char *payload)
{
	struct worker *ws = calloc((size_t)clients, sizeof(*ws));
	double t0 = now();
	for (int i = 0; i < clients; i++) {
		ws[i] = (struct worker){.id = i, .clients = clients, .objects = objects,
					.seconds = seconds, .payload = payload, .get = get};
		pthread_create(&ws[i].t, NULL, small_worker, &ws[i]);
	}
	long done = 0;
	for (int i = 0; i < clients; i++) {
		pthread_join(ws[i].t, NULL);
		done += ws[i].done;
	}
	double dt = now() - t0;
	free(ws);
	return done / dt;
}

static void count_sink(const char *p, size_t n, void *arg)
{
	*(uint64_t *)arg += n;
}

static double gateway_read(const char *path, uint64_t size)
{
	struct conn *c = malloc(sizeof(*c));
	conn_open(c);
	char head[512];
	int n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, s3_host);
	uint64_t got = 0;
	double t0 = now();
	send_all(c->fd, head, (size_t)n);
	if (read_response(c, count_sink, &got) != 200 || got != size)
		die("large GET failed");
	double dt = now() - t0;
	close(c->fd);
	free(c);
	return size / dt / MIB;
}

static double native_read(cairn_t *cl, const char *path, uint64_t size, char *buf)
{
	cairn_file_t *f;
	double t0 = now();
	if (cairn_open(cl, path, CAIRN_O_RDONLY, 0, &f) < 0)
		die("native open failed");
	uint64_t total = 0;
	ssize_t n;
	while ((n = cairn_read(f, buf, MIB)) > 0)
		total += (uint64_t)n;
	cairn_close(f);
	if (total != size)
		die("native read short");
	return size / (now() - t0) / MIB;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void large_phase(cairn_t *cl, const char *root, uint64_t size, int runs)
{
	struct conn *c = malloc(sizeof(*c));
	conn_open(c);
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "PUT /" BUCKET "/large HTTP/1.1\r\nHost: %s\r\nContent-Length: %llu\r\n\r\n",
			 s3_host, (unsigned long long)size);
	char *buf = malloc(MIB);
	for (size_t i = 0; i < MIB; i++)
		buf[i] = (char)(i * 131 + 7);
	double t0 = now();
	send_all(c->fd, head, (size_t)n);
	for (uint64_t left = size; left > 0;) {
		size_t k = left < MIB ? (size_t)left : MIB;
		send_all(c->fd, buf, k);
		left -= k;
	}
	if (read_response(c, NULL, NULL) != 200)
		die("large PUT failed");
	printf("large PUT     %8.0f MiB/s  (%llu MiB, one stream)\n", size / (now() - t0) / MIB,
	       (unsigned long long)(size / MIB));
	close(c->fd);
	free(c);
	char path[256];
	snprintf(path, sizeof(path), "%s/" BUCKET "/large", root);
	double *gw = calloc((size_t)runs, sizeof(double)), *nat = calloc((size_t)runs, sizeof(double));
	native_read(cl, path, size, buf); /* warm both the same way */
	for (int i = 0; i < runs; i++) {
		gw[i] = gateway_read("/" BUCKET "/large", size);
		nat[i] = native_read(cl, path, size, buf);
		printf("  run %d: gateway GET %7.0f MiB/s   native read %7.0f MiB/s\n", i + 1, gw[i],
		       nat[i]);
	}
	qsort(gw, (size_t)runs, sizeof(double), cmp_double);
	qsort(nat, (size_t)runs, sizeof(double), cmp_double);
	printf("large GET     %8.0f MiB/s  native %0.f MiB/s  (%.0f%%, medians of %d)\n",
	       gw[runs / 2], nat[runs / 2], 100.0 * gw[runs / 2] / nat[runs / 2], runs);
	free(gw);
	free(nat);
	free(buf);
}

int main(int argc, char **argv)
{
	const char *meta = NULL, *root = "/s3";
	int clients = 8, objects = 4000, runs = 3;
	double seconds = 5;
	uint64_t large = 1024ull * MIB;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--meta") == 0) {
			meta = argv[i + 1];
		} else if (strcmp(argv[i], "--s3") == 0) {
			char *hp = strdup(argv[i + 1]), *colon = strrchr(hp, ':');
			if (!colon)
				die("--s3 HOST:PORT");
			*colon = '\0';
			s3_host = hp;
			s3_port = colon + 1;
		} else if (strcmp(argv[i], "--root") == 0) {
			root = argv[i + 1];
		} else if (strcmp(argv[i], "--clients") == 0) {
			clients = atoi(argv[i + 1]);
		} else if (strcmp(argv[i], "--objects") == 0) {
			objects = atoi(argv[i + 1]);
		} else if (strcmp(argv[i], "--seconds") == 0) {
			seconds = atof(argv[i + 1]);
		} else if (strcmp(argv[i], "--runs") == 0) {
			runs = atoi(argv[i + 1]);
		} else if (strcmp(argv[i], "--large") == 0) {
			large = strtoull(argv[i + 1], NULL, 10) * (strchr(argv[i + 1], 'G') ? 1024 * MIB : MIB);
		} else {
			die("usage: s3 --meta ADDR --s3 HOST:PORT [--root /s3] [--clients 8] "
			    "[--objects 4000] [--seconds 5] [--large 1G|512M] [--runs 3]");
		}
	}
	if (clients < 1 || objects < 1 || runs < 1)
		die("--clients, --objects and --runs must be positive");
	cairn_t *cl;
	if (cairn_connect(meta, NULL, &cl) < 0)
		die("cannot connect to the metaserver");
	struct conn *c = malloc(sizeof(*c));
	conn_open(c);
	int st = request(c, "PUT", "/" BUCKET, NULL, 0);
	if (st != 200 && st != 409)
		die("cannot create the bucket (is the gateway running without --keys?)");
	close(c->fd);
	free(c);
	char *payload = malloc(SMALL_SIZE);
	memset(payload, 'p', SMALL_SIZE);
	printf("cairn-s3 at %s:%s, %d clients, 64 KiB objects\n", s3_host, s3_port, clients);
	printf("PUT           %8.0f objects/s (%d objects)\n",
	       run_small(0, clients, objects, 0, payload), objects);
	printf("GET           %8.0f objects/s (%.0f s)\n", run_small(1, clients, objects, seconds, NULL),
	       seconds);
	large_phase(cl, root, large, runs);
	char path[256];
	snprintf(path, sizeof(path), "%s/" BUCKET, root);
	cairn_remove(cl, path, 1);
	cairn_disconnect(cl);
	free(payload);
	return 0;
}
