/*
 * s3_ops: routing, authentication and the bucket and object handlers.
 *
 * One table row per S3 operation: {method, scope, query or header that
 * selects it, handler, name, flags}. The first matching row serves the
 * request. Requests are path-style only (/bucket/key). Authentication
 * comes first: a signed request must verify; an anonymous one is served
 * only by rows marked S3_PUBLIC_OK on a bucket listed in --public (or by
 * any row when the gateway runs without --keys).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "log.h"
#include "s3.h"
#include "util.h"

enum { SCOPE_SERVICE, SCOPE_BUCKET, SCOPE_OBJECT };
#define S3_PUBLIC_OK 1

struct s3_op {
	const char *method;
	int scope;
	const char *query;  /* sub-resource that selects the row, or NULL */
	const char *header; /* header that selects the row, or NULL */
	int (*handler)(struct s3_req *q);
	const char *name;
	int flags;
};

void s3_iso_time(int64_t us, char out[32])
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)((us / 1000) % 1000));
}

int s3_error(struct s3_req *q, int status, const char *code, const char *message)
{
	struct sbuf body = {0};
	sbuf_adds(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
	sbuf_xml(&body, code);
	sbuf_adds(&body, "</Code><Message>");
	sbuf_xml(&body, message);
	sbuf_adds(&body, "</Message>");
	if (q->bucket) {
		sbuf_adds(&body, "<BucketName>");
		sbuf_xml(&body, q->bucket);
		sbuf_adds(&body, "</BucketName>");
	}
	if (q->key) {
		sbuf_adds(&body, "<Key>");
		sbuf_xml(&body, q->key);
		sbuf_adds(&body, "</Key>");
	}
	sbuf_adds(&body, "</Error>\n");
	struct sbuf h = {0};
	sbuf_adds(&h, "Content-Type: application/xml\r\n");
	int head = strcmp(q->http->method, "HEAD") == 0;
	q->responded = 1;
	if (status >= 500)
		log_warn("%s %s: %d %s: %s", q->http->method, q->http->path, status, code, message);
	int rc = http_respond(q->conn, q->http, status, &h, body.len, body.p, body.len, head, 0);
	free(h.p);
	free(body.p);
	return rc;
}

int s3_error_errno(struct s3_req *q, int err, const char *missing_code)
{
	char msg[256];
	switch (err) {
	case -ENOENT:
		if (strcmp(missing_code, "NoSuchKey") == 0)
			return s3_error(q, 404, missing_code, "The specified key does not exist.");
		if (strcmp(missing_code, "NoSuchUpload") == 0)
			return s3_error(q, 404, missing_code,
					"The specified multipart upload does not exist.");
		return s3_error(q, 404, missing_code, "The specified bucket does not exist.");
	case -ENOTDIR:
	case -EISDIR:
	case -EEXIST:
	case -ENOTEMPTY:
		return s3_error(q, 409, "KeyConflict",
				"cairn keeps keys as paths: this key and an existing one would "
				"need one path to be both an object and a directory (as \"a/b\" "
				"and \"a/b/c\")");
	case -EINVAL:
		return s3_error(q, 400, "InvalidArgument", "The key or argument is not valid.");
	case -CAIRN_EUNAVAIL:
	case -ETIMEDOUT:
	case -EAGAIN:
		return s3_error(q, 503, "ServiceUnavailable", cairn_strerror(err));
	case -ENOSPC:
		return s3_error(q, 507, "InsufficientStorage", cairn_strerror(err));
	default:
		snprintf(msg, sizeof(msg), "cairn: %s %s", cairn_strerror(err),
			 cairn_last_error(q->gw->c));
		return s3_error(q, 500, "InternalError", msg);
	}
}

int s3_xml(struct s3_req *q, struct sbuf *body)
{
	struct sbuf h = {0};
	sbuf_adds(&h, "Content-Type: application/xml\r\n");
	q->responded = 1;
	int rc = http_respond(q->conn, q->http, 200, &h, body->len, body->p, body->len, 0, 0);
	free(h.p);
	return rc;
}

static int respond_empty(struct s3_req *q, int status, struct sbuf *h)
{
	q->responded = 1;
	return http_respond(q->conn, q->http, status, h, 0, NULL, 0, 0, 0);
}

char *s3_query(const struct s3_req *q, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = q->http->query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len >= nlen && strncmp(p, name, nlen) == 0 && (len == nlen || p[nlen] == '='))
			return len == nlen ? xstrdup("")
					   : http_unescape(p + nlen + 1, len - nlen - 1, 1);
		p += len + (amp ? 1 : 0);
	}
	return NULL;
}

