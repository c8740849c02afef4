/*
 * test_users: the metaserver's users table (metaserver/users.c). root gets
 * uid/gid 0, others ids from 1000 never reused after a remove; groups named
 * by several users share a gid; bad names, duplicates and removing root
 * are refused; rotate replaces only the key; users_who() gives perm the
 * user's gids. The table round-trips through users_encode()/users_decode()
 * and through op-log entries applied to an empty table; truncated or
 * damaged encodings are refused and leave the table unchanged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

#include "check.h"

static const uint8_t K1[TOKEN_KEY_LEN] = {1}, K2[TOKEN_KEY_LEN] = {2};

static int add(struct users *u, const char *name, const char *const *groups, size_t n)
{
	char *cause = NULL;
	int err = users_add(u, name, groups, n, K1, &cause);
	free(cause);
	return err;
}

static void same(const struct users *a, const struct users *b)
{
	CHECK(users_count(a) == users_count(b));
	for (size_t i = 0; i < users_count(a) && i < users_count(b); i++) {
		const struct user *x = users_at(a, i), *y = users_at(b, i);
		CHECK(strcmp(x->name, y->name) == 0 && x->uid == y->uid && x->gid == y->gid);
		CHECK(memcmp(x->key, y->key, TOKEN_KEY_LEN) == 0 && x->ngroups == y->ngroups);
		for (size_t g = 0; g < x->ngroups && g < y->ngroups; g++)
			CHECK(strcmp(x->groups[g], y->groups[g]) == 0 && x->gids[g] == y->gids[g]);
	}
}

static void test_table(struct users *u)
{
	static const char *const staff[] = {"staff"}, *const two[] = {"staff", "ops", "staff"};
	CHECK(add(u, "root", NULL, 0) == 0);
	CHECK(add(u, "alice", staff, 1) == 0);
	CHECK(add(u, "bob", two, 3) == 0);
	CHECK(add(u, "alice", NULL, 0) == -EEXIST);
	CHECK(add(u, "Alice", NULL, 0) == -EINVAL);
	static const char *const badg[] = {"a b"};
	CHECK(add(u, "carol", badg, 1) == -EINVAL && !users_find(u, "carol"));
	const struct user *root = users_find(u, "root"), *a = users_find(u, "alice"),
			  *b = users_find(u, "bob");
	CHECK(root && root->uid == 0 && root->gid == 0);
	CHECK(a && a->uid >= USERS_FIRST_ID && a->gid == a->uid && a->ngroups == 1);
	CHECK(b && b->uid != a->uid && b->ngroups == 2 && b->gids[0] == a->gids[0]);
	struct perm_who who;
	users_who(b, &who);
	CHECK(who.uid == b->uid && perm_in_group(&who, a->gids[0]) && perm_in_group(&who, b->gid));
	CHECK(!perm_in_group(&who, a->gid));

	uint32_t alice_uid = a->uid;
	CHECK(users_remove(u, "root") == -EPERM && users_remove(u, "nobody") == -ENOENT);
	CHECK(users_remove(u, "alice") == 0 && !users_find(u, "alice"));
	CHECK(add(u, "alice", NULL, 0) == 0 && users_find(u, "alice")->uid > alice_uid);
	CHECK(users_rotate(u, "bob", K2) == 0 && memcmp(users_find(u, "bob")->key, K2, 32) == 0);
	CHECK(users_rotate(u, "nobody", K2) == -ENOENT);
	CHECK(strcmp(users_at(u, 0)->name, "alice") == 0 && users_at(u, 3) == NULL);
}

static void test_codec(struct users *u)
{
	size_t len;
	uint8_t *buf = users_encode(u, &len);
	CHECK(buf && len > 8);
	struct users *v = users_new();
	CHECK(users_decode(v, buf, len) == 0);
	same(u, v);
	static const char *const g[] = {"staff"};
	CHECK(add(v, "dave", g, 1) == 0 && add(u, "dave", g, 1) == 0);
	CHECK(users_find(v, "dave")->uid == users_find(u, "dave")->uid); /* next id kept */
	for (size_t cut = 0; cut < len; cut++)
		CHECKF(users_decode(v, buf, cut) == -EINVAL, "cut at %zu", cut);
	CHECK(users_count(v) == users_count(u)); /* unchanged by the refusals */
	buf[9] = 200;				 /* the first name's length */
	CHECK(users_decode(v, buf, len) == -EINVAL);
	free(buf);

	struct users *w = users_new();
	uint8_t e[USERS_ENTRY_MAX];
	for (size_t i = 0; i < users_count(u); i++) {
		size_t n = users_entry_encode(users_at(u, i), e);
		CHECK(n <= USERS_ENTRY_MAX && users_apply_entry(w, e, n) == 0);
		CHECK(users_apply_entry(w, e, n - 1) == -EINVAL);
	}
	same(u, w);
	CHECK(add(w, "erin", NULL, 0) == 0 && add(u, "erin", NULL, 0) == 0);
	CHECK(users_find(w, "erin")->uid == users_find(u, "erin")->uid);
	users_free(v);
	users_free(w);
}

int main(void)
{
	struct users *u = users_new();
	CHECK(u != NULL);
	test_table(u);
	test_codec(u);
	users_free(u);
	users_free(NULL);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
