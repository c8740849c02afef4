/*
 * s3_mpu: multipart uploads.
 *
 * An upload is a directory <bucket>/%.mp/<uploadId> (32 hex digits) with
 * an "info" file (lines "key: <hex of the key>", "initiated: <µs>", then
 * the headers kept with the object, as in a sidecar) and one file per
 * uploaded part, named "<number>.<md5 hex>": a part is written to a
 * temporary "t.<random>" there and renamed to that name, so a part is
 * whole or absent, and Complete finds the part a client names by its
 * number and ETag without a listing. A part uploaded twice leaves both
 * files; ListParts shows the newer.
 *
 * Complete checks the list (ascending numbers, every part present, all
 * but the last at least 5 MiB), then assembles the object in the bucket's
 * %.tmp by reading the parts in order and writing them once (cairn has no
 * call to join files, and parts arrive in parallel, so one file with one
 * writer cannot take them at their final offsets), and renames it into
 * place as any upload. The ETag is the MD5 of the parts' binary MD5s,
 * "-N". The upload directory is removed after the rename; a gateway killed
 * during Complete leaves the upload as it was (the client may retry).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "s3.h"
#include "util.h"

#define MPU_PART_MIN (5ull << 20)

/* Appends the upload's directory (uploadId checked: 32 hex digits). Returns 0 or -ENOENT. */
static int upload_dir(struct s3_req *q, const char *id, struct sbuf *b)
{
	if (!id || strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
		return -ENOENT;
	key_internal(b, q->gw->root, q->bucket, "mp", id);
	return 0;
}

/* Reads the info of upload id: key (new string) and headers. Returns 0 or a negative error. */
static int read_info(struct s3_req *q, const char *dir, char **key, struct sbuf *headers,
		     int64_t *initiated)
{
	struct sbuf path = {0};
	sbuf_printf(&path, "%s/info", dir);
	cairn_file_t *f;
	int rc = cairn_open(q->gw->c, path.p, CAIRN_O_RDONLY, 0, &f);
	free(path.p);
	if (rc < 0)
		return rc == -ENOTDIR ? -ENOENT : rc;
	char *text = xmalloc(S3_META_MAX + 1);
	ssize_t n = cairn_read(f, text, S3_META_MAX);
	cairn_close(f);
	if (n < 0) {
		free(text);
		return (int)n;
	}
	text[n] = '\0';
	*key = NULL;
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "key: ", 5) == 0) {
			size_t hl = strlen(line + 5) / 2;
			*key = xmalloc(hl + 1);
			for (size_t i = 0; i < hl; i++) {
				unsigned v = 0;
				sscanf(line + 5 + 2 * i, "%2x", &v);
				(*key)[i] = (char)v;
			}
			(*key)[hl] = '\0';
		} else if (strncmp(line, "initiated: ", 11) == 0) {
			if (initiated)
				*initiated = strtoll(line + 11, NULL, 10);
		} else if (*line && headers) {
			sbuf_printf(headers, "%s\r\n", line);
		}
		line = nl ? nl + 1 : line + strlen(line);
	}
	free(text);
	return *key ? 0 : -CAIRN_EINTERNAL;
}

/* Finds the upload named by ?uploadId for this key. 0, or an S3 error was sent and -1 returned. */
static int find_upload(struct s3_req *q, struct sbuf *dir, struct sbuf *headers)
{
	char *id = s3_query(q, "uploadId");
	int rc = upload_dir(q, id, dir);
	free(id);
	char *key = NULL;
	if (rc == 0)
		rc = read_info(q, dir->p, &key, headers, NULL);
	if (rc == 0 && strcmp(key, q->key) != 0)
		rc = -ENOENT;
	free(key);
	if (rc < 0) {
		s3_error_errno(q, rc, "NoSuchUpload");
		return -1;
	}
	return 0;
}

/* Whether the request's bucket does not exist. */
static int bucket_missing(struct s3_req *q)
{
	struct sbuf path = {0};
	struct cairn_stat st;
	key_path(&path, q->gw->root, q->bucket, NULL);
	int rc = cairn_stat(q->gw->c, path.p, &st);
	free(path.p);
	return rc == -ENOENT || (rc == 0 && st.type != CAIRN_DIR);
}

static void xml_head(struct sbuf *b, const char *root)
{
	sbuf_printf(b,
		    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%s "
		    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
		    root);
}

