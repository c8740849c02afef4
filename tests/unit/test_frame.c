/*
 * test_frame: the frame codec. Round trips at payload sizes around the
 * 64 KiB CRC block, byte-by-byte arrival, back-to-back frames, and every
 * rejection: bad magic or version, over-limit lengths (refused from the 16
 * header bytes alone), header CRC, unparsable envelope, payload CRC count
 * and contents. Hand-built frames come from raw_frame(), a second,
 * independent writer of the DESIGN §3 layout.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "crc32c.h"
#include "errors.h"
#include "frame.h"

#include "check.h"

static unsigned char *pattern;
static const size_t pattern_len = (16u << 20) + 4096;

static void pattern_init(void)
{
	pattern = malloc(pattern_len);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < pattern_len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		pattern[i] = (unsigned char)x;
	}
}

/* A payload of len bytes from pattern + off, spread over many small chains. */
static struct evbuffer *payload_new(size_t off, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	size_t step = 1000;
	for (size_t done = 0; done < len; done += step, step = step * 3 % 70001 + 1) {
		size_t n = len - done < step ? len - done : step;
		evbuffer_add_reference(b, pattern + off + done, n, NULL, NULL);
	}
	return b;
}

static int payload_equal(struct evbuffer *b, size_t off, size_t len)
{
	if (len == 0)
		return b == NULL;
	if (!b || evbuffer_get_length(b) != len)
		return 0;
	return memcmp(evbuffer_pullup(b, -1), pattern + off, len) == 0;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Appends a hand-made frame; header fields as given. */
static void raw_frame(struct evbuffer *out, uint32_t magic, const void *env, uint32_t hlen,
		      uint32_t env_bytes, uint32_t plen, uint32_t crc, const void *payload,
		      size_t payload_bytes)
{
	unsigned char h[16];
	put_be32(h, magic);
	put_be32(h + 4, hlen);
	put_be32(h + 8, plen);
	put_be32(h + 12, crc);
	evbuffer_add(out, h, 16);
	if (env_bytes)
		evbuffer_add(out, env, env_bytes);
	if (payload_bytes)
		evbuffer_add(out, payload, payload_bytes);
}

static Cairn__StatReq stat_req = CAIRN__STAT_REQ__INIT;

static void env_init(Cairn__Envelope *e, uint64_t id, char *path)
{
	Cairn__Envelope init = CAIRN__ENVELOPE__INIT;
	*e = init;
	e->call_id = id;
	stat_req.path = path;
	e->body_case = CAIRN__ENVELOPE__BODY_STAT;
	e->stat = &stat_req;
}

static int decode(struct evbuffer *in, Cairn__Envelope **env, struct evbuffer **pl, char **cause)
{
	*cause = NULL;
	return frame_decode(in, env, pl, cause);
}

static void test_round_trip(void)
{
	/* The second 0 goes with a NULL payload buffer, the first with an empty one. */
	static const size_t sizes[] = {
	    0, 0, 1, 63, 65535, 65536, 65537, (1u << 20) + 5, FRAME_MAX_PAYLOAD};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i], off = i * 7;
		struct evbuffer *out = evbuffer_new(), *pl = payload_new(off, len);
		struct evbuffer *got_pl = NULL;
		Cairn__Envelope e, *got = NULL;
		char *cause = NULL;
		env_init(&e, 42 + i, "/some/path");
		int rc = frame_encode(out, &e, i == 1 ? NULL : pl);
		CHECKF(rc == 0, "encode %zu: %d", len, rc);
		CHECKF(e.n_payload_crc == 0 && e.payload_crc == NULL, "encode left CRCs in env");
		CHECKF(evbuffer_get_length(pl) == 0, "payload not moved");
		rc = decode(out, &got, &got_pl, &cause);
		CHECKF(rc == 1, "decode %zu: %d %s", len, rc, cause ? cause : "");
		if (rc == 1) {
			CHECKF(got->call_id == 42 + i, "call_id");
			CHECKF(got->body_case == CAIRN__ENVELOPE__BODY_STAT &&
				   strcmp(got->stat->path, "/some/path") == 0,
			       "body");
			CHECKF(got->n_payload_crc == (len + 65535) / 65536, "crc count");
			CHECKF(payload_equal(got_pl, off, len), "payload of %zu bytes differs",
			       len);
			CHECKF(evbuffer_get_length(out) == 0, "input not drained");
			cairn__envelope__free_unpacked(got, NULL);
		}
		if (got_pl)
			evbuffer_free(got_pl);
		free(cause);
		evbuffer_free(pl);
		evbuffer_free(out);
	}
}

