/*
 * config: flags and config files from one table.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static int fail(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char **cause, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) < 0)
		*cause = NULL;
	va_end(ap);
	return -EINVAL;
}

static const struct config_opt *find_opt(const struct config_opt *t, const char *name)
{
	for (; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static const char *type_hint(enum config_type type)
{
	switch (type) {
	case CONFIG_ADDR:
		return "HOST:PORT";
	case CONFIG_SIZE:
		return "SIZE";
	case CONFIG_DURATION:
		return "DURATION";
	case CONFIG_INT:
		return "N";
	case CONFIG_LEVEL:
		return "debug|info|warn|error";
	default:
		return "VALUE";
	}
}

static int check_bounds(const struct config_opt *o, uint64_t v, const char *text, char **cause)
{
	if ((int64_t)v < o->min || (o->max && (int64_t)v > o->max))
		return fail(cause, "--%s: %s is out of range", o->name, text);
	return 0;
}

static int set_value(const struct config_opt *o, void *opts, const char *text, char **cause)
{
	char *field = (char *)opts + o->offset;
	uint64_t u;
	char *host;
	uint16_t port;
	enum log_level level;

	switch (o->type) {
	case CONFIG_ADDR:
		if (addr_parse(text, &host, &port) < 0)
			return fail(cause, "--%s: '%s' is not HOST:PORT", o->name, text);
		free(host);
		/* fall through */
	case CONFIG_STRING:
		if (*text == 0)
			return fail(cause, "--%s: empty value", o->name);
		free(*(char **)field);
		*(char **)field = xstrdup(text);
		return 0;
	case CONFIG_SIZE:
		if (parse_size(text, &u) < 0)
			return fail(cause, "--%s: '%s' is not a size (like 64M)", o->name, text);
		*(uint64_t *)field = u;
		return check_bounds(o, u, text, cause);
	case CONFIG_DURATION:
		if (parse_duration_ms(text, &u) < 0)
			return fail(cause, "--%s: '%s' is not a duration (like 500ms, 2s, 5m)",
				    o->name, text);
		*(uint64_t *)field = u;
		return check_bounds(o, u, text, cause);
	case CONFIG_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(text, &end, 10);
		if (errno || end == text || *end)
			return fail(cause, "--%s: '%s' is not a number", o->name, text);
		*(int64_t *)field = v;
		return check_bounds(o, (uint64_t)v, text, cause);
	}
	case CONFIG_FLAG:
		if (!strcmp(text, "1") || !strcmp(text, "yes") || !strcmp(text, "true"))
			*(int *)field = 1;
		else if (!strcmp(text, "0") || !strcmp(text, "no") || !strcmp(text, "false"))
			*(int *)field = 0;
		else
			return fail(cause, "--%s: '%s' is not yes or no", o->name, text);
		return 0;
	case CONFIG_LEVEL:
		if (log_parse_level(text, &level) < 0)
			return fail(cause, "--%s: '%s' is not one of debug, info, warn, error",
				    o->name, text);
		*(int *)field = (int)level;
		log_set_level(level);
		return 0;
	}
	return fail(cause, "--%s: bad option type", o->name);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

static int load_file(const struct config_opt *table, void *opts, const char *path, char **cause)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return fail(cause, "--config %s: %s", path, strerror(errno));
	char line[4096];
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (*s == 0 || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			rc = fail(cause, "%s:%d: expected 'name = value'", path, lineno);
			break;
		}
		*eq = 0;
		char *name = trim(s), *value = trim(eq + 1);
		const struct config_opt *o = find_opt(table, name);
		if (!o || strcmp(name, "config") == 0) {
			rc = fail(cause, "%s:%d: unknown setting '%s'", path, lineno, name);
			break;
		}
		char *inner = NULL;
		rc = set_value(o, opts, value, &inner);
		if (rc < 0) {
			fail(cause, "%s:%d: %s", path, lineno, inner ? inner : "bad value");
			free(inner);
		}
	}
	fclose(f);
	return rc;
}

