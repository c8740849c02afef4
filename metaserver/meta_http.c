/*
 * meta_http: the metaserver's status page (--http): GET / or /status
 * answers one JSON object with the namespace size, log positions,
 * connection count, chunkservers (known and live), chunks, replicas,
 * write leases, and the replication monitor's view (meta_admin.c): what
 * the last scan found and each chunkserver's state and replica count.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkmap.h"
#include "lease.h"
#include "meta_int.h"
#include "nodes.h"
#include "ns.h"
#include "oplog.h"
#include "util.h"

static void on_status(struct evhttp_request *req, void *arg)
{
	struct meta_server *ms = arg;
	struct evbuffer *out = evbuffer_new();
	if (!out) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
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
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

int meta_http_start(struct meta_server *ms, char **cause)
{
	char *host = NULL;
	uint16_t port;
	if (addr_parse(ms->opts->http, &host, &port) < 0) {
		asprintf(cause, "--http %s: not HOST:PORT", ms->opts->http);
		return -1;
	}
	ms->http = evhttp_new(ms->base);
	if (!ms->http || evhttp_bind_socket(ms->http, host, port) < 0) {
		asprintf(cause, "--http %s: cannot listen there", ms->opts->http);
		free(host);
		return -1;
	}
	free(host);
	evhttp_set_gencb(ms->http, on_status, ms);
	return 0;
}

void meta_http_stop(struct meta_server *ms)
{
	if (ms->http)
		evhttp_free(ms->http);
	ms->http = NULL;
}
