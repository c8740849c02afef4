/*
 * bench/rebalance: how long a cluster takes to rebalance onto two empty
 * chunkservers, how much it moves, and what clients read and write
 * meanwhile (issue 5).
 *
 *   rebalance [--size 1536M] [--chunk-size 64M] [--capacity 4G] [--threshold 10]
 *             [--scan-interval 1s] [--idle-seconds 5] [--keep]
 *
 * Starts its own cluster from the build tree: cairn-meta and three
 * cairn-chunk (next to this program, in ../bin) with --capacity each, on
 * free loopback ports, data and logs under a new dir in $TMPDIR (kept
 * with --keep). It writes --size bytes of 3-replica data (files of 256
 * MiB, 1 MiB writes), then runs one reader (the files in turn, 1 MiB
 * reads) and one writer (four 64 MiB files rewritten in turn, 1 MiB
 * writes, fsync'ed) on the idle cluster for --idle-seconds, starts two
 * empty chunkservers and asks for a rebalance to --threshold, polling it
 * every 200 ms until it reports balanced. It prints the bytes and chunks
 * moved, the time until within the threshold, the spread before and
 * after, and the client throughput during the rebalance against idle.
 * Everything is printed, nothing asserted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

#define MIB	   (1024ull * 1024)
#define NOLD	   3
#define NNEW	   2
#define FILE_SIZE  (256 * MIB)
#define WFILE_SIZE (64 * MIB)
#define WFILES	   4
#define DIR_MAX	   1024

struct opts {
	uint64_t size, chunk_size, capacity;
	uint32_t threshold;
	const char *scan_interval;
	double idle_seconds;
	int keep;
};

/* What the client threads share with the main thread. */
struct load {
	const char *meta;
	int nfiles;
	atomic_ullong read, written, errors;
	atomic_int stop;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "rebalance: %s: %s\n", what, err ? cairn_strerror(err) : strerror(errno));
	exit(1);
}

static uint64_t size_arg(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	int shift = *end == 'G' ? 30 : *end == 'M' ? 20 : *end == 'K' ? 10 : 0;
	return (uint64_t)(v * (double)(1ull << shift));
}

static void loopback_addr(char *buf, size_t size)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) < 0)
		fail("free port", 0);
	close(s);
	snprintf(buf, size, "127.0.0.1:%d", ntohs(sa.sin_port));
}

/* Starts bindir/argv[0] with its output appended to log. */
static pid_t run(const char *bindir, char **argv, const char *log)
{
	char exe[PATH_MAX + 64];
	snprintf(exe, sizeof(exe), "%.*s/%s", PATH_MAX, bindir, argv[0]);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork", 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(exe, argv);
		perror(exe);
		_exit(127);
	}
	return pid;
}

static pid_t start_chunk(const char *bindir, const char *dir, const char *meta, int i,
			 const struct opts *o)
{
	char addr[64], data[DIR_MAX + 32], log[DIR_MAX + 32], cap[32];
	loopback_addr(addr, sizeof(addr));
	snprintf(data, sizeof(data), "%s/chunk%d", dir, i);
	snprintf(log, sizeof(log), "%s/chunk%d.log", dir, i);
	snprintf(cap, sizeof(cap), "%llu", (unsigned long long)o->capacity);
	if (mkdir(data, 0755) < 0)
		fail(data, 0);
	char *argv[] = {"cairn-chunk", "--meta", (char *)meta, "--listen", addr,
			"--data",      data,	 "--capacity", cap,	   NULL};
	return run(bindir, argv, log);
}

static pid_t start_meta(const char *bindir, const char *dir, const struct opts *o, char *addr,
			size_t size)
{
	char http[64], data[DIR_MAX + 32], log[DIR_MAX + 32], csize[32], thr[16];
	loopback_addr(addr, size);
	loopback_addr(http, sizeof(http));
	snprintf(data, sizeof(data), "%s/meta", dir);
	snprintf(log, sizeof(log), "%s/meta.log", dir);
	snprintf(csize, sizeof(csize), "%llu", (unsigned long long)o->chunk_size);
	snprintf(thr, sizeof(thr), "%u", o->threshold);
	char *argv[] = {"cairn-meta",
			"--data",
			data,
			"--listen",
			addr,
			"--http",
			http,
			"--chunk-size",
			csize,
			"--scan-interval",
			(char *)o->scan_interval,
			"--rebalance-threshold",
			thr,
			"--heartbeat",
			"500ms",
			NULL};
	return run(bindir, argv, log);
}

/* Waits until the metaserver lists n chunkservers up. */
static void wait_up(cairn_t *c, int n)
{
	for (double until = now() + 60; now() < until; usleep(100000)) {
		struct cairn_node *v;
		size_t k;
		int up = 0;
		if (cairn_admin_nodes(c, &v, &k) != 0)
			continue;
		for (size_t i = 0; i < k; i++)
			up += v[i].state == CAIRN_NODE_UP;
		cairn_admin_nodes_free(v, k);
		if (up == n)
			return;
	}
	fail("the chunkservers never registered", -ETIMEDOUT);
}

