/*
 * s3_auth: AWS Signature Version 4 for cairn-s3, with access keys from a
 * file.
 *
 * Keys file (--keys): one key per line, "ACCESS_KEY_ID SECRET_ACCESS_KEY",
 * separated by spaces or tabs; blank lines and lines starting with '#' are
 * skipped. Every key may do everything (cairn users and permissions come
 * with the security issue).
 *
 * Both forms are checked: the Authorization header (AWS4-HMAC-SHA256,
 * with x-amz-date or Date within 15 minutes of the gateway's clock) and
 * presigned URLs (X-Amz-Algorithm ... X-Amz-Signature in the query,
 * valid until X-Amz-Date + X-Amz-Expires, at most 7 days). Any region is
 * accepted: the gateway has none of its own. The payload hash the client
 * signed (x-amz-content-sha256) is returned so the body can be checked
 * against it as it streams. Unsigned aws-chunked bodies
 * (STREAMING-UNSIGNED-PAYLOAD-TRAILER, newer SDKs over HTTPS) are taken;
 * SigV2 and signed streaming payloads (per-chunk signatures) are refused as
 * not implemented.
 */
#ifndef CAIRN_S3_AUTH_H
#define CAIRN_S3_AUTH_H

#include <stdint.h>

#include "s3_http.h"

struct s3_auth;

/* Loads a keys file. Returns 0 and a new *out (free with auth_free()), or -errno and a new *cause. */
int auth_load(const char *path, struct s3_auth **out, char **cause);
void auth_free(struct s3_auth *a);

/* What a request proved. */
struct auth_result {
	int signed_request;	     /* 1: a valid signature; 0: anonymous */
	char payload_sha256[65];     /* the hex hash the client signed for its body, or "" */
	const char *error;	     /* on refusal: the S3 error code */
	char message[160];	     /* on refusal: why */
};

/*
 * Checks r's signature against a's keys at time now (seconds). Returns 0
 * with *res filled (signed or anonymous: no credentials at all), or
 * -EACCES with res->error and res->message set. Any thread.
 */
int auth_check(const struct s3_auth *a, const struct http_req *r, int64_t now,
	       struct auth_result *res);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void auth_hex(const unsigned char *in, size_t n, char *out);

#endif
