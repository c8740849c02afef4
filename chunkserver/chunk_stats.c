/*
 * chunk_stats: the chunkserver's counters (calls and their latency per
 * operation, bytes read and written, checksum failures, replication
 * copies) and the optional --http page that serves them, with the disk
 * use of each data dir and the open connections, as /metrics in the
 * Prometheus text format (DESIGN §11). Any other path is 404.
 *
 * Latency is from the request's arrival to its answer, for the calls
 * that reach the store (reads, writes, syncs); calls refused before that
 * are counted but not timed. The counters exist whether or not --http is
 * set: heartbeats carry the byte totals to the metaserver, whose console
 * draws the cluster's throughput from them.
 *
 * Loop thread only.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_int.h"
#include "httpd.h"
#include "metrics.h"
#include "store.h"
#include "util.h"

struct chunk_stats {
	struct metrics *reg;
	struct metrics_counter *calls[CHUNK_NHANDLERS];
	struct metrics_hist *latency[CHUNK_NHANDLERS];
	struct metrics_counter *read, *written, *checksum, *copies, *copy_failures, *copied;
	struct evhttp *http;
};

static void collect(void *arg, struct evbuffer *out)
{
	struct chunk_server *cs = arg;
	int n = cs->store ? store_ndirs(cs->store) : 0;
	static const struct {
		const char *name, *help;
		size_t off;
	} dir_fams[] = {
	    {"cairn_chunk_dir_used_bytes", "Bytes of replica files in a data dir",
	     offsetof(struct store_dir_stats, used)},
	    {"cairn_chunk_dir_capacity_bytes", "Bytes a data dir may use",
	     offsetof(struct store_dir_stats, capacity)},
	    {"cairn_chunk_dir_free_bytes", "Bytes still free for replicas in a data dir",
	     offsetof(struct store_dir_stats, free)},
	    {"cairn_chunk_dir_chunks", "Replicas in a data dir",
	     offsetof(struct store_dir_stats, chunks)},
	};
	for (size_t f = 0; f < sizeof(dir_fams) / sizeof(dir_fams[0]); f++) {
		metrics_family(out, dir_fams[f].name, "gauge", dir_fams[f].help);
		for (int i = 0; i < n; i++) {
			struct store_dir_stats st;
			char label[1024];
			store_dir_stats(cs->store, i, &st);
			uint64_t v;
			memcpy(&v, (const char *)&st + dir_fams[f].off, sizeof(v));
			metrics_sample(out, dir_fams[f].name,
				       metrics_label(label, sizeof(label), "dir", st.path),
				       (double)v);
		}
	}
	metrics_family(out, "cairn_chunk_dir_failed", "gauge",
		       "1 when a data dir was taken out of service");
	for (int i = 0; i < n; i++) {
		struct store_dir_stats st;
		char label[1024];
		store_dir_stats(cs->store, i, &st);
		metrics_sample(out, "cairn_chunk_dir_failed",
			       metrics_label(label, sizeof(label), "dir", st.path),
			       st.failed ? 1 : 0);
	}
	metrics_family(out, "cairn_chunk_connections", "gauge",
		       "Open connections from clients and peers");
	metrics_sample(out, "cairn_chunk_connections", NULL,
		       cs->rpc ? rpc_server_nconns(cs->rpc) : 0);
	metrics_family(out, "cairn_chunk_calls_in_progress", "gauge", "Calls not answered yet");
	metrics_sample(out, "cairn_chunk_calls_in_progress", NULL, cs->ncalls);
	metrics_family(out, "cairn_chunk_metaserver_registered", "gauge",
		       "1 while the metaserver has this chunkserver registered");
	metrics_sample(out, "cairn_chunk_metaserver_registered", NULL, cs->registered ? 1 : 0);
}

static void on_http(struct evhttp_request *req, void *arg)
{
	struct chunk_server *cs = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "the chunkserver serves /metrics only");
		return;
	}
	struct evbuffer *out = evbuffer_new();
	if (!out) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_render(cs->stats->reg, out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

static int http_start(struct chunk_server *cs, char **cause)
{
	cs->stats->http = httpd_listen(cs->base, cs->opts->http, "--http", on_http, cs, cause);
	return cs->stats->http ? 0 : -1;
}

int chunk_stats_start(struct chunk_server *cs, char **cause)
{
	struct chunk_stats *st = xcalloc(1, sizeof(*st));
	cs->stats = st;
	st->reg = metrics_new();
	for (unsigned i = 0; i < CHUNK_NHANDLERS; i++) {
		char label[64];
		if (!chunk_handlers[i].fn)
			continue;
		metrics_label(label, sizeof(label), "op", chunk_handlers[i].name);
		st->calls[i] = metrics_counter(st->reg, "cairn_chunk_calls_total", label,
					       "Calls received, by operation");
	}
	for (unsigned i = 0; i < CHUNK_NHANDLERS; i++) {
		char label[64];
		if (!chunk_handlers[i].fn || i == CAIRN__ENVELOPE__BODY_PING)
			continue;
		metrics_label(label, sizeof(label), "op", chunk_handlers[i].name);
		st->latency[i] =
		    metrics_hist(st->reg, "cairn_chunk_call_seconds", label,
				 "Time from a call's arrival to its answer, by operation");
	}
	st->read = metrics_counter(st->reg, "cairn_chunk_read_bytes_total", "",
				   "Bytes read by clients and peers");
	st->written = metrics_counter(st->reg, "cairn_chunk_written_bytes_total", "",
				      "Bytes written here by clients and chain peers");
	st->checksum = metrics_counter(st->reg, "cairn_chunk_checksum_failures_total", "",
				       "Replicas found corrupt by reads, writes or the scrubber");
	st->copies = metrics_counter(st->reg, "cairn_chunk_replication_copies_total", "",
				     "Replication copies made here");
	st->copy_failures = metrics_counter(st->reg, "cairn_chunk_replication_failures_total", "",
					    "Replication copies to here that failed");
	st->copied = metrics_counter(st->reg, "cairn_chunk_replication_bytes_total", "",
				     "Bytes of replication copies made here");
	metrics_add_collector(st->reg, collect, cs);
	return cs->opts->http ? http_start(cs, cause) : 0;
}

void chunk_stats_http_stop(struct chunk_server *cs)
{
	if (cs->stats && cs->stats->http) {
		evhttp_free(cs->stats->http);
		cs->stats->http = NULL;
	}
}

void chunk_stats_stop(struct chunk_server *cs)
{
	if (!cs->stats)
		return;
	chunk_stats_http_stop(cs);
	metrics_free(cs->stats->reg);
	free(cs->stats);
	cs->stats = NULL;
}

void chunk_stats_call(struct chunk_server *cs, unsigned op)
{
	if (op < CHUNK_NHANDLERS && cs->stats->calls[op])
		metrics_inc(cs->stats->calls[op], 1);
}

void chunk_stats_done(struct chunk_server *cs, unsigned op, uint64_t start_us)
{
	if (op < CHUNK_NHANDLERS && cs->stats->latency[op])
		metrics_observe_us(cs->stats->latency[op], time_mono_us() - start_us);
}

void chunk_stats_read(struct chunk_server *cs, uint64_t bytes)
{
	metrics_inc(cs->stats->read, bytes);
}

void chunk_stats_written(struct chunk_server *cs, uint64_t bytes)
{
	metrics_inc(cs->stats->written, bytes);
}

void chunk_stats_checksum(struct chunk_server *cs)
{
	metrics_inc(cs->stats->checksum, 1);
}

void chunk_stats_copy(struct chunk_server *cs, int err, uint64_t length)
{
	if (err) {
		metrics_inc(cs->stats->copy_failures, 1);
		return;
	}
	metrics_inc(cs->stats->copies, 1);
	metrics_inc(cs->stats->copied, length);
}

void chunk_stats_totals(const struct chunk_server *cs, uint64_t *read, uint64_t *written)
{
	*read = cs->stats ? cs->stats->read->value : 0;
	*written = cs->stats ? cs->stats->written->value : 0;
}
