/*
 * oplog: the metaserver's op log, one LogRecord per namespace change, made
 * durable by group commit before a mutation is answered (DESIGN §4).
 *
 * On disk: segment files <dir>/oplog.<seq of its first record, %020llu>,
 * each a run of records
 *
 *   u32 len | u32 crc32c(payload) | payload (a packed Cairn__LogRecord)
 *
 * (big-endian), with seqs consecutive from one record (and segment) to the
 * next, then zeros to the end of the file: the writer zeroes up to 1 MiB
 * ahead of its records so that a commit overwrites in place (an append
 * would make each fdatasync write the inode too). len is checked against
 * OPLOG_MAX_RECORD before anything is allocated. The writer starts a new
 * segment once the current one has passed the segment size
 * (OPLOG_SEGMENT_SIZE unless changed).
 *
 * Life cycle: oplog_replay() once at start-up, which applies what follows
 * the checkpoint, cuts a torn last record and refuses any other damage; then oplog_open() to
 * append after the last record (always into a fresh segment); then
 * oplog_append() per record on the event loop; a single writer thread
 * write()s each pending batch in one go and fdatasync()s it, then
 * publishes oplog_durable_seq() and makes oplog_notify_fd() readable.
 * oplog_purge() drops segments a checkpoint covers.
 *
 * Invariants: durable_seq <= last_seq; every record with seq <=
 * durable_seq is on stable storage; after the first write or sync error
 * (oplog_error()) nothing more is accepted or written.
 */
#ifndef CAIRN_OPLOG_H
#define CAIRN_OPLOG_H

#include <stdint.h>

#include "cairn.pb-c.h"

#define OPLOG_HEADER_SIZE  8u
#define OPLOG_MAX_RECORD   (1u << 20)	 /* payload bytes */
#define OPLOG_SEGMENT_SIZE (64ull << 20) /* a segment ends once past this */

struct oplog;

/* Applies one replayed record; rec is borrowed for the call. Returns 0 or a negative error. */
typedef int (*oplog_apply_fn)(void *arg, const Cairn__LogRecord *rec);

/*
 * Reads the segments of dir in order and calls apply for each record
 * with seq > after_seq and <= upto_seq, in order; records up to after_seq
 * (a checkpoint covers them) are skipped. The first applied record must
 * be after_seq + 1 and each next one the previous + 1.
 *
 * A segment ends cleanly at its end of file or at a record boundary past
 * its first record followed only by zeros. A bad record (short header,
 * length of 0 or over the limit, short payload, CRC mismatch, unparsable,
 * seq gap or going back, apply() failing) is one of two things:
 *
 * - a torn write, which is cut: it is in the last segment, it failed as a
 *   write can (cut short or its CRC), only zeros follow its length, and no
 *   intact record follows it anywhere. The bytes from it on are moved
 *   aside to "<segment>.corrupt-<offset>" (never deleted), the cut is made
 *   durable (ftruncate, fsync of file and directory), one warning names
 *   the segment, offset, bytes cut and the reason, and replay succeeds;
 * - damage, anything else: nothing is cut and -EUCLEAN is returned with a
 *   *cause naming the segment, the offset, the reason, the last intact seq
 *   and what follows, and the --recover-to choice.
 *
 * upto_seq (UINT64_MAX for all; else the operator's --recover-to): the
 * first record past it, or damage met after it, cuts the log there as
 * above (so everything after upto_seq is moved aside, never deleted).
 *
 * *last_seq gets the seq of the last record applied, or after_seq if none
 * was (less than upto_seq when the log ends before it: the caller
 * decides). Returns 0 (also after a cut); -EUCLEAN on damage;
 * -CAIRN_EINTERNAL when the log starts past after_seq + 1 (records the
 * state needs are missing: nothing is applied or cut); or another
 * negative error on I/O; each with a new *cause (free with free()).
 * Start-up only, before oplog_open().
 */
int oplog_replay(const char *dir, uint64_t after_seq, uint64_t upto_seq, oplog_apply_fn apply,
		 void *arg, uint64_t *last_seq, char **cause);

/*
 * Opens dir's log for appending after last_seq (from oplog_replay()): the
 * next record gets last_seq + 1 and goes into a new segment named after
 * it. Starts the writer thread. Returns a new oplog (free with
 * oplog_close()), or NULL with a new *cause.
 */
struct oplog *oplog_open(const char *dir, uint64_t last_seq, char **cause);

/*
 * Sets the size past which the writer starts a new segment (tests and
 * tuning; default OPLOG_SEGMENT_SIZE). Takes effect from the next batch.
 */
void oplog_set_segment_size(struct oplog *log, uint64_t bytes);

/*
 * Assigns rec->seq (last seq + 1), packs rec into the pending batch and
 * wakes the writer. Returns the seq; or 0 when the record is refused
 * because the log has failed (oplog_error()), or the record cannot be
 * packed (over OPLOG_MAX_RECORD: the log fails with -E2BIG).
 * Never waits for the disk. rec is borrowed for the call.
 * Event-loop thread only.
 */
uint64_t oplog_append(struct oplog *log, Cairn__LogRecord *rec);

/* The seq of the last record appended (or last_seq from oplog_open()). Loop thread. */
uint64_t oplog_last_seq(const struct oplog *log);

/* Every record up to this seq is durable. Any thread. */
uint64_t oplog_durable_seq(const struct oplog *log);

/*
 * 0, or the sticky negative error of a failed write or sync (then the log
 * accepts nothing more; the metaserver fails what waits and stops).
 * Any thread.
 */
int oplog_error(const struct oplog *log);

/*
 * A non-blocking eventfd that becomes readable whenever durable_seq
 * advanced or the log failed; one 8-byte read(2) resets it, then check
 * oplog_durable_seq() and oplog_error(). Borrowed; valid until oplog_close().
 */
int oplog_notify_fd(const struct oplog *log);

/*
 * Writes and syncs everything pending, stops and joins the writer and
 * frees log. oplog_close(NULL) is a no-op. Loop thread.
 */
void oplog_close(struct oplog *log);

/*
 * Removes the segments whose records all have seq <= upto_seq, that is
 * each segment whose next segment starts at or before upto_seq + 1; the
 * newest segment always stays. Returns the number removed, or a negative
 * error. Any thread (it only touches segments the writer has finished).
 */
int oplog_purge(const char *dir, uint64_t upto_seq);

#endif
