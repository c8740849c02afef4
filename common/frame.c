/*
 * frame: encodes and decodes cairn frames (DESIGN §3) on evbuffers.
 *
 * Decoding reads the 16-byte header with evbuffer_copyout() and rejects a
 * bad magic, version or length from those bytes alone (a bad magic from
 * the first byte that differs), before anything is allocated or pulled up. Only once the whole
 * frame is buffered does it linearize header and envelope (at most FRAME_MAX_ENVELOPE + 16
 * bytes; a copy only when they straddle chains), check the CRC, unpack, and drain both at once.
 * Payload block CRCs are computed over the evbuffer's chains in place (evbuffer_peek), and the
 * payload then moves chain by chain into its own evbuffer: payload bytes are never copied into
 * protobuf.
 *
 * Encoding packs header and envelope straight into space reserved on the
 * output buffer, then moves the payload's chains after them.
 *
 * protobuf strings carry their length, so they may hold NUL bytes, which
 * protobuf-c's C strings would silently cut ("/a\0b" would become "/a").
 * Once an envelope has unpacked, its bytes are walked once more with the
 * message descriptors, and a string field holding a NUL byte is reported
 * (frame_decode() returns FRAME_NUL_STRING): never served as something
 * else. The walk reads the envelope only (never the payload) and goes at
 * most FRAME_NEST_MAX messages deep.
 *
 * Invariant: frame_decode() drains nothing unless it returns 1, 2 or an
 * error, and a frame it returns 1 or 2 for has passed every length, CRC and
 * count check.
 */
#include "frame.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "errors.h"

#define FRAME_MAX_BLOCKS (FRAME_MAX_PAYLOAD / FRAME_BLOCK)
#define FRAME_NEST_MAX	 16 /* message levels walked for NUL bytes in strings */
#define PEEK_VECS	 16

static size_t frame_nblocks(size_t payload_len)
{
	return (payload_len + FRAME_BLOCK - 1) / FRAME_BLOCK;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Computes the CRC32C of each FRAME_BLOCK of the len bytes of buf starting
 * at offset start, without linearizing. out holds frame_nblocks(len).
 * Returns 0, or -EINVAL if buf holds fewer bytes than that.
 */
static int block_crcs(struct evbuffer *buf, size_t start, size_t len, uint32_t *out)
{
	struct evbuffer_ptr pos;
	struct evbuffer_iovec vec[PEEK_VECS];
	size_t left = len, in_block = 0, nblk = 0;
	uint32_t crc = 0;

	if (evbuffer_ptr_set(buf, &pos, start, EVBUFFER_PTR_SET) < 0)
		return -EINVAL;
	while (left) {
		int n = evbuffer_peek(buf, -1, &pos, vec, PEEK_VECS); /* -1: stop at PEEK_VECS */
		if (n <= 0)
			return -EINVAL;
		size_t used = 0;
		for (int i = 0; i < n && i < PEEK_VECS && left; i++) {
			const unsigned char *p = vec[i].iov_base;
			size_t l = vec[i].iov_len < left ? vec[i].iov_len : left;
			left -= l;
			used += l;
			while (l) {
				size_t take = FRAME_BLOCK - in_block;
				if (take > l)
					take = l;
				crc = crc32c(crc, p, take);
				p += take;
				l -= take;
				in_block += take;
				if (in_block == FRAME_BLOCK) {
					out[nblk++] = crc;
					crc = 0;
					in_block = 0;
				}
			}
		}
		if (left && evbuffer_ptr_set(buf, &pos, used, EVBUFFER_PTR_ADD) < 0)
			return -EINVAL;
	}
	if (in_block)
		out[nblk++] = crc;
	return 0;
}

int frame_encode(struct evbuffer *out, Cairn__Envelope *env, struct evbuffer *payload)
{
	size_t plen = payload ? evbuffer_get_length(payload) : 0;
	size_t nblk = frame_nblocks(plen);
	uint32_t crcs[FRAME_MAX_BLOCKS];
	size_t saved_n = env->n_payload_crc;
	uint32_t *saved_crc = env->payload_crc;
	struct evbuffer_iovec v;
	int rc = 0;

	if (plen > FRAME_MAX_PAYLOAD)
		return -E2BIG;
	if (saved_n == 0 && nblk) {
		if (block_crcs(payload, 0, plen, crcs) < 0)
			return -EINVAL;
		env->n_payload_crc = nblk;
		env->payload_crc = crcs;
	} else if (saved_n != nblk) {
		return -EINVAL;
	}

	size_t hlen = cairn__envelope__get_packed_size(env);
	if (hlen > FRAME_MAX_ENVELOPE) {
		rc = -E2BIG;
		goto out;
	}
	if (evbuffer_reserve_space(out, FRAME_HEADER_SIZE + hlen, &v, 1) != 1) {
		rc = -ENOMEM;
		goto out;
	}
	unsigned char *p = v.iov_base;
	size_t packed = cairn__envelope__pack(env, p + FRAME_HEADER_SIZE);
	if (packed != hlen) {
		rc = -EINVAL;
		goto out;
	}
	put_be32(p, FRAME_MAGIC | FRAME_VERSION);
	put_be32(p + 4, (uint32_t)hlen);
	put_be32(p + 8, (uint32_t)plen);
	put_be32(p + 12, crc32c(0, p + FRAME_HEADER_SIZE, hlen));
	v.iov_len = FRAME_HEADER_SIZE + hlen;
	if (evbuffer_commit_space(out, &v, 1) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (plen && evbuffer_add_buffer(out, payload) < 0)
		rc = -ENOMEM;
out:
	env->n_payload_crc = saved_n;
	env->payload_crc = saved_crc;
	return rc;
}

static int fail(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char **cause, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) < 0)
		*cause = NULL;
	va_end(ap);
	return -CAIRN_EPROTO;
}

