/*
 * cmd_get: `cairn get REMOTE... LOCAL`.
 *
 * Copies files and directories out, as `hdfs dfs -get` and cp(1) do: one
 * REMOTE goes to LOCAL ("-": standard output, files only), or into LOCAL
 * under its own name when LOCAL is a directory; several go into LOCAL,
 * which must be a directory. REMOTE may be a glob (quoted: cairn expands
 * it). A directory comes with everything under it (the temporaries of
 * copies in progress left out), made as needed and merged into an
 * existing one; an existing local file is replaced. A failure is reported
 * and the next file is tried (exit status 1). Each file's bytes
 * go to a temporary file next to the target (".NAME.cairn-get.XXXXXX"),
 * which is renamed over the target only once every byte arrived and the
 * file was closed without error: a failed get leaves no partial file and
 * an existing target untouched. The copy gets REMOTE's permission bits
 * less the umask. What is read is what the file held when get opened it
 * (close-to-open). On a terminal, standard error shows one updating line:
 * bytes and MB/s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "tempname.h"
#include "util.h"

/* Makes the temporary file next to target. Returns its fd and a new *tmp, or -1. */
static int make_temp(const char *target, char **tmp)
{
	const char *slash = strrchr(target, '/');
	int dirlen = slash ? (int)(slash - target + 1) : 0;
	const char *name = slash ? slash + 1 : target;
	*tmp = xasprintf("%.*s.%s.cairn-get.XXXXXX", dirlen, target, name);
	int fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		free(*tmp);
		*tmp = NULL;
	}
	return fd;
}

/* The file remote (attributes st) to target ("-": standard output). */
static int get_file(struct cli *cli, const char *remote, const struct cairn_stat *st,
		    const char *target)
{
	cairn_file_t *f;
	int err = cairn_open(cli->fs, remote, CAIRN_O_RDONLY, 0, &f);
	if (err)
		return cli_fail(cli, err, "get %s", remote);
	int to_stdout = strcmp(target, "-") == 0, fd = 1;
	char *tmp = NULL;
	if (!to_stdout && (fd = make_temp(target, &tmp)) < 0) {
		fprintf(stderr, "cairn: get %s: %s: %s\n", remote, target, strerror(errno));
		cairn_close(f);
		return CLI_FAIL;
	}
	char what[512];
	snprintf(what, sizeof(what), "get %s", remote);
	struct cli_progress pr;
	cli_progress_start(&pr, what);
	pr.total = st->size;
	int lerr = 0;
	err = cli_copy_out(f, fd, &pr, &lerr);
	if (err) {
		if (err < 0) {
			/* Now: a successful close() would replace the library's words. */
			cli_progress_end(&pr, 0);
			cli_fail(cli, err, "get %s", remote);
		}
		cairn_close(f);
	} else if ((err = cairn_close(f)) < 0) {
		cli_progress_end(&pr, 0);
		cli_fail(cli, err, "get %s", remote);
	}
	if (err == 0 && !to_stdout) {
		mode_t mask = umask(0);
		umask(mask);
		if (fchmod(fd, (mode_t)st->mode & 0777 & ~mask) < 0 || close(fd) < 0 ||
		    rename(tmp, target) < 0) {
			lerr = errno;
			err = 1;
		}
		fd = -1;
	}
	if (err == 1) {
		cli_progress_end(&pr, 0);
		fprintf(stderr, "cairn: get %s: %s: %s\n", remote,
			to_stdout ? "standard output" : target, strerror(lerr));
	} else if (err == 0) {
		cli_progress_end(&pr, 1);
	}
	if (!to_stdout) {
		if (fd >= 0)
			close(fd);
		if (err)
			unlink(tmp);
	}
	free(tmp);
	return err ? CLI_FAIL : CLI_OK;
}

static void get_path(struct cli *cli, const char *remote, const struct cairn_stat *st,
		     const char *target, int *rc);

