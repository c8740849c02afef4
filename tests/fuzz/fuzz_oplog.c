/*
 * fuzz_oplog: the op-log record reader (metaserver/oplog.c oplog_replay())
 * as start-up runs it (metaserver/recover.c recover_load(): checkpoint
 * load, replay into the namespace with ns_apply(), the cut of a torn last
 * record, --recover-to), on a data dir made of the input.
 *
 * Input: one mode byte, then the log. Mode bit 0 set: the rest is one
 * segment file, byte for byte. Clear: the rest is records, each u16 length
 * | bytes; a record that unpacks as a LogRecord gets the next seq (from 1)
 * and is packed again, and each is framed with its right length and CRC.
 * Bit 1: zeros follow the records (the writer's pre-zeroed tail). Bit 2:
 * the records are split into two segments. Bit 3: --recover-to 2.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "crc32c.h"
#include "fuzz_util.h"
#include "ns.h"
#include "recover.h"

static int setup(void *arg, struct ns *ns, char **cause)
{
	return 0;
}

/* Appends one record's frame to seg. */
static void put_record(struct evbuffer *seg, const uint8_t *p, size_t len)
{
	uint8_t hdr[8];
	fuzz_be32(hdr, (uint32_t)len);
	fuzz_be32(hdr + 4, crc32c(0, p, len));
	evbuffer_add(seg, hdr, sizeof(hdr));
	evbuffer_add(seg, p, len);
}

static void write_segment(const char *dir, uint64_t first, struct evbuffer *seg, int zeros)
{
	if (zeros) {
		static const uint8_t z[4096];
		evbuffer_add(seg, z, sizeof(z));
	}
	char name[64];
	snprintf(name, sizeof(name), "oplog.%020llu", (unsigned long long)first);
	fuzz_write(dir, name, evbuffer_pullup(seg, -1), evbuffer_get_length(seg));
	evbuffer_drain(seg, evbuffer_get_length(seg));
}

/* The structured log: see the file-top comment. */
static void write_records(const char *dir, struct fuzz_in *in, uint8_t mode)
{
	struct evbuffer *seg = evbuffer_new();
	uint64_t seq = 1, first = 1;
	size_t half = in->n / 2;
	int split = mode & 4;
	while (in->n > 0) {
		if (split && in->n <= half) {
			write_segment(dir, first, seg, mode & 2);
			first = seq;
			split = 0;
		}
		size_t len;
		const uint8_t *p = fuzz_take(in, fuzz_u16(in), &len);
		Cairn__LogRecord *rec = cairn__log_record__unpack(NULL, len, p);
		if (!rec) {
			put_record(seg, p, len);
			continue;
		}
		rec->seq = seq++;
		size_t plen = cairn__log_record__get_packed_size(rec);
		uint8_t *buf = malloc(plen ? plen : 1);
		cairn__log_record__pack(rec, buf);
		put_record(seg, buf, plen);
		free(buf);
		cairn__log_record__free_unpacked(rec, NULL);
	}
	write_segment(dir, first, seg, mode & 2);
	evbuffer_free(seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	const char *dir;
	uint8_t mode = fuzz_files(&in, "oplog.00000000000000000001", write_records, &dir);
	struct ns *ns = NULL;
	uint64_t ckpt = 0, last = 0;
	char *cause = NULL;
	int err = recover_load(dir, (mode & 8) ? 2 : 0, setup, NULL, &ns, &ckpt, &last, &cause);
	if (err < 0 && (ns || !cause))
		abort(); /* the contract: a failure comes with its cause and no namespace */
	ns_free(ns);
	free(cause);
	return 0;
}
