/*
 * recover: how cairn-meta gets its namespace back at start-up (DESIGN §4,
 * "nothing deleted on a guess"): the newest usable checkpoint plus the op
 * log after it, under rules that never roll the namespace back silently.
 *
 * - A checkpoint that fails its checks is passed over for the one before
 *   it (or the empty namespace), and the op log must then reach at least
 *   the seq of the newest checkpoint present: a damaged newest
 *   checkpoint is no reason to refuse when the log covers it (checkpoints
 *   keep the previous checkpoint and the log since it, see meta.c), but
 *   the state it held must never be lost without a word. Passed-over
 *   checkpoints are renamed "<name>.damaged" once the start succeeds.
 * - The op log itself cuts only a torn last record (oplog_replay()).
 * - Anything else refuses the start with a message naming the file, the
 *   offset and the seqs at stake, and the operator's explicit choice:
 *   --recover-to SEQ starts from the state at SEQ. Everything after SEQ
 *   (log records, newer checkpoints) is moved aside, never deleted; the
 *   warning says what. The recovery is recorded in <data>/recovered-to,
 *   so a flag left in a config file does not cut again at the next start.
 *   Chunk ids jump ahead by RECOVER_CHUNK_ID_GAP, since the dropped
 *   records may have handed out ids whose replicas still exist (held by
 *   the chunk map, never reused), and a checkpoint makes that durable.
 */
#ifndef CAIRN_RECOVER_H
#define CAIRN_RECOVER_H

#include <stdint.h>

#include "ns.h"

#define RECOVER_CHUNK_ID_GAP (1ull << 32)

/*
 * Prepares the loaded checkpoint's namespace before the log is replayed
 * into it (defaults, identity checks); ns is also in *out by then.
 * Returns 0, or a negative error with a new *cause (the start fails).
 */
typedef int (*recover_setup_fn)(void *arg, struct ns *ns, char **cause);

/*
 * Loads dir's namespace as described above; recover_to is 0 or the
 * operator's --recover-to. *out gets a new namespace (free with
 * ns_free()) as soon as the checkpoint is loaded (so setup may reach it
 * there), *ckpt_seq the seq of the checkpoint it started from (after a
 * recovery: the one written at the recovery point), *last the seq of the
 * last record in it. Returns 0; or a negative error with a new *cause
 * (free with free()) and *out NULL: -EUCLEAN when the data dir is damaged
 * beyond a torn last record, or when recover_to cannot be reached.
 * Start-up only.
 */
int recover_load(const char *dir, uint64_t recover_to, recover_setup_fn setup, void *arg,
		 struct ns **out, uint64_t *ckpt_seq, uint64_t *last, char **cause);

#endif