/* The directory remote as the local directory target, with what is under it. */
static void get_tree(struct cli *cli, const char *remote, const struct cairn_stat *st,
		     const char *target, int *rc)
{
	mode_t mask = umask(0);
	umask(mask);
	if (mkdir(target, (mode_t)st->mode & 0777 & ~mask) < 0 && errno != EEXIST) {
		fprintf(stderr, "cairn: get %s: %s: %s\n", remote, target, strerror(errno));
		*rc = CLI_FAIL;
		return;
	}
	cairn_dir_t *d;
	int err = cairn_opendir(cli->fs, remote, &d);
	if (err) {
		*rc = cli_fail(cli, err, "get %s", remote);
		return;
	}
	struct cairn_dirent ent;
	while (!cli->unreachable && !cli_xfer_stopped() &&
	       (err = cairn_readdir_next(d, &ent)) == 1) {
		if (tempname_is(ent.name))
			continue; /* a copy in progress */
		char *sub = cli_join(remote, ent.name), *lsub = cli_join(target, ent.name);
		/* The iterator holds one page; the recursion its own. */
		get_path(cli, sub, &ent.st, lsub, rc);
		free(sub);
		free(lsub);
	}
	cairn_closedir(d);
	if (err < 0)
		*rc = cli_fail(cli, err, "get %s", remote);
}

/* remote (a file or directory) to target; a failure sets *rc to CLI_FAIL. */
static void get_path(struct cli *cli, const char *remote, const struct cairn_stat *st,
		     const char *target, int *rc)
{
	if (st->type == CAIRN_DIR)
		get_tree(cli, remote, st, target, rc);
	else if (get_file(cli, remote, st, target) != CLI_OK)
		*rc = CLI_FAIL;
}

static int get_all(struct cli *cli, const struct cli_strs *remotes, const char *local)
{
	struct stat lst;
	int into = stat(local, &lst) == 0 && S_ISDIR(lst.st_mode), rc = CLI_OK;
	if (remotes->n > 1 && !into) {
		fprintf(stderr, "cairn: get: %s: several sources need an existing directory\n",
			local);
		return CLI_FAIL;
	}
	for (size_t i = 0; i < remotes->n && !cli->unreachable && !cli_xfer_stopped(); i++) {
		const char *remote = remotes->v[i];
		struct cairn_stat st;
		int err = cairn_stat(cli->fs, remote, &st);
		if (err) {
			rc = cli_fail(cli, err, "get %s", remote);
			continue;
		}
		if (st.type == CAIRN_DIR && strcmp(local, "-") == 0) {
			rc = cli_fail(cli, -EISDIR, "get %s", remote);
			continue;
		}
		char *base = into ? cli_base_name(remote) : NULL, *target = NULL;
		if (!into)
			target = xstrdup(local);
		else if (base)
			target = xasprintf("%s%s%s", local,
					   local[strlen(local) - 1] == '/' ? "" : "/", base);
		if (!target) {
			fprintf(stderr, "cairn: get %s: no name to give it in %s\n", remote, local);
			rc = CLI_FAIL;
		} else {
			get_path(cli, remote, &st, target, &rc);
		}
		free(base);
		free(target);
	}
	return rc;
}

int cmd_get(struct cli *cli, int argc, char **argv)
{
	int rc;
	if (cli_getopt(cli, argc, argv, "", NULL) != -1)
		return cli->rc; /* only global flags here */
	if (argc - optind < 2)
		return cli_usage(cli, "missing REMOTE or LOCAL");
	const char *local = argv[argc - 1];
	if (!*local)
		return cli_usage(cli, "empty LOCAL");
	cli_xfer_catch();
	if ((rc = cli_connect(cli)) != CLI_OK)
		return rc;
	struct cli_strs remotes = {0};
	rc = cli_expand(cli, argc - optind - 1, argv + optind, &remotes);
	if (rc == CLI_OK)
		rc = get_all(cli, &remotes, local);
	cli_strs_free(&remotes);
	return rc;
}
