/*
 * meta_ident: the metaserver's file-system identity (DESIGN §4,
 * "Identity and format"; the file's format is in common/ident.h).
 *
 * At start-up, after the newest checkpoint is loaded and before the op log
 * is replayed, the data dir's identity file decides which file system this
 * is and the chunk size of files whose records carry none:
 *  - a data dir with no checkpoint and no op log is formatted: a new random
 *    id, the --chunk-size flag as the format chunk size;
 *  - one with data but no identity file was made before identities (round
 *    1): it is adopted the same way, with a warning, because the chunk size
 *    it was made with is not recorded anywhere (the flag must still be it);
 *    a version 3 checkpoint's id and format chunk size win over both when
 *    present (the identity file alone was lost);
 *  - otherwise the file's id must match the checkpoint's (when the
 *    checkpoint has one), or the start is refused: the checkpoint belongs
 *    to another file system. The file's chunk size holds over the
 *    checkpoint's (with a warning): it is how an operator corrects a data
 *    dir adopted with the wrong --chunk-size (files made before per-file
 *    sizes record none, so this one value maps them all).
 * The identity file is written once, atomically, before anything is
 * served; later checkpoints carry the same id.
 *
 * Chunkservers: a RegisterReq claiming another id is refused with
 * PERMISSION, logged once per (address, id); one claiming none joins (the
 * NodeResp tells it ours). Nothing is ever deleted because of an id.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "ident.h"
#include "log.h"
#include "meta_int.h"
#include "ns.h"
#include "util.h"

#define META_REFUSED_MAX 256 /* (address, id) pairs remembered for logging once */

_Static_assert(IDENT_ID_LEN == NS_ID_LEN, "one id length");

/* Whether dir holds a checkpoint or an op-log segment: 1, 0, or -errno. */
static int has_data(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *de;
	int found = 0;
	while (!found && (de = readdir(d)))
		found = strncmp(de->d_name, "checkpoint.", 11) == 0 ||
			strncmp(de->d_name, "oplog.", 6) == 0;
	closedir(d);
	return found;
}

/* No identity file: format, adopt, or take the checkpoint's. */
static int ident_make(struct meta_server *ms, struct ns *ns, struct ident *id, char **cause)
{
	const char *dir = ms->opts->data;
	const uint8_t *ckpt_id = ns_fs_id(ns);
	int data = has_data(dir);
	if (data < 0) {
		*cause = xasprintf("--data %s: %s", dir, strerror(-data));
		return -1;
	}
	id->format = IDENT_FORMAT;
	id->chunk_size = ms->opts->chunk_size;
	if (!ident_is_zero(ckpt_id)) {
		memcpy(id->fs_id, ckpt_id, IDENT_ID_LEN);
		if (ns_format_chunk_size(ns))
			id->chunk_size = ns_format_chunk_size(ns);
	} else if (ident_generate(id->fs_id) < 0) {
		*cause = xstrdup("cannot get random bytes for a file-system id");
		return -1;
	}
	char hex[IDENT_HEX_LEN + 1];
	ident_hex(id->fs_id, hex);
	if (ident_write(dir, id, cause) < 0)
		return -1;
	if (!ident_is_zero(ckpt_id))
		log_warn("data dir %s had no identity file: re-made it from the checkpoint "
			 "(file system %s, format chunk size %" PRIu64 ")",
			 dir, hex, id->chunk_size);
	else if (data)
		log_warn("data dir %s was made before file-system ids: adopted as file system %s; "
			 "its files' chunk size is recorded as %" PRIu64
			 " (--chunk-size now); if it was made with another, stop cairn-meta "
			 "before any write and set the chunk_size line of %s/" IDENT_FILE " to it",
			 dir, hex, id->chunk_size, dir);
	else
		log_info("formatted data dir %s: new file system %s, default chunk size %" PRIu64,
			 dir, hex, id->chunk_size);
	return 0;
}

