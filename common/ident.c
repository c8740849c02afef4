/*
 * ident: the identity file of a data dir (format in ident.h).
 *
 * Decoding is strict: every line is empty, a comment, or one known key and
 * its value; "format" and "fs_id" must be there, the format must be one we
 * know and the id must not be all zeros. Writing goes through
 * "<dir>/identity.tmp", which a failed write removes.
 */
#include "ident.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define IDENT_PATH_MAX 4096

int ident_generate(uint8_t id[IDENT_ID_LEN])
{
	int err = random_fill(id, IDENT_ID_LEN);
	if (err)
		return err;
	return ident_is_zero(id) ? -EAGAIN : 0;
}

int ident_is_zero(const uint8_t id[IDENT_ID_LEN])
{
	for (int i = 0; i < IDENT_ID_LEN; i++)
		if (id[i])
			return 0;
	return 1;
}

void ident_hex(const uint8_t id[IDENT_ID_LEN], char out[IDENT_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < IDENT_ID_LEN; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[IDENT_HEX_LEN] = '\0';
}

size_t ident_encode(const struct ident *id, char *buf, size_t cap)
{
	char hex[IDENT_HEX_LEN + 1];
	ident_hex(id->fs_id, hex);
	int n = snprintf(buf, cap,
			 "# cairn data dir identity: never copy it to another dir\n"
			 "format %" PRIu32 "\nfs_id %s\n",
			 id->format, hex);
	if (n > 0 && (size_t)n < cap && id->chunk_size)
		n += snprintf(buf + n, cap - (size_t)n, "chunk_size %" PRIu64 "\n", id->chunk_size);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int parse_hex(const char *s, uint8_t id[IDENT_ID_LEN])
{
	if (strlen(s) != IDENT_HEX_LEN)
		return -EINVAL;
	for (int i = 0; i < IDENT_ID_LEN; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* One "key value" line (NUL-terminated, no newline) into out; seen gets a bit per key. */
static int decode_line(char *line, struct ident *out, unsigned *seen, char **cause)
{
	char *sp = strchr(line, ' ');
	uint64_t v = 0;
	int err = -EINVAL;
	if (sp) {
		*sp = '\0';
		const char *val = sp + 1;
		if (strcmp(line, "format") == 0 && parse_u64(val, &v) == 0 && v <= UINT32_MAX) {
			out->format = (uint32_t)v;
			*seen |= 1;
			err = 0;
		} else if (strcmp(line, "fs_id") == 0 && parse_hex(val, out->fs_id) == 0) {
			*seen |= 2;
			err = 0;
		} else if (strcmp(line, "chunk_size") == 0 && parse_u64(val, &v) == 0) {
			out->chunk_size = v;
			err = 0;
		}
		*sp = ' ';
	}
	if (err)
		*cause = xasprintf("bad line \"%.64s\"", line);
	return err;
}

int ident_decode(const char *text, size_t len, struct ident *out, char **cause)
{
	char buf[IDENT_TEXT_MAX + 1];
	unsigned seen = 0;
	memset(out, 0, sizeof(*out));
	*cause = NULL;
	if (len > IDENT_TEXT_MAX || memchr(text, '\0', len)) {
		*cause = xstrdup("not an identity file");
		return -EINVAL;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	for (char *line = buf, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		int err = decode_line(line, out, &seen, cause);
		if (err)
			return err;
	}
	const char *bad = seen != 3			? "format or fs_id missing"
			  : out->format != IDENT_FORMAT ? "unknown format version"
			  : ident_is_zero(out->fs_id)	? "the fs_id is all zeros"
							: NULL;
	if (bad) {
		*cause = xstrdup(bad);
		return -EINVAL;
	}
	return 0;
}

int ident_read(const char *dir, struct ident *out, char **cause)
{
	char path[IDENT_PATH_MAX], text[IDENT_TEXT_MAX + 1];
	*cause = NULL;
	snprintf(path, sizeof(path), "%s/" IDENT_FILE, dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		if (err != -ENOENT)
			*cause = xasprintf("%s: %s", path, strerror(-err));
		return err;
	}
	size_t len = 0;
	ssize_t n = 0;
	while (len < sizeof(text) && (n = read(fd, text + len, sizeof(text) - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	int err = n < 0 ? -errno : 0;
	close(fd);
	char *why = NULL;
	if (!err)
		err = ident_decode(text, len, out, &why);
	if (err)
		*cause = xasprintf("%s: %s", path, why ? why : strerror(-err));
	free(why);
	return err;
}

int ident_write(const char *dir, const struct ident *id, char **cause)
{
	char path[IDENT_PATH_MAX], tmp[IDENT_PATH_MAX], text[IDENT_TEXT_MAX];
	const char *step = "open";
	*cause = NULL;
	snprintf(path, sizeof(path), "%s/" IDENT_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s/" IDENT_FILE ".tmp", dir);
	size_t len = ident_encode(id, text, sizeof(text));
	int err = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		err = -errno;
	if (!err && (err = write_full(fd, text, len)) < 0)
		step = "write";
	if (!err && fsync(fd) < 0 && (err = -errno) < 0)
		step = "fsync";
	if (fd >= 0)
		close(fd);
	if (!err && rename(tmp, path) < 0 && (err = -errno) < 0)
		step = "rename";
	if (err) {
		unlink(tmp);
	} else {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) < 0) {
			err = -errno;
			step = "fsync of the directory";
		}
		if (dfd >= 0)
			close(dfd);
	}
	if (err)
		*cause = xasprintf("%s: %s: %s", path, step, strerror(-err));
	return err;
}
