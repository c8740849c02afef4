/*
 * cmd_admin: `cairn admin nodes [--json]` and `cairn admin fsck [PATH]
 * [--json]` (DESIGN §7), over libcairn's admin calls.
 *
 * nodes: one line per chunkserver (address, rack, state, used, capacity,
 * replicas, time since its last heartbeat); --json prints exactly
 * [{"addr", "rack", "state", "used", "capacity", "chunks"}].
 *
 * fsck: one line per chunk with a problem ("PATH chunk ID index N:
 * KIND", or for a held replica "PATH chunk ID version V on NODE: held
 * (WHY)"), then the totals and the status; --json prints exactly
 * {"status", "files", "chunks", "under_replicated", "missing", "corrupt",
 * "stale", "held", "problems": [{"path", "chunk", "kind"}]} with chunk a
 * decimal integer; a problem of kind "held" also has "node", "version"
 * and "why" (its path is "" when no file has the chunk). Exit status 1
 * unless the status is HEALTHY (also with --json), or when the call
 * fails; a path that does not exist is one error line.
 *
 * rebalance: starts a rebalance (to --threshold PCT points of the mean,
 * 1..100, else the metaserver's default) and prints where it stands; with
 * --wait, a progress line (chunks and bytes moved, spread now) whenever
 * it changes, until the cluster is within the threshold (exit 0) or the
 * metaserver reports that no chunk can move (exit 1). A reply counts only
 * from the first planner scan that saw the request; a metaserver restart
 * (its scan count going back) re-sends the request.
 *
 * decommission ADDR [--wait]: starts draining the chunkserver; with
 * --wait, a line whenever its replica count changes, until it is
 * decommissioned (exit 0) or dies first (exit 1). recommission ADDR
 * takes it back into service.
 *
 * release-held: the held replicas (never deleted on a guess) are deleted
 * now, on the operator's word; prints how many.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const struct cli_cmd admin_nodes_cmd = {
    "admin nodes", NULL, "[--json]",
    "List the chunkservers: address, rack, state, space, replicas, last heartbeat."};
static const struct cli_cmd admin_fsck_cmd = {
    "admin fsck", NULL, "[--json] [PATH]",
    "Check every chunk under PATH (default /); exit 1 unless HEALTHY."};
static const struct cli_cmd admin_rebalance_cmd = {
    "admin rebalance", NULL, "[--threshold PCT] [--wait] [--json]",
    "Move replicas until every node is within PCT points of the mean utilisation."};
static const struct cli_cmd admin_decommission_cmd = {
    "admin decommission", NULL, "[--wait] ADDR",
    "Copy the chunkserver's replicas elsewhere, then retire it (it keeps serving reads)."};
static const struct cli_cmd admin_recommission_cmd = {
    "admin recommission", NULL, "ADDR", "Take a decommissioning chunkserver back into service."};
static const struct cli_cmd admin_release_held_cmd = {
    "admin release-held", NULL, "",
    "Delete every held replica (unknown to the namespace, or newer than it) now."};

const struct cli_cmd *const cli_admin_cmds[] = {&admin_nodes_cmd,
						&admin_fsck_cmd,
						&admin_rebalance_cmd,
						&admin_decommission_cmd,
						&admin_recommission_cmd,
						&admin_release_held_cmd,
						NULL};

#define ADMIN_POLL_MS	  1000u
#define ADMIN_BLOCKED_MAX 5 /* polls reporting "no chunk can move" before giving up */

/* bytes as "1.5G" (powers of 1024). */
static void fmt_bytes(char *buf, size_t size, uint64_t n)
{
	static const char units[] = "BKMGTPE";
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%lluB", (unsigned long long)n);
	else
		snprintf(buf, size, "%.1f%c", v, units[u]);
}

static void nodes_json(const struct cairn_node *v, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++) {
		printf("%s\n  {\"addr\": ", i ? "," : "");
		cli_json_str(stdout, v[i].addr);
		printf(", \"rack\": ");
		cli_json_str(stdout, v[i].rack);
		printf(", \"state\": \"%s\", \"used\": %llu, \"capacity\": %llu, \"chunks\": %llu}",
		       cairn_node_state_name(v[i].state), (unsigned long long)v[i].used,
		       (unsigned long long)v[i].capacity, (unsigned long long)v[i].chunks);
	}
	printf("%s]\n", n ? "\n" : "");
}

