/*
 * fuzz_util: what the libFuzzer targets of tests/fuzz share: a scratch
 * directory on tmpfs when there is one, whole-file writes, and a cursor
 * that takes little-endian fields off the fuzz input.
 *
 * The targets turn part of their input into well-formed framing (lengths,
 * CRCs, seqs) so that the fuzzer reaches the decoders behind the checks; a
 * mode byte at the front chooses that or the raw bytes, so the checks
 * themselves are fuzzed too. Everything here aborts on a setup failure:
 * that is the harness breaking, never a finding.
 */
#ifndef CAIRN_FUZZ_UTIL_H
#define CAIRN_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* One fuzz input being read front to back. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* Takes len bytes (fewer when the input ends); *got gets how many. */
const uint8_t *fuzz_take(struct fuzz_in *in, size_t len, size_t *got);
/* A little-endian u64 (0s past the end). */
uint64_t fuzz_u64(struct fuzz_in *in);
/* A little-endian u16 (0 past the end). */
uint16_t fuzz_u16(struct fuzz_in *in);
/* One byte (0 past the end). */
uint8_t fuzz_u8(struct fuzz_in *in);

/*
 * Appends to out the frames that in describes, until in runs out: each is
 * u16 envelope length | u16 payload length | envelope bytes | payload
 * bytes. The frame header gets the right magic, lengths and header CRC.
 * With reencode, an envelope that unpacks is packed again by frame_encode()
 * with its payload CRCs computed (so it reaches the dispatch); else, or
 * when it does not unpack, the bytes go as they are.
 */
struct evbuffer;
void fuzz_frames(struct fuzz_in *in, struct evbuffer *out, int reencode);

#define FUZZ_LAST_CALL UINT64_MAX

/*
 * Connects to 127.0.0.1:port and writes stream (drained) and then a ping
 * with call id FUZZ_LAST_CALL, running base's loop all along (the server
 * is in-process), until that ping is answered or the server closes the
 * connection; then resets the connection (the server sees its client go
 * away). Replies are read and dropped.
 */
struct event_base;
void fuzz_exchange(struct event_base *base, int port, struct evbuffer *stream);

/*
 * One dispatch target's input: after a mode byte, the frames the rest
 * describes (fuzz_frames(), reencoded unless mode bit 0 is set) sent to
 * the in-process server at 127.0.0.1:port (fuzz_exchange()).
 */
void fuzz_dispatch(struct event_base *base, int port, const uint8_t *data, size_t size);

/* A free TCP port on 127.0.0.1 (bound, read, released). */
int fuzz_free_port(void);

/*
 * A directory of its own for this process, made once (under /dev/shm when
 * it exists, else /tmp) and removed at exit. Borrowed.
 */
const char *fuzz_dir(void);
/* Removes everything inside dir (recursively), leaving dir. */
void fuzz_clear(const char *dir);
/* Big-endian stores. */
void fuzz_be32(uint8_t *p, uint32_t v);
void fuzz_be64(uint8_t *p, uint64_t v);
/* Writes len bytes as dir/name. */
void fuzz_write(const char *dir, const char *name, const void *data, size_t len);

/* Writes into dir the files that in (after the mode byte) describes. */
typedef void (*fuzz_build_fn)(const char *dir, struct fuzz_in *in, uint8_t mode);

/*
 * The start of a target that loads files: silences the log, empties
 * fuzz_dir() and fills it from in: after a mode byte, the rest of in as
 * the file name when mode bit 0 is set, else what build writes. Returns
 * the mode byte; *dir gets fuzz_dir().
 */
uint8_t fuzz_files(struct fuzz_in *in, const char *name, fuzz_build_fn build, const char **dir);

#endif
