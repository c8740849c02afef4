/*
 * config: one declarative table per process drives its flags, its config
 * file (`name = value` lines, the same names as the flags), --help, and the
 * status page.
 *
 * Each row names a field of the process's own options struct by offset.
 * Parsing order: defaults, then the --config file, then the other flags, so
 * a flag on the command line wins over the file. Every value is checked
 * against its type and bounds; the first bad one is reported as one
 * readable sentence.
 */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_type {
	CONFIG_STRING,   /* char * (strdup'ed) */
	CONFIG_ADDR,     /* char *, checked as HOST:PORT */
	CONFIG_SIZE,     /* uint64_t bytes, K/M/G/T suffixes */
	CONFIG_DURATION, /* uint64_t milliseconds, ms/s/m/h suffixes */
	CONFIG_INT,      /* int64_t */
	CONFIG_LEVEL,    /* int, a log level name */
	CONFIG_FLAG,     /* int 0/1: a bare --name sets it; 'name = yes|no' in a file */
};

struct config_opt {
	const char *name; /* flag is --name */
	enum config_type type;
	const char *def; /* default as text; NULL: none (required if .required) */
	int required;
	int64_t min, max; /* bounds for SIZE, DURATION and INT (max 0: none) */
	size_t offset;    /* of the field in the options struct */
	const char *help;
};

#define CONFIG_END {NULL}

/*
 * Fills opts from defaults, the --config file and argv. Returns 0 when the
 * process should run, 1 when --help was printed (exit 0), or -EINVAL with a
 * new *cause (free with free()) describing the first bad flag or value
 * (exit 2). Positional arguments are refused. --log-level, when in the
 * table, also sets the log level.
 */
int config_parse(const struct config_opt *table, void *opts, int argc, char **argv,
		 const char *prog, const char *summary, char **cause);

/* Prints --help text for the table. */
void config_usage(const struct config_opt *table, const char *prog, const char *summary, FILE *out);

/* Frees the strings config_parse allocated in opts. */
void config_free(const struct config_opt *table, void *opts);

#endif
