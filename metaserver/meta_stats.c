/*
 * meta_stats: the metaserver's counters, events and history (see
 * meta_stats.h).
 *
 * Rates come from a ring of per-second snapshots of the cumulative
 * counters (RATE_WINDOW seconds): a rate is the difference between the
 * newest snapshot and one some seconds older, so no rate needs a timer of
 * its own and each is exact over its window. History samples are taken
 * every META_HISTORY_EVERY ticks from the same snapshots.
 *
 * Throughput: each chunkserver's heartbeat carries the bytes its clients
 * read and wrote since it started; the cluster's totals grow by the
 * difference from the node's previous heartbeat (the whole value when it
 * went down, i.e. the chunkserver restarted).
 *
 * Invariants: events carry strictly increasing sequence numbers from 1;
 * the rings hold at most their maximum, oldest overwritten first.
 */
#include "meta_stats.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkmap.h"
#include "lease.h"
#include "meta_int.h"
#include "metrics.h"
#include "nodes.h"
#include "ns.h"
#include "oplog.h"
#include "util.h"

#define RATE_WINDOW 64u /* per-second snapshots kept (a power of 2) */
#define EVENT_TEXT  200u

struct snapshot {
	uint64_t read, written; /* cluster bytes */
	uint64_t copies, copied_bytes;
	uint64_t moved, moved_bytes;
	uint64_t calls;
};

struct event_rec {
	uint64_t seq;
	int64_t wall_ms;
	const char *kind; /* static */
	char text[EVENT_TEXT];
};

struct sample {
	int64_t wall_ms;
	double read_bps, write_bps, copies_ps, calls_ps;
	uint64_t backlog, in_flight, moves, used, capacity;
};

struct node_seen {
	const char *state; /* static; NULL: never seen */
	uint64_t read, written;
	uint64_t decom_start;
};

struct meta_stats {
	struct meta_server *ms;
	struct metrics *reg;
	struct metrics_counter *calls[META_NHANDLERS];
	struct metrics_hist *latency[META_NHANDLERS];
	struct metrics_hist *commit;
	struct metrics_counter *corrupt, *stale, *copies, *copied_bytes, *read, *written;
	struct snapshot snaps[RATE_WINDOW];
	uint64_t ticks;
	struct event_rec events[META_EVENTS_MAX];
	uint64_t event_seq;
	struct sample history[META_HISTORY_MAX];
	uint64_t nsamples;
	struct node_seen *nodes;
	size_t nnodes;
	int healing, rebalancing; /* as of the last tick */
	uint64_t healed;	  /* copies, moves not counted, before this healing */
};

static void collect(void *arg, struct evbuffer *out);

struct meta_stats *meta_stats_new(struct meta_server *ms)
{
	struct meta_stats *st = xcalloc(1, sizeof(*st));
	st->ms = ms;
	st->reg = metrics_new();
	st->commit =
	    metrics_hist(st->reg, "cairn_meta_oplog_commit_seconds", "",
			 "Time a mutation's reply waits for its op-log records to be durable");
	st->corrupt = metrics_counter(st->reg, "cairn_meta_checksum_failures_total", "",
				      "Replicas reported corrupt (checksum mismatch)");
	st->stale = metrics_counter(st->reg, "cairn_meta_stale_replicas_total", "",
				    "Replicas found stale or short");
	st->copies = metrics_counter(st->reg, "cairn_meta_replication_copies_total", "",
				     "Replication copies completed");
	st->copied_bytes = metrics_counter(st->reg, "cairn_meta_replication_bytes_total", "",
					   "Bytes of replication copies completed");
	st->read = metrics_counter(st->reg, "cairn_meta_cluster_read_bytes_total", "",
				   "Bytes clients read from chunkservers (from heartbeats)");
	st->written = metrics_counter(
	    st->reg, "cairn_meta_cluster_written_bytes_total", "",
	    "Bytes written to chunkservers, each replica counted (from heartbeats)");
	metrics_add_collector(st->reg, collect, st);
	return st;
}

void meta_stats_free(struct meta_stats *st)
{
	if (!st)
		return;
	metrics_free(st->reg);
	free(st->nodes);
	free(st);
}

struct metrics *meta_stats_metrics(struct meta_stats *st)
{
	return st->reg;
}