int s3_has_query(const struct s3_req *q, const char *name)
{
	char *v = s3_query(q, name);
	free(v);
	return v != NULL;
}

/* ---- buckets ---- */

static int list_buckets(struct s3_req *q)
{
	cairn_dir_t *d;
	int rc = cairn_opendir(q->gw->c, q->gw->root, &d);
	if (rc == -ENOENT)
		rc = cairn_mkdirs(q->gw->c, q->gw->root, 0) ?: cairn_opendir(q->gw->c, q->gw->root, &d);
	if (rc < 0)
		return s3_error_errno(q, rc, "NoSuchBucket");
	struct sbuf b = {0};
	sbuf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult "
		      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>cairn</ID>"
		      "<DisplayName>cairn</DisplayName></Owner><Buckets>");
	struct cairn_dirent e;
	while ((rc = cairn_readdir_next(d, &e)) > 0) {
		if (e.st.type != CAIRN_DIR || !key_bucket_ok(e.name))
			continue;
		char t[32];
		s3_iso_time(e.st.ctime_us, t);
		sbuf_printf(&b, "<Bucket><Name>%s</Name><CreationDate>%s</CreationDate></Bucket>",
			    e.name, t);
	}
	cairn_closedir(d);
	sbuf_adds(&b, "</Buckets></ListAllMyBucketsResult>\n");
	rc = rc < 0 ? s3_error_errno(q, rc, "NoSuchBucket") : s3_xml(q, &b);
	free(b.p);
	return rc;
}

static int create_bucket(struct s3_req *q)
{
	if (!key_bucket_ok(q->bucket))
		return s3_error(q, 400, "InvalidBucketName", "The specified bucket is not valid.");
	struct sbuf path = {0};
	key_path(&path, q->gw->root, q->bucket, NULL);
	int rc = cairn_mkdir(q->gw->c, path.p, 0);
	if (rc == -ENOENT) {
		rc = cairn_mkdirs(q->gw->c, q->gw->root, 0);
		if (rc == 0)
			rc = cairn_mkdir(q->gw->c, path.p, 0);
	}
	free(path.p);
	if (rc == -EEXIST)
		return s3_error(q, 409, "BucketAlreadyOwnedByYou",
				"Your previous request to create the named bucket succeeded and "
				"you already own it.");
	if (rc < 0)
		return s3_error_errno(q, rc, "NoSuchBucket");
	struct sbuf h = {0};
	sbuf_printf(&h, "Location: /%s\r\n", q->bucket);
	rc = respond_empty(q, 200, &h);
	free(h.p);
	return rc;
}

/* Stats the bucket: 0, or an S3 error was sent and -1 returned. */
static int bucket_exists(struct s3_req *q)
{
	struct sbuf path = {0};
	struct cairn_stat st;
	key_path(&path, q->gw->root, q->bucket, NULL);
	int rc = key_bucket_ok(q->bucket) ? cairn_stat(q->gw->c, path.p, &st) : -ENOENT;
	free(path.p);
	if (rc == 0 && st.type != CAIRN_DIR)
		rc = -ENOENT;
	if (rc < 0) {
		s3_error_errno(q, rc, "NoSuchBucket");
		return -1;
	}
	return 0;
}

static int head_bucket(struct s3_req *q)
{
	if (bucket_exists(q) < 0)
		return 0;
	return respond_empty(q, 200, NULL);
}

static int get_location(struct s3_req *q)
{
	if (bucket_exists(q) < 0)
		return 0;
	struct sbuf b = {0};
	sbuf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint "
		      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>\n");
	int rc = s3_xml(q, &b);
	free(b.p);
	return rc;
}

/* Whether dir holds an object somewhere below (internal "%." entries aside). */
static int has_objects(cairn_t *c, const char *dir, int depth)
{
	cairn_dir_t *d;
	if (depth > 64 || cairn_opendir(c, dir, &d) < 0)
		return 1;
	struct cairn_dirent e;
	int found = 0;
	while (!found && cairn_readdir_next(d, &e) > 0) {
		if (e.name[0] == '%' && e.name[1] == '.')
			continue;
		if (e.st.type == CAIRN_FILE) {
			found = 1;
		} else {
			char *sub = xasprintf("%s/%s", dir, e.name);
			found = has_objects(c, sub, depth + 1);
			free(sub);
		}
	}
	cairn_closedir(d);
	return found;
}

