/*
 * fuzz_seeds: writes the seed corpora of tests/fuzz (corpus/<target>/),
 * each in its target's input format, with the real encoders: envelopes a
 * client and a chunkserver send, the op-log records and the checkpoint of
 * a small namespace built with the namespace's own calls, replica headers
 * from chunkfile_encode() and identity files from ident_encode().
 *
 * Usage: fuzz_seeds DIR. The committed corpora are its output (rerun it
 * when a format changes: tests/fuzz/run seeds).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <zstd.h>

#include "checkpoint.h"
#include "crc32c.h"
#include "chunkfile.h"
#include "frame.h"
#include "fuzz_util.h"
#include "ident.h"
#include "ns.h"

static const char *out_dir;

/* Writes one seed: a mode byte, then body. */
static void seed(const char *target, const char *name, uint8_t mode, const void *body, size_t len)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s", out_dir, target);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		abort();
	uint8_t *buf = malloc(len + 1);
	buf[0] = mode;
	memcpy(buf + 1, body, len);
	fuzz_write(dir, name, buf, len + 1);
	free(buf);
}

/* Appends a u16-length-prefixed record. */
static void put16(struct evbuffer *b, const void *p, size_t len)
{
	uint8_t l[2] = {(uint8_t)len, (uint8_t)(len >> 8)};
	evbuffer_add(b, l, 2);
	evbuffer_add(b, p, len);
}

/* Appends env (and plen payload bytes) in fuzz_frames() format. */
static void put_env(struct evbuffer *b, Cairn__Envelope *env, size_t plen)
{
	size_t len = cairn__envelope__get_packed_size(env);
	uint8_t *p = malloc(len + 1);
	cairn__envelope__pack(env, p);
	uint8_t l[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)plen, (uint8_t)(plen >> 8)};
	evbuffer_add(b, l, 4);
	evbuffer_add(b, p, len);
	for (size_t i = 0; i < plen; i++) {
		uint8_t c = (uint8_t)('a' + i % 26);
		evbuffer_add(b, &c, 1);
	}
	free(p);
}

static void seed_buf(const char *target, const char *name, uint8_t mode, struct evbuffer *b)
{
	seed(target, name, mode, evbuffer_pullup(b, -1), evbuffer_get_length(b));
	evbuffer_drain(b, evbuffer_get_length(b));
}

/* ---- envelopes -------------------------------------------------------------------- */

static void meta_seeds(void)
{
	struct evbuffer *all = evbuffer_new(), *one = evbuffer_new();
	Cairn__Envelope e = CAIRN__ENVELOPE__INIT;
	Cairn__MkdirReq mk = CAIRN__MKDIR_REQ__INIT;
	Cairn__CreateReq cr = CAIRN__CREATE_REQ__INIT;
	Cairn__StatReq st = CAIRN__STAT_REQ__INIT;
	Cairn__ReaddirReq rd = CAIRN__READDIR_REQ__INIT;
	Cairn__RenameReq rn = CAIRN__RENAME_REQ__INIT;
	Cairn__RemoveReq rm = CAIRN__REMOVE_REQ__INIT;
	Cairn__ChunksReq ch = CAIRN__CHUNKS_REQ__INIT;
	Cairn__AllocateReq al = CAIRN__ALLOCATE_REQ__INIT;
	Cairn__OpenReq op = CAIRN__OPEN_REQ__INIT;
	Cairn__RegisterReq rg = CAIRN__REGISTER_REQ__INIT;
	Cairn__FsckReq fk = CAIRN__FSCK_REQ__INIT;
	Cairn__Empty em = CAIRN__EMPTY__INIT;
	static uint8_t fs_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	mk.path = "/a/b";
	mk.parents = 1;
	mk.mode = 0755;
	cr.path = "/a/b/f";
	cr.mode = 0644;
	cr.chunk_size = 1 << 20;
	st.path = "/a/b/f";
	rd.path = "/a";
	rn.src = "/a/b/f";
	rn.dst = "/a/g";
	rm.path = "/a";
	rm.recursive = 1;
	ch.file_id = 3;
	al.file_id = 3;
	op.path = "/a/g";
	rg.addr = "127.0.0.1:9";
	rg.capacity = 1 << 30;
	rg.fs_id.data = fs_id;
	rg.fs_id.len = sizeof(fs_id);
	struct {
		const char *name;
		Cairn__Envelope__BodyCase body;
		void *req;
	} calls[] = {
	    {"mkdir", CAIRN__ENVELOPE__BODY_MKDIR, &mk},
	    {"create", CAIRN__ENVELOPE__BODY_CREATE, &cr},
	    {"stat", CAIRN__ENVELOPE__BODY_STAT, &st},
	    {"readdir", CAIRN__ENVELOPE__BODY_READDIR, &rd},
	    {"open", CAIRN__ENVELOPE__BODY_OPEN, &op},
	    {"chunks", CAIRN__ENVELOPE__BODY_CHUNKS, &ch},
	    {"allocate", CAIRN__ENVELOPE__BODY_ALLOCATE, &al},
	    {"rename", CAIRN__ENVELOPE__BODY_RENAME, &rn},
	    {"fsck", CAIRN__ENVELOPE__BODY_FSCK, &fk},
	    {"nodes", CAIRN__ENVELOPE__BODY_ADMIN_NODES, &em},
	    {"ping", CAIRN__ENVELOPE__BODY_PING, &em},
	    {"register", CAIRN__ENVELOPE__BODY_REGISTER, &rg},
	    {"remove", CAIRN__ENVELOPE__BODY_REMOVE, &rm},
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		e.call_id = i + 1;
		e.body_case = calls[i].body;
		e.stat = calls[i].req; /* the body is a union: any member sets it */
		put_env(one, &e, 0);
		put_env(all, &e, 0);
		seed_buf("fuzz_meta_dispatch", calls[i].name, 0, one);
	}
	seed("fuzz_frame", "meta-calls", 2, evbuffer_pullup(all, -1), evbuffer_get_length(all));
	seed_buf("fuzz_meta_dispatch", "session", 0, all);
	evbuffer_free(all);
	evbuffer_free(one);
}

