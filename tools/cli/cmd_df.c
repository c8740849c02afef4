/*
 * cmd_df: `cairn df [-h] [--json]`.
 *
 * What the file system holds and the room it has. Space comes from the
 * chunkservers as the metaserver last heard them (admin nodes): capacity
 * and used summed over the nodes that are up (a dead or decommissioned
 * node's disk is not room to write into), with the nodes counted. Files,
 * directories and bytes (file sizes, one replica's worth) come from a
 * walk of the namespace from "/": on a large namespace that takes a
 * while. --json prints {"files", "dirs", "bytes", "capacity", "used",
 * "nodes"}.
 */
#include "cli.h"

struct df_space {
	uint64_t capacity, used;
	size_t nodes; /* up */
};

static int df_space(struct cli *cli, struct df_space *sp)
{
	struct cairn_node *v;
	size_t n;
	int err = cairn_admin_nodes(cli->fs, &v, &n);
	if (err)
		return cli_fail(cli, err, "df");
	for (size_t i = 0; i < n; i++) {
		if (v[i].state != CAIRN_NODE_UP && v[i].state != CAIRN_NODE_DECOMMISSIONING)
			continue;
		sp->capacity += v[i].capacity;
		sp->used += v[i].used;
		sp->nodes++;
	}
	cairn_admin_nodes_free(v, n);
	return CLI_OK;
}

int cmd_df(struct cli *cli, int argc, char **argv)
{
	int rc, opt, h = 0;
	while ((opt = cli_getopt(cli, argc, argv, "h", NULL)) != -1) {
		if (opt != 'h')
			return cli->rc;
		h = 1; /* sizes for people */
	}
	if (argc != optind)
		return cli_usage(cli, "no arguments expected");
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	struct df_space sp = {0};
	if ((rc = df_space(cli, &sp)) != CLI_OK)
		return rc;
	struct cairn_stat st;
	int err = cairn_stat(cli->fs, "/", &st);
	if (err)
		return cli_fail(cli, err, "df");
	struct cli_usage u = {0};
	if (cli_usage_walk(cli, "/", &st, &u) != CLI_OK)
		return CLI_FAIL;
	if (cli->json) {
		printf("{\"files\": %llu, \"dirs\": %llu, \"bytes\": %llu, \"capacity\": %llu, "
		       "\"used\": %llu, \"nodes\": %zu}\n",
		       (unsigned long long)u.files, (unsigned long long)u.dirs,
		       (unsigned long long)u.bytes, (unsigned long long)sp.capacity,
		       (unsigned long long)sp.used, sp.nodes);
	} else {
		printf("files:       %llu\n", (unsigned long long)u.files);
		printf("directories: %llu\n", (unsigned long long)u.dirs);
		char size[CLI_SIZE_BUF];
		printf("bytes:       %s (file sizes, one replica each)\n",
		       cli_size_str(size, u.bytes, h));
		printf("capacity:    %s on %zu chunkservers up\n",
		       cli_size_str(size, sp.capacity, h), sp.nodes);
		printf("used:        %s (replica files, every replica)\n",
		       cli_size_str(size, sp.used, h));
		printf("available:   %s\n",
		       cli_size_str(size, sp.capacity > sp.used ? sp.capacity - sp.used : 0, h));
	}
	return u.rc ? u.rc : CLI_OK;
}