static int delete_bucket(struct s3_req *q)
{
	if (bucket_exists(q) < 0)
		return 0;
	struct sbuf path = {0};
	key_path(&path, q->gw->root, q->bucket, NULL);
	int rc = has_objects(q->gw->c, path.p, 0) ? -ENOTEMPTY : 0;
	if (rc == 0)
		rc = cairn_remove(q->gw->c, path.p, 1);
	free(path.p);
	if (rc == -ENOTEMPTY)
		return s3_error(q, 409, "BucketNotEmpty",
				"The bucket you tried to delete is not empty.");
	if (rc < 0)
		return s3_error_errno(q, rc, "NoSuchBucket");
	return respond_empty(q, 204, NULL);
}

/* ---- objects ---- */

static int put_object(struct s3_req *q)
{
	struct sbuf headers = {0};
	if (obj_meta_from_request(q, &headers) < 0) {
		free(headers.p);
		return s3_error(q, 400, "MetadataTooLarge",
				"Your metadata headers exceed the maximum allowed metadata size.");
	}
	struct sbuf path = {0};
	if (key_path(&path, q->gw->root, q->bucket, q->key) < 0) {
		free(path.p);
		free(headers.p);
		return s3_error(q, 400, "KeyTooLongError", "Your key is too long.");
	}
	free(path.p);
	if (!q->http->has_length && !q->http->chunked) {
		free(headers.p);
		return s3_error(q, 411, "MissingContentLength",
				"You must provide the Content-Length HTTP header.");
	}
	struct obj_upload u;
	int rc = obj_upload_begin(q, q->bucket, &u);
	if (rc < 0) {
		free(headers.p);
		return s3_error_errno(q, rc, "NoSuchBucket");
	}
	if (obj_upload_body(q, &u) < 0) {
		obj_upload_abort(q, &u);
		free(headers.p);
		return 0;
	}
	char etag[40];
	etag[0] = '"';
	auth_hex(u.md5, 16, etag + 1);
	strcat(etag, "\"");
	rc = obj_upload_commit(q, &u, q->bucket, q->key, etag, &headers);
	free(headers.p);
	if (rc < 0)
		return s3_error_errno(q, rc, "NoSuchBucket");
	struct sbuf h = {0};
	sbuf_printf(&h, "ETag: %s\r\n", etag);
	rc = respond_empty(q, 200, &h);
	free(h.p);
	return rc;
}

/* Stats bucket/key as an object: 0, or an S3 error was sent and -1 returned. */
static int object_stat(struct s3_req *q, const char *bucket, const char *key,
		       struct cairn_stat *st, struct sbuf *path)
{
	int rc = key_path(path, q->gw->root, bucket, key);
	if (rc == 0)
		rc = cairn_stat(q->gw->c, path->p, st);
	if (rc == 0 && st->type != CAIRN_FILE)
		rc = -ENOENT;
	if (rc == -ENOTDIR || rc == -EINVAL)
		rc = -ENOENT;
	if (rc == -ENOENT) {
		struct sbuf b = {0};
		struct cairn_stat bst;
		key_path(&b, q->gw->root, bucket, NULL);
		int brc = cairn_stat(q->gw->c, b.p, &bst);
		free(b.p);
		s3_error_errno(q, rc, brc == 0 ? "NoSuchKey" : "NoSuchBucket");
		return -1;
	}
	if (rc < 0) {
		s3_error_errno(q, rc, "NoSuchKey");
		return -1;
	}
	return 0;
}

static int etag_matches(const char *list, const char *etag)
{
	if (strcmp(list, "*") == 0)
		return 1;
	size_t elen = strlen(etag) - 2; /* without quotes */
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		const char *start = p + (*p == '"');
		const char *end = start;
		while (*end && *end != '"' && *end != ',')
			end++;
		if ((size_t)(end - start) == elen && strncmp(start, etag + 1, elen) == 0)
			return 1;
		p = *end == '"' ? end + 1 : end;
	}
	return 0;
}

