/*
 * bench/meta: metaserver operations per second through libcairn, durable
 * as shipped (every mutation fdatasync'ed before its reply).
 *
 *   meta [--meta ADDR] [--ops N] [--clients LIST] [--phases LIST]
 *
 * Without --meta it starts its own cairn-meta (next to this program in
 * ../bin) on a free port with a data dir under $TMPDIR, and stops it after.
 * For each client count (default "1,16": one handle and one thread per
 * client, so that many connections and calls in flight) it runs, in
 * order, mkdir, create, stat, readdir (entries listed per second, in pages
 * of up to 1000), rename and
 * remove, N operations each (default 20000), and prints ops/s per phase.
 * --phases runs only the phases named (e.g. "create,stat": stat needs the
 * files create makes), for profiling one kind of call.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

enum phase { P_MKDIR, P_CREATE, P_STAT, P_READDIR, P_RENAME, P_REMOVE, P_N };
static const char *const phase_names[P_N] = {"mkdir", "create", "stat", "readdir-entries", "rename",
					     "remove"};

struct worker {
	const char *addr;
	int id, round;
	long ops;
	enum phase phase;
	cairn_t *c;
	long done;
	int err;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int one_op(struct worker *w, long i)
{
	char a[256], b[256];
	snprintf(a, sizeof(a), "/bench%d/t%d/f%ld", w->round, w->id, i);
	snprintf(b, sizeof(b), "/bench%d/t%d/g%ld", w->round, w->id, i);
	switch (w->phase) {
	case P_MKDIR:
		snprintf(a, sizeof(a), "/bench%d/t%d/d%ld", w->round, w->id, i);
		return cairn_mkdir(w->c, a, 0);
	case P_CREATE:
		return cairn_create(w->c, a, 0, 0, 1);
	case P_STAT: {
		struct cairn_stat st;
		return cairn_stat(w->c, a, &st);
	}
	case P_RENAME:
		return cairn_rename(w->c, a, b);
	case P_REMOVE:
		return cairn_remove(w->c, b, 0);
	default:
		return -EINVAL;
	}
}

/* readdir: lists the worker's directory; counts entries as operations. */
static int list_dir(struct worker *w)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "/bench%d/t%d", w->round, w->id);
	while (w->done < w->ops) {
		cairn_dir_t *d;
		int rc = cairn_opendir(w->c, dir, &d);
		if (rc < 0)
			return rc;
		struct cairn_dirent ent;
		while ((rc = cairn_readdir_next(d, &ent)) == 1)
			w->done++;
		cairn_closedir(d);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	if (w->phase == P_READDIR) {
		w->err = list_dir(w);
		return NULL;
	}
	for (long i = 0; i < w->ops && !w->err; i++) {
		int rc = one_op(w, i);
		if (rc < 0)
			w->err = rc;
		else
			w->done++;
	}
	return NULL;
}

static int run_round(const char *addr, int nclients, long ops, int round, unsigned phases)
{
	struct worker *ws = calloc(nclients, sizeof(*ws));
	pthread_t *tids = calloc(nclients, sizeof(*tids));
	char dir[256];
	int rc = 0;
	for (int t = 0; t < nclients && rc == 0; t++) {
		ws[t] = (struct worker){.addr = addr, .id = t, .round = round, .ops = ops / nclients};
		rc = cairn_connect(addr, NULL, &ws[t].c);
		snprintf(dir, sizeof(dir), "/bench%d/t%d", round, t);
		if (rc == 0)
			rc = cairn_mkdirs(ws[t].c, dir, 0);
	}
	printf("%2d client%s:", nclients, nclients == 1 ? " " : "s");
	for (int p = 0; p < P_N && rc == 0; p++) {
		if (!(phases & 1u << p))
			continue;
		double t0 = now();
		for (int t = 0; t < nclients; t++) {
			ws[t].phase = (enum phase)p;
			ws[t].done = 0;
			pthread_create(&tids[t], NULL, run_worker, &ws[t]);
		}
		long done = 0;
		for (int t = 0; t < nclients; t++) {
			pthread_join(tids[t], NULL);
			done += ws[t].done;
			if (ws[t].err && !rc)
				rc = ws[t].err;
		}
		double dt = now() - t0;
		printf("  %s %.0f/s", phase_names[p], done / dt);
		fflush(stdout);
	}
	printf("\n");
	if (rc < 0)
		fprintf(stderr, "meta: %s\n", cairn_strerror(rc));
	for (int t = 0; t < nclients; t++)
		cairn_disconnect(ws[t].c);
	free(ws);
	free(tids);
	return rc;
}

/* "create,stat" -> a bit per phase; 0 (after a message) when a name is unknown. */
static unsigned parse_phases(const char *list)
{
	unsigned set = 0;
	char *copy = strdup(list), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int p = 0;
		while (p < P_N && strcmp(tok, phase_names[p]) != 0 &&
		       !(p == P_READDIR && strcmp(tok, "readdir") == 0))
			p++;
		if (p == P_N) {
			fprintf(stderr, "meta: unknown phase '%s'\n", tok);
			set = 0;
			break;
		}
		set |= 1u << p;
	}
	free(copy);
	return set;
}

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	bind(s, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(s, (struct sockaddr *)&sa, &len);
	close(s);
	return ntohs(sa.sin_port);
}

/* Starts cairn-meta from ../bin next to this program; returns its pid. */
static pid_t start_meta(const char *self, char *addr, size_t addrlen, char *dir)
{
	char exe[PATH_MAX], bin[PATH_MAX + 32], listen[64], http[64];
	if (!realpath(self, exe))
		return -1;
	*strrchr(exe, '/') = 0;
	snprintf(bin, sizeof(bin), "%s/../bin/cairn-meta", exe);
	snprintf(addr, addrlen, "127.0.0.1:%d", free_port());
	snprintf(listen, sizeof(listen), "%s", addr);
	snprintf(http, sizeof(http), "127.0.0.1:%d", free_port());
	pid_t pid = fork();
	if (pid == 0) {
		execl(bin, bin, "--data", dir, "--listen", listen, "--http", http, "--log-level",
		      "warn", (char *)NULL);
		perror(bin);
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *clients = "1,16";
	long ops = 20000;
	unsigned phases = (1u << P_N) - 1;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--meta") == 0)
			addr = argv[i + 1];
		else if (strcmp(argv[i], "--ops") == 0)
			ops = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--clients") == 0)
			clients = argv[i + 1];
		else if (strcmp(argv[i], "--phases") == 0 &&
			 (phases = parse_phases(argv[i + 1])) == 0)
			return 2;
	}
	char own[64], dir[] = "/tmp/cairn-bench-meta-XXXXXX";
	pid_t pid = 0;
	if (!addr) {
		if (!mkdtemp(dir) || (pid = start_meta(argv[0], own, sizeof(own), dir)) < 0)
			return 1;
		addr = own;
	}
	cairn_t *c;
	int rc = cairn_connect(addr, NULL, &c);
	if (rc == 0)
		rc = cairn_ping(c);
	cairn_disconnect(c);
	if (rc < 0) {
		fprintf(stderr, "meta: %s: %s\n", addr, cairn_strerror(rc));
		return 1;
	}
	printf("cairn-meta at %s, %ld operations per phase, durable replies\n", addr, ops);
	char *list = strdup(clients), *save = NULL;
	int round = 0;
	for (char *tok = strtok_r(list, ",", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ",", &save))
		rc = run_round(addr, atoi(tok), ops, round++, phases);
	free(list);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "meta: could not remove %s\n", dir);
	}
	return rc < 0 ? 1 : 0;
}
