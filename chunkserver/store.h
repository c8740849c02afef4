/*
 * store: the chunkserver's replicas on its local data dirs, and the async
 * disk I/O engine under the data path.
 *
 * Each data dir has one worker thread that does every disk operation for
 * that dir (open, pread, pwrite, fdatasync, rename, unlink, statfs), in the
 * order the operations were submitted, so one slow or dead disk never
 * stalls the event loop or the other dirs. The event loop owns the index
 * (chunk id -> dir, version, file id, length, state) and submits
 * operations; completions come back through an eventfd watched by the
 * loop's event_base, and every callback runs on the loop thread. The store
 * does not need libevent's thread support (evthread_use_pthreads()): only
 * the loop thread touches the event_base, workers just write the eventfd.
 *
 * Replica files are described in chunkfile.h. Every byte read is verified
 * against its block's CRC32C before it is returned. A write marks the
 * replica OPEN on disk (durably) before its first data write after a sync;
 * store_sync() makes data and header durable and marks it CLEAN. At open, an
 * OPEN replica (a torn write) is verified block by block and cut back to
 * its longest verified prefix of blocks; a replica whose header is damaged
 * is moved to <datadir>/corrupt/.
 *
 * Writes must not leave holes: offset <= the chunk's length (sequential
 * appends and overwrites are what cairn's writers do); a write past the
 * end fails -EINVAL.
 *
 * Invariants: ops on one chunk run in submission order (they all go to its
 * dir's worker, and ops submitted while its create is in flight wait for
 * it); a callback is called exactly once per op, always later (never from
 * inside the submitting call); the index is only touched by the loop.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct store;

/* What the index knows about one replica. */
struct store_chunk_info {
	uint64_t chunk_id;
	uint64_t version;
	uint64_t file_id;
	uint64_t length;
	int open;    /* written since the last store_sync() (header OPEN) */
	int corrupt; /* a read or scrub found a block that fails its CRC */
	int dir;     /* index of its data dir in store_open()'s list */
};

struct store_dir_stats {
	const char *path; /* borrowed; valid until store_close() */
	uint64_t used;	  /* bytes of the replica files (headers + data) */
	uint64_t capacity;
	uint64_t free; /* min(capacity - used, the file system's free space) */
	uint64_t chunks;
	int failed; /* taken out of service */
};

/*
 * Completion of an op, on the loop thread. err is 0 or a negative error.
 * data is the bytes of a successful store_read() (else NULL), borrowed
 * until the callback returns: move them out with evbuffer_add_buffer().
 */
typedef void (*store_done_fn)(int err, struct evbuffer *data, void *arg);

/* Completion of store_read_crc(): as store_done_fn, plus the blocks' CRCs (or NULL, 0). */
typedef void (*store_read_fn)(int err, struct evbuffer *data, const uint32_t *crcs, size_t ncrcs,
			      void *arg);

/*
 * Replicas the store lost: every chunk of a data dir that failed, or one
 * whose file vanished. Called on the loop thread; ids borrowed for the call.
 */
typedef void (*store_lost_fn)(const uint64_t *ids, size_t n, void *arg);

typedef void (*store_foreach_fn)(const struct store_chunk_info *info, void *arg);

/*
 * Opens the store over ndirs data dirs (each must exist; chunks/ and
 * corrupt/ are created in it), scanning them in parallel on their workers:
 * damaged replicas are moved aside, torn ones repaired, and of the same
 * chunk in two dirs the higher version is kept. Blocks until the scan is
 * done. capacity is the total bytes the store may use, split evenly between
 * the dirs; 0 means each dir's used bytes plus its file system's free space.
 * A dir that cannot be used is logged and marked failed; the others serve.
 * lost (may be NULL) is told about replicas lost later. Returns a new store
 * (free with store_close()), or NULL with a new *cause when no dir is
 * usable. base is borrowed until store_close(). Call from the loop thread.
 */
struct store *store_open(const char *const *dirs, int ndirs, uint64_t capacity,
			 struct event_base *base, store_lost_fn lost, void *lost_arg, char **cause);

/*
 * Completes every op still queued (their callbacks run from inside this
 * call; ops submitted by those callbacks fail -ESHUTDOWN), writes the
 * in-memory header of replicas written since their last sync (still OPEN:
 * they are verified at the next open), joins the workers and frees the
 * store. store_close(NULL) is a no-op. Loop thread, but never from inside
 * a store callback.
 */
void store_close(struct store *s);

/*
 * The ops. Each calls cb exactly once, later, on the loop thread. All are
 * loop-thread only. Errors common to all: -ENOENT (no such chunk), -EIO
 * (its data dir failed or a disk error), -ESHUTDOWN (store closing).
 */

