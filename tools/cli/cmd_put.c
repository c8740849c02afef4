/*
 * cmd_put: `cairn put [-f] [-r N] [--chunk-size SIZE] LOCAL... REMOTE`.
 *
 * Copies local files and directories in, as `hdfs dfs -put` and cp(1) do:
 * one LOCAL goes to REMOTE, or into REMOTE under its own name when REMOTE
 * is a directory; several go into REMOTE, which must be a directory. A
 * directory is copied with everything under it (regular files and
 * directories; other kinds are skipped with a line each), making the
 * directories it needs; an existing directory is merged into. "-" reads
 * one file from standard input. An existing target file is refused unless
 * -f. A file gets its local permission bits less the umask (0644 from
 * standard input). -r N makes the files with N replicas per chunk;
 * --chunk-size SIZE (a power of two from 1M to 256M) gives them that chunk
 * size, for their life (default: the metaserver's).
 *
 * Each file is written atomically (xfer.c): to a hidden temporary renamed
 * over the target once stored and closed, so a failed or killed put never
 * leaves a partial file under a final name nor harms an existing one. A
 * failure is reported and the next file is tried; the exit status is 1
 * if any failed. SIGINT, SIGTERM and SIGHUP stop the copy cleanly. On a
 * terminal, standard error shows one updating line per file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

struct put {
	struct cli *cli;
	int force;
	uint64_t chunk_size; /* 0: the metaserver's default */
	mode_t umask;
	int rc; /* CLI_FAIL once a file failed */
};

static int fill_from_fd(void *arg, cairn_file_t *f, struct cli_progress *pr, int *lerr)
{
	return cli_copy_in(*(int *)arg, f, pr, lerr);
}

/* Whether to go on after a failure: not once stopped or the metaserver is gone. */
static int going(const struct put *p)
{
	return !p->cli->unreachable && !cli_xfer_stopped();
}

static void put_fd(struct put *p, int fd, const char *local, uint32_t mode, uint64_t size,
		   const char *target)
{
	struct cli_writer w = {.target = target,
			       .source = local,
			       .mode = mode,
			       .size = size,
			       .force = p->force,
			       .chunk_size = p->chunk_size,
			       .fill = fill_from_fd,
			       .arg = &fd};
	if (cli_write_atomic(p->cli, &w) != CLI_OK)
		p->rc = CLI_FAIL;
}

static void put_file(struct put *p, const char *local, const struct stat *lst, const char *target)
{
	int fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "cairn: put %s: %s\n", local, strerror(errno));
		p->rc = CLI_FAIL;
		return;
	}
	put_fd(p, fd, local, (uint32_t)(lst->st_mode & 0777 & ~p->umask), (uint64_t)lst->st_size,
	       target);
	close(fd);
}

static void put_path(struct put *p, const char *local, const char *target, int top);

/* local (a directory) as target and what is under it. */
static void put_tree(struct put *p, const char *local, const struct stat *lst, const char *target)
{
	int err = cairn_mkdir(p->cli->fs, target, (uint32_t)(lst->st_mode & 0777 & ~p->umask));
	struct cairn_stat st;
	if (err == -EEXIST && cairn_stat(p->cli->fs, target, &st) == 0 && st.type == CAIRN_DIR)
		err = 0;
	if (err) {
		p->rc = cli_fail(p->cli, err, "put %s: making %s", local, target);
		return;
	}
	DIR *d = opendir(local);
	if (!d) {
		fprintf(stderr, "cairn: put %s: %s\n", local, strerror(errno));
		p->rc = CLI_FAIL;
		return;
	}
	struct dirent *e;
	while (going(p) && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *sub = cli_join(local, e->d_name), *rsub = cli_join(target, e->d_name);
		put_path(p, sub, rsub, 0);
		free(sub);
		free(rsub);
	}
	closedir(d);
}

/*
 * One local path to target: a directory with what it holds, a regular file,
 * or, named on the command line (top), any other file that reads as a
 * stream (a pipe: `put <(cmd) /x`); inside a directory those are skipped.
 */
static void put_path(struct put *p, const char *local, const char *target, int top)
{
	struct stat lst;
	if (stat(local, &lst) != 0) {
		fprintf(stderr, "cairn: put %s: %s\n", local, strerror(errno));
		p->rc = CLI_FAIL;
	} else if (S_ISDIR(lst.st_mode)) {
		put_tree(p, local, &lst, target);
	} else if (S_ISREG(lst.st_mode) || top) {
		put_file(p, local, &lst, target);
	} else {
		fprintf(stderr, "cairn: put %s: skipped: not a regular file or directory\n", local);
		p->rc = CLI_FAIL;
	}
}

static int put_all(struct put *p, char **locals, int n, const char *remote)
{
	struct cairn_stat st;
	int err = cairn_stat(p->cli->fs, remote, &st);
	if (err && err != -ENOENT)
		return cli_fail(p->cli, err, "put %s", remote);
	int into = err == 0 && st.type == CAIRN_DIR;
	if (n > 1 && !into)
		return cli_fail(p->cli, err ? err : -ENOTDIR,
				"put %s: several sources need a directory", remote);
	for (int i = 0; i < n && going(p); i++) {
		if (strcmp(locals[i], "-") == 0) {
			if (into)
				return cli_usage(p->cli,
						 "%s is a directory: name the file to make in it",
						 remote);
			put_fd(p, 0, "standard input", 0, 0, remote);
			continue;
		}
		char *base = into ? cli_base_name(locals[i]) : NULL;
		char *target = into && base ? cli_join(remote, base) : xstrdup(remote);
		put_path(p, locals[i], target, 1);
		free(base);
		free(target);
	}
	return p->rc;
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"chunk-size", required_argument, NULL, 'c'}, {0}};
	struct put p = {.cli = cli, .rc = CLI_OK};
	int opt, rc;
	while ((opt = cli_getopt(cli, argc, argv, "fr:", opts)) != -1) {
		if (opt == 'f') {
			p.force = 1;
			continue;
		}
		if (opt == 'c') {
			if ((rc = cli_chunk_size(cli, optarg, &p.chunk_size)) != CLI_OK)
				return rc;
			continue;
		}
		if (opt != 'r')
			return cli->rc;
		char *end;
		errno = 0;
		unsigned long n = strtoul(optarg, &end, 10);
		if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || n == 0 || n > UINT32_MAX)
			return cli_usage(cli, "-r must be a positive number of replicas, not '%s'",
					 optarg);
		cli->replication = (uint32_t)n;
	}
	int n = argc - optind - 1;
	if (n < 1)
		return cli_usage(cli, "missing LOCAL or REMOTE");
	for (int i = 0; i < n; i++)
		if (strcmp(argv[optind + i], "-") == 0 && n > 1)
			return cli_usage(cli, "'-' (standard input) must be the only source");
	p.umask = umask(0);
	umask(p.umask);
	cli_xfer_catch();
	char *remote = cli_path(cli, argv[argc - 1], &rc);
	if (remote && (rc = cli_connect(cli)) == CLI_OK)
		rc = put_all(&p, argv + optind, n, remote);
	free(remote);
	return rc;
}
