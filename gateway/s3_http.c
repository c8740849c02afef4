/*
 * s3_http: HTTP/1.1 requests and responses over one blocking socket.
 *
 * The connection's head[] buffer is its only input buffer: a request head
 * is read into it, copied out (the request keeps the copy, parsed in
 * place), and what followed the head stays in head[] as the start of the
 * body or of the next request. Large body reads go straight from the
 * socket into the caller's buffer once head[] is empty, so a PUT costs one
 * copy from the kernel. Invariant: head[off..len) are received bytes not
 * yet consumed; off <= len <= HTTP_HEAD_MAX.
 */
#include "s3_http.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static int body_droppable(const struct http_req *r);

void sbuf_add(struct sbuf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		sbuf_add(b, small, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sbuf_add(b, big, (size_t)n);
	free(big);
}

/* The characters XML text and attributes write as entities. */
static const struct {
	char ch;
	const char *entity;
} xml_entities[] = {
    {'&', "&amp;"}, {'<', "&lt;"}, {'>', "&gt;"}, {'"', "&quot;"}, {'\'', "&apos;"},
};

static const char *xml_entity(char ch)
{
	for (size_t i = 0; i < sizeof(xml_entities) / sizeof(xml_entities[0]); i++)
		if (xml_entities[i].ch == ch)
			return xml_entities[i].entity;
	return NULL;
}

void sbuf_xml(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		const char *entity = xml_entity(*s);
		if (entity)
			sbuf_adds(b, entity);
		else if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
			sbuf_printf(b, "&#x%x;", (unsigned char)*s);
		else
			sbuf_add(b, s, 1);
	}
}

void http_conn_init(struct http_conn *c, int fd, SSL *ssl)
{
	c->fd = fd;
	c->ssl = ssl;
	c->len = c->off = 0;
}

void http_conn_close(struct http_conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		/*
		 * Lingering close: a close with unread request bytes would send a
		 * reset that can destroy our response in flight, so stop writing,
		 * drop what still arrives (bounded in time and bytes), then close.
		 */
		shutdown(c->fd, SHUT_WR);
		struct timeval tv = {.tv_sec = 0, .tv_usec = 500000};
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		char sink[16384];
		size_t dropped = 0;
		ssize_t got;
		while (dropped < HTTP_DRAIN_MAX && (got = recv(c->fd, sink, sizeof(sink), 0)) > 0)
			dropped += (size_t)got;
		close(c->fd);
	}
	c->fd = -1;
}

/* One read from the peer. Returns the count, 0 at EOF, or -EPIPE. */
static ssize_t conn_recv(struct http_conn *c, void *buf, size_t n)
{
	if (n > INT32_MAX)
		n = INT32_MAX;
	if (c->ssl) {
		int got = SSL_read(c->ssl, buf, (int)n);
		return got > 0 ? got : (SSL_get_error(c->ssl, got) == SSL_ERROR_ZERO_RETURN ? 0 : -EPIPE);
	}
	for (;;) {
		ssize_t got = recv(c->fd, buf, n, 0);
		if (got >= 0)
			return got;
		if (errno != EINTR)
			return -EPIPE;
	}
}