/* RFC 7232 order. Returns 0 to go on, or the status to answer (304, 412). */
static int preconditions(struct s3_req *q, const char *etag, int64_t mtime_s)
{
	const char *im = http_header(q->http, "if-match");
	const char *inm = http_header(q->http, "if-none-match");
	const char *ims = http_header(q->http, "if-modified-since");
	const char *ius = http_header(q->http, "if-unmodified-since");
	int64_t t;
	if (im && !etag_matches(im, etag))
		return 412;
	if (!im && ius && http_parse_date(ius, &t) == 0 && mtime_s > t)
		return 412;
	if (inm && etag_matches(inm, etag))
		return 304;
	if (!inm && ims && http_parse_date(ims, &t) == 0 && mtime_s <= t)
		return 304;
	return 0;
}

/* Parses a single "bytes=a-b" range. Returns 1 with [*first, *last], 0: whole, -1: unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	const char *s = h + 6;
	char *end;
	if (*s == '-') {
		unsigned long long n = strtoull(s + 1, &end, 10);
		if (*end || end == s + 1)
			return 0;
		if (n == 0 || size == 0)
			return -1;
		*first = n >= size ? 0 : size - n;
		*last = size - 1;
		return 1;
	}
	unsigned long long a = strtoull(s, &end, 10);
	if (end == s || *end != '-')
		return 0;
	const char *b = end + 1;
	unsigned long long z = size ? size - 1 : 0;
	if (*b) {
		z = strtoull(b, &end, 10);
		if (*end || z < a)
			return 0;
		if (z >= size)
			z = size - 1;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = z;
	return 1;
}

/* Adds the headers every object response carries. */
static void object_headers(struct sbuf *h, const struct obj_meta *m, const struct cairn_stat *st)
{
	char date[30];
	http_date(st->mtime_us / 1000000, date);
	sbuf_printf(h, "ETag: %s\r\nLast-Modified: %s\r\nAccept-Ranges: bytes\r\n", m->etag, date);
	if (m->headers.p)
		sbuf_add(h, m->headers.p, m->headers.len);
	if (!m->headers.p || !strstr(m->headers.p, "Content-Type:"))
		sbuf_adds(h, "Content-Type: binary/octet-stream\r\n");
}

/* Streams [first, last] of f after the response head. Returns 0 or -1 (close the connection). */
static int stream_body(struct s3_req *q, cairn_file_t *f, uint64_t first, uint64_t last)
{
	uint64_t left = last - first + 1;
	if (first > 0 && cairn_seek(f, (int64_t)first, SEEK_SET) < 0)
		return -1;
	while (left > 0) {
		size_t want = left < S3_IO_BUF ? (size_t)left : S3_IO_BUF;
		ssize_t got = cairn_read(f, q->buf, want);
		if (got <= 0) {
			log_warn("GET %s: read failed after the head was sent: %s", q->http->path,
				 cairn_strerror(got < 0 ? (int)got : -EIO));
			return -1;
		}
		left -= (uint64_t)got;
		if (http_write(q->conn, q->buf, (size_t)got, left > 0) < 0)
			return -1;
	}
	return 0;
}

static int get_or_head(struct s3_req *q, int head)
{
	struct sbuf path = {0};
	struct cairn_stat st;
	struct obj_meta m;
	if (object_stat(q, q->bucket, q->key, &st, &path) < 0) {
		free(path.p);
		return 0;
	}
	int rc = obj_meta_get(q, q->bucket, &st, &m);
	if (rc < 0) {
		free(path.p);
		return s3_error_errno(q, rc, "NoSuchKey");
	}
	struct sbuf h = {0};
	int status = preconditions(q, m.etag, st.mtime_us / 1000000);
	if (status == 412) {
		rc = s3_error(q, 412, "PreconditionFailed",
			      "At least one of the pre-conditions you specified did not hold");
		goto out;
	}
	object_headers(&h, &m, &st);
	if (status == 304) {
		rc = respond_empty(q, 304, &h);
		goto out;
	}
	uint64_t first = 0, last = st.size ? st.size - 1 : 0;
	int ranged = parse_range(http_header(q->http, "range"), st.size, &first, &last);
	if (ranged < 0) {
		free(h.p);
		h = (struct sbuf){0};
		sbuf_printf(&h, "Content-Range: bytes */%llu\r\n", (unsigned long long)st.size);
		rc = s3_error(q, 416, "InvalidRange", "The requested range is not satisfiable");
		goto out;
	}
	if (ranged)
		sbuf_printf(&h, "Content-Range: bytes %llu-%llu/%llu\r\n",
			    (unsigned long long)first, (unsigned long long)last,
			    (unsigned long long)st.size);
	uint64_t len = st.size ? last - first + 1 : 0;
	cairn_file_t *f = NULL;
	if (!head && len > 0 && (rc = cairn_open(q->gw->c, path.p, CAIRN_O_RDONLY, 0, &f)) < 0) {
		rc = s3_error_errno(q, rc, "NoSuchKey");
		goto out;
	}
	q->responded = 1;
	rc = http_respond(q->conn, q->http, ranged ? 206 : 200, &h, len, NULL, 0, 1, f != NULL);
	if (rc == 0 && f && stream_body(q, f, first, last) < 0)
		q->close = 1;
	cairn_close(f);
out:
	free(h.p);
	free(path.p);
	obj_meta_free(&m);
	return rc;
}