void meta_stats_call(struct meta_stats *st, unsigned op, const char *name, uint64_t us)
{
	if (op >= META_NHANDLERS)
		return;
	if (!st->calls[op]) {
		char label[64];
		metrics_label(label, sizeof(label), "op", name);
		st->calls[op] = metrics_counter(st->reg, "cairn_meta_calls_total", label,
						"Calls served, by operation");
		st->latency[op] = metrics_hist(st->reg, "cairn_meta_call_seconds", label,
					       "Time the loop spent on a call, by operation");
	}
	metrics_inc(st->calls[op], 1);
	metrics_observe_us(st->latency[op], us);
}

void meta_stats_commit(struct meta_stats *st, uint64_t us)
{
	metrics_observe_us(st->commit, us);
}

static void add_event(struct meta_stats *st, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_event(struct meta_stats *st, const char *kind, const char *fmt, ...)
{
	struct event_rec *e = &st->events[st->event_seq % META_EVENTS_MAX];
	e->seq = ++st->event_seq;
	e->wall_ms = time_now_us() / 1000;
	e->kind = kind;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
}

void meta_stats_bad(struct meta_stats *st, uint64_t chunk, const struct nodes_node *node,
		    int corrupt)
{
	metrics_inc(corrupt ? st->corrupt : st->stale, 1);
	if (corrupt)
		add_event(st, "corruption",
			  "chunk %llu: the replica on %s is corrupt or short; re-making it",
			  (unsigned long long)chunk, node->addr);
}

void meta_stats_copied(struct meta_stats *st, uint64_t length)
{
	metrics_inc(st->copies, 1);
	metrics_inc(st->copied_bytes, length);
}

static struct node_seen *seen(struct meta_stats *st, uint32_t id)
{
	if (id >= st->nnodes) {
		size_t n = id + 16;
		struct node_seen *v = xrealloc(st->nodes, n * sizeof(*v));
		memset(v + st->nnodes, 0, (n - st->nnodes) * sizeof(*v));
		st->nodes = v;
		st->nnodes = n;
	}
	return &st->nodes[id];
}

void meta_stats_heartbeat(struct meta_stats *st, const struct nodes_node *node, uint64_t bytes_read,
			  uint64_t bytes_written)
{
	struct node_seen *s = seen(st, node->id);
	metrics_inc(st->read, bytes_read >= s->read ? bytes_read - s->read : bytes_read);
	metrics_inc(st->written,
		    bytes_written >= s->written ? bytes_written - s->written : bytes_written);
	s->read = bytes_read;
	s->written = bytes_written;
}

void meta_stats_decommission(struct meta_stats *st, const struct nodes_node *node, int on)
{
	struct node_seen *s = seen(st, node->id);
	s->decom_start = on ? chunkmap_node_count(st->ms->cmap, node->id) : 0;
	if (on)
		add_event(st, "decommission",
			  "chunkserver %s: decommission started, %llu replicas to move", node->addr,
			  (unsigned long long)s->decom_start);
	else
		add_event(st, "decommission", "chunkserver %s: decommission cancelled", node->addr);
}

uint64_t meta_stats_decom_start(struct meta_stats *st, const struct nodes_node *node)
{
	return node->id < st->nnodes ? st->nodes[node->id].decom_start : 0;
}

/* ---- once a second ------------------------------------------------------------------------ */

static uint64_t calls_total(const struct meta_stats *st)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < META_NHANDLERS; i++)
		n += st->calls[i] ? st->calls[i]->value : 0;
	return n;
}

/* The snapshot taken ago seconds before the newest (clamped to what exists). */
static const struct snapshot *snap_ago(const struct meta_stats *st, uint64_t ago)
{
	if (ago >= st->ticks)
		ago = st->ticks ? st->ticks - 1 : 0;
	if (ago >= RATE_WINDOW)
		ago = RATE_WINDOW - 1;
	return &st->snaps[(st->ticks - 1 - ago) % RATE_WINDOW];
}

/* Seconds actually covered by snap_ago(ago). */
static uint64_t span(const struct meta_stats *st, uint64_t ago)
{
	uint64_t have = st->ticks ? st->ticks - 1 : 0;
	if (have > RATE_WINDOW - 1)
		have = RATE_WINDOW - 1;
	return ago < have ? ago : have;
}

#define RATE(st, field, ago)                                                                       \
	(span(st, ago)                                                                             \
	     ? (double)(snap_ago(st, 0)->field - snap_ago(st, ago)->field) / (double)span(st, ago) \
	     : 0.0)

