/*
 * chunk_scrub: the background scrubber (DESIGN §5). Every --scrub-interval
 * it re-verifies every replica in service, gently: one store_scrub() at a
 * time, and after each one a pause of interval / replicas (at least
 * CHUNK_SCRUB_GAP_MS), so a pass spreads over the whole interval and
 * takes little disk bandwidth from clients. Replicas being written (OPEN)
 * are skipped: they are verified by the reads and partial writes that
 * touch them, and the next pass finds them idle. A mismatch takes the
 * replica out of service (the store marks it corrupt) and reports it
 * lost at the next heartbeat, like a failed read.
 *
 * A pass works on the list of ids taken when it starts; replicas that
 * come later wait for the next pass, ones removed meanwhile are skipped.
 */
#include "chunk_int.h"

#include <errno.h>
#include <stdlib.h>

#include "errors.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define CHUNK_SCRUB_GAP_MS 10u

struct id_list {
	uint64_t *ids;
	size_t n, cap;
};

static void arm(struct chunk_server *cs, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(cs->scrub_ev, &tv);
}

static void collect(const struct store_chunk_info *info, void *arg)
{
	struct id_list *l = arg;
	if (info->corrupt)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		l->ids = xrealloc(l->ids, cap * sizeof(*l->ids));
		l->cap = cap;
	}
	l->ids[l->n++] = info->chunk_id;
}

static void pass_start(struct chunk_server *cs)
{
	struct id_list l = {0};
	free(cs->scrub_ids);
	store_foreach(cs->store, collect, &l);
	cs->scrub_ids = l.ids;
	cs->scrub_n = l.n;
	cs->scrub_at = 0;
	cs->scrub_found = 0;
	cs->scrub_pass_ms = time_mono_ms();
	cs->scrub_in_pass = 1;
}

static uint64_t gap_ms(const struct chunk_server *cs)
{
	uint64_t gap = cs->opts->scrub_interval_ms / (cs->scrub_n ? cs->scrub_n : 1);
	return gap < CHUNK_SCRUB_GAP_MS ? CHUNK_SCRUB_GAP_MS : gap;
}

static void on_scrubbed(int err, struct evbuffer *data, void *arg)
{
	struct chunk_server *cs = arg;
	uint64_t id = cs->scrub_cur;
	cs->scrub_busy = 0;
	if (err == -CAIRN_ECHECKSUM) {
		log_error("scrub: the replica of chunk %016llx is corrupt; reporting it lost",
			  (unsigned long long)id);
		chunk_report_lost(cs, id);
		chunk_stats_checksum(cs);
		cs->scrub_found++;
	} else if (err && err != -ENOENT && err != -ESHUTDOWN) {
		log_warn("scrub: chunk %016llx: %s", (unsigned long long)id, err_str(err));
	}
	if (!cs->stopping && cs->scrub_ev)
		arm(cs, gap_ms(cs));
}

static void on_scrub_tick(evutil_socket_t fd, short what, void *arg)
{
	struct chunk_server *cs = arg;
	if (cs->stopping || cs->scrub_busy)
		return;
	while (cs->scrub_at < cs->scrub_n) {
		uint64_t id = cs->scrub_ids[cs->scrub_at++];
		struct store_chunk_info info;
		if (store_lookup(cs->store, id, &info) < 0 || info.open || info.corrupt)
			continue;
		cs->scrub_busy = 1;
		cs->scrub_cur = id;
		store_scrub(cs->store, id, on_scrubbed, cs);
		return;
	}
	uint64_t now = time_mono_ms(), interval = cs->opts->scrub_interval_ms;
	if (cs->scrub_in_pass) {
		if (cs->scrub_found)
			log_warn("scrub: pass over %zu replicas found %llu corrupt", cs->scrub_n,
				 (unsigned long long)cs->scrub_found);
		else
			log_debug("scrub: pass over %zu replicas found nothing", cs->scrub_n);
		cs->scrub_in_pass = 0;
		if (now - cs->scrub_pass_ms < interval) {
			arm(cs, cs->scrub_pass_ms + interval - now);
			return;
		}
	}
	pass_start(cs);
	arm(cs, 0);
}

int chunk_scrub_start(struct chunk_server *cs)
{
	if (cs->opts->scrub_interval_ms == 0)
		return 0;
	cs->scrub_ev = evtimer_new(cs->base, on_scrub_tick, cs);
	if (!cs->scrub_ev)
		return -ENOMEM;
	arm(cs, 0);
	return 0;
}

void chunk_scrub_stop(struct chunk_server *cs)
{
	if (cs->scrub_ev)
		event_free(cs->scrub_ev);
	cs->scrub_ev = NULL;
	free(cs->scrub_ids);
	cs->scrub_ids = NULL;
	cs->scrub_n = cs->scrub_at = 0;
	cs->scrub_in_pass = 0;
}
