/*
 * chunk_io: the client calls of cairn-chunk (write, sync, read, ping) and
 * the dispatch table.
 *
 * A write (DESIGN §5) is applied locally and, when its chain is not
 * empty, forwarded at the same time to chain[0] with the rest of the
 * chain, carrying the same payload bytes: the forwarded frame references
 * the received buffers (evbuffer_add_buffer_reference), so the bytes are
 * not copied, and the frame CRCs that were checked on arrival travel on
 * instead of being computed again. The call is answered once every part is done: the version step,
 * the local write, the local sync when asked, and the downstream call.
 * The first error wins and its words name the member that failed
 * ("chain ADDR: ..." for a downstream one), so the client can ask the
 * metaserver for a new chain.
 *
 * Versions: a missing replica is created at the call's version; an older
 * one adopts it (store_set_version); a newer one refuses with STALE.
 * Order: the store runs the ops of one chunk in submission order (create
 * included), and calls are submitted in arrival order, so every replica
 * applies the writes of one chunk in the order the head received them.
 * A version change in flight is remembered (struct chunk_vpend) so the
 * calls that arrive meanwhile are judged against the version the replica
 * is about to have, not the one the store's index still shows.
 *
 * A read must name the replica's version; its bytes are verified by the
 * store and moved into the reply, with their stored block CRCs as the
 * frame's payload CRCs when the read covers whole blocks (so they are not
 * computed again). A write's frame CRCs, checked on arrival, likewise
 * become the stored CRCs of the blocks it fills. A checksum mismatch
 * (read, or the old bytes a partial write keeps) fails the call with
 * CHECKSUM, takes the replica out of service (the store marks it corrupt:
 * no more reads or writes, left out of the chunk report) and queues it
 * for the next heartbeat's lost list.
 *
 * Back-pressure: rpc.h has no way to stop reading one connection (the
 * hook this wants: rpc_conn_pause(c, on), then this limit would pause the
 * connection at 64 MiB instead). What bounds memory meanwhile: a
 * connection with more than CHUNK_CONN_WRITE_MAX payload bytes of writes
 * in progress has further writes refused with AGAIN. The limit is high
 * because a chain's middle member sees all the writes its upstream
 * member forwards on one connection; a client keeping a few MiB in flight
 * never meets it.
 *
 * Invariants: a call in progress holds a reference on its connection and
 * is counted in cs->ncalls until answered; a chunk has a chunk_vpend entry
 * exactly while a create or set_version of it is in flight.
 */
#include "chunk_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "chunkfile.h"
#include "errors.h"
#include "frame.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* Payload bytes of writes in progress one connection may have. */
#define CHUNK_CONN_WRITE_MAX (256u << 20)
/* Longest chain a call may carry, and longest address in it. */
#define CHUNK_CHAIN_MAX 16u
#define CHUNK_ADDR_MAX	256u
/* Frame payload CRCs are block CRCs: one goes for the other. */
_Static_assert(FRAME_BLOCK == CHUNKFILE_BLOCK_SIZE, "frame and chunk blocks differ");
/* Deadline of a call forwarded down the chain (ms). */
#define CHUNK_FWD_TIMEOUT_MS 20000u

/* A client connection's accounting. */
struct chunk_client {
	struct chunk_client *hnext;
	struct rpc_conn *conn; /* not referenced: the entry goes when it closes */
	uint64_t write_bytes;  /* payload bytes of its writes in progress */
	int refs;	       /* the table's (while linked) and each write's */
	int linked;
};

/* A version change (create or set_version) in flight on a chunk. */
struct chunk_vpend {
	struct chunk_vpend *hnext;
	uint64_t id;
	uint64_t version; /* what the replica has once those ops are done */
	int n;		  /* version ops in flight */
};

/* A call about one chunk being answered (alone, a ReadReq's or CrcsReq's). */
struct chunk_req {
	struct chunk_server *cs;
	struct rpc_conn *conn; /* one reference held */
	uint64_t call_id;
	uint64_t chunk_id;
	uint64_t start_us; /* arrival (monotonic), for the latency */
};