static void xml_elem(struct sbuf *b, const char *name, const char *v)
{
	sbuf_printf(b, "<%s>", name);
	sbuf_xml(b, v);
	sbuf_printf(b, "</%s>", name);
}

int s3_mpu_create(struct s3_req *q)
{
	struct sbuf headers = {0}, path = {0}, dir = {0}, text = {0};
	int rc;
	if (obj_meta_from_request(q, &headers) < 0) {
		rc = s3_error(q, 400, "MetadataTooLarge", "Your metadata headers exceed the maximum "
							  "allowed metadata size.");
		goto out;
	}
	if (key_path(&path, q->gw->root, q->bucket, q->key) < 0) {
		rc = s3_error(q, 400, "KeyTooLongError", "Your key is too long.");
		goto out;
	}
	unsigned char rnd[16];
	char id[33];
	RAND_bytes(rnd, sizeof(rnd));
	auth_hex(rnd, sizeof(rnd), id);
	key_internal(&dir, q->gw->root, q->bucket, "mp", NULL);
	struct cairn_stat st;
	char *bucket_dir = xasprintf("%s/%s", q->gw->root, q->bucket);
	rc = cairn_stat(q->gw->c, bucket_dir, &st);
	free(bucket_dir);
	if (rc == 0) {
		rc = cairn_mkdir(q->gw->c, dir.p, 0);
		rc = rc == -EEXIST ? 0 : rc;
	}
	sbuf_printf(&dir, "/%s", id);
	if (rc == 0)
		rc = cairn_mkdir(q->gw->c, dir.p, 0);
	char *hex = xmalloc(2 * strlen(q->key) + 1);
	auth_hex((const unsigned char *)q->key, strlen(q->key), hex);
	sbuf_printf(&text, "key: %s\ninitiated: %lld\n", hex, (long long)time_now_us());
	free(hex);
	for (const char *p = headers.p ? headers.p : ""; *p;) {
		const char *end = strstr(p, "\r\n");
		size_t len = end ? (size_t)(end - p) : strlen(p);
		sbuf_add(&text, p, len);
		sbuf_adds(&text, "\n");
		p += len + (end ? 2 : 0);
	}
	if (rc == 0) {
		struct sbuf info = {0};
		cairn_file_t *f;
		sbuf_printf(&info, "%s/info", dir.p);
		rc = cairn_open(q->gw->c, info.p, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_EXCL, 0,
				&f);
		free(info.p);
		if (rc == 0) {
			ssize_t n = cairn_write(f, text.p, text.len);
			rc = cairn_close(f);
			rc = n < 0 ? (int)n : rc;
		}
	}
	if (rc < 0) {
		rc = s3_error_errno(q, rc, "NoSuchBucket");
		goto out;
	}
	struct sbuf b = {0};
	xml_head(&b, "InitiateMultipartUploadResult");
	xml_elem(&b, "Bucket", q->bucket);
	xml_elem(&b, "Key", q->key);
	xml_elem(&b, "UploadId", id);
	sbuf_adds(&b, "</InitiateMultipartUploadResult>\n");
	rc = s3_xml(q, &b);
	free(b.p);
out:
	free(headers.p);
	free(path.p);
	free(dir.p);
	free(text.p);
	return rc;
}

