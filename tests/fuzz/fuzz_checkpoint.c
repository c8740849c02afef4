/*
 * fuzz_checkpoint: the checkpoint reader (metaserver/checkpoint.c
 * checkpoint_load(): header, streamed zstd body, Attr records, and
 * ns_restore() of each) on a data dir holding one checkpoint made of the
 * input.
 *
 * Input: one mode byte, then the file. Mode bit 0 set: the rest is the
 * file, byte for byte. Clear: a header is built (format version 1 + the
 * mode's bits 1-2 mod 3, seq 5 as the name says, the next ids, fs id and
 * chunk size from the input), then the body from records, each u16 length
 * | Attr bytes, framed as u32 length | bytes and compressed as one zstd
 * frame; the lengths and both CRCs are right, and the inode count is the
 * number of records unless bit 3 takes it from the input.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <zstd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "fuzz_util.h"

#define NAME "checkpoint.00000000000000000005"

static void write_built(const char *dir, struct fuzz_in *in, uint8_t mode)
{
	static const uint32_t sizes[] = {0, 52, 60, 84};
	uint32_t version = 1 + (uint32_t)((mode >> 1) & 3) % 3, hsize = sizes[version];
	uint8_t hdr[CHECKPOINT_HEADER_SIZE] = {0};
	memcpy(hdr, CHECKPOINT_MAGIC, 8);
	fuzz_be32(hdr + 8, version);
	fuzz_be64(hdr + 12, 5);
	uint64_t count = fuzz_u64(in);
	fuzz_be64(hdr + 36, fuzz_u64(in));
	if (version >= 2)
		fuzz_be64(hdr + 44, fuzz_u64(in));
	if (version >= 3) {
		size_t got;
		memcpy(hdr + 52, fuzz_take(in, 16, &got), got);
		fuzz_be64(hdr + 68, fuzz_u64(in));
	}
	struct evbuffer *body = evbuffer_new();
	uint64_t n = 0;
	while (in->n > 0) {
		size_t len;
		const uint8_t *p = fuzz_take(in, fuzz_u16(in), &len);
		uint8_t l[4];
		fuzz_be32(l, (uint32_t)len);
		evbuffer_add(body, l, 4);
		evbuffer_add(body, p, len);
		n++;
	}
	size_t ulen = evbuffer_get_length(body);
	const uint8_t *u = evbuffer_pullup(body, -1);
	fuzz_be64(hdr + 20, (mode & 8) ? count : n);
	fuzz_be64(hdr + 28, ulen);
	fuzz_be32(hdr + hsize - 8, crc32c(0, u, ulen));
	fuzz_be32(hdr + hsize - 4, crc32c(0, hdr, hsize - 4));
	size_t cap = ZSTD_compressBound(ulen);
	uint8_t *file = malloc(hsize + cap);
	memcpy(file, hdr, hsize);
	size_t clen = ZSTD_compress(file + hsize, cap, u, ulen, 1);
	if (ZSTD_isError(clen))
		abort();
	fuzz_write(dir, NAME, file, hsize + clen);
	free(file);
	evbuffer_free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	const char *dir;
	fuzz_files(&in, NAME, write_built, &dir);
	struct ns *ns = NULL;
	uint64_t seq = 0;
	char *cause = NULL;
	int err = checkpoint_load(dir, &ns, &seq, &cause);
	if (err < 0 ? (ns || !cause) : !ns)
		abort(); /* the contract: a namespace, or a failure with its cause */
	ns_free(ns);
	free(cause);
	return 0;
}
