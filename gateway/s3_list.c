/*
 * s3_list: ListObjects (V1) and ListObjectsV2 over the bucket's tree.
 *
 * S3 lists keys in byte order; the tree is walked depth first with each
 * directory's entries sorted by the keys they stand for: a file by its
 * decoded name, a directory by its decoded name plus '/' (every key under
 * it starts with that), which orders whole subtrees correctly among
 * their siblings. Subtrees are skipped when they cannot hold a key that
 * matches the prefix, that comes after the marker, or that falls under
 * the common prefix just returned. Memory: one directory's entries per
 * level being walked (directories are read whole to sort them).
 *
 * Continuation tokens are the hex of the last key or common prefix
 * returned; a page resumes strictly after it, skipping the rest of a
 * common prefix that ended the previous page.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"
#include "util.h"

struct entry {
	char *name; /* as stored */
	char *sort; /* decoded segment, '/' appended for a directory */
	struct cairn_stat st;
};

struct lister {
	struct s3_req *q;
	const char *prefix, *delim, *marker;
	long max;
	int url; /* encoding-type=url */
	long count;
	int truncated;
	char *last_cp;
	char *next; /* last key or prefix returned */
	struct sbuf contents, prefixes;
	int err;
};

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->sort, ((const struct entry *)b)->sort);
}

static int starts(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static void add_key_text(struct lister *l, struct sbuf *b, const char *s)
{
	if (l->url) {
		struct sbuf e = {0};
		http_escape(&e, s, 1);
		sbuf_xml(b, e.p ? e.p : "");
		free(e.p);
	} else {
		sbuf_xml(b, s);
	}
}

static void set_next(struct lister *l, const char *s)
{
	free(l->next);
	l->next = xstrdup(s);
}

/* Emits one key or common prefix; returns 0, or 1 when the page is full. */
static int emit_key(struct lister *l, const char *key, const struct cairn_stat *st,
		    const char *bucket)
{
	const char *d = l->delim && *l->delim ? strstr(key + strlen(l->prefix), l->delim) : NULL;
	if (d) {
		size_t cplen = (size_t)(d - key) + strlen(l->delim);
		char *cp = xmalloc(cplen + 1);
		memcpy(cp, key, cplen);
		cp[cplen] = '\0';
		int seen = (l->last_cp && strcmp(cp, l->last_cp) == 0) ||
			   (l->marker && strcmp(cp, l->marker) <= 0);
		if (seen || l->count == l->max) {
			l->truncated |= !seen;
			free(cp);
			return !seen;
		}
		sbuf_adds(&l->prefixes, "<CommonPrefixes><Prefix>");
		add_key_text(l, &l->prefixes, cp);
		sbuf_adds(&l->prefixes, "</Prefix></CommonPrefixes>");
		free(l->last_cp);
		l->last_cp = cp;
		set_next(l, cp);
		l->count++;
		return 0;
	}
	if (l->count == l->max) {
		l->truncated = 1;
		return 1;
	}
	struct obj_meta m;
	int rc = obj_meta_get(l->q, bucket, st, &m);
	if (rc < 0) {
		l->err = rc;
		return 1;
	}
	char t[32];
	s3_iso_time(st->mtime_us, t);
	sbuf_adds(&l->contents, "<Contents><Key>");
	add_key_text(l, &l->contents, key);
	sbuf_printf(&l->contents,
		    "</Key><LastModified>%s</LastModified><ETag>", t);
	sbuf_xml(&l->contents, m.etag);
	sbuf_printf(&l->contents,
		    "</ETag><Size>%llu</Size><StorageClass>STANDARD</StorageClass></Contents>",
		    (unsigned long long)st->size);
	obj_meta_free(&m);
	set_next(l, key);
	l->count++;
	return 0;
}

/* Reads dir whole into a sorted array. Returns the count or a negative error. */
static long read_sorted(cairn_t *c, const char *dir, struct entry **out)
{
	cairn_dir_t *d;
	int rc = cairn_opendir(c, dir, &d);
	if (rc < 0)
		return rc;
	struct entry *es = NULL;
	size_t n = 0, cap = 0;
	struct cairn_dirent e;
	while ((rc = cairn_readdir_next(d, &e)) > 0) {
		char *seg = key_segment_unescape(e.name);
		if (!seg)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			es = xrealloc(es, cap * sizeof(*es));
		}
		es[n].name = xstrdup(e.name);
		es[n].st = e.st;
		if (e.st.type == CAIRN_DIR) {
			es[n].sort = xmalloc(strlen(seg) + 2);
			sprintf(es[n].sort, "%s/", seg);
			free(seg);
		} else {
			es[n].sort = seg;
		}
		n++;
	}
	cairn_closedir(d);
	if (es)
		qsort(es, n, sizeof(*es), entry_cmp);
	*out = es;
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			free(es[i].name);
			free(es[i].sort);
		}
		free(es);
		*out = NULL;
		return rc;
	}
	return (long)n;
}

/* Walks dir, whose keys start with kprefix. Returns 0 to go on, 1 when done. */
static int walk(struct lister *l, const char *bucket, const char *dir, const char *kprefix,
		int depth);

