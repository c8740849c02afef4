/*
 * s3_auth: SigV4 verification (see s3_auth.h for what is accepted).
 *
 * The canonical request is rebuilt from what arrived: the path decoded and
 * re-encoded the SigV4 way (S3 does not normalise it), the query decoded,
 * re-encoded and sorted (without X-Amz-Signature when presigned), the
 * signed headers in lower case with values trimmed and inner runs of
 * spaces folded, then the payload hash. Signatures are compared in
 * constant time.
 */
#include "s3_auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "util.h"

#define AUTH_SKEW_S	 (15 * 60)
#define AUTH_PRESIGN_MAX (7 * 24 * 3600)

struct auth_key {
	char *id;
	char *secret;
};

struct s3_auth {
	struct auth_key *keys;
	size_t nkeys;
};

int auth_load(const char *path, struct s3_auth **out, char **cause)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int err = errno;
		*cause = xasprintf("cannot read keys file %s: %s", path, strerror(err));
		return -err;
	}
	struct s3_auth *a = xcalloc(1, sizeof(*a));
	char line[1024];
	int lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *save = NULL;
		char *id = strtok_r(line, " \t\r\n", &save);
		if (!id || id[0] == '#')
			continue;
		char *secret = strtok_r(NULL, " \t\r\n", &save);
		if (!secret || strtok_r(NULL, " \t\r\n", &save)) {
			*cause = xasprintf("%s:%d: expected \"ACCESS_KEY_ID SECRET_ACCESS_KEY\"",
					   path, lineno);
			fclose(f);
			auth_free(a);
			return -EINVAL;
		}
		a->keys = xrealloc(a->keys, (a->nkeys + 1) * sizeof(*a->keys));
		a->keys[a->nkeys].id = xstrdup(id);
		a->keys[a->nkeys].secret = xstrdup(secret);
		a->nkeys++;
	}
	fclose(f);
	*out = a;
	return 0;
}

void auth_free(struct s3_auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nkeys; i++) {
		free(a->keys[i].id);
		OPENSSL_cleanse(a->keys[i].secret, strlen(a->keys[i].secret));
		free(a->keys[i].secret);
	}
	free(a->keys);
	free(a);
}

void auth_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int refuse(struct auth_result *res, const char *code, const char *msg)
{
	res->error = code;
	snprintf(res->message, sizeof(res->message), "%s", msg);
	return -EACCES;
}

struct qparam {
	char *k, *v; /* canonically encoded */
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

static char *encode(const char *s)
{
	struct sbuf b = {0};
	http_escape(&b, s, 0);
	if (!b.p)
		sbuf_adds(&b, "");
	return b.p;
}

/* Appends the canonical query of r to b, leaving out X-Amz-Signature. Returns 0 or -EINVAL. */
static int canonical_query(const struct http_req *r, struct sbuf *b)
{
	struct qparam *ps = NULL;
	size_t n = 0;
	int rc = 0;
	const char *q = r->query;
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		size_t klen = eq ? (size_t)(eq - q) : len;
		char *k = http_unescape(q, klen, 0);
		char *v = eq ? http_unescape(eq + 1, len - klen - 1, 0) : xstrdup("");
		if (!k || !v) {
			free(k);
			free(v);
			rc = -EINVAL;
			break;
		}
		if (len > 0 && strcmp(k, "X-Amz-Signature") != 0) {
			ps = xrealloc(ps, (n + 1) * sizeof(*ps));
			ps[n].k = encode(k);
			ps[n].v = encode(v);
			n++;
		}
		free(k);
		free(v);
		q += len + (amp ? 1 : 0);
	}
	if (n)
		qsort(ps, n, sizeof(*ps), qparam_cmp);
	for (size_t i = 0; i < n; i++) {
		sbuf_printf(b, "%s%s=%s", i ? "&" : "", ps[i].k, ps[i].v);
		free(ps[i].k);
		free(ps[i].v);
	}
	free(ps);
	return rc;
}