/* Splits "--name=value" or "--name value"; returns the option or NULL. */
static const struct config_opt *flag_at(const struct config_opt *table, int argc, char **argv,
					int *i, const char **value, char **cause, int *rc)
{
	const char *arg = argv[*i];
	char name[128];
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	*rc = 0;
	if (n >= sizeof(name)) {
		*rc = fail(cause, "unknown flag '%s' (see --help)", arg);
		return NULL;
	}
	memcpy(name, arg + 2, n);
	name[n] = 0;
	const struct config_opt *o = find_opt(table, name);
	if (!o) {
		*rc = fail(cause, "unknown flag '--%s' (see --help)", name);
		return NULL;
	}
	if (eq) {
		*value = eq + 1;
	} else if (o->type == CONFIG_FLAG) {
		*value = "1";
	} else if (*i + 1 < argc) {
		*value = argv[++*i];
	} else {
		*rc = fail(cause, "--%s needs a value (%s)", name, type_hint(o->type));
		return NULL;
	}
	return o;
}

int config_parse(const struct config_opt *table, void *opts, int argc, char **argv,
		 const char *prog, const char *summary, char **cause)
{
	int rc;
	*cause = NULL;
	for (const struct config_opt *o = table; o->name; o++)
		if (o->def && (rc = set_value(o, opts, o->def, cause)) < 0)
			return rc;

	/* First pass: --help and --config. */
	const char *config_file = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			config_usage(table, prog, summary, stdout);
			return 1;
		}
		if (strncmp(argv[i], "--config", 8) == 0 && (argv[i][8] == 0 || argv[i][8] == '=')) {
			if (argv[i][8] == '=')
				config_file = argv[i] + 9;
			else if (i + 1 < argc)
				config_file = argv[++i];
			else
				return fail(cause, "--config needs a file name");
		}
	}
	if (config_file && (rc = load_file(table, opts, config_file, cause)) < 0)
		return rc;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0)
			return fail(cause, "unexpected argument '%s' (see --help)", argv[i]);
		const char *value = NULL;
		const struct config_opt *o = flag_at(table, argc, argv, &i, &value, cause, &rc);
		if (!o)
			return rc;
		if (strcmp(o->name, "config") == 0)
			continue;
		if ((rc = set_value(o, opts, value, cause)) < 0)
			return rc;
	}
	for (const struct config_opt *o = table; o->name; o++) {
		if (!o->required)
			continue;
		char *field = (char *)opts + o->offset;
		if ((o->type == CONFIG_STRING || o->type == CONFIG_ADDR) && !*(char **)field)
			return fail(cause, "--%s is required (see --help)", o->name);
	}
	return 0;
}

void config_usage(const struct config_opt *table, const char *prog, const char *summary, FILE *out)
{
	fprintf(out, "usage: %s [flags]\n%s\n\nflags (also 'name = value' lines in --config FILE):\n",
		prog, summary);
	for (const struct config_opt *o = table; o->name; o++) {
		char left[64];
		snprintf(left, sizeof(left), "--%s %s", o->name,
			 strcmp(o->name, "config") == 0 ? "FILE"
			 : o->type == CONFIG_FLAG       ? ""
							: type_hint(o->type));
		fprintf(out, "  %-28s %s", left, o->help);
		if (o->required)
			fprintf(out, " (required)");
		else if (o->def)
			fprintf(out, " (default %s)", o->def);
		fprintf(out, "\n");
	}
	fprintf(out, "  %-28s %s\n", "--help", "show this help");
}

void config_free(const struct config_opt *table, void *opts)
{
	for (const struct config_opt *o = table; o->name; o++) {
		if (o->type == CONFIG_STRING || o->type == CONFIG_ADDR) {
			char **p = (char **)((char *)opts + o->offset);
			free(*p);
			*p = NULL;
		}
	}
}
