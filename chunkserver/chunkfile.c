/*
 * chunkfile: encodes and validates replica headers (layout in chunkfile.h).
 *
 * Decoding trusts nothing: the self-CRC is checked first (it catches any
 * damage), then every field on its own so that the cause names what is
 * wrong with a header that was written by a buggy or foreign program.
 */
#include "chunkfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "errors.h"

enum {
	OFF_MAGIC = 0,
	OFF_FORMAT = 8,
	OFF_REGION = 12,
	OFF_BLOCK = 16,
	OFF_STATE = 20,
	OFF_SEQ = 24,
	OFF_CHUNK = 32,
	OFF_VERSION = 40,
	OFF_FILE = 48,
	OFF_LENGTH = 56,
	OFF_NBLOCKS = 64,
	OFF_RESERVED = 68,
	OFF_CRCS = CHUNKFILE_FIXED_BYTES,
	OFF_SELF = CHUNKFILE_FIXED_BYTES + 4 * CHUNKFILE_MAX_BLOCKS,
};

static int fail(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char **cause, const char *fmt, ...)
{
	if (cause) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(cause, fmt, ap) < 0)
			*cause = NULL;
		va_end(ap);
	}
	return -CAIRN_EPROTO;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

uint32_t chunkfile_nblocks(uint64_t length)
{
	return (uint32_t)((length + CHUNKFILE_BLOCK_SIZE - 1) / CHUNKFILE_BLOCK_SIZE);
}

uint64_t chunkfile_slot_offset(uint64_t seq)
{
	return (seq & 1) * CHUNKFILE_SLOT_SIZE;
}

int chunkfile_encode(const struct chunkfile_header *h, void *buf)
{
	if (h->length > CHUNKFILE_MAX_SIZE)
		return -EINVAL;
	if (h->state != CHUNKFILE_CLEAN && h->state != CHUNKFILE_OPEN)
		return -EINVAL;
	uint32_t n = chunkfile_nblocks(h->length);
	for (uint32_t i = n; i < CHUNKFILE_MAX_BLOCKS; i++) {
		if (h->crc[i] != 0)
			return -EINVAL;
	}
	uint8_t *p = buf;
	memset(p, 0, CHUNKFILE_SLOT_BYTES);
	memcpy(p + OFF_MAGIC, CHUNKFILE_MAGIC, 8);
	put32(p + OFF_FORMAT, CHUNKFILE_FORMAT);
	put32(p + OFF_REGION, CHUNKFILE_HEADER_SIZE);
	put32(p + OFF_BLOCK, CHUNKFILE_BLOCK_SIZE);
	put32(p + OFF_STATE, h->state);
	put64(p + OFF_SEQ, h->seq);
	put64(p + OFF_CHUNK, h->chunk_id);
	put64(p + OFF_VERSION, h->version);
	put64(p + OFF_FILE, h->file_id);
	put64(p + OFF_LENGTH, h->length);
	put32(p + OFF_NBLOCKS, n);
	for (uint32_t i = 0; i < n; i++)
		put32(p + OFF_CRCS + 4 * i, h->crc[i]);
	put32(p + OFF_SELF, crc32c(0, p, OFF_SELF));
	return 0;
}

/* The field checks after the self-CRC matched. */
static int check_fields(const uint8_t *p, int slot, char **cause)
{
	if (get32(p + OFF_REGION) != CHUNKFILE_HEADER_SIZE)
		return fail(cause, "header region size %u, expected %u", get32(p + OFF_REGION),
			    CHUNKFILE_HEADER_SIZE);
	if (get32(p + OFF_BLOCK) != CHUNKFILE_BLOCK_SIZE)
		return fail(cause, "block size %u, expected %u", get32(p + OFF_BLOCK),
			    CHUNKFILE_BLOCK_SIZE);
	uint32_t state = get32(p + OFF_STATE);
	if (state != CHUNKFILE_CLEAN && state != CHUNKFILE_OPEN)
		return fail(cause, "unknown state %u", state);
	if ((get64(p + OFF_SEQ) & 1) != (uint64_t)slot)
		return fail(cause, "header seq %llu does not belong in slot %d",
			    (unsigned long long)get64(p + OFF_SEQ), slot);
	uint64_t length = get64(p + OFF_LENGTH);
	if (length > CHUNKFILE_MAX_SIZE)
		return fail(cause, "length %llu over the maximum %llu", (unsigned long long)length,
			    (unsigned long long)CHUNKFILE_MAX_SIZE);
	uint32_t n = get32(p + OFF_NBLOCKS);
	if (n != chunkfile_nblocks(length))
		return fail(cause, "%u blocks for length %llu", n, (unsigned long long)length);
	for (uint32_t i = OFF_RESERVED; i < OFF_CRCS; i++) {
		if (p[i] != 0)
			return fail(cause, "reserved byte %u is not zero", i);
	}
	for (uint32_t i = n; i < CHUNKFILE_MAX_BLOCKS; i++) {
		if (get32(p + OFF_CRCS + 4 * i) != 0)
			return fail(cause, "CRC of unused block %u is not zero", i);
	}
	return 0;
}

