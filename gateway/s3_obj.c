/*
 * s3_obj: objects as cairn files: uploads through a temporary file renamed
 * into place, sidecars (format in s3.h) and their cache, deletion.
 *
 * Commit order of an upload: data written and closed in %.tmp; its inode
 * number read; sidecar %.meta/<id> written and closed; the old object's
 * inode number read; rename into place (missing parent directories made);
 * the old object's sidecar removed. A gateway killed at any step leaves
 * the old object (or none) visible, never a partial one; what it leaves
 * behind is a temporary file or an unreferenced sidecar, both under "%."
 * names that listings skip.
 *
 * Cache: sidecars never change once written (an object is a new inode),
 * so a direct-mapped table by inode number holds copies; a stale slot can
 * only hold another inode's sidecar, which the id check rejects.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "s3.h"
#include "util.h"

#define SIDECAR_FILE "m" /* never a base64url name: those are 4 bytes or more */

struct cache_slot {
	uint64_t id;
	char *text;
};

struct s3_cache {
	pthread_mutex_t lock;
	struct cache_slot slot[S3_CACHE_SIZE];
};

struct s3_cache *obj_cache_new(void)
{
	struct s3_cache *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void obj_cache_free(struct s3_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < S3_CACHE_SIZE; i++)
		free(c->slot[i].text);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static char *cache_get(struct s3_cache *c, uint64_t id)
{
	char *out = NULL;
	struct cache_slot *s = &c->slot[id % S3_CACHE_SIZE];
	pthread_mutex_lock(&c->lock);
	if (s->text && s->id == id)
		out = xstrdup(s->text);
	pthread_mutex_unlock(&c->lock);
	return out;
}

static void cache_put(struct s3_cache *c, uint64_t id, const char *text)
{
	struct cache_slot *s = &c->slot[id % S3_CACHE_SIZE];
	char *copy = xstrdup(text);
	pthread_mutex_lock(&c->lock);
	free(s->text);
	s->text = copy;
	s->id = id;
	pthread_mutex_unlock(&c->lock);
}

void obj_meta_free(struct obj_meta *m)
{
	free(m->headers.p);
	m->headers.p = NULL;
}

/* Parses sidecar text into m. Returns 0 or -EINVAL. */
static int meta_parse(const char *text, struct obj_meta *m)
{
	const char *line = text;
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		if (strncmp(line, "x-cairn-id: ", 12) == 0) {
			m->id = strtoull(line + 12, NULL, 10);
		} else if (strncmp(line, "etag: ", 6) == 0) {
			snprintf(m->etag, sizeof(m->etag), "%.*s", (int)(len - 6), line + 6);
		} else if (len > 0) {
			sbuf_add(&m->headers, line, len);
			sbuf_adds(&m->headers, "\r\n");
		}
		line += len + (nl ? 1 : 0);
	}
	return m->id && m->etag[0] ? 0 : -EINVAL;
}

/* Reads a whole small file into a new string. Returns 0 or a negative error. */
static int read_small(cairn_t *c, const char *path, size_t max, char **out)
{
	cairn_file_t *f;
	int rc = cairn_open(c, path, CAIRN_O_RDONLY, 0, &f);
	if (rc < 0)
		return rc;
	char *text = xmalloc(max + 1);
	ssize_t n = cairn_read(f, text, max);
	cairn_close(f);
	if (n < 0) {
		free(text);
		return (int)n;
	}
	text[n] = '\0';
	*out = text;
	return 0;
}

/* Appends the base64url form of text (no padding). */
static void b64url(struct sbuf *b, const char *text, size_t n)
{
	unsigned char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	int len = EVP_EncodeBlock(out, (const unsigned char *)text, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	for (int i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	sbuf_add(b, out, (size_t)len);
	free(out);
}

/* Decodes a base64url name into a new string, or NULL. */
static char *b64url_decode(const char *name)
{
	size_t n = strlen(name);
	char *in = xmalloc(n + 4);
	for (size_t i = 0; i < n; i++)
		in[i] = name[i] == '-' ? '+' : name[i] == '_' ? '/' : name[i];
	while (n % 4)
		in[n++] = '=';
	in[n] = '\0';
	char *out = xmalloc(n / 4 * 3 + 1);
	int len = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)in, (int)n);
	free(in);
	if (len < 0) {
		free(out);
		return NULL;
	}
	while (len > 0 && out[len - 1] == '\0')
		len--; /* padding decodes as zero bytes */
	out[len] = '\0';
	return out;
}

/* Appends the sidecar directory of inode id. */
static void sidecar_dir(struct sbuf *b, struct s3_req *q, const char *bucket, uint64_t id)
{
	char name[32];
	snprintf(name, sizeof(name), "%llx", (unsigned long long)id);
	key_internal(b, q->gw->root, bucket, "meta", name);
}

