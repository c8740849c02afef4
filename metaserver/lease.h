/*
 * lease: write leases, in memory (DESIGN §4): at most one writer per file.
 *
 * A lease names a file and has an id and an expiry, lease_ms after it was
 * granted or last renewed. A lease past its expiry is dead wherever it is
 * looked at: it no longer blocks another writer and can no longer be used
 * or renewed, even before lease_expire() sweeps it away. Lease ids count
 * up from a caller-chosen start (the metaserver uses the wall clock in
 * microseconds), so an id below a table's first id was granted by an
 * earlier run of the metaserver, and an id never names two leases.
 *
 * Restarts. Leases are not persisted; they survive a metaserver restart
 * through a grace period of lease_ms (lease_grace(); the design and why
 * it is sound are in lease.c): the holder of a lease from before the
 * restart reclaims it, same id, where it presents it (lease_reclaim():
 * allocate, renew, release), and new writers of files that existed at the
 * restart are refused with -EAGAIN until the grace ends.
 *
 * Pure: the caller passes the (monotonic) time in milliseconds; tests
 * inject it. Not thread-safe: one thread owns a table.
 */
#ifndef CAIRN_LEASE_H
#define CAIRN_LEASE_H

#include <stddef.h>
#include <stdint.h>

struct lease_table;

/* Returns a new table (free with lease_free()). first_id: non-zero. */
struct lease_table *lease_new(uint64_t lease_ms, uint64_t first_id);
void lease_free(struct lease_table *t);

/*
 * Grants file_id's write lease to a new writer: *lease_id gets its id.
 * Returns 0, -CAIRN_ELEASE when a live lease holds the file, -EAGAIN while
 * the file is in grace (see above).
 */
int lease_acquire(struct lease_table *t, uint64_t file_id, uint64_t now_ms, uint64_t *lease_id);

/* 0 when lease_id is file_id's live lease, else -CAIRN_ELEASE. */
int lease_check(const struct lease_table *t, uint64_t file_id, uint64_t lease_id, uint64_t now_ms);

/* As lease_check(), and on success extends the lease to now_ms + lease_ms. */
int lease_renew(struct lease_table *t, uint64_t file_id, uint64_t lease_id, uint64_t now_ms);

/* As lease_check(), and on success ends the lease. */
int lease_release(struct lease_table *t, uint64_t file_id, uint64_t lease_id, uint64_t now_ms);

/*
 * Puts the table in grace until until_ms for the files with an id below
 * files_below (those that existed at the restart). Call once, at start.
 */
void lease_grace(struct lease_table *t, uint64_t until_ms, uint64_t files_below);

/* Whether the table is in grace at now_ms. */
int lease_in_grace(const struct lease_table *t, uint64_t now_ms);

/*
 * As lease_check(), but during the grace period a lease_id from before the
 * restart for a file in grace that no live lease holds is granted again
 * (same id, expiring lease_ms from now). Returns 0 (lease_id is file_id's
 * live lease), 1 (it is, reclaimed just now) or -CAIRN_ELEASE.
 */
int lease_reclaim(struct lease_table *t, uint64_t file_id, uint64_t lease_id, uint64_t now_ms);

/* Whether a live lease holds file_id. */
int lease_held(const struct lease_table *t, uint64_t file_id, uint64_t now_ms);

/*
 * Removes every lease past its expiry, calling fn (when non-NULL) for
 * each with its file and id. Returns how many went.
 */
typedef void (*lease_expired_fn)(void *arg, uint64_t file_id, uint64_t lease_id);
size_t lease_expire(struct lease_table *t, uint64_t now_ms, lease_expired_fn fn, void *arg);

/* Leases in the table, dead ones not yet swept included. */
size_t lease_count(const struct lease_table *t);

uint64_t lease_ms(const struct lease_table *t);

#endif
