/*
 * bench/throughput: data-path throughput through libcairn against a
 * running cluster (start one with tools/cairn-cluster up).
 *
 *   throughput [--meta ADDR] [--size 2G] [--rand-seconds 10] [--files 2000]
 *
 * Phases: sequential write of one file with 1 MiB writes (fsync'ed at the
 * end, included in the time), cold sequential read (page cache dropped
 * first when run as root), warm sequential read, random 4 KiB preads from
 * 1 and 8 threads, then --files files of 64 KiB written and read back.
 * Everything is printed, nothing asserted; the files are removed after.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

#define MIB (1024 * 1024)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "throughput: %s: %s\n", what, cairn_strerror(err));
	exit(1);
}

static void drop_caches(void)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "3\n", 2) != 2)
		printf("  (could not drop the page cache: the cold read is warm)\n");
	if (fd >= 0)
		close(fd);
}

static void seq_write(cairn_t *c, const char *path, uint64_t size)
{
	char *buf = malloc(MIB);
	for (size_t i = 0; i < MIB; i++)
		buf[i] = (char)(i * 7 + 3);
	cairn_file_t *f;
	int rc = cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_TRUNC, 0, &f);
	if (rc < 0)
		die(path, rc);
	double t0 = now();
	for (uint64_t off = 0; off < size; off += MIB) {
		buf[0] = (char)(off / MIB);
		ssize_t n = cairn_write(f, buf, MIB);
		if (n < 0)
			die("write", (int)n);
	}
	double t1 = now();
	if ((rc = cairn_fsync(f)) < 0 || (rc = cairn_close(f)) < 0)
		die("fsync/close", rc);
	double dt = now() - t0;
	printf("sequential write  %7.0f MB/s  (%llu MiB, fsync'ed; the fsync took %.1f s)\n",
	       size / dt / 1e6, (unsigned long long)(size / MIB), now() - t1);
	free(buf);
}

static void seq_read(cairn_t *c, const char *path, uint64_t size, const char *label)
{
	char *buf = malloc(MIB);
	cairn_file_t *f;
	int rc = cairn_open(c, path, CAIRN_O_RDONLY, 0, &f);
	if (rc < 0)
		die(path, rc);
	double t0 = now();
	uint64_t total = 0;
	ssize_t n;
	while ((n = cairn_read(f, buf, MIB)) > 0)
		total += n;
	if (n < 0)
		die("read", (int)n);
	double dt = now() - t0;
	cairn_close(f);
	printf("%-17s %7.0f MB/s%s\n", label, total / dt / 1e6,
	       total == size ? "" : "  (SHORT READ)");
	free(buf);
}

struct rand_job {
	cairn_t *c;
	const char *path;
	uint64_t size;
	double seconds;
	long reads;
	unsigned seed;
};

static void *rand_reads(void *arg)
{
	struct rand_job *j = arg;
	char buf[4096];
	cairn_file_t *f;
	int rc = cairn_open(j->c, j->path, CAIRN_O_RDONLY, 0, &f);
	if (rc < 0)
		die(j->path, rc);
	double end = now() + j->seconds;
	while (now() < end) {
		uint64_t off = ((uint64_t)rand_r(&j->seed) << 31 | rand_r(&j->seed)) %
			       (j->size / 4096) * 4096;
		ssize_t n = cairn_pread(f, buf, sizeof(buf), off);
		if (n != (ssize_t)sizeof(buf))
			die("pread", n < 0 ? (int)n : -EIO);
		j->reads++;
	}
	cairn_close(f);
	return NULL;
}

static void rand_phase(cairn_t *c, const char *path, uint64_t size, int threads, double secs)
{
	struct rand_job jobs[8];
	pthread_t tids[8];
	for (int t = 0; t < threads; t++) {
		jobs[t] = (struct rand_job){c, path, size, secs, 0, (unsigned)t + 1};
		pthread_create(&tids[t], NULL, rand_reads, &jobs[t]);
	}
	long total = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(tids[t], NULL);
		total += jobs[t].reads;
	}
	printf("random 4 KiB read %7.0f reads/s  (%d thread%s)\n", total / secs, threads,
	       threads == 1 ? "" : "s");
}

static void small_files(cairn_t *c, int nfiles)
{
	char path[64], *buf = malloc(65536);
	memset(buf, 'x', 65536);
	cairn_mkdirs(c, "/bench-small", 0);
	double t0 = now();
	for (int i = 0; i < nfiles; i++) {
		cairn_file_t *f;
		snprintf(path, sizeof(path), "/bench-small/f%d", i);
		int rc = cairn_open(c, path, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_TRUNC, 0, &f);
		if (rc < 0 || cairn_write(f, buf, 65536) != 65536 || (rc = cairn_close(f)) < 0)
			die(path, rc ? rc : -EIO);
	}
	double w = now() - t0;
	t0 = now();
	for (int i = 0; i < nfiles; i++) {
		cairn_file_t *f;
		snprintf(path, sizeof(path), "/bench-small/f%d", i);
		int rc = cairn_open(c, path, CAIRN_O_RDONLY, 0, &f);
		if (rc < 0 || cairn_read(f, buf, 65536) != 65536)
			die(path, rc ? rc : -EIO);
		cairn_close(f);
	}
	double r = now() - t0;
	printf("64 KiB files      %7.0f written/s  %7.0f read/s  (%d files)\n", nfiles / w,
	       nfiles / r, nfiles);
	cairn_remove(c, "/bench-small", 1);
	free(buf);
}

static uint64_t parse_size_arg(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	switch (*end) {
	case 'G':
		return v << 30;
	case 'M':
		return v << 20;
	default:
		return v;
	}
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	uint64_t size = 2ull << 30;
	double secs = 10;
	int nfiles = 2000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--meta") == 0)
			addr = argv[i + 1];
		else if (strcmp(argv[i], "--size") == 0)
			size = parse_size_arg(argv[i + 1]);
		else if (strcmp(argv[i], "--rand-seconds") == 0)
			secs = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--files") == 0)
			nfiles = atoi(argv[i + 1]);
	}
	size = size < MIB ? MIB : size / MIB * MIB;
	cairn_t *c;
	int rc = cairn_connect(addr, NULL, &c);
	if (rc == 0)
		rc = cairn_ping(c);
	if (rc < 0)
		die("connect", rc);
	printf("cairn at %s\n", cairn_meta_addr(c));
	const char *path = "/bench-throughput";
	seq_write(c, path, size);
	drop_caches();
	seq_read(c, path, size, "cold read");
	seq_read(c, path, size, "warm read");
	rand_phase(c, path, size, 1, secs);
	rand_phase(c, path, size, 8, secs);
	small_files(c, nfiles);
	cairn_remove(c, path, 0);
	cairn_disconnect(c);
	return 0;
}
