/*
 * cmd_stat: `cairn stat [--json | --format FMT] PATH...`.
 *
 * --format prints FMT for each PATH, as `hdfs dfs -stat` does, with
 * %n name, %s and %b size in bytes, %r replication, %u owner and %g group
 * (numeric ids), %a permission bits in octal, %A as ls shows them, %F
 * "regular file" or "directory", %y modification time in UTC
 * ("yyyy-MM-dd HH:mm:ss"), %Y the same in milliseconds since the epoch,
 * %x/%X the access time, %i the inode number, %c the chunk count, %o the
 * chunk size in bytes (HDFS's block size; 0 for a directory), %%; and
 * \n, \t.
 *
 * Plain output is one "key: value" line per attribute, times in local
 * time with microseconds. --json prints exactly the object of DESIGN §7:
 * {"path", "type": "file"|"dir", "size", "replication", "mode", "mtime",
 * "chunks"}, where mode is the permission bits as a (decimal) integer,
 * mtime is seconds since the epoch with six decimals, and a directory has
 * the replication and chunk count the metaserver gives it (0).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void print_time(const char *key, int64_t us)
{
	char when[64] = "?";
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	if (localtime_r(&t, &tm)) {
		char date[32], zone[8];
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		strftime(zone, sizeof(zone), "%z", &tm);
		snprintf(when, sizeof(when), "%s.%06lld %s", date, (long long)(us % 1000000), zone);
	}
	printf("%-12s %s\n", key, when);
}

static void print_plain(const char *path, const struct cairn_stat *st)
{
	char mode[11];
	cli_mode_str(st, mode);
	printf("%-12s %s\n", "path:", path);
	printf("%-12s %s\n", "type:", st->type == CAIRN_DIR ? "dir" : "file");
	printf("%-12s %llu\n", "id:", (unsigned long long)st->id);
	if (st->type == CAIRN_DIR) {
		printf("%-12s %llu\n", "entries:", (unsigned long long)st->nentries);
	} else {
		printf("%-12s %llu\n", "size:", (unsigned long long)st->size);
		printf("%-12s %u\n", "replication:", st->replication);
		printf("%-12s %llu\n", "chunks:", (unsigned long long)st->nchunks);
		printf("%-12s %llu\n", "chunk_size:", (unsigned long long)st->chunk_size);
	}
	printf("%-12s %04o (%s)\n", "mode:", st->mode, mode);
	printf("%-12s %u\n", "uid:", st->uid);
	printf("%-12s %u\n", "gid:", st->gid);
	print_time("mtime:", st->mtime_us);
	print_time("atime:", st->atime_us);
	print_time("ctime:", st->ctime_us);
}

/* The last component ("/" for the root). */
static const char *base(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

static void put_utc(int64_t us)
{
	char date[32] = "?";
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	fputs(date, stdout);
}

/* One conversion of --format; returns 0, or -1 for an unknown one. */
static int put_field(char c, const char *path, const struct cairn_stat *st)
{
	char mode[11];
	switch (c) {
	case 'n':
		fputs(base(path), stdout);
		break;
	case 's':
	case 'b':
		printf("%llu", (unsigned long long)st->size);
		break;
	case 'r':
		printf("%u", st->type == CAIRN_DIR ? 0 : st->replication);
		break;
	case 'u':
		printf("%u", st->uid);
		break;
	case 'g':
		printf("%u", st->gid);
		break;
	case 'a':
		printf("%o", st->mode);
		break;
	case 'A':
		cli_mode_str(st, mode);
		fputs(mode, stdout);
		break;
	case 'F':
		fputs(st->type == CAIRN_DIR ? "directory" : "regular file", stdout);
		break;
	case 'y':
		put_utc(st->mtime_us);
		break;
	case 'Y':
		printf("%lld", (long long)(st->mtime_us / 1000));
		break;
	case 'x':
		put_utc(st->atime_us);
		break;
	case 'X':
		printf("%lld", (long long)(st->atime_us / 1000));
		break;
	case 'i':
		printf("%llu", (unsigned long long)st->id);
		break;
	case 'c':
		printf("%llu", (unsigned long long)st->nchunks);
		break;
	case 'o':
		printf("%llu", (unsigned long long)(st->type == CAIRN_DIR ? 0 : st->chunk_size));
		break;
	case '%':
		putchar('%');
		break;
	default:
		return -1;
	}
	return 0;
}

/* Checks fmt's conversions. Returns 0, or the first unknown one. */
static char format_check(const char *fmt)
{
	for (const char *p = fmt; *p; p++)
		if (*p == '%' && strchr("nsbruagAFyYxXico%", p[1] ? p[1] : '?') == NULL)
			return p[1] ? p[1] : '%';
		else if (*p == '%')
			p++;
	return 0;
}

static void print_format(const char *fmt, const char *path, const struct cairn_stat *st)
{
	for (const char *p = fmt; *p; p++) {
		if (*p == '%' && p[1] && put_field(p[1], path, st) == 0)
			p++;
		else if (*p == '\\' && (p[1] == 'n' || p[1] == 't'))
			putchar(*++p == 'n' ? '\n' : '\t');
		else
			putchar(*p);
	}
	putchar('\n');
}

static void print_json(const char *path, const struct cairn_stat *st)
{
	printf("{\"path\": ");
	cli_json_str(stdout, path);
	printf(", \"type\": \"%s\", \"size\": %llu, \"replication\": %u, \"mode\": %u, \"mtime\": ",
	       st->type == CAIRN_DIR ? "dir" : "file", (unsigned long long)st->size,
	       st->replication, st->mode);
	cli_print_secs(stdout, st->mtime_us);
	printf(", \"chunks\": %llu}\n", (unsigned long long)st->nchunks);
}

int cmd_stat(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'F'},
					     {NULL, 0, NULL, 0}};
	int rc, opt;
	const char *fmt = NULL;
	while ((opt = cli_getopt(cli, argc, argv, "", opts)) != -1) {
		if (opt != 'F')
			return cli->rc;
		fmt = optarg;
	}
	char bad = fmt ? format_check(fmt) : 0;
	if (bad)
		return cli_usage(cli, "--format: unknown conversion %%%c", bad);
	struct cli_strs paths = {0};
	rc = cli_path_args(cli, argc, argv, &paths);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++) {
		const char *path = paths.v[i];
		struct cairn_stat st;
		int err = cairn_stat(cli->fs, path, &st);
		if (err)
			rc = cli_fail(cli, err, "stat %s", path);
		else if (fmt)
			print_format(fmt, path, &st);
		else if (cli->json)
			print_json(path, &st);
		else
			print_plain(path, &st);
	}
	cli_strs_free(&paths);
	return rc;
}
