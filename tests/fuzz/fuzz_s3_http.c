/*
 * fuzz_s3_http: what cairn-s3 reads from an unauthenticated client before
 * it touches the file system: request heads (gateway/s3_http.c
 * http_read_request()), bodies (Content-Length, chunked, aws-chunked
 * framing), the SigV4 check (gateway/s3_auth.c auth_check(), both the
 * header and the presigned-URL forms) and the XML of a
 * CompleteMultipartUpload body (s3_xml_next()).
 *
 * Input: one mode byte, then the bytes a client sends on one connection
 * (over a socketpair, whose other end is closed after them). Mode bit 0:
 * request bodies are read as aws-chunked. Each request is read, checked
 * and its body read whole, until the connection ends or breaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "s3.h"
#include "s3_auth.h"
#include "s3_http.h"

static struct s3_auth *keys;

static void load_keys(void)
{
	static const char text[] = "AKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n";
	char path[4096], *cause = NULL;
	fuzz_write(fuzz_dir(), "keys", text, sizeof(text) - 1);
	snprintf(path, sizeof(path), "%s/keys", fuzz_dir());
	if (auth_load(path, &keys, &cause) < 0) {
		fprintf(stderr, "keys: %s\n", cause ? cause : "?");
		abort();
	}
}

/* Reads r's body whole and looks for the parts of a multipart completion in it. */
static int read_body(struct http_conn *c, struct http_req *r)
{
	char *body = NULL;
	size_t len = 0;
	int rc = http_body_all(c, r, 1 << 16, &body, &len);
	if (rc < 0)
		return rc;
	const char *pos = NULL;
	char *part;
	while ((part = s3_xml_next(body, "Part", &pos))) {
		const char *in = NULL;
		free(s3_xml_next(part, "ETag", &in));
		free(part);
	}
	free(body);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!keys)
		load_keys();
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int sz = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (in.n && write(sv[0], in.p, in.n) != (ssize_t)in.n)
		abort();
	close(sv[0]);
	struct http_conn c;
	http_conn_init(&c, sv[1], NULL);
	for (int n = 0; n < 64; n++) {
		struct http_req r;
		memset(&r, 0, sizeof(r));
		int rc = http_read_request(&c, &r);
		if (rc == 0) {
			struct auth_result res;
			auth_check(keys, &r, 1700000000, &res);
			if (mode & 1)
				http_body_aws_chunked(&r);
			rc = read_body(&c, &r);
			if (rc == 0 && http_body_finish(&c, &r) < 0)
				rc = -1;
		}
		http_req_free(&r);
		if (rc < 0)
			break;
	}
	http_conn_close(&c);
	return 0;
}
