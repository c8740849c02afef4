/*
 * call: one metaserver call of libcairn, made on the API function's thread
 * or through the handle's loop thread, with retries.
 *
 * An attempt first tries the handle's rpc_sync connections: when one is
 * free (not held by another thread's call), the call is made right there,
 * blocking, which costs a send and a read instead of two thread hand-offs
 * and the loop's own system calls. A lost sync connection counts as a lost
 * metaserver connection (c->reachable, client_meta_epoch()). Otherwise:
 * the caller queues the call and makes the handle's wake event active; the
 * loop thread hands it to the rpc_client with the time left as its rpc
 * deadline, copies the reply into the call and signals the caller. A
 * caller never waits past that deadline plus a grace period: if the reply
 * callback still has not run by then (a bug below us), the caller gives up
 * with -ETIMEDOUT and leaves the call to be freed by the loop thread.
 *
 * Retries: -CAIRN_EUNAVAIL (the connection was lost or the server is
 * shutting down) and -EAGAIN are retried with back-off (50 ms doubling to
 * 1 s) until the handle's timeout, reads and mutations alike (see cairn.h
 * on what a retried mutation may report). While there is no connection
 * the rpc_client holds a call until its deadline, so an attempt that ends
 * in -ETIMEDOUT with no reply seen since the connection was last lost
 * means the metaserver was never reached: that is reported as
 * -CAIRN_EUNAVAIL, and -ETIMEDOUT only once the metaserver has answered.
 * (A lost connection is seen even with no call in flight: cairn.c's
 * on_meta_close() clears c->reachable.)
 *
 * The calling thread's last server error text is kept in a thread-local,
 * like errno; it is the one piece of mutable file-scope state here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "loc.h"
#include "rpc.h"
#include "rpc_sync.h"
#include "util.h"

#define CALL_GRACE_MS 2000

static __thread struct {
	const struct cairn *c;
	char text[CLIENT_WHY_MAX];
} last_error;

void call_set_last_error(struct cairn *c, const char *text)
{
	last_error.c = c;
	snprintf(last_error.text, sizeof(last_error.text), "%s", text ? text : "");
}

const char *cairn_last_error(cairn_t *c)
{
	return c && last_error.c == c ? last_error.text : "";
}

struct call *call_new(struct cairn *c, Cairn__Envelope__BodyCase kind)
{
	struct call *call = calloc(1, sizeof(*call));
	if (!call)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&call->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		free(call);
		return NULL;
	}
	call->c = c;
	call->refs = 1;
	cairn__envelope__init(&call->req);
	call->req.body_case = kind;
	switch (kind) {
	case CAIRN__ENVELOPE__BODY_STAT:
		cairn__stat_req__init(&call->body.stat);
		call->req.stat = &call->body.stat;
		break;
	case CAIRN__ENVELOPE__BODY_MKDIR:
		cairn__mkdir_req__init(&call->body.mkdir);
		call->req.mkdir = &call->body.mkdir;
		break;
	case CAIRN__ENVELOPE__BODY_CREATE:
		cairn__create_req__init(&call->body.create);
		call->req.create = &call->body.create;
		break;
	case CAIRN__ENVELOPE__BODY_READDIR:
		cairn__readdir_req__init(&call->body.readdir);
		call->req.readdir = &call->body.readdir;
		break;
	case CAIRN__ENVELOPE__BODY_RENAME:
		cairn__rename_req__init(&call->body.rename);
		call->req.rename = &call->body.rename;
		break;
	case CAIRN__ENVELOPE__BODY_REMOVE:
		cairn__remove_req__init(&call->body.remove);
		call->req.remove = &call->body.remove;
		break;
	case CAIRN__ENVELOPE__BODY_SETATTR:
		cairn__setattr_req__init(&call->body.setattr);
		call->req.setattr = &call->body.setattr;
		break;
	case CAIRN__ENVELOPE__BODY_OPEN:
		cairn__open_req__init(&call->body.open);
		call->req.open = &call->body.open;
		break;
	case CAIRN__ENVELOPE__BODY_CHUNKS:
		cairn__chunks_req__init(&call->body.chunks);
		call->req.chunks = &call->body.chunks;
		break;
	case CAIRN__ENVELOPE__BODY_ALLOCATE:
		cairn__allocate_req__init(&call->body.allocate);
		call->req.allocate = &call->body.allocate;
		break;
	case CAIRN__ENVELOPE__BODY_LEASE:
		cairn__lease_req__init(&call->body.lease);
		call->req.lease = &call->body.lease;
		break;
	case CAIRN__ENVELOPE__BODY_REPORT_BAD:
		cairn__report_bad_req__init(&call->body.report_bad);
		call->req.report_bad = &call->body.report_bad;
		break;
	case CAIRN__ENVELOPE__BODY_ADMIN_NODES:
		cairn__empty__init(&call->body.admin_nodes);
		call->req.admin_nodes = &call->body.admin_nodes;
		break;
	case CAIRN__ENVELOPE__BODY_RELEASE_HELD:
		cairn__empty__init(&call->body.admin_nodes);
		call->req.release_held = &call->body.admin_nodes;
		break;
	case CAIRN__ENVELOPE__BODY_FSCK:
		cairn__fsck_req__init(&call->body.fsck);
		call->req.fsck = &call->body.fsck;
		break;
	case CAIRN__ENVELOPE__BODY_REBALANCE:
		cairn__rebalance_req__init(&call->body.rebalance);
		call->req.rebalance = &call->body.rebalance;
		break;
	case CAIRN__ENVELOPE__BODY_DECOMMISSION:
		cairn__decommission_req__init(&call->body.decommission);
		call->req.decommission = &call->body.decommission;
		break;
	default:
		cairn__empty__init(&call->body.ping);
		call->req.body_case = CAIRN__ENVELOPE__BODY_PING;
		call->req.ping = &call->body.ping;
		break;
	}
	return call;
}

/* Drops the chunk locations a reply left in the call. */
static void call_locs_clear(struct call *call)
{
	loc_unref(call->loc);
	call->loc = NULL;
	for (size_t i = 0; i < call->nlocs; i++)
		loc_unref(call->locs[i]);
	free(call->locs);
	call->locs = NULL;
	call->nlocs = 0;
	call->has_locs = 0;
}