/* A write or sync in progress: its parts and the first error. */
struct chunk_call {
	struct chunk_req q;
	struct chunk_client *client;
	uint64_t bytes;
	unsigned op; /* its dispatch row */
	int parts;   /* parts not done yet, plus one while submitting */
	int err;
	char *why;
};

static size_t hash64(uint64_t v, size_t nbuckets)
{
	return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 32) & (nbuckets - 1);
}

/* ---- client accounting ---- */

static struct chunk_client **client_slot(struct chunk_server *cs, const struct rpc_conn *c)
{
	struct chunk_client **pp = &cs->clients[hash64((uintptr_t)c, CHUNK_CLIENT_BUCKETS)];
	while (*pp && (*pp)->conn != c)
		pp = &(*pp)->hnext;
	return pp;
}

static struct chunk_client *client_get(struct chunk_server *cs, struct rpc_conn *c)
{
	struct chunk_client **pp = client_slot(cs, c);
	if (!*pp) {
		struct chunk_client *cl = xcalloc(1, sizeof(*cl));
		cl->conn = c;
		cl->refs = 1;
		cl->linked = 1;
		*pp = cl;
	}
	return *pp;
}

static void client_unref(struct chunk_client *cl)
{
	if (cl && --cl->refs == 0)
		free(cl);
}

void chunk_io_conn_closed(struct chunk_server *cs, struct rpc_conn *c)
{
	struct chunk_client **pp = client_slot(cs, c);
	struct chunk_client *cl = *pp;
	if (!cl)
		return;
	*pp = cl->hnext;
	cl->linked = 0;
	client_unref(cl);
}

/* ---- version changes in flight ---- */

