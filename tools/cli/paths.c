/*
 * paths: what the commands that take several remote paths share: lists of
 * paths, glob expansion against the namespace, and where a copy goes.
 *
 * Globs are expanded by cairn itself, as `hdfs dfs` does, for arguments
 * the shell left alone (quoted): '*', '?', '[...]' (fnmatch(3), '\'
 * escapes) within one component, and '{a,b}' alternatives (nested
 * allowed) across them. Braces expand first, in the order written; then
 * each pattern is matched component by component, listing only the
 * directories a wildcard component needs, in name order. A wildcard does
 * not match a leading '.' (FNM_PERIOD), so the temporaries of copies in
 * progress stay out of a glob. A path without wildcards is kept as it is
 * (the command reports it if missing); a pattern that matches nothing is
 * an error naming it, as in hdfs.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

#define CLI_BRACE_MAX 4096 /* patterns one argument may expand to */

void cli_strs_add(struct cli_strs *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

void cli_strs_free(struct cli_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int cli_has_glob(const char *s)
{
	return strpbrk(s, "*?[{") != NULL;
}

/* The '}' closing the '{' at open, or NULL. */
static const char *brace_close(const char *open)
{
	int depth = 0;
	for (const char *p = open; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == '{')
			depth++;
		else if (*p == '}' && --depth == 0)
			return p;
	}
	return NULL;
}

/* Appends the brace expansions of s to out (at most CLI_BRACE_MAX). */
static void brace_expand(const char *s, struct cli_strs *out)
{
	const char *open = NULL, *close = NULL;
	for (const char *p = s; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
		} else if (*p == '{' && (close = brace_close(p))) {
			open = p;
			break;
		}
	}
	if (!open) {
		if (out->n < CLI_BRACE_MAX)
			cli_strs_add(out, xstrdup(s));
		return;
	}
	const char *alt = open + 1;
	int depth = 0;
	for (const char *p = alt; p <= close; p++) {
		if (*p == '\\' && p < close - 1) {
			p++;
			continue;
		}
		if (*p == '{')
			depth++;
		else if (*p == '}' && p != close)
			depth--;
		if ((*p == ',' && depth == 0) || p == close) {
			char *one = xasprintf("%.*s%.*s%s", (int)(open - s), s, (int)(p - alt), alt,
					      close + 1);
			brace_expand(one, out);
			free(one);
			alt = p + 1;
		}
	}
}

/* Matches the components of pattern from rest on, under dir; appends matches to out. */
static int match_from(struct cli *cli, const char *dir, const char *rest, struct cli_strs *out)
{
	while (*rest == '/')
		rest++;
	if (!*rest) {
		cli_strs_add(out, xstrdup(dir));
		return CLI_OK;
	}
	size_t len = strcspn(rest, "/");
	char *comp = xasprintf("%.*s", (int)len, rest);
	const char *next = rest + len;
	int rc = CLI_OK;
	if (!strpbrk(comp, "*?[\\")) {
		char *p = cli_join(dir, comp);
		struct cairn_stat st;
		int err = cairn_stat(cli->fs, p, &st);
		if (err == 0 && (!*next || st.type == CAIRN_DIR))
			rc = match_from(cli, p, next, out);
		else if (err && err != -ENOENT && err != -ENOTDIR)
			rc = cli_fail(cli, err, "%s", p);
		free(p);
		free(comp);
		return rc;
	}
	cairn_dir_t *d;
	int err = cairn_opendir(cli->fs, dir, &d);
	if (err) {
		free(comp);
		return err == -ENOENT || err == -ENOTDIR ? CLI_OK : cli_fail(cli, err, "%s", dir);
	}
	struct cairn_dirent ent;
	while (rc == CLI_OK && (err = cairn_readdir_next(d, &ent)) == 1) {
		if (fnmatch(comp, ent.name, FNM_PERIOD) != 0 || (*next && ent.st.type != CAIRN_DIR))
			continue;
		char *p = cli_join(dir, ent.name);
		CAIRN_ASSERT(p != NULL);
		rc = match_from(cli, p, next, out);
		free(p);
	}
	cairn_closedir(d);
	free(comp);
	if (rc == CLI_OK && err < 0)
		rc = cli_fail(cli, err, "%s", dir);
	return rc;
}