/* Appends "name:value\n" for each signed header (names ';'-separated). Returns 0 or -EINVAL. */
static int canonical_headers(const struct http_req *r, const char *signed_headers,
			     struct sbuf *b)
{
	char *names = xstrdup(signed_headers);
	char *save = NULL;
	int rc = 0;
	int host_seen = 0;
	for (char *n = strtok_r(names, ";", &save); n; n = strtok_r(NULL, ";", &save)) {
		int found = 0;
		sbuf_printf(b, "%s:", n);
		host_seen |= strcmp(n, "host") == 0;
		for (int i = 0; i < r->nhdr; i++) {
			if (strcmp(r->hdr[i].name, n) != 0)
				continue;
			if (found++)
				sbuf_adds(b, ",");
			int space = 0;
			for (const char *p = r->hdr[i].value; *p; p++) {
				if (*p == ' ' || *p == '\t') {
					space = 1;
					continue;
				}
				if (space)
					sbuf_adds(b, " ");
				space = 0;
				sbuf_add(b, p, 1);
			}
		}
		if (!found)
			rc = -EINVAL;
		sbuf_adds(b, "\n");
	}
	free(names);
	return rc == 0 && host_seen ? 0 : -EINVAL;
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

struct sig_input {
	const char *key_id;
	const char *date;  /* yyyymmdd */
	const char *scope; /* date/region/service/aws4_request */
	const char *region;
	const char *service;
	const char *amz_date; /* yyyymmddThhmmssZ */
	const char *signed_headers;
	const char *payload; /* hash as signed */
	const char *signature;
};

/* Verifies one signature. Returns 0 or -EACCES with res filled. */
static int verify(const struct s3_auth *a, const struct http_req *r, const struct sig_input *in,
		  struct auth_result *res)
{
	const struct auth_key *key = NULL;
	for (size_t i = 0; i < a->nkeys; i++)
		if (strcmp(a->keys[i].id, in->key_id) == 0)
			key = &a->keys[i];
	if (!key)
		return refuse(res, "InvalidAccessKeyId",
			      "The AWS access key Id you provided does not exist in our records.");
	struct sbuf creq = {0};
	sbuf_printf(&creq, "%s\n", r->method);
	char *path = http_unescape(r->path, strlen(r->path), 0);
	if (!path)
		return refuse(res, "AuthorizationHeaderMalformed", "malformed path");
	http_escape(&creq, path, 1);
	free(path);
	sbuf_adds(&creq, "\n");
	int rc = canonical_query(r, &creq);
	sbuf_adds(&creq, "\n");
	if (rc == 0)
		rc = canonical_headers(r, in->signed_headers, &creq);
	sbuf_printf(&creq, "\n%s\n%s", in->signed_headers, in->payload);
	if (rc < 0) {
		free(creq.p);
		return refuse(res, "AuthorizationHeaderMalformed",
			      "a signed header (or host) is missing, or the query is malformed");
	}
	unsigned char digest[32];
	char hexd[65];
	SHA256((const unsigned char *)creq.p, creq.len, digest);
	free(creq.p);
	auth_hex(digest, 32, hexd);
	struct sbuf sts = {0};
	sbuf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", in->amz_date, in->scope, hexd);
	struct sbuf k0 = {0};
	sbuf_printf(&k0, "AWS4%s", key->secret);
	unsigned char k[32];
	hmac(k0.p, k0.len, in->date, k);
	OPENSSL_cleanse(k0.p, k0.len);
	free(k0.p);
	hmac(k, 32, in->region, k);
	hmac(k, 32, in->service, k);
	hmac(k, 32, "aws4_request", k);
	hmac(k, 32, sts.p, digest);
	free(sts.p);
	auth_hex(digest, 32, hexd);
	if (strlen(in->signature) != 64 || CRYPTO_memcmp(hexd, in->signature, 64) != 0)
		return refuse(res, "SignatureDoesNotMatch",
			      "The request signature we calculated does not match the signature "
			      "you provided.");
	res->signed_request = 1;
	return 0;
}

/* Splits "AKID/yyyymmdd/region/service/aws4_request" in place into in. */
static int split_credential(char *cred, struct sig_input *in)
{
	char *parts[5];
	char *save = NULL;
	char *scope = strchr(cred, '/');
	if (!scope)
		return -EINVAL;
	int n = 0;
	for (char *p = strtok_r(cred, "/", &save); p && n < 5; p = strtok_r(NULL, "/", &save))
		parts[n++] = p;
	if (n != 5 || strtok_r(NULL, "/", &save) || strcmp(parts[4], "aws4_request") != 0 ||
	    strlen(parts[1]) != 8)
		return -EINVAL;
	in->key_id = parts[0];
	in->date = parts[1];
	in->region = parts[2];
	in->service = parts[3];
	return 0;
}

/* Parses "yyyymmddThhmmssZ" into seconds. */
static int parse_amz_date(const char *s, int64_t *t)
{
	struct tm tm = {0};
	const char *end = s ? strptime(s, "%Y%m%dT%H%M%SZ", &tm) : NULL;
	if (!end || *end)
		return -EINVAL;
	*t = (int64_t)timegm(&tm);
	return 0;
}

/* Looks up a query parameter's raw value into a new string (decoded), or NULL. */
static char *query_param(const struct http_req *r, const char *name)
{
	size_t nlen = strlen(name);
	const char *q = r->query;
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		if (len > nlen && strncmp(q, name, nlen) == 0 && q[nlen] == '=')
			return http_unescape(q + nlen + 1, len - nlen - 1, 0);
		q += len + (amp ? 1 : 0);
	}
	return NULL;
}