static void node_events(struct meta_stats *st, uint64_t now)
{
	struct meta_server *ms = st->ms;
	size_t n = nodes_count(ms->nodes);
	for (size_t i = 0; i < n; i++) {
		const struct nodes_node *node = nodes_get(ms->nodes, (uint32_t)i);
		struct node_seen *s = seen(st, node->id);
		const char *state = meta_admin_node_state(ms, node, now);
		if (s->state == state)
			continue;
		if (strcmp(state, "up") == 0)
			add_event(st, "node_joined", "chunkserver %s %s", node->addr,
				  s->state ? "is up again" : "joined");
		else if (strcmp(state, "dead") == 0)
			add_event(st, "node_dead", "chunkserver %s is dead (silent for %llu ms)",
				  node->addr, (unsigned long long)(now - node->last_ms));
		else if (strcmp(state, "decommissioned") == 0 || !s->decom_start)
			add_event(st, "decommission", "chunkserver %s is %s", node->addr, state);
		/* A decommission set before a restart: counted from when it is first seen. */
		if (strcmp(state, "decommissioning") == 0 && !s->decom_start)
			s->decom_start = chunkmap_node_count(ms->cmap, node->id);
		if (!node->decom)
			s->decom_start = 0;
		s->state = state;
	}
}

size_t meta_stats_heal_inflight(const struct meta_server *ms)
{
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	size_t all = repl_inflight(ms->repl);
	return all > b.inflight ? all - b.inflight : 0;
}

static uint64_t backlog(const struct meta_server *ms)
{
	return ms->scan_stats.under + ms->scan_stats.missing + meta_stats_heal_inflight(ms);
}

/* a - b, or 0 when b is more. */
static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/*
 * Healing and rebalancing are active while work is queued or in flight, or
 * when copies (or moves) completed since the last tick: work that began
 * and ended between two ticks still makes a started and a done event.
 * Rebalancing moves are copies too; healing counts only the others.
 */
static void work_events(struct meta_stats *st)
{
	struct meta_server *ms = st->ms;
	const struct snapshot *now = snap_ago(st, 0), *before = snap_ago(st, 1);
	uint64_t copies = now->copies - before->copies, moved = now->moved - before->moved;
	uint64_t healed = copies > moved ? copies - moved : 0, left = backlog(ms);
	int healing = left > 0 || healed > 0;
	if (healing && !st->healing) {
		st->healed = sub0(before->copies, before->moved);
		add_event(st, "healing_started", "healing: %llu chunks below their replication",
			  (unsigned long long)(left > healed ? left : healed));
	} else if (!healing && st->healing) {
		add_event(st, "repair_done",
			  "healing done: %llu copies made, every chunk at target",
			  (unsigned long long)sub0(sub0(now->copies, now->moved), st->healed));
	}
	st->healing = healing;
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	int rebalancing = b.inflight > 0 || moved > 0;
	if (rebalancing && !st->rebalancing)
		add_event(st, "rebalance_started", "rebalancing: spread %.1f points over %u",
			  b.spread * 100, repl_threshold(ms->repl));
	else if (!rebalancing && st->rebalancing)
		add_event(st, "rebalance_finished", "rebalancing %s: %llu chunks moved in all",
			  b.balanced ? "finished" : "paused", (unsigned long long)b.moved);
	st->rebalancing = rebalancing;
}

static void space(const struct meta_server *ms, uint64_t now, uint64_t *used, uint64_t *cap)
{
	*used = *cap = 0;
	size_t n = nodes_count(ms->nodes);
	for (size_t i = 0; i < n; i++) {
		const struct nodes_node *node = nodes_get(ms->nodes, (uint32_t)i);
		if (!nodes_live(ms->nodes, node, now))
			continue;
		*used += node->used;
		*cap += node->capacity;
	}
}

static void take_sample(struct meta_stats *st, uint64_t now)
{
	struct meta_server *ms = st->ms;
	struct sample *s = &st->history[st->nsamples++ % META_HISTORY_MAX];
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	s->wall_ms = time_now_us() / 1000;
	s->read_bps = RATE(st, read, META_HISTORY_EVERY);
	s->write_bps = RATE(st, written, META_HISTORY_EVERY);
	s->copies_ps = RATE(st, copies, META_HISTORY_EVERY);
	s->calls_ps = RATE(st, calls, META_HISTORY_EVERY);
	s->backlog = ms->scan_stats.under + ms->scan_stats.missing;
	s->in_flight = meta_stats_heal_inflight(ms);
	s->moves = b.inflight;
	space(ms, now, &s->used, &s->capacity);
}

void meta_stats_tick(struct meta_stats *st)
{
	struct meta_server *ms = st->ms;
	uint64_t now = time_mono_ms();
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	struct snapshot *s = &st->snaps[st->ticks++ % RATE_WINDOW];
	*s = (struct snapshot){st->read->value,	  st->written->value,
			       st->copies->value, st->copied_bytes->value,
			       b.moved,		  b.bytes,
			       calls_total(st)};
	node_events(st, now);
	work_events(st);
	if (st->ticks % META_HISTORY_EVERY == 1)
		take_sample(st, now);
}

