/*
 * cairn.h: the public C API of libcairn, the cairn client library.
 *
 * A client handle (cairn_t) holds a few connections to the metaserver
 * (its calls are made on the calling thread) and one to each chunkserver
 * it has talked to, run by a background thread that the library owns. A
 * handle is thread-safe: many threads may share one and their calls are
 * in flight together. An open file (cairn_file_t) is used by one thread at
 * a time.
 *
 * Errors: every call returns 0 (or a count) on success and a negative
 * error on failure: a negative errno (-ENOENT, -EEXIST, -ENOTDIR, ...) or a
 * negative cairn code (-CAIRN_EUNAVAIL, ...) from the list below. Describe
 * either with cairn_strerror(). The library never prints, never exits and
 * never raises a signal in its host.
 *
 * Time bounds: nothing blocks forever. Each call is bounded by the handle's
 * timeout (struct cairn_options.timeout_ms, default 60 s). While the
 * metaserver is unreachable, or the connection is lost mid-call, a call
 * retries with back-off (50 ms doubling to 1 s) until that deadline, then
 * fails with -CAIRN_EUNAVAIL (the metaserver could not be reached, or
 * stayed unreachable after the connection was lost) or -ETIMEDOUT (it is
 * connected and has answered before, but did not answer this in time).
 * Then cairn_last_error() says "metaserver ADDR unavailable (gave up after
 * 2s)" (or "did not answer"), and cairn_meta_gave_up() is 1.
 *
 * Several metaservers: every address argument takes a comma-separated
 * list ("h1:20000,h2:20000"). A call moves to the next member when the one
 * it asks cannot be reached, and to the leader a member names when told
 * "not the leader" (a replicated metaserver group).
 *
 * Retried mutations: a mutation (mkdir, create, rename, remove, set*) whose
 * connection is lost before its reply arrives is sent again. If the first
 * attempt did reach the metaserver, the retry reports what it finds:
 * -EEXIST for a mkdir or exclusive create, -ENOENT for a remove or rename,
 * although the operation did happen. (Idempotency tokens are future work.)
 *
 * Paths are absolute ("/a/b"); repeated and trailing slashes are ignored;
 * "." and ".." components are refused (-EINVAL).
 *
 * Data path: the library talks to the chunkservers itself, over one
 * connection per chunkserver per handle, on the handle's thread. Payload
 * bytes are copied once on the way in (from the caller's buffer) and once
 * on the way out (into it). Chunkserver failures are handled inside: a
 * read moves to another replica, a write asks for a new chain (see
 * cairn_write()); what reaches the caller is correct bytes or an error,
 * with the chunkserver's words in cairn_last_error().
 *
 * Logging: silent unless $CAIRN_LOG is "debug", "info", "warn" or "error"
 * when the first handle is made; then the library logs to stderr.
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_API __attribute__((visibility("default")))

/* A client handle. Opaque. */
typedef struct cairn cairn_t;
/* An open file. Opaque. */
typedef struct cairn_file cairn_file_t;
/* A directory being listed. Opaque. */
typedef struct cairn_dir cairn_dir_t;

/*
 * cairn's own error codes (returned negated), beyond errno. The numbers
 * are fixed and are the same inside cairn (common/errors.h, which defines
 * these names when it is included first).
 */
#ifndef CAIRN_ERRORS_H
enum {
	CAIRN_EBASE = 1000,
	CAIRN_ECHECKSUM = 1000, /* data failed its CRC32C */
	CAIRN_ESTALE = 1001,	/* replica or chunk version is stale */
	CAIRN_ELEASE = 1002,	/* lease held by another client or lost */
	CAIRN_EPROTO = 1003,	/* malformed or unexpected message */
	CAIRN_EUNAVAIL = 1004,	/* server unreachable */
	CAIRN_EINTERNAL = 1005, /* a bug or inconsistency on the server */
	CAIRN_ENOTLEADER = 1006, /* not the metaserver leader (the client moves on) */
	CAIRN_ELAST = 1007,
};
#endif

/*
 * A short description of a negative error code (or 0); never NULL.
 * Borrowed, static. Any thread.
 */
CAIRN_API const char *cairn_strerror(int err);

/*
 * The metaserver's own words about the calling thread's last failed call
 * on c, or "" when it gave none (or that call succeeded, or was made on
 * another handle). Borrowed; valid until this thread's next call into the
 * library. Most callers need only the code and cairn_strerror().
 */