static int check_presigned(const struct s3_auth *a, const struct http_req *r, int64_t now,
			   struct auth_result *res)
{
	char *alg = query_param(r, "X-Amz-Algorithm");
	char *cred = query_param(r, "X-Amz-Credential");
	char *date = query_param(r, "X-Amz-Date");
	char *expires = query_param(r, "X-Amz-Expires");
	char *sh = query_param(r, "X-Amz-SignedHeaders");
	char *sig = query_param(r, "X-Amz-Signature");
	struct sig_input in = {0};
	int64_t t = 0;
	long exp = expires ? strtol(expires, NULL, 10) : -1;
	int rc;
	char scope[256];
	if (!alg || strcmp(alg, "AWS4-HMAC-SHA256") != 0 || !cred || !sh || !sig ||
	    parse_amz_date(date, &t) < 0 || exp < 0 || exp > AUTH_PRESIGN_MAX) {
		rc = refuse(res, "AuthorizationQueryParametersError",
			    "X-Amz-Algorithm, -Credential, -Date, -Expires (at most 7 days), "
			    "-SignedHeaders and -Signature are required");
		goto out;
	}
	snprintf(scope, sizeof(scope), "%s", strchr(cred, '/') ? strchr(cred, '/') + 1 : "");
	if (split_credential(cred, &in) < 0) {
		rc = refuse(res, "AuthorizationQueryParametersError", "malformed X-Amz-Credential");
		goto out;
	}
	if (now > t + exp || t > now + AUTH_SKEW_S) {
		rc = refuse(res, "AccessDenied", "Request has expired");
		goto out;
	}
	in.scope = scope;
	in.amz_date = date;
	in.signed_headers = sh;
	in.payload = "UNSIGNED-PAYLOAD";
	in.signature = sig;
	rc = verify(a, r, &in, res);
out:
	free(alg);
	free(cred);
	free(date);
	free(expires);
	free(sh);
	free(sig);
	return rc;
}

