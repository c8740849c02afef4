/*
 * s3_http: a small HTTP/1.1 server side over one blocking socket (plain or
 * TLS), for cairn-s3's worker threads.
 *
 * Design: each connection is owned by one worker thread for its whole
 * life; requests on it are read one at a time (keep-alive, no pipelining
 * beyond what the read buffer holds). A request's head must fit in
 * HTTP_HEAD_MAX bytes; its body is never buffered whole: handlers pull it
 * through http_body_read() in pieces (Content-Length or chunked), so the
 * memory of a connection is its head buffer plus the handler's I/O buffer.
 * Invariant: after a response, the unread rest of a request body is read
 * and dropped (up to HTTP_DRAIN_MAX) or the connection is closed, so the
 * next request starts at a request line.
 */
#ifndef CAIRN_S3_HTTP_H
#define CAIRN_S3_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define HTTP_HEAD_MAX	 (32 * 1024) /* request line + headers */
#define HTTP_HEADERS_MAX 100
#define HTTP_DRAIN_MAX	 (1 << 20) /* unread body dropped to keep a connection */

/* A growing byte string. Zero-initialise; free p with free(). Daemon allocation (aborts on OOM). */
struct sbuf {
	char *p;
	size_t len, cap;
};
void sbuf_add(struct sbuf *b, const void *data, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s escaped for XML text and attribute values. */
void sbuf_xml(struct sbuf *b, const char *s);

struct http_header {
	char *name; /* lower case */
	char *value;
};

/* One connection; fields private to s3_http.c but for fd. */
struct http_conn {
	int fd;
	SSL *ssl; /* NULL: plain */
	char head[HTTP_HEAD_MAX];
	size_t len, off; /* bytes in head[], of which off are consumed */
};

struct http_req {
	char method[16];
	char *path;  /* raw path of the target (still %-encoded) */
	char *query; /* raw query (after '?'), "" if none */
	struct http_header hdr[HTTP_HEADERS_MAX];
	int nhdr;
	int keepalive;
	int expect_continue; /* a 100 Continue is owed before the body is read */
	int chunked;
	int chunk_started;
	/* aws-chunked framing inside the body (after any HTTP chunking) */
	int aws;
	int aws_started, aws_done;
	uint64_t aws_left;
	char aws_buf[256]; /* look-ahead for its framing lines */
	size_t aws_len, aws_off;
	uint64_t remaining; /* Content-Length still to read; chunked: of the current chunk */
	int body_done;
	uint64_t content_length; /* as declared (0 when chunked) */
	int has_length;
	char *scratch; /* the head's own copy: path, query and headers point into it */
	char id[24];   /* x-amz-request-id, set by the server */
};

/* Sets up c over fd (ssl may be NULL: plain; takes ownership of both). */
void http_conn_init(struct http_conn *c, int fd, SSL *ssl);
/* Closes the socket and frees the TLS state. */
void http_conn_close(struct http_conn *c);

/*
 * Reads the next request head into r. Returns 0, -EPIPE when the peer
 * closed (or went idle past the socket timeout) between requests, or
 * -EBADMSG for a malformed or oversized head (answer 400 and close).
 * Free r with http_req_free() either way.
 */
int http_read_request(struct http_conn *c, struct http_req *r);
void http_req_free(struct http_req *r);

/* The value of header name (lower case), or NULL. Borrowed; valid until http_req_free(). */
const char *http_header(const struct http_req *r, const char *name);

/*
 * Reads up to n bytes of r's body into buf. Returns the count, 0 at the
 * end of the body, or a negative error (-EPIPE: the peer went away,
 * -EBADMSG: bad chunked framing).
 */
ssize_t http_body_read(struct http_conn *c, struct http_req *r, void *buf, size_t n);

/*
 * Decodes aws-chunked framing ("SIZE[;ext]\r\nDATA\r\n ... 0\r\ntrailers\r\n\r\n")
 * inside r's body from now on: http_body_read() returns the payload only.
 */
void http_body_aws_chunked(struct http_req *r);

/* Reads the whole body into a new *out (NUL-terminated) if it is at most max bytes; -E2BIG else. */
int http_body_all(struct http_conn *c, struct http_req *r, size_t max, char **out, size_t *len);

/*
 * Drops what is left of r's body so the connection can carry another
 * request. Returns 0, or -1 if the connection must close instead.
 */
int http_body_finish(struct http_conn *c, struct http_req *r);

/* Writes all n bytes. Returns 0 or -EPIPE. more: more follows soon (plain sockets: MSG_MORE). */
int http_write(struct http_conn *c, const void *buf, size_t n, int more);

/*
 * Sends a status line, the common headers (Date, Server, request id,
 * Connection), the caller's headers (complete "Name: value\r\n" lines)
 * and Content-Length, then the body (may be NULL). head_only: HEAD, the
 * length is announced but no body sent. Returns 0 or -EPIPE.
 */
int http_respond(struct http_conn *c, struct http_req *r, int status, const struct sbuf *headers,
		 uint64_t length, const void *body, size_t body_len, int head_only, int more);

/* The reason phrase of an HTTP status. Borrowed, static. */
const char *http_reason(int status);

/* Decodes %XX escapes (and '+' when plus is set) of s[0..n) into a new string. NULL if malformed. */
char *http_unescape(const char *s, size_t n, int plus);

/* Appends s %-encoded as SigV4 wants: all but A-Za-z0-9-._~ (and '/' unless slash). */
void http_escape(struct sbuf *b, const char *s, int keep_slash);

/* Formats t (seconds since the epoch) as an RFC 7231 date into out[30]. */
void http_date(int64_t t, char out[30]);
/* Parses an RFC 7231 date. Returns 0 and *t, or -EINVAL. */
int http_parse_date(const char *s, int64_t *t);

#endif