static void nodes_plain(const struct cairn_node *v, size_t n)
{
	printf("%-22s %-10s %-14s %9s %9s %8s %s\n", "ADDR", "RACK", "STATE", "USED", "CAPACITY",
	       "CHUNKS", "LAST HEARTBEAT");
	for (size_t i = 0; i < n; i++) {
		char used[16], cap[16];
		fmt_bytes(used, sizeof(used), v[i].used);
		fmt_bytes(cap, sizeof(cap), v[i].capacity);
		printf("%-22s %-10s %-14s %9s %9s %8llu %.1fs ago\n", v[i].addr,
		       *v[i].rack ? v[i].rack : "-", cairn_node_state_name(v[i].state), used, cap,
		       (unsigned long long)v[i].chunks, (double)v[i].last_heard_ms / 1000.0);
	}
}

static int admin_nodes(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc;
	if (argc != optind)
		return cli_usage(cli, "no arguments expected");
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	struct cairn_node *v;
	size_t n;
	int err = cairn_admin_nodes(cli->fs, &v, &n);
	if (err)
		return cli_fail(cli, err, "admin nodes");
	if (cli->json)
		nodes_json(v, n);
	else
		nodes_plain(v, n);
	cairn_admin_nodes_free(v, n);
	return CLI_OK;
}

static void fsck_json(const struct cairn_fsck *f)
{
	printf(
	    "{\"status\": \"%s\", \"files\": %llu, \"chunks\": %llu, \"under_replicated\": %llu, "
	    "\"missing\": %llu, \"corrupt\": %llu, \"stale\": %llu, \"held\": %llu, "
	    "\"problems\": [",
	    cairn_fsck_status_name(f->status), (unsigned long long)f->files,
	    (unsigned long long)f->chunks, (unsigned long long)f->under_replicated,
	    (unsigned long long)f->missing, (unsigned long long)f->corrupt,
	    (unsigned long long)f->stale, (unsigned long long)f->held);
	for (size_t i = 0; i < f->nproblems; i++) {
		const struct cairn_fsck_problem *p = &f->problems[i];
		printf("%s\n  {\"path\": ", i ? "," : "");
		cli_json_str(stdout, p->path);
		printf(", \"chunk\": %llu, \"kind\": \"%s\"", (unsigned long long)p->chunk_id,
		       cairn_fsck_kind_name(p->kind));
		if (p->kind == CAIRN_FSCK_HELD) {
			printf(", \"node\": ");
			cli_json_str(stdout, p->node);
			printf(", \"version\": %llu, \"why\": ", (unsigned long long)p->version);
			cli_json_str(stdout, p->why);
		}
		printf("}");
	}
	printf("%s]}\n", f->nproblems ? "\n" : "");
}

static void fsck_plain(const struct cairn_fsck *f)
{
	for (size_t i = 0; i < f->nproblems; i++) {
		const struct cairn_fsck_problem *p = &f->problems[i];
		if (p->kind == CAIRN_FSCK_HELD)
			printf("%s chunk %016llx version %llu on %s: held (%s)\n",
			       *p->path ? p->path : "(no file)", (unsigned long long)p->chunk_id,
			       (unsigned long long)p->version, p->node, p->why);
		else
			printf("%s chunk %016llx index %llu: %s\n", p->path,
			       (unsigned long long)p->chunk_id, (unsigned long long)p->index,
			       cairn_fsck_kind_name(p->kind));
	}
	if (f->more)
		printf("(more problems than listed: see the totals)\n");
	printf("files: %llu  chunks: %llu  under-replicated: %llu  missing: %llu  corrupt: %llu  "
	       "stale: %llu  held: %llu\n",
	       (unsigned long long)f->files, (unsigned long long)f->chunks,
	       (unsigned long long)f->under_replicated, (unsigned long long)f->missing,
	       (unsigned long long)f->corrupt, (unsigned long long)f->stale,
	       (unsigned long long)f->held);
	printf("status: %s\n", cairn_fsck_status_name(f->status));
}

static int admin_fsck(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc;
	if (argc - optind > 1)
		return cli_usage(cli, "one PATH at most");
	char *path = cli_path(cli, optind < argc ? argv[optind] : "/", &rc);
	if (!path)
		return rc;
	if ((rc = cli_connect(cli)) == CLI_OK) {
		struct cairn_fsck *f;
		int err = cairn_admin_fsck(cli->fs, path, &f);
		if (err) {
			rc = cli_fail(cli, err, "admin fsck %s", path);
		} else {
			if (cli->json)
				fsck_json(f);
			else
				fsck_plain(f);
			rc = f->status == CAIRN_FSCK_HEALTHY ? CLI_OK : CLI_FAIL;
			cairn_admin_fsck_free(f);
		}
	}
	free(path);
	return rc;
}

