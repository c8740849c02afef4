/*
 * cmd_du: `cairn du [-s] [-h] [--json] PATH...`.
 *
 * Space used under PATH, counted as file sizes in bytes (one replica's
 * worth, as `du -sb` counts apparent sizes; multiply by the replication
 * for raw space). For a directory, one line per entry, "BYTES<TAB>PATH",
 * where a subdirectory's bytes are everything under it, then the total
 * for PATH itself on the last line; for a file, its one line. --json
 * prints {"path", "bytes", "files", "dirs", "entries": [{"path", "type",
 * "bytes"}]} (files and dirs count everything under PATH, PATH included).
 * -s prints only the total line of each PATH; -h prints sizes for people
 * (plain output). PATH may be a glob (quoted: cairn expands it).
 * The walk reads each directory page by page; an entry that vanishes
 * meanwhile is reported (one line) and the exit status is then 1.
 */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

struct du {
	struct cli *cli;
	int nentries;
	int summary; /* -s */
	int human;   /* -h */
};

static void print_entry(struct du *du, const char *path, const struct cairn_stat *st,
			uint64_t bytes)
{
	if (du->summary)
		return;
	if (!du->cli->json) {
		char size[CLI_SIZE_BUF];
		printf("%s\t%s\n", cli_size_str(size, bytes, du->human), path);
		return;
	}
	printf("%s\n  {\"path\": ", du->nentries++ ? "," : "");
	cli_json_str(stdout, path);
	printf(", \"type\": \"%s\", \"bytes\": %llu}", st->type == CAIRN_DIR ? "dir" : "file",
	       (unsigned long long)bytes);
}

/* Walks the entries of directory path, printing each one's usage; adds them to *total. */
static int du_dir(struct du *du, const char *path, struct cli_usage *total)
{
	cairn_dir_t *d;
	int err = cairn_opendir(du->cli->fs, path, &d);
	if (err)
		return cli_fail(du->cli, err, "du %s", path);
	struct cairn_dirent ent;
	int rc = CLI_OK;
	while ((err = cairn_readdir_next(d, &ent)) == 1) {
		char *sub = cli_join(path, ent.name);
		struct cli_usage u = {0};
		if (cli_usage_walk(du->cli, sub, &ent.st, &u) != CLI_OK) {
			free(sub);
			cairn_closedir(d);
			return CLI_FAIL;
		}
		print_entry(du, sub, &ent.st, u.bytes);
		free(sub);
		total->bytes += u.bytes;
		total->files += u.files;
		total->dirs += u.dirs;
		if (u.rc)
			rc = u.rc;
	}
	cairn_closedir(d);
	if (err < 0)
		return cli_fail(du->cli, err, "du %s", path);
	return rc;
}

/* du of one path: its entries' lines (unless -s), then its total line. */
static int du_path(struct du *du, const char *path)
{
	struct cli *cli = du->cli;
	struct cairn_stat st;
	struct cli_usage total = {0};
	int rc = CLI_OK, err = cairn_stat(cli->fs, path, &st);
	if (err)
		return cli_fail(cli, err, "du %s", path);
	if (cli->json) {
		printf("{\"path\": ");
		cli_json_str(stdout, path);
		printf(", \"entries\": [");
	}
	du->nentries = 0;
	if (st.type == CAIRN_DIR) {
		total.dirs = 1;
		rc = du_dir(du, path, &total);
	} else {
		total.files = 1;
		total.bytes = st.size;
	}
	char size[CLI_SIZE_BUF];
	if (cli->json)
		printf("%s], \"bytes\": %llu, \"files\": %llu, \"dirs\": %llu}\n",
		       du->nentries ? "\n" : "", (unsigned long long)total.bytes,
		       (unsigned long long)total.files, (unsigned long long)total.dirs);
	else
		printf("%s\t%s\n", cli_size_str(size, total.bytes, du->human), path);
	return rc;
}

int cmd_du(struct cli *cli, int argc, char **argv)
{
	struct du du = {.cli = cli};
	int rc, opt;
	while ((opt = cli_getopt(cli, argc, argv, "sh", NULL)) != -1) {
		if (opt == 's')
			du.summary = 1;
		else if (opt == 'h')
			du.human = 1;
		else
			return cli->rc;
	}
	struct cli_strs paths = {0};
	rc = cli_path_args(cli, argc, argv, &paths);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++)
		if (du_path(&du, paths.v[i]) != CLI_OK)
			rc = CLI_FAIL;
	cli_strs_free(&paths);
	return rc;
}
