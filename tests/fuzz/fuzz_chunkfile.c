/*
 * fuzz_chunkfile: the replica header reader (chunkserver/chunkfile.c
 * chunkfile_decode() and chunkfile_decode_region()), and the encoder on
 * what it accepts (a decoded header must encode to the same bytes).
 *
 * Input: one mode byte, then a slot. Mode bit 0 set: the slot is checked
 * as given. Clear: its self-CRC is made right first (so the fuzzer gets
 * past it). Bit 1 picks the slot index. Bit 2: a header region is made
 * with the slot at both offsets and decoded whole.
 */
#include <stdlib.h>
#include <string.h>

#include "chunkfile.h"
#include "crc32c.h"
#include "fuzz_util.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	int slot = (mode >> 1) & 1;
	size_t len = in.n < CHUNKFILE_SLOT_BYTES ? in.n : CHUNKFILE_SLOT_BYTES;
	uint8_t *buf = calloc(1, CHUNKFILE_SLOT_BYTES);
	memcpy(buf, in.p, len);
	if (!(mode & 1)) {
		len = CHUNKFILE_SLOT_BYTES;
		put_le32(buf + CHUNKFILE_SLOT_BYTES - 4, crc32c(0, buf, CHUNKFILE_SLOT_BYTES - 4));
	}
	/* A copy of exactly len bytes, so that an overread is caught. */
	uint8_t *exact = malloc(len ? len : 1);
	memcpy(exact, buf, len);
	struct chunkfile_header *h = calloc(1, sizeof(*h));
	char *cause = NULL;
	if (chunkfile_decode(exact, len, slot, h, &cause) == 0) {
		uint8_t *again = malloc(CHUNKFILE_SLOT_BYTES);
		if (chunkfile_encode(h, again) != 0 || memcmp(again, exact, CHUNKFILE_SLOT_BYTES))
			abort(); /* what decodes must encode back to the same bytes */
		free(again);
	} else if (!cause) {
		abort();
	}
	free(cause);
	cause = NULL;
	if (mode & 4) {
		uint8_t *region = calloc(1, CHUNKFILE_REGION_BYTES);
		memcpy(region, buf, CHUNKFILE_SLOT_BYTES);
		memcpy(region + CHUNKFILE_SLOT_SIZE, buf, CHUNKFILE_SLOT_BYTES);
		int used = -1, other = -1;
		if (chunkfile_decode_region(region, CHUNKFILE_REGION_BYTES, h, &used, &other,
					    &cause) != 0 &&
		    !cause)
			abort();
		free(cause);
		free(region);
	}
	free(h);
	free(exact);
	free(buf);
	return 0;
}
