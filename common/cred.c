/*
 * cred: a user's credentials file; the format and invariants are in cred.h.
 *
 * Reading is strict: exactly the two keys, once each, in lowercase hex of
 * the right length, and nothing else but comments, so a damaged or foreign
 * file is named as such instead of authenticating as someone else.
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

static const char HEADER[] = "# cairn credentials: keep private (mode 0600)\n";

int cred_name_ok(const char *name)
{
	size_t n = strnlen(name, CRED_NAME_MAX + 1);
	if (n == 0 || n > CRED_NAME_MAX || !(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z')))
		return 0;
	for (size_t i = 1; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

static int fail(char **cause, int err, const char *what, const char *path)
{
	if (asprintf(cause, "%s %s: %s", what, path, strerror(err < 0 ? -err : err)) < 0)
		*cause = NULL;
	return err < 0 ? err : -err;
}

int cred_write(const char *path, const char *user, const uint8_t key[TOKEN_KEY_LEN], char **cause)
{
	char text[CRED_TEXT_MAX], tmp[4096];
	*cause = NULL;
	if (!cred_name_ok(user)) {
		*cause =
		    strdup("a user name is 1-32 of a-z 0-9 _ . - and starts with a letter or _");
		return -EINVAL;
	}
	int len = snprintf(text, sizeof(text), "%suser %s\nkey ", HEADER, user);
	for (int i = 0; i < TOKEN_KEY_LEN; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len, "%02x", key[i]);
	len += snprintf(text + len, sizeof(text) - (size_t)len, "\n");
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return fail(cause, ENAMETOOLONG, "cannot write", path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(cause, errno, "cannot create", tmp);
	int err = fchmod(fd, 0600) ? -errno : write_full(fd, text, (size_t)len);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return fail(cause, err, "cannot write", path);
	}
	return 0;
}

static int hex_key(const char *hex, uint8_t key[TOKEN_KEY_LEN])
{
	if (strlen(hex) != 2 * TOKEN_KEY_LEN)
		return -EINVAL;
	for (int i = 0; i < 2 * TOKEN_KEY_LEN; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -EINVAL;
		key[i / 2] = (uint8_t)((i % 2) ? (key[i / 2] | v) : (v << 4));
	}
	return 0;
}

static int parse(char *text, char *user, uint8_t key[TOKEN_KEY_LEN])
{
	int have_user = 0, have_key = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		if (strncmp(line, "user ", 5) == 0 && !have_user && cred_name_ok(line + 5)) {
			strcpy(user, line + 5);
			have_user = 1;
		} else if (strncmp(line, "key ", 4) == 0 && !have_key &&
			   hex_key(line + 4, key) == 0) {
			have_key = 1;
		} else {
			return -EINVAL;
		}
	}
	return have_user && have_key ? 0 : -EINVAL;
}

int cred_read(const char *path, char *user, uint8_t key[TOKEN_KEY_LEN], char **cause)
{
	char text[CRED_TEXT_MAX + 1];
	struct stat st;
	*cause = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(cause, errno, "cannot open credentials", path);
	if (fstat(fd, &st)) {
		int err = errno;
		close(fd);
		return fail(cause, err, "cannot stat credentials", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		if (asprintf(cause, "credentials %s are open to other users (chmod 600 it)", path) <
		    0)
			*cause = NULL;
		return -EACCES;
	}
	ssize_t n = read(fd, text, sizeof(text));
	int err = n < 0 ? errno : 0;
	close(fd);
	if (err)
		return fail(cause, err, "cannot read credentials", path);
	if (n > CRED_TEXT_MAX || memchr(text, '\0', (size_t)n) ||
	    (text[n] = '\0', parse(text, user, key))) {
		if (asprintf(cause, "%s is not a cairn credentials file", path) < 0)
			*cause = NULL;
		return -EINVAL;
	}
	return 0;
}