/* Finds "name=" in an Authorization header's comma-separated list; a new string or NULL. */
static char *auth_field(const char *h, const char *name)
{
	size_t nlen = strlen(name);
	for (const char *p = h; (p = strstr(p, name)) != NULL; p++) {
		if ((p == h || p[-1] == ' ' || p[-1] == ',') && p[nlen] == '=') {
			const char *v = p + nlen + 1;
			size_t len = strcspn(v, ", ");
			char *out = xmalloc(len + 1);
			memcpy(out, v, len);
			out[len] = '\0';
			return out;
		}
	}
	return NULL;
}

static int check_header(const struct s3_auth *a, const struct http_req *r, const char *h,
			int64_t now, struct auth_result *res)
{
	if (strncmp(h, "AWS4-HMAC-SHA256 ", 17) != 0)
		return refuse(res, "NotImplemented",
			      "only AWS Signature Version 4 (AWS4-HMAC-SHA256) is supported");
	char *cred = auth_field(h + 17, "Credential");
	char *sh = auth_field(h + 17, "SignedHeaders");
	char *sig = auth_field(h + 17, "Signature");
	const char *date = http_header(r, "x-amz-date");
	const char *payload = http_header(r, "x-amz-content-sha256");
	struct sig_input in = {0};
	char scope[256];
	char amz_date[32];
	int64_t t = 0;
	int rc;
	if (!cred || !sh || !sig || !payload) {
		rc = refuse(res, "AuthorizationHeaderMalformed",
			    "Credential, SignedHeaders, Signature and x-amz-content-sha256 are "
			    "required");
		goto out;
	}
	if (date && parse_amz_date(date, &t) == 0) {
		snprintf(amz_date, sizeof(amz_date), "%s", date);
	} else if ((date = http_header(r, "date")) && http_parse_date(date, &t) == 0) {
		struct tm tm;
		time_t tt = (time_t)t;
		gmtime_r(&tt, &tm);
		strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
	} else {
		rc = refuse(res, "AccessDenied", "AWS authentication requires a valid Date or "
						 "x-amz-date header");
		goto out;
	}
	if (t < now - AUTH_SKEW_S || t > now + AUTH_SKEW_S) {
		rc = refuse(res, "RequestTimeTooSkewed",
			    "The difference between the request time and the current time is too "
			    "large.");
		goto out;
	}
	snprintf(scope, sizeof(scope), "%s", strchr(cred, '/') ? strchr(cred, '/') + 1 : "");
	if (split_credential(cred, &in) < 0) {
		rc = refuse(res, "AuthorizationHeaderMalformed", "malformed Credential");
		goto out;
	}
	if (strncmp(payload, "STREAMING-", 10) == 0 &&
	    strcmp(payload, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") != 0) {
		rc = refuse(res, "NotImplemented",
			    "signed streaming (aws-chunked) payloads are not supported; "
			    "unsigned ones are");
		goto out;
	}
	in.scope = scope;
	in.amz_date = amz_date;
	in.signed_headers = sh;
	in.payload = payload;
	in.signature = sig;
	rc = verify(a, r, &in, res);
	if (rc == 0 && strlen(payload) == 64)
		snprintf(res->payload_sha256, sizeof(res->payload_sha256), "%s", payload);
out:
	free(cred);
	free(sh);
	free(sig);
	return rc;
}

int auth_check(const struct s3_auth *a, const struct http_req *r, int64_t now,
	       struct auth_result *res)
{
	memset(res, 0, sizeof(*res));
	const char *h = http_header(r, "authorization");
	if (h)
		return check_header(a, r, h, now, res);
	if (strstr(r->query, "X-Amz-Signature=") || strstr(r->query, "X-Amz-Credential="))
		return check_presigned(a, r, now, res);
	if (strstr(r->query, "Signature=") && strstr(r->query, "AWSAccessKeyId="))
		return refuse(res, "NotImplemented",
			      "only AWS Signature Version 4 presigned URLs are supported");
	return 0;
}
