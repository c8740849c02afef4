/*
 * meta: cairn-meta's life cycle, call dispatch, durable replies and
 * checkpoint scheduling.
 *
 * Start-up: lock the data dir, load the newest valid checkpoint, check or
 * make the data dir's identity (meta_ident.c), replay the op log after it
 * (recover.c: only a torn last record is cut), open the log for
 * appending, build the chunk map from the namespace (meta_chunk.c), listen.
 * Invariant: every reply to a mutating call is sent only once
 * oplog_durable_seq() covers the last record applied before it was
 * answered; waiters are queued in seq order, so one pass from the head
 * releases them. A waiter holds its reply framed (rpc_reply_pack()), never
 * pointers into the namespace, which may change before it is sent; the
 * frame goes out as it is.
 */
#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "errors.h"
#include "log.h"
#include "meta_int.h"
#include "meta_stats.h"
#include "ns.h"
#include "oplog.h"
#include "recover.h"
#include "util.h"

#define OPT(f) offsetof(struct meta_options, f)

const struct config_opt meta_config[] = {
	{"config", CONFIG_STRING, NULL, 0, 0, 0, OPT(config), "read settings from FILE"},
	{"listen", CONFIG_ADDR, "127.0.0.1:20000", 0, 0, 0, OPT(listen), "address for clients and chunkservers"},
	{"insecure", CONFIG_FLAG, "no", 0, 0, 0, OPT(insecure), "allow --listen beyond loopback without TLS (protected mode is off)"},
	RPC_LIMIT_ROWS(struct meta_options, "4M", "64M"),
	{"data", CONFIG_STRING, NULL, 1, 0, 0, OPT(data), "directory for the op log and checkpoints"},
	{"log-file", CONFIG_STRING, NULL, 0, 0, 0, OPT(log_file), "append log lines to FILE, not stderr (SIGHUP reopens it)"},
	{"audit-log", CONFIG_STRING, NULL, 0, 0, 0, OPT(audit_log), "append a JSON line per namespace change and admin call to FILE"},
	{"http", CONFIG_ADDR, "127.0.0.1:20080", 0, 0, 0, OPT(http), "address of the status page"},
	{"chunk-size", CONFIG_SIZE, "64M", 0, 65536, 256ll << 20, OPT(chunk_size), "chunk size of new files (a power of two)"},
	{"replication", CONFIG_INT, "3", 0, 1, NS_REPLICATION_MAX, OPT(replication), "default replicas per chunk"},
	{"heartbeat", CONFIG_DURATION, "2s", 0, 10, 3600000, OPT(heartbeat_ms), "chunkservers' heartbeat interval"},
	{"dead-after", CONFIG_DURATION, "30s", 0, 100, 86400000, OPT(dead_after_ms), "a silent chunkserver is dead after this"},
	{"lease", CONFIG_DURATION, "60s", 0, 100, 86400000, OPT(lease_ms), "write lease length"},
	{"scan-interval", CONFIG_DURATION, "5s", 0, 10, 86400000, OPT(scan_interval_ms), "replication/rebalance planner interval"},
	{"rebalance-threshold", CONFIG_INT, "10", 0, 1, 100, OPT(rebalance_threshold), "rebalance spread, percentage points"},
	{"checkpoint-records", CONFIG_INT, "1000000", 0, 1, 1ll << 40, OPT(checkpoint_records), "write a checkpoint after this many log records"},
	{"log-level", CONFIG_LEVEL, "info", 0, 0, 0, OPT(log_level), "debug, info, warn or error"},
	{"recover-to", CONFIG_INT, "0", 0, 0, INT64_MAX, OPT(recover_to), "start once from the state at this op-log seq, setting the rest aside (see docs/operations.md)"},
	{"delete-grace", CONFIG_DURATION, "10m", 0, 0, 30ll * 86400000, OPT(delete_grace_ms), "hold replicas unknown to the namespace (or newer than it) this long after they are reported"},
	CONFIG_END,
};

