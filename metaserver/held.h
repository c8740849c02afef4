/*
 * held: replicas the metaserver will not delete on a guess (DESIGN §4,
 * "nothing deleted on a guess"; HDFS's safe mode is the model).
 *
 * Two kinds of reported replica look like garbage but may be the only
 * copy of acknowledged data when the namespace itself is what went wrong
 * (a data dir recovered to an older seq, a chunkserver data dir from
 * elsewhere):
 *  - HELD_UNKNOWN: a chunk the namespace does not know. Held for the
 *    grace (--delete-grace) counted from when it was first reported,
 *    which is never before the metaserver started (and again from a
 *    re-registration); only then is it deleted (held_due()). Which
 *    nodes "should" report is not knowable after a restart without a
 *    record of them, so the grace runs per replica from its node's
 *    report: a node that registers late gets the full grace too, and no
 *    node's report can make another node's replicas go early.
 *  - HELD_NEWER: a version the namespace never granted. One node's claim
 *    is suspicious, not authoritative: the replicas at the namespace's
 *    version stay in service and this one is held until an operator
 *    releases it (held_release()); never due on its own.
 * `cairn admin fsck` and the status page list them; `cairn admin
 * release-held` deletes them on purpose.
 *
 * Invariant: at most one entry per (node, chunk); entries are in the
 * order reported.
 */
#ifndef CAIRN_HELD_H
#define CAIRN_HELD_H

#include <stddef.h>
#include <stdint.h>

enum held_why { HELD_UNKNOWN, HELD_NEWER };

struct held_replica {
	uint32_t node;
	uint64_t chunk;
	uint64_t version;
	enum held_why why;
	uint64_t since_ms; /* first reported (monotonic ms) */
};

struct held;

/* Returns a new, empty set (free with held_free()), aborts when out of memory. */
struct held *held_new(void);
void held_free(struct held *h);

/*
 * Holds node's replica of chunk at version, reported at now_ms (the
 * caller never adds one twice: see held_drop_node()). Returns 0.
 */
int held_add(struct held *h, uint32_t node, uint64_t chunk, uint64_t version, enum held_why why,
	     uint64_t now_ms);

/* Called for each replica leaving the set, to delete it (or not). */
typedef void (*held_fn)(void *arg, const struct held_replica *r);

/*
 * Takes out the HELD_UNKNOWN replicas held for at least grace_ms at now_ms,
 * calling fn for each. Returns how many.
 */
size_t held_due(struct held *h, uint64_t now_ms, uint64_t grace_ms, held_fn fn, void *arg);

/*
 * Forgets node's replicas (its registration replaces its report, which
 * holds them again, from then: a node that registers again restarts its
 * grace, the safe way round). Returns how many.
 */
size_t held_drop_node(struct held *h, uint32_t node);

/* Takes out every replica, calling fn for each (release-held). Returns how many. */
size_t held_release(struct held *h, held_fn fn, void *arg);

/* The highest version held of chunk (0: none). Linear in the held replicas. */
uint64_t held_max_version(const struct held *h, uint64_t chunk);

/* The held replicas, in order; borrowed until the next change. */
const struct held_replica *held_list(const struct held *h, size_t *n);

/* A short name of why, for fsck and the status page. Static. */
const char *held_why_name(enum held_why why);

#endif
