/*
 * bench/heal: how long a cluster takes to heal after a chunkserver is
 * lost for good, and what clients read meanwhile (issue 4).
 *
 *   heal [--size 2G] [--chunk-size 64M] [--dead-after 2s] [--scan-interval 1s]
 *        [--heartbeat 500ms] [--readers 1] [--idle-seconds 5] [--keep]
 *
 * Starts its own cluster from the build tree: cairn-meta and four
 * cairn-chunk (next to this program, in ../bin) on free loopback ports,
 * with data and logs under a new dir in $TMPDIR (kept with --keep). It
 * writes --size bytes of 3-replica data (files of 256 MiB, 1 MiB writes,
 * fsync'ed), reads them back in a loop with --readers threads on an idle
 * cluster for --idle-seconds, then kill -9's the chunkserver holding the
 * most replicas while the readers go on, and polls fsck every 100 ms.
 * It prints the time until the metaserver declared the node dead (fsck
 * not HEALTHY), the time until fsck is HEALTHY again, the read throughput
 * while healing against idle, and the longest single read. Everything is
 * printed, nothing asserted.
 */
#include <errno.h>
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
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

#define MIB	  (1024ull * 1024)
#define NCHUNK	  4
#define FILE_SIZE (256 * MIB)
#define DIR_MAX	  1024 /* bytes of the bench's temp dir path */

struct opts {
	uint64_t size, chunk_size;
	const char *dead_after, *scan_interval, *heartbeat;
	int readers;
	double idle_seconds;
	int keep;
};

struct proc {
	pid_t pid;
	char addr[64];
};

/* What the readers share with the main thread. */
struct readers {
	const char *meta;
	int nfiles;
	atomic_ullong bytes;
	atomic_ullong errors;
	atomic_int stop;
	atomic_int next;	    /* the next reader's first file */
	atomic_llong watch_from_us; /* reads starting after this count for max_us */
	atomic_llong max_us;	    /* the longest read since watch_from_us */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long now_us(void)
{
	return (long long)(now() * 1e6);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "heal: %s: %s\n", what, err ? cairn_strerror(err) : strerror(errno));
	exit(1);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	switch (*end) {
	case 'G':
	case 'g':
		v *= 1024;
		/* fall through */
	case 'M':
	case 'm':
		v *= 1024;
		/* fall through */
	case 'K':
	case 'k':
		v *= 1024;
	}
	return (uint64_t)v;
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &len) < 0)
		die("free port", 0);
	close(s);
	return ntohs(sa.sin_port);
}

/* Runs argv (argv[0] a program in bindir) with its output to log; returns its pid. */
static pid_t spawn(const char *bindir, char **argv, const char *log)
{
	char exe[PATH_MAX + 64];
	snprintf(exe, sizeof(exe), "%.*s/%s", PATH_MAX, bindir, argv[0]);
	pid_t pid = fork();
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
	if (pid < 0)
		die("fork", 0);
	return pid;
}

static void start_cluster(const char *bindir, const char *dir, const struct opts *o,
			  struct proc *meta, struct proc *chunks)
{
	char data[DIR_MAX + 32], http[64], log[DIR_MAX + 32], csize[32];
	snprintf(meta->addr, sizeof(meta->addr), "127.0.0.1:%d", free_port());
	snprintf(http, sizeof(http), "127.0.0.1:%d", free_port());
	snprintf(data, sizeof(data), "%s/meta", dir);
	snprintf(log, sizeof(log), "%s/meta.log", dir);
	snprintf(csize, sizeof(csize), "%llu", (unsigned long long)o->chunk_size);
	char *margv[] = {"cairn-meta",
			 "--data",
			 data,
			 "--listen",
			 meta->addr,
			 "--http",
			 http,
			 "--chunk-size",
			 csize,
			 "--heartbeat",
			 (char *)o->heartbeat,
			 "--dead-after",
			 (char *)o->dead_after,
			 "--scan-interval",
			 (char *)o->scan_interval,
			 NULL};
	meta->pid = spawn(bindir, margv, log);
	for (int i = 0; i < NCHUNK; i++) {
		snprintf(chunks[i].addr, sizeof(chunks[i].addr), "127.0.0.1:%d", free_port());
		snprintf(data, sizeof(data), "%s/chunk%d", dir, i);
		snprintf(log, sizeof(log), "%s/chunk%d.log", dir, i);
		if (mkdir(data, 0755) < 0)
			die(data, 0);
		char *cargv[] = {"cairn-chunk",	 "--meta", meta->addr, "--listen",
				 chunks[i].addr, "--data", data,       NULL};
		chunks[i].pid = spawn(bindir, cargv, log);
	}
}

/* Waits until the metaserver lists n chunkservers up. */
static void wait_nodes(cairn_t *c, int n)
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
	die("the chunkservers never registered", -ETIMEDOUT);
}

