/*
 * cfuse: cairn-fuse's shared declarations: the mount's root object, the
 * inode table (cfuse_inode.c) and the low-level operations (cfuse_ops.c).
 *
 * The kernel names files by inode number; libcairn names them by path. The
 * inode table maps one to the other: an entry per inode the kernel knows
 * (its lookup count above 0) or a process has open, keyed by the cairn
 * inode id (ids are never reused, and cairn has no hard links yet, so an id
 * has exactly one path). FUSE's root (1) is cairn's root (NS_ROOT_ID 1).
 *
 * Invariants: an entry lives while nlookup > 0 or nopen > 0; its path
 * changes only under the table lock (rename moves every entry under the
 * renamed directory); no lock is held across a libcairn call except an
 * inode's wlock, which serialises the calls on its shared writer handle.
 */
#ifndef CFUSE_H
#define CFUSE_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>

#include "cairn.h"

/* A name the mount gives a file unlinked while open, hidden from listings. */
#define CFUSE_ORPHAN_PREFIX ".cairn-fuse-orphan."

struct cfuse_inode {
	uint64_t id;
	char *path;	  /* table lock */
	uint64_t nlookup; /* table lock: the kernel's references */
	uint32_t nopen;	  /* table lock: open handles */
	int orphan;	  /* table lock: unlinked while open; removed at the last release */
	pthread_mutex_t wlock;
	cairn_file_t *w; /* wlock: the writer every write handle on this mount shares */
	uint32_t nwrite; /* wlock: write handles open */
	int held;	 /* wlock: w is kept open to hold an orphan's write lease */
	/* wlock: times set while the writer was open, set again after its close (which sets mtime)
	 */
	int64_t pend_atime_us, pend_mtime_us;
	int pend_times;
	struct cfuse_inode *next;
};

struct cfuse_table {
	pthread_mutex_t lock;
	size_t nbuckets;
	struct cfuse_inode **buckets;
};

struct cfuse_handle;

struct cfuse {
	cairn_t *fs;
	struct fuse_session *se;
	struct cfuse_table table;
	double attr_timeout; /* seconds the kernel keeps directories' attributes and entries */
	int read_only;
	pthread_mutex_t hlock;	      /* guards handles */
	struct cfuse_handle *handles; /* open file handles, freed at unmount if never released */
};

/* Makes the table holding only the root. Returns 0 or -ENOMEM. */
int cfuse_table_init(struct cfuse_table *t);
/* Frees every entry (their writers must be closed). */
void cfuse_table_free(struct cfuse_table *t);

/*
 * The entry for id, made (with path) when missing, its path set to path
 * when given (the newest name wins), and nlookup raised by lookups.
 * Borrowed; valid while the caller holds a lookup or an open on it.
 * Returns NULL only when out of memory.
 */
struct cfuse_inode *cfuse_table_get(struct cfuse_table *t, uint64_t id, const char *path,
				    uint64_t lookups);
/* The entry for id, or NULL when the kernel holds no reference to it. */
struct cfuse_inode *cfuse_table_find(struct cfuse_table *t, uint64_t id);
/* A new copy of ino's path (free with free()), or NULL when out of memory. */
char *cfuse_table_path(struct cfuse_table *t, struct cfuse_inode *ino);
/* Drops n lookups of id; frees the entry when nothing holds it. */
void cfuse_table_forget(struct cfuse_table *t, uint64_t id, uint64_t n);
/* Counts one open handle of ino more (delta 1) or less (-1); returns the count left. */
uint32_t cfuse_table_open(struct cfuse_table *t, struct cfuse_inode *ino, int delta);
/* Whether a handle of id is open. */
int cfuse_table_is_open(struct cfuse_table *t, uint64_t id);
/* id's entry with one open more when a handle of it is open (drop with cfuse_table_open(-1)), else
 * NULL. */
struct cfuse_inode *cfuse_table_pin(struct cfuse_table *t, uint64_t id);
/*
 * Gives id's entry (if any) a new path: an orphan's hidden name, or a name
 * that no longer exists for an inode whose name went. Returns 0 or -ENOMEM.
 */
int cfuse_table_set_path(struct cfuse_table *t, uint64_t id, const char *path, int orphan);
/* Gives every entry at from, or under it, the same place under to. Returns 0 or -ENOMEM. */
int cfuse_table_rename(struct cfuse_table *t, const char *from, const char *to);

/* The operations table for fuse_session_new(); userdata is a struct cfuse. */
extern const struct fuse_lowlevel_ops cfuse_ops;

/* Closes every shared writer (committing what was written) and frees the handles never released; at
 * unmount, once no request runs. */
void cfuse_close_all(struct cfuse *m);

#endif