CAIRN_API const char *cairn_last_error(cairn_t *c);

/*
 * 1 when the calling thread's last call on c failed because the metaserver
 * could not be reached or did not answer within the handle's timeout (the
 * last error is then libcairn's "metaserver ADDR unavailable (gave up after
 * Ns)"), else 0. Front ends use it to stop at once instead of trying the
 * next argument.
 */
CAIRN_API int cairn_meta_gave_up(cairn_t *c);

/* ---- handles -------------------------------------------------------- */

/* libcairn's defaults (front ends pass 0 or NULL to get them): the metaserver and the timeout. */
#define CAIRN_DEFAULT_META	"127.0.0.1:20000"
#define CAIRN_DEFAULT_TIMEOUT_S 60

/*
 * Options for cairn_connect(). Zero-initialise, then set what you need:
 * a zero field means its default.
 */
struct cairn_options {
	uint64_t timeout_ms;  /* bound on every call, retries included; 0: the default, 60 s */
	uint32_t replication; /* for files made with replication 0; 0: the metaserver's */
	uint32_t reserved[13];
};

/*
 * Makes a client handle for the metaserver at meta_addr ("HOST:PORT", or a
 * comma-separated list of them; NULL: $CAIRN_META, else "127.0.0.1:20000").
 * opt may be NULL (defaults).
 * Does not contact the metaserver: the first call connects, and waits for
 * the connection within its time bound (cairn_ping() checks early).
 * Returns 0 and a new *out (free with cairn_disconnect()), -EINVAL for a
 * malformed address, or -ENOMEM. Any thread.
 */
CAIRN_API int cairn_connect(const char *meta_addr, const struct cairn_options *opt, cairn_t **out);

/*
 * Closes the connection, stops the handle's thread and frees c. No call on
 * c (or on its files and directories) may be in progress or follow; open
 * files must be closed first. cairn_disconnect(NULL) is a no-op.
 */
CAIRN_API void cairn_disconnect(cairn_t *c);

/* The metaserver address (list) as given. Borrowed; valid until cairn_disconnect(). */
CAIRN_API const char *cairn_meta_addr(cairn_t *c);

/*
 * Told while a metaserver call waits for an unreachable metaserver (or for
 * a leader): after each failed attempt, before the pause, with addr (the
 * address list as given), the time waited so far and the call's time
 * bound (done 0); then once with done 1 when that call ends, either way.
 * Called on the calling thread, from inside the waiting call: it must not
 * call into the library.
 */
typedef void (*cairn_wait_fn)(void *arg, const char *addr, uint64_t waited_ms, uint64_t timeout_ms,
			      int done);

/*
 * Sets (fn NULL: clears) c's wait notice; fn gets arg. Set it before c is
 * shared between threads (it is then called on each waiting thread).
 */
CAIRN_API void cairn_set_wait_notice(cairn_t *c, cairn_wait_fn fn, void *arg);

/* The handle's per-call bound in milliseconds. */
CAIRN_API uint64_t cairn_timeout_ms(cairn_t *c);

/* One round trip to the metaserver. Returns 0 or a negative error. */
CAIRN_API int cairn_ping(cairn_t *c);

/* ---- namespace ------------------------------------------------------ */

enum cairn_type {
	CAIRN_DIR = 1,
	CAIRN_FILE = 2,
	CAIRN_SYMLINK = 3, /* a symbolic link: cairn_readlink() reads it; size is its length */
};

/* Attributes of a file or directory. Times are microseconds since the epoch. */
struct cairn_stat {
	uint64_t id;   /* inode number, never reused */
	int type;      /* enum cairn_type */
	uint32_t mode; /* permission bits (07777) */
	uint32_t uid;
	uint32_t gid;
	uint64_t size;	      /* bytes (files) */
	uint32_t replication; /* target replicas per chunk (files) */
	uint64_t nchunks;     /* chunks (files) */
	uint64_t nentries;    /* entries (directories) */
	int64_t atime_us;
	int64_t mtime_us;
	int64_t ctime_us;
	uint64_t chunk_size; /* bytes per chunk (files), fixed at create; 0 from an older server */
};

