/*
 * meta_audit: the audit log (--audit-log FILE): one JSON line per
 * namespace change and per admin call, when it arrives:
 *
 *   {"time": "2026-01-02T03:04:05.678Z", "peer": "10.0.0.7:51234",
 *    "op": "rename", "args": {"src": "/a", "dst": "/b"}}
 *
 * Who is the peer's address until users come (DESIGN §10); what is the
 * call's name and its arguments, read from the request's protobuf
 * descriptor (its scalar and string fields that are set), so a new call
 * needs one row in the audited table below and no code. Opens count only
 * when they may change the namespace (write, create or truncate). A call
 * is logged when it is accepted for dispatch, before its outcome is known.
 *
 * The line is written with one write(2) to a file opened O_APPEND, as the
 * log lines are; SIGHUP reopens it (logrotate).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "meta_int.h"
#include "meta_stats.h"
#include "util.h"

struct meta_audit {
	int fd;
	char *path;
};

static int open_write(const Cairn__Envelope *req)
{
	const Cairn__OpenReq *m = req->open;
	return m->write || m->create || m->truncate;
}

/* The calls audited: namespace changes and admin calls (filter NULL: every one). */
static const struct {
	Cairn__Envelope__BodyCase body;
	int (*filter)(const Cairn__Envelope *req);
} audited[] = {
    {CAIRN__ENVELOPE__BODY_MKDIR, NULL},       {CAIRN__ENVELOPE__BODY_CREATE, NULL},
    {CAIRN__ENVELOPE__BODY_RENAME, NULL},      {CAIRN__ENVELOPE__BODY_REMOVE, NULL},
    {CAIRN__ENVELOPE__BODY_SETATTR, NULL},     {CAIRN__ENVELOPE__BODY_OPEN, open_write},
    {CAIRN__ENVELOPE__BODY_ADMIN_NODES, NULL}, {CAIRN__ENVELOPE__BODY_FSCK, NULL},
    {CAIRN__ENVELOPE__BODY_REBALANCE, NULL},   {CAIRN__ENVELOPE__BODY_DECOMMISSION, NULL},
    {CAIRN__ENVELOPE__BODY_TRUNCATE, NULL},
};

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

int meta_audit_start(struct meta_server *ms, char **cause)
{
	if (!ms->opts->audit_log)
		return 0;
	int fd = open_file(ms->opts->audit_log);
	if (fd < 0) {
		if (asprintf(cause, "--audit-log %s: %s", ms->opts->audit_log, strerror(-fd)) < 0)
			*cause = NULL;
		return -1;
	}
	ms->audit = xcalloc(1, sizeof(*ms->audit));
	ms->audit->fd = fd;
	ms->audit->path = xstrdup(ms->opts->audit_log);
	return 0;
}

void meta_audit_stop(struct meta_server *ms)
{
	if (!ms->audit)
		return;
	close(ms->audit->fd);
	free(ms->audit->path);
	free(ms->audit);
	ms->audit = NULL;
}

int meta_audit_reopen(struct meta_server *ms)
{
	if (!ms->audit)
		return 0;
	int fd = open_file(ms->audit->path);
	if (fd < 0)
		return fd;
	int rc = dup2(fd, ms->audit->fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Appends the set scalar and string fields of msg as JSON members. */
static void args_json(struct evbuffer *out, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	int first = 1;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *at = (const char *)msg + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		char num[32] = "";
		switch (f->type) {
		case PROTOBUF_C_TYPE_STRING: {
			const char *s = *(char *const *)at;
			if (!s || !*s)
				continue;
			evbuffer_add_printf(out, "%s\"%s\": ", first ? "" : ", ", f->name);
			meta_http_json_str(out, s);
			first = 0;
			continue;
		}
		case PROTOBUF_C_TYPE_BOOL:
			if (*(const protobuf_c_boolean *)at)
				snprintf(num, sizeof(num), "true");
			break;
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_ENUM:
			if (*(const uint32_t *)at)
				snprintf(num, sizeof(num), "%u", *(const uint32_t *)at);
			break;
		case PROTOBUF_C_TYPE_INT32:
			if (*(const int32_t *)at)
				snprintf(num, sizeof(num), "%d", *(const int32_t *)at);
			break;
		case PROTOBUF_C_TYPE_UINT64:
			if (*(const uint64_t *)at)
				snprintf(num, sizeof(num), "%llu",
					 (unsigned long long)*(const uint64_t *)at);
			break;
		case PROTOBUF_C_TYPE_INT64:
			if (*(const int64_t *)at)
				snprintf(num, sizeof(num), "%lld", (long long)*(const int64_t *)at);
			break;
		default:
			break;
		}
		if (!*num)
			continue;
		evbuffer_add_printf(out, "%s\"%s\": %s", first ? "" : ", ", f->name, num);
		first = 0;
	}
}

/* The body message of req (its oneof member), or NULL. */
static const ProtobufCMessage *body_of(const Cairn__Envelope *req)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&cairn__envelope__descriptor, req->body_case);
	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	return *(ProtobufCMessage *const *)((const char *)req + f->offset);
}

void meta_audit_call(struct meta_server *ms, struct rpc_conn *c, const Cairn__Envelope *req,
		     const char *name)
{
	size_t i = 0, n = sizeof(audited) / sizeof(audited[0]);
	if (!ms->audit)
		return;
	while (i < n && audited[i].body != req->body_case)
		i++;
	if (i == n || (audited[i].filter && !audited[i].filter(req)))
		return;
	struct evbuffer *out = evbuffer_new();
	if (!out)
		return;
	char when[32];
	log_time(when, sizeof(when));
	evbuffer_add_printf(out, "{\"time\": \"%s\", \"peer\": ", when);
	meta_http_json_str(out, rpc_conn_peer(c));
	evbuffer_add_printf(out, ", \"op\": ");
	meta_http_json_str(out, name);
	evbuffer_add_printf(out, ", \"args\": {");
	const ProtobufCMessage *body = body_of(req);
	if (body)
		args_json(out, body);
	evbuffer_add_printf(out, "}}\n");
	size_t len = evbuffer_get_length(out);
	int rc = write_full(ms->audit->fd, evbuffer_pullup(out, -1), len);
	if (rc < 0)
		log_warn("--audit-log %s: %s", ms->audit->path, strerror(-rc));
	evbuffer_free(out);
}
