/*
 * chunkfile: the codec of one replica file, and its name.
 *
 * A replica of chunk ID lives in <datadir>/chunks/<xx>/<ID as %016llx>.chk,
 * xx being the low byte of the id in hex (256 subdirectories keep each one
 * small). The file is a header region of CHUNKFILE_HEADER_SIZE (64 KiB)
 * bytes followed by the chunk's data, so data block b starts at file offset
 * CHUNKFILE_HEADER_SIZE + b * CHUNKFILE_BLOCK_SIZE, 64 KiB-aligned.
 *
 * The header region holds two slots, at 0 and at CHUNKFILE_SLOT_SIZE
 * (32 KiB). A header is written to the slot given by the parity of its
 * sequence number, which grows by one on every header write, so a rewrite
 * never overwrites the newest valid copy: a power cut that tears a header
 * write leaves the previous header intact. The valid slot with the higher
 * sequence number is the header (chunkfile_decode_region()).
 *
 * One slot, all integers little-endian (CHUNKFILE_SLOT_BYTES = 16516 bytes):
 *
 *	off   size  field
 *	0     8     magic "CAIRNCHK"
 *	8     4     format version (1)
 *	12    4     header region size (65536)
 *	16    4     block size (65536)
 *	20    4     state: 1 CLEAN (data and CRCs durable and consistent),
 *	            2 OPEN (a write may have been in progress: verify at start-up)
 *	24    8     seq: header generation; its parity names this slot
 *	32    8     chunk id (matches the file name)
 *	40    8     chunk version
 *	48    8     file id
 *	56    8     length: bytes of data (0 .. CHUNKFILE_MAX_SIZE)
 *	64    4     block count = ceil(length / 65536)
 *	68    60    reserved, zero
 *	128   16384 CRC32C of each data block (4096 entries; the last block's CRC
 *	            covers only its length % 65536 bytes when that is non-zero;
 *	            entries past the block count are zero)
 *	16512 4     CRC32C of bytes 0 .. 16511 of this slot
 *
 * The rest of the header region is zero and ignored. Everything here is
 * pure: no I/O, no allocation but the cause strings.
 *
 * Invariants of a valid header: magic, format, region and block sizes as
 * above; state CLEAN or OPEN; length <= CHUNKFILE_MAX_SIZE; block count ==
 * chunkfile_nblocks(length); reserved bytes and unused CRC entries zero;
 * self-CRC matches; seq parity == slot.
 */
#ifndef CAIRN_CHUNKFILE_H
#define CAIRN_CHUNKFILE_H

#include <stddef.h>
#include <stdint.h>

#define CHUNKFILE_MAGIC	      "CAIRNCHK"
#define CHUNKFILE_FORMAT      1
#define CHUNKFILE_HEADER_SIZE 65536u
#define CHUNKFILE_BLOCK_SIZE  65536u
#define CHUNKFILE_MAX_SIZE    (256ull << 20)
#define CHUNKFILE_MAX_BLOCKS  4096u
#define CHUNKFILE_SLOT_SIZE   32768u
#define CHUNKFILE_FIXED_BYTES 128u
#define CHUNKFILE_SLOT_BYTES  (CHUNKFILE_FIXED_BYTES + 4 * CHUNKFILE_MAX_BLOCKS + 4)
/* Bytes from the start of the file that hold both slots. */
#define CHUNKFILE_REGION_BYTES (CHUNKFILE_SLOT_SIZE + CHUNKFILE_SLOT_BYTES)
/* "chunks/xx/0123456789abcdef.chk" plus NUL. */
#define CHUNKFILE_RELPATH_MAX 32

enum chunkfile_state {
	CHUNKFILE_CLEAN = 1,
	CHUNKFILE_OPEN = 2,
};

struct chunkfile_header {
	uint64_t seq;
	uint64_t chunk_id;
	uint64_t version;
	uint64_t file_id;
	uint64_t length;
	uint32_t state; /* enum chunkfile_state */
	uint32_t crc[CHUNKFILE_MAX_BLOCKS];
};

/* Number of data blocks that hold length bytes. */
uint32_t chunkfile_nblocks(uint64_t length);

/* File offset of the slot that the header with this seq is written to. */
uint64_t chunkfile_slot_offset(uint64_t seq);

/*
 * Encodes h into buf (CHUNKFILE_SLOT_BYTES bytes), to be written at
 * chunkfile_slot_offset(h->seq). Returns 0, or -EINVAL when h breaks an
 * invariant (length over the maximum, unknown state, a CRC past the block
 * count). Any thread.
 */
int chunkfile_encode(const struct chunkfile_header *h, void *buf);

/*
 * Decodes and validates one slot read from the given slot index (0 or 1)
 * of a file; buf holds len bytes. Returns 0 and fills *h, or
 * -CAIRN_EPROTO with a new *cause (free with free()) when the bytes are
 * short, damaged or not a chunk header. Any thread.
 */
int chunkfile_decode(const void *buf, size_t len, int slot, struct chunkfile_header *h,
		     char **cause);

/*
 * Decodes both slots of a header region (len bytes from file offset 0;
 * at least CHUNKFILE_REGION_BYTES are needed) and returns in *h the valid
 * one with the higher seq; *slot_used (may be NULL) tells which, and
 * *other_valid (may be NULL) whether the other slot was valid too.
 * Returns 0, or -CAIRN_EPROTO with a new *cause when neither is valid.
 */
int chunkfile_decode_region(const void *buf, size_t len, struct chunkfile_header *h, int *slot_used,
			    int *other_valid, char **cause);

/* Writes "chunks/xx/<id>.chk" into buf (CHUNKFILE_RELPATH_MAX bytes). */
void chunkfile_relpath(char *buf, uint64_t chunk_id);

/*
 * Parses a replica file name "<16 lower-case hex digits>.chk". Returns 0
 * and *chunk_id, or -EINVAL for any other name.
 */
int chunkfile_parse_name(const char *name, uint64_t *chunk_id);

#endif