/* Fills *st with path's attributes. Returns 0 or a negative error (-ENOENT, ...). */
CAIRN_API int cairn_stat(cairn_t *c, const char *path, struct cairn_stat *st);

/*
 * Makes directory path (mode 0: 0755); its parent must exist. Returns 0,
 * -EEXIST, -ENOENT, -ENOTDIR or another negative error.
 */
CAIRN_API int cairn_mkdir(cairn_t *c, const char *path, uint32_t mode);

/*
 * Makes directory path and any missing ancestors (mode 0: 0755). An
 * existing directory is success; an existing file is -EEXIST.
 */
CAIRN_API int cairn_mkdirs(cairn_t *c, const char *path, uint32_t mode);

/*
 * Makes an empty file (mode 0: 0644; replication 0: the handle's
 * cairn_options.replication, else the metaserver's default). Without excl an existing file is left
 * as it is (success); with excl it is -EEXIST. Returns 0 or a negative error.
 */
CAIRN_API int cairn_create(cairn_t *c, const char *path, uint32_t mode, uint32_t replication,
			   int excl);

/*
 * Removes a file or an empty directory; a non-empty directory needs
 * recursive (else -ENOTEMPTY). The root cannot be removed (-EBUSY).
 */
CAIRN_API int cairn_remove(cairn_t *c, const char *path, int recursive);

/*
 * Renames src to dst atomically, also across directories. An existing
 * file at dst is replaced, as is an empty directory when src is a
 * directory. Moving a directory under itself is -EINVAL.
 */
CAIRN_API int cairn_rename(cairn_t *c, const char *src, const char *dst);

#define CAIRN_RENAME_NOREPLACE 0x1 /* fail with -EEXIST when dst exists */

/*
 * As cairn_rename(), with flags: 0 or CAIRN_RENAME_NOREPLACE, which checks
 * that dst does not exist atomically with the rename (an unknown flag:
 * -EINVAL).
 */
CAIRN_API int cairn_rename2(cairn_t *c, const char *src, const char *dst, int flags);

/*
 * Fills buf with the hidden temporary path a copy to path writes before
 * renaming it over path: "/d/NAME" gives "/d/.NAME.<16 random hex
 * digits>._COPYING_" (a long NAME is shortened to fit). When the write
 * lease of a file so named expires (its writer died before closing it),
 * the metaserver removes it; so it does after a restart for those whose
 * writer does not return within the lease period. `cairn put` and
 * Python's put copy this way: write the temporary (CAIRN_O_CREAT |
 * CAIRN_O_EXCL), cairn_close() it, then cairn_rename2() it over path.
 * Returns 0, -EINVAL (path is not absolute or names no file), or
 * -ENAMETOOLONG (size is too small; 4097 bytes always suffice).
 */
CAIRN_API int cairn_temp_path(const char *path, char *buf, size_t size);

/* Sets a file's target replication (1..16). Returns 0 or a negative error. */
CAIRN_API int cairn_set_replication(cairn_t *c, const char *path, uint32_t replication);

/*
 * Sets a file's size, as truncate(2): a shorter size drops the bytes past
 * it (one metaserver call; the chunks wholly past it are freed), a larger
 * one appends zeros (written through this client). Refused while another
 * client writes the file (-CAIRN_ELEASE). Returns 0 or a negative error
 * (-EISDIR for a directory).
 */
CAIRN_API int cairn_truncate(cairn_t *c, const char *path, uint64_t size);

/* Sets the permission bits (mode & 07777). */
CAIRN_API int cairn_chmod(cairn_t *c, const char *path, uint32_t mode);

/* Sets the owner; CAIRN_ID_OMIT leaves uid or gid as it is. */
#define CAIRN_ID_OMIT ((uint32_t)-1)
CAIRN_API int cairn_chown(cairn_t *c, const char *path, uint32_t uid, uint32_t gid);

/* Sets access and modification times (µs); CAIRN_TIME_OMIT leaves one as it is. */
#define CAIRN_TIME_OMIT INT64_MIN
CAIRN_API int cairn_utimes(cairn_t *c, const char *path, int64_t atime_us, int64_t mtime_us);

/*
 * Makes a symbolic link at path holding target (1..4096 bytes, stored as
 * given: the metaserver never follows links; the FUSE mount's kernel does).
 * Opening a link is -ELOOP. Returns 0, -EEXIST, -ENOENT (a missing parent,
 * or an empty target), -ENAMETOOLONG or another negative error
 * (client/link.c).
 */
