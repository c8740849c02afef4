/*
 * cfuse_inode: cairn-fuse's inode table, from the kernel's inode numbers
 * (cairn inode ids) to cairn paths.
 *
 * A chained hash table of fixed size under one mutex, held only for the
 * few pointer moves of each call, never across a libcairn call. Entries
 * are made by lookups (create, mkdir, readdirplus count as lookups) and
 * freed when the kernel forgets its last reference and no handle is open.
 * A rename walks the whole table to move the paths under it: renames are
 * rare next to lookups, and the table holds only what the kernel caches.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfuse.h"

#define TABLE_BUCKETS 65536

static struct cfuse_inode *inode_new(uint64_t id, const char *path)
{
	struct cfuse_inode *ino = calloc(1, sizeof(*ino));
	if (!ino)
		return NULL;
	ino->path = strdup(path);
	if (!ino->path) {
		free(ino);
		return NULL;
	}
	ino->id = id;
	pthread_mutex_init(&ino->wlock, NULL);
	return ino;
}

static void inode_free(struct cfuse_inode *ino)
{
	pthread_mutex_destroy(&ino->wlock);
	free(ino->path);
	free(ino);
}

static struct cfuse_inode **bucket(struct cfuse_table *t, uint64_t id)
{
	return &t->buckets[(id * 0x9E3779B97F4A7C15ull >> 32) % t->nbuckets];
}

int cfuse_table_init(struct cfuse_table *t)
{
	t->nbuckets = TABLE_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	struct cfuse_inode *root = inode_new(FUSE_ROOT_ID, "/");
	if (!root) {
		free(t->buckets);
		return -ENOMEM;
	}
	root->nlookup = 1; /* never forgotten */
	*bucket(t, FUSE_ROOT_ID) = root;
	return 0;
}

void cfuse_table_free(struct cfuse_table *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct cfuse_inode *ino = t->buckets[i], *next;
		for (; ino; ino = next) {
			next = ino->next;
			inode_free(ino);
		}
	}
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
}

static struct cfuse_inode *find_locked(struct cfuse_table *t, uint64_t id)
{
	struct cfuse_inode *ino = *bucket(t, id);
	while (ino && ino->id != id)
		ino = ino->next;
	return ino;
}

struct cfuse_inode *cfuse_table_get(struct cfuse_table *t, uint64_t id, const char *path,
				    uint64_t lookups)
{
	pthread_mutex_lock(&t->lock);
	struct cfuse_inode *ino = find_locked(t, id);
	if (!ino) {
		ino = inode_new(id, path ? path : "/");
		if (ino) {
			struct cfuse_inode **b = bucket(t, id);
			ino->next = *b;
			*b = ino;
		}
	} else if (path && strcmp(ino->path, path) != 0 && !ino->orphan) {
		char *p = strdup(path);
		if (p) {
			free(ino->path);
			ino->path = p;
		}
	}
	if (ino)
		ino->nlookup += lookups;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

struct cfuse_inode *cfuse_table_find(struct cfuse_table *t, uint64_t id)
{
	pthread_mutex_lock(&t->lock);
	struct cfuse_inode *ino = find_locked(t, id);
	pthread_mutex_unlock(&t->lock);
	return ino;
}

char *cfuse_table_path(struct cfuse_table *t, struct cfuse_inode *ino)
{
	pthread_mutex_lock(&t->lock);
	char *p = strdup(ino->path);
	pthread_mutex_unlock(&t->lock);
	return p;
}

/* Unlinks and frees ino when nothing holds it. Table lock held. */
static void drop_if_unused(struct cfuse_table *t, struct cfuse_inode *ino)
{
	if (ino->nlookup > 0 || ino->nopen > 0 || ino->id == FUSE_ROOT_ID)
		return;
	struct cfuse_inode **p = bucket(t, ino->id);
	while (*p != ino)
		p = &(*p)->next;
	*p = ino->next;
	inode_free(ino);
}

void cfuse_table_forget(struct cfuse_table *t, uint64_t id, uint64_t n)
{
	pthread_mutex_lock(&t->lock);
	struct cfuse_inode *ino = find_locked(t, id);
	if (ino) {
		ino->nlookup = n > ino->nlookup ? 0 : ino->nlookup - n;
		drop_if_unused(t, ino);
	}
	pthread_mutex_unlock(&t->lock);
}

uint32_t cfuse_table_open(struct cfuse_table *t, struct cfuse_inode *ino, int delta)
{
	pthread_mutex_lock(&t->lock);
	if (delta > 0)
		ino->nopen++;
	else
		ino->nopen--;
	uint32_t left = ino->nopen;
	pthread_mutex_unlock(&t->lock);
	return left;
}

int cfuse_table_rename(struct cfuse_table *t, const char *from, const char *to)
{
	size_t flen = strlen(from), tlen = strlen(to);
	int err = 0;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (struct cfuse_inode *ino = t->buckets[i]; ino; ino = ino->next) {
			if (strncmp(ino->path, from, flen) != 0 ||
			    (ino->path[flen] != 0 && ino->path[flen] != '/'))
				continue;
			size_t rest = strlen(ino->path + flen);
			char *p = malloc(tlen + rest + 1);
			if (!p) {
				err = -ENOMEM;
				continue;
			}
			memcpy(p, to, tlen);
			memcpy(p + tlen, ino->path + flen, rest + 1);
			free(ino->path);
			ino->path = p;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

int cfuse_table_is_open(struct cfuse_table *t, uint64_t id)
{
	pthread_mutex_lock(&t->lock);
	struct cfuse_inode *ino = find_locked(t, id);
	int open = ino && ino->nopen > 0;
	pthread_mutex_unlock(&t->lock);
	return open;
}

int cfuse_table_set_path(struct cfuse_table *t, uint64_t id, const char *path, int orphan)
{
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	struct cfuse_inode *ino = find_locked(t, id);
	if (ino) {
		free(ino->path);
		ino->path = p;
		ino->orphan = orphan;
		p = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	free(p);
	return 0;
}

struct cfuse_inode *cfuse_table_pin(struct cfuse_table *t, uint64_t id)
{
	pthread_mutex_lock(&t->lock);
	struct cfuse_inode *ino = find_locked(t, id);
	if (ino && ino->nopen > 0)
		ino->nopen++;
	else
		ino = NULL;
	pthread_mutex_unlock(&t->lock);
	return ino;
}