static void waiter_free(struct meta_waiter *w)
{
	rpc_conn_unref(w->conn);
	if (w->frame)
		evbuffer_free(w->frame);
	free(w);
}

/* Sends w's held reply, or err instead when non-zero. */
static void waiter_send(struct meta_waiter *w, int err)
{
	if (err)
		rpc_reply(w->conn, w->call_id, err, NULL, NULL, NULL);
	else
		rpc_reply_packed(w->conn, w->frame);
}

/* Sends every held reply the op log now covers; err fails them all instead. */
static void release_waiters(struct meta_server *ms, uint64_t durable, int err)
{
	struct meta_waiter *w;
	while ((w = STAILQ_FIRST(&ms->waiters)) && (err || w->seq <= durable)) {
		STAILQ_REMOVE_HEAD(&ms->waiters, link);
		meta_stats_commit(ms->stats, time_mono_us() - w->queued_us);
		waiter_send(w, err);
		waiter_free(w);
	}
}

void meta_answer(struct meta_server *ms, struct meta_call *call, int err, Cairn__Envelope *body,
		 const struct ns_inode *ino)
{
	meta_answer_why(ms, call, err, NULL, body, ino);
}

void meta_answer_why(struct meta_server *ms, struct meta_call *call, int err, const char *why,
		     Cairn__Envelope *body, const struct ns_inode *ino)
{
	Cairn__Attr attr = CAIRN__ATTR__INIT;
	Cairn__AttrResp resp = CAIRN__ATTR_RESP__INIT;
	Cairn__Envelope attr_body = CAIRN__ENVELOPE__INIT;
	if (ino && !err) {
		ns_fill_attr(ino, &attr);
		if (!ns_inode_is_dir(ino))
			attr.chunk_size = ns_file_chunk_size(ms->ns, ino);
		resp.attr = &attr;
		attr_body.body_case = CAIRN__ENVELOPE__BODY_ATTR;
		attr_body.attr = &resp;
		body = &attr_body;
	}
	if (err)
		body = NULL;
	uint64_t seq = oplog_last_seq(ms->log);
	if (!(call->flags & META_MUTATES) || oplog_durable_seq(ms->log) >= seq) {
		rpc_reply(call->conn, call->call_id, err, why, body, NULL);
		return;
	}
	struct meta_waiter *w = xcalloc(1, sizeof(*w));
	int rc = rpc_reply_pack(call->call_id, err, why, body, &w->frame);
	if (rc < 0) {
		free(w);
		rpc_reply(call->conn, call->call_id, rc == -ENOMEM ? rc : -CAIRN_EINTERNAL, NULL, NULL,
			  NULL);
		return;
	}
	rpc_conn_ref(call->conn);
	w->conn = call->conn;
	w->call_id = call->call_id;
	w->seq = seq;
	w->queued_us = time_mono_us();
	STAILQ_INSERT_TAIL(&ms->waiters, w, link);
}

static void start_checkpoint(struct meta_server *ms)
{
	if (ms->stopping) /* the op log is closed */
		return;
	uint64_t seq = oplog_last_seq(ms->log);
	if (ms->ckpt_pid || seq - ms->ckpt_seq < (uint64_t)ms->opts->checkpoint_records)
		return;
	pid_t pid = checkpoint_fork(ms->opts->data, ms->ns, seq);
	if (pid < 0) {
		log_warn("checkpoint: fork failed: %s", strerror(-pid));
		return;
	}
	ms->ckpt_pid = pid;
	ms->ckpt_pending = seq;
}

