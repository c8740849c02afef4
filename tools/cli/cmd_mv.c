/*
 * cmd_mv: `cairn mv [-f] SRC... DST`.
 *
 * As mv(1): when DST is an existing directory, each SRC moves into it
 * under its own name (several SRCs need one); otherwise the one SRC is
 * renamed to DST. SRC may be a glob (quoted: cairn expands it). An
 * existing file at the target is refused unless -f (then replaced; so is
 * an empty directory when SRC is a directory). Each rename is one atomic
 * metaserver operation, and so is its refusal of an existing target
 * (cairn_rename2() with CAIRN_RENAME_NOREPLACE).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static int mv(struct cli *cli, const char *src, const char *dst, int into, int force)
{
	char *base = into ? cli_base_name(src) : NULL;
	char *target = !into ? xstrdup(dst) : base ? cli_join(dst, base) : NULL;
	free(base);
	if (!target)
		return cli_fail(cli, -EBUSY, "mv %s %s", src, dst);
	int err = cairn_rename2(cli->fs, src, target, force ? 0 : CAIRN_RENAME_NOREPLACE);
	int rc = CLI_OK;
	if (err == -EEXIST && !force) {
		fprintf(stderr, "cairn: mv %s %s: the target exists (-f replaces it)\n", src,
			target);
		rc = CLI_FAIL;
	} else if (err) {
		rc = cli_fail(cli, err, "mv %s %s", src, target);
	}
	free(target);
	return rc;
}

int cmd_mv(struct cli *cli, int argc, char **argv)
{
	int rc, opt, force = 0;
	while ((opt = cli_getopt(cli, argc, argv, "f", NULL)) != -1) {
		if (opt != 'f')
			return cli->rc;
		force = 1;
	}
	if (argc - optind < 2)
		return cli_usage(cli, "missing SRC or DST");
	char *dst = cli_path(cli, argv[argc - 1], &rc);
	if (!dst)
		return rc;
	struct cli_strs srcs = {0};
	if ((rc = cli_connect(cli)) != CLI_OK ||
	    (rc = cli_expand(cli, argc - optind - 1, argv + optind, &srcs)) != CLI_OK)
		goto out;
	struct cairn_stat st;
	int err = cairn_stat(cli->fs, dst, &st);
	if (err && err != -ENOENT) {
		rc = cli_fail(cli, err, "mv %s", dst);
		goto out;
	}
	int into = err == 0 && st.type == CAIRN_DIR;
	if (srcs.n > 1 && !into) {
		rc = cli_fail(cli, err ? err : -ENOTDIR, "mv %s: several sources need a directory",
			      dst);
		goto out;
	}
	for (size_t i = 0; i < srcs.n && !cli->unreachable; i++)
		if (mv(cli, srcs.v[i], dst, into, force) != CLI_OK)
			rc = CLI_FAIL;
out:
	cli_strs_free(&srcs);
	free(dst);
	return rc;
}
