/*
 * cmd_append: `cairn append LOCAL... REMOTE` (hdfs's appendToFile).
 *
 * Appends the local files (or standard input, "-") in order to the end
 * of REMOTE, making it (0644) when missing. The file is written in place
 * under its write lease, so another writer is refused while append runs;
 * readers see the appended bytes once append's close returned (close-to-
 * open). A failed append leaves what was written before the failure
 * (each byte acknowledged by close only at the end).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Appends one local source to f. Returns CLI_OK or CLI_FAIL after printing why. */
static int append_one(struct cli *cli, const char *local, cairn_file_t *f, const char *remote,
		      struct cli_progress *pr)
{
	int fd = 0;
	if (strcmp(local, "-") != 0 && (fd = open(local, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "cairn: append %s: %s: %s\n", remote, local, strerror(errno));
		return CLI_FAIL;
	}
	int lerr = 0, err = cli_copy_in(fd, f, pr, &lerr);
	if (fd > 0)
		close(fd);
	if (err == 1) {
		cli_progress_end(pr, 0);
		fprintf(stderr, "cairn: append %s: %s: %s\n", remote, local,
			lerr == EINTR ? "interrupted" : strerror(lerr));
		return CLI_FAIL;
	}
	if (err) {
		cli_progress_end(pr, 0);
		return cli_fail(cli, err, "append %s", remote);
	}
	return CLI_OK;
}

int cmd_append(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if (argc - optind < 2)
		return cli_usage(cli, "missing LOCAL or REMOTE");
	char *remote = cli_path(cli, argv[argc - 1], &rc);
	if (!remote)
		return rc;
	cli_xfer_catch();
	cairn_file_t *f = NULL;
	int err = 0;
	if ((rc = cli_connect(cli)) != CLI_OK)
		goto out;
	err =
	    cairn_open(cli->fs, remote, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_APPEND, 0644, &f);
	if (err) {
		rc = cli_fail(cli, err, "append %s", remote);
		goto out;
	}
	char what[512];
	snprintf(what, sizeof(what), "append %s", remote);
	struct cli_progress pr;
	cli_progress_start(&pr, what);
	for (int i = optind; i < argc - 1 && rc == CLI_OK; i++)
		rc = append_one(cli, argv[i], f, remote, &pr);
	err = cairn_close(f);
	if (rc == CLI_OK && err) {
		cli_progress_end(&pr, 0);
		rc = cli_fail(cli, err, "append %s", remote);
	} else if (rc == CLI_OK) {
		cli_progress_end(&pr, 1);
	}
out:
	free(remote);
	return rc;
}
