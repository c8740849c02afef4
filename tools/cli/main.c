/*
 * cairn: the command-line client. A thin main over libcairn: the global
 * flags, the command table, and the exit status.
 *
 * `cairn [GLOBAL FLAGS] COMMAND [ARGS]`; the global flags (--meta,
 * --timeout, --json, --help) are also taken after the command name, in any
 * position. Each command lives in its own cmd_<name>.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_cmd cli_cmds[] = {
    {"ls", cmd_ls, "[-l] [-h] [-R] PATH...", "List a directory (or name a file): -l long, -R recursive."},
    {"mkdir", cmd_mkdir, "[-p] PATH...",
     "Make directories; -p makes parents and accepts existing ones."},
    {"rm", cmd_rm, "[-r] PATH...", "Remove files; -r removes directories and what they hold."},
    {"mv", cmd_mv, "[-f] SRC... DST",
     "Rename SRC to DST (into DST when a directory); -f replaces an existing file."},
    {"stat", cmd_stat, "[--json | --format FMT] PATH...", "Show a file's or directory's attributes."},
    {"setrep", cmd_setrep, "N PATH...", "Set a file's target number of replicas."},
    {"put", cmd_put, "[-f] [-r N] [--chunk-size SIZE] LOCAL... REMOTE",
     "Copy local files and directories ('-': stdin) in, each atomically; -f replaces, -r N: "
     "N replicas."},
    {"get", cmd_get, "REMOTE... LOCAL",
     "Copy files and directories out ('-': stdout); no partial file is left on failure."},
    {"cp", cmd_cp, "[-f] [-r] [--chunk-size SIZE] SRC... DST",
     "Copy inside cairn (through this client), each file atomically; -r: directories."},
    {"append", cmd_append, "LOCAL... REMOTE",
     "Append local files ('-': stdin) to REMOTE, made when missing."},
    {"cat", cmd_cat, "PATH...", "Write files to standard output."},
    {"head", cmd_head, "[-c BYTES] PATH", "Write the first BYTES (1K) of a file."},
    {"tail", cmd_tail, "[-f] [-c BYTES] PATH",
     "Write the last BYTES (1K) of a file; -f follows what is added."},
    {"touch", cmd_touch, "PATH...", "Make empty files, or set existing ones' times to now."},
    {"truncate", cmd_truncate, "SIZE PATH...", "Cut files to SIZE, or grow them with zeros."},
    {"test", cmd_test, "-e|-d|-f|-s|-z PATH",
     "Exit 0 if PATH exists, is a dir, a file, non-empty, empty."},
    {"count", cmd_count, "[-q] [-h] PATH...", "Directories, files and bytes under each PATH."},
    {"find", cmd_find, "PATH... [-name GLOB] [-type f|d]", "Print the paths under PATH that match."},
    {"getmerge", cmd_getmerge, "[--nl] SRC... LOCAL",
     "Concatenate the files of directories into one local file."},
    {"checksum", cmd_checksum, "[--local] PATH...",
     "The CRC32C of files from the chunkservers' stored CRCs (no data read); --local: of "
     "local files."},
    {"chmod", cmd_chmod, "[-R] MODE PATH...", "Set permission bits (octal)."},
    {"chown", cmd_chown, "[-R] OWNER[:GROUP] PATH...", "Set the owner and/or group."},
    {"chgrp", cmd_chgrp, "[-R] GROUP PATH...", "Set the group."},
    {"du", cmd_du, "[-s] [-h] [--json] PATH...", "Bytes under PATH: each entry, then the total."},
    {"df", cmd_df, "[-h] [--json]", "Files, directories and bytes stored; capacity and use of the chunkservers."},
    {"locations", cmd_locations, "[--json] PATH",
     "Each chunk of a file: offset, length, id, version, replicas."},
    {"admin", cmd_admin, "SUBCOMMAND [ARGS]", "Administer the cluster:", cli_admin_cmds},
};

#define N_CMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

#define CLI_STR_(x) #x
#define CLI_STR(x)  CLI_STR_(x)

static const char *const global_help[][2] = {
    {"--meta ADDR", "the metaserver, HOST:PORT, or a comma-separated list of them (default: "
		    "$CAIRN_META, else " CAIRN_DEFAULT_META ")"},
    {"--timeout DURATION", "how long a call keeps retrying before it fails (default "
			   CLI_STR(CAIRN_DEFAULT_TIMEOUT_S) "s)"},
    {"--json", "machine-readable output where a command prints a report"},
    {"--help", "this text; 'cairn COMMAND --help' for one command"},
    {"--version", "the version of cairn"},
};

#define N_FLAGS (sizeof(global_help) / sizeof(global_help[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: cairn [--meta ADDR] [--timeout DURATION] [--json] COMMAND [ARGS]\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < N_CMDS; i++) {
		char head[64];
		snprintf(head, sizeof(head), "%s %s", cli_cmds[i].name, cli_cmds[i].usage);
		fprintf(out, "  %-24s %s\n", head, cli_cmds[i].summary);
		for (const struct cli_cmd *const *sub = cli_cmds[i].subs; sub && *sub; sub++) {
			snprintf(head, sizeof(head), "%s %s", (*sub)->name, (*sub)->usage);
			if (strlen(head) > 22)
				fprintf(out, "    %s\n    %-22s %s\n", head, "", (*sub)->summary);
			else
				fprintf(out, "    %-22s %s\n", head, (*sub)->summary);
		}
	}
	fprintf(out, "\nGlobal flags (before or after the command):\n");
	for (size_t i = 0; i < N_FLAGS; i++)
		fprintf(out, "  %-24s %s\n", global_help[i][0], global_help[i][1]);
	fprintf(out, "\nExit status: 0 success, 1 an operation failed, 2 a usage error.\n");
}

static const struct cli_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	return NULL;
}

/* Parses the global flags before the command. Returns -1 to go on, else an exit status. */
static int parse_globals(struct cli *cli, int argc, char **argv)
{
	opterr = 0;
	for (;;) {
		int opt = getopt_long(argc, argv, "+:", cli_global_opts, NULL);
		if (opt == -1)
			return -1;
		if (opt == ':')
			return cli_usage(cli, "%s needs a value", argv[optind - 1]);
		if (opt == '?' && optopt && optopt < 256)
			return cli_usage(cli, "unknown option -%c", optopt);
		if (opt == '?')
			return cli_usage(cli, "unknown option %s", argv[optind - 1]);
		if (opt == CLI_OPT_HELP) {
			usage(stdout);
			return CLI_OK;
		}
		if (opt == CLI_OPT_VERSION) {
			printf("cairn %s\n", CAIRN_VERSION);
			return CLI_OK;
		}
		int rc = cli_global_flag(cli, opt, optarg);
		if (rc)
			return rc;
	}
}

static int run(struct cli *cli, int argc, char **argv)
{
	int rc = parse_globals(cli, argc, argv);
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	cli->cmd = find_cmd(argv[optind]);
	if (!cli->cmd) {
		char names[256] = "";
		for (size_t i = 0; i < N_CMDS; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", cli_cmds[i].name);
		fprintf(stderr, "cairn: unknown command '%s' (commands: %s; see 'cairn --help')\n",
			argv[optind], names);
		return CLI_USAGE;
	}
	int cargc = argc - optind;
	char **cargv = argv + optind;
	optind = 0; /* glibc: start afresh for the command's own options */
	return cli->cmd->fn(cli, cargc, cargv);
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	int rc = run(&cli, argc, argv);
	cairn_disconnect(cli.fs);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "cairn: writing output: %s\n", strerror(errno));
		rc = CLI_FAIL;
	}
	return rc;
}
