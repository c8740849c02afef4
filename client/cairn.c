/*
 * cairn: libcairn's client handle: connect, disconnect, the loop thread.
 *
 * Each handle owns an event_base (made thread-safe with
 * evthread_use_pthreads(), so other threads may make its wake event
 * active), one thread running that base, and an rpc_client to the
 * metaserver living on it. API calls from any thread go through call.c,
 * which makes them on the caller's thread over one of the handle's
 * rpc_sync connections when one is free, else through the loop.
 * The rpc_client keeps its connection up (reconnecting with back-off) so
 * that losing it is seen at once, calls in flight or not: call.c then
 * knows a call that times out afterwards never reached the metaserver.
 * The loop thread runs with every signal blocked, so the host's signal
 * handlers run on the host's threads and a write to a closed socket cannot
 * kill the host with SIGPIPE.
 *
 * Data-path jobs (struct cjob) are queued like calls and run on the loop
 * thread by the same wake event; the chunkserver connection pool lives
 * there too and is closed when the handle stops, failing what is in
 * flight on it.
 *
 * The library never prints: its copy of the log sink (common/log.c,
 * linked in with hidden visibility) is silenced when the first handle is
 * made unless $CAIRN_LOG names a level.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "chunkconn.h"
#include "client_int.h"
#include "log.h"
#include "rpc.h"
#include "rpc_sync.h"
#include "util.h"

static pthread_once_t client_once = PTHREAD_ONCE_INIT;
static int client_once_err;

/* Process-wide set-up, once: libevent threading and the log level. */
static void client_init_once(void)
{
	if (evthread_use_pthreads() != 0)
		client_once_err = -ENOMEM;
	enum log_level level;
	const char *s = getenv("CAIRN_LOG");
	if (s && log_parse_level(s, &level) == 0)
		log_set_level(level);
	else
		log_set_level((enum log_level)(LOGL_ERROR + 1)); /* above every level: silent */
}

const char *cairn_strerror(int err)
{
	return err_str(err);
}

int client_post(struct cairn *c, struct cjob *job)
{
	pthread_mutex_lock(&c->lock);
	int stopping = c->stopping;
	if (!stopping)
		TAILQ_INSERT_TAIL(&c->jobs, job, link);
	pthread_mutex_unlock(&c->lock);
	if (stopping)
		return -CAIRN_EUNAVAIL;
	event_active(c->wake, 0, 0);
	return 0;
}

/* Runs the queued jobs (loop thread). */
static void run_jobs(struct cairn *c, int stopping)
{
	TAILQ_HEAD(, cjob) todo = TAILQ_HEAD_INITIALIZER(todo);
	pthread_mutex_lock(&c->lock);
	TAILQ_CONCAT(&todo, &c->jobs, link);
	pthread_mutex_unlock(&c->lock);
	struct cjob *job;
	while ((job = TAILQ_FIRST(&todo))) {
		TAILQ_REMOVE(&todo, job, link);
		job->run(job, stopping);
	}
}

/* The wake event: queued calls or jobs are waiting, or the handle is stopping. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct cairn *c = arg;
	pthread_mutex_lock(&c->lock);
	int stopping = c->stopping;
	pthread_mutex_unlock(&c->lock);
	if (stopping && c->rpc) {
		rpc_client_free(c->rpc); /* fails the calls in flight */
		c->rpc = NULL;
	}
	call_dispatch(c);
	run_jobs(c, stopping);
	if (stopping) {
		chunkconn_pool_free(c->pool); /* fails the data calls in flight */
		c->pool = NULL;
		event_base_loopbreak(c->base);
	}
}

/* The metaserver connection closed (loop thread). */
static void on_meta_close(struct rpc_conn *conn, void *arg)
{
	struct cairn *c = arg;
	pthread_mutex_lock(&c->lock);
	c->reachable = 0;
	c->meta_epoch++;
	pthread_mutex_unlock(&c->lock);
}

uint64_t client_meta_epoch(struct cairn *c)
{
	pthread_mutex_lock(&c->lock);
	uint64_t e = c->meta_epoch;
	pthread_mutex_unlock(&c->lock);
	return e;
}

static const struct rpc_conn_ops meta_ops = {NULL, on_meta_close};

static void *loop_main(void *arg)
{
	struct cairn *c = arg;
	event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* Starts the loop thread with every signal blocked in it. */
static int start_thread(struct cairn *c)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&c->thread, NULL, loop_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}

/* Frees what cairn_connect() made, the thread excepted. */
static void handle_free(struct cairn *c)
{
	if (c->rpc)
		rpc_client_free(c->rpc);
	for (int i = 0; i < CLIENT_SYNC_CONNS; i++) {
		rpc_sync_free(c->sync[i]);
		pthread_mutex_destroy(&c->sync_lock[i]);
	}
	chunkconn_pool_free(c->pool);
	if (c->wake)
		event_free(c->wake);
	if (c->base)
		event_base_free(c->base);
	pthread_mutex_destroy(&c->lock);
	free(c->addr);
	free(c);
}

int cairn_connect(const char *meta_addr, const struct cairn_options *opt, cairn_t **out)
{
	*out = NULL;
	pthread_once(&client_once, client_init_once);
	if (client_once_err)
		return client_once_err;
	if (!meta_addr)
		meta_addr = getenv("CAIRN_META");
	if (!meta_addr || !*meta_addr)
		meta_addr = CLIENT_DEFAULT_META;
	char *host = NULL;
	uint16_t port;
	if (addr_parse(meta_addr, &host, &port) != 0)
		return -EINVAL;
	free(host);

	struct cairn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < CLIENT_SYNC_CONNS; i++)
		pthread_mutex_init(&c->sync_lock[i], NULL);
	TAILQ_INIT(&c->queue);
	TAILQ_INIT(&c->jobs);
	c->timeout_ms = opt && opt->timeout_ms ? opt->timeout_ms : CLIENT_DEFAULT_TIMEOUT;
	if (c->timeout_ms > CLIENT_TIMEOUT_MAX)
		c->timeout_ms = CLIENT_TIMEOUT_MAX;
	c->replication = opt ? opt->replication : 0;
	c->addr = strdup(meta_addr);
	c->base = event_base_new();
	if (c->base)
		c->wake = event_new(c->base, -1, 0, on_wake, c);
	if (c->wake && c->addr)
		c->rpc = rpc_client_new(c->base, c->addr, &meta_ops, c);
	if (c->rpc)
		c->pool = chunkconn_pool_new(c->base, c->timeout_ms);
	for (int i = 0; i < CLIENT_SYNC_CONNS && c->addr; i++)
		c->sync[i] = rpc_sync_new(c->addr); /* connects on its first call */
	if (!c->addr || !c->pool || !c->sync[CLIENT_SYNC_CONNS - 1]) {
		handle_free(c);
		return -ENOMEM;
	}
	int err = start_thread(c);
	if (err) {
		handle_free(c);
		return err;
	}
	*out = c;
	return 0;
}

void cairn_disconnect(cairn_t *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_mutex_unlock(&c->lock);
	event_active(c->wake, 0, 0);
	pthread_join(c->thread, NULL);
	handle_free(c);
}

const char *cairn_meta_addr(cairn_t *c)
{
	return c->addr;
}

uint64_t cairn_timeout_ms(cairn_t *c)
{
	return c->timeout_ms;
}

int cairn_ping(cairn_t *c)
{
	struct call *call = call_new(c, CAIRN__ENVELOPE__BODY_PING);
	if (!call)
		return -ENOMEM;
	int err = call_run(call);
	call_free(call);
	return err;
}
