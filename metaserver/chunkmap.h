/*
 * chunkmap: where every chunk of the namespace lives (DESIGN §4).
 *
 * For each chunk id the namespace holds: its file, index and current
 * version (mirrored from ns by the caller: chunkmap_set() whenever a
 * chunk is added or gets a new version, chunkmap_forget() when ns drops
 * it; chunk id 0 is not one), and the chunkservers (node ids, see nodes.h) holding a replica of
 * that version, with the length each reported.
 *
 * Replica locations are not persisted: they are rebuilt from the reports
 * chunkservers send when they register. A reported replica is
 *  - recorded when its version is the chunk's;
 *  - stale (-CAIRN_ESTALE) when older: not recorded, the node should
 *    delete it;
 *  - an orphan (-ENOENT) when the namespace has no such chunk: the
 *    caller decides (the metaserver holds it for --delete-grace, held.h);
 *  - ahead (1) when newer than the namespace's version: not recorded; the
 *    caller decides (the metaserver holds it: the log records every
 *    version before it is granted, so a newer one is one node's claim).
 *
 * Invariant: every recorded replica holds the chunk's current version, so
 * a version bump (chunkmap_set with a higher version) drops them all; the
 * caller adds back those that will have the new one. A node appears at
 * most once per chunk.
 *
 * Pure; not thread-safe: one thread owns a map.
 */
#ifndef CAIRN_CHUNKMAP_H
#define CAIRN_CHUNKMAP_H

#include <stddef.h>
#include <stdint.h>

struct chunkmap;

struct chunkmap_replica {
	uint32_t node;
	uint64_t length; /* bytes, as last reported (0 for a new chain member) */
	uint64_t prev;	 /* chunkmap.c's per-node list: neighbouring chunk ids */
	uint64_t next;
};

/* One chunk. Read-only outside chunkmap.c; borrowed until the map next changes. */
struct chunkmap_chunk {
	uint64_t id;
	uint64_t file_id;
	uint64_t index;
	uint64_t version;
	struct chunkmap_replica *replicas;
	uint32_t nreplicas;
	uint32_t cap;
};

/* Called for a replica removed from the map that its node should delete. */
typedef void (*chunkmap_drop_fn)(void *arg, uint64_t chunk_id, uint32_t node);

/* Returns a new empty map (free with chunkmap_free()). */
struct chunkmap *chunkmap_new(void);
void chunkmap_free(struct chunkmap *cm);

/* Chunks in the map, and replicas recorded over all of them. */
size_t chunkmap_count(const struct chunkmap *cm);
size_t chunkmap_nreplicas(const struct chunkmap *cm);

const struct chunkmap_chunk *chunkmap_get(const struct chunkmap *cm, uint64_t id);

/*
 * The namespace holds chunk id at (file_id, index) with version: adds the
 * chunk (no replicas) or updates it. A higher version than recorded drops
 * every replica, calling fn (when non-NULL) for each; a lower one, or a
 * zero id or version, is -EINVAL. Returns 0 or -EINVAL.
 */
int chunkmap_set(struct chunkmap *cm, uint64_t id, uint64_t file_id, uint64_t index,
		 uint64_t version, chunkmap_drop_fn fn, void *arg);

/* The namespace dropped chunk id: forgets it, calling fn for each replica. */
void chunkmap_forget(struct chunkmap *cm, uint64_t id, chunkmap_drop_fn fn, void *arg);

/*
 * Node reports (or a write chain gives it) a replica of id at version
 * with length bytes. Returns 0 (recorded, or its length refreshed),
 * -ENOENT (orphan), -CAIRN_ESTALE (older) or 1 (newer: not recorded).
 */
int chunkmap_add_replica(struct chunkmap *cm, uint64_t id, uint32_t node, uint64_t version,
			 uint64_t length);

/* Removes node's replica of id. Returns 0 or -ENOENT (none recorded). */
int chunkmap_drop_replica(struct chunkmap *cm, uint64_t id, uint32_t node);

/*
 * Removes every replica node holds (before its set is replaced by a new
 * report). Returns how many. Costs O(node's replicas).
 */
size_t chunkmap_drop_node(struct chunkmap *cm, uint32_t node);

/* Replicas recorded on node. O(1). */
size_t chunkmap_node_count(const struct chunkmap *cm, uint32_t node);

/*
 * Iterates over the chunks: start with *pos = 0; each call returns the
 * next chunk, or NULL at the end. The map must not gain or lose chunks
 * during an iteration (replicas may change).
 */
const struct chunkmap_chunk *chunkmap_next(const struct chunkmap *cm, size_t *pos);

/* Whether node holds a recorded replica of c. */
int chunkmap_has(const struct chunkmap_chunk *c, uint32_t node);

#endif
