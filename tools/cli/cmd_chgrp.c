/*
 * cmd_chgrp: `cairn chgrp [-R] GROUP PATH...`: chown with a group only
 * (cmd_chown.c).
 */
#include "cli.h"

int cmd_chgrp(struct cli *cli, int argc, char **argv)
{
	return cli_chown_run(cli, argc, argv, 1);
}