static void call_destroy(struct call *call)
{
	pthread_cond_destroy(&call->cond);
	call_page_clear(&call->page);
	call_locs_clear(call);
	free(call->raw);
	free(call->owned[0]);
	free(call->owned[1]);
	free(call);
}

void call_free(struct call *call)
{
	if (!call)
		return;
	struct cairn *c = call->c;
	pthread_mutex_lock(&c->lock);
	int last = --call->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		call_destroy(call);
}

void call_page_clear(struct call_page *p)
{
	free(p->ents);
	free(p->names);
	memset(p, 0, sizeof(*p));
}

void call_attr_to_stat(const Cairn__Attr *a, struct cairn_stat *st)
{
	memset(st, 0, sizeof(*st));
	if (!a)
		return;
	st->id = a->id;
	st->type = a->type == CAIRN__FILE_TYPE__FILE_TYPE_DIR ? CAIRN_DIR : CAIRN_FILE;
	st->mode = a->mode;
	st->uid = a->uid;
	st->gid = a->gid;
	st->size = a->size;
	st->replication = a->replication;
	st->nchunks = a->nchunks;
	st->nentries = a->nentries;
	st->atime_us = a->atime_us;
	st->mtime_us = a->mtime_us;
	st->ctime_us = a->ctime_us;
}

/* Copies a page of entries out of the reply (loop thread). */
static int take_page(struct call_page *p, const Cairn__ReaddirResp *r)
{
	size_t bytes = 0;
	for (size_t i = 0; i < r->n_entries; i++) {
		const char *name = r->entries[i]->name;
		if (!name || !*name || strchr(name, '/'))
			return -CAIRN_EPROTO;
		bytes += strlen(name) + 1;
	}
	p->ents = calloc(r->n_entries ? r->n_entries : 1, sizeof(*p->ents));
	p->names = malloc(bytes ? bytes : 1);
	if (!p->ents || !p->names) {
		call_page_clear(p);
		return -ENOMEM;
	}
	char *at = p->names;
	for (size_t i = 0; i < r->n_entries; i++) {
		size_t len = strlen(r->entries[i]->name) + 1;
		memcpy(at, r->entries[i]->name, len);
		p->ents[i].name = at;
		call_attr_to_stat(r->entries[i]->attr, &p->ents[i].st);
		at += len;
	}
	p->n = r->n_entries;
	p->more = r->more;
	return 0;
}

