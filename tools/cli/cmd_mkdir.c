/*
 * cmd_mkdir: `cairn mkdir [-p] PATH...`.
 *
 * Without -p the parent must exist and the path must not. With -p missing
 * parents are made and an existing directory is fine (an existing file is
 * not). Every PATH is tried; the exit status is 1 if any failed, and the
 * rest are skipped once the metaserver is unreachable.
 */
#include <stdlib.h>

#include "cli.h"

int cmd_mkdir(struct cli *cli, int argc, char **argv)
{
	int parents = 0, opt, rc;
	while ((opt = cli_getopt(cli, argc, argv, "p", NULL)) != -1) {
		if (opt != 'p')
			return cli->rc;
		parents = 1;
	}
	if (optind == argc)
		return cli_usage(cli, "missing PATH");
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	for (int i = optind; i < argc && !cli->unreachable; i++) {
		int prc;
		char *path = cli_path(cli, argv[i], &prc);
		if (!path)
			return prc;
		int err = parents ? cairn_mkdirs(cli->fs, path, 0) : cairn_mkdir(cli->fs, path, 0);
		if (err)
			rc = cli_fail(cli, err, "mkdir %s", path);
		free(path);
	}
	return rc;
}
