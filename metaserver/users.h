/*
 * users: the metaserver's users and groups (DESIGN §10), a pure table.
 *
 * A user has a name, a uid, a secret key (its credential, see common/cred.h)
 * and the groups it belongs to; its primary group is a group of its own
 * name (user private groups, as Debian makes them). Groups exist while a
 * user names them. The superuser is "root", uid 0 and gid 0, made at
 * format. Uids and gids are given out from 1000 up and never reused, so a
 * removed user's files never pass to a later user.
 *
 * Durability: each change is one op-log record whose body is one user
 * entry (users_entry_encode(): set) or a name (remove); a checkpoint keeps
 * the whole table (users_encode()). An entry, big-endian:
 *   u8 name_len | name | u32 uid | u32 gid | 32-byte key |
 *   u8 ngroups | ngroups x (u8 len | name | u32 gid)
 * The table: u32 next_id | u32 count | count entries.
 *
 * Invariants: names pass cred_name_ok(); uids are unique; a user's groups
 * hold its own group first; every decoder bounds every read by its length.
 */
#ifndef CAIRN_USERS_H
#define CAIRN_USERS_H

#include <stddef.h>
#include <stdint.h>

#include "cred.h"
#include "perm.h"

#define USERS_MAX	 65536u
#define USERS_GROUPS_MAX 16u /* groups a user names, besides its own */
#define USERS_FIRST_ID	 1000u
#define USERS_ROOT	 "root"
#define USERS_ENTRY_MAX                                                                            \
	(1 + CRED_NAME_MAX + 8 + TOKEN_KEY_LEN + 1 + USERS_GROUPS_MAX * (1 + CRED_NAME_MAX + 4))

struct user {
	char name[CRED_NAME_MAX + 1];
	uint32_t uid;
	uint32_t gid; /* its own group's */
	uint8_t key[TOKEN_KEY_LEN];
	size_t ngroups;
	char groups[USERS_GROUPS_MAX][CRED_NAME_MAX + 1];
	uint32_t gids[USERS_GROUPS_MAX];
};

struct users;

/* Returns a new empty table (no root yet); free with users_free(). Aborts on OOM (daemon code). */
struct users *users_new(void);
void users_free(struct users *u);

size_t users_count(const struct users *u);

/* Borrowed; valid until the table changes. NULL when there is no such user. */
const struct user *users_find(const struct users *u, const char *name);

/* The i-th user by name order, i < users_count(). Borrowed, as users_find(). */
const struct user *users_at(const struct users *u, size_t i);

/*
 * Adds name with key in groups (each named group's gid is an existing
 * group's or a new one). root gets uid and gid 0. Returns 0, -EEXIST,
 * -EINVAL (bad name, too many groups; *cause says which) or -ENOSPC
 * (table full).
 */
int users_add(struct users *u, const char *name, const char *const *groups, size_t ngroups,
	      const uint8_t key[TOKEN_KEY_LEN], char **cause);

/* Removes name (never root: -EPERM). Returns 0, -ENOENT or -EPERM. */
int users_remove(struct users *u, const char *name);

/* Replaces name's key. Returns 0 or -ENOENT. */
int users_rotate(struct users *u, const char *name, const uint8_t key[TOKEN_KEY_LEN]);

/* Fills who with user's uid, gid and groups' gids. */
void users_who(const struct user *user, struct perm_who *who);

/* Encodes user into buf (USERS_ENTRY_MAX suffices). Returns its length. */
size_t users_entry_encode(const struct user *user, uint8_t *buf);

/*
 * Applies an op-log entry (set: add or replace the user as encoded, ids as
 * recorded). Returns 0, or -EINVAL for a malformed entry (nothing changed).
 */
int users_apply_entry(struct users *u, const uint8_t *buf, size_t len);

/* The whole table: returns a new buffer of *len bytes; free with free(). */
uint8_t *users_encode(const struct users *u, size_t *len);

/* Replaces u's contents with buf's table. Returns 0 or -EINVAL (malformed; u unchanged). */
int users_decode(struct users *u, const uint8_t *buf, size_t len);

#endif
