/*
 * cmd_head: `cairn head [-c BYTES] PATH`, as `hdfs dfs -head`.
 *
 * Writes the first BYTES (default 1K; K, M, G suffixes) of a file to
 * standard output.
 */
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#define CLI_HEAD_DEFAULT 1024

int cli_print_range(struct cli *cli, const char *path, uint64_t off, uint64_t len)
{
	cairn_file_t *f;
	int err = cairn_open(cli->fs, path, CAIRN_O_RDONLY, 0, &f);
	if (err)
		return cli_fail(cli, err, "%s %s", cli->cmd->name, path);
	char buf[65536];
	int rc = CLI_OK;
	while (len > 0) {
		ssize_t n = cairn_pread(f, buf, len < sizeof(buf) ? (size_t)len : sizeof(buf), off);
		if (n < 0) {
			rc = cli_fail(cli, (int)n, "%s %s", cli->cmd->name, path);
			break;
		}
		if (n == 0)
			break;
		if (write_full(1, buf, (size_t)n) != 0) {
			rc = CLI_FAIL;
			break;
		}
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	cairn_close(f);
	return rc;
}

int cmd_head(struct cli *cli, int argc, char **argv)
{
	int opt, rc;
	uint64_t bytes = CLI_HEAD_DEFAULT;
	while ((opt = cli_getopt(cli, argc, argv, "c:", NULL)) != -1) {
		if (opt != 'c')
			return cli->rc;
		if (parse_size(optarg, &bytes) != 0)
			return cli_usage(cli, "-c must be a number of bytes, not '%s'", optarg);
	}
	if (argc - optind != 1)
		return cli_usage(cli, optind == argc ? "missing PATH" : "one PATH only");
	char *path = cli_path(cli, argv[optind], &rc);
	if (path && (rc = cli_connect(cli)) == CLI_OK)
		rc = cli_print_range(cli, path, 0, bytes);
	free(path);
	return rc;
}
