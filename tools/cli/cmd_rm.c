/*
 * cmd_rm: `cairn rm [-r] PATH...`.
 *
 * Without -r only files are removed: a directory is refused ("Is a
 * directory", as rm(1) does), which costs one stat first. With -r a
 * directory goes with everything under it, in one metaserver operation.
 * Every PATH is tried; the exit status is 1 if any failed, and the rest
 * are skipped once the metaserver is unreachable.
 */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

static int rm_one(struct cli *cli, const char *path, int recursive)
{
	if (!recursive) {
		struct cairn_stat st;
		int err = cairn_stat(cli->fs, path, &st);
		if (err == 0 && st.type == CAIRN_DIR)
			err = -EISDIR;
		if (err)
			return cli_fail(cli, err, "rm %s", path);
	}
	int err = cairn_remove(cli->fs, path, recursive);
	return err ? cli_fail(cli, err, "rm %s", path) : CLI_OK;
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
	int recursive = 0, opt, rc;
	while ((opt = cli_getopt(cli, argc, argv, "r", NULL)) != -1) {
		if (opt != 'r')
			return cli->rc;
		recursive = 1;
	}
	if (optind == argc)
		return cli_usage(cli, "missing PATH");
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	struct cli_strs paths = {0};
	if ((rc = cli_expand(cli, argc - optind, argv + optind, &paths)) == CLI_OK)
		for (size_t i = 0; i < paths.n && !cli->unreachable; i++)
			if (rm_one(cli, paths.v[i], recursive) != CLI_OK)
				rc = CLI_FAIL;
	cli_strs_free(&paths);
	return rc;
}
