/*
 * call: libcairn's metaserver calls: one transport, retries, the address
 * list, "not the leader" redirects and the words of giving up.
 *
 * Transport. A call is made on the calling thread, blocking, over one of
 * the handle's pooled rpc_sync connections (CLIENT_META_CONNS): a send
 * and a read, no hand-off to another thread and back (which costs about
 * three times the system calls and context switches). A thread takes the
 * first idle connection, waiting for one while all are busy; a connection
 * is made on its first call and remade after a loss. The reply is handed
 * to the caller as the unpacked Envelope rpc_sync made: nothing is copied
 * or packed again.
 *
 * Adding a call: fill the request message on the stack, wrap it with
 * CALL_REQ(&env, KIND, field, &msg), call_run(c, &env, WANTED_BODY,
 * &reply), read what you need from reply, free it. Nothing here changes.
 *
 * Addresses. The handle has a list of metaservers (cairn_connect()'s
 * "HOST:PORT,HOST:PORT"); c->cur is the one asked. A connection that
 * cannot be made or is lost moves c->cur to the next member of the list;
 * a "not the leader" answer (STATUS_NOT_LEADER) moves it to the leader it
 * names (the next member when it names none). Either way the call is sent
 * to the new one at once (up to CLIENT_REDIRECTS hops, then with back-off
 * as for a lost connection). Connections made for
 * another address (an older c->addr_gen) are remade before use.
 *
 * Retries: -CAIRN_EUNAVAIL (no connection, a lost one, or a server
 * shutting down), -CAIRN_ENOTLEADER and -EAGAIN are retried with back-off
 * (50 ms doubling to 1 s) until the deadline, reads and mutations alike
 * (see cairn.h on what a retried mutation may report). A call that ends in
 * -ETIMEDOUT with no reply seen since a connection was last lost never
 * reached a metaserver: that is reported as -CAIRN_EUNAVAIL, -ETIMEDOUT
 * only once a metaserver has answered. Giving up on an unreachable or
 * silent metaserver records "metaserver ADDR unavailable (gave up after
 * Ns)" (or "did not answer") as the last error: the one place these words
 * are made, for the CLI, Python and fsspec alike. While a caller's call
 * waits for an unreachable metaserver or a leader, the handle's wait
 * notice (cairn_set_wait_notice()) is told before each pause and once at
 * the end, so that a front end can say so instead of sitting silent.
 *
 * Lost connections are counted (c->meta_epoch, client_meta_epoch()): what
 * the metaserver was told before may have been forgotten. A connection
 * records the epoch when it connected, so one loss is counted once.
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
#include "rpc_sync.h"
#include "util.h"

static __thread struct {
	const struct cairn *c;
	int gave_up; /* the text is call.c's "metaserver ADDR unavailable ..." */
	char text[CLIENT_WHY_MAX];
} last_error;

void call_set_last_error(struct cairn *c, const char *text)
{
	last_error.c = c;
	last_error.gave_up = 0;
	snprintf(last_error.text, sizeof(last_error.text), "%s", text ? text : "");
}

void call_mark_gave_up(struct cairn *c)
{
	if (last_error.c == c)
		last_error.gave_up = 1;
}

const char *cairn_last_error(cairn_t *c)
{
	return c && last_error.c == c ? last_error.text : "";
}

int cairn_meta_gave_up(cairn_t *c)
{
	return c && last_error.c == c && last_error.gave_up;
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
	st->type = a->type == CAIRN__FILE_TYPE__FILE_TYPE_DIR	  ? CAIRN_DIR
		   : a->type == CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK ? CAIRN_SYMLINK
								    : CAIRN_FILE;
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
	st->chunk_size = a->chunk_size;
}

/* ---- the pool ---- */

