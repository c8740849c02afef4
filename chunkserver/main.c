/*
 * cairn-chunk: the chunkserver process. A thin main over cairn_chunksrv:
 * flags, signals, the event loop.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "chunk.h"
#include "config.h"
#include "log.h"

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	chunk_shutdown(arg);
}

/* SIGHUP: logrotate moved the log file; open it again. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	if (log_reopen() < 0)
		log_warn("cannot reopen the log file; still writing to the old one");
}

int main(int argc, char **argv)
{
	/*
	 * Every read and write passes through buffers of up to a few MiB,
	 * allocated on one thread and freed on another. Left to itself, glibc
	 * maps the big ones fresh and hands freed heap back to the kernel as
	 * soon as a few MiB are free, so each buffer's pages fault in again:
	 * most of a read's CPU. Keep up to 64 MiB of free heap instead.
	 */
	mallopt(M_MMAP_THRESHOLD, 16 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	struct chunk_options opts = {0};
	char *cause = NULL;
	int rc =
	    config_parse(chunk_config, &opts, argc, argv, "cairn-chunk",
			 "The cairn chunkserver: stores replicated, checksummed chunks.", &cause);
	if (rc == 0)
		rc = chunk_check_options(&opts, &cause);
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "cairn-chunk: %s\n", cause ? cause : "bad arguments");
		free(cause);
		config_free(chunk_config, &opts);
		return rc < 0 ? 2 : 0;
	}
	if (opts.log_file && log_open_file(opts.log_file, &cause) < 0) {
		fprintf(stderr, "cairn-chunk: %s\n", cause ? cause : "cannot open the log file");
		free(cause);
		config_free(chunk_config, &opts);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	struct event_base *base = event_base_new();
	struct chunk_server *cs = base ? chunk_new(base, &opts, &cause) : NULL;
	if (!cs) {
		log_error("cairn-chunk: %s", cause ? cause : "cannot start");
		free(cause);
		config_free(chunk_config, &opts);
		if (base)
			event_base_free(base);
		return 1;
	}
	struct event *term = evsignal_new(base, SIGTERM, on_signal, cs);
	struct event *intr = evsignal_new(base, SIGINT, on_signal, cs);
	struct event *hup = evsignal_new(base, SIGHUP, on_hup, cs);
	event_add(term, NULL);
	event_add(intr, NULL);
	event_add(hup, NULL);
	event_base_dispatch(base);
	event_free(term);
	event_free(intr);
	event_free(hup);
	chunk_free(cs);
	event_base_free(base);
	config_free(chunk_config, &opts);
	log_info("cairn-chunk stopped");
	return 0;
}