CAIRN_API int cairn_symlink(cairn_t *c, const char *target, const char *path);

/*
 * Copies the target of the symbolic link at path into buf (NUL-terminated
 * when it fits, like readlink(2) otherwise: cut at size). Returns the
 * target's length, -EINVAL when path is not a link, or a negative error.
 */
CAIRN_API ssize_t cairn_readlink(cairn_t *c, const char *path, char *buf, size_t size);

/*
 * Extended attributes, kept by the metaserver (client/xattr.c). Names start
 * with "user." (another namespace is -ENOTSUP) and are at most
 * CAIRN_XATTR_NAME_MAX bytes; a value is at most CAIRN_XATTR_SIZE_MAX bytes,
 * and one inode's names and values together at most that too (else
 * -E2BIG). cairn_setxattr() flags: 0, CAIRN_XATTR_CREATE (-EEXIST when it
 * is set) or CAIRN_XATTR_REPLACE (-ENODATA when it is not).
 * cairn_getxattr() copies the value into buf and cairn_listxattr() the
 * names, each NUL-terminated, one after the other; both return the length
 * (size 0: only the length), -ERANGE when size is too small, -ENODATA for
 * an attribute not set, or another negative error.
 */
#define CAIRN_XATTR_CREATE   0x1
#define CAIRN_XATTR_REPLACE  0x2
#define CAIRN_XATTR_NAME_MAX 255
#define CAIRN_XATTR_SIZE_MAX 65536
CAIRN_API int cairn_setxattr(cairn_t *c, const char *path, const char *name, const void *value,
			     size_t size, int flags);
CAIRN_API ssize_t cairn_getxattr(cairn_t *c, const char *path, const char *name, void *buf,
				 size_t size);
CAIRN_API ssize_t cairn_listxattr(cairn_t *c, const char *path, char *buf, size_t size);
CAIRN_API int cairn_removexattr(cairn_t *c, const char *path, const char *name);

/* One directory entry. */
struct cairn_dirent {
	const char
	    *name; /* borrowed; valid until the next cairn_readdir_next() or cairn_closedir() */
	struct cairn_stat st;
};

/*
 * Starts listing directory path. The listing is fetched in pages as it is
 * read, in name order; each entry present for the whole listing is
 * returned exactly once, and entries added or removed meanwhile may or may
 * not appear. Returns 0 and a new *out (free with cairn_closedir()), or a
 * negative error (-ENOENT, -ENOTDIR, ...). One thread at a time per
 * cairn_dir_t.
 */
CAIRN_API int cairn_opendir(cairn_t *c, const char *path, cairn_dir_t **out);

/*
 * Fills *ent with the next entry. Returns 1 for an entry, 0 at the end of
 * the directory, or a negative error (for example -ENOENT when the
 * directory was removed while being listed).
 */
CAIRN_API int cairn_readdir_next(cairn_dir_t *d, struct cairn_dirent *ent);

/* Ends a listing. cairn_closedir(NULL) is a no-op. */
CAIRN_API void cairn_closedir(cairn_dir_t *d);

/* ---- data path ------------------------------------------------------ */

#define CAIRN_O_RDONLY 0x0000
#define CAIRN_O_WRONLY 0x0001
#define CAIRN_O_RDWR   0x0002
#define CAIRN_O_CREAT  0x0100 /* create the file if missing */
#define CAIRN_O_EXCL   0x0200 /* with CREAT: fail with -EEXIST if it exists */
#define CAIRN_O_TRUNC  0x0400 /* cut to length 0 (a writer only) */
#define CAIRN_O_APPEND 0x0800 /* every write goes to the end */

