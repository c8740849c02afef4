/*
 * log: one process-wide log sink (stderr), with levels.
 *
 * Each line: ISO time, level, message. Safe to call from any thread; the
 * level is the only file-scope state and is set once at start-up.
 */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warn" or "error". Returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOGL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOGL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOGL_ERROR, __VA_ARGS__)

#endif