/* Checks the payload at the front of in against env's block CRCs. */
static int check_payload(struct evbuffer *in, size_t plen, const Cairn__Envelope *env, char **cause)
{
	uint32_t crcs[FRAME_MAX_BLOCKS];
	size_t nblk = frame_nblocks(plen);

	if (env->n_payload_crc != nblk)
		return fail(cause, "%zu payload CRCs for %zu payload blocks", env->n_payload_crc,
			    nblk);
	if (!nblk)
		return 0;
	if (block_crcs(in, 0, plen, crcs) < 0)
		return fail(cause, "payload shorter than announced");
	for (size_t i = 0; i < nblk; i++)
		if (crcs[i] != env->payload_crc[i])
			return fail(cause, "payload block %zu CRC %08x, expected %08x", i, crcs[i],
				    env->payload_crc[i]);
	return 0;
}

/*
 * Checks the first n (<= 4) bytes of a frame against magic and version, so
 * a stream of garbage is refused from its first byte, not its sixteenth.
 */
static int check_magic(const unsigned char *p, size_t n, char **cause)
{
	unsigned char want[4];
	put_be32(want, FRAME_MAGIC | FRAME_VERSION);
	for (size_t i = 0; i < n && i < 3; i++) {
		if (p[i] != want[i]) {
			char hex[9] = "";
			for (size_t k = 0; k < n; k++)
				snprintf(hex + 2 * k, sizeof(hex) - 2 * k, "%02x", p[k]);
			return fail(cause, "bad frame magic 0x%s", hex);
		}
	}
	if (n >= 4 && p[3] != want[3])
		return fail(cause, "unsupported frame version %u", p[3]);
	return 0;
}

/* Reads a varint at *i; 0 when it runs past len. */
static int get_varint(const uint8_t *buf, size_t len, size_t *i, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; *i < len && shift < 64; shift += 7) {
		uint8_t b = buf[(*i)++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 1;
	}
	return 0;
}

/*
 * Whether the message of type d in buf[0..len) (bytes that have already
 * unpacked) has a string field, at any depth, holding a NUL byte.
 */
