/*
 * perm: POSIX permission decisions for the namespace calls (DESIGN §10).
 *
 * Pure functions over a caller (uid, primary gid, supplementary groups) and
 * an inode's mode, uid and gid, so the rules are unit-tested apart from the
 * namespace and the RPC handlers that will ask them. The rules are POSIX's:
 *
 * - the owner class applies when the caller owns the inode, else the group
 *   class when the inode's gid is the caller's gid or one of its groups,
 *   else other (a class that matches is final: an owner without r does not
 *   fall back to group's r);
 * - the superuser (uid 0) may read and write anything and search any
 *   directory, but executes a file only when some x bit is set;
 * - creating, removing or renaming an entry needs write and search on the
 *   parent; in a sticky directory (S_ISVTX) only the entry's owner, the
 *   directory's owner or the superuser may remove or rename the entry;
 * - chmod: the owner or the superuser; chown: the superuser; chgrp: the
 *   owner to a group it belongs to, or the superuser.
 *
 * Every function returns 0 when allowed, -EACCES when a mode bit forbids it
 * and -EPERM when only ownership or the superuser could (chmod, chown,
 * chgrp), as the kernel does.
 */
#ifndef CAIRN_PERM_H
#define CAIRN_PERM_H

#include <stddef.h>
#include <stdint.h>

#define PERM_GROUPS_MAX 64
#define PERM_ROOT_UID	0u

enum perm_want {
	PERM_X = 1, /* search a directory, execute a file */
	PERM_W = 2,
	PERM_R = 4,
};

/* Who is asking: the authenticated user's ids from the user table. */
struct perm_who {
	uint32_t uid;
	uint32_t gid;
	size_t ngroups;
	uint32_t groups[PERM_GROUPS_MAX];
};

/* An inode's owner and mode (S_IFDIR and S_ISVTX kept in mode). */
struct perm_obj {
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
};

/* 1 when who's gid or one of its groups is gid. */
int perm_in_group(const struct perm_who *who, uint32_t gid);

/* May who do every want bit on o? */
int perm_may(const struct perm_who *who, const struct perm_obj *o, unsigned want);

/* May who create an entry in dir (write and search)? */
int perm_may_create(const struct perm_who *who, const struct perm_obj *dir);

/* May who remove (or rename away) the entry victim from dir (write, search, sticky)? */
int perm_may_remove(const struct perm_who *who, const struct perm_obj *dir,
		    const struct perm_obj *victim);

/* May who set o's mode bits? */
int perm_may_chmod(const struct perm_who *who, const struct perm_obj *o);

/* May who change o's owner to uid and group to gid (either unchanged when equal to o's)? */
int perm_may_chown(const struct perm_who *who, const struct perm_obj *o, uint32_t uid,
		   uint32_t gid);

#endif
