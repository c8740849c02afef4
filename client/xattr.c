/*
 * xattr: libcairn's extended attributes (cairn_setxattr, cairn_getxattr,
 * cairn_listxattr, cairn_removexattr), kept by the metaserver in the
 * namespace ("user.*" names; bounds in cairn.h).
 *
 * Get and list copy into the caller's buffer as getxattr(2) and
 * listxattr(2) do: size 0 asks only for the length, a buffer too small is
 * -ERANGE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static int xattr_set(cairn_t *c, const char *path, const char *name, const void *value, size_t size,
		     int flags, int remove)
{
	if (!name || (flags & ~(CAIRN_XATTR_CREATE | CAIRN_XATTR_REPLACE)))
		return -EINVAL;
	if (strnlen(name, CAIRN_XATTR_NAME_MAX + 1) > CAIRN_XATTR_NAME_MAX)
		return -ERANGE;
	if (size > CAIRN_XATTR_SIZE_MAX)
		return -E2BIG;
	Cairn__XattrSetReq m = CAIRN__XATTR_SET_REQ__INIT;
	int err = client_path_norm(path, &m.path);
	if (err)
		return err;
	m.name = (char *)name; /* borrowed: the message has no const */
	m.value.data = (uint8_t *)value;
	m.value.len = size;
	m.flags = (uint32_t)flags;
	m.remove = remove;
	Cairn__Envelope req;
	CALL_REQ(&req, XATTR_SET, xattr_set, &m);
	err = call_run(c, &req, CAIRN__ENVELOPE__BODY__NOT_SET, NULL);
	free(m.path);
	return err;
}

int cairn_setxattr(cairn_t *c, const char *path, const char *name, const void *value, size_t size,
		   int flags)
{
	return xattr_set(c, path, name, value, size, flags, 0);
}

int cairn_removexattr(cairn_t *c, const char *path, const char *name)
{
	return xattr_set(c, path, name, NULL, 0, 0, 1);
}

/* Asks for name's value (name "": the list); *out is the reply (free it). */
static int xattr_get(cairn_t *c, const char *path, const char *name, Cairn__Envelope **out)
{
	Cairn__XattrGetReq m = CAIRN__XATTR_GET_REQ__INIT;
	int err = client_path_norm(path, &m.path);
	if (err)
		return err;
	m.name = (char *)name;
	Cairn__Envelope req;
	CALL_REQ(&req, XATTR_GET, xattr_get, &m);
	err = call_run(c, &req, CAIRN__ENVELOPE__BODY_XATTR, out);
	free(m.path);
	return err;
}

ssize_t cairn_getxattr(cairn_t *c, const char *path, const char *name, void *buf, size_t size)
{
	if (!name || !name[0])
		return -EINVAL;
	Cairn__Envelope *reply;
	int err = xattr_get(c, path, name, &reply);
	if (err)
		return err;
	size_t n = reply->xattr->value.len;
	ssize_t ret = (ssize_t)n;
	if (size && n > size)
		ret = -ERANGE;
	else if (size && n)
		memcpy(buf, reply->xattr->value.data, n);
	cairn__envelope__free_unpacked(reply, NULL);
	return ret;
}

ssize_t cairn_listxattr(cairn_t *c, const char *path, char *buf, size_t size)
{
	Cairn__Envelope *reply;
	int err = xattr_get(c, path, "", &reply);
	if (err)
		return err;
	size_t n = 0;
	for (size_t i = 0; i < reply->xattr->n_names; i++)
		n += strlen(reply->xattr->names[i]) + 1;
	ssize_t ret = (ssize_t)n;
	if (size && n > size) {
		ret = -ERANGE;
	} else if (size) {
		char *p = buf;
		for (size_t i = 0; i < reply->xattr->n_names; i++) {
			size_t len = strlen(reply->xattr->names[i]) + 1;
			memcpy(p, reply->xattr->names[i], len);
			p += len;
		}
	}
	cairn__envelope__free_unpacked(reply, NULL);
	return ret;
}