static void on_request(struct rpc_conn *c, Cairn__Envelope *req, struct evbuffer *payload,
		       void *arg)
{
	struct meta_server *ms = arg;
	const struct meta_handler *h = NULL;
	if ((unsigned)req->body_case < META_NHANDLERS)
		h = &meta_handlers[req->body_case];
	if (!h || !h->fn) {
		rpc_reply(c, req->call_id, -ENOTSUP, "the metaserver does not serve this call", NULL,
			  NULL);
		return;
	}
	if (ms->stopping || ms->failed) {
		rpc_reply(c, req->call_id, -CAIRN_EUNAVAIL, "the metaserver is shutting down", NULL,
			  NULL);
		return;
	}
	struct meta_call call = {c, req->call_id, h->flags};
	ms->calls++;
	meta_audit_call(ms, c, req, h->name);
	uint64_t start = time_mono_us();
	h->fn(ms, &call, req);
	meta_stats_call(ms->stats, (unsigned)req->body_case, h->name, time_mono_us() - start);
	if (h->flags & META_MUTATES)
		start_checkpoint(ms);
}

static const struct rpc_conn_ops meta_rpc_ops = {on_request, NULL};

static void emit_record(void *arg, Cairn__LogRecord *rec)
{
	struct meta_server *ms = arg;
	oplog_append(ms->log, rec);
}

static void on_durable(evutil_socket_t fd, short what, void *arg)
{
	struct meta_server *ms = arg;
	uint64_t count;
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_debug("op log notify: %s", strerror(errno)); /* the state below is what counts */
	int err = oplog_error(ms->log);
	if (err && !ms->failed) {
		ms->failed = 1;
		log_error("op log failed (%s): refusing further calls and stopping", strerror(-err));
		release_waiters(ms, 0, -EIO);
		event_base_loopexit(ms->base, NULL);
		return;
	}
	release_waiters(ms, oplog_durable_seq(ms->log), 0);
}

static void reap_checkpoint(struct meta_server *ms, int block)
{
	int status;
	if (!ms->ckpt_pid || waitpid(ms->ckpt_pid, &status, block ? 0 : WNOHANG) != ms->ckpt_pid)
		return;
	ms->ckpt_pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		/* Keep the log the previous checkpoint needs, so it stays a fallback. */
		oplog_purge(ms->opts->data, ms->ckpt_seq);
		ms->ckpt_seq = ms->ckpt_pending;
		log_info("checkpoint at seq %llu written", (unsigned long long)ms->ckpt_seq);
	} else {
		log_warn("checkpoint at seq %llu failed (child status %d)",
			 (unsigned long long)ms->ckpt_pending, status);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct meta_server *ms = arg;
	reap_checkpoint(ms, 0);
	start_checkpoint(ms);
	meta_chunk_tick(ms);
	meta_stats_tick(ms->stats);
}

