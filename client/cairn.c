/*
 * cairn: libcairn's client handle: connect, disconnect, the loop thread
 * and the background thread.
 *
 * Each handle owns the metaserver call layer (call.c: a pool of blocking
 * connections used on the callers' threads), an event_base (made
 * thread-safe with evthread_use_pthreads(), so other threads may make its
 * wake event active) with one thread running it for the data path, and a
 * background thread that makes the metaserver calls nobody waits for
 * (lease renewals, bad-replica reports), which the loop thread may not
 * make itself (it must not block). Both threads run with every signal
 * blocked, so the host's signal handlers run on the host's threads and a
 * write to a closed socket cannot kill the host with SIGPIPE.
 *
 * Data-path jobs (struct cjob) are queued and run on the loop thread by
 * the wake event; the chunkserver connection pool lives there too and is
 * closed when the handle stops, failing what is in flight on it.
 *
 * The metaserver address is a comma-separated list ("HOST:PORT[,...]");
 * call.c moves along it (and to a leader a member names).
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

/* The wake event: queued jobs are waiting, or the handle is stopping. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct cairn *c = arg;
	pthread_mutex_lock(&c->lock);
	int stopping = c->stopping;
	pthread_mutex_unlock(&c->lock);
	run_jobs(c, stopping);
	if (stopping) {
		chunkconn_pool_free(c->pool); /* fails the data calls in flight */
		c->pool = NULL;
		event_base_loopbreak(c->base);
	}
}

int client_post_bg(struct cairn *c, struct cjob *job)
{
	pthread_mutex_lock(&c->lock);
	int stopping = c->stopping;
	if (!stopping) {
		TAILQ_INSERT_TAIL(&c->bg_jobs, job, link);
		pthread_cond_signal(&c->bg_cond);
	}
	pthread_mutex_unlock(&c->lock);
	return stopping ? -CAIRN_EUNAVAIL : 0;
}

/* The background thread: runs its jobs in order until the handle stops. */
static void *bg_main(void *arg)
{
	struct cairn *c = arg;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct cjob *job = TAILQ_FIRST(&c->bg_jobs);
		if (!job && c->stopping)
			break;
		if (!job) {
			pthread_cond_wait(&c->bg_cond, &c->lock);
			continue;
		}
		TAILQ_REMOVE(&c->bg_jobs, job, link);
		int stopping = c->stopping;
		pthread_mutex_unlock(&c->lock);
		job->run(job, stopping);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void *loop_main(void *arg)
{
	struct cairn *c = arg;
	event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* Starts fn(c) on a new thread with every signal blocked in it. */
static int start_thread(struct cairn *c, pthread_t *t, void *(*fn)(void *))
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(t, NULL, fn, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -rc;
}

/*
 * Splits list ("HOST:PORT[,HOST:PORT...]", blanks around members ignored)
 * into c->addrs. Returns 0, -EINVAL (a member is not HOST:PORT, or too
 * many) or -ENOMEM.
 */
static int addrs_parse(struct cairn *c, const char *list)
{
	c->addrs = calloc(CLIENT_META_ADDRS, sizeof(*c->addrs));
	if (!c->addrs)
		return -ENOMEM;
	for (const char *s = list;;) {
		s += strspn(s, " \t");
		size_t len = strcspn(s, ",");
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (c->naddrs == CLIENT_META_ADDRS)
			return -EINVAL;
		char *a = strndup(s, len);
		if (!a)
			return -ENOMEM;
		c->addrs[c->naddrs++] = a;
		char *host = NULL;
		uint16_t port;
		if (addr_parse(a, &host, &port) != 0)
			return -EINVAL;
		free(host);
		s += strcspn(s, ",");
		if (!*s++)
			return 0;
	}
}

/* Frees what cairn_connect() made, the threads excepted. */
static void handle_free(struct cairn *c)
{
	call_close_all(c);
	chunkconn_pool_free(c->pool);
	if (c->wake)
		event_free(c->wake);
	if (c->base)
		event_base_free(c->base);
	pthread_cond_destroy(&c->conn_cond);
	pthread_cond_destroy(&c->bg_cond);
	pthread_mutex_destroy(&c->lock);
	for (size_t i = 0; i < c->naddrs; i++)
		free(c->addrs[i]);
	free(c->addrs);
	free(c->cur);
	free(c->addr);
	free(c);
}

/* Stops the threads that run (the loop's, then the background one) and frees c. */
static void handle_stop(struct cairn *c, int loop_started)
{
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_broadcast(&c->bg_cond);
	pthread_cond_broadcast(&c->conn_cond);
	pthread_mutex_unlock(&c->lock);
	if (loop_started) {
		event_active(c->wake, 0, 0);
		pthread_join(c->thread, NULL);
	}
	if (c->bg_started)
		pthread_join(c->bg_thread, NULL);
	handle_free(c);
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

	struct cairn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->conn_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&c->bg_cond, NULL);
	TAILQ_INIT(&c->jobs);
	TAILQ_INIT(&c->bg_jobs);
	int err = addrs_parse(c, meta_addr);
	if (err) {
		handle_free(c);
		return err;
	}
	c->timeout_ms = opt && opt->timeout_ms ? opt->timeout_ms : CLIENT_DEFAULT_TIMEOUT;
	if (c->timeout_ms > CLIENT_TIMEOUT_MAX)
		c->timeout_ms = CLIENT_TIMEOUT_MAX;
	c->replication = opt ? opt->replication : 0;
	c->addr = strdup(meta_addr);
	c->cur = strdup(c->addrs[0]);
	c->base = event_base_new();
	if (c->base)
		c->wake = event_new(c->base, -1, 0, on_wake, c);
	if (c->wake)
		c->pool = chunkconn_pool_new(c->base, c->timeout_ms);
	if (!c->addr || !c->cur || !c->pool) {
		handle_free(c);
		return -ENOMEM;
	}
	if ((err = start_thread(c, &c->bg_thread, bg_main)) != 0) {
		handle_free(c);
		return err;
	}
	c->bg_started = 1;
	if ((err = start_thread(c, &c->thread, loop_main)) != 0) {
		handle_stop(c, 0);
		return err;
	}
	*out = c;
	return 0;
}

void cairn_disconnect(cairn_t *c)
{
	if (c)
		handle_stop(c, 1);
}

const char *cairn_meta_addr(cairn_t *c)
{
	return c->addr;
}

void cairn_set_wait_notice(cairn_t *c, cairn_wait_fn fn, void *arg)
{
	c->wait_fn = fn;
	c->wait_arg = arg;
}

uint64_t cairn_timeout_ms(cairn_t *c)
{
	return c->timeout_ms;
}

int cairn_ping(cairn_t *c)
{
	Cairn__Empty m = CAIRN__EMPTY__INIT;
	Cairn__Envelope req;
	CALL_REQ(&req, PING, ping, &m);
	return call_run(c, &req, CAIRN__ENVELOPE__BODY__NOT_SET, NULL);
}
