/*
 * test_meta_data: the metaserver's data path, in-process. A real
 * meta_server (temp data dir, port 0, --lease 1s, --dead-after 1s,
 * --chunk-size 1M) on this test's event_base, driven over rpc_client by
 * three fake chunkservers (RegisterReq/HeartbeatReq peers) and a client:
 *
 *  - registration answers the heartbeat interval and deletes orphans
 *    (--delete-grace 0);
 *  - open for write grants a lease; a second writer gets LEASE naming the
 *    path; a reader opens freely; an expired lease frees the file and is
 *    dead for its holder;
 *  - allocate: new chunks on distinct nodes over both racks, versions
 *    bump on re-allocation with the live holders as the chain, wrong
 *    lease or index refused; a dead node leaves chains and locations;
 *  - lease renew/release commit sizes (close-to-open: a later open sees
 *    them); chunk locations least loaded first; a bad replica stops being
 *    served; truncate and remove get replicas deleted via heartbeats;
 *  - restart (shutdown + final checkpoint, then a plain free + log replay):
 *    the namespace keeps chunks and versions, chunk ids are not reused,
 *    during the lease grace the old holder reclaims its lease and other
 *    writers wait, re-registration rebuilds the chunk map, and stale
 *    replicas are told to go once the grace is over; a replica ahead of
 *    the namespace is held, not adopted, the good one kept, the next
 *    version skips past it, release-held deletes it; with --delete-grace
 *    an unknown chunk is held for the grace, then deleted;
 *  - a report of 250,000 replicas (CAIRN_REPORT_N to change) in pages:
 *    every chunk it holds is listed with the node, every orphan answered
 *    for deletion; a heartbeat or a stray page mid-report is refused, and
 *    a report cut off with its connection is replaced by the next one.
 *    Prints (does not assert) the time the paged registration took.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "meta.h"
#include "rpc.h"
#include "util.h"

#include "check.h"

#define MIB   (1ull << 20)
#define NODE1 "10.0.0.1:7001"
#define NODE2 "10.0.0.2:7001"
#define NODE3 "10.0.0.3:7001"

static struct event_base *base;
static struct meta_options opts;
static struct meta_server *ms;
static struct rpc_client *cl;
static char *dir;

/* ---- the server ------------------------------------------------------------------- */

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