/* Lists one entry of dir (a key, or a directory walked into). Returns 1 when the page is full. */
static int walk_entry(struct lister *l, const char *bucket, const char *dir, const char *kprefix,
		      int depth, const struct entry *e)
{
	int done = 0;
	char *full = xasprintf("%s%s", kprefix, e->sort);
	if (e->st.type == CAIRN_DIR) {
		int fits = starts(full, l->prefix) || starts(l->prefix, full);
		int before = l->marker && strcmp(full, l->marker) < 0 && !starts(l->marker, full);
		int rolled = l->last_cp && starts(full, l->last_cp);
		if (fits && !before && !rolled && depth < 256) {
			char *sub = xasprintf("%s/%s", dir, e->name);
			done = walk(l, bucket, sub, full, depth + 1);
			free(sub);
		}
	} else if (starts(full, l->prefix) && (!l->marker || strcmp(full, l->marker) > 0)) {
		done = emit_key(l, full, &e->st, bucket);
	}
	free(full);
	return done;
}

static int walk(struct lister *l, const char *bucket, const char *dir, const char *kprefix,
		int depth)
{
	struct entry *es;
	long n = read_sorted(l->q->gw->c, dir, &es);
	if (n < 0) {
		if (n != -ENOENT || depth == 0)
			l->err = (int)n;
		return n == -ENOENT ? 0 : 1;
	}
	int done = 0;
	for (long i = 0; i < n; i++) {
		if (!done)
			done = walk_entry(l, bucket, dir, kprefix, depth, &es[i]);
		free(es[i].name);
		free(es[i].sort);
	}
	free(es);
	return done;
}

static char *hex_decode(const char *s)
{
	size_t n = strlen(s);
	if (n % 2)
		return NULL;
	char *out = xmalloc(n / 2 + 1);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			free(out);
			return NULL;
		}
		out[i] = (char)v;
	}
	out[n / 2] = '\0';
	return out;
}

static void add_elem(struct lister *l, struct sbuf *b, const char *name, const char *v, int key)
{
	if (!v)
		return;
	sbuf_printf(b, "<%s>", name);
	if (key)
		add_key_text(l, b, v);
	else
		sbuf_xml(b, v);
	sbuf_printf(b, "</%s>", name);
}

int s3_list_objects(struct s3_req *q)
{
	int v2 = 0;
	char *lt = s3_query(q, "list-type");
	v2 = lt && strcmp(lt, "2") == 0;
	free(lt);
	char *prefix = s3_query(q, "prefix");
	char *delim = s3_query(q, "delimiter");
	char *maxs = s3_query(q, "max-keys");
	char *enc = s3_query(q, "encoding-type");
	char *token = v2 ? s3_query(q, "continuation-token") : NULL;
	char *after = s3_query(q, v2 ? "start-after" : "marker");
	char *marker = NULL;
	struct lister l = {.q = q, .prefix = prefix ? prefix : "", .delim = delim, .max = 1000};
	l.url = enc && strcmp(enc, "url") == 0;
	if (maxs) {
		char *end;
		l.max = strtol(maxs, &end, 10);
		if (*end || end == maxs || l.max < 0) {
			l.err = -EINVAL;
			s3_error(q, 400, "InvalidArgument", "max-keys must be a number >= 0");
			goto out;
		}
		if (l.max > 1000)
			l.max = 1000;
	}
	if (token && !(marker = hex_decode(token))) {
		s3_error(q, 400, "InvalidArgument", "The continuation token provided is incorrect");
		goto out;
	}
	if (!marker && after && *after)
		marker = xstrdup(after);
	l.marker = marker;
	struct sbuf dir = {0};
	key_path(&dir, q->gw->root, q->bucket, NULL);
	if (l.max > 0)
		walk(&l, q->bucket, dir.p, "", 0);
	free(dir.p);
	if (l.err) {
		s3_error_errno(q, l.err, "NoSuchBucket");
		goto out;
	}
	struct sbuf b = {0};
	sbuf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
		      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	add_elem(&l, &b, "Name", q->bucket, 0);
	add_elem(&l, &b, "Prefix", l.prefix, 1);
	if (v2) {
		sbuf_printf(&b, "<KeyCount>%ld</KeyCount>", l.count);
		add_elem(&l, &b, "ContinuationToken", token, 0);
		add_elem(&l, &b, "StartAfter", after, 1);
		if (l.truncated && l.next) {
			char *hex = xmalloc(2 * strlen(l.next) + 1);
			auth_hex((const unsigned char *)l.next, strlen(l.next), hex);
			add_elem(&l, &b, "NextContinuationToken", hex, 0);
			free(hex);
		}
	} else {
		add_elem(&l, &b, "Marker", after ? after : "", 1);
		if (l.truncated && delim)
			add_elem(&l, &b, "NextMarker", l.next, 1);
	}
	sbuf_printf(&b, "<MaxKeys>%ld</MaxKeys>", l.max);
	add_elem(&l, &b, "Delimiter", delim, 1);
	if (l.url)
		sbuf_adds(&b, "<EncodingType>url</EncodingType>");
	sbuf_printf(&b, "<IsTruncated>%s</IsTruncated>", l.truncated ? "true" : "false");
	if (l.contents.p)
		sbuf_add(&b, l.contents.p, l.contents.len);
	if (l.prefixes.p)
		sbuf_add(&b, l.prefixes.p, l.prefixes.len);
	sbuf_adds(&b, "</ListBucketResult>\n");
	s3_xml(q, &b);
	free(b.p);
out:
	free(l.contents.p);
	free(l.prefixes.p);
	free(l.last_cp);
	free(l.next);
	free(marker);
	free(prefix);
	free(delim);
	free(maxs);
	free(enc);
	free(token);
	free(after);
	return 0;
}