/* Copies a chunk list (a ChunksResp's, an OpenResp's) (loop thread). */
static int take_locs(struct call *call, Cairn__ChunkInfo *const *chunks, size_t n)
{
	call->locs = calloc(n ? n : 1, sizeof(*call->locs));
	if (!call->locs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int err;
		if (!(call->locs[i] = loc_from_pb(chunks[i], &err)))
			return err;
		call->nlocs++;
	}
	call->has_locs = 1;
	return 0;
}

/* Copies an OpenResp (loop thread). */
static int take_opened(struct call *call, const Cairn__OpenResp *r)
{
	int err = 0;
	if (!r->attr)
		return -CAIRN_EPROTO;
	call_attr_to_stat(r->attr, &call->attr);
	call->has_attr = 1;
	call->lease_id = r->lease_id;
	call->chunk_size = r->chunk_size;
	call->lease_ms = r->lease_ms;
	call->has_open = 1;
	call_locs_clear(call);
	if (r->chunk && !(call->loc = loc_from_pb(r->chunk, &err)))
		return err;
	if (r->n_chunks && (err = take_locs(call, r->chunks, r->n_chunks)) != 0)
		call_locs_clear(call);
	return err;
}

/* Copies what the caller needs out of a successful reply (loop thread). */
static int take_reply(struct call *call, const Cairn__Envelope *reply)
{
	int err;
	switch (reply->body_case) {
	case CAIRN__ENVELOPE__BODY_OPENED:
		return take_opened(call, reply->opened);
	case CAIRN__ENVELOPE__BODY_CHUNK:
		call_locs_clear(call);
		call->loc = loc_from_pb(reply->chunk->chunk, &err);
		return call->loc ? 0 : err;
	case CAIRN__ENVELOPE__BODY_CHUNK_LIST:
		call_locs_clear(call);
		err = take_locs(call, reply->chunk_list->chunks, reply->chunk_list->n_chunks);
		call->size = reply->chunk_list->size;
		if (err)
			call_locs_clear(call);
		return err;
	case CAIRN__ENVELOPE__BODY_ATTR:
		if (!reply->attr->attr)
			return -CAIRN_EPROTO;
		call_attr_to_stat(reply->attr->attr, &call->attr);
		call->has_attr = 1;
		return 0;
	case CAIRN__ENVELOPE__BODY_ENTRIES:
		call_page_clear(&call->page);
		err = take_page(&call->page, reply->entries);
		call->has_page = err == 0;
		return err;
	case CAIRN__ENVELOPE__BODY_NODE_LIST:
	case CAIRN__ENVELOPE__BODY_FSCK_REPORT:
	case CAIRN__ENVELOPE__BODY_REBALANCE_REPORT:
	case CAIRN__ENVELOPE__BODY_RELEASED:
		free(call->raw); /* admin.c unpacks it */
		call->raw_len = cairn__envelope__get_packed_size(reply);
		call->raw = malloc(call->raw_len ? call->raw_len : 1);
		if (!call->raw)
			return -ENOMEM;
		cairn__envelope__pack(reply, call->raw);
		return 0;
	default:
		return 0;
	}
}

/* The rpc's answer to one attempt (loop thread). */
static void call_done(int err, Cairn__Envelope *reply, struct evbuffer *payload, void *arg)
{
	struct call *call = arg;
	struct cairn *c = call->c;
	call->why[0] = 0;
	if (err == 0 && reply)
		err = take_reply(call, reply);
	else if (err && reply && reply->error)
		snprintf(call->why, sizeof(call->why), "%s", reply->error);
	pthread_mutex_lock(&c->lock);
	if (reply)
		c->reachable = 1;
	else if (err == -CAIRN_EUNAVAIL)
		c->reachable = 0;
	call->err = err;
	call->done = 1;
	int last = --call->refs == 0;
	if (!last)
		pthread_cond_signal(&call->cond);
	pthread_mutex_unlock(&c->lock);
	if (last)
		call_destroy(call);
}

/* Completes a call that never reached rpc (loop thread). */
static void call_fail(struct call *call, int err)
{
	call_done(err, NULL, NULL, call);
}

void call_dispatch(struct cairn *c)
{
	TAILQ_HEAD(, call) todo = TAILQ_HEAD_INITIALIZER(todo);
	pthread_mutex_lock(&c->lock);
	TAILQ_CONCAT(&todo, &c->queue, link);
	int stopping = c->stopping;
	pthread_mutex_unlock(&c->lock);
	struct call *call;
	while ((call = TAILQ_FIRST(&todo))) {
		TAILQ_REMOVE(&todo, call, link);
		if (stopping || !c->rpc) {
			call_fail(call, -CAIRN_EUNAVAIL);
			continue;
		}
		int err =
		    rpc_client_call(c->rpc, &call->req, NULL, call->attempt_ms, call_done, call);
		if (err)
			call_fail(call, err);
	}
}

