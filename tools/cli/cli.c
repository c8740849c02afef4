/*
 * cli: the helpers every command of the cairn CLI uses: option parsing
 * with the global flags accepted anywhere, connecting, one-line errors,
 * paths, the small formatters shared by ls and stat, the progress meter
 * of put and get, and the tree walk of du and df.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define CLI_MAX_LONGOPTS 32

const struct option cli_global_opts[] = {
    {"meta", required_argument, NULL, CLI_OPT_META},
    {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},
    {"json", no_argument, NULL, CLI_OPT_JSON},
    {"help", no_argument, NULL, CLI_OPT_HELP},
    {"version", no_argument, NULL, CLI_OPT_VERSION},
    {NULL, 0, NULL, 0},
};

int cli_usage(struct cli *cli, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cli->cmd)
		fprintf(stderr, "cairn: %s: %s; usage: cairn %s %s\n", cli->cmd->name, msg,
			cli->cmd->name, cli->cmd->usage);
	else
		fprintf(stderr, "cairn: %s; try 'cairn --help'\n", msg);
	return CLI_USAGE;
}

void cli_cmd_help(const struct cli_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: cairn %s %s\n%s\n", cmd->name, cmd->usage, cmd->summary);
	fprintf(out, "Global flags --meta ADDR, --timeout DURATION and --json may also be given "
		     "here.\n");
}

int cli_global_flag(struct cli *cli, int opt, const char *arg)
{
	uint64_t ms;
	switch (opt) {
	case CLI_OPT_META:
		cli->meta = arg;
		return 0;
	case CLI_OPT_TIMEOUT:
		if (parse_duration_ms(arg, &ms) != 0 || ms == 0)
			return cli_usage(cli, "--timeout %s: not a duration (like 500ms, 10s, 2m)",
					 arg);
		cli->timeout_ms = ms;
		return 0;
	case CLI_OPT_JSON:
		cli->json = 1;
		return 0;
	}
	return cli_usage(cli, "unknown option");
}

/* Reports what getopt refused, from its return value. */
static int bad_option(struct cli *cli, int opt, char **argv)
{
	const char *arg = argv[optind - 1];
	if (opt == ':') {
		if (optopt && optopt < 256)
			return cli_usage(cli, "-%c needs a value", optopt);
		return cli_usage(cli, "%s needs a value", arg);
	}
	if (optopt && optopt < 256)
		return cli_usage(cli, "unknown option -%c", optopt);
	return cli_usage(cli, "unknown option %s", arg);
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	struct option all[CLI_MAX_LONGOPTS];
	char optstring[64];
	size_t n = 0;
	for (size_t i = 0; longopts && longopts[i].name && n < CLI_MAX_LONGOPTS - 5; i++)
		all[n++] = longopts[i];
	for (size_t i = 0; cli_global_opts[i].name; i++)
		all[n++] = cli_global_opts[i];
	memset(&all[n], 0, sizeof(all[n]));
	snprintf(optstring, sizeof(optstring), ":%s", shortopts);

	for (;;) {
		int opt = getopt_long(argc, argv, optstring, all, NULL);
		if (opt == -1)
			return -1;
		if (opt == '?' || opt == ':') {
			cli->rc = bad_option(cli, opt, argv);
			return '?';
		}
		if (opt == CLI_OPT_HELP) {
			cli_cmd_help(cli->cmd, stdout);
			cli->rc = CLI_OK;
			return '?';
		}
		if (opt == CLI_OPT_VERSION) {
			printf("cairn %s\n", CAIRN_VERSION);
			cli->rc = CLI_OK;
			return '?';
		}
		if (opt < 256)
			return opt;
		if ((cli->rc = cli_global_flag(cli, opt, optarg)) != 0)
			return '?';
	}
}

/* libcairn's wait notice: one line on the terminal while a call waits for the metaserver. */
static void wait_notice(void *arg, const char *addr, uint64_t waited_ms, uint64_t timeout_ms,
			int done)
{
	struct cli *cli = arg;
	if (done) {
		if (cli->wait_shown)
			fprintf(stderr, "\r\033[K");
		cli->wait_shown = 0;
		return;
	}
	if (waited_ms < CLI_WAIT_NOTICE_MS)
		return;
	fprintf(stderr, "\rcairn: waiting for metaserver %s, %llus of %llus\033[K", addr,
		(unsigned long long)(waited_ms / 1000),
		(unsigned long long)((timeout_ms + 999) / 1000));
	fflush(stderr);
	cli->wait_shown = 1;
}

int cli_connect(struct cli *cli)
{
	if (cli->fs)
		return CLI_OK;
	struct cairn_options opt = {0};
	opt.timeout_ms = cli->timeout_ms;
	opt.replication = cli->replication;
	int err = cairn_connect(cli->meta, &opt, &cli->fs);
	const char *meta = cli->meta ? cli->meta : getenv("CAIRN_META");
	if (err == -EINVAL)
		return cli_usage(cli, "--meta %s: not HOST:PORT", meta);
	if (err) {
		fprintf(stderr, "cairn: %s: %s\n", meta ? meta : "", cairn_strerror(err));
		return CLI_FAIL;
	}
	if (isatty(2))
		cairn_set_wait_notice(cli->fs, wait_notice, cli);
	return CLI_OK;
}

