/*
 * cmd_stat: `cairn stat [--json] PATH`.
 *
 * Plain output is one "key: value" line per attribute, times in local
 * time with microseconds. --json prints exactly the object of DESIGN §7:
 * {"path", "type": "file"|"dir", "size", "replication", "mode", "mtime",
 * "chunks"}, where mode is the permission bits as a (decimal) integer,
 * mtime is seconds since the epoch with six decimals, and a directory has
 * the replication and chunk count the metaserver gives it (0).
 */
#include <stdlib.h>
#include <time.h>

#include "cli.h"

static void print_time(const char *key, int64_t us)
{
	char when[64] = "?";
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	if (localtime_r(&t, &tm)) {
		char date[32], zone[8];
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		strftime(zone, sizeof(zone), "%z", &tm);
		snprintf(when, sizeof(when), "%s.%06lld %s", date, (long long)(us % 1000000), zone);
	}
	printf("%-12s %s\n", key, when);
}

static void print_plain(const char *path, const struct cairn_stat *st)
{
	char mode[11];
	cli_mode_str(st, mode);
	printf("%-12s %s\n", "path:", path);
	printf("%-12s %s\n", "type:", st->type == CAIRN_DIR ? "dir" : "file");
	printf("%-12s %llu\n", "id:", (unsigned long long)st->id);
	if (st->type == CAIRN_DIR) {
		printf("%-12s %llu\n", "entries:", (unsigned long long)st->nentries);
	} else {
		printf("%-12s %llu\n", "size:", (unsigned long long)st->size);
		printf("%-12s %u\n", "replication:", st->replication);
		printf("%-12s %llu\n", "chunks:", (unsigned long long)st->nchunks);
	}
	printf("%-12s %04o (%s)\n", "mode:", st->mode, mode);
	printf("%-12s %u\n", "uid:", st->uid);
	printf("%-12s %u\n", "gid:", st->gid);
	print_time("mtime:", st->mtime_us);
	print_time("atime:", st->atime_us);
	print_time("ctime:", st->ctime_us);
}

static void print_json(const char *path, const struct cairn_stat *st)
{
	printf("{\"path\": ");
	cli_json_str(stdout, path);
	printf(", \"type\": \"%s\", \"size\": %llu, \"replication\": %u, \"mode\": %u, \"mtime\": ",
	       st->type == CAIRN_DIR ? "dir" : "file", (unsigned long long)st->size,
	       st->replication, st->mode);
	cli_print_secs(stdout, st->mtime_us);
	printf(", \"chunks\": %llu}\n", (unsigned long long)st->nchunks);
}

int cmd_stat(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if (optind == argc)
		return cli_usage(cli, "missing PATH");
	struct cli_strs paths = {0};
	if ((rc = cli_connect(cli)) == CLI_OK)
		rc = cli_expand(cli, argc - optind, argv + optind, &paths);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++) {
		const char *path = paths.v[i];
		struct cairn_stat st;
		int err = cairn_stat(cli->fs, path, &st);
		if (err)
			rc = cli_fail(cli, err, "stat %s", path);
		else if (cli->json)
			print_json(path, &st);
		else
			print_plain(path, &st);
	}
	cli_strs_free(&paths);
	return rc;
}
