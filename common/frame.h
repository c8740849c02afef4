/*
 * frame: the one codec for cairn's wire framing (DESIGN §3).
 *
 *   u32 magic+version | u32 header_len | u32 payload_len | u32 crc32c(header)
 *   header_len bytes: a protobuf Envelope
 *   payload_len bytes: raw payload, never inside the protobuf
 *
 * All u32 are big-endian. The CRC covers the envelope bytes. Envelope and
 * payload lengths are checked against FRAME_MAX_ENVELOPE and
 * FRAME_MAX_PAYLOAD before anything is allocated. The payload is checked
 * by env->payload_crc: one CRC32C per FRAME_BLOCK bytes of payload.
 */
#ifndef CAIRN_FRAME_H
#define CAIRN_FRAME_H

#include <event2/buffer.h>
#include <stdint.h>

#include "cairn.pb-c.h"

#define FRAME_MAGIC	   0x43524e00u /* "CRN" + version byte */
#define FRAME_VERSION	   1u
#define FRAME_HEADER_SIZE  16u
#define FRAME_MAX_ENVELOPE (4u << 20)
#define FRAME_MAX_PAYLOAD  (16u << 20)
#define FRAME_BLOCK	   65536u
#define FRAME_NUL_STRING   2 /* frame_decode(): a request whose string holds a NUL byte */

/*
 * Appends one frame to out. When payload is non-NULL its bytes are moved
 * onto out (payload is left empty, still owned by the caller) and, if
 * env->n_payload_crc is 0, the block CRCs are computed and sent (env is
 * left as it was). Returns 0; -E2BIG when the envelope or payload is over
 * its limit; -EINVAL when env->n_payload_crc is neither 0 nor the payload's
 * block count (on these two nothing is written and payload is intact);
 * -ENOMEM.
 * Any thread, on buffers it owns.
 */
int frame_encode(struct evbuffer *out, Cairn__Envelope *env, struct evbuffer *payload);

/*
 * Takes one whole frame off the front of in, if there is one.
 * Returns 1 with *env (free with cairn__envelope__free_unpacked(*env, NULL))
 * and *payload (a new evbuffer, free with evbuffer_free(); NULL when
 * payload_len is 0); FRAME_NUL_STRING (2), with the same, for a request
 * one of whose string fields holds a NUL byte, cut there by unpacking (answer
 * it with -EINVAL, never serve it); 0 when more bytes are needed (nothing
 * drained); or
 * -CAIRN_EPROTO with a new *cause (free with free()) when the frame is bad
 * (bad magic or version, a length over its limit, a CRC mismatch, an
 * envelope that does not parse, payload CRCs that do not match, a reply
 * whose string holds a NUL byte). After an
 * error the stream is unusable: close the connection.
 */
int frame_decode(struct evbuffer *in, Cairn__Envelope **env, struct evbuffer **payload,
		 char **cause);

#endif
