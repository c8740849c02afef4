/*
 * link: libcairn's symbolic links (cairn_symlink, cairn_readlink).
 *
 * A link is an inode of its own type whose target the metaserver stores
 * and returns in the link's attributes (Attr.symlink); it resolves no
 * links itself. cairn_readlink() is a stat that keeps the target.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

int cairn_symlink(cairn_t *c, const char *target, const char *path)
{
	if (!target)
		return -EINVAL;
	if (!target[0])
		return -ENOENT;
	if (strnlen(target, CLIENT_PATH_MAX + 1) > CLIENT_PATH_MAX)
		return -ENAMETOOLONG;
	Cairn__SymlinkReq m = CAIRN__SYMLINK_REQ__INIT;
	int err = client_path_norm(path, &m.path);
	if (err)
		return err;
	m.target = (char *)target; /* borrowed: the message has no const */
	Cairn__Envelope req, *reply;
	CALL_REQ(&req, SYMLINK, symlink, &m);
	err = call_run(c, &req, CAIRN__ENVELOPE__BODY_ATTR, &reply);
	free(m.path);
	if (!err)
		cairn__envelope__free_unpacked(reply, NULL);
	return err;
}

ssize_t cairn_readlink(cairn_t *c, const char *path, char *buf, size_t size)
{
	Cairn__Envelope *reply;
	int err = client_stat_reply(c, path, &reply);
	if (err)
		return err;
	const Cairn__Attr *a = reply->attr->attr;
	ssize_t n;
	if (!a)
		n = -CAIRN_EPROTO;
	else if (a->type != CAIRN__FILE_TYPE__FILE_TYPE_SYMLINK || !a->symlink)
		n = -EINVAL;
	else
		n = (ssize_t)strlen(a->symlink);
	if (n >= 0 && size > 0) {
		size_t k = (size_t)n < size ? (size_t)n + 1 : size;
		memcpy(buf, a->symlink, k);
	}
	cairn__envelope__free_unpacked(reply, NULL);
	return n;
}