static void test_byte_by_byte(void)
{
	struct evbuffer *whole = evbuffer_new(), *in = evbuffer_new();
	struct evbuffer *pl = payload_new(3, 70000), *got_pl = NULL;
	Cairn__Envelope e, *got = NULL;
	char *cause = NULL;
	env_init(&e, 7, "x");
	CHECKF(frame_encode(whole, &e, pl) == 0, "encode");
	size_t n = evbuffer_get_length(whole);
	const unsigned char *p = evbuffer_pullup(whole, -1);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		evbuffer_add(in, p + i, 1);
		rc = decode(in, &got, &got_pl, &cause);
		if (i + 1 < n) {
			if (rc != 0 || evbuffer_get_length(in) != i + 1) {
				CHECKF(0, "byte %zu of %zu: rc %d, %zu buffered", i, n, rc,
				       evbuffer_get_length(in));
				goto out;
			}
		}
	}
	CHECKF(rc == 1, "last byte: rc %d %s", rc, cause ? cause : "");
	CHECKF(rc != 1 || payload_equal(got_pl, 3, 70000), "payload");
out:
	if (got)
		cairn__envelope__free_unpacked(got, NULL);
	if (got_pl)
		evbuffer_free(got_pl);
	free(cause);
	evbuffer_free(pl);
	evbuffer_free(in);
	evbuffer_free(whole);
}

static void test_back_to_back(void)
{
	struct evbuffer *in = evbuffer_new();
	static const size_t sizes[] = {0, 10, 65536, 0, 100000, 1};
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	for (size_t i = 0; i < n; i++) {
		struct evbuffer *pl = payload_new(i, sizes[i]);
		Cairn__Envelope e;
		env_init(&e, 100 + i, "b");
		CHECKF(frame_encode(in, &e, pl) == 0, "encode %zu", i);
		evbuffer_free(pl);
	}
	/* A partial seventh frame after them must stay buffered. */
	evbuffer_add(in, "\x43\x52\x4e", 3);
	for (size_t i = 0; i < n; i++) {
		Cairn__Envelope *got = NULL;
		struct evbuffer *pl = NULL;
		char *cause = NULL;
		int rc = decode(in, &got, &pl, &cause);
		CHECKF(rc == 1, "frame %zu: %d %s", i, rc, cause ? cause : "");
		if (rc == 1) {
			CHECKF(got->call_id == 100 + i, "frame %zu call_id", i);
			CHECKF(payload_equal(pl, i, sizes[i]), "frame %zu payload", i);
			cairn__envelope__free_unpacked(got, NULL);
		}
		if (pl)
			evbuffer_free(pl);
		free(cause);
	}
	Cairn__Envelope *got = NULL;
	struct evbuffer *pl = NULL;
	char *cause = NULL;
	CHECKF(decode(in, &got, &pl, &cause) == 0 && evbuffer_get_length(in) == 3, "partial tail");
	evbuffer_free(in);
}

/* Decodes in and expects -CAIRN_EPROTO with a cause mentioning what. */
static void expect_bad(struct evbuffer *in, const char *name, const char *what)
{
	Cairn__Envelope *got = NULL;
	struct evbuffer *pl = NULL;
	char *cause = NULL;
	int rc = decode(in, &got, &pl, &cause);
	CHECKF(rc == -CAIRN_EPROTO, "%s: rc %d", name, rc);
	CHECKF(got == NULL && pl == NULL, "%s: outputs set on error", name);
	CHECKF(cause && strstr(cause, what), "%s: cause '%s' lacks '%s'", name,
	       cause ? cause : "(null)", what);
	if (got)
		cairn__envelope__free_unpacked(got, NULL);
	if (pl)
		evbuffer_free(pl);
	free(cause);
}