static int admin_release_held(struct cli *cli, int argc, char **argv)
{
	int rc;
	uint64_t n = 0;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc;
	if (argc - optind > 0)
		return cli_usage(cli, "no arguments");
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	int err = cairn_admin_release_held(cli->fs, &n);
	if (err)
		return cli_fail(cli, err, "admin release-held");
	printf("%llu held replicas released for deletion\n", (unsigned long long)n);
	return CLI_OK;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- rebalance ---- */

static void rebalance_json(const struct cairn_rebalance *r)
{
	printf("{\"threshold\": %u, \"mean\": %.2f, \"spread\": %.2f, \"chunks_moved\": %llu, "
	       "\"bytes_moved\": %llu, \"moves_in_flight\": %llu, \"balanced\": %s, "
	       "\"blocked\": %s, \"nodes\": %u}\n",
	       r->threshold, r->mean, r->spread, (unsigned long long)r->chunks_moved,
	       (unsigned long long)r->bytes_moved, (unsigned long long)r->moves_in_flight,
	       r->balanced ? "true" : "false", r->blocked ? "true" : "false", r->nodes);
}

/* Progress of a rebalance being waited for, across metaserver restarts. */
struct rb_wait {
	uint32_t threshold; /* asked for (0: the default) */
	uint64_t first_scan;
	uint64_t last_scan;
	uint64_t chunks0, bytes0; /* the counters when the wait began (restarts folded in) */
	uint64_t chunks, bytes;	  /* moved since the wait began */
	int blocked;		  /* polls in a row reporting blocked */
};

/* Takes one reply into w. Returns 1 when it restarted (the request must be sent again). */
static int rb_take(struct rb_wait *w, const struct cairn_rebalance *r)
{
	int restarted = r->scan < w->last_scan;
	if (restarted) { /* counters begin again at zero */
		w->chunks0 = (uint64_t)0 - w->chunks;
		w->bytes0 = (uint64_t)0 - w->bytes;
	}
	w->last_scan = r->scan;
	w->chunks = r->chunks_moved - w->chunks0;
	w->bytes = r->bytes_moved - w->bytes0;
	return restarted;
}

static int rebalance_wait(struct cli *cli, struct rb_wait *w, struct cairn_rebalance *r)
{
	char last[256] = "";
	for (;;) {
		int fresh = r->scan >= w->first_scan;
		if (fresh && r->balanced) {
			char moved[16];
			fmt_bytes(moved, sizeof(moved), w->bytes);
			printf(
			    "balanced: every node within %u points of the mean utilisation %.1f%% "
			    "(spread %.1f); %llu chunks, %s moved\n",
			    r->threshold, r->mean, r->spread, (unsigned long long)w->chunks, moved);
			return CLI_OK;
		}
		w->blocked = fresh && r->blocked ? w->blocked + 1 : 0;
		if (w->blocked >= ADMIN_BLOCKED_MAX) {
			fprintf(
			    stderr,
			    "cairn: admin rebalance: the spread is %.1f points, over the threshold "
			    "of %u, and no chunk can move (every node that could take one holds "
			    "it already, or racks or space forbid it)\n",
			    r->spread, r->threshold);
			return CLI_FAIL;
		}
		char line[256], moved[16];
		fmt_bytes(moved, sizeof(moved), w->bytes);
		snprintf(line, sizeof(line),
			 "moved %llu chunks (%s); spread %.1f points around %.1f%% (threshold %u); "
			 "%llu moving",
			 (unsigned long long)w->chunks, moved, r->spread, r->mean, r->threshold,
			 (unsigned long long)r->moves_in_flight);
		if (fresh && strcmp(line, last) != 0) {
			printf("%s\n", line);
			fflush(stdout);
			snprintf(last, sizeof(last), "%s", line);
		}
		sleep_ms(ADMIN_POLL_MS);
		int err = cairn_admin_rebalance(cli->fs, w->threshold, 1, r);
		if (!err && rb_take(w, r)) {
			err = cairn_admin_rebalance(cli->fs, w->threshold, 0, r);
			w->first_scan = r->first_scan;
		}
		if (err)
			return cli_fail(cli, err, "admin rebalance");
	}
}

static int admin_rebalance(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"threshold", required_argument, NULL, 't'}, {"wait", no_argument, NULL, 'w'}, {0}};
	int rc, opt, wait = 0;
	long threshold = 0;
	while ((opt = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (opt == '?')
			return cli->rc;
		if (opt == 'w') {
			wait = 1;
			continue;
		}
		char *end;
		threshold = strtol(optarg, &end, 10);
		if (*end == '%')
			end++;
		if (end == optarg || *end || threshold < 1 || threshold > 100)
			return cli_usage(cli,
					 "--threshold takes 1 to 100 (percentage points), not '%s'",
					 optarg);
	}
	if (argc != optind)
		return cli_usage(cli, "no arguments expected");
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	struct cairn_rebalance r;
	int err = cairn_admin_rebalance(cli->fs, (uint32_t)threshold, 0, &r);
	if (err)
		return cli_fail(cli, err, "admin rebalance");
	if (!wait) {
		if (cli->json)
			rebalance_json(&r);
		else
			printf("rebalance to within %u points: spread %.1f points around %.1f%% "
			       "over %u "
			       "nodes; %llu moves in flight\n",
			       r.threshold, r.spread, r.mean, r.nodes,
			       (unsigned long long)r.moves_in_flight);
		return CLI_OK;
	}
	struct rb_wait w = {(uint32_t)threshold, r.first_scan, r.scan, 0, 0, 0, 0, 0};
	rb_take(&w, &r);
	w.chunks0 = r.chunks_moved;
	w.bytes0 = r.bytes_moved;
	w.chunks = w.bytes = 0;
	rc = rebalance_wait(cli, &w, &r);
	if (cli->json && rc == CLI_OK)
		rebalance_json(&r);
	return rc;
}

