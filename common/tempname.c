/*
 * tempname: in-progress copies' names (contract in tempname.h).
 */
#include "tempname.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define NONCE_LEN 16 /* hex digits */

int tempname_is(const char *name)
{
	size_t n = strlen(name), s = sizeof(TEMPNAME_SUFFIX) - 1;
	return n > s + 1 && name[0] == '.' && memcmp(name + n - s, TEMPNAME_SUFFIX, s) == 0;
}

int tempname_make(const char *path, uint64_t nonce, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dirlen = (size_t)(base - path);
	size_t baselen = strlen(base);
	if (baselen == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return -EINVAL;
	/* "." + base + "." + nonce + suffix */
	size_t extra = 2 + NONCE_LEN + sizeof(TEMPNAME_SUFFIX) - 1;
	if (baselen + extra > TEMPNAME_NAME_MAX)
		baselen = TEMPNAME_NAME_MAX - extra;
	int n = snprintf(buf, size, "%.*s.%.*s.%016" PRIx64 "%s", (int)dirlen, path, (int)baselen,
			 base, nonce, TEMPNAME_SUFFIX);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