static void test_rejects_header(void)
{
	/* A valid ping envelope: call_id 1, body ping (field 17, empty). */
	static const unsigned char ping[] = {0x08, 0x01, 0x8a, 0x01, 0x00};
	uint32_t pcrc = crc32c(0, ping, sizeof(ping));
	uint32_t magic = FRAME_MAGIC | FRAME_VERSION;
	struct evbuffer *in = evbuffer_new();

	raw_frame(in, 0xdeadbe01u, ping, sizeof(ping), sizeof(ping), 0, pcrc, NULL, 0);
	expect_bad(in, "bad magic", "magic");
	evbuffer_drain(in, -1);
	raw_frame(in, FRAME_MAGIC | 9, ping, sizeof(ping), sizeof(ping), 0, pcrc, NULL, 0);
	expect_bad(in, "bad version", "version");
	evbuffer_drain(in, -1);

	/* Garbage is refused from its first byte, a bad version from its fourth. */
	evbuffer_add(in, "G", 1);
	expect_bad(in, "one garbage byte", "magic");
	evbuffer_drain(in, -1);
	evbuffer_add(in, "CRN\x07", 4);
	expect_bad(in, "version in a partial header", "version");
	evbuffer_drain(in, -1);

	/* Over-limit lengths are refused from the 16 header bytes alone. */
	raw_frame(in, magic, NULL, FRAME_MAX_ENVELOPE + 1, 0, 0, 0, NULL, 0);
	expect_bad(in, "envelope len", "envelope");
	CHECKF(evbuffer_get_length(in) == 16, "envelope len: input drained");
	evbuffer_drain(in, -1);
	raw_frame(in, magic, NULL, 0x7fffffffu, 0, 0, 0, NULL, 0);
	expect_bad(in, "envelope len 2G", "envelope");
	evbuffer_drain(in, -1);
	raw_frame(in, magic, NULL, sizeof(ping), 0, FRAME_MAX_PAYLOAD + 1, pcrc, NULL, 0);
	expect_bad(in, "payload len", "payload");
	CHECKF(evbuffer_get_length(in) == 16, "payload len: input drained");
	evbuffer_drain(in, -1);
	raw_frame(in, magic, NULL, sizeof(ping), 0, 0xffffffffu, pcrc, NULL, 0);
	expect_bad(in, "payload len 4G", "payload");
	evbuffer_drain(in, -1);

	raw_frame(in, magic, ping, sizeof(ping), sizeof(ping), 0, pcrc ^ 1, NULL, 0);
	expect_bad(in, "header crc", "CRC");
	evbuffer_drain(in, -1);

	static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	raw_frame(in, magic, junk, sizeof(junk), sizeof(junk), 0, crc32c(0, junk, sizeof(junk)),
		  NULL, 0);
	expect_bad(in, "garbage envelope", "parse");
	evbuffer_drain(in, -1);

	/* An empty envelope (header_len 0) is a valid, empty message. */
	raw_frame(in, magic, NULL, 0, 0, 0, 0, NULL, 0);
	Cairn__Envelope *got = NULL;
	struct evbuffer *pl = NULL;
	char *cause = NULL;
	CHECKF(decode(in, &got, &pl, &cause) == 1 && got && got->call_id == 0, "empty envelope");
	if (got)
		cairn__envelope__free_unpacked(got, NULL);
	free(cause);
	evbuffer_free(in);
}

/*
 * A string with a NUL byte, which unpacking would cut: a request comes
 * back as FRAME_NUL_STRING (to be answered EINVAL), a reply is a bad frame;
 * a NUL in bytes that are not a string (a varint, another field) is fine.
 */
static void test_nul_strings(void)
{
	Cairn__Envelope env = CAIRN__ENVELOPE__INIT;
	Cairn__MkdirReq mk = CAIRN__MKDIR_REQ__INIT;
	struct evbuffer *in = evbuffer_new();
	Cairn__Envelope *got;
	struct evbuffer *pl;
	char *cause;
	env.call_id = 256; /* a varint with a zero byte */
	env.body_case = CAIRN__ENVELOPE__BODY_MKDIR;
	env.mkdir = &mk;
	mk.path = "/a@b";
	CHECK(frame_encode(in, &env, NULL) == 0);
	unsigned char *p = evbuffer_pullup(in, -1);
	size_t len = evbuffer_get_length(in);
	unsigned char *at = memchr(p + FRAME_HEADER_SIZE, '@', len - FRAME_HEADER_SIZE);
	CHECK(at != NULL);
	*at = 0;
	uint32_t crc = crc32c(0, p + FRAME_HEADER_SIZE, len - FRAME_HEADER_SIZE);
	for (int k = 0; k < 4; k++)
		p[12 + k] = (unsigned char)(crc >> (24 - 8 * k));
	struct evbuffer *copy = evbuffer_new();
	evbuffer_add(copy, p, len);
	CHECKF(decode(in, &got, &pl, &cause) == FRAME_NUL_STRING && got &&
		   !strcmp(got->mkdir->path, "/a"),
	       "NUL in a request's path");
	if (got)
		cairn__envelope__free_unpacked(got, NULL);
	free(cause);

	/* The same as a reply (is_reply is field 2: appended, it parses the same). */
	unsigned char *q = evbuffer_pullup(copy, -1);
	evbuffer_drain(in, -1);
	static const unsigned char reply[] = {0x10, 0x01};
	uint32_t hlen = (uint32_t)(len - FRAME_HEADER_SIZE + sizeof(reply));
	unsigned char *body = malloc(hlen);
	memcpy(body, q + FRAME_HEADER_SIZE, len - FRAME_HEADER_SIZE);
	memcpy(body + len - FRAME_HEADER_SIZE, reply, sizeof(reply));
	raw_frame(in, FRAME_MAGIC | FRAME_VERSION, body, hlen, hlen, 0, crc32c(0, body, hlen), NULL,
		  0);
	expect_bad(in, "NUL in a reply's string", "NUL");
	free(body);
	evbuffer_free(copy);
	evbuffer_free(in);
}

