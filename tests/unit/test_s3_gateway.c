/*
 * test_s3_gateway: cairn-s3's pure parts. Keys to paths against a
 * reference model (split at '/', join back: the mapping must be one-to-one
 * and never produce "", ".", ".." or an internal "%." name), bucket names,
 * HTTP parsing of a request with a chunked body, and SigV4 against the
 * example in AWS's documentation (GET /test.txt with a Range, 2013-05-24).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "s3.h"

/* Maps key to a path and back the way a listing does. */
static char *round_trip(const char *key, int *bad_name)
{
	struct sbuf b = {0};
	if (key_path(&b, "/s3", "bkt", key) < 0)
		return NULL;
	const char *prefix = "/s3/bkt/";
	CHECK(strncmp(b.p, prefix, strlen(prefix)) == 0);
	struct sbuf out = {0};
	char *save = NULL;
	int first = 1;
	for (char *seg = strtok_r(b.p + strlen(prefix), "/", &save); seg;
	     seg = strtok_r(NULL, "/", &save)) {
		if (!*seg || !strcmp(seg, ".") || !strcmp(seg, "..") || strlen(seg) > 255 * 3)
			*bad_name = 1;
		char *dec = key_segment_unescape(seg);
		if (!dec) {
			*bad_name = 1;
			continue;
		}
		if (!first)
			sbuf_adds(&out, "/");
		sbuf_adds(&out, dec);
		first = 0;
		free(dec);
	}
	free(b.p);
	if (!out.p)
		sbuf_adds(&out, "");
	return out.p;
}

static void test_keys(void)
{
	const char *fixed[] = {"a", "a/b", "a//b", "/lead", "trail/", "./x", "../x", "x/./y",
			       "%", "%25", "%.meta", "100%", "sp ace", "ü/é", "...", "a/../b"};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		int bad = 0;
		char *back = round_trip(fixed[i], &bad);
		CHECKF(back && strcmp(back, fixed[i]) == 0, "%s came back as %s", fixed[i],
		       back ? back : "(null)");
		CHECKF(!bad, "%s maps to a name that is not a plain one", fixed[i]);
		free(back);
	}
	unsigned seed = 7;
	const char alphabet[] = "/./%.ab%2E5";
	for (int n = 0; n < 20000; n++) {
		char key[24];
		int len = 1 + (int)(rand_r(&seed) % 20);
		for (int i = 0; i < len; i++)
			key[i] = rand_r(&seed) % 4 ? alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)]
						   : (char)(1 + rand_r(&seed) % 255);
		key[len] = '\0';
		int bad = 0;
		char *back = round_trip(key, &bad);
		CHECKF(back && strcmp(back, key) == 0 && !bad, "random key %d did not round-trip",
		       n);
		free(back);
	}
	struct sbuf b = {0};
	CHECK(key_path(&b, "/s3", "bkt", "") == -EINVAL);
	char big[1100];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(key_path(&b, "/s3", "bkt", big) == -EINVAL);
	free(b.p);
	CHECK(key_bucket_ok("photos") && key_bucket_ok("a.b-c") && key_bucket_ok("123"));
	CHECK(!key_bucket_ok("ab") && !key_bucket_ok("Photos") && !key_bucket_ok("-ab") &&
	      !key_bucket_ok("ab-") && !key_bucket_ok("a_b") && !key_bucket_ok("%.meta"));
}

/* Parses raw as one request over a socket pair. */
static int parse(const char *raw, struct http_conn *c, struct http_req *r)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(write(sv[1], raw, strlen(raw)) == (ssize_t)strlen(raw));
	close(sv[1]);
	http_conn_init(c, sv[0], NULL);
	return http_read_request(c, r);
}