/* Copies the server's words into buf as one printable line. */
static void one_line(char *buf, size_t size, const char *s)
{
	snprintf(buf, size, "%s", s);
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

int cli_fail(struct cli *cli, int err, const char *what, ...)
{
	char subject[1024], cause[512];
	va_list ap;
	va_start(ap, what);
	vsnprintf(subject, sizeof(subject), what, ap);
	va_end(ap);
	char why[256];
	one_line(why, sizeof(why), cli->fs ? cairn_last_error(cli->fs) : "");
	if (cli->fs && cairn_meta_gave_up(cli->fs)) {
		snprintf(cause, sizeof(cause), "%s", why); /* libcairn's words */
		cli->unreachable = 1;
	} else {
		const char *text = cairn_strerror(err);
		if (why[0] && strcmp(why, text) != 0)
			snprintf(cause, sizeof(cause), "%s (%s)", text, why);
		else
			snprintf(cause, sizeof(cause), "%s", text);
	}
	fprintf(stderr, "cairn: %s: %s\n", subject, cause);
	return CLI_FAIL;
}

char *cli_path(struct cli *cli, const char *arg, int *rc)
{
	if (!*arg) {
		*rc = cli_usage(cli, "empty path");
		return NULL;
	}
	return xasprintf("%s%s", arg[0] == '/' ? "" : "/", arg);
}

int cli_chunk_size(struct cli *cli, const char *arg, uint64_t *out)
{
	if (parse_size(arg, out) < 0 || *out < CAIRN_CHUNK_SIZE_MIN ||
	    *out > CAIRN_CHUNK_SIZE_MAX || (*out & (*out - 1)))
		return cli_usage(cli, "--chunk-size takes a power of two from 1M to 256M, not '%s'",
				 arg);
	return CLI_OK;
}

char *cli_join(const char *dir, const char *name)
{
	size_t len = strlen(dir);
	return xasprintf("%s%s%s", dir, len && dir[len - 1] == '/' ? "" : "/", name);
}

void cli_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void cli_print_secs(FILE *out, int64_t us)
{
	uint64_t mag = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;
	fprintf(out, "%s%llu.%06llu", us < 0 ? "-" : "", (unsigned long long)(mag / 1000000),
		(unsigned long long)(mag % 1000000));
}

void cli_mode_str(const struct cairn_stat *st, char buf[11])
{
	static const char rwx[] = "rwxrwxrwx";
	uint32_t m = st->mode;
	buf[0] = st->type == CAIRN_DIR ? 'd' : st->type == CAIRN_SYMLINK ? 'l' : '-';
	for (int i = 0; i < 9; i++)
		buf[1 + i] = m & (0400u >> i) ? rwx[i] : '-';
	if (m & 04000)
		buf[3] = m & 0100 ? 's' : 'S';
	if (m & 02000)
		buf[6] = m & 0010 ? 's' : 'S';
	if (m & 01000)
		buf[9] = m & 0001 ? 't' : 'T';
	buf[10] = 0;
}

/* ---- progress ---- */

#define CLI_PROGRESS_MS 200

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void progress_draw(struct cli_progress *p, const char *end)
{
	uint64_t ms = now_ms() - p->start_ms;
	double mb = (double)p->bytes / 1e6;
	double rate = ms ? mb * 1000.0 / (double)ms : 0.0;
	if (p->total && p->bytes <= p->total && rate > 0 && !*end)
		fprintf(stderr, "\r%s: %.1f of %.1f MB, %.1f MB/s, %.0f s left\033[K", p->what, mb,
			(double)p->total / 1e6, rate, ((double)p->total / 1e6 - mb) / rate);
	else
		fprintf(stderr, "\r%s: %.1f MB, %.1f MB/s\033[K%s", p->what, mb, rate, end);
	fflush(stderr);
}

void cli_progress_start(struct cli_progress *p, const char *what)
{
	memset(p, 0, sizeof(*p));
	p->on = isatty(2);
	p->what = what;
	p->start_ms = p->last_ms = now_ms();
}

void cli_progress_add(struct cli_progress *p, uint64_t n)
{
	p->bytes += n;
	if (!p->on)
		return;
	uint64_t now = now_ms();
	if (now - p->last_ms >= CLI_PROGRESS_MS) {
		p->last_ms = now;
		progress_draw(p, "");
	}
}

void cli_progress_end(struct cli_progress *p, int ok)
{
	if (!p->on || (ok && p->last_ms == p->start_ms))
		return; /* a copy too short to have drawn a line leaves none */
	if (ok)
		progress_draw(p, "\n");
	else
		fprintf(stderr, "\r\033[K");
}

/* ---- usage ---- */

int cli_usage_walk(struct cli *cli, const char *path, const struct cairn_stat *st,
		   struct cli_usage *u)
{
	if (st->type != CAIRN_DIR) {
		u->files++;
		u->bytes += st->size;
		return CLI_OK;
	}
	u->dirs++;
	cairn_dir_t *d;
	int err = cairn_opendir(cli->fs, path, &d);
	if (err) {
		u->rc = cli_fail(cli, err, "%s", path);
		return cli->unreachable ? CLI_FAIL : CLI_OK;
	}
	struct cairn_dirent ent;
	while ((err = cairn_readdir_next(d, &ent)) == 1) {
		if (ent.st.type != CAIRN_DIR) {
			u->files++;
			u->bytes += ent.st.size;
			continue;
		}
		char *sub = cli_join(path, ent.name);
		/* The iterator holds one page; the recursion its own. */
		int rc = cli_usage_walk(cli, sub, &ent.st, u);
		free(sub);
		if (rc != CLI_OK) {
			cairn_closedir(d);
			return rc;
		}
	}
	cairn_closedir(d);
	if (err < 0) {
		u->rc = cli_fail(cli, err, "%s", path);
		return cli->unreachable ? CLI_FAIL : CLI_OK;
	}
	return CLI_OK;
}

char *cli_base_name(const char *path)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	const char *s = path + len;
	while (s > path && s[-1] != '/')
		s--;
	if (s == path + len || (len == 1 && path[0] == '-'))
		return NULL;
	return xasprintf("%.*s", (int)(path + len - s), s);
}
