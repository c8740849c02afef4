/*
 * file: libcairn's data path: open files, reads, writes, chunk locations.
 *
 * Not implemented in this version: the chunkserver protocol it needs does
 * not exist yet. Every call checks its arguments and returns -ENOTSUP, so
 * the API and ABI of cairn.h are fixed now and callers (the CLI, Python)
 * can be written against them.
 */
#include <errno.h>
#include <stdlib.h>

#include "client_int.h"

#define FILE_ACCMODE (CAIRN_O_WRONLY | CAIRN_O_RDWR)
#define FILE_FLAGS   (FILE_ACCMODE | CAIRN_O_CREAT | CAIRN_O_EXCL | CAIRN_O_TRUNC | CAIRN_O_APPEND)

int cairn_open(cairn_t *c, const char *path, int flags, uint32_t mode, cairn_file_t **out)
{
	*out = NULL;
	if (!path || path[0] != '/' || (flags & ~FILE_FLAGS) ||
	    (flags & FILE_ACCMODE) == FILE_ACCMODE)
		return -EINVAL;
	return -ENOTSUP;
}

int cairn_close(cairn_file_t *f)
{
	return f ? -ENOTSUP : 0;
}

ssize_t cairn_read(cairn_file_t *f, void *buf, size_t n)
{
	return -ENOTSUP;
}

ssize_t cairn_pread(cairn_file_t *f, void *buf, size_t n, uint64_t off)
{
	return -ENOTSUP;
}

ssize_t cairn_write(cairn_file_t *f, const void *buf, size_t n)
{
	return -ENOTSUP;
}

ssize_t cairn_pwrite(cairn_file_t *f, const void *buf, size_t n, uint64_t off)
{
	return -ENOTSUP;
}

int64_t cairn_seek(cairn_file_t *f, int64_t off, int whence)
{
	return -ENOTSUP;
}

int cairn_fsync(cairn_file_t *f)
{
	return -ENOTSUP;
}

int cairn_chunk_locations(cairn_t *c, const char *path, uint64_t off, uint64_t len,
			  struct cairn_chunk_loc **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return -ENOTSUP;
}

void cairn_chunk_locations_free(struct cairn_chunk_loc *locs, size_t n)
{
	if (!locs)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < locs[i].nreplicas; j++)
			free(locs[i].replicas[j]);
		free(locs[i].replicas);
	}
	free(locs);
}