static void chunk_seeds(void)
{
	struct evbuffer *all = evbuffer_new(), *one = evbuffer_new();
	Cairn__Envelope e = CAIRN__ENVELOPE__INIT;
	Cairn__WriteReq wr = CAIRN__WRITE_REQ__INIT;
	Cairn__SyncReq sy = CAIRN__SYNC_REQ__INIT;
	Cairn__ReadReq rd = CAIRN__READ_REQ__INIT;
	Cairn__Empty em = CAIRN__EMPTY__INIT;
	wr.chunk_id = sy.chunk_id = rd.chunk_id = 7;
	wr.version = sy.version = rd.version = 1;
	wr.file_id = 3;
	rd.length = 100;
	e.call_id = 1;
	e.body_case = CAIRN__ENVELOPE__BODY_WRITE;
	e.write = &wr;
	put_env(one, &e, 100);
	put_env(all, &e, 100);
	seed_buf("fuzz_chunk_dispatch", "write", 0, one);
	wr.sync = 1;
	wr.offset = 100;
	e.call_id = 2;
	put_env(all, &e, 50);
	e.call_id = 3;
	e.body_case = CAIRN__ENVELOPE__BODY_SYNC;
	e.sync = &sy;
	put_env(all, &e, 0);
	e.call_id = 4;
	e.body_case = CAIRN__ENVELOPE__BODY_READ;
	e.read = &rd;
	put_env(one, &e, 0);
	put_env(all, &e, 0);
	seed_buf("fuzz_chunk_dispatch", "read", 0, one);
	e.call_id = 5;
	e.body_case = CAIRN__ENVELOPE__BODY_PING;
	e.ping = &em;
	put_env(all, &e, 0);
	seed("fuzz_frame", "chunk-calls", 2, evbuffer_pullup(all, -1), evbuffer_get_length(all));
	seed("fuzz_frame", "chunk-calls-pieces", 2 | 4 | (7 << 3), evbuffer_pullup(all, -1),
	     evbuffer_get_length(all));
	seed_buf("fuzz_chunk_dispatch", "session", 0, all);

	/* The raw frames frame_encode() writes, payload CRCs and all. */
	struct evbuffer *pay = evbuffer_new();
	evbuffer_add(pay, "0123456789", 10);
	e.call_id = 6;
	e.body_case = CAIRN__ENVELOPE__BODY_WRITE;
	e.write = &wr;
	if (frame_encode(all, &e, pay) < 0)
		abort();
	seed_buf("fuzz_frame", "raw-write", 1, all);
	evbuffer_free(pay);
	evbuffer_free(all);
	evbuffer_free(one);
}

/* ---- op log and checkpoint ------------------------------------------------------- */

static void on_record(void *arg, Cairn__LogRecord *rec)
{
	size_t len = cairn__log_record__get_packed_size(rec);
	uint8_t *p = malloc(len + 1);
	cairn__log_record__pack(rec, p);
	put16(arg, p, len);
	free(p);
}