/*
 * Creates an empty replica, durably, in the data dir with the most free
 * space. -EEXIST if the chunk exists; -ENOSPC if no dir has room.
 */
void store_create(struct store *s, uint64_t chunk_id, uint64_t version, uint64_t file_id,
		  store_done_fn cb, void *arg);

/*
 * Writes all bytes of data at offset. data is borrowed for the call: its
 * bytes are moved out of it (no copy), so it is empty on return whatever
 * the outcome, and the caller still owns and frees it.
 * -EINVAL if offset is past the chunk's length (no holes) or the end past
 * CHUNKFILE_MAX_SIZE; -ENOSPC if the dir's capacity would be exceeded;
 * -CAIRN_ECHECKSUM if a partially overwritten block fails its CRC (nothing
 * is written then). Not durable until store_sync().
 */
void store_write(struct store *s, uint64_t chunk_id, uint64_t offset, struct evbuffer *data,
		 store_done_fn cb, void *arg);

/*
 * store_write() of bytes whose CRCs are known: crcs[i] (n, copied) is the
 * CRC32C of data's bytes [i * CHUNKFILE_BLOCK_SIZE, (i + 1) *
 * CHUNKFILE_BLOCK_SIZE), already checked against them (a frame's payload
 * CRCs). Blocks the write fills exactly take them instead of computing.
 */
void store_write_crc(struct store *s, uint64_t chunk_id, uint64_t offset, struct evbuffer *data,
		     const uint32_t *crcs, size_t n, store_done_fn cb, void *arg);

/* Makes every completed write durable and marks the replica CLEAN. */
void store_sync(struct store *s, uint64_t chunk_id, store_done_fn cb, void *arg);

/*
 * Reads up to len bytes at offset, verifying every block touched. Reads
 * past the length are short; offset past the length is -EINVAL. A CRC
 * mismatch fails the read with -CAIRN_ECHECKSUM and marks the chunk
 * corrupt in the index.
 */
void store_read(struct store *s, uint64_t chunk_id, uint64_t offset, uint64_t len, store_done_fn cb,
		void *arg);

/*
 * store_read(), whose callback also gets the CRCs of the bytes' blocks
 * (crcs, borrowed until it returns) when the bytes start on a block
 * boundary and end on one or at the replica's end, else NULL and 0.
 */
void store_read_crc(struct store *s, uint64_t chunk_id, uint64_t offset, uint64_t len,
		    store_read_fn cb, void *arg);

/*
 * The CRC32Cs of the replica's bytes [offset, offset + len) (offset on a
 * block boundary; the range cut at the replica's length), without reading
 * them: one per block, from the header, except that when the range ends
 * inside a block short of the replica's end, that block is read, checked
 * against its stored CRC and the CRC of its part in the range computed.
 * The callback gets them as crcs (data NULL); entry i covers bytes
 * [offset + i * 64 KiB, min(offset + (i + 1) * 64 KiB, end)).
 */
void store_crcs(struct store *s, uint64_t chunk_id, uint64_t offset, uint64_t len,
		store_read_fn cb, void *arg);

/* Sets the replica's version, durably. */
void store_set_version(struct store *s, uint64_t chunk_id, uint64_t version, store_done_fn cb,
		       void *arg);

/* Deletes the replica. It leaves the index at once. */
void store_remove(struct store *s, uint64_t chunk_id, store_done_fn cb, void *arg);

/* Verifies every block; -CAIRN_ECHECKSUM (and marked corrupt) on a mismatch. */
void store_scrub(struct store *s, uint64_t chunk_id, store_done_fn cb, void *arg);

/*
 * Queues a check of every data dir in service (still there, statfs works;
 * refreshes its free space). A dir found failed is reported through the
 * lost callback. For the owner's periodic timer; loop thread.
 */
void store_check_dirs(struct store *s);

/*
 * Fills *info for chunk_id. Returns 0, -ENOENT, or -EIO when the replica
 * was lost with its data dir. Loop thread.
 */
int store_lookup(const struct store *s, uint64_t chunk_id, struct store_chunk_info *info);

/* Calls fn for every replica in service (the full chunk report). Loop thread. */
void store_foreach(const struct store *s, store_foreach_fn fn, void *arg);

/* Number of data dirs, failed ones included. Loop thread. */
int store_ndirs(const struct store *s);

/* Fills *st for data dir i (0 <= i < store_ndirs()). Loop thread. */
void store_dir_stats(const struct store *s, int i, struct store_dir_stats *st);

#endif
