/*
 * ns_api: drives libcairn's namespace calls against a running metaserver,
 * using only cairn.h, as an application would.
 *
 *   ns_api HOST:PORT
 *
 * Works under a fresh top-level directory named after the pid, so it may
 * run against a metaserver that holds other things. Checks mkdir, mkdirs,
 * create, stat, readdir paging (2500 entries, more than one page, listed
 * back whole and in order through the iterator), rename, remove, the
 * setattr calls, the errors a user would meet, and several threads sharing
 * one handle. Prints "ok" and exits 0, or prints the failing step and
 * exits 1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

#define NENTRIES 2500
#define NTHREADS 8
#define NSTATS	 200

static char top[64];

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "ns_api: line %d: ", __LINE__);                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			return 1;                                                                  \
		}                                                                                  \
	} while (0)

/* Expects call to return want. */
#define EXPECT(call, want)                                                                         \
	do {                                                                                       \
		int got_ = (call);                                                                 \
		CHECK(got_ == (want), "%s: got %d (%s), want %d (%s)", #call, got_,                \
		      cairn_strerror(got_), (want), cairn_strerror(want));                         \
	} while (0)

static char *p(const char *rel)
{
	static __thread char buf[8][512];
	static __thread int next;
	char *b = buf[next++ % 8];
	snprintf(b, sizeof(buf[0]), "%s%s", top, rel);
	return b;
}

static int test_basics(cairn_t *c)
{
	struct cairn_stat st;
	EXPECT(cairn_ping(c), 0);
	EXPECT(cairn_mkdir(c, top, 0755), 0);
	EXPECT(cairn_mkdir(c, top, 0755), -EEXIST);
	EXPECT(cairn_mkdir(c, p("/no/such"), 0), -ENOENT);
	EXPECT(cairn_mkdirs(c, p("/a/b/c"), 0700), 0);
	EXPECT(cairn_mkdirs(c, p("/a/b/c"), 0700), 0);
	EXPECT(cairn_stat(c, p("/a/b/c"), &st), 0);
	CHECK(st.type == CAIRN_DIR && st.mode == 0700, "mkdirs: type %d mode %o", st.type, st.mode);
	EXPECT(cairn_stat(c, p("//a///b/c/"), &st), 0);
	EXPECT(cairn_stat(c, "relative", &st), -EINVAL);
	EXPECT(cairn_stat(c, p("/a/../a"), &st), -EINVAL);
	EXPECT(cairn_stat(c, p("/missing"), &st), -ENOENT);

	EXPECT(cairn_create(c, p("/a/f"), 0640, 2, 1), 0);
	EXPECT(cairn_create(c, p("/a/f"), 0640, 2, 1), -EEXIST);
	EXPECT(cairn_create(c, p("/a/f"), 0640, 2, 0), 0);
	EXPECT(cairn_stat(c, p("/a/f"), &st), 0);
	CHECK(st.type == CAIRN_FILE && st.mode == 0640 && st.size == 0 && st.replication == 2 &&
		  st.nchunks == 0 && st.id != 0 && st.mtime_us > 0,
	      "create: type %d mode %o size %llu rep %u", st.type, st.mode,
	      (unsigned long long)st.size, st.replication);
	EXPECT(cairn_mkdirs(c, p("/a/f"), 0), -EEXIST);
	EXPECT(cairn_mkdir(c, p("/a/f/x"), 0), -ENOTDIR);
	EXPECT(cairn_stat(c, p("/a"), &st), 0);
	CHECK(st.nentries == 2, "nentries of /a: %llu", (unsigned long long)st.nentries);
	return 0;
}

static int test_setattr(cairn_t *c)
{
	struct cairn_stat st;
	EXPECT(cairn_set_replication(c, p("/a/f"), 5), 0);
	EXPECT(cairn_set_replication(c, p("/a/f"), 0), -EINVAL);
	EXPECT(cairn_chmod(c, p("/a/f"), 0600), 0);
	EXPECT(cairn_utimes(c, p("/a/f"), 1000000, 2000000), 0);
	EXPECT(cairn_stat(c, p("/a/f"), &st), 0);
	CHECK(st.replication == 5 && st.mode == 0600 && st.atime_us == 1000000 &&
		  st.mtime_us == 2000000,
	      "setattr: rep %u mode %o atime %lld mtime %lld", st.replication, st.mode,
	      (long long)st.atime_us, (long long)st.mtime_us);
	EXPECT(cairn_utimes(c, p("/a/f"), CAIRN_TIME_OMIT, 3000000), 0);
	EXPECT(cairn_stat(c, p("/a/f"), &st), 0);
	CHECK(st.atime_us == 1000000 && st.mtime_us == 3000000, "utimes omit: %lld %lld",
	      (long long)st.atime_us, (long long)st.mtime_us);
	EXPECT(cairn_set_replication(c, p("/missing"), 3), -ENOENT);
	return 0;
}

