/*
 * cmd_mv: `cairn mv SRC DST`.
 *
 * As mv(1): when DST is an existing directory, SRC moves into it under its
 * own name; otherwise SRC is renamed to DST, replacing a file there (or an
 * empty directory, when SRC is a directory). The rename itself is one
 * atomic metaserver operation; the stat of DST before it is not atomic
 * with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The last component of an absolute path ("" for "/"). */
static const char *base_name(char *path)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = 0;
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int mv(struct cli *cli, char *src, char *dst)
{
	struct cairn_stat st;
	int err = cairn_stat(cli->fs, dst, &st);
	if (err && err != -ENOENT)
		return cli_fail(cli, err, "mv %s %s", src, dst);
	char *target = dst;
	if (err == 0 && st.type == CAIRN_DIR) {
		const char *name = base_name(src);
		if (!*name)
			return cli_fail(cli, -EBUSY, "mv %s %s", src, dst);
		if (!(target = cli_join(dst, name)))
			return cli_fail(cli, -ENOMEM, "mv %s %s", src, dst);
	}
	err = cairn_rename(cli->fs, src, target);
	int rc = err ? cli_fail(cli, err, "mv %s %s", src, target) : CLI_OK;
	if (target != dst)
		free(target);
	return rc;
}

int cmd_mv(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if (argc - optind != 2)
		return cli_usage(cli, argc - optind < 2 ? "missing SRC or DST" : "one SRC only");
	char *src = cli_path(cli, argv[optind], &rc);
	char *dst = src ? cli_path(cli, argv[optind + 1], &rc) : NULL;
	if (dst && (rc = cli_connect(cli)) == CLI_OK)
		rc = mv(cli, src, dst);
	free(src);
	free(dst);
	return rc;
}
