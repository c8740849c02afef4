/*
 * idmap: a hash map from 64-bit ids to pointers, for the metaserver's
 * in-memory tables (chunk map, leases).
 *
 * Open addressing with linear probing and backward-shift deletion, so
 * there are no tombstones and lookups stay short after many deletions;
 * the table doubles at a load factor of 3/4 and never shrinks. Any id is
 * a valid key (0 too); values are never NULL (NULL means "absent").
 *
 * Not thread-safe: one thread owns a map.
 */
#ifndef CAIRN_IDMAP_H
#define CAIRN_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap;

/* Returns a new empty map (free with idmap_free()); aborts when out of memory. */
struct idmap *idmap_new(void);
/* Frees the map, not the values. idmap_free(NULL) is a no-op. */
void idmap_free(struct idmap *m);

/* The value stored under key, or NULL. */
void *idmap_get(const struct idmap *m, uint64_t key);

/* Stores val (not NULL) under key, replacing what was there; aborts when out of memory. */
void idmap_put(struct idmap *m, uint64_t key, void *val);

/* Removes key; returns the value it had, or NULL. */
void *idmap_del(struct idmap *m, uint64_t key);

size_t idmap_count(const struct idmap *m);

/*
 * Iterates: start with *pos = 0; each call returns the next value (and
 * its key in *key when key is non-NULL), or NULL at the end. The map must
 * not gain or lose keys during an iteration (values may change).
 */
void *idmap_next(const struct idmap *m, size_t *pos, uint64_t *key);

#endif