/* ---- JSON --------------------------------------------------------------------------------- */

void meta_stats_events_json(struct meta_stats *st, uint64_t since, struct evbuffer *out)
{
	uint64_t first = st->event_seq > META_EVENTS_MAX ? st->event_seq - META_EVENTS_MAX + 1 : 1;
	if (since + 1 > first)
		first = since + 1;
	evbuffer_add_printf(out, "{\"last\": %llu, \"events\": [",
			    (unsigned long long)st->event_seq);
	for (uint64_t seq = first; seq <= st->event_seq; seq++) {
		const struct event_rec *e = &st->events[(seq - 1) % META_EVENTS_MAX];
		evbuffer_add_printf(out,
				    "%s{\"seq\": %llu, \"time_ms\": %lld, \"kind\": \"%s\", "
				    "\"text\": ",
				    seq == first ? "" : ", ", (unsigned long long)e->seq,
				    (long long)e->wall_ms, e->kind);
		meta_http_json_str(out, e->text);
		evbuffer_add(out, "}", 1);
	}
	evbuffer_add_printf(out, "]}\n");
}

void meta_stats_history_json(struct meta_stats *st, struct evbuffer *out)
{
	uint64_t first = st->nsamples > META_HISTORY_MAX ? st->nsamples - META_HISTORY_MAX : 0;
	evbuffer_add_printf(out, "{\"every_s\": %u, \"samples\": [", META_HISTORY_EVERY);
	for (uint64_t i = first; i < st->nsamples; i++) {
		const struct sample *s = &st->history[i % META_HISTORY_MAX];
		evbuffer_add_printf(
		    out,
		    "%s{\"t\": %lld, \"read_bps\": %.0f, \"write_bps\": %.0f, \"copies_ps\": %.2f, "
		    "\"calls_ps\": %.1f, \"backlog\": %llu, \"in_flight\": %llu, \"moves\": %llu, "
		    "\"used\": %llu, \"capacity\": %llu}",
		    i == first ? "" : ", ", (long long)s->wall_ms, s->read_bps, s->write_bps,
		    s->copies_ps, s->calls_ps, (unsigned long long)s->backlog,
		    (unsigned long long)s->in_flight, (unsigned long long)s->moves,
		    (unsigned long long)s->used, (unsigned long long)s->capacity);
	}
	evbuffer_add_printf(out, "]}\n");
}

/* Bytes the rebalancer still has to move: what the fuller nodes hold over the mean. */
static uint64_t to_move(const struct meta_server *ms, double mean, uint64_t now)
{
	uint64_t sum = 0;
	size_t n = nodes_count(ms->nodes);
	for (size_t i = 0; i < n; i++) {
		const struct nodes_node *node = nodes_get(ms->nodes, (uint32_t)i);
		double want = mean * (double)node->capacity;
		if (nodes_live(ms->nodes, node, now) && (double)node->used > want)
			sum += (uint64_t)((double)node->used - want);
	}
	return sum;
}

void meta_stats_rates_json(struct meta_stats *st, struct evbuffer *out)
{
	struct meta_server *ms = st->ms;
	uint64_t now = time_mono_ms();
	double copies = RATE(st, copies, 60), bytes = RATE(st, copied_bytes, 60);
	double moved = RATE(st, moved, 60), moved_bytes = RATE(st, moved_bytes, 60);
	uint64_t left = backlog(ms);
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	uint64_t move_left = b.balanced ? 0 : to_move(ms, b.mean, now);
	evbuffer_add_printf(
	    out,
	    ", \"healing_rate\": {\"chunks_ps\": %.2f, \"bytes_ps\": %.0f, \"backlog\": %llu, "
	    "\"eta_s\": %.0f}, \"rebalance_rate\": {\"chunks_ps\": %.2f, \"bytes_ps\": %.0f, "
	    "\"bytes_left\": %llu, \"eta_s\": %.0f}, \"throughput\": {\"read_bps\": %.0f, "
	    "\"write_bps\": %.0f, \"calls_ps\": %.1f}",
	    copies, bytes, (unsigned long long)left, left && copies > 0 ? left / copies : -1.0,
	    moved, moved_bytes, (unsigned long long)move_left,
	    move_left && moved_bytes > 0 ? move_left / moved_bytes : -1.0, RATE(st, read, 5),
	    RATE(st, written, 5), RATE(st, calls, 5));
}