/* Adds ms to the monotonic clock's now. */
static struct timespec mono_after(uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/*
 * Takes an idle connection for c->cur, waiting until deadline (monotonic
 * ms) while all are busy. Returns it marked busy, or NULL with *err
 * (-ETIMEDOUT, -CAIRN_EUNAVAIL when stopping, -ENOMEM).
 */
static struct meta_conn *conn_take(struct cairn *c, uint64_t deadline, int *err)
{
	pthread_mutex_lock(&c->lock);
	struct meta_conn *mc = NULL;
	for (;;) {
		if (c->stopping) {
			*err = -CAIRN_EUNAVAIL;
			break;
		}
		for (int i = 0; i < CLIENT_META_CONNS && !mc; i++)
			if (!c->conns[i].busy)
				mc = &c->conns[i];
		if (mc)
			break;
		uint64_t now = time_mono_ms();
		if (now >= deadline) {
			*err = -ETIMEDOUT;
			break;
		}
		struct timespec until = mono_after(deadline - now);
		pthread_cond_timedwait(&c->conn_cond, &c->lock, &until);
	}
	if (mc && mc->s && mc->gen != c->addr_gen) {
		rpc_sync_free(mc->s);
		mc->s = NULL;
	}
	if (mc && !mc->s) {
		mc->s = rpc_sync_new(c->cur);
		mc->gen = c->addr_gen;
		mc->epoch = c->meta_epoch;
		if (!mc->s) {
			*err = -ENOMEM;
			mc = NULL;
		}
	}
	if (mc) {
		/* A connection from before a loss is likely lost too: remake it, uncounted. */
		if (mc->epoch != c->meta_epoch)
			rpc_sync_close(mc->s);
		mc->epoch = c->meta_epoch;
		mc->busy = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return mc;
}

/* Moves c->cur to the next member of the list (c->lock held). */
static void addr_next(struct cairn *c)
{
	if (c->naddrs < 2)
		return;
	c->cur_index = (c->cur_index + 1) % c->naddrs;
	char *next = strdup(c->addrs[c->cur_index]);
	if (!next)
		return; /* stays on the old one: still a working, if slower, choice */
	free(c->cur);
	c->cur = next;
	c->addr_gen++;
}

/* Moves c->cur to leader, named by a "not the leader" answer (c->lock held). Returns 0 or -ENOMEM.
 */
static int addr_leader(struct cairn *c, const char *leader)
{
	char *host;
	uint16_t port;
	if (addr_parse(leader, &host, &port) != 0)
		return -CAIRN_EPROTO;
	free(host);
	if (strcmp(leader, c->cur) == 0)
		return 0;
	char *copy = strdup(leader);
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < c->naddrs; i++)
		if (strcmp(c->addrs[i], leader) == 0)
			c->cur_index = i;
	free(c->cur);
	c->cur = copy;
	c->addr_gen++;
	return 0;
}

/*
 * Gives mc back after an attempt that ended in err, with reply (NULL when
 * none came): notes what it says of the metaserver. Returns 1 when the
 * call should go again at once: another metaserver is to be asked (the
 * next of the list, or a leader named).
 */
static int conn_give(struct cairn *c, struct meta_conn *mc, int err, const Cairn__Envelope *reply)
{
	int redirect = 0;
	pthread_mutex_lock(&c->lock);
	CAIRN_ASSERT(mc->busy);
	mc->busy = 0;
	uint64_t gen = c->addr_gen;
	if (reply) {
		c->reachable = 1;
	} else if (err == -CAIRN_EUNAVAIL) {
		c->reachable = 0;
		if (mc->epoch == c->meta_epoch)
			c->meta_epoch++;
		if (mc->gen == c->addr_gen)
			addr_next(c);
	}
	if (err == -CAIRN_ENOTLEADER && mc->gen == c->addr_gen) {
		if (!reply || !reply->leader || !*reply->leader ||
		    addr_leader(c, reply->leader) != 0)
			addr_next(c); /* no leader named, or not one we can use */
	}
	if (mc->gen != c->addr_gen) {
		/* Another metaserver is asked now (moved here or by another call): go at once. */
		redirect = 1;
		if (gen != c->addr_gen)
			c->meta_epoch++; /* what the last one was told may not be known there */
	}
	pthread_cond_signal(&c->conn_cond);
	pthread_mutex_unlock(&c->lock);
	return redirect;
}

void call_close_all(struct cairn *c)
{
	for (int i = 0; i < CLIENT_META_CONNS; i++) {
		CAIRN_ASSERT(!c->conns[i].busy);
		rpc_sync_free(c->conns[i].s);
		c->conns[i].s = NULL;
	}
}

uint64_t client_meta_epoch(struct cairn *c)
{
	pthread_mutex_lock(&c->lock);
	int lost = 0;
	for (int i = 0; i < CLIENT_META_CONNS; i++) {
		struct meta_conn *mc = &c->conns[i];
		if (!mc->busy && mc->s && rpc_sync_lost(mc->s) && mc->epoch == c->meta_epoch)
			lost = 1;
	}
	if (lost) {
		c->meta_epoch++;
		c->reachable = 0;
	}
	uint64_t e = c->meta_epoch;
	pthread_mutex_unlock(&c->lock);
	return e;
}

/* ---- calls ---- */

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* "2s", "1500ms", "2m". */
static void fmt_duration(char *buf, size_t size, uint64_t ms)
{
	if (ms && ms % 60000 == 0)
		snprintf(buf, size, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, size, "%llums", (unsigned long long)ms);
}

/* Records the words of giving up on the metaserver after timeout_ms. */
static void set_gave_up(struct cairn *c, int err, uint64_t timeout_ms)
{
	char when[32], text[CLIENT_WHY_MAX];
	fmt_duration(when, sizeof(when), timeout_ms);
	snprintf(text, sizeof(text), "metaserver %s %s (gave up after %s)", c->addr,
		 err == -ETIMEDOUT ? "did not answer" : "unavailable", when);
	call_set_last_error(c, text);
	call_mark_gave_up(c);
}

/* One attempt within deadline: its error, *reply (or NULL), and *redirect (go again at once). */
static int attempt(struct cairn *c, Cairn__Envelope *req, uint64_t deadline,
		   Cairn__Envelope **reply, int *redirect)
{
	int err = 0;
	*reply = NULL;
	*redirect = 0;
	struct meta_conn *mc = conn_take(c, deadline, &err);
	if (!mc)
		return err;
	uint64_t now = time_mono_ms();
	struct evbuffer *payload = NULL;
	if (now >= deadline)
		err = -ETIMEDOUT;
	else
		err = rpc_sync_call(mc->s, req, NULL, deadline - now, reply, &payload);
	if (payload)
		evbuffer_free(payload);
	*redirect = conn_give(c, mc, err, *reply);
	return err;
}

/* Whether the handle is being closed: then nothing is retried (the background thread's calls). */
static int stopping(struct cairn *c)
{
	pthread_mutex_lock(&c->lock);
	int s = c->stopping;
	pthread_mutex_unlock(&c->lock);
	return s;
}

/* Whether this is the handle's background caller (whose waits are not the caller's). */
static int on_bg_thread(struct cairn *c)
{
	pthread_mutex_lock(&c->lock);
	int bg = c->bg_started && pthread_equal(pthread_self(), c->bg_thread);
	pthread_mutex_unlock(&c->lock);
	return bg;
}

static int retryable(int err)
{
	return err == -CAIRN_EUNAVAIL || err == -EAGAIN || err == -CAIRN_ENOTLEADER;
}

int call_run_for(struct cairn *c, Cairn__Envelope *req, Cairn__Envelope__BodyCase want,
		 uint64_t timeout_ms, Cairn__Envelope **out)
{
	/* The loop thread must never block on the metaserver (client_post_bg() is its way). */
	CAIRN_ASSERT(!pthread_equal(pthread_self(), c->thread));
	if (out)
		*out = NULL;
	uint64_t start = time_mono_ms(), deadline = start + timeout_ms;
	uint64_t backoff = CLIENT_BACKOFF_MIN;
	int waited = 0; /* the wait notice was told */
	unsigned hops = 0;
	int err = -ETIMEDOUT;
	char why[CLIENT_WHY_MAX] = "";
	Cairn__Envelope *reply = NULL;
	for (;;) {
		uint64_t now = time_mono_ms();
		if (now >= deadline)
			break;
		int redirect;
		cairn__envelope__free_unpacked(reply, NULL);
		err = attempt(c, req, deadline, &reply, &redirect);
		/* The words of this attempt's refusal, if one came: the last attempt's stand. */
		snprintf(why, sizeof(why), "%s", reply && err && reply->error ? reply->error : "");
		if (!retryable(err) || stopping(c))
			break;
		if (redirect && ++hops <= CLIENT_REDIRECTS)
			continue;
		now = time_mono_ms();
		if (now >= deadline)
			break;
		if (c->wait_fn && err != -EAGAIN && !on_bg_thread(c)) {
			c->wait_fn(c->wait_arg, c->addr, now - start, timeout_ms, 0);
			waited = 1;
		}
		sleep_ms(backoff < deadline - now ? backoff : deadline - now);
		backoff = backoff * 2 < CLIENT_BACKOFF_MAX ? backoff * 2 : CLIENT_BACKOFF_MAX;
	}
	if (waited)
		c->wait_fn(c->wait_arg, c->addr, time_mono_ms() - start, timeout_ms, 1);
	if (err == 0 && want != CAIRN__ENVELOPE__BODY__NOT_SET && reply->body_case != want) {
		err = -CAIRN_EPROTO;
		snprintf(why, sizeof(why), "the metaserver answered with an unexpected message");
	}
	if (err == -ETIMEDOUT || err == -CAIRN_ENOTLEADER) {
		pthread_mutex_lock(&c->lock);
		int reachable = c->reachable;
		pthread_mutex_unlock(&c->lock);
		if (!reachable || err == -CAIRN_ENOTLEADER)
			err = -CAIRN_EUNAVAIL;
	}
	if (err == 0 && out) {
		*out = reply;
		reply = NULL;
	}
	cairn__envelope__free_unpacked(reply, NULL);
	if ((err == -CAIRN_EUNAVAIL || err == -ETIMEDOUT) && !why[0])
		set_gave_up(c, err, timeout_ms);
	else
		call_set_last_error(c, err ? why : NULL);
	return err;
}

int call_run(struct cairn *c, Cairn__Envelope *req, Cairn__Envelope__BodyCase want,
	     Cairn__Envelope **reply)
{
	return call_run_for(c, req, want, c->timeout_ms, reply);
}
