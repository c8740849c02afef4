/*
 * cmd_checksum: `cairn checksum [--local] PATH...`.
 *
 * Prints "PATH<TAB>CRC32C<TAB>8 hex digits<TAB>SIZE" for each file: for a
 * remote one (globs expanded) combined from the CRCs the chunkservers
 * store, reading no data (cairn_checksum()); with --local, of a local
 * file ("-": standard input) read here. Both are the plain CRC32C of the
 * bytes, so equal values mean equal copies (to CRC32C's strength) without
 * reading a remote file back. --json prints one {"path", "crc32c",
 * "size"} object per line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "crc32c.h"
#include "util.h"

#define CLI_CRC_BUF (1u << 20)

static void print_sum(struct cli *cli, const char *path, uint32_t crc, uint64_t size)
{
	if (cli->json) {
		printf("{\"path\": ");
		cli_json_str(stdout, path);
		printf(", \"crc32c\": \"%08x\", \"size\": %llu}\n", crc, (unsigned long long)size);
	} else {
		printf("%s\tCRC32C\t%08x\t%llu\n", path, crc, (unsigned long long)size);
	}
}

static int local_sum(struct cli *cli, const char *path, char *buf)
{
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "cairn: checksum %s: %s\n", path, strerror(errno));
		return CLI_FAIL;
	}
	uint32_t crc = 0;
	uint64_t size = 0;
	ssize_t n;
	while ((n = read(fd, buf, CLI_CRC_BUF)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0) {
			crc = crc32c(crc, buf, (size_t)n);
			size += (uint64_t)n;
		}
	int lerr = n < 0 ? errno : 0;
	if (fd > 0)
		close(fd);
	if (lerr) {
		fprintf(stderr, "cairn: checksum %s: %s\n", path, strerror(lerr));
		return CLI_FAIL;
	}
	print_sum(cli, path, crc, size);
	return CLI_OK;
}

int cmd_checksum(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"local", no_argument, NULL, 'L'}, {NULL, 0, NULL, 0}};
	int opt, rc = CLI_OK, local = 0;
	while ((opt = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (opt != 'L')
			return cli->rc;
		local = 1;
	}
	if (optind == argc)
		return cli_usage(cli, "missing PATH");
	if (local) {
		char *buf = xmalloc(CLI_CRC_BUF);
		for (int i = optind; i < argc; i++)
			if (local_sum(cli, argv[i], buf) != CLI_OK)
				rc = CLI_FAIL;
		free(buf);
		return rc;
	}
	struct cli_strs paths = {0};
	if ((rc = cli_connect(cli)) == CLI_OK)
		rc = cli_expand(cli, argc - optind, argv + optind, &paths);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++) {
		uint32_t crc;
		uint64_t size;
		int err = cairn_checksum(cli->fs, paths.v[i], &crc, &size);
		if (err)
			rc = cli_fail(cli, err, "checksum %s", paths.v[i]);
		else
			print_sum(cli, paths.v[i], crc, size);
	}
	cli_strs_free(&paths);
	return rc;
}
