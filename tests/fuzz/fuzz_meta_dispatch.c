/*
 * fuzz_meta_dispatch: what cairn-meta does with the frames of an
 * unauthenticated connection: frame decoding, the rpc layer, the dispatch
 * table (metaserver/meta.c on_request()) and every handler behind it,
 * namespace, chunk, node and admin calls alike.
 *
 * One metaserver runs in-process for the whole run (data dir on tmpfs,
 * its listener on a port the kernel picks, its status page on a free one); each input is one
 * connection (fuzz_exchange()). Input: one mode byte, then the frames
 * (fuzz_frames()); mode bit 0 clear re-encodes the envelopes that unpack,
 * so their payload CRCs are right and they reach the handlers. The
 * namespace carries over from input to input, as a server's does.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "fuzz_util.h"
#include "log.h"
#include "meta.h"

static struct event_base *base;
static struct meta_options opts;
static int port;

static void start(void)
{
	char data[4096];
	snprintf(data, sizeof(data), "%s/meta", fuzz_dir());
	char *argv[] = {"cairn-meta",  "--data",      data,	     "--listen",
			"127.0.0.1:1", "--http",      "127.0.0.1:1", "--checkpoint-records",
			"20000",       "--log-level", "error"};
	char *cause = NULL;
	if (config_parse(meta_config, &opts, (int)(sizeof(argv) / sizeof(argv[0])), argv,
			 "fuzz_meta_dispatch", "", &cause) != 0) {
		fprintf(stderr, "config: %s\n", cause ? cause : "?");
		abort();
	}
	free(opts.listen); /* the table wants a port: 0 (the kernel picks) comes after */
	free(opts.http);
	opts.listen = strdup("127.0.0.1:0");
	char http[64];
	snprintf(http, sizeof(http), "127.0.0.1:%d", fuzz_free_port());
	opts.http = strdup(http);
	log_set_level(LOGL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	struct meta_server *ms = base ? meta_new(base, &opts, &cause) : NULL;
	if (!ms) {
		fprintf(stderr, "meta_new: %s\n", cause ? cause : "?");
		abort();
	}
	port = meta_port(ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!base)
		start();
	fuzz_dispatch(base, port, data, size);
	return 0;
}
