/*
 * fuzz_frame: the frame decoder (common/frame.c frame_decode()).
 *
 * Input: one mode byte, then the stream. Mode bit 0 set: the rest is the
 * raw byte stream. Clear: the rest describes frames (fuzz_frames(), header
 * CRCs right, envelopes as given; bit 1 re-encodes those that unpack).
 * Bit 2: the stream arrives in pieces of (mode >> 3) + 1 bytes, with a
 * decode after each, as from a socket; else all at once. Decoding goes on
 * until it needs more bytes or fails; whatever it returns is freed, so a
 * leak or an overread in the decoder is the finding.
 */
#include <stdlib.h>

#include <event2/buffer.h>

#include "frame.h"
#include "fuzz_util.h"

/* Decodes every whole frame in buf; returns -1 once the stream is bad. */
static int drain(struct evbuffer *buf)
{
	for (;;) {
		Cairn__Envelope *env = NULL;
		struct evbuffer *payload = NULL;
		char *cause = NULL;
		int rc = frame_decode(buf, &env, &payload, &cause);
		if (rc <= 0) {
			if (rc < 0 && !cause)
				abort(); /* the contract: an error comes with its cause */
			free(cause);
			return rc < 0 ? -1 : 0;
		}
		cairn__envelope__free_unpacked(env, NULL);
		if (payload)
			evbuffer_free(payload);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	struct evbuffer *stream = evbuffer_new();
	if (mode & 1)
		evbuffer_add(stream, in.p, in.n);
	else
		fuzz_frames(&in, stream, mode & 2);
	struct evbuffer *buf = evbuffer_new();
	size_t piece = (mode & 4) ? (size_t)(mode >> 3) + 1 : evbuffer_get_length(stream) + 1;
	while (evbuffer_get_length(stream) > 0) {
		evbuffer_remove_buffer(stream, buf, piece);
		if (drain(buf) < 0)
			break;
	}
	evbuffer_free(buf);
	evbuffer_free(stream);
	return 0;
}