/* ---- gauges read at render time ------------------------------------------------------------ */

static void gauge(struct evbuffer *out, const char *name, const char *help, double v)
{
	metrics_family(out, name, "gauge", help);
	metrics_sample(out, name, NULL, v);
}

static void node_gauges(struct meta_server *ms, struct evbuffer *out, uint64_t now)
{
	static const char *const states[] = {"up", "dead", "decommissioning", "decommissioned"};
	size_t count[4] = {0};
	size_t n = nodes_count(ms->nodes);
	for (size_t i = 0; i < n; i++) {
		const char *s = meta_admin_node_state(ms, nodes_get(ms->nodes, (uint32_t)i), now);
		for (int k = 0; k < 4; k++)
			count[k] += strcmp(s, states[k]) == 0;
	}
	metrics_family(out, "cairn_meta_nodes", "gauge", "Chunkservers, by state");
	for (int k = 0; k < 4; k++) {
		char label[48];
		metrics_sample(out, "cairn_meta_nodes",
			       metrics_label(label, sizeof(label), "state", states[k]),
			       (double)count[k]);
	}
	uint64_t used, cap;
	space(ms, now, &used, &cap);
	gauge(out, "cairn_meta_capacity_bytes", "Capacity of the live chunkservers", (double)cap);
	gauge(out, "cairn_meta_used_bytes", "Bytes used on the live chunkservers", (double)used);
}

static void collect(void *arg, struct evbuffer *out)
{
	struct meta_stats *st = arg;
	struct meta_server *ms = st->ms;
	const struct repl_stats *rs = &ms->scan_stats;
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	gauge(out, "cairn_meta_connections", "Open RPC connections",
	      ms->rpc ? rpc_server_nconns(ms->rpc) : 0);
	gauge(out, "cairn_meta_inodes", "Files and directories", (double)ns_count(ms->ns));
	gauge(out, "cairn_meta_chunks", "Chunks in the namespace",
	      (double)chunkmap_count(ms->cmap));
	gauge(out, "cairn_meta_replicas", "Replicas known", (double)chunkmap_nreplicas(ms->cmap));
	gauge(out, "cairn_meta_leases", "Write leases held", (double)lease_count(ms->leases));
	node_gauges(ms, out, time_mono_ms());
	gauge(out, "cairn_meta_under_replicated_chunks", "Chunks below target at the last scan",
	      (double)rs->under);
	gauge(out, "cairn_meta_missing_chunks", "Chunks with no live replica at the last scan",
	      (double)rs->missing);
	gauge(out, "cairn_meta_over_replicated_chunks", "Chunks over target at the last scan",
	      (double)rs->over);
	gauge(out, "cairn_meta_bad_replicas", "Bad replicas waiting to be replaced",
	      (double)repl_nbad(ms->repl));
	gauge(out, "cairn_meta_replication_in_flight",
	      "Healing copies in flight (rebalancing moves not counted)",
	      (double)meta_stats_heal_inflight(ms));
	gauge(out, "cairn_meta_replication_waiting", "Copies left for later scans (throttled)",
	      (double)rs->waiting);
	gauge(out, "cairn_meta_rebalance_in_flight", "Rebalancing moves in flight",
	      (double)b.inflight);
	gauge(out, "cairn_meta_rebalance_spread_ratio",
	      "Largest distance of a node's utilisation from the mean", b.spread);
	metrics_family(out, "cairn_meta_rebalance_moved_chunks_total", "counter",
		       "Chunks moved by the rebalancer");
	metrics_sample(out, "cairn_meta_rebalance_moved_chunks_total", NULL, (double)b.moved);
	metrics_family(out, "cairn_meta_rebalance_moved_bytes_total", "counter",
		       "Bytes moved by the rebalancer");
	metrics_sample(out, "cairn_meta_rebalance_moved_bytes_total", NULL, (double)b.bytes);
	metrics_family(out, "cairn_meta_scans_total", "counter", "Replication planner scans");
	metrics_sample(out, "cairn_meta_scans_total", NULL, (double)ms->scans);
	gauge(out, "cairn_meta_oplog_seq", "Last op-log record",
	      ms->log ? (double)oplog_last_seq(ms->log) : 0);
	gauge(out, "cairn_meta_oplog_durable_seq", "Last durable op-log record",
	      ms->log ? (double)oplog_durable_seq(ms->log) : 0);
	gauge(out, "cairn_meta_checkpoint_seq", "Op-log record of the newest checkpoint",
	      (double)ms->ckpt_seq);
}
