/*
 * xfer: the byte copies of put, append, get and cp, the atomic write of a
 * remote file, and the stop signals.
 *
 * An atomic write (put, cp) fills a hidden temporary next to the target
 * (cairn_temp_path(): ".NAME.<hex>._COPYING_") and renames it over the
 * target only once cairn_close() returned 0, when every byte is stored on
 * every replica of its chunk and the size is committed; without force the
 * rename refuses an existing target atomically (and a stat refuses it
 * before any byte moves). A failed copy removes its temporary and leaves
 * the target as it was; one killed outright leaves the temporary to the
 * metaserver, which removes it when its write lease expires.
 *
 * Copies move CLI_XFER_BUF bytes per call, which keeps the library's
 * write pipeline and read-ahead busy. SIGINT, SIGTERM and SIGHUP, once
 * cli_xfer_catch() ran, only set a flag: the copy in progress stops after
 * its current call, so the command can clean up (remove its temporary)
 * and exit 1. The flag is the only mutable file-scope state here.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#define CLI_XFER_BUF (4u << 20)

static volatile sig_atomic_t xfer_stop;

static void on_stop(int sig)
{
	(void)sig;
	xfer_stop = 1;
}

void cli_xfer_catch(void)
{
	struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: a blocked read returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int cli_xfer_stopped(void)
{
	return xfer_stop;
}

int cli_copy_in(int fd, cairn_file_t *f, struct cli_progress *pr, int *lerr)
{
	char *buf = xmalloc(CLI_XFER_BUF);
	int rc = 0;
	for (;;) {
		ssize_t n = xfer_stop ? (errno = EINTR, -1) : read(fd, buf, CLI_XFER_BUF);
		if (n < 0 && errno == EINTR && !xfer_stop)
			continue;
		if (n < 0) {
			*lerr = errno;
			rc = 1;
			break;
		}
		if (n == 0)
			break;
		ssize_t w = cairn_write(f, buf, (size_t)n);
		if (w < 0) {
			rc = (int)w;
			break;
		}
		cli_progress_add(pr, (uint64_t)n);
	}
	free(buf);
	return rc;
}

/* Where pump() puts bytes: 0, a negative libcairn error, or 1 with *lerr a local errno. */
typedef int (*sink_fn)(void *arg, const char *buf, size_t n, int *lerr);

/* Copies f from its position to its end into sink. Returns as cli_copy_out(). */
static int pump(cairn_file_t *f, sink_fn sink, void *arg, struct cli_progress *pr, int *lerr)
{
	char *buf = xmalloc(CLI_XFER_BUF);
	int rc = 0;
	for (;;) {
		if (xfer_stop) {
			*lerr = EINTR;
			rc = 1;
			break;
		}
		ssize_t n = cairn_read(f, buf, CLI_XFER_BUF);
		if (n <= 0) {
			rc = (int)n;
			break;
		}
		if ((rc = sink(arg, buf, (size_t)n, lerr)) != 0)
			break;
		cli_progress_add(pr, (uint64_t)n);
	}
	free(buf);
	return rc;
}

static int to_fd(void *arg, const char *buf, size_t n, int *lerr)
{
	*lerr = -write_full(*(int *)arg, buf, n);
	return *lerr ? 1 : 0;
}

static int to_remote(void *arg, const char *buf, size_t n, int *lerr)
{
	(void)lerr;
	ssize_t w = cairn_write(arg, buf, n);
	return w < 0 ? (int)w : 0;
}

int cli_copy_out(cairn_file_t *f, int fd, struct cli_progress *pr, int *lerr)
{
	return pump(f, to_fd, &fd, pr, lerr);
}

int cli_copy_remote(cairn_file_t *src, cairn_file_t *dst, struct cli_progress *pr, int *lerr)
{
	return pump(src, to_remote, dst, pr, lerr);
}

/* Fills the temporary tmp through w. Returns CLI_OK or CLI_FAIL after printing why. */
static int write_temp(struct cli *cli, const struct cli_writer *w, const char *tmp, int *made)
{
	cairn_file_t *f;
	struct cairn_open_options oo = {.chunk_size = w->chunk_size};
	int err = cairn_open_opts(cli->fs, tmp, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_EXCL,
				  w->mode, &oo, &f);
	if (err)
		return cli_fail(cli, err, "%s %s", cli->cmd->name, w->target);
	*made = 1;
	char what[512];
	snprintf(what, sizeof(what), "%s %s", cli->cmd->name, w->target);
	struct cli_progress pr;
	cli_progress_start(&pr, what);
	pr.total = w->size;
	int lerr = 0;
	err = w->fill(w->arg, f, &pr, &lerr);
	if (err) {
		/* Now: close() would replace the library's words. */
		cli_progress_end(&pr, 0);
		if (err == 1 && lerr == EINTR)
			fprintf(stderr, "cairn: %s %s: interrupted\n", cli->cmd->name, w->target);
		else if (err == 1)
			fprintf(stderr, "cairn: %s %s: reading %s: %s\n", cli->cmd->name, w->target,
				w->source, strerror(lerr));
		else
			cli_fail(cli, err, "%s %s", cli->cmd->name, w->target);
		cairn_close(f);
		return CLI_FAIL;
	}
	if ((err = cairn_close(f)) != 0) {
		cli_progress_end(&pr, 0);
		return cli_fail(cli, err, "%s %s", cli->cmd->name, w->target);
	}
	cli_progress_end(&pr, 1);
	return CLI_OK;
}

/* The one line for a target that is there already. Returns CLI_FAIL. */
static int refuse_existing(struct cli *cli, const char *target, int is_dir)
{
	fprintf(stderr, "cairn: %s %s: %s\n", cli->cmd->name, target,
		is_dir ? "a directory is in the way" : "the file exists (-f replaces it)");
	return CLI_FAIL;
}

int cli_write_atomic(struct cli *cli, const struct cli_writer *w)
{
	int rc = CLI_FAIL, made = 0;
	struct cairn_stat st;
	int err = w->force ? -ENOENT : cairn_stat(cli->fs, w->target, &st);
	char tmp[CLI_PATH_BUF];
	if (err == 0)
		rc = refuse_existing(cli, w->target, st.type == CAIRN_DIR);
	else if (err != -ENOENT)
		rc = cli_fail(cli, err, "%s %s", cli->cmd->name, w->target);
	else if ((err = cairn_temp_path(w->target, tmp, sizeof(tmp))) != 0)
		rc = cli_fail(cli, err, "%s %s", cli->cmd->name, w->target);
	else if ((rc = write_temp(cli, w, tmp, &made)) == CLI_OK) {
		err = cairn_rename2(cli->fs, tmp, w->target, w->force ? 0 : CAIRN_RENAME_NOREPLACE);
		if (err == -EEXIST) /* made meanwhile by another client */
			rc = refuse_existing(cli, w->target, 0);
		else if (err)
			rc = cli_fail(cli, err, "%s %s", cli->cmd->name, w->target);
	}
	if (rc != CLI_OK && made && !cli->unreachable)
		cairn_remove(cli->fs, tmp, 0);
	return rc;
}