static void write_data(cairn_t *c, const struct opts *o, int nfiles)
{
	char *buf = malloc(MIB), path[64];
	for (size_t i = 0; i < MIB; i++)
		buf[i] = (char)(i * 13 + 7);
	double t0 = now();
	for (int i = 0; i < nfiles; i++) {
		cairn_file_t *f;
		snprintf(path, sizeof(path), "/heal/f%d", i);
		int rc = cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_TRUNC, 0, &f);
		if (rc < 0)
			die(path, rc);
		for (uint64_t off = 0; off < FILE_SIZE; off += MIB) {
			buf[0] = (char)(off / MIB + (uint64_t)i);
			ssize_t n = cairn_write(f, buf, MIB);
			if (n < 0)
				die("write", (int)n);
		}
		if ((rc = cairn_fsync(f)) < 0 || (rc = cairn_close(f)) < 0)
			die("fsync/close", rc);
	}
	double dt = now() - t0;
	printf("wrote %d files of %llu MiB, 3 replicas each: %.1f s (%.0f MB/s)\n", nfiles,
	       (unsigned long long)(FILE_SIZE / MIB), dt, (double)nfiles * FILE_SIZE / dt / 1e6);
	free(buf);
}

/* One reader: reads the files in turn, 1 MiB at a time, until told to stop. */
static void *reader(void *arg)
{
	struct readers *r = arg;
	cairn_t *c;
	char *buf = malloc(MIB), path[64];
	if (cairn_connect(r->meta, NULL, &c) < 0)
		die("connect", 0);
	for (int i = atomic_fetch_add(&r->next, 1) % r->nfiles; !atomic_load(&r->stop);
	     i = (i + 1) % r->nfiles) {
		cairn_file_t *f;
		snprintf(path, sizeof(path), "/heal/f%d", i);
		if (cairn_open(c, path, CAIRN_O_RDONLY, 0, &f) < 0) {
			atomic_fetch_add(&r->errors, 1);
			continue;
		}
		while (!atomic_load(&r->stop)) {
			long long t0 = now_us();
			ssize_t n = cairn_read(f, buf, MIB);
			long long took = now_us() - t0;
			if (t0 >= atomic_load(&r->watch_from_us) && took > atomic_load(&r->max_us))
				atomic_store(&r->max_us, took);
			if (n <= 0) {
				if (n < 0)
					atomic_fetch_add(&r->errors, 1);
				break;
			}
			atomic_fetch_add(&r->bytes, (unsigned long long)n);
		}
		cairn_close(f);
	}
	cairn_disconnect(c);
	free(buf);
	return NULL;
}

/* The fsck status now, or -1 when the call failed. */
static int fsck_status(cairn_t *c)
{
	struct cairn_fsck *f;
	if (cairn_admin_fsck(c, "/", &f) != 0)
		return -1;
	int s = f->status;
	cairn_admin_fsck_free(f);
	return s;
}

/* The chunkserver the metaserver records the most replicas on; *bytes gets its used bytes. */
static int fullest(cairn_t *c, const struct proc *chunks, uint64_t *bytes, uint64_t *nrep)
{
	struct cairn_node *v;
	size_t n;
	int rc = cairn_admin_nodes(c, &v, &n), best = -1;
	if (rc < 0)
		die("admin nodes", rc);
	for (size_t i = 0; i < n; i++) {
		for (int j = 0; j < NCHUNK; j++) {
			if (strcmp(v[i].addr, chunks[j].addr) != 0 ||
			    (best >= 0 && v[i].chunks <= *nrep))
				continue;
			best = j;
			*nrep = v[i].chunks;
			*bytes = v[i].used;
		}
	}
	cairn_admin_nodes_free(v, n);
	return best;
}

static void usage(void)
{
	printf("usage: heal [--size 2G] [--chunk-size 64M] [--dead-after 2s] [--scan-interval 1s]\n"
	       "            [--heartbeat 500ms] [--readers 1] [--idle-seconds 5] [--keep]\n"
	       "Starts a metaserver and four chunkservers from ../bin (free ports, data in\n"
	       "$TMPDIR), writes --size bytes of 3-replica data, kill -9's the chunkserver\n"
	       "holding the most replicas while readers read, and prints the time until fsck\n"
	       "is HEALTHY again and the read throughput while healing against idle.\n");
}

static void parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){2048 * MIB, 64 * MIB, "2s", "1s", "500ms", 1, 5.0, 0};
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--keep") == 0) {
			o->keep = 1;
			continue;
		}
		if (strcmp(argv[i], "--help") == 0 || !v) {
			usage();
			exit(strcmp(argv[i], "--help") == 0 ? 0 : 2);
		}
		if (strcmp(argv[i], "--size") == 0)
			o->size = parse_size(v);
		else if (strcmp(argv[i], "--chunk-size") == 0)
			o->chunk_size = parse_size(v);
		else if (strcmp(argv[i], "--dead-after") == 0)
			o->dead_after = v;
		else if (strcmp(argv[i], "--scan-interval") == 0)
			o->scan_interval = v;
		else if (strcmp(argv[i], "--heartbeat") == 0)
			o->heartbeat = v;
		else if (strcmp(argv[i], "--readers") == 0)
			o->readers = atoi(v) > 0 ? atoi(v) : 1;
		else if (strcmp(argv[i], "--idle-seconds") == 0)
			o->idle_seconds = atof(v);
		else {
			usage();
			exit(2);
		}
		i++;
	}
}