static int get_object(struct s3_req *q)
{
	return get_or_head(q, 0);
}

static int head_object(struct s3_req *q)
{
	return get_or_head(q, 1);
}

static int delete_object(struct s3_req *q)
{
	int rc = obj_delete(q, q->bucket, q->key);
	if (rc == -ENOENT || rc == -ENOTDIR || rc == -EINVAL)
		rc = bucket_exists(q) < 0 ? -1 : 0;
	if (rc == -1)
		return 0;
	if (rc < 0)
		return s3_error_errno(q, rc, "NoSuchKey");
	return respond_empty(q, 204, NULL);
}

/* Splits x-amz-copy-source ("[/]bucket/key[?versionId=...]", %-encoded) into new strings. */
static int copy_source(const char *h, char **bucket, char **key)
{
	char *src = http_unescape(h, strcspn(h, "?"), 0);
	if (!src)
		return -EINVAL;
	char *s = src + (src[0] == '/');
	char *slash = strchr(s, '/');
	if (!slash || !slash[1]) {
		free(src);
		return -EINVAL;
	}
	*slash = '\0';
	*bucket = xstrdup(s);
	*key = xstrdup(slash + 1);
	free(src);
	return 0;
}

static int copy_object(struct s3_req *q)
{
	char *sb = NULL, *sk = NULL;
	if (copy_source(http_header(q->http, "x-amz-copy-source"), &sb, &sk) < 0 ||
	    !key_bucket_ok(sb)) {
		free(sb);
		free(sk);
		return s3_error(q, 400, "InvalidArgument", "Copy Source must mention the source "
							   "bucket and key: sourcebucket/sourcekey");
	}
	struct sbuf path = {0}, headers = {0};
	struct cairn_stat st;
	struct obj_meta m = {0};
	struct obj_upload u = {0};
	cairn_file_t *src = NULL;
	int rc = 0;
	if (object_stat(q, sb, sk, &st, &path) < 0)
		goto out;
	if ((rc = obj_meta_get(q, sb, &st, &m)) < 0 ||
	    (rc = cairn_open(q->gw->c, path.p, CAIRN_O_RDONLY, 0, &src)) < 0 ||
	    (rc = obj_upload_begin(q, q->bucket, &u)) < 0) {
		rc = s3_error_errno(q, rc, "NoSuchKey");
		goto out;
	}
	const char *directive = http_header(q->http, "x-amz-metadata-directive");
	if (directive && strcasecmp(directive, "REPLACE") == 0)
		obj_meta_from_request(q, &headers);
	else if (m.headers.p)
		sbuf_add(&headers, m.headers.p, m.headers.len);
	if ((rc = obj_copy_data(q, src, st.size, &u)) < 0) {
		obj_upload_abort(q, &u);
		rc = s3_error_errno(q, rc, "NoSuchKey");
		goto out;
	}
	char etag[80];
	if (m.etag[0] == '"' && strlen(m.etag) == 34) {
		snprintf(etag, sizeof(etag), "%s", m.etag);
	} else {
		etag[0] = '"';
		auth_hex(u.md5, 16, etag + 1);
		strcat(etag, "\"");
	}
	if ((rc = obj_upload_commit(q, &u, q->bucket, q->key, etag, &headers)) < 0) {
		rc = s3_error_errno(q, rc, "NoSuchBucket");
		goto out;
	}
	struct sbuf b = {0};
	char t[32];
	s3_iso_time(time_now_us(), t);
	sbuf_printf(&b,
		    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult><LastModified>%s"
		    "</LastModified><ETag>&quot;%.32s&quot;</ETag></CopyObjectResult>\n",
		    t, etag + 1);
	rc = s3_xml(q, &b);
	free(b.p);
out:
	cairn_close(src);
	obj_meta_free(&m);
	free(headers.p);
	free(path.p);
	free(sb);
	free(sk);
	return rc;
}

