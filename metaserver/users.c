/*
 * users: the metaserver's users and groups; the design, the encodings and
 * the invariants are in users.h.
 *
 * The table is an array sorted by name: lookups are a binary search, and
 * users are few (a cluster's people and services), so an insert's memmove
 * is cheap. Group gids are found by scanning users; a group exists while a
 * user names it, so there is no second table to keep consistent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"
#include "util.h"

struct users {
	struct user *v;
	size_t n, cap;
	uint32_t next_id; /* the next uid or gid given out */
};

struct users *users_new(void)
{
	struct users *u = xcalloc(1, sizeof(*u));
	u->next_id = USERS_FIRST_ID;
	return u;
}

void users_free(struct users *u)
{
	if (!u)
		return;
	free(u->v);
	free(u);
}

size_t users_count(const struct users *u)
{
	return u->n;
}

const struct user *users_at(const struct users *u, size_t i)
{
	return i < u->n ? &u->v[i] : NULL;
}

/* Index of name, or -(insertion point) - 1. */
static long search(const struct users *u, const char *name)
{
	size_t lo = 0, hi = u->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(u->v[mid].name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

const struct user *users_find(const struct users *u, const char *name)
{
	long i = search(u, name);
	return i >= 0 ? &u->v[i] : NULL;
}

/* The gid of group name, or 0 when no user makes or names it (root's group is gid 0 too). */
static uint32_t group_gid(const struct users *u, const char *name, int *found)
{
	*found = 1;
	const struct user *own = users_find(u, name);
	if (own)
		return own->gid;
	for (size_t i = 0; i < u->n; i++)
		for (size_t g = 0; g < u->v[i].ngroups; g++)
			if (strcmp(u->v[i].groups[g], name) == 0)
				return u->v[i].gids[g];
	*found = 0;
	return 0;
}

static int insert(struct users *u, const struct user *user)
{
	long at = search(u, user->name);
	if (at >= 0) {
		u->v[at] = *user;
		return 0;
	}
	if (u->n >= USERS_MAX)
		return -ENOSPC;
	if (u->n == u->cap) {
		u->cap = u->cap ? 2 * u->cap : 16;
		u->v = xrealloc(u->v, u->cap * sizeof(*u->v));
	}
	size_t i = (size_t)(-at - 1);
	memmove(&u->v[i + 1], &u->v[i], (u->n - i) * sizeof(*u->v));
	u->v[i] = *user;
	u->n++;
	return 0;
}

static int bad(char **cause, const char *why)
{
	*cause = xstrdup(why);
	return -EINVAL;
}

int users_add(struct users *u, const char *name, const char *const *groups, size_t ngroups,
	      const uint8_t key[TOKEN_KEY_LEN], char **cause)
{
	struct user user = {0};
	*cause = NULL;
	if (!cred_name_ok(name))
		return bad(cause,
			   "a user name is 1-32 of a-z 0-9 _ . - and starts with a letter or _");
	if (users_find(u, name))
		return -EEXIST;
	if (ngroups > USERS_GROUPS_MAX)
		return bad(cause, "too many groups");
	strcpy(user.name, name);
	memcpy(user.key, key, TOKEN_KEY_LEN);
	uint32_t next = u->next_id;
	int root = strcmp(name, USERS_ROOT) == 0;
	user.uid = user.gid = root ? 0 : next++;
	for (size_t i = 0; i < ngroups; i++) {
		int found, dup = strcmp(groups[i], name) == 0;
		if (!cred_name_ok(groups[i]))
			return bad(
			    cause,
			    "a group name is 1-32 of a-z 0-9 _ . - and starts with a letter or _");
		for (size_t j = 0; j < user.ngroups; j++)
			dup |= strcmp(user.groups[j], groups[i]) == 0;
		if (dup)
			continue;
		uint32_t gid = group_gid(u, groups[i], &found);
		strcpy(user.groups[user.ngroups], groups[i]);
		user.gids[user.ngroups++] = found ? gid : next++;
	}
	int err = insert(u, &user);
	if (!err)
		u->next_id = next;
	return err;
}

int users_remove(struct users *u, const char *name)
{
	if (strcmp(name, USERS_ROOT) == 0)
		return -EPERM;
	long i = search(u, name);
	if (i < 0)
		return -ENOENT;
	memmove(&u->v[i], &u->v[i + 1], (u->n - (size_t)i - 1) * sizeof(*u->v));
	u->n--;
	return 0;
}

int users_rotate(struct users *u, const char *name, const uint8_t key[TOKEN_KEY_LEN])
{
	long i = search(u, name);
	if (i < 0)
		return -ENOENT;
	memcpy(u->v[i].key, key, TOKEN_KEY_LEN);
	return 0;
}

void users_who(const struct user *user, struct perm_who *who)
{
	memset(who, 0, sizeof(*who));
	who->uid = user->uid;
	who->gid = user->gid;
	for (size_t i = 0; i < user->ngroups && i < PERM_GROUPS_MAX; i++)
		who->groups[who->ngroups++] = user->gids[i];
}

/* ---- codec ----------------------------------------------------------------------------- */

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *put_name(uint8_t *p, const char *name)
{
	size_t n = strlen(name);
	*p++ = (uint8_t)n;
	memcpy(p, name, n);
	return p + n;
}

size_t users_entry_encode(const struct user *user, uint8_t *buf)
{
	uint8_t *p = put_name(buf, user->name);
	p = put32(put32(p, user->uid), user->gid);
	memcpy(p, user->key, TOKEN_KEY_LEN);
	p += TOKEN_KEY_LEN;
	*p++ = (uint8_t)user->ngroups;
	for (size_t i = 0; i < user->ngroups; i++)
		p = put32(put_name(p, user->groups[i]), user->gids[i]);
	return (size_t)(p - buf);
}

struct reader {
	const uint8_t *p;
	size_t left;
};

static int get32(struct reader *r, uint32_t *v)
{
	if (r->left < 4)
		return -EINVAL;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

static int get_name(struct reader *r, char *name)
{
	if (r->left < 1 || r->p[0] > CRED_NAME_MAX || r->left < 1u + r->p[0])
		return -EINVAL;
	memcpy(name, r->p + 1, r->p[0]);
	name[r->p[0]] = '\0';
	r->left -= 1u + r->p[0];
	r->p += 1u + r->p[0];
	return cred_name_ok(name) ? 0 : -EINVAL;
}

static int get_entry(struct reader *r, struct user *user)
{
	memset(user, 0, sizeof(*user));
	if (get_name(r, user->name) || get32(r, &user->uid) || get32(r, &user->gid) ||
	    r->left < TOKEN_KEY_LEN + 1)
		return -EINVAL;
	memcpy(user->key, r->p, TOKEN_KEY_LEN);
	user->ngroups = r->p[TOKEN_KEY_LEN];
	r->p += TOKEN_KEY_LEN + 1;
	r->left -= TOKEN_KEY_LEN + 1;
	if (user->ngroups > USERS_GROUPS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < user->ngroups; i++)
		if (get_name(r, user->groups[i]) || get32(r, &user->gids[i]))
			return -EINVAL;
	return 0;
}

static void note_ids(struct users *u, const struct user *user)
{
	uint32_t hi = user->uid > user->gid ? user->uid : user->gid;
	for (size_t i = 0; i < user->ngroups; i++)
		hi = user->gids[i] > hi ? user->gids[i] : hi;
	if (hi >= u->next_id)
		u->next_id = hi + 1;
}

int users_apply_entry(struct users *u, const uint8_t *buf, size_t len)
{
	struct reader r = {buf, len};
	struct user user;
	if (get_entry(&r, &user) || r.left)
		return -EINVAL;
	int err = insert(u, &user);
	if (!err)
		note_ids(u, &user);
	return err;
}

uint8_t *users_encode(const struct users *u, size_t *len)
{
	uint8_t *buf = xmalloc(8 + u->n * USERS_ENTRY_MAX);
	uint8_t *p = put32(put32(buf, u->next_id), (uint32_t)u->n);
	for (size_t i = 0; i < u->n; i++)
		p += users_entry_encode(&u->v[i], p);
	*len = (size_t)(p - buf);
	return buf;
}

int users_decode(struct users *u, const uint8_t *buf, size_t len)
{
	struct reader r = {buf, len};
	uint32_t next, n;
	if (get32(&r, &next) || get32(&r, &n) || n > USERS_MAX)
		return -EINVAL;
	struct users *t = users_new();
	t->next_id = next;
	int err = 0;
	for (uint32_t i = 0; !err && i < n; i++) {
		struct user user;
		err = get_entry(&r, &user);
		if (!err && users_find(t, user.name))
			err = -EINVAL;
		if (!err)
			err = insert(t, &user);
		if (!err)
			note_ids(t, &user);
	}
	if (!err && r.left)
		err = -EINVAL;
	if (err) {
		users_free(t);
		return err;
	}
	free(u->v);
	*u = *t;
	free(t);
	return 0;
}
