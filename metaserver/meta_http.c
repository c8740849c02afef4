/*
 * meta_http: the metaserver's HTTP face on --http (DESIGN §11).
 *
 *   /                  the console (HTML, JS and CSS embedded in the binary:
 *                      console/ in the source tree, made into a C table at
 *                      build time; nothing is fetched from elsewhere)
 *   /api/status        the status document: namespace size, log positions,
 *                      connections, chunkservers, chunks, replicas, leases and
 *                      the replication monitor's view (meta_admin.c)
 *   /api/summary       what the console's header shows: health, capacity, used,
 *                      inodes, chunks, nodes by state, healing and rebalancing
 *                      with their rates and ETAs
 *   /api/nodes         every chunkserver: state, rack, space, replicas, load,
 *                      last heard, decommission progress
 *   /api/fsck?from=ID&limit=N   one page of the fsck problem list
 *   /api/events?since=SEQ       recent events (meta_stats.c)
 *   /api/history       samples of the last hour (meta_stats.c)
 *   /metrics           Prometheus text format
 *
 * Anything else is 404; a method other than GET or HEAD is 405. The event
 * loop serves these pages, so each is bounded: a fsck page looks at no
 * more than FSCK_PAGE_IDS inodes and carries at most FSCK_PAGE_MAX
 * problems, and the console walks the pages itself.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkmap.h"
#include "console_assets.h"
#include "httpd.h"
#include "lease.h"
#include "meta_int.h"
#include "meta_stats.h"
#include "metrics.h"
#include "nodes.h"
#include "ns.h"
#include "oplog.h"
#include "util.h"

#define FSCK_PAGE_IDS 20000u /* inode ids one fsck page looks at */
#define FSCK_PAGE_MAX 1000u  /* problems one page may carry */
#define FSCK_PAGE_DEF 100u

void meta_http_json_str(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			evbuffer_add_printf(out, "\\%c", ch);
		else if (ch < 0x20)
			evbuffer_add_printf(out, "\\u%04x", ch);
		else
			evbuffer_add(out, s, 1);
	}
	evbuffer_add(out, "\"", 1);
}

/* The unsigned query parameter key of query (may be NULL), or def when absent or bad. */
static uint64_t query_u64(const char *query, const char *key, uint64_t def)
{
	struct evkeyvalq args;
	uint64_t v = def;
	if (!query || evhttp_parse_query_str(query, &args) < 0)
		return def;
	const char *s = evhttp_find_header(&args, key);
	char *end;
	if (s && *s) {
		unsigned long long n = strtoull(s, &end, 10);
		if (!*end && s[0] != '-')
			v = n;
	}
	evhttp_clear_headers(&args);
	return v;
}

static void page_status(struct meta_server *ms, const char *query, struct evbuffer *out)
{
	evbuffer_add_printf(out,
			    "{\"service\": \"cairn-meta\", \"listen\": \"%s\", \"inodes\": %zu, "
			    "\"log_seq\": %llu, \"durable_seq\": %llu, \"checkpoint_seq\": %llu, "
			    "\"connections\": %u, \"calls\": %llu, \"chunk_size\": %llu, "
			    "\"replication\": %lld, \"nodes\": %zu, \"nodes_live\": %zu, "
			    "\"chunks\": %zu, \"replicas\": %zu, \"leases\": %zu",
			    ms->opts->listen, ns_count(ms->ns),
			    (unsigned long long)(ms->log ? oplog_last_seq(ms->log) : 0),
			    (unsigned long long)(ms->log ? oplog_durable_seq(ms->log) : 0),
			    (unsigned long long)ms->ckpt_seq, rpc_server_nconns(ms->rpc),
			    (unsigned long long)ms->calls, (unsigned long long)ms->opts->chunk_size,
			    (long long)ms->opts->replication, nodes_count(ms->nodes),
			    nodes_nlive(ms->nodes, time_mono_ms()), chunkmap_count(ms->cmap),
			    chunkmap_nreplicas(ms->cmap), lease_count(ms->leases));
	meta_admin_status(ms, out);
	meta_ident_status(ms, out);
	evbuffer_add_printf(out, "}\n");
}

/*
 * From the last scan, and DEGRADED too while a node died after it: until
 * the next scan has looked, its chunks may be short.
 */