static int has_nul_string(const uint8_t *buf, size_t len, const ProtobufCMessageDescriptor *d,
			  int depth)
{
	size_t i = 0;
	uint64_t key, n;
	while (i < len) {
		if (!get_varint(buf, len, &i, &key))
			return 0;
		switch (key & 7) {
		case 0:
			if (!get_varint(buf, len, &i, &n))
				return 0;
			break;
		case 1:
			i += 8;
			break;
		case 5:
			i += 4;
			break;
		case 2: {
			if (!get_varint(buf, len, &i, &n) || n > len - i)
				return 0;
			const ProtobufCFieldDescriptor *f =
			    protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
			if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(buf + i, 0, n))
				return 1;
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < FRAME_NEST_MAX &&
			    has_nul_string(buf + i, n, f->descriptor, depth + 1))
				return 1;
			i += n;
			break;
		}
		default:
			return 0; /* groups: unpack would have refused them */
		}
	}
	return 0;
}

int frame_decode(struct evbuffer *in, Cairn__Envelope **env, struct evbuffer **payload,
		 char **cause)
{
	unsigned char hdr[FRAME_HEADER_SIZE];
	static const unsigned char empty[1];

	*env = NULL;
	*payload = NULL;
	*cause = NULL;
	size_t have = evbuffer_get_length(in);
	size_t n = have < FRAME_HEADER_SIZE ? have : FRAME_HEADER_SIZE;
	if (n == 0)
		return 0;
	if (evbuffer_copyout(in, hdr, n) != (ev_ssize_t)n)
		return fail(cause, "cannot read frame header");
	int rc = check_magic(hdr, n < 4 ? n : 4, cause);
	if (rc < 0 || n < FRAME_HEADER_SIZE)
		return rc;
	uint32_t hlen = get_be32(hdr + 4), plen = get_be32(hdr + 8), hcrc = get_be32(hdr + 12);
	if (hlen > FRAME_MAX_ENVELOPE)
		return fail(cause, "envelope of %u bytes is over the limit of %u", hlen,
			    FRAME_MAX_ENVELOPE);
	if (plen > FRAME_MAX_PAYLOAD)
		return fail(cause, "payload of %u bytes is over the limit of %u", plen,
			    FRAME_MAX_PAYLOAD);
	if (have < (size_t)FRAME_HEADER_SIZE + hlen + plen)
		return 0;

	/* Header and envelope in one piece: no copy when they sit in one chain, the usual case. */
	const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)(FRAME_HEADER_SIZE + hlen));
	if (!p)
		return fail(cause, "out of memory for a %u-byte envelope", hlen);
	p += FRAME_HEADER_SIZE;
	uint32_t crc = crc32c(0, p, hlen);
	if (crc != hcrc)
		return fail(cause, "envelope CRC %08x, header says %08x", crc, hcrc);
	Cairn__Envelope *e = cairn__envelope__unpack(NULL, hlen, hlen ? p : empty);
	if (!e)
		return fail(cause, "envelope of %u bytes does not parse", hlen);
	int nul = has_nul_string(p, hlen, &cairn__envelope__descriptor, 0);
	evbuffer_drain(in, FRAME_HEADER_SIZE + hlen);
	if (nul && e->is_reply) {
		rc = fail(cause, "a string of reply %llu holds a NUL byte",
			  (unsigned long long)e->call_id);
		goto bad;
	}

	rc = check_payload(in, plen, e, cause);
	if (rc < 0)
		goto bad;
	if (plen) {
		struct evbuffer *pl = evbuffer_new();
		if (!pl || evbuffer_remove_buffer(in, pl, plen) != (int)plen) {
			if (pl)
				evbuffer_free(pl);
			rc = fail(cause, "out of memory for a %u-byte payload", plen);
			goto bad;
		}
		*payload = pl;
	}
	*env = e;
	return nul ? FRAME_NUL_STRING : 1;
bad:
	cairn__envelope__free_unpacked(e, NULL);
	return rc;
}