int meta_ident_load(struct meta_server *ms, struct ns *ns, char **cause)
{
	const char *dir = ms->opts->data;
	struct ident id;
	char *why = NULL;
	char hex[IDENT_HEX_LEN + 1], ckpt_hex[IDENT_HEX_LEN + 1];
	int err = ident_read(dir, &id, &why);
	if (err == -ENOENT)
		return ident_make(ms, ns, &id, cause) < 0 ? -1 : meta_ident_load(ms, ns, cause);
	if (err == 0 && id.chunk_size == 0)
		why = xstrdup("no chunk_size line");
	if (err || why) {
		*cause = xasprintf("identity of --data %s: %s", dir, why ? why : strerror(-err));
		free(why);
		return -1;
	}
	const uint8_t *ckpt_id = ns_fs_id(ns);
	ident_hex(id.fs_id, hex);
	ident_hex(ckpt_id, ckpt_hex);
	if (!ident_is_zero(ckpt_id) && memcmp(ckpt_id, id.fs_id, IDENT_ID_LEN) != 0) {
		*cause = xasprintf(
		    "--data %s: its checkpoint belongs to file system %s but its identity "
		    "file says %s (files of two file systems mixed?): refusing to start",
		    dir, ckpt_hex, hex);
		return -1;
	}
	if (!ident_is_zero(ckpt_id) && ns_format_chunk_size(ns) != id.chunk_size)
		log_warn("data dir %s: its checkpoint's format chunk size is %" PRIu64
			 " but its identity file says %" PRIu64 ": the identity file's holds "
			 "(an operator's correction of an adoption)",
			 dir, ns_format_chunk_size(ns), id.chunk_size);
	ns_set_fs_id(ns, id.fs_id);
	ns_set_format_chunk_size(ns, id.chunk_size);
	log_info("file system %s (format %" PRIu32 ", format chunk size %" PRIu64
		 ", new files' default %" PRIu64 ")",
		 hex, id.format, id.chunk_size, ms->opts->chunk_size);
	return 0;
}

/* Whether (addr, hex) was refused before; remembers it when not (up to a bound). */
static int refused_before(struct meta_server *ms, const char *addr, const char *hex)
{
	char key[IDENT_HEX_LEN + 300];
	snprintf(key, sizeof(key), "%s %s", hex, addr);
	for (size_t i = 0; i < ms->nrefused; i++)
		if (strcmp(ms->refused[i], key) == 0)
			return 1;
	if (ms->nrefused == META_REFUSED_MAX)
		return ms->nrefused > 0; /* full: log no more */
	if (!ms->refused)
		ms->refused = xcalloc(META_REFUSED_MAX, sizeof(*ms->refused));
	ms->refused[ms->nrefused++] = xstrdup(key);
	return 0;
}

int meta_ident_check(struct meta_server *ms, const char *addr, const uint8_t *fs_id, size_t len,
		     char **why)
{
	char ours[IDENT_HEX_LEN + 1], theirs[IDENT_HEX_LEN + 1] = "(malformed)";
	if (len == 0 || (len == IDENT_ID_LEN && memcmp(fs_id, ns_fs_id(ms->ns), len) == 0))
		return 0;
	ident_hex(ns_fs_id(ms->ns), ours);
	if (len == IDENT_ID_LEN)
		ident_hex(fs_id, theirs);
	*why = xasprintf("chunkserver %s belongs to file system %s, this metaserver serves %s: "
			 "not registered (nothing deleted)",
			 addr, theirs, ours);
	if (!refused_before(ms, addr, theirs))
		log_warn("refused %s", *why);
	return -EACCES;
}

void meta_ident_status(struct meta_server *ms, struct evbuffer *out)
{
	char hex[IDENT_HEX_LEN + 1];
	ident_hex(ns_fs_id(ms->ns), hex);
	evbuffer_add_printf(out, ", \"fs_id\": \"%s\", \"format_chunk_size\": %" PRIu64, hex,
			    ns_format_chunk_size(ms->ns));
}

void meta_ident_free(struct meta_server *ms)
{
	for (size_t i = 0; i < ms->nrefused; i++)
		free(ms->refused[i]);
	free(ms->refused);
	ms->refused = NULL;
	ms->nrefused = 0;
}