/* Reads the sidecar of id into a new *text ("x-cairn-id" line first). Returns 0 or -errno. */
static int sidecar_read(struct s3_req *q, const char *bucket, uint64_t id, char **text)
{
	struct sbuf dir = {0};
	sidecar_dir(&dir, q, bucket, id);
	cairn_dir_t *d;
	struct cairn_dirent e;
	int rc = cairn_opendir(q->gw->c, dir.p, &d);
	char *body = NULL;
	if (rc == 0) {
		rc = cairn_readdir_next(d, &e);
		if (rc == 0) {
			rc = -ENOENT;
		} else if (rc > 0 && strcmp(e.name, SIDECAR_FILE) == 0) {
			sbuf_printf(&dir, "/%s", SIDECAR_FILE);
			rc = read_small(q->gw->c, dir.p, S3_META_MAX, &body);
		} else if (rc > 0) {
			body = b64url_decode(e.name);
			rc = body ? 0 : -CAIRN_EINTERNAL;
		}
		cairn_closedir(d);
	}
	free(dir.p);
	if (rc < 0)
		return rc == -ENOTDIR ? -ENOENT : rc;
	struct sbuf t = {0};
	sbuf_printf(&t, "x-cairn-id: %llu\n%s", (unsigned long long)id, body);
	free(body);
	*text = t.p;
	return 0;
}

int obj_meta_get(struct s3_req *q, const char *bucket, const struct cairn_stat *st,
		 struct obj_meta *m)
{
	memset(m, 0, sizeof(*m));
	char *text = cache_get(q->gw->cache, st->id);
	if (!text) {
		int rc = sidecar_read(q, bucket, st->id, &text);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		if (rc == 0)
			cache_put(q->gw->cache, st->id, text);
	}
	if (text && meta_parse(text, m) == 0 && m->id == st->id) {
		free(text);
		return 0;
	}
	free(text);
	obj_meta_free(m);
	memset(m, 0, sizeof(*m));
	m->id = st->id;
	snprintf(m->etag, sizeof(m->etag), "\"%llx-%llx\"", (unsigned long long)st->id,
		 (unsigned long long)st->mtime_us);
	return 0;
}

static const char *const kept_headers[] = {
    "content-type",	"cache-control", "content-disposition",
    "content-encoding", "content-language", "expires",
};

static const char *const kept_names[] = {
    "Content-Type",	"Cache-Control", "Content-Disposition",
    "Content-Encoding", "Content-Language", "Expires",
};

int obj_meta_from_request(const struct s3_req *q, struct sbuf *out)
{
	size_t user = 0;
	for (size_t i = 0; i < sizeof(kept_headers) / sizeof(kept_headers[0]); i++) {
		const char *v = http_header(q->http, kept_headers[i]);
		if (v && strcmp(kept_headers[i], "content-encoding") == 0 &&
		    strncmp(v, "aws-chunked", 11) == 0)
			v = v[11] == ',' ? v + 12 : NULL; /* framing, not the object's */
		if (v)
			sbuf_printf(out, "%s: %s\r\n", kept_names[i], v);
	}
	for (int i = 0; i < q->http->nhdr; i++) {
		const struct http_header *h = &q->http->hdr[i];
		if (strncmp(h->name, "x-amz-meta-", 11) != 0)
			continue;
		user += strlen(h->name) + strlen(h->value);
		sbuf_printf(out, "%s: %s\r\n", h->name, h->value);
	}
	return user > 2048 ? -EINVAL : 0;
}

int obj_upload_begin(struct s3_req *q, const char *bucket, struct obj_upload *u)
{
	memset(u, 0, sizeof(*u));
	unsigned char rnd[12];
	char name[25];
	RAND_bytes(rnd, sizeof(rnd));
	auth_hex(rnd, sizeof(rnd), name);
	struct sbuf path = {0};
	key_internal(&path, q->gw->root, bucket, "tmp", name);
	int rc = cairn_open(q->gw->c, path.p, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_EXCL, 0,
			    &u->f);
	if (rc == -ENOENT) {
		struct sbuf dir = {0};
		key_internal(&dir, q->gw->root, bucket, "tmp", NULL);
		rc = cairn_mkdir(q->gw->c, dir.p, 0);
		free(dir.p);
		if (rc == 0 || rc == -EEXIST)
			rc = cairn_open(q->gw->c, path.p,
					CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_EXCL, 0, &u->f);
	}
	if (rc < 0) {
		free(path.p);
		return rc;
	}
	u->tmp = path.p;
	return 0;
}

void obj_upload_abort(struct s3_req *q, struct obj_upload *u)
{
	if (u->f)
		cairn_close(u->f);
	u->f = NULL;
	if (u->tmp)
		cairn_remove(q->gw->c, u->tmp, 0);
	free(u->tmp);
	u->tmp = NULL;
}

