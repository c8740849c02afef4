/*
 * cmd_touch: `cairn touch PATH...`.
 *
 * Makes each missing PATH an empty file (0644), and sets the modification
 * and access times of an existing one to now, as touch(1).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "util.h"

int cmd_touch(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if ((rc = cli_need_paths(cli, argc)) != CLI_OK)
		return rc;
	for (int i = optind; i < argc && !cli->unreachable; i++) {
		char *path = cli_path(cli, argv[i], &rc);
		if (!path)
			return rc;
		int err = cairn_create(cli->fs, path, 0644, 0, 1);
		if (err == -EEXIST) {
			int64_t now = time_now_us();
			err = cairn_utimes(cli->fs, path, now, now);
		}
		if (err)
			rc = cli_fail(cli, err, "touch %s", path);
		free(path);
	}
	return rc;
}
