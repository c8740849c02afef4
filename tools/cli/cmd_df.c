/*
 * cmd_df: `cairn df [--json]`.
 *
 * What the file system holds. The metaserver does not yet report the
 * cluster's space (capacity, used, per node) to clients over the
 * protocol, so df counts the namespace instead, by walking it from "/":
 * files, directories and bytes (file sizes, one replica's worth), and
 * says the capacity is unknown. That walk reads every directory: on a
 * large namespace it takes a while. --json prints {"files", "dirs",
 * "bytes", "capacity": null, "used": null}.
 */
#include "cli.h"

int cmd_df(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if (argc != optind)
		return cli_usage(cli, "no arguments expected");
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	struct cairn_stat st;
	int err = cairn_stat(cli->fs, "/", &st);
	if (err)
		return cli_fail(cli, err, "df");
	struct cli_usage u = {0};
	if (cli_usage_walk(cli, "/", &st, &u) != CLI_OK)
		return CLI_FAIL;
	if (cli->json) {
		printf("{\"files\": %llu, \"dirs\": %llu, \"bytes\": %llu, \"capacity\": null, "
		       "\"used\": null}\n",
		       (unsigned long long)u.files, (unsigned long long)u.dirs,
		       (unsigned long long)u.bytes);
	} else {
		printf("files:       %llu\n", (unsigned long long)u.files);
		printf("directories: %llu\n", (unsigned long long)u.dirs);
		printf("bytes:       %llu (file sizes, one replica each)\n",
		       (unsigned long long)u.bytes);
		printf("capacity:    unknown (the metaserver does not report cluster space to "
		       "clients yet)\n");
	}
	return u.rc ? u.rc : CLI_OK;
}
