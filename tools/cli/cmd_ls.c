/*
 * cmd_ls: `cairn ls [-l] [-h] [-R] PATH...` (PATH may be a glob, quoted).
 *
 * A directory lists its entries one name per line, in name order, read
 * page by page through the library's iterator (so a huge directory is
 * never held whole). -l prints the mode string, replication ("-" for a
 * directory), owner and group (numeric ids), size (-h: for people),
 * modification time and name. -R lists subdirectories
 * after their parent, each under a "PATH:" header, as ls(1) does; only the
 * names of the current directory's subdirectories are held while it is
 * listed. A file is listed as itself. --json prints one array of objects
 * {"path", "name", "type", "size", "replication", "mode", "mtime",
 * "chunks"} (mode an integer, mtime in seconds), the whole tree with -R.
 * Names and -R's headers are quoted as GNU ls quotes them (cli_put_name())
 * when they hold bytes a shell or a terminal would take for something else
 * (a newline must not forge a line); --json carries them exactly.
 *
 * An error inside the tree (a directory removed while listed) is reported
 * and the rest is still listed; the exit status is then 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "util.h"

struct ls {
	struct cli *cli;
	int longfmt;
	int recursive;
	int human;   /* -h: sizes for people */
	int nlisted; /* directories listed so far (for -R's blank lines) */
	int njson;   /* objects printed so far (for --json's commas) */
	int rc;
};

/* A growing list of names. */
struct names {
	char **v;
	size_t n, cap;
};

static void names_add(struct names *ns, const char *name)
{
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		ns->v = xrealloc(ns->v, ns->cap * sizeof(*ns->v));
	}
	ns->v[ns->n++] = xstrdup(name);
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static void print_json(struct ls *ls, const char *path, const char *name,
		       const struct cairn_stat *st)
{
	printf("%s\n  {\"path\": ", ls->njson++ ? "," : "");
	cli_json_str(stdout, path);
	printf(", \"name\": ");
	cli_json_str(stdout, name);
	printf(", \"type\": \"%s\", \"size\": %llu, \"replication\": %u, \"mode\": %u, "
	       "\"mtime\": ",
	       st->type == CAIRN_DIR ? "dir" : "file", (unsigned long long)st->size,
	       st->replication, st->mode);
	cli_print_secs(stdout, st->mtime_us);
	printf(", \"chunks\": %llu}", (unsigned long long)st->nchunks);
}

/* Prints one entry: path is its full path, name what ls shows. */
static void print_entry(struct ls *ls, const char *path, const char *name,
			const struct cairn_stat *st)
{
	if (ls->cli->json) {
		print_json(ls, path, name, st);
		return;
	}
	if (!ls->longfmt) {
		cli_put_name(stdout, name);
		putchar('\n');
		return;
	}
	char mode[11], when[32] = "?", rep[16] = "-";
	cli_mode_str(st, mode);
	time_t t = (time_t)(st->mtime_us / 1000000);
	struct tm tm;
	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	if (st->type != CAIRN_DIR)
		snprintf(rep, sizeof(rep), "%u", st->replication);
	char size[CLI_SIZE_BUF];
	printf("%s %3s %-8u %-8u %12s %s ", mode, rep, st->uid, st->gid,
	       cli_size_str(size, st->size, ls->human), when);
	cli_put_name(stdout, name);
	putchar('\n');
}

/* Lists directory path; with -R, then each subdirectory. */
static void list_dir(struct ls *ls, const char *path)
{
	struct cli *cli = ls->cli;
	if (ls->recursive && !cli->json) {
		fputs(ls->nlisted ? "\n" : "", stdout);
		cli_put_name(stdout, path);
		fputs(":\n", stdout);
	}
	ls->nlisted++;
	cairn_dir_t *d;
	int err = cairn_opendir(cli->fs, path, &d);
	if (err) {
		ls->rc = cli_fail(cli, err, "ls %s", path);
		return;
	}
	struct names subdirs = {0};
	struct cairn_dirent ent;
	while ((err = cairn_readdir_next(d, &ent)) == 1) {
		char *full = cli_join(path, ent.name);
		if (ls->recursive && ent.st.type == CAIRN_DIR)
			names_add(&subdirs, ent.name);
		print_entry(ls, full, ent.name, &ent.st);
		free(full);
	}
	cairn_closedir(d);
	if (err < 0)
		ls->rc = cli_fail(cli, err, "ls %s", path);
	for (size_t i = 0; i < subdirs.n && !cli->unreachable; i++) {
		char *sub = cli_join(path, subdirs.v[i]);
		list_dir(ls, sub);
		free(sub);
	}
	names_free(&subdirs);
}

/* Lists path: a directory's entries, or a file as itself. */
static void list_path(struct ls *ls, const char *path, const char *shown)
{
	struct cairn_stat st;
	int err = cairn_stat(ls->cli->fs, path, &st);
	if (err) {
		ls->rc = cli_fail(ls->cli, err, "ls %s", path);
		return;
	}
	if (st.type == CAIRN_DIR)
		list_dir(ls, path);
	else
		print_entry(ls, path, shown, &st);
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	struct ls ls = {.cli = cli};
	int opt;
	while ((opt = cli_getopt(cli, argc, argv, "lRh", NULL)) != -1) {
		switch (opt) {
		case 'h':
			ls.human = 1;
			break;
		case 'l':
			ls.longfmt = 1;
			break;
		case 'R':
			ls.recursive = 1;
			break;
		default:
			return cli->rc;
		}
	}
	if (optind == argc)
		return cli_usage(cli, "missing PATH");
	int rc;
	struct cli_strs paths = {0};
	if ((rc = cli_connect(cli)) != CLI_OK ||
	    (rc = cli_expand(cli, argc - optind, argv + optind, &paths)) != CLI_OK) {
		cli_strs_free(&paths);
		return rc;
	}
	if (cli->json)
		printf("[");
	for (size_t i = 0; i < paths.n && !cli->unreachable; i++) {
		struct cairn_stat st;
		/* Several directories, as ls(1): each under a "PATH:" header (-R: its own). */
		if (paths.n > 1 && !ls.recursive && !cli->json &&
		    cairn_stat(cli->fs, paths.v[i], &st) == 0 && st.type == CAIRN_DIR) {
			fputs(i ? "\n" : "", stdout);
			cli_put_name(stdout, paths.v[i]);
			fputs(":\n", stdout);
		}
		list_path(&ls, paths.v[i],
			  paths.n == 1 && optind == argc - 1 ? argv[optind] : paths.v[i]);
	}
	if (cli->json)
		printf("%s]\n", ls.njson ? "\n" : "");
	cli_strs_free(&paths);
	return ls.rc;
}
