/*
 * test_perm: POSIX permission decisions (metaserver/perm.c). A table of
 * owner / group (primary and supplementary) / other callers against files
 * and directories with each class's bits; the owner class is final (an
 * owner without r is refused even when group or other has it); the
 * superuser reads and writes anything but executes only a file with an x
 * bit; create and remove need w and x on the parent; the sticky bit lets
 * only the entry's owner, the directory's owner or the superuser remove;
 * chmod, chown and chgrp follow ownership and group membership with EPERM.
 * Run as root, every mode 0000..0777 of a file and a directory is checked
 * against the kernel's own access() for owner, group, supplementary group
 * and other callers (the reference model).
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "perm.h"

#include "check.h"

static const struct perm_who ROOT = {.uid = 0, .gid = 0};
static const struct perm_who ALICE = {.uid = 1001, .gid = 100, .ngroups = 1, .groups = {200}};
static const struct perm_who BOB = {.uid = 1002, .gid = 100};
static const struct perm_who CAROL = {.uid = 1003, .gid = 300};

static void test_classes(void)
{
	static const struct {
		uint32_t mode;
		const struct perm_who *who;
		unsigned want;
		int err;
	} cases[] = {
	    /* alice owns the file, group 100 (bob's and alice's primary), carol is other */
	    {S_IFREG | 0600, &ALICE, PERM_R | PERM_W, 0},
	    {S_IFREG | 0600, &BOB, PERM_R, -EACCES},
	    {S_IFREG | 0640, &BOB, PERM_R, 0},
	    {S_IFREG | 0640, &BOB, PERM_W, -EACCES},
	    {S_IFREG | 0640, &CAROL, PERM_R, -EACCES},
	    {S_IFREG | 0644, &CAROL, PERM_R, 0},
	    {S_IFREG | 0066, &ALICE, PERM_R, -EACCES}, /* the owner class is final */
	    {S_IFREG | 0606, &BOB, PERM_R, -EACCES},   /* so is the group class */
	    {S_IFREG | 0000, &ROOT, PERM_R | PERM_W, 0},
	    {S_IFREG | 0000, &ROOT, PERM_X, -EACCES},
	    {S_IFREG | 0001, &ROOT, PERM_X, 0},
	    {S_IFDIR | 0000, &ROOT, PERM_X | PERM_W, 0},
	    {S_IFDIR | 0700, &BOB, PERM_X, -EACCES},
	    {S_IFDIR | 0711, &CAROL, PERM_X, 0},
	    {S_IFDIR | 0711, &CAROL, PERM_R, -EACCES},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct perm_obj o = {.mode = cases[i].mode, .uid = 1001, .gid = 100};
		int err = perm_may(cases[i].who, &o, cases[i].want);
		CHECKF(err == cases[i].err, "case %zu: %d, want %d", i, err, cases[i].err);
	}
	struct perm_obj g200 = {.mode = S_IFREG | 0040, .uid = 1003, .gid = 200};
	CHECK(perm_may(&ALICE, &g200, PERM_R) == 0); /* a supplementary group */
	CHECK(perm_may(&BOB, &g200, PERM_R) == -EACCES);
}

static void test_create_remove(void)
{
	struct perm_obj dir = {.mode = S_IFDIR | 0755, .uid = 1001, .gid = 100};
	struct perm_obj bobs = {.mode = S_IFREG | 0644, .uid = 1002, .gid = 100};
	struct perm_obj alices = {.mode = S_IFREG | 0644, .uid = 1001, .gid = 100};
	CHECK(perm_may_create(&ALICE, &dir) == 0);
	CHECK(perm_may_create(&BOB, &dir) == -EACCES);
	CHECK(perm_may_remove(&BOB, &dir, &bobs) == -EACCES); /* own file, no w on the parent */
	dir.mode = S_IFDIR | 0777;
	CHECK(perm_may_remove(&CAROL, &dir, &bobs) == 0);
	dir.mode = S_IFDIR | 0776; /* w without x */
	CHECK(perm_may_create(&CAROL, &dir) == -EACCES);

	dir.mode = S_IFDIR | S_ISVTX | 0777; /* like /tmp */
	CHECK(perm_may_create(&CAROL, &dir) == 0);
	CHECK(perm_may_remove(&CAROL, &dir, &bobs) == -EACCES);
	CHECK(perm_may_remove(&BOB, &dir, &bobs) == 0);	  /* the entry's owner */
	CHECK(perm_may_remove(&ALICE, &dir, &bobs) == 0); /* the directory's owner */
	CHECK(perm_may_remove(&BOB, &dir, &alices) == -EACCES);
	CHECK(perm_may_remove(&ROOT, &dir, &alices) == 0);
}

