/*
 * cmd_cp: `cairn cp [-f] [-r] [--chunk-size SIZE] SRC... DST`.
 *
 * Copies inside cairn, streaming the bytes through this client (no
 * server-side copy): one SRC goes to DST, or into DST under its own name
 * when DST is a directory; several go into DST, which must be a
 * directory. SRC may be a glob (quoted: cairn expands it). A directory
 * needs -r and comes with everything under it (temporaries of copies in
 * progress left out), merged into an existing one. An existing target
 * file is refused unless -f. Copies keep the source's permission bits and
 * chunk size (--chunk-size SIZE gives them that one instead).
 * Each file is written atomically, as put writes (xfer.c). A failure is
 * reported and the next file is tried (exit status 1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tempname.h"
#include "util.h"

struct cp {
	struct cli *cli;
	int force;
	int recursive;
	uint64_t chunk_size; /* 0: each copy gets its source's */
	int rc;
};

static int fill_from_remote(void *arg, cairn_file_t *f, struct cli_progress *pr, int *lerr)
{
	return cli_copy_remote(arg, f, pr, lerr);
}

static void cp_file(struct cp *c, const char *src, const struct cairn_stat *st, const char *dst)
{
	cairn_file_t *in;
	int err = cairn_open(c->cli->fs, src, CAIRN_O_RDONLY, 0, &in);
	if (err) {
		c->rc = cli_fail(c->cli, err, "cp %s", src);
		return;
	}
	struct cli_writer w = {.target = dst,
			       .source = src,
			       .mode = st->mode & 07777,
			       .size = st->size,
			       .force = c->force,
			       .chunk_size = c->chunk_size ? c->chunk_size : st->chunk_size,
			       .fill = fill_from_remote,
			       .arg = in};
	if (cli_write_atomic(c->cli, &w) != CLI_OK)
		c->rc = CLI_FAIL;
	cairn_close(in);
}

static void cp_path(struct cp *c, const char *src, const struct cairn_stat *st, const char *dst);

static void cp_tree(struct cp *c, const char *src, const struct cairn_stat *st, const char *dst)
{
	size_t n = strlen(src);
	if (strncmp(dst, src, n) == 0 && (dst[n] == '/' || dst[n] == 0 || n == 1)) {
		fprintf(stderr, "cairn: cp %s: cannot copy a directory into itself (%s)\n", src,
			dst);
		c->rc = CLI_FAIL;
		return;
	}
	int err = cairn_mkdir(c->cli->fs, dst, st->mode & 07777);
	struct cairn_stat dst_st;
	if (err == -EEXIST && cairn_stat(c->cli->fs, dst, &dst_st) == 0 && dst_st.type == CAIRN_DIR)
		err = 0;
	cairn_dir_t *d = NULL;
	if (err || (err = cairn_opendir(c->cli->fs, src, &d)) != 0) {
		c->rc = cli_fail(c->cli, err, "cp %s %s", src, dst);
		return;
	}
	struct cairn_dirent ent;
	while (!c->cli->unreachable && !cli_xfer_stopped() &&
	       (err = cairn_readdir_next(d, &ent)) == 1) {
		if (tempname_is(ent.name))
			continue; /* a copy in progress */
		char *sub = cli_join(src, ent.name), *dsub = cli_join(dst, ent.name);
		cp_path(c, sub, &ent.st, dsub);
		free(sub);
		free(dsub);
	}
	cairn_closedir(d);
	if (err < 0)
		c->rc = cli_fail(c->cli, err, "cp %s", src);
}

static void cp_path(struct cp *c, const char *src, const struct cairn_stat *st, const char *dst)
{
	if (st->type != CAIRN_DIR)
		cp_file(c, src, st, dst);
	else if (c->recursive)
		cp_tree(c, src, st, dst);
	else {
		fprintf(stderr, "cairn: cp %s: a directory (-r copies directories)\n", src);
		c->rc = CLI_FAIL;
	}
}

static int cp_all(struct cp *c, const struct cli_strs *srcs, const char *dst)
{
	struct cairn_stat st;
	int err = cairn_stat(c->cli->fs, dst, &st);
	if (err && err != -ENOENT)
		return cli_fail(c->cli, err, "cp %s", dst);
	int into = err == 0 && st.type == CAIRN_DIR;
	if (srcs->n > 1 && !into)
		return cli_fail(c->cli, err ? err : -ENOTDIR,
				"cp %s: several sources need a directory", dst);
	for (size_t i = 0; i < srcs->n && !c->cli->unreachable && !cli_xfer_stopped(); i++) {
		struct cairn_stat sst;
		if ((err = cairn_stat(c->cli->fs, srcs->v[i], &sst)) != 0) {
			c->rc = cli_fail(c->cli, err, "cp %s", srcs->v[i]);
			continue;
		}
		char *base = into ? cli_base_name(srcs->v[i]) : NULL;
		char *target = !into ? xstrdup(dst) : base ? cli_join(dst, base) : NULL;
		if (!target) {
			c->rc = cli_fail(c->cli, -EBUSY, "cp %s %s", srcs->v[i], dst);
		} else {
			cp_path(c, srcs->v[i], &sst, target);
		}
		free(base);
		free(target);
	}
	return c->rc;
}

int cmd_cp(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"chunk-size", required_argument, NULL, 'c'}, {0}};
	struct cp c = {.cli = cli, .rc = CLI_OK};
	int opt, rc;
	while ((opt = cli_getopt(cli, argc, argv, "fr", opts)) != -1) {
		if (opt == 'f')
			c.force = 1;
		else if (opt == 'r')
			c.recursive = 1;
		else if (opt != 'c')
			return cli->rc;
		else if ((rc = cli_chunk_size(cli, optarg, &c.chunk_size)) != CLI_OK)
			return rc;
	}
	if (argc - optind < 2)
		return cli_usage(cli, "missing SRC or DST");
	char *dst = cli_path(cli, argv[argc - 1], &rc);
	if (!dst)
		return rc;
	cli_xfer_catch();
	struct cli_strs srcs = {0};
	if ((rc = cli_connect(cli)) == CLI_OK &&
	    (rc = cli_expand(cli, argc - optind - 1, argv + optind, &srcs)) == CLI_OK)
		rc = cp_all(&c, &srcs, dst);
	cli_strs_free(&srcs);
	free(dst);
	return rc;
}
