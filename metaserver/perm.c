/*
 * perm: POSIX permission decisions; the rules are in perm.h.
 */
#include <errno.h>
#include <sys/stat.h>

#include "perm.h"

static int is_root(const struct perm_who *who)
{
	return who->uid == PERM_ROOT_UID;
}

int perm_in_group(const struct perm_who *who, uint32_t gid)
{
	if (who->gid == gid)
		return 1;
	for (size_t i = 0; i < who->ngroups && i < PERM_GROUPS_MAX; i++)
		if (who->groups[i] == gid)
			return 1;
	return 0;
}

int perm_may(const struct perm_who *who, const struct perm_obj *o, unsigned want)
{
	want &= PERM_R | PERM_W | PERM_X;
	if (is_root(who)) {
		int needs_x = (want & PERM_X) && !S_ISDIR(o->mode);
		return needs_x && !(o->mode & 0111) ? -EACCES : 0;
	}
	unsigned bits;
	if (who->uid == o->uid)
		bits = (o->mode >> 6) & 7;
	else if (perm_in_group(who, o->gid))
		bits = (o->mode >> 3) & 7;
	else
		bits = o->mode & 7;
	return (bits & want) == want ? 0 : -EACCES;
}

int perm_may_create(const struct perm_who *who, const struct perm_obj *dir)
{
	return perm_may(who, dir, PERM_W | PERM_X);
}

int perm_may_remove(const struct perm_who *who, const struct perm_obj *dir,
		    const struct perm_obj *victim)
{
	int err = perm_may(who, dir, PERM_W | PERM_X);
	if (err || !(dir->mode & S_ISVTX) || is_root(who))
		return err;
	return who->uid == victim->uid || who->uid == dir->uid ? 0 : -EACCES;
}

int perm_may_chmod(const struct perm_who *who, const struct perm_obj *o)
{
	return is_root(who) || who->uid == o->uid ? 0 : -EPERM;
}

int perm_may_chown(const struct perm_who *who, const struct perm_obj *o, uint32_t uid, uint32_t gid)
{
	if (is_root(who))
		return 0;
	if (uid != o->uid || who->uid != o->uid)
		return -EPERM;
	return gid == o->gid || perm_in_group(who, gid) ? 0 : -EPERM;
}
