/*
 * cairn-meta: the metaserver process. A thin main over cairn_metalib:
 * flags, signals, the event loop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "log.h"
#include "meta.h"
#include "util.h"

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	meta_shutdown(arg);
}

/* SIGHUP: logrotate moved the log files; open them again. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	if (log_reopen() < 0)
		log_warn("cannot reopen the log file; still writing to the old one");
	meta_reopen_logs(arg);
}

int main(int argc, char **argv)
{
	struct meta_options opts = {0};
	char *cause = NULL;
	int rc = config_parse(meta_config, &opts, argc, argv, "cairn-meta",
			      "The cairn metaserver: namespace, leases and chunk placement.", &cause);
	if (rc == 0 && (opts.chunk_size & (opts.chunk_size - 1))) {
		free(cause);
		cause = xstrdup("--chunk-size: not a power of two");
		rc = -1;
	}
	if (rc == 0)
		rc = addr_check_protected("--listen", opts.listen, opts.insecure, &cause);
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "cairn-meta: %s\n", cause ? cause : "bad arguments");
		free(cause);
		config_free(meta_config, &opts);
		return rc < 0 ? 2 : 0;
	}
	if (opts.log_file && log_open_file(opts.log_file, &cause) < 0) {
		fprintf(stderr, "cairn-meta: %s\n", cause ? cause : "cannot open the log file");
		free(cause);
		config_free(meta_config, &opts);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	struct event_base *base = event_base_new();
	struct meta_server *ms = base ? meta_new(base, &opts, &cause) : NULL;
	if (!ms) {
		log_error("cairn-meta: %s", cause ? cause : "cannot start");
		free(cause);
		config_free(meta_config, &opts);
		if (base)
			event_base_free(base);
		return 1;
	}
	struct event *term = evsignal_new(base, SIGTERM, on_signal, ms);
	struct event *intr = evsignal_new(base, SIGINT, on_signal, ms);
	struct event *hup = evsignal_new(base, SIGHUP, on_hup, ms);
	event_add(term, NULL);
	event_add(intr, NULL);
	event_add(hup, NULL);
	event_base_dispatch(base);
	int failed = meta_failed(ms);
	event_free(term);
	event_free(intr);
	event_free(hup);
	meta_free(ms);
	event_base_free(base);
	config_free(meta_config, &opts);
	log_info("cairn-meta stopped");
	return failed ? 1 : 0;
}
