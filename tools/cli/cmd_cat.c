/*
 * cmd_cat: `cairn cat PATH...`.
 *
 * Writes each file to standard output in turn, as cat(1). Each is read as
 * it was when cat opened it (close-to-open). A file that cannot be read
 * is reported (one line) and the rest still follow; the exit status is
 * then 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

#define CLI_CAT_BUF (1u << 20)

static int cat_one(struct cli *cli, const char *path, char *buf)
{
	cairn_file_t *f;
	int err = cairn_open(cli->fs, path, CAIRN_O_RDONLY, 0, &f);
	if (err)
		return cli_fail(cli, err, "cat %s", path);
	ssize_t n;
	while ((n = cairn_read(f, buf, CLI_CAT_BUF)) > 0) {
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
			fprintf(stderr, "cairn: cat %s: writing output: %s\n", path,
				strerror(errno));
			cairn_close(f);
			return CLI_FAIL;
		}
	}
	if (n < 0) {
		/* Now: a successful close() would replace the library's words. */
		int rc = cli_fail(cli, (int)n, "cat %s", path);
		cairn_close(f);
		return rc;
	}
	err = cairn_close(f);
	return err ? cli_fail(cli, err, "cat %s", path) : CLI_OK;
}

int cmd_cat(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	struct cli_strs paths = {0};
	rc = cli_path_args(cli, argc, argv, &paths);
	char *buf = xmalloc(CLI_CAT_BUF);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++)
		if (cat_one(cli, paths.v[i], buf) != CLI_OK)
			rc = CLI_FAIL;
	cli_strs_free(&paths);
	free(buf);
	return rc;
}
