/*
 * repl_admin: the admin calls for rebalancing and decommissioning (DESIGN
 * §7: `cairn admin rebalance [--threshold PCT] [--wait]`, `cairn admin
 * decommission ADDR [--wait]`), and the decommission set on disk.
 *
 * Rebalance: a request sets the threshold the planner works to (the
 * operator's, until reached; repl_meta.c then goes back to
 * --rebalance-threshold) and brings the next scan forward; a query only
 * reports. The reply is the rebalancer's state at the last scan, with the
 * number of that scan and of the first one that sees this request, so a
 * waiting client can tell a fresh "balanced" from a stale one.
 *
 * Decommission: the node's address joins the registry's decommission set
 * (nodes.h); the planner then copies its replicas elsewhere and trims
 * them (repl.h) while it keeps serving reads. The set is kept across
 * metaserver restarts in <data>/decommission, one address a line,
 * replaced atomically (temp file, fsync, rename, fsync of the directory)
 * before the call is answered. It is not a namespace change, so it is not
 * in the op log or checkpoints; the file is a few lines written only on
 * this rare admin call, so it is written on the loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunkmap.h"
#include "log.h"
#include "meta_int.h"
#include "meta_stats.h"
#include "nodes.h"
#include "util.h"

#define DECOM_FILE     "decommission"
#define DECOM_FILE_MAX (1u << 20) /* bytes of the file read at start-up */

/* ---- the decommission set on disk -------------------------------------------------------- */

/* Writes the set to <data>/decommission durably. Returns 0 or a negative errno. */
static int decom_save(struct meta_server *ms)
{
	char path[4096], tmp[4096];
	char *const *v;
	size_t n = nodes_decommission_list(ms->nodes, &v);
	snprintf(path, sizeof(path), "%s/" DECOM_FILE, ms->opts->data);
	snprintf(tmp, sizeof(tmp), "%s/" DECOM_FILE ".tmp", ms->opts->data);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), err = 0;
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < n && !err; i++)
		if (!(err = write_full(fd, v[i], strlen(v[i]))))
			err = write_full(fd, "\n", 1);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	int dfd = open(ms->opts->data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		err = -errno;
	close(dfd);
	return err;
}

int meta_decom_load(struct meta_server *ms, char **cause)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" DECOM_FILE, ms->opts->data);
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = xmalloc(DECOM_FILE_MAX + 1);
	size_t len = fread(buf, 1, DECOM_FILE_MAX, f);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		*cause = xasprintf("%s: cannot read it", path);
		return -1;
	}
	buf[len] = '\0';
	size_t n = 0;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int rc = nodes_decommission(ms->nodes, line, 1);
		if (rc < 0) {
			log_warn("%s: ignoring '%.64s' (%s)", path, line, strerror(-rc));
			continue;
		}
		n += rc == 1;
	}
	free(buf);
	if (n)
		log_info("%zu chunkservers are being decommissioned (from %s)", n, path);
	return 0;
}

/* ---- calls ------------------------------------------------------------------------------- */

void meta_admin_decommission(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	const Cairn__DecommissionReq *m = req->decommission;
	const char *addr = m->addr ? m->addr : "";
	int on = !m->cancel;
	char *why = NULL;
	struct nodes_node *node = nodes_find(ms->nodes, addr);
	if (!node) {
		why = xasprintf("%s is not a chunkserver this metaserver knows", addr);
		meta_answer_why(ms, call, -ENOENT, why, NULL, NULL);
		free(why);
		return;
	}
	int rc = nodes_decommission(ms->nodes, addr, on), err;
	if (rc == 1 && (err = decom_save(ms)) < 0) {
		nodes_decommission(ms->nodes, addr, !on); /* as it was: nothing half-done */
		why = xasprintf("cannot record the decommission set in %s: %s", ms->opts->data,
				strerror(-err));
		rc = -EIO;
	} else if (rc == 1) {
		log_info("chunkserver %s: %s (%zu replicas on it)", addr,
			 on ? "decommissioning: its replicas go elsewhere"
			    : "back in service (decommission cancelled)",
			 chunkmap_node_count(ms->cmap, node->id));
		meta_stats_decommission(ms->stats, node, on);
		meta_repl_scan_now(ms);
	}
	meta_answer_why(ms, call, rc < 0 ? rc : 0, why, NULL, NULL);
	free(why);
}

void meta_admin_rebalance(struct meta_server *ms, struct meta_call *call, Cairn__Envelope *req)
{
	const Cairn__RebalanceReq *m = req->rebalance;
	if (m->threshold > 100) {
		meta_answer_why(ms, call, -EINVAL,
				"the rebalance threshold is 1 to 100 percentage points", NULL,
				NULL);
		return;
	}
	if (!m->query) {
		ms->rebalance_pct = m->threshold;
		repl_set_threshold(ms->repl, m->threshold
						 ? m->threshold
						 : (uint32_t)ms->opts->rebalance_threshold);
		meta_repl_scan_now(ms);
	}
	struct repl_balance b;
	repl_balance(ms->repl, &b);
	Cairn__RebalanceResp resp = CAIRN__REBALANCE_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	resp.threshold = repl_threshold(ms->repl);
	resp.mean = b.mean * 100;
	resp.spread = b.spread * 100;
	resp.chunks_moved = b.moved;
	resp.bytes_moved = b.bytes;
	resp.moves_in_flight = b.inflight;
	resp.scan = ms->scans;
	resp.first_scan = ms->scans + 1;
	resp.balanced = b.balanced;
	resp.blocked = b.blocked;
	resp.nodes = (uint32_t)b.nodes;
	body.body_case = CAIRN__ENVELOPE__BODY_REBALANCE_REPORT;
	body.rebalance_report = &resp;
	meta_answer(ms, call, 0, &body, NULL);
}
