/*
 * cairn-fuse: mounts a cairn file system (libfuse3, low-level API,
 * multithreaded) over libcairn.
 *
 *   cairn-fuse [--meta ADDR[,ADDR...]] [--timeout D] [--attr-timeout D]
 *              MOUNTPOINT [-f] [-d] [-o allow_other,default_permissions,ro,...]
 *
 * Our flags are taken out first; the rest goes to libfuse (mount point,
 * -f, -d, -o). The metaserver is pinged before mounting, so a wrong
 * address is one error line and exit status 1, not a mount that fails
 * every call. SIGTERM, SIGINT or `fusermount3 -u` ends the loop; then
 * every shared writer is closed (what was written is committed) and the
 * mount goes.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfuse.h"
#include "util.h"

struct cfuse_args {
	char *meta;
	char *timeout;
	char *attr_timeout;
	int read_only;
	int help;
	int version;
};

enum { KEY_RO, KEY_HELP, KEY_VERSION };

static const struct fuse_opt arg_table[] = {
    {"--meta %s", offsetof(struct cfuse_args, meta), 0},
    {"--meta=%s", offsetof(struct cfuse_args, meta), 0},
    {"--timeout %s", offsetof(struct cfuse_args, timeout), 0},
    {"--timeout=%s", offsetof(struct cfuse_args, timeout), 0},
    {"--attr-timeout %s", offsetof(struct cfuse_args, attr_timeout), 0},
    {"--attr-timeout=%s", offsetof(struct cfuse_args, attr_timeout), 0},
    FUSE_OPT_KEY("ro", KEY_RO),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_END,
};

static int arg_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cfuse_args *a = data;
	switch (key) {
	case KEY_RO:
		a->read_only = 1;
		return 1; /* libfuse mounts read-only too */
	case KEY_HELP:
		a->help = 1;
		return 0;
	case KEY_VERSION:
		a->version = 1;
		return 0;
	default:
		return 1;
	}
}

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: cairn-fuse [--meta ADDR[,ADDR...]] [--timeout DURATION]\n"
	    "                  [--attr-timeout DURATION] MOUNTPOINT [-f] [-d] [-o OPT,...]\n\n"
	    "  --meta ADDR          metaserver(s) (default $CAIRN_META, else %s)\n"
	    "  --timeout D          how long a call keeps retrying before it fails with EIO\n"
	    "                       (default %ds)\n"
	    "  --attr-timeout D     how long the kernel keeps directories' attributes and\n"
	    "                       names (default 1s; files' attributes are never kept)\n"
	    "  -f                   stay in the foreground\n"
	    "  -d                   debug: every request on stderr (implies -f)\n"
	    "  -o OPT,...           mount options: allow_other, default_permissions, ro, ...\n\n"
	    "Unmount with `fusermount3 -u MOUNTPOINT` or SIGTERM.\n",
	    CAIRN_DEFAULT_META, CAIRN_DEFAULT_TIMEOUT_S);
}

/* Parses a duration flag into *ms (or seconds into *s). Returns 0 or -1 after a message. */
static int duration(const char *flag, const char *val, uint64_t *ms)
{
	if (parse_duration_ms(val, ms) != 0 || *ms == 0) {
		fprintf(stderr, "cairn-fuse: %s %s: not a duration (like 500ms, 10s, 2m)\n", flag,
			val);
		return -1;
	}
	return 0;
}

/* Makes the client handle and checks that the metaserver answers. */
static int connect_fs(const struct cfuse_args *a, uint64_t timeout_ms, cairn_t **out)
{
	struct cairn_options opt = {.timeout_ms = timeout_ms};
	int err = cairn_connect(a->meta, &opt, out);
	if (err) {
		fprintf(stderr, "cairn-fuse: --meta %s: %s\n", a->meta ? a->meta : "(default)",
			cairn_strerror(err));
		return -1;
	}
	return 0;
}

/*
 * Pings the metaserver with a handle of its own (a fork, in daemon mode,
 * would not keep the handle's thread). Returns 0, or 1 after a message.
 */
static int check_meta(const struct cfuse_args *a, uint64_t timeout_ms)
{
	cairn_t *fs;
	if (connect_fs(a, timeout_ms, &fs) != 0)
		return 1;
	int err = cairn_ping(fs);
	if (err)
		fprintf(stderr, "cairn-fuse: %s: %s\n", cairn_strerror(err), cairn_last_error(fs));
	cairn_disconnect(fs);
	return err ? 1 : 0;
}

/* Mounts, serves until unmounted or signalled, closes the writers and unmounts. */
static int serve(struct cfuse *m, struct fuse_cmdline_opts *co, const struct cfuse_args *a,
		 uint64_t timeout_ms)
{
	if (fuse_set_signal_handlers(m->se) != 0)
		return 1;
	if (fuse_session_mount(m->se, co->mountpoint) != 0)
		return 1;
	fuse_daemonize(co->foreground);
	/* The handle's thread is made after the fork. */
	if (connect_fs(a, timeout_ms, &m->fs) != 0) {
		fuse_session_unmount(m->se);
		return 1;
	}
	int rc;
	if (co->singlethread) {
		rc = fuse_session_loop(m->se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, co->clone_fd);
		fuse_loop_cfg_set_idle_threads(lc, co->max_idle_threads);
		if (co->max_threads > 0 && co->max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(lc, co->max_threads);
		rc = fuse_session_loop_mt(m->se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	cfuse_close_all(m);
	fuse_session_unmount(m->se);
	fuse_remove_signal_handlers(m->se);
	/* A loop ended by SIGTERM, SIGINT or SIGHUP returns the signal: a clean stop. */
	return rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cfuse_args a = {0};
	struct fuse_cmdline_opts co = {0};
	struct cfuse m = {.attr_timeout = 1.0, .hlock = PTHREAD_MUTEX_INITIALIZER};
	uint64_t timeout_ms = 0, attr_ms = 1000;
	int rc = 2;
	if (fuse_opt_parse(&args, &a, arg_table, arg_proc) != 0)
		goto out;
	if (a.help) {
		usage(stdout);
		rc = 0;
		goto out;
	}
	if (a.version) {
		printf("cairn-fuse %s (libfuse %s)\n", CAIRN_VERSION, fuse_pkgversion());
		rc = 0;
		goto out;
	}
	if ((a.timeout && duration("--timeout", a.timeout, &timeout_ms) != 0) ||
	    (a.attr_timeout && duration("--attr-timeout", a.attr_timeout, &attr_ms) != 0))
		goto out;
	m.attr_timeout = (double)attr_ms / 1000.0;
	m.read_only = a.read_only;
	if (fuse_parse_cmdline(&args, &co) != 0)
		goto out;
	if (!co.mountpoint) {
		fprintf(stderr, "cairn-fuse: no mount point given (see --help)\n");
		goto out;
	}
	if (cfuse_table_init(&m.table) != 0) {
		rc = 1;
		goto out;
	}
	/* The session checks the -o options (an unknown one: exit 2) before anything connects. */
	m.se = fuse_session_new(&args, &cfuse_ops, sizeof(cfuse_ops), &m);
	if (m.se) {
		rc = check_meta(&a, timeout_ms);
		if (rc == 0)
			rc = serve(&m, &co, &a, timeout_ms);
		fuse_session_destroy(m.se);
	}
	cfuse_table_free(&m.table);
out:
	cairn_disconnect(m.fs);
	free(co.mountpoint);
	free(a.meta);
	free(a.timeout);
	free(a.attr_timeout);
	fuse_opt_free_args(&args);
	return rc;
}