int s3_mpu_upload_part(struct s3_req *q)
{
	char *num = s3_query(q, "partNumber");
	long n = num ? strtol(num, NULL, 10) : 0;
	free(num);
	if (n < 1 || n > S3_PARTS_MAX)
		return s3_error(q, 400, "InvalidArgument",
				"Part number must be an integer between 1 and 10000, inclusive");
	struct sbuf dir = {0};
	if (find_upload(q, &dir, NULL) < 0) {
		free(dir.p);
		return 0;
	}
	unsigned char rnd[8];
	char name[17];
	RAND_bytes(rnd, sizeof(rnd));
	auth_hex(rnd, sizeof(rnd), name);
	struct obj_upload u = {0};
	struct sbuf tmp = {0}, final = {0};
	sbuf_printf(&tmp, "%s/t.%s", dir.p, name);
	int rc = cairn_open(q->gw->c, tmp.p, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_EXCL, 0,
			    &u.f);
	if (rc < 0) {
		free(tmp.p);
		rc = s3_error_errno(q, rc, "NoSuchUpload");
		goto out;
	}
	u.tmp = tmp.p;
	if (obj_upload_body(q, &u) < 0) {
		obj_upload_abort(q, &u);
		goto out;
	}
	rc = cairn_close(u.f);
	u.f = NULL;
	char md5[33];
	auth_hex(u.md5, 16, md5);
	sbuf_printf(&final, "%s/%ld.%s", dir.p, n, md5);
	if (rc == 0)
		rc = cairn_rename(q->gw->c, u.tmp, final.p);
	if (rc < 0) {
		obj_upload_abort(q, &u);
		rc = s3_error_errno(q, rc, "NoSuchUpload");
		goto out;
	}
	free(u.tmp);
	struct sbuf h = {0};
	sbuf_printf(&h, "ETag: \"%s\"\r\n", md5);
	q->responded = 1;
	rc = http_respond(q->conn, q->http, 200, &h, 0, NULL, 0, 0, 0);
	free(h.p);
out:
	free(dir.p);
	free(final.p);
	return rc;
}

struct part {
	long number;
	char md5[33];
	uint64_t size;
	int64_t mtime_us;
};

/* Parses CompleteMultipartUpload's list. Returns the count or -1 (an S3 error was sent). */
static long parse_parts(struct s3_req *q, const char *xml, struct part **out)
{
	struct part *ps = NULL;
	long n = 0;
	const char *pos = NULL;
	char *part;
	while ((part = s3_xml_next(xml, "Part", &pos)) != NULL) {
		const char *ppos = NULL, *epos = NULL;
		char *num = s3_xml_next(part, "PartNumber", &ppos);
		char *etag = s3_xml_next(part, "ETag", &epos);
		free(part);
		const char *hex = etag ? etag + (etag[0] == '"') : "";
		long number = num ? strtol(num, NULL, 10) : 0;
		free(num);
		if (n == S3_PARTS_MAX || strspn(hex, "0123456789abcdef") != 32 || number < 1 ||
		    number > S3_PARTS_MAX) {
			free(etag);
			free(ps);
			s3_error(q, 400, "InvalidPart", "One or more of the specified parts could "
							"not be found.");
			return -1;
		}
		if (n > 0 && number <= ps[n - 1].number) {
			free(etag);
			free(ps);
			s3_error(q, 400, "InvalidPartOrder",
				 "The list of parts was not in ascending order.");
			return -1;
		}
		ps = xrealloc(ps, (size_t)(n + 1) * sizeof(*ps));
		ps[n].number = number;
		memcpy(ps[n].md5, hex, 32);
		ps[n].md5[32] = '\0';
		n++;
		free(etag);
	}
	if (n == 0) {
		s3_error(q, 400, "MalformedXML", "You must specify at least one part.");
		return -1;
	}
	*out = ps;
	return n;
}

