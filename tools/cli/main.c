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
    {"ls", cmd_ls, "[-l] [-R] PATH", "List a directory (or name a file): -l long, -R recursive."},
    {"mkdir", cmd_mkdir, "[-p] PATH...",
     "Make directories; -p makes parents and accepts existing ones."},
    {"rm", cmd_rm, "[-r] PATH...", "Remove files; -r removes directories and what they hold."},
    {"mv", cmd_mv, "SRC DST", "Rename SRC to DST (into DST when DST is a directory)."},
    {"stat", cmd_stat, "[--json] PATH", "Show a file's or directory's attributes."},
    {"setrep", cmd_setrep, "N PATH", "Set a file's target number of replicas."},
    {"put", cmd_put, "[-r N] [--chunk-size SIZE] LOCAL REMOTE",
     "Copy a local file ('-': stdin) in; -r N makes it with N replicas."},
    {"get", cmd_get, "REMOTE LOCAL",
     "Copy a file out ('-': stdout); no partial file is left on failure."},
    {"cat", cmd_cat, "PATH...", "Write files to standard output."},
    {"du", cmd_du, "[--json] PATH", "Bytes under PATH: each entry, then the total."},
    {"df", cmd_df, "[--json]", "Files, directories and bytes stored; capacity and use of the chunkservers."},
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
