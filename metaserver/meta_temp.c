/*
 * meta_temp: removes the temporaries of copies whose writer is gone.
 *
 * `cairn put` and Python's fs.put write a hidden temporary next to their
 * target (common/tempname.h: ".NAME.<hex>._COPYING_") and rename it over
 * the target once closed, so a failed copy never touches the target. A
 * copy that dies midway (killed, Ctrl-C, its host lost) leaves its
 * temporary behind, under a write lease that nobody renews. Two moments
 * clear them:
 *  - a temporary's write lease expires (meta_temp_expired(), from the lease
 *    sweep): its writer has not renewed for a lease period and can no
 *    longer write or close it, so the file goes;
 *  - after a metaserver restart leases are not known, only reclaimed
 *    (lease.h): the temporaries found at start are remembered, those whose
 *    writer reclaims its lease are forgotten (the lease's expiry takes
 *    over), and the rest go when the grace ends (meta_temp_tick()).
 * A temporary's lease ending by release (a successful close) removes
 * nothing: its writer renames it next.
 *
 * Invariant: only files whose name is a temporary's at the moment of
 * removal are removed (a temporary renamed to its target is safe).
 */
#include <errno.h>
#include <stdlib.h>

#include "errors.h"
#include "idmap.h"
#include "lease.h"
#include "log.h"
#include "meta_int.h"
#include "ns.h"
#include "tempname.h"
#include "util.h"

_Static_assert(TEMPNAME_NAME_MAX == NS_NAME_MAX, "temporaries' names fit the namespace");

/* Removes file_id if it still is a temporary; why: for the log line. */
static void remove_temp(struct meta_server *ms, uint64_t file_id, const char *why)
{
	struct ns_inode *ino = ns_get(ms->ns, file_id);
	if (!ino || ns_inode_is_dir(ino) || !tempname_is(ns_inode_name(ino)))
		return;
	log_info("removing %s (file %llu, %llu bytes), the temporary of a copy whose writer is "
		 "gone (%s)",
		 ns_inode_name(ino), (unsigned long long)file_id,
		 (unsigned long long)ns_inode_size(ino), why);
	int err = ns_remove_file(ms->ns, file_id, time_now_us());
	if (err)
		log_warn("removing temporary file %llu: %s", (unsigned long long)file_id,
			 err_str(err));
}

static int note_temp(void *arg, const struct ns_inode *ino)
{
	struct meta_server *ms = arg;
	if (!ns_inode_is_dir(ino) && tempname_is(ns_inode_name(ino)))
		return idmap_put(ms->temps, ns_inode_id(ino), ms) < 0 ? -ENOMEM : 0;
	return 0;
}

int meta_temp_start(struct meta_server *ms)
{
	ms->temps = idmap_new();
	if (!ms->temps || ns_walk(ms->ns, note_temp, ms) != 0)
		return -ENOMEM;
	if (idmap_count(ms->temps))
		log_info("%zu temporaries of copies in progress at the last stop; those whose "
			 "writer does not come back within the lease grace will be removed",
			 idmap_count(ms->temps));
	return 0;
}

void meta_temp_stop(struct meta_server *ms)
{
	idmap_free(ms->temps);
	ms->temps = NULL;
}

void meta_temp_reclaimed(struct meta_server *ms, uint64_t file_id)
{
	if (ms->temps)
		idmap_del(ms->temps, file_id);
}

void meta_temp_expired(struct meta_server *ms, uint64_t file_id)
{
	remove_temp(ms, file_id, "its write lease expired");
}

void meta_temp_tick(struct meta_server *ms, uint64_t now_ms)
{
	if (!ms->temps || lease_in_grace(ms->leases, now_ms))
		return;
	size_t pos = 0;
	uint64_t id;
	while (idmap_next(ms->temps, &pos, &id))
		if (!lease_held(ms->leases, id, now_ms))
			remove_temp(ms, id, "not reclaimed after a metaserver restart");
	meta_temp_stop(ms);
}
