/*
 * chunk: cairn-chunk's life cycle, its flags, call dispatch and the list
 * of chunks to report lost.
 *
 * Start-up: open the store over the --data dirs (the scan repairs torn
 * writes and moves damaged replicas aside before anything is served),
 * listen on --listen, start the metaserver link and the scrubber.
 * Requests from clients, from the previous member of a write chain and
 * from the metaserver all go through one dispatch table indexed by the
 * envelope's body case (chunk_io.c holds it).
 *
 * Shutdown: new calls are refused at once; calls in progress get up to
 * CHUNK_DRAIN_MS to finish; then connections close, the store completes
 * its queued I/O and closes, and the loop exits.
 *
 * Invariants: cs->ncalls counts calls that have not been answered yet;
 * the store outlives every connection (it is closed last).
 */
#include "chunk_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define OPT(f) offsetof(struct chunk_options, f)

/* Longest --rack name. */
#define CHUNK_RACK_MAX 128

const struct config_opt chunk_config[] = {
    {"config", CONFIG_STRING, NULL, 0, 0, 0, OPT(config), "read settings from FILE"},
    {"meta", CONFIG_ADDR, "127.0.0.1:20000", 0, 0, 0, OPT(meta), "address of the metaserver"},
    {"listen", CONFIG_ADDR, "127.0.0.1:22000", 0, 0, 0, OPT(listen),
     "address for clients and chain peers, also reported to the metaserver"},
    {"insecure", CONFIG_FLAG, "no", 0, 0, 0, OPT(insecure),
     "allow --listen beyond loopback without TLS (protected mode is off)"},
    RPC_LIMIT_ROWS(struct chunk_options, "20M", "512M"),
    {"data", CONFIG_STRING, NULL, 1, 0, 0, OPT(data), "data dirs, comma-separated (one per disk)"},
    {"rack", CONFIG_STRING, NULL, 0, 0, 0, OPT(rack), "rack name, for replica placement"},
    {"capacity", CONFIG_SIZE, "0", 0, 0, 0, OPT(capacity),
     "bytes the chunks may use, split between the dirs; 0: the disks' free space"},
    {"scrub-interval", CONFIG_DURATION, "24h", 0, 0, 30ll * 86400000, OPT(scrub_interval_ms),
     "re-verify every chunk once per this; 0: never"},
    {"http", CONFIG_ADDR, NULL, 0, 0, 0, OPT(http),
     "address of the /metrics page (Prometheus); unset: none"},
    {"log-level", CONFIG_LEVEL, "info", 0, 0, 0, OPT(log_level), "debug, info, warn or error"},
    {"log-file", CONFIG_STRING, NULL, 0, 0, 0, OPT(log_file),
     "append log lines to FILE, not stderr (SIGHUP reopens it)"},
    CONFIG_END,
};

static void free_dirs(char **dirs, int n)
{
	for (int i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
}

/*
 * Splits the --data list into a new array of *n new strings. Returns it,
 * or NULL with a new *cause.
 */
static char **split_dirs(const char *list, int *n, char **cause)
{
	char **dirs = xcalloc(CHUNK_MAX_DIRS, sizeof(*dirs));
	const char *p = list;
	*n = 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *why = NULL;
		if (len == 0)
			why = "an empty dir name";
		else if (len >= PATH_MAX - 64)
			why = "a dir name that is too long";
		else if (*n == CHUNK_MAX_DIRS)
			why = "too many dirs (at most 64)";
		if (why) {
			*cause = xasprintf("--data: '%s' has %s", list, why);
			free_dirs(dirs, *n);
			return NULL;
		}
		dirs[*n] = xasprintf("%.*s", (int)len, p);
		for (int i = 0; i < *n; i++) {
			if (strcmp(dirs[i], dirs[*n]) == 0) {
				*cause = xasprintf("--data: '%s' is listed twice", dirs[i]);
				free_dirs(dirs, *n + 1);
				return NULL;
			}
		}
		(*n)++;
		if (!comma)
			return dirs;
		p = comma + 1;
	}
}

int chunk_addr_numeric(const char *addr)
{
	char *host;
	uint16_t port;
	struct in6_addr buf;
	if (addr_parse(addr, &host, &port) < 0)
		return 0;
	int ok = inet_pton(AF_INET, host, &buf) == 1 || inet_pton(AF_INET6, host, &buf) == 1;
	free(host);
	return ok;
}

int chunk_check_options(const struct chunk_options *opts, char **cause)
{
	int n;
	*cause = NULL;
	if (opts->rack && strlen(opts->rack) > CHUNK_RACK_MAX) {
		*cause = xasprintf("--rack: longer than %d characters", CHUNK_RACK_MAX);
		return -EINVAL;
	}
	if (!chunk_addr_numeric(opts->listen)) {
		*cause =
		    xasprintf("--listen %s: give an IP address, not a name: it is what clients "
			      "and chain peers connect to, and chunkservers do not resolve names",
			      opts->listen);
		return -EINVAL;
	}
	int rc = addr_check_protected("--listen", opts->listen, opts->insecure, cause);
	if (rc < 0)
		return rc;
	char **dirs = split_dirs(opts->data, &n, cause);
	if (!dirs)
		return -EINVAL;
	free_dirs(dirs, n);
	return 0;
}

/* ---- lost chunks ---- */

