/*
 * test_chunkfile: the replica header codec: round trips at the edge
 * lengths, every flipped byte of a slot detected, truncated and over-long
 * headers refused, slot choice by seq, and the file names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkfile.h"
#include "crc32c.h"
#include "errors.h"

#include "check.h"

static uint64_t rng = 0x243F6A8885A308D3ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* A valid header of this length with random CRCs. */
static void make(struct chunkfile_header *h, uint64_t length, uint64_t seq)
{
	memset(h, 0, sizeof(*h));
	h->seq = seq;
	h->chunk_id = 0x0123456789abcdefull;
	h->version = 7;
	h->file_id = 0xfeedfacecafebeefull;
	h->length = length;
	h->state = CHUNKFILE_CLEAN;
	for (uint32_t i = 0; i < chunkfile_nblocks(length); i++)
		h->crc[i] = rnd() | 1;
}

static int same(const struct chunkfile_header *a, const struct chunkfile_header *b)
{
	return a->seq == b->seq && a->chunk_id == b->chunk_id && a->version == b->version &&
	       a->file_id == b->file_id && a->length == b->length && a->state == b->state &&
	       memcmp(a->crc, b->crc, sizeof(a->crc)) == 0;
}

static void test_round_trip(struct chunkfile_header *h, struct chunkfile_header *g, uint8_t *buf)
{
	const uint64_t lengths[] = {0,
				    1,
				    CHUNKFILE_BLOCK_SIZE - 1,
				    CHUNKFILE_BLOCK_SIZE,
				    CHUNKFILE_BLOCK_SIZE + 1,
				    (1 << 20) + 3,
				    CHUNKFILE_MAX_SIZE - 1,
				    CHUNKFILE_MAX_SIZE};
	const uint32_t blocks[] = {0, 1, 1, 1, 2, 17, 4096, 4096};
	for (unsigned i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		CHECK(chunkfile_nblocks(lengths[i]) == blocks[i]);
		make(h, lengths[i], 4 + i);
		h->state = i % 2 ? CHUNKFILE_OPEN : CHUNKFILE_CLEAN;
		CHECK(chunkfile_encode(h, buf) == 0);
		memset(g, 0xaa, sizeof(*g));
		char *cause = NULL;
		int slot = (int)(h->seq & 1);
		CHECK(chunkfile_decode(buf, CHUNKFILE_SLOT_BYTES, slot, g, &cause) == 0);
		CHECK(cause == NULL);
		CHECK(same(h, g));
		/* A slot's seq parity must match where it was read from. */
		CHECK(chunkfile_decode(buf, CHUNKFILE_SLOT_BYTES, !slot, g, &cause) ==
		      -CAIRN_EPROTO);
		CHECK(cause && strstr(cause, "slot"));
		free(cause);
	}
	CHECK(chunkfile_slot_offset(4) == 0 && chunkfile_slot_offset(5) == CHUNKFILE_SLOT_SIZE);
}

static void test_invalid_encode(struct chunkfile_header *h, uint8_t *buf)
{
	make(h, CHUNKFILE_MAX_SIZE + 1, 2);
	CHECK(chunkfile_encode(h, buf) == -EINVAL);
	make(h, 100, 2);
	h->state = 3;
	CHECK(chunkfile_encode(h, buf) == -EINVAL);
	make(h, 100, 2);
	h->crc[1] = 5; /* past the one block */
	CHECK(chunkfile_encode(h, buf) == -EINVAL);
}

