/*
 * failover_io: streams one file through libcairn (cairn.h only) while a
 * test kills, stops or restarts servers around it, and checks every byte.
 *
 *   failover_io read  META REMOTE LOCAL [PAUSE_AT] [TIMEOUT_MS]
 *   failover_io write META REMOTE LOCAL [PAUSE_AT] [TIMEOUT_MS]
 *
 * read: reads REMOTE in 768 KiB cairn_read() calls and compares it with
 * the local file LOCAL. write: writes the bytes of LOCAL to REMOTE (created
 * or truncated) in 768 KiB cairn_write() calls, then closes it. (768 KiB:
 * calls that straddle 1 MiB chunks, so a pause can leave a new chunk
 * allocated with its first bytes still buffered.) Both print
 * "at N" (N bytes done) after every STEP_REPORT bytes, flushed, so a test
 * can time a kill while the stream runs; at byte PAUSE_AT (when given and
 * not 0) they print "paused N" and wait for a line on standard input
 * before going on. At the end: "ok bytes=N max_stall_ms=M", where M is
 * the longest single read or write call (close included), and exit 0; on
 * the first failure a line on stderr and exit 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn.h"

#define STEP	    (768u << 10)
#define STEP_REPORT (2u << 20)

static const char *mode;

static void fail(cairn_t *c, const char *what, long long rc)
{
	fprintf(stderr, "failover_io %s: %s: %s (%s)\n", mode, what,
		rc < 0 ? cairn_strerror((int)rc) : "wrong result", c ? cairn_last_error(c) : "");
	exit(1);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/* The whole of a local file, in a new buffer. */
static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	if (!fp || fseek(fp, 0, SEEK_END) < 0) {
		fprintf(stderr, "failover_io: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	long len = ftell(fp);
	rewind(fp);
	unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
	if (!buf || len < 0 || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		fprintf(stderr, "failover_io: %s: cannot read it\n", path);
		exit(1);
	}
	fclose(fp);
	*n = (size_t)len;
	return buf;
}

/* Reports progress; at pause_at, waits for a line on stdin. */
static void progress(size_t done, size_t prev, size_t pause_at)
{
	if (done / STEP_REPORT != prev / STEP_REPORT)
		printf("at %zu\n", done);
	if (pause_at && prev < pause_at && done >= pause_at) {
		char line[64];
		printf("paused %zu\n", done);
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin)) {
			fprintf(stderr, "failover_io: no go-ahead on stdin\n");
			exit(1);
		}
	}
	fflush(stdout);
}

static size_t do_read(cairn_t *c, const char *remote, const unsigned char *want, size_t n,
		      size_t pause_at, unsigned long long *stall)
{
	cairn_file_t *f;
	int err = cairn_open(c, remote, CAIRN_O_RDONLY, 0, &f);
	if (err)
		fail(c, "open", err);
	unsigned char *buf = malloc(STEP);
	size_t have = 0;
	for (;;) {
		unsigned long long t = now_ms();
		ssize_t r = cairn_read(f, buf, STEP);
		t = now_ms() - t;
		*stall = t > *stall ? t : *stall;
		if (r < 0)
			fail(c, "read", r);
		if (r == 0)
			break;
		if (have + (size_t)r > n || memcmp(buf, want + have, (size_t)r) != 0) {
			fprintf(stderr, "failover_io read: bytes differ in [%zu, %zu)\n", have,
				have + (size_t)r);
			exit(1);
		}
		progress(have + (size_t)r, have, pause_at);
		have += (size_t)r;
	}
	if (have != n) {
		fprintf(stderr, "failover_io read: %zu bytes, want %zu\n", have, n);
		exit(1);
	}
	cairn_close(f);
	free(buf);
	return have;
}

static size_t do_write(cairn_t *c, const char *remote, const unsigned char *src, size_t n,
		       size_t pause_at, unsigned long long *stall)
{
	cairn_file_t *f;
	int err = cairn_open(c, remote, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_TRUNC, 0644, &f);
	if (err)
		fail(c, "open", err);
	size_t done = 0;
	while (done < n) {
		size_t k = n - done < STEP ? n - done : STEP;
		unsigned long long t = now_ms();
		ssize_t r = cairn_write(f, src + done, k);
		t = now_ms() - t;
		*stall = t > *stall ? t : *stall;
		if (r != (ssize_t)k)
			fail(c, "write", r);
		progress(done + k, done, pause_at);
		done += k;
	}
	unsigned long long t = now_ms();
	err = cairn_close(f);
	t = now_ms() - t;
	*stall = t > *stall ? t : *stall;
	if (err)
		fail(c, "close", err);
	return done;
}

int main(int argc, char **argv)
{
	if (argc < 5 || (strcmp(argv[1], "read") != 0 && strcmp(argv[1], "write") != 0)) {
		fprintf(
		    stderr,
		    "usage: failover_io read|write META REMOTE LOCAL [PAUSE_AT] [TIMEOUT_MS]\n");
		return 2;
	}
	mode = argv[1];
	size_t pause_at = argc > 5 ? strtoull(argv[5], NULL, 10) : 0;
	struct cairn_options opt = {0};
	opt.timeout_ms = argc > 6 ? strtoull(argv[6], NULL, 10) : 30000;
	cairn_t *c;
	int err = cairn_connect(argv[2], &opt, &c);
	if (err)
		fail(NULL, "connect", err);
	size_t n;
	unsigned char *local = slurp(argv[4], &n);
	unsigned long long stall = 0;
	size_t done = strcmp(mode, "read") == 0 ? do_read(c, argv[3], local, n, pause_at, &stall)
						: do_write(c, argv[3], local, n, pause_at, &stall);
	printf("ok bytes=%zu max_stall_ms=%llu\n", done, stall);
	free(local);
	cairn_disconnect(c);
	return 0;
}