/* Decodes base64 Content-MD5 into 16 bytes. Returns 0 or -EINVAL. */
static int md5_header(const char *b64, unsigned char out[16])
{
	unsigned char buf[32];
	size_t n = strlen(b64);
	if (n != 24)
		return -EINVAL;
	if (EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n) != 18)
		return -EINVAL;
	memcpy(out, buf, 16);
	return 0;
}

/*
 * Reads the body into the worker's buffer until it is full or the body
 * ends: libcairn then gets 1 MiB writes, not one per socket read.
 */
static ssize_t fill_buf(struct s3_req *q)
{
	size_t have = 0;
	while (have < S3_IO_BUF) {
		ssize_t got = http_body_read(q->conn, q->http, q->buf + have, S3_IO_BUF - have);
		if (got < 0)
			return got;
		if (got == 0)
			break;
		have += (size_t)got;
	}
	return (ssize_t)have;
}

int obj_upload_body(struct s3_req *q, struct obj_upload *u)
{
	EVP_MD_CTX *md5 = EVP_MD_CTX_new();
	EVP_MD_CTX *sha = q->auth.payload_sha256[0] ? EVP_MD_CTX_new() : NULL;
	CAIRN_ASSERT(md5);
	EVP_DigestInit_ex(md5, EVP_md5(), NULL);
	if (sha)
		EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	int rc = 0;
	for (;;) {
		ssize_t got = fill_buf(q);
		if (got < 0) {
			q->close = 1;
			rc = s3_error(q, 400, "IncompleteBody",
				      "The request body ended before its declared length.");
			break;
		}
		if (got == 0)
			break;
		EVP_DigestUpdate(md5, q->buf, (size_t)got);
		if (sha)
			EVP_DigestUpdate(sha, q->buf, (size_t)got);
		ssize_t put = cairn_write(u->f, q->buf, (size_t)got);
		if (put < 0) {
			q->close = 1;
			rc = s3_error_errno(q, (int)put, "NoSuchBucket");
			break;
		}
		u->size += (uint64_t)got;
	}
	unsigned int len = 16;
	EVP_DigestFinal_ex(md5, u->md5, &len);
	EVP_MD_CTX_free(md5);
	unsigned char digest[32];
	if (sha) {
		len = 32;
		EVP_DigestFinal_ex(sha, digest, &len);
		EVP_MD_CTX_free(sha);
	}
	if (q->responded)
		return -1;
	(void)rc;
	const char *cmd5 = http_header(q->http, "content-md5");
	unsigned char want[16];
	if (cmd5 && (md5_header(cmd5, want) < 0 || memcmp(want, u->md5, 16) != 0)) {
		s3_error(q, 400, "BadDigest",
			 "The Content-MD5 you specified did not match what we received.");
		return -1;
	}
	if (sha) {
		char hex[65];
		auth_hex(digest, 32, hex);
		if (strcasecmp(hex, q->auth.payload_sha256) != 0) {
			s3_error(q, 400, "XAmzContentSHA256Mismatch",
				 "The provided 'x-amz-content-sha256' header does not match what "
				 "was computed.");
			return -1;
		}
	}
	return 0;
}

/*
 * Writes the sidecar of inode id: a directory %.meta/<id hex> holding one
 * empty file whose name is the base64url of the sidecar text (two
 * metadata operations, no data written), or, when that name would pass
 * 255 bytes, a file SIDECAR_FILE with the text. Returns 0 or a negative error.
 */
static int write_sidecar(struct s3_req *q, const char *bucket, uint64_t id, const char *etag,
			 const struct sbuf *headers)
{
	cairn_t *c = q->gw->c;
	struct sbuf text = {0}, dir = {0}, path = {0};
	sbuf_printf(&text, "etag: %s\n", etag);
	for (const char *p = headers && headers->p ? headers->p : ""; *p;) {
		const char *end = strstr(p, "\r\n");
		size_t len = end ? (size_t)(end - p) : strlen(p);
		sbuf_add(&text, p, len);
		sbuf_adds(&text, "\n");
		p += len + (end ? 2 : 0);
	}
	sidecar_dir(&dir, q, bucket, id);
	int rc = cairn_mkdir(c, dir.p, 0);
	if (rc == -ENOENT) {
		struct sbuf top = {0};
		key_internal(&top, q->gw->root, bucket, "meta", NULL);
		rc = cairn_mkdir(c, top.p, 0);
		free(top.p);
		if (rc == 0 || rc == -EEXIST)
			rc = cairn_mkdir(c, dir.p, 0);
	}
	if (rc == -EEXIST) /* left by a gateway that died before the rename */
		rc = cairn_remove(c, dir.p, 1) ?: cairn_mkdir(c, dir.p, 0);
	sbuf_printf(&path, "%s/", dir.p);
	size_t base = path.len;
	b64url(&path, text.p, text.len);
	if (rc == 0 && path.len - base <= 255) {
		rc = cairn_create(c, path.p, 0, 0, 1);
	} else if (rc == 0) {
		cairn_file_t *f;
		path.len = base;
		sbuf_adds(&path, SIDECAR_FILE);
		rc = cairn_open(c, path.p, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_EXCL, 0, &f);
		if (rc == 0) {
			ssize_t n = cairn_write(f, text.p, text.len);
			rc = cairn_close(f);
			rc = n < 0 ? (int)n : rc;
		}
	}
	if (rc == 0) {
		struct sbuf cached = {0};
		sbuf_printf(&cached, "x-cairn-id: %llu\n%s", (unsigned long long)id, text.p);
		cache_put(q->gw->cache, id, cached.p);
		free(cached.p);
	}
	free(path.p);
	free(dir.p);
	free(text.p);
	return rc;
}

