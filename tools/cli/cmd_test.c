/*
 * cmd_test: `cairn test -e|-d|-f|-s|-z PATH`, as `hdfs dfs -test`.
 *
 * Prints nothing on an answer: exit 0 when PATH exists (-e), is a
 * directory (-d), is a file (-f), is a file of non-zero size (-s) or of
 * size zero (-z); else exit 1. A failure other than "no such path" (the
 * metaserver unreachable) prints one line and exits 1 too.
 */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

int cmd_test(struct cli *cli, int argc, char **argv)
{
	int opt, what = 0, rc;
	while ((opt = cli_getopt(cli, argc, argv, "edfsz", NULL)) != -1) {
		if (opt == '?')
			return cli->rc;
		if (what)
			return cli_usage(cli, "one of -e, -d, -f, -s, -z only");
		what = opt;
	}
	if (!what)
		return cli_usage(cli, "missing -e, -d, -f, -s or -z");
	if (argc - optind != 1)
		return cli_usage(cli, optind == argc ? "missing PATH" : "one PATH only");
	char *path = cli_path(cli, argv[optind], &rc);
	if (!path)
		return rc;
	struct cairn_stat st;
	int err = (rc = cli_connect(cli)) == CLI_OK ? cairn_stat(cli->fs, path, &st) : 0;
	if (rc == CLI_OK && err && err != -ENOENT && err != -ENOTDIR)
		rc = cli_fail(cli, err, "test %s", path);
	else if (rc == CLI_OK) {
		int file = !err && st.type != CAIRN_DIR;
		int yes = what == 'e'	? !err
			  : what == 'd' ? !err && st.type == CAIRN_DIR
			  : what == 'f' ? file
			  : what == 's' ? file && st.size > 0
					: file && st.size == 0;
		rc = yes ? CLI_OK : CLI_FAIL;
	}
	free(path);
	return rc;
}
