/*
 * test_ident: the data dirs' identity file (common/ident.c): encode then
 * decode gives the same id, format and chunk size; a chunkserver's file
 * (no chunk size) decodes too; every malformed text is refused with a cause
 * (missing keys, unknown keys or format, bad hex, a zero id, NUL bytes,
 * oversize); ident_write() then ident_read() round-trips through a real dir
 * and leaves no temp file; a missing file is -ENOENT; generated ids differ.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ident.h"

#include "check.h"

static void test_roundtrip(void)
{
	struct ident a = {.format = IDENT_FORMAT, .chunk_size = 64ull << 20}, b;
	char text[IDENT_TEXT_MAX], *cause = NULL;
	CHECK(ident_generate(a.fs_id) == 0 && !ident_is_zero(a.fs_id));
	size_t len = ident_encode(&a, text, sizeof(text));
	CHECK(len > 0 && len < sizeof(text));
	CHECK(ident_decode(text, len, &b, &cause) == 0 && !cause);
	CHECK(b.format == a.format && b.chunk_size == a.chunk_size);
	CHECK(memcmp(a.fs_id, b.fs_id, IDENT_ID_LEN) == 0);
	char hex[IDENT_HEX_LEN + 1];
	ident_hex(a.fs_id, hex);
	CHECK(strlen(hex) == IDENT_HEX_LEN && strstr(text, hex));

	a.chunk_size = 0; /* a chunkserver's */
	len = ident_encode(&a, text, sizeof(text));
	CHECK(!strstr(text, "chunk_size"));
	CHECK(ident_decode(text, len, &b, &cause) == 0 && b.chunk_size == 0);

	struct ident c;
	CHECK(ident_generate(c.fs_id) == 0 && memcmp(a.fs_id, c.fs_id, IDENT_ID_LEN) != 0);
}

static void test_bad(void)
{
	static const char *const bad[] = {
	    "",
	    "format 1\n",
	    "fs_id 0123456789abcdef0123456789abcdef\n",
	    "format 2\nfs_id 0123456789abcdef0123456789abcdef\n",
	    "format 1\nfs_id 0123456789abcdef0123456789abcde\n",
	    "format 1\nfs_id 0123456789abcdef0123456789abcdeg\n",
	    "format 1\nfs_id 0123456789ABCDEF0123456789ABCDEF\n",
	    "format 1\nfs_id 00000000000000000000000000000000\n",
	    "format 1\nfs_id 0123456789abcdef0123456789abcdef\ncolour blue\n",
	    "format 1\nfs_id 0123456789abcdef0123456789abcdef\nchunk_size -1\n",
	    "format 1\nfs_id 0123456789abcdef0123456789abcdef\nchunk_size 12x\n",
	    "format one\nfs_id 0123456789abcdef0123456789abcdef\n",
	    "format 1\nfs_id  0123456789abcdef0123456789abcdef\n",
	    "format\nfs_id 0123456789abcdef0123456789abcdef\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ident id;
		char *cause = NULL;
		int err = ident_decode(bad[i], strlen(bad[i]), &id, &cause);
		CHECKF(err == -EINVAL && cause, "accepted: %s", bad[i]);
		free(cause);
	}
	const char nul[] = "format 1\nfs_id 0123456789abcdef0123456789abcdef\n\0";
	struct ident id;
	char *cause = NULL;
	CHECK(ident_decode(nul, sizeof(nul) - 1, &id, &cause) == -EINVAL && cause);
	free(cause);
	char *big = calloc(1, IDENT_TEXT_MAX + 2);
	memset(big, '#', IDENT_TEXT_MAX + 1);
	cause = NULL;
	CHECK(ident_decode(big, IDENT_TEXT_MAX + 1, &id, &cause) == -EINVAL && cause);
	free(cause);
	free(big);
	const char *ok = "# a comment\n\nformat 1\nfs_id 0123456789abcdef0123456789abcdef\n";
	CHECK(ident_decode(ok, strlen(ok), &id, &cause) == 0 && id.fs_id[0] == 0x01 &&
	      id.fs_id[15] == 0xef);
}

static void test_files(void)
{
	char dir[] = "/tmp/cairn-ident-XXXXXX", path[256], *cause = NULL;
	CHECK(mkdtemp(dir) != NULL);
	struct ident a = {.format = IDENT_FORMAT, .chunk_size = 1 << 20}, b;
	CHECK(ident_read(dir, &b, &cause) == -ENOENT && !cause);
	CHECK(ident_generate(a.fs_id) == 0);
	CHECK(ident_write(dir, &a, &cause) == 0 && !cause);
	CHECK(ident_read(dir, &b, &cause) == 0 && !cause);
	CHECK(memcmp(a.fs_id, b.fs_id, IDENT_ID_LEN) == 0 && b.chunk_size == a.chunk_size);
	snprintf(path, sizeof(path), "%s/" IDENT_FILE ".tmp", dir);
	CHECK(access(path, F_OK) < 0);
	snprintf(path, sizeof(path), "%s/" IDENT_FILE, dir);
	FILE *f = fopen(path, "w");
	fputs("format 1\nfs_id nothex\n", f);
	fclose(f);
	CHECK(ident_read(dir, &b, &cause) == -EINVAL && cause && strstr(cause, path));
	free(cause);
	cause = NULL;
	CHECK(ident_write("/nonexistent/dir", &a, &cause) < 0 && cause);
	free(cause);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_roundtrip();
	test_bad();
	test_files();
	if (failures) {
		printf("test_ident: %d failures\n", failures);
		return 1;
	}
	printf("test_ident: ok\n");
	return 0;
}