/* Decodes the five XML entities of s[0..n) into a new string. */
static char *xml_text(const char *s, size_t n)
{
	static const struct {
		const char *ent;
		char ch;
	} ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	char *out = xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		for (size_t e = 0; ch == '&' && e < sizeof(ents) / sizeof(ents[0]); e++) {
			size_t el = strlen(ents[e].ent);
			if (i + el <= n && strncmp(s + i, ents[e].ent, el) == 0) {
				ch = ents[e].ch;
				i += el - 1;
				break;
			}
		}
		out[k++] = ch;
	}
	out[k] = '\0';
	return out;
}

char *s3_xml_next(const char *xml, const char *tag, const char **pos)
{
	char open[64], close[64];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = strstr(*pos ? *pos : xml, open);
	if (!a)
		return NULL;
	a += strlen(open);
	const char *z = strstr(a, close);
	if (!z)
		return NULL;
	*pos = z + strlen(close);
	return xml_text(a, (size_t)(z - a));
}

static int delete_objects(struct s3_req *q)
{
	char *xml;
	size_t len;
	if (bucket_exists(q) < 0)
		return 0;
	if (http_body_all(q->conn, q->http, S3_XML_MAX, &xml, &len) < 0) {
		q->close = 1;
		return s3_error(q, 400, "MalformedXML", "The XML you provided was not well-formed.");
	}
	struct sbuf b = {0};
	sbuf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult "
		      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	int quiet = strstr(xml, "<Quiet>true</Quiet>") != NULL;
	const char *pos = NULL;
	char *key;
	int n = 0;
	while ((key = s3_xml_next(xml, "Key", &pos)) != NULL && n++ < 1000) {
		int rc = obj_delete(q, q->bucket, key);
		if (rc == 0 || rc == -ENOENT || rc == -ENOTDIR || rc == -EINVAL) {
			if (!quiet) {
				sbuf_adds(&b, "<Deleted><Key>");
				sbuf_xml(&b, key);
				sbuf_adds(&b, "</Key></Deleted>");
			}
		} else {
			sbuf_adds(&b, "<Error><Key>");
			sbuf_xml(&b, key);
			sbuf_printf(&b, "</Key><Code>InternalError</Code><Message>%s</Message></Error>",
				    cairn_strerror(rc));
		}
		free(key);
	}
	free(key);
	free(xml);
	sbuf_adds(&b, "</DeleteResult>\n");
	int rc = s3_xml(q, &b);
	free(b.p);
	return rc;
}

static int not_implemented(struct s3_req *q)
{
	return s3_error(q, 501, "NotImplemented",
			"A header or query you provided implies functionality that is not "
			"implemented.");
}