int cli_glob(struct cli *cli, const char *pattern, struct cli_strs *out)
{
	if (!cli_has_glob(pattern)) {
		cli_strs_add(out, xstrdup(pattern));
		return CLI_OK;
	}
	struct cli_strs pats = {0};
	brace_expand(pattern, &pats);
	size_t before = out->n;
	int rc = CLI_OK;
	for (size_t i = 0; i < pats.n && rc == CLI_OK; i++) {
		if (!strpbrk(pats.v[i], "*?[")) { /* braces only: each alternative is a path */
			struct cairn_stat st;
			if (cairn_stat(cli->fs, pats.v[i], &st) == 0)
				cli_strs_add(out, xstrdup(pats.v[i]));
			continue;
		}
		rc = match_from(cli, "/", pats.v[i], out);
	}
	cli_strs_free(&pats);
	if (rc == CLI_OK && out->n == before) {
		fprintf(stderr, "cairn: %s: %s: no match\n", cli->cmd->name, pattern);
		rc = CLI_FAIL;
	}
	return rc;
}

int cli_expand(struct cli *cli, int n, char **args, struct cli_strs *out)
{
	int rc = CLI_OK;
	for (int i = 0; i < n; i++) {
		char *p = cli_path(cli, args[i], &rc);
		if (!p)
			return rc;
		rc = cli_glob(cli, p, out);
		free(p);
		if (rc != CLI_OK)
			return rc;
	}
	return CLI_OK;
}

int cli_walk(struct cli *cli, const char *path, const struct cairn_stat *st, int recursive,
	     cli_visit_fn fn, void *arg)
{
	int rc = fn(cli, path, st, arg);
	if (!recursive || st->type != CAIRN_DIR || cli->unreachable)
		return rc;
	cairn_dir_t *d;
	int err = cairn_opendir(cli->fs, path, &d);
	if (err)
		return cli_fail(cli, err, "%s %s", cli->cmd->name, path);
	struct cairn_dirent ent;
	while (!cli->unreachable && (err = cairn_readdir_next(d, &ent)) == 1) {
		char *sub = cli_join(path, ent.name);
		CAIRN_ASSERT(sub != NULL);
		/* The iterator holds one page; the recursion its own. */
		if (cli_walk(cli, sub, &ent.st, 1, fn, arg) != CLI_OK)
			rc = CLI_FAIL;
		free(sub);
	}
	cairn_closedir(d);
	if (err < 0)
		rc = cli_fail(cli, err, "%s %s", cli->cmd->name, path);
	return rc;
}

int cli_spec_args(struct cli *cli, int argc, char **argv, const char *missing, int *recursive)
{
	int opt;
	*recursive = 0;
	while ((opt = cli_getopt(cli, argc, argv, "R", NULL)) != -1) {
		if (opt != 'R')
			return cli->rc;
		*recursive = 1;
	}
	if (argc - optind < 2)
		return cli_usage(cli, "%s", missing);
	return CLI_OK;
}

int cli_spec_walk(struct cli *cli, int argc, char **argv, int recursive, cli_visit_fn fn, void *arg)
{
	int rc = cli_connect(cli);
	if (rc != CLI_OK)
		return rc;
	return cli_walk_args(cli, argc - optind - 1, argv + optind + 1, recursive, fn, arg);
}

int cli_need_paths(struct cli *cli, int argc)
{
	if (optind == argc)
		return cli_usage(cli, "missing PATH");
	return cli_connect(cli);
}

int cli_path_args(struct cli *cli, int argc, char **argv, struct cli_strs *out)
{
	int rc = cli_need_paths(cli, argc);
	if (rc == CLI_OK)
		rc = cli_expand(cli, argc - optind, argv + optind, out);
	return rc;
}

int cli_walk_args(struct cli *cli, int n, char **args, int recursive, cli_visit_fn fn, void *arg)
{
	struct cli_strs paths = {0};
	int rc = cli_expand(cli, n, args, &paths);
	for (size_t i = 0; rc != CLI_USAGE && i < paths.n && !cli->unreachable; i++) {
		struct cairn_stat st;
		int err = cairn_stat(cli->fs, paths.v[i], &st);
		if (err)
			rc = cli_fail(cli, err, "%s %s", cli->cmd->name, paths.v[i]);
		else if (cli_walk(cli, paths.v[i], &st, recursive, fn, arg) != CLI_OK)
			rc = CLI_FAIL;
	}
	cli_strs_free(&paths);
	return rc;
}
