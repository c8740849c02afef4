/*
 * cmd_getmerge: `cairn getmerge [-nl|--nl] SRC... LOCAL`, as `hdfs dfs
 * -getmerge`.
 *
 * Concatenates the files of each SRC (a directory's files in name order,
 * its subdirectories skipped; a file as itself; globs expanded) into the
 * local file LOCAL ("-": standard output); -nl adds a newline after each
 * file. LOCAL is written to a temporary next to it and renamed over it at
 * the end, so a failure leaves no partial file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

static int append_file(struct cli *cli, const char *path, int fd, int nl)
{
	cairn_file_t *f;
	int err = cairn_open(cli->fs, path, CAIRN_O_RDONLY, 0, &f);
	if (err)
		return cli_fail(cli, err, "getmerge %s", path);
	struct cli_progress pr;
	cli_progress_start(&pr, path);
	int lerr = 0;
	err = cli_copy_out(f, fd, &pr, &lerr);
	cli_progress_end(&pr, err == 0);
	cairn_close(f);
	if (err == 0 && nl && write_full(fd, "\n", 1) != 0)
		err = 1, lerr = errno;
	if (err == 1) {
		fprintf(stderr, "cairn: getmerge %s: %s\n", path, strerror(lerr));
		return CLI_FAIL;
	}
	return err ? cli_fail(cli, err, "getmerge %s", path) : CLI_OK;
}

static int merge(struct cli *cli, const char *src, int fd, int nl)
{
	struct cairn_stat st;
	int err = cairn_stat(cli->fs, src, &st);
	if (err)
		return cli_fail(cli, err, "getmerge %s", src);
	if (st.type != CAIRN_DIR)
		return append_file(cli, src, fd, nl);
	cairn_dir_t *d;
	if ((err = cairn_opendir(cli->fs, src, &d)) != 0)
		return cli_fail(cli, err, "getmerge %s", src);
	struct cli_strs files = {0};
	struct cairn_dirent ent;
	while ((err = cairn_readdir_next(d, &ent)) == 1)
		if (ent.st.type != CAIRN_DIR && ent.name[0] != '.')
			cli_strs_add(&files, cli_join(src, ent.name));
	cairn_closedir(d);
	int rc = err < 0 ? cli_fail(cli, err, "getmerge %s", src) : CLI_OK;
	for (size_t i = 0; rc == CLI_OK && i < files.n; i++) /* readdir gives name order */
		rc = append_file(cli, files.v[i], fd, nl);
	cli_strs_free(&files);
	return rc;
}

int cmd_getmerge(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"nl", no_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
	int opt, rc, nl = 0;
	for (int i = 1; i < argc; i++) /* hdfs spells it -nl */
		if (strcmp(argv[i], "-nl") == 0)
			argv[i] = (char *)"--nl";
	while ((opt = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (opt != 'n')
			return cli->rc;
		nl = 1;
	}
	if (argc - optind < 2)
		return cli_usage(cli, "missing SRC or LOCAL");
	const char *local = argv[argc - 1];
	struct cli_strs srcs = {0};
	if ((rc = cli_connect(cli)) != CLI_OK ||
	    (rc = cli_expand(cli, argc - optind - 1, argv + optind, &srcs)) != CLI_OK) {
		cli_strs_free(&srcs);
		return rc;
	}
	int to_stdout = strcmp(local, "-") == 0, fd = 1;
	char *tmp = NULL;
	if (!to_stdout) {
		tmp = xasprintf("%s.cairn-getmerge.XXXXXX", local);
		if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
			fprintf(stderr, "cairn: getmerge: %s: %s\n", local, strerror(errno));
			free(tmp);
			cli_strs_free(&srcs);
			return CLI_FAIL;
		}
	}
	cli_xfer_catch();
	for (size_t i = 0; rc == CLI_OK && i < srcs.n; i++)
		rc = merge(cli, srcs.v[i], fd, nl);
	if (!to_stdout) {
		mode_t mask = umask(0);
		umask(mask);
		if (rc == CLI_OK &&
		    (fchmod(fd, 0666 & ~mask) < 0 || close(fd) < 0 || rename(tmp, local) < 0)) {
			fprintf(stderr, "cairn: getmerge: %s: %s\n", local, strerror(errno));
			rc = CLI_FAIL;
		} else if (rc != CLI_OK) {
			close(fd);
		}
		if (rc != CLI_OK)
			unlink(tmp);
		free(tmp);
	}
	cli_strs_free(&srcs);
	return rc;
}