/* Adds ms to the monotonic clock's now. */
static struct timespec mono_after(uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/*
 * One attempt on the caller's thread, over the first free rpc_sync
 * connection, with a deadline of ms. Returns 1 with its error in *err, or
 * 0 when every connection was busy (another thread's call).
 */
static int call_attempt_sync(struct call *call, uint64_t ms, int *err)
{
	struct cairn *c = call->c;
	int i = 0;
	while (i < CLIENT_SYNC_CONNS && pthread_mutex_trylock(&c->sync_lock[i]) != 0)
		i++;
	if (i == CLIENT_SYNC_CONNS)
		return 0;
	Cairn__Envelope *reply;
	struct evbuffer *payload;
	int e = rpc_sync_call(c->sync[i], &call->req, NULL, ms, &reply, &payload);
	pthread_mutex_unlock(&c->sync_lock[i]);
	call->why[0] = 0;
	if (e == 0 && reply)
		e = take_reply(call, reply);
	else if (e && reply && reply->error)
		snprintf(call->why, sizeof(call->why), "%s", reply->error);
	pthread_mutex_lock(&c->lock);
	if (reply) {
		c->reachable = 1;
	} else if (e == -CAIRN_EUNAVAIL) {
		/* As for a lost loop connection: the metaserver may have restarted. */
		c->reachable = 0;
		c->meta_epoch++;
	}
	pthread_mutex_unlock(&c->lock);
	cairn__envelope__free_unpacked(reply, NULL);
	if (payload)
		evbuffer_free(payload);
	*err = e;
	return 1;
}

/*
 * One attempt with an rpc deadline of ms. Returns its error. Sets *stop
 * when no retry may follow: the handle is stopping, or the loop never
 * answered (then the error is -ETIMEDOUT and the loop owns the call too).
 */
static int call_attempt(struct call *call, uint64_t ms, int *stop)
{
	struct cairn *c = call->c;
	struct timespec until = mono_after(ms + CALL_GRACE_MS);
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		*stop = 1;
		return -CAIRN_EUNAVAIL;
	}
	pthread_mutex_unlock(&c->lock);
	int err;
	if (call_attempt_sync(call, ms, &err))
		return err;
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		*stop = 1;
		return -CAIRN_EUNAVAIL;
	}
	call->attempt_ms = ms;
	call->done = 0;
	call->err = 0;
	call->refs++;
	TAILQ_INSERT_TAIL(&c->queue, call, link);
	pthread_mutex_unlock(&c->lock);
	event_active(c->wake, 0, 0);

	pthread_mutex_lock(&c->lock);
	while (!call->done)
		if (pthread_cond_timedwait(&call->cond, &c->lock, &until) == ETIMEDOUT)
			break;
	err = call->done ? call->err : -ETIMEDOUT;
	*stop = !call->done;
	pthread_mutex_unlock(&c->lock);
	return err;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int call_run(struct call *call)
{
	return call_run_for(call, call->c->timeout_ms);
}

int call_run_for(struct call *call, uint64_t timeout_ms)
{
	struct cairn *c = call->c;
	uint64_t deadline = time_mono_ms() + timeout_ms;
	uint64_t backoff = CLIENT_BACKOFF_MIN;
	int err = -ETIMEDOUT, stop = 0;
	for (;;) {
		uint64_t now = time_mono_ms();
		if (now >= deadline)
			break;
		err = call_attempt(call, deadline - now, &stop);
		if (stop || (err != -CAIRN_EUNAVAIL && err != -EAGAIN))
			break;
		now = time_mono_ms();
		if (now >= deadline)
			break;
		sleep_ms(backoff < deadline - now ? backoff : deadline - now);
		backoff = backoff * 2 < CLIENT_BACKOFF_MAX ? backoff * 2 : CLIENT_BACKOFF_MAX;
	}
	if (err == -ETIMEDOUT) {
		pthread_mutex_lock(&c->lock);
		int reachable = c->reachable;
		pthread_mutex_unlock(&c->lock);
		if (!reachable)
			err = -CAIRN_EUNAVAIL;
	}
	/* After a stop the loop may still own the call: its why is not ours to read. */
	call_set_last_error(c, err && !stop ? call->why : NULL);
	return err;
}
