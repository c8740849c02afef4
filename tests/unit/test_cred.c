/*
 * test_cred: the credentials file (common/cred.c). cred_write() then
 * cred_read() gives back the name and key, the file is mode 0600 and no
 * temp file is left; a rewrite (rotate) replaces the key; a file open to
 * group or others is refused (-EACCES); malformed files are refused with a
 * cause (no key, two users, bad hex, short key, unknown key, NUL bytes,
 * oversize); bad names are refused at write; a missing file is -ENOENT.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cred.h"

#include "util.h"

#include "check.h"

static char dir[] = "/tmp/test_cred.XXXXXX";

static void put_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

static void test_roundtrip(void)
{
	char path[256], user[CRED_NAME_MAX + 1], *cause = NULL;
	uint8_t key[TOKEN_KEY_LEN], back[TOKEN_KEY_LEN];
	struct stat st;
	snprintf(path, sizeof(path), "%s/alice.cred", dir);
	CHECK(random_fill(key, sizeof(key)) == 0);
	CHECK(cred_write(path, "alice", key, &cause) == 0 && !cause);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(access(strcat(strcpy((char[300]){0}, path), ".tmp"), F_OK) != 0);
	CHECK(cred_read(path, user, back, &cause) == 0 && !cause);
	CHECK(strcmp(user, "alice") == 0 && memcmp(key, back, sizeof(key)) == 0);

	key[0] ^= 0xff; /* rotate */
	CHECK(cred_write(path, "alice", key, &cause) == 0);
	CHECK(cred_read(path, user, back, &cause) == 0 && memcmp(key, back, sizeof(key)) == 0);

	CHECK(chmod(path, 0640) == 0);
	CHECK(cred_read(path, user, back, &cause) == -EACCES && cause && strstr(cause, "chmod"));
	free(cause);
	unlink(path);
	CHECK(cred_read(path, user, back, &cause) == -ENOENT && cause);
	free(cause);

	static const char *const bad_names[] = {
	    "", "Alice", "9lives", "a b", "a/b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++) {
		CHECK(cred_write(path, bad_names[i], key, &cause) == -EINVAL && cause);
		free(cause);
	}
	CHECK(cred_name_ok("_svc.backup-1") && cred_name_ok("a"));
}

static void test_bad_files(void)
{
	static const char *const bad[] = {
	    "",
	    "user alice\n",
	    "key 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
	    "user alice\nuser bob\nkey "
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
	    "user alice\nkey 00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n",
	    "user alice\nkey 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n",
	    "user alice\nkey 0011\n",
	    "user alice\nkey 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
	    "colour blue\n",
	    "user Alice\nkey 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
	};
	char path[256], user[CRED_NAME_MAX + 1], *cause = NULL;
	uint8_t key[TOKEN_KEY_LEN];
	snprintf(path, sizeof(path), "%s/bad.cred", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		put_file(path, bad[i], 0600);
		CHECKF(cred_read(path, user, key, &cause) == -EINVAL && cause, "bad[%zu]", i);
		free(cause);
	}
	char big[CRED_TEXT_MAX + 50];
	memset(big, '#', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put_file(path, big, 0600);
	CHECK(cred_read(path, user, key, &cause) == -EINVAL && cause);
	free(cause);
	int fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "user alice\n\0key 00\n", 19) == 19);
	close(fd);
	CHECK(cred_read(path, user, key, &cause) == -EINVAL && cause);
	free(cause);
	put_file(path,
		 "# comment\nuser bob\nkey "
		 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
		 0600);
	CHECK(cred_read(path, user, key, &cause) == 0 && strcmp(user, "bob") == 0 &&
	      key[1] == 0x11);
	unlink(path);
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL);
	test_roundtrip();
	test_bad_files();
	rmdir(dir);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