/*
 * Opens path. flags: one of CAIRN_O_RDONLY, _WRONLY, _RDWR, or'ed with
 * _CREAT, _EXCL (only with _CREAT), _TRUNC (only for writing), _APPEND;
 * anything else is -EINVAL. mode applies when the file is made (0: 0644);
 * a file made here gets the handle's cairn_options.replication (0: the
 * metaserver's default). A directory is -EISDIR.
 *
 * A writer holds the file's write lease until close (one writer per file:
 * another gets -CAIRN_ELEASE, readers are not affected); the library
 * renews it in the background every third of its length. Close-to-open
 * consistency: an open sees the data and size of every close that
 * returned before it, and reads stop at the size the file had at open
 * (for a writer: its own size, including its unflushed writes). As with
 * other retried mutations, an open for writing whose reply was lost may
 * be retried and then meet its own lease: -CAIRN_ELEASE until the lease
 * expires. A metaserver restart costs a writer nothing: its lease is
 * reclaimed (a grace period as long as a lease), while new writers of
 * files that existed before the restart wait for the grace to end, within
 * the handle's timeout (then -EAGAIN). Returns 0 and a new *out (free with
 * cairn_close()) or a negative error. Any thread; the file is then used by
 * one thread at a time. The first open in a process raises glibc's malloc
 * mmap and trim thresholds (4 and 32 MiB: payload buffers then reuse warm
 * pages), unless GLIBC_TUNABLES or MALLOC_*_THRESHOLD_ set them.
 */
CAIRN_API int cairn_open(cairn_t *c, const char *path, int flags, uint32_t mode,
			 cairn_file_t **out);

/* The chunk sizes a file may have: powers of two in this range. */
#define CAIRN_CHUNK_SIZE_MIN (1ull << 20)
#define CAIRN_CHUNK_SIZE_MAX (256ull << 20)

/*
 * Options of one open (cairn_open_opts): zero the struct, then set what
 * differs from cairn_open()'s behaviour.
 */
struct cairn_open_options {
	/*
	 * A file made by this open gets this chunk size, fixed for its life (a
	 * power of two, CAIRN_CHUNK_SIZE_MIN..MAX; anything else is -EINVAL);
	 * 0: the metaserver's default. An existing file keeps its own.
	 */
	uint64_t chunk_size;
	/* A file made by this open gets this replication (1..16); 0: the handle's. */
	uint32_t replication;
};

/* As cairn_open(), with opt (NULL: as cairn_open()). */
CAIRN_API int cairn_open_opts(cairn_t *c, const char *path, int flags, uint32_t mode,
			      const struct cairn_open_options *opt, cairn_file_t **out);

/*
 * Writes out what is buffered, waits until every replica acknowledged it,
 * then releases the lease, committing the file's size (after a failed
 * write: the size acknowledged so far), and frees f. Returns 0 or the
 * first error of a write not yet reported (f is freed either way; the
 * lease is released either way). cairn_close(NULL) returns 0.
 */
CAIRN_API int cairn_close(cairn_file_t *f);

/*
 * Reads up to n bytes at the file position (cairn_read) or at off
 * (cairn_pread, position unchanged). Returns the number read (short only
 * at the end of the file; 0 there) or a negative error. Ranges never
 * written read as zeros. Replica failures and checksum mismatches are
 * handled inside: the caller sees correct bytes, or an error once every
 * replica of a chunk failed (then the bytes before it are returned
 * first). A sequential reader (each read starting where the last ended)
 * gets read-ahead: several reads of up to 1 MiB in flight. On a file open
 * for writing, a read first waits for the file's writes to be
 * acknowledged, and sees them. -EBADF on a file open write-only.
 */
CAIRN_API ssize_t cairn_read(cairn_file_t *f, void *buf, size_t n);
CAIRN_API ssize_t cairn_pread(cairn_file_t *f, void *buf, size_t n, uint64_t off);

/*
 * Writes n bytes at the file position (cairn_write; at the end with
 * CAIRN_O_APPEND) or at off (cairn_pwrite, position unchanged). The bytes
 * are copied into the file's buffers and sent down each chunk's chain of
 * replicas in pieces of up to 1 MiB, several in flight; the call returns
 * once they are buffered, waiting only while the file has its maximum in
 * flight. A write that starts past the end of the file first writes zeros
 * up to its start (holes take space). If a chunkserver in a chain fails,
 * the library asks the metaserver for a new chain of the chunk's live
 * replicas (a new version) and resends what was not acknowledged; an
 * error that persists is reported by this or a later write, by
 * cairn_fsync() or by cairn_close(), and every later call on f returns it.
 * Returns n or a negative error (-EBADF on a file open read-only, -EFBIG
 * past 2^62 bytes).
 */
CAIRN_API ssize_t cairn_write(cairn_file_t *f, const void *buf, size_t n);
CAIRN_API ssize_t cairn_pwrite(cairn_file_t *f, const void *buf, size_t n, uint64_t off);