/* Writes path with size bytes in 1 MiB writes, fsync'ed. Returns 0 or an error. */
static int write_file(cairn_t *c, const char *path, uint64_t size, char *buf, atomic_ullong *count)
{
	cairn_file_t *f;
	int rc = cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_TRUNC, 0, &f);
	if (rc < 0)
		return rc;
	for (uint64_t off = 0; off < size; off += MIB) {
		buf[0] = (char)(off / MIB);
		ssize_t n = cairn_write(f, buf, MIB);
		if (n < 0) {
			cairn_close(f);
			return (int)n;
		}
		if (count)
			atomic_fetch_add(count, (unsigned long long)n);
	}
	if ((rc = cairn_fsync(f)) < 0) {
		cairn_close(f);
		return rc;
	}
	return cairn_close(f);
}

static void *reader(void *arg)
{
	struct load *l = arg;
	cairn_t *c;
	char *buf = malloc(MIB), path[64];
	if (!buf || cairn_connect(l->meta, NULL, &c) < 0)
		fail("reader connect", 0);
	for (int i = 0; !atomic_load(&l->stop); i = (i + 1) % l->nfiles) {
		cairn_file_t *f;
		snprintf(path, sizeof(path), "/bench/f%d", i);
		if (cairn_open(c, path, CAIRN_O_RDONLY, 0, &f) < 0) {
			atomic_fetch_add(&l->errors, 1);
			continue;
		}
		ssize_t n = 0;
		while (!atomic_load(&l->stop) && (n = cairn_read(f, buf, MIB)) > 0)
			atomic_fetch_add(&l->read, (unsigned long long)n);
		if (n < 0)
			atomic_fetch_add(&l->errors, 1);
		cairn_close(f);
	}
	cairn_disconnect(c);
	free(buf);
	return NULL;
}

static void *writer(void *arg)
{
	struct load *l = arg;
	struct cairn_options copt = {.replication = 3};
	cairn_t *c;
	char *buf = malloc(MIB), path[64];
	if (!buf || cairn_connect(l->meta, &copt, &c) < 0)
		fail("writer connect", 0);
	memset(buf, 0x5a, MIB);
	for (int i = 0; !atomic_load(&l->stop); i = (i + 1) % WFILES) {
		snprintf(path, sizeof(path), "/bench/w%d", i);
		if (write_file(c, path, WFILE_SIZE, buf, &l->written) < 0)
			atomic_fetch_add(&l->errors, 1);
	}
	cairn_disconnect(c);
	free(buf);
	return NULL;
}

static void usage(int rc)
{
	printf(
	    "usage: rebalance [--size 1536M] [--chunk-size 64M] [--capacity 4G] [--threshold 10]\n"
	    "                 [--scan-interval 1s] [--idle-seconds 5] [--keep]\n"
	    "Starts a metaserver and three chunkservers from ../bin, writes --size bytes of\n"
	    "3-replica data, adds two empty chunkservers and prints the bytes moved, the\n"
	    "time until within the threshold, and client throughput meanwhile against idle.\n");
	exit(rc);
}

static void parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){1536 * MIB, 64 * MIB, 4096 * MIB, 10, "1s", 5.0, 0};
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--keep") == 0) {
			o->keep = 1;
			continue;
		}
		if (strcmp(argv[i], "--help") == 0)
			usage(0);
		if (!v)
			usage(2);
		if (strcmp(argv[i], "--size") == 0)
			o->size = size_arg(v);
		else if (strcmp(argv[i], "--chunk-size") == 0)
			o->chunk_size = size_arg(v);
		else if (strcmp(argv[i], "--capacity") == 0)
			o->capacity = size_arg(v);
		else if (strcmp(argv[i], "--threshold") == 0)
			o->threshold = (uint32_t)atoi(v);
		else if (strcmp(argv[i], "--scan-interval") == 0)
			o->scan_interval = v;
		else if (strcmp(argv[i], "--idle-seconds") == 0)
			o->idle_seconds = atof(v);
		else
			usage(2);
		i++;
	}
}

/* The rebalancer's report (a fresh one: from scan first_scan on, when non-zero). */
static void status(cairn_t *c, int start, struct cairn_rebalance *r)
{
	int rc = cairn_admin_rebalance(c, 0, !start, r);
	if (rc < 0)
		fail("admin rebalance", rc);
}