static struct chunk_vpend **vpend_slot(struct chunk_server *cs, uint64_t id)
{
	struct chunk_vpend **pp = &cs->vpend[hash64(id, CHUNK_VPEND_BUCKETS)];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static void vpend_hold(struct chunk_server *cs, uint64_t id, uint64_t version)
{
	struct chunk_vpend **pp = vpend_slot(cs, id);
	if (!*pp) {
		*pp = xcalloc(1, sizeof(**pp));
		(*pp)->id = id;
	}
	(*pp)->version = version;
	(*pp)->n++;
}

static void vpend_release(struct chunk_server *cs, uint64_t id)
{
	struct chunk_vpend **pp = vpend_slot(cs, id);
	struct chunk_vpend *vp = *pp;
	if (vp && --vp->n == 0) {
		*pp = vp->hnext;
		free(vp);
	}
}

void chunk_io_free(struct chunk_server *cs)
{
	for (size_t i = 0; i < CHUNK_VPEND_BUCKETS; i++) {
		while (cs->vpend[i]) {
			struct chunk_vpend *vp = cs->vpend[i];
			cs->vpend[i] = vp->hnext;
			free(vp);
		}
	}
	for (size_t i = 0; i < CHUNK_CLIENT_BUCKETS; i++) {
		while (cs->clients[i]) {
			struct chunk_client *cl = cs->clients[i];
			cs->clients[i] = cl->hnext;
			cl->linked = 0;
			client_unref(cl);
		}
	}
}

/*
 * The version chunk id has or is about to have. Returns 0 (and *corrupt),
 * -ENOENT, or -EIO when the replica was lost with its disk.
 */
static int replica_version(struct chunk_server *cs, uint64_t id, uint64_t *version, int *corrupt)
{
	struct store_chunk_info info;
	int rc = store_lookup(cs->store, id, &info);
	*corrupt = rc == 0 && info.corrupt;
	*version = rc == 0 ? info.version : 0;
	struct chunk_vpend *vp = *vpend_slot(cs, id);
	if (vp) {
		*version = vp->version;
		return 0;
	}
	return rc;
}

/* ---- replies ---- */

static void reply_err(struct rpc_conn *c, uint64_t call_id, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reply_err(struct rpc_conn *c, uint64_t call_id, int err, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	rpc_reply(c, call_id, err, why, NULL, NULL);
}

/* Checks a call's chain; returns NULL or what is wrong with it (static text). */
static const char *check_chain(const struct chunk_server *cs, char **chain, size_t n)
{
	if (n > CHUNK_CHAIN_MAX)
		return "the chain is too long";
	for (size_t i = 0; i < n; i++) {
		char *host;
		uint16_t port;
		if (strlen(chain[i]) >= CHUNK_ADDR_MAX || addr_parse(chain[i], &host, &port) < 0)
			return "a chain address is not HOST:PORT";
		free(host);
		if (!chunk_addr_numeric(chain[i]))
			return "a chain address is not an IP address (names are not resolved)";
		if (strcmp(chain[i], cs->opts->listen) == 0)
			return "the chain names this chunkserver";
	}
	return NULL;
}

/* ---- calls being answered ---- */

/* Starts q: call_id about chunk_id arrived on c (a reference is taken). */
static void req_init(struct chunk_req *q, struct chunk_server *cs, struct rpc_conn *c,
		     uint64_t call_id, uint64_t chunk_id)
{
	q->cs = cs;
	q->conn = c;
	rpc_conn_ref(c);
	q->call_id = call_id;
	q->chunk_id = chunk_id;
	q->start_us = time_mono_us();
	cs->ncalls++;
}

/* Ends q, answered: its latency under dispatch row op; drops the connection. */
static void req_end(struct chunk_req *q, unsigned op)
{
	chunk_stats_done(q->cs, op, q->start_us);
	q->cs->ncalls--;
	rpc_conn_unref(q->conn);
}

/* A read or checksum request (what) found q's replica corrupt: reports it lost. */
static void req_corrupt(struct chunk_req *q, const char *what)
{
	log_error("chunk %016llx: %s found the replica corrupt; reporting it lost",
		  (unsigned long long)q->chunk_id, what);
	chunk_stats_checksum(q->cs);
	chunk_report_lost(q->cs, q->chunk_id);
}

/* ---- writes and syncs: the parts of a call ---- */

static struct chunk_call *call_new(struct chunk_server *cs, struct rpc_conn *c, uint64_t call_id,
				   uint64_t chunk_id)
{
	struct chunk_call *call = xcalloc(1, sizeof(*call));
	req_init(&call->q, cs, c, call_id, chunk_id);
	call->parts = 1;
	return call;
}

/* Records err (with its words) unless an earlier part already failed. */
static void call_fail(struct chunk_call *call, int err, const char *why)
{
	if (call->err)
		return;
	call->err = err;
	call->why = xstrdup(why ? why : err_str(err));
	if (err == -CAIRN_ECHECKSUM || err == -EIO || err == -ENOSPC)
		log_warn("chunk %016llx: call from %s failed: %s",
			 (unsigned long long)call->q.chunk_id, rpc_conn_peer(call->q.conn),
			 call->why);
	else
		log_debug("chunk %016llx: call from %s failed: %s",
			  (unsigned long long)call->q.chunk_id, rpc_conn_peer(call->q.conn),
			  call->why);
}

static void call_part_done(struct chunk_call *call)
{
	if (--call->parts > 0)
		return;
	rpc_reply(call->q.conn, call->q.call_id, call->err, call->why, NULL, NULL);
	if (!call->err && call->op == CAIRN__ENVELOPE__BODY_WRITE)
		chunk_stats_written(call->q.cs, call->bytes);
	if (call->client) {
		call->client->write_bytes -= call->bytes;
		client_unref(call->client);
	}
	req_end(&call->q, call->op);
	free(call->why);
	free(call);
}

/* A local part (write, sync) completed. */
static void on_local(int err, struct evbuffer *data, void *arg)
{
	struct chunk_call *call = arg;
	if (err == -CAIRN_ECHECKSUM) {
		chunk_stats_checksum(call->q.cs);
		chunk_report_lost(call->q.cs, call->q.chunk_id);
	}
	if (err)
		call_fail(call, err, NULL);
	call_part_done(call);
}

/* The version part (create, set_version) completed. */
static void on_version(int err, struct evbuffer *data, void *arg)
{
	struct chunk_call *call = arg;
	vpend_release(call->q.cs, call->q.chunk_id);
	on_local(err, data, arg);
}

static void on_forwarded(int err, const char *why, void *arg)
{
	struct chunk_call *call = arg;
	if (err)
		call_fail(call, err, why);
	call_part_done(call);
}

/*
 * Gives fwd the bytes of payload without draining it: by reference, or
 * with one copy if libevent refuses the reference.
 */
static int payload_share(struct evbuffer *fwd, struct evbuffer *payload)
{
	if (evbuffer_add_buffer_reference(fwd, payload) == 0)
		return 0;
	size_t len = evbuffer_get_length(payload);
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(fwd, (ev_ssize_t)len, &v, 1) != 1)
		return -ENOMEM;
	evbuffer_copyout(payload, v.iov_base, len);
	v.iov_len = len;
	return evbuffer_commit_space(fwd, &v, 1) < 0 ? -ENOMEM : 0;
}

/* Sends the write on to chain[0], sharing the payload's bytes. */
static void forward_write(struct chunk_call *call, Cairn__Envelope *req, struct evbuffer *payload)
{
	Cairn__WriteReq w = *req->write;
	Cairn__Envelope env = CAIRN__ENVELOPE__INIT;
	w.chain = req->write->chain + 1;
	w.n_chain = req->write->n_chain - 1;
	env.body_case = CAIRN__ENVELOPE__BODY_WRITE;
	env.write = &w;
	struct evbuffer *fwd = NULL;
	if (payload && evbuffer_get_length(payload) > 0) {
		fwd = evbuffer_new();
		if (!fwd || payload_share(fwd, payload) < 0) {
			if (fwd)
				evbuffer_free(fwd);
			call_fail(call, -ENOMEM, NULL);
			return;
		}
		env.n_payload_crc = req->n_payload_crc; /* the same bytes: the same CRCs */
		env.payload_crc = req->payload_crc;
	}
	call->parts++;
	chunk_peer_call(call->q.cs, req->write->chain[0], &env, fwd, CHUNK_FWD_TIMEOUT_MS,
			on_forwarded, call);
	if (fwd)
		evbuffer_free(fwd);
}

static void h_write(struct chunk_server *cs, struct rpc_conn *c, Cairn__Envelope *req,
		    struct evbuffer *payload)
{
	Cairn__WriteReq *m = req->write;
	uint64_t len = payload ? evbuffer_get_length(payload) : 0, have;
	int corrupt;
	const char *bad = check_chain(cs, m->chain, m->n_chain);
	if (bad) {
		rpc_reply(c, req->call_id, -EINVAL, bad, NULL, NULL);
		return;
	}
	if (m->offset > CHUNKFILE_MAX_SIZE || len > CHUNKFILE_MAX_SIZE - m->offset) {
		reply_err(c, req->call_id, -EINVAL, "write past the largest chunk (%llu bytes)",
			  (unsigned long long)CHUNKFILE_MAX_SIZE);
		return;
	}
	struct chunk_client *cl = client_get(cs, c);
	if (cl->write_bytes > 0 && cl->write_bytes + len > CHUNK_CONN_WRITE_MAX) {
		reply_err(c, req->call_id, -EAGAIN,
			  "over %u MiB of writes in flight on this connection",
			  CHUNK_CONN_WRITE_MAX >> 20);
		return;
	}
	int rc = replica_version(cs, m->chunk_id, &have, &corrupt);
	if (rc == 0 && corrupt) {
		rpc_reply(c, req->call_id, -CAIRN_ECHECKSUM, "the replica is corrupt", NULL, NULL);
		return;
	}
	if (rc == 0 && have > m->version) {
		reply_err(c, req->call_id, -CAIRN_ESTALE,
			  "the replica has version %llu, newer than %llu", (unsigned long long)have,
			  (unsigned long long)m->version);
		return;
	}
	if (rc < 0 && m->offset > 0) {
		reply_err(c, req->call_id, rc, "no replica of this chunk here to write at %llu",
			  (unsigned long long)m->offset);
		return;
	}
	struct chunk_call *call = call_new(cs, c, req->call_id, m->chunk_id);
	call->op = CAIRN__ENVELOPE__BODY_WRITE;
	call->client = cl;
	cl->refs++;
	cl->write_bytes += len;
	call->bytes = len;
	if (rc < 0 || have < m->version) {
		/* Missing (or lost with its disk: a new replica replaces it) or older. */
		vpend_hold(cs, m->chunk_id, m->version);
		call->parts++;
		if (rc < 0)
			store_create(cs->store, m->chunk_id, m->version, m->file_id, on_version,
				     call);
		else
			store_set_version(cs->store, m->chunk_id, m->version, on_version, call);
	}
	if (m->n_chain > 0)
		forward_write(call, req, payload);
	struct evbuffer *empty = payload ? NULL : evbuffer_new();
	if (!payload && !empty) {
		log_error("out of memory");
		abort();
	}
	call->parts++;
	store_write_crc(cs->store, m->chunk_id, m->offset, payload ? payload : empty,
			req->payload_crc, payload ? req->n_payload_crc : 0, on_local, call);
	if (empty)
		evbuffer_free(empty);
	if (m->sync) {
		call->parts++;
		store_sync(cs->store, m->chunk_id, on_local, call);
	}
	call_part_done(call);
}

static void h_sync(struct chunk_server *cs, struct rpc_conn *c, Cairn__Envelope *req,
		   struct evbuffer *payload)
{
	Cairn__SyncReq *m = req->sync;
	uint64_t have;
	int corrupt;
	const char *bad = check_chain(cs, m->chain, m->n_chain);
	if (bad) {
		rpc_reply(c, req->call_id, -EINVAL, bad, NULL, NULL);
		return;
	}
	int rc = replica_version(cs, m->chunk_id, &have, &corrupt);
	if (rc < 0) {
		rpc_reply(c, req->call_id, rc,
			  rc == -ENOENT ? "no replica of this chunk here" : NULL, NULL, NULL);
		return;
	}
	if (m->version && have != m->version) {
		reply_err(c, req->call_id, -CAIRN_ESTALE, "the replica has version %llu, not %llu",
			  (unsigned long long)have, (unsigned long long)m->version);
		return;
	}
	struct chunk_call *call = call_new(cs, c, req->call_id, m->chunk_id);
	call->op = CAIRN__ENVELOPE__BODY_SYNC;
	if (m->n_chain > 0) {
		Cairn__SyncReq s = *m;
		Cairn__Envelope env = CAIRN__ENVELOPE__INIT;
		s.chain = m->chain + 1;
		s.n_chain = m->n_chain - 1;
		env.body_case = CAIRN__ENVELOPE__BODY_SYNC;
		env.sync = &s;
		call->parts++;
		chunk_peer_call(cs, m->chain[0], &env, NULL, CHUNK_FWD_TIMEOUT_MS, on_forwarded,
				call);
	}
	call->parts++;
	store_sync(cs->store, m->chunk_id, on_local, call);
	call_part_done(call);
}

/* ---- reads ---- */

static void on_read(int err, struct evbuffer *data, const uint32_t *crcs, size_t ncrcs, void *arg)
{
	struct chunk_req *r = arg;
	if (err == -CAIRN_ECHECKSUM)
		req_corrupt(r, "a read");
	if (err) {
		rpc_reply(r->conn, r->call_id, err, NULL, NULL, NULL);
	} else {
		Cairn__ReadResp resp = CAIRN__READ_RESP__INIT;
		Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
		resp.length = evbuffer_get_length(data);
		body.body_case = CAIRN__ENVELOPE__BODY_DATA;
		body.data = &resp;
		body.n_payload_crc = ncrcs; /* the stored CRCs, when they fit the frame's blocks */
		body.payload_crc = (uint32_t *)crcs;
		chunk_stats_read(r->cs, resp.length);
		rpc_reply(r->conn, r->call_id, 0, NULL, &body, data); /* moves the bytes */
	}
	req_end(r, CAIRN__ENVELOPE__BODY_READ);
	free(r);
}

/*
 * Whether chunk_id has a sound replica here at version; if not, answers
 * call_id with why and returns 0.
 */
static int replica_ready(struct chunk_server *cs, struct rpc_conn *c, uint64_t call_id,
			 uint64_t chunk_id, uint64_t version)
{
	uint64_t have = 0;
	int corrupt = 0;
	int rc = replica_version(cs, chunk_id, &have, &corrupt);
	if (rc < 0)
		rpc_reply(c, call_id, rc, rc == -ENOENT ? "no replica of this chunk here" : NULL,
			  NULL, NULL);
	else if (corrupt)
		rpc_reply(c, call_id, -CAIRN_ECHECKSUM, "the replica is corrupt", NULL, NULL);
	else if (have != version)
		reply_err(c, call_id, -CAIRN_ESTALE, "the replica has version %llu, not %llu",
			  (unsigned long long)have, (unsigned long long)version);
	return rc >= 0 && !corrupt && have == version;
}

/* A read or CrcsReq about to go to the store: its completion's state. */
static struct chunk_req *read_new(struct chunk_server *cs, struct rpc_conn *c, uint64_t call_id,
				  uint64_t chunk_id)
{
	struct chunk_req *r = xcalloc(1, sizeof(*r));
	req_init(r, cs, c, call_id, chunk_id);
	return r;
}

static void h_read(struct chunk_server *cs, struct rpc_conn *c, Cairn__Envelope *req,
		   struct evbuffer *payload)
{
	Cairn__ReadReq *m = req->read;
	if (m->length > FRAME_MAX_PAYLOAD) {
		reply_err(c, req->call_id, -EINVAL, "a read of %llu bytes is over the limit of %u",
			  (unsigned long long)m->length, FRAME_MAX_PAYLOAD);
		return;
	}
	if (replica_ready(cs, c, req->call_id, m->chunk_id, m->version))
		store_read_crc(cs->store, m->chunk_id, m->offset, m->length, on_read,
			       read_new(cs, c, req->call_id, m->chunk_id));
}

static void on_crcs(int err, struct evbuffer *data, const uint32_t *crcs, size_t ncrcs, void *arg)
{
	struct chunk_req *r = arg;
	(void)data;
	if (err == -CAIRN_ECHECKSUM)
		req_corrupt(r, "a checksum request");
	Cairn__CrcsResp resp = CAIRN__CRCS_RESP__INIT;
	Cairn__Envelope body = CAIRN__ENVELOPE__INIT;
	resp.crc = (uint32_t *)crcs;
	resp.n_crc = ncrcs;
	body.body_case = CAIRN__ENVELOPE__BODY_CRC_LIST;
	body.crc_list = &resp;
	rpc_reply(r->conn, r->call_id, err, NULL, err ? NULL : &body, NULL);
	req_end(r, CAIRN__ENVELOPE__BODY_CRCS);
	free(r);
}

static void h_crcs(struct chunk_server *cs, struct rpc_conn *c, Cairn__Envelope *req,
		   struct evbuffer *payload)
{
	Cairn__CrcsReq *m = req->crcs;
	if (replica_ready(cs, c, req->call_id, m->chunk_id, m->version))
		store_crcs(cs->store, m->chunk_id, m->offset, m->length, on_crcs,
			   read_new(cs, c, req->call_id, m->chunk_id));
}

static void h_ping(struct chunk_server *cs, struct rpc_conn *c, Cairn__Envelope *req,
		   struct evbuffer *payload)
{
	rpc_reply(c, req->call_id, 0, NULL, NULL, NULL);
}

const struct chunk_handler chunk_handlers[CHUNK_NHANDLERS] = {
    [CAIRN__ENVELOPE__BODY_PING] = {h_ping, "ping", 0},
    [CAIRN__ENVELOPE__BODY_WRITE] = {h_write, "write", CHUNK_PAYLOAD},
    [CAIRN__ENVELOPE__BODY_SYNC] = {h_sync, "sync", 0},
    [CAIRN__ENVELOPE__BODY_READ] = {h_read, "read", 0},
    [CAIRN__ENVELOPE__BODY_CRCS] = {h_crcs, "crcs", 0},
};