void chunk_report_lost(struct chunk_server *cs, uint64_t id)
{
	if (cs->nlost == cs->lost_cap) {
		size_t cap = cs->lost_cap ? 2 * cs->lost_cap : 64;
		cs->lost = xrealloc(cs->lost, cap * sizeof(*cs->lost));
		cs->lost_cap = cap;
	}
	cs->lost[cs->nlost++] = id;
}

static void on_store_lost(const uint64_t *ids, size_t n, void *arg)
{
	struct chunk_server *cs = arg;
	for (size_t i = 0; i < n; i++)
		chunk_report_lost(cs, ids[i]);
}

/* ---- dispatch ---- */

void chunk_on_request(struct rpc_conn *c, Cairn__Envelope *req, struct evbuffer *payload, void *arg)
{
	struct chunk_server *cs = arg;
	const struct chunk_handler *h = NULL;
	if ((unsigned)req->body_case < CHUNK_NHANDLERS)
		h = &chunk_handlers[req->body_case];
	if (!h || !h->fn) {
		rpc_reply(c, req->call_id, -ENOTSUP, "the chunkserver does not serve this call",
			  NULL, NULL);
		return;
	}
	if (cs->stopping) {
		rpc_reply(c, req->call_id, -CAIRN_EUNAVAIL, "the chunkserver is shutting down",
			  NULL, NULL);
		return;
	}
	if (payload && !(h->flags & CHUNK_PAYLOAD)) {
		rpc_reply(c, req->call_id, -EINVAL, "this call takes no payload", NULL, NULL);
		return;
	}
	chunk_stats_call(cs, (unsigned)req->body_case);
	h->fn(cs, c, req, payload);
}

static void on_client_close(struct rpc_conn *c, void *arg)
{
	chunk_io_conn_closed(arg, c);
}

static const struct rpc_conn_ops client_ops = {chunk_on_request, on_client_close};

/* ---- life cycle ---- */

/* Closes everything but the event loop; calls still open are answered into the void. */
static void teardown(struct chunk_server *cs)
{
	if (cs->drain_ev)
		event_del(cs->drain_ev);
	rpc_server_free(cs->rpc);
	cs->rpc = NULL;
	chunk_scrub_stop(cs);
	chunk_meta_stop(cs);
	chunk_peer_free_all(cs);
	chunk_repl_stop(cs);
	chunk_stats_http_stop(cs);
	store_close(cs->store); /* runs the callbacks of what was queued */
	cs->store = NULL;
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct chunk_server *cs = arg;
	if (cs->ncalls > 0 && time_mono_ms() < cs->drain_deadline_ms)
		return;
	if (cs->ncalls > 0)
		log_warn("closing with %u calls still in progress", cs->ncalls);
	teardown(cs);
	event_base_loopexit(cs->base, NULL);
}

struct chunk_server *chunk_new(struct event_base *base, const struct chunk_options *opts,
			       char **cause)
{
	struct chunk_server *cs = xcalloc(1, sizeof(*cs));
	*cause = NULL;
	cs->opts = opts;
	cs->base = base;
	cs->dirs = split_dirs(opts->data, &cs->ndirs, cause);
	if (!cs->dirs || chunk_ident_load(cs, cause) < 0)
		goto fail;
	cs->store = store_open((const char *const *)cs->dirs, cs->ndirs, opts->capacity, base,
			       on_store_lost, cs, cause);
	if (!cs->store)
		goto fail;
	cs->drain_ev = event_new(base, -1, EV_PERSIST, on_drain, cs);
	if (!cs->drain_ev) {
		*cause = xstrdup("cannot set up events");
		goto fail;
	}
	cs->rpc = rpc_server_new(base, opts->listen, &client_ops, cs, cause);
	if (!cs->rpc || chunk_stats_start(cs, cause) < 0)
		goto fail;
	rpc_server_set_limits(cs->rpc, &opts->limits);
	if (chunk_repl_start(cs) < 0 || chunk_meta_start(cs) < 0 || chunk_scrub_start(cs) < 0) {
		*cause = xstrdup("cannot set up events");
		goto fail;
	}
	log_info("cairn-chunk serving on %s with %d data dir%s; metaserver %s", opts->listen,
		 cs->ndirs, cs->ndirs == 1 ? "" : "s", opts->meta);
	return cs;
fail:
	chunk_free(cs);
	return NULL;
}

void chunk_shutdown(struct chunk_server *cs)
{
	static const struct timeval poll_every = {0, 10000};
	if (cs->stopping)
		return;
	cs->stopping = 1;
	log_info("shutting down (%u calls in progress)", cs->ncalls);
	chunk_scrub_stop(cs);
	cs->drain_deadline_ms = time_mono_ms() + CHUNK_DRAIN_MS;
	event_add(cs->drain_ev, &poll_every);
}

void chunk_free(struct chunk_server *cs)
{
	if (!cs)
		return;
	cs->stopping = 1;
	teardown(cs);
	chunk_repl_free(cs);
	if (cs->drain_ev)
		event_free(cs->drain_ev);
	chunk_io_free(cs);
	chunk_ident_free(cs);
	if (cs->dirs)
		free_dirs(cs->dirs, cs->ndirs);
	free(cs->lost);
	chunk_stats_stop(cs);
	free(cs);
}