/* ---- decommission ---- */

/* The node at addr in the current list: its state and replicas. Returns 0 or an error. */
static int node_state(struct cli *cli, const char *addr, int *state, uint64_t *chunks)
{
	struct cairn_node *v;
	size_t n;
	int err = cairn_admin_nodes(cli->fs, &v, &n);
	if (err)
		return err;
	err = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].addr, addr) == 0) {
			*state = v[i].state;
			*chunks = v[i].chunks;
			err = 0;
		}
	}
	cairn_admin_nodes_free(v, n);
	return err;
}

static int decommission_wait(struct cli *cli, const char *addr)
{
	uint64_t last = UINT64_MAX;
	for (;;) {
		int state;
		uint64_t chunks;
		int err = node_state(cli, addr, &state, &chunks);
		if (err)
			return cli_fail(cli, err, "admin decommission %s", addr);
		if (state == CAIRN_NODE_DECOMMISSIONED) {
			printf("%s: decommissioned; it may be stopped\n", addr);
			return CLI_OK;
		}
		if (state != CAIRN_NODE_DECOMMISSIONING) {
			fprintf(stderr,
				"cairn: admin decommission %s: the node is %s, not "
				"decommissioning any more\n",
				addr, cairn_node_state_name(state));
			return CLI_FAIL;
		}
		if (chunks != last) {
			printf("%s: decommissioning, %llu replicas left\n", addr,
			       (unsigned long long)chunks);
			fflush(stdout);
			last = chunks;
		}
		sleep_ms(ADMIN_POLL_MS);
	}
}

static int admin_decommission(struct cli *cli, int argc, char **argv, int cancel)
{
	static const struct option opts[] = {{"wait", no_argument, NULL, 'w'}, {0}};
	int rc, opt, wait = 0;
	while ((opt = cli_getopt(cli, argc, argv, "", cancel ? NULL : opts)) != -1) {
		if (opt == '?')
			return cli->rc;
		wait = 1;
	}
	if (argc - optind != 1)
		return cli_usage(cli, "one ADDR (HOST:PORT) expected");
	const char *addr = argv[optind];
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	int err = cairn_admin_decommission(cli->fs, addr, cancel);
	if (err)
		return cli_fail(cli, err, "admin %s %s", cancel ? "recommission" : "decommission",
				addr);
	if (cancel) {
		printf("%s: back in service\n", addr);
		return CLI_OK;
	}
	if (!wait) {
		printf("%s: decommissioning\n", addr);
		return CLI_OK;
	}
	return decommission_wait(cli, addr);
}

int cmd_admin(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "nodes") == 0) {
		cli->cmd = &admin_nodes_cmd;
		return admin_nodes(cli, argc - 1, argv + 1);
	}
	if (strcmp(sub, "fsck") == 0) {
		cli->cmd = &admin_fsck_cmd;
		return admin_fsck(cli, argc - 1, argv + 1);
	}
	if (strcmp(sub, "rebalance") == 0) {
		cli->cmd = &admin_rebalance_cmd;
		return admin_rebalance(cli, argc - 1, argv + 1);
	}
	if (strcmp(sub, "decommission") == 0 || strcmp(sub, "recommission") == 0) {
		int cancel = sub[0] == 'r';
		cli->cmd = cancel ? &admin_recommission_cmd : &admin_decommission_cmd;
		return admin_decommission(cli, argc - 1, argv + 1, cancel);
	}
	if (strcmp(sub, "release-held") == 0) {
		cli->cmd = &admin_release_held_cmd;
		return admin_release_held(cli, argc - 1, argv + 1);
	}
	if (strcmp(sub, "--help") == 0) {
		for (const struct cli_cmd *const *s = cli_admin_cmds; *s; s++)
			printf("usage: cairn %s %s\n  %s\n", (*s)->name, (*s)->usage,
			       (*s)->summary);
		return CLI_OK;
	}
	return cli_usage(cli, *sub ? "unknown admin command '%s'" : "missing the admin command%s",
			 sub);
}
