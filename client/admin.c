/*
 * admin: libcairn's admin calls (cairn.h, "admin"): the chunkserver list,
 * fsck, rebalance and decommission, as `cairn admin nodes`, `fsck`,
 * `rebalance` and `decommission` use them.
 *
 * Each is one metaserver call through call.c, which keeps the reply
 * packed (call->raw); here it is unpacked on the caller's thread and
 * copied into plain structs the caller frees, so no protobuf type leaks
 * into the public API. Names of states and kinds live here, once, for
 * every front end.
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

/*
 * Runs call and unpacks its kept reply, which must have body kind.
 * Returns 0 and a new *out (free with cairn__envelope__free_unpacked())
 * or a negative error.
 */
static int run_unpack(struct call *call, Cairn__Envelope__BodyCase kind, Cairn__Envelope **out)
{
	int err = call_run(call);
	if (err)
		return err;
	Cairn__Envelope *env =
	    call->raw ? cairn__envelope__unpack(NULL, call->raw_len, call->raw) : NULL;
	if (!env || env->body_case != kind) {
		cairn__envelope__free_unpacked(env, NULL);
		return -CAIRN_EPROTO;
	}
	*out = env;
	return 0;
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
	struct call *call = call_new(c, CAIRN__ENVELOPE__BODY_ADMIN_NODES);
	if (!call)
		return -ENOMEM;
	Cairn__Envelope *env = NULL;
	int err = run_unpack(call, CAIRN__ENVELOPE__BODY_NODE_LIST, &env);
	if (!err)
		err = copy_nodes(env->node_list, out, n);
	cairn__envelope__free_unpacked(env, NULL);
	call_free(call);
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
	char *norm;
	int err = client_path_norm(path ? path : "/", &norm);
	if (err)
		return err;
	struct call *call = call_new(c, CAIRN__ENVELOPE__BODY_FSCK);
	if (!call) {
		free(norm);
		return -ENOMEM;
	}
	call->owned[0] = norm;
	call->body.fsck.path = norm;
	Cairn__Envelope *env = NULL;
	err = run_unpack(call, CAIRN__ENVELOPE__BODY_FSCK_REPORT, &env);
	if (!err)
		err = copy_fsck(env->fsck_report, out);
	cairn__envelope__free_unpacked(env, NULL);
	call_free(call);
	return err;
}

int cairn_admin_release_held(cairn_t *c, uint64_t *released)
{
	struct call *call = call_new(c, CAIRN__ENVELOPE__BODY_RELEASE_HELD);
	Cairn__Envelope *env = NULL;
	int err = call ? run_unpack(call, CAIRN__ENVELOPE__BODY_RELEASED, &env) : -ENOMEM;
	if (!err)
		*released = env->released->released;
	cairn__envelope__free_unpacked(env, NULL);
	call_free(call);
	return err;
}

/* ---- rebalance and decommission ---- */

int cairn_admin_rebalance(cairn_t *c, uint32_t threshold, int query, struct cairn_rebalance *out)
{
	if (threshold > 100)
		return -EINVAL;
	struct call *call = call_new(c, CAIRN__ENVELOPE__BODY_REBALANCE);
	if (!call)
		return -ENOMEM;
	call->body.rebalance.threshold = threshold;
	call->body.rebalance.query = !!query;
	Cairn__Envelope *env = NULL;
	int err = run_unpack(call, CAIRN__ENVELOPE__BODY_REBALANCE_REPORT, &env);
	if (!err) {
		const Cairn__RebalanceResp *r = env->rebalance_report;
		*out = (struct cairn_rebalance){r->threshold,	 r->mean,	 r->spread,
						r->chunks_moved, r->bytes_moved, r->moves_in_flight,
						r->scan,	 r->first_scan,	 r->balanced,
						r->blocked,	 r->nodes};
	}
	cairn__envelope__free_unpacked(env, NULL);
	call_free(call);
	return err;
}

int cairn_admin_decommission(cairn_t *c, const char *addr, int cancel)
{
	if (!addr || !*addr)
		return -EINVAL;
	char *copy = strdup(addr);
	struct call *call = copy ? call_new(c, CAIRN__ENVELOPE__BODY_DECOMMISSION) : NULL;
	if (!call) {
		free(copy);
		return -ENOMEM;
	}
	call->owned[0] = copy;
	call->body.decommission.addr = copy;
	call->body.decommission.cancel = !!cancel;
	int err = call_run(call);
	call_free(call);
	return err;
}