/* Every byte of a slot, flipped alone, is refused. */
static void test_flips(struct chunkfile_header *h, struct chunkfile_header *g, uint8_t *buf)
{
	make(h, 3 * CHUNKFILE_BLOCK_SIZE + 5, 2);
	CHECK(chunkfile_encode(h, buf) == 0);
	int undetected = 0;
	for (size_t i = 0; i < CHUNKFILE_SLOT_BYTES; i++) {
		uint8_t bit = (uint8_t)(1u << (i % 8));
		buf[i] ^= bit;
		char *cause = NULL;
		if (chunkfile_decode(buf, CHUNKFILE_SLOT_BYTES, 0, g, &cause) != -CAIRN_EPROTO ||
		    !cause)
			undetected++;
		free(cause);
		buf[i] ^= 0xff; /* and the whole byte inverted */
		cause = NULL;
		if (chunkfile_decode(buf, CHUNKFILE_SLOT_BYTES, 0, g, &cause) != -CAIRN_EPROTO)
			undetected++;
		free(cause);
		buf[i] ^= (uint8_t)(0xff ^ bit);
	}
	CHECK(undetected == 0);
	CHECK(chunkfile_decode(buf, CHUNKFILE_SLOT_BYTES, 0, g, NULL) == 0 && same(h, g));
}

/* A field made wrong with a matching self-CRC names the field. */
static void test_fields(struct chunkfile_header *h, struct chunkfile_header *g, uint8_t *buf)
{
	static const struct {
		size_t off;
		uint8_t val;
		const char *why;
	} cases[] = {
	    {12, 0x01, "region"},	 {16, 0x01, "block size"}, {20, 9, "state"},
	    {63, 0x7f, "maximum"},	 {64, 9, "blocks"},	   {100, 1, "reserved"},
	    {128 + 4 * 10, 1, "unused"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make(h, 2 * CHUNKFILE_BLOCK_SIZE, 2);
		CHECK(chunkfile_encode(h, buf) == 0);
		buf[cases[i].off] = cases[i].val;
		uint32_t crc = crc32c(0, buf, CHUNKFILE_SLOT_BYTES - 4);
		for (int k = 0; k < 4; k++)
			buf[CHUNKFILE_SLOT_BYTES - 4 + k] = (uint8_t)(crc >> (8 * k));
		char *cause = NULL;
		CHECK(chunkfile_decode(buf, CHUNKFILE_SLOT_BYTES, 0, g, &cause) == -CAIRN_EPROTO);
		CHECK(cause && strstr(cause, cases[i].why));
		if (cause && !strstr(cause, cases[i].why))
			fprintf(stderr, "case %u: %s\n", i, cause);
		free(cause);
	}
	make(h, 10, 2);
	CHECK(chunkfile_encode(h, buf) == 0);
	memcpy(buf, "CAIRNCHX", 8);
	char *cause = NULL;
	CHECK(chunkfile_decode(buf, CHUNKFILE_SLOT_BYTES, 0, g, &cause) == -CAIRN_EPROTO);
	CHECK(cause && strstr(cause, "magic"));
	free(cause);
}

static void test_truncated(struct chunkfile_header *h, struct chunkfile_header *g, uint8_t *buf)
{
	make(h, 12345, 2);
	CHECK(chunkfile_encode(h, buf) == 0);
	const size_t lens[] = {0, 1, 8, 127, 128, CHUNKFILE_SLOT_BYTES - 1};
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char *cause = NULL;
		CHECK(chunkfile_decode(buf, lens[i], 0, g, &cause) == -CAIRN_EPROTO);
		CHECK(cause && strstr(cause, "truncated"));
		free(cause);
	}
	/* Over the maximum length, even with a good CRC. */
	make(h, CHUNKFILE_MAX_SIZE, 2);
	CHECK(chunkfile_encode(h, buf) == 0);
	buf[56] = 1; /* length = max + 1 */
	uint32_t crc = crc32c(0, buf, CHUNKFILE_SLOT_BYTES - 4);
	for (int k = 0; k < 4; k++)
		buf[CHUNKFILE_SLOT_BYTES - 4 + k] = (uint8_t)(crc >> (8 * k));
	CHECK(chunkfile_decode(buf, CHUNKFILE_SLOT_BYTES, 0, g, NULL) == -CAIRN_EPROTO);
}