static void server_start(void)
{
	char *cause = NULL;
	ms = meta_new(base, &opts, &cause);
	if (!ms) {
		fprintf(stderr, "meta_new: %s\n", cause ? cause : "?");
		exit(1);
	}
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", meta_port(ms));
	cl = rpc_client_new(base, addr, NULL, NULL);
	CHECK(cl != NULL);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

static void run_for(uint64_t ms_)
{
	struct timeval tv = {(time_t)(ms_ / 1000), (suseconds_t)(ms_ % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Stops the server: with clean, through meta_shutdown() (a final checkpoint). */
static void server_stop(int clean)
{
	rpc_client_free(cl);
	cl = NULL;
	if (clean) {
		meta_shutdown(ms);
		event_base_dispatch(base); /* until its loopexit */
	} else {
		run_for(50);
	}
	meta_free(ms);
	ms = NULL;
}

/* ---- calls -------------------------------------------------------------------------- */

struct result {
	int done;
	int err;
	Cairn__Envelope *reply; /* an owned copy */
	char *why;
};

static void on_reply(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct result *r = arg;
	r->done = 1;
	r->err = err;
	if (!reply)
		return;
	size_t len = cairn__envelope__get_packed_size(reply);
	uint8_t *buf = malloc(len ? len : 1);
	cairn__envelope__pack(reply, buf);
	r->reply = cairn__envelope__unpack(NULL, len, buf);
	free(buf);
	if (err && reply->error)
		r->why = strdup(reply->error);
}

/* Makes one call and waits for it; *out (when non-NULL) gets the reply (free it). */
static int call(Cairn__Envelope *req, Cairn__Envelope **out, char **why)
{
	struct result r = {0};
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {0, 10000};
	event_add(tick, &tv);
	if (rpc_client_call(cl, req, NULL, 5000, on_reply, &r) < 0)
		abort();
	while (!r.done)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	if (out)
		*out = r.reply;
	else
		cairn__envelope__free_unpacked(r.reply, NULL);
	if (why)
		*why = r.why;
	else
		free(r.why);
	return r.err;
}

struct report {
	uint64_t id, version;
};

/* Registers addr with its report; returns the NodeResp envelope (free it). */
static Cairn__Envelope *do_register(const char *addr, const char *rack, const struct report *rep,
				    size_t n)
{
	Cairn__RegisterReq m = CAIRN__REGISTER_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT, *out = NULL;
	Cairn__ChunkReport r[16], *rp[16];
	for (size_t i = 0; i < n; i++) {
		cairn__chunk_report__init(&r[i]);
		r[i].id = rep[i].id;
		r[i].version = rep[i].version;
		r[i].length = 1 << 20;
		rp[i] = &r[i];
	}
	m.addr = (char *)addr;
	m.rack = (char *)rack;
	m.capacity = 1ull << 40;
	m.used = 1ull << 30;
	m.chunks = rp;
	m.n_chunks = n;
	req.body_case = CAIRN__ENVELOPE__BODY_REGISTER;
	req.register_ = &m;
	CHECK(call(&req, &out, NULL) == 0);
	CHECK(out && out->body_case == CAIRN__ENVELOPE__BODY_NODE);
	return out;
}

static Cairn__Envelope *do_heartbeat(const char *addr, uint32_t load, const uint64_t *lost,
				     size_t nlost)
{
	Cairn__HeartbeatReq m = CAIRN__HEARTBEAT_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT, *out = NULL;
	m.addr = (char *)addr;
	m.capacity = 1ull << 40;
	m.used = 1ull << 30;
	m.load = load;
	m.lost = (uint64_t *)lost;
	m.n_lost = nlost;
	req.body_case = CAIRN__ENVELOPE__BODY_HEARTBEAT;
	req.heartbeat = &m;
	CHECK(call(&req, &out, NULL) == 0);
	CHECK(out && out->body_case == CAIRN__ENVELOPE__BODY_NODE);
	return out;
}

static int has_id(const Cairn__Envelope *node_resp, uint64_t id)
{
	for (size_t i = 0; i < node_resp->node->n_delete_; i++)
		if (node_resp->node->delete_[i] == id)
			return 1;
	return 0;
}

/* Opens path; *lease gets the lease id, *file_id the file (both may be NULL). */
static int do_open(const char *path, int write, int create, int truncate, uint64_t *lease,
		   uint64_t *file_id, uint64_t *size, char **why)
{
	Cairn__OpenReq m = CAIRN__OPEN_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT, *out = NULL;
	m.path = (char *)path;
	m.write = write;
	m.create = create;
	m.truncate = truncate;
	req.body_case = CAIRN__ENVELOPE__BODY_OPEN;
	req.open = &m;
	int err = call(&req, &out, why);
	if (!err) {
		CHECK(out->body_case == CAIRN__ENVELOPE__BODY_OPENED && out->opened->attr);
		CHECK(out->opened->chunk_size == MIB && out->opened->lease_ms == 1000);
		CHECK((out->opened->lease_id != 0) == (write != 0));
		if (lease)
			*lease = out->opened->lease_id;
		if (file_id)
			*file_id = out->opened->attr->id;
		if (size)
			*size = out->opened->attr->size;
	}
	cairn__envelope__free_unpacked(out, NULL);
	return err;
}

/* Allocates chunk index; returns the ChunkResp envelope in *out (free it). */
static int do_allocate(uint64_t file_id, uint64_t lease, uint64_t index, Cairn__Envelope **out)
{
	Cairn__AllocateReq m = CAIRN__ALLOCATE_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
	m.file_id = file_id;
	m.lease_id = lease;
	m.index = index;
	req.body_case = CAIRN__ENVELOPE__BODY_ALLOCATE;
	req.allocate = &m;
	*out = NULL;
	int err = call(&req, out, NULL);
	if (!err)
		CHECK(*out && (*out)->body_case == CAIRN__ENVELOPE__BODY_CHUNK &&
		      (*out)->chunk->chunk);
	return err;
}

static int do_lease(uint64_t file_id, uint64_t lease, uint64_t size, int release)
{
	Cairn__LeaseReq m = CAIRN__LEASE_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
	m.file_id = file_id;
	m.lease_id = lease;
	m.size = size;
	m.release = release;
	req.body_case = CAIRN__ENVELOPE__BODY_LEASE;
	req.lease = &m;
	return call(&req, NULL, NULL);
}

static Cairn__Envelope *do_chunks(uint64_t file_id)
{
	Cairn__ChunksReq m = CAIRN__CHUNKS_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT, *out = NULL;
	m.file_id = file_id;
	req.body_case = CAIRN__ENVELOPE__BODY_CHUNKS;
	req.chunks = &m;
	CHECK(call(&req, &out, NULL) == 0);
	CHECK(out && out->body_case == CAIRN__ENVELOPE__BODY_CHUNK_LIST);
	return out;
}

static Cairn__Attr *do_stat(const char *path, Cairn__Envelope **keep)
{
	Cairn__StatReq m = CAIRN__STAT_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
	m.path = (char *)path;
	req.body_case = CAIRN__ENVELOPE__BODY_STAT;
	req.stat = &m;
	*keep = NULL;
	CHECK(call(&req, keep, NULL) == 0);
	return *keep && (*keep)->attr ? (*keep)->attr->attr : NULL;
}

static int simple(Cairn__Envelope *req)
{
	return call(req, NULL, NULL);
}

static int in_list(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* ---- the scenario ------------------------------------------------------------------------ */

/* State carried from one phase to the next. */
static uint64_t f_id, f_c0, f_c1, t_chunk, g_id, k_id, k_lease;

static void phase_writes(void)
{
	Cairn__Envelope *e;
	char *why = NULL;
	/* three nodes on two racks; one has an orphan to delete */
	struct report orphan = {999, 1};
	e = do_register(NODE1, "r1", &orphan, 1);
	CHECK(e->node->heartbeat_ms == 100 && e->node->n_delete_ == 1 && has_id(e, 999));
	cairn__envelope__free_unpacked(e, NULL);
	cairn__envelope__free_unpacked(do_register(NODE2, "r1", NULL, 0), NULL);
	cairn__envelope__free_unpacked(do_register(NODE3, "r2", NULL, 0), NULL);

	uint64_t lease = 0, size = 1;
	CHECK(do_open("/f", 1, 1, 0, &lease, &f_id, &size, NULL) == 0 && lease && size == 0);
	/* chunk 0: new, three distinct nodes over both racks */
	CHECK(do_allocate(f_id, lease, 0, &e) == 0);
	Cairn__ChunkInfo *ci = e->chunk->chunk;
	f_c0 = ci->id;
	CHECK(ci->index == 0 && ci->version == 1 && ci->n_replicas == 3);
	CHECK(in_list(ci->replicas, 3, NODE1) && in_list(ci->replicas, 3, NODE2) &&
	      in_list(ci->replicas, 3, NODE3));
	cairn__envelope__free_unpacked(e, NULL);
	/* refusals: a wrong lease, an index past the end */
	CHECK(do_allocate(f_id, lease + 1, 1, &e) == -CAIRN_ELEASE);
	cairn__envelope__free_unpacked(e, NULL);
	CHECK(do_allocate(f_id, lease, 2, &e) == -EINVAL);
	cairn__envelope__free_unpacked(e, NULL);
	/* chunk 1, then chunk 0 again: same id, next version, its holders as the chain */
	CHECK(do_lease(f_id, lease, 0, 0) == 0); /* renewals keep a slow run within the lease */
	CHECK(do_allocate(f_id, lease, 1, &e) == 0);
	f_c1 = e->chunk->chunk->id;
	CHECK(f_c1 > f_c0 && e->chunk->chunk->version == 1);
	cairn__envelope__free_unpacked(e, NULL);
	CHECK(do_allocate(f_id, lease, 0, &e) == 0);
	CHECK(e->chunk->chunk->id == f_c0 && e->chunk->chunk->version == 2);
	CHECK(e->chunk->chunk->n_replicas == 3);
	cairn__envelope__free_unpacked(e, NULL);

	/* one writer: a second gets LEASE naming the path; a reader is fine */
	CHECK(do_lease(f_id, lease, 0, 0) == 0);
	CHECK(do_open("/f", 1, 0, 0, NULL, NULL, NULL, &why) == -CAIRN_ELEASE);
	CHECK(why && strstr(why, "/f"));
	free(why);
	CHECK(do_open("/f", 0, 0, 0, NULL, NULL, NULL, NULL) == 0);
	CHECK(do_open("/f", 0, 0, 1, NULL, NULL, NULL, NULL) == -EINVAL); /* truncate, no write */
	CHECK(do_open("/nope", 0, 0, 0, NULL, NULL, NULL, NULL) == -ENOENT);

	/* sizes: a renewal commits a larger one; past the chunks is refused */
	CHECK(do_lease(f_id, lease, MIB + MIB / 2, 0) == 0);
	CHECK(do_lease(f_id, lease, 2 * MIB + 1, 0) == -EINVAL);
	Cairn__Attr *a = do_stat("/f", &e);
	CHECK(a && a->size == MIB + MIB / 2 && a->nchunks == 2);
	cairn__envelope__free_unpacked(e, NULL);

	/* locations, least loaded first */
	CHECK(do_lease(f_id, lease, 0, 0) == 0);
	cairn__envelope__free_unpacked(do_heartbeat(NODE1, 9, NULL, 0), NULL);
	e = do_chunks(f_id);
	CHECK(e->chunk_list->n_chunks == 2 && e->chunk_list->size == MIB + MIB / 2);
	if (e->chunk_list->n_chunks == 2) {
		ci = e->chunk_list->chunks[0];
		CHECK(ci->id == f_c0 && ci->version == 2 && ci->n_replicas == 3);
		CHECK(ci->n_replicas == 3 && strcmp(ci->replicas[2], NODE1) == 0);
	}
	cairn__envelope__free_unpacked(e, NULL);

	/* release with a smaller size commits it; a later open sees it */
	CHECK(do_lease(f_id, lease, MIB + 100, 1) == 0);
	CHECK(do_lease(f_id, lease, MIB + 100, 0) == -CAIRN_ELEASE);
	CHECK(do_open("/f", 0, 0, 0, NULL, NULL, &size, NULL) == 0 && size == MIB + 100);
}

static void phase_expiry_and_dead_nodes(void)
{
	Cairn__Envelope *e;
	uint64_t l1 = 0, l2 = 0;
	CHECK(do_open("/g", 1, 1, 0, &l1, &g_id, NULL, NULL) == 0);
	CHECK(do_open("/g", 1, 0, 0, NULL, NULL, NULL, NULL) == -CAIRN_ELEASE);
	/* NODE3 goes silent; NODE1 and NODE2 keep beating */
	for (int i = 0; i < 5; i++) {
		run_for(300);
		cairn__envelope__free_unpacked(do_heartbeat(NODE1, 0, NULL, 0), NULL);
		cairn__envelope__free_unpacked(do_heartbeat(NODE2, 0, NULL, 0), NULL);
	}
	/* 1.5 s later: the 1 s lease is dead, NODE3 too */
	CHECK(do_lease(g_id, l1, 0, 0) == -CAIRN_ELEASE);
	CHECK(do_open("/g", 1, 0, 0, &l2, NULL, NULL, NULL) == 0 && l2 != l1);
	CHECK(do_allocate(g_id, l2, 0, &e) == 0);
	Cairn__ChunkInfo *ci = e->chunk->chunk;
	CHECK(ci->n_replicas == 2 && !in_list(ci->replicas, ci->n_replicas, NODE3));
	cairn__envelope__free_unpacked(e, NULL);
	CHECK(do_lease(g_id, l2, 0, 0) == 0);
	e = do_chunks(f_id);
	CHECK(e->chunk_list->n_chunks == 2 && e->chunk_list->chunks[0]->n_replicas == 2);
	cairn__envelope__free_unpacked(e, NULL);
	e = do_heartbeat(NODE3, 0, NULL, 0);
	CHECK(e->node->reregister);
	cairn__envelope__free_unpacked(e, NULL);
	e = do_heartbeat("10.9.9.9:1", 0, NULL, 0);
	CHECK(e->node->reregister);
	cairn__envelope__free_unpacked(e, NULL);
	CHECK(do_lease(g_id, l2, 0, 1) == 0);
	/* NODE3 comes back with f's chunk 0 at version 2 and chunk 1 */
	struct report back[2] = {{f_c0, 2}, {f_c1, 1}};
	e = do_register(NODE3, "r2", back, 2);
	CHECK(e->node->n_delete_ == 0);
	cairn__envelope__free_unpacked(e, NULL);
}

static void phase_bad_truncate_remove(void)
{
	Cairn__Envelope *e;
	/* a bad replica is no longer served */
	Cairn__ReportBadReq rb = CAIRN__REPORT_BAD_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT;
	rb.chunk_id = f_c1;
	rb.replica = NODE2;
	rb.why = CAIRN__STATUS__STATUS_CHECKSUM;
	req.body_case = CAIRN__ENVELOPE__BODY_REPORT_BAD;
	req.report_bad = &rb;
	CHECK(simple(&req) == 0);
	e = do_chunks(f_id);
	CHECK(e->chunk_list->n_chunks == 2 && e->chunk_list->chunks[1]->n_replicas == 2 &&
	      !in_list(e->chunk_list->chunks[1]->replicas, 2, NODE2));
	cairn__envelope__free_unpacked(e, NULL);

	/* truncating /t drops its chunk: its holders hear of it on their next heartbeat */
	uint64_t lease, t_id;
	CHECK(do_open("/t", 1, 1, 0, &lease, &t_id, NULL, NULL) == 0);
	CHECK(do_allocate(t_id, lease, 0, &e) == 0);
	t_chunk = e->chunk->chunk->id;
	char first[64];
	snprintf(first, sizeof(first), "%s", e->chunk->chunk->replicas[0]);
	cairn__envelope__free_unpacked(e, NULL);
	CHECK(do_lease(t_id, lease, 100, 1) == 0);
	CHECK(do_open("/t", 1, 0, 1, &lease, NULL, NULL, NULL) == 0);
	e = do_chunks(t_id);
	CHECK(e->chunk_list->n_chunks == 0 && e->chunk_list->size == 0);
	cairn__envelope__free_unpacked(e, NULL);
	e = do_heartbeat(first, 0, NULL, 0);
	CHECK(has_id(e, t_chunk));
	cairn__envelope__free_unpacked(e, NULL);
	CHECK(do_lease(t_id, lease, 0, 1) == 0);

	/* removing /g drops its chunk the same way */
	CHECK(do_open("/g", 1, 0, 0, &lease, NULL, NULL, NULL) == 0);
	CHECK(do_allocate(g_id, lease, 0, &e) == 0);
	uint64_t g_chunk = e->chunk->chunk->id, g_ver = e->chunk->chunk->version;
	snprintf(first, sizeof(first), "%s", e->chunk->chunk->replicas[0]);
	cairn__envelope__free_unpacked(e, NULL);
	CHECK(g_ver == 2);
	Cairn__RemoveReq rm = CAIRN__REMOVE_REQ__INIT;
	rm.path = "/g";
	req.body_case = CAIRN__ENVELOPE__BODY_REMOVE;
	req.remove = &rm;
	CHECK(simple(&req) == 0);
	e = do_heartbeat(first, 0, NULL, 0);
	CHECK(has_id(e, g_chunk));
	cairn__envelope__free_unpacked(e, NULL);
	/* a lost replica is dropped too */
	e = do_heartbeat(NODE3, 0, &f_c1, 1);
	cairn__envelope__free_unpacked(e, NULL);
	e = do_chunks(f_id);
	CHECK(e->chunk_list->n_chunks == 2 && e->chunk_list->chunks[1]->n_replicas == 1);
	cairn__envelope__free_unpacked(e, NULL);
	/* a writer still open at the restart */
	CHECK(do_open("/k", 1, 1, 0, &k_lease, &k_id, NULL, NULL) == 0);
}

/* After a restart: the namespace and versions are back, the map rebuilds from reports. */
static void phase_restarted(int first)
{
	Cairn__Envelope *e;
	Cairn__Attr *a = do_stat("/f", &e);
	CHECK(a && a->size == MIB + 100 && a->nchunks == 2);
	cairn__envelope__free_unpacked(e, NULL);
	e = do_chunks(f_id);
	CHECK(e->chunk_list->n_chunks == 2);
	if (e->chunk_list->n_chunks == 2) {
		CHECK(e->chunk_list->chunks[0]->id == f_c0 &&
		      e->chunk_list->chunks[0]->version == 2);
		CHECK(e->chunk_list->chunks[1]->id == f_c1 &&
		      e->chunk_list->chunks[1]->version == 1);
		CHECK(e->chunk_list->chunks[0]->n_replicas == 0); /* nobody has reported yet */
	}
	cairn__envelope__free_unpacked(e, NULL);
	if (!first)
		return;
	/*
	 * The lease grace (1 s): the old holder reclaims its lease, another
	 * writer is refused, a file that existed waits (AGAIN), a new one not.
	 */
	uint64_t l = 0;
	CHECK(do_lease(k_id, k_lease, 0, 0) == 0);
	CHECK(do_open("/k", 1, 0, 0, &l, NULL, NULL, NULL) == -CAIRN_ELEASE);
	CHECK(do_open("/f", 1, 0, 0, &l, NULL, NULL, NULL) == -EAGAIN);
	CHECK(do_lease(k_id, k_lease, 0, 1) == 0);
	CHECK(do_lease(k_id, k_lease, 0, 0) == -CAIRN_ELEASE); /* released: not reclaimed again */
	/* NODE1 current; NODE2 has a stale chunk 0; NODE3 an orphan and /t's dropped chunk */
	struct report r1[2] = {{f_c0, 2}, {f_c1, 1}}, r2[2] = {{f_c0, 1}, {f_c1, 1}},
		      r3[3] = {{f_c0, 2}, {12345, 1}, {t_chunk, 1}};
	e = do_register(NODE1, "r1", r1, 2);
	CHECK(e->node->n_delete_ == 0);
	cairn__envelope__free_unpacked(e, NULL);
	e = do_register(NODE2, "r1", r2, 2);
	CHECK(e->node->n_delete_ == 0); /* stale, but a writer may be on its way back */
	cairn__envelope__free_unpacked(e, NULL);
	e = do_register(NODE3, "r2", r3, 3);
	CHECK(e->node->n_delete_ == 2 && has_id(e, 12345) && has_id(e, t_chunk));
	cairn__envelope__free_unpacked(e, NULL);
	e = do_chunks(f_id);
	if (e->chunk_list->n_chunks == 2) {
		Cairn__ChunkInfo *c0 = e->chunk_list->chunks[0], *c1 = e->chunk_list->chunks[1];
		CHECK(c0->n_replicas == 2 && in_list(c0->replicas, 2, NODE1) &&
		      in_list(c0->replicas, 2, NODE3));
		CHECK(c1->n_replicas == 2 && in_list(c1->replicas, 2, NODE1) &&
		      in_list(c1->replicas, 2, NODE2));
	}
	cairn__envelope__free_unpacked(e, NULL);
	/* ids are never reused, not even the dropped ones */
	uint64_t lease = 0, h_id;
	CHECK(do_open("/h", 1, 1, 0, &lease, &h_id, NULL, NULL) == 0);
	CHECK(do_allocate(h_id, lease, 0, &e) == 0);
	CHECK(e->chunk->chunk->id > t_chunk && e->chunk->chunk->id > f_c1);
	cairn__envelope__free_unpacked(e, NULL);
	/* After the grace: writers of old files come in, stale replicas go. */
	run_for(1050);
	CHECK(do_open("/k", 1, 0, 0, &l, NULL, NULL, NULL) == 0 && l != k_lease);
	e = do_register(NODE2, "r1", r2, 2);
	CHECK(has_id(e, f_c0));
	cairn__envelope__free_unpacked(e, NULL);
}

/* The release-held call: returns how many were released (or a negative error). */
static int64_t do_release_held(void)
{
	Cairn__Empty m = CAIRN__EMPTY__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT, *out = NULL;
	req.body_case = CAIRN__ENVELOPE__BODY_RELEASE_HELD;
	req.release_held = &m;
	int err = call(&req, &out, NULL);
	int64_t n = err ? err : (int64_t)out->released->released;
	cairn__envelope__free_unpacked(out, NULL);
	return n;
}

/*
 * A replica ahead of the namespace is one node's claim: held, not served,
 * not adopted, and the replica at the namespace's version stays; the next
 * version granted skips past it; release-held deletes it.
 */
static void phase_newer_held(void)
{
	Cairn__Envelope *e;
	struct report r2[1] = {{f_c1, 1}}, r1[1] = {{f_c1, 5}};
	cairn__envelope__free_unpacked(do_register(NODE2, "r1", r2, 1), NULL);
	e = do_register(NODE1, "r1", r1, 1);
	CHECK(e->node->n_delete_ == 0);
	cairn__envelope__free_unpacked(e, NULL);
	e = do_chunks(f_id);
	if (e->chunk_list->n_chunks == 2) {
		Cairn__ChunkInfo *c1 = e->chunk_list->chunks[1];
		CHECK(c1->version == 1 && c1->n_replicas == 1 &&
		      strcmp(c1->replicas[0], NODE2) == 0);
	}
	cairn__envelope__free_unpacked(e, NULL);
	e = do_heartbeat(NODE2, 0, NULL, 0);
	CHECK(!has_id(e, f_c1));
	cairn__envelope__free_unpacked(e, NULL);
	for (int i = 0; i < 3; i++) { /* past the lease grace; no grace ends this hold */
		run_for(400);
		cairn__envelope__free_unpacked(do_heartbeat(NODE2, 0, NULL, 0), NULL);
		e = do_heartbeat(NODE1, 0, NULL, 0);
		CHECK(!has_id(e, f_c1) && !e->node->reregister);
		cairn__envelope__free_unpacked(e, NULL);
	}
	uint64_t lease = 0, size = 0;
	CHECK(do_open("/f", 1, 0, 0, &lease, NULL, &size, NULL) == 0);
	CHECK(do_allocate(f_id, lease, 1, &e) == 0);
	CHECK(e && e->chunk->chunk->version > 5);
	cairn__envelope__free_unpacked(e, NULL);
	CHECK(do_lease(f_id, lease, size, 1) == 0);
	CHECK(do_release_held() == 1);
	e = do_heartbeat(NODE1, 0, NULL, 0);
	CHECK(has_id(e, f_c1));
	cairn__envelope__free_unpacked(e, NULL);
}

/*
 * With a grace: an unknown chunk is held, not deleted, until its node
 * reported it the grace ago; then a heartbeat carries its delete.
 */
static void phase_unknown_held(void)
{
	Cairn__Envelope *e;
	struct report r[1] = {{777777, 3}};
	opts.delete_grace_ms = 400;
	e = do_register(NODE3, "r2", r, 1);
	CHECK(e->node->n_delete_ == 0);
	cairn__envelope__free_unpacked(e, NULL);
	e = do_heartbeat(NODE3, 0, NULL, 0);
	CHECK(!has_id(e, 777777));
	cairn__envelope__free_unpacked(e, NULL);
	int deleted = 0;
	for (int i = 0; i < 8 && !deleted; i++) { /* past the grace, and a tick */
		run_for(400);
		e = do_heartbeat(NODE3, 0, NULL, 0);
		deleted = has_id(e, 777777);
		CHECK(!e->node->reregister);
		cairn__envelope__free_unpacked(e, NULL);
	}
	CHECK(deleted);
	opts.delete_grace_ms = 0;
}

/* ---- paged chunk reports -------------------------------------------------------------- */

#define NODE4	    "10.0.0.4:7001"
#define REPORT_PAGE 20000u
#define REPORT_REAL 200u /* chunks of /big among the report's orphans */

/* Sends page (0: the RegisterReq) of ids[from, to); returns the NodeResp envelope or NULL. */
static Cairn__Envelope *report_page(const uint64_t *ids, const uint64_t *vers, size_t from,
				    size_t to, uint32_t page, uint64_t report_id, int last,
				    int *err)
{
	Cairn__ChunkReport *r = calloc(to - from + 1, sizeof(*r));
	Cairn__ChunkReport **rp = calloc(to - from + 1, sizeof(*rp));
	CHECK(r && rp);
	for (size_t i = from; i < to; i++) {
		cairn__chunk_report__init(&r[i - from]);
		r[i - from].id = ids[i];
		r[i - from].version = vers[i];
		r[i - from].length = 0;
		rp[i - from] = &r[i - from];
	}
	Cairn__RegisterReq reg = CAIRN__REGISTER_REQ__INIT;
	Cairn__ChunkReportReq m = CAIRN__CHUNK_REPORT_REQ__INIT;
	Cairn__Envelope req = CAIRN__ENVELOPE__INIT, *out = NULL;
	if (page == 0) {
		reg.addr = NODE4;
		reg.rack = "r4";
		reg.capacity = 1ull << 50;
		reg.used = 1ull << 30;
		reg.chunks = rp;
		reg.n_chunks = to - from;
		reg.more = !last;
		req.body_case = CAIRN__ENVELOPE__BODY_REGISTER;
		req.register_ = &reg;
	} else {
		m.addr = NODE4;
		m.report_id = report_id;
		m.page = page;
		m.chunks = rp;
		m.n_chunks = to - from;
		m.done = last;
		req.body_case = CAIRN__ENVELOPE__BODY_REPORT;
		req.report = &m;
	}
	*err = call(&req, &out, NULL);
	free(r);
	free(rp);
	if (*err) {
		cairn__envelope__free_unpacked(out, NULL);
		return NULL;
	}
	CHECK(out && out->body_case == CAIRN__ENVELOPE__BODY_NODE);
	return out;
}

/*
 * Reports ids (n) from NODE4 in pages, stopping after stop pages when
 * non-zero. Returns the deletes answered over all pages.
 */
static size_t report_all(const uint64_t *ids, const uint64_t *vers, size_t n, uint32_t stop)
{
	uint64_t report_id = 0;
	size_t ndel = 0;
	int err;
	for (uint32_t page = 0; (size_t)page * REPORT_PAGE < n || page == 0; page++) {
		if (stop && page == stop)
			break;
		size_t from = (size_t)page * REPORT_PAGE;
		size_t to = from + REPORT_PAGE < n ? from + REPORT_PAGE : n;
		Cairn__Envelope *e =
		    report_page(ids, vers, from, to, page, report_id, to == n, &err);
		CHECKF(e != NULL, "report page %u: %s", page, err_str(err));
		if (!e)
			return ndel;
		if (page == 0)
			report_id = e->node->report_id;
		CHECK(to == n || report_id != 0);
		ndel += e->node->n_delete_;
		cairn__envelope__free_unpacked(e, NULL);
	}
	return ndel;
}

/* Counts the chunks of file_id listed with NODE4; *total gets how many chunks. */
static size_t on_node4(uint64_t file_id, const uint64_t *want, size_t nwant, size_t *wrong)
{
	Cairn__Envelope *e = do_chunks(file_id);
	size_t k = 0;
	*wrong = 0;
	for (size_t i = 0; i < e->chunk_list->n_chunks; i++) {
		Cairn__ChunkInfo *c = e->chunk_list->chunks[i];
		int listed = in_list(c->replicas, c->n_replicas, NODE4), wanted = 0;
		for (size_t j = 0; j < nwant; j++)
			wanted |= want[j] == c->id;
		k += listed && wanted;
		*wrong += listed != wanted;
	}
	cairn__envelope__free_unpacked(e, NULL);
	return k;
}

static void phase_paged_report(void)
{
	const char *env = getenv("CAIRN_REPORT_N");
	size_t n = env && atol(env) > (long)REPORT_REAL ? (size_t)atol(env) : 250000, wrong;
	uint64_t lease = 0, big = 0, real[REPORT_REAL], t0;
	uint64_t *ids = calloc(n, sizeof(*ids)), *vers = calloc(n, sizeof(*vers));
	CHECK(ids && vers);
	int err;
	/* /big: REPORT_REAL chunks placed on NODE4, the only live node */
	cairn__envelope__free_unpacked(report_page(ids, vers, 0, 0, 0, 0, 1, &err), NULL);
	CHECK(do_open("/big", 1, 1, 0, &lease, &big, NULL, NULL) == 0);
	for (uint64_t i = 0; i < REPORT_REAL; i++) {
		Cairn__Envelope *e;
		if (i % 16 == 0) {
			CHECK(do_lease(big, lease, 0, 0) == 0);
			cairn__envelope__free_unpacked(do_heartbeat(NODE4, 0, NULL, 0), NULL);
		}
		CHECK(do_allocate(big, lease, i, &e) == 0);
		real[i] = e ? e->chunk->chunk->id : 0;
		cairn__envelope__free_unpacked(e, NULL);
	}
	CHECK(do_lease(big, lease, 0, 1) == 0);
	/* the report: /big's chunks spread among orphans (ids the namespace never gave) */
	for (size_t i = 0; i < n; i++) {
		ids[i] = (1ull << 40) + i;
		vers[i] = 1;
	}
	for (size_t i = 0; i < REPORT_REAL; i++)
		ids[i * (n / REPORT_REAL)] = real[i];
	t0 = (uint64_t)time_now_us();
	size_t ndel = report_all(ids, vers, n, 0);
	uint64_t took = (uint64_t)time_now_us() - t0;
	CHECKF(ndel == n - REPORT_REAL, "%zu deletes for %zu orphans", ndel, n - REPORT_REAL);
	CHECKF(on_node4(big, real, REPORT_REAL, &wrong) == REPORT_REAL && wrong == 0,
	       "%zu chunks wrongly placed", wrong);
	printf("test_meta_data: %zu replicas registered in %zu pages in %.2f s\n", n,
	       (n + REPORT_PAGE - 1) / REPORT_PAGE, (double)took / 1e6);

	/* mid-report: a heartbeat is told to register again; stray pages are refused */
	Cairn__Envelope *e = report_page(ids, vers, 0, REPORT_PAGE, 0, 0, 0, &err);
	uint64_t report_id = e ? e->node->report_id : 0;
	CHECK(report_id != 0);
	cairn__envelope__free_unpacked(e, NULL);
	CHECK(on_node4(big, real, REPORT_REAL, &wrong) < REPORT_REAL);	     /* not reported yet */
	CHECK(report_page(ids, vers, 0, 1, 2, report_id, 0, &err) == NULL && /* out of order */
	      err == -CAIRN_EPROTO);
	CHECK(report_page(ids, vers, 0, 1, 1, report_id, 0, &err) == NULL && /* abandoned */
	      err == -CAIRN_EPROTO);
	e = report_page(ids, vers, 0, REPORT_PAGE, 0, 0, 0, &err); /* starts over */
	report_id = e ? e->node->report_id : 0;
	cairn__envelope__free_unpacked(e, NULL);
	e = do_heartbeat(NODE4, 0, NULL, 0);
	CHECK(e->node->reregister);
	cairn__envelope__free_unpacked(e, NULL);

	/* cut off: one page, then the connection closes; the next report is the truth */
	report_all(ids, vers, n, 1);
	rpc_client_free(cl);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", meta_port(ms));
	cl = rpc_client_new(base, addr, NULL, NULL);
	CHECK(cl != NULL);
	for (size_t i = 0; i < REPORT_REAL; i += 2) /* the odd ones are gone */
		ids[(i + 1) * (n / REPORT_REAL)] = (1ull << 41) + i;
	uint64_t even[REPORT_REAL / 2];
	for (size_t i = 0; i < REPORT_REAL / 2; i++)
		even[i] = real[2 * i];
	ndel = report_all(ids, vers, n, 0);
	CHECKF(ndel == n - REPORT_REAL / 2, "%zu deletes", ndel);
	CHECKF(on_node4(big, even, REPORT_REAL / 2, &wrong) == REPORT_REAL / 2 && wrong == 0,
	       "%zu chunks wrongly placed", wrong);
	e = do_heartbeat(NODE4, 0, NULL, 0);
	CHECK(!e->node->reregister);
	cairn__envelope__free_unpacked(e, NULL);
	free(ids);
	free(vers);
}

static void rm_rf(const char *d)
{
	DIR *dd = opendir(d);
	struct dirent *de;
	while (dd && (de = readdir(dd)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(dd), de->d_name, 0);
	if (dd)
		closedir(dd);
	rmdir(d);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	char tmpl[] = "/tmp/cairn-metadata-XXXXXX", http[64], *cause = NULL;
	if (!base || !mkdtemp(tmpl))
		return 1;
	dir = tmpl;
	snprintf(http, sizeof(http), "127.0.0.1:%d", free_port());
	char *argv[] = {"test_meta_data",
			"--data",
			dir,
			"--listen",
			"127.0.0.1:1",
			"--http",
			http,
			"--lease",
			"1s",
			"--dead-after",
			"1s",
			"--chunk-size",
			"1M",
			"--heartbeat",
			"100ms",
			"--log-level",
			"warn"};
	if (config_parse(meta_config, &opts, (int)(sizeof(argv) / sizeof(argv[0])), argv,
			 "test_meta_data", "", &cause) != 0) {
		fprintf(stderr, "config: %s\n", cause ? cause : "?");
		return 1;
	}
	free(opts.listen);
	opts.listen = strdup("127.0.0.1:0");
	opts.delete_grace_ms = 0; /* orphans go at registration, but in phase_unknown_held */
	uint64_t t0 = time_mono_ms();

	server_start();
	phase_writes();
	phase_expiry_and_dead_nodes();
	phase_bad_truncate_remove();
	server_stop(1); /* shutdown: the final checkpoint holds the chunks */
	server_start();
	phase_restarted(1);
	server_stop(0); /* no checkpoint: the log replays */
	server_start();
	phase_restarted(0);
	phase_newer_held();
	phase_unknown_held();
	phase_paged_report();
	server_stop(0);
	server_start(); /* the version granted past the held one was logged */
	Cairn__Envelope *e = do_chunks(f_id);
	CHECK(e->chunk_list->n_chunks == 2 && e->chunk_list->chunks[1]->version > 5);
	cairn__envelope__free_unpacked(e, NULL);
	server_stop(0);

	config_free(meta_config, &opts);
	event_base_free(base);
	rm_rf(dir);
	printf("test_meta_data: %.1f s\n", (double)(time_mono_ms() - t0) / 1000);
	if (failures) {
		printf("test_meta_data: %d failures\n", failures);
		return 1;
	}
	printf("test_meta_data: ok\n");
	return 0;
}
