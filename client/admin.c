/*
 * admin: libcairn's admin calls (cairn.h, "admin"): the chunkserver list,
 * fsck, rebalance and decommission, as `cairn admin nodes`, `fsck`,
 * `rebalance` and `decommission` use them.
 *
 * Each is one metaserver call through call.c: the request is built on the
 * stack (CALL_REQ), call_run() hands back the unpacked reply, which is
 * copied here into plain structs the caller frees, so no protobuf type
 * leaks into the public API. Names of states and kinds live here, once,
 * for every front end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static const char *const node_states[] = {"up", "dead", "decommissioning", "decommissioned"};
static const char *const fsck_statuses[] = {"HEALTHY", "DEGRADED", "CORRUPT"};
static const char *const fsck_kinds[] = {"under_replicated", "missing", "corrupt", "stale", "held"};

#define NAME(table, i) ((i) >= 0 && (size_t)(i) < sizeof(table) / sizeof(table[0]) ? table[i] : "?")

const char *cairn_node_state_name(int state)
{
	return NAME(node_states, state);
}

const char *cairn_fsck_status_name(int status)
{
	return NAME(fsck_statuses, status);
}

const char *cairn_fsck_kind_name(int kind)
{
	return NAME(fsck_kinds, kind);
}

/* ---- nodes ---- */

void cairn_admin_nodes_free(struct cairn_node *nodes, size_t n)
{
	for (size_t i = 0; nodes && i < n; i++) {
		free(nodes[i].addr);
		free(nodes[i].rack);
	}
	free(nodes);
}

static int copy_nodes(const Cairn__NodesResp *r, struct cairn_node **out, size_t *n)
{
	struct cairn_node *v = calloc(r->n_nodes ? r->n_nodes : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_nodes; i++) {
		const Cairn__NodeInfo *ni = r->nodes[i];
		v[i].addr = strdup(ni->addr ? ni->addr : "");
		v[i].rack = strdup(ni->rack ? ni->rack : "");
		if (!v[i].addr || !v[i].rack) {
			cairn_admin_nodes_free(v, i + 1);
			return -ENOMEM;
		}
		v[i].state = (int)ni->state;
		v[i].used = ni->used;
		v[i].capacity = ni->capacity;
		v[i].chunks = ni->chunks;
		v[i].last_heard_ms = ni->last_heard_ms;
		v[i].load = ni->load;
	}
	*out = v;
	*n = r->n_nodes;
	return 0;
}

int cairn_admin_nodes(cairn_t *c, struct cairn_node **out, size_t *n)
{
	Cairn__Empty m = CAIRN__EMPTY__INIT;
	Cairn__Envelope req, *reply;
	CALL_REQ(&req, ADMIN_NODES, admin_nodes, &m);
	int err = call_run(c, &req, CAIRN__ENVELOPE__BODY_NODE_LIST, &reply);
	if (err)
		return err;
	err = copy_nodes(reply->node_list, out, n);
	cairn__envelope__free_unpacked(reply, NULL);
	return err;
}

/* ---- fsck ---- */

void cairn_admin_fsck_free(struct cairn_fsck *report)
{
	if (!report)
		return;
	for (size_t i = 0; i < report->nproblems; i++) {
		free(report->problems[i].path);
		free(report->problems[i].node);
		free(report->problems[i].why);
	}
	free(report->problems);
	free(report);
}

static int copy_fsck(const Cairn__FsckResp *r, struct cairn_fsck **out)
{
	struct cairn_fsck *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->status = (int)r->status;
	f->files = r->files;
	f->chunks = r->chunks;
	f->under_replicated = r->under_replicated;
	f->missing = r->missing;
	f->corrupt = r->corrupt;
	f->stale = r->stale;
	f->more = r->more;
	f->held = r->held;
	f->problems = calloc(r->n_problems ? r->n_problems : 1, sizeof(*f->problems));
	if (!f->problems) {
		free(f);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->n_problems; i++) {
		const Cairn__FsckProblem *p = r->problems[i];
		struct cairn_fsck_problem *q = &f->problems[f->nproblems];
		q->path = strdup(p->path ? p->path : "");
		q->node = strdup(p->node ? p->node : "");
		q->why = strdup(p->why ? p->why : "");
		f->nproblems++;
		if (!q->path || !q->node || !q->why) {
			cairn_admin_fsck_free(f);
			return -ENOMEM;
		}
		q->version = p->version;
		q->chunk_id = p->chunk;
		q->index = p->index;
		q->kind = (int)p->kind;
	}
	*out = f;
	return 0;
}

int cairn_admin_fsck(cairn_t *c, const char *path, struct cairn_fsck **out)
{
	Cairn__FsckReq m = CAIRN__FSCK_REQ__INIT;
	int err = client_path_norm(path ? path : "/", &m.path);
	if (err)
		return err;
	Cairn__Envelope req, *reply;
	CALL_REQ(&req, FSCK, fsck, &m);
	err = call_run(c, &req, CAIRN__ENVELOPE__BODY_FSCK_REPORT, &reply);
	free(m.path);
	if (err)
		return err;
	err = copy_fsck(reply->fsck_report, out);
	cairn__envelope__free_unpacked(reply, NULL);
	return err;
}

int cairn_admin_release_held(cairn_t *c, uint64_t *released)
{
	Cairn__Empty m = CAIRN__EMPTY__INIT;
	Cairn__Envelope req, *reply;
	CALL_REQ(&req, RELEASE_HELD, release_held, &m);
	int err = call_run(c, &req, CAIRN__ENVELOPE__BODY_RELEASED, &reply);
	if (err)
		return err;
	*released = reply->released->released;
	cairn__envelope__free_unpacked(reply, NULL);
	return 0;
}

/* ---- rebalance and decommission ---- */

int cairn_admin_rebalance(cairn_t *c, uint32_t threshold, int query, struct cairn_rebalance *out)
{
	if (threshold > 100)
		return -EINVAL;
	Cairn__RebalanceReq m = CAIRN__REBALANCE_REQ__INIT;
	m.threshold = threshold;
	m.query = !!query;
	Cairn__Envelope req, *reply;
	CALL_REQ(&req, REBALANCE, rebalance, &m);
	int err = call_run(c, &req, CAIRN__ENVELOPE__BODY_REBALANCE_REPORT, &reply);
	if (err)
		return err;
	const Cairn__RebalanceResp *r = reply->rebalance_report;
	*out = (struct cairn_rebalance){r->threshold,	 r->mean,	 r->spread,
					r->chunks_moved, r->bytes_moved, r->moves_in_flight,
					r->scan,	 r->first_scan,	 r->balanced,
					r->blocked,	 r->nodes};
	cairn__envelope__free_unpacked(reply, NULL);
	return 0;
}

int cairn_admin_decommission(cairn_t *c, const char *addr, int cancel)
{
	if (!addr || !*addr)
		return -EINVAL;
	Cairn__DecommissionReq m = CAIRN__DECOMMISSION_REQ__INIT;
	m.addr = (char *)addr;
	m.cancel = !!cancel;
	Cairn__Envelope req;
	CALL_REQ(&req, DECOMMISSION, decommission, &m);
	return call_run(c, &req, CAIRN__ENVELOPE__BODY__NOT_SET, NULL);
}