/*
 * Moves the file position (SEEK_SET, SEEK_CUR, SEEK_END: from the size as
 * this open sees it). Past the end is allowed. Returns the new position,
 * or -EINVAL for a bad whence or a position below 0.
 */
CAIRN_API int64_t cairn_seek(cairn_file_t *f, int64_t off, int whence);

/*
 * Returns once everything written so far is acknowledged by every replica
 * and durable there (SyncReq down each chunk's chain), and the file's
 * size is committed at the metaserver, so that opens from now on see it.
 * 0 on a file open read-only.
 */
CAIRN_API int cairn_fsync(cairn_file_t *f);

/* Where one chunk of a file lives. */
struct cairn_chunk_loc {
	uint64_t index;	 /* chunk number in the file */
	uint64_t offset; /* of the chunk's first byte in the file */
	uint64_t length; /* bytes of the file in this chunk */
	uint64_t chunk_id;
	uint64_t version;
	size_t nreplicas;
	char **replicas; /* "HOST:PORT" of the chunkservers holding it */
};

/*
 * Lists the chunks of path that overlap [off, off + len) (len 0: to the
 * end), for scheduling work near the data, in index order, within the
 * size of the file's last close. Replicas come best first (least loaded).
 * Returns 0 with a new array in *out of *n entries (free with
 * cairn_chunk_locations_free()), or a negative error (-EISDIR for a
 * directory).
 */
CAIRN_API int cairn_chunk_locations(cairn_t *c, const char *path, uint64_t off, uint64_t len,
				    struct cairn_chunk_loc **out, size_t *n);
CAIRN_API void cairn_chunk_locations_free(struct cairn_chunk_loc *locs, size_t n);

/*
 * The CRC32C of path's bytes (as it was at its last close) in *crc, and
 * its size in *size (may be NULL), computed from the CRCs the
 * chunkservers store for every 64 KiB block and combined, so no data is
 * read (but for a block a truncate cut in the middle): equal to the
 * CRC32C of the same bytes computed locally, for checking a copy without
 * reading it back. Returns 0 or a negative error (-EISDIR, -CAIRN_EUNAVAIL
 * when no replica of a chunk answered, -CAIRN_ESTALE when the file changed
 * meanwhile).
 */
CAIRN_API int cairn_checksum(cairn_t *c, const char *path, uint32_t *crc, uint64_t *size);

/* ---- admin: chunkservers and fsck (client/admin.c) ------------------- */

enum cairn_node_state {
	CAIRN_NODE_UP = 0,
	CAIRN_NODE_DEAD = 1, /* silent past the metaserver's --dead-after */
	CAIRN_NODE_DECOMMISSIONING = 2,
	CAIRN_NODE_DECOMMISSIONED = 3,
};

/* One chunkserver as the metaserver sees it. */
struct cairn_node {
	char *addr; /* "HOST:PORT" */
	char *rack; /* "" when unknown */
	int state;  /* enum cairn_node_state */
	uint64_t used;
	uint64_t capacity;
	uint64_t chunks;	/* replicas the metaserver records on it */
	uint64_t last_heard_ms; /* since its last heartbeat or registration */
	uint32_t load;		/* calls in progress, as last reported */
};

/*
 * Lists every chunkserver the metaserver has known since it started, in
 * the order they first registered. Returns 0 with a new array in *out of
 * *n entries (free with cairn_admin_nodes_free()), or a negative error.
 */
CAIRN_API int cairn_admin_nodes(cairn_t *c, struct cairn_node **out, size_t *n);
CAIRN_API void cairn_admin_nodes_free(struct cairn_node *nodes, size_t n);

/* "up", "dead", "decommissioning", "decommissioned" (or "?"). Borrowed, static. */
CAIRN_API const char *cairn_node_state_name(int state);

enum cairn_fsck_status {
	CAIRN_FSCK_HEALTHY = 0,
	CAIRN_FSCK_DEGRADED = 1, /* every chunk readable, some below target */
	CAIRN_FSCK_CORRUPT = 2,	 /* some chunk has no good replica */
};