static void test_rejects_payload(void)
{
	static const unsigned char ping[] = {0x08, 0x01, 0x8a, 0x01, 0x00};
	uint32_t magic = FRAME_MAGIC | FRAME_VERSION;
	struct evbuffer *in = evbuffer_new();

	/* A payload without CRCs. */
	raw_frame(in, magic, ping, sizeof(ping), sizeof(ping), 100, crc32c(0, ping, sizeof(ping)),
		  pattern, 100);
	expect_bad(in, "payload without crcs", "CRCs");
	evbuffer_drain(in, -1);

	/* Two CRCs for a one-block payload, via a caller-filled envelope. */
	Cairn__Envelope e;
	uint32_t two[2] = {crc32c(0, pattern, 100), 0};
	unsigned char buf[64];
	env_init(&e, 9, "p");
	e.n_payload_crc = 2;
	e.payload_crc = two;
	size_t hlen = cairn__envelope__pack(&e, buf);
	raw_frame(in, magic, buf, hlen, hlen, 100, crc32c(0, buf, hlen), pattern, 100);
	expect_bad(in, "crc count", "CRCs");
	evbuffer_drain(in, -1);

	/* CRCs but no payload. */
	e.n_payload_crc = 1;
	hlen = cairn__envelope__pack(&e, buf);
	raw_frame(in, magic, buf, hlen, hlen, 0, crc32c(0, buf, hlen), NULL, 0);
	expect_bad(in, "crc without payload", "CRCs");
	evbuffer_drain(in, -1);

	/* One flipped byte in the second block of a proper frame. */
	struct evbuffer *pl = payload_new(0, 200000), *frame = evbuffer_new();
	env_init(&e, 10, "f");
	CHECKF(frame_encode(frame, &e, pl) == 0, "encode");
	size_t n = evbuffer_get_length(frame);
	unsigned char *copy = malloc(n);
	evbuffer_remove(frame, copy, n);
	copy[n - 200000 + 70000] ^= 0x10;
	evbuffer_add(in, copy, n);
	expect_bad(in, "flipped payload byte", "block 1");
	free(copy);
	evbuffer_free(frame);
	evbuffer_free(pl);
	evbuffer_free(in);
}

static void test_encode_limits(void)
{
	struct evbuffer *out = evbuffer_new();
	struct evbuffer *big = payload_new(0, FRAME_MAX_PAYLOAD + 1);
	Cairn__Envelope e;
	env_init(&e, 1, "big");
	CHECKF(frame_encode(out, &e, big) == -E2BIG, "over-limit payload accepted");
	CHECKF(evbuffer_get_length(out) == 0, "output written on error");
	CHECKF(evbuffer_get_length(big) == FRAME_MAX_PAYLOAD + 1, "payload consumed on error");

	char *path = malloc(FRAME_MAX_ENVELOPE + 1);
	memset(path, 'a', FRAME_MAX_ENVELOPE);
	path[FRAME_MAX_ENVELOPE] = 0;
	env_init(&e, 1, path);
	CHECKF(frame_encode(out, &e, NULL) == -E2BIG, "over-limit envelope accepted");
	CHECKF(evbuffer_get_length(out) == 0, "output written on error");
	free(path);

	/* Caller-supplied CRCs are sent as given; a wrong count is refused. */
	struct evbuffer *pl = payload_new(5, 100);
	uint32_t crc = crc32c(0, pattern + 5, 100), two[2] = {crc, crc};
	env_init(&e, 2, "c");
	e.n_payload_crc = 2;
	e.payload_crc = two;
	CHECKF(frame_encode(out, &e, pl) == -EINVAL, "wrong CRC count accepted");
	e.n_payload_crc = 1;
	CHECKF(frame_encode(out, &e, NULL) == -EINVAL, "CRCs without payload accepted");
	CHECKF(frame_encode(out, &e, pl) == 0, "caller CRCs refused");
	Cairn__Envelope *got = NULL;
	struct evbuffer *got_pl = NULL;
	char *cause = NULL;
	CHECKF(decode(out, &got, &got_pl, &cause) == 1, "decode caller CRCs");
	if (got)
		cairn__envelope__free_unpacked(got, NULL);
	if (got_pl)
		evbuffer_free(got_pl);
	free(cause);
	evbuffer_free(pl);
	evbuffer_free(big);
	evbuffer_free(out);
}

int main(void)
{
	pattern_init();
	if (!pattern)
		return 1;
	test_round_trip();
	test_byte_by_byte();
	test_back_to_back();
	test_rejects_header();
	test_rejects_payload();
	test_nul_strings();
	test_encode_limits();
	free(pattern);
	if (failures) {
		fprintf(stderr, "test_frame: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_frame: ok\n");
	return 0;
}
