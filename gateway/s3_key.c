/*
 * s3_key: object keys to cairn paths and back.
 *
 * A key is split at '/'; each segment becomes one path component:
 *   '%' is written "%25", an empty segment "%", "." is "%2E" and ".." is
 *   "%2E%2E"; every other byte stays as it is.
 * So "a//b" is a/%/b, a folder marker "photos/" is the file photos/%, and
 * "../x" is %2E%2E/x. The mapping is one-to-one: a lone "%" only comes
 * from an empty segment, and every other '%' in a name starts an escape.
 * Names starting with "%." are never produced: the gateway keeps its own
 * files under them. Keys are at most S3_KEY_MAX bytes, as in S3. A key
 * and another key that continues it past a '/' ("a/b" and "a/b/c") cannot
 * both exist, as a path cannot be a file and a directory: the second
 * upload gets an S3 error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"
#include "util.h"

int key_bucket_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
		if (!alnum && ch != '.' && ch != '-')
			return 0;
		if (!alnum && (i == 0 || i == n - 1))
			return 0;
	}
	return 1;
}

void key_segment_escape(struct sbuf *b, const char *seg, size_t n)
{
	if (n == 0) {
		sbuf_adds(b, "%");
		return;
	}
	if (n == 1 && seg[0] == '.') {
		sbuf_adds(b, "%2E");
		return;
	}
	if (n == 2 && seg[0] == '.' && seg[1] == '.') {
		sbuf_adds(b, "%2E%2E");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (seg[i] == '%')
			sbuf_adds(b, "%25");
		else
			sbuf_add(b, seg + i, 1);
	}
}

char *key_segment_unescape(const char *name)
{
	if (name[0] == '%' && name[1] == '.')
		return NULL;
	if (strcmp(name, "%") == 0)
		return xstrdup("");
	return http_unescape(name, strlen(name), 0);
}

int key_path(struct sbuf *b, const char *root, const char *bucket, const char *key)
{
	sbuf_printf(b, "%s/%s", root, bucket);
	if (!key)
		return 0;
	size_t n = strlen(key);
	if (n == 0 || n > S3_KEY_MAX)
		return -EINVAL;
	const char *seg = key;
	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
		sbuf_adds(b, "/");
		key_segment_escape(b, seg, len);
		if (!slash)
			return 0;
		seg = slash + 1;
	}
}

void key_internal(struct sbuf *b, const char *root, const char *bucket, const char *area,
		  const char *name)
{
	sbuf_printf(b, "%s/%s/%%.%s", root, bucket, area);
	if (name)
		sbuf_printf(b, "/%s", name);
}