static void remove_sidecar(struct s3_req *q, const char *bucket, uint64_t id)
{
	struct sbuf dir = {0};
	sidecar_dir(&dir, q, bucket, id);
	cairn_remove(q->gw->c, dir.p, 1);
	free(dir.p);
}

/* The parent directory of path (a new string). */
static char *parent_of(const char *path)
{
	char *p = xstrdup(path);
	char *slash = strrchr(p, '/');
	if (slash)
		*slash = '\0';
	return p;
}

int obj_upload_commit(struct s3_req *q, struct obj_upload *u, const char *bucket,
		      const char *key, const char *etag, const struct sbuf *headers)
{
	cairn_t *c = q->gw->c;
	struct sbuf dst = {0};
	struct cairn_stat st, old;
	int rc = u->f ? cairn_close(u->f) : 0;
	u->f = NULL;
	if (rc == 0)
		rc = key_path(&dst, q->gw->root, bucket, key);
	if (rc == 0)
		rc = cairn_stat(c, u->tmp, &st);
	if (rc == 0)
		rc = write_sidecar(q, bucket, st.id, etag, headers);
	if (rc < 0)
		goto fail;
	int had_old = cairn_stat(c, dst.p, &old) == 0 && old.type == CAIRN_FILE;
	for (int attempt = 0; attempt < 4; attempt++) {
		rc = cairn_rename(c, u->tmp, dst.p);
		if (rc != -ENOENT)
			break;
		char *dir = parent_of(dst.p);
		rc = cairn_mkdirs(c, dir, 0);
		free(dir);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		remove_sidecar(q, bucket, st.id);
		goto fail;
	}
	if (had_old && old.id != st.id)
		remove_sidecar(q, bucket, old.id);
	free(dst.p);
	free(u->tmp);
	u->tmp = NULL;
	return 0;
fail:
	free(dst.p);
	obj_upload_abort(q, u);
	return rc;
}

int obj_delete(struct s3_req *q, const char *bucket, const char *key)
{
	cairn_t *c = q->gw->c;
	struct sbuf path = {0};
	struct sbuf top = {0};
	struct cairn_stat st;
	int rc = key_path(&path, q->gw->root, bucket, key);
	if (rc == 0)
		rc = cairn_stat(c, path.p, &st);
	if (rc == 0 && st.type != CAIRN_FILE)
		rc = -ENOENT;
	if (rc == 0)
		rc = cairn_remove(c, path.p, 0);
	if (rc == 0) {
		remove_sidecar(q, bucket, st.id);
		key_path(&top, q->gw->root, bucket, NULL);
		char *dir = parent_of(path.p);
		while (strlen(dir) > top.len && cairn_remove(c, dir, 0) == 0) {
			char *up = parent_of(dir);
			free(dir);
			dir = up;
		}
		free(dir);
	}
	free(top.p);
	free(path.p);
	return rc;
}

int obj_copy_data(struct s3_req *q, cairn_file_t *src, uint64_t size, struct obj_upload *u)
{
	EVP_MD_CTX *md5 = EVP_MD_CTX_new();
	CAIRN_ASSERT(md5);
	EVP_DigestInit_ex(md5, EVP_md5(), NULL);
	int rc = 0;
	while (u->size < size) {
		ssize_t got = cairn_read(src, q->buf, S3_IO_BUF);
		if (got <= 0) {
			rc = got < 0 ? (int)got : -EIO;
			break;
		}
		EVP_DigestUpdate(md5, q->buf, (size_t)got);
		ssize_t put = cairn_write(u->f, q->buf, (size_t)got);
		if (put < 0) {
			rc = (int)put;
			break;
		}
		u->size += (uint64_t)got;
	}
	unsigned int len = 16;
	EVP_DigestFinal_ex(md5, u->md5, &len);
	EVP_MD_CTX_free(md5);
	return rc;
}
