/*
 * file_int: what libcairn's data path shares between its files: file.c
 * (open, close, seek, fsync, the write lease, chunk locations), write.c
 * (buffered, pipelined writes down chunkserver chains) and read.c (reads
 * with read-ahead and replica failover).
 *
 * Threads. An open file is used by one application thread at a time (the
 * "user thread"), by the handle's loop thread, which runs the file's
 * chunkserver calls and the lease renewal timer, and by the handle's
 * background thread, which makes the renewal's metaserver call (a loop
 * thread never blocks on the metaserver). The user thread builds each call
 * (a write piece, a read block), links it where the loop will report on it
 * and posts it as a job; the loop thread sends it, and on completion
 * updates the fields marked lock-protected below under f->lock and
 * signals f->cond, on which the user thread waits with a deadline. All
 * other fields belong to the user thread, except the immutable ones (c,
 * id, chunk_size, lease_id, lease_ms) which both read.
 *
 * Lifetime: a file is reference-counted: the user's reference, dropped by
 * cairn_close(), and one for each call in flight on the loop thread or
 * lease renewal in flight on the background thread. The last drop frees it, so a call that outlives the
 * caller's patience (a bug below us) never touches freed memory.
 *
 * Invariants: w.inflight counts the pieces posted and not completed;
 * every piece in w.pieces is posted-in-flight or failed, never
 * acknowledged; no two unacknowledged write pieces of one chunk overlap
 * (so resending failed pieces, in any order, cannot undo a later write).
 * w.acked_size never shrinks below the size the file had at open.
 */
#ifndef CAIRN_FILE_INT_H
#define CAIRN_FILE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/queue.h>

#include "client_int.h"

#define FILE_PIECE_MAX	  (1u << 20) /* payload bytes per write call */
#define FILE_WRITE_WINDOW 8u	     /* write calls in flight per file */
#define FILE_READ_MAX	  (1u << 20) /* bytes per read call */
#define FILE_READ_AHEAD	  8u	     /* read calls in flight for a sequential reader */
#define FILE_LOC_BATCH	  256u	     /* chunk locations asked for at once */
#define FILE_CHUNK_MAX	  (1ull << 40)
#define FILE_SIZE_MAX	  (1ull << 62) /* largest file offset: keeps offset sums in range */

struct piece;
struct rblock;
struct wchunk;
struct loc;
struct event;

/* A cached read location: known once the metaserver was asked; loc NULL is a hole. */
struct file_rloc {
	struct loc *loc;
	int known;
};

struct file_write {
	/* user thread: */
	struct piece *cur;	/* being filled, not yet posted */
	struct wchunk **chunks; /* chunks written by this open, by index */
	size_t nchunks, cap;
	uint64_t known; /* chunks the file has: at open, plus those allocated since */
	int streaming;	/* a full piece went out: give new pieces their full size at once */
	int meta_gone;	/* an allocation gave up on an unreachable metaserver */
	int adopted;	/* chunk 0 came with the open: the release trims past the size */
	/* lock-protected: */
	TAILQ_HEAD(, piece) pieces; /* posted and not acknowledged, in posting order */
	unsigned inflight;	    /* posted and not completed */
	unsigned nfailed;	    /* failed, waiting to be resent */
	uint64_t acked_size;	    /* end of the furthest acknowledged write */
	int err;		    /* the first error that stands (sticky) */
	char why[CLIENT_WHY_MAX];
};

struct file_read {
	/* user thread: */
	struct file_rloc *locs; /* by chunk index */
	size_t nlocs;
	TAILQ_HEAD(file_rwindow, rblock) window; /* reads issued and not consumed, by start */
	unsigned nwindow;
	uint64_t next; /* where a sequential reader reads next */
};

struct cairn_file {
	struct cairn *c;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	char *path;
	uint64_t id;
	uint64_t chunk_size;
	int flags;
	uint64_t pos;  /* the file position */
	uint64_t size; /* as this open sees it: at open, grown by its writes */
	uint64_t lease_id, lease_ms;
	struct event *lease_ev; /* renews the lease (loop thread) */
	struct cjob lease_job;	/* a renewal, on the background thread while lease_busy */
	/* lock-protected: */
	int refs;
	int closed;	/* cairn_close() ran: calls completing now free themselves */
	int lease_busy; /* a renewal is in flight */
	struct file_write w;
	struct file_read r;
};

/* ---- file.c ---- */

int file_readable(const struct cairn_file *f);
int file_writable(const struct cairn_file *f);

/* Takes a reference for a call about to be posted. Any thread. */
void file_ref(struct cairn_file *f);

/* Drops a reference; the last frees f. Any thread, f->lock not held. */
void file_unref(struct cairn_file *f);

/* Records the words of f's standing write error as the calling thread's last error. */
void file_set_last_error(struct cairn_file *f);

/* The monotonic time (ms) by which a call started now must end. */
uint64_t file_deadline(const struct cairn_file *f);

/*
 * Waits on f->cond (f->lock held) until signalled or the monotonic time
 * until_ms. Returns 0, or -ETIMEDOUT once until_ms has passed.
 */
int file_wait(struct cairn_file *f, uint64_t until_ms);

/*
 * Tells the metaserver, in the background, that replica of chunk_id
 * failed with err (a checksum mismatch, a stale version, unreachable).
 * Fire and forget. Any thread.
 */
void file_report_bad(struct cairn *c, uint64_t chunk_id, const char *replica, int err);

/* ---- write.c ---- */

/*
 * Posts what is buffered, waits until every write is acknowledged
 * (resending over new chains what failed, see write.c) and returns 0 or
 * the first error that stands, with its words in f->w.why. User thread.
 */
int write_flush(struct cairn_file *f);

/* write_flush(), then makes every chunk written since the last call durable on its chain. */
int write_sync(struct cairn_file *f);

/*
 * The location this open writes chunk index to (the writer's own version
 * and chain), borrowed until the next write call; NULL when this open has
 * not written it. User thread.
 */
struct loc *write_loc(struct cairn_file *f, uint64_t index);

/*
 * Records chunk 0, which open allocated (loc: taken over), as this open's
 * first chunk, fresh; epoch is client_meta_epoch() from before the open.
 * Returns 0 or -ENOMEM (loc dropped). User thread.
 */
int write_adopt(struct cairn_file *f, struct loc *loc, uint64_t epoch);

/* Frees the write state at close (after f->closed is set). User thread. */
void write_free(struct cairn_file *f);

/* ---- read.c ---- */

/*
 * Caches the locations of the file's first chunks that open answered
 * (locs, n: borrowed; references taken). Returns 0 or -ENOMEM. User thread.
 */
int read_adopt(struct cairn_file *f, struct loc **locs, size_t n);

/* Drops the read-ahead window: a write changed the file. User thread. */
void read_forget(struct cairn_file *f);

/* Drops the read-ahead window and the location cache at close. User thread. */
void read_free(struct cairn_file *f);

#endif
