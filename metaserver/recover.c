/*
 * recover: checkpoint + op log at start-up, with the damage rules and the
 * --recover-to choice (the contract is in recover.h).
 *
 * Order of the checks: the checkpoint is chosen first (the newest usable
 * one at or below the recovery point), the log is replayed after it
 * (oplog_replay() refuses damage on its own), and only then is it known
 * whether the result reaches what the data dir promised (the newest
 * checkpoint's seq, or the recovery point). Nothing is renamed or written
 * before that last check passes, except the cut of a torn last record
 * (which any start makes) or, with --recover-to, the log past the point.
 *
 * Invariant: a start without --recover-to either reaches the seq of every
 * checkpoint in the data dir, or fails.
 */
#include "recover.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "errors.h"
#include "log.h"
#include "oplog.h"
#include "util.h"

#define RECOVER_MARK "recovered-to"

static int apply_record(void *arg, const Cairn__LogRecord *rec)
{
	return ns_apply(arg, rec);
}

/* The seq a previous --recover-to recorded in dir, or 0. */
static uint64_t mark_read(const char *dir)
{
	char path[PATH_MAX], text[32] = "";
	snprintf(path, sizeof(path), "%s/" RECOVER_MARK, dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(text, sizeof(text), f))
		text[0] = '\0';
	fclose(f);
	return strtoull(text, NULL, 10);
}

/* Records (durably) that the data dir was recovered to seq. */
static int mark_write(const char *dir, uint64_t seq)
{
	char path[PATH_MAX], text[32];
	snprintf(path, sizeof(path), "%s/" RECOVER_MARK, dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int len = snprintf(text, sizeof(text), "%" PRIu64 "\n", seq);
	int err = write_full(fd, (const uint8_t *)text, (size_t)len);
	if (!err && fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* After a recovery to seq: ids past anything the dropped records handed out, made durable. */
static int recovered(const char *dir, struct ns *ns, uint64_t seq, char **cause)
{
	ns_set_next_chunk_id(ns, ns_next_chunk_id(ns) + RECOVER_CHUNK_ID_GAP);
	int err = checkpoint_write(dir, ns, seq, cause);
	if (!err && (err = mark_write(dir, seq)) < 0)
		*cause = xasprintf("%s/" RECOVER_MARK ": %s", dir, strerror(-err));
	if (!err)
		log_warn("--recover-to %" PRIu64
			 ": the namespace starts from the state at seq %" PRIu64
			 "; every later record and checkpoint was set aside in %s (.corrupt-*, "
			 ".after-recover-to files), none deleted; chunks only they knew are held "
			 "on the chunkservers (see fsck)",
			 seq, seq, dir);
	return err;
}

/* Appends to *why that the log was read from an older checkpoint than the newest. */
static void why_fallback(char **why, uint64_t newest, uint64_t seq)
{
	if (!*why)
		return;
	char *more = xasprintf("%s (checkpoint seq %" PRIu64
			       " is not usable, so the log was read after seq %" PRIu64 ")",
			       *why, newest, seq);
	free(*why);
	*why = more;
}

/* Checks what replay reached against what the data dir promised; 0 or -EUCLEAN with *why. */
static int check_reach(const char *dir, uint64_t recover_to, uint64_t newest, uint64_t seq,
		       uint64_t last, char **why)
{
	if (recover_to && last != recover_to) {
		*why = xasprintf("--recover-to %" PRIu64
				 ": the op log in %s holds the state only up to seq "
				 "%" PRIu64 " (read after checkpoint seq %" PRIu64 ")",
				 recover_to, dir, last, seq);
		return -EUCLEAN;
	}
	if (!recover_to && newest > last) {
		*why = xasprintf(
		    "checkpoint %s/checkpoint.%020" PRIu64 " is not usable and the op log after "
		    "the usable checkpoint (seq %" PRIu64 ") ends at seq %" PRIu64
		    ": records %" PRIu64 "..%" PRIu64 " are at stake. Refusing to start: restore "
		    "the data dir, or start with --recover-to %" PRIu64 " (see docs/operations.md)",
		    dir, newest, seq, last, last + 1, newest, last);
		return -EUCLEAN;
	}
	return 0;
}

int recover_load(const char *dir, uint64_t recover_to, recover_setup_fn setup, void *arg,
		 struct ns **out, uint64_t *ckpt_seq, uint64_t *last, char **cause)
{
	if (recover_to && mark_read(dir) == recover_to) {
		log_warn("--recover-to %" PRIu64 " was already carried out in %s; ignored (remove "
			 "the setting)",
			 recover_to, dir);
		recover_to = 0;
	}
	uint64_t upto = recover_to ? recover_to : UINT64_MAX, seq = 0, newest = 0;
	struct ns *ns = NULL;
	*out = NULL;
	int err = checkpoint_load_upto(dir, upto, &ns, &seq, &newest, cause);
	if (err)
		return err;
	*out = ns;
	err = setup(arg, ns, cause);
	if (!err)
		err = oplog_replay(dir, seq, upto, apply_record, ns, last, cause);
	if (err && newest > seq) {
		why_fallback(cause, newest, seq);
		if (err == -CAIRN_EINTERNAL) /* purged up to a checkpoint that is now damaged */
			err = -EUCLEAN;
	}
	if (!err)
		err = check_reach(dir, recover_to, newest, seq, *last, cause);
	if (!err && (recover_to || newest > seq)) {
		int moved =
		    checkpoint_set_aside(dir, seq, recover_to ? "after-recover-to" : "damaged");
		if (moved < 0) {
			err = moved;
			*cause =
			    xasprintf("setting checkpoints aside in %s: %s", dir, strerror(-err));
		}
	}
	if (!err && recover_to) {
		err = recovered(dir, ns, *last, cause);
		seq = *last;
	}
	if (err) {
		ns_free(ns);
		*out = NULL;
		return err;
	}
	*ckpt_seq = seq;
	return 0;
}
