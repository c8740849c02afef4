/*
 * cmd_put: `cairn put [-r N] [--chunk-size SIZE] LOCAL REMOTE`.
 *
 * Copies the local file LOCAL ("-": standard input) to REMOTE, or into
 * REMOTE under LOCAL's name when REMOTE is a directory, as cp(1) does. An
 * existing file is overwritten in place (truncated first). The file gets
 * LOCAL's permission bits less the umask (0644 from standard input). -r N
 * makes the file with N replicas per chunk, and sets an existing file's
 * target to N before writing to it. --chunk-size SIZE (a power of two from
 * 1M to 256M) gives a file put makes that chunk size, for its life (an
 * overwritten file keeps its own).
 *
 * The data goes to the library in reads of up to CLI_PUT_BUF bytes, which
 * it keeps flowing to the chunkservers; the copy has succeeded only once
 * cairn_close() returns 0, when every byte is stored on every replica of
 * its chunk and the size is committed. A failed copy removes the file if
 * put made it (an overwritten file is left as far as it got). On a
 * terminal, standard error shows one updating line: bytes and MB/s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#define CLI_PUT_BUF (4u << 20)

/* Copies fd into f. Returns 0, a negative libcairn error, or 1 with *lerr a local errno. */
static int copy_in(int fd, cairn_file_t *f, struct cli_progress *pr, int *lerr)
{
	char *buf = malloc(CLI_PUT_BUF);
	if (!buf)
		return -ENOMEM;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, CLI_PUT_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*lerr = errno;
			rc = 1;
			break;
		}
		if (n == 0)
			break;
		ssize_t w = cairn_write(f, buf, (size_t)n);
		if (w < 0) {
			rc = (int)w;
			break;
		}
		cli_progress_add(pr, (uint64_t)n);
	}
	free(buf);
	return rc;
}

/* The remote name: REMOTE, or REMOTE/basename(LOCAL) when REMOTE is a directory. */
static char *target_path(struct cli *cli, const char *local, char *remote, int *rc)
{
	struct cairn_stat st;
	int err = cairn_stat(cli->fs, remote, &st);
	if (err && err != -ENOENT) {
		*rc = cli_fail(cli, err, "put %s", remote);
		return NULL;
	}
	if (err || st.type != CAIRN_DIR)
		return strdup(remote);
	char *base = cli_base_name(local);
	if (!base) {
		*rc = cli_usage(cli, "%s is a directory: name the file to make in it", remote);
		return NULL;
	}
	char *t = cli_join(remote, base);
	free(base);
	return t;
}

static int put(struct cli *cli, const char *local, int fd, uint32_t mode, int setrep,
	       uint64_t chunk_size, char *remote)
{
	int rc = CLI_FAIL;
	char *target = target_path(cli, local, remote, &rc);
	if (!target)
		return rc;
	struct cairn_stat st;
	int created = cairn_stat(cli->fs, target, &st) == -ENOENT;
	cairn_file_t *f;
	struct cairn_open_options oo = {.chunk_size = chunk_size};
	int err = cairn_open_opts(cli->fs, target, CAIRN_O_WRONLY | CAIRN_O_CREAT | CAIRN_O_TRUNC,
				  mode, &oo, &f);
	if (err) {
		rc = cli_fail(cli, err, "put %s", target);
		free(target);
		return rc;
	}
	if (setrep && !created &&
	    (err = cairn_set_replication(cli->fs, target, cli->replication))) {
		rc = cli_fail(cli, err, "put %s: setting replication", target);
		cairn_close(f);
		free(target);
		return rc;
	}
	char what[512];
	snprintf(what, sizeof(what), "put %s", target);
	struct cli_progress pr;
	cli_progress_start(&pr, what);
	int lerr = 0;
	err = copy_in(fd, f, &pr, &lerr);
	if (err) {
		/* Now: close() would replace the library's words. */
		cli_progress_end(&pr, 0);
		if (err == 1)
			fprintf(stderr, "cairn: put %s: reading %s: %s\n", target, local,
				strerror(lerr));
		else
			cli_fail(cli, err, "put %s", target);
		cairn_close(f);
	} else if ((err = cairn_close(f)) != 0) {
		cli_progress_end(&pr, 0);
		cli_fail(cli, err, "put %s", target);
	} else {
		cli_progress_end(&pr, 1);
	}
	if (err && created && !cli->unreachable)
		cairn_remove(cli->fs, target, 0);
	free(target);
	return err ? CLI_FAIL : CLI_OK;
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"chunk-size", required_argument, NULL, 'c'}, {0}};
	int opt, rc, setrep = 0;
	uint64_t chunk_size = 0;
	while ((opt = cli_getopt(cli, argc, argv, "r:", opts)) != -1) {
		if (opt == 'c') {
			if (parse_size(optarg, &chunk_size) < 0 ||
			    chunk_size < CAIRN_CHUNK_SIZE_MIN ||
			    chunk_size > CAIRN_CHUNK_SIZE_MAX || (chunk_size & (chunk_size - 1)))
				return cli_usage(cli,
						 "--chunk-size takes a power of two from 1M to 256M, "
						 "not '%s'",
						 optarg);
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
		setrep = 1;
	}
	if (argc - optind != 2)
		return cli_usage(cli, argc - optind < 2 ? "missing LOCAL or REMOTE"
							: "too many arguments");
	const char *local = argv[optind];
	int fd = 0;
	uint32_t mode = 0;
	if (strcmp(local, "-") != 0) {
		if ((fd = open(local, O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "cairn: put %s: %s\n", local, strerror(errno));
			return CLI_FAIL;
		}
		struct stat lst;
		if (fstat(fd, &lst) == 0 && S_ISDIR(lst.st_mode)) {
			fprintf(stderr, "cairn: put %s: %s\n", local, strerror(EISDIR));
			close(fd);
			return CLI_FAIL;
		}
		mode_t mask = umask(0);
		umask(mask);
		mode = (uint32_t)(lst.st_mode & 0777 & ~mask);
	}
	char *remote = cli_path(cli, argv[optind + 1], &rc);
	if (remote && (rc = cli_connect(cli)) == CLI_OK)
		rc = put(cli, local, fd, mode, setrep, chunk_size, remote);
	free(remote);
	if (fd > 0)
		close(fd);
	return rc;
}
