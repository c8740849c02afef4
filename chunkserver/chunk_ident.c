/*
 * chunk_ident: the file system this chunkserver's data dirs belong to
 * (DESIGN §4, "Identity and format"; the file is common/ident.h's).
 *
 * At start-up each --data dir's identity file is read: dirs that carry an
 * id must all carry the same one, or the chunkserver refuses to start (its
 * dirs were gathered from two file systems). Dirs without one (new, or
 * made before identities) are fine. The id, when known, goes in every
 * RegisterReq, and the metaserver refuses another.
 *
 * Every NodeResp names the metaserver's file system. When ours is unknown,
 * the first one accepted is joined: written into each data dir lacking it
 * (a small synchronous write, once per data dir's life: the one blocking
 * step on the loop, bounded and rare). When it is another one, nothing in
 * that answer is acted on (no delete, no copy), we stay unregistered, and
 * one line is logged until a metaserver of our file system answers.
 *
 * Invariant: has_id is set exactly when fs_id holds the id recorded in at
 * least one data dir (or just joined).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_int.h"
#include "errors.h"
#include "ident.h"
#include "log.h"
#include "util.h"

int chunk_ident_load(struct chunk_server *cs, char **cause)
{
	const char *first = NULL;
	cs->dir_ided = xcalloc((size_t)cs->ndirs, 1);
	for (int i = 0; i < cs->ndirs; i++) {
		struct ident id;
		char *why = NULL;
		int err = ident_read(cs->dirs[i], &id, &why);
		if (err == -ENOENT)
			continue;
		if (err) {
			*cause = xasprintf("data dir identity: %s", why ? why : "unreadable");
			free(why);
			return -1;
		}
		cs->dir_ided[i] = 1;
		if (!first) {
			first = cs->dirs[i];
			memcpy(cs->fs_id, id.fs_id, IDENT_ID_LEN);
			cs->has_id = 1;
		} else if (memcmp(cs->fs_id, id.fs_id, IDENT_ID_LEN) != 0) {
			char a[IDENT_HEX_LEN + 1], b[IDENT_HEX_LEN + 1];
			ident_hex(cs->fs_id, a);
			ident_hex(id.fs_id, b);
			*cause = xasprintf("data dirs of two file systems: %s belongs to %s, %s to %s; "
					   "refusing to start (nothing was changed)",
					   first, a, cs->dirs[i], b);
			return -1;
		}
	}
	if (cs->has_id) {
		char hex[IDENT_HEX_LEN + 1];
		ident_hex(cs->fs_id, hex);
		log_info("data dirs belong to file system %s", hex);
	}
	return 0;
}

/*
 * Writes our id into every data dir that lacks it, once per start (a dir
 * that fails gets a warning and is tried again at the next start).
 */
static void record(struct chunk_server *cs)
{
	struct ident id = {.format = IDENT_FORMAT};
	memcpy(id.fs_id, cs->fs_id, IDENT_ID_LEN);
	for (int i = 0; i < cs->ndirs; i++) {
		char *why = NULL;
		if (cs->dir_ided[i])
			continue;
		cs->dir_ided[i] = 1;
		if (ident_write(cs->dirs[i], &id, &why) < 0)
			log_warn("cannot record the file-system id: %s", why ? why : cs->dirs[i]);
		free(why);
	}
}

int chunk_ident_accept(struct chunk_server *cs, const uint8_t *fs_id, size_t len)
{
	char ours[IDENT_HEX_LEN + 1], theirs[IDENT_HEX_LEN + 1];
	if (len != IDENT_ID_LEN || ident_is_zero(fs_id)) {
		if (!cs->ident_refused)
			log_error(
			    "metaserver %s names no file system: acting on none of its answers",
			    cs->opts->meta);
		cs->ident_refused = 1;
		return -CAIRN_EPROTO;
	}
	ident_hex(fs_id, theirs);
	if (!cs->has_id) {
		memcpy(cs->fs_id, fs_id, IDENT_ID_LEN);
		cs->has_id = 1;
		log_info("joined file system %s", theirs);
	}
	if (memcmp(cs->fs_id, fs_id, IDENT_ID_LEN) != 0) {
		ident_hex(cs->fs_id, ours);
		if (!cs->ident_refused)
			log_error(
			    "metaserver %s serves file system %s, but our data dirs belong to %s: "
			    "not joining it, acting on none of its commands (nothing deleted); "
			    "asking again every few seconds",
			    cs->opts->meta, theirs, ours);
		cs->ident_refused = 1;
		return -EACCES;
	}
	cs->ident_refused = 0;
	record(cs);
	return 0;
}

void chunk_ident_free(struct chunk_server *cs)
{
	free(cs->dir_ided);
	cs->dir_ided = NULL;
}