int http_write(struct http_conn *c, const void *buf, size_t n, int more)
{
	const char *p = buf;
	while (n > 0) {
		size_t step = n > (1u << 30) ? (1u << 30) : n;
		ssize_t put;
		if (c->ssl) {
			int w = SSL_write(c->ssl, p, (int)step);
			put = w > 0 ? w : -1;
		} else {
			put = send(c->fd, p, step, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
			if (put < 0 && errno == EINTR)
				continue;
		}
		if (put <= 0)
			return -EPIPE;
		p += put;
		n -= (size_t)put;
	}
	return 0;
}

/* Reads more into head[] after compacting. Returns the count, 0 at EOF, -EPIPE, -E2BIG when full. */
static ssize_t conn_fill(struct http_conn *c)
{
	if (c->off > 0) {
		memmove(c->head, c->head + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof(c->head))
		return -E2BIG;
	ssize_t got = conn_recv(c, c->head + c->len, sizeof(c->head) - c->len);
	if (got > 0)
		c->len += (size_t)got;
	return got;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Parses the head in r->scratch (NUL-terminated, CRLF lines). Returns 0 or -EBADMSG. */
static int parse_head(struct http_req *r)
{
	char *save = NULL;
	char *line = strtok_r(r->scratch, "\n", &save);
	if (!line)
		return -EBADMSG;
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || (size_t)(sp1 - line) >= sizeof(r->method))
		return -EBADMSG;
	memcpy(r->method, line, (size_t)(sp1 - line));
	r->method[sp1 - line] = '\0';
	*sp2 = '\0';
	char *version = trim(sp2 + 1);
	if (strncmp(version, "HTTP/1.", 7) != 0)
		return -EBADMSG;
	r->keepalive = strcmp(version, "HTTP/1.0") != 0;
	r->path = sp1 + 1;
	char *q = strchr(r->path, '?');
	r->query = q ? q + 1 : "";
	if (q)
		*q = '\0';
	if (r->path[0] != '/')
		return -EBADMSG;
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		char *colon = strchr(line, ':');
		if (!colon || colon == line || r->nhdr == HTTP_HEADERS_MAX)
			return -EBADMSG;
		*colon = '\0';
		for (char *p = line; *p; p++) {
			if (*p == ' ' || *p == '\t')
				return -EBADMSG;
			*p = (char)tolower((unsigned char)*p);
		}
		r->hdr[r->nhdr].name = line;
		r->hdr[r->nhdr].value = trim(colon + 1);
		r->nhdr++;
	}
	const char *v = http_header(r, "connection");
	if (v && strcasecmp(v, "close") == 0)
		r->keepalive = 0;
	if (v && strcasecmp(v, "keep-alive") == 0)
		r->keepalive = 1;
	v = http_header(r, "expect");
	r->expect_continue = v && strcasecmp(v, "100-continue") == 0;
	v = http_header(r, "transfer-encoding");
	if (v) {
		if (strcasecmp(v, "chunked") != 0)
			return -EBADMSG;
		r->chunked = 1;
	}
	v = http_header(r, "content-length");
	if (v && !r->chunked) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(v, &end, 10);
		if (errno || end == v || *end || v[0] == '-')
			return -EBADMSG;
		r->content_length = r->remaining = n;
		r->has_length = 1;
	}
	r->body_done = !r->chunked && r->remaining == 0;
	return 0;
}

int http_read_request(struct http_conn *c, struct http_req *r)
{
	memset(r, 0, sizeof(*r));
	size_t scanned = c->off;
	for (;;) {
		char *end = NULL;
		for (size_t i = scanned; i + 3 < c->len; i++) {
			if (memcmp(c->head + i, "\r\n\r\n", 4) == 0) {
				end = c->head + i;
				break;
			}
		}
		if (end) {
			size_t n = (size_t)(end - (c->head + c->off));
			r->scratch = xmalloc(n + 1);
			memcpy(r->scratch, c->head + c->off, n);
			r->scratch[n] = '\0';
			c->off += n + 4;
			return parse_head(r);
		}
		size_t before = c->off;
		scanned = c->len > 3 ? c->len - 3 : 0;
		ssize_t got = conn_fill(c);
		scanned -= before - c->off; /* the fill moved the bytes down */
		if (got == -E2BIG)
			return -EBADMSG;
		if (got <= 0)
			return c->len - c->off == 0 ? -EPIPE : -EBADMSG;
		if (scanned > c->len)
			scanned = 0;
		if (scanned < c->off)
			scanned = c->off;
	}
}

void http_req_free(struct http_req *r)
{
	free(r->scratch);
	r->scratch = NULL;
}

const char *http_header(const struct http_req *r, const char *name)
{
	for (int i = 0; i < r->nhdr; i++)
		if (strcmp(r->hdr[i].name, name) == 0)
			return r->hdr[i].value;
	return NULL;
}

/* Reads up to n raw body bytes: the buffered ones first, then the socket. */
static ssize_t raw_read(struct http_conn *c, void *buf, size_t n)
{
	if (c->off < c->len) {
		size_t k = c->len - c->off < n ? c->len - c->off : n;
		memcpy(buf, c->head + c->off, k);
		c->off += k;
		return (ssize_t)k;
	}
	ssize_t got = conn_recv(c, buf, n);
	return got == 0 ? -EPIPE : got;
}

