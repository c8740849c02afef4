/*
 * checkpoint: the namespace as of one op-log seq, in one file, written
 * atomically and checked end to end when loaded (DESIGN §4).
 *
 * File <dir>/checkpoint.<seq, %020llu>:
 *
 *   header, CHECKPOINT_HEADER_SIZE bytes, big-endian:
 *     "CAIRNCKP" | u32 version | u64 seq | u64 inode count |
 *     u64 uncompressed body length | u64 next inode id |
 *     u64 next chunk id | u8[16] file-system id |
 *     u64 format chunk size (that of files whose records carry none) |
 *     u32 crc32c(uncompressed body) | u32 crc32c(the 80 bytes before it)
 *   body: one zstd frame holding, for every inode from ns_walk() (parents
 *     first, the root first), u32 len | a packed Cairn__Attr of len bytes
 *     (len at most CHECKPOINT_MAX_RECORD); a file's Attr carries its size
 *     and its chunks (Attr.chunks).
 *
 * Version 1 (still loaded) had no next chunk id: a 52-byte header with the
 * body CRC at 44 and the header CRC, of the 48 bytes before, at 48; the
 * next chunk id then comes from the chunks restored. Version 2 (still
 * loaded) had no id and no format chunk size: a 60-byte header with the
 * body CRC at 52 and the header CRC at 56; the namespace's id stays zeros
 * and its format chunk size 0 (the metaserver's identity file has them).
 * Files' Attrs carry their own chunk size from version 3 on (0 before:
 * the format chunk size).
 *
 * The body is compressed and decompressed as a stream: neither side holds
 * it whole. A checkpoint is written to "<name>.tmp", synced, renamed into
 * place and the directory synced; so a file with the final name is
 * complete unless the disk corrupted it, which the CRCs catch.
 *
 * Invariant: the newest two checkpoints are kept; older ones are removed
 * once a newer one is in place.
 */
#ifndef CAIRN_CHECKPOINT_H
#define CAIRN_CHECKPOINT_H

#include <stdint.h>
#include <sys/types.h>

#include "ns.h"

#define CHECKPOINT_MAGIC       "CAIRNCKP"
#define CHECKPOINT_VERSION     3u
#define CHECKPOINT_HEADER_SIZE 84u
#define CHECKPOINT_MAX_RECORD  (16u << 20) /* bytes of one packed Attr */

/*
 * Writes ns as the checkpoint for seq into dir (temp file, fsync, rename,
 * directory fsync), then removes the checkpoints older than the newest
 * one before it. Returns 0, or a negative error with a new *cause (free
 * with free()); a failed write leaves no file behind. Reads ns only; any
 * thread or a fork()ed child, while nothing mutates ns.
 */
int checkpoint_write(const char *dir, const struct ns *ns, uint64_t seq, char **cause);

/*
 * fork()s a child that writes the checkpoint for seq from its copy of ns
 * and _exit()s with 0 on success, 1 on failure (after a warning). The
 * parent may go on mutating ns at once. Returns the child's pid (reap it
 * with waitpid()), or a negative error. Loop thread.
 */
pid_t checkpoint_fork(const char *dir, const struct ns *ns, uint64_t seq);

/*
 * Loads the newest valid checkpoint of dir: *out gets a new namespace
 * (free with ns_free()) and *seq its seq. A checkpoint that fails any check
 * (header, CRCs, zstd, counts, an Attr ns_restore() refuses) gets a warning
 * and is left on disk, and the next older one is tried. Stale .tmp files
 * are removed. With no checkpoint at all: a new ns_new() and seq 0.
 * Returns 0; or, when checkpoints exist but none is valid (or on an I/O
 * error listing dir), a negative error with a new *cause (free with
 * free()). Start-up only.
 */
int checkpoint_load(const char *dir, struct ns **out, uint64_t *seq, char **cause);

/*
 * As checkpoint_load(), but only checkpoints with seq <= max_seq count,
 * and when none of them is valid it starts from an empty namespace (seq
 * 0) rather than failing: *newest gets the seq of the newest checkpoint
 * file counted, valid or not (0 when there is none), so the caller can
 * tell whether the op log after *seq still reaches it (DESIGN §4: a
 * damaged checkpoint is no reason to refuse when the log covers it).
 * Start-up only.
 */
int checkpoint_load_upto(const char *dir, uint64_t max_seq, struct ns **out, uint64_t *seq,
			 uint64_t *newest, char **cause);

/*
 * Renames every checkpoint of dir with a seq above after_seq to
 * "<name>.<suffix>" (kept, never deleted, no longer listed) and syncs
 * dir. Returns how many were moved, or a negative error. Start-up only.
 */
int checkpoint_set_aside(const char *dir, uint64_t after_seq, const char *suffix);

#endif