static int lock_data_dir(struct meta_server *ms, char **cause)
{
	const char *dir = ms->opts->data;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		*cause = xasprintf("--data %s: %s", dir, strerror(errno));
		return -1;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/LOCK", dir);
	ms->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (ms->lock_fd < 0) {
		*cause = xasprintf("--data %s: %s", dir, strerror(errno));
		return -1;
	}
	if (flock(ms->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		*cause = xasprintf("--data %s is in use by another cairn-meta", dir);
		return -1;
	}
	return 0;
}

/* recover_setup_fn: the checkpoint is loaded (in ms->ns), the log not yet replayed. */
static int load_setup(void *arg, struct ns *ns, char **cause)
{
	struct meta_server *ms = arg;
	ns_set_default_replication(ns, (uint32_t)ms->opts->replication);
	ns_set_chunk_size(ns, ms->opts->chunk_size);
	return meta_ident_load(ms, ns, cause) < 0 ? -EINVAL : 0;
}

/* Checkpoint + replay (recover.c) + open the log for appending. */
static int load_namespace(struct meta_server *ms, char **cause)
{
	const char *dir = ms->opts->data;
	uint64_t seq = 0, last = 0;
	if (recover_load(dir, (uint64_t)ms->opts->recover_to, load_setup, ms, &ms->ns, &seq,
			 &last, cause) < 0)
		return -1;
	if (last < seq)
		last = seq;
	ms->ckpt_seq = seq;
	ms->log = oplog_open(dir, last, cause);
	if (!ms->log)
		return -1;
	ns_set_emit(ms->ns, emit_record, ms);
	log_info("namespace loaded: %zu inodes, checkpoint seq %llu, log seq %llu",
		 ns_count(ms->ns), (unsigned long long)seq, (unsigned long long)last);
	return 0;
}

struct meta_server *meta_new(struct event_base *base, const struct meta_options *opts,
			     char **cause)
{
	struct meta_server *ms = xcalloc(1, sizeof(*ms));
	ms->opts = opts;
	ms->base = base;
	ms->lock_fd = -1;
	STAILQ_INIT(&ms->waiters);
	ms->stats = meta_stats_new(ms);
	if (meta_audit_start(ms, cause) < 0 || lock_data_dir(ms, cause) < 0 ||
	    load_namespace(ms, cause) < 0 ||
	    meta_chunk_start(ms, cause) < 0 || meta_repl_start(ms, cause) < 0)
		goto fail;
	ms->durable_ev = event_new(base, oplog_notify_fd(ms->log), EV_READ | EV_PERSIST,
				   on_durable, ms);
	ms->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, ms);
	struct timeval second = {1, 0};
	if (!ms->durable_ev || !ms->tick_ev || event_add(ms->durable_ev, NULL) < 0 ||
	    event_add(ms->tick_ev, &second) < 0) {
		*cause = xstrdup("cannot set up events");
		goto fail;
	}
	ms->rpc = rpc_server_new(base, opts->listen, &meta_rpc_ops, ms, cause);
	if (!ms->rpc || meta_http_start(ms, cause) < 0)
		goto fail;
	rpc_server_set_limits(ms->rpc, &opts->limits);
	log_info("cairn-meta serving on %s (status on http://%s/)", opts->listen, opts->http);
	return ms;
fail:
	meta_free(ms);
	return NULL;
}

void meta_shutdown(struct meta_server *ms)
{
	if (ms->stopping)
		return;
	ms->stopping = 1;
	log_info("shutting down");
	event_del(ms->durable_ev);
	reap_checkpoint(ms, 1);
	uint64_t last = oplog_last_seq(ms->log);
	oplog_close(ms->log); /* flushes and syncs what is pending */
	ms->log = NULL;
	release_waiters(ms, last, 0);
	char *cause = NULL;
	if (!ms->failed && last > ms->ckpt_seq) {
		if (checkpoint_write(ms->opts->data, ms->ns, last, &cause) == 0) {
			oplog_purge(ms->opts->data, ms->ckpt_seq);
			ms->ckpt_seq = last;
		} else {
			log_warn("final checkpoint: %s", cause ? cause : "failed");
			free(cause);
		}
	}
	struct timeval flush = {0, 200000};
	event_base_loopexit(ms->base, &flush);
}

int meta_failed(const struct meta_server *ms)
{
	return ms->failed;
}

void meta_reopen_logs(struct meta_server *ms)
{
	int rc = meta_audit_reopen(ms);
	if (rc < 0)
		log_warn("--audit-log %s: cannot reopen: %s", ms->opts->audit_log, strerror(-rc));
}

int meta_port(const struct meta_server *ms)
{
	return rpc_server_port(ms->rpc);
}

void meta_free(struct meta_server *ms)
{
	if (!ms)
		return;
	reap_checkpoint(ms, 1);
	struct meta_waiter *w;
	while ((w = STAILQ_FIRST(&ms->waiters))) {
		STAILQ_REMOVE_HEAD(&ms->waiters, link);
		waiter_free(w);
	}
	if (ms->durable_ev)
		event_free(ms->durable_ev);
	if (ms->tick_ev)
		event_free(ms->tick_ev);
	meta_http_stop(ms);
	if (ms->rpc)
		rpc_server_free(ms->rpc);
	meta_repl_stop(ms);
	meta_chunk_stop(ms);
	meta_ident_free(ms);
	if (ms->log)
		oplog_close(ms->log);
	ns_free(ms->ns);
	if (ms->lock_fd >= 0)
		close(ms->lock_fd);
	meta_stats_free(ms->stats);
	meta_audit_stop(ms);
	free(ms);
}