int main(int argc, char **argv)
{
	struct opts o;
	parse(argc, argv, &o);
	char bindir[PATH_MAX + 16], exe[PATH_MAX], dir[DIR_MAX], meta[64];
	if (!realpath(argv[0], exe))
		fail(argv[0], 0);
	*strrchr(exe, '/') = 0;
	snprintf(bindir, sizeof(bindir), "%s/../bin", exe);
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%.900s/cairn-bench-rebalance-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		fail(dir, 0);
	signal(SIGPIPE, SIG_IGN);

	pid_t pids[1 + NOLD + NNEW];
	pids[0] = start_meta(bindir, dir, &o, meta, sizeof(meta));
	for (int i = 0; i < NOLD; i++)
		pids[1 + i] = start_chunk(bindir, dir, meta, i, &o);
	cairn_t *c;
	struct cairn_options copt = {.timeout_ms = 20000, .replication = 3};
	if (cairn_connect(meta, &copt, &c) < 0)
		fail("connect", 0);
	wait_up(c, NOLD);
	printf("cluster: cairn-meta %s, %d chunkservers of %.1f GiB, chunk size %llu MiB, "
	       "threshold %u points, --scan-interval %s; data in %s\n",
	       meta, NOLD, (double)o.capacity / (1024.0 * MIB),
	       (unsigned long long)(o.chunk_size / MIB), o.threshold, o.scan_interval, dir);
	int rc = cairn_mkdirs(c, "/bench", 0);
	if (rc < 0)
		fail("mkdir /bench", rc);
	int nfiles = (int)((o.size + FILE_SIZE - 1) / FILE_SIZE);
	char *buf = malloc(MIB), path[64];
	for (size_t i = 0; buf && i < MIB; i++)
		buf[i] = (char)(i * 13 + 7);
	double t0 = now();
	for (int i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "/bench/f%d", i);
		if ((rc = write_file(c, path, FILE_SIZE, buf, NULL)) < 0)
			fail(path, rc);
	}
	printf("wrote %d files of %llu MiB, 3 replicas each: %.1f s\n", nfiles,
	       (unsigned long long)(FILE_SIZE / MIB), now() - t0);
	free(buf);

	struct load l = {.meta = meta, .nfiles = nfiles};
	pthread_t rt, wt;
	pthread_create(&rt, NULL, reader, &l);
	pthread_create(&wt, NULL, writer, &l);
	usleep(1000000); /* warm up */
	unsigned long long r0 = atomic_load(&l.read), w0 = atomic_load(&l.written);
	t0 = now();
	usleep((useconds_t)(o.idle_seconds * 1e6));
	double dt = now() - t0;
	double idle_r = (double)(atomic_load(&l.read) - r0) / dt / 1e6;
	double idle_w = (double)(atomic_load(&l.written) - w0) / dt / 1e6;
	printf("idle: reads %.0f MB/s, writes %.0f MB/s (one reader, one writer)\n", idle_r,
	       idle_w);

	struct cairn_rebalance rb;
	status(c, 0, &rb);
	uint64_t moved0 = rb.chunks_moved, bytes0 = rb.bytes_moved;
	for (int i = 0; i < NNEW; i++)
		pids[1 + NOLD + i] = start_chunk(bindir, dir, meta, NOLD + i, &o);
	t0 = now();
	r0 = atomic_load(&l.read);
	w0 = atomic_load(&l.written);
	wait_up(c, NOLD + NNEW);
	double t_up = now() - t0;
	status(c, 1, &rb);
	uint64_t first = rb.first_scan;
	double before = -1;
	while (now() - t0 < 900) {
		usleep(200000);
		status(c, 0, &rb);
		if (rb.scan >= first && before < 0)
			before = rb.spread;
		if (rb.scan >= first && (rb.balanced || rb.blocked))
			break;
	}
	double took = now() - t0;
	double dur_r = (double)(atomic_load(&l.read) - r0) / took / 1e6;
	double dur_w = (double)(atomic_load(&l.written) - w0) / took / 1e6;
	atomic_store(&l.stop, 1);
	pthread_join(rt, NULL);
	pthread_join(wt, NULL);
	printf("two empty chunkservers joined (up after %.1f s); %s after %.1f s: %llu chunks, "
	       "%.0f MiB moved (%.0f MB/s); spread %.1f -> %.1f points around %.1f%%\n",
	       t_up,
	       rb.balanced  ? "within the threshold"
	       : rb.blocked ? "BLOCKED"
			    : "NOT balanced",
	       took, (unsigned long long)(rb.chunks_moved - moved0),
	       (double)(rb.bytes_moved - bytes0) / MIB,
	       (double)(rb.bytes_moved - bytes0) / took / 1e6, before, rb.spread, rb.mean);
	printf("during the rebalance: reads %.0f MB/s (%.0f%% of idle), writes %.0f MB/s (%.0f%% "
	       "of idle); client errors: %llu\n",
	       dur_r, 100.0 * dur_r / idle_r, dur_w, 100.0 * dur_w / idle_w,
	       (unsigned long long)atomic_load(&l.errors));
	cairn_disconnect(c);
	for (int i = 1 + NOLD + NNEW; i-- > 0;)
		kill(pids[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	if (!o.keep) {
		char cmd[DIR_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "rebalance: could not remove %s\n", dir);
	}
	return 0;
}
