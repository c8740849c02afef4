/*
 * cmd_count: `cairn count [-q] [-h] PATH...`, as `hdfs dfs -count`.
 *
 * One line per PATH: directories (PATH itself included), files, bytes
 * and the path; -q puts the quota columns first (QUOTA REM_QUOTA
 * SPACE_QUOTA REM_SPACE_QUOTA: cairn has no quotas, so "none inf none
 * inf"); -h prints sizes for people. PATH may be a glob (quoted).
 */
#include <stdlib.h>

#include "cli.h"

int cmd_count(struct cli *cli, int argc, char **argv)
{
	int opt, quotas = 0, human = 0, rc;
	while ((opt = cli_getopt(cli, argc, argv, "qh", NULL)) != -1) {
		if (opt == 'q')
			quotas = 1;
		else if (opt == 'h')
			human = 1;
		else
			return cli->rc;
	}
	struct cli_strs paths = {0};
	rc = cli_path_args(cli, argc, argv, &paths);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++) {
		struct cairn_stat st;
		struct cli_usage u = {0};
		int err = cairn_stat(cli->fs, paths.v[i], &st);
		if (err) {
			rc = cli_fail(cli, err, "count %s", paths.v[i]);
			continue;
		}
		if (cli_usage_walk(cli, paths.v[i], &st, &u) != CLI_OK || u.rc != CLI_OK)
			rc = CLI_FAIL;
		char size[CLI_SIZE_BUF];
		if (quotas)
			printf("%12s %15s %12s %15s ", "none", "inf", "none", "inf");
		printf("%12llu %12llu %18s %s\n", (unsigned long long)u.dirs,
		       (unsigned long long)u.files, cli_size_str(size, u.bytes, human), paths.v[i]);
	}
	cli_strs_free(&paths);
	return rc;
}