/* The records of a small namespace's history, into recs (u16 framing). */
static struct ns *build_ns(struct evbuffer *recs)
{
	struct ns *ns = ns_new();
	ns_set_emit(ns, on_record, recs);
	struct ns_inode *ino;
	struct ns_chunk c;
	int64_t t = 1700000000000000;
	if (ns_mkdir(ns, "/a/b", 0755, 0, 0, 1, t, &ino) < 0 ||
	    ns_create_sized(ns, "/a/b/f", 0644, 1, 1, 3, 1 << 20, 1, t, &ino) < 0)
		abort();
	uint64_t f = ns_inode_id(ino);
	if (ns_chunk_alloc(ns, f, 0, t, &c) < 0 || ns_chunk_alloc(ns, f, 1, t, &c) < 0 ||
	    ns_chunk_set_version(ns, f, 1, 5, t) < 0 || ns_set_size(ns, f, 1500000, t) < 0 ||
	    ns_setattr(ns, "/a/b/f", CAIRN__SETATTR_BIT__SETATTR_MODE, 0600, 0, 0, 0, 0, 0, t,
		       &ino) < 0 ||
	    ns_create(ns, "/a/x", 0644, 0, 0, 0, 1, t, &ino) < 0 ||
	    ns_rename(ns, "/a/b/f", "/a/g", t) < 0 || ns_remove(ns, "/a/x", 0, t) < 0 ||
	    ns_mkdir(ns, "/c", 0700, 0, 0, 0, t, &ino) < 0)
		abort();
	ns_set_emit(ns, NULL, NULL);
	return ns;
}

/* The u16-framed records of recs as an on-disk segment. */
static void segment_of(struct evbuffer *recs, struct evbuffer *seg)
{
	size_t n = evbuffer_get_length(recs);
	const uint8_t *p = evbuffer_pullup(recs, -1);
	for (size_t at = 0; at + 2 <= n;) {
		size_t len = (size_t)(p[at] | p[at + 1] << 8);
		uint8_t hdr[8];
		fuzz_be32(hdr, (uint32_t)len);
		fuzz_be32(hdr + 4, crc32c(0, p + at + 2, len));
		evbuffer_add(seg, hdr, 8);
		evbuffer_add(seg, p + at + 2, len);
		at += 2 + len;
	}
}

static void log_seeds(struct ns *ns, struct evbuffer *recs)
{
	struct evbuffer *seg = evbuffer_new();
	segment_of(recs, seg);
	seed_buf("fuzz_oplog", "segment", 1, seg);
	seed("fuzz_oplog", "records", 0, evbuffer_pullup(recs, -1), evbuffer_get_length(recs));
	seed("fuzz_oplog", "records-zeros", 2, evbuffer_pullup(recs, -1),
	     evbuffer_get_length(recs));
	seed("fuzz_oplog", "records-split", 4, evbuffer_pullup(recs, -1),
	     evbuffer_get_length(recs));
	seed("fuzz_oplog", "recover-to", 8 | 2, evbuffer_pullup(recs, -1),
	     evbuffer_get_length(recs));
	evbuffer_free(seg);
}

static void checkpoint_seeds(struct ns *ns)
{
	const char *dir = fuzz_dir();
	char *cause = NULL;
	fuzz_clear(dir);
	if (checkpoint_write(dir, ns, 5, &cause) < 0)
		abort();
	char path[4096];
	snprintf(path, sizeof(path), "%s/checkpoint.%020d", dir, 5);
	FILE *f = fopen(path, "rb");
	static uint8_t file[1 << 20];
	size_t n = f ? fread(file, 1, sizeof(file), f) : 0;
	if (!f || n < CHECKPOINT_HEADER_SIZE)
		abort();
	fclose(f);
	seed("fuzz_checkpoint", "file", 1, file, n);

	/* The same namespace in the built form: header fields, then the Attrs. */
	static uint8_t body[1 << 20];
	size_t ulen = ZSTD_decompress(body, sizeof(body), file + CHECKPOINT_HEADER_SIZE,
				      n - CHECKPOINT_HEADER_SIZE);
	if (ZSTD_isError(ulen))
		abort();
	struct evbuffer *b = evbuffer_new();
	uint8_t fields[8 + 8 + 8 + 16 + 8] = {0};
	fields[0] = (uint8_t)ns_count(ns);
	fields[8] = (uint8_t)ns_next_id(ns);
	fields[16] = (uint8_t)ns_next_chunk_id(ns);
	fields[24] = 1;	   /* a non-zero fs id */
	fields[42] = 0x10; /* 1 MiB */
	evbuffer_add(b, fields, sizeof(fields));
	for (size_t at = 0; at + 4 <= ulen;) {
		size_t len = (size_t)body[at] << 24 | (size_t)body[at + 1] << 16 |
			     (size_t)body[at + 2] << 8 | body[at + 3];
		put16(b, body + at + 4, len);
		at += 4 + len;
	}
	seed_buf("fuzz_checkpoint", "built-v3", 4, b);
	evbuffer_free(b);
	fuzz_clear(dir);
}