static const char *health(const struct meta_server *ms)
{
	const struct repl_stats *st = &ms->scan_stats;
	uint64_t now = time_mono_ms();
	if (!ms->scans)
		return "STARTING";
	if (st->missing)
		return "CORRUPT";
	if (st->under || meta_stats_heal_inflight(ms) || repl_nbad(ms->repl))
		return "DEGRADED";
	size_t n = nodes_count(ms->nodes);
	for (size_t i = 0; i < n; i++) {
		const struct nodes_node *node = nodes_get(ms->nodes, (uint32_t)i);
		if (!nodes_live(ms->nodes, node, now) &&
		    node->last_ms + ms->opts->dead_after_ms >= ms->scan_last_ms &&
		    chunkmap_node_count(ms->cmap, node->id) > 0)
			return "DEGRADED";
	}
	return "HEALTHY";
}

static void page_summary(struct meta_server *ms, const char *query, struct evbuffer *out)
{
	static const char *const states[] = {"up", "dead", "decommissioning", "decommissioned"};
	uint64_t now = time_mono_ms(), used = 0, cap = 0;
	size_t count[4] = {0}, n = nodes_count(ms->nodes);
	for (size_t i = 0; i < n; i++) {
		const struct nodes_node *node = nodes_get(ms->nodes, (uint32_t)i);
		const char *s = meta_admin_node_state(ms, node, now);
		for (int k = 0; k < 4; k++)
			count[k] += strcmp(s, states[k]) == 0;
		if (nodes_live(ms->nodes, node, now)) {
			used += node->used;
			cap += node->capacity;
		}
	}
	const struct repl_stats *st = &ms->scan_stats;
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	evbuffer_add_printf(
	    out,
	    "{\"service\": \"cairn-meta\", \"listen\": \"%s\", \"health\": \"%s\", "
	    "\"capacity\": %llu, \"used\": %llu, \"inodes\": %zu, \"chunks\": %zu, "
	    "\"replicas\": %zu, \"leases\": %zu, \"connections\": %u, \"replication\": %lld, "
	    "\"nodes\": {\"total\": %zu, \"up\": %zu, \"dead\": %zu, \"decommissioning\": %zu, "
	    "\"decommissioned\": %zu}, \"healing\": {\"under_replicated\": %zu, \"missing\": %zu, "
	    "\"over_replicated\": %zu, \"in_flight\": %zu, \"waiting\": %zu, \"bad_replicas\": "
	    "%zu}, "
	    "\"rebalance\": {\"threshold\": %u, \"mean\": %.2f, \"spread\": %.2f, "
	    "\"in_flight\": %zu, \"moved\": %llu, \"bytes_moved\": %llu, \"balanced\": %s}",
	    ms->opts->listen, health(ms), (unsigned long long)cap, (unsigned long long)used,
	    ns_count(ms->ns), chunkmap_count(ms->cmap), chunkmap_nreplicas(ms->cmap),
	    lease_count(ms->leases), rpc_server_nconns(ms->rpc), (long long)ms->opts->replication,
	    n, count[0], count[1], count[2], count[3], st->under, st->missing, st->over,
	    meta_stats_heal_inflight(ms), st->waiting, repl_nbad(ms->repl),
	    repl_threshold(ms->repl), b.mean * 100, b.spread * 100, b.inflight,
	    (unsigned long long)b.moved, (unsigned long long)b.bytes,
	    b.balanced ? "true" : "false");
	meta_stats_rates_json(ms->stats, out);
	evbuffer_add_printf(out, "}\n");
}

static void page_nodes(struct meta_server *ms, const char *query, struct evbuffer *out)
{
	uint64_t now = time_mono_ms();
	size_t n = nodes_count(ms->nodes);
	evbuffer_add(out, "[", 1);
	for (size_t i = 0; i < n; i++) {
		const struct nodes_node *node = nodes_get(ms->nodes, (uint32_t)i);
		size_t replicas = chunkmap_node_count(ms->cmap, node->id);
		evbuffer_add_printf(out, "%s{\"addr\": ", i ? ", " : "");
		meta_http_json_str(out, node->addr);
		evbuffer_add_printf(out, ", \"rack\": ");
		meta_http_json_str(out, node->rack);
		evbuffer_add_printf(out,
				    ", \"state\": \"%s\", \"replicas\": %zu, \"used\": %llu, "
				    "\"capacity\": %llu, \"load\": %u, \"last_heard_ms\": %llu, "
				    "\"decommission\": ",
				    meta_admin_node_state(ms, node, now), replicas,
				    (unsigned long long)node->used,
				    (unsigned long long)node->capacity, node->load,
				    (unsigned long long)(now - node->last_ms));
		uint64_t start = meta_stats_decom_start(ms->stats, node);
		if (node->decom)
			evbuffer_add_printf(
			    out, "{\"start_replicas\": %llu, \"left\": %zu}}",
			    (unsigned long long)(start > replicas ? start : replicas), replicas);
		else
			evbuffer_add_printf(out, "null}");
	}
	evbuffer_add(out, "]\n", 2);
}

