/*
 * log: formats a whole line first and writes it with one write(2), so
 * lines from several threads never interleave.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_level = LOGL_INFO;
static int log_fd = STDERR_FILENO;
static char *log_path; /* the --log-file, or NULL: stderr */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

int log_open_file(const char *path, char **cause)
{
	int fd = open_log(path);
	if (fd < 0) {
		if (asprintf(cause, "--log-file %s: %s", path, strerror(-fd)) < 0)
			*cause = NULL;
		return fd;
	}
	char *copy = strdup(path);
	if (!copy) {
		close(fd);
		*cause = NULL;
		return -ENOMEM;
	}
	free(log_path);
	log_path = copy;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int log_reopen(void)
{
	if (!log_path)
		return 0;
	int fd = open_log(log_path);
	if (fd < 0)
		return fd;
	int rc = dup2(fd, log_fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

void log_time(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(tv.tv_usec / 1000));
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level < log_level)
		return;
	char line[2048], when[32];
	log_time(when, sizeof(when));
	int n = snprintf(line, sizeof(line), "%s %-5s ", when, level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n += m < 0 ? 0 : (m >= (int)sizeof(line) - n - 1 ? (int)sizeof(line) - n - 2 : m);
	line[n++] = '\n';
	ssize_t w = write(log_fd, line, n);
	(void)w;
}
