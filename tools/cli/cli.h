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

#define CLI_WAIT_NOTICE_MS 2000 /* a wait for the metaserver this long is shown */
#define CLI_PATH_BUF	   4097 /* a remote path (at most 4096 bytes) and its NUL */

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
	int wait_shown;		   /* the "waiting for metaserver" line is on the terminal */
};

/* A one-line progress meter on stderr, shown only when stderr is a terminal. */
struct cli_progress {
	int on;
	const char *what; /* borrowed: what is being copied, e.g. "put a.txt" */
	uint64_t start_ms, last_ms;
	uint64_t bytes;
	uint64_t total; /* the bytes expected (0: unknown), for the ETA */
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
 * Makes cli->fs, with cli->replication for the files it makes. On a
 * terminal, a call that waits for the metaserver over CLI_WAIT_NOTICE_MS
 * shows "waiting for metaserver ADDR, Ns of Ts" on stderr until it ends.
 * Returns CLI_OK, or an exit status after printing why.
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
 * Returns a new string (free with free()), or NULL after a usage error
 * (*rc then holds the exit status).
 */
char *cli_path(struct cli *cli, const char *arg, int *rc);

/* "/a" + "b" → "/a/b". Returns a new string. */
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

/*
 * Draws the final line and ends it with a newline, if a line was drawn (a
 * copy shorter than one redraw interval shows none); a failed copy clears it.
 */
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
 * NULL for "-" or "/".
 */
char *cli_base_name(const char *path);

/*
 * Byte copies (xfer.c). cli_xfer_catch() makes SIGINT, SIGTERM and SIGHUP
 * stop the copy in progress (cli_xfer_stopped() tells whether one came).
 * cli_copy_in() copies fd to its end into f; cli_copy_out() copies f from
 * its position to its end into fd. Both count bytes in pr and return 0, a
 * negative libcairn error, or 1 with *lerr a local errno (EINTR: stopped
 * by a signal).
 */
void cli_xfer_catch(void);
int cli_xfer_stopped(void);
int cli_copy_in(int fd, cairn_file_t *f, struct cli_progress *pr, int *lerr);
int cli_copy_out(cairn_file_t *f, int fd, struct cli_progress *pr, int *lerr);
/* As cli_copy_in(), from src's position to its end into dst (*lerr: EINTR only). */
int cli_copy_remote(cairn_file_t *src, cairn_file_t *dst, struct cli_progress *pr, int *lerr);

/* One atomic write of a remote file (xfer.c has the design). */
struct cli_writer {
	const char *target;  /* the remote file to make or replace */
	const char *source;  /* what is copied, for error lines */
	uint32_t mode;	     /* the new file's permission bits (0: the library's default) */
	uint64_t size;	     /* the bytes expected, for the progress line (0: unknown) */
	int force;	     /* replace an existing target */
	uint64_t chunk_size; /* the new file's chunk size (0: the metaserver's default) */
	/* Copies the source into f: as cli_copy_in() returns. */
	int (*fill)(void *arg, cairn_file_t *f, struct cli_progress *pr, int *lerr);
	void *arg;
};

/*
 * Makes w->target from w->fill, atomically: errors are printed as
 * "cairn: CMD TARGET: ...". Returns CLI_OK or CLI_FAIL.
 */
int cli_write_atomic(struct cli *cli, const struct cli_writer *w);

/*
 * Parses a --chunk-size value (a power of two from 1M to 256M) into *out.
 * Returns CLI_OK, or CLI_USAGE after a one-line error.
 */
int cli_chunk_size(struct cli *cli, const char *arg, uint64_t *out);

/* A growing list of strings (paths.c). Zero-initialise; each string owned. */
struct cli_strs {
	char **v;
	size_t n, cap;
};

/* Takes ownership of s. */
void cli_strs_add(struct cli_strs *l, char *s);
void cli_strs_free(struct cli_strs *l);

/* Whether s holds a glob character ('*', '?', '[', '{'). */
int cli_has_glob(const char *s);

/*
 * Expands the remote glob pattern (absolute) against the namespace
 * (paths.c has the rules) and appends the matches to out; a pattern
 * without glob characters is appended as it is. Returns CLI_OK, or
 * CLI_FAIL after printing why (also when a pattern matches nothing).
 * Needs cli->fs.
 */
int cli_glob(struct cli *cli, const char *pattern, struct cli_strs *out);

/* cli_path() and cli_glob() over n command-line arguments. Returns an exit status. */
int cli_expand(struct cli *cli, int n, char **args, struct cli_strs *out);

/*
 * For a command taking one or more PATH operands argv[optind..argc): a
 * usage error ("missing PATH") when there are none, else cli_connect().
 * Returns an exit status.
 */
int cli_need_paths(struct cli *cli, int argc);

/* cli_need_paths(), then cli_expand() of the operands into out. Returns an exit status. */
int cli_path_args(struct cli *cli, int argc, char **argv, struct cli_strs *out);

/*
 * Calls fn for path (attributes st) and, when recursive and path is a
 * directory, for everything under it, each directory before what it
 * holds. fn returns CLI_OK or CLI_FAIL (after printing why); the walk goes
 * on after a failure but stops once the metaserver is unreachable.
 * Returns CLI_OK, or CLI_FAIL when anything failed.
 */
typedef int (*cli_visit_fn)(struct cli *cli, const char *path, const struct cairn_stat *st,
			    void *arg);
int cli_walk(struct cli *cli, const char *path, const struct cairn_stat *st, int recursive,
	     cli_visit_fn fn, void *arg);

/* cli_walk() from each of n command-line arguments (globs expanded). Returns an exit status. */
int cli_walk_args(struct cli *cli, int n, char **args, int recursive, cli_visit_fn fn, void *arg);

/*
 * For `cmd [-R] SPEC PATH...` (chmod, chown, chgrp): parses the options,
 * setting *recursive for -R, and gives a usage error with the words
 * missing when SPEC or PATH is absent. Returns CLI_OK (SPEC is
 * argv[optind]) or an exit status.
 */
int cli_spec_args(struct cli *cli, int argc, char **argv, const char *missing, int *recursive);

/* Connects and cli_walk_args() over the PATHs after SPEC. Returns an exit status. */
int cli_spec_walk(struct cli *cli, int argc, char **argv, int recursive, cli_visit_fn fn,
		  void *arg);

/*
 * n bytes in buf: the number, or with human set "1.5 K", "12 M", "3.0 G"
 * (powers of 1024, as hdfs -h) from 1024 up. Returns buf.
 */
#define CLI_SIZE_BUF 32
const char *cli_size_str(char buf[CLI_SIZE_BUF], uint64_t n, int human);

/*
 * Writes len bytes of the file path from off (fewer at its end) to
 * standard output (cmd_head.c; head and tail). Returns an exit status.
 */
int cli_print_range(struct cli *cli, const char *path, uint64_t off, uint64_t len);

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
int cmd_append(struct cli *cli, int argc, char **argv);
int cmd_cp(struct cli *cli, int argc, char **argv);
int cmd_truncate(struct cli *cli, int argc, char **argv);
int cmd_touch(struct cli *cli, int argc, char **argv);
int cmd_test(struct cli *cli, int argc, char **argv);
int cmd_count(struct cli *cli, int argc, char **argv);
int cmd_head(struct cli *cli, int argc, char **argv);
int cmd_tail(struct cli *cli, int argc, char **argv);
int cmd_chmod(struct cli *cli, int argc, char **argv);
int cmd_chown(struct cli *cli, int argc, char **argv);
int cmd_chgrp(struct cli *cli, int argc, char **argv);
int cmd_find(struct cli *cli, int argc, char **argv);
int cmd_getmerge(struct cli *cli, int argc, char **argv);
int cmd_checksum(struct cli *cli, int argc, char **argv);

/* chown's body, chgrp's too when chgrp is set (cmd_chown.c). Returns an exit status. */
int cli_chown_run(struct cli *cli, int argc, char **argv, int chgrp);

#endif
