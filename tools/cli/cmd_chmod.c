/*
 * cmd_chmod: `cairn chmod [-R] MODE PATH...`.
 *
 * Sets the permission bits (MODE in octal, like 644 or 2755) of each
 * PATH, and with -R of everything under a directory. Stored in the
 * namespace; enforced once the security issue lands. PATH may be a glob
 * (quoted: cairn expands it).
 */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

static int set_mode(struct cli *cli, const char *path, const struct cairn_stat *st, void *arg)
{
	(void)st;
	int err = cairn_chmod(cli->fs, path, *(uint32_t *)arg);
	return err ? cli_fail(cli, err, "chmod %s", path) : CLI_OK;
}

int cmd_chmod(struct cli *cli, int argc, char **argv)
{
	int opt, rc, recursive = 0;
	while ((opt = cli_getopt(cli, argc, argv, "R", NULL)) != -1) {
		if (opt != 'R')
			return cli->rc;
		recursive = 1;
	}
	if (argc - optind < 2)
		return cli_usage(cli, "missing MODE or PATH");
	char *end;
	errno = 0;
	unsigned long mode = strtoul(argv[optind], &end, 8);
	if (argv[optind][0] < '0' || argv[optind][0] > '7' || *end || errno || mode > 07777)
		return cli_usage(cli, "MODE must be octal (like 644 or 2755), not '%s'",
				 argv[optind]);
	uint32_t m = (uint32_t)mode;
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	return cli_walk_args(cli, argc - optind - 1, argv + optind + 1, recursive, set_mode, &m);
}
