/*
 * cmd_truncate: `cairn truncate SIZE PATH...`.
 *
 * Sets each file's size (SIZE in bytes, or with K, M, G, T suffixes):
 * shorter drops the bytes past it, longer appends zeros
 * (cairn_truncate()). Refused while another client writes the file.
 * PATH may be a glob (quoted: cairn expands it).
 */
#include "cli.h"
#include "util.h"

int cmd_truncate(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if (argc - optind < 2)
		return cli_usage(cli, "missing SIZE or PATH");
	uint64_t size;
	if (parse_size(argv[optind], &size) != 0)
		return cli_usage(cli,
				 "SIZE must be a number of bytes (like 0, 4096, 10M), not '%s'",
				 argv[optind]);
	struct cli_strs paths = {0};
	if ((rc = cli_connect(cli)) == CLI_OK)
		rc = cli_expand(cli, argc - optind - 1, argv + optind + 1, &paths);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++) {
		int err = cairn_truncate(cli->fs, paths.v[i], size);
		if (err)
			rc = cli_fail(cli, err, "truncate %s", paths.v[i]);
	}
	cli_strs_free(&paths);
	return rc;
}
