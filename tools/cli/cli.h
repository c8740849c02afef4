/*
 * cli: what the cairn CLI's command files share: the command table's row,
 * the run's state, option parsing that also takes the global flags, and
 * error printing.
 *
 * Exit statuses: 0 success, 1 a failed operation (one line on stderr
 * naming the path and the cause), 2 a usage error (one line).
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "cairn.h"

#define CLI_OK	  0
#define CLI_FAIL  1
#define CLI_USAGE 2

struct cli;

struct cli_cmd {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv); /* returns an exit status */
	const char *usage;				   /* arguments, after the name */
	const char *summary;				   /* one line for --help */
	const struct cli_cmd *const *subs; /* subcommands for --help, NULL-ended; or NULL */
};

/* One run of the CLI. */
struct cli {
	const char *meta;    /* --meta: metaserver HOST:PORT[,...]; NULL: libcairn's default */
	uint64_t timeout_ms; /* --timeout; 0: libcairn's default */
	int json;
	int rc;			   /* exit status after cli_getopt() returned '?' */
	int unreachable;	   /* a call failed for want of the metaserver */
	const struct cli_cmd *cmd; /* the command being run */
	uint32_t replication;	   /* for files the command makes (0: the metaserver's default) */
	cairn_t *fs;		   /* made by cli_connect() */
};

/* A one-line progress meter on stderr, shown only when stderr is a terminal. */
struct cli_progress {
	int on;
	const char *what; /* borrowed: what is being copied, e.g. "put a.txt" */
	uint64_t start_ms, last_ms;
	uint64_t bytes;
};

/* Totals of a tree, as du and df count them. */
struct cli_usage {
	uint64_t bytes; /* sum of file sizes (one replica's worth) */
	uint64_t files;
	uint64_t dirs;
	int rc; /* CLI_FAIL once a part of the tree could not be read */
};

/*
 * getopt_long() over a command's argv (argv[0] is the command name) that
 * also takes the global flags (--meta, --timeout, --json, --help) anywhere.
 * longopts (may be NULL; values below 256) ends with a zero row. Returns the next command
 * option, -1 after the last, or '?' when the command must return cli->rc:
 * CLI_USAGE after a one-line error, CLI_OK after --help was printed.
 */
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/* Handles a global flag (opt from main's getopt); returns 0 or CLI_USAGE after an error. */
int cli_global_flag(struct cli *cli, int opt, const char *arg);

/* The global flags' getopt values (command options use values below 256). */
enum { CLI_OPT_META = 256, CLI_OPT_TIMEOUT, CLI_OPT_JSON, CLI_OPT_HELP, CLI_OPT_VERSION };

/* The long options main and cli_getopt share; ends with a zero row. */
extern const struct option cli_global_opts[];

/* The admin subcommands, for the top-level --help; ends with NULL. */
extern const struct cli_cmd *const cli_admin_cmds[];

/* Prints "cairn: CMD: <fmt>; usage: ..." (one line) and returns CLI_USAGE. */
int cli_usage(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the command's usage and summary to out. */
void cli_cmd_help(const struct cli_cmd *cmd, FILE *out);

/*
 * Makes cli->fs, with cli->replication for the files it makes. Returns
 * CLI_OK, or an exit status after printing why.
 */
int cli_connect(struct cli *cli);

/*
 * Prints "cairn: <what>: <cause>" for a failed call and returns CLI_FAIL;
 * what is printf-style (for example "mkdir %s"). The cause is the error's
 * text and the server's words (which name the chunkserver for a data
 * call). A -CAIRN_EUNAVAIL or -ETIMEDOUT without words is the
 * metaserver's: the cause names it and the time given, and sets
 * cli->unreachable, after which commands stop.
 */
int cli_fail(struct cli *cli, int err, const char *what, ...) __attribute__((format(printf, 3, 4)));

/*
 * A command-line path made absolute (a relative one is taken from "/").
 * Returns a new string (free with free()), or NULL after a usage error or
 * out of memory (*rc then holds the exit status).
 */
char *cli_path(struct cli *cli, const char *arg, int *rc);

/* "/a" + "b" → "/a/b". Returns a new string or NULL. */
char *cli_join(const char *dir, const char *name);

/*
 * Writes a name or path for people to read: as it is when it holds only
 * safe bytes, else quoted as GNU ls's shell-escape style does
 * ('a'$'\n''b'), so that control bytes never reach the terminal raw.
 */
void cli_put_name(FILE *out, const char *name);

/* Writes s as a JSON string (quoted, escaped). */
void cli_json_str(FILE *out, const char *s);

/* Writes microseconds as seconds with six decimals ("1714567890.123456"). */
void cli_print_secs(FILE *out, int64_t us);

/* Fills buf (11 bytes) with the ls-style mode string ("drwxr-xr-x"). */
void cli_mode_str(const struct cairn_stat *st, char buf[11]);

/* Starts a progress meter for what (borrowed until cli_progress_end()). */
void cli_progress_start(struct cli_progress *p, const char *what);

/* Counts n more bytes; redraws the line at most every 200 ms. */
void cli_progress_add(struct cli_progress *p, uint64_t n);

/* Draws the final line and ends it with a newline (a failed copy: clears it). */
void cli_progress_end(struct cli_progress *p, int ok);

/*
 * Adds the sizes of path (a file, or a directory and everything under it)
 * to *u; st is path's attributes. Failures inside the tree are reported
 * (one line each) and set u->rc. Returns CLI_OK, or CLI_FAIL when the
 * metaserver became unreachable.
 */
int cli_usage_walk(struct cli *cli, const char *path, const struct cairn_stat *st,
		   struct cli_usage *u);

/*
 * The last component of a local or remote path ("a/b/" → "b"), to name a
 * copy in a target directory. Returns a new string (free with free()), or
 * NULL for "-", "/" or out of memory.
 */
char *cli_base_name(const char *path);

/* The commands. */
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_mkdir(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_mv(struct cli *cli, int argc, char **argv);
int cmd_stat(struct cli *cli, int argc, char **argv);
int cmd_setrep(struct cli *cli, int argc, char **argv);
int cmd_put(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_cat(struct cli *cli, int argc, char **argv);
int cmd_du(struct cli *cli, int argc, char **argv);
int cmd_df(struct cli *cli, int argc, char **argv);
int cmd_locations(struct cli *cli, int argc, char **argv);
int cmd_admin(struct cli *cli, int argc, char **argv);

#endif
