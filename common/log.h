/*
 * log: one process-wide log sink (stderr, or a file), with levels.
 *
 * Each line: ISO time, level, message. Safe to call from any thread. The
 * level and the sink are the only file-scope state: both are set at
 * start-up; log_reopen() swaps the sink's file atomically (dup2), so a
 * line being written from another thread goes to the old file or the new.
 */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

#include <stddef.h>

enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warn" or "error". Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);

/*
 * Sends log lines to path (appended; created 0640) instead of stderr, as
 * --log-file does. Returns 0, or a negative errno with a new *cause.
 * Call from main() before threads start.
 */
int log_open_file(const char *path, char **cause);

/*
 * Opens the log file again under its name (after logrotate moved it: on
 * SIGHUP). A no-op when logging to stderr. Returns 0 or a negative errno
 * (then lines keep going to the old file).
 */
int log_reopen(void);

/* Formats the wall-clock time now as 2026-01-02T03:04:05.678Z into buf (at least 32 bytes). */
void log_time(char *buf, size_t size);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOGL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOGL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOGL_ERROR, __VA_ARGS__)

#endif
