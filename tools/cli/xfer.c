/*
 * xfer: the byte copies of put, append, get and cp, and the stop signals.
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
	char *buf = malloc(CLI_XFER_BUF);
	if (!buf)
		return -ENOMEM;
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

int cli_copy_out(cairn_file_t *f, int fd, struct cli_progress *pr, int *lerr)
{
	char *buf = malloc(CLI_XFER_BUF);
	if (!buf)
		return -ENOMEM;
	int rc = 0;
	for (;;) {
		if (xfer_stop) {
			*lerr = EINTR;
			rc = 1;
			break;
		}
		ssize_t n = cairn_read(f, buf, CLI_XFER_BUF);
		if (n < 0) {
			rc = (int)n;
			break;
		}
		if (n == 0)
			break;
		if ((*lerr = -write_full(fd, buf, (size_t)n)) != 0) {
			rc = 1;
			break;
		}
		cli_progress_add(pr, (uint64_t)n);
	}
	free(buf);
	return rc;
}