static const struct s3_op s3_ops[] = {
    {"GET", SCOPE_SERVICE, NULL, NULL, list_buckets, "ListBuckets", 0},
    {"PUT", SCOPE_BUCKET, NULL, NULL, create_bucket, "CreateBucket", 0},
    {"HEAD", SCOPE_BUCKET, NULL, NULL, head_bucket, "HeadBucket", S3_PUBLIC_OK},
    {"DELETE", SCOPE_BUCKET, NULL, NULL, delete_bucket, "DeleteBucket", 0},
    {"GET", SCOPE_BUCKET, "location", NULL, get_location, "GetBucketLocation", S3_PUBLIC_OK},
    {"GET", SCOPE_BUCKET, "uploads", NULL, s3_mpu_list_uploads, "ListMultipartUploads", 0},
    {"POST", SCOPE_BUCKET, "delete", NULL, delete_objects, "DeleteObjects", 0},
    {"GET", SCOPE_BUCKET, NULL, NULL, s3_list_objects, "ListObjects", S3_PUBLIC_OK},
    {"PUT", SCOPE_OBJECT, "uploadId", "x-amz-copy-source", not_implemented, "UploadPartCopy", 0},
    {"PUT", SCOPE_OBJECT, "uploadId", NULL, s3_mpu_upload_part, "UploadPart", 0},
    {"PUT", SCOPE_OBJECT, NULL, "x-amz-copy-source", copy_object, "CopyObject", 0},
    {"PUT", SCOPE_OBJECT, NULL, NULL, put_object, "PutObject", 0},
    {"POST", SCOPE_OBJECT, "uploads", NULL, s3_mpu_create, "CreateMultipartUpload", 0},
    {"POST", SCOPE_OBJECT, "uploadId", NULL, s3_mpu_complete, "CompleteMultipartUpload", 0},
    {"DELETE", SCOPE_OBJECT, "uploadId", NULL, s3_mpu_abort, "AbortMultipartUpload", 0},
    {"GET", SCOPE_OBJECT, "uploadId", NULL, s3_mpu_list_parts, "ListParts", 0},
    {"GET", SCOPE_OBJECT, NULL, NULL, get_object, "GetObject", S3_PUBLIC_OK},
    {"HEAD", SCOPE_OBJECT, NULL, NULL, head_object, "HeadObject", S3_PUBLIC_OK},
    {"DELETE", SCOPE_OBJECT, NULL, NULL, delete_object, "DeleteObject", 0},
};

/* Splits the path into bucket and key. Returns 0 or -EINVAL. */
static int split_path(struct s3_req *q)
{
	const char *p = q->http->path + 1;
	const char *slash = strchr(p, '/');
	if (!*p)
		return 0;
	size_t blen = slash ? (size_t)(slash - p) : strlen(p);
	q->bucket = http_unescape(p, blen, 0);
	if (!q->bucket)
		return -EINVAL;
	if (slash && slash[1]) {
		q->key = http_unescape(slash + 1, strlen(slash + 1), 0);
		if (!q->key)
			return -EINVAL;
	}
	return 0;
}

static int is_public(const struct s3_gw *gw, const char *bucket)
{
	for (size_t i = 0; bucket && i < gw->npublic; i++)
		if (strcmp(gw->public_buckets[i], bucket) == 0)
			return 1;
	return 0;
}

void s3_serve(struct s3_req *q)
{
	if (split_path(q) < 0) {
		s3_error(q, 400, "InvalidURI", "Couldn't parse the specified URI.");
		return;
	}
	int scope = q->key ? SCOPE_OBJECT : q->bucket ? SCOPE_BUCKET : SCOPE_SERVICE;
	if (q->bucket && !key_bucket_ok(q->bucket)) { /* also keeps paths below --root */
		if (scope == SCOPE_BUCKET && strcmp(q->http->method, "PUT") == 0)
			s3_error(q, 400, "InvalidBucketName", "The specified bucket is not valid.");
		else
			s3_error(q, 404, "NoSuchBucket", "The specified bucket does not exist.");
		return;
	}
	const struct s3_op *op = NULL;
	for (size_t i = 0; i < sizeof(s3_ops) / sizeof(s3_ops[0]) && !op; i++) {
		const struct s3_op *o = &s3_ops[i];
		if (o->scope == scope && strcmp(o->method, q->http->method) == 0 &&
		    (!o->query || s3_has_query(q, o->query)) &&
		    (!o->header || http_header(q->http, o->header)))
			op = o;
	}
	if (!op) {
		s3_error(q, 405, "MethodNotAllowed",
			 "The specified method is not allowed against this resource.");
		return;
	}
	if (q->gw->auth) {
		if (auth_check(q->gw->auth, q->http, time(NULL), &q->auth) < 0) {
			int status = strcmp(q->auth.error, "NotImplemented") == 0 ? 501
				     : strstr(q->auth.error, "Malformed") ||
					     strstr(q->auth.error, "ParametersError")
					 ? 400
					 : 403;
			s3_error(q, status, q->auth.error, q->auth.message);
			return;
		}
		if (!q->auth.signed_request &&
		    !((op->flags & S3_PUBLIC_OK) && is_public(q->gw, q->bucket))) {
			s3_error(q, 403, "AccessDenied", "Access Denied");
			return;
		}
	}
	const char *payload = http_header(q->http, "x-amz-content-sha256");
	if (payload && strcmp(payload, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0)
		http_body_aws_chunked(q->http);
	log_debug("%s %s: %s", q->http->method, q->http->path, op->name);
	op->handler(q);
}