/* Copies the listed parts into u, in order. Returns 0 or a negative error. */
static int assemble(struct s3_req *q, const char *dir, const struct part *ps, long n,
		    struct obj_upload *u)
{
	for (long i = 0; i < n; i++) {
		struct sbuf path = {0};
		cairn_file_t *f;
		sbuf_printf(&path, "%s/%ld.%s", dir, ps[i].number, ps[i].md5);
		int rc = cairn_open(q->gw->c, path.p, CAIRN_O_RDONLY, 0, &f);
		free(path.p);
		if (rc < 0)
			return rc;
		uint64_t before = u->size;
		rc = obj_copy_data(q, f, before + ps[i].size, u);
		cairn_close(f);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int s3_mpu_complete(struct s3_req *q)
{
	struct sbuf dir = {0}, headers = {0};
	char *xml = NULL;
	struct part *ps = NULL;
	struct obj_upload u = {0};
	size_t len;
	int rc = 0;
	if (find_upload(q, &dir, &headers) < 0)
		goto out;
	if (http_body_all(q->conn, q->http, S3_XML_MAX, &xml, &len) < 0) {
		q->close = 1;
		rc = s3_error(q, 400, "MalformedXML", "The XML you provided was not well-formed.");
		goto out;
	}
	long n = parse_parts(q, xml, &ps);
	if (n < 0)
		goto out;
	EVP_MD_CTX *md5 = EVP_MD_CTX_new();
	CAIRN_ASSERT(md5);
	EVP_DigestInit_ex(md5, EVP_md5(), NULL);
	for (long i = 0; i < n; i++) {
		struct sbuf path = {0};
		struct cairn_stat st;
		sbuf_printf(&path, "%s/%ld.%s", dir.p, ps[i].number, ps[i].md5);
		rc = cairn_stat(q->gw->c, path.p, &st);
		free(path.p);
		if (rc == 0 && i < n - 1 && st.size < MPU_PART_MIN)
			rc = -EFBIG;
		if (rc < 0)
			break;
		ps[i].size = st.size;
		unsigned char bin[16];
		for (int k = 0; k < 16; k++) {
			unsigned v;
			sscanf(ps[i].md5 + 2 * k, "%2x", &v);
			bin[k] = (unsigned char)v;
		}
		EVP_DigestUpdate(md5, bin, 16);
	}
	unsigned char sum[16];
	unsigned int sl = 16;
	EVP_DigestFinal_ex(md5, sum, &sl);
	EVP_MD_CTX_free(md5);
	if (rc == -EFBIG) {
		rc = s3_error(q, 400, "EntityTooSmall", "Your proposed upload is smaller than the "
							"minimum allowed object size.");
		goto out;
	}
	if (rc < 0) {
		rc = s3_error(q, 400, "InvalidPart",
			      "One or more of the specified parts could not be found.");
		goto out;
	}
	char etag[64]; /* "md5hex-N" with N up to 19 digits */
	etag[0] = '"';
	auth_hex(sum, 16, etag + 1);
	snprintf(etag + 33, sizeof(etag) - 33, "-%ld\"", n);
	if ((rc = obj_upload_begin(q, q->bucket, &u)) < 0 ||
	    (rc = assemble(q, dir.p, ps, n, &u)) < 0) {
		obj_upload_abort(q, &u);
		rc = s3_error_errno(q, rc, "NoSuchUpload");
		goto out;
	}
	if ((rc = obj_upload_commit(q, &u, q->bucket, q->key, etag, &headers)) < 0) {
		rc = s3_error_errno(q, rc, "NoSuchBucket");
		goto out;
	}
	cairn_remove(q->gw->c, dir.p, 1);
	struct sbuf b = {0};
	xml_head(&b, "CompleteMultipartUploadResult");
	sbuf_printf(&b, "<Location>/%s/", q->bucket);
	sbuf_xml(&b, q->key);
	sbuf_adds(&b, "</Location>");
	xml_elem(&b, "Bucket", q->bucket);
	xml_elem(&b, "Key", q->key);
	xml_elem(&b, "ETag", etag);
	sbuf_adds(&b, "</CompleteMultipartUploadResult>\n");
	rc = s3_xml(q, &b);
	free(b.p);
out:
	free(ps);
	free(xml);
	free(dir.p);
	free(headers.p);
	return rc;
}

int s3_mpu_abort(struct s3_req *q)
{
	struct sbuf dir = {0};
	int rc = 0;
	if (find_upload(q, &dir, NULL) == 0) {
		rc = cairn_remove(q->gw->c, dir.p, 1);
		rc = rc < 0 ? s3_error_errno(q, rc, "NoSuchUpload")
			    : http_respond(q->conn, q->http, 204, NULL, 0, NULL, 0, 0, 0);
		q->responded = 1;
	}
	free(dir.p);
	return rc;
}

static int part_cmp(const void *a, const void *b)
{
	const struct part *x = a, *y = b;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return x->mtime_us < y->mtime_us ? -1 : x->mtime_us > y->mtime_us;
}

int s3_mpu_list_parts(struct s3_req *q)
{
	struct sbuf dir = {0};
	if (find_upload(q, &dir, NULL) < 0) {
		free(dir.p);
		return 0;
	}
	char *marker_s = s3_query(q, "part-number-marker");
	char *max_s = s3_query(q, "max-parts");
	long marker = marker_s ? strtol(marker_s, NULL, 10) : 0;
	long max = max_s ? strtol(max_s, NULL, 10) : 1000;
	free(marker_s);
	free(max_s);
	if (max <= 0 || max > 1000)
		max = 1000;
	cairn_dir_t *d;
	struct part *ps = NULL;
	size_t n = 0;
	int rc = cairn_opendir(q->gw->c, dir.p, &d);
	struct cairn_dirent e;
	while (rc == 0 && cairn_readdir_next(d, &e) > 0) {
		char *dot = strchr(e.name, '.');
		if (!dot || e.name[0] == 't' || strlen(dot + 1) != 32)
			continue;
		ps = xrealloc(ps, (n + 1) * sizeof(*ps));
		ps[n].number = strtol(e.name, NULL, 10);
		snprintf(ps[n].md5, sizeof(ps[n].md5), "%s", dot + 1);
		ps[n].size = e.st.size;
		ps[n].mtime_us = e.st.mtime_us;
		n++;
	}
	if (rc == 0)
		cairn_closedir(d);
	if (ps)
		qsort(ps, n, sizeof(*ps), part_cmp);
	struct sbuf b = {0};
	xml_head(&b, "ListPartsResult");
	xml_elem(&b, "Bucket", q->bucket);
	xml_elem(&b, "Key", q->key);
	xml_elem(&b, "UploadId", strrchr(dir.p, '/') + 1);
	sbuf_printf(&b, "<PartNumberMarker>%ld</PartNumberMarker><MaxParts>%ld</MaxParts>", marker,
		    max);
	long count = 0, last = marker;
	int truncated = 0;
	for (size_t i = 0; i < n; i++) {
		if (ps[i].number <= marker || (i + 1 < n && ps[i + 1].number == ps[i].number))
			continue; /* before the marker, or an older upload of the same part */
		if (count == max) {
			truncated = 1;
			break;
		}
		char t[32];
		s3_iso_time(ps[i].mtime_us, t);
		sbuf_printf(&b,
			    "<Part><PartNumber>%ld</PartNumber><LastModified>%s</LastModified>"
			    "<ETag>&quot;%s&quot;</ETag><Size>%llu</Size></Part>",
			    ps[i].number, t, ps[i].md5, (unsigned long long)ps[i].size);
		last = ps[i].number;
		count++;
	}
	sbuf_printf(&b, "<NextPartNumberMarker>%ld</NextPartNumberMarker>", last);
	sbuf_printf(&b, "<IsTruncated>%s</IsTruncated></ListPartsResult>\n",
		    truncated ? "true" : "false");
	rc = rc < 0 ? s3_error_errno(q, rc, "NoSuchUpload") : s3_xml(q, &b);
	free(b.p);
	free(ps);
	free(dir.p);
	return rc;
}

int s3_mpu_list_uploads(struct s3_req *q)
{
	struct sbuf dir = {0};
	char *prefix = s3_query(q, "prefix");
	key_internal(&dir, q->gw->root, q->bucket, "mp", NULL);
	struct sbuf b = {0};
	xml_head(&b, "ListMultipartUploadsResult");
	xml_elem(&b, "Bucket", q->bucket);
	xml_elem(&b, "KeyMarker", "");
	xml_elem(&b, "UploadIdMarker", "");
	cairn_dir_t *d;
	int rc = cairn_opendir(q->gw->c, dir.p, &d);
	struct cairn_dirent e;
	long count = 0;
	while (rc == 0 && cairn_readdir_next(d, &e) > 0 && count < 1000) {
		struct sbuf one = {0};
		char *key = NULL;
		int64_t init = 0;
		sbuf_printf(&one, "%s/%s", dir.p, e.name);
		if (read_info(q, one.p, &key, NULL, &init) == 0 &&
		    (!prefix || strncmp(key, prefix, strlen(prefix)) == 0)) {
			char t[32];
			s3_iso_time(init, t);
			sbuf_adds(&b, "<Upload>");
			xml_elem(&b, "Key", key);
			xml_elem(&b, "UploadId", e.name);
			sbuf_printf(&b, "<Initiated>%s</Initiated><StorageClass>STANDARD"
					"</StorageClass></Upload>",
				    t);
			count++;
		}
		free(key);
		free(one.p);
	}
	if (rc == 0)
		cairn_closedir(d);
	sbuf_printf(&b, "<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>"
			"</ListMultipartUploadsResult>\n");
	if (rc == -ENOENT && bucket_missing(q))
		rc = s3_error_errno(q, rc, "NoSuchBucket");
	else
		rc = s3_xml(q, &b);
	free(b.p);
	free(dir.p);
	free(prefix);
	return rc;
}
