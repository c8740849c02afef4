/*
 * ns_fill ADDR DIR COUNT THREADS: makes DIR and COUNT empty files in it
 * (f0000000, f0000001, ...) from THREADS threads sharing one handle.
 * Exits 0 when every create succeeded.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cairn.h"

struct job {
	cairn_t *c;
	const char *dir;
	long from, to;
	int err;
};

static void *fill(void *arg)
{
	struct job *j = arg;
	char path[4200];
	for (long i = j->from; i < j->to && !j->err; i++) {
		snprintf(path, sizeof(path), "%s/f%07ld", j->dir, i);
		int rc = cairn_create(j->c, path, 0644, 0, 1);
		if (rc < 0) {
			fprintf(stderr, "ns_fill: create %s: %s\n", path, cairn_strerror(rc));
			j->err = rc;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: ns_fill ADDR DIR COUNT THREADS\n");
		return 2;
	}
	long count = atol(argv[3]), nthreads = atol(argv[4]);
	if (nthreads < 1 || nthreads > 64 || count < 0)
		return 2;
	cairn_t *c;
	int rc = cairn_connect(argv[1], NULL, &c);
	if (rc == 0)
		rc = cairn_mkdirs(c, argv[2], 0);
	if (rc < 0) {
		fprintf(stderr, "ns_fill: %s: %s\n", argv[2], cairn_strerror(rc));
		return 1;
	}
	struct job jobs[64];
	pthread_t tids[64];
	for (long t = 0; t < nthreads; t++) {
		jobs[t] = (struct job){c, argv[2], count * t / nthreads, count * (t + 1) / nthreads, 0};
		pthread_create(&tids[t], NULL, fill, &jobs[t]);
	}
	int failed = 0;
	for (long t = 0; t < nthreads; t++) {
		pthread_join(tids[t], NULL);
		failed |= jobs[t].err != 0;
	}
	cairn_disconnect(c);
	if (failed)
		return 1;
	printf("ok\n");
	return 0;
}