/* Reads one CRLF-terminated line of chunked framing into line[max]. */
static int read_line(struct http_conn *c, char *line, size_t max)
{
	for (;;) {
		char *nl = memchr(c->head + c->off, '\n', c->len - c->off);
		if (nl) {
			size_t n = (size_t)(nl - (c->head + c->off));
			if (n >= max)
				return -EBADMSG;
			memcpy(line, c->head + c->off, n);
			line[n] = '\0';
			if (n > 0 && line[n - 1] == '\r')
				line[n - 1] = '\0';
			c->off += n + 1;
			return 0;
		}
		if (c->len - c->off >= max)
			return -EBADMSG;
		ssize_t got = conn_fill(c);
		if (got <= 0)
			return got == 0 ? -EPIPE : (int)got;
	}
}

/* A chunk-size line (hex, maybe ";extensions") into *n. Returns 0 or -EBADMSG. */
static int chunk_size_line(const char *line, unsigned long long *n)
{
	char *end;
	errno = 0;
	*n = strtoull(line, &end, 16);
	return errno || end == line || (*end && *end != ';') ? -EBADMSG : 0;
}

/* Starts the next chunk of a chunked body: its size into r->remaining, or the end. */
static int next_chunk(struct http_conn *c, struct http_req *r, int first)
{
	char line[128];
	int rc;
	if (!first && ((rc = read_line(c, line, sizeof(line))) < 0 || line[0] != '\0'))
		return rc < 0 ? rc : -EBADMSG;
	unsigned long long n;
	if ((rc = read_line(c, line, sizeof(line))) < 0 || (rc = chunk_size_line(line, &n)) < 0)
		return rc;
	r->remaining = n;
	if (n == 0) {
		do { /* trailers, up to the empty line */
			if ((rc = read_line(c, line, sizeof(line))) < 0)
				return rc;
		} while (line[0] != '\0');
		r->body_done = 1;
	}
	return 0;
}

/* The body as framed by HTTP (Content-Length or chunked). */
static ssize_t body_read(struct http_conn *c, struct http_req *r, void *buf, size_t n)
{
	if (r->expect_continue) {
		r->expect_continue = 0;
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (http_write(c, cont, sizeof(cont) - 1, 0) < 0)
			return -EPIPE;
	}
	if (r->body_done || n == 0)
		return 0;
	if (r->chunked && r->remaining == 0) {
		int rc = next_chunk(c, r, !r->chunk_started);
		r->chunk_started = 1;
		if (rc < 0)
			return rc;
		if (r->body_done)
			return 0;
	}
	if (n > r->remaining)
		n = (size_t)r->remaining;
	ssize_t got = raw_read(c, buf, n);
	if (got < 0)
		return got;
	r->remaining -= (uint64_t)got;
	if (!r->chunked && r->remaining == 0)
		r->body_done = 1;
	return got;
}

void http_body_aws_chunked(struct http_req *r)
{
	r->aws = 1;
}

/* One line of aws-chunked framing into line[max]. Returns 0, or -EBADMSG, -EPIPE. */
static int aws_line(struct http_conn *c, struct http_req *r, char *line, size_t max)
{
	size_t k = 0;
	for (;;) {
		if (r->aws_off == r->aws_len) {
			ssize_t got = body_read(c, r, r->aws_buf, sizeof(r->aws_buf));
			if (got <= 0)
				return got == 0 ? -EBADMSG : (int)got;
			r->aws_len = (size_t)got;
			r->aws_off = 0;
		}
		char ch = r->aws_buf[r->aws_off++];
		if (ch == '\n') {
			if (k > 0 && line[k - 1] == '\r')
				k--;
			line[k] = '\0';
			return 0;
		}
		if (k + 1 >= max)
			return -EBADMSG;
		line[k++] = ch;
	}
}

/* Reads the next aws-chunked size line (and the trailers after the last). */
static int aws_next(struct http_conn *c, struct http_req *r)
{
	char line[512];
	int rc;
	if (r->aws_started && ((rc = aws_line(c, r, line, sizeof(line))) < 0 || line[0]))
		return rc < 0 ? rc : -EBADMSG;
	r->aws_started = 1;
	unsigned long long n;
	if ((rc = aws_line(c, r, line, sizeof(line))) < 0 || (rc = chunk_size_line(line, &n)) < 0)
		return rc;
	r->aws_left = n;
	if (n == 0) {
		do {
			if ((rc = aws_line(c, r, line, sizeof(line))) < 0)
				return rc == -EBADMSG ? 0 : rc; /* trailers may end with the body */
		} while (line[0]);
		r->aws_done = 1;
	}
	return 0;
}

