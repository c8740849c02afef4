/*
 * cmd_locations: `cairn locations [--json] PATH`.
 *
 * Where each chunk of a file lives, for scheduling work near the data:
 * one line per chunk with its index, the file offset and length it
 * covers, the chunk id (hex) and version, and the chunkservers holding it
 * (comma-separated, best first). --json prints exactly DESIGN §7's
 * [{"index", "offset", "length", "chunk", "version", "replicas": [addr,
 * ...]}], chunk as a decimal integer. The locations are the metaserver's
 * at the time of the call, for the size of the file's last close.
 */
#include <stdlib.h>

#include "cli.h"

static void print_json(const struct cairn_chunk_loc *l, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++) {
		printf(
		    "%s\n  {\"index\": %llu, \"offset\": %llu, \"length\": %llu, \"chunk\": %llu, "
		    "\"version\": %llu, \"replicas\": [",
		    i ? "," : "", (unsigned long long)l[i].index, (unsigned long long)l[i].offset,
		    (unsigned long long)l[i].length, (unsigned long long)l[i].chunk_id,
		    (unsigned long long)l[i].version);
		for (size_t j = 0; j < l[i].nreplicas; j++) {
			printf("%s", j ? ", " : "");
			cli_json_str(stdout, l[i].replicas[j]);
		}
		printf("]}");
	}
	printf("%s]\n", n ? "\n" : "");
}

static void print_plain(const struct cairn_chunk_loc *l, size_t n)
{
	printf("%-6s %-12s %-10s %-16s %-8s %s\n", "INDEX", "OFFSET", "LENGTH", "CHUNK", "VERSION",
	       "REPLICAS");
	for (size_t i = 0; i < n; i++) {
		printf("%-6llu %-12llu %-10llu %016llx %-8llu ", (unsigned long long)l[i].index,
		       (unsigned long long)l[i].offset, (unsigned long long)l[i].length,
		       (unsigned long long)l[i].chunk_id, (unsigned long long)l[i].version);
		for (size_t j = 0; j < l[i].nreplicas; j++)
			printf("%s%s", j ? "," : "", l[i].replicas[j]);
		printf("%s\n", l[i].nreplicas ? "" : "(none)");
	}
}

int cmd_locations(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if (argc - optind != 1)
		return cli_usage(cli, optind == argc ? "missing PATH" : "one PATH only");
	char *path = cli_path(cli, argv[optind], &rc);
	if (!path)
		return rc;
	if ((rc = cli_connect(cli)) == CLI_OK) {
		struct cairn_chunk_loc *locs;
		size_t n;
		int err = cairn_chunk_locations(cli->fs, path, 0, 0, &locs, &n);
		if (err) {
			rc = cli_fail(cli, err, "locations %s", path);
		} else {
			if (cli->json)
				print_json(locs, n);
			else
				print_plain(locs, n);
			cairn_chunk_locations_free(locs, n);
		}
	}
	free(path);
	return rc;
}
