/*
 * cmd_get: `cairn get REMOTE LOCAL`.
 *
 * Copies the file REMOTE to LOCAL ("-": standard output), or into LOCAL
 * under REMOTE's name when LOCAL is a directory, as cp(1) does. The bytes
 * go to a temporary file next to the target (".NAME.cairn-get.XXXXXX"),
 * which is renamed over the target only once every byte arrived and the
 * file was closed without error: a failed get leaves no partial file and
 * an existing target untouched. The copy gets REMOTE's permission bits
 * less the umask. What is read is what the file held when get opened it
 * (close-to-open). On a terminal, standard error shows one updating line:
 * bytes and MB/s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

/* LOCAL, or LOCAL/basename(REMOTE) when LOCAL is a directory. */
static char *local_target(const char *local, const char *remote)
{
	struct stat st;
	if (stat(local, &st) != 0 || !S_ISDIR(st.st_mode))
		return strdup(local);
	char *base = cli_base_name(remote), *t = NULL;
	if (base &&
	    asprintf(&t, "%s%s%s", local, local[strlen(local) - 1] == '/' ? "" : "/", base) < 0)
		t = NULL;
	free(base);
	return t;
}

/* Makes the temporary file next to target. Returns its fd and a new *tmp, or -1. */
static int make_temp(const char *target, char **tmp)
{
	const char *slash = strrchr(target, '/');
	int dirlen = slash ? (int)(slash - target + 1) : 0;
	const char *name = slash ? slash + 1 : target;
	if (asprintf(tmp, "%.*s.%s.cairn-get.XXXXXX", dirlen, target, name) < 0) {
		*tmp = NULL;
		errno = ENOMEM;
		return -1;
	}
	int fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

static int get(struct cli *cli, const char *remote, const char *local)
{
	cairn_file_t *f;
	struct cairn_stat st;
	int err = cairn_stat(cli->fs, remote, &st);
	if (err == 0 && st.type == CAIRN_DIR)
		err = -EISDIR;
	if (err == 0)
		err = cairn_open(cli->fs, remote, CAIRN_O_RDONLY, 0, &f);
	if (err)
		return cli_fail(cli, err, "get %s", remote);
	int to_stdout = strcmp(local, "-") == 0, fd = 1;
	char *target = NULL, *tmp = NULL;
	if (!to_stdout) {
		target = local_target(local, remote);
		fd = target ? make_temp(target, &tmp) : -1;
		if (fd < 0) {
			fprintf(stderr, "cairn: get %s: %s: %s\n", remote, target ? target : local,
				strerror(target ? errno : ENOMEM));
			cairn_close(f);
			free(target);
			return CLI_FAIL;
		}
	}
	char what[512];
	snprintf(what, sizeof(what), "get %s", remote);
	struct cli_progress pr;
	cli_progress_start(&pr, what);
	int lerr = 0;
	err = cli_copy_out(f, fd, &pr, &lerr);
	if (err) {
		if (err < 0) {
			/* Now: a successful close() would replace the library's words. */
			cli_progress_end(&pr, 0);
			cli_fail(cli, err, "get %s", remote);
		}
		cairn_close(f);
	} else if ((err = cairn_close(f)) < 0) {
		cli_progress_end(&pr, 0);
		cli_fail(cli, err, "get %s", remote);
	}
	if (err == 0 && !to_stdout) {
		mode_t mask = umask(0);
		umask(mask);
		if (fchmod(fd, (mode_t)st.mode & 0777 & ~mask) < 0 || close(fd) < 0 ||
		    rename(tmp, target) < 0) {
			lerr = errno;
			err = 1;
		}
		fd = -1;
	}
	if (err == 1) {
		cli_progress_end(&pr, 0);
		fprintf(stderr, "cairn: get %s: %s: %s\n", remote,
			to_stdout ? "standard output" : target, strerror(lerr));
	} else if (err == 0) {
		cli_progress_end(&pr, 1);
	}
	if (!to_stdout) {
		if (fd >= 0)
			close(fd);
		if (err)
			unlink(tmp);
	}
	free(tmp);
	free(target);
	return err ? CLI_FAIL : CLI_OK;
}

int cmd_get(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if (argc - optind != 2)
		return cli_usage(cli, argc - optind < 2 ? "missing REMOTE or LOCAL"
							: "too many arguments");
	if (!*argv[optind + 1])
		return cli_usage(cli, "empty LOCAL");
	char *remote = cli_path(cli, argv[optind], &rc);
	if (!remote)
		return rc;
	if ((rc = cli_connect(cli)) == CLI_OK)
		rc = get(cli, remote, argv[optind + 1]);
	free(remote);
	return rc;
}
