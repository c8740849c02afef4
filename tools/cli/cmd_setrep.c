/*
 * cmd_setrep: `cairn setrep N PATH`.
 *
 * Sets the target replication of a file; the metaserver checks the range
 * (1..16) and the replication monitor then adds or trims replicas in the
 * background. The command returns once the new target is durable, not
 * once the replicas match it.
 */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

int cmd_setrep(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if (argc - optind < 2)
		return cli_usage(cli, "missing N or PATH");
	char *end;
	errno = 0;
	unsigned long n = strtoul(argv[optind], &end, 10);
	if (argv[optind][0] < '0' || argv[optind][0] > '9' || *end || errno || n == 0 ||
	    n > UINT32_MAX)
		return cli_usage(cli, "N must be a positive number of replicas, not '%s'",
				 argv[optind]);
	struct cli_strs paths = {0};
	if ((rc = cli_connect(cli)) == CLI_OK)
		rc = cli_expand(cli, argc - optind - 1, argv + optind + 1, &paths);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++) {
		int err = cairn_set_replication(cli->fs, paths.v[i], (uint32_t)n);
		if (err)
			rc = cli_fail(cli, err, "setrep %lu %s", n, paths.v[i]);
	}
	cli_strs_free(&paths);
	return rc;
}