struct fsck_page {
	struct evbuffer *out;
	size_t n;
};

static void fsck_problem(void *arg, const Cairn__FsckProblem *p)
{
	static const char *const kinds[] = {"under_replicated", "missing", "corrupt", "stale",
					    "held"};
	struct fsck_page *pg = arg;
	evbuffer_add_printf(pg->out, "%s{\"path\": ", pg->n++ ? ", " : "");
	meta_http_json_str(pg->out, p->path);
	evbuffer_add_printf(pg->out, ", \"chunk\": %llu, \"index\": %llu, \"kind\": \"%s\"}",
			    (unsigned long long)p->chunk, (unsigned long long)p->index,
			    (unsigned)p->kind < 5 ? kinds[p->kind] : "other");
}

static void page_fsck(struct meta_server *ms, const char *query, struct evbuffer *out)
{
	uint64_t from = query_u64(query, "from", NS_ROOT_ID);
	uint64_t limit = query_u64(query, "limit", FSCK_PAGE_DEF);
	if (limit == 0 || limit > FSCK_PAGE_MAX)
		limit = FSCK_PAGE_MAX;
	struct fsck_page pg = {out, 0};
	evbuffer_add_printf(out, "{\"from\": %llu, \"problems\": [", (unsigned long long)from);
	uint64_t next = meta_admin_fsck_ids(ms, from, FSCK_PAGE_IDS, limit, fsck_problem, &pg);
	evbuffer_add_printf(out, "], \"next\": %llu, \"done\": %s}\n", (unsigned long long)next,
			    next ? "false" : "true");
}

static void page_events(struct meta_server *ms, const char *query, struct evbuffer *out)
{
	meta_stats_events_json(ms->stats, query_u64(query, "since", 0), out);
}

static void page_history(struct meta_server *ms, const char *query, struct evbuffer *out)
{
	meta_stats_history_json(ms->stats, out);
}

static void page_metrics(struct meta_server *ms, const char *query, struct evbuffer *out)
{
	metrics_render(meta_stats_metrics(ms->stats), out);
}

static const struct route {
	const char *path;
	void (*fn)(struct meta_server *ms, const char *query, struct evbuffer *out);
	const char *type;
} routes[] = {
    {"/api/status", page_status, "application/json"},
    {"/api/summary", page_summary, "application/json"},
    {"/api/nodes", page_nodes, "application/json"},
    {"/api/fsck", page_fsck, "application/json"},
    {"/api/events", page_events, "application/json"},
    {"/api/history", page_history, "application/json"},
    {"/metrics", page_metrics, "text/plain; version=0.0.4; charset=utf-8"},
};

static void http_send(struct evhttp_request *req, int code, const char *reason, const char *type,
		      struct evbuffer *out)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, out);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct meta_server *ms = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (!path || !*path)
		path = "/";
	struct evbuffer *out = evbuffer_new();
	if (!out) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path) == 0) {
			routes[i].fn(ms, query, out);
			http_send(req, HTTP_OK, "OK", routes[i].type, out);
			evbuffer_free(out);
			return;
		}
	}
	const struct console_asset *a =
	    console_asset_find(strcmp(path, "/") ? path : "/index.html");
	if (a) {
		evbuffer_add_reference(out, a->data, a->len, NULL, NULL);
		http_send(req, HTTP_OK, "OK", a->type, out);
	} else {
		evbuffer_add_printf(out,
				    "no such page: the console is at /, the API under /api/\n");
		http_send(req, HTTP_NOTFOUND, "Not Found", "text/plain; charset=utf-8", out);
	}
	evbuffer_free(out);
}

int meta_http_start(struct meta_server *ms, char **cause)
{
	ms->http = httpd_listen(ms->base, ms->opts->http, "--http", on_request, ms, cause);
	return ms->http ? 0 : -1;
}

void meta_http_stop(struct meta_server *ms)
{
	if (ms->http)
		evhttp_free(ms->http);
	ms->http = NULL;
}
