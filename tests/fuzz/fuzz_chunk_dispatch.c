/*
 * fuzz_chunk_dispatch: what cairn-chunk does with the frames of an
 * unauthenticated client connection: frame decoding, the rpc layer, the
 * dispatch table (chunkserver/chunk.c chunk_on_request()) and the
 * handlers behind it (reads, writes with payloads, write chains, copies,
 * removals), down to the store on a tmpfs data dir.
 *
 * One chunkserver runs in-process for the whole run, its metaserver
 * address a closed port (it keeps retrying, as when the metaserver is
 * down); each input is one connection (fuzz_exchange()). Input: one mode
 * byte, then the frames (fuzz_frames()); mode bit 0 clear re-encodes the
 * envelopes that unpack, so their payload CRCs are right.
 */
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "chunk.h"
#include "config.h"
#include "fuzz_util.h"
#include "log.h"

static struct event_base *base;
static struct chunk_options opts;
static int port;

/* Starts the chunkserver on a free port (tries a few: another process may take one first). */
static void start(void)
{
	char data[4096], listen[64], meta[64];
	snprintf(data, sizeof(data), "%s/chunk", fuzz_dir());
	mkdir(data, 0755);
	log_set_level(LOGL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	char *cause = NULL;
	for (int tries = 0; base && tries < 20; tries++) {
		port = fuzz_free_port();
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
		snprintf(meta, sizeof(meta), "127.0.0.1:%d", fuzz_free_port());
		char *argv[] = {"cairn-chunk", "--data",     data, "--listen",	  listen, "--meta",
				meta,	       "--capacity", "1G", "--log-level", "error"};
		config_free(chunk_config, &opts);
		free(cause);
		cause = NULL;
		if (config_parse(chunk_config, &opts, (int)(sizeof(argv) / sizeof(argv[0])), argv,
				 "fuzz_chunk_dispatch", "", &cause) != 0)
			break;
		if (chunk_new(base, &opts, &cause))
			return;
	}
	fprintf(stderr, "chunk_new: %s\n", cause ? cause : "?");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!base)
		start();
	fuzz_dispatch(base, port, data, size);
	return 0;
}