/* Two slots: the valid one with the higher seq wins; one damaged falls back. */
static void test_region(struct chunkfile_header *h, struct chunkfile_header *g, uint8_t *region)
{
	memset(region, 0, CHUNKFILE_HEADER_SIZE);
	int slot = -1, other = -1;
	char *cause = NULL;
	CHECK(chunkfile_decode_region(region, CHUNKFILE_HEADER_SIZE, g, &slot, &other, &cause) ==
	      -CAIRN_EPROTO);
	CHECK(cause && strstr(cause, "slot 0") && strstr(cause, "slot 1"));
	free(cause);

	make(h, 1000, 2);
	CHECK(chunkfile_encode(h, region + chunkfile_slot_offset(2)) == 0);
	CHECK(chunkfile_decode_region(region, CHUNKFILE_REGION_BYTES, g, &slot, &other, NULL) == 0);
	CHECK(slot == 0 && other == 0 && g->length == 1000);

	h->seq = 3;
	h->length = 2000;
	h->state = CHUNKFILE_OPEN;
	CHECK(chunkfile_encode(h, region + chunkfile_slot_offset(3)) == 0);
	CHECK(chunkfile_decode_region(region, CHUNKFILE_REGION_BYTES, g, &slot, &other, NULL) == 0);
	CHECK(slot == 1 && other == 1 && g->length == 2000 && g->state == CHUNKFILE_OPEN);

	h->seq = 4;
	h->length = 3000;
	CHECK(chunkfile_encode(h, region + chunkfile_slot_offset(4)) == 0);
	CHECK(chunkfile_decode_region(region, CHUNKFILE_REGION_BYTES, g, &slot, NULL, NULL) == 0);
	CHECK(slot == 0 && g->length == 3000);

	/* A torn write of the newest slot leaves the older one. */
	region[200] ^= 0x40;
	CHECK(chunkfile_decode_region(region, CHUNKFILE_REGION_BYTES, g, &slot, &other, NULL) == 0);
	CHECK(slot == 1 && other == 0 && g->length == 2000 && g->seq == 3);
	CHECK(chunkfile_decode_region(region, CHUNKFILE_REGION_BYTES - 1, g, NULL, NULL, NULL) ==
	      -CAIRN_EPROTO);
}

static void test_names(void)
{
	char rel[CHUNKFILE_RELPATH_MAX];
	chunkfile_relpath(rel, 0x0123456789abcdefull);
	CHECK(strcmp(rel, "chunks/ef/0123456789abcdef.chk") == 0);
	chunkfile_relpath(rel, UINT64_MAX);
	CHECK(strcmp(rel, "chunks/ff/ffffffffffffffff.chk") == 0);
	uint64_t id;
	CHECK(chunkfile_parse_name("0123456789abcdef.chk", &id) == 0 &&
	      id == 0x0123456789abcdefull);
	CHECK(chunkfile_parse_name("0123456789ABCDEF.chk", &id) == -EINVAL);
	CHECK(chunkfile_parse_name("0123456789abcde.chk", &id) == -EINVAL);
	CHECK(chunkfile_parse_name("0123456789abcdef.chk.tmp", &id) == -EINVAL);
	CHECK(chunkfile_parse_name("0123456789abcdef", &id) == -EINVAL);
	CHECK(chunkfile_parse_name("", &id) == -EINVAL);
}

int main(void)
{
	struct chunkfile_header *h = malloc(sizeof(*h));
	struct chunkfile_header *g = malloc(sizeof(*g));
	uint8_t *buf = calloc(1, CHUNKFILE_HEADER_SIZE);
	if (!h || !g || !buf)
		return 1;
	test_round_trip(h, g, buf);
	test_invalid_encode(h, buf);
	test_flips(h, g, buf);
	test_fields(h, g, buf);
	test_truncated(h, g, buf);
	test_region(h, g, buf);
	test_names();
	free(h);
	free(g);
	free(buf);
	if (failures) {
		fprintf(stderr, "test_chunkfile: %d failures\n", failures);
		return 1;
	}
	printf("test_chunkfile: ok\n");
	return 0;
}