static int test_paging(cairn_t *c)
{
	char name[64];
	EXPECT(cairn_mkdir(c, p("/big"), 0), 0);
	for (int i = 0; i < NENTRIES; i++) {
		snprintf(name, sizeof(name), "/big/e%05d", i);
		if (i % 10 == 0)
			EXPECT(cairn_mkdir(c, p(name), 0), 0);
		else
			EXPECT(cairn_create(c, p(name), 0, 1, 1), 0);
	}
	cairn_dir_t *d;
	EXPECT(cairn_opendir(c, p("/big"), &d), 0);
	struct cairn_dirent ent;
	int n = 0, rc;
	while ((rc = cairn_readdir_next(d, &ent)) == 1) {
		snprintf(name, sizeof(name), "e%05d", n);
		if (strcmp(ent.name, name) != 0 ||
		    ent.st.type != (n % 10 == 0 ? CAIRN_DIR : CAIRN_FILE)) {
			fprintf(stderr, "ns_api: readdir entry %d: %s type %d\n", n, ent.name,
				ent.st.type);
			cairn_closedir(d);
			return 1;
		}
		n++;
	}
	cairn_closedir(d);
	CHECK(rc == 0, "readdir_next: %s", cairn_strerror(rc));
	CHECK(n == NENTRIES, "readdir listed %d entries, want %d", n, NENTRIES);

	EXPECT(cairn_opendir(c, p("/a/b/c"), &d), 0);
	EXPECT(cairn_readdir_next(d, &ent), 0);
	cairn_closedir(d);
	EXPECT(cairn_opendir(c, p("/missing"), &d), -ENOENT);
	CHECK(d == NULL, "opendir failed but gave a handle");
	EXPECT(cairn_opendir(c, p("/a/f"), &d), -ENOTDIR);
	return 0;
}

static int test_rename_remove(cairn_t *c)
{
	struct cairn_stat st, st2;
	EXPECT(cairn_stat(c, p("/a/f"), &st), 0);
	EXPECT(cairn_rename(c, p("/a/f"), p("/a/b/g")), 0);
	EXPECT(cairn_stat(c, p("/a/f"), &st2), -ENOENT);
	EXPECT(cairn_stat(c, p("/a/b/g"), &st2), 0);
	CHECK(st.id == st2.id, "rename changed the inode: %llu -> %llu", (unsigned long long)st.id,
	      (unsigned long long)st2.id);
	EXPECT(cairn_rename(c, p("/a"), p("/a/b/c/a")), -EINVAL);
	EXPECT(cairn_rename(c, p("/missing"), p("/x")), -ENOENT);
	EXPECT(cairn_rename(c, p("/a/b"), p("/b2")), 0);
	EXPECT(cairn_stat(c, p("/b2/c"), &st2), 0);

	EXPECT(cairn_remove(c, p("/b2"), 0), -ENOTEMPTY);
	EXPECT(cairn_remove(c, p("/b2/g"), 0), 0);
	EXPECT(cairn_remove(c, p("/b2/g"), 0), -ENOENT);
	EXPECT(cairn_remove(c, p("/b2"), 1), 0);
	EXPECT(cairn_stat(c, p("/b2/c"), &st2), -ENOENT);
	EXPECT(cairn_remove(c, "/", 1), -EBUSY);
	return 0;
}

struct worker {
	cairn_t *c;
	int id;
	int failed;
};

static void *stat_worker(void *arg)
{
	struct worker *w = arg;
	char name[64];
	struct cairn_stat st;
	for (int i = 0; i < NSTATS; i++) {
		int k = (w->id * 131 + i * 7) % NENTRIES;
		snprintf(name, sizeof(name), "/big/e%05d", k);
		int err = cairn_stat(w->c, p(name), &st);
		if (err || st.type != (k % 10 == 0 ? CAIRN_DIR : CAIRN_FILE)) {
			fprintf(stderr, "ns_api: thread %d: stat %s: %s\n", w->id, name,
				cairn_strerror(err));
			w->failed = 1;
			break;
		}
	}
	return NULL;
}

static int test_threads(cairn_t *c)
{
	pthread_t t[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){c, i, 0};
		CHECK(pthread_create(&t[i], NULL, stat_worker, &w[i]) == 0, "pthread_create");
	}
	int failed = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		failed |= w[i].failed;
	}
	CHECK(!failed, "concurrent stats failed");
	return 0;
}

/* A metaserver that is not there: the call fails in about the timeout. */
static int test_unreachable(void)
{
	struct cairn_options opt = {0};
	opt.timeout_ms = 1000;
	cairn_t *c;
	struct cairn_stat st;
	EXPECT(cairn_connect("127.0.0.1:1", &opt, &c), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int err = cairn_stat(c, "/", &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cairn_disconnect(c);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(err == -CAIRN_EUNAVAIL, "stat with no metaserver: %s", cairn_strerror(err));
	CHECK(secs > 0.5 && secs < 3.0, "stat with no metaserver took %.2fs (timeout 1s)", secs);
	EXPECT(cairn_connect("no-port", NULL, &c), -EINVAL);
	return 0;
}

static int test_cleanup(cairn_t *c)
{
	struct cairn_stat st;
	EXPECT(cairn_remove(c, top, 1), 0);
	EXPECT(cairn_stat(c, top, &st), -ENOENT);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ns_api HOST:PORT\n");
		return 2;
	}
	snprintf(top, sizeof(top), "/ns_api.%d", (int)getpid());
	struct cairn_options opt = {0};
	opt.timeout_ms = 20000;
	cairn_t *c;
	int err = cairn_connect(argv[1], &opt, &c);
	if (err) {
		fprintf(stderr, "ns_api: connect %s: %s\n", argv[1], cairn_strerror(err));
		return 1;
	}
	int rc = test_basics(c) || test_setattr(c) || test_paging(c) || test_threads(c) ||
		 test_rename_remove(c) || test_cleanup(c) || test_unreachable();
	cairn_disconnect(c);
	if (rc)
		return 1;
	printf("ok\n");
	return 0;
}
