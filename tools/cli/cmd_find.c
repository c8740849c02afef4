/*
 * cmd_find: `cairn find PATH... [-name GLOB] [-type f|d]`, as `hdfs dfs
 * -find` and find(1).
 *
 * Prints every path under each PATH (PATH itself included), directories
 * before what they hold, that matches all the tests given: -name, the
 * last component against a glob (fnmatch(3); quote it), and -type, f for
 * files or d for directories. PATH may be a glob too.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct find {
	const char *name; /* NULL: any */
	int type;	  /* 0: any, 'f' or 'd' */
};

static int visit(struct cli *cli, const char *path, const struct cairn_stat *st, void *arg)
{
	(void)cli;
	const struct find *f = arg;
	const char *slash = strrchr(path, '/');
	const char *base = slash && slash[1] ? slash + 1 : path;
	if (f->name && fnmatch(f->name, base, 0) != 0)
		return CLI_OK;
	if (f->type && (f->type == 'd') != (st->type == CAIRN_DIR))
		return CLI_OK;
	printf("%s\n", path);
	return CLI_OK;
}

int cmd_find(struct cli *cli, int argc, char **argv)
{
	struct find f = {0};
	int rc, npaths = 0;
	/* The paths come first, then the tests, which getopt would take for options. */
	if (cli_getopt(cli, 1, argv, "", NULL) != -1)
		return cli->rc;
	char **paths = argv + 1;
	int i = 1;
	while (i < argc && argv[i][0] != '-')
		i++, npaths++;
	for (; i < argc; i += 2) {
		if (i + 1 >= argc)
			return cli_usage(cli, "%s needs a value", argv[i]);
		if (strcmp(argv[i], "-name") == 0 || strcmp(argv[i], "-iname") == 0)
			f.name = argv[i + 1];
		else if (strcmp(argv[i], "-type") == 0 &&
			 (strcmp(argv[i + 1], "f") == 0 || strcmp(argv[i + 1], "d") == 0))
			f.type = argv[i + 1][0];
		else if (strcmp(argv[i], "-type") == 0)
			return cli_usage(cli, "-type takes f or d, not '%s'", argv[i + 1]);
		else
			return cli_usage(cli, "unknown test %s (-name GLOB, -type f|d)", argv[i]);
	}
	if (!npaths)
		return cli_usage(cli, "missing PATH");
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	return cli_walk_args(cli, npaths, paths, 1, visit, &f);
}
