/* fuzz_util: see fuzz_util.h. */
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "crc32c.h"
#include "frame.h"
#include "log.h"

const uint8_t *fuzz_take(struct fuzz_in *in, size_t len, size_t *got)
{
	const uint8_t *p = in->p;
	if (len > in->n)
		len = in->n;
	in->p += len;
	in->n -= len;
	*got = len;
	return p;
}

uint16_t fuzz_u16(struct fuzz_in *in)
{
	size_t got;
	const uint8_t *p = fuzz_take(in, 2, &got);
	return got == 2 ? (uint16_t)(p[0] | p[1] << 8) : (got ? p[0] : 0);
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
	size_t got;
	const uint8_t *p = fuzz_take(in, 8, &got);
	uint64_t v = 0;
	for (size_t i = 0; i < got; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint8_t fuzz_u8(struct fuzz_in *in)
{
	size_t got;
	const uint8_t *p = fuzz_take(in, 1, &got);
	return got ? p[0] : 0;
}

static char *dir_made;

static void remove_dir(void)
{
	fuzz_clear(dir_made);
	rmdir(dir_made);
}

const char *fuzz_dir(void)
{
	if (dir_made)
		return dir_made;
	const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	char tmpl[256];
	snprintf(tmpl, sizeof(tmpl), "%s/cairn-fuzz-XXXXXX", root);
	if (!mkdtemp(tmpl))
		abort();
	dir_made = strdup(tmpl);
	atexit(remove_dir);
	return dir_made;
}

void fuzz_clear(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			fuzz_clear(path);
			rmdir(path);
		} else {
			unlink(path);
		}
	}
	closedir(d);
}

void fuzz_write(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
		abort();
	close(fd);
}

void fuzz_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void fuzz_be64(uint8_t *p, uint64_t v)
{
	fuzz_be32(p, (uint32_t)(v >> 32));
	fuzz_be32(p + 4, (uint32_t)v);
}

/* The frame around env (raw bytes) and payload, with a right header CRC. */
static void raw_frame(struct evbuffer *out, const uint8_t *env, size_t elen, const uint8_t *pay,
		      size_t plen)
{
	uint8_t hdr[FRAME_HEADER_SIZE];
	fuzz_be32(hdr, FRAME_MAGIC | FRAME_VERSION);
	fuzz_be32(hdr + 4, (uint32_t)elen);
	fuzz_be32(hdr + 8, (uint32_t)plen);
	fuzz_be32(hdr + 12, crc32c(0, env, elen));
	evbuffer_add(out, hdr, sizeof(hdr));
	evbuffer_add(out, env, elen);
	evbuffer_add(out, pay, plen);
}

void fuzz_frames(struct fuzz_in *in, struct evbuffer *out, int reencode)
{
	while (in->n > 0) {
		size_t elen, plen;
		uint16_t ewant = fuzz_u16(in), pwant = fuzz_u16(in);
		const uint8_t *env = fuzz_take(in, ewant, &elen);
		const uint8_t *pay = fuzz_take(in, pwant, &plen);
		Cairn__Envelope *e = reencode ? cairn__envelope__unpack(NULL, elen, env) : NULL;
		if (!e) {
			raw_frame(out, env, elen, pay, plen);
			continue;
		}
		e->n_payload_crc = 0;
		struct evbuffer *payload = NULL;
		if (plen) {
			payload = evbuffer_new();
			evbuffer_add(payload, pay, plen);
		}
		if (frame_encode(out, e, payload) < 0)
			raw_frame(out, env, elen, pay, plen);
		if (payload)
			evbuffer_free(payload);
		cairn__envelope__free_unpacked(e, NULL);
	}
}

int fuzz_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		abort();
	close(fd);
	return ntohs(a.sin_port);
}

/* Whether in holds the reply to the last call; 1 also when the server broke the stream. */
static int got_last_reply(struct evbuffer *in)
{
	for (;;) {
		Cairn__Envelope *env;
		struct evbuffer *payload;
		char *cause;
		int rc = frame_decode(in, &env, &payload, &cause);
		if (rc <= 0) {
			free(cause);
			return rc < 0;
		}
		int last = env->is_reply && env->call_id == FUZZ_LAST_CALL;
		cairn__envelope__free_unpacked(env, NULL);
		if (payload)
			evbuffer_free(payload);
		if (last)
			return 1;
	}
}

/*
 * connect(), finished when a signal (libFuzzer's timer) interrupts it: the
 * connection goes on in the background. Returns 0, or -1 with errno.
 */
static int connected(int fd, const struct sockaddr_in *a)
{
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0)
		return 0;
	if (errno != EINTR)
		return -1;
	struct pollfd p = {fd, POLLOUT, 0};
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -1;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

void fuzz_exchange(struct event_base *base, int port, struct evbuffer *stream)
{
	Cairn__Envelope ping = CAIRN__ENVELOPE__INIT;
	Cairn__Empty empty = CAIRN__EMPTY__INIT;
	ping.call_id = FUZZ_LAST_CALL;
	ping.body_case = CAIRN__ENVELOPE__BODY_PING;
	ping.ping = &empty;
	if (frame_encode(stream, &ping, NULL) < 0)
		abort();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	/* Reset at close: a TIME_WAIT per input would pile up by the ten thousand. */
	struct linger lg = {1, 0};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
	    connected(fd, &a) < 0) {
		/* The listener's backlog takes it before the loop accepts: the server is gone. */
		fprintf(stderr, "fuzz: connect to port %d: %s\n", port, strerror(errno));
		abort();
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	struct evbuffer *in = evbuffer_new();
	for (;;) {
		int busy = 0;
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (evbuffer_get_length(stream) > 0 && evbuffer_write(stream, fd) > 0)
			busy = 1; /* a write error: the server closed, which the read sees */
		int r = evbuffer_read(in, fd, 65536);
		if (r == 0 || (r < 0 && errno != EAGAIN) || got_last_reply(in))
			break;
		if (r > 0)
			busy = 1;
		if (!busy) {
			struct pollfd p = {fd, POLLIN, 0};
			poll(&p, 1, 1);
		}
	}
	evbuffer_free(in);
	evbuffer_drain(stream, evbuffer_get_length(stream));
	close(fd);
	event_base_loop(base, EVLOOP_NONBLOCK); /* let the server see the reset */
}

void fuzz_dispatch(struct event_base *base, int port, const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_u8(&in);
	struct evbuffer *stream = evbuffer_new();
	fuzz_frames(&in, stream, !(mode & 1));
	fuzz_exchange(base, port, stream);
	evbuffer_free(stream);
}

uint8_t fuzz_files(struct fuzz_in *in, const char *name, fuzz_build_fn build, const char **dir)
{
	static int quiet;
	if (!quiet++)
		log_set_level((enum log_level)(LOGL_ERROR + 1)); /* silent */
	*dir = fuzz_dir();
	fuzz_clear(*dir);
	uint8_t mode = fuzz_u8(in);
	if (mode & 1)
		fuzz_write(*dir, name, in->p, in->n);
	else
		build(*dir, in, mode);
	return mode;
}
