/*
 * cmd_tail: `cairn tail [-f] [-c BYTES] PATH`, as `hdfs dfs -tail`.
 *
 * Writes the last BYTES (default 1K) of a file to standard output. -f
 * then follows it: once a second the size is looked at again (what a
 * writer has committed: its renewals and its close) and what was added is
 * written, until interrupted (SIGINT, SIGTERM: exit 0). A file that
 * shrank is followed from its new end.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#define CLI_TAIL_DEFAULT 1024

int cmd_tail(struct cli *cli, int argc, char **argv)
{
	int opt, rc, follow = 0;
	uint64_t bytes = CLI_TAIL_DEFAULT;
	while ((opt = cli_getopt(cli, argc, argv, "fc:", NULL)) != -1) {
		if (opt == 'f')
			follow = 1;
		else if (opt != 'c')
			return cli->rc;
		else if (parse_size(optarg, &bytes) != 0)
			return cli_usage(cli, "-c must be a number of bytes, not '%s'", optarg);
	}
	if (argc - optind != 1)
		return cli_usage(cli, optind == argc ? "missing PATH" : "one PATH only");
	char *path = cli_path(cli, argv[optind], &rc);
	if (!path || (rc = cli_connect(cli)) != CLI_OK)
		goto out;
	struct cairn_stat st;
	int err = cairn_stat(cli->fs, path, &st);
	if (err || st.type == CAIRN_DIR) {
		rc = cli_fail(cli, err ? err : -EISDIR, "tail %s", path);
		goto out;
	}
	uint64_t from = st.size > bytes ? st.size - bytes : 0;
	rc = cli_print_range(cli, path, from, st.size - from);
	uint64_t at = st.size;
	if (follow)
		cli_xfer_catch();
	while (follow && rc == CLI_OK && !cli_xfer_stopped()) {
		sleep(1);
		if ((err = cairn_stat(cli->fs, path, &st)) != 0) {
			rc = cli_fail(cli, err, "tail %s", path);
			break;
		}
		if (st.size > at)
			rc = cli_print_range(cli, path, at, st.size - at);
		at = st.size;
	}
out:
	free(path);
	return rc;
}
