/*
 * cmd_chown: `cairn chown [-R] OWNER[:GROUP] PATH...`; also the body of
 * `cairn chgrp [-R] GROUP PATH...` (cmd_chgrp.c).
 *
 * Sets the owner and/or group of each PATH, and with -R of everything
 * under a directory. OWNER and GROUP are numeric ids or names of this
 * host's users and groups (until the metaserver keeps its own, with the
 * security issue). Stored in the namespace. PATH may be a glob (quoted).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

struct ids {
	uint32_t uid, gid; /* CAIRN_ID_OMIT: unchanged */
};

/* A numeric id or a name looked up by find. Returns 0 or -1. */
static int parse_id(const char *s, int group, uint32_t *id)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(s, &end, 10);
	if (s[0] >= '0' && s[0] <= '9' && !*end && !errno && n < CAIRN_ID_OMIT) {
		*id = (uint32_t)n;
		return 0;
	}
	if (group) {
		struct group *g = getgrnam(s);
		if (g)
			*id = (uint32_t)g->gr_gid;
		return g ? 0 : -1;
	}
	struct passwd *p = getpwnam(s);
	if (p)
		*id = (uint32_t)p->pw_uid;
	return p ? 0 : -1;
}

static int set_ids(struct cli *cli, const char *path, const struct cairn_stat *st, void *arg)
{
	(void)st;
	const struct ids *ids = arg;
	int err = cairn_chown(cli->fs, path, ids->uid, ids->gid);
	return err ? cli_fail(cli, err, "%s %s", cli->cmd->name, path) : CLI_OK;
}

/* Parses OWNER[:GROUP] (chown) or GROUP (chgrp) into *ids. Returns 0 or an exit status. */
static int parse_spec(struct cli *cli, const char *spec, int chgrp, struct ids *ids)
{
	ids->uid = ids->gid = CAIRN_ID_OMIT;
	char *copy = xstrdup(spec);
	char *colon = chgrp ? NULL : strchr(copy, ':');
	if (colon)
		*colon = 0;
	const char *owner = chgrp ? NULL : copy, *group = chgrp ? copy : colon ? colon + 1 : NULL;
	int rc = 0;
	if (owner && *owner && parse_id(owner, 0, &ids->uid) != 0)
		rc = cli_usage(cli, "no user '%s' (a number or a user of this host)", owner);
	else if (!rc && group && *group && parse_id(group, 1, &ids->gid) != 0)
		rc = cli_usage(cli, "no group '%s' (a number or a group of this host)", group);
	else if (ids->uid == CAIRN_ID_OMIT && ids->gid == CAIRN_ID_OMIT)
		rc = cli_usage(cli, "'%s' names no owner or group", spec);
	free(copy);
	return rc;
}

int cli_chown_run(struct cli *cli, int argc, char **argv, int chgrp)
{
	int rc, recursive;
	const char *missing = chgrp ? "missing GROUP or PATH" : "missing OWNER or PATH";
	if ((rc = cli_spec_args(cli, argc, argv, missing, &recursive)) != CLI_OK)
		return rc;
	struct ids ids;
	if ((rc = parse_spec(cli, argv[optind], chgrp, &ids)) != 0)
		return rc;
	return cli_spec_walk(cli, argc, argv, recursive, set_ids, &ids);
}

int cmd_chown(struct cli *cli, int argc, char **argv)
{
	return cli_chown_run(cli, argc, argv, 0);
}