/* Reads for secs seconds; returns MB/s. */
static double measure(struct readers *r, double secs)
{
	unsigned long long b0 = atomic_load(&r->bytes);
	double t0 = now();
	usleep((useconds_t)(secs * 1e6));
	return (double)(atomic_load(&r->bytes) - b0) / (now() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	struct opts o;
	parse(argc, argv, &o);
	char bindir[PATH_MAX + 16], exe[PATH_MAX], dir[DIR_MAX];
	if (!realpath(argv[0], exe))
		die(argv[0], 0);
	*strrchr(exe, '/') = 0;
	snprintf(bindir, sizeof(bindir), "%s/../bin", exe);
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%.900s/cairn-bench-heal-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die(dir, 0);
	signal(SIGPIPE, SIG_IGN);

	struct proc meta, chunks[NCHUNK];
	start_cluster(bindir, dir, &o, &meta, chunks);
	cairn_t *c;
	struct cairn_options copt = {.timeout_ms = 20000, .replication = 3};
	if (cairn_connect(meta.addr, &copt, &c) < 0)
		die("connect", 0);
	wait_nodes(c, NCHUNK);
	printf("cluster: cairn-meta %s, 4 chunkservers, chunk size %llu MiB, --heartbeat %s "
	       "--dead-after %s --scan-interval %s; data in %s\n",
	       meta.addr, (unsigned long long)(o.chunk_size / MIB), o.heartbeat, o.dead_after,
	       o.scan_interval, dir);
	int rc = cairn_mkdirs(c, "/heal", 0);
	if (rc < 0)
		die("mkdir /heal", rc);
	int nfiles = (int)((o.size + FILE_SIZE - 1) / FILE_SIZE);
	write_data(c, &o, nfiles);

	struct readers r = {.meta = meta.addr, .nfiles = nfiles};
	atomic_store(&r.watch_from_us, LLONG_MAX);
	pthread_t *tids = calloc((size_t)o.readers, sizeof(*tids));
	for (int i = 0; i < o.readers; i++)
		pthread_create(&tids[i], NULL, reader, &r);
	measure(&r, 1.0); /* warm up */
	double idle = measure(&r, o.idle_seconds);
	printf("idle: %d reader%s %.0f MB/s\n", o.readers, o.readers == 1 ? "" : "s", idle);

	uint64_t used = 0, nrep = 0;
	int victim = fullest(c, chunks, &used, &nrep);
	if (victim < 0)
		die("no chunkserver to kill", -ENOENT);
	atomic_store(&r.watch_from_us, now_us());
	double t0 = now(), t_dead = 0, t_healthy = 0;
	kill(chunks[victim].pid, SIGKILL);
	waitpid(chunks[victim].pid, NULL, 0);
	printf("killed %s (kill -9): %llu replicas, %.0f MiB\n", chunks[victim].addr,
	       (unsigned long long)nrep, (double)used / MIB);
	unsigned long long b_dead = 0;
	while (now() - t0 < 600) {
		int s = fsck_status(c);
		double t = now();
		if (!t_dead && s > CAIRN_FSCK_HEALTHY) {
			t_dead = t;
			b_dead = atomic_load(&r.bytes);
		} else if (t_dead && s == CAIRN_FSCK_HEALTHY) {
			t_healthy = t;
			break;
		}
		usleep(100000);
	}
	unsigned long long b_healthy = atomic_load(&r.bytes);
	atomic_store(&r.stop, 1);
	for (int i = 0; i < o.readers; i++)
		pthread_join(tids[i], NULL);
	if (!t_healthy) {
		printf("not HEALTHY again within 600 s\n");
	} else {
		double heal = t_healthy - t_dead;
		double during = (double)(b_healthy - b_dead) / heal / 1e6;
		printf("declared dead after %.1f s; HEALTHY %.1f s later (%.1f s after the kill): "
		       "%.0f MB/s re-replicated\n",
		       t_dead - t0, heal, t_healthy - t0, (double)used / heal / 1e6);
		printf("reads while healing: %.0f MB/s, %.0f%% of idle\n", during,
		       100.0 * during / idle);
	}
	printf("longest read after the kill: %.3f s; read errors: %llu\n",
	       (double)atomic_load(&r.max_us) / 1e6, (unsigned long long)atomic_load(&r.errors));
	cairn_disconnect(c);
	for (int i = 0; i < NCHUNK; i++)
		if (i != victim)
			kill(chunks[i].pid, SIGTERM);
	kill(meta.pid, SIGTERM);
	while (wait(NULL) > 0)
		;
	if (!o.keep) {
		char cmd[DIR_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "heal: could not remove %s\n", dir);
	}
	free(tids);
	return 0;
}