/* Checks one slot; returns 0 or -CAIRN_EPROTO with a new *cause. */
static int validate(const uint8_t *p, size_t len, int slot, char **cause)
{
	if (len < CHUNKFILE_SLOT_BYTES)
		return fail(cause, "truncated header: %zu of %u bytes", len,
			    (unsigned)CHUNKFILE_SLOT_BYTES);
	if (memcmp(p + OFF_MAGIC, CHUNKFILE_MAGIC, 8) != 0)
		return fail(cause, "not a chunk header (bad magic)");
	if (get32(p + OFF_FORMAT) != CHUNKFILE_FORMAT)
		return fail(cause, "unsupported header format %u", get32(p + OFF_FORMAT));
	uint32_t want = get32(p + OFF_SELF);
	uint32_t got = crc32c(0, p, OFF_SELF);
	if (want != got)
		return fail(cause, "header CRC mismatch (stored %08x, computed %08x)", want, got);
	return check_fields(p, slot, cause);
}

int chunkfile_decode(const void *buf, size_t len, int slot, struct chunkfile_header *h,
		     char **cause)
{
	const uint8_t *p = buf;
	int rc = validate(p, len, slot, cause);
	if (rc < 0)
		return rc;
	h->state = get32(p + OFF_STATE);
	h->seq = get64(p + OFF_SEQ);
	h->chunk_id = get64(p + OFF_CHUNK);
	h->version = get64(p + OFF_VERSION);
	h->file_id = get64(p + OFF_FILE);
	h->length = get64(p + OFF_LENGTH);
	uint32_t n = chunkfile_nblocks(h->length);
	for (uint32_t i = 0; i < n; i++)
		h->crc[i] = get32(p + OFF_CRCS + 4 * i);
	memset(h->crc + n, 0, sizeof(h->crc[0]) * (CHUNKFILE_MAX_BLOCKS - n));
	return 0;
}

int chunkfile_decode_region(const void *buf, size_t len, struct chunkfile_header *h, int *slot_used,
			    int *other_valid, char **cause)
{
	if (len < CHUNKFILE_REGION_BYTES)
		return fail(cause, "truncated header region: %zu of %u bytes", len,
			    (unsigned)CHUNKFILE_REGION_BYTES);
	const uint8_t *p0 = buf;
	const uint8_t *p1 = p0 + CHUNKFILE_SLOT_SIZE;
	char *why0 = NULL, *why1 = NULL;
	int ok0 = validate(p0, CHUNKFILE_SLOT_BYTES, 0, &why0) == 0;
	int ok1 = validate(p1, CHUNKFILE_SLOT_BYTES, 1, &why1) == 0;
	int rc;
	if (!ok0 && !ok1) {
		rc = fail(cause, "no valid header: slot 0: %s; slot 1: %s", why0 ? why0 : "?",
			  why1 ? why1 : "?");
	} else {
		int use1 = !ok0 || (ok1 && get64(p1 + OFF_SEQ) > get64(p0 + OFF_SEQ));
		rc = chunkfile_decode(use1 ? p1 : p0, CHUNKFILE_SLOT_BYTES, use1, h, cause);
		if (slot_used)
			*slot_used = use1;
		if (other_valid)
			*other_valid = ok0 && ok1;
	}
	free(why0);
	free(why1);
	return rc;
}

void chunkfile_relpath(char *buf, uint64_t chunk_id)
{
	snprintf(buf, CHUNKFILE_RELPATH_MAX, "chunks/%02x/%016llx.chk", (unsigned)(chunk_id & 0xff),
		 (unsigned long long)chunk_id);
}

int chunkfile_parse_name(const char *name, uint64_t *chunk_id)
{
	uint64_t id = 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return -EINVAL;
		id = id << 4 | (uint64_t)d;
	}
	if (strcmp(name + 16, ".chk") != 0)
		return -EINVAL;
	*chunk_id = id;
	return 0;
}
