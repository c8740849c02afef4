/*
 * cmd_put: `cairn put [-f] [-r N] LOCAL REMOTE`.
 *
 * Copies the local file LOCAL ("-": standard input) to REMOTE, or into
 * REMOTE under LOCAL's name when REMOTE is a directory, as cp(1) does. An
 * existing target is refused unless -f. The file gets LOCAL's permission
 * bits less the umask (0644 from standard input). -r N makes the file
 * with N replicas per chunk.
 *
 * Atomic, as hdfs's put: the bytes go to a hidden temporary next to the
 * target (cairn_temp_path(): ".NAME.<hex>._COPYING_"), which is renamed
 * over the target only once cairn_close() returned 0, when every byte is
 * stored on every replica of its chunk and the size is committed. Without
 * -f the rename refuses an existing target atomically. A failed copy
 * removes its temporary and leaves the target as it was; one killed
 * outright leaves the temporary to the metaserver, which removes it when
 * its write lease expires. SIGINT, SIGTERM and SIGHUP stop the copy
 * cleanly (temporary removed, exit 1).
 *
 * On a terminal, standard error shows one updating line: bytes and MB/s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The remote name: REMOTE, or REMOTE/basename(LOCAL) when REMOTE is a directory. */
static char *target_path(struct cli *cli, const char *local, char *remote, int *rc)
{
	struct cairn_stat st;
	int err = cairn_stat(cli->fs, remote, &st);
	if (err && err != -ENOENT) {
		*rc = cli_fail(cli, err, "put %s", remote);
		return NULL;
	}
	if (err || st.type != CAIRN_DIR)
		return strdup(remote);
	char *base = cli_base_name(local);
	if (!base) {
		*rc = cli_usage(cli, "%s is a directory: name the file to make in it", remote);
		return NULL;
	}
	char *t = cli_join(remote, base);
	free(base);
	return t;
}

/* Copies fd into the temporary tmp. Returns 0 or CLI_FAIL after printing why. */
static int write_temp(struct cli *cli, const char *local, int fd, uint32_t mode, const char *tmp,
		      const char *target, int *made)
{
	cairn_file_t *f;
	int err = cairn_open(cli->fs, tmp, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_EXCL, mode, &f);
	if (err)
		return cli_fail(cli, err, "put %s", target);
	*made = 1;
	char what[512];
	snprintf(what, sizeof(what), "put %s", target);
	struct cli_progress pr;
	cli_progress_start(&pr, what);
	int lerr = 0;
	err = cli_copy_in(fd, f, &pr, &lerr);
	if (err) {
		/* Now: close() would replace the library's words. */
		cli_progress_end(&pr, 0);
		if (err == 1 && lerr == EINTR)
			fprintf(stderr, "cairn: put %s: interrupted\n", target);
		else if (err == 1)
			fprintf(stderr, "cairn: put %s: reading %s: %s\n", target, local,
				strerror(lerr));
		else
			cli_fail(cli, err, "put %s", target);
		cairn_close(f);
		return CLI_FAIL;
	}
	if ((err = cairn_close(f)) != 0) {
		cli_progress_end(&pr, 0);
		return cli_fail(cli, err, "put %s", target);
	}
	cli_progress_end(&pr, 1);
	return CLI_OK;
}

/* The one line for a target that is there already. Returns CLI_FAIL. */
static int refuse_existing(const char *target, int is_dir)
{
	fprintf(stderr, "cairn: put %s: %s\n", target,
		is_dir ? "a directory is in the way" : "the file exists (-f replaces it)");
	return CLI_FAIL;
}

static int put(struct cli *cli, const char *local, int fd, uint32_t mode, int force, char *remote)
{
	int rc = CLI_FAIL, made = 0;
	char *target = target_path(cli, local, remote, &rc);
	if (!target)
		return rc;
	struct cairn_stat st;
	int err = force ? -ENOENT : cairn_stat(cli->fs, target, &st);
	char tmp[CLI_PATH_BUF];
	if (err == 0)
		rc = refuse_existing(target, st.type == CAIRN_DIR);
	else if (err != -ENOENT)
		rc = cli_fail(cli, err, "put %s", target);
	else if ((err = cairn_temp_path(target, tmp, sizeof(tmp))) != 0)
		rc = cli_fail(cli, err, "put %s", target);
	else if ((rc = write_temp(cli, local, fd, mode, tmp, target, &made)) == CLI_OK) {
		err = cairn_rename2(cli->fs, tmp, target, force ? 0 : CAIRN_RENAME_NOREPLACE);
		if (err == -EEXIST) /* made meanwhile by another client */
			rc = refuse_existing(target, 0);
		else if (err)
			rc = cli_fail(cli, err, "put %s", target);
	}
	if (rc != CLI_OK && made && !cli->unreachable)
		cairn_remove(cli->fs, tmp, 0);
	free(target);
	return rc;
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
	int opt, rc, force = 0;
	while ((opt = cli_getopt(cli, argc, argv, "fr:", NULL)) != -1) {
		if (opt == 'f') {
			force = 1;
			continue;
		}
		if (opt != 'r')
			return cli->rc;
		char *end;
		errno = 0;
		unsigned long n = strtoul(optarg, &end, 10);
		if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || n == 0 || n > UINT32_MAX)
			return cli_usage(cli, "-r must be a positive number of replicas, not '%s'",
					 optarg);
		cli->replication = (uint32_t)n;
	}
	if (argc - optind != 2)
		return cli_usage(cli, argc - optind < 2 ? "missing LOCAL or REMOTE"
							: "too many arguments");
	const char *local = argv[optind];
	int fd = 0;
	uint32_t mode = 0;
	if (strcmp(local, "-") != 0) {
		if ((fd = open(local, O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "cairn: put %s: %s\n", local, strerror(errno));
			return CLI_FAIL;
		}
		struct stat lst;
		if (fstat(fd, &lst) == 0 && S_ISDIR(lst.st_mode)) {
			fprintf(stderr, "cairn: put %s: %s\n", local, strerror(EISDIR));
			close(fd);
			return CLI_FAIL;
		}
		mode_t mask = umask(0);
		umask(mask);
		mode = (uint32_t)(lst.st_mode & 0777 & ~mask);
	}
	cli_xfer_catch();
	char *remote = cli_path(cli, argv[optind + 1], &rc);
	if (remote && (rc = cli_connect(cli)) == CLI_OK)
		rc = put(cli, local, fd, mode, force, remote);
	free(remote);
	if (fd > 0)
		close(fd);
	return rc;
}