static void test_http(void)
{
	struct http_conn *c = calloc(1, sizeof(*c));
	struct http_req r;
	CHECK(parse("PUT /b/k%20x?uploads&a=1 HTTP/1.1\r\nHost: h\r\nX-Amz-Meta-A:  v v \r\n"
		    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n"
		    "GET / HTTP/1.1\r\n\r\n",
		    c, &r) == 0);
	CHECK(strcmp(r.method, "PUT") == 0 && strcmp(r.path, "/b/k%20x") == 0);
	CHECK(strcmp(r.query, "uploads&a=1") == 0 && r.chunked && r.keepalive);
	CHECK(strcmp(http_header(&r, "x-amz-meta-a"), "v v") == 0);
	char *body = NULL;
	size_t len = 0;
	CHECK(http_body_all(c, &r, 100, &body, &len) == 0 && len == 5 && !memcmp(body, "abcde", 5));
	free(body);
	http_req_free(&r);
	CHECK(http_read_request(c, &r) == 0 && strcmp(r.method, "GET") == 0);
	http_req_free(&r);
	CHECK(http_read_request(c, &r) == -EPIPE);
	http_req_free(&r);
	http_conn_close(c);
	CHECK(parse("GET /\r\n\r\n", c, &r) == -EBADMSG);
	http_req_free(&r);
	http_conn_close(c);
	CHECK(parse("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", c, &r) == -EBADMSG);
	http_req_free(&r);
	http_conn_close(c);
	free(c);
	char *u = http_unescape("a%2Fb+c", 7, 1);
	CHECK(u && strcmp(u, "a/b c") == 0);
	free(u);
	CHECK(http_unescape("bad%2", 5, 0) == NULL);
	int64_t t;
	CHECK(http_parse_date("Fri, 24 May 2013 00:00:00 GMT", &t) == 0 && t == 1369353600);
	char d[30];
	http_date(t, d);
	CHECK(strcmp(d, "Fri, 24 May 2013 00:00:00 GMT") == 0);
}

static const char aws_example[] =
    "GET /test.txt HTTP/1.1\r\n"
    "Host: examplebucket.s3.amazonaws.com\r\n"
    "Authorization: AWS4-HMAC-SHA256 "
    "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
    "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
    "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n"
    "Range: bytes=0-9\r\n"
    "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n"
    "x-amz-date: 20130524T000000Z\r\n\r\n";

static int check_sig(struct s3_auth *a, const char *raw, int64_t now, struct auth_result *res)
{
	struct http_conn *c = calloc(1, sizeof(*c));
	struct http_req r;
	CHECK(parse(raw, c, &r) == 0);
	int rc = auth_check(a, &r, now, res);
	http_req_free(&r);
	http_conn_close(c);
	free(c);
	return rc;
}

static void test_sigv4(void)
{
	char path[] = "/tmp/test_s3_keysXXXXXX";
	int fd = mkstemp(path);
	const char *keys = "# keys\n\nAKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
	CHECK(fd >= 0 && write(fd, keys, strlen(keys)) == (ssize_t)strlen(keys));
	close(fd);
	struct s3_auth *a = NULL;
	char *cause = NULL;
	CHECK(auth_load(path, &a, &cause) == 0);
	unlink(path);
	const int64_t at = 1369353600; /* 2013-05-24T00:00:00Z */
	struct auth_result res;
	CHECK(check_sig(a, aws_example, at + 60, &res) == 0 && res.signed_request);
	CHECK(strcmp(res.payload_sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
					  "7852b855") == 0);
	CHECK(check_sig(a, aws_example, at + 3600, &res) == -EACCES &&
	      strcmp(res.error, "RequestTimeTooSkewed") == 0);
	char *tampered = strdup(aws_example);
	*strstr(tampered, "bytes=0-9") = 'B';
	CHECK(check_sig(a, tampered, at, &res) == -EACCES &&
	      strcmp(res.error, "SignatureDoesNotMatch") == 0);
	free(tampered);
	char *other = strdup(aws_example);
	memcpy(strstr(other, "AKIAIOSFODNN7EXAMPLE"), "AKIAIOSFODNN7EXAMPLX", 20);
	CHECK(check_sig(a, other, at, &res) == -EACCES &&
	      strcmp(res.error, "InvalidAccessKeyId") == 0);
	free(other);
	CHECK(check_sig(a, "GET /b/k HTTP/1.1\r\nHost: h\r\n\r\n", at, &res) == 0 &&
	      !res.signed_request);
	CHECK(check_sig(a, "GET /b/k HTTP/1.1\r\nAuthorization: AWS AK:sig\r\n\r\n", at, &res) ==
		  -EACCES &&
	      strcmp(res.error, "NotImplemented") == 0);
	auth_free(a);
	int bad = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(bad >= 0 && write(bad, "one-field\n", 10) == 10);
	close(bad);
	CHECK(auth_load(path, &a, &cause) == -EINVAL && strstr(cause, ":1:"));
	free(cause);
	unlink(path);
}

int main(void)
{
	test_keys();
	test_http();
	test_sigv4();
	if (failures)
		fprintf(stderr, "test_s3_gateway: %d failures\n", failures);
	return failures ? 1 : 0;
}