enum cairn_fsck_kind {
	CAIRN_FSCK_UNDER_REPLICATED = 0, /* fewer live replicas than the file's replication */
	CAIRN_FSCK_MISSING = 1,		 /* no live replica */
	CAIRN_FSCK_BAD_REPLICA = 2,	 /* a replica found corrupt, not yet re-made */
	CAIRN_FSCK_STALE = 3,		 /* a stale-version replica not yet deleted */
	CAIRN_FSCK_HELD = 4,		 /* a replica held, not deleted (node, version, why set) */
};

/* One chunk with a problem. */
struct cairn_fsck_problem {
	char *path;
	uint64_t chunk_id;
	uint64_t index; /* the chunk's number in the file */
	int kind;	/* enum cairn_fsck_kind */
	char *node;	/* held: the chunkserver holding it ("" otherwise) */
	uint64_t version; /* held: the replica's version */
	char *why;	/* held: why it is held ("" otherwise) */
};

/* What fsck found under a path: totals over every chunk, and the problems. */
struct cairn_fsck {
	int status; /* enum cairn_fsck_status */
	uint64_t files;
	uint64_t chunks;
	uint64_t under_replicated;
	uint64_t missing;
	uint64_t corrupt;
	uint64_t stale;
	size_t nproblems;
	struct cairn_fsck_problem *problems;
	int more; /* more problems than the metaserver sends in one reply were left out */
	uint64_t held; /* replicas held, not deleted: unknown to the namespace or newer than it */
};

/*
 * Checks every chunk of the files under path (a file or a directory;
 * NULL: "/") as the metaserver knows them now. Returns 0 with a new
 * *out (free with cairn_admin_fsck_free()), or a negative error
 * (-ENOENT for a missing path).
 */
CAIRN_API int cairn_admin_fsck(cairn_t *c, const char *path, struct cairn_fsck **out);
CAIRN_API void cairn_admin_fsck_free(struct cairn_fsck *report);

/*
 * Deletes every held replica now (chunks unknown to the namespace,
 * versions it never granted), on an operator's explicit choice: see
 * `cairn admin release-held`. *released gets how many. Returns 0 or a
 * negative error.
 */
CAIRN_API int cairn_admin_release_held(cairn_t *c, uint64_t *released);

/* "HEALTHY", "DEGRADED", "CORRUPT" (or "?"). Borrowed, static. */
CAIRN_API const char *cairn_fsck_status_name(int status);
/* "under_replicated", "missing", "corrupt", "stale", "held" (or "?"). Borrowed, static. */
CAIRN_API const char *cairn_fsck_kind_name(int kind);

/* ---- admin: rebalance and decommission (client/admin.c) ------------- */

/* The rebalancer as the metaserver saw it at its last planner scan. */
struct cairn_rebalance {
	uint32_t threshold;	  /* percentage points, in effect */
	double mean;		  /* mean utilisation of the nodes that count, percent */
	double spread;		  /* largest distance of one from the mean, points */
	uint64_t chunks_moved;	  /* moves completed since the metaserver started */
	uint64_t bytes_moved;
	uint64_t moves_in_flight;
	uint64_t scan;		  /* scans done so far */
	uint64_t first_scan;	  /* the first scan that sees this request */
	int balanced;		  /* within threshold and nothing moving (trust once scan >= */
				  /* the first request's first_scan) */
	int blocked;		  /* out of balance, yet no chunk can move */
	uint32_t nodes;		  /* nodes that count: live, not decommissioning */
};

/*
 * Starts a rebalance (or keeps one going) to within threshold percentage
 * points of the mean utilisation (1..100; 0: the metaserver's
 * --rebalance-threshold), or with query only reports. Fills *out.
 * Returns 0 or a negative error (-EINVAL for a threshold out of range).
 */
CAIRN_API int cairn_admin_rebalance(cairn_t *c, uint32_t threshold, int query,
				    struct cairn_rebalance *out);

/*
 * Decommissions the chunkserver at addr ("HOST:PORT"): its replicas are
 * copied elsewhere while it keeps serving reads, and it gets no new ones;
 * cairn_admin_nodes() shows it decommissioning, then decommissioned.
 * cancel: takes it back into service. Returns 0, -ENOENT for an address
 * the metaserver does not know, or another negative error.
 */
CAIRN_API int cairn_admin_decommission(cairn_t *c, const char *addr, int cancel);

#ifdef __cplusplus
}
#endif

#endif
