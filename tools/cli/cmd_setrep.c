/*
 * cmd_setrep: `cairn setrep N PATH...`.
 *
 * Sets the target replication of files (PATH may be a quoted glob); the metaserver checks the range
 * (1..16) and the replication monitor then adds or trims replicas in the
 * background. The command returns once the new target is durable, not
 * once the replicas match it. A target above the number of chunkservers
 * in service is accepted (more may join) with a warning on stderr (once,
 * naming the first file set), as HDFS does; the exit status is still 0.
 */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

/* Warns when fewer than n chunkservers are in service to hold the replicas. */
static void warn_short(struct cli *cli, unsigned long n, const char *path)
{
	struct cairn_node *nodes;
	size_t count, up = 0;
	if (cairn_admin_nodes(cli->fs, &nodes, &count) != 0)
		return; /* the target is set; the warning is only a courtesy */
	for (size_t i = 0; i < count; i++)
		up += nodes[i].state == CAIRN_NODE_UP;
	cairn_admin_nodes_free(nodes, count);
	if (up < n)
		fprintf(stderr,
			"cairn: setrep: warning: %s asks for %lu replicas but %zu chunkserver%s "
			"in service; it stays under-replicated until more join\n",
			path, n, up, up == 1 ? " is" : "s are");
}

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
	const char *first_set = NULL;
	if ((rc = cli_connect(cli)) == CLI_OK)
		rc = cli_expand(cli, argc - optind - 1, argv + optind + 1, &paths);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++) {
		int err = cairn_set_replication(cli->fs, paths.v[i], (uint32_t)n);
		if (err)
			rc = cli_fail(cli, err, "setrep %lu %s", n, paths.v[i]);
		else if (!first_set)
			first_set = paths.v[i];
	}
	if (first_set) /* once: the chunkservers are the same for every file */
		warn_short(cli, n, first_set);
	cli_strs_free(&paths);
	return rc;
}
