/*
 * errors: the single table from errors to wire statuses and back.
 */
#include "errors.h"

#include <errno.h>
#include <string.h>

#include "cairn.pb-c.h"

static const struct {
	int err;
	int status;
} err_table[] = {
	{0, CAIRN__STATUS__STATUS_OK},
	{-ENOENT, CAIRN__STATUS__STATUS_NOT_FOUND},
	{-EEXIST, CAIRN__STATUS__STATUS_EXISTS},
	{-ENOTDIR, CAIRN__STATUS__STATUS_NOT_DIR},
	{-EISDIR, CAIRN__STATUS__STATUS_IS_DIR},
	{-ENOTEMPTY, CAIRN__STATUS__STATUS_NOT_EMPTY},
	{-EINVAL, CAIRN__STATUS__STATUS_INVALID},
	{-EACCES, CAIRN__STATUS__STATUS_PERMISSION},
	{-ENOSPC, CAIRN__STATUS__STATUS_NO_SPACE},
	{-EIO, CAIRN__STATUS__STATUS_IO},
	{-ETIMEDOUT, CAIRN__STATUS__STATUS_TIMEOUT},
	{-EBUSY, CAIRN__STATUS__STATUS_BUSY},
	{-ENAMETOOLONG, CAIRN__STATUS__STATUS_NAME_TOO_LONG},
	{-CAIRN_EPROTO, CAIRN__STATUS__STATUS_PROTOCOL},
	{-CAIRN_ECHECKSUM, CAIRN__STATUS__STATUS_CHECKSUM},
	{-CAIRN_ESTALE, CAIRN__STATUS__STATUS_STALE},
	{-EAGAIN, CAIRN__STATUS__STATUS_AGAIN},
	{-ENOTSUP, CAIRN__STATUS__STATUS_UNSUPPORTED},
	{-CAIRN_ELEASE, CAIRN__STATUS__STATUS_LEASE},
	{-CAIRN_EUNAVAIL, CAIRN__STATUS__STATUS_UNAVAILABLE},
	{-CAIRN_EINTERNAL, CAIRN__STATUS__STATUS_INTERNAL},
	{-CAIRN_ENOTLEADER, CAIRN__STATUS__STATUS_NOT_LEADER},
	{-ENODATA, CAIRN__STATUS__STATUS_NO_DATA},
	{-E2BIG, CAIRN__STATUS__STATUS_TOO_BIG},
	{-ELOOP, CAIRN__STATUS__STATUS_LOOP},
};

#define N_ERR (sizeof(err_table) / sizeof(err_table[0]))

int err_to_status(int err)
{
	for (unsigned i = 0; i < N_ERR; i++)
		if (err_table[i].err == err)
			return err_table[i].status;
	return err < 0 ? CAIRN__STATUS__STATUS_INTERNAL : CAIRN__STATUS__STATUS_OK;
}

int err_from_status(int status)
{
	for (unsigned i = 0; i < N_ERR; i++)
		if (err_table[i].status == status)
			return err_table[i].err;
	return -CAIRN_EPROTO;
}

const char *err_str(int err)
{
	switch (-err) {
	case CAIRN_ECHECKSUM:
		return "checksum mismatch";
	case CAIRN_ESTALE:
		return "stale chunk version";
	case CAIRN_ELEASE:
		return "file is being written by another client";
	case CAIRN_EPROTO:
		return "protocol error";
	case CAIRN_EUNAVAIL:
		return "server unavailable";
	case CAIRN_EINTERNAL:
		return "internal server error";
	case CAIRN_ENOTLEADER:
		return "not the metaserver leader";
	}
	if (err == 0)
		return "success";
	if (err < 0 && -err < CAIRN_EBASE)
		return strerror(-err);
	return "unknown error";
}
