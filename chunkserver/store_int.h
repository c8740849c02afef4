/*
 * store_int: the store's internals, shared by store.c (the loop side: index,
 * submission, completions), store_io.c (the worker threads' ops) and
 * store_scan.c (the start-up scan and torn-write repair). Not for users of
 * the store.
 *
 * Thread ownership, the one rule everything here follows:
 *  - struct store, struct store_chunk and the loop-side fields of struct
 *    store_dir belong to the loop thread;
 *  - the worker-side fields of a store_dir (file descriptors, handle cache,
 *    buffers) belong to that dir's worker;
 *  - an op belongs to whoever holds it: the loop until it is queued, the
 *    worker until it is pushed to the done list, the loop again after;
 *  - the queue, the done list and the scan hand-off are under mutexes;
 *    used, fs_avail and failed are atomics, written by the worker (and by
 *    store_open() before any op), read by the loop.
 */
#ifndef CAIRN_STORE_INT_H
#define CAIRN_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <event2/buffer.h>

#include "chunkfile.h"
#include "store.h"

/* Replica files kept open per dir. */
#define STORE_HANDLES	     256
#define STORE_HANDLE_BUCKETS 512
/* Largest single pread of a read op, and the scrub/repair buffer. */
#define STORE_EXTENT	    (4u << 20)
#define STORE_READ_STEP	    (256u << 10) /* bytes read and verified at a time: still in cache */
#define STORE_WRITEBACK_MIN (1u << 20)	 /* writes this big start their writeback at once */
#define STORE_SCRUB_BUF	    (1u << 20)
/* How often a worker re-checks that its dir is still there (ms). */
#define STORE_CHECK_MS 100

enum store_op_kind {
	STORE_OP_CREATE,
	STORE_OP_WRITE,
	STORE_OP_SYNC,
	STORE_OP_READ,
	STORE_OP_SETVER,
	STORE_OP_REMOVE,
	STORE_OP_SCRUB,
	STORE_OP_CHECK, /* no chunk: is the dir still there? */
	STORE_OP_CRCS,	/* a range's block CRCs, from the header */
};

struct store_op {
	struct store_op *next;
	enum store_op_kind kind;
	uint64_t chunk_id;
	uint64_t offset;
	uint64_t len;
	uint64_t version; /* create, set_version; result of the others */
	uint64_t file_id;
	struct evbuffer *buf; /* write: the data; read: the result */
	uint32_t *crcs;	      /* write: the data's block CRCs, if known; read: the result's */
	size_t ncrcs;
	store_done_fn cb;
	store_read_fn rcb; /* a read's callback when it wants the CRCs */
	void *arg;
	struct store_chunk *chunk; /* holds a reference; the worker reads only create_failed */
	struct store_dir *dir;
	/* Results, set by the worker. */
	int err;
	int corrupt;	 /* a block failed its CRC */
	int lost;	 /* the replica's file vanished while its dir is fine */
	int have_result; /* length, version and open are set */
	int open;	 /* header state after the op */
	uint64_t length;
	int after_create; /* submitted while its chunk's create was in flight */
};

/* An index entry (loop thread). */
struct store_chunk {
	struct store_chunk *hnext;
	struct store_chunk_info info;
	int refs;     /* the index's (while linked) and each op's */
	int linked;   /* in the index */
	int creating; /* create in flight: later ops queue behind it (after_create) */
	int create_failed; /* the dir worker's: that create failed, so do the ops behind it */
};

/* An open replica file on a worker: the fd and the current header. */
struct store_handle {
	struct store_handle *hnext;
	struct store_handle *prev, *next; /* LRU, most recent first */
	int fd;
	int dirty; /* h differs from the newest header on disk */
	int fresh; /* created OPEN by this worker, never synced: file and name not durable */
	struct chunkfile_header h;
};

/* A replica found by the scan. */
struct store_found {
	uint64_t chunk_id;
	uint64_t version;
	uint64_t file_id;
	uint64_t length;
};

struct store_dir {
	struct store *s;
	int index;
	char *path;
	uint64_t capacity; /* set by store_open() before any op */
	_Atomic uint64_t used;
	_Atomic uint64_t fs_avail;
	atomic_int failed;

	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct store_op *qhead, **qtail; /* under mu */
	int stop;			 /* under mu */
	int scanned;			 /* under mu */

	/* Loop side. */
	uint64_t nchunks;
	int failed_seen; /* its chunks were reported lost */

	/* Worker side. */
	int root_fd;
	dev_t dev;
	ino_t ino;
	uint64_t last_check_ms;
	struct store_handle *buckets[STORE_HANDLE_BUCKETS];
	struct store_handle *lru_head, *lru_tail;
	int nhandles;
	uint8_t *scratch;  /* 2 blocks: header region, read-modify-write */
	uint8_t *bigbuf;   /* STORE_SCRUB_BUF, allocated on first use */
	uint32_t *crcs;	   /* new CRCs of a write, CHUNKFILE_MAX_BLOCKS */
	uint8_t *hdrbuf;   /* one encoded slot */
	struct iovec *iov; /* a write's data, for pwritev */
	struct evbuffer_iovec *eviov;
	int iov_cap;

	/* Scan results, read by store_open() once scanned is set. */
	struct store_found *found;
	size_t nfound, found_cap;
	char *scan_error; /* the dir is unusable */
};

struct store {
	struct event_base *base;
	struct event *done_ev;
	int efd;
	pthread_mutex_t done_mu;
	struct store_op *done_head, **done_tail; /* under done_mu */
	struct store_dir *dirs;
	int ndirs;
	struct store_chunk **buckets;
	size_t nbuckets;
	size_t nchunks;
	store_lost_fn lost;
	void *lost_arg;
	uint64_t inflight; /* ops submitted and not yet called back */
	int closing;
};

/* store.c: hands a finished op back to the loop. Any thread. */
void store_done_push(struct store *s, struct store_op *op);

/* store_io.c: a dir's worker thread (scans, then serves its queue). */
void *store_worker_main(void *arg);

/* store_io.c: worker-side file helpers, also used by the scan. */
ssize_t store_pread_full(int fd, void *buf, size_t len, uint64_t off);
int store_write_header(struct store_dir *d, int fd, const struct chunkfile_header *h);

/*
 * store_scan.c: scans d's replicas into d->found (worker, at start). Sets
 * d->scan_error and d->failed when the dir is unusable.
 */
void store_scan_dir(struct store_dir *d);

/*
 * store_scan.c: moves the replica file at relpath (under d) to corrupt/,
 * logging why. Worker, or store_open() while the workers are idle.
 */
void store_move_aside(struct store_dir *d, const char *relpath, const char *why);

#endif
