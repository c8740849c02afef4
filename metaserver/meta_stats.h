/*
 * meta_stats: what the metaserver counts for operators: the /metrics
 * registry, a bounded ring of recent events (node joined or dead,
 * corruption found, healing and rebalancing started and finished) and a
 * bounded history of samples (throughput, healing backlog) for the
 * console's charts.
 *
 * The rest of the metaserver tells it what happens through the
 * meta_stats_*() calls below, one call site each. Events that are changes
 * of state (a node's state, healing, rebalancing) are found by comparing
 * the state each second (meta_stats_tick()) with what it was, so the code
 * that changes them needs no hook. Everything is bounded: META_EVENTS_MAX
 * events and META_HISTORY_MAX samples, the oldest dropped first.
 *
 * Loop thread only.
 */
#ifndef CAIRN_META_STATS_H
#define CAIRN_META_STATS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct meta_server;
struct metrics;
struct nodes_node;

#define META_EVENTS_MAX	   256u
#define META_HISTORY_MAX   720u /* one hour of samples... */
#define META_HISTORY_EVERY 5u	/* ...taken every this many seconds */

struct meta_stats;

/* Returns new stats for ms (borrowed for their life); free with meta_stats_free(). */
struct meta_stats *meta_stats_new(struct meta_server *ms);
void meta_stats_free(struct meta_stats *st);

/* The registry behind /metrics. Borrowed; valid until meta_stats_free(). */
struct metrics *meta_stats_metrics(struct meta_stats *st);

/* A call of dispatch row op (name: its name) took us microseconds on the loop. */
void meta_stats_call(struct meta_stats *st, unsigned op, const char *name, uint64_t us);
/* A mutation's reply waited us microseconds for the op log to be durable. */
void meta_stats_commit(struct meta_stats *st, uint64_t us);
/* A replica of chunk on node was found bad: corrupt (checksum) or else stale. */
void meta_stats_bad(struct meta_stats *st, uint64_t chunk, const struct nodes_node *node,
		    int corrupt);
/* A replication copy of length bytes completed. */
void meta_stats_copied(struct meta_stats *st, uint64_t length);
/* node's heartbeat: the bytes its clients read and wrote since it started. */
void meta_stats_heartbeat(struct meta_stats *st, const struct nodes_node *node, uint64_t bytes_read,
			  uint64_t bytes_written);

/* Once a second: finds changes of state (events) and takes history samples. */
void meta_stats_tick(struct meta_stats *st);

/*
 * JSON for the console (/api/...). meta_stats_events_json() writes the
 * events after seq since (oldest first) as {"last": N, "events": [...]};
 * meta_stats_history_json() the samples as {"every_s": 5, "samples": [...]};
 * meta_stats_rates_json() the healing and rebalancing rates and ETAs as
 * JSON members (", ..."), for the summary.
 */
void meta_stats_events_json(struct meta_stats *st, uint64_t since, struct evbuffer *out);
void meta_stats_history_json(struct meta_stats *st, struct evbuffer *out);
void meta_stats_rates_json(struct meta_stats *st, struct evbuffer *out);

/* An operator started (on) or cancelled the decommission of node. */
void meta_stats_decommission(struct meta_stats *st, const struct nodes_node *node, int on);

/* Decommission progress of node: replicas it held when it began, 0 when unknown. */
uint64_t meta_stats_decom_start(struct meta_stats *st, const struct nodes_node *node);

/* Healing copies in flight: the planner's copies but the rebalancer's moves. */
size_t meta_stats_heal_inflight(const struct meta_server *ms);

/* Appends s as a JSON string (meta_http.c). */
void meta_http_json_str(struct evbuffer *out, const char *s);

#endif