/* ---- replica headers and identity files -------------------------------------------- */

static void chunkfile_seeds(void)
{
	struct chunkfile_header *h = calloc(1, sizeof(*h));
	uint8_t *slot = malloc(CHUNKFILE_SLOT_BYTES);
	h->seq = 2;
	h->chunk_id = 7;
	h->version = 1;
	h->file_id = 3;
	h->length = 100000;
	h->state = CHUNKFILE_CLEAN;
	h->crc[0] = 0x12345678;
	h->crc[1] = 0x9abcdef0;
	if (chunkfile_encode(h, slot) < 0)
		abort();
	seed("fuzz_chunkfile", "slot0", 1, slot, CHUNKFILE_SLOT_BYTES);
	seed("fuzz_chunkfile", "slot0-region", 1 | 4, slot, CHUNKFILE_SLOT_BYTES);
	/* Up to the last used CRC: the harness zero-fills and re-CRCs the rest. */
	h->seq = 3;
	h->state = CHUNKFILE_OPEN;
	if (chunkfile_encode(h, slot) < 0)
		abort();
	seed("fuzz_chunkfile", "slot1-short", 2, slot, CHUNKFILE_FIXED_BYTES + 8);
	free(slot);
	free(h);
}

static void ident_seeds(void)
{
	struct ident id = {IDENT_FORMAT, {0}, 64ull << 20};
	char text[IDENT_TEXT_MAX];
	for (int i = 0; i < IDENT_ID_LEN; i++)
		id.fs_id[i] = (uint8_t)(0x11 * (i + 1));
	size_t n = ident_encode(&id, text, sizeof(text));
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/fuzz_ident", out_dir);
	mkdir(dir, 0755);
	fuzz_write(dir, "meta", text, n);
	id.chunk_size = 0;
	n = ident_encode(&id, text, sizeof(text));
	fuzz_write(dir, "chunk", text, n);
}

/* ---- S3 requests ------------------------------------------------------------------ */

static void s3_seeds(void)
{
	static const char *reqs[][2] = {
	    {"get-signed",
	     "GET /bucket/dir/key.txt?versionId=null HTTP/1.1\r\nHost: localhost\r\n"
	     "x-amz-date: 20231114T221320Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"
	     "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/s3/"
	     "aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
	     "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7\r\n\r\n"},
	    {"get-presigned",
	     "GET /bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F"
	     "20231114%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20231114T221320Z&X-Amz-Expires="
	     "3600&X-Amz-SignedHeaders=host&X-Amz-Signature=00 HTTP/1.1\r\nHost: h\r\n\r\n"},
	    {"put-chunked",
	     "PUT /bucket/a%20b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
	     "Connection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	     "HEAD /bucket/a%20b HTTP/1.1\r\nHost: h\r\n\r\n"},
	    {"put-aws-chunked",
	     "\1PUT /bucket/k HTTP/1.1\r\nHost: h\r\nContent-Encoding: aws-chunked\r\n"
	     "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n"
	     "x-amz-decoded-content-length: 5\r\nContent-Length: 46\r\n\r\n"
	     "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
	    {"complete-upload",
	     "POST /bucket/k?uploadId=abc HTTP/1.1\r\nHost: h\r\nContent-Length: 169\r\n\r\n"
	     "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag>"
	     "</Part><Part><PartNumber>2</PartNumber><ETag>b</ETag></Part></"
	     "CompleteMultipartUpload>"},
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		const char *r = reqs[i][1];
		uint8_t mode = 0;
		if (r[0] == 1) { /* the mode byte for an aws-chunked body */
			mode = 1;
			r++;
		}
		seed("fuzz_s3_http", reqs[i][0], mode, r, strlen(r));
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR\n");
		return 2;
	}
	out_dir = argv[1];
	if (mkdir(out_dir, 0755) < 0 && errno != EEXIST) {
		perror(out_dir);
		return 1;
	}
	meta_seeds();
	chunk_seeds();
	struct evbuffer *recs = evbuffer_new();
	struct ns *ns = build_ns(recs);
	log_seeds(ns, recs);
	checkpoint_seeds(ns);
	ns_free(ns);
	evbuffer_free(recs);
	chunkfile_seeds();
	ident_seeds();
	s3_seeds();
	return 0;
}
