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
	int rc, recursive;
	if ((rc = cli_spec_args(cli, argc, argv, "missing MODE or PATH", &recursive)) != CLI_OK)
		return rc;
	char *end;
	errno = 0;
	unsigned long mode = strtoul(argv[optind], &end, 8);
	if (argv[optind][0] < '0' || argv[optind][0] > '7' || *end || errno || mode > 07777)
		return cli_usage(cli, "MODE must be octal (like 644 or 2755), not '%s'",
				 argv[optind]);
	uint32_t m = (uint32_t)mode;
	return cli_spec_walk(cli, argc, argv, recursive, set_mode, &m);
}