static void test_ownership(void)
{
	struct perm_obj f = {.mode = S_IFREG | 0644, .uid = 1001, .gid = 100};
	CHECK(perm_may_chmod(&ALICE, &f) == 0);
	CHECK(perm_may_chmod(&BOB, &f) == -EPERM);
	CHECK(perm_may_chmod(&ROOT, &f) == 0);
	CHECK(perm_may_chown(&ALICE, &f, 1002, 100) == -EPERM); /* give away: superuser only */
	CHECK(perm_may_chown(&ROOT, &f, 1002, 300) == 0);
	CHECK(perm_may_chown(&ALICE, &f, 1001, 200) == 0);	/* chgrp to her own group */
	CHECK(perm_may_chown(&ALICE, &f, 1001, 300) == -EPERM); /* not her group */
	CHECK(perm_may_chown(&BOB, &f, 1001, 100) == -EPERM);	/* not his file */
	CHECK(perm_may_chown(&ALICE, &f, 1001, 100) == 0);	/* no change */
}

/* The kernel's answer for who asking want on path, from a child that becomes who. */
static int kernel_access(const char *path, const struct perm_who *who, unsigned want)
{
	pid_t pid = fork();
	if (pid == 0) {
		gid_t groups[PERM_GROUPS_MAX];
		for (size_t i = 0; i < who->ngroups; i++)
			groups[i] = who->groups[i];
		if (setgroups(who->ngroups, groups) || setgid(who->gid) || setuid(who->uid))
			_exit(2);
		int mode = (want & PERM_R ? R_OK : 0) | (want & PERM_W ? W_OK : 0) |
			   (want & PERM_X ? X_OK : 0);
		_exit(access(path, mode) == 0 ? 0 : 1);
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	CHECK(WEXITSTATUS(status) != 2);
	return WEXITSTATUS(status) == 0 ? 0 : -EACCES;
}

static void test_against_kernel(void)
{
	char dir[] = "/tmp/test_perm.XXXXXX", file[64], sub[64];
	if (geteuid() != 0) {
		fprintf(stderr, "test_perm: not root, the kernel comparison is skipped\n");
		return;
	}
	CHECK(mkdtemp(dir) != NULL && chmod(dir, 0755) == 0);
	snprintf(file, sizeof(file), "%s/f", dir);
	snprintf(sub, sizeof(sub), "%s/d", dir);
	FILE *f = fopen(file, "w");
	CHECK(f && fclose(f) == 0 && mkdir(sub, 0700) == 0);
	CHECK(chown(file, 1001, 200) == 0 && chown(sub, 1001, 200) == 0);
	const struct perm_who *whos[] = {&ALICE, &BOB, &CAROL};
	const struct perm_who supp = {.uid = 1002, .gid = 100, .ngroups = 1, .groups = {200}};
	const char *paths[] = {file, sub};
	for (uint32_t mode = 0; mode < 01000; mode += 011) {
		for (int p = 0; p < 2; p++) {
			struct perm_obj o = {
			    .mode = (p ? S_IFDIR : S_IFREG) | mode, .uid = 1001, .gid = 200};
			CHECK(chmod(paths[p], mode) == 0);
			for (int w = 0; w < 4; w++) {
				const struct perm_who *who = w < 3 ? whos[w] : &supp;
				for (unsigned want = 1; want < 8; want++)
					CHECKF(perm_may(who, &o, want) ==
						   kernel_access(paths[p], who, want),
					       "mode %03o %s uid %u want %u", mode,
					       p ? "dir" : "file", who->uid, want);
			}
		}
	}
	unlink(file);
	rmdir(sub);
	rmdir(dir);
}

int main(void)
{
	test_against_kernel();
	test_classes();
	test_create_remove();
	test_ownership();
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}
