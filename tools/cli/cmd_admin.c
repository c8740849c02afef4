/*
 * cmd_admin: `cairn admin nodes [--json]` and `cairn admin fsck [PATH]
 * [--json]` (DESIGN §7), over libcairn's admin calls.
 *
 * nodes: one line per chunkserver (address, rack, state, used, capacity,
 * replicas, time since its last heartbeat); --json prints exactly
 * [{"addr", "rack", "state", "used", "capacity", "chunks"}].
 *
 * fsck: one line per chunk with a problem ("PATH chunk ID index N:
 * KIND"), then the totals and the status; --json prints exactly
 * {"status", "files", "chunks", "under_replicated", "missing", "corrupt",
 * "stale", "problems": [{"path", "chunk", "kind"}]} with chunk a decimal
 * integer. Exit status 1 unless the status is HEALTHY (also with --json),
 * or when the call fails; a path that does not exist is one error line.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_cmd admin_nodes_cmd = {
    "admin nodes", NULL, "[--json]",
    "List the chunkservers: address, rack, state, space, replicas, last heartbeat."};
static const struct cli_cmd admin_fsck_cmd = {
    "admin fsck", NULL, "[--json] [PATH]",
    "Check every chunk under PATH (default /); exit 1 unless HEALTHY."};

/* bytes as "1.5G" (powers of 1024). */
static void fmt_bytes(char *buf, size_t size, uint64_t n)
{
	static const char units[] = "BKMGTPE";
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%lluB", (unsigned long long)n);
	else
		snprintf(buf, size, "%.1f%c", v, units[u]);
}

static void nodes_json(const struct cairn_node *v, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++) {
		printf("%s\n  {\"addr\": ", i ? "," : "");
		cli_json_str(stdout, v[i].addr);
		printf(", \"rack\": ");
		cli_json_str(stdout, v[i].rack);
		printf(", \"state\": \"%s\", \"used\": %llu, \"capacity\": %llu, \"chunks\": %llu}",
		       cairn_node_state_name(v[i].state), (unsigned long long)v[i].used,
		       (unsigned long long)v[i].capacity, (unsigned long long)v[i].chunks);
	}
	printf("%s]\n", n ? "\n" : "");
}

static void nodes_plain(const struct cairn_node *v, size_t n)
{
	printf("%-22s %-10s %-6s %9s %9s %8s %s\n", "ADDR", "RACK", "STATE", "USED", "CAPACITY",
	       "CHUNKS", "LAST HEARTBEAT");
	for (size_t i = 0; i < n; i++) {
		char used[16], cap[16];
		fmt_bytes(used, sizeof(used), v[i].used);
		fmt_bytes(cap, sizeof(cap), v[i].capacity);
		printf("%-22s %-10s %-6s %9s %9s %8llu %.1fs ago\n", v[i].addr,
		       *v[i].rack ? v[i].rack : "-", cairn_node_state_name(v[i].state), used, cap,
		       (unsigned long long)v[i].chunks, (double)v[i].last_heard_ms / 1000.0);
	}
}

static int admin_nodes(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc;
	if (argc != optind)
		return cli_usage(cli, "no arguments expected");
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	struct cairn_node *v;
	size_t n;
	int err = cairn_admin_nodes(cli->fs, &v, &n);
	if (err)
		return cli_fail(cli, err, "admin nodes");
	if (cli->json)
		nodes_json(v, n);
	else
		nodes_plain(v, n);
	cairn_admin_nodes_free(v, n);
	return CLI_OK;
}

static void fsck_json(const struct cairn_fsck *f)
{
	printf(
	    "{\"status\": \"%s\", \"files\": %llu, \"chunks\": %llu, \"under_replicated\": %llu, "
	    "\"missing\": %llu, \"corrupt\": %llu, \"stale\": %llu, \"problems\": [",
	    cairn_fsck_status_name(f->status), (unsigned long long)f->files,
	    (unsigned long long)f->chunks, (unsigned long long)f->under_replicated,
	    (unsigned long long)f->missing, (unsigned long long)f->corrupt,
	    (unsigned long long)f->stale);
	for (size_t i = 0; i < f->nproblems; i++) {
		printf("%s\n  {\"path\": ", i ? "," : "");
		cli_json_str(stdout, f->problems[i].path);
		printf(", \"chunk\": %llu, \"kind\": \"%s\"}",
		       (unsigned long long)f->problems[i].chunk_id,
		       cairn_fsck_kind_name(f->problems[i].kind));
	}
	printf("%s]}\n", f->nproblems ? "\n" : "");
}

static void fsck_plain(const struct cairn_fsck *f)
{
	for (size_t i = 0; i < f->nproblems; i++)
		printf("%s chunk %016llx index %llu: %s\n", f->problems[i].path,
		       (unsigned long long)f->problems[i].chunk_id,
		       (unsigned long long)f->problems[i].index,
		       cairn_fsck_kind_name(f->problems[i].kind));
	if (f->more)
		printf("(more problems than listed: see the totals)\n");
	printf("files: %llu  chunks: %llu  under-replicated: %llu  missing: %llu  corrupt: %llu  "
	       "stale: %llu\n",
	       (unsigned long long)f->files, (unsigned long long)f->chunks,
	       (unsigned long long)f->under_replicated, (unsigned long long)f->missing,
	       (unsigned long long)f->corrupt, (unsigned long long)f->stale);
	printf("status: %s\n", cairn_fsck_status_name(f->status));
}

static int admin_fsck(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc;
	if (argc - optind > 1)
		return cli_usage(cli, "one PATH at most");
	char *path = cli_path(cli, optind < argc ? argv[optind] : "/", &rc);
	if (!path)
		return rc;
	if ((rc = cli_connect(cli)) == CLI_OK) {
		struct cairn_fsck *f;
		int err = cairn_admin_fsck(cli->fs, path, &f);
		if (err) {
			rc = cli_fail(cli, err, "admin fsck %s", path);
		} else {
			if (cli->json)
				fsck_json(f);
			else
				fsck_plain(f);
			rc = f->status == CAIRN_FSCK_HEALTHY ? CLI_OK : CLI_FAIL;
			cairn_admin_fsck_free(f);
		}
	}
	free(path);
	return rc;
}

int cmd_admin(struct cli *cli, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (strcmp(sub, "nodes") == 0) {
		cli->cmd = &admin_nodes_cmd;
		return admin_nodes(cli, argc - 1, argv + 1);
	}
	if (strcmp(sub, "fsck") == 0) {
		cli->cmd = &admin_fsck_cmd;
		return admin_fsck(cli, argc - 1, argv + 1);
	}
	if (strcmp(sub, "--help") == 0) {
		const struct cli_cmd *subs[] = {&admin_nodes_cmd, &admin_fsck_cmd};
		for (size_t i = 0; i < 2; i++)
			printf("usage: cairn %s %s\n  %s\n", subs[i]->name, subs[i]->usage,
			       subs[i]->summary);
		return CLI_OK;
	}
	return cli_usage(cli, *sub ? "unknown admin command '%s'" : "missing the admin command%s",
			 sub);
}