ssize_t http_body_read(struct http_conn *c, struct http_req *r, void *buf, size_t n)
{
	if (!r->aws)
		return body_read(c, r, buf, n);
	if (r->aws_done || n == 0)
		return 0;
	if (r->aws_left == 0) {
		int rc = aws_next(c, r);
		if (rc < 0)
			return rc;
		if (r->aws_done)
			return 0;
	}
	if (n > r->aws_left)
		n = (size_t)r->aws_left;
	ssize_t got;
	if (r->aws_off < r->aws_len) {
		got = (ssize_t)(r->aws_len - r->aws_off < n ? r->aws_len - r->aws_off : n);
		memcpy(buf, r->aws_buf + r->aws_off, (size_t)got);
		r->aws_off += (size_t)got;
	} else {
		got = body_read(c, r, buf, n);
		if (got == 0)
			return -EPIPE;
		if (got < 0)
			return got;
	}
	r->aws_left -= (uint64_t)got;
	return got;
}

int http_body_all(struct http_conn *c, struct http_req *r, size_t max, char **out, size_t *len)
{
	struct sbuf b = {0};
	char tmp[16384];
	for (;;) {
		ssize_t got = http_body_read(c, r, tmp, sizeof(tmp));
		if (got < 0) {
			free(b.p);
			return (int)got;
		}
		if (got == 0)
			break;
		if (b.len + (size_t)got > max) {
			free(b.p);
			return -E2BIG;
		}
		sbuf_add(&b, tmp, (size_t)got);
	}
	if (!b.p)
		sbuf_add(&b, "", 0);
	*out = b.p;
	*len = b.len;
	return 0;
}

/*
 * Whether the unread rest of r's body can be read and dropped to keep the
 * connection: not when the client waits for a 100 Continue (it may never
 * send the body), nor when the rest is large or of unknown length.
 */
static int body_droppable(const struct http_req *r)
{
	if (r->aws)
		return r->aws_done && r->body_done;
	if (r->body_done)
		return 1;
	return !r->expect_continue && !r->chunked && r->remaining <= HTTP_DRAIN_MAX;
}

int http_body_finish(struct http_conn *c, struct http_req *r)
{
	if (!body_droppable(r))
		return -1;
	if (r->body_done)
		return 0;
	char tmp[16384];
	size_t dropped = 0;
	for (;;) {
		ssize_t got = body_read(c, r, tmp, sizeof(tmp));
		if (got < 0)
			return -1;
		if (got == 0)
			return 0;
		dropped += (size_t)got;
		if (dropped > HTTP_DRAIN_MAX)
			return -1;
	}
}

const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 416:
		return "Range Not Satisfiable";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

int http_respond(struct http_conn *c, struct http_req *r, int status, const struct sbuf *headers,
		 uint64_t length, const void *body, size_t body_len, int head_only, int more)
{
	char date[30];
	http_date(time(NULL), date);
	if (!body_droppable(r))
		r->keepalive = 0; /* said in this response, as RFC 7231 5.1.1 asks */
	struct sbuf b = {0};
	sbuf_printf(&b,
		    "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: cairn-s3\r\n"
		    "x-amz-request-id: %s\r\n%s",
		    status, http_reason(status), date, r->id[0] ? r->id : "0",
		    r->keepalive ? "" : "Connection: close\r\n");
	if (headers && headers->len)
		sbuf_add(&b, headers->p, headers->len);
	if (status != 304 && status != 204)
		sbuf_printf(&b, "Content-Length: %llu\r\n", (unsigned long long)length);
	sbuf_adds(&b, "\r\n");
	if (body && body_len && !head_only)
		sbuf_add(&b, body, body_len);
	int rc = http_write(c, b.p, b.len, more);
	free(b.p);
	return rc;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

char *http_unescape(const char *s, size_t n, int plus)
{
	char *out = xmalloc(n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			out[k++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (plus && s[i] == '+') {
			out[k++] = ' ';
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
	return out;
}

void http_escape(struct sbuf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
		    (keep_slash && *p == '/')) {
			sbuf_add(b, p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			sbuf_add(b, e, 3);
		}
	}
}

void http_date(int64_t t, char out[30])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int http_parse_date(const char *s, int64_t *t)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -EINVAL;
	*t = (int64_t)timegm(&tm);
	return 0;
}
