/*
 * loc: where one chunk of a file lives, as the metaserver last said: its
 * index in the file, id, version and replica addresses (for a write, the
 * primary first and then the chain in order; for a read, best first).
 *
 * A loc is immutable once made and shared by reference count between an
 * open file's user thread and the handle's loop thread, so an answer from
 * the metaserver (a new chain, a refreshed location) replaces a loc
 * rather than changing one that a call in flight may be reading.
 */
#ifndef CAIRN_LOC_H
#define CAIRN_LOC_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.pb-c.h"

#define LOC_MAX_REPLICAS 16u  /* as the chunkserver's longest chain */
#define LOC_MAX_ADDR	 255u /* bytes of one replica address */

struct loc {
	int refs; /* atomic */
	uint64_t index;
	uint64_t id;
	uint64_t version;
	size_t n;
	char **replicas;
};

/*
 * Returns a new loc copied from ci with one reference (drop with
 * loc_unref()), or NULL with *err: -CAIRN_EPROTO when ci is malformed
 * (too many replicas, an address that is empty or too long), -ENOMEM.
 * Any thread.
 */
struct loc *loc_from_pb(const Cairn__ChunkInfo *ci, int *err);

/*
 * Copies the n chunks of a reply's chunk list. Returns 0 and a new *out
 * of n locs (free with loc_list_free(*out, n)), or an error as
 * loc_from_pb()'s. Any thread.
 */
int loc_list_from_pb(Cairn__ChunkInfo *const *chunks, size_t n, struct loc ***out);

/* Drops each of the n locs and frees the array. loc_list_free(NULL, 0) is a no-op. */
void loc_list_free(struct loc **locs, size_t n);

/* Takes another reference to l and returns it. Any thread. */
struct loc *loc_ref(struct loc *l);

/* Drops a reference; the last frees l. loc_unref(NULL) is a no-op. Any thread. */
void loc_unref(struct loc *l);

/* 1 when a and b name the same chunk version on the same replicas in the same order. */
int loc_same(const struct loc *a, const struct loc *b);

#endif
